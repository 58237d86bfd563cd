//! A digest of the kernels' results, bit for bit: FNV-1a (64-bit) over the
//! bit patterns of every returned loss, written gradient and per-element
//! loss of a fixed set of batches that reaches every kernel and option.
//!
//! * Binary: focal γ = 2, 1.5, 0.5, 1, 3 and 0 (α on and off, with and
//!   without label smoothing) and sigmoid CE (plain, `pos_weight`,
//!   smoothing); hard and soft targets, logits and probabilities, weights, an
//!   ignore mask, every reduction; the separate-buffer, in-place and
//!   loss-only entry points and the per-element API. 300 elements, so that
//!   the lane loops, their remainders and the reduction's blocks are all
//!   reached.
//! * Softmax: cross-entropy and focal (γ = 2, 1.5, 1, 0.5; smoothing; ignore
//!   index) over C = 3, 10 and 43, with `u32` and `u16` labels, probability
//!   targets, class weights, every reduction, in place, loss-only and
//!   single rows.
//! * The binary imbalance family (asymmetric loss, Poly-1, FL*, detached
//!   focal) on
//!   the host and the cores with an FPU (the ones compared).
//! * Class-balanced weights and α from counts.
//!
//! The inputs come from an integer generator (exact on every target). It
//! prints one line per group (`name hash`) and `digest HASH over N values`.
//! `tools/test-all` runs it on the host with `--features scalar` and on the
//! emulated cores with an FPU, and fails unless every line after the first is
//! identical: the host's `scalar` build computes what the cores compute, bit
//! for bit. Exits non-zero if a call returns an error (every input is valid).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_abi = "eabi"))]
use tinyloss::class_balanced::{self, ClassCounter, Normalize};
use tinyloss::softmax::{Rows, SoftmaxCe, SoftmaxFocal, SoftmaxLoss, Target, Targets};
use tinyloss::{Batch, BinaryLoss, Error, Focal, LossGrad, Reduction, SigmoidCe};
use tinyloss_firmware::{exit, out, BOARD};

/// Binary batch length: not a multiple of 8 or 16, above one reduction
/// block of 32 scalar lanes or 8-lane vectors.
const N: usize = 300;
/// Largest softmax batch (rows × C).
const MAX_RC: usize = 400;
/// Largest number of softmax rows.
const MAX_ROWS: usize = 40;
/// The ignore index of the softmax losses that have one.
const IGNORE: u32 = 1000;

/// FNV-1a over 32-bit words, little-endian bytes.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn word(&mut self, w: u32) {
        for b in w.to_le_bytes() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The running digest: one hash per group and one over everything.
struct Digest {
    group: Fnv,
    total: Fnv,
    values: u32,
    errors: u32,
}

impl Digest {
    fn f(&mut self, x: f32) {
        self.group.word(x.to_bits());
        self.total.word(x.to_bits());
        self.values += 1;
    }
    fn all(&mut self, xs: &[f32]) {
        for &x in xs {
            self.f(x);
        }
    }
    /// Hashes a batch call's result, or counts and reports its error.
    fn res(&mut self, what: &str, r: Result<f32, Error>) {
        match r {
            Ok(v) => self.f(v),
            Err(e) => {
                out!("{}: unexpected error {:?}", what, e);
                self.errors += 1;
                // Keep the digests apart from a run without the error.
                self.f(f32::from_bits(0x7fc0_dead));
            }
        }
    }
    fn lg(&mut self, what: &str, r: Result<LossGrad, Error>) {
        match r {
            Ok(v) => {
                self.f(v.loss);
                self.f(v.grad);
            }
            Err(e) => self.res(what, Err(e)),
        }
    }
    fn end(&mut self, name: &str) {
        out!("{} {}", name, self.group.0);
        self.group = Fnv::new();
    }
}

/// xorshift32.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    /// Uniform in [0, 1) on a 2^-24 grid (exact conversion).
    fn unit(&mut self) -> f32 {
        (self.next() >> 8) as f32 * (1.0 / 16_777_216.0)
    }
    /// Uniform in [-8, 8).
    fn logit(&mut self) -> f32 {
        self.unit() * 16.0 - 8.0
    }
}

/// Logits where the kernels change regime: 0, tiny, where f32's sigmoid
/// saturates, near `expf`'s limits, huge.
const SPECIAL_Z: [f32; 20] = [
    0.0, -0.0, 1e-30, -1e-30, 0.5, -0.5, 15.0, -15.0, 17.3, -17.3, 20.0, -20.0, 30.0, -30.0, 88.7,
    -88.7, 104.0, -104.0, 1e4, -1e4,
];
/// Probabilities at and around the clamp points.
const SPECIAL_P: [f32; 10] = [
    0.0,
    1.0,
    1e-30,
    1e-8,
    1e-7,
    2e-7,
    0.5,
    0.999_999_9,
    0.999_999_94,
    0.999_9,
];
/// Soft targets.
const SOFT: [f32; 5] = [0.0, 1.0, 0.05, 0.5, 0.95];

struct BinaryData {
    z: [f32; N],
    p: [f32; N],
    hard: [f32; N],
    soft: [f32; N],
    w: [f32; N],
    mask: [bool; N],
}

impl BinaryData {
    fn new(rng: &mut Rng) -> Self {
        let mut d = BinaryData {
            z: [0.0; N],
            p: [0.0; N],
            hard: [0.0; N],
            soft: [0.0; N],
            w: [0.0; N],
            mask: [false; N],
        };
        for i in 0..N {
            d.z[i] = if i % 13 == 5 {
                SPECIAL_Z[(i / 13) % SPECIAL_Z.len()]
            } else {
                rng.logit()
            };
            d.p[i] = if i % 11 == 4 {
                SPECIAL_P[(i / 11) % SPECIAL_P.len()]
            } else {
                rng.unit()
            };
            d.hard[i] = if rng.unit() < 0.25 { 1.0 } else { 0.0 };
            let k = rng.next() % 6;
            d.soft[i] = if k < 5 { SOFT[k as usize] } else { rng.unit() };
            d.w[i] = match i % 17 {
                3 => 0.0,
                9 => 1e3,
                _ => rng.unit() * 2.0,
            };
            d.mask[i] = i % 7 == 3;
        }
        d
    }
}

const REDUCTIONS: [Reduction; 4] = [
    Reduction::Sum,
    Reduction::Mean,
    Reduction::MeanOver(37.5),
    Reduction::MeanOverPositives,
];

/// The softmax losses' reductions (`MeanOverPositives` is binary only).
const SOFTMAX_REDUCTIONS: [Reduction; 3] =
    [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(7.5)];

/// The per-element API of a binary loss.
trait Elem: BinaryLoss {
    fn elem(&self, z: f32, y: f32) -> Result<LossGrad, Error>;
    fn elem_prob(&self, p: f32, y: f32) -> Result<LossGrad, Error>;
}

impl Elem for Focal {
    fn elem(&self, z: f32, y: f32) -> Result<LossGrad, Error> {
        self.loss_grad(z, y)
    }
    fn elem_prob(&self, p: f32, y: f32) -> Result<LossGrad, Error> {
        self.loss_grad_prob(p, y)
    }
}

impl Elem for SigmoidCe {
    fn elem(&self, z: f32, y: f32) -> Result<LossGrad, Error> {
        self.loss_grad(z, y)
    }
    fn elem_prob(&self, p: f32, y: f32) -> Result<LossGrad, Error> {
        self.loss_grad_prob(p, y)
    }
}

#[cfg(not(target_abi = "eabi"))]
macro_rules! elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn elem(&self, z: f32, y: f32) -> Result<LossGrad, Error> {
                self.loss_grad(z, y)
            }
            fn elem_prob(&self, p: f32, y: f32) -> Result<LossGrad, Error> {
                self.loss_grad_prob(p, y)
            }
        }
    )*};
}
#[cfg(not(target_abi = "eabi"))]
elem!(
    tinyloss::Asymmetric,
    tinyloss::Poly1,
    tinyloss::FocalStar,
    tinyloss::Qfl,
    tinyloss::Varifocal
);

/// Every binary entry point and option for one loss.
fn binary_cases<L: Elem>(h: &mut Digest, name: &str, loss: &L, d: &BinaryData) {
    let mut g = [0.0f32; N];
    let mut l = [0.0f32; N];
    // Logits, hard and soft targets, every reduction, with per-element losses.
    for ys in [&d.hard, &d.soft] {
        for r in REDUCTIONS {
            let v = Batch::new(ys).loss_grad(loss, &d.z, r, &mut g, Some(&mut l));
            h.res(name, v);
            h.all(&g);
            h.all(&l);
        }
    }
    // Weights and an ignore mask.
    for ys in [&d.hard, &d.soft] {
        for r in REDUCTIONS {
            let b = Batch::new(ys).with_weights(&d.w).with_ignore(&d.mask);
            h.res(name, b.loss_grad(loss, &d.z, r, &mut g, Some(&mut l)));
            h.all(&g);
            h.all(&l);
        }
        let b = Batch::new(ys).with_ignore(&d.mask);
        h.res(name, b.loss_grad(loss, &d.z, Reduction::Mean, &mut g, None));
        h.all(&g);
        let b = Batch::new(ys).with_weights(&d.w);
        h.res(name, b.loss_grad(loss, &d.z, Reduction::Sum, &mut g, None));
        h.all(&g);
    }
    // Probability inputs.
    for ys in [&d.hard, &d.soft] {
        for r in [Reduction::Mean, Reduction::MeanOverPositives] {
            let b = Batch::new(ys).with_probabilities();
            h.res(name, b.loss_grad(loss, &d.p, r, &mut g, Some(&mut l)));
            h.all(&g);
            h.all(&l);
        }
        let b = Batch::new(ys)
            .with_probabilities()
            .with_weights(&d.w)
            .with_ignore(&d.mask);
        h.res(
            name,
            b.loss_grad(loss, &d.p, Reduction::Sum, &mut g, Some(&mut l)),
        );
        h.all(&g);
        h.all(&l);
    }
    // In place, the shorthand, loss only.
    for ys in [&d.hard, &d.soft] {
        let mut zg = d.z;
        let v = Batch::new(ys).loss_grad_in_place(loss, &mut zg, Reduction::Mean, Some(&mut l));
        h.res(name, v);
        h.all(&zg);
        h.all(&l);
        let v = Batch::new(ys).loss_grad(loss, &d.z, Reduction::MeanOverPositives, &mut g, None);
        h.res(name, v);
        h.all(&g);
        h.res(name, Batch::new(ys).loss(loss, &d.z, Reduction::Mean));
        let b = Batch::new(ys).with_probabilities().with_weights(&d.w);
        h.res(name, b.loss(loss, &d.p, Reduction::Sum));
    }
    // Per element.
    for i in 0..N {
        h.lg(name, loss.elem(d.z[i], d.soft[i]));
        h.lg(name, loss.elem(d.z[i], d.hard[i]));
        h.lg(name, loss.elem_prob(d.p[i], d.soft[i]));
    }
    h.end(name);
}

struct SoftmaxData {
    z: [f32; MAX_RC],
    p: [f32; MAX_RC],
    labels: [u32; MAX_ROWS],
    labels16: [u16; MAX_ROWS],
    labels_ig: [u32; MAX_ROWS],
    w: [f32; 64],
    /// Row weights and mask (hard-example mining).
    rw: [f32; MAX_ROWS],
    mask: [bool; MAX_ROWS],
}

impl SoftmaxData {
    fn new(rng: &mut Rng, c: usize) -> Self {
        let mut d = SoftmaxData {
            z: [0.0; MAX_RC],
            p: [0.0; MAX_RC],
            labels: [0; MAX_ROWS],
            labels16: [0; MAX_ROWS],
            labels_ig: [0; MAX_ROWS],
            w: [0.0; 64],
            rw: [0.0; MAX_ROWS],
            mask: [false; MAX_ROWS],
        };
        for (i, z) in d.z.iter_mut().enumerate() {
            *z = if i % 29 == 7 {
                SPECIAL_Z[(i / 29) % SPECIAL_Z.len()]
            } else {
                rng.logit()
            };
        }
        for (i, p) in d.p.iter_mut().enumerate() {
            *p = match i % 5 {
                0 => 0.0,
                1 => rng.unit(),
                _ => rng.unit() * (1.0 / 16.0),
            };
        }
        for r in 0..MAX_ROWS {
            let t = rng.next() % c as u32;
            d.labels[r] = t;
            d.labels16[r] = (rng.next() % c as u32) as u16;
            d.labels_ig[r] = if r % 5 == 2 { IGNORE } else { t };
            d.rw[r] = if r % 6 == 1 { 0.0 } else { rng.unit() * 3.0 };
            d.mask[r] = r % 4 == 3;
        }
        for (k, w) in d.w.iter_mut().enumerate() {
            *w = if k % 7 == 6 {
                0.0
            } else {
                0.25 + rng.unit() * 2.0
            };
        }
        d
    }
}

/// Every softmax entry point and option for one loss and C.
fn softmax_cases<L: SoftmaxLoss>(
    h: &mut Digest,
    name: &str,
    loss: &L,
    ignores: bool,
    c: usize,
    rows: usize,
    d: &SoftmaxData,
) {
    let n = rows * c;
    let z = &d.z[..n];
    let p = &d.p[..n];
    let w = &d.w[..c];
    let labels = if ignores {
        &d.labels_ig[..rows]
    } else {
        &d.labels[..rows]
    };
    let mut g = [0.0f32; MAX_RC];
    let mut l = [0.0f32; MAX_ROWS];
    let (g, l) = (&mut g[..n], &mut l[..rows]);
    let targets = [
        Targets::from(labels),
        Targets::from(&d.labels16[..rows]),
        Targets::Probs(p),
    ];
    for t in targets {
        for r in SOFTMAX_REDUCTIONS {
            let v = Rows::new(c, t).loss_grad(loss, z, r, g, Some(l));
            h.res(name, v);
            h.all(g);
            h.all(l);
        }
        match Rows::new(c, t).with_class_weights(w) {
            Ok(rw) => {
                for r in [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(7.5)] {
                    h.res(name, rw.loss_grad(loss, z, r, g, Some(l)));
                    h.all(g);
                    h.all(l);
                }
                let mut zg = [0.0f32; MAX_RC];
                let zg = &mut zg[..n];
                zg.copy_from_slice(z);
                h.res(name, rw.loss_grad_in_place(loss, zg, Reduction::Mean, None));
                h.all(zg);
                h.res(name, rw.loss(loss, z, Reduction::Mean, g));
            }
            Err(e) => h.res(name, Err(e)),
        }
        h.res(
            name,
            Rows::new(c, t).loss_grad(loss, z, Reduction::Mean, g, None),
        );
        h.all(g);
        // Row weights and mask, with and without class weights.
        let masked = Rows::new(c, t).with_ignore(&d.mask[..rows]);
        for mw in [Ok(masked), masked.with_class_weights(w)] {
            match mw.and_then(|m| m.with_row_weights(&d.rw[..rows])) {
                Ok(m) => {
                    for r in [Reduction::Sum, Reduction::Mean] {
                        h.res(name, m.loss_grad(loss, z, r, g, Some(l)));
                        h.all(g);
                        h.all(l);
                    }
                }
                Err(e) => h.res(name, Err(e)),
            }
        }
    }
    // Single rows.
    let g = &mut g[..c];
    for r in 0..rows.min(8) {
        let row = &z[r * c..(r + 1) * c];
        let t = Target::Label(labels[r]);
        h.res(name, loss.loss_grad_row(row, t, g));
        h.all(g);
        // One class-weighted row: a one-row `Rows` with `Sum`.
        let one = Rows::new(c, Targets::Probs(&p[r * c..(r + 1) * c])).with_class_weights(w);
        h.res(
            name,
            one.and_then(|o| o.loss_grad(loss, row, Reduction::Sum, g, None)),
        );
        h.all(g);
    }
    h.end(name);
}

#[cfg(not(target_abi = "eabi"))]
fn class_balanced_cases(h: &mut Digest) {
    let counts = [1u32, 2, 7, 40, 300, 1000, 0, 12_345];
    let mut w = [0.0f32; 8];
    for beta in [0.0, 0.9, 0.99, 0.999, 0.9999, 0.999_999] {
        for norm in [Normalize::SumToClasses, Normalize::MeanSampleWeight] {
            h.res(
                "class_balanced",
                class_balanced::weights(&counts, beta, norm, &mut w).map(|()| 0.0),
            );
            h.all(&w);
        }
        h.res(
            "class_balanced",
            class_balanced::binary_alpha(900, 37, beta),
        );
    }
    let mut counter = ClassCounter::<4>::new();
    let mut w4 = [0.0f32; 4];
    for (i, label) in [0u32, 0, 1, 0, 2, 0, 0, 3, 0, 1].into_iter().enumerate() {
        h.res("class_balanced", counter.observe(label).map(|()| i as f32));
        h.res(
            "class_balanced",
            counter
                .weights(0.99, Normalize::SumToClasses, &mut w4)
                .map(|()| 0.0),
        );
        h.all(&w4);
    }
    // All or nothing: the bad label's position goes into the digest.
    let bad = match counter.observe_all(&[3u8, 2, 9]) {
        Err(tinyloss::Error::LabelOutOfRange {
            at: tinyloss::At::Element(i),
        }) => i as f32,
        _ => -1.0,
    };
    h.res("class_balanced", Ok(bad));
    h.res(
        "class_balanced",
        counter.observe_all(&[3u16, 2, 1]).map(|()| 0.0),
    );
    h.res(
        "class_balanced",
        counter
            .weights(0.999, Normalize::MeanSampleWeight, &mut w4)
            .map(|()| 0.0),
    );
    h.all(&w4);
    h.end("class_balanced");
}

/// `a_b` in `buf` (names up to 47 bytes).
fn join<'b>(buf: &'b mut [u8; 48], a: &str, b: &str) -> &'b str {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = (a.len() + 1 + b.len()).min(buf.len());
    for (d, s) in buf[..n].iter_mut().zip(a.iter().chain(b"_").chain(b)) {
        *d = *s;
    }
    core::str::from_utf8(&buf[..n]).unwrap_or("?")
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    out!("digest on {}", BOARD);
    let mut h = Digest {
        group: Fnv::new(),
        total: Fnv::new(),
        values: 0,
        errors: 0,
    };
    let mut rng = Rng(0x2545_f491);
    binary_all(&mut h, &mut rng);
    softmax_all(&mut h, &mut rng);
    // The M0's digest is not compared and its 256 KiB are full; `stream`
    // runs the class-balanced weights there.
    #[cfg(not(target_abi = "eabi"))]
    class_balanced_cases(&mut h);

    out!("digest {} over {} values", h.total.0, h.values);
    if h.errors > 0 {
        out!("digest: {} unexpected errors", h.errors);
    }
    exit(h.errors == 0)
}

/// The binary losses. Not inlined, like [`softmax_all`]: their buffers never
/// share the stack (the M0 has 16 KiB of RAM).
#[inline(never)]
fn binary_all(h: &mut Digest, rng: &mut Rng) {
    let d = BinaryData::new(rng);

    let focal =
        |g: f32, a: Option<f32>, eps: f32| Focal::new(g, a).and_then(|f| f.with_smoothing(eps));
    let binary_focal: [(&str, Result<Focal, Error>); 8] = [
        ("focal_g2_a0.25", Ok(Focal::RETINANET)),
        ("focal_g1.5_a0.75", focal(1.5, Some(0.75), 0.0)),
        ("focal_g0.5", focal(0.5, None, 0.0)),
        ("focal_g1_a0.25", focal(1.0, Some(0.25), 0.0)),
        ("focal_g3", focal(3.0, None, 0.0)),
        ("focal_g0_a0.6", focal(0.0, Some(0.6), 0.0)),
        ("focal_g2_a0.25_smooth0.1", focal(2.0, Some(0.25), 0.1)),
        ("focal_g1.5_smooth0.05", focal(1.5, None, 0.05)),
    ];
    for (name, f) in binary_focal {
        match f {
            Ok(f) => binary_cases(h, name, &f, &d),
            Err(e) => h.res(name, Err(e)),
        }
    }
    let bce: [(&str, Result<SigmoidCe, Error>); 3] = [
        ("bce", Ok(SigmoidCe::PLAIN)),
        ("bce_pos_weight3", SigmoidCe::PLAIN.with_pos_weight(3.0)),
        (
            "bce_pos_weight0.5_smooth0.1",
            SigmoidCe::PLAIN
                .with_pos_weight(0.5)
                .and_then(|b| b.with_smoothing(0.1)),
        ),
    ];
    for (name, b) in bce {
        match b {
            Ok(b) => binary_cases(h, name, &b, &d),
            Err(e) => h.res(name, Err(e)),
        }
    }
    #[cfg(not(target_abi = "eabi"))]
    family(h, &d);
}

/// The imbalance family (compared cores only: the FPU-less cores' digests
/// are not compared, and the M0's 256 KiB has no room for them; the
/// `family` selftest runs them there).
#[cfg(not(target_abi = "eabi"))]
fn family(h: &mut Digest, d: &BinaryData) {
    use tinyloss::{Asymmetric, FocalStar, GradMode, Poly1};
    binary_cases(h, "asl_timm", &Asymmetric::TIMM, d);
    match Asymmetric::new(0.5, 0.25, 0.2).and_then(|a| a.with_smoothing(0.1)) {
        Ok(a) => binary_cases(
            h,
            "asl_g0.5_detached",
            &a.with_grad_mode(GradMode::Detached),
            d,
        ),
        Err(e) => h.res("asl_g0.5_detached", Err(e)),
    }
    match Poly1::new(Focal::RETINANET, -0.25) {
        Ok(p) => binary_cases(h, "poly1_focal", &p, d),
        Err(e) => h.res("poly1_focal", Err(e)),
    }
    match Focal::new(1.5, None).and_then(|f| Poly1::new(f, 2.0)) {
        Ok(p) => binary_cases(h, "poly1_g1.5", &p, d),
        Err(e) => h.res("poly1_g1.5", Err(e)),
    }
    match FocalStar::new(2.0, 1.0, Some(0.25)) {
        Ok(f) => binary_cases(h, "focal_star", &f, d),
        Err(e) => h.res("focal_star", Err(e)),
    }
    binary_cases(h, "qfl", &tinyloss::Qfl::MMDET, d);
    binary_cases(h, "varifocal", &tinyloss::Varifocal::MMDET, d);
    let det = Focal::new(1.5, Some(0.25)).map(|f| f.with_grad_mode(GradMode::Detached));
    match det {
        Ok(f) => binary_cases(h, "focal_g1.5_detached", &f, d),
        Err(e) => h.res("focal_g1.5_detached", Err(e)),
    }
}

/// The softmax losses.
#[inline(never)]
fn softmax_all(h: &mut Digest, rng: &mut Rng) {
    for (c, rows, tag) in [(3, 37, "C3"), (10, 37, "C10"), (43, 9, "C43")] {
        let d = SoftmaxData::new(rng, c);
        let mut buf = [0u8; 48];
        let ce = SoftmaxCe::new();
        let nm = join(&mut buf, "softmax_ce", tag);
        softmax_cases(h, nm, &ce, false, c, rows, &d);
        match ce.with_smoothing(0.1) {
            Ok(ce) => {
                let ce = ce.with_ignore_index(IGNORE);
                let nm = join(&mut buf, "softmax_ce_smooth0.1_ignore", tag);
                softmax_cases(h, nm, &ce, true, c, rows, &d);
            }
            Err(e) => h.res("softmax_ce_smooth", Err(e)),
        }
        for (what, g, eps, ig) in [
            ("softmax_focal_g2", 2.0, 0.0, false),
            ("softmax_focal_g1.5_smooth0.05", 1.5, 0.05, false),
            ("softmax_focal_g1_ignore", 1.0, 0.0, true),
            ("softmax_focal_g0.5", 0.5, 0.0, false),
        ] {
            match SoftmaxFocal::new(g).and_then(|f| f.with_smoothing(eps)) {
                Ok(f) => {
                    let f = if ig { f.with_ignore_index(IGNORE) } else { f };
                    let nm = join(&mut buf, what, tag);
                    softmax_cases(h, nm, &f, ig, c, rows, &d);
                }
                Err(e) => h.res(what, Err(e)),
            }
        }
    }
}
