//! The imbalance loss family on the binary driver (asymmetric loss, Poly-1,
//! FL*, focal loss with the modulating factor held constant) against the f64
//! references of `tinyloss-reference`: dense sweeps per element and through
//! the batch kernels (SIMD lanes), probability inputs, finite differences,
//! the identities between the losses, the papers' defaults, bounds of the
//! gradient, every reduction with weights and a mask, and bad parameters.

use tinyloss::binary::{AnyLoss, Kernel};
use tinyloss::{
    Asymmetric, Batch, Error, Focal, FocalStar, GradMode, Poly1, Qfl, Reduction, SigmoidCe,
    Varifocal,
};
use tinyloss_reference::binary::{element_scale, Loss};
use tinyloss_reference::bounds::binary_element;
use tinyloss_reference::Worst;

/// Logits over [-1e4, 1e4]: log-spaced magnitudes, dense near 0 and where
/// f32's sigmoid saturates, and around the clips' `logit(m)`.
fn logit_grid() -> Vec<f32> {
    let mut v = vec![0.0f32];
    let mut m = 1e-7f64;
    while m <= 1e4 {
        v.push(m as f32);
        m *= 1.05;
    }
    v.push(1e4);
    for i in 0..=400 {
        v.push(i as f32 * 0.02);
    }
    for i in 0..=300 {
        v.push(15.0 + i as f32 * 0.25);
    }
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    v.extend(neg);
    // Near p = m for the clips used below.
    for m in [0.05f64, 0.01, 0.2] {
        let zm = (m / (1.0 - m)).ln();
        for k in -50..=50 {
            v.push((zm + k as f64 * 1e-4) as f32);
        }
    }
    v
}

/// Probabilities: log-spaced towards both ends, the clamp points, and
/// around the clips.
fn prob_grid() -> Vec<f32> {
    let mut v = vec![0.0f32, 1.0, 1e-7, 1.0 - 1e-7];
    let mut m = 1e-9f64;
    while m < 0.5 {
        v.push(m as f32);
        v.push((1.0 - m) as f32);
        m *= 1.1;
    }
    for i in 1..200 {
        v.push(i as f32 / 200.0);
    }
    for c in [0.05f32, 0.01, 0.2] {
        for k in -20..=20 {
            v.push(c + k as f32 * 1e-5);
        }
    }
    v
}

const TARGETS: [f32; 5] = [0.0, 1.0, 0.05, 0.5, 0.95];

fn opt(a: Option<f32>) -> Option<f64> {
    a.map(f64::from)
}

/// The configurations swept: each crate loss with its reference.
fn configs() -> Vec<(AnyLoss, Loss)> {
    let mut v: Vec<(AnyLoss, Loss)> = Vec::new();
    for eps in [0.0f32, 0.1] {
        for (gn, gp, clip) in [
            (4.0f32, 1.0f32, 0.05f32),
            (4.0, 0.0, 0.05),
            (2.0, 2.0, 0.0),
            (0.5, 0.25, 0.2),
            (0.0, 0.0, 0.0),
            (5.0, 3.0, 0.01),
            (1.5, 0.0, 0.0),
        ] {
            for mode in [GradMode::Full, GradMode::Detached] {
                let l = Asymmetric::new(gn, gp, clip)
                    .unwrap()
                    .with_grad_mode(mode)
                    .with_smoothing(eps)
                    .unwrap();
                v.push((
                    l.into(),
                    Loss::Asymmetric {
                        gamma_pos: gp as f64,
                        gamma_neg: gn as f64,
                        clip: clip as f64,
                        eps: eps as f64,
                        detached: mode == GradMode::Detached,
                    },
                ));
            }
        }
        for g in [0.0f32, 0.5, 2.0, 3.5] {
            for a in [None, Some(0.25)] {
                // ε from its lowest, -min(α_t).
                let lowest = a.map_or(-1.0, |a: f32| -a.min(1.0 - a));
                for e in [lowest, -0.1, 0.0, 1.0, 8.0] {
                    let base = Focal::new(g, a).unwrap().with_smoothing(eps).unwrap();
                    v.push((
                        Poly1::new(base, e).unwrap().into(),
                        Loss::Poly1 {
                            gamma: g as f64,
                            alpha: opt(a),
                            eps: eps as f64,
                            epsilon: e as f64,
                        },
                    ));
                }
                let d = Focal::new(g, a)
                    .unwrap()
                    .with_smoothing(eps)
                    .unwrap()
                    .with_grad_mode(GradMode::Detached);
                v.push((
                    d.into(),
                    Loss::FocalDetached {
                        gamma: g as f64,
                        alpha: opt(a),
                        eps: eps as f64,
                    },
                ));
            }
        }
        if eps == 0.0 {
            for beta in [1.0f32, 2.0, 3.5] {
                let q = if beta == 2.0 {
                    Qfl::MMDET
                } else {
                    Qfl::new(beta).unwrap()
                };
                v.push((q.into(), Loss::Qfl { beta: beta as f64 }));
            }
            for (a, g, iou) in [(0.75f32, 2.0f32, true), (0.5, 0.0, false), (1.0, 3.5, true)] {
                let l = Varifocal::new(a, g).unwrap().with_iou_weighted(iou);
                v.push((
                    l.into(),
                    Loss::Varifocal {
                        alpha: a as f64,
                        gamma: g as f64,
                        iou_weighted: iou,
                    },
                ));
            }
        }
        for (g, b) in [
            (1.0f32, 0.0f32),
            (2.0, 1.0),
            (0.25, -2.0),
            (5.0, 2.0),
            (1e-3, 0.0),
        ] {
            for a in [None, Some(0.25)] {
                let l = FocalStar::new(g, b, a)
                    .unwrap()
                    .with_smoothing(eps)
                    .unwrap();
                v.push((
                    l.into(),
                    Loss::FocalStar {
                        gamma: g as f64,
                        beta: b as f64,
                        alpha: opt(a),
                        eps: eps as f64,
                    },
                ));
            }
        }
    }
    v
}

fn name(l: &AnyLoss) -> &'static str {
    match l {
        AnyLoss::Asymmetric(_) => "asymmetric",
        AnyLoss::Poly1(_) => "poly-1",
        AnyLoss::FocalStar(_) => "FL*",
        AnyLoss::Qfl(_) => "QFL",
        AnyLoss::Varifocal(_) => "varifocal",
        AnyLoss::Focal(_) => "focal (detached)",
        _ => "other",
    }
}

/// Worst errors per (loss, input kind, loss/grad), with the configuration
/// of the worst point, asserted against the table's bounds.
#[derive(Default)]
struct Report(Vec<(String, Worst, String)>);

impl Report {
    fn get(&mut self, what: String) -> &mut (String, Worst, String) {
        if let Some(i) = self.0.iter().position(|(n, _, _)| *n == what) {
            return &mut self.0[i];
        }
        self.0.push((what, Worst::default(), String::new()));
        self.0.last_mut().unwrap()
    }
    #[allow(clippy::too_many_arguments)]
    fn see(&mut self, n: &str, rl: &Loss, prob: bool, hard: bool, x: f32, y: f32, got: (f32, f32)) {
        let want = if prob {
            rl.prob(x as f64, y as f64)
        } else {
            rl.logit(x as f64, y as f64)
        };
        let b = binary_element(rl, prob, hard, x as f64, y as f64);
        let kind = if prob { "prob" } else { "logit" };
        let at = (x, y, rl.gamma() as f32);
        assert!(
            got.0.is_finite() && got.1.is_finite(),
            "{n} {rl:?}: non-finite at {at:?}"
        );
        for (what, g, w, floor, bound) in [
            ("loss", got.0, want.0, b.loss_floor, b.loss),
            ("grad", got.1, want.1, b.grad_floor, b.grad),
        ] {
            let e = self.get(format!("{n} {kind} {what}"));
            let before = e.1.ratio;
            e.1.see(g, w, floor, bound, at);
            if e.1.ratio > before {
                e.2 = format!("{rl:?}");
            }
        }
    }
    fn check(&self) {
        let mut bad = Vec::new();
        for (n, w, cfg) in &self.0 {
            println!(
                "{n}: worst {:.2}u (ratio {:.3}) at {:?} of {cfg}, {} checks",
                w.err, w.ratio, w.at, w.checks
            );
            if w.ratio > 1.0 || w.failures > 0 {
                bad.push(n.clone());
            }
        }
        assert!(bad.is_empty(), "beyond the bound: {bad:?}");
    }
}

#[test]
fn per_element_sweeps_against_f64() {
    let zs = logit_grid();
    let ps = prob_grid();
    let mut r = Report::default();
    for (l, rl) in configs() {
        let n = name(&l);
        for &y in &TARGETS {
            let hard = y == 0.0 || y == 1.0;
            for &z in &zs {
                let g = l.loss_grad(z, y).unwrap();
                r.see(n, &rl, false, hard, z, y, (g.loss, g.grad));
            }
            for &p in &ps {
                let g = l.loss_grad_prob(p, y).unwrap();
                r.see(n, &rl, true, hard, p, y, (g.loss, g.grad));
            }
        }
    }
    r.check();
}

/// The batch kernels run on SIMD lanes on hosts, with hard-label kernels
/// where every target is 0 or 1: the same bounds per element.
#[test]
fn batch_kernels_against_f64() {
    let zs = logit_grid();
    let ps = prob_grid();
    let mut r = Report::default();
    for (l, rl) in configs() {
        let n = name(&l);
        for &y in &TARGETS {
            let hard = y == 0.0 || y == 1.0;
            for (xs, prob) in [(&zs, false), (&ps, true)] {
                let ys = vec![y; xs.len()];
                let mut g = vec![0.0; xs.len()];
                let mut ls = vec![0.0; xs.len()];
                let b = if prob {
                    Batch::new(&ys).with_probabilities()
                } else {
                    Batch::new(&ys)
                };
                b.loss_grad(&l, xs, Reduction::Sum, &mut g, Some(&mut ls))
                    .unwrap();
                for i in 0..xs.len() {
                    r.see(n, &rl, prob, hard, xs[i], y, (ls[i], g[i]));
                }
            }
        }
    }
    r.check();
}

#[test]
fn gradients_match_finite_differences() {
    let zs = [
        -30.0f32, -8.0, -2.5, -0.7, -1e-3, 0.0, 1e-3, 0.3, 1.9, 6.0, 25.0,
    ];
    for (l, rl) in configs() {
        for &y in &TARGETS {
            for &z in &zs {
                let (z64, y64) = (z as f64, y as f64);
                let h = 1e-5 * (1.0f64).max(z64.abs());
                let fd = (rl.logit(z64 + h, y64).0 - rl.logit(z64 - h, y64).0) / (2.0 * h);
                let d = rl.logit(z64, y64).1;
                let detached = matches!(
                    rl,
                    Loss::Asymmetric { detached: true, .. } | Loss::FocalDetached { .. }
                );
                // γ < 1 has an unbounded second derivative where the
                // focusing weight vanishes; a kink at p = m for a clip.
                let p = 1.0 / (1.0 + (-z64).exp());
                // |p - m| (a clip) and QFL's |p - y| at β = 1 have kinks.
                let kink = matches!(rl, Loss::Asymmetric { clip, .. }
                    if clip > 0.0 && (p - clip).abs() < 1e-3)
                    || matches!(rl, Loss::Qfl { .. } if (p - y64).abs() < 1e-3);
                if detached || kink || (rl.gamma() < 1.0 && z.abs() > 20.0) {
                    continue;
                }
                assert!(
                    (fd - d).abs() <= 1e-6 * (1.0 + d.abs()),
                    "reference {rl:?} z={z} y={y}: FD {fd} vs {d}"
                );
                let ours = l.loss_grad(z, y).unwrap().grad as f64;
                assert!(
                    (ours - fd).abs() <= 1e-5 * (1.0 + fd.abs()),
                    "{rl:?} z={z} y={y}: {ours} vs FD {fd}"
                );
            }
            // Probability inputs: FD in p, away from the clamp.
            for &p in &[0.01f32, 0.2, 0.5, 0.77, 0.99] {
                let (p64, y64) = (p as f64, y as f64);
                let h = 1e-7;
                let fd = (rl.prob(p64 + h, y64).0 - rl.prob(p64 - h, y64).0) / (2.0 * h);
                let kink = matches!(rl, Loss::Asymmetric { clip, .. } if (p64 - clip).abs() < 1e-3)
                    || matches!(rl, Loss::Qfl { .. } if (p64 - y64).abs() < 1e-3);
                let detached = matches!(
                    rl,
                    Loss::Asymmetric { detached: true, .. } | Loss::FocalDetached { .. }
                );
                if kink || detached {
                    continue;
                }
                let ours = l.loss_grad_prob(p, y).unwrap().grad as f64;
                assert!(
                    (ours - fd).abs() <= 1e-4 * (1.0 + fd.abs()),
                    "{rl:?} p={p} y={y}: {ours} vs FD {fd}"
                );
            }
        }
    }
}

/// The detached gradients: the focusing weight times the cross-entropy
/// gradient, exactly as the reference forms it; the loss unchanged.
#[test]
fn detached_gradients_hold_the_weight_constant() {
    for g in [0.0f32, 0.5, 1.0, 2.0, 3.0] {
        for a in [None, Some(0.25)] {
            let full = Focal::new(g, a).unwrap();
            let det = full.with_grad_mode(GradMode::Detached);
            for &y in &TARGETS {
                for z in [-20.0f32, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0] {
                    let (f, d) = (full.loss_grad(z, y).unwrap(), det.loss_grad(z, y).unwrap());
                    assert_eq!(f.loss.to_bits(), d.loss.to_bits(), "loss changed");
                    if g == 0.0 {
                        assert_eq!(f.grad.to_bits(), d.grad.to_bits(), "γ = 0 differs");
                    }
                    // The detached gradient is the CE gradient times α_t m^γ.
                    let p = 1.0 / (1.0 + (-(z as f64)).exp());
                    let m = p * (1.0 - y as f64) + (1.0 - p) * y as f64;
                    let at = a.map_or(1.0, |a| (a * y + (1.0 - a) * (1.0 - y)) as f64);
                    let want = at * m.powf(g as f64) * (p - y as f64);
                    assert!(
                        (d.grad as f64 - want).abs() <= 1e-6 * (want.abs() + 1e-30),
                        "γ={g} α={a:?} z={z} y={y}: {} vs {want}",
                        d.grad
                    );
                }
            }
        }
    }
    let asl = Asymmetric::TIMM.with_grad_mode(GradMode::Detached);
    for z in [-3.0f32, -1.0, 0.5, 2.0] {
        for y in [0.0f32, 1.0] {
            let f = Asymmetric::TIMM.loss_grad(z, y).unwrap();
            let d = asl.loss_grad(z, y).unwrap();
            assert_eq!(f.loss.to_bits(), d.loss.to_bits());
            assert!(
                d.grad.abs() <= f.grad.abs(),
                "z={z} y={y}: detached is larger"
            );
        }
    }
}

/// The identities of the family (issue list): ASL with `γ⁺ = γ⁻ = γ` and no
/// clip is focal loss with α off; Poly-1 with `ε = 0` is its base loss; FL*
/// with `γ = 1, β = 0` is cross-entropy.
#[test]
fn identities_between_the_losses() {
    let zs = logit_grid();
    for g in [0.0f32, 0.5, 1.0, 2.0, 3.0, 4.5] {
        let asl = Asymmetric::new(g, g, 0.0).unwrap();
        let f = Focal::new(g, None).unwrap();
        for &y in &[0.0f32, 1.0] {
            for &z in &zs {
                let (a, b) = (asl.loss_grad(z, y).unwrap(), f.loss_grad(z, y).unwrap());
                let close = |x: f32, w: f32| {
                    (x - w).abs() <= 64.0 * f32::EPSILON * w.abs().max(f32::MIN_POSITIVE)
                };
                assert!(
                    close(a.loss, b.loss),
                    "γ={g} z={z} y={y}: {} vs {}",
                    a.loss,
                    b.loss
                );
                assert!(
                    close(a.grad, b.grad),
                    "γ={g} z={z} y={y}: {} vs {}",
                    a.grad,
                    b.grad
                );
            }
        }
        for alpha in [None, Some(0.25)] {
            let base = Focal::new(g, alpha).unwrap();
            let p = Poly1::new(base, 0.0).unwrap();
            for &y in &TARGETS {
                for &z in &zs {
                    let (a, b) = (p.loss_grad(z, y).unwrap(), base.loss_grad(z, y).unwrap());
                    assert_eq!(a.loss, b.loss, "poly ε=0 γ={g} z={z} y={y}");
                    assert_eq!(a.grad, b.grad, "poly ε=0 γ={g} z={z} y={y}");
                }
            }
        }
    }
    // QFL on hard labels is focal loss with α off and γ = β.
    let tol = |w: f32| 64.0 * f32::EPSILON * w.abs().max(f32::MIN_POSITIVE);
    for beta in [1.0f32, 2.0, 3.5] {
        let (q, f) = (Qfl::new(beta).unwrap(), Focal::new(beta, None).unwrap());
        for &y in &[0.0f32, 1.0] {
            for &z in &zs {
                let (a, b) = (q.loss_grad(z, y).unwrap(), f.loss_grad(z, y).unwrap());
                assert!(
                    (a.loss - b.loss).abs() <= tol(b.loss),
                    "QFL β={beta} z={z} y={y}"
                );
                assert!(
                    (a.grad - b.grad).abs() <= tol(b.grad),
                    "QFL β={beta} z={z} y={y}"
                );
            }
        }
    }
    // VFL's negatives are focal's negatives with α weighting them, its hard
    // positives cross-entropy.
    let v = Varifocal::MMDET;
    let f = Focal::new(2.0, None).unwrap();
    for &z in &zs {
        let (a, b) = (v.loss_grad(z, 0.0).unwrap(), f.loss_grad(z, 0.0).unwrap());
        assert!(
            (a.loss - 0.75 * b.loss).abs() <= tol(0.75 * b.loss),
            "VFL neg z={z}"
        );
        let (a, b) = (
            v.loss_grad(z, 1.0).unwrap(),
            SigmoidCe::PLAIN.loss_grad(z, 1.0).unwrap(),
        );
        assert!((a.loss - b.loss).abs() <= tol(b.loss), "VFL pos z={z}");
    }
    let star = FocalStar::FVCORE;
    for &y in &[0.0f32, 1.0] {
        for &z in &zs {
            let (a, b) = (
                star.loss_grad(z, y).unwrap(),
                SigmoidCe::PLAIN.loss_grad(z, y).unwrap(),
            );
            let tol = |w: f32| 32.0 * f32::EPSILON * w.abs().max(f32::MIN_POSITIVE);
            assert!(
                (a.loss - b.loss).abs() <= tol(b.loss),
                "FL* z={z}: {} vs {}",
                a.loss,
                b.loss
            );
            assert!(
                (a.grad - b.grad).abs() <= tol(b.grad),
                "FL* z={z}: {} vs {}",
                a.grad,
                b.grad
            );
        }
    }
}

/// The papers' defaults, against the formulas written out here from the
/// papers / timm (independently of the reference crate).
#[test]
fn literature_defaults() {
    // timm's ASL defaults: γ⁻ = 4, γ⁺ = 1, clip 0.05.
    let asl = Asymmetric::TIMM;
    assert_eq!(
        (asl.gamma_neg(), asl.gamma_pos(), asl.clip()),
        (4.0, 1.0, 0.05)
    );
    for z in [-4.0f64, -2.0, -1.0, 0.0, 1.5, 3.0] {
        let p = 1.0 / (1.0 + (-z).exp());
        // timm: xs_neg = min(1 - p + clip, 1); loss = -(1-y) ln(xs_neg) (1 - xs_neg)^4.
        let xs_neg = (1.0 - p + 0.05).min(1.0);
        let neg = -(xs_neg.ln()) * (1.0 - xs_neg).powi(4);
        let pos = -(p.ln()) * (1.0 - p);
        let (n, q) = (
            asl.loss_grad(z as f32, 0.0).unwrap().loss as f64,
            asl.loss_grad(z as f32, 1.0).unwrap().loss as f64,
        );
        assert!(
            (n - neg).abs() <= 1e-6 * neg + 1e-12,
            "ASL neg z={z}: {n} vs {neg}"
        );
        assert!((q - pos).abs() <= 1e-6 * pos, "ASL pos z={z}: {q} vs {pos}");
    }
    // Poly-1 CE with ε = 1 (the paper's ImageNet setting, sigmoid form).
    let poly = Poly1::cross_entropy(1.0).unwrap();
    for z in [-3.0f64, 0.0, 2.0] {
        let p = 1.0 / (1.0 + (-z).exp());
        let want = -p.ln() + (1.0 - p);
        let got = poly.loss_grad(z as f32, 1.0).unwrap();
        assert!((got.loss as f64 - want).abs() <= 1e-6 * want, "poly z={z}");
        // (p - y)(1 + ε p_t) for a hard label.
        let g = (p - 1.0) * (1.0 + p);
        assert!(
            (got.grad as f64 - g).abs() <= 1e-6 * g.abs(),
            "poly grad z={z}"
        );
    }
    // FL* with γ = 2, β = 1 (the paper's appendix): -ln σ(γ x_t + β)/γ.
    let star = FocalStar::new(2.0, 1.0, None).unwrap();
    for z in [-3.0f64, 0.0, 2.0] {
        let t = 2.0 * z + 1.0;
        let want = (1.0 + (-t).exp()).ln() / 2.0;
        let got = star.loss_grad(z as f32, 1.0).unwrap().loss as f64;
        assert!(
            (got - want).abs() <= 1e-6 * want,
            "FL* z={z}: {got} vs {want}"
        );
    }
}

/// Each `grad_bound` (which decides whether weighted gradients saturate)
/// holds over logits, targets, probability inputs and the parameters'
/// edges.
#[test]
fn gradient_bounds_hold() {
    let zs = logit_grid();
    let ps = prob_grid();
    let mut losses: Vec<AnyLoss> = configs().into_iter().map(|(l, _)| l).collect();
    losses.push(Asymmetric::new(1000.0, 1000.0, 0.5).unwrap().into());
    losses.push(
        Asymmetric::new(0.01, 1000.0, f32::MIN_POSITIVE)
            .unwrap()
            .into(),
    );
    losses.push(
        Poly1::new(Focal::new(1000.0, None).unwrap(), 1e4)
            .unwrap()
            .into(),
    );
    losses.push(
        Poly1::new(Focal::new(0.0, None).unwrap(), -1.0)
            .unwrap()
            .into(),
    );
    losses.push(Qfl::new(1000.0).unwrap().into());
    losses.push(Varifocal::new(1.0, 1000.0).unwrap().into());
    losses.push(FocalStar::new(1000.0, 1e4, None).unwrap().into());
    losses.push(FocalStar::new(1e-3, -1e4, Some(1.0)).unwrap().into());
    let mut worst: f32 = 0.0;
    for l in &losses {
        let (bz, bp) = match l {
            AnyLoss::Asymmetric(k) => (k.grad_bound(false), k.grad_bound(true)),
            AnyLoss::Poly1(k) => (k.grad_bound(false), k.grad_bound(true)),
            AnyLoss::FocalStar(k) => (k.grad_bound(false), k.grad_bound(true)),
            AnyLoss::Focal(k) => (k.grad_bound(false), k.grad_bound(true)),
            AnyLoss::SigmoidCe(k) => (k.grad_bound(false), k.grad_bound(true)),
            AnyLoss::Qfl(k) => (k.grad_bound(false), k.grad_bound(true)),
            AnyLoss::Varifocal(k) => (k.grad_bound(false), k.grad_bound(true)),
            _ => unreachable!("a new loss needs its arm here"),
        };
        for &y in &TARGETS {
            for &z in &zs {
                let r = l.loss_grad(z, y).unwrap();
                assert!(r.loss.is_finite(), "{l:?} z={z} y={y}: loss {}", r.loss);
                assert!(
                    r.grad.abs() <= bz,
                    "{l:?} z={z} y={y}: |g| {} > {bz}",
                    r.grad
                );
                worst = worst.max(r.grad.abs() / bz);
            }
            for &p in &ps {
                let r = l.loss_grad_prob(p, y).unwrap();
                assert!(r.loss.is_finite(), "{l:?} p={p} y={y}: loss {}", r.loss);
                assert!(
                    r.grad.abs() <= bp,
                    "{l:?} p={p} y={y}: |g| {} > {bp}",
                    r.grad
                );
            }
        }
    }
    println!("largest |g| / bound: {worst:.3}");
    assert!(worst > 0.1, "the bounds are not vacuous");
}

/// Every reduction with weights and an ignore mask, at lengths that exercise
/// the SIMD remainder, against f64 sums of the references; the loss-only
/// call agrees with the fused one, and `AnyLoss` with the concrete loss.
#[test]
fn batch_reductions_weights_and_mask_against_f64() {
    let mut s = tinyloss_reference::Rng(7);
    for (l, rl) in configs().into_iter().step_by(3) {
        for n in [1usize, 7, 9, 31, 100] {
            let z: Vec<f32> = (0..n).map(|_| ((s.f() - 0.5) * 24.0) as f32).collect();
            let y: Vec<f32> = (0..n)
                .map(|_| match s.f() {
                    r if r < 0.2 => 1.0,
                    r if r < 0.8 => 0.0,
                    _ => s.f() as f32,
                })
                .collect();
            let w: Vec<f32> = (0..n).map(|_| (s.f() * 2.0) as f32).collect();
            let ig: Vec<bool> = (0..n).map(|_| s.f() < 0.1).collect();
            let refs: Vec<(f64, f64)> =
                (0..n).map(|i| rl.logit(z[i] as f64, y[i] as f64)).collect();
            let act: Vec<usize> = (0..n).filter(|&i| !ig[i]).collect();
            let sum: f64 = act.iter().map(|&i| w[i] as f64 * refs[i].0).sum();
            // The magnitudes the bounds are relative to (Poly-1's two terms).
            let scales: Vec<(f64, f64)> = (0..n)
                .map(|i| element_scale(&rl, false, z[i] as f64, y[i] as f64))
                .collect();
            let mag: f64 = act
                .iter()
                .map(|&i| w[i] as f64 * refs[i].0.abs().max(scales[i].0))
                .sum();
            let pos: f64 = act.iter().map(|&i| y[i] as f64).sum::<f64>().max(1.0);
            for (red, d) in [
                (Reduction::Sum, 1.0),
                (Reduction::Mean, act.len() as f64),
                (Reduction::MeanOver(17.5), 17.5),
                (Reduction::MeanOverPositives, pos),
            ] {
                let mut g = vec![f32::NAN; n];
                let b = Batch::new(&y).with_weights(&w).with_ignore(&ig);
                let got = b.loss_grad(&l, &z, red, &mut g, None).unwrap();
                let want = if d == 0.0 { 0.0 } else { sum / d };
                let tol = 1e-5 * if d == 0.0 { 0.0 } else { mag / d } + 1e-30;
                assert!(
                    (got as f64 - want).abs() <= tol,
                    "{rl:?} n={n} {red:?}: {got} vs {want}"
                );
                for i in 0..n {
                    let wg = if ig[i] || d == 0.0 {
                        0.0
                    } else {
                        w[i] as f64 * refs[i].1 / d
                    };
                    assert!(
                        (g[i] as f64 - wg).abs()
                            <= 1e-5 * wg.abs().max(w[i] as f64 * scales[i].1 / d) + 1e-9,
                        "{rl:?} grad[{i}] {red:?}: {} vs {wg}",
                        g[i]
                    );
                }
                assert_eq!(b.loss(&l, &z, red).unwrap().to_bits(), got.to_bits());
                let mut g2 = vec![0.0; n];
                let concrete = match l {
                    AnyLoss::Asymmetric(k) => b.loss_grad(&k, &z, red, &mut g2, None),
                    AnyLoss::Poly1(k) => b.loss_grad(&k, &z, red, &mut g2, None),
                    AnyLoss::FocalStar(k) => b.loss_grad(&k, &z, red, &mut g2, None),
                    AnyLoss::Focal(k) => b.loss_grad(&k, &z, red, &mut g2, None),
                    AnyLoss::SigmoidCe(k) => b.loss_grad(&k, &z, red, &mut g2, None),
                    AnyLoss::Qfl(k) => b.loss_grad(&k, &z, red, &mut g2, None),
                    AnyLoss::Varifocal(k) => b.loss_grad(&k, &z, red, &mut g2, None),
                    _ => unreachable!("a new loss needs its arm here"),
                };
                assert_eq!(concrete.unwrap().to_bits(), got.to_bits());
                assert_eq!(
                    g2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    g.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
            }
        }
    }
}

#[test]
fn bad_parameters_are_refused() {
    let bad = [
        f32::NAN,
        f32::INFINITY,
        -f32::INFINITY,
        -1.0,
        -1e-30,
        1000.5,
    ];
    for g in bad {
        assert_eq!(
            Asymmetric::new(g, 1.0, 0.05),
            Err(Error::InvalidParameter { name: "gamma_neg" })
        );
        assert_eq!(
            Asymmetric::new(4.0, g, 0.05),
            Err(Error::InvalidParameter { name: "gamma_pos" })
        );
    }
    for c in [f32::NAN, -0.01, 1.0, 2.0, f32::INFINITY, 1e-40] {
        assert_eq!(
            Asymmetric::new(4.0, 1.0, c),
            Err(Error::InvalidParameter { name: "clip" }),
            "clip {c}"
        );
    }
    assert!(Asymmetric::new(0.0, 0.0, f32::MIN_POSITIVE).is_ok());
    assert!(Asymmetric::new(1000.0, 1000.0, 1.0 - f32::EPSILON).is_ok());
    assert!(Asymmetric::TIMM.with_smoothing(-0.1).is_err());
    for e in [f32::NAN, f32::INFINITY, 1e4 * 1.001, -1e5] {
        assert_eq!(
            Poly1::cross_entropy(e),
            Err(Error::InvalidParameter { name: "epsilon" })
        );
    }
    // ε's lowest value is -min(α_t): the loss is then never negative.
    assert!(Poly1::new(Focal::RETINANET, -0.25).is_ok());
    assert_eq!(
        Poly1::new(Focal::RETINANET, -0.2501),
        Err(Error::InvalidParameter { name: "epsilon" })
    );
    assert!(Poly1::cross_entropy(-1.0).is_ok());
    assert!(Poly1::cross_entropy(-1.0001).is_err());
    assert!(Poly1::new(Focal::new(2.0, Some(0.9)).unwrap(), -0.1).is_ok());
    assert!(Poly1::new(Focal::new(2.0, Some(0.9)).unwrap(), -0.11).is_err());
    for b in [0.0f32, 0.999, f32::NAN, -1.0, 1000.5, f32::INFINITY] {
        assert_eq!(
            Qfl::new(b),
            Err(Error::InvalidParameter { name: "beta" }),
            "β {b}"
        );
    }
    assert!(Qfl::new(1.0).is_ok() && Qfl::new(1000.0).is_ok());
    for a in [-0.1f32, 1.1, f32::NAN] {
        assert_eq!(
            Varifocal::new(a, 2.0),
            Err(Error::InvalidParameter { name: "alpha" })
        );
    }
    for g in [-0.1f32, 1000.5, f32::NAN] {
        assert_eq!(
            Varifocal::new(0.75, g),
            Err(Error::InvalidParameter { name: "gamma" })
        );
    }
    for g in [0.0f32, 1e-4, f32::NAN, -1.0, 1000.5, f32::INFINITY] {
        assert_eq!(
            FocalStar::new(g, 0.0, None),
            Err(Error::InvalidParameter { name: "gamma" }),
            "γ {g}"
        );
    }
    for b in [f32::NAN, f32::INFINITY, 1.0001e4, -2e4] {
        assert_eq!(
            FocalStar::new(1.0, b, None),
            Err(Error::InvalidParameter { name: "beta" })
        );
    }
    for a in [-0.1f32, 1.1, f32::NAN] {
        assert_eq!(
            FocalStar::new(1.0, 0.0, Some(a)),
            Err(Error::InvalidParameter { name: "alpha" })
        );
    }
}

/// Bad data gets the same errors as for the 0.1 losses, and nothing is
/// written.
#[test]
fn bad_input_writes_nothing() {
    for (l, _) in configs().into_iter().step_by(5) {
        let z = [0.5f32, f32::NAN, 1.0];
        let y = [1.0f32, 0.0, 0.0];
        let mut g = [7.0f32; 3];
        let r = Batch::new(&y).loss_grad(&l, &z, Reduction::Mean, &mut g, None);
        assert_eq!(
            r,
            Err(Error::NonFiniteInput {
                at: tinyloss::At::Element(1)
            })
        );
        assert_eq!(g, [7.0; 3]);
        let y = [1.0f32, 0.0, 1.5];
        let z = [0.5f32, 0.0, 1.0];
        let r = Batch::new(&y).loss_grad(&l, &z, Reduction::Mean, &mut g, None);
        assert_eq!(
            r,
            Err(Error::TargetOutOfRange {
                at: tinyloss::At::Element(2)
            })
        );
        assert_eq!(g, [7.0; 3]);
    }
}

/// Fuzz finding: a soft-target ASL at a huge negative logit with γ = 9
/// formed `γ · CE/u` past f32::MAX and multiplied it by `∂u/∂z = 0` (NaN).
#[test]
fn asl_soft_target_at_huge_logits_is_finite() {
    for g in [9.0f32, 1000.0] {
        let asl = Asymmetric::new(g, g, 0.05).unwrap();
        for z in [-4.2e37f32, -f32::MAX, f32::MAX, 4.2e37] {
            for y in [0.992f32, 0.5, 1e-40] {
                let r = asl.loss_grad(z, y).unwrap();
                assert!(
                    r.loss.is_finite() && r.grad.is_finite(),
                    "γ={g} z={z} y={y}: {r:?}"
                );
                let rl = Loss::Asymmetric {
                    gamma_pos: g as f64,
                    gamma_neg: g as f64,
                    clip: 0.05f32 as f64,
                    eps: 0.0,
                    detached: false,
                };
                let mut rep = Report::default();
                rep.see("asymmetric", &rl, false, false, z, y, (r.loss, r.grad));
                rep.check();
            }
        }
    }
}

/// Softmax focal loss with the modulating factors held constant: the loss
/// bit for bit the full mode's, the gradient against the f64 reference's
/// `row_mode` within the softmax focal bounds, over labels and probability
/// targets, smoothing and class weights.
#[test]
fn softmax_focal_detached_against_f64() {
    use tinyloss::softmax::{Rows, Targets};
    use tinyloss::SoftmaxFocal;
    use tinyloss_reference::bounds::{SOFTMAX_FOCAL_GRAD, SOFTMAX_FOCAL_LOSS, SOFTMAX_LOSS_FLOOR};
    use tinyloss_reference::measure::{abs_err, rel_err};
    use tinyloss_reference::softmax::{row_mode, target_mass, RowTarget};
    let mut s = tinyloss_reference::Rng(11);
    let mut worst = (0.0f64, 0.0f64);
    for c in [2usize, 3, 10, 43] {
        for gamma in [0.5f32, 1.0, 2.0, 3.5] {
            for eps in [0.0f32, 0.1] {
                for weighted in [false, true] {
                    for probs in [false, true] {
                        let n = 6;
                        let scale = [1.0, 10.0, 100.0][(c + n) % 3];
                        let z: Vec<f32> =
                            (0..n * c).map(|_| ((s.f() - 0.5) * scale) as f32).collect();
                        let labels: Vec<u32> = (0..n)
                            .map(|_| (s.f() * c as f64) as u32 % c as u32)
                            .collect();
                        let mut p: Vec<f32> = (0..n * c).map(|_| s.f() as f32).collect();
                        for r in 0..n {
                            let t: f32 = p[r * c..(r + 1) * c].iter().sum();
                            p[r * c..(r + 1) * c].iter_mut().for_each(|v| *v /= t);
                        }
                        let w: Vec<f32> = (0..c).map(|_| (0.1 + s.f() * 2.0) as f32).collect();
                        let targets = if probs {
                            Targets::Probs(&p)
                        } else {
                            Targets::from(&labels[..])
                        };
                        let mut rows = Rows::new(c, targets);
                        if weighted {
                            rows = rows.with_class_weights(&w).unwrap();
                        }
                        let full = SoftmaxFocal::new(gamma)
                            .unwrap()
                            .with_smoothing(eps)
                            .unwrap();
                        let det = full.with_grad_mode(GradMode::Detached);
                        let (mut g, mut gf) = (vec![0.0f32; n * c], vec![0.0f32; n * c]);
                        let (mut l, mut lf) = (vec![0.0f32; n], vec![0.0f32; n]);
                        let t = rows
                            .loss_grad(&det, &z, Reduction::Sum, &mut g, Some(&mut l))
                            .unwrap();
                        let tf = rows
                            .loss_grad(&full, &z, Reduction::Sum, &mut gf, Some(&mut lf))
                            .unwrap();
                        assert_eq!(
                            t.to_bits(),
                            tf.to_bits(),
                            "the loss does not depend on the mode"
                        );
                        let wd: Vec<f64> = w.iter().map(|&v| v as f64).collect();
                        for r in 0..n {
                            let zr: Vec<f64> =
                                z[r * c..(r + 1) * c].iter().map(|&v| v as f64).collect();
                            let pr: Vec<f64> =
                                p[r * c..(r + 1) * c].iter().map(|&v| v as f64).collect();
                            let rt = if probs {
                                RowTarget::Probs(&pr)
                            } else {
                                RowTarget::Label(labels[r] as usize)
                            };
                            let wr = weighted.then_some(&wd[..]);
                            let mut rg = vec![0.0; c];
                            let want =
                                row_mode(&zr, rt, wr, eps as f64, gamma as f64, true, &mut rg);
                            let k = target_mass(rt, c, wr, eps as f64);
                            let le = rel_err(l[r], want, SOFTMAX_LOSS_FLOOR);
                            assert!(
                                le <= SOFTMAX_FOCAL_LOSS.get(),
                                "C={c} γ={gamma} row {r}: loss {} vs {want}",
                                l[r]
                            );
                            for j in 0..c {
                                let e = abs_err(g[r * c + j], rg[j], k);
                                let b = SOFTMAX_FOCAL_GRAD.at(gamma as f64);
                                assert!(e <= b, "C={c} γ={gamma} ε={eps} w={weighted} p={probs} row {r} class {j}: {} vs {} ({e:.1}u·K)", g[r * c + j], rg[j]);
                                worst.1 = worst.1.max(e / b);
                            }
                            worst.0 = worst.0.max(le / SOFTMAX_FOCAL_LOSS.get());
                        }
                    }
                }
            }
        }
    }
    println!(
        "softmax focal detached: worst loss {:.3}, gradient {:.3} of the bounds",
        worst.0, worst.1
    );
}

/// Fuzz finding: a focusing weight below f32's normal range on a huge
/// cross-entropy (QFL at β = 1000, z = -1.8e30, y = 0.898: 0.898^1000 ·
/// 1.6e30 = 3.2e-17 came out 0). The product is formed as one exponential
/// there; ASL's soft targets take the same path.
#[test]
fn tiny_weights_on_huge_cross_entropy_keep_the_loss() {
    let mut rep = Report::default();
    for z in [-1.7823139e30f32, -1e30, -1e20, -3e4] {
        for y in [0.898f32, 0.5, 0.99] {
            let q = Qfl::new(1000.0).unwrap();
            let r = q.loss_grad(z, y).unwrap();
            rep.see(
                "QFL",
                &Loss::Qfl { beta: 1000.0 },
                false,
                false,
                z,
                y,
                (r.loss, r.grad),
            );
            let a = Asymmetric::new(1000.0, 1000.0, 0.0).unwrap();
            let r = a.loss_grad(z, y).unwrap();
            let rl = Loss::Asymmetric {
                gamma_pos: 1000.0,
                gamma_neg: 1000.0,
                clip: 0.0,
                eps: 0.0,
                detached: false,
            };
            rep.see("asymmetric", &rl, false, false, z, y, (r.loss, r.grad));
        }
    }
    let r = Qfl::new(1000.0)
        .unwrap()
        .loss_grad(-1.7823139e30, 0.898)
        .unwrap();
    assert!(r.loss > 3e-17, "lost: {}", r.loss);
    rep.check();
}
