//! Fuzzes the multi-class API (`softmax::Rows` with `u32` label, `u16` label
//! and probability targets, class weights, `loss_grad`, `loss_grad_in_place`,
//! `loss`, the same call through `AnyLoss`, and the per-row method
//! `loss_grad_row`, or a one-row `Rows` when class weights are given) with random
//! configurations (`SoftmaxCe` / `SoftmaxFocal` / `SoftmaxPoly1`, γ, ε,
//! smoothing, ignore index,
//! reductions, valid and invalid), random data and wrong lengths.
//!
//! Asserted:
//! * no panic;
//! * on `Err`, every output buffer (grad, losses, in-place logits, scratch)
//!   still holds its sentinel;
//! * on `Ok`: the inputs were valid; every output is finite for every
//!   finite input (no skipped range of logits, class weights, γ or
//!   normalisers; an exact value beyond f32's range must come back as
//!   ±f32::MAX); ignored rows get a zero gradient and loss;
//! * every row's loss and gradient, and the reduced loss, are within
//!   `tinyloss_reference::BOUNDS` of the f64 reference (labels, probability
//!   targets, smoothing, class weights);
//! * the per-row API on every row agrees with the batch;
//! * every gradient row sums to 0 up to rounding (softmax losses are
//!   invariant under `z + c·1`);
//! * `loss_grad` and `loss_grad_in_place` agree bit for bit, `loss` agrees to
//!   1e-5 relative;
//! * the same loss on shifted logits (logit-adjusted, LDAM, seesaw, the
//!   shift from the bytes after the case): nothing written on `Err`; on
//!   `Ok` finite, the base loss at `z̃` bit for bit, and `z̃` within its
//!   bound of the f64 shift;
//! * for cross-entropy, the distribution focal loss over the logits as bins
//!   (targets from further bytes): cross-entropy on its two-hot targets bit
//!   for bit, and the integral decoder within its bound.
//!
//! The references, bounds and error measure come from `tinyloss-reference`
//! (`../reference`).
//!
//! Run: `cargo +nightly fuzz run softmax -- -max_total_time=180`.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyloss::softmax::{
    self, AnyLoss, Ldam, LogitAdjusted, Rows, Seesaw, Shift, Shifted, SoftmaxLoss, Target, Targets,
};
use tinyloss::{Error, Reduction, SoftmaxCe, SoftmaxFocal, SoftmaxPoly1};
use tinyloss_reference::bounds::{
    softmax_loss_floor, BATCH_SCALED_GRAD, DFL_INTEGRAL, ORDINARY_LOSS, SHIFT_LDAM,
    SHIFT_LOGIT_ADJUSTED, SHIFT_SEESAW, SOFTMAX_BATCH_MEAN, SOFTMAX_CE_GRAD, SOFTMAX_CE_LOSS,
    SOFTMAX_CE_LOSS_ORDINARY, SOFTMAX_FOCAL_GRAD, SOFTMAX_FOCAL_LOSS, SOFTMAX_FOCAL_LOSS_ORDINARY,
    SOFTMAX_GRID_STEPS, SOFTMAX_LOSS_FLOOR, SOFTMAX_POLY1_GRAD, SOFTMAX_POLY1_LOSS,
    SOFTMAX_POLY1_LOSS_ORDINARY,
};
use tinyloss_reference::cases;
use tinyloss_reference::measure::{rel_err, sat_abs_err, sat_rel_err, LOSS_FLOOR, U};
use tinyloss_reference::softmax::{self as sref, RowLossKind, RowTarget};
use tinyloss_reference::Reduce;

const SENTINEL: f32 = 1234.5;
const SENTINEL_LOSS: f32 = -777.25;

const SPECIALS: [f32; 16] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::MAX,
    f32::MIN,
    f32::MIN_POSITIVE,
    1e-45,
    1e4,
    -1e4,
    88.7,
    -103.9,
    30.0,
];

fn float(u: &mut Unstructured) -> Result<f32> {
    let sel: u8 = u.arbitrary()?;
    Ok(match sel % 8 {
        0 => SPECIALS[(sel / 8) as usize % SPECIALS.len()],
        1 => f32::from_bits(u.arbitrary()?),
        2..=4 => f32::from(u.arbitrary::<i16>()?) / 256.0,
        5 => f32::from(u.arbitrary::<i16>()?),
        6 => f32::from(u.arbitrary::<u16>()?) / 65535.0,
        _ => f32::from(u.arbitrary::<u8>()? % 4),
    })
}

fn param(u: &mut Unstructured, typical: &[f32]) -> Result<f32> {
    let sel: u8 = u.arbitrary()?;
    if sel % 4 == 3 {
        float(u)
    } else {
        Ok(typical[sel as usize / 4 % typical.len()])
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Batch,
    InPlace,
    LossOnly,
    Any,
    PerRow,
}

#[derive(Debug)]
enum Tg {
    Labels(Vec<u32>),
    U16(Vec<u16>),
    Probs(Vec<f32>),
}

#[derive(Debug)]
struct Case {
    mode: Mode,
    reduction: Reduction,
    classes: usize,
    z: Vec<f32>,
    t: Tg,
    w: Option<Vec<f32>>,
    grad_len: usize,
    losses_len: Option<usize>,
    scratch_len: usize,
}

fn case(u: &mut Unstructured, ignore: Option<u32>) -> Result<Case> {
    let mode = match u.arbitrary::<u8>()? % 5 {
        0 => Mode::Batch,
        1 => Mode::InPlace,
        2 => Mode::LossOnly,
        3 => Mode::Any,
        _ => Mode::PerRow,
    };
    let reduction = match u.arbitrary::<u8>()? % 7 {
        0 | 1 => Reduction::Sum,
        2..=4 => Reduction::Mean,
        5 => Reduction::MeanOver(param(u, &[1.0, 7.0, 0.5, 1e-45, 1e-40])?),
        _ => Reduction::MeanOverPositives,
    };
    let classes = match u.arbitrary::<u8>()? % 8 {
        0 => usize::from(u.arbitrary::<u8>()? % 3),
        1..=5 => 2 + usize::from(u.arbitrary::<u8>()? % 15),
        _ => usize::from(u.arbitrary::<u16>()? % 300),
    };
    let rows = usize::from(u.arbitrary::<u8>()? % 24);
    let n = rows * classes;
    let mut z = Vec::with_capacity(n);
    for _ in 0..n {
        z.push(float(u)?);
    }
    let label = |u: &mut Unstructured| -> Result<u32> {
        Ok(match u.arbitrary::<u8>()? % 8 {
            0 => ignore.unwrap_or(0),
            1 => u.arbitrary()?,
            _ => u32::from(u.arbitrary::<u16>()?) % (classes.max(1) as u32),
        })
    };
    let t = match u.arbitrary::<u8>()? % 3 {
        0 => Tg::Labels((0..rows).map(|_| label(u)).collect::<Result<_>>()?),
        1 => Tg::U16(
            (0..rows)
                .map(|_| label(u).map(|l| l as u16))
                .collect::<Result<_>>()?,
        ),
        _ => Tg::Probs(
            (0..n)
                .map(|_| {
                    Ok(match u.arbitrary::<u8>()? % 6 {
                        0..=2 => f32::from(u.arbitrary::<u16>()?) / 65535.0,
                        3 | 4 => f32::from(u.arbitrary::<u8>()? & 1),
                        _ => float(u)?,
                    })
                })
                .collect::<Result<_>>()?,
        ),
    };
    let w = if u.arbitrary::<u8>()? % 3 == 0 {
        let m = if u.arbitrary::<u8>()? % 8 == 0 { 1 } else { 0 };
        Some(
            (0..classes + m)
                .map(|_| {
                    Ok(match u.arbitrary::<u8>()? % 5 {
                        0 | 1 => 1.0,
                        2 => 0.0,
                        3 => f32::from(u.arbitrary::<u16>()?) / 4096.0,
                        4 if u.arbitrary::<u8>()? % 4 == 0 => 1e-42,
                        _ => float(u)?,
                    })
                })
                .collect::<Result<_>>()?,
        )
    } else {
        None
    };
    let mut grad_len = n;
    let mut losses_len = (u.arbitrary::<u8>()? % 2 == 0).then_some(rows);
    let mut scratch_len = classes;
    if u.arbitrary::<u8>()? % 8 == 0 {
        let d = isize::from(u.int_in_range(-3i8..=3)?);
        let adj = |v: usize| (v as isize + d).max(0) as usize;
        match u.arbitrary::<u8>()? % 3 {
            0 => grad_len = adj(grad_len),
            1 => losses_len = Some(adj(rows)),
            _ => scratch_len = adj(scratch_len),
        }
    }
    Ok(Case {
        mode,
        reduction,
        classes,
        z,
        t,
        w,
        grad_len,
        losses_len,
        scratch_len,
    })
}

fn targets(t: &Tg) -> Targets<'_> {
    match t {
        Tg::Labels(l) => Targets::from(&l[..]),
        Tg::U16(l) => Targets::from(&l[..]),
        Tg::Probs(p) => Targets::Probs(p),
    }
}

/// One row through the per-row API: the loss's method, or a one-row `Rows`
/// with `Sum` when class weights are given.
fn row_api<L: SoftmaxLoss>(
    loss: &L,
    z: &[f32],
    target: Target<'_>,
    w: Option<&[f32]>,
    g: &mut [f32],
) -> core::result::Result<f32, Error> {
    let Some(w) = w else {
        return loss.loss_grad_row(z, target, g);
    };
    let label;
    let t = match target {
        Target::Label(l) => {
            label = [l];
            Targets::from(&label[..])
        }
        Target::Probs(p) => Targets::Probs(p),
    };
    Rows::new(z.len(), t)
        .with_class_weights(w)?
        .loss_grad(loss, z, Reduction::Sum, g, None)
}

fn label_of(t: &Tg, r: usize) -> Option<u32> {
    match t {
        Tg::Labels(l) => l.get(r).copied(),
        Tg::U16(l) => l.get(r).map(|&v| u32::from(v)),
        Tg::Probs(_) => None,
    }
}

fn run<L: SoftmaxLoss + Into<AnyLoss> + core::fmt::Debug>(
    loss: &L,
    kind: RowLossKind,
    eps: f32,
    ignore: Option<u32>,
    c: &Case,
) {
    let cl = c.classes;
    let mut grad = vec![SENTINEL; c.grad_len];
    let mut losses = c.losses_len.map(|l| vec![SENTINEL_LOSS; l]);
    let mut zz = c.z.clone();
    let mut scratch = vec![SENTINEL; c.scratch_len];

    // Class weights are validated by the builder.
    let mut rows = Rows::new(cl, targets(&c.t));
    if let Some(w) = &c.w {
        match rows.with_class_weights(w) {
            Ok(r) => {
                assert!(
                    w.len() == cl && w.iter().all(|v| v.is_finite() && *v >= 0.0),
                    "class_weights accepted {w:?} for C={cl}"
                );
                rows = r;
            }
            Err(e) => {
                assert!(
                    w.len() != cl || w.iter().any(|v| !(v.is_finite() && *v >= 0.0)),
                    "class_weights rejected {w:?}: {e:?}"
                );
                return;
            }
        }
    }

    let r: core::result::Result<f32, Error> = match c.mode {
        Mode::Batch => rows.loss_grad(loss, &c.z, c.reduction, &mut grad, losses.as_deref_mut()),
        Mode::InPlace => rows.loss_grad_in_place(loss, &mut zz, c.reduction, losses.as_deref_mut()),
        Mode::LossOnly => rows.loss(loss, &c.z, c.reduction, &mut scratch),
        Mode::Any => {
            let any: AnyLoss = (*loss).into();
            rows.loss_grad(&any, &c.z, c.reduction, &mut grad, losses.as_deref_mut())
        }
        Mode::PerRow => {
            // First row only, through the per-row API.
            if cl == 0 || c.z.len() < cl {
                return;
            }
            let target = match &c.t {
                Tg::Probs(p) if p.len() >= cl => Target::Probs(&p[..cl]),
                Tg::Probs(_) => return,
                t => match label_of(t, 0) {
                    Some(l) => Target::Label(l),
                    None => return,
                },
            };
            let g = &mut grad[..c.grad_len.min(cl)];
            let r = row_api(loss, &c.z[..cl], target, c.w.as_deref(), g);
            match r {
                Err(e) => assert!(
                    grad.iter().all(|&v| v == SENTINEL),
                    "row: grad written on {e:?}"
                ),
                Ok(l) => {
                    assert!(!l.is_nan());
                    assert!(grad[..cl.min(c.grad_len)].iter().all(|g| !g.is_nan()));
                }
            }
            return;
        }
    };

    let total = match r {
        Err(e) => {
            assert!(
                grad.iter().all(|&v| v == SENTINEL),
                "grad written on Err({e:?}): {c:?}"
            );
            assert!(
                losses
                    .as_ref()
                    .is_none_or(|l| l.iter().all(|&v| v == SENTINEL_LOSS)),
                "losses written on Err({e:?}): {c:?}"
            );
            assert!(
                zz.iter().zip(&c.z).all(|(a, b)| a.to_bits() == b.to_bits()),
                "logits written on Err({e:?}): {c:?}"
            );
            assert!(
                scratch.iter().all(|&v| v == SENTINEL),
                "scratch written on Err({e:?}): {c:?}"
            );
            return;
        }
        Ok(t) => t,
    };

    // Ok: the inputs were valid.
    assert!(
        cl >= 2 && !c.z.is_empty() && c.z.len().is_multiple_of(cl),
        "Ok on bad shape: {c:?}"
    );
    assert!(
        c.reduction != Reduction::MeanOverPositives,
        "Ok with MeanOverPositives"
    );
    let nrows = c.z.len() / cl;
    let ignored = |r: usize| label_of(&c.t, r).is_some_and(|l| Some(l) == ignore);
    for r in 0..nrows {
        if ignored(r) {
            continue;
        }
        let row = &c.z[r * cl..(r + 1) * cl];
        assert!(
            row.iter().all(|v| v.is_finite()),
            "Ok with non-finite logit in row {r}"
        );
        match &c.t {
            Tg::Probs(p) => assert!(
                p[r * cl..(r + 1) * cl]
                    .iter()
                    .all(|v| (0.0..=1.0).contains(v)),
                "Ok with bad probability in row {r}"
            ),
            t => assert!(
                (label_of(t, r).unwrap() as usize) < cl,
                "Ok with bad label in row {r}"
            ),
        }
    }

    let g_out: Option<&[f32]> = match c.mode {
        Mode::Batch | Mode::Any => Some(&grad),
        Mode::InPlace => Some(&zz),
        _ => None,
    };
    let l_out = match c.mode {
        Mode::Batch | Mode::InPlace | Mode::Any => losses.as_deref(),
        _ => None,
    };
    let live = |r: usize| !ignored(r);

    // Validated inputs are finite: every output is finite, whatever the
    // magnitudes (no skipped range of logits, class weights, γ or
    // normalisers); ignored rows get zeros.
    assert!(total.is_finite(), "non-finite loss {total}: {loss:?} {c:?}");
    if let Some(g) = g_out {
        for r in 0..nrows {
            let row = &g[r * cl..(r + 1) * cl];
            assert!(
                row.iter().all(|v| v.is_finite()),
                "non-finite grad row {r}: {row:?}: {loss:?} {c:?}"
            );
            if ignored(r) {
                assert!(
                    row.iter().all(|&v| v == 0.0),
                    "ignored row {r} has a gradient"
                );
            }
        }
    }
    if let Some(l) = l_out {
        for (r, &v) in l.iter().enumerate() {
            assert!(
                v.is_finite(),
                "non-finite row loss {r}: {v}: {loss:?} {c:?}"
            );
            if ignored(r) {
                assert_eq!(v, 0.0, "ignored row {r} has loss {v}");
            }
        }
    }

    // Against the f64 reference, within BOUNDS, row by row; the per-row API
    // on every row against the batch; the reduced loss.
    let e64 = f64::from(eps);
    // `g64`: the parameter the gradient bound grows with (γ, or Poly-1's |ε|).
    let (g64, (loss_any, loss_ord, grad_b)) = match kind {
        RowLossKind::Focal { gamma: 0.0, .. } => (
            0.0,
            (SOFTMAX_CE_LOSS, SOFTMAX_CE_LOSS_ORDINARY, SOFTMAX_CE_GRAD),
        ),
        RowLossKind::Focal { gamma, .. } => (
            gamma,
            (
                SOFTMAX_FOCAL_LOSS,
                SOFTMAX_FOCAL_LOSS_ORDINARY,
                SOFTMAX_FOCAL_GRAD,
            ),
        ),
        RowLossKind::Poly1 { epsilon } => (
            epsilon.abs(),
            (
                SOFTMAX_POLY1_LOSS,
                SOFTMAX_POLY1_LOSS_ORDINARY,
                SOFTMAX_POLY1_GRAD,
            ),
        ),
    };
    let mut plain_g = vec![0.0f64; cl];
    // Σ of the rows' magnitudes (Poly-1: the reduced loss is relative to it).
    let mut mag_sum = 0.0f64;
    let wd: Option<Vec<f64>> =
        c.w.as_ref()
            .map(|w| w.iter().map(|&v| f64::from(v)).collect());
    let pd: Option<Vec<f64>> = match &c.t {
        Tg::Probs(p) => Some(p.iter().map(|&v| f64::from(v)).collect()),
        _ => None,
    };
    let denom: f64 = match &c.t {
        Tg::Probs(_) => nrows as f64,
        t => (0..nrows)
            .filter(|&r| live(r))
            .map(|r| {
                wd.as_ref()
                    .map_or(1.0, |w| w[label_of(t, r).unwrap() as usize])
            })
            .sum(),
    };
    let scale = match c.reduction {
        Reduction::Mean => Reduce::Mean,
        Reduction::MeanOver(d) => Reduce::MeanOver(f64::from(d)),
        _ => Reduce::Sum,
    }
    .scale(denom, 0.0);
    let gslack = if scale == 1.0 {
        0.0
    } else {
        BATCH_SCALED_GRAD.get()
    };
    let mut zd = vec![0.0f64; cl];
    let mut want_g = vec![0.0f64; cl];
    let mut row_g = vec![0.0f32; cl];
    let mut sum = 0.0f64;
    let mut beyond_row = false;
    let w_max =
        c.w.as_ref()
            .map_or(1.0, |w| w.iter().fold(0.0f64, |m, &v| m.max(f64::from(v))));
    let mut floor_sum = 0.0f64;
    let weight_span = c.w.as_ref().map_or(1.0, |w| {
        let pos = w.iter().filter(|&&v| v > 0.0).map(|&v| f64::from(v));
        let (lo, hi) = pos.fold((f64::MAX, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
        if hi > 0.0 {
            hi / lo
        } else {
            1.0
        }
    });
    for r in (0..nrows).filter(|&r| live(r)) {
        for (d, &v) in zd.iter_mut().zip(&c.z[r * cl..(r + 1) * cl]) {
            *d = f64::from(v);
        }
        let (rt, target) = match (&c.t, &pd) {
            (Tg::Probs(p), Some(pd)) => (
                RowTarget::Probs(&pd[r * cl..(r + 1) * cl]),
                Target::Probs(&p[r * cl..(r + 1) * cl]),
            ),
            (t, _) => {
                let l = label_of(t, r).unwrap();
                (RowTarget::Label(l as usize), Target::Label(l))
            }
        };
        let want_l = sref::row_of(kind, &zd, rt, wd.as_deref(), e64, &mut want_g);
        // Poly-1's bound is relative to its terms' magnitudes, `CE + |ε| U`.
        let mag = match kind {
            RowLossKind::Poly1 { epsilon } if epsilon != 0.0 => {
                let ce_kind = RowLossKind::Focal {
                    gamma: 0.0,
                    detached: false,
                };
                let ce = sref::row_of(ce_kind, &zd, rt, wd.as_deref(), e64, &mut plain_g);
                ce + (want_l - ce).abs()
            }
            _ => 0.0,
        };
        mag_sum += mag;
        sum += want_l;
        // The documented exceptions: a probability row whose targets sum
        // past 1, or class weights spanning more than 2^125, may carry a
        // row loss beyond 2·f32::MAX, which saturates the total.
        if let Tg::Probs(p) = &c.t {
            let mass: f64 = p[r * cl..(r + 1) * cl].iter().map(|&v| f64::from(v)).sum();
            beyond_row |= mass > 1.0 && want_l > f64::from(f32::MAX);
        }
        beyond_row |= weight_span > 2f64.powi(125) && want_l > f64::from(f32::MAX);
        let k = sref::target_mass(rt, cl, wd.as_deref(), e64);
        let plain = sref::row_of(kind, &zd, rt, None, e64, &mut plain_g);
        let row_floor = softmax_loss_floor(w_max, plain, k);
        floor_sum += row_floor;
        let ctx = (r, &c.z[r * cl..(r + 1) * cl], loss, c.reduction);
        let lbound = if want_l >= ORDINARY_LOSS {
            loss_ord.get()
        } else {
            loss_any.get()
        };
        if let Some(l) = l_out {
            // A row loss within its bound of f32::MAX but past it is
            // measured against f32::MAX (it rounds there), as the total is.
            let max = f64::from(f32::MAX);
            let e = if want_l > max && want_l <= max * (1.0 + lbound * U) {
                rel_err(l[r], max, 0.0)
            } else {
                sat_rel_err(l[r], want_l, mag)
            };
            assert!(
                e <= lbound || (f64::from(l[r]) - want_l).abs() <= row_floor,
                "row {r} loss {:e} vs f64 {want_l:e} ({e:.1} u > {lbound} u): {ctx:?} {c:?}",
                l[r]
            );
        }
        if let Some(g) = g_out {
            // Floor 1e-30/(1 + γ) under K·scale, as tests/multiclass.rs.
            let gscale = (k * scale).max(1e-30 / (1.0 + g64));
            let bound = grad_b.at(g64) + gslack;
            // A subnormal weighted term's rounding, which the scale carries.
            let grid = SOFTMAX_GRID_STEPS * f64::from(f32::from_bits(1)) * scale;
            for j in 0..cl {
                let e = sat_abs_err(g[r * cl + j], want_g[j] * scale, gscale);
                let on_grid = (f64::from(g[r * cl + j]) - want_g[j] * scale).abs() <= grid;
                assert!(
                    e <= bound || on_grid,
                    "row {r} grad[{j}] {:e} vs f64 {:e} ({e:.1} u of K·scale = {gscale:e} > {bound} u): {ctx:?} {c:?}",
                    g[r * cl + j],
                    want_g[j] * scale
                );
            }
        }
        // The per-row API on this row, against the batch.
        let lr = row_api(
            loss,
            &c.z[r * cl..(r + 1) * cl],
            target,
            c.w.as_deref(),
            &mut row_g,
        )
        .expect("per-row Err on a row the batch accepted");
        assert!(
            lr.is_finite() && row_g.iter().all(|v| v.is_finite()),
            "per-row non-finite: {ctx:?}"
        );
        if let Some(l) = l_out {
            // Relative to the bound's magnitude (Poly-1's terms, whose
            // difference may cancel at ε < 0).
            let e = sat_rel_err(l[r], f64::from(lr), mag);
            assert!(
                // Both within `lbound` of the f64 row (large γ widens it).
                e <= (1e-6 / U).max(2.0 * lbound)
                    || f64::from((l[r] - lr).abs()) <= 2.0 * row_floor,
                "row {r}: batch loss {:e} vs per-row {lr:e}: {ctx:?} {c:?}",
                l[r]
            );
        }
        if let Some(g) = g_out {
            let gscale = (k * (1.0 + g64) * scale).max(1e-30);
            for j in 0..cl {
                if row_g[j].abs() == f32::MAX {
                    // The per-row call saturated where the batch's scale
                    // brings the value back: nothing to compare.
                    continue;
                }
                let want = f64::from(row_g[j]) * scale;
                let e = sat_abs_err(g[r * cl + j], want, gscale);
                let diff = (f64::from(g[r * cl + j]) - want).abs();
                let rel = diff <= 1e-6 * want.abs();
                // A per-row gradient below f32's normal range (a subnormal
                // class weight) is on the subnormal grid: a few steps of
                // 2^-149 each, which the batch's scale multiplies.
                let grid = diff <= SOFTMAX_GRID_STEPS * f64::from(f32::from_bits(1)) * scale;
                assert!(
                    e <= 4e-6 / U || rel || grid,
                    "row {r} grad[{j}]: batch {:e} vs per-row × scale {want:e}: {ctx:?} {c:?}",
                    g[r * cl + j]
                );
            }
        }
    }
    let want = sum * scale;
    let bound = loss_any.get() + SOFTMAX_BATCH_MEAN.get();
    // `want` sums the rows' f32 losses, each within its bound: a `want`
    // just past f32::MAX may be an exact f32::MAX (a saturated row loss
    // weighted and divided by the same weight), so there it is measured
    // against f32::MAX.
    let max = f64::from(f32::MAX);
    let e = if want > max && want <= max * (1.0 + bound * U) {
        rel_err(total, max, 0.0)
    } else {
        sat_rel_err(total, want, mag_sum * scale)
    };
    // Each row within its floor (weight-scaled with huge class weights).
    let floor = (floor_sum + nrows as f64 * SOFTMAX_LOSS_FLOOR) * scale.max(1.0);
    assert!(
        e <= bound || (f64::from(total) - want).abs() <= floor || (beyond_row && total == f32::MAX),
        "reduced loss {total:e} vs f64 {want:e} ({e:.1} u > {bound} u): {loss:?} {c:?}"
    );

    // Gradient rows sum to 0 (softmax losses are invariant under z + c·1),
    // up to rounding, where nothing saturated.
    let max_w =
        c.w.as_ref()
            .map_or(1.0, |w| w.iter().fold(1.0f32, |m, v| m.max(*v)));
    let y_mass = |r: usize| match &c.t {
        Tg::Probs(p) => 1.0 + p[r * cl..(r + 1) * cl].iter().sum::<f32>(),
        _ => 1.0,
    };
    if let Some(g) = g_out {
        for r in (0..nrows).filter(|&r| live(r)) {
            let row = &g[r * cl..(r + 1) * cl];
            if row.iter().any(|v| v.abs() == f32::MAX) {
                continue;
            }
            let sum: f64 = row.iter().map(|&v| f64::from(v)).sum();
            let abs: f64 = row.iter().map(|&v| f64::from(v.abs())).sum();
            let tol = 1e-4 * abs
                + 1e-5 * (cl as f64) * f64::from(max_w * y_mass(r)) * (1.0 + g64) * scale;
            assert!(
                sum.abs() <= tol,
                "gradient row {r} sums to {sum} (Σ|g| = {abs}): {loss:?} {c:?}"
            );
        }
    }

    // Entry points agree.
    if matches!(c.mode, Mode::Batch) {
        let mut z2 = c.z.clone();
        let t2 = rows.loss_grad_in_place(loss, &mut z2, c.reduction, None);
        assert_eq!(
            t2.map(f32::to_bits),
            Ok(total.to_bits()),
            "in-place loss differs"
        );
        assert!(
            z2.iter()
                .zip(&grad)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "in-place gradient differs"
        );
        let mut s = vec![0.0; cl];
        let t3 = rows.loss(loss, &c.z, c.reduction, &mut s).unwrap();
        assert!(
            (t3 - total).abs() <= 1e-5 * total.abs() + 1e-30,
            "loss-only {t3} vs {total}"
        );
        if let Some(l1) = losses.as_deref() {
            row_weights_and_mask(loss, &rows, c, l1, &grad, ignored);
        }
    }
}

/// Row weights and a mask on a batch that passed (`l1`, `g1`: its per-row
/// losses and gradient): a masked row or a row of weight 0 gives exact
/// zeros; the others give `v ℓ` and (where the normaliser does not change,
/// `Sum` and `MeanOver`) `v ∂ℓ`, and the reduced loss `Σ v ℓ · scale`.
fn row_weights_and_mask<L: SoftmaxLoss + core::fmt::Debug>(
    loss: &L,
    rows: &Rows<'_>,
    c: &Case,
    l1: &[f32],
    g1: &[f32],
    ignored: impl Fn(usize) -> bool,
) {
    let cl = c.classes;
    let nrows = l1.len();
    let v: Vec<f32> = (0..nrows)
        .map(|r| [1.0, 0.0, 0.5, 3.0, 1e-30, 1e30][(r + c.z.len()) % 6])
        .collect();
    let mask: Vec<bool> = (0..nrows).map(|r| (r + cl) % 5 == 4).collect();
    let rw = rows
        .with_ignore(&mask)
        .with_row_weights(&v)
        .expect("valid row weights refused");
    let mut g3 = vec![SENTINEL; c.z.len()];
    let mut l3 = vec![SENTINEL_LOSS; nrows];
    let t = rw
        .loss_grad(loss, &c.z, c.reduction, &mut g3, Some(&mut l3))
        .expect("row weights and a mask refused a valid batch");
    assert!(
        t.is_finite() && g3.iter().chain(&l3).all(|x| x.is_finite()),
        "row weights: non-finite output: {loss:?} {c:?}"
    );
    let same_norm = !matches!(c.reduction, Reduction::Mean);
    let scale = match c.reduction {
        Reduction::MeanOver(d) => 1.0 / f64::from(d),
        _ => 1.0,
    };
    let mut want_t = 0.0f64;
    let mut ulp_t = 0.0f64;
    let mut exact_t = true;
    for r in 0..nrows {
        let row = &g3[r * cl..(r + 1) * cl];
        if mask[r] || v[r] == 0.0 || ignored(r) {
            assert!(
                l3[r] == 0.0 && row.iter().all(|&x| x == 0.0),
                "row {r} (masked, weight 0 or ignored) not zero: {loss:?} {c:?}"
            );
            continue;
        }
        let vr = f64::from(v[r]);
        if l1[r] == f32::MAX {
            exact_t = false;
            continue;
        }
        let want = (vr * f64::from(l1[r])).min(f64::from(f32::MAX));
        want_t += vr * f64::from(l1[r]);
        // Below f32's normal range `l1` carries half a subnormal ULP of its
        // own, which `v` multiplies, and the kernel's `ℓ v` rounds there once
        // more: `(v + 1)` steps of 2^-149 cover both.
        ulp_t += (vr + 1.0) * f64::from(f32::from_bits(1));
        assert!(
            (f64::from(l3[r]) - want).abs() <= 1e-5 * want + 1e-36 * vr.max(1.0),
            "row {r}: weighted loss {:e} vs {want:e} (v = {vr:e}): {loss:?} {c:?}",
            l3[r]
        );
        if !same_norm {
            continue;
        }
        let g1r = &g1[r * cl..(r + 1) * cl];
        if g1r.iter().any(|x| x.abs() == f32::MAX) {
            continue;
        }
        // Both calls may carry a subnormal class weight's grid rounding
        // before the scale (and the row weight).
        let grid = 2.0 * SOFTMAX_GRID_STEPS * f64::from(f32::from_bits(1)) * scale * vr.max(1.0);
        for (j, (&a, &b)) in row.iter().zip(g1r).enumerate() {
            let want = (vr * f64::from(b)).clamp(-f64::from(f32::MAX), f64::from(f32::MAX));
            assert!(
                (f64::from(a) - want).abs() <= 1e-5 * want.abs() + 1e-36 * vr.max(1.0) + grid,
                "row {r} grad[{j}]: {a:e} vs v·g = {want:e}: {loss:?} {c:?}"
            );
        }
    }
    if same_norm && exact_t {
        let want = want_t * scale;
        let e = sat_rel_err(t, want, 0.0);
        assert!(
            e <= 1e-5 / U || (f64::from(t) - want).abs() <= 1e-30 + ulp_t * scale,
            "row-weighted total {t:e} vs {want:e}: {loss:?} {c:?}"
        );
    }
}

fn fuzz(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let focal = u.arbitrary::<u8>()? % 2 == 0;
    let smoothing = if u.arbitrary::<u8>()? % 3 == 0 {
        Some(param(&mut u, &[0.1, 0.0, 1.0, 0.5])?)
    } else {
        None
    };
    let ignore = match u.arbitrary::<u8>()? % 4 {
        0 => Some(u32::MAX),
        1 => Some(u32::from(u.arbitrary::<u8>()? % 4)),
        _ => None,
    };
    let gamma = if focal {
        param(&mut u, &[2.0, 0.0, 0.5, 1.0, 1.5, 3.0, 9.0])?
    } else {
        0.0
    };
    let c = case(&mut u, ignore)?;
    let eps_ok = smoothing.is_none_or(cases::valid_smoothing);
    if focal {
        let g_ok = cases::valid_gamma(gamma);
        let mut l = match SoftmaxFocal::new(gamma) {
            Ok(l) => l,
            Err(_) => {
                assert!(!g_ok, "SoftmaxFocal::new rejected γ={gamma}");
                return Ok(());
            }
        };
        assert!(g_ok, "SoftmaxFocal::new accepted γ={gamma}");
        if let Some(e) = smoothing {
            match l.with_smoothing(e) {
                Ok(x) => l = x,
                Err(_) => {
                    assert!(!eps_ok, "smoothing {e} rejected");
                    return Ok(());
                }
            }
            assert!(eps_ok, "smoothing {e} accepted");
        }
        if let Some(i) = ignore {
            l = l.with_ignore_index(i);
        }
        let detached = u.arbitrary::<u8>()? % 3 == 0;
        if detached {
            l = l.with_grad_mode(tinyloss::GradMode::Detached);
        }
        let kind = RowLossKind::Focal {
            gamma: f64::from(gamma),
            detached,
        };
        run(&l, kind, smoothing.unwrap_or(0.0), ignore, &c);
        shifted(AnyLoss::from(l), &c, &mut u)?;
    } else {
        let mut l = SoftmaxCe::new();
        if let Some(e) = smoothing {
            match l.with_smoothing(e) {
                Ok(x) => l = x,
                Err(_) => {
                    assert!(!eps_ok, "smoothing {e} rejected");
                    return Ok(());
                }
            }
            assert!(eps_ok, "smoothing {e} accepted");
        }
        if let Some(i) = ignore {
            l = l.with_ignore_index(i);
        }
        // Poly-1 from a byte after the case (older inputs keep their
        // meaning: CE where it is even or absent).
        if u.arbitrary::<u8>()? % 2 == 1 {
            let epsilon = param(&mut u, &[1.0, 2.0, -1.0, 0.0, -0.5, 8.0, 1e4])?;
            let ok = (-1.0..=1e4).contains(&epsilon);
            let mut p = match SoftmaxPoly1::new(epsilon) {
                Ok(p) => p,
                Err(_) => {
                    assert!(!ok, "SoftmaxPoly1::new rejected ε={epsilon}");
                    return Ok(());
                }
            };
            assert!(ok, "SoftmaxPoly1::new accepted ε={epsilon}");
            p = match p.with_smoothing(l.smoothing()) {
                Ok(p) => p,
                Err(_) => return Ok(()),
            };
            if let Some(i) = ignore {
                p = p.with_ignore_index(i);
            }
            let kind = RowLossKind::Poly1 {
                epsilon: f64::from(epsilon),
            };
            run(&p, kind, smoothing.unwrap_or(0.0), ignore, &c);
            shifted(AnyLoss::from(p), &c, &mut u)?;
            return Ok(());
        }
        let kind = RowLossKind::Focal {
            gamma: 0.0,
            detached: false,
        };
        run(&l, kind, smoothing.unwrap_or(0.0), ignore, &c);
        shifted(AnyLoss::from(l), &c, &mut u)?;
        dfl(&c, &mut u)?;
    }
    Ok(())
}

/// Distribution focal loss over the case's logits as `C` bins, targets from
/// the bytes after the shift's: `Dfl::new` rejects exactly `n < 2`; on
/// `Err` no output but the scratch is touched; on `Ok` every target was in
/// `[0, n - 1]`, the outputs are finite, the scratch holds the two-hot
/// targets (within half an ULP of f64) and the call is cross-entropy on
/// them bit for bit; the integral decoder is within its bound of f64.
fn dfl(c: &Case, u: &mut Unstructured) -> Result<()> {
    let n = c.classes;
    let d = match softmax::Dfl::new(n) {
        Ok(d) => {
            assert!(n >= 2, "Dfl::new({n}) accepted");
            d
        }
        Err(_) => {
            assert!(n < 2, "Dfl::new({n}) rejected");
            return Ok(());
        }
    };
    let rows = c.z.len() / n;
    let top = (n - 1) as f32;
    let ys: Vec<f32> = (0..rows)
        .map(|_| {
            Ok(match u.arbitrary::<u8>()? % 6 {
                0..=2 => f32::from(u.arbitrary::<u16>()?) / 65535.0 * top,
                3 => f32::from(u.arbitrary::<u16>()? % n as u16),
                4 => float(u)?,
                _ => {
                    if u.arbitrary::<bool>()? {
                        top
                    } else {
                        f32::from_bits(top.to_bits() + 1)
                    }
                }
            })
        })
        .collect::<Result<_>>()?;
    let sc_len = if u.arbitrary::<u8>()? % 8 == 0 {
        rows * n + 1
    } else {
        rows * n
    };
    let mut scratch = vec![SENTINEL; sc_len];
    let mut grad = vec![SENTINEL; c.grad_len];
    let mut losses = c.losses_len.map(|l| vec![SENTINEL_LOSS; l]);
    let r = d.loss_grad(
        &c.z,
        &ys,
        c.reduction,
        &mut grad,
        losses.as_deref_mut(),
        &mut scratch,
    );
    let Ok(l) = r else {
        assert!(
            grad.iter().all(|&g| g == SENTINEL),
            "DFL grad written on {r:?}"
        );
        if let Some(ls) = &losses {
            assert!(
                ls.iter().all(|&v| v == SENTINEL_LOSS),
                "DFL losses written on {r:?}"
            );
        }
        return Ok(());
    };
    assert!(
        ys.iter().all(|y| (0.0..=top).contains(y)),
        "DFL accepted {ys:?}"
    );
    assert!(
        l.is_finite() && grad.iter().all(|g| g.is_finite()),
        "DFL {l}: {c:?}"
    );
    let mut t64 = vec![0.0f64; n];
    for (y, t) in ys.iter().zip(scratch.chunks_exact(n)) {
        sref::two_hot(f64::from(*y), &mut t64);
        for (&a, &b) in t.iter().zip(&t64) {
            assert!(
                (f64::from(a) - b).abs() <= U * b,
                "two-hot {a} vs {b} at y = {y}"
            );
        }
    }
    let mut g2 = vec![0.0f32; c.z.len()];
    let want = Rows::new(n, Targets::Probs(&scratch)).loss_grad(
        &SoftmaxCe::new(),
        &c.z,
        c.reduction,
        &mut g2,
        None,
    );
    assert_eq!(
        want.map(f32::to_bits),
        Ok(l.to_bits()),
        "DFL vs CE on its targets"
    );
    assert!(grad
        .iter()
        .zip(&g2)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    for row in c.z.chunks_exact(n) {
        let got = softmax::integral(row).expect("finite logits of an accepted call");
        let z64: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let want = sref::integral(&z64);
        let e = (f64::from(got) - want).abs();
        assert!(
            e <= DFL_INTEGRAL.at(n as f64) * U * (n - 1) as f64,
            "integral {got} vs {want}, n = {n}"
        );
    }
    Ok(())
}

/// The loss on shifted logits, the shift from the bytes after the case:
/// logit-adjusted (offsets from bytes or from counts), LDAM (margins, scale)
/// or seesaw (counts, p, q); validation against the documented ranges, then
/// [`check_shift`].
fn shifted(loss: AnyLoss, c: &Case, u: &mut Unstructured) -> Result<()> {
    let cl = c.classes;
    let len = if u.arbitrary::<u8>()? % 16 == 0 {
        cl + 1
    } else {
        cl
    };
    let counts: Vec<u32> = (0..len)
        .map(|_| {
            Ok(match u.arbitrary::<u8>()? % 4 {
                0 => 0,
                1 => u.arbitrary()?,
                _ => u32::from(u.arbitrary::<u16>()?),
            })
        })
        .collect::<Result<_>>()?;
    match u.arbitrary::<u8>()? % 3 {
        0 => {
            let b: Vec<f32> = if u.arbitrary::<bool>()? {
                (0..len).map(|_| float(u)).collect::<Result<_>>()?
            } else {
                let tau = param(u, &[1.0, 0.5, 2.0, 0.0, 1e4])?;
                let mut b = vec![0.0; len];
                match softmax::logit_offsets(&counts, tau, &mut b) {
                    Ok(()) => assert!((0.0..=1e4).contains(&tau) && len > 0),
                    Err(_) => {
                        assert!(!(0.0..=1e4).contains(&tau) || len == 0, "τ={tau} rejected");
                        return Ok(());
                    }
                }
                b
            };
            let ok = !b.is_empty() && b.iter().all(|v| v.is_finite() && v.abs() <= 1e30);
            match LogitAdjusted::new(loss, &b) {
                Ok(la) => {
                    assert!(ok, "offsets {b:?} accepted");
                    let want = |z: &[f64], _: RowTarget, out: &mut [f64]| {
                        for ((o, z), b) in out.iter_mut().zip(z).zip(&b) {
                            *o = z + f64::from(*b);
                        }
                    };
                    check_shift(&la, c, 1.0, SHIFT_LOGIT_ADJUSTED.get(), want, None);
                }
                Err(_) => assert!(!ok, "offsets {b:?} rejected"),
            }
        }
        1 => {
            let delta: Vec<f32> = if u.arbitrary::<bool>()? {
                (0..len)
                    .map(|_| float(u).map(f32::abs))
                    .collect::<Result<_>>()?
            } else {
                let m = param(u, &[0.5, 1.0, 0.0, 1e30])?;
                let mut d = vec![0.0; len];
                if softmax::ldam_margins(&counts, m, &mut d).is_err() {
                    assert!(!(0.0..=1e30).contains(&m) || len == 0, "m={m} rejected");
                    return Ok(());
                }
                d
            };
            let s = param(u, &[30.0, 1.0, 1e4, 1e-45, 0.5])?;
            let ok = !delta.is_empty()
                && delta.iter().all(|d| (0.0..=1e30).contains(d))
                && s > 0.0
                && s <= 1e4;
            match Ldam::new(loss, &delta, s) {
                Ok(l) => {
                    assert!(ok, "LDAM {delta:?}, s={s} accepted");
                    let d64: Vec<f64> = delta.iter().map(|&d| f64::from(d)).collect();
                    let want = |z: &[f64], t: RowTarget, out: &mut [f64]| {
                        sref::ldam_row(z, t, &d64, f64::from(s), out)
                    };
                    check_shift(&l, c, s, SHIFT_LDAM.get(), want, None);
                }
                Err(_) => assert!(!ok, "LDAM {delta:?}, s={s} rejected"),
            }
        }
        _ => {
            let p = param(u, &[0.8, 0.0, 2.0, 1e3])?;
            let q = param(u, &[2.0, 0.0, 0.8, 1e3])?;
            let ok = !counts.is_empty() && (0.0..=1e3).contains(&p) && (0.0..=1e3).contains(&q);
            match Seesaw::new(loss, &counts, p, q) {
                Ok(ss) => {
                    assert!(ok, "seesaw p={p} q={q} accepted");
                    let (p, q) = (f64::from(p), f64::from(q));
                    let want = |z: &[f64], t: RowTarget, out: &mut [f64]| {
                        if let RowTarget::Label(y) = t {
                            sref::seesaw_row(z, y, &counts, p, q, out);
                        }
                    };
                    let mag = |z: &[f64], t: RowTarget, zt: &[f64], out: &mut [f64]| {
                        if let RowTarget::Label(y) = t {
                            sref::seesaw_magnitude(z, y, &counts, p, q, zt, out);
                        }
                    };
                    check_shift(&ss, c, 1.0, SHIFT_SEESAW.get(), want, Some(&mag));
                }
                Err(_) => assert!(!ok, "seesaw p={p} q={q} rejected"),
            }
        }
    }
    Ok(())
}

/// The magnitude of a shift's bound on `z̃_j` (`|z̃_j|` when `None`).
type Magnitude<'a> = Option<&'a dyn Fn(&[f64], RowTarget, &[f64], &mut [f64])>;

/// A shifted call: on `Err` no buffer is touched; on `Ok` every output is
/// finite, it is the base loss at [`Shifted::shifted`]'s `z̃` bit for bit
/// (gradient times the slope `a`) in both output modes, and every `z̃_j`
/// of a row that counts is within `bound · u ·` its magnitude of the f64
/// shift `want`.
fn check_shift<S: Shift + core::fmt::Debug>(
    sh: &Shifted<S, AnyLoss>,
    c: &Case,
    a: f32,
    bound: f64,
    want: impl Fn(&[f64], RowTarget, &mut [f64]),
    mag: Magnitude<'_>,
) {
    let cl = c.classes;
    let mut rows = Rows::new(cl, targets(&c.t));
    if let Some(w) = &c.w {
        match rows.with_class_weights(w) {
            Ok(r) => rows = r,
            Err(_) => return,
        }
    }
    let n = c.z.len();
    let mut grad = vec![SENTINEL; c.grad_len];
    let mut losses = c.losses_len.map(|l| vec![SENTINEL_LOSS; l]);
    let r = sh.loss_grad(&rows, &c.z, c.reduction, &mut grad, losses.as_deref_mut());
    let mut buf = c.z.clone();
    let mut losses2 = c.losses_len.map(|l| vec![SENTINEL_LOSS; l]);
    let r2 = sh.loss_grad_in_place(&rows, &mut buf, c.reduction, losses2.as_deref_mut());
    let Ok(l) = r else {
        assert!(
            grad.iter().all(|&g| g == SENTINEL),
            "grad written on {r:?}: {sh:?} {c:?}"
        );
        if let Some(ls) = &losses {
            assert!(
                ls.iter().all(|&v| v == SENTINEL_LOSS),
                "losses written on {r:?}"
            );
        }
        if c.grad_len == n {
            assert_eq!(r2, r, "in place vs split: {sh:?} {c:?}");
            assert!(
                buf.iter()
                    .zip(&c.z)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "logits written on {r:?}"
            );
        }
        return;
    };
    assert!(
        l.is_finite() && grad.iter().all(|g| g.is_finite()),
        "{l}: {sh:?} {c:?}"
    );
    assert_eq!(
        r2.map(f32::to_bits),
        Ok(l.to_bits()),
        "in place: {sh:?} {c:?}"
    );
    assert!(buf
        .iter()
        .zip(&grad)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    let mut zt = vec![0.0f32; n];
    assert!(
        sh.shifted(&rows, &c.z, &mut zt).is_ok(),
        "shifted: {sh:?} {c:?}"
    );
    let mut g2 = vec![0.0f32; n];
    let mut l2 = c.losses_len.map(|l| vec![0.0; l]);
    let base = rows.loss_grad(sh.base(), &zt, c.reduction, &mut g2, l2.as_deref_mut());
    assert_eq!(
        base.map(f32::to_bits),
        Ok(l.to_bits()),
        "base at z̃: {sh:?} {c:?}"
    );
    for (g, b) in grad.iter().zip(&g2) {
        let b = if a == 1.0 {
            *b
        } else {
            (b * a).clamp(f32::MIN, f32::MAX)
        };
        assert_eq!(
            g.to_bits(),
            b.to_bits(),
            "gradient vs base at z̃: {sh:?} {c:?}"
        );
    }
    if let (Some(x), Some(y)) = (&losses, &l2) {
        assert!(x.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    // z̃ against f64, rows that count.
    let ig = sh.base().ignore_index();
    let (mut z64, mut w64, mut m64, mut p64) =
        (vec![0.0; cl], vec![0.0; cl], vec![0.0; cl], vec![0.0; cl]);
    for (r, (zr, tr)) in c.z.chunks_exact(cl).zip(zt.chunks_exact(cl)).enumerate() {
        let t = match &c.t {
            Tg::Probs(p) => {
                for (d, &v) in p64.iter_mut().zip(&p[r * cl..(r + 1) * cl]) {
                    *d = f64::from(v);
                }
                RowTarget::Probs(&p64)
            }
            _ => match label_of(&c.t, r) {
                Some(y) if Some(y) != ig => RowTarget::Label(y as usize),
                _ => {
                    assert!(tr.iter().all(|&v| v == 0.0), "dropped row {r} not 0");
                    continue;
                }
            },
        };
        for (d, &v) in z64.iter_mut().zip(zr) {
            *d = f64::from(v);
        }
        want(&z64, t, &mut w64);
        match mag {
            Some(f) => f(&z64, t, &w64, &mut m64),
            None => {
                for (m, w) in m64.iter_mut().zip(&w64) {
                    *m = w.abs();
                }
            }
        }
        for j in 0..cl {
            let e = (f64::from(tr[j]) - w64[j]).abs();
            assert!(
                e <= bound * U * m64[j].max(LOSS_FLOOR),
                "z̃[{r}][{j}] = {} vs {}: {sh:?} {c:?}",
                tr[j],
                w64[j]
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = fuzz(data);
});
