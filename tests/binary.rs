//! Binary losses against f64 references written here, independently of the
//! library: dense sweeps over the whole input domain, finite differences,
//! the literature's numbers, known failure cases of other implementations,
//! batch semantics (reductions, weights, ignore mask, in-place), bad input,
//! and property tests.

use proptest::prelude::*;
use tinyloss::{At, Batch, Error, Focal, Reduction, SigmoidCe, PROB_EPS};

// ---------------------------------------------------------------- references

// The f64 references, bounds and error measure live in `tinyloss-reference`
// (`reference/`), shared with the fuzz targets and the on-target selftest.
use tinyloss_reference::binary::{focal as focal_ref, sigmoid_ce as bce_ref};
use tinyloss_reference::bounds::{
    binary_bounds, FOCAL_GRAD_HARD, FOCAL_GRAD_SOFT, FOCAL_LOSS_HARD, FOCAL_LOSS_SOFT, GRAD_FLOOR,
    MEAN_2_20, PROB_GRAD, PROB_LOSS, SIGMOID_CE_GRAD, SIGMOID_CE_LOSS,
};
use tinyloss_reference::cases;
use tinyloss_reference::measure::{LOSS_FLOOR, U};
use tinyloss_reference::Rng;

/// Probability-input focal loss at the clamped point, without smoothing.
fn focal_prob_ref(p: f64, y: f64, gamma: f64, alpha: Option<f64>) -> (f64, f64) {
    tinyloss_reference::binary::focal_prob(p, y, gamma, alpha, 0.0)
}

#[test]
fn reference_clamp_is_the_crate_s() {
    assert_eq!(PROB_EPS.to_bits(), tinyloss_reference::PROB_EPS.to_bits());
}

// ---------------------------------------------------------------- sweep grid

/// Logits over [-1e4, 1e4]: log-spaced magnitudes (1e-7 .. 1e4), dense
/// near 0, and dense where f32's sigmoid saturates (|z| from 15 to 90).
fn logit_grid() -> Vec<f32> {
    let mut v = vec![0.0f32];
    let mut m = 1e-7f64;
    while m <= 1e4 {
        v.push(m as f32);
        m *= 1.02;
    }
    v.push(1e4);
    for i in 0..=800 {
        v.push(i as f32 * 0.01);
    }
    for i in 0..=1500 {
        v.push(15.0 + i as f32 * 0.05);
    }
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    v.extend(neg);
    v
}

const GAMMAS: [f32; 8] = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0];
const ALPHAS: [Option<f32>; 5] = [None, Some(0.01), Some(0.25), Some(0.75), Some(0.99)];
const TARGETS: [f32; 5] = [0.0, 1.0, 0.05, 0.5, 0.95];

/// Worst error seen against the bound that applies at each point (the
/// measure is `tinyloss_reference::rel_err`); the test asserts ratio <= 1.
#[derive(Default, Debug)]
struct Worst(tinyloss_reference::Worst);

impl Worst {
    fn see(&mut self, got: f32, want: f64, floor: f64, bound: f64, at: (f32, f32, f32)) {
        assert!(got.is_finite(), "non-finite {got} at {at:?}");
        self.0.see(got, want, floor, bound, at);
    }
    fn check(&self, what: &str) {
        let w = &self.0;
        println!(
            "{what}: worst {:.2} u (ratio to bound {:.2}) at (input, y, param) = {:?}",
            w.err, w.ratio, w.at
        );
        assert!(w.ratio <= 1.0 && w.failures == 0, "{what}: {w:?}");
    }
}

#[test]
fn focal_sweep_against_f64() {
    let grid = logit_grid();
    let (mut lh, mut ls, mut gh, mut gs) = <(Worst, Worst, Worst, Worst)>::default();
    for &g in &GAMMAS {
        for &a in &ALPHAS {
            let f = Focal::new(g, a).unwrap();
            for &y in &TARGETS {
                let hard = y == 0.0 || y == 1.0;
                for &z in &grid {
                    let r = f.loss_grad(z, y).unwrap();
                    let (l, d) = focal_ref(z as f64, y as f64, g as f64, a.map(f64::from), 0.0);
                    let at = a.map_or(1.0, |a| (a * y + (1.0 - a) * (1.0 - y)) as f64);
                    if hard {
                        lh.see(
                            r.loss,
                            l,
                            LOSS_FLOOR,
                            FOCAL_LOSS_HARD.at(g as f64),
                            (z, y, g),
                        );
                        gh.see(
                            r.grad,
                            d,
                            LOSS_FLOOR,
                            FOCAL_GRAD_HARD.at(g as f64),
                            (z, y, g),
                        );
                    } else {
                        ls.see(
                            r.loss,
                            l,
                            LOSS_FLOOR,
                            FOCAL_LOSS_SOFT.at(g as f64),
                            (z, y, g),
                        );
                        gs.see(
                            r.grad,
                            d,
                            GRAD_FLOOR * at,
                            FOCAL_GRAD_SOFT.at(g as f64),
                            (z, y, g),
                        );
                    }
                }
            }
        }
    }
    lh.check("focal loss, hard labels");
    ls.check("focal loss, soft targets");
    gh.check("focal grad, hard labels");
    gs.check("focal grad, soft targets");
}

/// The batch kernels run on SIMD lanes on hosts (f32x8 / f32x16), with their
/// own instruction sequence: the same f64 sweep and bounds through the batch
/// API (hard-label and soft-target batches take different kernels).
#[test]
fn batch_kernels_sweep_against_f64() {
    let grid = logit_grid();
    let n = grid.len();
    let (mut lw, mut gw) = <(Worst, Worst)>::default();
    let mut grad = vec![0.0f32; n];
    let mut losses = vec![0.0f32; n];
    for &g in &GAMMAS {
        for &a in &ALPHAS {
            let f = Focal::new(g, a).unwrap();
            for &y in &TARGETS {
                let ys = vec![y; n];
                Batch::new(&ys)
                    .loss_grad(&f, &grid, Reduction::Sum, &mut grad, Some(&mut losses))
                    .unwrap();
                let hard = y == 0.0 || y == 1.0;
                let at = a.map_or(1.0, |a| (a * y + (1.0 - a) * (1.0 - y)) as f64);
                let (lb, gb) = binary_bounds(true, hard, g as f64);
                for (i, &z) in grid.iter().enumerate() {
                    let (l, d) = focal_ref(z as f64, y as f64, g as f64, a.map(f64::from), 0.0);
                    lw.see(losses[i], l, LOSS_FLOOR, lb, (z, y, g));
                    let floor = if hard { LOSS_FLOOR } else { GRAD_FLOOR * at };
                    gw.see(grad[i], d, floor, gb, (z, y, g));
                }
            }
        }
    }
    for &pw in &[1.0f32, 3.0] {
        let c = SigmoidCe::PLAIN.with_pos_weight(pw).unwrap();
        for &y in &TARGETS {
            let ys = vec![y; n];
            Batch::new(&ys)
                .loss_grad(&c, &grid, Reduction::Sum, &mut grad, Some(&mut losses))
                .unwrap();
            let hard = y == 0.0 || y == 1.0;
            for (i, &z) in grid.iter().enumerate() {
                let (l, d) = bce_ref(z as f64, y as f64, pw as f64, 0.0);
                lw.see(
                    losses[i],
                    l,
                    LOSS_FLOOR * pw as f64,
                    SIGMOID_CE_LOSS.get(),
                    (z, y, pw),
                );
                let floor = if hard { LOSS_FLOOR } else { GRAD_FLOOR } * pw as f64;
                gw.see(grad[i], d, floor, SIGMOID_CE_GRAD.get(), (z, y, pw));
            }
        }
    }
    lw.check("batch (SIMD) losses");
    gw.check("batch (SIMD) gradients");
}

#[test]
fn focal_with_smoothing_against_f64() {
    let grid = logit_grid();
    let (mut lw, mut gw) = <(Worst, Worst)>::default();
    for &g in &[0.0f32, 0.5, 2.0, 3.5] {
        for &a in &[None, Some(0.25f32)] {
            for &eps in &[0.01f32, 0.1, 1.0] {
                let f = Focal::new(g, a).unwrap().with_smoothing(eps).unwrap();
                for &y in &TARGETS {
                    for &z in &grid {
                        let r = f.loss_grad(z, y).unwrap();
                        let (l, d) =
                            focal_ref(z as f64, y as f64, g as f64, a.map(f64::from), eps as f64);
                        lw.see(
                            r.loss,
                            l,
                            LOSS_FLOOR,
                            FOCAL_LOSS_SOFT.at(g as f64),
                            (z, y, g),
                        );
                        gw.see(
                            r.grad,
                            d,
                            GRAD_FLOOR,
                            FOCAL_GRAD_SOFT.at(g as f64),
                            (z, y, g),
                        );
                    }
                }
            }
        }
    }
    lw.check("smoothed focal loss");
    gw.check("smoothed focal grad");
}

#[test]
fn bce_sweep_against_f64() {
    let grid = logit_grid();
    let (mut lw, mut gw) = <(Worst, Worst)>::default();
    for &pw in &[1.0f32, 0.3, 3.0, 100.0] {
        for &eps in &[0.0f32, 0.1] {
            let c = SigmoidCe::PLAIN
                .with_pos_weight(pw)
                .unwrap()
                .with_smoothing(eps)
                .unwrap();
            for &y in &TARGETS {
                for &z in &grid {
                    let r = c.loss_grad(z, y).unwrap();
                    let (l, d) = bce_ref(z as f64, y as f64, pw as f64, eps as f64);
                    lw.see(
                        r.loss,
                        l,
                        LOSS_FLOOR * pw.max(1.0) as f64,
                        SIGMOID_CE_LOSS.get(),
                        (z, y, pw),
                    );
                    let hard = (y == 0.0 || y == 1.0) && eps == 0.0;
                    let floor = if hard { LOSS_FLOOR } else { GRAD_FLOOR } * pw.max(1.0) as f64;
                    gw.see(r.grad, d, floor, SIGMOID_CE_GRAD.get(), (z, y, pw));
                }
            }
        }
    }
    lw.check("bce loss");
    gw.check("bce grad");
}

#[test]
fn probability_variants_against_f64() {
    let (mut lw, mut gw) = <(Worst, Worst)>::default();
    let mut ps: Vec<f32> = (0..=2000).map(|i| i as f32 / 2000.0).collect();
    ps.extend([1e-30, 1e-8, 1e-7, 2e-7, 1e-6, 0.999_999, 1.0 - 1e-7]);
    for &g in &GAMMAS {
        for &a in &ALPHAS {
            let f = Focal::new(g, a).unwrap();
            for &y in &TARGETS {
                for &p in &ps {
                    let r = f.loss_grad_prob(p, y).unwrap();
                    let (l, d) = focal_prob_ref(p as f64, y as f64, g as f64, a.map(f64::from));
                    lw.see(r.loss, l, LOSS_FLOOR, PROB_LOSS.at(g as f64), (p, y, g));
                    // ∂/∂p scales like 1/PROB_EPS at the clamp: relative floor 1.
                    gw.see(r.grad, d, GRAD_FLOOR, PROB_GRAD.at(g as f64), (p, y, g));
                }
            }
        }
    }
    let c = SigmoidCe::PLAIN;
    for &y in &TARGETS {
        for &p in &ps {
            let r = c.loss_grad_prob(p, y).unwrap();
            let (l, d) = focal_prob_ref(p as f64, y as f64, 0.0, None);
            lw.see(r.loss, l, LOSS_FLOOR, PROB_LOSS.get(), (p, y, 0.0));
            gw.see(r.grad, d, GRAD_FLOOR, PROB_GRAD.get(), (p, y, 0.0));
        }
    }
    lw.check("probability-input loss");
    gw.check("probability-input grad");
}

// ------------------------------------------------------- finite differences

/// Central differences of the f64 reference validate the reference gradient;
/// our f32 gradient must match both.
#[test]
fn gradients_match_finite_differences() {
    let zs = [
        -30.0, -8.0, -2.5, -0.7, -1e-3, 0.0, 1e-3, 0.3, 1.9, 6.0, 25.0,
    ];
    for &g in &GAMMAS {
        for &a in &ALPHAS {
            for &eps in &[0.0, 0.1] {
                let f = Focal::new(g, a).unwrap().with_smoothing(eps).unwrap();
                for &y in &TARGETS {
                    for &z in &zs {
                        let h = 1e-5 * (1.0f64).max((z as f64).abs());
                        let lp = focal_ref(
                            z as f64 + h,
                            y as f64,
                            g as f64,
                            a.map(f64::from),
                            eps as f64,
                        )
                        .0;
                        let lm = focal_ref(
                            z as f64 - h,
                            y as f64,
                            g as f64,
                            a.map(f64::from),
                            eps as f64,
                        )
                        .0;
                        let fd = (lp - lm) / (2.0 * h);
                        let (_, d) =
                            focal_ref(z as f64, y as f64, g as f64, a.map(f64::from), eps as f64);
                        let tol = 1e-6 * (1.0 + d.abs());
                        // γ < 1 has an unbounded second derivative at the
                        // minimum: skip FD exactly there.
                        if g < 1.0 && g > 0.0 && y == 1.0 && z > 20.0 {
                            continue;
                        }
                        assert!(
                            (fd - d).abs() <= tol + 1e-6 * fd.abs(),
                            "ref FD z={z} y={y} g={g}: {fd} vs {d}"
                        );
                        let ours = f.loss_grad(z, y).unwrap().grad as f64;
                        assert!(
                            (ours - fd).abs() <= 1e-5 * (1.0 + fd.abs()),
                            "ours vs FD z={z} y={y} g={g}: {ours} vs {fd}"
                        );
                    }
                }
            }
        }
    }
    for &pw in &[1.0f32, 4.0] {
        let c = SigmoidCe::PLAIN.with_pos_weight(pw).unwrap();
        for &y in &TARGETS {
            for &z in &zs {
                let h = 1e-5 * (1.0f64).max((z as f64).abs());
                let fd = (bce_ref(z as f64 + h, y as f64, pw as f64, 0.0).0
                    - bce_ref(z as f64 - h, y as f64, pw as f64, 0.0).0)
                    / (2.0 * h);
                let ours = c.loss_grad(z, y).unwrap().grad as f64;
                assert!(
                    (ours - fd).abs() <= 1e-5 * (1.0 + fd.abs()),
                    "bce z={z} y={y}: {ours} vs {fd}"
                );
            }
        }
    }
    // Probability input: FD in p away from the clamp.
    for &g in &[0.0f32, 0.5, 2.0] {
        let f = Focal::new(g, Some(0.25)).unwrap();
        for &y in &TARGETS {
            for &p in &[0.01f32, 0.2, 0.5, 0.77, 0.99] {
                let h = 1e-6;
                let fd = (focal_prob_ref(p as f64 + h, y as f64, g as f64, Some(0.25)).0
                    - focal_prob_ref(p as f64 - h, y as f64, g as f64, Some(0.25)).0)
                    / (2.0 * h);
                let ours = f.loss_grad_prob(p, y).unwrap().grad as f64;
                assert!(
                    (ours - fd).abs() <= 1e-4 * (1.0 + fd.abs()),
                    "prob p={p} y={y} g={g}: {ours} vs {fd}"
                );
            }
        }
    }
}

// -------------------------------------------------- literature, known bugs

#[test]
fn literature_values() {
    // Lin et al. / the focal-vs-CE note: p_t = 0.9, 0.5, 0.1.
    let ce = Focal::new(0.0, None).unwrap();
    let fl = Focal::new(2.0, None).unwrap();
    for (pt, want_ce, want_fl) in [
        (0.9f32, 0.105, 0.00105),
        (0.5, 0.693, 0.173),
        (0.1, 2.303, 1.865),
    ] {
        let z = libm::logf(pt / (1.0 - pt));
        let got_ce = ce.loss_grad(z, 1.0).unwrap().loss;
        let got_fl = fl.loss_grad(z, 1.0).unwrap().loss;
        // The literature rounds to 3 or 4 significant digits.
        assert!(
            (got_ce - want_ce).abs() <= 5e-4 * want_ce.max(1.0),
            "CE at {pt}: {got_ce}"
        );
        assert!(
            (got_fl - want_fl).abs() <= 5e-3 * want_fl,
            "FL at {pt}: {got_fl}"
        );
        // Same from the negative side: y = 0 with z → -z.
        assert_eq!(fl.loss_grad(-z, 0.0).unwrap().loss, got_fl);
    }
}

#[test]
fn torchvision_failure_cases_are_handled() {
    // γ = 0.5, confident correct prediction: (1-p_t)^(γ-1) = inf in a pow
    // backward; ours is finite and matches the f64 value.
    let f = Focal::new(0.5, Some(0.25)).unwrap();
    for z in [20.0f32, 50.0, 88.0, 200.0, 1e4] {
        let r = f.loss_grad(z, 1.0).unwrap();
        assert!(r.grad.is_finite() && r.grad <= 0.0, "z={z}: {r:?}");
        let (_, d) = focal_ref(z as f64, 1.0, 0.5, Some(0.25), 0.0);
        assert!(
            (r.grad as f64 - d).abs() <= 1e-6 * d.abs() + 1e-44,
            "z={z}: {} vs {d}",
            r.grad
        );
    }
    // Tiny losses are not rounded to 0: z = -20, y = 0 → log1p(e^-20).
    let want = (-20.0f64).exp().ln_1p();
    let got = SigmoidCe::PLAIN.loss_grad(-20.0, 0.0).unwrap().loss as f64;
    assert!(
        (got - want).abs() <= 4.0 * f64::from(f32::EPSILON) * want,
        "{got} vs {want}"
    );
    assert!((got - 2.06e-9).abs() < 0.01e-9);
    let got = Focal::new(0.0, None)
        .unwrap()
        .loss_grad(-20.0, 0.0)
        .unwrap()
        .loss as f64;
    assert!((got - want).abs() <= 4.0 * f64::from(f32::EPSILON) * want);
    // And logits of ±1e4 give finite values everywhere.
    for z in [-1e4f32, 1e4, f32::MAX, -f32::MAX] {
        for y in TARGETS {
            for g in GAMMAS {
                let r = Focal::new(g, Some(0.25)).unwrap().loss_grad(z, y).unwrap();
                assert!(
                    r.loss.is_finite() && r.grad.is_finite(),
                    "z={z} y={y} g={g}: {r:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------- batch semantics

fn random_batch(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<bool>) {
    let mut s = Rng(seed);
    let z = (0..n).map(|_| ((s.f() - 0.5) * 24.0) as f32).collect();
    let y = (0..n)
        .map(|_| {
            let r = s.f();
            if r < 0.1 {
                1.0
            } else if r < 0.8 {
                0.0
            } else {
                s.f() as f32
            }
        })
        .collect();
    let w = (0..n).map(|_| (s.f() * 2.0) as f32).collect();
    let ig = (0..n).map(|_| s.f() < 0.1).collect();
    (z, y, w, ig)
}

#[test]
fn batch_reductions_weights_and_mask_against_f64() {
    let f = Focal::new(1.5, Some(0.3)).unwrap();
    // Lengths that exercise the SIMD remainder.
    for n in [1usize, 7, 8, 9, 31, 100, 1027] {
        let (z, y, w, ig) = random_batch(n, n as u64);
        let refs: Vec<(f64, f64)> = (0..n)
            .map(|i| focal_ref(z[i] as f64, y[i] as f64, 1.5, Some(0.3), 0.0))
            .collect();
        let active: Vec<usize> = (0..n).filter(|&i| !ig[i]).collect();
        let sum: f64 = active.iter().map(|&i| w[i] as f64 * refs[i].0).sum();
        let pos: f64 = active.iter().map(|&i| y[i] as f64).sum::<f64>().max(1.0);
        for (red, denom) in [
            (Reduction::Sum, 1.0),
            (Reduction::Mean, active.len() as f64),
            (Reduction::MeanOver(17.5), 17.5),
            (Reduction::MeanOverPositives, pos),
        ] {
            let mut grad = vec![f32::NAN; n];
            let mut losses = vec![f32::NAN; n];
            let l = Batch::new(&y)
                .with_weights(&w)
                .with_ignore(&ig)
                .loss_grad(&f, &z, red, &mut grad, Some(&mut losses))
                .unwrap();
            let want = if denom == 0.0 { 0.0 } else { sum / denom };
            assert!(
                (l as f64 - want).abs() <= 1e-5 * want.abs() + 1e-30,
                "n={n} {red:?}: {l} vs {want}"
            );
            for i in 0..n {
                let (wl, wg) = if ig[i] {
                    (0.0, 0.0)
                } else {
                    (
                        w[i] as f64 * refs[i].0,
                        w[i] as f64 * refs[i].1 / if denom == 0.0 { 1.0 } else { denom },
                    )
                };
                assert!(
                    (losses[i] as f64 - wl).abs() <= 1e-5 * wl.abs() + 1e-30,
                    "loss[{i}]"
                );
                assert!(
                    (grad[i] as f64 - wg).abs() <= 1e-5 * wg.abs() + 1e-9,
                    "grad[{i}] {red:?}: {} vs {wg}",
                    grad[i]
                );
            }
            // Loss-only agrees with the fused call.
            let lo = Batch::new(&y)
                .with_weights(&w)
                .with_ignore(&ig)
                .loss(&f, &z, red)
                .unwrap();
            assert_eq!(lo, l);
        }
    }
}

#[test]
fn in_place_equals_separate_buffers() {
    for n in [5usize, 64, 333] {
        let (z, y, _, _) = random_batch(n, 99 + n as u64);
        for red in [
            Reduction::Sum,
            Reduction::Mean,
            Reduction::MeanOverPositives,
        ] {
            let mut g = vec![0.0; n];
            let mut l1 = vec![0.0; n];
            let a = Batch::new(&y)
                .loss_grad(&Focal::RETINANET, &z, red, &mut g, Some(&mut l1))
                .unwrap();
            let mut zz = z.clone();
            let mut l2 = vec![0.0; n];
            let b = Batch::new(&y)
                .loss_grad_in_place(&Focal::RETINANET, &mut zz, red, Some(&mut l2))
                .unwrap();
            assert_eq!(a, b);
            assert_eq!(g, zz);
            assert_eq!(l1, l2);
        }
    }
}

#[test]
fn mean_of_2_pow_20_elements_is_accurate() {
    let n = 1 << 20;
    let (z, y, _, _) = random_batch(n, 7);
    let mut grad = vec![0.0; n];
    for (name, got, refl) in [
        (
            "focal",
            Batch::new(&y)
                .loss_grad(&Focal::RETINANET, &z, Reduction::Mean, &mut grad, None)
                .unwrap(),
            (0..n)
                .map(|i| focal_ref(z[i] as f64, y[i] as f64, 2.0, Some(0.25), 0.0).0)
                .sum::<f64>()
                / n as f64,
        ),
        (
            "bce",
            Batch::new(&y)
                .loss_grad(&SigmoidCe::PLAIN, &z, Reduction::Mean, &mut grad, None)
                .unwrap(),
            (0..n)
                .map(|i| bce_ref(z[i] as f64, y[i] as f64, 1.0, 0.0).0)
                .sum::<f64>()
                / n as f64,
        ),
    ] {
        let rel = (got as f64 - refl).abs() / refl;
        // What a plain sequential f32 sum of the (exact-ish) per-element
        // losses gives on the same data, for comparison.
        let naive: f32 = (0..n)
            .map(|i| focal_or_bce_ref(name, z[i], y[i]) as f32)
            .sum::<f32>()
            / n as f32;
        let naive_rel = (naive as f64 - refl).abs() / refl;
        println!(
            "{name}: mean of 2^20, relative error {rel:e} (sequential f32 sum: {naive_rel:e})"
        );
        // Documented bound: 2e-6 (reduction) + per-element error.
        assert!(rel <= MEAN_2_20.get() * U, "{name}: {rel:e}");
        assert!(
            rel * 100.0 < naive_rel,
            "{name}: blocked sum not better than sequential"
        );
    }
}

fn focal_or_bce_ref(name: &str, z: f32, y: f32) -> f64 {
    if name == "focal" {
        focal_ref(z as f64, y as f64, 2.0, Some(0.25), 0.0).0
    } else {
        bce_ref(z as f64, y as f64, 1.0, 0.0).0
    }
}

#[test]
fn all_ignored_mean_is_zero() {
    let z = [1.0f32, -2.0, 3.0];
    let y = [1.0f32, 0.0, 1.0];
    let mut g = [9.0f32; 3];
    let l = Batch::new(&y)
        .with_ignore(&[true; 3])
        .loss_grad(&Focal::RETINANET, &z, Reduction::Mean, &mut g, None)
        .unwrap();
    assert_eq!(l, 0.0);
    assert_eq!(g, [0.0; 3]);
}

// ---------------------------------------------------------------- bad input

/// Each loss's `grad_bound` (which decides whether weighted gradients need
/// saturating) holds over logits in `[-1e4, 1e4]`, hard, soft and smoothed
/// targets, probability inputs (clamp points included), γ up to 1000.
#[test]
fn gradient_bounds_hold() {
    use tinyloss::binary::Kernel;
    let zs = logit_grid();
    let ps: Vec<f32> = [
        0.0f32,
        1e-9,
        1e-7,
        1e-5,
        0.01,
        0.3,
        0.5,
        0.9,
        0.99999,
        1.0 - 1e-7,
        1.0,
    ]
    .into_iter()
    .chain((1..200).map(|i| i as f32 / 200.0))
    .collect();
    let ys = [0.0f32, 1.0, 0.05, 0.5, 0.95];
    let mut worst: f32 = 0.0;
    let mut check = |name: &str, g: f32, bound: f32| {
        assert!(
            g.abs() <= bound,
            "{name}: |g| = {} > bound {bound}",
            g.abs()
        );
        worst = worst.max(g.abs() / bound);
    };
    for gamma in [0.0f32, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 20.0, 1000.0] {
        for alpha in [None, Some(0.01), Some(0.25), Some(0.99), Some(1.0)] {
            for eps in [0.0f32, 0.1] {
                let f = Focal::new(gamma, alpha)
                    .unwrap()
                    .with_smoothing(eps)
                    .unwrap();
                for &y in &ys {
                    for &z in &zs {
                        check(
                            "focal",
                            f.loss_grad(z, y).unwrap().grad,
                            f.grad_bound(false),
                        );
                    }
                    for &p in &ps {
                        check(
                            "focal prob",
                            f.loss_grad_prob(p, y).unwrap().grad,
                            f.grad_bound(true),
                        );
                    }
                }
            }
        }
    }
    for w in [0.0f32, 0.3, 1.0, 3.0, 100.0, 1e30] {
        for eps in [0.0f32, 0.1] {
            let b = SigmoidCe::PLAIN
                .with_pos_weight(w)
                .unwrap()
                .with_smoothing(eps)
                .unwrap();
            for &y in &ys {
                for &z in &zs {
                    check("bce", b.loss_grad(z, y).unwrap().grad, b.grad_bound(false));
                }
                for &p in &ps {
                    check(
                        "bce prob",
                        b.loss_grad_prob(p, y).unwrap().grad,
                        b.grad_bound(true),
                    );
                }
            }
        }
    }
    println!("largest |g| / bound: {worst:.3}");
    assert!(worst > 0.1, "the bounds are not vacuous");
}

/// A weight near `f32::MAX` on an element whose gradient exceeds 1 in
/// magnitude: the weighted gradient is exact where the scaled value fits,
/// saturated at `±f32::MAX` where it does not, finite, with the sign of the
/// unweighted one.
#[test]
fn weighted_gradients_saturate() {
    let bce = SigmoidCe::PLAIN.with_pos_weight(3.0).unwrap();
    let z = [-20.0f32, 0.5, 4.0];
    let y = [1.0f32, 0.0, 1.0];
    let w = [f32::MAX, 1.0, 1e37];
    for r in [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(1e-3)] {
        let mut g = [0.0f32; 3];
        let loss = Batch::new(&y)
            .with_weights(&w)
            .loss_grad(&bce, &z, r, &mut g, None)
            .unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{r:?}: loss {loss}");
        assert!(g.iter().all(|v| v.is_finite()), "{r:?}: {g:?}");
        let one = |i: usize| bce.loss_grad(z[i], y[i]).unwrap().grad;
        let scale = match r {
            Reduction::Sum => 1.0,
            Reduction::Mean => 1.0f32 / 3.0,
            _ => 1e3,
        };
        // Element 0: |g| ≈ 3, times f32::MAX, times the scale: the exact
        // value where it fits in f32 (Mean: -f32::MAX to rounding), else
        // saturated at -f32::MAX; never a product saturated before scaling.
        let exact = one(0) as f64 * f32::MAX as f64 * scale as f64;
        let want = exact.max(-f32::MAX as f64) as f32;
        assert!(
            (g[0] - want).abs() <= 1e-6 * want.abs(),
            "{r:?}: {} vs {want}",
            g[0]
        );
        // Element 2: 1e37 · g is finite: exact up to the scale's rounding.
        let want = one(2) * 1e37 * scale;
        assert!(
            (g[2] - want).abs() <= 1e-6 * want.abs(),
            "{r:?}: {} vs {want}",
            g[2]
        );
    }
}

/// A normaliser below 1 scales the gradient up: below `1/f32::MAX` the scale
/// itself would overflow f32 (and `0 · ∞` give NaN). Each gradient is
/// `Sum`'s divided by `d` exactly (to two roundings), or `±f32::MAX` where
/// that is beyond f32: finite, never NaN, never a clamped scale.
#[test]
fn tiny_normalisers_give_finite_saturated_gradients() {
    fn grads<L: tinyloss::BinaryLoss>(l: &L, w: Option<&[f32]>, r: Reduction) -> Vec<f32> {
        let z = [-2_557_670.3f32, 0.0, 3.0, -1e4, 25.0, -0.5, 1e-3, 7.0, -9.0];
        let y = [0.0f32, 0.0, 1.0, 1.0, 0.0, 0.3, 1.0, 0.0, 1.0];
        let mut g = vec![0.0f32; z.len()];
        let b = match w {
            Some(w) => Batch::new(&y).with_weights(w),
            None => Batch::new(&y),
        };
        let loss = b.loss_grad(l, &z, r, &mut g, None).unwrap();
        assert!(!loss.is_nan());
        if w.is_none() {
            // In place: the same gradient, written over the logits.
            let mut zg = z;
            Batch::new(&y)
                .loss_grad_in_place(l, &mut zg, r, None)
                .unwrap();
            assert!(zg.iter().zip(&g).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        g
    }
    let w = [1.0f32, 2.0, 0.0, 1e30, 3.0, 1.0, 0.5, f32::MAX, 1.0];
    let focal = Focal::new(0.5, Some(0.25)).unwrap();
    let bce = SigmoidCe::PLAIN.with_pos_weight(3.0).unwrap();
    let mut saturated = 0;
    for d in [1e-40f32, f32::from_bits(1), 1e-30, 0.5] {
        for w in [None, Some(&w[..])] {
            let cases = [
                (
                    grads(&focal, w, Reduction::MeanOver(d)),
                    grads(&focal, w, Reduction::Sum),
                ),
                (
                    grads(&bce, w, Reduction::MeanOver(d)),
                    grads(&bce, w, Reduction::Sum),
                ),
            ];
            for (g, sum) in cases {
                for (i, (&g, &s)) in g.iter().zip(&sum).enumerate() {
                    let exact = s as f64 / d as f64;
                    assert!(g.is_finite(), "d={d} w={w:?}: grad[{i}] = {g}");
                    if exact.abs() > f32::MAX as f64 {
                        saturated += 1;
                        assert_eq!(g, f32::MAX.copysign(s), "d={d} w={w:?}: grad[{i}]");
                    } else {
                        // Two roundings (1/d, then the product): 2 ULP.
                        let tol = 2.0 * f32::EPSILON as f64 * exact.abs();
                        assert!(
                            (g as f64 - exact).abs() <= tol,
                            "d={d} w={w:?}: grad[{i}] = {g}, exact {exact}"
                        );
                    }
                }
            }
        }
    }
    assert!(saturated > 0, "the cases reach saturation");
}

/// The validation screen tests whole blocks of 4096 elements at once: an
/// error is reported at the first bad element wherever it falls relative to
/// the blocks and the SIMD tail, the batch is left untouched, and a soft
/// target found only in a late block still selects the soft-target kernel.
#[test]
fn screen_blocks_locate_errors_and_soft_targets() {
    let n = 3 * 4096 + 37;
    let f = Focal::RETINANET;
    let z: Vec<f32> = (0..n).map(|i| ((i % 97) as f32 - 48.0) * 0.25).collect();
    let y: Vec<f32> = (0..n).map(|i| (i % 5 == 0) as u8 as f32).collect();
    let mut g = vec![7.0f32; n];
    for i in [0usize, 4095, 4096, 8191, 8192, 9000, 3 * 4096, n - 1] {
        for bad in cases::NON_FINITE {
            let mut zz = z.clone();
            zz[i] = bad;
            assert_eq!(
                Batch::new(&y).loss_grad(&f, &zz, Reduction::Mean, &mut g, None),
                Err(Error::NonFiniteInput { at: At::Element(i) })
            );
        }
        for bad in cases::BAD_TARGETS {
            let mut yy = y.clone();
            yy[i] = bad;
            assert_eq!(
                Batch::new(&yy).loss_grad(&f, &z, Reduction::Mean, &mut g, None),
                Err(Error::TargetOutOfRange { at: At::Element(i) })
            );
        }
        assert!(g.iter().all(|&v| v == 7.0), "output written on error");
    }
    // Two defects, and defects of every kind in one block: the first wins.
    let mut yy = y.clone();
    yy[9000] = f32::NAN;
    yy[5000] = -1.0;
    let mut zz = z.clone();
    zz[4999] = f32::INFINITY;
    assert_eq!(
        Batch::new(&yy).loss_grad(&f, &zz, Reduction::Mean, &mut g, None),
        Err(Error::NonFiniteInput {
            at: At::Element(4999)
        })
    );
    // Valid extremes are accepted: f32::MAX logits, subnormal and -0 targets.
    let (mut zz, mut yy) = (z.clone(), y.clone());
    zz[4100] = f32::MAX;
    zz[4101] = -f32::MAX;
    yy[4102] = f32::from_bits(1);
    yy[4103] = -0.0;
    assert!(Batch::new(&yy)
        .loss_grad(&f, &zz, Reduction::Mean, &mut g, None)
        .is_ok());
    // One soft target in the third block: the batch result is the mean of the
    // per-element results (the soft kernel is picked), not the hard kernel's.
    let mut yy = y.clone();
    yy[2 * 4096 + 5] = 0.3;
    let got = Batch::new(&yy)
        .loss_grad(&f, &z, Reduction::Sum, &mut g, None)
        .unwrap();
    let want: f64 = z
        .iter()
        .zip(&yy)
        .map(|(&zi, &yi)| f.loss_grad(zi, yi).unwrap().loss as f64)
        .sum();
    assert!(
        ((got as f64) - want).abs() <= 1e-5 * want,
        "{got} vs {want}"
    );
    let k = 2 * 4096 + 5;
    let one = f.loss_grad(z[k], 0.3).unwrap().grad;
    assert!(
        (g[k] - one).abs() <= 1e-6 * one.abs().max(1e-30),
        "{} vs {one}",
        g[k]
    );
}

#[test]
fn bad_input_gets_errors_and_writes_nothing() {
    let z = [0.5f32, -1.0, 2.0, 0.0, 1.0, 3.0, -4.0, 5.0, 6.0, 7.0];
    let y = [1.0f32, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0];
    let f = Focal::RETINANET;
    let call = |z: &[f32], y: &[f32], red, w: Option<&[f32]>, gl: usize| {
        let mut g = vec![42.0f32; gl];
        let mut l = vec![43.0f32; z.len()];
        let mut b = Batch::new(y);
        if let Some(w) = w {
            b = b.with_weights(w);
        }
        let r = b.loss_grad(&f, z, red, &mut g, Some(&mut l));
        if r.is_err() {
            assert!(
                g.iter().all(|&v| v == 42.0) && l.iter().all(|&v| v == 43.0),
                "output written on error"
            );
        }
        r
    };
    assert_eq!(call(&[], &[], Reduction::Mean, None, 0), Err(Error::Empty));
    assert_eq!(
        call(&z, &y[..9], Reduction::Mean, None, 10),
        Err(Error::LengthMismatch {
            what: "inputs",
            expected: 9,
            found: 10
        })
    );
    assert_eq!(
        call(&z, &y, Reduction::Mean, None, 9),
        Err(Error::LengthMismatch {
            what: "grad",
            expected: 10,
            found: 9
        })
    );
    for (i, bad) in [
        (3usize, f32::NAN),
        (9, f32::INFINITY),
        (0, f32::NEG_INFINITY),
    ] {
        let mut zz = z;
        zz[i] = bad;
        assert_eq!(
            call(&zz, &y, Reduction::Mean, None, 10),
            Err(Error::NonFiniteInput { at: At::Element(i) })
        );
    }
    for (i, bad) in [(7usize, f32::NAN), (2, -0.1), (5, 1.0001)] {
        let mut yy = y;
        yy[i] = bad;
        assert_eq!(
            call(&z, &yy, Reduction::Mean, None, 10),
            Err(Error::TargetOutOfRange { at: At::Element(i) })
        );
    }
    let mut w = [1.0f32; 10];
    w[4] = -1.0;
    assert_eq!(
        call(&z, &y, Reduction::Mean, Some(&w), 10),
        Err(Error::InvalidWeight { at: At::Element(4) })
    );
    w[4] = f32::NAN;
    assert_eq!(
        call(&z, &y, Reduction::Mean, Some(&w), 10),
        Err(Error::InvalidWeight { at: At::Element(4) })
    );
    // Every kind of bad weight, on the fast and the slow side of the
    // validation's bit compare; -0.0, subnormals and f32::MAX are valid.
    for bad in cases::BAD_WEIGHTS {
        let mut w = [1.0f32; 10];
        w[7] = bad;
        assert_eq!(
            call(&z, &y, Reduction::Mean, Some(&w), 10),
            Err(Error::InvalidWeight { at: At::Element(7) }),
            "{bad}"
        );
    }
    for good in cases::EDGE_WEIGHTS {
        let mut w = [1.0f32; 10];
        w[7] = good;
        assert!(
            call(&z, &y, Reduction::Mean, Some(&w), 10).is_ok(),
            "{good}"
        );
    }
    assert_eq!(
        call(&z, &y, Reduction::Mean, Some(&w[..3]), 10),
        Err(Error::LengthMismatch {
            what: "weights",
            expected: 10,
            found: 3
        })
    );
    for d in cases::BAD_NORMALIZERS {
        assert_eq!(
            call(&z, &y, Reduction::MeanOver(d), None, 10),
            Err(Error::InvalidParameter { name: "normalizer" })
        );
    }
    // Ignored elements are not validated.
    let mut zz = z;
    zz[1] = f32::NAN;
    let mut yy = y;
    yy[2] = -1.0;
    let mut ig = [false; 10];
    ig[1] = true;
    ig[2] = true;
    let mut g = [0.0f32; 10];
    assert!(Batch::new(&yy)
        .with_ignore(&ig)
        .loss_grad(&f, &zz, Reduction::Mean, &mut g, None)
        .is_ok());
    assert!(g.iter().all(|v| v.is_finite()) && g[1] == 0.0 && g[2] == 0.0);
    // Probability inputs must lie in [0, 1].
    let p = [0.5f32, 1.5];
    let mut g2 = [7.0f32; 2];
    let probs = Batch::new(&[1.0, 0.0]).with_probabilities();
    assert_eq!(
        probs.loss_grad(&f, &p, Reduction::Sum, &mut g2, None),
        Err(Error::ProbabilityOutOfRange { at: At::Element(1) })
    );
    assert_eq!(g2, [7.0; 2]);
    for bad in cases::BAD_PROBS {
        let p = [0.5f32, bad];
        let want = |at| {
            if bad.is_finite() {
                Error::ProbabilityOutOfRange { at }
            } else {
                Error::NonFiniteInput { at }
            }
        };
        assert_eq!(
            probs.loss_grad(&f, &p, Reduction::Sum, &mut g2, None),
            Err(want(At::Element(1))),
            "{bad}"
        );
        assert_eq!(f.loss_grad_prob(bad, 1.0), Err(want(At::Element(0))));
    }
    assert_eq!(g2, [7.0; 2]);
    for good in cases::EDGE_PROBS {
        for y in cases::EDGE_TARGETS {
            assert!(f.loss_grad_prob(good, y).is_ok(), "p={good} y={y}");
            assert!(f.loss_grad(good, y).is_ok(), "z={good} y={y}");
        }
    }
    // In place: logits untouched on error.
    let mut zz = z;
    let mut yy = y;
    yy[6] = 2.0;
    assert_eq!(
        Batch::new(&yy).loss_grad_in_place(&f, &mut zz, Reduction::Mean, None),
        Err(Error::TargetOutOfRange { at: At::Element(6) })
    );
    assert_eq!(zz, z);
    // The branch-free screen's edges: -0.0 and subnormals are valid, one ULP
    // outside [0, 1] is not, and so are infinities; the first bad index of a
    // later block is found.
    let mut zz = vec![0.5f32; 200];
    let mut yy = vec![0.0f32; 200];
    yy[3] = -0.0;
    yy[4] = f32::from_bits(1);
    yy[5] = 1.0;
    let mut g = vec![0.0f32; 200];
    assert!(Batch::new(&yy)
        .loss_grad(&f, &zz, Reduction::Sum, &mut g, None)
        .is_ok());
    for (i, bad) in [
        (150usize, 1.0 + f32::EPSILON),
        (70, -f32::from_bits(1)),
        (199, f32::INFINITY),
        (64, f32::NEG_INFINITY),
    ] {
        let mut y2 = yy.clone();
        y2[i] = bad;
        assert_eq!(
            Batch::new(&y2).loss_grad(&f, &zz, Reduction::Sum, &mut g, None),
            Err(Error::TargetOutOfRange { at: At::Element(i) })
        );
    }
    zz[130] = f32::MAX;
    assert!(Batch::new(&yy)
        .loss_grad(&f, &zz, Reduction::Sum, &mut g, None)
        .is_ok());
    zz[131] = f32::INFINITY;
    assert_eq!(
        Batch::new(&yy).loss_grad(&f, &zz, Reduction::Sum, &mut g, None),
        Err(Error::NonFiniteInput {
            at: At::Element(131)
        })
    );
    let mut pp = vec![0.25f32; 100];
    pp[9] = -0.0;
    assert!(Batch::new(&yy[..100])
        .with_probabilities()
        .loss(&f, &pp, Reduction::Sum)
        .is_ok());
    pp[77] = 1.0 + f32::EPSILON;
    assert_eq!(
        Batch::new(&yy[..100])
            .with_probabilities()
            .loss(&f, &pp, Reduction::Sum),
        Err(Error::ProbabilityOutOfRange {
            at: At::Element(77)
        })
    );
    // Configuration errors.
    for g in cases::BAD_GAMMAS {
        assert_eq!(
            Focal::new(g, None),
            Err(Error::InvalidParameter { name: "gamma" })
        );
    }
    for a in cases::BAD_ALPHAS {
        assert_eq!(
            Focal::new(2.0, Some(a)),
            Err(Error::InvalidParameter { name: "alpha" })
        );
    }
    for e in cases::BAD_SMOOTHING {
        assert_eq!(
            Focal::RETINANET.with_smoothing(e),
            Err(Error::InvalidParameter { name: "smoothing" })
        );
        assert_eq!(
            SigmoidCe::PLAIN.with_smoothing(e),
            Err(Error::InvalidParameter { name: "smoothing" })
        );
    }
    for w in cases::BAD_POS_WEIGHTS {
        assert_eq!(
            SigmoidCe::PLAIN.with_pos_weight(w),
            Err(Error::InvalidParameter { name: "pos_weight" })
        );
    }
    assert_eq!(
        f.loss_grad(f32::NAN, 1.0),
        Err(Error::NonFiniteInput { at: At::Element(0) })
    );
    assert_eq!(
        f.loss_grad(0.0, -0.5),
        Err(Error::TargetOutOfRange { at: At::Element(0) })
    );
    // Errors print something useful.
    let msg = format!("{}", Error::TargetOutOfRange { at: At::Element(6) });
    assert!(msg.contains("element 6"), "{msg}");
    let msg = format!("{}", Error::LabelOutOfRange { at: At::Row(3) });
    assert!(msg.contains("row 3"), "{msg}");
    let msg = format!("{}", Error::InvalidWeight { at: At::Class(2) });
    assert!(msg.contains("class 2"), "{msg}");
    let msg = format!("{}", Error::ProbabilityOutOfRange { at: At::Element(1) });
    assert!(
        msg.contains("outside [0, 1]") && !msg.contains("finite"),
        "{msg}"
    );
}

// ----------------------------------------------------------- property tests

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn loss_nonnegative_and_focal_below_ce(z in -1e4f32..1e4, y in 0.0f32..=1.0, g in 0.0f32..5.0, hard in any::<bool>()) {
        let y = if hard { y.round() } else { y };
        let fl = Focal::new(g, None).unwrap().loss_grad(z, y).unwrap();
        let ce = SigmoidCe::PLAIN.loss_grad(z, y).unwrap();
        prop_assert!(fl.loss >= 0.0 && ce.loss >= 0.0);
        prop_assert!(fl.loss <= ce.loss * (1.0 + 4.0 * f32::EPSILON), "{} > {}", fl.loss, ce.loss);
    }

    #[test]
    fn gradient_sign_for_hard_labels(z in -1e4f32..1e4, g in 0.0f32..5.0, a in 0.0f32..=1.0) {
        let f = Focal::new(g, Some(a)).unwrap();
        prop_assert!(f.loss_grad(z, 1.0).unwrap().grad <= 0.0);
        prop_assert!(f.loss_grad(z, 0.0).unwrap().grad >= 0.0);
    }

    #[test]
    fn gamma_zero_equals_cross_entropy(z in -1e4f32..1e4, y in 0.0f32..=1.0) {
        let fl = Focal::new(0.0, None).unwrap().loss_grad(z, y).unwrap();
        let ce = SigmoidCe::PLAIN.loss_grad(z, y).unwrap();
        prop_assert!((fl.loss - ce.loss).abs() <= 4.0 * f32::EPSILON * ce.loss.abs() + 1e-37);
        prop_assert!((fl.grad - ce.grad).abs() <= 4.0 * f32::EPSILON);
    }

    #[test]
    fn batch_equals_per_element(zs in proptest::collection::vec(-100f32..100.0, 1..40), g in 0.0f32..5.0) {
        let ys: Vec<f32> = zs.iter().enumerate().map(|(i, _)| (i % 3 == 0) as u8 as f32).collect();
        let f = Focal::new(g, Some(0.25)).unwrap();
        let mut grad = vec![0.0; zs.len()];
        let mut losses = vec![0.0; zs.len()];
        Batch::new(&ys).loss_grad(&f, &zs, Reduction::Sum, &mut grad, Some(&mut losses)).unwrap();
        for i in 0..zs.len() {
            let r = f.loss_grad(zs[i], ys[i]).unwrap();
            prop_assert!((r.loss - losses[i]).abs() <= 1e-6 * r.loss.abs() + 1e-37);
            prop_assert!((r.grad - grad[i]).abs() <= 1e-6 * r.grad.abs() + 1e-37);
        }
    }
}

/// `AnyLoss` runs the loops of the loss it holds: every batch call, option
/// and the per-element methods give the concrete type's bits.
#[test]
fn any_loss_is_bit_identical_to_the_concrete_losses() {
    use tinyloss::binary::AnyLoss;
    let n = 37;
    let z: Vec<f32> = (0..n).map(|i| (i as f32 - 18.0) * 0.61).collect();
    let p: Vec<f32> = z.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect();
    let y: Vec<f32> = (0..n).map(|i| [1.0, 0.0, 0.0, 0.3][i % 4]).collect();
    let w: Vec<f32> = (0..n).map(|i| 0.25 * (i % 5) as f32).collect();
    let m: Vec<bool> = (0..n).map(|i| i % 7 == 3).collect();
    fn all<L: tinyloss::BinaryLoss>(l: &L, b: Batch<'_>, x: &[f32]) -> Vec<u32> {
        let mut out = Vec::new();
        for r in [
            Reduction::Sum,
            Reduction::Mean,
            Reduction::MeanOver(3.5),
            Reduction::MeanOverPositives,
        ] {
            let (mut g, mut ls) = (vec![0.0f32; x.len()], vec![0.0f32; x.len()]);
            out.push(b.loss_grad(l, x, r, &mut g, None).unwrap().to_bits());
            out.push(
                b.loss_grad(l, x, r, &mut g, Some(&mut ls))
                    .unwrap()
                    .to_bits(),
            );
            out.extend(g.iter().chain(&ls).map(|v| v.to_bits()));
            let mut xg = x.to_vec();
            out.push(b.loss_grad_in_place(l, &mut xg, r, None).unwrap().to_bits());
            out.extend(xg.iter().map(|v| v.to_bits()));
            // In place gives the separate-buffer gradient, weights and mask included.
            assert_eq!(
                xg.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                g.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            out.push(b.loss(l, x, r).unwrap().to_bits());
        }
        out
    }
    let losses: [AnyLoss; 7] = [
        SigmoidCe::PLAIN.into(),
        tinyloss::Asymmetric::TIMM.into(),
        tinyloss::Poly1::new(Focal::RETINANET, 1.0).unwrap().into(),
        tinyloss::FocalStar::new(2.0, 1.0, Some(0.25))
            .unwrap()
            .into(),
        SigmoidCe::PLAIN.with_pos_weight(2.5).unwrap().into(),
        Focal::RETINANET.into(),
        Focal::new(1.5, None)
            .unwrap()
            .with_smoothing(0.1)
            .unwrap()
            .into(),
    ];
    for any in losses {
        let batches = [
            (Batch::new(&y), &z),
            (Batch::new(&y).with_weights(&w), &z),
            (Batch::new(&y).with_ignore(&m), &z),
            (Batch::new(&y).with_weights(&w).with_ignore(&m), &z),
            (Batch::new(&y).with_probabilities(), &p),
        ];
        for (b, x) in batches {
            let got = all(&any, b, x);
            let want = match any {
                AnyLoss::SigmoidCe(c) => all(&c, b, x),
                AnyLoss::Focal(f) => all(&f, b, x),
                AnyLoss::Asymmetric(f) => all(&f, b, x),
                AnyLoss::Poly1(f) => all(&f, b, x),
                AnyLoss::FocalStar(f) => all(&f, b, x),
                _ => unreachable!("a new loss needs its arm here"),
            };
            assert_eq!(got, want, "{any:?}");
        }
        for (&zi, &yi) in z.iter().zip(&y) {
            let (a, c) = match any {
                AnyLoss::SigmoidCe(c) => (c.loss_grad(zi, yi), c.loss_grad_prob(0.3, yi)),
                AnyLoss::Focal(f) => (f.loss_grad(zi, yi), f.loss_grad_prob(0.3, yi)),
                AnyLoss::Asymmetric(f) => (f.loss_grad(zi, yi), f.loss_grad_prob(0.3, yi)),
                AnyLoss::Poly1(f) => (f.loss_grad(zi, yi), f.loss_grad_prob(0.3, yi)),
                AnyLoss::FocalStar(f) => (f.loss_grad(zi, yi), f.loss_grad_prob(0.3, yi)),
                _ => unreachable!("a new loss needs its arm here"),
            };
            assert_eq!(any.loss_grad(zi, yi), a);
            assert_eq!(any.loss_grad_prob(0.3, yi), c);
        }
    }
}
