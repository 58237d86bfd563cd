//! Panic-free by construction, proved at link time.
//!
//! `_start` calls every public entry point of tinyloss on inputs the
//! optimiser cannot see (`black_box` on every slice, length, parameter and
//! option), and the panic handler calls `tinyloss_panic_is_reachable`, which
//! is defined nowhere. After fat LTO and `--gc-sections`, the link succeeds
//! only if no panic path survives: no bounds check, slice range, overflow,
//! division, unwrap or assert that the optimiser could not prove dead.
//!
//! Feature `defined` provides the symbol (so a failing configuration still
//! links, for `tools/nopanic` to list the call sites); feature `planted` adds
//! a reachable panic of our own, which must make the check fail.
//!
//! Run it with `tools/nopanic`; a plain `cargo build --release --target T`
//! here also works.
#![no_std]
#![no_main]
// `black_box(x);` as a statement is how results are kept alive here.
#![allow(unused_must_use)]

use core::hint::black_box as bb;
use tinyloss::class_balanced::{self, ClassCounter, Normalize};
use tinyloss::mining::{self, Ghm, Replay};
use tinyloss::quant::{self, BinaryTable, Quant};
use tinyloss::softmax::{self, Rows, SoftmaxCe, SoftmaxFocal, SoftmaxLoss, Target, Targets};
use tinyloss::{
    binary, Asymmetric, Batch, BinaryLoss, Error, Focal, FocalStar, GradMode, Poly1, Reduction,
    SigmoidCe,
};
use tinyloss::{Diagnostic, Group, PositivesEma};

const N: usize = 48;
const C: usize = 4;

static LOGITS: [f32; N] = {
    let mut a = [0.0f32; N];
    let mut i = 0;
    while i < N {
        a[i] = (i as f32 - 24.0) * 0.37;
        i += 1;
    }
    a
};
static TARGETS: [f32; N] = {
    let mut a = [0.0f32; N];
    let mut i = 0;
    while i < N {
        a[i] = if i % 3 == 0 { 1.0 } else { 0.0 };
        i += 1;
    }
    a
};
static WEIGHTS: [f32; N] = [1.0; N];
static MASK: [bool; N] = [false; N];
static LABELS: [u32; N] = [1; N];
static LABELS16: [u16; N] = [2; N];
static LABELS8: [u8; N] = [3; N];
static COUNTS: [u32; N] = [7; N];
static CODES: [i8; N] = [-3; N];
static CODES16: [i16; N] = [300; N];

/// A slice whose address and length the optimiser cannot see.
#[inline(always)]
fn opaque<T>(s: &'static [T]) -> &'static [T] {
    bb(s)
}

/// Any reduction, including `MeanOver` with an unseen normaliser.
#[inline(always)]
fn reduction() -> Reduction {
    bb(Reduction::MeanOver(bb(2.0)))
}

/// A binary batch with unseen input kind, weights and mask (every
/// combination is reachable).
#[inline(always)]
fn batch() -> Batch<'static> {
    let mut b = Batch::new(opaque(&TARGETS));
    if bb(false) {
        b = b.with_probabilities();
    }
    if bb(true) {
        b = b.with_weights(opaque(&WEIGHTS));
    }
    if bb(true) {
        b = b.with_ignore(opaque(&MASK));
    }
    b
}

/// Gradient, per-element loss and in-place logit buffers.
struct Bufs {
    grad: [f32; N],
    losses: [f32; N],
    z: [f32; N],
}

impl Bufs {
    fn new() -> Self {
        Bufs {
            grad: [0.0; N],
            losses: [0.0; N],
            z: LOGITS,
        }
    }
    /// The three, as slices the optimiser cannot see through.
    fn parts(&mut self) -> (&mut [f32], &mut [f32], &mut [f32]) {
        (
            bb(&mut self.grad[..]),
            bb(&mut self.losses[..]),
            bb(&mut self.z[..]),
        )
    }
}

/// Every binary batch entry point for one loss type, on any batch.
#[inline(never)]
fn binary_all<L: BinaryLoss>(loss: &L) {
    let mut b = Bufs::new();
    let (grad, losses, z) = b.parts();
    let x = opaque(&LOGITS);
    let b = bb(batch());
    bb(b.len());
    bb(b.is_empty());
    // Both `losses` options, any reduction, any batch.
    bb(b.loss_grad(loss, x, reduction(), &mut *grad, None));
    bb(b.loss_grad(loss, x, reduction(), &mut *grad, Some(&mut *losses)));
    bb(b.loss_grad_in_place(loss, &mut *z, reduction(), None));
    bb(b.loss_grad_in_place(loss, &mut *z, reduction(), Some(&mut *losses)));
    bb(b.loss(loss, x, reduction()));
    diagnosed::<L, 10>(&b, loss, x, &mut *grad);
    diagnosed::<L, 3>(&b, loss, x, &mut *grad);
}

/// The diagnosed binary call and every reading of the diagnostic, for a
/// histogram of `B` bins (indices and threshold unseen).
#[inline(never)]
fn diagnosed<L: BinaryLoss, const B: usize>(b: &Batch, loss: &L, x: &[f32], grad: &mut [f32]) {
    let mut d = Diagnostic::<B>::new();
    if let Ok(t) = d.with_threshold(bb(0.7)) {
        d = t;
    }
    let mut d = bb(d);
    bb(b.loss_grad_diagnosed(loss, x, reduction(), grad, &mut d));
    read_diagnostic(&d);
}

#[inline(always)]
fn read_diagnostic<const B: usize>(d: &Diagnostic<B>) {
    for g in [Group::Positives, Group::Negatives, Group::All] {
        let g = bb(g);
        bb((d.total(g), d.easy(g), d.bin(g, bb(3))));
        bb((d.easy_loss_share(g), d.easy_grad_share(g)));
    }
    bb((d.half_gradient(), d.threshold()));
    let mut e = bb(*d);
    e.reset();
    bb(&e);
}

/// The same with the options known at the call site (the inlined
/// validation then links only the checks that apply, as in firmware).
#[inline(never)]
fn binary_static<L: BinaryLoss>(loss: &L) {
    let mut grad = [0.0f32; N];
    let grad = bb(&mut grad[..]);
    let mut z = LOGITS;
    let z = bb(&mut z[..]);
    let (x, t) = (opaque(&LOGITS), opaque(&TARGETS));
    for r in [
        Reduction::Sum,
        Reduction::Mean,
        Reduction::MeanOverPositives,
    ] {
        let plain = Batch::new(t);
        bb(plain.loss_grad(loss, x, r, &mut *grad, None));
        bb(plain.loss_grad_in_place(loss, &mut *z, r, None));
        bb(plain.loss(loss, x, r));
        let prob = Batch::new(t).with_probabilities();
        bb(prob.loss_grad(loss, x, r, &mut *grad, None));
        let weighted = Batch::new(t).with_weights(opaque(&WEIGHTS));
        bb(weighted.loss_grad(loss, x, r, &mut *grad, None));
        bb(weighted.loss_grad_in_place(loss, &mut *z, r, None));
        let masked = Batch::new(t).with_ignore(opaque(&MASK));
        bb(masked.loss_grad(loss, x, r, &mut *grad, None));
        bb(masked.loss(loss, x, r));
    }
}

/// A loss chosen at run time.
#[inline(always)]
fn any_loss() -> binary::AnyLoss {
    if bb(true) {
        binary::AnyLoss::from(bb(Focal::RETINANET))
    } else if bb(true) {
        binary::AnyLoss::from(bb(SigmoidCe::PLAIN))
    } else if bb(true) {
        binary::AnyLoss::from(bb(Asymmetric::TIMM))
    } else {
        binary::AnyLoss::from(bb(FocalStar::FVCORE))
    }
}

#[inline(never)]
fn per_element() {
    let (z, y) = (bb(0.3f32), bb(1.0f32));
    let ce = bb(SigmoidCe::PLAIN);
    bb(ce.loss_grad(z, y));
    bb(ce.loss_grad_prob(z, y));
    bb(ce.pos_weight());
    bb(ce.smoothing());
    bb(SigmoidCe::default());
    if let Ok(c) = SigmoidCe::PLAIN.with_pos_weight(bb(3.0)) {
        bb(c.with_smoothing(bb(0.1)));
    }
    let f = bb(Focal::RETINANET);
    bb(f.loss_grad(z, y));
    bb(f.loss_grad_prob(z, y));
    bb((f.gamma(), f.alpha(), f.smoothing()));
    if let Ok(f) = Focal::new(bb(1.5), bb(Some(0.75))) {
        bb(f.with_smoothing(bb(0.05)));
    }
    let any = any_loss();
    bb(any.loss_grad(z, y));
    bb(any.loss_grad_prob(z, y));
    bb(f.with_grad_mode(bb(GradMode::Detached)).grad_mode());
    let a = bb(Asymmetric::TIMM);
    bb(a.loss_grad(z, y));
    bb(a.loss_grad_prob(z, y));
    bb((
        a.gamma_neg(),
        a.gamma_pos(),
        a.clip(),
        a.grad_mode(),
        a.smoothing(),
    ));
    if let Ok(a) = Asymmetric::new(bb(4.0), bb(1.0), bb(0.05)) {
        bb(a.with_grad_mode(bb(GradMode::Detached))
            .with_smoothing(bb(0.1)));
    }
    if let Ok(p) = Poly1::new(bb(Focal::RETINANET), bb(1.0)) {
        bb(p.loss_grad(z, y));
        bb(p.loss_grad_prob(z, y));
        bb((p.base(), p.epsilon()));
    }
    bb(Poly1::cross_entropy(bb(-1.0)));
    if let Ok(f) = FocalStar::new(bb(2.0), bb(1.0), bb(Some(0.25))) {
        bb(f.loss_grad(z, y));
        bb(f.loss_grad_prob(z, y));
        bb((f.gamma(), f.beta(), f.alpha(), f.smoothing()));
        bb(f.with_smoothing(bb(0.1)));
    }
    bb(FocalStar::FVCORE);
    let q = bb(tinyloss::Qfl::MMDET);
    bb((q.loss_grad(z, y), q.loss_grad_prob(z, y), q.beta()));
    bb(tinyloss::Qfl::new(bb(1.5)));
    let v = bb(tinyloss::Varifocal::MMDET);
    bb((v.loss_grad(z, y), v.loss_grad_prob(z, y)));
    bb((v.alpha(), v.gamma(), v.iou_weighted()));
    if let Ok(v) = tinyloss::Varifocal::new(bb(0.5), bb(1.5)) {
        bb(v.with_iou_weighted(bb(false)));
    }
}

/// The multi-class batch API for one loss type: any targets kind, with and
/// without class weights, row weights and mask, every entry point.
/// Rows with every option, as values the optimiser cannot see.
fn any_rows() -> Rows<'static> {
    let classes = bb(C);
    let targets = match bb(0u8) {
        0 => Targets::from(opaque(&LABELS)),
        1 => Targets::from(opaque(&LABELS16)),
        2 => Targets::from(opaque(&LABELS8)),
        _ => Targets::Probs(opaque(&TARGETS)),
    };
    let mut rows = Rows::new(classes, targets);
    if bb(true) {
        match rows.with_class_weights(opaque(&WEIGHTS)) {
            Ok(r) => rows = r,
            Err(e) => {
                bb(e);
            }
        }
    }
    if bb(true) {
        match rows.with_row_weights(opaque(&WEIGHTS)) {
            Ok(r) => rows = r,
            Err(e) => {
                bb(e);
            }
        }
    }
    if bb(true) {
        rows = rows.with_ignore(opaque(&MASK));
    }
    bb(rows)
}

/// Every entry point of a loss on shifted logits.
#[inline(never)]
fn shifted_all<S: softmax::Shift, L: SoftmaxLoss>(sh: &softmax::Shifted<S, L>) {
    let mut b = Bufs::new();
    let (grad, losses, z) = b.parts();
    let rows = any_rows();
    let x = opaque(&LOGITS);
    bb(sh.shifted(&rows, x, &mut *grad));
    bb(sh.loss_grad(&rows, x, reduction(), &mut *grad, None));
    bb(sh.loss_grad(&rows, x, reduction(), &mut *grad, Some(&mut *losses)));
    bb(sh.loss_grad_in_place(&rows, &mut *z, reduction(), Some(&mut *losses)));
    let target = if bb(true) {
        Target::Label(bb(1))
    } else {
        Target::Probs(opaque(&TARGETS))
    };
    bb(sh.loss_grad_row(x, target, &mut *grad));
    bb((sh.base(), sh.shift()));
}

/// The logit-adjusted loss, LDAM and seesaw over a loss chosen at run time.
#[inline(never)]
fn shifted_losses() {
    let base = bb(softmax::AnyLoss::from(SoftmaxCe::new()));
    let mut b = [0.0f32; C];
    let b = bb(&mut b[..]);
    if let Ok(la) = softmax::LogitAdjusted::from_counts(base, opaque(&COUNTS), bb(1.0), &mut *b) {
        bb(la.shift().get());
        shifted_all(&bb(la));
    }
    if let Ok(la) = softmax::LogitAdjusted::new(base, opaque(&WEIGHTS)) {
        shifted_all(&bb(la));
    }
    let mut delta = [0.0f32; C];
    let delta = bb(&mut delta[..]);
    bb(softmax::ldam_margins(opaque(&COUNTS), bb(0.5), &mut *delta));
    if let Ok(l) = softmax::Ldam::new(base, &*delta, bb(30.0)) {
        bb((l.shift().margins(), l.shift().scale()));
        shifted_all(&bb(l));
    }
    if let Ok(s) = softmax::Seesaw::new(base, opaque(&COUNTS), bb(0.8), bb(2.0)) {
        bb((s.shift().counts(), s.shift().exponents()));
        shifted_all(&bb(s));
        // The shift chosen at run time.
        shifted_all(&bb(s.into_any()));
    }
}

#[inline(never)]
fn softmax_all<L: softmax::SoftmaxLoss>(loss: &L) {
    let mut b = Bufs::new();
    let (grad, losses, z) = b.parts();
    let mut scratch = [0.0f32; N];
    let scratch = bb(&mut scratch[..]);
    let rows = any_rows();
    bb(rows.classes());
    let x = opaque(&LOGITS);
    bb(rows.loss_grad(loss, x, reduction(), &mut *grad, None));
    bb(rows.loss_grad(loss, x, reduction(), &mut *grad, Some(&mut *losses)));
    bb(rows.loss_grad_in_place(loss, &mut *z, reduction(), None));
    bb(rows.loss_grad_in_place(loss, &mut *z, reduction(), Some(&mut *losses)));
    bb(rows.loss(loss, x, reduction(), &mut *scratch));
    let mut d = bb(Diagnostic::<10>::new().with_background(bb(0)));
    bb(rows.loss_grad_diagnosed(loss, x, reduction(), &mut *grad, &mut d));
    read_diagnostic(&d);
    let target = if bb(true) {
        Target::Label(bb(1))
    } else {
        Target::Probs(opaque(&TARGETS))
    };
    // The per-row method through the trait (generic code).
    bb(SoftmaxLoss::loss_grad_row(loss, x, target, &mut *grad));
}

#[inline(never)]
fn softmax_losses() {
    let mut grad = [0.0f32; N];
    let grad = bb(&mut grad[..]);
    let x = opaque(&LOGITS);
    let target = if bb(true) {
        Target::Label(bb(1))
    } else {
        Target::Probs(opaque(&TARGETS))
    };
    let ce = SoftmaxCe::new().with_ignore_index(bb(u32::MAX));
    bb((ce.smoothing(), ce.ignore_index()));
    let ce = match bb(ce).with_smoothing(bb(0.1)) {
        Ok(c) => c,
        Err(_) => SoftmaxCe::default(),
    };
    bb(ce.loss_grad_row(x, target, &mut *grad));
    softmax_all(&bb(ce));
    if let Ok(f) = SoftmaxFocal::new(bb(2.0)) {
        bb(f.with_grad_mode(bb(GradMode::Detached)).grad_mode());
        let f = f.with_ignore_index(bb(7));
        bb((f.gamma(), f.smoothing(), f.ignore_index()));
        if let Ok(f) = f.with_smoothing(bb(0.05)) {
            bb(f.loss_grad_row(x, target, &mut *grad));
            softmax_all(&bb(f));
            // The loss chosen at run time.
            let any = bb(if bb(true) {
                softmax::AnyLoss::from(f)
            } else {
                softmax::AnyLoss::from(ce)
            });
            bb((any.smoothing(), any.ignore_index()));
            bb(any.with_ignore_index(bb(3)));
            bb(any.loss_grad_row(x, target, &mut *grad));
            softmax_all(&any);
        }
    }
    if let Ok(d) = softmax::Dfl::new(bb(C)) {
        let mut sc = [0.0f32; N];
        let sc = bb(&mut sc[..]);
        let mut l = [0.0f32; N];
        let l = bb(&mut l[..]);
        let ys = opaque(&TARGETS);
        bb(d.bins());
        bb(d.loss_grad(x, ys, reduction(), &mut *grad, Some(&mut *l), &mut *sc));
        bb(d.loss_grad(x, ys, reduction(), &mut *grad, None, &mut *sc));
        bb(d.loss_grad_row(x, bb(2.5), &mut *grad, &mut *sc));
        bb(softmax::two_hot(bb(0.5), &mut *sc));
        bb(softmax::two_hot_rows(ys, bb(C), &mut *sc));
        bb(softmax::integral(x));
        bb(softmax::integral_rows(x, bb(C), &mut *l));
        // Post-hoc logit adjustment.
        let mut b = [0.0f32; C];
        let b = bb(&mut b[..]);
        bb(softmax::logit_offsets(opaque(&COUNTS), bb(1.0), &mut *b));
        bb(softmax::post_hoc_adjust(x, &*b, &mut *sc));
        bb(softmax::post_hoc_argmax(x, &*b));
    }
    if let Ok(p) = tinyloss::SoftmaxPoly1::new(bb(-0.5)) {
        let p = p.with_ignore_index(bb(7));
        bb((p.epsilon(), p.smoothing(), p.ignore_index()));
        if let Ok(p) = p.with_smoothing(bb(0.05)) {
            bb(p.loss_grad_row(x, target, &mut *grad));
            softmax_all(&bb(p));
            let any = bb(softmax::AnyLoss::from(p));
            softmax_all(&any);
        }
    }
}

/// Both normalisations, as constants and as a value the optimiser cannot see.
const NORMS: [Normalize; 2] = [Normalize::SumToClasses, Normalize::MeanSampleWeight];

#[inline(never)]
fn counter<const K: usize>() {
    static LABELS8: [u8; N] = [3; N];
    let mut c = bb(ClassCounter::<K>::new());
    bb(c.observe(bb(3)));
    bb(c.observe_all(opaque(&LABELS)));
    bb(c.observe_all(opaque(&LABELS16)));
    bb(c.observe_all(opaque(&LABELS8)));
    bb(c.counts());
    bb(c.total());
    let mut w = [0.0f32; K];
    for norm in NORMS {
        bb(c.weights(bb(0.99), norm, bb(&mut w[..])));
    }
    bb(c.weights(bb(0.99), bb(Normalize::SumToClasses), opaque_mut(&mut w)));
    c.reset();
    bb(&c);
    let d = bb(ClassCounter::<K>::from_counts(bb([5; K])));
    bb(d.weights(bb(0.9), bb(Normalize::MeanSampleWeight), bb(&mut w[..])));
    bb(ClassCounter::<K>::default());
}

/// A mutable slice whose address and length the optimiser cannot see.
#[inline(always)]
fn opaque_mut(s: &mut [f32]) -> &mut [f32] {
    bb(s)
}

#[inline(never)]
fn class_balanced_all() {
    let mut out = [0.0f32; N];
    let out = bb(&mut out[..]);
    for norm in NORMS {
        bb(class_balanced::weights(
            opaque(&COUNTS),
            bb(0.999),
            norm,
            &mut *out,
        ));
    }
    bb(class_balanced::weights(
        opaque(&COUNTS),
        bb(0.999),
        bb(Normalize::MeanSampleWeight),
        &mut *out,
    ));
    bb(class_balanced::binary_alpha(bb(900), bb(100), bb(0.99)));
    counter::<4>();
    counter::<10>();
}

/// Every miner and the replay buffer, on unseen scores, masks and sizes.
#[inline(never)]
fn mining_all() {
    let mut ig = [false; N];
    let ig = bb(&mut ig[..]);
    bb(mining::top_k(opaque(&LOGITS), bb(5), &mut *ig));
    bb(mining::below_threshold(
        opaque(&TARGETS),
        bb(0.7),
        bb(3),
        &mut *ig,
    ));
    bb(mining::hard_negatives(
        opaque(&LOGITS),
        opaque(&TARGETS),
        bb(3),
        &mut *ig,
    ));
    let mut r = bb(Replay::<u32, 8>::new(bb(4)));
    bb(r.offer(bb(1.5), bb(7)));
    bb(r.refresh(opaque(&LOGITS)));
    bb(r.min_score());
    for i in r.items() {
        bb(i);
    }
    bb(r.slots());
    bb((r.len(), r.is_empty(), r.is_full()));
    r.clear();
    bb(&r);
    bb(Replay::<u16, 3>::default());
    let mut e = bb(PositivesEma::new(bb(100.0), bb(0.9)));
    if let Ok(e) = e.as_mut() {
        bb(e.update(bb(3.0)));
        bb((e.value(), e.reduction()));
    }
    bb(PositivesEma::DETECTRON2);
    let mut w = [0.0f32; N];
    let w = bb(&mut w[..]);
    let mut g = bb(Ghm::<10>::MMDET);
    if let Ok(h) = Ghm::<30>::new(bb(0.5)) {
        let mut h = bb(h);
        bb(h.weights(opaque(&LOGITS), opaque(&TARGETS), None, &mut *w));
        bb(h.counts());
    }
    let ignore = if bb(true) { Some(opaque(&MASK)) } else { None };
    bb(g.weights(opaque(&LOGITS), opaque(&TARGETS), ignore, &mut *w));
    bb(g.counts());
}

/// The quantized entry points: both table kinds of an unseen loss, every
/// output type, re-quantization and dequantization.
#[inline(never)]
fn quantized_all<L: BinaryLoss>(loss: &L) {
    let Ok(q) = Quant::new(bb(0.1), bb(3)) else {
        return;
    };
    bb(Quant::SIGMOID_I8.dequantize(bb(5i8)));
    let mut b = Bufs::new();
    let (grad, _, z) = b.parts();
    bb(q.dequantize_into(opaque(&CODES16), &mut *z));
    bb(q.dequantize_into(opaque(&CODES), &mut *z));
    let mut g8 = [0i8; N];
    let mut g16 = [0i16; N];
    let g8 = bb(&mut g8[..]);
    let g16 = bb(&mut g16[..]);
    bb(quant::quantize_max_abs(&*z, &mut *g8));
    bb(quant::quantize_max_abs(&*z, &mut *g16));
    let table = if bb(false) {
        BinaryTable::probabilities(loss, bb(Quant::SIGMOID_I8))
    } else {
        BinaryTable::logits(loss, q)
    };
    let Ok(t) = table else {
        return;
    };
    let t = bb(&t);
    let ignore = if bb(true) { Some(opaque(&MASK)) } else { None };
    let (c, y) = (opaque(&CODES), opaque(&TARGETS));
    bb(t.loss_grad(c, y, ignore, reduction(), &mut *grad));
    bb(t.loss_grad_quantized(c, y, ignore, reduction(), &mut *g8));
    bb(t.loss_grad_quantized(c, y, ignore, reduction(), &mut *g16));
    bb(t.loss(c, y, ignore, reduction()));
    bb(t.entry(bb(-7), bb(true)));
    bb((t.quant(), t.is_probabilities()));
}

/// `Display` of every error, into a sink the optimiser cannot see.
#[inline(never)]
fn display(e: Error) {
    struct Sink;
    impl core::fmt::Write for Sink {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            bb(s);
            Ok(())
        }
    }
    bb(core::fmt::write(&mut Sink, format_args!("{e}")));
}

fn error_of<T>(r: Result<T, Error>) -> Error {
    match r {
        Ok(_) => Error::Empty,
        Err(e) => e,
    }
}

#[cfg(feature = "planted")]
#[inline(never)]
fn planted() {
    // Indexing with an index the optimiser cannot see: a bounds check that
    // must survive, so the link must fail.
    let s = opaque(&LOGITS);
    bb(s[bb(N)]);
}

/// The entry: every public entry point, in a binary that never runs.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    binary_all(&bb(SigmoidCe::PLAIN));
    binary_all(&bb(Focal::RETINANET));
    binary_all(&any_loss());
    binary_all(&bb(Asymmetric::TIMM));
    binary_all(&bb(FocalStar::FVCORE));
    binary_all(&bb(tinyloss::Qfl::MMDET));
    binary_all(&bb(tinyloss::Varifocal::MMDET));
    if let Ok(p) = Poly1::cross_entropy(bb(1.0)) {
        binary_all(&p);
    }
    binary_static(&SigmoidCe::PLAIN);
    binary_static(&Focal::RETINANET);
    binary_static(&any_loss());
    per_element();
    softmax_losses();
    shifted_losses();
    class_balanced_all();
    mining_all();
    quantized_all(&bb(Focal::RETINANET));
    quantized_all(&any_loss());
    let e = error_of(Batch::new(opaque(&TARGETS)).loss_grad(
        &SigmoidCe::PLAIN,
        opaque(&LOGITS),
        reduction(),
        &mut [],
        None,
    ));
    display(bb(e));
    #[cfg(feature = "planted")]
    planted();
    loop {
        bb(0);
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    extern "C" {
        // Defined nowhere (unless feature `defined`): referencing it fails
        // the link, which is the point.
        fn tinyloss_panic_is_reachable() -> !;
    }
    // SAFETY: never runs; the call exists to make the link fail.
    unsafe { tinyloss_panic_is_reachable() }
}

/// Feature `defined`: the symbol exists, the binary links, and the calls to
/// it can be listed.
#[cfg(feature = "defined")]
#[no_mangle]
#[inline(never)]
pub extern "C" fn tinyloss_panic_is_reachable() -> ! {
    loop {
        bb(1);
    }
}
