//! The softmax losses beyond cross-entropy and focal loss (Poly-1 today)
//! against the f64 references of `tinyloss-reference` (`softmax::row_of`,
//! `batch_of`): sweeps over C, random and extreme rows, labels and
//! probability targets, smoothing and class weights; finite differences;
//! identities; the literature's settings; gradient bounds; reductions with
//! row weights and a mask; bad parameters. Run with
//! `cargo test --release --test rows_family`.

use tinyloss::softmax::{AnyLoss, Rows, SoftmaxCe, SoftmaxPoly1, Target, Targets};
use tinyloss::{Error, Reduction};
use tinyloss_reference::bounds::{
    softmax_loss_floor, Bound, ORDINARY_LOSS, SOFTMAX_POLY1_GRAD, SOFTMAX_POLY1_LOSS,
    SOFTMAX_POLY1_LOSS_ORDINARY,
};
use tinyloss_reference::measure::U;
use tinyloss_reference::softmax::{self as sref, RowLossKind, RowTarget};
use tinyloss_reference::{Reduce, Rng};

mod common;
use common::{extreme_rows, f64s, random_probs, random_rows, rows_of};

const CLASSES: [usize; 6] = [2, 3, 10, 17, 100, 1000];
const EPSILONS: [f32; 7] = [-1.0, -0.5, -0.01, 0.0, 1.0, 2.0, 8.0];

/// One loss of the family: the kernel, its reference, and the parameter its
/// gradient bound grows with (`|ε|` for Poly-1).
#[derive(Clone, Copy)]
struct Config {
    loss: AnyLoss,
    kind: RowLossKind,
    smoothing: f32,
    growth: f64,
    loss_ordinary: Bound,
    loss_any: Bound,
    grad: Bound,
}

fn configs() -> Vec<Config> {
    let mut v = Vec::new();
    for &eps in &EPSILONS {
        for smoothing in [0.0f32, 0.1] {
            let l = SoftmaxPoly1::new(eps)
                .unwrap()
                .with_smoothing(smoothing)
                .unwrap();
            v.push(Config {
                loss: l.into(),
                kind: RowLossKind::Poly1 {
                    epsilon: eps as f64,
                },
                smoothing,
                growth: eps.abs() as f64,
                loss_ordinary: SOFTMAX_POLY1_LOSS_ORDINARY,
                loss_any: SOFTMAX_POLY1_LOSS,
                grad: SOFTMAX_POLY1_GRAD,
            });
        }
    }
    v
}

/// The magnitude a loss bound is relative to: for Poly-1 the sum of its two
/// terms' magnitudes, `CE + |ε| U` (with `ε < 0` they cancel).
fn magnitude(cfg: &Config, z: &[f64], t: RowTarget, w: Option<&[f64]>, value: f64) -> f64 {
    match cfg.kind {
        RowLossKind::Poly1 { epsilon } if epsilon != 0.0 => {
            let mut g = vec![0.0; z.len()];
            let ce = sref::row_of(
                RowLossKind::Focal {
                    gamma: 0.0,
                    detached: false,
                },
                z,
                t,
                w,
                cfg.smoothing as f64,
                &mut g,
            );
            ce + ((value - ce) / epsilon).abs() * epsilon.abs()
        }
        _ => value.abs(),
    }
}

/// Worst errors seen, in units of the bounds' measures.
#[derive(Default)]
struct Worst {
    loss_ordinary: f64,
    loss_any: f64,
    grad: f64,
}

/// Checks every row of a `Sum` call against the reference: the per-row
/// losses within the loss bounds (relative to [`magnitude`], above the
/// floor of [`softmax_loss_floor`]), the gradient within `grad (1 + growth)
/// K` absolute, and the total.
fn check(
    cfg: &Config,
    z: &[f32],
    c: usize,
    labels: Option<&[u32]>,
    probs: Option<&[f32]>,
    w: Option<&[f32]>,
    worst: &mut Worst,
) {
    let n = z.len() / c;
    let zd = f64s(z);
    let pd = probs.map(f64s);
    let wd = w.map(f64s);
    let rows = rows_of(c, labels, probs, w);
    let mut grad = vec![f32::NAN; z.len()];
    let mut losses = vec![f32::NAN; n];
    let total = rows
        .loss_grad(&cfg.loss, z, Reduction::Sum, &mut grad, Some(&mut losses))
        .unwrap();
    let w_max = wd
        .as_ref()
        .map_or(1.0, |w| w.iter().cloned().fold(0.0, f64::max));
    let mut want_total = 0.0;
    for r in 0..n {
        let zr = &zd[r * c..(r + 1) * c];
        let t = match (labels, &pd) {
            (Some(l), _) => RowTarget::Label(l[r] as usize),
            (None, Some(p)) => RowTarget::Probs(&p[r * c..(r + 1) * c]),
            _ => unreachable!(),
        };
        let mut g = vec![0.0; c];
        let want = sref::row_of(cfg.kind, zr, t, wd.as_deref(), cfg.smoothing as f64, &mut g);
        want_total += want;
        let k = sref::target_mass(t, c, wd.as_deref(), cfg.smoothing as f64);
        let mut g0 = vec![0.0; c];
        let plain = sref::row_of(cfg.kind, zr, t, None, cfg.smoothing as f64, &mut g0);
        let mag = magnitude(cfg, zr, t, wd.as_deref(), want);
        let floor = softmax_loss_floor(w_max, plain, k);
        let got = losses[r] as f64;
        let delta = (got - want).abs();
        let bound = if want >= ORDINARY_LOSS {
            cfg.loss_ordinary.get()
        } else {
            cfg.loss_any.get()
        };
        let err = delta / (U * mag.max(f64::MIN_POSITIVE));
        assert!(
            err <= bound || delta <= floor,
            "row {r}: loss {got} vs {want} ({err:.1}u of {mag}) z={:?}",
            &z[r * c..r * c + c.min(8)]
        );
        if delta > floor {
            let wk = if want >= ORDINARY_LOSS {
                &mut worst.loss_ordinary
            } else {
                &mut worst.loss_any
            };
            *wk = wk.max(err);
        }
        let scale = k.max(1e-30) * (1.0 + cfg.growth);
        for j in 0..c {
            let e = (grad[r * c + j] as f64 - g[j]).abs() / (U * scale);
            assert!(
                grad[r * c + j].is_finite() && e <= cfg.grad.get(),
                "row {r} grad[{j}] {} vs {} ({e:.1}u of {scale})",
                grad[r * c + j],
                g[j]
            );
            worst.grad = worst.grad.max(e);
        }
    }
    assert!(
        (total as f64 - want_total).abs() <= 4e-6 * want_total.abs() + 1e-30,
        "total {total} vs {want_total}"
    );
}

#[test]
fn sweeps_against_f64() {
    let mut rng = Rng(0x5eed_f00d);
    let mut worst = Worst::default();
    for cfg in configs() {
        for &c in &CLASSES {
            let n = if c >= 100 { 6 } else { 24 };
            let w: Vec<f32> = (0..c).map(|_| (0.1 + 10.0 * rng.f()) as f32).collect();
            for spread in [3.0, 30.0] {
                let (z, y) = random_rows(&mut rng, n, c, spread);
                let p = random_probs(&mut rng, n, c);
                for wv in [None, Some(&w[..])] {
                    check(&cfg, &z, c, Some(&y), None, wv, &mut worst);
                    check(&cfg, &z, c, None, Some(&p), wv, &mut worst);
                }
            }
            let (z, y) = extreme_rows(&mut rng, c);
            let p = random_probs(&mut rng, y.len(), c);
            for wv in [None, Some(&w[..])] {
                check(&cfg, &z, c, Some(&y), None, wv, &mut worst);
                check(&cfg, &z, c, None, Some(&p), wv, &mut worst);
            }
        }
    }
    eprintln!(
        "softmax poly-1: worst loss {:.1}u (≥ 1e-3) / {:.1}u (any), gradient {:.1}u",
        worst.loss_ordinary, worst.loss_any, worst.grad
    );
}

/// The reference's gradient is the derivative of its loss (central
/// differences in f64).
#[test]
fn reference_gradients_match_finite_differences() {
    let mut rng = Rng(7);
    for cfg in configs() {
        for &c in &[2usize, 3, 10] {
            let z: Vec<f64> = (0..c).map(|_| rng.sym(4.0) as f64).collect();
            let w: Vec<f64> = (0..c).map(|_| 0.2 + 3.0 * rng.f()).collect();
            let y: Vec<f64> = (0..c).map(|_| rng.f()).collect();
            for t in [RowTarget::Label(rng.below(c)), RowTarget::Probs(&y)] {
                for wv in [None, Some(&w[..])] {
                    let mut g = vec![0.0; c];
                    sref::row_of(cfg.kind, &z, t, wv, cfg.smoothing as f64, &mut g);
                    for k in 0..c {
                        let h = 1e-6;
                        let mut zp = z.clone();
                        let mut zm = z.clone();
                        zp[k] += h;
                        zm[k] -= h;
                        let mut s = vec![0.0; c];
                        let lp = sref::row_of(cfg.kind, &zp, t, wv, cfg.smoothing as f64, &mut s);
                        let lm = sref::row_of(cfg.kind, &zm, t, wv, cfg.smoothing as f64, &mut s);
                        let fd = (lp - lm) / (2.0 * h);
                        assert!(
                            (fd - g[k]).abs() <= 1e-6 * (1.0 + g[k].abs()),
                            "C={c} k={k}: {} vs fd {fd}",
                            g[k]
                        );
                    }
                }
            }
        }
    }
}

/// Poly-1 with `ε = 0` is cross-entropy bit for bit (labels, probabilities,
/// smoothing, class weights, every reduction).
#[test]
fn poly1_at_zero_is_cross_entropy_bit_for_bit() {
    let mut rng = Rng(11);
    for &c in &[3usize, 10, 100] {
        let (z, y) = random_rows(&mut rng, 20, c, 8.0);
        let p = random_probs(&mut rng, 20, c);
        let w: Vec<f32> = (0..c).map(|_| (0.1 + 2.0 * rng.f()) as f32).collect();
        for smoothing in [0.0f32, 0.2] {
            let ce = SoftmaxCe::new().with_smoothing(smoothing).unwrap();
            let poly = SoftmaxPoly1::new(0.0)
                .unwrap()
                .with_smoothing(smoothing)
                .unwrap();
            for targets in [Targets::from(&y[..]), Targets::Probs(&p)] {
                let rows = Rows::new(c, targets).with_class_weights(&w).unwrap();
                for red in [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(7.0)] {
                    let (mut g1, mut g2) = (vec![0.0; z.len()], vec![0.0; z.len()]);
                    let a = rows.loss_grad(&ce, &z, red, &mut g1, None).unwrap();
                    let b = rows.loss_grad(&poly, &z, red, &mut g2, None).unwrap();
                    assert_eq!((a.to_bits(), &g1), (b.to_bits(), &g2));
                }
            }
        }
    }
}

/// The paper's form on a label: `ℓ = CE + ε(1 - p_t)` and
/// `∂ℓ/∂z = (1 + ε p_t)(p - onehot)`, at the ImageNet setting `ε = 2`;
/// `ε = -1` gives `CE - (1 - p_t) ≥ 0` and keeps it for a confident row.
#[test]
fn literature_settings() {
    let z = [1.5f32, -0.5, 0.25, 2.0];
    let zd = f64s(&z);
    let s: f64 = zd.iter().map(|v| v.exp()).sum();
    for t in 0..4 {
        let p: Vec<f64> = zd.iter().map(|v| v.exp() / s).collect();
        let mut g = [0.0f32; 4];
        let l = SoftmaxPoly1::IMAGENET
            .loss_grad_row(&z, Target::Label(t as u32), &mut g)
            .unwrap() as f64;
        let want = -p[t].ln() + 2.0 * (1.0 - p[t]);
        assert!((l - want).abs() <= 1e-6 * want, "t={t}: {l} vs {want}");
        for j in 0..4 {
            let gw = (1.0 + 2.0 * p[t]) * (p[j] - (j == t) as u8 as f64);
            assert!((g[j] as f64 - gw).abs() <= 1e-6, "t={t} j={j}");
        }
    }
    // ε = -1 on a confident row: CE - u = u²/2 + … , positive.
    let conf = [12.0f32, 0.0, 0.0];
    let mut g = [0.0f32; 3];
    let l = SoftmaxPoly1::new(-1.0)
        .unwrap()
        .loss_grad_row(&conf, Target::Label(0), &mut g)
        .unwrap();
    assert!((0.0..1e-9).contains(&l), "{l}");
    // Its gradient: -u (1 - p_t) = -u², exact without cancellation.
    let u = 2.0 * (-12.0f64).exp() / (1.0 + 2.0 * (-12.0f64).exp());
    assert!(
        ((g[0] as f64) + u * u).abs() <= 1e-5 * u * u,
        "{} vs {}",
        g[0],
        -u * u
    );
}

/// `|∂ℓ/∂z_k| ≤ grad_bound · K` on random and extreme rows.
#[test]
fn gradient_bounds_hold() {
    let mut rng = Rng(3);
    for cfg in configs() {
        let b = match cfg.kind {
            RowLossKind::Poly1 { epsilon } => 1.0 + epsilon.max(0.0),
            _ => unreachable!(),
        };
        for &c in &[2usize, 10, 100] {
            let (z, y) = extreme_rows(&mut rng, c);
            let mut g = vec![0.0; z.len()];
            Rows::new(c, Targets::from(&y[..]))
                .loss_grad(&cfg.loss, &z, Reduction::Sum, &mut g, None)
                .unwrap();
            for v in &g {
                assert!(v.abs() as f64 <= b * (1.0 + 1e-6), "{v} > {b}");
            }
        }
    }
}

/// Every reduction, with row weights and a mask, against the reference
/// batch (row weights and the mask applied to its per-row results).
#[test]
fn reductions_weights_and_mask_against_f64() {
    let mut rng = Rng(5);
    for cfg in configs() {
        let c = 10;
        let n = 40;
        let (z, y) = random_rows(&mut rng, n, c, 6.0);
        let w: Vec<f32> = (0..c).map(|_| (0.2 + 3.0 * rng.f()) as f32).collect();
        let v: Vec<f32> = (0..n).map(|_| (2.0 * rng.f()) as f32).collect();
        // `true` drops the row.
        let mask: Vec<bool> = (0..n).map(|_| rng.f() < 0.2).collect();
        let (zd, wd) = (f64s(&z), f64s(&w));
        for red in [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(3.5)] {
            let rows = Rows::new(c, Targets::from(&y[..]))
                .with_class_weights(&w)
                .unwrap()
                .with_row_weights(&v)
                .unwrap()
                .with_ignore(&mask);
            let mut grad = vec![0.0; n * c];
            let got = rows.loss_grad(&cfg.loss, &z, red, &mut grad, None).unwrap() as f64;
            let (mut total, mut denom) = (0.0, 0.0);
            let mut want_g = vec![0.0; n * c];
            for r in 0..n {
                if mask[r] {
                    continue;
                }
                let t = RowTarget::Label(y[r] as usize);
                let mut g = vec![0.0; c];
                let l = sref::row_of(
                    cfg.kind,
                    &zd[r * c..(r + 1) * c],
                    t,
                    Some(&wd),
                    cfg.smoothing as f64,
                    &mut g,
                );
                total += v[r] as f64 * l;
                denom += wd[y[r] as usize];
                for j in 0..c {
                    want_g[r * c + j] = v[r] as f64 * g[j];
                }
            }
            let scale = match red {
                Reduction::Sum => Reduce::Sum.scale(denom, 0.0),
                Reduction::Mean => Reduce::Mean.scale(denom, 0.0),
                Reduction::MeanOver(d) => Reduce::MeanOver(d as f64).scale(denom, 0.0),
                _ => unreachable!(),
            };
            let want = total * scale;
            assert!(
                (got - want).abs() <= 1e-5 * want.abs() + 1e-30,
                "{red:?}: {got} vs {want}"
            );
            let gmax = 3.0 * (1.0 + cfg.growth) * 2.0 * scale;
            for k in 0..n * c {
                let e = (grad[k] as f64 - want_g[k] * scale).abs();
                assert!(
                    e <= 1e-5 * gmax,
                    "{red:?} grad[{k}]: {} vs {}",
                    grad[k],
                    want_g[k] * scale
                );
            }
        }
    }
}

/// ε outside `[-1, 1e4]` (and NaN) is refused, naming the parameter; the
/// ends of the range are accepted.
#[test]
fn bad_parameters_are_refused() {
    let bad = Err(Error::InvalidParameter { name: "epsilon" });
    for eps in [
        -1.0001f32,
        -2.0,
        1.0001e4,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ] {
        assert_eq!(SoftmaxPoly1::new(eps), bad, "{eps}");
    }
    for eps in [-1.0f32, 0.0, 1e4] {
        assert!(SoftmaxPoly1::new(eps).is_ok());
    }
    assert_eq!(
        SoftmaxPoly1::IMAGENET.with_smoothing(1.5),
        Err(Error::InvalidParameter { name: "smoothing" })
    );
}

/// The ends of ε's range on the extreme rows stay finite and non-negative,
/// with `ε = 1e4` and logits up to ±f32::MAX.
#[test]
fn range_ends_stay_finite() {
    let mut rng = Rng(13);
    for eps in [-1.0f32, 1e4] {
        for smoothing in [0.0f32, 0.5] {
            let l = SoftmaxPoly1::new(eps)
                .unwrap()
                .with_smoothing(smoothing)
                .unwrap();
            for &c in &[2usize, 17] {
                let (mut z, y) = extreme_rows(&mut rng, c);
                z.extend((0..c).map(|j| if j % 2 == 0 { f32::MAX } else { -f32::MAX }));
                let y: Vec<u32> = y.iter().cloned().chain([1]).collect();
                let mut g = vec![0.0; z.len()];
                let mut ls = vec![0.0; y.len()];
                let total = Rows::new(c, Targets::from(&y[..]))
                    .loss_grad(&l, &z, Reduction::Mean, &mut g, Some(&mut ls))
                    .unwrap();
                assert!(total.is_finite() && total >= 0.0);
                assert!(ls.iter().all(|v| v.is_finite() && *v >= 0.0), "{ls:?}");
                assert!(g.iter().all(|v| v.is_finite()));
            }
        }
    }
}

/// At `ε = -1` a confident row's two terms cancel (`CE - u ≈ u²/2`,
/// 1.4e-20 here, from `u ≈ 1.7e-10`): the loss is within its bound of the
/// terms' magnitude (fuzz: the reduced loss came back as 0), never negative.
#[test]
fn cancelling_terms_are_within_the_magnitude_bound() {
    let z = [42.003906f32, 64.52344];
    let l = SoftmaxPoly1::new(-1.0).unwrap();
    let mut g = [0.0; 2];
    let got = Rows::new(2, Targets::from(&[1u16][..]))
        .loss_grad(&l, &z, Reduction::Mean, &mut g, None)
        .unwrap() as f64;
    let zd = f64s(&z);
    let mut gd = [0.0; 2];
    let kind = RowLossKind::Poly1 { epsilon: -1.0 };
    let want = sref::row_of(kind, &zd, RowTarget::Label(1), None, 0.0, &mut gd);
    let cfg = configs()[0];
    let mag = magnitude(&cfg, &zd, RowTarget::Label(1), None, want);
    assert!(got >= 0.0 && (got - want).abs() <= SOFTMAX_POLY1_LOSS.get() * U * mag);
    assert!(want > 1e-21 && mag > 1e-10, "{want} {mag}");
    for j in 0..2 {
        assert!((g[j] as f64 - gd[j]).abs() <= 24.0 * U * 2.0 * gd[j].abs().max(1e-30) + 1e-30);
    }
}

// ---------------------------------------------------- distribution focal loss

/// Targets of every kind DFL sees: random, integers, both ends, just below
/// the top and just above an integer, tiny.
fn dfl_targets(rng: &mut Rng, n: usize, rows: usize) -> Vec<f32> {
    let top = (n - 1) as f32;
    let mut y: Vec<f32> = vec![0.0, top, 1.0f32.min(top), top - 1e-6, 1e-30, 0.5];
    // Just above an integer (1 below the top, else 0).
    let above = if n > 2 { 1.0f32 } else { 0.0 };
    y.push(f32::from_bits(above.to_bits() + 1));
    while y.len() < rows {
        y.push((rng.f() * (n - 1) as f64) as f32);
    }
    y.truncate(rows.max(7));
    y
}

/// DFL against the f64 cross-entropy of the exact two-hot target of `y`,
/// within the cross-entropy's bounds (loss, gradient with `K = 1`).
#[test]
fn dfl_against_f64() {
    use tinyloss::softmax::Dfl;
    use tinyloss_reference::bounds::{
        SOFTMAX_CE_GRAD, SOFTMAX_CE_LOSS, SOFTMAX_CE_LOSS_ORDINARY, SOFTMAX_LOSS_FLOOR,
    };
    let mut rng = Rng(17);
    let (mut wl, mut wg) = (0.0f64, 0.0f64);
    for &n in &[2usize, 5, 17, 33] {
        let dfl = Dfl::new(n).unwrap();
        for spread in [3.0, 30.0, 1e4] {
            let rows = 24;
            let ys = dfl_targets(&mut rng, n, rows);
            let rows = ys.len();
            let (z, _) = random_rows(&mut rng, rows, n, spread);
            let (mut g, mut l, mut sc) =
                (vec![0.0; rows * n], vec![0.0; rows], vec![0.0; rows * n]);
            let total = dfl
                .loss_grad(&z, &ys, Reduction::Sum, &mut g, Some(&mut l), &mut sc)
                .unwrap();
            let mut sum = 0.0;
            for r in 0..rows {
                let zd = f64s(&z[r * n..(r + 1) * n]);
                let mut t = vec![0.0; n];
                sref::two_hot(ys[r] as f64, &mut t);
                let mut gd = vec![0.0; n];
                let want = sref::row(&zd, RowTarget::Probs(&t), None, 0.0, 0.0, &mut gd);
                sum += want;
                let b = if want >= ORDINARY_LOSS {
                    SOFTMAX_CE_LOSS_ORDINARY.get()
                } else {
                    SOFTMAX_CE_LOSS.get()
                };
                let delta = (l[r] as f64 - want).abs();
                let e = delta / (U * want);
                assert!(
                    e <= b || delta <= SOFTMAX_LOSS_FLOOR,
                    "n={n} y={} loss {} vs {want} ({e:.1}u)",
                    ys[r],
                    l[r]
                );
                if delta > SOFTMAX_LOSS_FLOOR {
                    wl = wl.max(e);
                }
                for j in 0..n {
                    let e = (g[r * n + j] as f64 - gd[j]).abs() / U;
                    assert!(
                        e <= SOFTMAX_CE_GRAD.get(),
                        "n={n} y={} grad[{j}] {e:.1}u",
                        ys[r]
                    );
                    wg = wg.max(e);
                }
            }
            assert!((total as f64 - sum).abs() <= 4e-6 * sum + 1e-30);
        }
    }
    eprintln!("DFL: worst loss {wl:.1}u, gradient {wg:.1}u");
}

/// On an integer target DFL is the cross-entropy of that label (within
/// both paths' bounds: probability targets and labels round differently).
#[test]
fn dfl_on_integer_targets_is_cross_entropy() {
    use tinyloss::softmax::Dfl;
    let mut rng = Rng(19);
    for &n in &[2usize, 5, 17] {
        let (z, y) = random_rows(&mut rng, 30, n, 6.0);
        let ys: Vec<f32> = y.iter().map(|&t| t as f32).collect();
        let (mut g1, mut l1, mut sc) = (vec![0.0; z.len()], vec![0.0; 30], vec![0.0; z.len()]);
        let (mut g2, mut l2) = (vec![0.0; z.len()], vec![0.0; 30]);
        Dfl::new(n)
            .unwrap()
            .loss_grad(&z, &ys, Reduction::Mean, &mut g1, Some(&mut l1), &mut sc)
            .unwrap();
        Rows::new(n, Targets::from(&y[..]))
            .loss_grad(
                &SoftmaxCe::new(),
                &z,
                Reduction::Mean,
                &mut g2,
                Some(&mut l2),
            )
            .unwrap();
        for r in 0..30 {
            let d = (l1[r] - l2[r]).abs() as f64;
            assert!(
                d <= 32.0 * U * l2[r] as f64 + 1e-37,
                "n={n} row {r}: {} vs {}",
                l1[r],
                l2[r]
            );
        }
        for k in 0..z.len() {
            assert!((g1[k] - g2[k]).abs() as f64 <= 32.0 * U / 30.0, "n={n} {k}");
        }
    }
}

/// The two-hot builder: `t_{i+1} = y - i` exactly, `t_i` within half an
/// ULP of `i + 1 - y`, zeros elsewhere, the ends; bad targets and lengths
/// are errors that write nothing.
#[test]
fn two_hot_targets() {
    use tinyloss::softmax::{two_hot, two_hot_rows};
    use tinyloss::At;
    let mut rng = Rng(23);
    for &n in &[2usize, 5, 17] {
        for y in dfl_targets(&mut rng, n, 200) {
            let mut t = vec![f32::NAN; n];
            two_hot(y, &mut t).unwrap();
            let i = y.floor() as usize;
            let mut td = vec![0.0; n];
            sref::two_hot(y as f64, &mut td);
            for (j, &v) in t.iter().enumerate() {
                let want = td[j];
                if j == i + 1 {
                    assert_eq!(v as f64, want, "n={n} y={y}");
                } else {
                    assert!(
                        (v as f64 - want).abs() <= 0.5 * U * 2.0 * want.max(1e-30),
                        "n={n} y={y} j={j}"
                    );
                }
            }
        }
    }
    let mut out = [7.0f32; 10];
    for bad in [-1e-30f32, 4.0001, f32::NAN, f32::INFINITY, -0.5, 1e30] {
        assert_eq!(
            two_hot_rows(&[1.0, bad], 5, &mut out),
            Err(Error::TargetOutOfRange { at: At::Row(1) }),
            "{bad}"
        );
        assert!(out.iter().all(|&v| v == 7.0));
    }
    assert!(matches!(
        two_hot_rows(&[1.0], 5, &mut out),
        Err(Error::LengthMismatch {
            what: "scratch",
            ..
        })
    ));
    assert!(matches!(
        two_hot_rows(&[0.0], 1, &mut out[..1]),
        Err(Error::RaggedRows { .. })
    ));
    assert_eq!(two_hot_rows(&[], 5, &mut out[..0]), Err(Error::Empty));
    assert_eq!(
        tinyloss::softmax::Dfl::new(1),
        Err(Error::InvalidParameter { name: "bins" })
    );
}

/// The integral decoder against f64 within `(n - 1)(66 + n/2)u` over random
/// and extreme rows, and the round trip `integral(ln two_hot(y)) ≈ y`.
#[test]
fn integral_decoder_against_f64() {
    use tinyloss::softmax::{integral, integral_rows, two_hot};
    use tinyloss_reference::bounds::DFL_INTEGRAL;
    let mut rng = Rng(29);
    let mut worst = 0.0f64;
    for &n in &[2usize, 5, 17, 64, 200] {
        let bound = DFL_INTEGRAL.at(n as f64) * (n - 1) as f64 * U;
        let mut rows: Vec<Vec<f32>> = Vec::new();
        for spread in [1.0, 10.0, 100.0, 1e30] {
            for _ in 0..20 {
                rows.push((0..n).map(|_| rng.sym(spread)).collect());
            }
        }
        let (ez, _) = extreme_rows(&mut rng, n);
        rows.extend(ez.chunks(n).map(|r| r.to_vec()));
        rows.push(
            (0..n)
                .map(|j| if j % 2 == 0 { f32::MAX } else { -f32::MAX })
                .collect(),
        );
        for row in &rows {
            let got = integral(row).unwrap() as f64;
            let want = sref::integral(&f64s(row));
            let e = (got - want).abs();
            assert!(
                e <= bound && (0.0..=(n - 1) as f64).contains(&got),
                "n={n}: {got} vs {want}"
            );
            worst = worst.max(e / ((n - 1) as f64 * U));
        }
        let flat: Vec<f32> = rows.concat();
        let mut out = vec![0.0; rows.len()];
        integral_rows(&flat, n, &mut out).unwrap();
        for (r, row) in rows.iter().enumerate() {
            assert_eq!(out[r], integral(row).unwrap());
        }
        // Round trip: logits ln t (zeros at -1e4) decode to y.
        for y in dfl_targets(&mut rng, n, 50) {
            let mut t = vec![0.0; n];
            two_hot(y, &mut t).unwrap();
            let z: Vec<f32> = t
                .iter()
                .map(|&v| if v > 0.0 { v.ln() } else { -1e4 })
                .collect();
            let got = integral(&z).unwrap();
            assert!(
                (got - y).abs() as f64 <= bound + 4.0 * U * y as f64,
                "n={n} y={y}: {got}"
            );
        }
    }
    eprintln!("integral: worst {worst:.2}u of n - 1");
    assert_eq!(
        integral(&[1.0]),
        Err(Error::RaggedRows { len: 1, classes: 1 })
    );
    assert_eq!(
        integral(&[1.0, f32::NAN]),
        Err(Error::NonFiniteInput {
            at: tinyloss::At::Row(0)
        })
    );
    let mut out = [5.0f32; 2];
    assert!(integral_rows(&[0.0, 1.0, 2.0, 3.0], 2, &mut out[..1]).is_err());
    assert_eq!(out, [5.0, 5.0]);
}

// ---------------------------------------------------- post-hoc logit adjustment

/// `τ ln π_c` against f64 within `3u τ |ln π_c| + 2u τ`, zero counts taken
/// as 1, τ's range, from a `ClassCounter`; errors write nothing.
#[test]
fn logit_offsets_against_f64() {
    use tinyloss::class_balanced::ClassCounter;
    use tinyloss::softmax::logit_offsets;
    let mut rng = Rng(31);
    for &c in &[2usize, 3, 10, 100, 1000] {
        for case in 0..4 {
            let counts: Vec<u32> = (0..c)
                .map(|j| match case {
                    0 => 5,
                    1 => (rng.f() * 1e4) as u32,
                    2 => {
                        if j == 0 {
                            u32::MAX
                        } else {
                            (j % 3) as u32
                        }
                    }
                    _ => (1e6 * (-(j as f64) / 7.0).exp()) as u32,
                })
                .collect();
            let mut lp = vec![0.0f64; c];
            sref::logit_offsets(&counts, 1.0, &mut lp);
            for tau in [0.0f32, 0.5, 1.0, 2.0, 1e4] {
                let mut b = vec![f32::NAN; c];
                logit_offsets(&counts, tau, &mut b).unwrap();
                for j in 0..c {
                    let (lp, want) = (lp[j], tau as f64 * lp[j]);
                    let bound = (3.0 * lp.abs() + 2.0) * U * tau as f64;
                    assert!(
                        (b[j] as f64 - want).abs() <= bound && b[j] <= 0.0,
                        "C={c} case {case} τ={tau} j={j}: {} vs {want}",
                        b[j]
                    );
                }
            }
        }
    }
    let mut k = ClassCounter::<4>::new();
    k.observe_all(&[0u8, 0, 0, 1, 2][..]).unwrap();
    let mut b = [0.0f32; 4];
    logit_offsets(k.counts(), 1.0, &mut b).unwrap();
    // Counts (3, 1, 1, 0 → 1) of 6.
    assert!((b[0] - 0.5f32.ln()).abs() < 1e-6 && (b[3] - (1.0f32 / 6.0).ln()).abs() < 1e-6);
    let mut out = [9.0f32; 3];
    for tau in [-0.1f32, f32::NAN, 1e5, f32::INFINITY] {
        assert_eq!(
            logit_offsets(&[1, 2, 3], tau, &mut out),
            Err(Error::InvalidParameter { name: "tau" })
        );
    }
    assert!(logit_offsets(&[1, 2], 1.0, &mut out).is_err());
    assert_eq!(logit_offsets(&[], 1.0, &mut out[..0]), Err(Error::Empty));
    assert_eq!(out, [9.0; 3]);
}

/// Post-hoc adjustment: uniform priors change no prediction; the adjusted
/// logits are `z - b` saturated; the balanced rule picks the tail class
/// where its margin beats the prior's; bad input is refused.
#[test]
fn post_hoc_adjustment() {
    use tinyloss::softmax::{logit_offsets, post_hoc_adjust, post_hoc_argmax};
    use tinyloss::At;
    let mut rng = Rng(37);
    for &c in &[2usize, 10, 100] {
        let (z, _) = random_rows(&mut rng, 50, c, 5.0);
        let mut b = vec![0.0; c];
        logit_offsets(&vec![7; c], 1.0, &mut b).unwrap();
        for row in z.chunks(c) {
            let plain = (0..c).fold(0, |a, j| if row[j] > row[a] { j } else { a });
            assert_eq!(post_hoc_argmax(row, &b).unwrap(), plain);
        }
        let counts: Vec<u32> = (0..c)
            .map(|j| 1 + (1000.0 * (-(j as f64)).exp()) as u32)
            .collect();
        logit_offsets(&counts, 1.0, &mut b).unwrap();
        let mut adj = vec![0.0; z.len()];
        post_hoc_adjust(&z, &b, &mut adj).unwrap();
        for (k, &a) in adj.iter().enumerate() {
            assert_eq!(a, z[k] - b[k % c]);
        }
        for (r, row) in z.chunks(c).enumerate() {
            let a = &adj[r * c..(r + 1) * c];
            let want = (0..c).fold(0, |x, j| if a[j] > a[x] { j } else { x });
            assert_eq!(post_hoc_argmax(row, &b).unwrap(), want);
        }
    }
    let b = [-0.1f32, -3.0];
    let mut out = [0.0f32; 4];
    post_hoc_adjust(&[f32::MAX, 0.0, -f32::MAX, 1.0], &b, &mut out).unwrap();
    assert_eq!(out, [f32::MAX, 3.0, -f32::MAX + 0.1, 4.0]);
    assert_eq!(post_hoc_argmax(&[1.0, 0.0], &b).unwrap(), 1);
    let mut out = [5.0f32; 4];
    assert_eq!(
        post_hoc_adjust(&[0.0, 1.0, f32::NAN, 0.0], &b, &mut out),
        Err(Error::NonFiniteInput { at: At::Row(1) })
    );
    assert_eq!(
        post_hoc_adjust(&[0.0; 4], &[0.0, f32::INFINITY], &mut out),
        Err(Error::NonFiniteInput { at: At::Class(1) })
    );
    assert!(post_hoc_adjust(&[0.0; 3], &b, &mut out[..3]).is_err());
    assert_eq!(out, [5.0; 4]);
    assert!(post_hoc_argmax(&[0.0; 4], &b).is_err());
}
