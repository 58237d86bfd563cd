//! Softmax cross-entropy and softmax focal loss against f64 references written
//! here from the textbook / PyTorch formulas (no library code in the
//! references). Run with `cargo test --release --test multiclass`.

use proptest::prelude::*;
use tinyloss::softmax::{AnyLoss, Rows, SoftmaxCe, SoftmaxFocal, SoftmaxPoly1, Target, Targets};
use tinyloss::{At, Error, Reduction, SigmoidCe};

// The f64 references, bounds, error measure, bad inputs and RNG live in
// `tinyloss-reference` (`reference/`), shared with the fuzz targets and the
// on-target selftest.
use tinyloss_reference::bounds::{
    Bound, ORDINARY_LOSS as ORDINARY, SOFTMAX_CE_GRAD, SOFTMAX_CE_LOSS, SOFTMAX_CE_LOSS_ORDINARY,
    SOFTMAX_FOCAL_GRAD, SOFTMAX_FOCAL_LOSS, SOFTMAX_FOCAL_LOSS_ORDINARY,
    SOFTMAX_LOSS_FLOOR as LOSS_FLOOR,
};
use tinyloss_reference::measure::{abs_err, rel_err, U};
use tinyloss_reference::softmax::{self as sref, RowTarget as RT};
use tinyloss_reference::{cases, Reduce, Rng};

mod common;
use common::{extreme_rows, f64s, random_probs, random_rows, rows_of};

/// Loss bounds in units of `U`, relative, for every loss above the floor ...
const CE_LOSS_ULP: f64 = SOFTMAX_CE_LOSS.base;
const FOCAL_LOSS_ULP: f64 = SOFTMAX_FOCAL_LOSS.base;
/// ... and for losses `>= ORDINARY` (the training regime).
const CE_LOSS_ULP_ORDINARY: f64 = SOFTMAX_CE_LOSS_ORDINARY.base;
const FOCAL_LOSS_ULP_ORDINARY: f64 = SOFTMAX_FOCAL_LOSS_ORDINARY.base;

// ---------------------------------------------------------------- reference

/// The reference row (`tinyloss_reference::softmax::row`), gradient in a Vec.
fn ref_row(z: &[f64], t: RT, w: Option<&[f64]>, eps: f64, gamma: f64) -> (f64, Vec<f64>) {
    let mut g = vec![0.0; z.len()];
    let l = sref::row(z, t, w, eps, gamma, &mut g);
    (l, g)
}

/// Central finite differences of the reference loss.
fn fd(z: &[f64], t: RT, w: Option<&[f64]>, eps: f64, gamma: f64) -> Vec<f64> {
    (0..z.len())
        .map(|k| {
            let h = 1e-6 * (1.0 + z[k].abs());
            let mut zp = z.to_vec();
            let mut zm = z.to_vec();
            zp[k] += h;
            zm[k] -= h;
            (ref_row(&zp, t, w, eps, gamma).0 - ref_row(&zm, t, w, eps, gamma).0) / (2.0 * h)
        })
        .collect()
}

// ---------------------------------------------------------------- helpers

/// Worst errors seen, in units of the stated bounds' measures.
#[derive(Default, Debug)]
struct Worst {
    loss_ulp: f64,
    loss_ulp_ordinary: f64,
    grad_ulp: f64,
}

impl Worst {
    fn merge(&mut self, o: Worst) {
        self.loss_ulp = self.loss_ulp.max(o.loss_ulp);
        self.loss_ulp_ordinary = self.loss_ulp_ordinary.max(o.loss_ulp_ordinary);
        self.grad_ulp = self.grad_ulp.max(o.grad_ulp);
    }
}

/// Checks our per-row losses and gradient against the reference and returns
/// the worst errors in ULP of the bound's measure: loss `|Δ| / max(|ℓ|, floor/U)`,
/// gradient `|Δg| / (scale_k)` with `scale_k = Σ_c w_c y'_c (1 + γ)` per row.
#[allow(clippy::too_many_arguments)]
fn check_rows(
    what: &str,
    z: &[f32],
    c: usize,
    labels: Option<&[u32]>,
    probs: Option<&[f32]>,
    w: Option<&[f32]>,
    eps: f32,
    gamma: f32,
    loss_bound: f64,
    grad_bound: &Bound,
) -> Worst {
    let n = z.len() / c;
    let zd = f64s(z);
    let pd = probs.map(f64s);
    let wd = w.map(f64s);
    let mut rg = vec![0.0; z.len()];
    let mut rl = vec![0.0; n];
    let rt = match (labels, &pd) {
        (Some(l), _) => sref::Targets::Labels(l),
        (None, Some(p)) => sref::Targets::Probs(p),
        _ => unreachable!(),
    };
    sref::batch(
        &zd,
        c,
        rt,
        wd.as_deref(),
        eps as f64,
        gamma as f64,
        None,
        Reduce::Sum,
        &mut rg,
        &mut rl,
    );
    let rows = rows_of(c, labels, probs, w);
    let mut grad = vec![f32::NAN; z.len()];
    let mut losses = vec![f32::NAN; n];
    let total = if gamma == 0.0 && eps == 0.0 {
        let l = SoftmaxCe::new();
        rows.loss_grad(&l, z, Reduction::Sum, &mut grad, Some(&mut losses))
    } else {
        let l = SoftmaxFocal::new(gamma)
            .unwrap()
            .with_smoothing(eps)
            .unwrap();
        rows.loss_grad(&l, z, Reduction::Sum, &mut grad, Some(&mut losses))
    }
    .unwrap();
    let mut worst = Worst::default();
    for r in 0..n {
        let want = rl[r];
        let got = losses[r] as f64;
        let delta = (got - want).abs();
        let err = rel_err(losses[r], want, 0.0);
        let ordinary = want >= ORDINARY;
        let bound = if !ordinary {
            loss_bound
        } else if gamma == 0.0 {
            CE_LOSS_ULP_ORDINARY
        } else {
            FOCAL_LOSS_ULP_ORDINARY
        };
        assert!(
            err <= bound || delta <= LOSS_FLOOR,
            "{what}: row {r} loss {got} vs {want} ({err} ulp) z={:?}",
            &z[r * c..(r * c + c.min(12))]
        );
        if delta > LOSS_FLOOR {
            worst.loss_ulp = worst.loss_ulp.max(err);
            if ordinary {
                worst.loss_ulp_ordinary = worst.loss_ulp_ordinary.max(err);
            }
        }
        let ysum: f64 = (0..c)
            .map(|j| {
                let y = match (labels, &pd) {
                    (Some(l), _) => (l[r] as usize == j) as u8 as f64,
                    (None, Some(p)) => p[r * c + j],
                    _ => 0.0,
                };
                let ys = (1.0 - eps as f64) * y + eps as f64 / c as f64;
                ys * wd.as_ref().map_or(1.0, |w| w[j])
            })
            .sum();
        let gscale = ysum * (1.0 + gamma as f64);
        // Absolute in units of u·K (K = Σ_c w_c y'_c): the bound grows like
        // (1 + γ); `worst` records it in units of u·K(1 + γ).
        let gb = grad_bound.at(gamma as f64);
        for j in 0..c {
            let g = grad[r * c + j] as f64;
            let want = rg[r * c + j];
            let err = abs_err(
                grad[r * c + j],
                want,
                ysum.max(1e-30 / (1.0 + gamma as f64)),
            );
            assert!(
                err <= gb,
                "{what}: row {r} grad[{j}] {g} vs {want} ({err} ulp of {gscale})"
            );
            worst.grad_ulp = worst.grad_ulp.max(err / (1.0 + gamma as f64));
        }
    }
    let sum: f64 = losses.iter().map(|&l| l as f64).sum();
    let want: f64 = rl.iter().sum();
    assert!(
        (total as f64 - sum).abs() <= 4e-6 * want.abs() + 1e-30,
        "{what}: total {total} vs {sum}"
    );
    worst
}

const GAMMAS: [f32; 7] = [0.0, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0];
const CLASSES: [usize; 7] = [2, 3, 10, 17, 50, 100, 1000];

// ---------------------------------------------------------------- accuracy

#[test]
fn reference_rows_match_their_finite_differences() {
    let mut rng = Rng(7);
    for &c in &[2usize, 3, 10, 40] {
        for &gamma in &[0.0, 0.5, 2.0, 3.3] {
            for case in 0..4 {
                let z: Vec<f64> = (0..c).map(|_| rng.sym(4.0) as f64).collect();
                let w: Vec<f64> = (0..c).map(|_| 0.2 + 2.0 * rng.f()).collect();
                let p: Vec<f64> = (0..c).map(|_| rng.f()).collect();
                let (t, wv, eps) = match case {
                    0 => (RT::Label(rng.below(c)), None, 0.0),
                    1 => (RT::Label(rng.below(c)), Some(&w[..]), 0.1),
                    2 => (RT::Probs(&p), None, 0.0),
                    _ => (RT::Probs(&p), Some(&w[..]), 0.2),
                };
                let (_, g) = ref_row(&z, t, wv, eps, gamma);
                let n = fd(&z, t, wv, eps, gamma);
                for k in 0..c {
                    assert!(
                        (g[k] - n[k]).abs() <= 1e-7 * (1.0 + g[k].abs()),
                        "C={c} γ={gamma} case {case} k={k}: {} vs fd {}",
                        g[k],
                        n[k]
                    );
                }
            }
        }
    }
}

#[test]
fn cross_entropy_random_and_extreme_rows() {
    let mut rng = Rng(1);
    let mut worst = Worst::default();
    for &c in &CLASSES {
        let n = if c == 1000 { 64 } else { 400 };
        for &spread in &[1.0, 8.0, 30.0] {
            let (z, y) = random_rows(&mut rng, n, c, spread);
            let w = check_rows(
                "ce",
                &z,
                c,
                Some(&y),
                None,
                None,
                0.0,
                0.0,
                CE_LOSS_ULP,
                &SOFTMAX_CE_GRAD,
            );
            worst.merge(w);
        }
        let (z, y) = extreme_rows(&mut rng, c);
        let w = check_rows(
            "ce extreme",
            &z,
            c,
            Some(&y),
            None,
            None,
            0.0,
            0.0,
            CE_LOSS_ULP,
            &SOFTMAX_CE_GRAD,
        );
        worst.merge(w);
    }
    eprintln!("softmax CE worst: {worst:?}");
}

#[test]
fn focal_random_and_extreme_rows() {
    let mut rng = Rng(2);
    let mut worst = Worst::default();
    for &c in &CLASSES {
        let n = if c == 1000 { 16 } else { 150 };
        for &gamma in &GAMMAS {
            for &spread in &[1.0, 8.0, 30.0] {
                let (z, y) = random_rows(&mut rng, n, c, spread);
                let w = check_rows(
                    "focal",
                    &z,
                    c,
                    Some(&y),
                    None,
                    None,
                    0.0,
                    gamma,
                    FOCAL_LOSS_ULP,
                    &SOFTMAX_FOCAL_GRAD,
                );
                worst.merge(w);
            }
            let (z, y) = extreme_rows(&mut rng, c);
            let w = check_rows(
                "focal extreme",
                &z,
                c,
                Some(&y),
                None,
                None,
                0.0,
                gamma,
                FOCAL_LOSS_ULP,
                &SOFTMAX_FOCAL_GRAD,
            );
            worst.merge(w);
        }
    }
    eprintln!("softmax focal worst: {worst:?}");
}

#[test]
fn weights_smoothing_and_probability_targets() {
    let mut rng = Rng(3);
    let mut worst = Worst::default();
    for &c in &CLASSES {
        let n = if c == 1000 { 8 } else { 60 };
        let w: Vec<f32> = (0..c)
            .map(|j| {
                if j % 7 == 3 {
                    0.0
                } else {
                    (0.1 + 3.0 * rng.f()) as f32
                }
            })
            .collect();
        for &gamma in &GAMMAS {
            let (lb, gb) = if gamma == 0.0 {
                (CE_LOSS_ULP, &SOFTMAX_CE_GRAD)
            } else {
                (FOCAL_LOSS_ULP, &SOFTMAX_FOCAL_GRAD)
            };
            for &eps in &[0.0f32, 0.1, 1.0] {
                for &spread in &[2.0, 30.0] {
                    let (z, y) = random_rows(&mut rng, n, c, spread);
                    let p = random_probs(&mut rng, n, c);
                    for wv in [None, Some(&w[..])] {
                        for ww in [
                            check_rows("labels", &z, c, Some(&y), None, wv, eps, gamma, lb, gb),
                            check_rows("probs", &z, c, None, Some(&p), wv, eps, gamma, lb, gb),
                        ] {
                            worst.merge(ww);
                        }
                    }
                }
                let (z, y) = extreme_rows(&mut rng, c);
                let ww = check_rows(
                    "labels extreme",
                    &z,
                    c,
                    Some(&y),
                    None,
                    Some(&w),
                    eps,
                    gamma,
                    lb,
                    gb,
                );
                worst.merge(ww);
            }
        }
    }
    eprintln!("weights/smoothing/probs worst: {worst:?}");
}

#[test]
fn confident_rows_keep_tiny_losses() {
    // Target is the arg-max with margin g: CE = log1p((C-1) e^-g) ≈ (C-1) e^-g.
    for &c in &[2usize, 10, 1000] {
        for &g in &[10.0f32, 30.0, 60.0, 80.0] {
            let mut z = vec![0.0f32; c];
            z[1] = g;
            let mut grad = vec![0.0; c];
            let l = SoftmaxCe::new()
                .loss_grad_row(&z, Target::Label(1), &mut grad)
                .unwrap();
            let want = ((c - 1) as f64 * (-(g as f64)).exp()).ln_1p();
            assert!(l > 0.0, "C={c} g={g}: loss rounded to 0");
            assert!(
                ((l as f64) - want).abs() <= 8.0 * U * want,
                "C={c} g={g}: {l} vs {want}"
            );
            // ∂/∂z_t = -(1 - p_t), also tiny and accurate.
            let want_g = -((c - 1) as f64) * (-(g as f64)).exp()
                / (1.0 + (c - 1) as f64 * (-(g as f64)).exp());
            assert!(((grad[1] as f64) - want_g).abs() <= 8.0 * U * want_g.abs());
        }
    }
}

#[test]
fn huge_logits_stay_finite() {
    for &c in &[2usize, 3, 1000] {
        let mut z = vec![-3e38f32; c];
        z[0] = 3e38;
        let mut grad = vec![0.0; c];
        for gamma in [0.0f32, 0.5, 2.0] {
            let l = SoftmaxFocal::new(gamma).unwrap();
            let loss = l.loss_grad_row(&z, Target::Label(1), &mut grad).unwrap();
            assert!(loss.is_finite() && loss > 1e38, "C={c} γ={gamma}: {loss}");
            assert!(grad.iter().all(|g| g.is_finite()));
            assert_eq!(grad[0], 1.0);
            assert_eq!(grad[1], -1.0);
            let loss = l.loss_grad_row(&z, Target::Label(0), &mut grad).unwrap();
            assert_eq!(loss, 0.0);
            assert!(grad.iter().all(|g| *g == 0.0));
        }
    }
}

// ---------------------------------------------------------------- identities

#[test]
fn row_blocks_match_single_rows() {
    // Batches of small C run 8 rows per lane-vector; rows next to ignored
    // rows, and the rows after the last full block, run one at a time. Every
    // row must agree with the single-row API.
    let mut rng = Rng(9);
    for &c in &[2usize, 5, 10, 33, 64, 65] {
        let n = 29;
        let (z, mut y) = random_rows(&mut rng, n, c, 10.0);
        y[3] = 999;
        y[20] = 999;
        let w: Vec<f32> = (0..c).map(|_| (0.5 + rng.f()) as f32).collect();
        for gamma in [0.0f32, 0.7, 2.0] {
            let fl = SoftmaxFocal::new(gamma).unwrap().with_ignore_index(999);
            let rows = Rows::new(c, Targets::from(&y[..]))
                .with_class_weights(&w)
                .unwrap();
            let mut g = vec![0.0; n * c];
            let mut ls = vec![0.0; n];
            rows.loss_grad(&fl, &z, Reduction::Sum, &mut g, Some(&mut ls))
                .unwrap();
            let mut gr = vec![0.0; c];
            for r in 0..n {
                // One weighted row: a one-row `Rows` with `Sum`.
                let lr = Rows::new(c, Targets::from(&y[r..r + 1]))
                    .with_class_weights(&w)
                    .unwrap()
                    .loss_grad(&fl, &z[r * c..(r + 1) * c], Reduction::Sum, &mut gr, None)
                    .unwrap();
                assert!(
                    (ls[r] - lr).abs() <= 1e-6 * lr + 1e-37,
                    "C={c} γ={gamma} row {r}: {} vs {lr}",
                    ls[r]
                );
                for k in 0..c {
                    let d = (g[r * c + k] - gr[k]).abs();
                    assert!(
                        d <= 1e-6 * (1.0 + gamma) * 4.0,
                        "C={c} γ={gamma} row {r} k={k}: {} vs {}",
                        g[r * c + k],
                        gr[k]
                    );
                }
            }
        }
    }
}

#[test]
fn gradient_rows_sum_to_zero() {
    let mut rng = Rng(4);
    for &c in &CLASSES {
        for &gamma in &GAMMAS {
            let (z, y) = random_rows(&mut rng, 20, c, 10.0);
            let mut grad = vec![0.0; z.len()];
            SoftmaxFocal::new(gamma)
                .and_then(|l| {
                    Rows::new(c, Targets::from(&y[..])).loss_grad(
                        &l,
                        &z,
                        Reduction::Sum,
                        &mut grad,
                        None,
                    )
                })
                .unwrap();
            for r in 0..20 {
                let row = &grad[r * c..(r + 1) * c];
                let s: f64 = row.iter().map(|&g| g as f64).sum();
                let a: f64 = row.iter().map(|&g| (g as f64).abs()).sum();
                assert!(
                    s.abs() <= 1e-5 * a + 1e-30,
                    "C={c} γ={gamma} row {r}: Σg={s}, Σ|g|={a}"
                );
            }
        }
    }
}

#[test]
fn gamma_zero_is_cross_entropy_bit_for_bit() {
    let mut rng = Rng(5);
    for &c in &CLASSES {
        let (z, y) = random_rows(&mut rng, 30, c, 12.0);
        let w: Vec<f32> = (0..c).map(|_| rng.f() as f32).collect();
        for eps in [0.0f32, 0.2] {
            let rows = Rows::new(c, Targets::from(&y[..]))
                .with_class_weights(&w)
                .unwrap();
            let mut g1 = vec![0.0; z.len()];
            let mut g2 = vec![0.0; z.len()];
            let ce = SoftmaxCe::new().with_smoothing(eps).unwrap();
            let fl = SoftmaxFocal::new(0.0).unwrap().with_smoothing(eps).unwrap();
            let l1 = rows
                .loss_grad(&ce, &z, Reduction::Mean, &mut g1, None)
                .unwrap();
            let l2 = rows
                .loss_grad(&fl, &z, Reduction::Mean, &mut g2, None)
                .unwrap();
            assert_eq!(l1.to_bits(), l2.to_bits());
            assert_eq!(g1, g2);
        }
    }
}

#[test]
fn two_classes_equal_binary_sigmoid_ce() {
    let mut rng = Rng(6);
    for _ in 0..2000 {
        let z = [rng.sym(30.0), rng.sym(30.0)];
        let t = rng.below(2);
        let mut g = [0.0f32; 2];
        let l = SoftmaxCe::new()
            .loss_grad_row(&z, Target::Label(t as u32), &mut g)
            .unwrap();
        // f64: BCE(x, y) with x = z1 - z0 is softplus(x) for y = 0 and
        // softplus(-x) for y = 1.
        let x = z[1] as f64 - z[0] as f64;
        let y = t as f64;
        let xs = if t == 1 { -x } else { x };
        let want = xs.max(0.0) + (-xs.abs()).exp().ln_1p();
        let dx = 1.0 / (1.0 + (-x).exp()) - y;
        assert!(
            ((l as f64) - want).abs() <= CE_LOSS_ULP * U * want.max(LOSS_FLOOR / U),
            "{z:?} {t}: {l} vs {want}"
        );
        assert!(
            ((g[1] as f64) - dx).abs() <= SOFTMAX_CE_GRAD.get() * U,
            "{z:?}: {} vs {dx}",
            g[1]
        );
        assert!(((g[0] as f64) + dx).abs() <= SOFTMAX_CE_GRAD.get() * U);
        // The crate's binary kernel agrees on the same difference.
        let b = SigmoidCe::PLAIN.loss_grad(z[1] - z[0], y as f32).unwrap();
        assert!(
            ((b.loss - l) as f64).abs() <= 1e-5 * want + 1e-30,
            "{z:?}: sigmoid {} vs softmax {l}",
            b.loss
        );
    }
}

#[test]
fn pytorch_weighted_smoothed_ignored_mean() {
    // CrossEntropyLoss(weight=w, ignore_index=9, label_smoothing=0.1) with
    // reduction='mean': Σ_n [(1-ε) w_t CE_t + ε/C Σ_c w_c CE_c] / Σ_n w_t
    // over rows that are not ignored, written out here in f64.
    let c = 4;
    let z: [f32; 12] = [
        1.0, 2.0, -0.5, 0.3, -2.0, 0.0, 4.0, 1.0, 0.5, 0.5, 0.5, -3.0,
    ];
    let y = [1u32, 9, 0];
    let w = [0.5f32, 2.0, 1.0, 3.0];
    let eps = 0.1f64;
    let mut num = 0.0f64;
    let mut den = 0.0f64;
    let mut grad_ref = [0.0f64; 12];
    for r in [0usize, 2] {
        let zr: Vec<f64> = z[r * c..r * c + c].iter().map(|&v| v as f64).collect();
        let lse = zr.iter().map(|v| v.exp()).sum::<f64>().ln();
        let t = y[r] as usize;
        let nll = w[t] as f64 * (lse - zr[t]);
        let smooth: f64 = (0..c).map(|k| w[k] as f64 * (lse - zr[k])).sum();
        num += (1.0 - eps) * nll + eps / c as f64 * smooth;
        den += w[t] as f64;
        let wsum: f64 = w.iter().map(|&v| v as f64).sum();
        for k in 0..c {
            let p = (zr[k] - lse).exp();
            let d = (k == t) as u8 as f64;
            grad_ref[r * c + k] =
                (1.0 - eps) * w[t] as f64 * (p - d) + eps / c as f64 * (wsum * p - w[k] as f64);
        }
    }
    let want = num / den;
    let rows = Rows::new(c, Targets::from(&y[..]))
        .with_class_weights(&w)
        .unwrap();
    let ce = SoftmaxCe::new()
        .with_smoothing(0.1)
        .unwrap()
        .with_ignore_index(9);
    let mut grad = [f32::NAN; 12];
    let mut losses = [f32::NAN; 3];
    let got = rows
        .loss_grad(&ce, &z, Reduction::Mean, &mut grad, Some(&mut losses))
        .unwrap();
    assert!(
        ((got as f64) - want).abs() <= 1e-6 * want,
        "{got} vs {want}"
    );
    assert_eq!(losses[1], 0.0);
    for k in 0..12 {
        let want = grad_ref[k] / den;
        assert!(
            ((grad[k] as f64) - want).abs() <= 1e-6,
            "grad[{k}] {} vs {want}",
            grad[k]
        );
    }
    assert!(grad[4..8].iter().all(|&g| g == 0.0));
    // The ignored row's logits are not validated.
    let mut z2 = z;
    z2[5] = f32::NAN;
    let got2 = rows
        .loss_grad(&ce, &z2, Reduction::Mean, &mut grad, None)
        .unwrap();
    assert_eq!(got2, got);
    // An ignore index inside 0..C is honoured too.
    let y3 = [1u32, 2, 0];
    let ce3 = SoftmaxCe::new().with_ignore_index(2);
    let mut g3 = [0.0f32; 12];
    let l3 = loss_of(&ce3, &z, c, &y3, &mut g3);
    let mut g4 = [0.0f32; 4];
    let l4 = ce3
        .loss_grad_row(&z[..4], Target::Label(1), &mut g4)
        .unwrap();
    let l5 = ce3
        .loss_grad_row(&z[8..], Target::Label(0), &mut g4)
        .unwrap();
    assert!((l3 - (l4 + l5) / 2.0).abs() <= 1e-6 * l3);
}

fn loss_of(l: &SoftmaxCe, z: &[f32], c: usize, y: &[u32], g: &mut [f32]) -> f32 {
    Rows::new(c, Targets::from(y))
        .loss_grad(l, z, Reduction::Mean, g, None)
        .unwrap()
}

#[test]
fn reductions() {
    let mut rng = Rng(8);
    let c = 10;
    let n = 37;
    let (z, y) = random_rows(&mut rng, n, c, 5.0);
    let w: Vec<f32> = (0..c).map(|_| (0.5 + rng.f()) as f32).collect();
    let rows = Rows::new(c, Targets::from(&y[..]))
        .with_class_weights(&w)
        .unwrap();
    let fl = SoftmaxFocal::new(1.5).unwrap();
    let mut gs = vec![0.0; n * c];
    let mut gm = vec![0.0; n * c];
    let mut gn = vec![0.0; n * c];
    let mut go = vec![0.0; n * c];
    let mut ls = vec![0.0; n];
    let sum = rows
        .loss_grad(&fl, &z, Reduction::Sum, &mut gs, None)
        .unwrap();
    let mean = rows
        .loss_grad(&fl, &z, Reduction::Mean, &mut gm, None)
        .unwrap();
    let none = rows
        .loss_grad(&fl, &z, Reduction::Sum, &mut gn, Some(&mut ls))
        .unwrap();
    let over = rows
        .loss_grad(&fl, &z, Reduction::MeanOver(4.0), &mut go, None)
        .unwrap();
    let wt: f64 = y.iter().map(|&t| w[t as usize] as f64).sum();
    assert_eq!(sum, none);
    assert!(((mean as f64) - sum as f64 / wt).abs() <= 1e-6 * mean as f64);
    assert!((over - sum / 4.0).abs() <= 1e-6 * over);
    let lsum: f64 = ls.iter().map(|&v| v as f64).sum();
    assert!((lsum - sum as f64).abs() <= 1e-6 * lsum);
    for k in 0..n * c {
        assert_eq!(gs[k], gn[k]);
        assert!(
            ((gm[k] as f64) - gs[k] as f64 / wt).abs() <= 1e-6 * (gs[k].abs() as f64 / wt) + 1e-12
        );
        assert!((go[k] - gs[k] / 4.0).abs() <= 1e-6 * gs[k].abs() + 1e-12);
    }
    // Probability targets: mean divides by the number of rows.
    let p = random_probs(&mut rng, n, c);
    let pr = Rows::new(c, Targets::Probs(&p))
        .with_class_weights(&w)
        .unwrap();
    let s = pr
        .loss_grad(&fl, &z, Reduction::Sum, &mut gs, None)
        .unwrap();
    let m = pr
        .loss_grad(&fl, &z, Reduction::Mean, &mut gm, None)
        .unwrap();
    assert!((m - s / n as f32).abs() <= 1e-6 * m);
    // Every row ignored: Mean is 0 with a zero gradient.
    let ign = vec![7u32; n];
    let ce = SoftmaxCe::new().with_ignore_index(7);
    let l = Rows::new(c, Targets::from(&ign[..]))
        .loss_grad(&ce, &z, Reduction::Mean, &mut gm, None)
        .unwrap();
    assert_eq!(l, 0.0);
    assert!(gm.iter().all(|&g| g == 0.0));
    // Loss-only and in-place forms agree with the fused call.
    let mut scratch = vec![0.0; c];
    let lo = rows.loss(&fl, &z, Reduction::Mean, &mut scratch).unwrap();
    // Loss-only runs one row at a time; the fused call runs small-C rows in
    // blocks: same arithmetic, different summation order.
    assert!((lo - mean).abs() <= 1e-6 * mean, "{lo} vs {mean}");
    let mut zi = z.clone();
    let li = rows
        .loss_grad_in_place(&fl, &mut zi, Reduction::Mean, None)
        .unwrap();
    assert_eq!(li.to_bits(), mean.to_bits());
    assert_eq!(zi, gm_of(&rows, &fl, &z));
    // u16 labels give the same result as u32 labels.
    let y16: Vec<u16> = y.iter().map(|&t| t as u16).collect();
    let r16 = Rows::new(c, Targets::from(&y16[..]))
        .with_class_weights(&w)
        .unwrap();
    let mut g16 = vec![0.0; n * c];
    let l16 = r16
        .loss_grad(&fl, &z, Reduction::Mean, &mut g16, None)
        .unwrap();
    assert_eq!(l16.to_bits(), mean.to_bits());
    assert_eq!(g16, gm_of(&rows, &fl, &z));
}

fn gm_of(rows: &Rows<'_>, fl: &SoftmaxFocal, z: &[f32]) -> Vec<f32> {
    let mut g = vec![0.0; z.len()];
    rows.loss_grad(fl, z, Reduction::Mean, &mut g, None)
        .unwrap();
    g
}

// ---------------------------------------------------------------- errors

#[test]
fn bad_input_is_an_error_and_nothing_is_written() {
    let c = 3;
    let z = [0.5f32, 1.0, -1.0, 2.0, 0.0, 0.0];
    let y = [0u32, 2];
    let ce = SoftmaxCe::new();
    let sentinel = 12345.0f32;
    let run = |rows: Rows<'_>, z: &[f32], red: Reduction, glen: usize, llen: Option<usize>| {
        let mut g = vec![sentinel; glen];
        let mut l = llen.map(|n| vec![sentinel; n]);
        let r = rows.loss_grad(&ce, z, red, &mut g, l.as_deref_mut());
        if r.is_err() {
            assert!(g.iter().all(|&v| v == sentinel), "grad written on {r:?}");
            assert!(l.iter().flatten().all(|&v| v == sentinel));
        }
        r
    };
    let ok = Rows::new(c, Targets::from(&y[..]));
    assert!(run(ok, &z, Reduction::Mean, 6, Some(2)).is_ok());
    assert_eq!(
        run(
            Rows::new(4, Targets::from(&y[..])),
            &z,
            Reduction::Mean,
            6,
            None
        ),
        Err(Error::RaggedRows { len: 6, classes: 4 })
    );
    assert_eq!(
        run(
            Rows::new(1, Targets::from(&y[..])),
            &z,
            Reduction::Mean,
            6,
            None
        ),
        Err(Error::RaggedRows { len: 6, classes: 1 })
    );
    assert_eq!(run(ok, &[], Reduction::Mean, 0, None), Err(Error::Empty));
    assert_eq!(
        run(
            Rows::new(c, Targets::from(&[0u32][..])),
            &z,
            Reduction::Mean,
            6,
            None
        ),
        Err(Error::LengthMismatch {
            what: "targets",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        run(
            Rows::new(c, Targets::Probs(&[0.5; 5])),
            &z,
            Reduction::Mean,
            6,
            None
        ),
        Err(Error::LengthMismatch {
            what: "targets",
            expected: 6,
            found: 5
        })
    );
    assert_eq!(
        run(ok, &z, Reduction::Mean, 5, None),
        Err(Error::LengthMismatch {
            what: "grad",
            expected: 6,
            found: 5
        })
    );
    assert_eq!(
        run(ok, &z, Reduction::Mean, 6, Some(3)),
        Err(Error::LengthMismatch {
            what: "losses",
            expected: 2,
            found: 3
        })
    );
    assert_eq!(
        run(ok, &z, Reduction::MeanOverPositives, 6, None),
        Err(Error::InvalidParameter { name: "reduction" })
    );
    assert_eq!(
        run(ok, &z, Reduction::MeanOver(0.0), 6, None),
        Err(Error::InvalidParameter { name: "normalizer" })
    );
    assert_eq!(
        run(
            Rows::new(c, Targets::from(&[0u32, 3][..])),
            &z,
            Reduction::Mean,
            6,
            None
        ),
        Err(Error::LabelOutOfRange { at: At::Row(1) })
    );
    assert_eq!(
        run(
            Rows::new(c, Targets::from(&[5u16, 0][..])),
            &z,
            Reduction::Mean,
            6,
            None
        ),
        Err(Error::LabelOutOfRange { at: At::Row(0) })
    );
    for bad in cases::NON_FINITE {
        let mut zb = z;
        zb[4] = bad;
        assert_eq!(
            run(ok, &zb, Reduction::Mean, 6, None),
            Err(Error::NonFiniteInput { at: At::Row(1) })
        );
    }
    for bad in cases::BAD_TARGETS {
        let mut p = [0.2f32; 6];
        p[3] = bad;
        assert_eq!(
            run(
                Rows::new(c, Targets::Probs(&p)),
                &z,
                Reduction::Sum,
                6,
                None
            ),
            Err(Error::TargetOutOfRange { at: At::Row(1) })
        );
    }
    // Class weights: length and values, checked when attached.
    assert_eq!(
        ok.with_class_weights(&[1.0, 1.0]).unwrap_err(),
        Error::LengthMismatch {
            what: "class_weights",
            expected: 3,
            found: 2
        }
    );
    for bad in cases::BAD_WEIGHTS {
        assert_eq!(
            ok.with_class_weights(&[1.0, bad, 1.0]).unwrap_err(),
            Error::InvalidWeight { at: At::Class(1) }
        );
        // Row weights: values when attached, at the row.
        assert_eq!(
            ok.with_row_weights(&[1.0, bad]).unwrap_err(),
            Error::InvalidWeight { at: At::Row(1) }
        );
    }
    // Row weights and mask: lengths, checked against the logits' rows.
    assert_eq!(
        run(
            ok.with_row_weights(&[1.0]).unwrap(),
            &z,
            Reduction::Mean,
            6,
            None
        ),
        Err(Error::LengthMismatch {
            what: "row_weights",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        run(ok.with_ignore(&[false; 3]), &z, Reduction::Mean, 6, None),
        Err(Error::LengthMismatch {
            what: "ignore",
            expected: 2,
            found: 3
        })
    );
    // A masked row is not validated.
    let zbad = [0.5f32, 1.0, -1.0, f32::NAN, 0.0, 0.0];
    let yb = [0u32, 7];
    assert!(run(
        Rows::new(c, Targets::from(&yb[..])).with_ignore(&[false, true]),
        &zbad,
        Reduction::Mean,
        6,
        Some(2)
    )
    .is_ok());
    // Configuration.
    for g in cases::BAD_GAMMAS {
        assert_eq!(
            SoftmaxFocal::new(g).unwrap_err(),
            Error::InvalidParameter { name: "gamma" }
        );
    }
    for e in cases::BAD_SMOOTHING {
        assert_eq!(
            SoftmaxCe::new().with_smoothing(e).unwrap_err(),
            Error::InvalidParameter { name: "smoothing" }
        );
        assert_eq!(
            SoftmaxFocal::new(2.0)
                .unwrap()
                .with_smoothing(e)
                .unwrap_err(),
            Error::InvalidParameter { name: "smoothing" }
        );
    }
    // In place: logits untouched on error.
    let mut zi = z;
    zi[1] = f32::NAN;
    let before = zi;
    assert!(Rows::new(c, Targets::from(&y[..]))
        .loss_grad_in_place(&ce, &mut zi, Reduction::Sum, None)
        .is_err());
    assert_eq!(zi.map(f32::to_bits), before.map(f32::to_bits));
    // Loss only: scratch too short.
    let mut s = [0.0f32; 2];
    assert_eq!(
        ok.loss(&ce, &z, Reduction::Sum, &mut s),
        Err(Error::LengthMismatch {
            what: "scratch",
            expected: 3,
            found: 2
        })
    );
    // Per-row API.
    let mut g = [sentinel; 3];
    assert_eq!(
        ce.loss_grad_row(&z[..3], Target::Label(3), &mut g),
        Err(Error::LabelOutOfRange { at: At::Row(0) })
    );
    assert_eq!(
        ce.loss_grad_row(&z[..3], Target::Probs(&[0.5, 0.5]), &mut g),
        Err(Error::LengthMismatch {
            what: "targets",
            expected: 3,
            found: 2
        })
    );
    assert!(g.iter().all(|&v| v == sentinel));
}

// ---------------------------------------------------------------- properties

fn logits_strategy() -> impl Strategy<Value = (usize, Vec<f32>, u32)> {
    (2usize..40).prop_flat_map(|c| {
        (
            Just(c),
            prop::collection::vec(
                prop_oneof![-50.0f32..50.0, -1e4f32..1e4, Just(0.0f32), -1e30f32..1e30],
                c,
            ),
            0..c as u32,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn loss_nonnegative_and_grad_bounded(
        (c, z, t) in logits_strategy(),
        gamma in prop_oneof![Just(0.0f32), Just(2.0f32), 0.0f32..6.0],
        eps in prop_oneof![Just(0.0f32), 0.0f32..1.0],
        wt in 0.0f32..4.0,
    ) {
        let w: Vec<f32> = (0..c).map(|j| if j == t as usize { wt } else { 1.0 + (j % 3) as f32 }).collect();
        let fl = SoftmaxFocal::new(gamma).unwrap().with_smoothing(eps).unwrap();
        let mut g = vec![0.0; c];
        let l = Rows::new(c, Targets::from(&[t][..]))
            .with_class_weights(&w)
            .unwrap()
            .loss_grad(&fl, &z, Reduction::Sum, &mut g, None)
            .unwrap();
        prop_assert!(l >= 0.0 && !l.is_nan());
        let wmax = w.iter().cloned().fold(0.0f32, f32::max);
        // Σ_c |∂ℓ/∂z_c| ≤ 2 (1 + γ) Σ_c w_c y'_c ≤ 2 (1 + γ) w_max.
        let a: f32 = g.iter().map(|v| v.abs()).sum();
        prop_assert!(g.iter().all(|v| v.is_finite()));
        prop_assert!(a <= 2.0 * (1.0 + gamma) * wmax * (1.0 + 1e-5), "Σ|g| = {a}");
        if eps == 0.0 {
            let s: f32 = g.iter().sum();
            prop_assert!(s.abs() <= 1e-5 * a + 1e-30);
        }
    }

    #[test]
    fn shift_invariant(
        (c, z, t) in (2usize..40).prop_flat_map(|c| (Just(c), prop::collection::vec(-50.0f32..50.0, c), 0..c as u32)),
        shift in -100.0f32..100.0,
    ) {
        let zs: Vec<f32> = z.iter().map(|v| v + shift).collect();
        let ce = SoftmaxCe::new();
        let mut g1 = vec![0.0; c];
        let mut g2 = vec![0.0; c];
        let l1 = ce.loss_grad_row(&z, Target::Label(t), &mut g1).unwrap();
        let l2 = ce.loss_grad_row(&zs, Target::Label(t), &mut g2).unwrap();
        // Shifting rounds each logit by up to ulp(|z| + |shift|) / 2.
        let tol = 2e-4 * (1.0 + l1);
        prop_assert!((l1 - l2).abs() <= tol, "{l1} vs {l2}");
    }

    #[test]
    fn probability_onehot_equals_label((c, z, t) in logits_strategy(), gamma in 0.0f32..4.0) {
        let mut p = vec![0.0f32; c];
        p[t as usize] = 1.0;
        let fl = SoftmaxFocal::new(gamma).unwrap();
        let mut g1 = vec![0.0; c];
        let mut g2 = vec![0.0; c];
        let l1 = fl.loss_grad_row(&z, Target::Label(t), &mut g1).unwrap();
        let l2 = fl.loss_grad_row(&z, Target::Probs(&p), &mut g2).unwrap();
        prop_assert!((l1 - l2).abs() <= 1e-5 * l1 + 1e-37, "{l1} vs {l2}");
        for k in 0..c {
            prop_assert!((g1[k] - g2[k]).abs() <= 1e-5 * (1.0 + gamma), "{k}: {} vs {}", g1[k], g2[k]);
        }
    }

    #[test]
    fn extreme_valid_inputs_never_give_nan(
        c in 2usize..12,
        rows in 1usize..11,
        seed in any::<u64>(),
        gamma in prop_oneof![Just(0.0f32), Just(0.5), Just(2.0), Just(1e3), Just(tinyloss::MAX_GAMMA)],
        eps in prop_oneof![Just(0.0f32), Just(0.1), Just(1.0)],
        probs in any::<bool>(),
        red in prop_oneof![
            Just(Reduction::Sum),
            Just(Reduction::Mean),
            Just(Reduction::Sum),
            Just(Reduction::MeanOver(1e-45)),
            Just(Reduction::MeanOver(f32::MAX)),
        ],
    ) {
        // Finite but extreme logits, weights (0, subnormal, huge), targets.
        let mut rng = Rng(seed);
        let pick = |rng: &mut Rng, v: &[f32]| v[rng.below(v.len())];
        let zv = [f32::MAX, -f32::MAX, 1e30, -1e30, 0.0, 88.0, -104.0, 1.5];
        let wv = [0.0f32, 1e-40, 1.0, 1e30, f32::MAX];
        let z: Vec<f32> = (0..rows * c).map(|_| pick(&mut rng, &zv)).collect();
        let w: Vec<f32> = (0..c).map(|_| pick(&mut rng, &wv)).collect();
        let y: Vec<u32> = (0..rows).map(|_| rng.below(c) as u32).collect();
        let p: Vec<f32> = (0..rows * c).map(|_| pick(&mut rng, &[0.0, 1e-40, 0.5, 1.0])).collect();
        let targets = if probs { Targets::Probs(&p) } else { Targets::from(&y[..]) };
        let r = Rows::new(c, targets).with_class_weights(&w).unwrap();
        let fl = SoftmaxFocal::new(gamma).unwrap().with_smoothing(eps).unwrap();
        let mut g = vec![0.0; rows * c];
        let mut ls = vec![0.0; rows];
        let l = r.loss_grad(&fl, &z, red, &mut g, Some(&mut ls)).unwrap();
        prop_assert!(!l.is_nan(), "loss NaN");
        prop_assert!(ls.iter().all(|v| !v.is_nan()), "row loss NaN {ls:?}");
        prop_assert!(g.iter().all(|v| !v.is_nan()), "grad NaN {g:?}");
        let ce = SoftmaxCe::new().with_smoothing(eps).unwrap();
        let l = r.loss_grad(&ce, &z, red, &mut g, None).unwrap();
        prop_assert!(!l.is_nan() && g.iter().all(|v| !v.is_nan()));
    }
}

// ------------------------------------------------ row weights, mask, AnyLoss

/// Row weights only rescale (`Mean`'s normaliser is unchanged), a masked row
/// is an ignored row, and `AnyLoss` gives the bits of the loss it holds.
#[test]
fn row_weights_mask_and_any_loss() {
    let mut rng = Rng(77);
    for &c in &[3usize, 10, 40, 100] {
        let n = 37;
        let (z, y) = random_rows(&mut rng, n, c, 8.0);
        let cw: Vec<f32> = (0..c).map(|_| (0.25 + rng.f()) as f32).collect();
        let v: Vec<f32> = (0..n)
            .map(|r| {
                if r % 5 == 0 {
                    0.0
                } else {
                    (0.5 + 2.0 * rng.f()) as f32
                }
            })
            .collect();
        let mask: Vec<bool> = (0..n).map(|r| r % 7 == 3).collect();
        // The same rows with the masked ones given the ignore index.
        let yi: Vec<u32> = y
            .iter()
            .zip(&mask)
            .map(|(&t, &m)| if m { u32::MAX } else { t })
            .collect();
        let losses: [AnyLoss; 5] = [
            SoftmaxCe::new().into(),
            SoftmaxFocal::new(2.0).unwrap().into(),
            SoftmaxFocal::new(1.5)
                .unwrap()
                .with_smoothing(0.1)
                .unwrap()
                .into(),
            SoftmaxPoly1::new(-0.5).unwrap().into(),
            SoftmaxPoly1::IMAGENET.with_smoothing(0.1).unwrap().into(),
        ];
        for any in losses {
            let ig = any.with_ignore_index(u32::MAX);
            for red in [Reduction::Mean, Reduction::Sum, Reduction::MeanOver(3.0)] {
                let base = Rows::new(c, Targets::from(&y[..]))
                    .with_class_weights(&cw)
                    .unwrap();
                let masked = base.with_ignore(&mask);
                let by_index = Rows::new(c, Targets::from(&yi[..]))
                    .with_class_weights(&cw)
                    .unwrap();
                let (mut g1, mut g2) = (vec![0.0; n * c], vec![0.0; n * c]);
                let (mut l1, mut l2) = (vec![0.0; n], vec![0.0; n]);
                let a = masked
                    .loss_grad(&any, &z, red, &mut g1, Some(&mut l1))
                    .unwrap();
                let b = by_index
                    .loss_grad(&ig, &z, red, &mut g2, Some(&mut l2))
                    .unwrap();
                assert_eq!(
                    (a, &g1, &l1),
                    (b, &g2, &l2),
                    "mask = ignore index, C={c} {red:?}"
                );
                // AnyLoss = the loss it holds, bit for bit.
                let direct = match any {
                    AnyLoss::Ce(l) => masked.loss_grad(&l, &z, red, &mut g2, Some(&mut l2)),
                    AnyLoss::Focal(l) => masked.loss_grad(&l, &z, red, &mut g2, Some(&mut l2)),
                    AnyLoss::Poly1(l) => masked.loss_grad(&l, &z, red, &mut g2, Some(&mut l2)),
                    _ => unreachable!("a loss this test does not list"),
                }
                .unwrap();
                assert_eq!((a.to_bits(), &g1, &l1), (direct.to_bits(), &g2, &l2));
                // Row weights: v_r ℓ_r and v_r ∂ℓ_r, the normaliser unchanged.
                let weighted = masked.with_row_weights(&v).unwrap();
                let (mut g3, mut l3) = (vec![0.0; n * c], vec![0.0; n]);
                let w = weighted
                    .loss_grad(&any, &z, red, &mut g3, Some(&mut l3))
                    .unwrap();
                let want: f64 = (0..n).map(|r| v[r] as f64 * l1[r] as f64).sum::<f64>()
                    * (a as f64 / l1.iter().map(|&x| x as f64).sum::<f64>());
                assert!(
                    (w as f64 - want).abs() <= 1e-5 * want.abs() + 1e-30,
                    "C={c} {red:?}: {w} vs {want}"
                );
                for r in 0..n {
                    if v[r] == 0.0 {
                        assert_eq!(l3[r], 0.0);
                        assert!(g3[r * c..(r + 1) * c].iter().all(|&x| x == 0.0));
                    }
                    assert!((l3[r] - v[r] * l1[r]).abs() <= 1e-6 * l3[r].abs());
                    for k in 0..c {
                        let e = v[r] * g1[r * c + k];
                        assert!((g3[r * c + k] - e).abs() <= 1e-6 * e.abs() + 1e-37);
                    }
                }
                // In place and loss-only agree.
                let mut zg = z.clone();
                let ip = weighted
                    .loss_grad_in_place(&any, &mut zg, red, None)
                    .unwrap();
                assert_eq!((ip, &zg), (w, &g3));
                let mut scratch = vec![0.0; c];
                let lo = weighted.loss(&any, &z, red, &mut scratch).unwrap();
                assert!((lo - w).abs() <= 1e-6 * w.abs(), "{lo} vs {w}");
            }
            // Per-row method.
            let mut g = vec![0.0; c];
            let l = any
                .loss_grad_row(&z[..c], Target::Label(y[0]), &mut g)
                .unwrap();
            assert!(l > 0.0);
        }
    }
}
