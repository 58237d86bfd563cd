//! Dense prediction at an imbalance of 1:10,000: a detector head that
//! classifies every anchor of a signal, on the host or an (emulated)
//! Cortex-M4F, trained with six objectives from the same initialisation.
//!
//! * **Data (generated, deterministic).** A frame is a signal of
//!   [`N`] = 100,352 samples: noise (triangular, half-width [`NOISE`]), ten
//!   target pulses (an antisymmetric wavelet, amplitude 0.6–1.4, one per
//!   tenth of the frame) and [`DISTRACTORS`] symmetric bumps of either
//!   sign. Every sample is an anchor: the centre of a target is a positive,
//!   its two neighbours are ignored (the detector's "between thresholds"
//!   band), every other anchor is a negative. So about 10 positives per
//!   10^5 anchors, the article's object-detection numbers. No bundled data
//!   set has this shape, so it is generated from seeds ([`Frame::new`]).
//! * **Model.** A linear head on a window of [`WIN`] samples and their
//!   squares, 19 parameters, its bias at RetinaNet's prior `π = 0.01`;
//!   Adam (lr [`LR`]) with a step every [`STEP_CHUNKS`] chunks of [`CHUNK`]
//!   anchors (7 steps per frame). Anchors stream through a fixed 26 KB
//!   working set: nothing holds a whole frame.
//! * **Objectives** ([`Objective`]): CE, α-balanced CE (α = 0.75), focal
//!   (γ 2, α 0.25), CE and focal with OHEM (the [`OHEM_K`] largest losses of
//!   each chunk, [`tinyloss::mining::top_k`]), and GHM-C
//!   ([`tinyloss::mining::Ghm`], each chunk a GHM batch). All but GHM-C
//!   divide by the positives through [`tinyloss::PositivesEma`] (a step
//!   sees 0–3 positives).
//! * **Diagnostic.** After every epoch, the easy-example diagnostic
//!   ([`tinyloss::Diagnostic`]) of the objective's own gradient on the
//!   first training frame: shares of loss and gradient from easy negatives.
//! * **Test.** [`TEST_FRAMES`] unseen frames: average precision over all
//!   anchors, and recall at a false-positive rate of 10^-4 (the
//!   [`FP_ALLOWED`] highest-scoring negatives allowed).
//!
//! Prints `DEPOCH,…` and `DTEST,…` lines and tables. Host only: `--seeds N`
//! repeats the experiment for seeds `0..N` (frames and initialisation
//! reseeded) and prints the mean, sd and wins against CE; `--curves` prints
//! the cumulative-loss curves (`DCUM,…`) of the converged focal model on the
//! test frames for γ = 0, 0.5, 1, 2 (Lin et al. 2017, figure 4). The soft-float cores do
//! not run it (about 4 G instructions on the M4F).
#![cfg_attr(target_os = "none", no_std, no_main)]

use tinyloss::mining::{top_k, Ghm};
use tinyloss::{
    Batch, BinaryLoss, Diagnostic, Error, Focal, Group, PositivesEma, Reduction, SigmoidCe,
};
use tinyloss_firmware::counter::Stopwatch;
use tinyloss_firmware::train::{Adam, Rng};
use tinyloss_firmware::{exit, fx, out};

/// Anchors per chunk (the working set).
const CHUNK: usize = 1024;
/// Chunks per frame.
const CHUNKS: usize = 98;
/// Anchors (and samples) per frame.
const N: usize = CHUNK * CHUNKS;
/// Target pulses (positives) per frame.
const POSITIVES: usize = 10;
/// Distractor bumps per frame.
const DISTRACTORS: usize = 40;
/// Half-width of the triangular noise (sd = `NOISE / √6`).
const NOISE: f32 = 1.0;
/// Window half-width: anchor `i` sees samples `i - HALF ..= i + HALF`.
const HALF: usize = 4;
/// Window length.
const WIN: usize = 2 * HALF + 1;
/// Parameters: a weight per sample and per squared sample, and a bias.
const NP: usize = 2 * WIN + 1;
/// Chunks per Adam step.
const STEP_CHUNKS: usize = 14;
/// Adam learning rate.
const LR: f32 = 0.01;
/// Training frames per epoch.
const TRAIN_FRAMES: u32 = 8;
/// Epochs (the host takes `--epochs N`, up to [`MAX_EPOCHS`]).
const EPOCHS: u32 = 4;
/// The most epochs a run records.
const MAX_EPOCHS: usize = 64;
/// Test frames.
const TEST_FRAMES: u32 = 4;
/// Negatives allowed above the threshold of the recall figure: a false
/// positive rate of 10^-4 over the test frames.
const FP_ALLOWED: usize = (TEST_FRAMES as usize * N) / 10_000;
/// OHEM: anchors kept per chunk (0.8 %).
const OHEM_K: usize = 8;
/// RetinaNet's prior probability of the initial bias.
const PRIOR: f32 = 0.01;
/// Histogram bins of the diagnostic.
const NB: usize = 10;
/// The target wavelet, offsets -3..=3.
const TARGET: [f32; 7] = [0.3, 0.8, 1.0, 0.0, -1.0, -0.8, -0.3];
/// The distractor bump, offsets -2..=2.
const BUMP: [f32; 5] = [0.3, 0.7, 1.0, 0.7, 0.3];

/// The objectives compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Objective {
    Ce,
    AlphaCe,
    Focal,
    CeOhem,
    FocalOhem,
    Ghm,
}

const OBJECTIVES: [Objective; 6] = [
    Objective::Ce,
    Objective::AlphaCe,
    Objective::Focal,
    Objective::CeOhem,
    Objective::FocalOhem,
    Objective::Ghm,
];

impl Objective {
    fn name(self) -> &'static str {
        match self {
            Objective::Ce => "CE",
            Objective::AlphaCe => "alpha-CE",
            Objective::Focal => "focal",
            Objective::CeOhem => "CE+OHEM",
            Objective::FocalOhem => "focal+OHEM",
            Objective::Ghm => "GHM-C",
        }
    }
}

/// One event of a frame: a target (positive) or a distractor.
#[derive(Clone, Copy, Debug, Default)]
struct Event {
    pos: usize,
    amp: f32,
    target: bool,
}

/// A generated frame: its noise seed and its events.
struct Frame {
    noise: u32,
    events: [Event; POSITIVES + DISTRACTORS],
}

/// A 32-bit integer hash (lowbias32, C. Wellons): the noise of a sample.
fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

impl Frame {
    /// Frame `index` of experiment `seed`.
    fn new(seed: u32, index: u32) -> Self {
        let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9) ^ index.wrapping_mul(0x85EB_CA6B));
        let mut events = [Event::default(); POSITIVES + DISTRACTORS];
        let seg = N / POSITIVES;
        for (k, e) in events.iter_mut().enumerate() {
            *e = if k < POSITIVES {
                Event {
                    pos: k * seg + 16 + rng.below(seg - 32),
                    amp: rng.uniform(0.6, 1.4),
                    target: true,
                }
            } else {
                let sign = if rng.next_u32() & 1 == 0 { 1.0 } else { -1.0 };
                Event {
                    pos: 8 + rng.below(N - 16),
                    amp: sign * rng.uniform(0.6, 1.6),
                    target: false,
                }
            };
        }
        Frame {
            noise: rng.next_u32(),
            events,
        }
    }

    /// Positives among anchors `lo..hi`.
    fn positives(&self, lo: usize, hi: usize) -> usize {
        let inside = |e: &&Event| e.target && e.pos >= lo && e.pos < hi;
        self.events.iter().filter(inside).fold(0, |n, _| n + 1)
    }

    /// Signal, targets and ignore mask of chunk `c`.
    fn fill(&self, c: usize, ch: &mut Chunk) {
        let lo = c * CHUNK;
        // Sample `lo - HALF + j` is `ch.sig[j]`.
        for (j, s) in ch.sig.iter_mut().enumerate() {
            let i = (lo + j) as u32; // the sample index plus HALF
            let h = hash(i ^ self.noise);
            let u1 = (h >> 16) as f32 * (1.0 / 65_536.0);
            let u2 = (h & 0xffff) as f32 * (1.0 / 65_536.0);
            *s = (u1 + u2 - 1.0) * NOISE;
        }
        ch.y.fill(0.0);
        ch.ig.fill(false);
        for e in &self.events {
            let (shape, half): (&[f32], usize) = if e.target { (&TARGET, 3) } else { (&BUMP, 2) };
            for (o, v) in shape.iter().enumerate() {
                // Sample e.pos + o - half sits at sig[e.pos + o - half - lo + HALF].
                let j = (e.pos + o + HALF).wrapping_sub(half + lo);
                if let Some(s) = ch.sig.get_mut(j) {
                    *s += e.amp * v;
                }
            }
            if e.target {
                for d in 0..3 {
                    let k = (e.pos + d).wrapping_sub(1 + lo);
                    if k < CHUNK {
                        if d == 1 {
                            ch.y[k] = 1.0;
                        } else {
                            ch.ig[k] = true;
                        }
                    }
                }
            }
        }
    }
}

/// The working set of one chunk.
struct Chunk {
    sig: [f32; CHUNK + 2 * HALF],
    y: [f32; CHUNK],
    ig: [bool; CHUNK],
    mined: [bool; CHUNK],
    z: [f32; CHUNK],
    g: [f32; CHUNK],
    l: [f32; CHUNK],
    w: [f32; CHUNK],
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            sig: [0.0; CHUNK + 2 * HALF],
            y: [0.0; CHUNK],
            ig: [false; CHUNK],
            mined: [false; CHUNK],
            z: [0.0; CHUNK],
            g: [0.0; CHUNK],
            l: [0.0; CHUNK],
            w: [0.0; CHUNK],
        }
    }

    /// Logits of every anchor.
    fn forward(&mut self, p: &[f32; NP]) {
        for (k, z) in self.z.iter_mut().enumerate() {
            *z = logit(p, &self.sig[k..k + WIN]);
        }
    }

    /// `grad += Σ_k g_k ∂z_k/∂θ`.
    fn backward(&self, grad: &mut [f32; NP]) {
        for (k, &d) in self.g.iter().enumerate() {
            if d == 0.0 {
                continue;
            }
            for (j, &s) in self.sig[k..k + WIN].iter().enumerate() {
                grad[j] += d * s;
                grad[WIN + j] += d * s * s;
            }
            grad[2 * WIN] += d;
        }
    }
}

/// `z = b + Σ_j a_j s_j + Σ_j c_j s_j²` over a window.
#[inline]
fn logit(p: &[f32; NP], win: &[f32]) -> f32 {
    let mut z = p[2 * WIN];
    for (j, &s) in win.iter().enumerate() {
        z += s * (p[j] + p[WIN + j] * s);
    }
    z
}

/// Model, optimiser and the objective's running state.
struct Learner {
    p: [f32; NP],
    adam: Adam<NP>,
    norm: PositivesEma,
    ghm: Ghm<10>,
}

impl Learner {
    /// Small uniform weights, the bias at the prior.
    fn new(seed: u32) -> Result<Self, Error> {
        let mut rng = Rng::new(0xDE75_E000 ^ seed);
        let mut p = [0.0f32; NP];
        for v in &mut p[..2 * WIN] {
            *v = rng.uniform(-0.05, 0.05);
        }
        p[2 * WIN] = -libm::logf((1.0 - PRIOR) / PRIOR);
        Ok(Learner {
            p,
            adam: Adam::new(LR),
            // A step holds 10 · 14/98 ≈ 1.4 positives on average.
            norm: PositivesEma::new(1.4, 0.9)?,
            ghm: Ghm::MMDET,
        })
    }
}

/// The batch call, diagnosed when asked.
fn call<L: BinaryLoss>(
    b: &Batch<'_>,
    loss: &L,
    z: &[f32],
    r: Reduction,
    g: &mut [f32],
    diag: Option<&mut Diagnostic<NB>>,
) -> Result<f32, Error> {
    match diag {
        Some(d) => b.loss_grad_diagnosed(loss, z, r, g, d),
        None => b.loss_grad(loss, z, r, g, None),
    }
}

/// The objective on one chunk (logits in `ch.z`): writes `ch.g` and returns
/// the loss. `r` is the normaliser (GHM-C brings its own); `ghm` is updated.
fn objective(
    obj: Objective,
    ch: &mut Chunk,
    r: Reduction,
    ghm: &mut Ghm<10>,
    diag: Option<&mut Diagnostic<NB>>,
) -> Result<f32, Error> {
    let focal = Focal::RETINANET;
    let alpha_ce = Focal::new(0.0, Some(0.75))?;
    let b = Batch::new(&ch.y).with_ignore(&ch.ig);
    match obj {
        Objective::Ce => call(&b, &SigmoidCe::PLAIN, &ch.z, r, &mut ch.g, diag),
        Objective::AlphaCe => call(&b, &alpha_ce, &ch.z, r, &mut ch.g, diag),
        Objective::Focal => call(&b, &focal, &ch.z, r, &mut ch.g, diag),
        Objective::CeOhem | Objective::FocalOhem => {
            let sum = Reduction::Sum;
            if obj == Objective::CeOhem {
                b.loss_grad(&SigmoidCe::PLAIN, &ch.z, sum, &mut ch.g, Some(&mut ch.l))?;
            } else {
                b.loss_grad(&focal, &ch.z, sum, &mut ch.g, Some(&mut ch.l))?;
            }
            ch.mined = ch.ig;
            top_k(&ch.l, OHEM_K, &mut ch.mined)?;
            let b = Batch::new(&ch.y).with_ignore(&ch.mined);
            if obj == Objective::CeOhem {
                call(&b, &SigmoidCe::PLAIN, &ch.z, r, &mut ch.g, diag)
            } else {
                call(&b, &focal, &ch.z, r, &mut ch.g, diag)
            }
        }
        Objective::Ghm => {
            let r = ghm.weights(&ch.z, &ch.y, Some(&ch.ig), &mut ch.w)?;
            let b = b.with_weights(&ch.w);
            call(&b, &SigmoidCe::PLAIN, &ch.z, r, &mut ch.g, diag)
        }
    }
}

/// One pass of training over `frame`: a step every [`STEP_CHUNKS`] chunks.
/// Returns the summed loss of its steps.
fn train_frame(
    obj: Objective,
    l: &mut Learner,
    frame: &Frame,
    ch: &mut Chunk,
) -> Result<f32, Error> {
    let mut total = 0.0;
    for s in 0..CHUNKS / STEP_CHUNKS {
        let (c0, c1) = (s * STEP_CHUNKS, (s + 1) * STEP_CHUNKS);
        let pos = frame.positives(c0 * CHUNK, c1 * CHUNK);
        let r = l.norm.update(pos as f32)?;
        let mut grad = [0.0f32; NP];
        for c in c0..c1 {
            frame.fill(c, ch);
            ch.forward(&l.p);
            total += objective(obj, ch, r, &mut l.ghm, None)?;
            ch.backward(&mut grad);
        }
        l.adam.step(&mut l.p, &grad);
    }
    Ok(total)
}

/// The diagnostic of the objective's gradient on `frame` (no update; GHM-C
/// from a copy of its state).
fn diagnose(
    obj: Objective,
    l: &Learner,
    frame: &Frame,
    ch: &mut Chunk,
) -> Result<Diagnostic<NB>, Error> {
    let mut d = Diagnostic::<NB>::new();
    let mut ghm = l.ghm;
    for c in 0..CHUNKS {
        frame.fill(c, ch);
        ch.forward(&l.p);
        objective(obj, ch, Reduction::Sum, &mut ghm, Some(&mut d))?;
    }
    Ok(d)
}

/// Test metrics over [`TEST_FRAMES`] frames.
#[derive(Clone, Copy, Debug, Default)]
struct Metrics {
    ap: f32,
    recall: f32,
}

/// Capacity for the positives' scores of the test frames.
const MAX_POS: usize = POSITIVES * TEST_FRAMES as usize;

/// Average precision over every anchor of the test frames (ties counted
/// against the positive) and the recall at [`FP_ALLOWED`] false positives:
/// the positives' scores are kept sorted, each negative is counted into the
/// gap between them it falls in, and the `FP_ALLOWED + 1` highest negative
/// scores are kept.
fn evaluate(p: &[f32; NP], seed: u32, ch: &mut Chunk) -> Metrics {
    let mut pos = [0.0f32; MAX_POS];
    let mut np = 0usize;
    // above[m]: negatives with exactly m positive scores <= theirs.
    let mut above = [0u32; MAX_POS + 1];
    let mut top = [f32::NEG_INFINITY; FP_ALLOWED + 1];
    for f in 0..TEST_FRAMES {
        let frame = Frame::new(seed, 1_000 + f);
        for c in 0..CHUNKS {
            frame.fill(c, ch);
            ch.forward(p);
            for k in 0..CHUNK {
                if ch.y[k] > 0.5 && np < MAX_POS {
                    pos[np] = ch.z[k];
                    np += 1;
                }
            }
        }
    }
    let pos = &mut pos[..np];
    pos.sort_unstable_by(f32::total_cmp);
    for f in 0..TEST_FRAMES {
        let frame = Frame::new(seed, 1_000 + f);
        for c in 0..CHUNKS {
            frame.fill(c, ch);
            ch.forward(p);
            for k in 0..CHUNK {
                if ch.y[k] > 0.5 || ch.ig[k] {
                    continue;
                }
                let v = ch.z[k];
                above[pos.partition_point(|&s| s <= v)] += 1;
                if v > top[FP_ALLOWED] {
                    let mut j = FP_ALLOWED;
                    while j > 0 && top[j - 1] < v {
                        top[j] = top[j - 1];
                        j -= 1;
                    }
                    top[j] = v;
                }
            }
        }
    }
    // The positive at ascending index j is outranked by the negatives with
    // more than j positive scores at or below theirs.
    let mut ap = 0.0f64;
    let mut neg_ge = 0u32;
    for j in (0..np).rev() {
        neg_ge += above[j + 1];
        let rank = (np - j) as f64;
        ap += rank / (rank + f64::from(neg_ge));
    }
    let cut = top[FP_ALLOWED];
    let found = pos.iter().filter(|&&s| s > cut).fold(0u32, |n, _| n + 1);
    Metrics {
        ap: if np == 0 {
            0.0
        } else {
            (ap / np as f64) as f32
        },
        recall: if np == 0 {
            0.0
        } else {
            found as f32 / np as f32
        },
    }
}

/// One objective's run: per-epoch figures and the test metrics.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// `[epoch 0 ..= epochs]`: (training loss per step, easy negatives'
    /// share of the loss, of the gradient, half-gradient bracket).
    epochs: [(f32, f32, f32, (u32, u32)); MAX_EPOCHS + 1],
    test: Metrics,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            epochs: [(0.0, 0.0, 0.0, (0, 0)); MAX_EPOCHS + 1],
            test: Metrics::default(),
        }
    }
}

/// Trains `obj` from the initialisation of `seed`; prints the `DEPOCH` lines
/// when `verbose`. Returns the run and the final parameters.
fn run(
    obj: Objective,
    seed: u32,
    epochs: u32,
    verbose: bool,
    ch: &mut Chunk,
) -> Result<(Run, [f32; NP]), Error> {
    let mut l = Learner::new(seed)?;
    let mut r = Run::default();
    let first = Frame::new(seed, 0);
    let steps = (TRAIN_FRAMES as usize * (CHUNKS / STEP_CHUNKS)) as f32;
    for e in 0..=epochs {
        let mut loss = 0.0;
        if e > 0 {
            for f in 0..TRAIN_FRAMES {
                loss += train_frame(obj, &mut l, &Frame::new(seed, f), ch)?;
            }
            loss /= steps;
        }
        let d = diagnose(obj, &l, &first, ch)?;
        let fig = (
            loss,
            d.easy_loss_share(Group::Negatives),
            d.easy_grad_share(Group::Negatives),
            d.half_gradient(),
        );
        r.epochs[e as usize] = fig;
        if verbose {
            out!(
                "DEPOCH,{},{},loss={},easy_neg_loss={},easy_neg_grad={},half_grad={}..{}",
                obj.name(),
                e,
                fx(fig.0, 5),
                fx(fig.1, 4),
                fx(fig.2, 4),
                fig.3 .0,
                fig.3 .1
            );
        }
    }
    r.test = evaluate(&l.p, seed, ch);
    if verbose {
        print_test(obj, seed, &r.test);
    }
    Ok((r, l.p))
}

/// The `DTEST` line of a run.
fn print_test(obj: Objective, seed: u32, m: &Metrics) {
    out!(
        "DTEST,{},seed={},ap={},recall_at_fpr_1e-4={}",
        obj.name(),
        seed,
        fx(m.ap, 4),
        fx(m.recall, 4)
    );
}

#[inline(never)]
fn main_run() -> Result<(), Error> {
    #[cfg(not(target_os = "none"))]
    let epochs = host::arg_epochs();
    #[cfg(target_os = "none")]
    let epochs = EPOCHS;
    out!(
        "dense on {}: {} anchors per frame, {} positives, {} distractors; linear head on {} samples and their squares ({} params); {} training frames x {} epochs, Adam lr {}, a step per {} anchors; test {} frames",
        tinyloss_firmware::BOARD,
        N,
        POSITIVES,
        DISTRACTORS,
        WIN,
        NP,
        TRAIN_FRAMES,
        epochs,
        LR,
        STEP_CHUNKS * CHUNK,
        TEST_FRAMES
    );
    let mut ch = Chunk::new();
    let mut runs = [Run::default(); 6];
    let sw = Stopwatch::start();
    let mut focal_p = [0.0f32; NP];
    for (k, &obj) in OBJECTIVES.iter().enumerate() {
        let (r, p) = run(obj, 0, epochs, true, &mut ch)?;
        runs[k] = r;
        if obj == Objective::Focal {
            focal_p = p;
        }
    }
    let spent = sw.elapsed();
    out!("");
    out!("seed 0: easy negatives' share of the loss and of the gradient on a training frame, at initialisation -> after each epoch; test AP and recall at FPR 1e-4:");
    out!("| objective | easy-negative loss share | easy-negative gradient share | anchors carrying half the gradient | AP | recall |");
    out!("|---|---|---|---|---|---|");
    for (k, &obj) in OBJECTIVES.iter().enumerate() {
        let r = &runs[k];
        let (a, b) = (&r.epochs[0], &r.epochs[epochs as usize]);
        out!(
            "| {} | {} -> {} | {} -> {} | {}..{} -> {}..{} | {} | {} |",
            obj.name(),
            fx(a.1, 3),
            fx(b.1, 3),
            fx(a.2, 3),
            fx(b.2, 3),
            a.3 .0,
            a.3 .1,
            b.3 .0,
            b.3 .1,
            fx(r.test.ap, 3),
            fx(r.test.recall, 3)
        );
    }
    out!(
        "COST,{} {} for training and testing all six objectives ({} anchor visits)",
        spent,
        tinyloss_firmware::UNIT,
        6 * (epochs * TRAIN_FRAMES + epochs + 1 + 2 * TEST_FRAMES) as u64 * N as u64
    );
    #[cfg(not(target_os = "none"))]
    host::more(&runs, &focal_p, epochs, &mut ch)?;
    #[cfg(target_os = "none")]
    let _ = focal_p;
    Ok(())
}

/// Host only: more seeds, and the cumulative-loss curves.
#[cfg(not(target_os = "none"))]
mod host {
    use super::*;

    fn arg(flag: &str) -> Option<u32> {
        let args: Vec<String> = std::env::args().collect();
        let i = args.iter().position(|a| a == flag)?;
        args.get(i + 1)?.parse().ok()
    }

    pub fn arg_epochs() -> u32 {
        arg("--epochs")
            .unwrap_or(EPOCHS)
            .clamp(1, MAX_EPOCHS as u32)
    }

    pub fn more(
        first: &[Run; 6],
        focal_p: &[f32; NP],
        epochs: u32,
        ch: &mut Chunk,
    ) -> Result<(), Error> {
        if std::env::args().any(|a| a == "--curves") {
            curves(focal_p, ch)?;
        }
        let Some(n) = arg("--seeds") else {
            return Ok(());
        };
        let mut all: Vec<[Run; 6]> = vec![*first];
        for seed in 1..n {
            let mut rs = [Run::default(); 6];
            for (k, &obj) in OBJECTIVES.iter().enumerate() {
                rs[k] = run(obj, seed, epochs, false, ch)?.0;
                print_test(obj, seed, &rs[k].test);
            }
            all.push(rs);
        }
        let stats = |v: &[f64]| {
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let sd = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>()
                / (v.len().max(2) - 1) as f64)
                .sqrt();
            (m, sd)
        };
        out!("");
        out!("{} seeds: mean ± sd; paired difference against CE and the seeds where the objective beats CE:", n);
        out!("| objective | AP | AP - CE's | better AP | recall at FPR 1e-4 | recall - CE's | easy-neg gradient share, last epoch |");
        out!("|---|---|---|---|---|---|---|");
        for (k, &obj) in OBJECTIVES.iter().enumerate() {
            let ap: Vec<f64> = all.iter().map(|r| f64::from(r[k].test.ap)).collect();
            let rc: Vec<f64> = all.iter().map(|r| f64::from(r[k].test.recall)).collect();
            let dap: Vec<f64> = all
                .iter()
                .map(|r| f64::from(r[k].test.ap - r[0].test.ap))
                .collect();
            let drc: Vec<f64> = all
                .iter()
                .map(|r| f64::from(r[k].test.recall - r[0].test.recall))
                .collect();
            let gs: Vec<f64> = all
                .iter()
                .map(|r| f64::from(r[k].epochs[epochs as usize].2))
                .collect();
            let wins = dap.iter().filter(|&&d| d > 0.0).count();
            let (a, b, c, d, e) = (stats(&ap), stats(&dap), stats(&rc), stats(&drc), stats(&gs));
            out!(
                "| {} | {:.3} ± {:.3} | {:+.3} ± {:.3} | {}/{} | {:.3} ± {:.3} | {:+.3} ± {:.3} | {:.3} ± {:.3} |",
                obj.name(), a.0, a.1, b.0, b.1, wins, n, c.0, c.1, d.0, d.1, e.0, e.1
            );
        }
        Ok(())
    }

    /// The cumulative normalised loss of positives and negatives of the
    /// test frames under the converged focal model, for γ = 0, 0.5, 1, 2
    /// (α off): anchors sorted by loss, 100 points per curve.
    fn curves(p: &[f32; NP], ch: &mut Chunk) -> Result<(), Error> {
        for gamma in [0.0f32, 0.5, 1.0, 2.0] {
            let f = Focal::new(gamma, None)?;
            let (mut pos, mut neg) = (Vec::new(), Vec::new());
            for (frame, c) in (0..TEST_FRAMES)
                .flat_map(|i| (0..CHUNKS).map(move |c| (i, c)))
                .map(|(i, c)| (Frame::new(0, 1_000 + i), c))
            {
                frame.fill(c, ch);
                ch.forward(p);
                Batch::new(&ch.y).with_ignore(&ch.ig).loss_grad(
                    &f,
                    &ch.z,
                    Reduction::Sum,
                    &mut ch.g,
                    Some(&mut ch.l),
                )?;
                for k in 0..CHUNK {
                    if ch.ig[k] {
                        continue;
                    }
                    let v = f64::from(ch.l[k]);
                    if ch.y[k] > 0.5 {
                        pos.push(v)
                    } else {
                        neg.push(v)
                    }
                }
            }
            for (group, v) in [("positives", &mut pos), ("negatives", &mut neg)] {
                v.sort_by(f64::total_cmp);
                let total: f64 = v.iter().sum();
                let mut acc = 0.0;
                let mut next = 0;
                for (i, x) in v.iter().enumerate() {
                    acc += x;
                    let frac = (i + 1) as f64 / v.len() as f64;
                    if frac * 100.0 >= next as f64 || i + 1 == v.len() {
                        out!("DCUM,{},{},{:.4},{:.6}", group, gamma, frac, acc / total);
                        next += 1;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    match main_run() {
        Ok(()) => exit(true),
        Err(e) => {
            out!("dense failed: {:?}", e);
            exit(false)
        }
    }
}
