//! The reduction and saturation rule at the valid extremes, for both
//! families: every case here gave a wrong, NaN or infinite answer in 0.1.
//!
//! * a mean whose exact value fits in f32 is returned within its bound even
//!   when the sum of the losses overflows f32;
//! * `MeanOver(d)` for any positive finite `d` (subnormal included) gives
//!   the exact value or saturates, for the loss and the gradient;
//! * an element with weight 0, and an ignored element or row, contributes
//!   exactly 0 and gets exactly 0 gradient;
//! * finite inputs give finite outputs on every path (probability inputs,
//!   huge `pos_weight`, class weights, probability rows that do not sum to 1);
//! * the class-weighted `Mean` returns the loss its gradient belongs to,
//!   even for tiny class weights;
//! * every accepted γ meets its bound (γ up to `MAX_GAMMA`), and
//!   `Rows::loss` agrees with `Rows::loss_grad`.

use tinyloss::softmax::{Rows, SoftmaxCe, SoftmaxFocal, Targets};
use tinyloss::{Batch, Error, Focal, Reduction, SigmoidCe, MAX_GAMMA};

use tinyloss_reference::binary::{focal_prob, sigmoid, softplus};
use tinyloss_reference::softmax::{row as softmax_row, RowTarget};
use tinyloss_reference::U;

/// `|got - want| ≤ bound · |want|`, with `want` rounded to f32 first when it
/// is beyond f32 (then `got` must be the saturated value).
fn close(got: f32, want: f64, bound: f64, what: &str) {
    assert!(got.is_finite(), "{what}: {got} is not finite");
    if want.abs() > f32::MAX as f64 {
        assert_eq!(got, f32::MAX.copysign(want as f32), "{what}: saturates");
        return;
    }
    let err = (got as f64 - want).abs();
    // Below f32's normal range a result carries one subnormal ULP.
    assert!(
        err <= bound * want.abs() + f32::from_bits(1) as f64,
        "{what}: {got} vs exact {want} ({:.1}u, bound {:.1}u)",
        err / (U * want.abs()),
        bound / U
    );
}

/// f64 softmax focal loss (γ = 0: CE) of one row with label `t` and class
/// weight `w_t`, and the gradient of `w_t ℓ` (the shared reference).
fn softmax_ref(z: &[f32], t: usize, gamma: f64, w_t: f64, g: &mut [f64]) -> f64 {
    let z: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    let l = softmax_row(&z, RowTarget::Label(t), None, 0.0, gamma, g);
    g.iter_mut().for_each(|v| *v *= w_t);
    w_t * l
}

/// Softmax CE (γ = 0) or focal loss with `gamma` on `rows`: the loss, the
/// gradient into `g`.
fn ce_or_focal(rows: &Rows<'_>, gamma: f32, z: &[f32], red: Reduction, g: &mut [f32]) -> f32 {
    if gamma == 0.0 {
        rows.loss_grad(&SoftmaxCe::new(), z, red, g, None)
    } else {
        rows.loss_grad(&SoftmaxFocal::new(gamma).unwrap(), z, red, g, None)
    }
    .unwrap()
}

/// Softmax CE over rows of 2 with class weights `w`, `Mean`: `(loss,
/// gradient, row losses)`.
fn class_weighted_mean_ce(z: &[f32], labels: &[u32], w: &[f32]) -> (f32, Vec<f32>, Vec<f32>) {
    let mut g = vec![0.0f32; z.len()];
    let mut ls = vec![0.0f32; labels.len()];
    let l = Rows::new(2, Targets::from(labels))
        .with_class_weights(w)
        .unwrap()
        .loss_grad(&SoftmaxCe::new(), z, Reduction::Mean, &mut g, Some(&mut ls))
        .unwrap();
    (l, g, ls)
}

#[test]
fn binary_mean_survives_an_overflowing_sum() {
    // The case: the sum is 6e38, the mean 1.5e38.
    let z = [3e38f32, 3e38, 0.0, 0.0];
    let y = [0.0f32; 4];
    let mut g = [0.0f32; 4];
    let l = Batch::new(&y)
        .loss_grad(&SigmoidCe::PLAIN, &z, Reduction::Mean, &mut g, None)
        .unwrap();
    let want = (2.0 * 3e38f32 as f64 + 2.0 * 2f64.ln()) / 4.0;
    close(l, want, 1e-6, "CE mean");
    // Long batches reach the SIMD blocks and the tail, weights and mask the
    // element-by-element validation, focal its own kernels.
    let n = 67;
    let z: Vec<f32> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                3.3e38
            } else {
                -2.0 + i as f32 * 0.1
            }
        })
        .collect();
    let y: Vec<f32> = (0..n)
        .map(|i| (i % 3 != 0 && i % 5 == 0) as u8 as f32)
        .collect();
    let w: Vec<f32> = (0..n).map(|i| 0.5 + (i % 4) as f32 * 0.5).collect();
    let ignore: Vec<bool> = (0..n).map(|i| i % 7 == 3).collect();
    let focal = Focal::new(2.0, None).unwrap();
    for weighted in [false, true] {
        let (mut sum, mut count) = (0.0f64, 0.0f64);
        for i in 0..n {
            if weighted && ignore[i] {
                continue;
            }
            let (zi, yi) = (z[i] as f64, y[i] as f64);
            let s = if yi == 1.0 { zi } else { -zi };
            let ce = softplus(-s);
            let l = sigmoid(-s).powi(2) * ce;
            sum += if weighted { w[i] as f64 * l } else { l };
            count += 1.0;
        }
        let b = if weighted {
            Batch::new(&y).with_weights(&w).with_ignore(&ignore)
        } else {
            Batch::new(&y)
        };
        let mut g = vec![0.0f32; n];
        let mut ls = vec![0.0f32; n];
        let l = b
            .loss_grad(&focal, &z, Reduction::Mean, &mut g, Some(&mut ls))
            .unwrap();
        close(
            l,
            sum / count,
            1e-6,
            &format!("focal mean, weighted {weighted}"),
        );
        let l2 = b.loss(&focal, &z, Reduction::Mean).unwrap();
        close(l2, sum / count, 1e-6, "focal mean, loss only");
        let l3 = b
            .loss_grad(&focal, &z, Reduction::Mean, &mut g, None)
            .unwrap();
        close(l3, sum / count, 1e-6, "focal mean, fast path");
        assert!(g.iter().chain(&ls).all(|v| v.is_finite()));
        // The sum itself is beyond f32: it saturates.
        assert_eq!(b.loss(&focal, &z, Reduction::Sum).unwrap(), f32::MAX);
    }
}

#[test]
fn softmax_mean_survives_an_overflowing_sum() {
    // Two rows with loss 2e38 each: sum 4e38, mean 2e38; class weights
    // that put a weighted row loss beyond f32::MAX cancel under `Mean`.
    let z = [2e38f32, 0.0, 2e38, 0.0, 0.0, 1.0];
    let labels = [1u32, 1, 0];
    let mut g = [0.0f32; 6];
    let mut gr = [0.0f64; 2];
    let want: f64 = (0..3)
        .map(|r| softmax_ref(&z[2 * r..2 * r + 2], labels[r] as usize, 0.0, 1.0, &mut gr))
        .sum::<f64>()
        / 3.0;
    for w in [
        None,
        Some([1.0f32, 1.0]),
        Some([1.78, 1.78]),
        Some([1e38, 1e38]),
    ] {
        let mut rows = Rows::new(2, Targets::from(&labels[..]));
        if let Some(w) = &w {
            rows = rows.with_class_weights(w).unwrap();
        }
        let l = rows
            .loss_grad(&SoftmaxCe::new(), &z, Reduction::Mean, &mut g, None)
            .unwrap();
        close(l, want, 1e-6, "softmax CE mean");
        let mut scratch = [0.0f32; 2];
        let l2 = rows
            .loss(&SoftmaxCe::new(), &z, Reduction::Mean, &mut scratch)
            .unwrap();
        close(l2, want, 1e-6, "softmax CE mean, loss only");
        assert!(g.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn mean_over_subnormal_normaliser_is_exact_or_saturates() {
    for d in [1e-45f32, 1e-41, 3e-39, 1e-30] {
        // Binary: the case, one CE element at z = -20, y = 0.
        let mut g = [0.0f32];
        let l = Batch::new(&[0.0])
            .loss_grad(
                &SigmoidCe::PLAIN,
                &[-20.0],
                Reduction::MeanOver(d),
                &mut g,
                None,
            )
            .unwrap();
        close(l, softplus(-20.0) / d as f64, 16.0 * U, "binary loss");
        close(g[0], sigmoid(-20.0) / d as f64, 16.0 * U, "binary gradient");
        // Softmax: a confident row.
        let z = [20.0f32, 0.0];
        let mut gs = [0.0f32; 2];
        let mut gr = [0.0f64; 2];
        let want = softmax_ref(&z, 0, 0.0, 1.0, &mut gr) / d as f64;
        let l = Rows::new(2, Targets::from(&[0u32][..]))
            .loss_grad(&SoftmaxCe::new(), &z, Reduction::MeanOver(d), &mut gs, None)
            .unwrap();
        close(l, want, 16.0 * U, "softmax loss");
        for k in 0..2 {
            close(gs[k], gr[k] / d as f64, 16.0 * U, "softmax gradient");
        }
    }
}

#[test]
fn zero_weight_and_ignored_elements_are_exact_zeros() {
    // The case: a clamped probability of 1e-7 against w⁺ = 1e38.
    let huge = SigmoidCe::PLAIN.with_pos_weight(1e38).unwrap();
    let (p, y) = ([0.0f32, 0.3], [1.0f32, 1.0]);
    let mut g = [9.0f32; 2];
    let mut ls = [9.0f32; 2];
    for red in [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(1e-3)] {
        let l = Batch::new(&y)
            .with_probabilities()
            .with_weights(&[0.0, 0.0])
            .loss_grad(&huge, &p, red, &mut g, Some(&mut ls))
            .unwrap();
        assert_eq!((l, g, ls), (0.0, [0.0; 2], [0.0; 2]), "{red:?}");
        let l = Batch::new(&y)
            .with_probabilities()
            .with_ignore(&[true, false])
            .loss_grad(&huge, &p, red, &mut g, Some(&mut ls))
            .unwrap();
        assert!(l.is_finite() && g[1].is_finite() && ls[1].is_finite());
        assert_eq!((g[0], ls[0]), (0.0, 0.0), "{red:?}");
    }
    // Logits near f32::MAX next to a zero weight.
    let z = [f32::MAX, -f32::MAX, 1.0];
    let mut g = [9.0f32; 3];
    let l = Batch::new(&[0.0, 1.0, 1.0])
        .with_weights(&[0.0, 0.0, 1.0])
        .loss_grad(&huge, &z, Reduction::Sum, &mut g, None)
        .unwrap();
    close(l, 1e38 * softplus(-1.0), 16.0 * U, "the kept element");
    assert_eq!(&g[..2], &[0.0, 0.0]);
    // Softmax: a class of weight 0 whose row loss would saturate.
    let z = [3e38f32, -3e38, 0.0, 1.0];
    let mut g = [9.0f32; 4];
    let mut ls = [9.0f32; 2];
    let l = Rows::new(2, Targets::from(&[1u32, 0][..]))
        .with_class_weights(&[1.0, 0.0])
        .unwrap()
        .loss_grad(
            &SoftmaxFocal::new(0.5).unwrap(),
            &z,
            Reduction::Sum,
            &mut g,
            Some(&mut ls),
        )
        .unwrap();
    assert_eq!((ls[0], g[0], g[1]), (0.0, 0.0, 0.0));
    assert!(l.is_finite() && ls[1] == l && g[2..].iter().all(|v| v.is_finite()));
}

#[test]
fn finite_inputs_give_finite_outputs_on_every_path() {
    // Probability inputs with a huge w⁺, no weights: saturated, not ±∞.
    for pw in [1e31f32, 1e38, f32::MAX] {
        let bce = SigmoidCe::PLAIN
            .with_pos_weight(pw)
            .unwrap()
            .with_smoothing(0.1)
            .unwrap();
        let p = [0.0f32, 1e-9, 0.5, 1.0];
        let y = [1.0f32, 1.0, 0.0, 0.7];
        let mut g = [0.0f32; 4];
        let mut ls = [0.0f32; 4];
        for red in [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(1e-45)] {
            let l = Batch::new(&y)
                .with_probabilities()
                .loss_grad(&bce, &p, red, &mut g, Some(&mut ls))
                .unwrap();
            assert!(l.is_finite(), "w⁺ {pw} {red:?}: loss {l}");
            assert!(g.iter().chain(&ls).all(|v| v.is_finite()), "{g:?} {ls:?}");
        }
        let mut one = [0.0f32; 1];
        let l = Batch::new(&[1.0])
            .loss_grad(&bce, &[-f32::MAX], Reduction::Sum, &mut one, None)
            .unwrap();
        assert!(l.is_finite() && one[0].is_finite());
    }
    // Softmax probability rows that do not sum to 1, huge class weights,
    // logits spanning more than f32::MAX.
    let c = 3;
    let z = [f32::MAX, -f32::MAX, 0.0, 1e30, -1e30, 5.0];
    let y = [1.0f32, 1.0, 1.0, 0.0, 1e-40, 0.5];
    let w = [f32::MAX, 1.0, 1e30];
    let ce = SoftmaxCe::new().with_smoothing(0.1).unwrap();
    let focal = SoftmaxFocal::new(1.5).unwrap().with_smoothing(0.1).unwrap();
    for red in [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(1e-45)] {
        let rows = Rows::new(c, Targets::Probs(&y))
            .with_class_weights(&w)
            .unwrap();
        let mut g = [0.0f32; 6];
        let mut ls = [0.0f32; 2];
        let a = rows.loss_grad(&ce, &z, red, &mut g, Some(&mut ls)).unwrap();
        assert!(
            a.is_finite() && g.iter().chain(&ls).all(|v| v.is_finite()),
            "{red:?}"
        );
        let b = rows
            .loss_grad(&focal, &z, red, &mut g, Some(&mut ls))
            .unwrap();
        assert!(
            b.is_finite() && g.iter().chain(&ls).all(|v| v.is_finite()),
            "{red:?}"
        );
        let rows = Rows::new(c, Targets::from(&[0u32, 1][..]))
            .with_class_weights(&w)
            .unwrap();
        let l = rows
            .loss_grad(&focal, &z, red, &mut g, Some(&mut ls))
            .unwrap();
        assert!(
            l.is_finite() && g.iter().chain(&ls).all(|v| v.is_finite()),
            "{red:?}"
        );
    }
}

#[test]
fn class_weighted_mean_returns_the_loss_of_its_gradient() {
    // The case: weights of 1e-45 cancel exactly under `Mean`.
    for (w, labels) in [
        ([1e-45f32, 1e-45], [0u32, 0]),
        ([1e30, 1e-30], [1, 1]),
        ([3e-39, 2.0], [0, 1]),
        ([f32::MAX, f32::MAX], [0, 1]),
    ] {
        let z = [0.0f32, 0.0, 1.5, -0.5];
        let (l, g, ls) = class_weighted_mean_ce(&z, &labels, &w);
        let (mut num, mut den) = (0.0f64, 0.0f64);
        let mut gr = [[0.0f64; 2]; 2];
        for r in 0..2 {
            let t = labels[r] as usize;
            let wt = w[t] as f64;
            num += softmax_ref(&z[2 * r..2 * r + 2], t, 0.0, wt, &mut gr[r]);
            den += wt;
            // The per-row losses are the weighted ones, unscaled.
            close(
                ls[r],
                softmax_ref(&z[2 * r..2 * r + 2], t, 0.0, wt, &mut [0.0; 2]),
                16.0 * U,
                "row loss",
            );
        }
        close(l, num / den, 32.0 * U, "weighted mean");
        for r in 0..2 {
            for k in 0..2 {
                close(
                    g[2 * r + k],
                    gr[r][k] / den,
                    32.0 * U,
                    "weighted mean gradient",
                );
            }
        }
    }
}

/// The softmax focal loss bound for losses ≥ 1e-3: `32u` up to γ = 5 (the
/// crate's table), `(17 + 3γ)u` beyond, as `exp(γ ln u)` carries `γ |ln u|`
/// times the rounding of `ln u`.
fn sf_bound(gamma: f32) -> f64 {
    (17.0 + 3.0 * gamma as f64).max(32.0) * U
}

#[test]
fn gamma_is_accepted_up_to_max_gamma_with_its_bound() {
    for bad in [1e9f32, 1e30, f32::MAX, MAX_GAMMA * 1.001, -1e-45] {
        let e = Error::InvalidParameter { name: "gamma" };
        assert_eq!(SoftmaxFocal::new(bad).err(), Some(e));
        assert_eq!(Focal::new(bad, None).err(), Some(e));
    }
    assert!(Focal::new(MAX_GAMMA, Some(0.25)).is_ok());
    assert_eq!(MAX_GAMMA, tinyloss_reference::cases::MAX_GAMMA);
    // Rows where (1 - p_t)^γ is far from 0 at large γ: p_t from 1e-7 to 1e-3.
    let c = 4;
    let mut z = Vec::new();
    let mut labels = Vec::new();
    for (i, d) in [16.0f32, 12.0, 9.0, 7.0, 3.0].iter().enumerate() {
        z.extend_from_slice(&[0.0, -*d, 0.5, -1.0]);
        labels.push(if i % 2 == 0 { 1u32 } else { 3 });
    }
    let rows = z.len() / c;
    for gamma in [5.0f32, 20.5, 100.0, 999.5, MAX_GAMMA] {
        let fl = SoftmaxFocal::new(gamma).unwrap();
        let mut g = vec![0.0f32; z.len()];
        let mut ls = vec![0.0f32; rows];
        let r = Rows::new(c, Targets::from(&labels[..]));
        let l = r
            .loss_grad(&fl, &z, Reduction::Sum, &mut g, Some(&mut ls))
            .unwrap();
        let mut scratch = [0.0f32; 4];
        let l_only = r.loss(&fl, &z, Reduction::Sum, &mut scratch).unwrap();
        let mut want = 0.0;
        for row in 0..rows {
            let mut gr = [0.0f64; 4];
            let t = labels[row] as usize;
            let lr = softmax_ref(&z[row * c..(row + 1) * c], t, gamma as f64, 1.0, &mut gr);
            want += lr;
            if lr > 1e-30 {
                // The softmax focal bound at γ for the loss.
                close(ls[row], lr, sf_bound(gamma), "row loss");
            }
            for k in 0..c {
                let err = (g[row * c + k] as f64 - gr[k]).abs();
                let bound = 32.0 * U * (1.0 + gamma as f64);
                assert!(
                    err <= bound,
                    "γ={gamma} row {row} class {k}: {err:e} > {bound:e}"
                );
            }
        }
        close(l, want, sf_bound(gamma), "sum");
        close(l_only, want, sf_bound(gamma), "loss only");
    }
}

/// Probability inputs with label smoothing: every option combination is in
/// the bound sweep (loss `(16 + 3γ)u` relative, gradient `(16 + 3γ)u` of
/// `max(|g|, 1)`, as the other probability variants).
#[test]
fn probability_inputs_with_smoothing_meet_the_bound() {
    let mut worst: (f64, f64) = (0.0, 0.0);
    for &gamma in &[0.0f32, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0] {
        for &alpha in &[None, Some(0.25f32), Some(0.99)] {
            for &eps in &[0.01f32, 0.1, 0.5, 1.0] {
                let f = Focal::new(gamma, alpha)
                    .unwrap()
                    .with_smoothing(eps)
                    .unwrap();
                for k in 0..=400 {
                    let p = if k < 200 {
                        10f32.powf(-8.0 + k as f32 * 0.04)
                    } else {
                        1.0 - 10f32.powf(-8.0 + (k - 200) as f32 * 0.04)
                    }
                    .clamp(0.0, 1.0);
                    for &y in &[0.0f32, 1.0, 0.3, 0.95] {
                        let r = f.loss_grad_prob(p, y).unwrap();
                        let g64 = gamma as f64;
                        let (loss, grad) =
                            focal_prob(p as f64, y as f64, g64, alpha.map(f64::from), eps as f64);
                        let bound = (16.0 + 3.0 * g64) * U;
                        let el = (r.loss as f64 - loss).abs()
                            / (loss.abs().max(f32::MIN_POSITIVE as f64));
                        let eg = (r.grad as f64 - grad).abs() / grad.abs().max(1.0);
                        worst = (worst.0.max(el / U), worst.1.max(eg / U));
                        assert!(
                            el <= bound,
                            "loss γ={gamma} α={alpha:?} ε={eps} p={p} y={y}: {} vs {loss} ({:.1}u)",
                            r.loss,
                            el / U
                        );
                        assert!(
                            eg <= bound,
                            "grad γ={gamma} α={alpha:?} ε={eps} p={p} y={y}: {} vs {grad} ({:.1}u)",
                            r.grad,
                            eg / U
                        );
                    }
                }
            }
        }
    }
    eprintln!(
        "probability inputs with smoothing: worst loss {:.1}u, gradient {:.1}u",
        worst.0, worst.1
    );
}

/// Fuzz finding: with smoothing, a class-weighted `Mean` scaled the class
/// weights by the largest *target* weight (2^126 for a target weight of
/// 1e-42), which took the other classes' weights (1) past f32::MAX: the
/// per-row loss came out as 3.4e38 instead of ≈ 959. The scale now comes from
/// every weight that enters a row loss. Siblings: focal with smoothing,
/// gradient into a buffer or in place, every label width, a target weight far
/// above the others, and the mean, which must saturate (its exact value
/// Σ ℓ / Σ w_t is 9.6e44).
#[test]
fn smoothed_class_weighted_mean_keeps_row_losses() {
    let c = 6;
    let z = [0.0f32, 0.0, 0.0, 0.0, 14390.0, 1.0];
    let zd: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    for w in [
        [1e-42f32, 1.0, 1.0, 1.0, 1.0, 1.0],
        [1e-30, 1e30, 1.0, 1.0, 1.0, 1.0],
        [f32::MAX, 1e-40, 1.0, 1.0, 1.0, 1.0],
        [1.0; 6],
    ] {
        let wd: Vec<f64> = w.iter().map(|&v| v as f64).collect();
        for (gamma, eps) in [(0.0, 0.1), (2.0, 0.1), (1.5, 0.01), (0.0, 1.0)] {
            let want_row = tinyloss_reference::softmax::row_loss(
                &zd,
                RowTarget::Label(0),
                Some(&wd),
                eps,
                gamma,
            );
            let want_mean = want_row / w[0] as f64;
            let fl = SoftmaxFocal::new(gamma as f32)
                .unwrap()
                .with_smoothing(eps as f32)
                .unwrap()
                .with_ignore_index(u32::MAX);
            let ce = SoftmaxCe::new()
                .with_smoothing(eps as f32)
                .unwrap()
                .with_ignore_index(u32::MAX);
            let labels8 = [0u8];
            let labels16 = [0u16];
            let labels32 = [0u32];
            for t in [
                Targets::from(&labels8[..]),
                Targets::from(&labels16[..]),
                Targets::from(&labels32[..]),
            ] {
                let rows = Rows::new(c, t).with_class_weights(&w).unwrap();
                let mut ls = [0.0f32; 1];
                let mut zg = z;
                let what = format!("w={w:?} γ={gamma} ε={eps}");
                let l = if gamma == 0.0 {
                    rows.loss_grad_in_place(&ce, &mut zg, Reduction::Mean, Some(&mut ls))
                } else {
                    rows.loss_grad_in_place(&fl, &mut zg, Reduction::Mean, Some(&mut ls))
                }
                .unwrap();
                close(
                    ls[0],
                    want_row,
                    256.0 * U,
                    &format!("row loss, in place, {what}"),
                );
                close(l, want_mean, 256.0 * U, &format!("mean, {what}"));
                assert!(zg.iter().all(|g| g.is_finite()), "{what}: {zg:?}");
                let mut g = [0.0f32; 6];
                let l2 = if gamma == 0.0 {
                    rows.loss_grad(&ce, &z, Reduction::Mean, &mut g, Some(&mut ls))
                } else {
                    rows.loss_grad(&fl, &z, Reduction::Mean, &mut g, Some(&mut ls))
                }
                .unwrap();
                assert_eq!((l2, g), (l, zg), "{what}: buffer = in place");
                close(ls[0], want_row, 256.0 * U, &format!("row loss, {what}"));
            }
        }
    }
}

/// Fuzz finding: a row spanning more than f32::MAX (`z = [-MAX, MAX]`) has
/// `CE_0 = 2·MAX`, beyond f32, but a row loss `k_0 CE_0` that fits when the
/// target mass is below 1/2: `d` was clamped at `-MAX`, so the loss came out
/// halved (7.47e37 instead of 1.49e38 for probability targets 0.2196, focal
/// γ = 3). `CE` is now taken from `d/2`. Labels with a class weight below
/// 1/2 had the same gap.
#[test]
fn rows_spanning_beyond_f32_keep_their_loss() {
    let z = [-f32::MAX, f32::MAX, f32::MAX, -f32::MAX];
    let zd: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    let p = [0.219_607_84f32, 0.219_607_84, 0.3, 0.0];
    let w = [0.3f32, 1.0];
    let wd = [0.3f64, 1.0];
    for gamma in [0.0f32, 1.0, 3.0, 0.5] {
        let fl = SoftmaxFocal::new(gamma).unwrap();
        let pd: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        // Probability targets.
        let mut ls = [0.0f32; 2];
        let mut g = [0.0f32; 4];
        let l = Rows::new(2, Targets::Probs(&p))
            .loss_grad(&fl, &z, Reduction::Sum, &mut g, Some(&mut ls))
            .unwrap();
        let mut want = 0.0;
        for r in 0..2 {
            let wr = tinyloss_reference::softmax::row_loss(
                &zd[2 * r..2 * r + 2],
                RowTarget::Probs(&pd[2 * r..2 * r + 2]),
                None,
                0.0,
                gamma as f64,
            );
            close(ls[r], wr, 256.0 * U, &format!("probs row {r}, γ={gamma}"));
            want += wr;
        }
        close(l, want, 256.0 * U, &format!("probs sum, γ={gamma}"));
        // Labels, class weight 0.3 on the far class.
        let labels = [0u32, 1];
        let l = Rows::new(2, Targets::from(&labels[..]))
            .with_class_weights(&w)
            .unwrap()
            .loss_grad(&fl, &z, Reduction::Sum, &mut g, Some(&mut ls))
            .unwrap();
        let w0 = tinyloss_reference::softmax::row_loss(
            &zd[..2],
            RowTarget::Label(0),
            Some(&wd),
            0.0,
            gamma as f64,
        );
        close(ls[0], w0, 256.0 * U, &format!("label row, γ={gamma}"));
        assert_eq!(ls[1], f32::MAX, "row 1's exact loss 2·MAX saturates");
        assert_eq!(l, f32::MAX);
        assert!(g.iter().all(|v| v.is_finite()));
        // A row loss beyond f32 whose mean fits (second fuzz finding: the
        // mean came out as MAX / 7 instead of 1.76 MAX / 7): the row's half
        // enters the overflow-safe total.
        let w1 = [1.0f32, 1.0];
        for (red, d) in [
            (Reduction::MeanOver(4.0), 4.0),
            (Reduction::MeanOver(1e30), 1e30),
        ] {
            let l = Rows::new(2, Targets::from(&labels[..1]))
                .with_class_weights(&w1)
                .unwrap()
                .loss_grad(&fl, &z[..2], red, &mut g[..2], Some(&mut ls[..1]))
                .unwrap();
            let exact = tinyloss_reference::softmax::row_loss(
                &zd[..2],
                RowTarget::Label(0),
                None,
                0.0,
                gamma as f64,
            );
            assert_eq!(ls[0], f32::MAX, "the row loss itself saturates");
            close(
                l,
                exact / d,
                256.0 * U,
                &format!("label mean of a row beyond f32, γ={gamma}"),
            );
        }
    }
    let c = 12;
    let mut z = [-2.296_667_8e-28f32; 12];
    z[8..].fill(f32::MAX);
    let zd: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    let p = [0.219_607_84f32; 12];
    let pd: Vec<f64> = p.iter().map(|&v| v as f64).collect();
    for gamma in [0.0f32, 2.0, 0.5] {
        let fl = SoftmaxFocal::new(gamma).unwrap();
        let ce = SoftmaxCe::new();
        let exact = tinyloss_reference::softmax::row_loss(
            &zd,
            RowTarget::Probs(&pd),
            None,
            0.0,
            gamma as f64,
        );
        let mut g = [0.0f32; 12];
        let mut ls = [0.0f32; 1];
        let rows = Rows::new(c, Targets::Probs(&p));
        let l = if gamma == 0.0 {
            rows.loss_grad(&ce, &z, Reduction::MeanOver(7.0), &mut g, Some(&mut ls))
        } else {
            rows.loss_grad(&fl, &z, Reduction::MeanOver(7.0), &mut g, Some(&mut ls))
        }
        .unwrap();
        assert_eq!(ls[0], f32::MAX);
        close(
            l,
            exact / 7.0,
            256.0 * U,
            &format!("probs mean of a row beyond f32, γ={gamma}"),
        );
        // With row weights: the weighted row's half enters the total too.
        let l2 = rows
            .with_row_weights(&[0.25])
            .unwrap()
            .loss_grad(&fl, &z, Reduction::Sum, &mut g, Some(&mut ls))
            .unwrap();
        close(
            l2,
            0.25 * exact,
            256.0 * U,
            &format!("row-weighted row beyond f32, γ={gamma}"),
        );
    }
}

/// Fuzz finding (`crash-subnormal-class-weight`): with smoothing, subnormal
/// class weights made the weighted smoothed targets `w_c y'_c` round on
/// f32's subnormal grid under `Sum` and `MeanOver(d)`: about 0.8% off once a
/// row weight or a tiny `d` brings the result back into the normal range.
/// Only `Mean` scaled the class weights by a power of two; every reduction
/// now does, and undoes it exactly in its final scale. Huge class weights
/// (near `f32::MAX`) saturate or meet the bound. Every output mode, label
/// and probability targets, CE and focal, hard and smoothed, with and
/// without row weights.
#[test]
fn class_weight_scale_cancels_under_sum_and_mean_over() {
    let c = 6;
    let n = 5;
    let z: Vec<f32> = (0..n * c)
        .map(|i| (i as f32 * 0.77).sin() * 3.0 + (i % c) as f32 * 0.25)
        .collect();
    let zd: Vec<f64> = z.iter().map(|&v| v as f64).collect();
    let labels = [0u32, 3, 5, 1, 0];
    let probs: Vec<f32> = (0..n * c)
        .map(|i| [0.5f32, 0.25, 0.0, 0.125, 0.125, 0.0][(i + i / c) % c])
        .collect();
    let probsd: Vec<f64> = probs.iter().map(|&v| v as f64).collect();
    let tiny = [1e-42f32, 3e-41, 1e-42, 7e-43, 2e-42, 1e-40];
    let huge = [f32::MAX, 3e38, 1.0, 2e38, 1e-3, f32::MAX];
    let cases: Vec<([f32; 6], Reduction)> = vec![
        (tiny, Reduction::Sum),
        (tiny, Reduction::MeanOver(1e-40)),
        (tiny, Reduction::MeanOver(3e-44)),
        (tiny, Reduction::MeanOver(1e-30)),
        (tiny, Reduction::MeanOver(2.5)),
        (tiny, Reduction::MeanOver(1e38)),
        (huge, Reduction::Sum),
        (huge, Reduction::MeanOver(3.0)),
        (huge, Reduction::MeanOver(1e-20)),
        // Weights 2^141 apart: the largest is ordinary (no scale, the bits
        // of before), so the tiny target weight keeps f32's subnormal grid
        // in its row's gradient (as any scale would leave it, and as under
        // `Mean`), and so would a row weight that brings its loss into the
        // normal range; the losses without row weights meet the bound.
        ([1e-42, 1.0, 1.0, 1.0, 1.0, 2.0], Reduction::MeanOver(1e-3)),
    ];
    let vs = [1e30f32, 1.0, 0.5, 3e35, 2.0];
    for (w, red) in cases {
        let wd: Vec<f64> = w.iter().map(|&v| v as f64).collect();
        let d = match red {
            Reduction::MeanOver(d) => d as f64,
            _ => 1.0,
        };
        let check_grad = w[0] > 1e-42 || w[5] < 1.0;
        for (gamma, eps) in [(0.0f32, 0.1f32), (2.0, 0.1), (0.0, 0.0), (2.0, 0.0)] {
            let bound = if gamma == 0.0 { 96.0 } else { 256.0 } * U;
            for (probs_target, row_weights) in
                [(false, false), (true, false), (false, true), (true, true)]
            {
                if row_weights && !check_grad {
                    continue;
                }
                // The f64 reference: row losses, the reduced loss, the gradient.
                let mut want_rows = vec![0.0f64; n];
                let mut want_g = vec![0.0f64; n * c];
                for r in 0..n {
                    let t = if probs_target {
                        RowTarget::Probs(&probsd[r * c..(r + 1) * c])
                    } else {
                        RowTarget::Label(labels[r] as usize)
                    };
                    let v = if row_weights { vs[r] as f64 } else { 1.0 };
                    let g = &mut want_g[r * c..(r + 1) * c];
                    want_rows[r] = v * tinyloss_reference::softmax::row(
                        &zd[r * c..(r + 1) * c],
                        t,
                        Some(&wd),
                        eps as f64,
                        gamma as f64,
                        g,
                    );
                    g.iter_mut().for_each(|x| *x *= v / d);
                }
                let want: f64 = want_rows.iter().sum::<f64>() / d;
                let targets = if probs_target {
                    Targets::Probs(&probs)
                } else {
                    Targets::from(&labels[..])
                };
                let mut rows = Rows::new(c, targets).with_class_weights(&w).unwrap();
                if row_weights {
                    rows = rows.with_row_weights(&vs).unwrap();
                }
                let fl = SoftmaxFocal::new(gamma)
                    .unwrap()
                    .with_smoothing(eps)
                    .unwrap();
                let ce = SoftmaxCe::new().with_smoothing(eps).unwrap();
                let what = format!(
                    "w={w:?} {red:?} γ={gamma} ε={eps} probs={probs_target} rows={row_weights}"
                );
                let mut g = vec![0.0f32; n * c];
                let mut ls = vec![0.0f32; n];
                let l = if gamma == 0.0 {
                    rows.loss_grad(&ce, &z, red, &mut g, Some(&mut ls))
                } else {
                    rows.loss_grad(&fl, &z, red, &mut g, Some(&mut ls))
                }
                .unwrap();
                close(l, want, bound, &format!("reduced loss, {what}"));
                for r in 0..n {
                    // The per-row losses: the bound, or the table's 1e-37
                    // absolute floor.
                    let want_r = want_rows[r];
                    if want_r > f32::MAX as f64 {
                        assert_eq!(ls[r], f32::MAX, "row {r} loss saturates: {what}");
                    } else {
                        let err = (ls[r] as f64 - want_r).abs();
                        assert!(
                            err <= bound * want_r || err <= 1e-37,
                            "row {r} loss {:e} vs exact {want_r:e} ({:.1}u): {what}",
                            ls[r],
                            err / (U * want_r)
                        );
                    }
                    // The gradient bound is relative to the row's largest
                    // entry (the crate's `K · scale`).
                    let gmax = want_g[r * c..(r + 1) * c]
                        .iter()
                        .fold(0.0f64, |m, v| m.max(v.abs()));
                    for j in 0..c {
                        let want = want_g[r * c + j];
                        let got = g[r * c + j];
                        assert!(got.is_finite(), "grad {r},{j} {got}: {what}");
                        if gmax > f32::MAX as f64 || !check_grad {
                            // A row whose scale is beyond f32: saturated
                            // entries.
                            continue;
                        }
                        let err = (got as f64 - want).abs();
                        assert!(
                            err <= bound * gmax + f32::from_bits(1) as f64,
                            "grad {r},{j}: {got:e} vs exact {want:e} (row max {gmax:e}): {what}"
                        );
                    }
                }
                let mut zg = z.clone();
                let l2 = if gamma == 0.0 {
                    rows.loss_grad_in_place(&ce, &mut zg, red, None)
                } else {
                    rows.loss_grad_in_place(&fl, &mut zg, red, None)
                }
                .unwrap();
                assert_eq!(l2.to_bits(), l.to_bits(), "in place: {what}");
                assert_eq!(zg, g, "in place gradient: {what}");
                let mut scratch = [0.0f32; 6];
                let l3 = if gamma == 0.0 {
                    rows.loss(&ce, &z, red, &mut scratch)
                } else {
                    rows.loss(&fl, &z, red, &mut scratch)
                }
                .unwrap();
                assert_eq!(l3.to_bits(), l.to_bits(), "loss only: {what}");
            }
        }
    }
}

/// Soft targets where the modulating factor `m^γ` leaves f32's normal range
/// while `CE` grows like `|z|` (a target mass `y` on the far side of a huge
/// logit): the loss `m^γ · CE` is formed without a subnormal (or flushed)
/// intermediate, so it keeps the soft-target bound down to f32's normal
/// floor. Per element and through the batch's SIMD lanes.
#[test]
fn tiny_modulating_factors_keep_their_loss() {
    use tinyloss_reference::binary::focal as focal_ref;
    use tinyloss_reference::bounds::{FOCAL_GRAD_SOFT, FOCAL_LOSS_SOFT, GRAD_FLOOR};
    use tinyloss_reference::measure::{rel_err, LOSS_FLOOR};
    let small = [1e-40f32, 2e-38, 1e-20, 1e-12, 1e-6, 1e-3, 0.128_603_04];
    let mags = [10.0f32, 100.0, 4869.0, 1e4, 1e8, 1e20, 1e30, f32::MAX];
    let mut z = Vec::new();
    let mut y = Vec::new();
    for &s in &small {
        for &m in &mags {
            // Mass s on the far side of -m (y = s) and of +m (y = 1 - s).
            z.extend_from_slice(&[-m, m]);
            y.extend_from_slice(&[s, 1.0 - s]);
        }
    }
    for gamma in [0.5f32, 1.0, 2.0, 3.0, 8.0, 9.5, 46.953_125, 200.0] {
        let f = Focal::new(gamma, None).unwrap();
        let (lb, gb) = (
            FOCAL_LOSS_SOFT.at(gamma as f64),
            FOCAL_GRAD_SOFT.at(gamma as f64),
        );
        let mut grad = vec![0.0f32; z.len()];
        let mut losses = vec![0.0f32; z.len()];
        Batch::new(&y)
            .loss_grad(&f, &z, Reduction::Sum, &mut grad, Some(&mut losses))
            .unwrap();
        for i in 0..z.len() {
            let (l, d) = focal_ref(z[i] as f64, y[i] as f64, gamma as f64, None, 0.0);
            let r = f.loss_grad(z[i], y[i]).unwrap();
            let at = (gamma, z[i], y[i]);
            for (got, what) in [(r.loss, "element"), (losses[i], "batch")] {
                let e = rel_err(got, l, LOSS_FLOOR);
                assert!(
                    e <= lb,
                    "{what} loss {got:e} vs {l:e}: {e:.1} u > {lb} u at {at:?}"
                );
            }
            for (got, what) in [(r.grad, "element"), (grad[i], "batch")] {
                let e = rel_err(got, d, GRAD_FLOOR);
                assert!(
                    e <= gb,
                    "{what} grad {got:e} vs {d:e}: {e:.1} u > {gb} u at {at:?}"
                );
            }
        }
    }
}

/// Probability inputs at large γ where `γ ln m` is in the tens or hundreds:
/// `ln m` is carried unrounded into `m^γ`, so the error grows with γ as the
/// bound says, not with `γ |ln m|`.
#[test]
fn probability_inputs_at_large_gamma_meet_the_bound() {
    use tinyloss_reference::bounds::{PROB_GRAD, PROB_LOSS};
    use tinyloss_reference::measure::{rel_err, LOSS_FLOOR};
    for gamma in [3.5f32, 9.0, 46.953_125, 200.0, MAX_GAMMA] {
        let f = Focal::new(gamma, Some(0.25)).unwrap();
        let (lb, gb) = (PROB_LOSS.at(gamma as f64), PROB_GRAD.at(gamma as f64));
        let mut p = 1e-7f64;
        while p < 1.0 {
            for y in [0.0f32, 1.0, 0.3] {
                let pf = p as f32;
                let r = f.loss_grad_prob(pf, y).unwrap();
                let (l, d) = focal_prob(pf as f64, y as f64, gamma as f64, Some(0.25), 0.0);
                let at = (gamma, pf, y);
                let e = rel_err(r.loss, l, LOSS_FLOOR);
                assert!(
                    e <= lb,
                    "loss {:e} vs {l:e}: {e:.1} u > {lb} u at {at:?}",
                    r.loss
                );
                let e = rel_err(r.grad, d, 1.0);
                assert!(
                    e <= gb,
                    "grad {:e} vs {d:e}: {e:.1} u > {gb} u at {at:?}",
                    r.grad
                );
            }
            p *= 1.013;
        }
    }
}

/// `w⁺ y_s softplus(-z)` with a subnormal or huge `w⁺`, a subnormal target,
/// or both factors above 1 with `y_s` tiny: the product keeps its value
/// (multiplying `w⁺ y_s` first lost a `1.5e-44` loss at `w⁺ = 2.7e-44`,
/// `ε = 0.01`, `z = -108.6`), from logits and from probabilities.
#[test]
fn pos_weighted_soft_terms_keep_their_loss() {
    use tinyloss_reference::binary::{sigmoid_ce, sigmoid_ce_prob};
    use tinyloss_reference::bounds::{PROB_LOSS, SIGMOID_CE_LOSS};
    use tinyloss_reference::measure::{rel_err, LOSS_FLOOR};
    let weights = [
        0.0f32,
        1.4e-45,
        2.7e-44,
        1e-40,
        1e-20,
        0.5,
        3.0,
        100.0,
        1e10,
        1e30,
        f32::MAX,
    ];
    let targets = [0.0f32, 1.4e-45, 7e-43, 1e-39, 1e-20, 0.005, 0.3, 1.0];
    let logits = [
        -f32::MAX,
        -1e30,
        -108.625,
        -100.0,
        -20.0,
        -1.0,
        0.0,
        3.0,
        30.0,
        100.0,
    ];
    for &w in &weights {
        for eps in [0.0f32, 1e-6, 0.01, 0.5] {
            let loss = SigmoidCe::PLAIN
                .with_pos_weight(w)
                .unwrap()
                .with_smoothing(eps)
                .unwrap();
            let lw = f64::from(w.max(1.0));
            for &y in &targets {
                let (mut z, mut ys) = (Vec::new(), Vec::new());
                for &x in &logits {
                    z.push(x);
                    ys.push(y);
                }
                let mut grad = vec![0.0f32; z.len()];
                let mut losses = vec![0.0f32; z.len()];
                Batch::new(&ys)
                    .loss_grad(&loss, &z, Reduction::Sum, &mut grad, Some(&mut losses))
                    .unwrap();
                for (i, &x) in z.iter().enumerate() {
                    let (l, _) = sigmoid_ce(x as f64, y as f64, w as f64, eps as f64);
                    let l = l.min(f64::from(f32::MAX));
                    let at = (w, eps, y, x);
                    let r = loss.loss_grad(x, y).unwrap();
                    for (got, what) in [(r.loss, "element"), (losses[i], "batch")] {
                        let e = rel_err(got, l, LOSS_FLOOR * lw);
                        let b = SIGMOID_CE_LOSS.get();
                        assert!(
                            e <= b,
                            "{what} loss {got:e} vs {l:e}: {e:.1} u > {b} u at {at:?}"
                        );
                    }
                }
                for p in [1e-7f32, 1e-3, 0.5, 0.999] {
                    let (l, _) = sigmoid_ce_prob(p as f64, y as f64, w as f64, eps as f64);
                    let l = l.min(f64::from(f32::MAX));
                    let got = loss.loss_grad_prob(p, y).unwrap().loss;
                    let e = rel_err(got, l, LOSS_FLOOR * lw);
                    let b = PROB_LOSS.at(0.0);
                    assert!(
                        e <= b,
                        "prob loss {got:e} vs {l:e}: {e:.1} u > {b} u at {:?}",
                        (w, eps, y, p)
                    );
                }
            }
        }
    }
}

/// A class weight far below the largest one (subnormal after the driver's
/// scale) times a huge `d`: the weighted target is scaled by 2^64 for the
/// product, so the row keeps its loss (fuzz: weights `[1, 1e-42]`, target
/// `[0, 0.214]`, `z = [-0.34, -2.9e38]` gave 6232 u), for CE and focal,
/// probability targets and smoothed labels.
#[test]
fn subnormal_class_weights_keep_their_products() {
    use tinyloss_reference::bounds::{SOFTMAX_CE_LOSS, SOFTMAX_FOCAL_LOSS, SOFTMAX_LOSS_FLOOR};
    use tinyloss_reference::measure::rel_err;
    let spans = [-2.897_717e38f32, -1e30, -1e10, -100.0, -1.0];
    for w1 in [1e-42f32, 1.4e-45, 1e-39, 1e-30] {
        for &s in &spans {
            for t1 in [0.214_206_14f32, 1e-3, 1.0] {
                let z = [-0.343_75f32, s];
                let p = [1.0 - t1, t1];
                let w = [1.0f32, w1];
                let (zd, pd, wd) = (z.map(f64::from), p.map(f64::from), w.map(f64::from));
                for gamma in [0.0f32, 0.5, 2.0] {
                    let at = (w1, s, t1, gamma);
                    let bound = if gamma == 0.0 {
                        SOFTMAX_CE_LOSS.get()
                    } else {
                        SOFTMAX_FOCAL_LOSS.get()
                    };
                    let mut g = [0.0f32; 2];
                    let mut ls = [0.0f32; 1];
                    let rows = Rows::new(2, Targets::Probs(&p))
                        .with_class_weights(&w)
                        .unwrap();
                    if gamma == 0.0 {
                        rows.loss_grad(&SoftmaxCe::new(), &z, Reduction::Sum, &mut g, Some(&mut ls))
                    } else {
                        let f = SoftmaxFocal::new(gamma).unwrap();
                        rows.loss_grad(&f, &z, Reduction::Sum, &mut g, Some(&mut ls))
                    }
                    .unwrap();
                    let want = tinyloss_reference::softmax::row_loss(
                        &zd,
                        RowTarget::Probs(&pd),
                        Some(&wd),
                        0.0,
                        gamma as f64,
                    );
                    let e = rel_err(ls[0], want, 0.0);
                    let ok = e <= bound || (f64::from(ls[0]) - want).abs() <= SOFTMAX_LOSS_FLOOR;
                    assert!(
                        ok,
                        "probs: {:e} vs {want:e} ({e:.1} u > {bound} u) at {at:?}",
                        ls[0]
                    );
                    // Smoothed label 0: the far class gets ε/2 · w1.
                    let labels = [0u32];
                    let eps = 1e-3f32;
                    let rows = Rows::new(2, Targets::from(&labels[..]))
                        .with_class_weights(&w)
                        .unwrap();
                    if gamma == 0.0 {
                        let c = SoftmaxCe::new().with_smoothing(eps).unwrap();
                        rows.loss_grad(&c, &z, Reduction::Sum, &mut g, Some(&mut ls))
                    } else {
                        let f = SoftmaxFocal::new(gamma)
                            .unwrap()
                            .with_smoothing(eps)
                            .unwrap();
                        rows.loss_grad(&f, &z, Reduction::Sum, &mut g, Some(&mut ls))
                    }
                    .unwrap();
                    let want = tinyloss_reference::softmax::row_loss(
                        &zd,
                        RowTarget::Label(0),
                        Some(&wd),
                        eps as f64,
                        gamma as f64,
                    );
                    let e = rel_err(ls[0], want, 0.0);
                    let ok = e <= bound || (f64::from(ls[0]) - want).abs() <= SOFTMAX_LOSS_FLOOR;
                    assert!(
                        ok,
                        "smoothed: {:e} vs {want:e} ({e:.1} u > {bound} u) at {at:?}",
                        ls[0]
                    );
                }
            }
        }
    }
}

/// An ignored element's weight is never read, also on the one-by-one path
/// of a weighted batch whose sum could overflow (fuzz: a NaN weight under
/// the mask there gave a total and a gradient of -f32::MAX).
#[test]
fn ignored_weights_stay_unread_in_huge_weighted_batches() {
    let x = [f32::MAX, 3.0, -36.0, f32::MAX, 0.5, -f32::MAX];
    let y = [0.0f32, 0.0, 1.0, 0.0, 1.0, 1.0];
    let ig = [true, false, false, false, true, false];
    let focal = Focal::new(2.0, None).unwrap();
    let ce = SigmoidCe::PLAIN;
    for bad in [f32::NAN, f32::INFINITY, -1.0] {
        let w = [bad, 2.0, 1.0, 0.5, bad, 1e-30];
        let kept_w = [0.0f32, 2.0, 1.0, 0.5, 0.0, 1e-30];
        for red in [
            Reduction::Sum,
            Reduction::Mean,
            Reduction::MeanOverPositives,
            Reduction::MeanOver(1e-20),
        ] {
            for which in 0..2 {
                let run = |w: &[f32], g: &mut [f32], l: &mut [f32]| {
                    let b = Batch::new(&y).with_weights(w).with_ignore(&ig);
                    if which == 0 {
                        b.loss_grad(&focal, &x, red, g, Some(l))
                    } else {
                        b.loss_grad(&ce, &x, red, g, Some(l))
                    }
                };
                let (mut g, mut l) = ([1.0f32; 6], [1.0f32; 6]);
                let (mut g0, mut l0) = ([1.0f32; 6], [1.0f32; 6]);
                let at = (bad, red, which);
                let t = run(&w, &mut g, &mut l).unwrap();
                let t0 = run(&kept_w, &mut g0, &mut l0).unwrap();
                assert!(t.is_finite() && t >= 0.0, "total {t} at {at:?}");
                assert_eq!(t.to_bits(), t0.to_bits(), "total at {at:?}");
                for i in 0..6 {
                    assert_eq!(g[i].to_bits(), g0[i].to_bits(), "grad[{i}] at {at:?}");
                    assert_eq!(l[i].to_bits(), l0[i].to_bits(), "loss[{i}] at {at:?}");
                    if ig[i] {
                        assert_eq!((g[i], l[i]), (0.0, 0.0), "ignored {i} at {at:?}");
                    }
                }
            }
        }
    }
}

/// A class weight of -0.0 (valid: not below 0) gives the results of +0.0,
/// bit for bit (fuzz: the driver took -0.0's bits for the largest weight,
/// scaled every weight by 2^-E for it, and a smoothed row lost its loss).
#[test]
fn negative_zero_class_weights_are_zeros() {
    let z = [0.0f32, 67.26172, 98.0, 63.26172, -3.0, 20.0];
    let labels = [1u32, 0, 1];
    let probs = [0.3f32, 0.7, 1.0, 0.0, 0.5, 0.5];
    let reds = [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(3.0)];
    for eps in [0.0f32, 0.1, 1.0] {
        for gamma in [0.0f32, 2.0] {
            for &red in &reds {
                for probs_on in [false, true] {
                    let run = |w: &[f32]| {
                        let t = if probs_on {
                            Targets::Probs(&probs)
                        } else {
                            Targets::from(&labels[..])
                        };
                        let rows = Rows::new(2, t).with_class_weights(w).unwrap();
                        let (mut g, mut ls) = ([0.0f32; 6], [0.0f32; 3]);
                        let l = if gamma == 0.0 {
                            let c = SoftmaxCe::new().with_smoothing(eps).unwrap();
                            rows.loss_grad(&c, &z, red, &mut g, Some(&mut ls))
                        } else {
                            let f = SoftmaxFocal::new(gamma)
                                .unwrap()
                                .with_smoothing(eps)
                                .unwrap();
                            rows.loss_grad(&f, &z, red, &mut g, Some(&mut ls))
                        }
                        .unwrap();
                        (l.to_bits(), g.map(f32::to_bits), ls.map(f32::to_bits))
                    };
                    let at = (eps, gamma, red, probs_on);
                    let (a, b) = (run(&[-0.0, 1.0]), run(&[0.0, 1.0]));
                    // -0.0 and +0.0 gradients are equal values.
                    assert_eq!(a.0, b.0, "loss at {at:?}");
                    assert_eq!(a.2, b.2, "row losses at {at:?}");
                    for (x, y) in a.1.iter().zip(&b.1) {
                        assert_eq!(f32::from_bits(*x), f32::from_bits(*y), "grad at {at:?}");
                    }
                }
            }
        }
    }
}

/// A weighted gradient beyond f32 before the reduction's scale but inside
/// it after (fuzz: p = 0, γ = 8, w = 1.7e33 under `MeanOver(100)` gave
/// -3.4e36 for -1.7e38): the scale applies first.
#[test]
fn weighted_gradients_that_fit_after_the_scale_keep_their_value() {
    use tinyloss_reference::bounds::BATCH_SCALED_GRAD;
    use tinyloss_reference::measure::sat_rel_err;
    for gamma in [0.0f32, 2.0, 8.0] {
        let f = Focal::new(gamma, None).unwrap();
        for (w0, d) in [(1.703_605_4e33f32, 100.0f32), (1e35, 1e3), (3e38, 1e10)] {
            let p = [0.0f32, 0.5, 1.0];
            let y = [1.0f32, 0.0, 0.0];
            let w = [w0, 1.0, 2.0];
            let mut g = [0.0f32; 3];
            Batch::new(&y)
                .with_probabilities()
                .with_weights(&w)
                .loss_grad(&f, &p, Reduction::MeanOver(d), &mut g, None)
                .unwrap();
            let (_, dp) = focal_prob(0.0, 1.0, gamma as f64, None, 0.0);
            let want = f64::from(w0) * dp.max(-f64::from(f32::MAX)) / f64::from(d);
            let bound =
                tinyloss_reference::bounds::PROB_GRAD.at(gamma as f64) + BATCH_SCALED_GRAD.get();
            let e = sat_rel_err(g[0], want, 0.0);
            assert!(
                e <= bound,
                "γ={gamma} w={w0} d={d}: {:e} vs {want:e} ({e:.1} u)",
                g[0]
            );
        }
    }
}

/// Class weights near f32::MAX scale the weights down by up to 2^-126; the
/// scale must go with the weights, not the targets, or a small target
/// `y'·2^-126` is subnormal and the weighted target keeps 15 bits (fuzz:
/// weights [f32::MAX, 1], targets [0.0038, 0.0039] gave the gradient
/// 256u of `K` off). Every reduction, CE and focal, probability and
/// smoothed label targets, against the f64 row within the gradient bound.
#[test]
fn huge_class_weights_keep_small_targets() {
    use tinyloss_reference::bounds::{SOFTMAX_CE_GRAD, SOFTMAX_FOCAL_GRAD};
    use tinyloss_reference::measure::sat_abs_err;
    use tinyloss_reference::softmax::target_mass;
    for w0 in [f32::MAX, 1.7e38, 8.507_059e37, 1e38, 1e30] {
        for w1 in [1.0f32, 0.0, 1e-3, 3e37] {
            for y0 in [0.003_784_237_4f32, 1e-6, 0.5] {
                for z0 in [-540_835_840.0f32, -20.0, 1.5] {
                    for gamma in [0.0f32, 2.0] {
                        for (red, s) in [
                            (Reduction::Sum, 1.0),
                            (Reduction::MeanOver(0.5), 2.0),
                            (Reduction::MeanOver(3e5), 1.0 / 3e5),
                        ] {
                            let z = [z0, 0.031_174_181];
                            let p = [y0, 0.003_921_569];
                            let w = [w0, w1];
                            let (zd, pd, wd) =
                                (z.map(f64::from), p.map(f64::from), w.map(f64::from));
                            let mut g = [0.0f32; 2];
                            let rows = Rows::new(2, Targets::Probs(&p))
                                .with_class_weights(&w)
                                .unwrap();
                            let bound = if gamma == 0.0 {
                                rows.loss_grad(&SoftmaxCe::new(), &z, red, &mut g, None)
                                    .unwrap();
                                SOFTMAX_CE_GRAD.at(0.0)
                            } else {
                                let f = SoftmaxFocal::new(gamma).unwrap();
                                rows.loss_grad(&f, &z, red, &mut g, None).unwrap();
                                SOFTMAX_FOCAL_GRAD.at(gamma as f64)
                            };
                            let mut want = [0.0f64; 2];
                            let rt = RowTarget::Probs(&pd);
                            softmax_row(&zd, rt, Some(&wd), 0.0, gamma as f64, &mut want);
                            let k = target_mass(rt, 2, Some(&wd), 0.0) * s;
                            for j in 0..2 {
                                let e = sat_abs_err(g[j], want[j] * s, k);
                                assert!(
                                    e <= bound,
                                    "grad[{j}] {:e} vs {:e} ({e:.1} u of K > {bound} u) at {:?}",
                                    g[j],
                                    want[j] * s,
                                    (w, y0, z0, gamma, red)
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A class-weighted `Mean` whose target weights are far below another
/// class's weight (which enters every row through smoothing): the weight
/// scale would take `Σ w_t` to f32's subnormal grid (fuzz: weights
/// [0, 1e-42, 6.375], γ = 115, ε = 0.1 gave the mean 2.8e-3 off). The mean
/// and the gradient against the f64 rows, CE and focal.
#[test]
fn class_weighted_mean_of_tiny_target_weights_keeps_its_normaliser() {
    use tinyloss_reference::bounds::{SOFTMAX_CE_GRAD, SOFTMAX_FOCAL_GRAD, SOFTMAX_FOCAL_LOSS};
    use tinyloss_reference::measure::{sat_abs_err, sat_rel_err};
    use tinyloss_reference::softmax::{row_loss, target_mass};
    let z = [-0.0f32, 0.0, 0.0, 1.0, 3.0, 3.0];
    for w1 in [1e-42f32, 1e-39, 3e-30, 1e-20] {
        // 0.111 and 1e-3: the weights are scaled up, and a gradient beyond
        // f32 must saturate (a scale-down after the scale-up gave 4.3e37).
        for w2 in [6.375f32, 1e10, 3e38, 1.0, 0.111_083_984, 1e-3] {
            for gamma in [0.0f32, 2.0, 115.449_22] {
                for eps in [0.1f32, 1e-3] {
                    let (l, w) = ([1u32, 0], [0.0f32, w1, w2]);
                    let wd = w.map(f64::from);
                    let rows = Rows::new(3, Targets::from(&l[..]))
                        .with_class_weights(&w)
                        .unwrap();
                    let mut g = [0.0f32; 6];
                    let (t, gb) = if gamma == 0.0 {
                        let k = SoftmaxCe::new().with_smoothing(eps).unwrap();
                        let t = rows.loss_grad(&k, &z, Reduction::Mean, &mut g, None);
                        (t.unwrap(), SOFTMAX_CE_GRAD.at(0.0))
                    } else {
                        let k = SoftmaxFocal::new(gamma)
                            .unwrap()
                            .with_smoothing(eps)
                            .unwrap();
                        let t = rows.loss_grad(&k, &z, Reduction::Mean, &mut g, None);
                        (t.unwrap(), SOFTMAX_FOCAL_GRAD.at(gamma as f64))
                    };
                    let denom = f64::from(w1); // w_{t_0} + w_{t_1} = w1 + 0
                    let mut want = 0.0;
                    for r in 0..2 {
                        let zd = [z[3 * r], z[3 * r + 1], z[3 * r + 2]].map(f64::from);
                        let rt = RowTarget::Label(l[r] as usize);
                        let (e, g64) = (eps as f64, gamma as f64);
                        want += row_loss(&zd, rt, Some(&wd), e, g64);
                        let mut gw = [0.0f64; 3];
                        softmax_row(&zd, rt, Some(&wd), e, g64, &mut gw);
                        let k = target_mass(rt, 3, Some(&wd), e) / denom;
                        for j in 0..3 {
                            let err = sat_abs_err(g[3 * r + j], gw[j] / denom, k);
                            assert!(
                                err <= gb,
                                "grad[{r}][{j}] {:e} vs {:e} ({err:.1} u of K > {gb} u) at {:?}",
                                g[3 * r + j],
                                gw[j] / denom,
                                (w, gamma, eps)
                            );
                        }
                    }
                    let want = want / denom;
                    let e = sat_rel_err(t, want, 0.0);
                    let bound = SOFTMAX_FOCAL_LOSS.get();
                    assert!(
                        e <= bound,
                        "mean {t:e} vs {want:e} ({e:.1} u) at {:?}",
                        (w, gamma, eps)
                    );
                }
            }
        }
    }
}

/// A row spanning beyond f32 whose class weight is 1 or more has a loss
/// past `2 f32::MAX`, more than its overflow half carries; the weights are
/// rescaled in such batches, so the mean of 16 rows (which fits) is exact
/// (fuzz: weights [2.28, 7.07] gave f32::MAX for 2.9e38). A probability row
/// whose targets sum past 1 may still pass it: that saturates, as
/// documented.
#[test]
fn weighted_rows_beyond_f32_keep_a_mean_that_fits() {
    let m = f32::MAX;
    for w in [7.070_556_6f32, 2.5, 1.9, 1.0, 0.75, 3e5] {
        for gamma in [0.0f32, 2.0] {
            let rows = 16usize;
            let mut z = vec![0.0f32; rows * 2];
            let mut y = vec![0.0f32; rows * 2];
            (z[0], z[1], y[1]) = (m, -m, 1.0);
            for r in 1..rows {
                y[r * 2] = 1.0;
            }
            let mut g = vec![0.0f32; rows * 2];
            let cw = [w, w];
            let b = Rows::new(2, Targets::Probs(&y))
                .with_class_weights(&cw)
                .unwrap();
            let t = ce_or_focal(&b, gamma, &z, Reduction::Mean, &mut g);
            // Row 0's loss is about 2 w f32::MAX; the others ln 2 · w each.
            let zd: Vec<f64> = z.iter().map(|&v| v as f64).collect();
            let yd: Vec<f64> = y.iter().map(|&v| v as f64).collect();
            let wd = [w as f64; 2];
            let mut want = 0.0;
            for r in 0..rows {
                want += tinyloss_reference::softmax::row_loss(
                    &zd[2 * r..2 * r + 2],
                    RowTarget::Probs(&yd[2 * r..2 * r + 2]),
                    Some(&wd),
                    0.0,
                    gamma as f64,
                );
            }
            close(t, want / rows as f64, 16.0 * U, &format!("w {w} γ {gamma}"));
            assert!(g.iter().all(|v| v.is_finite()));
        }
    }
    // Targets summing to 2 with two classes at -f32::MAX: the row's loss is
    // 4 f32::MAX; the mean of 16 rows fits, and saturates as documented.
    let (z, mut y) = (
        [m, -m, -m, 0.0, 0.0, 0.0],
        [0.0f32, 1.0, 1.0, 1.0, 0.0, 0.0],
    );
    y[3] = 1.0;
    let mut g = [0.0f32; 6];
    let t = Rows::new(3, Targets::Probs(&y))
        .loss_grad(
            &SoftmaxCe::new(),
            &z,
            Reduction::MeanOver(16.0),
            &mut g,
            None,
        )
        .unwrap();
    assert_eq!(t, f32::MAX);
}

/// Tiny class weights scaled up by `2^126` times a huge row weight took the
/// overflow-safe sum past its range (fuzz: class weights 1e-42, a row of
/// loss 1.75e-4 under row weight 1e30 gave the total 2^66 for 1.76e26);
/// with row weights the scale-up stops at `2^64`. Sum and MeanOver, CE and
/// focal, against the f64 rows.
#[test]
fn tiny_class_weights_under_huge_row_weights_keep_their_total() {
    let z = [
        10000.0f32,
        0.0,
        16.003_906,
        -1.754_600_8e38,
        0.0,
        -0.007_812_5,
    ];
    let l = [1u32, 1, 1];
    for cw in [1e-42f32, 1e-30, 3e-20] {
        for v1 in [1e30f32, 3e38, 1.0] {
            for gamma in [0.0f32, 1.5] {
                for (red, s) in [(Reduction::Sum, 1.0), (Reduction::MeanOver(7.0), 1.0 / 7.0)] {
                    let w = [cw, cw];
                    let v = [0.5f32, v1, 3.0];
                    let rows = Rows::new(2, Targets::from(&l[..]))
                        .with_class_weights(&w)
                        .unwrap()
                        .with_row_weights(&v)
                        .unwrap();
                    let mut g = [0.0f32; 6];
                    let t = ce_or_focal(&rows, gamma, &z, red, &mut g);
                    let mut want = 0.0;
                    for r in 0..3 {
                        let mut gr = [0.0f64; 2];
                        let zr = &z[2 * r..2 * r + 2];
                        want += softmax_ref(zr, 1, gamma as f64, cw as f64, &mut gr) * v[r] as f64;
                    }
                    let at = format!("w {cw:e} v {v1:e} γ {gamma} {red:?}");
                    close(t, want * s, 64.0 * U, &at);
                }
            }
        }
    }
}

/// Weighted losses whose products pass `2^192` (weights and losses near
/// f32::MAX): the overflow-safe sum shifts once more instead of saturating,
/// so a `MeanOver(d)` that brings the total back into f32 is exact, and one
/// that does not saturates (0.2 returned 2^64 for 2.8e38 here).
#[test]
fn products_beyond_2_192_keep_their_mean() {
    let z = [3.4e38f32, 3.0e38, 1.0];
    let y = [0.0f32, 0.0, 1.0];
    let w = [1e38f32, 2e38, f32::MAX];
    let mut g = [0.0f32; 3];
    for d in [f32::MAX, 3e38, 1e38, 3e37, 1e20] {
        let t = Batch::new(&y)
            .with_weights(&w)
            .loss_grad(&SigmoidCe::PLAIN, &z, Reduction::MeanOver(d), &mut g, None)
            .unwrap();
        let want: f64 = (0..3)
            .map(|i| {
                w[i] as f64
                    * softplus(if y[i] == 0.0 {
                        z[i] as f64
                    } else {
                        -z[i] as f64
                    })
            })
            .sum::<f64>()
            / d as f64;
        close(t, want, 8.0 * U, &format!("MeanOver({d:e})"));
    }
}

/// A class-weighted `Mean` scaled every weight by a power of two, also
/// ordinary ones: a subnormal weight next to 12.5 lost bits on the grid
/// (fuzz: a row loss 1e-42 · 4.2e8 came out 0.8% off). It now scales
/// exactly where the other reductions do. Row losses and the mean against
/// f64, with and without a row spanning beyond f32.
#[test]
fn class_weighted_mean_keeps_ordinary_weights_unscaled() {
    use tinyloss_reference::bounds::SOFTMAX_CE_LOSS;
    for far in [-3.4e38f32, -1.0] {
        let z = [-421_075_200.0f32, 1.175_494_4e-38, far, 0.0, 3.0, 0.0];
        let l = [0u32, 0, 1];
        for w in [[1e-42f32, 12.548_828], [1e-42, 1.0], [3e-39, 1e3]] {
            let (t, _, ls) = class_weighted_mean_ce(&z, &l, &w);
            let (mut sum, mut den) = (0.0, 0.0);
            for r in 0..3 {
                let mut gr = [0.0f64; 2];
                let wt = w[l[r] as usize] as f64;
                let want = softmax_ref(&z[2 * r..2 * r + 2], l[r] as usize, 0.0, wt, &mut gr);
                close(
                    ls[r],
                    want,
                    SOFTMAX_CE_LOSS.get() * U,
                    &format!("row {r} w {w:?} far {far}"),
                );
                sum += want;
                den += wt;
            }
            close(
                t,
                sum / den,
                (SOFTMAX_CE_LOSS.get() + 64.0) * U,
                &format!("mean w {w:?}"),
            );
        }
    }
}

/// Row weights under a gradient scale above 1 (`MeanOver` of a tiny `d`):
/// a weight that takes a gradient entry below f32's normal range before the
/// scale lost it (fuzz: class weights [1, 1e-42], row weight 1e-30,
/// MeanOver(1e-40): 0 for 4.8e-33). Against f64, CE and focal, with
/// ordinary and subnormal class weights.
#[test]
fn row_weights_under_a_large_gradient_scale_keep_their_products() {
    use tinyloss_reference::bounds::{SOFTMAX_CE_GRAD, SOFTMAX_FOCAL_GRAD};
    let z = [3.0f32, 3.0, 3.0, 40.0, 0.0, 3.0];
    let l = [1u32, 1, 0];
    for cw in [[1.0f32, 1e-42], [1.0, 1.0], [2.0, 3e-39]] {
        for v1 in [1e-30f32, 1e-38, 0.5] {
            for d in [1e-40f32, 1e-20, 0.25] {
                for gamma in [0.0f32, 0.5] {
                    let v = [v1, 0.75, v1];
                    let rows = Rows::new(2, Targets::from(&l[..]))
                        .with_class_weights(&cw)
                        .unwrap()
                        .with_row_weights(&v)
                        .unwrap();
                    let mut g = [0.0f32; 6];
                    let red = Reduction::MeanOver(d);
                    let b = if gamma == 0.0 {
                        rows.loss_grad(&SoftmaxCe::new(), &z, red, &mut g, None)
                            .unwrap();
                        SOFTMAX_CE_GRAD.get()
                    } else {
                        let f = SoftmaxFocal::new(gamma).unwrap();
                        rows.loss_grad(&f, &z, red, &mut g, None).unwrap();
                        SOFTMAX_FOCAL_GRAD.at(gamma as f64)
                    };
                    for r in 0..3 {
                        let wt = cw[l[r] as usize] as f64;
                        let mut gr = [0.0f64; 2];
                        softmax_ref(
                            &z[2 * r..2 * r + 2],
                            l[r] as usize,
                            gamma as f64,
                            wt,
                            &mut gr,
                        );
                        let s = v[r] as f64 / d as f64;
                        for j in 0..2 {
                            let want = gr[j] * s;
                            let k = wt * s;
                            let err = (g[2 * r + j] as f64 - want).abs();
                            // A subnormal class weight's term rounds on the
                            // grid before the row weight and the scale.
                            // The output's own grid: one step of 2^-149.
                            let grid =
                                4.0 * f32::from_bits(1) as f64 * s + f32::from_bits(1) as f64;
                            assert!(
                                want.abs() > f32::MAX as f64 && g[2 * r + j].abs() == f32::MAX
                                    || err <= b * U * k + grid,
                                "row {r} grad[{j}] {:e} vs {want:e} at {:?}",
                                g[2 * r + j],
                                (cw, v1, d, gamma)
                            );
                        }
                    }
                }
            }
        }
    }
}

/// A label row whose weighted loss passes `2 f32::MAX` with logits well
/// inside f32 (weight 17733, a logit of -4e34): the weights are rescaled
/// wherever the largest weight times the largest logit could get there,
/// not only for logits near f32::MAX (fuzz: the mean came out half its
/// value, under `Mean` and `MeanOver`).
#[test]
fn heavy_label_rows_keep_a_mean_that_fits() {
    let z = [
        -0.000_354_243_24f32,
        -4.039_794_7e34,
        0.0,
        -2.417_493_3e33,
        3.0,
        1.0,
    ];
    let l = [1u32, 1, 1];
    for w1 in [17_733.0f32, 3.0, 1e9] {
        let w = [w1, w1];
        for red in [Reduction::Mean, Reduction::MeanOver(3.0 * w1)] {
            let mut g = [0.0f32; 6];
            let t = Rows::new(2, Targets::from(&l[..]))
                .with_class_weights(&w)
                .unwrap()
                .loss_grad(&SoftmaxCe::new(), &z, red, &mut g, None)
                .unwrap();
            let mut want = 0.0;
            for r in 0..3 {
                let mut gr = [0.0f64; 2];
                want += softmax_ref(&z[2 * r..2 * r + 2], 1, 0.0, w1 as f64, &mut gr);
            }
            close(
                t,
                want / (3.0 * w1 as f64),
                16.0 * U,
                &format!("w {w1} {red:?}"),
            );
        }
    }
}

/// Class weights at f32::MAX were scaled to just below 4, so a row spanning
/// beyond f32 passed `2 f32::MAX` and saturated a mean that fits (fuzz:
/// weights [f32::MAX, 16], eight rows, two of loss ≈ f32::MAX: f32::MAX
/// for 8.5e37). The scale now reaches `2^-127`, the weights at most 2.
#[test]
fn weights_at_f32_max_keep_a_mean_that_fits() {
    let m = f32::MAX;
    let z = [0.0f32, 3.0, -m, 0.189, -m, 0.25, 0.0, 0.0];
    let l = [0u32; 4];
    for w0 in [f32::MAX, 2e38, 1.7e38] {
        for gamma in [0.0f32, 9.0] {
            let w = [w0, 15.983_887];
            let mut g = [0.0f32; 8];
            let rows = Rows::new(2, Targets::from(&l[..]))
                .with_class_weights(&w)
                .unwrap();
            let t = ce_or_focal(&rows, gamma, &z, Reduction::Mean, &mut g);
            let mut want = 0.0;
            for r in 0..4 {
                let mut gr = [0.0f64; 2];
                want += softmax_ref(&z[2 * r..2 * r + 2], 0, gamma as f64, 1.0, &mut gr);
            }
            close(t, want / 4.0, 64.0 * U, &format!("w0 {w0:e} γ {gamma}"));
        }
    }
}

/// A smoothed label row with `ε = 2^-126` (so `ε/C` is subnormal) and class
/// weights that span past `2^125` (the batch's weight scale takes the small
/// weights to about `2^-124`): its weighted targets `k = w ε/C` are near
/// `2^-253`, below what one lift by `2^64` brings back, and their loss
/// terms `k d` are of order 1 at `d` near `-f32::MAX` (fuzz,
/// `loss-zero-smoothed-row-in-batch`: row loss 0 against 8.46). The row
/// loss and the total against the f64 row, CE and focal, alone and in a
/// batch, in place and not.
#[test]
fn subnormal_smoothed_targets_under_huge_class_weights_keep_their_loss() {
    use tinyloss_reference::softmax::row as sref_row;
    let m = f32::MAX;
    let w = [m, 9.812_256, 0.0, 3.0, 1.0, 1.0, 1e-42];
    let wd = w.map(f64::from);
    let eps = f32::MIN_POSITIVE;
    let one = [64.25f32, -m, -m, -m, -m, -m, -m];
    for gamma in [0.0f32, 2.0] {
        let mut gd = [0.0f64; 7];
        let zd = one.map(f64::from);
        let want = sref_row(
            &zd,
            RowTarget::Label(0),
            Some(&wd),
            eps as f64,
            gamma as f64,
            &mut gd,
        );
        assert!(want > 8.0, "reference {want}");
        // The row alone, then after a row of -MAX (label 0: its loss
        // saturates) and before one with label 5.
        let mut z2 = vec![-m; 7];
        z2.extend_from_slice(&one);
        z2.extend_from_slice(&[-m; 7]);
        for (z, labels, at) in [(one.to_vec(), vec![0u32], 0), (z2, vec![0, 0, 5], 1)] {
            let rows = Rows::new(7, Targets::from(&labels[..]))
                .with_class_weights(&w)
                .unwrap();
            let mut ls = vec![0.0f32; labels.len()];
            let mut g = vec![0.0f32; z.len()];
            let mut zz = z.clone();
            let mut ls2 = vec![0.0f32; labels.len()];
            // One call through `AnyLoss` (the same bits as the loss itself).
            let (k, bound, what): (tinyloss::softmax::AnyLoss, f64, &str) = if gamma == 0.0 {
                let k = SoftmaxCe::new().with_smoothing(eps).unwrap();
                (k.into(), 96.0 * U, "CE total")
            } else {
                let k = SoftmaxFocal::new(gamma)
                    .unwrap()
                    .with_smoothing(eps)
                    .unwrap();
                (k.into(), 256.0 * U, "focal total")
            };
            let t = rows
                .loss_grad(&k, &z, Reduction::Sum, &mut g, Some(&mut ls))
                .unwrap();
            rows.loss_grad_in_place(&k, &mut zz, Reduction::Sum, Some(&mut ls2))
                .unwrap();
            if labels.len() == 1 {
                close(t, want, bound, what);
            }
            close(ls[at], want, bound, "row loss");
            close(ls2[at], want, bound, "row loss in place");
        }
    }
}

/// Label rows whose class weights span past `2^125` (`f32::MAX` next to
/// `1e-42` or `2^-10`), under `Sum` and `MeanOver` (with a subnormal
/// normaliser): one power of two for all rows took the small weights to
/// f32's subnormal grid or to 0 (fuzz, `grad-zero-class-weight-span`:
/// gradient 0 against 178 under `MeanOver(1e-45)`;
/// `grad-1521u-class-weight-span`: 1521u off). Each row's class weight is
/// now applied as a row weight. The gradient and the row losses of the
/// small-weight row against the f64 row, CE and focal.
#[test]
fn class_weights_spanning_past_2_125_keep_small_label_rows() {
    use tinyloss_reference::bounds::{SOFTMAX_CE_GRAD, SOFTMAX_FOCAL_GRAD};
    let m = f32::MAX;
    // (logits, class weights, labels, normaliser)
    type Case<'a> = (&'a [f32], &'a [f32], &'a [u32], f32);
    let cases: [Case; 3] = [
        (
            &[
                -72.054_69,
                30.0,
                2.0,
                11.136_719,
                0.0,
                0.0,
                0.0,
                0.003_799_496_5,
            ],
            &[m, 1e-42, 1e-42, 0.0],
            &[0, 1],
            1e-45,
        ),
        (
            &[4.941_575, 2.000_069, 2.0, 0.0],
            &[m, 0.000_976_562_5],
            &[1, 0],
            1.0,
        ),
        (
            &[4.941_575, 2.000_069, 2.0, 0.0],
            &[m, 0.000_976_562_5],
            &[1, 0],
            1e-40,
        ),
    ];
    for (z, w, labels, d) in cases {
        let c = w.len();
        for gamma in [0.0f32, 2.0] {
            for red in [Reduction::Sum, Reduction::MeanOver(d)] {
                let s = match red {
                    Reduction::MeanOver(d) => 1.0 / d as f64,
                    _ => 1.0,
                };
                let rows = Rows::new(c, Targets::from(labels))
                    .with_class_weights(w)
                    .unwrap();
                let mut g = vec![0.0f32; z.len()];
                let mut ls = vec![0.0f32; labels.len()];
                let b = if gamma == 0.0 {
                    rows.loss_grad(&SoftmaxCe::new(), z, red, &mut g, Some(&mut ls))
                        .unwrap();
                    SOFTMAX_CE_GRAD.get()
                } else {
                    let f = SoftmaxFocal::new(gamma).unwrap();
                    rows.loss_grad(&f, z, red, &mut g, Some(&mut ls)).unwrap();
                    SOFTMAX_FOCAL_GRAD.at(gamma as f64)
                };
                // Row 1 carries the small weight; row 0 saturates.
                let r = 1;
                let t = labels[r] as usize;
                let wt = w[t] as f64;
                let mut gr = vec![0.0f64; c];
                let want_l = softmax_ref(&z[c * r..c * (r + 1)], t, gamma as f64, wt, &mut gr);
                close(ls[r], want_l, 96.0 * U, "row loss");
                for j in 0..c {
                    let want = gr[j] * s;
                    let err = (g[c * r + j] as f64 - want).abs();
                    let beyond = want.abs() > f32::MAX as f64;
                    assert!(
                        (beyond && g[c * r + j].abs() == f32::MAX)
                            || err <= b * U * wt * s + f32::from_bits(1) as f64,
                        "grad[{j}] {:e} vs {want:e} at {:?}",
                        g[c * r + j],
                        (w, gamma, red)
                    );
                }
            }
        }
    }
}

/// A tiny row weight times a row loss that the class weights' scale took far
/// down (weights up to `f32::MAX`, smoothing or probability targets): `ℓ v`
/// underflowed to 0 before the reduction's factor (`MeanOver` of a
/// subnormal `d`, or the scale's `1/wscale`) would have brought it back
/// (fuzz, `row-weighted-total-zero`: 0 against 1.2e-28 under `Sum`;
/// `row-weighted-total-zero-2e17`: 0 against 2.3e17 under
/// `MeanOver(1e-45)`). The reduced loss against the f64 rows.
#[test]
fn tiny_row_weights_on_scaled_row_losses_keep_their_total() {
    use tinyloss_reference::softmax::row as sref_row;
    let m = f32::MAX;
    // (logits, targets as probabilities or a label, class weights, γ, ε,
    // reduction)
    let z1 = [
        0.0f32,
        0.0,
        0.398_437_5,
        0.0,
        0.0,
        507.0,
        0.0,
        -17.355_469,
        2.5404e-41,
        0.0,
    ];
    let w1 = [1.0f32, 1.0, 0.0, 1.0, 1.0, m, 1.0, 1.0, 15.999_512, 1.0];
    let z2 = [
        -103.9f32,
        1.613_429_5e-36,
        0.0,
        0.0,
        0.0,
        0.0,
        -52.0,
        -51.203_125,
        -51.203_125,
        -51.203_125,
        -51.203_125,
        -51.203_125,
        -51.203_125,
        -51.203_125,
        -51.203_125,
        0.796_875,
    ];
    let p2 = [
        0.996_795_6f32,
        0.0,
        0.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        0.005_401_693_8,
        0.0,
        1.0,
        1.0,
    ];
    let w2 = [
        0.0f32, 1.0, m, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 3.0, 1.0, 0.0, 1.0,
    ];
    let z3 = [0.0f32, 0.0, 0.0, 0.003_799_496_5];
    let w3 = [m, 1e-42, 1e-42, 0.0];
    for v in [1e-30f32, 1e-38, 1.0] {
        for (z, p, w, gamma, eps, red) in [
            (&z1[..], None, &w1[..], 1.0f32, 0.1f32, Reduction::Sum),
            (&z1[..], None, &w1[..], 1.0, 0.1, Reduction::MeanOver(1e-45)),
            (
                &z2[..],
                Some(&p2[..]),
                &w2[..],
                0.0,
                0.0,
                Reduction::MeanOver(1e-45),
            ),
            (&z2[..], Some(&p2[..]), &w2[..], 2.0, 0.0, Reduction::Sum),
            (&z3[..], None, &w3[..], 0.0, 0.0, Reduction::MeanOver(1e-45)),
            (&z3[..], None, &w3[..], 2.0, 0.0, Reduction::MeanOver(1e-40)),
        ] {
            let c = z.len();
            let label = [if c == 10 { 5u32 } else { 1 }];
            let zd: Vec<f64> = z.iter().map(|&x| x as f64).collect();
            let wd: Vec<f64> = w.iter().map(|&x| x as f64).collect();
            let pd: Option<Vec<f64>> = p.map(|p| p.iter().map(|&x| x as f64).collect());
            let rt = match &pd {
                Some(pd) => RowTarget::Probs(pd),
                None => RowTarget::Label(label[0] as usize),
            };
            let mut gd = vec![0.0f64; c];
            let d = match red {
                Reduction::MeanOver(d) => d as f64,
                _ => 1.0,
            };
            let want =
                v as f64 * sref_row(&zd, rt, Some(&wd), eps as f64, gamma as f64, &mut gd) / d;
            let targets = match p {
                Some(p) => Targets::Probs(p),
                None => Targets::from(&label[..]),
            };
            let vs = [v];
            let rows = Rows::new(c, targets)
                .with_class_weights(w)
                .unwrap()
                .with_row_weights(&vs)
                .unwrap();
            let mut g = vec![0.0f32; c];
            let (t, bound) = if gamma == 0.0 {
                let k = SoftmaxCe::new().with_smoothing(eps).unwrap();
                (rows.loss_grad(&k, z, red, &mut g, None).unwrap(), 96.0 * U)
            } else {
                let k = SoftmaxFocal::new(gamma)
                    .unwrap()
                    .with_smoothing(eps)
                    .unwrap();
                (rows.loss_grad(&k, z, red, &mut g, None).unwrap(), 256.0 * U)
            };
            close(
                t,
                want,
                bound,
                &format!("total at v = {v:e}, {red:?}, γ = {gamma}"),
            );
        }
    }
}
