//! Fuzzes the binary batch API (`Batch::new` with probability inputs, weights
//! and ignore mask, `loss_grad_in_place`, `Batch::loss`, through `AnyLoss` too)
//! and the per-element API with random configurations (γ, α, smoothing,
//! pos_weight, reduction, including invalid values), random data (specials,
//! raw bit patterns, extreme magnitudes) and occasionally mismatched lengths.
//!
//! Asserted:
//! * no panic, whatever the input;
//! * on `Err`, every output buffer still holds its sentinel;
//! * on `Ok`, the inputs were valid, and every output (returned loss, every
//!   gradient and loss written) is finite, for every finite input: no
//!   skipped range of logits, weights, γ, pos_weight or normalisers (an
//!   exact value beyond f32's range must come back as ±f32::MAX);
//! * every element (batch and per-element API, logits and probabilities) and
//!   the reduced loss are within `tinyloss_reference::BOUNDS` of the f64
//!   references (the bounds the host tests assert);
//! * the per-element API on every element agrees with the batch;
//! * loss-only agrees with `loss_grad` bit for bit, with weights and masks
//!   too, and in place with separate buffers;
//! * the diagnosed call agrees with the plain one bit for bit, and its
//!   easy-example diagnostic with the f64 recomputation
//!   (`tinyloss_reference::diagnostic`): counts exact, sums within 3u.
//!
//! The references, bounds, error measure and the validity rules come from
//! `tinyloss-reference` (`../reference`).
//!
//! Run: `cargo +nightly fuzz run binary -- -max_total_time=180`.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyloss::binary::AnyLoss;
use tinyloss::{
    Asymmetric, Batch, BinaryLoss, Error, Focal, FocalStar, GradMode, Poly1, Reduction, SigmoidCe,
};
use tinyloss_reference::binary::Loss;
use tinyloss_reference::bounds::{
    binary_element, BATCH_SCALED_GRAD, BATCH_TOTAL, BATCH_WEIGHTED_LOSS, MEAN_2_20,
};
use tinyloss_reference::measure::{sat_rel_err, LOSS_FLOOR, U};
use tinyloss_reference::{cases, Reduce};

const SENTINEL_GRAD: f32 = 1234.5;
const SENTINEL_LOSS: f32 = -777.25;

const SPECIALS: [f32; 24] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::MAX,
    f32::MIN,
    f32::MIN_POSITIVE,
    1e-45,
    -1e-45,
    1e4,
    -1e4,
    88.7,
    -88.7,
    103.9,
    -103.9,
    17.0,
    -17.0,
    1.0 - f32::EPSILON / 2.0,
    1.0 + f32::EPSILON,
    1e-7,
];

/// Any f32, biased towards interesting values.
fn float(u: &mut Unstructured) -> Result<f32> {
    let sel: u8 = u.arbitrary()?;
    Ok(match sel % 8 {
        0 => SPECIALS[(sel / 8) as usize % SPECIALS.len()],
        1 => f32::from_bits(u.arbitrary()?),
        2 | 3 => f32::from(u.arbitrary::<i16>()?) / 256.0,
        4 => f32::from(u.arbitrary::<i16>()?),
        5 => {
            // log-uniform magnitude in [1e-38, 1e38], random sign
            let e = f32::from(u.arbitrary::<u8>()?) / 255.0 * 76.0 - 38.0;
            let m = 10f32.powf(e);
            if sel & 0x80 != 0 {
                -m
            } else {
                m
            }
        }
        6 => f32::from(u.arbitrary::<u16>()?) / 65535.0,
        _ => f32::from(u.arbitrary::<u8>()? % 4),
    })
}

/// A target: mostly valid (hard or soft), sometimes anything.
fn target(u: &mut Unstructured) -> Result<f32> {
    Ok(match u.arbitrary::<u8>()? % 8 {
        0..=3 => 0.0,
        4 => 1.0,
        5 | 6 => f32::from(u.arbitrary::<u16>()?) / 65535.0,
        _ => float(u)?,
    })
}

/// A probability input: mostly in [0, 1], sometimes anything.
fn prob(u: &mut Unstructured) -> Result<f32> {
    Ok(match u.arbitrary::<u8>()? % 6 {
        0..=2 => f32::from(u.arbitrary::<u16>()?) / 65535.0,
        3 => f32::from(u.arbitrary::<u8>()? & 1),
        4 => 1.0 - f32::from(u.arbitrary::<u8>()?) * 1e-8,
        _ => float(u)?,
    })
}

/// A weight: mostly 1 or a small positive value, sometimes anything.
fn weight(u: &mut Unstructured) -> Result<f32> {
    Ok(match u.arbitrary::<u8>()? % 6 {
        0 | 1 => 1.0,
        2 => 0.0,
        3 | 4 => f32::from(u.arbitrary::<u16>()?) / 256.0,
        _ => float(u)?,
    })
}

/// A configuration parameter: mostly a typical valid value, sometimes anything.
fn param(u: &mut Unstructured, typical: &[f32]) -> Result<f32> {
    let sel: u8 = u.arbitrary()?;
    if sel % 4 == 3 {
        float(u)
    } else {
        Ok(typical[sel as usize / 4 % typical.len()])
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Logits,
    Probabilities,
    Plain,
    InPlace,
    LossOnly,
}

#[derive(Debug)]
struct Case {
    mode: Mode,
    reduction: Reduction,
    x: Vec<f32>,
    y: Vec<f32>,
    w: Option<Vec<f32>>,
    ig: Option<Vec<bool>>,
    grad_len: usize,
    losses_len: Option<usize>,
    /// The quantization of the quantized arm (any values; mostly valid).
    quant: (f32, i32),
}

fn resize<T: Copy>(v: &mut Vec<T>, delta: i8, fill: T) {
    let len = (v.len() as isize + isize::from(delta)).max(0) as usize;
    v.resize(len, fill);
}

fn case(u: &mut Unstructured) -> Result<Case> {
    let mode = match u.arbitrary::<u8>()? % 5 {
        0 => Mode::Logits,
        1 => Mode::Probabilities,
        2 => Mode::Plain,
        3 => Mode::InPlace,
        _ => Mode::LossOnly,
    };
    let reduction = match u.arbitrary::<u8>()? % 6 {
        0 | 1 => Reduction::Sum,
        2 | 3 => Reduction::Mean,
        4 => Reduction::MeanOver(param(u, &[1.0, 7.0, 100.0, 0.5, 1e-45, 1e-40, 1e-30])?),
        _ => Reduction::MeanOverPositives,
    };
    let n = match u.arbitrary::<u8>()? % 8 {
        0 => 0,
        1..=5 => usize::from(u.arbitrary::<u8>()? % 40),
        _ => usize::from(u.arbitrary::<u16>()? % 600),
    };
    let batch_mode = !matches!(mode, Mode::Plain);
    let with_w = batch_mode && u.arbitrary::<u8>()? % 3 == 0;
    let with_ig = batch_mode && u.arbitrary::<u8>()? % 3 == 0;
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    let mut w = Vec::with_capacity(n);
    let mut ig = Vec::with_capacity(n);
    for _ in 0..n {
        x.push(if matches!(mode, Mode::Probabilities) {
            prob(u)?
        } else {
            float(u)?
        });
        y.push(target(u)?);
        if with_w {
            w.push(weight(u)?);
        }
        if with_ig {
            ig.push(u.arbitrary::<u8>()? % 4 == 0);
        }
    }
    let mut grad_len = n;
    let mut losses_len = (u.arbitrary::<u8>()? % 2 == 0).then_some(n);
    // One in eight cases gets one length wrong.
    if u.arbitrary::<u8>()? % 8 == 0 {
        let delta = u.int_in_range(-3i8..=3)?;
        match u.arbitrary::<u8>()? % 5 {
            0 => resize(&mut y, delta, 0.0),
            1 => resize(&mut w, delta, 1.0),
            2 => resize(&mut ig, delta, false),
            3 => grad_len = (grad_len as isize + isize::from(delta)).max(0) as usize,
            _ => {
                losses_len = Some((n as isize + isize::from(delta)).max(0) as usize);
            }
        }
    }
    let scale = param(
        u,
        &[0.0625, 1.0 / 256.0, 0.5, 1e-30, 1e-42, 1e30, 5e33, 0.13],
    )?;
    let zp = match u.arbitrary::<u8>()? % 4 {
        0 => 0,
        1 => -128,
        2 => i32::from(u.arbitrary::<i16>()?),
        _ => u.arbitrary::<i32>()?,
    };
    Ok(Case {
        quant: (scale, zp),
        mode,
        reduction,
        x,
        y,
        w: with_w.then_some(w),
        ig: with_ig.then_some(ig),
        grad_len,
        losses_len,
    })
}

/// The loss configuration as the references take it.
struct Cfg {
    rl: Loss,
}

fn reduce(r: Reduction) -> Reduce {
    match r {
        Reduction::Sum => Reduce::Sum,
        Reduction::Mean => Reduce::Mean,
        Reduction::MeanOver(d) => Reduce::MeanOver(f64::from(d)),
        _ => Reduce::MeanOverPositives,
    }
}

/// Asserts `got` within `bound` u of `want` (relative, absolute floor
/// `floor`; saturated at ±f32::MAX when the exact value is beyond f32).
#[track_caller]
fn close(got: f32, want: f64, floor: f64, bound: f64, what: &str, ctx: &dyn core::fmt::Debug) {
    let e = sat_rel_err(got, want, floor);
    assert!(
        e <= bound,
        "{what}: got {got:e}, f64 reference {want:e} ({e:.1} u > bound {bound:.1} u, floor {floor:e}): {ctx:?}"
    );
}

fn run<L: BinaryLoss + Copy + Into<AnyLoss> + core::fmt::Debug>(
    loss: &L,
    cfg: &Cfg,
    c: &Case,
    one: &dyn Fn(f32, f32) -> core::result::Result<tinyloss::LossGrad, Error>,
) {
    let n = c.x.len();
    let mut grad = vec![SENTINEL_GRAD; c.grad_len];
    let mut losses = c.losses_len.map(|l| vec![SENTINEL_LOSS; l]);
    let mut xs = c.x.clone();

    let build = || {
        let mut b = match c.mode {
            Mode::Probabilities => Batch::new(&c.y).with_probabilities(),
            _ => Batch::new(&c.y),
        };
        if let Some(w) = &c.w {
            b = b.with_weights(w);
        }
        if let Some(ig) = &c.ig {
            b = b.with_ignore(ig);
        }
        b
    };
    let r: core::result::Result<f32, Error> = match c.mode {
        Mode::Logits | Mode::Probabilities => {
            build().loss_grad(loss, &c.x, c.reduction, &mut grad, losses.as_deref_mut())
        }
        Mode::Plain => Batch::new(&c.y).loss_grad(loss, &c.x, c.reduction, &mut grad, None),
        Mode::InPlace => {
            build().loss_grad_in_place(loss, &mut xs, c.reduction, losses.as_deref_mut())
        }
        Mode::LossOnly => build().loss(loss, &c.x, c.reduction),
    };
    // Which buffers the call was allowed to write.
    let wrote_grad = matches!(c.mode, Mode::Logits | Mode::Probabilities | Mode::Plain);
    let wrote_losses = matches!(c.mode, Mode::Logits | Mode::Probabilities | Mode::InPlace);
    let wrote_x = matches!(c.mode, Mode::InPlace);

    let untouched = |g: &[f32], l: &Option<Vec<f32>>, x: &[f32]| {
        g.iter().all(|&v| v == SENTINEL_GRAD)
            && l.as_ref()
                .is_none_or(|l| l.iter().all(|&v| v == SENTINEL_LOSS))
            && x.iter().zip(&c.x).all(|(a, b)| a.to_bits() == b.to_bits())
    };

    let total = match r {
        Err(e) => {
            assert!(
                untouched(&grad, &losses, &xs),
                "output written on Err({e:?}): {loss:?} {c:?}"
            );
            return;
        }
        Ok(t) => t,
    };
    // Only the buffers of the entry point change.
    if !wrote_grad {
        assert!(grad.iter().all(|&v| v == SENTINEL_GRAD));
    }
    if !wrote_losses {
        assert!(losses
            .as_ref()
            .is_none_or(|l| l.iter().all(|&v| v == SENTINEL_LOSS)));
    }
    if !wrote_x {
        assert!(xs.iter().zip(&c.x).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    // Ok means the inputs passed validation: check that they were valid.
    assert!(n > 0, "Ok on an empty batch: {c:?}");
    let prob = matches!(c.mode, Mode::Probabilities);
    let keep = |i: usize| c.ig.as_ref().is_none_or(|m| !m[i]);
    for i in (0..n).filter(|&i| keep(i)) {
        let x_ok = if prob {
            cases::valid_unit(c.x[i])
        } else {
            c.x[i].is_finite()
        };
        assert!(x_ok, "Ok with bad input {} at {i}: {c:?}", c.x[i]);
        assert!(cases::valid_unit(c.y[i]), "Ok with bad target at {i}");
        if let Some(w) = &c.w {
            assert!(cases::valid_weight(w[i]), "Ok with bad weight at {i}");
        }
    }

    let grad_out: &[f32] = if wrote_x { &xs } else { &grad };
    let check_grad = wrote_grad || wrote_x;
    let losses_out = if wrote_losses {
        losses.as_deref()
    } else {
        None
    };

    // Validated inputs are finite: every output is finite, whatever the
    // magnitudes (no skipped range), and ignored elements get zeros.
    assert!(total.is_finite(), "non-finite loss {total}: {loss:?} {c:?}");
    if check_grad {
        for (i, g) in grad_out.iter().enumerate() {
            assert!(g.is_finite(), "non-finite grad[{i}] {g}: {loss:?} {c:?}");
            if !keep(i) {
                assert_eq!(
                    *g, 0.0,
                    "ignored element {i} has gradient {g}: {loss:?} {c:?}"
                );
            }
        }
    }
    if let Some(l) = losses_out {
        for (i, &v) in l.iter().enumerate() {
            assert!(v.is_finite(), "non-finite loss[{i}] {v}: {loss:?} {c:?}");
            if !keep(i) {
                assert_eq!(v, 0.0, "ignored element {i} has loss {v}");
            }
        }
    }

    // Against the f64 references, within BOUNDS: per element (weighted,
    // scaled), and the reduced loss. The batch runs one kernel for the whole
    // batch: the soft-target one as soon as one target is soft.
    let hard_batch = (0..n)
        .filter(|&i| keep(i))
        .all(|i| c.y[i] == 0.0 || c.y[i] == 1.0);
    let count = (0..n).filter(|&i| keep(i)).count() as f64;
    let positives: f64 = (0..n).filter(|&i| keep(i)).map(|i| f64::from(c.y[i])).sum();
    let scale = reduce(c.reduction).scale(count, positives);
    let (mut sum, mut floors, mut lb_max) = (0.0f64, 0.0f64, 0.0f64);
    for i in (0..n).filter(|&i| keep(i)) {
        let (x, y) = (f64::from(c.x[i]), f64::from(c.y[i]));
        let (l, d) = if prob {
            cfg.rl.prob(x, y)
        } else {
            cfg.rl.logit(x, y)
        };
        // An element loss beyond f32 saturates before its weight applies
        // (the crate docs' saturation rule).
        let l = l.min(f64::from(f32::MAX));
        // So does its gradient (only from probabilities: w⁺ y / p).
        let d = d.clamp(-f64::from(f32::MAX), f64::from(f32::MAX));
        let w = c.w.as_ref().map_or(1.0, |w| f64::from(w[i]));
        let b = binary_element(&cfg.rl, prob, hard_batch, f64::from(x), y);
        sum += w * l;
        // Weighted outputs: the element's floor times the weight, never below
        // 2^-126 (a weighted result below it rounds on the subnormal grid).
        let wf = |f: f64| (f * w).max(LOSS_FLOOR);
        floors += wf(b.loss_floor);
        lb_max = lb_max.max(b.loss);
        let ctx = (i, c.x[i], c.y[i], w, loss, c.reduction, &c);
        if let Some(ls) = losses_out {
            let bound = b.loss + BATCH_WEIGHTED_LOSS.get();
            close(ls[i], w * l, wf(b.loss_floor), bound, "batch loss[i]", &ctx);
        }
        if check_grad {
            let bound = b.grad + BATCH_SCALED_GRAD.get();
            let floor = wf(b.grad_floor) * scale.max(1.0);
            close(
                grad_out[i],
                w * d * scale,
                floor,
                bound,
                "batch grad[i]",
                &ctx,
            );
        }
        // The per-element API on every element: against the reference with
        // its own kernel's bounds, and against the batch.
        if !prob {
            let r = one(c.x[i], c.y[i]).expect("per-element Err on a valid element");
            let e = binary_element(&cfg.rl, false, y == 0.0 || y == 1.0, f64::from(c.x[i]), y);
            close(r.loss, l, e.loss_floor, e.loss, "per-element loss", &ctx);
            close(r.grad, d, e.grad_floor, e.grad, "per-element grad", &ctx);
            // Batch against per-element: both kernels' bounds plus 1e-6.
            let slack = 1e-6 / U;
            if let Some(ls) = losses_out {
                let want = w * f64::from(r.loss);
                let bound = b.loss + e.loss + slack;
                let floor = wf(b.loss_floor.max(e.loss_floor));
                close(
                    ls[i],
                    want,
                    floor,
                    bound,
                    "batch loss[i] vs per-element",
                    &ctx,
                );
            }
            if check_grad {
                let want = w * f64::from(r.grad) * scale;
                let bound = b.grad + e.grad + BATCH_SCALED_GRAD.get() + slack;
                let floor = wf(b.grad_floor.max(e.grad_floor)) * scale.max(1.0);
                close(
                    grad_out[i],
                    want,
                    floor,
                    bound,
                    "batch grad[i] vs per-element",
                    &ctx,
                );
            }
        }
    }
    // The reduced loss: the elements' bound plus the reduction's 2e-6 of
    // Σ|wℓ| (all terms are ≥ 0) and the floors, times the scale.
    let want = sum * scale;
    let bound = (lb_max + BATCH_WEIGHTED_LOSS.get()).max(BATCH_TOTAL.get()) + MEAN_2_20.get();
    // In absolute terms: u (bound |want| + the elements' floors · scale).
    let allowed = U * (bound * want.abs() + lb_max * floors * scale.max(1.0));
    let e = sat_rel_err(total, want, 0.0);
    let ok = if want.abs() > f64::from(f32::MAX) {
        e == 0.0
    } else {
        (f64::from(total) - want).abs() <= allowed
    };
    assert!(
        ok,
        "reduced loss {total:e} vs f64 {want:e} ({e:.1} u > {bound:.1} u): {loss:?} {c:?}"
    );

    // The entry points agree exactly on the same data: loss-only and in
    // place with the fused call (weights and mask included), and an
    // `AnyLoss` with the concrete loss.
    if matches!(c.mode, Mode::Logits | Mode::Probabilities) {
        diagnosed(loss, c, &build(), total, &grad);
        let lo = build().loss(loss, &c.x, c.reduction);
        assert_eq!(
            lo.map(f32::to_bits),
            Ok(total.to_bits()),
            "loss-only differs from loss_grad (weights {}, mask {}): {loss:?} {c:?}",
            c.w.is_some(),
            c.ig.is_some()
        );
        let mut zz = c.x.clone();
        let t2 = build().loss_grad_in_place(loss, &mut zz, c.reduction, None);
        assert_eq!(
            t2.map(f32::to_bits),
            Ok(total.to_bits()),
            "in-place differs"
        );
        assert!(
            zz.iter()
                .zip(&grad)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "in-place gradient differs"
        );
        let any: AnyLoss = (*loss).into();
        let mut ga = vec![0.0f32; n];
        let ta = build().loss_grad(&any, &c.x, c.reduction, &mut ga, None);
        assert_eq!(ta.map(f32::to_bits), Ok(total.to_bits()), "AnyLoss differs");
        assert!(
            ga.iter()
                .zip(&grad)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "AnyLoss gradient differs"
        );
    }
    if matches!(c.mode, Mode::Plain | Mode::InPlace) && c.w.is_none() && c.ig.is_none() {
        let lo = Batch::new(&c.y).loss(loss, &c.x, c.reduction);
        assert_eq!(
            lo.map(f32::to_bits),
            Ok(total.to_bits()),
            "loss-only differs"
        );
    }
}

/// Sum `got` of non-negative terms against its f64 value `want`: within 3u,
/// or saturated at `f32::MAX` when `want` exceeds it.
fn sum_close(got: f32, want: f64, what: &str, ctx: &dyn core::fmt::Debug) {
    let ok = if want > f64::from(f32::MAX) {
        got == f32::MAX
    } else {
        got.is_finite() && (f64::from(got) - want).abs() <= 3.0 * U * want
    };
    assert!(ok, "{what}: {got:e} vs f64 {want:e}: {ctx:?}");
}

/// The diagnosed call: loss and gradient bit for bit those of the plain
/// call; counts exact and sums within 3u of the f64 recomputation from the
/// `Sum` call's per-element terms (when no element lies within rounding of
/// a bin edge or the threshold); shares in [0, 1]; the half-gradient
/// bracket ordered and within the count.
fn diagnosed<L: BinaryLoss + core::fmt::Debug>(
    loss: &L,
    c: &Case,
    b: &Batch,
    total: f32,
    grad: &[f32],
) {
    use tinyloss::{Diagnostic, Group};
    use tinyloss_reference::diagnostic::Figures;
    const B: usize = 7;
    let n = c.x.len();
    let thr = [0.5f32, 0.9, 0.05, 0.999][n % 4];
    let mut d = Diagnostic::<B>::new().with_threshold(thr).unwrap();
    let mut g = vec![0.0f32; n];
    let t = b.loss_grad_diagnosed(loss, &c.x, c.reduction, &mut g, &mut d);
    assert_eq!(
        t.map(f32::to_bits),
        Ok(total.to_bits()),
        "diagnosed loss differs: {loss:?} {c:?}"
    );
    assert!(
        g.iter().zip(grad).all(|(a, b)| a.to_bits() == b.to_bits()),
        "diagnosed gradient differs: {loss:?} {c:?}"
    );
    let (mut g1, mut l1) = (vec![0.0f32; n], vec![0.0f32; n]);
    b.loss_grad(loss, &c.x, Reduction::Sum, &mut g1, Some(&mut l1))
        .unwrap();
    let prob = matches!(c.mode, Mode::Probabilities);
    let mut f = Figures::<B>::default();
    for i in 0..n {
        if c.ig.as_ref().is_none_or(|m| !m[i]) {
            f.element(prob, f64::from(thr), c.x[i], c.y[i], l1[i], g1[i]);
        }
    }
    let ctx: &dyn core::fmt::Debug = &(loss, c);
    let all = d.total(Group::All);
    assert_eq!(all.count, f.count[0] + f.count[1], "counted {ctx:?}");
    for g in [Group::Positives, Group::Negatives, Group::All] {
        for s in [d.easy_loss_share(g), d.easy_grad_share(g)] {
            assert!((0.0..=1.0).contains(&s), "share {s}: {ctx:?}");
        }
    }
    let (lo, hi) = d.half_gradient();
    assert!(
        lo <= hi && hi <= all.count,
        "half-gradient ({lo}, {hi}) of {}",
        all.count
    );
    if f.ambiguous > 0 {
        return;
    }
    for (gi, g) in [Group::Positives, Group::Negatives].into_iter().enumerate() {
        let (t, e) = (d.total(g), d.easy(g));
        assert_eq!(
            (t.count, e.count),
            (f.count[gi], f.easy[gi]),
            "counts {ctx:?}"
        );
        sum_close(t.loss, f.loss[gi], "loss", ctx);
        sum_close(e.loss, f.easy_loss[gi], "easy loss", ctx);
        sum_close(t.grad, f.grad[gi], "grad", ctx);
        sum_close(e.grad, f.easy_grad[gi], "easy grad", ctx);
        for k in 0..B {
            let (got, (cnt, l, gr)) = (d.bin(g, k), f.bins[gi][k]);
            assert_eq!(got.count, cnt, "bin {k} count {ctx:?}");
            sum_close(got.loss, l, "bin loss", ctx);
            sum_close(got.grad, gr, "bin grad", ctx);
        }
    }
}

/// The per-element API on arbitrary inputs: Ok exactly for valid inputs,
/// and then finite and within the bounds of the f64 reference.
fn per_element<L: BinaryLoss + core::fmt::Debug>(
    one: impl Fn(f32, f32) -> core::result::Result<tinyloss::LossGrad, Error>,
    one_prob: impl Fn(f32, f32) -> core::result::Result<tinyloss::LossGrad, Error>,
    loss: &L,
    cfg: &Cfg,
    c: &Case,
) {
    for (&x, &y) in c.x.iter().zip(&c.y) {
        let y_ok = cases::valid_unit(y);
        let hard = y == 0.0 || y == 1.0;
        let ctx = (x, y, loss);
        match one(x, y) {
            Ok(r) => {
                assert!(
                    x.is_finite() && y_ok,
                    "per-element Ok on bad input z={x} y={y}"
                );
                let (l, d) = cfg.rl.logit(f64::from(x), f64::from(y));
                let b = binary_element(&cfg.rl, false, hard, f64::from(x), f64::from(y));
                close(r.loss, l, b.loss_floor, b.loss, "per-element loss", &ctx);
                close(r.grad, d, b.grad_floor, b.grad, "per-element grad", &ctx);
            }
            Err(_) => assert!(!(x.is_finite() && y_ok), "per-element Err on z={x} y={y}"),
        }
        let p_ok = cases::valid_unit(x);
        match one_prob(x, y) {
            Ok(r) => {
                assert!(p_ok && y_ok, "per-element prob Ok on bad input p={x} y={y}");
                let (l, d) = cfg.rl.prob(f64::from(x), f64::from(y));
                let b = binary_element(&cfg.rl, true, hard, f64::from(x), f64::from(y));
                close(
                    r.loss,
                    l,
                    b.loss_floor,
                    b.loss,
                    "per-element prob loss",
                    &ctx,
                );
                close(
                    r.grad,
                    d,
                    b.grad_floor,
                    b.grad,
                    "per-element prob grad",
                    &ctx,
                );
            }
            Err(_) => assert!(!(p_ok && y_ok), "per-element prob Err on p={x} y={y}"),
        }
    }
}

/// The quantized arm: the case's quantization (accepted exactly when
/// valid), a table of the loss on its codes (the inputs' low bytes) against
/// f64 at every code used, and the batch calls against the f32 driver, the
/// f64 sum and the exact quotient; on `Err` nothing written.
fn quantized<L: BinaryLoss + core::fmt::Debug>(loss: &L, cfg: &Cfg, c: &Case) {
    use tinyloss::quant::{BinaryTable, Quant};
    use tinyloss_reference::bounds::{QUANT_GRAD, QUANT_TOTAL};
    let (scale, zp) = c.quant;
    let valid_q = scale > 0.0 && (scale * 65536.0).is_finite() && (-32768..=32767).contains(&zp);
    let q = match Quant::new(scale, zp) {
        Ok(q) => {
            assert!(valid_q, "accepted {scale:e} {zp}");
            q
        }
        Err(e) => {
            assert!(
                !valid_q && matches!(e, Error::InvalidParameter { .. }),
                "{e:?}"
            );
            return;
        }
    };
    let prob = matches!(c.mode, Mode::Probabilities);
    let t = if prob {
        let inside = (i8::MIN..=i8::MAX).all(|k| (0.0..=1.0).contains(&q.dequantize(k)));
        match BinaryTable::probabilities(loss, q) {
            Ok(t) => {
                assert!(
                    inside,
                    "accepted a probability quantization outside [0, 1]: {q:?}"
                );
                t
            }
            Err(e) => {
                assert!(
                    !inside
                        && e == Error::InvalidParameter {
                            name: "quantization"
                        }
                );
                return;
            }
        }
    } else {
        BinaryTable::logits(loss, q).expect("a logit table of a valid quantization")
    };
    let codes: Vec<i8> = c.x.iter().map(|x| x.to_bits() as u8 as i8).collect();
    for &k in &codes {
        let x = q.dequantize(k);
        for positive in [false, true] {
            let y = if positive { 1.0 } else { 0.0 };
            let e = t.entry(k, positive);
            let want = if prob {
                cfg.rl.prob(f64::from(x), y)
            } else {
                cfg.rl.logit(f64::from(x), y)
            };
            let b = binary_element(&cfg.rl, prob, true, f64::from(x), y);
            let ctx = (q, k, x, y);
            close(
                e.loss,
                want.0,
                b.loss_floor,
                b.loss,
                "quantized entry loss",
                &ctx,
            );
            close(
                e.grad,
                want.1,
                b.grad_floor,
                b.grad,
                "quantized entry gradient",
                &ctx,
            );
        }
    }
    // Hard labels from the targets half of the time (the other half keeps
    // them, soft or invalid, for the error path).
    let hard = c.y.first().is_none_or(|y| y.to_bits() & 1 == 0);
    let ys: Vec<f32> = if hard {
        c.y.iter()
            .map(|&y| if y > 0.5 { 1.0 } else { 0.0 })
            .collect()
    } else {
        c.y.clone()
    };
    let n = ys.len();
    let ig = c.ig.as_deref();
    let keep = |i: usize| ig.is_none_or(|m| !m[i]);
    let lens_ok = n > 0 && codes.len() == n && ig.is_none_or(|m| m.len() == n) && c.grad_len == n;
    let red_ok = match c.reduction {
        Reduction::MeanOver(d) => d.is_finite() && d > 0.0,
        _ => true,
    };
    let labels_ok = lens_ok && (0..n).all(|i| !keep(i) || ys[i] == 0.0 || ys[i] == 1.0);
    let mut g = vec![SENTINEL_GRAD; c.grad_len];
    let mut g8 = vec![99i8; c.grad_len];
    let mut g16 = vec![999i16; c.grad_len];
    let r = c.reduction;
    let got = t.loss_grad(&codes, &ys, ig, r, &mut g);
    let got8 = t.loss_grad_quantized(&codes, &ys, ig, r, &mut g8);
    let got16 = t.loss_grad_quantized(&codes, &ys, ig, r, &mut g16);
    let Ok(total) = got else {
        assert!(
            !(lens_ok && red_ok && labels_ok),
            "refused a valid quantized call: {got:?}"
        );
        assert!(g.iter().all(|&v| v == SENTINEL_GRAD) && g8.iter().all(|&v| v == 99));
        assert!(g16.iter().all(|&v| v == 999) && got8.is_err() && got16.is_err());
        return;
    };
    assert!(
        lens_ok && red_ok && labels_ok,
        "accepted an invalid quantized call"
    );
    assert!(total.is_finite() && g.iter().all(|v| v.is_finite()));
    // The f32 driver on the dequantized inputs: the same gradient bits.
    let xs: Vec<f32> = codes.iter().map(|&k| q.dequantize(k)).collect();
    let mut b = Batch::new(&ys);
    if prob {
        b = b.with_probabilities();
    }
    if let Some(m) = ig {
        b = b.with_ignore(m);
    }
    let mut g32 = vec![0.0f32; n];
    b.loss_grad(loss, &xs, r, &mut g32, None)
        .expect("the f32 driver on a valid quantized batch");
    for i in 0..n {
        assert_eq!(
            g[i].to_bits(),
            g32[i].to_bits(),
            "quantized f32 gradient {i}: {q:?} {r:?}"
        );
    }
    let kept = (0..n).filter(|&i| keep(i)).count() as f64;
    let pos = (0..n).filter(|&i| keep(i) && ys[i] == 1.0).count() as f64;
    let f = reduce(r).scale(kept, pos);
    let sum: f64 = (0..n)
        .filter(|&i| keep(i))
        .map(|i| f64::from(t.entry(codes[i], ys[i] == 1.0).loss))
        .sum();
    close(
        total,
        sum * f,
        LOSS_FLOOR,
        QUANT_TOTAL.get(),
        "quantized reduced loss",
        &(q, r),
    );
    let exact: Vec<f64> = (0..n)
        .map(|i| f64::from(t.entry(codes[i], ys[i] == 1.0).grad) * f)
        .collect();
    let m = (0..n)
        .filter(|&i| keep(i))
        .map(|i| exact[i].abs())
        .fold(0.0, f64::max);
    for (out, qs, q_max) in [
        (
            got8.map(|o| o.grad_scale),
            g8.iter().map(|&v| i32::from(v)).collect::<Vec<_>>(),
            127.0,
        ),
        (
            got16.map(|o| o.grad_scale),
            g16.iter().map(|&v| i32::from(v)).collect(),
            32767.0,
        ),
    ] {
        let s = f64::from(out.expect("the quantized gradient of a valid call"));
        let top = qs.iter().map(|v| v.abs()).max().unwrap_or(0);
        assert!(f64::from(top) <= q_max);
        if m > 0.0 {
            assert_eq!(f64::from(top), q_max, "max-abs maps to ±Q_MAX");
        }
        if !(s >= f64::from(f32::MIN_POSITIVE) && s < f64::from(f32::MAX)) {
            continue;
        }
        for i in 0..n {
            let want = if keep(i) { exact[i] / s } else { 0.0 };
            let d = (f64::from(qs[i]) - want).abs();
            assert!(
                d <= 0.5 + QUANT_GRAD.get() * U * q_max,
                "quantized gradient {i}: {} vs {want}",
                qs[i]
            );
        }
    }
}

/// Checks a configuration the crate accepted or refused: accepted only when
/// valid (then run against the reference), refused with `InvalidParameter`
/// otherwise.
fn go<L>(l: core::result::Result<L, Error>, valid: bool, rl: Loss, c: &Case)
where
    L: BinaryLoss + Copy + Into<AnyLoss> + core::fmt::Debug + PerElement,
{
    match l {
        Ok(l) => {
            assert!(valid, "accepted an invalid configuration: {l:?} ({rl:?})");
            let cfg = Cfg { rl };
            run(&l, &cfg, c, &|z, y| l.one(z, y));
            per_element(|z, y| l.one(z, y), |p, y| l.one_prob(p, y), &l, &cfg, c);
            quantized(&l, &cfg, c);
        }
        Err(e) => assert!(
            !valid && matches!(e, Error::InvalidParameter { .. }),
            "refused a valid configuration {rl:?}: {e:?}"
        ),
    }
}

/// The per-element API of each loss type.
trait PerElement {
    fn one(&self, z: f32, y: f32) -> core::result::Result<tinyloss::LossGrad, Error>;
    fn one_prob(&self, p: f32, y: f32) -> core::result::Result<tinyloss::LossGrad, Error>;
}

macro_rules! per_element_api {
    ($($t:ty),*) => {$(
        impl PerElement for $t {
            fn one(&self, z: f32, y: f32) -> core::result::Result<tinyloss::LossGrad, Error> {
                self.loss_grad(z, y)
            }
            fn one_prob(&self, p: f32, y: f32) -> core::result::Result<tinyloss::LossGrad, Error> {
                self.loss_grad_prob(p, y)
            }
        }
    )*};
}
per_element_api!(
    Focal,
    SigmoidCe,
    Asymmetric,
    Poly1,
    FocalStar,
    tinyloss::Qfl,
    tinyloss::Varifocal
);

fn alpha_param(u: &mut Unstructured) -> Result<Option<f32>> {
    Ok(if u.arbitrary::<u8>()? % 3 == 0 {
        None
    } else {
        Some(param(u, &[0.25, 0.0, 1.0, 0.5, 0.75, 0.99, 0.01])?)
    })
}

fn with_smoothing<L>(
    l: core::result::Result<L, Error>,
    eps: Option<f32>,
    f: impl Fn(L, f32) -> core::result::Result<L, Error>,
) -> core::result::Result<L, Error> {
    match (l, eps) {
        (Ok(l), Some(e)) => f(l, e),
        (l, _) => l,
    }
}

fn fuzz(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let kind = u.arbitrary::<u8>()? % 10;
    // [0, 1] is the documented range of every smoothing ε.
    let smoothing = if u.arbitrary::<u8>()? % 3 == 0 {
        Some(param(&mut u, &[0.0, 0.1, 0.01, 0.5, 1.0])?)
    } else {
        None
    };
    let eps = f64::from(smoothing.unwrap_or(0.0));
    let s_ok = smoothing.is_none_or(cases::valid_smoothing);
    let gammas = [2.0, 0.0, 0.5, 1.0, 1.5, 3.0, 5.0, 8.0, 9.0, 0.25, 4.0];
    let mode = if u.arbitrary::<bool>()? {
        GradMode::Full
    } else {
        GradMode::Detached
    };
    match kind {
        // Focal loss (either gradient mode).
        0..=2 => {
            let gamma = param(&mut u, &gammas)?;
            let alpha = alpha_param(&mut u)?;
            let c = case(&mut u)?;
            let f = Focal::new(gamma, alpha).map(|f| f.with_grad_mode(mode));
            let f = with_smoothing(f, smoothing, Focal::with_smoothing);
            let valid =
                cases::valid_gamma(gamma) && alpha.is_none_or(|a| (0.0..=1.0).contains(&a)) && s_ok;
            let (gamma, alpha) = (f64::from(gamma), alpha.map(f64::from));
            let rl = if mode == GradMode::Full {
                Loss::Focal { gamma, alpha, eps }
            } else {
                Loss::FocalDetached { gamma, alpha, eps }
            };
            go(f, valid, rl, &c);
        }
        3 | 4 => {
            let pw = if u.arbitrary::<u8>()? % 2 == 0 {
                None
            } else {
                Some(param(&mut u, &[1.0, 3.0, 0.3, 100.0, 0.0])?)
            };
            let c = case(&mut u)?;
            let b = match pw {
                None => Ok(SigmoidCe::PLAIN),
                Some(w) => SigmoidCe::PLAIN.with_pos_weight(w),
            };
            let b = with_smoothing(b, smoothing, SigmoidCe::with_smoothing);
            let valid = pw.is_none_or(|w| w.is_finite() && w >= 0.0) && s_ok;
            let rl = Loss::SigmoidCe {
                pos_weight: f64::from(pw.unwrap_or(1.0)),
                eps,
            };
            go(b, valid, rl, &c);
        }
        // Asymmetric loss.
        5 => {
            let gn = param(&mut u, &gammas)?;
            let gp = param(&mut u, &gammas)?;
            let clip = param(&mut u, &[0.05, 0.0, 0.01, 0.2, 0.5, 0.999, 1e-30])?;
            let c = case(&mut u)?;
            let a = Asymmetric::new(gn, gp, clip).map(|a| a.with_grad_mode(mode));
            let a = with_smoothing(a, smoothing, Asymmetric::with_smoothing);
            let valid = cases::valid_gamma(gn)
                && cases::valid_gamma(gp)
                && (clip == 0.0 || (f32::MIN_POSITIVE..1.0).contains(&clip))
                && s_ok;
            let rl = Loss::Asymmetric {
                gamma_pos: f64::from(gp),
                gamma_neg: f64::from(gn),
                clip: f64::from(clip),
                eps,
                detached: mode == GradMode::Detached,
            };
            go(a, valid, rl, &c);
        }
        // Poly-1 over focal loss (or cross-entropy at γ = 0).
        6 => {
            let gamma = param(&mut u, &gammas)?;
            let alpha = alpha_param(&mut u)?;
            let e = param(
                &mut u,
                &[1.0, -1.0, 0.0, 2.0, 8.0, -0.25, -0.5, 1e4, -1e4, -0.01],
            )?;
            let c = case(&mut u)?;
            let base = with_smoothing(Focal::new(gamma, alpha), smoothing, Focal::with_smoothing);
            let p = base.and_then(|b| Poly1::new(b, e));
            let valid = cases::valid_gamma(gamma)
                && alpha.is_none_or(|a| (0.0..=1.0).contains(&a))
                && s_ok
                && (alpha.map_or(-1.0, |a| -a.min(1.0 - a))..=1e4).contains(&e);
            let rl = Loss::Poly1 {
                gamma: f64::from(gamma),
                alpha: alpha.map(f64::from),
                eps,
                epsilon: f64::from(e),
            };
            go(p, valid, rl, &c);
        }
        // Quality focal loss.
        8 => {
            let beta = param(&mut u, &[2.0, 1.0, 1.5, 3.0, 0.5, 1000.0])?;
            let c = case(&mut u)?;
            let valid = (1.0..=1000.0).contains(&beta);
            let rl = Loss::Qfl {
                beta: f64::from(beta),
            };
            go(tinyloss::Qfl::new(beta), valid, rl, &c);
        }
        // Varifocal loss.
        9 => {
            let alpha = param(&mut u, &[0.75, 0.0, 1.0, 0.5])?;
            let gamma = param(&mut u, &gammas)?;
            let iou = u.arbitrary::<bool>()?;
            let c = case(&mut u)?;
            let v = tinyloss::Varifocal::new(alpha, gamma).map(|v| v.with_iou_weighted(iou));
            let valid = (0.0..=1.0).contains(&alpha) && cases::valid_gamma(gamma);
            let rl = Loss::Varifocal {
                alpha: f64::from(alpha),
                gamma: f64::from(gamma),
                iou_weighted: iou,
            };
            go(v, valid, rl, &c);
        }
        // FL*.
        _ => {
            let gamma = param(&mut u, &[2.0, 1.0, 0.25, 5.0, 1e-3, 1000.0, 0.0])?;
            let beta = param(&mut u, &[1.0, 0.0, -2.0, 2.0, 1e4, -1e4])?;
            let alpha = alpha_param(&mut u)?;
            let c = case(&mut u)?;
            let f = FocalStar::new(gamma, beta, alpha);
            let f = with_smoothing(f, smoothing, FocalStar::with_smoothing);
            let valid = (1e-3..=1000.0).contains(&gamma)
                && (-1e4..=1e4).contains(&beta)
                && alpha.is_none_or(|a| (0.0..=1.0).contains(&a))
                && s_ok;
            let rl = Loss::FocalStar {
                gamma: f64::from(gamma),
                beta: f64::from(beta),
                alpha: alpha.map(f64::from),
                eps,
            };
            go(f, valid, rl, &c);
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = fuzz(data);
});
