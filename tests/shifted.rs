//! Losses on shifted logits (`softmax::Shifted`: logit-adjusted CE and
//! balanced softmax, LDAM, seesaw) against the f64 references of
//! `tinyloss-reference` (`softmax::{logit_offsets, ldam_margins, ldam_row,
//! seesaw_row}`): the composition is the base loss at the rounded `z̃`, bit
//! for bit, over every base loss, target kind, weight, mask and reduction;
//! `z̃` is within its stated bound of the f64 value; the loss and gradient
//! end to end against f64 at the exact `z̃`; the chain rule by finite
//! differences; identities; errors, with nothing written. Run with
//! `cargo test --release --test shifted`.

use tinyloss::softmax::{
    ldam_margins, logit_offsets, AnyLoss, AnyShift, Ldam, LogitAdjusted, Rows, Seesaw, Shift,
    Shifted, SoftmaxCe, SoftmaxFocal, SoftmaxLoss, SoftmaxPoly1, Target, Targets,
};
use tinyloss::{At, Error, GradMode, Reduction};
use tinyloss_reference::bounds::{
    Bound, LDAM_MARGINS, SHIFT_LDAM, SHIFT_LOGIT_ADJUSTED, SHIFT_SEESAW, SOFTMAX_CE_GRAD,
    SOFTMAX_CE_LOSS,
};
use tinyloss_reference::measure::{LOSS_FLOOR, U};
use tinyloss_reference::softmax::{self as sref, RowLossKind, RowTarget};
use tinyloss_reference::Rng;

mod common;
use common::{extreme_rows, f64s, random_probs, random_rows};

const CLASSES: [usize; 5] = [2, 3, 10, 17, 100];

/// The base losses every shift is composed with.
fn bases() -> Vec<AnyLoss> {
    vec![
        SoftmaxCe::new().into(),
        SoftmaxCe::new().with_smoothing(0.1).unwrap().into(),
        SoftmaxCe::new().with_ignore_index(1).into(),
        SoftmaxFocal::new(2.0).unwrap().into(),
        SoftmaxFocal::new(0.5)
            .unwrap()
            .with_grad_mode(GradMode::Detached)
            .into(),
        SoftmaxPoly1::new(2.0).unwrap().into(),
        SoftmaxPoly1::new(-1.0).unwrap().into(),
    ]
}

/// Long-tailed counts for `c` classes, zeros and `u32::MAX` included.
fn counts(rng: &mut Rng, c: usize) -> Vec<u32> {
    let mut n: Vec<u32> = (0..c)
        .map(|j| (5000.0 * 0.01f64.powf(j as f64 / (c - 1) as f64)) as u32)
        .collect();
    if c > 3 {
        n[rng.below(c)] = 0;
        n[rng.below(c)] = u32::MAX;
        n[rng.below(c)] = 1;
    }
    n
}

/// Logits of a test: random rows at two spreads and the extreme rows,
/// with labels.
fn inputs(rng: &mut Rng, c: usize) -> Vec<(Vec<f32>, Vec<u32>)> {
    vec![
        random_rows(rng, 9, c, 5.0),
        random_rows(rng, 5, c, 60.0),
        extreme_rows(rng, c),
    ]
}

/// `grad ← sat(a · grad)`: the slope the shifted gradient carries.
fn sloped(g: &mut [f32], a: f32) {
    if a != 1.0 {
        for v in g.iter_mut() {
            *v = (*v * a).clamp(f32::MIN, f32::MAX);
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The shifted call equals the base loss on [`Shifted::shifted`]'s `z̃`, bit
/// for bit, in both output modes, with the per-row losses.
fn assert_composes<S: Shift + std::fmt::Debug>(
    sh: &Shifted<S, AnyLoss>,
    rows: &Rows<'_>,
    z: &[f32],
    red: Reduction,
    slope: f32,
) {
    let n = z.len() / rows.classes();
    let mut zt = vec![f32::NAN; z.len()];
    sh.shifted(rows, z, &mut zt).unwrap();
    let (mut g, mut l) = (vec![f32::NAN; z.len()], vec![f32::NAN; n]);
    let got = sh.loss_grad(rows, z, red, &mut g, Some(&mut l)).unwrap();
    let (mut g2, mut l2) = (vec![0.0; z.len()], vec![0.0; n]);
    let want = rows
        .loss_grad(sh.base(), &zt, red, &mut g2, Some(&mut l2))
        .unwrap();
    sloped(&mut g2, slope);
    assert_eq!(got.to_bits(), want.to_bits(), "{sh:?} {red:?}");
    assert!(got.is_finite() && g.iter().all(|v| v.is_finite()), "{sh:?}");
    assert_eq!(bits(&g), bits(&g2), "{sh:?} {red:?}");
    assert_eq!(bits(&l), bits(&l2), "{sh:?} {red:?}");
    let mut buf = z.to_vec();
    let got2 = sh.loss_grad_in_place(rows, &mut buf, red, None).unwrap();
    assert_eq!(got2.to_bits(), got.to_bits());
    assert_eq!(bits(&buf), bits(&g));
}

/// Every option the rows take: plain, class weights, row weights and a
/// mask, probability targets (when the shift takes them).
#[allow(clippy::too_many_arguments)]
fn each_rows(
    c: usize,
    y: &[u32],
    probs: &[f32],
    w: &[f32],
    v: &[f32],
    m: &[bool],
    soft: bool,
    mut f: impl FnMut(&Rows<'_>),
) {
    let base = Rows::new(c, Targets::from(y));
    f(&base);
    f(&base.with_class_weights(w).unwrap());
    f(&base.with_row_weights(v).unwrap().with_ignore(m));
    if soft {
        let p = Rows::new(c, Targets::Probs(probs));
        f(&p);
        f(&p.with_class_weights(w).unwrap().with_ignore(m));
    }
}

const REDUCTIONS: [Reduction; 3] = [Reduction::Sum, Reduction::Mean, Reduction::MeanOver(3.5)];

#[test]
fn shifted_losses_are_the_base_losses_at_the_shifted_logits_bit_for_bit() {
    let mut rng = Rng(0x5e5a);
    for &c in &CLASSES {
        let n = counts(&mut rng, c);
        let mut b = vec![0.0; c];
        let mut delta = vec![0.0; c];
        ldam_margins(&n, 0.5, &mut delta).unwrap();
        for (z, y) in inputs(&mut rng, c) {
            let rows_n = y.len();
            let probs = random_probs(&mut rng, rows_n, c);
            let w: Vec<f32> = (0..c).map(|_| rng.f() as f32 * 3.0).collect();
            let v: Vec<f32> = (0..rows_n).map(|_| rng.f() as f32 * 2.0).collect();
            let m: Vec<bool> = (0..rows_n).map(|_| rng.f() < 0.2).collect();
            for base in bases() {
                for tau in [0.0f32, 1.0, 2.0] {
                    logit_offsets(&n, tau, &mut b).unwrap();
                    let la = LogitAdjusted::new(base, &b).unwrap();
                    each_rows(c, &y, &probs, &w, &v, &m, true, |rows| {
                        for red in REDUCTIONS {
                            assert_composes(&la, rows, &z, red, 1.0);
                        }
                    });
                }
                for s in [1.0f32, 30.0] {
                    let ldam = Ldam::new(base, &delta, s).unwrap();
                    each_rows(c, &y, &probs, &w, &v, &m, true, |rows| {
                        for red in REDUCTIONS {
                            assert_composes(&ldam, rows, &z, red, s);
                        }
                    });
                }
                for (p, q) in [(0.8f32, 2.0f32), (0.0, 2.0), (0.8, 0.0), (1e3, 1e3)] {
                    let ss = Seesaw::new(base, &n, p, q).unwrap();
                    each_rows(c, &y, &probs, &w, &v, &m, false, |rows| {
                        for red in REDUCTIONS {
                            assert_composes(&ss, rows, &z, red, 1.0);
                        }
                    });
                }
            }
        }
    }
}

/// `max_j err_j / (u · mag_j)` of a shifted row against its f64 value.
fn worst(got: &[f32], want: &[f64], mag: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .zip(mag)
        .map(|((&g, &w), &m)| {
            assert!(g.is_finite(), "{g} vs {w}");
            (g as f64 - w).abs() / (U * m.max(LOSS_FLOOR))
        })
        .fold(0.0, f64::max)
}

/// Every row of every input kind, label targets, each through `f`, with
/// the extremes f32 can hold added.
fn each_row(rng: &mut Rng, c: usize, mut f: impl FnMut(&[f32], u32)) {
    for (z, y) in inputs(rng, c) {
        for (row, &t) in z.chunks_exact(c).zip(&y) {
            f(row, t);
        }
    }
    let mut row: Vec<f32> = (0..c).map(|_| rng.sym(1.0)).collect();
    row[0] = f32::MAX;
    f(&row, 0);
    f(&row, 1);
    row[c - 1] = -f32::MAX;
    f(&row, (c - 1) as u32);
    let sub: Vec<f32> = (0..c).map(|j| f32::from_bits(1 + j as u32 * 977)).collect();
    f(&sub, 0);
}

fn shifted_row<S: Shift>(sh: &Shifted<S, AnyLoss>, row: &[f32], t: Target<'_>) -> Vec<f32> {
    let mut out = vec![0.0; row.len()];
    let label;
    let rows = match t {
        Target::Label(y) => {
            label = [y];
            Rows::new(row.len(), Targets::from(&label[..]))
        }
        Target::Probs(p) => Rows::new(row.len(), Targets::Probs(p)),
    };
    sh.shifted(&rows, row, &mut out).unwrap();
    out
}

fn assert_within(what: &str, err: f64, bound: Bound) {
    assert!(err <= bound.get(), "{what}: {err:.3}u > {}u", bound.get());
    eprintln!("{what}: {err:.3}u (bound {}u)", bound.get());
}

#[test]
fn logit_adjusted_logits_round_once() {
    let mut rng = Rng(0x1a);
    let mut err = 0.0f64;
    for &c in &CLASSES {
        let n = counts(&mut rng, c);
        for tau in [0.0f32, 0.5, 1.0, 2.0, 1e4] {
            let mut b = vec![0.0; c];
            logit_offsets(&n, tau, &mut b).unwrap();
            let la = LogitAdjusted::new(AnyLoss::from(SoftmaxCe::new()), &b).unwrap();
            each_row(&mut rng, c, |row, t| {
                let got = shifted_row(&la, row, Target::Label(t));
                let want: Vec<f64> = row
                    .iter()
                    .zip(&b)
                    .map(|(&z, &b)| z as f64 + b as f64)
                    .collect();
                let mag: Vec<f64> = want.iter().map(|v| v.abs()).collect();
                err = err.max(worst(&got, &want, &mag));
            });
        }
    }
    assert_within("z + b", err, SHIFT_LOGIT_ADJUSTED);
}

#[test]
fn ldam_margins_and_logits_are_within_their_bounds() {
    let mut rng = Rng(0x1d);
    let (mut err_m, mut err_z) = (0.0f64, 0.0f64);
    for &c in &CLASSES {
        let n = counts(&mut rng, c);
        for m in [0.0f32, 0.5, 1.0, 1e3] {
            let mut delta = vec![0.0; c];
            ldam_margins(&n, m, &mut delta).unwrap();
            let mut want = vec![0.0; c];
            sref::ldam_margins(&n, m as f64, &mut want);
            for (&g, &w) in delta.iter().zip(&want) {
                err_m = err_m.max((g as f64 - w).abs() / (U * (m as f64).max(f64::MIN_POSITIVE)));
            }
            assert!(delta.iter().all(|&d| (0.0..=m).contains(&d)));
            for s in [1e-45f32, 1e-3, 1.0, 30.0, 1e4] {
                let ldam = Ldam::new(AnyLoss::from(SoftmaxCe::new()), &delta, s).unwrap();
                let d64 = f64s(&delta);
                each_row(&mut rng, c, |row, t| {
                    let z = f64s(row);
                    if z.iter()
                        .any(|v| (v.abs() + m as f64) * s as f64 > f32::MAX as f64)
                    {
                        return;
                    }
                    let got = shifted_row(&ldam, row, Target::Label(t));
                    let mut want = vec![0.0; c];
                    sref::ldam_row(&z, RowTarget::Label(t as usize), &d64, s as f64, &mut want);
                    let mag: Vec<f64> = want.iter().map(|v| v.abs()).collect();
                    err_z = err_z.max(worst(&got, &want, &mag));
                    // A probability target: every class pulled by Δ_c t_c,
                    // which may cancel z_c.
                    let p: Vec<f32> = (0..c)
                        .map(|j| ((j * 7 + t as usize) % 11) as f32 / 10.0)
                        .collect();
                    let got = shifted_row(&ldam, row, Target::Probs(&p));
                    sref::ldam_row(&z, RowTarget::Probs(&f64s(&p)), &d64, s as f64, &mut want);
                    let mag: Vec<f64> = want.iter().map(|v| v.abs()).collect();
                    err_z = err_z.max(worst(&got, &want, &mag));
                });
            }
        }
    }
    assert_within("LDAM margins", err_m, LDAM_MARGINS);
    assert_within("s (z - Δ t)", err_z, SHIFT_LDAM);
}

fn seesaw_magnitude(z: &[f64], y: usize, n: &[u32], p: f64, q: f64, zt: &[f64]) -> Vec<f64> {
    let mut m = vec![0.0; z.len()];
    sref::seesaw_magnitude(z, y, n, p, q, zt, &mut m);
    m
}

#[test]
fn seesaw_logits_are_within_their_bound_and_finite() {
    let mut rng = Rng(0x5e);
    let mut err = 0.0f64;
    for &c in &CLASSES {
        let n = counts(&mut rng, c);
        for (p, q) in [
            (0.8f32, 2.0f32),
            (0.0, 2.0),
            (0.8, 0.0),
            (1e3, 1e3),
            (0.0, 0.0),
        ] {
            let ss = Seesaw::new(AnyLoss::from(SoftmaxCe::new()), &n, p, q).unwrap();
            each_row(&mut rng, c, |row, t| {
                let got = shifted_row(&ss, row, Target::Label(t));
                let z = f64s(row);
                let mut want = vec![0.0; c];
                sref::seesaw_row(&z, t as usize, &n, p as f64, q as f64, &mut want);
                let mag = seesaw_magnitude(&z, t as usize, &n, p as f64, q as f64, &want);
                err = err.max(worst(&got, &want, &mag));
            });
        }
    }
    assert_within("seesaw z̃", err, SHIFT_SEESAW);
}

/// The f64 loss and gradient of cross-entropy at `z̃` (the chain rule's
/// slope `a` applied to the gradient).
fn ce_at(zt: &[f64], t: usize, a: f64) -> (f64, Vec<f64>) {
    let mut g = vec![0.0; zt.len()];
    let kind = RowLossKind::Focal {
        gamma: 0.0,
        detached: false,
    };
    let l = sref::row_of(kind, zt, RowTarget::Label(t), None, 0.0, &mut g);
    (l, g.iter().map(|v| v * a).collect())
}

/// End to end against f64 at the exact `z̃` on ordinary rows: the base
/// bound plus the shift's bound carried through `|∂ℓ/∂z̃|` (loss) and the
/// softmax's Lipschitz constant 2 (gradient).
#[test]
fn shifted_cross_entropy_matches_f64_end_to_end() {
    let mut rng = Rng(0xe2e);
    for &c in &CLASSES {
        let n = counts(&mut rng, c);
        let mut b = vec![0.0; c];
        logit_offsets(&n, 1.0, &mut b).unwrap();
        let mut delta = vec![0.0; c];
        ldam_margins(&n, 0.5, &mut delta).unwrap();
        let ce = AnyLoss::from(SoftmaxCe::new());
        let la = LogitAdjusted::new(ce, &b).unwrap();
        let ldam = Ldam::new(ce, &delta, 30.0).unwrap();
        let ss = Seesaw::new(ce, &n, 0.8, 2.0).unwrap();
        let (z, y) = random_rows(&mut rng, 40, c, 4.0);
        for (row, &t) in z.chunks_exact(c).zip(&y) {
            let zr = f64s(row);
            let tu = t as usize;
            let mut zt = vec![0.0; c];
            let check = |got: f32, g: &[f32], zt: &[f64], err_z: f64, a: f64| {
                let (l, gr) = ce_at(zt, tu, a);
                let dl: f64 = gr.iter().map(|v| v.abs()).sum::<f64>() / a * err_z;
                assert!(
                    (got as f64 - l).abs() <= SOFTMAX_CE_LOSS.get() * U * l + dl + 1e-37,
                    "{got} vs {l}"
                );
                for (&gg, &gw) in g.iter().zip(&gr) {
                    let bound = a * (SOFTMAX_CE_GRAD.get() * U + 2.0 * err_z) + U * gw.abs();
                    assert!((gg as f64 - gw).abs() <= bound, "{gg} vs {gw}");
                }
            };
            let mut g = vec![0.0; c];
            let l = la.loss_grad_row(row, Target::Label(t), &mut g).unwrap();
            for j in 0..c {
                zt[j] = zr[j] + b[j] as f64;
            }
            let ez = zt.iter().map(|v| v.abs()).fold(0.0, f64::max) * U;
            check(l, &g, &zt, ez, 1.0);
            let l = ldam.loss_grad_row(row, Target::Label(t), &mut g).unwrap();
            sref::ldam_row(&zr, RowTarget::Label(tu), &f64s(&delta), 30.0, &mut zt);
            let ez = zt.iter().map(|v| v.abs()).fold(0.0, f64::max) * 2.0 * U;
            check(l, &g, &zt, ez, 30.0);
            let l = ss.loss_grad_row(row, Target::Label(t), &mut g).unwrap();
            sref::seesaw_row(&zr, tu, &n, 0.8, 2.0, &mut zt);
            let mag = seesaw_magnitude(&zr, tu, &n, 0.8, 2.0, &zt);
            let ez = mag.iter().cloned().fold(0.0, f64::max) * SHIFT_SEESAW.get() * U;
            check(l, &g, &zt, ez, 1.0);
        }
    }
}

/// The chain rule the shifted gradient relies on, by central differences
/// of the f64 composition (seesaw's compensation is detached, so only its
/// mitigation, a constant, is differentiated through).
#[test]
fn the_chain_rule_holds_by_finite_differences() {
    let mut rng = Rng(0xfd);
    for &c in &[2usize, 3, 10] {
        let n = counts(&mut rng, c);
        let mut b = vec![0.0f64; c];
        sref::logit_offsets(&n, 1.0, &mut b);
        let mut delta = vec![0.0f64; c];
        sref::ldam_margins(&n, 0.5, &mut delta);
        let (z, y) = random_rows(&mut rng, 6, c, 2.0);
        for (row, &t) in z.chunks_exact(c).zip(&y) {
            let zr = f64s(row);
            let tu = t as usize;
            let la = |z: &[f64]| -> Vec<f64> { z.iter().zip(&b).map(|(z, b)| z + b).collect() };
            let ld = |z: &[f64]| -> Vec<f64> {
                let mut o = vec![0.0; c];
                sref::ldam_row(z, RowTarget::Label(tu), &delta, 30.0, &mut o);
                o
            };
            let mitig = |z: &[f64]| -> Vec<f64> {
                let mut o = vec![0.0; c];
                sref::seesaw_row(z, tu, &n, 0.8, 0.0, &mut o);
                o
            };
            for (shift, a) in [
                (&la as &dyn Fn(&[f64]) -> Vec<f64>, 1.0),
                (&ld, 30.0),
                (&mitig, 1.0),
            ] {
                let (_, g) = ce_at(&shift(&zr), tu, a);
                for j in 0..c {
                    let h = 1e-6;
                    let (mut zp, mut zm) = (zr.clone(), zr.clone());
                    zp[j] += h;
                    zm[j] -= h;
                    let fd =
                        (ce_at(&shift(&zp), tu, 1.0).0 - ce_at(&shift(&zm), tu, 1.0).0) / (2.0 * h);
                    assert!((fd - g[j]).abs() <= 1e-6 * a, "{j}: {fd} vs {}", g[j]);
                }
            }
        }
    }
}

fn row_eq<L: SoftmaxLoss + Copy, S: Shift>(sh: &Shifted<S, L>, base: &L, z: &[f32], t: u32) {
    let (mut g, mut g2) = (vec![0.0; z.len()], vec![0.0; z.len()]);
    let l = sh.loss_grad_row(z, Target::Label(t), &mut g).unwrap();
    let l2 = base.loss_grad_row(z, Target::Label(t), &mut g2).unwrap();
    assert_eq!(l.to_bits(), l2.to_bits());
    assert_eq!(bits(&g), bits(&g2));
}

#[test]
fn identities_give_the_base_loss() {
    let mut rng = Rng(0x1de);
    for &c in &CLASSES {
        let n = counts(&mut rng, c);
        let zeros = vec![0.0f32; c];
        let (z, y) = random_rows(&mut rng, 8, c, 6.0);
        for base in bases() {
            // τ = 0, Δ = 0 with s = 1, p = q = 0, and seesaw's mitigation
            // alone with equal counts: the base loss, bit for bit.
            let mut b = vec![0.0; c];
            logit_offsets(&n, 0.0, &mut b).unwrap();
            let la = LogitAdjusted::new(base, &b).unwrap();
            let ldam = Ldam::new(base, &zeros, 1.0).unwrap();
            let ss = Seesaw::new(base, &n, 0.0, 0.0).unwrap();
            let equal = vec![7u32; c];
            let ss_eq = Seesaw::new(base, &equal, 0.8, 0.0).unwrap();
            for (row, &t) in z.chunks_exact(c).zip(&y) {
                row_eq(&la, &base, row, t);
                row_eq(&ldam, &base, row, t);
                row_eq(&ss, &base, row, t);
                row_eq(&ss_eq, &base, row, t);
            }
        }
        // Uniform priors: the same offset on every class, which CE ignores
        // up to the rounding of z + b.
        let uniform = vec![25u32; c];
        let mut b = vec![0.0; c];
        logit_offsets(&uniform, 1.0, &mut b).unwrap();
        assert!(b.iter().all(|&v| v == b[0]));
        let la = LogitAdjusted::new(SoftmaxCe::new(), &b).unwrap();
        for (row, &t) in z.chunks_exact(c).zip(&y) {
            let mut g = vec![0.0; c];
            let l = la.loss_grad_row(row, Target::Label(t), &mut g).unwrap();
            let (want, gw) = ce_at(&f64s(row), t as usize, 1.0);
            let ez = row.iter().map(|v| (v - b[0]).abs()).fold(0.0, f32::max) as f64 * U;
            assert!((l as f64 - want).abs() <= SOFTMAX_CE_LOSS.get() * U * want + 2.0 * ez);
            for (&a, &w) in g.iter().zip(&gw) {
                assert!((a as f64 - w).abs() <= SOFTMAX_CE_GRAD.get() * U + 2.0 * ez);
            }
        }
    }
}

#[test]
fn the_literature_settings_run_and_move_the_rare_classes() {
    // CIFAR-10-LT, imbalance 100 (5000 … 50), the papers' settings: LDAM
    // m = 0.5, s = 30 (the rarest class gets the whole margin); logit
    // adjustment τ = 1; seesaw p = 0.8, q = 2.
    let n: Vec<u32> = (0..10)
        .map(|j| (5000.0 * 0.01f64.powf(j as f64 / 9.0)).round() as u32)
        .collect();
    let mut delta = [0.0f32; 10];
    ldam_margins(&n, 0.5, &mut delta).unwrap();
    assert_eq!(delta[9], 0.5);
    assert!((delta[0] as f64 - 0.5 * 0.01f64.powf(0.25)).abs() < 1e-6);
    let mut b = [0.0f32; 10];
    logit_offsets(&n, 1.0, &mut b).unwrap();
    let z = [0.3f32, 0.2, 0.1, 0.0, -0.1, -0.1, 0.0, 0.1, 0.2, 0.25];
    let ce = SoftmaxCe::new();
    let mut g = [0.0; 10];
    let plain = ce.loss_grad_row(&z, Target::Label(9), &mut g).unwrap();
    let la = LogitAdjusted::new(ce, &b).unwrap();
    let ldam = Ldam::new(ce, &delta, 30.0).unwrap();
    let ss = Seesaw::new(ce, &n, 0.8, 2.0).unwrap();
    // A tail-class sample costs more under LA and LDAM than under CE...
    assert!(la.loss_grad_row(&z, Target::Label(9), &mut g).unwrap() > plain);
    assert!(ldam.loss_grad_row(&z, Target::Label(9), &mut g).unwrap() > plain);
    // ...and a head-class sample pushes the tail down less under seesaw.
    let mut g_ce = [0.0; 10];
    ce.loss_grad_row(&z, Target::Label(0), &mut g_ce).unwrap();
    ss.loss_grad_row(&z, Target::Label(0), &mut g).unwrap();
    assert!(g[9] > 0.0 && g[9] < g_ce[9]);
}

#[test]
fn bad_shifts_and_bad_rows_are_errors_and_nothing_is_written() {
    let ce = SoftmaxCe::new();
    let b3 = [0.0f32; 3];
    assert_eq!(LogitAdjusted::new(ce, &[]).unwrap_err(), Error::Empty);
    assert_eq!(
        LogitAdjusted::new(ce, &[0.0, f32::NAN]).unwrap_err(),
        Error::NonFiniteInput { at: At::Class(1) }
    );
    assert_eq!(
        LogitAdjusted::new(ce, &[2e30, 0.0]).unwrap_err(),
        Error::InvalidParameter { name: "offsets" }
    );
    assert!(LogitAdjusted::new(ce, &[1e30, -1e30]).is_ok());
    assert_eq!(
        LogitAdjusted::from_counts(ce, &[1, 2], f32::NAN, &mut [0.0; 2]).unwrap_err(),
        Error::InvalidParameter { name: "tau" }
    );
    for bad in [-1e-45f32, f32::NAN, 2e30] {
        assert_eq!(
            Ldam::new(ce, &[0.0, bad], 30.0).unwrap_err(),
            Error::InvalidWeight { at: At::Class(1) }
        );
    }
    for s in [0.0f32, -1.0, f32::NAN, 1.0001e4, f32::INFINITY] {
        assert_eq!(
            Ldam::new(ce, &b3, s).unwrap_err(),
            Error::InvalidParameter { name: "scale" }
        );
    }
    assert!(Ldam::new(ce, &b3, 1e4).is_ok() && Ldam::new(ce, &b3, 1e-45).is_ok());
    for m in [-1.0f32, f32::NAN, 2e30] {
        assert_eq!(
            ldam_margins(&[1, 2], m, &mut [0.0; 2]).unwrap_err(),
            Error::InvalidParameter { name: "max_margin" }
        );
    }
    assert_eq!(ldam_margins(&[], 0.5, &mut []).unwrap_err(), Error::Empty);
    for (p, q, name) in [
        (-0.1f32, 2.0f32, "p"),
        (1001.0, 2.0, "p"),
        (0.8, f32::NAN, "q"),
        (0.8, -1.0, "q"),
    ] {
        assert_eq!(
            Seesaw::new(ce, &[1, 2, 3], p, q).unwrap_err(),
            Error::InvalidParameter { name }
        );
    }
    // A shift for another C.
    let rows = Rows::new(2, Targets::from(&[0u8, 1][..]));
    let z = [1.0f32, 2.0, 3.0, 4.0];
    let la = LogitAdjusted::new(ce, &b3).unwrap();
    let mut g = [9.0f32; 4];
    assert_eq!(
        la.loss_grad(&rows, &z, Reduction::Mean, &mut g, None)
            .unwrap_err(),
        Error::LengthMismatch {
            what: "offsets",
            expected: 2,
            found: 3
        }
    );
    assert_eq!(g, [9.0; 4]);
    // LDAM: s z overflows at row 1; a driver error (row 2's label) comes
    // first; in place, the logits stay.
    let delta = [0.1f32, 0.2];
    let ldam = Ldam::new(ce, &delta, 30.0).unwrap();
    let z = [1.0f32, 2.0, 1.2e37, 0.0, 0.5, 0.5];
    let labels = [0u8, 1, 1];
    let rows = Rows::new(2, Targets::from(&labels[..]));
    let mut g = [9.0f32; 6];
    assert_eq!(
        ldam.loss_grad(&rows, &z, Reduction::Sum, &mut g, None)
            .unwrap_err(),
        Error::NonFiniteInput { at: At::Row(1) }
    );
    assert_eq!(g, [9.0; 6]);
    let mut buf = z;
    assert_eq!(
        ldam.loss_grad_in_place(&rows, &mut buf, Reduction::Sum, None)
            .unwrap_err(),
        Error::NonFiniteInput { at: At::Row(1) }
    );
    assert_eq!(bits(&buf), bits(&z));
    let bad_labels = [0u8, 1, 2];
    let rows_bad = Rows::new(2, Targets::from(&bad_labels[..]));
    assert!(matches!(
        ldam.loss_grad(&rows_bad, &z, Reduction::Sum, &mut g, None)
            .unwrap_err(),
        Error::LabelOutOfRange { .. }
    ));
    // A masked overflowing row is dropped, not an error.
    let mask = [false, true, false];
    let masked = rows.with_ignore(&mask);
    assert!(ldam
        .loss_grad(&masked, &z, Reduction::Sum, &mut g, None)
        .is_ok());
    assert_eq!(&g[2..4], &[0.0, 0.0]);
    // Seesaw takes labels only.
    let ss = Seesaw::new(ce, &[5, 1], 0.8, 2.0).unwrap();
    let probs = [0.5f32, 0.5, 1.0, 0.0, 0.0, 1.0];
    let mut g = [9.0f32; 6];
    assert_eq!(
        ss.loss_grad(
            &Rows::new(2, Targets::Probs(&probs)),
            &[0.0; 6],
            Reduction::Sum,
            &mut g,
            None
        )
        .unwrap_err(),
        Error::InvalidParameter { name: "targets" }
    );
    assert_eq!(g, [9.0; 6]);
    // Output lengths.
    let mut short = [0.0f32; 5];
    assert!(matches!(
        la.loss_grad(
            &Rows::new(3, Targets::from(&[0u8, 1][..])),
            &[0.0; 6],
            Reduction::Sum,
            &mut short,
            None
        )
        .unwrap_err(),
        Error::LengthMismatch { what: "grad", .. }
    ));
}

#[test]
fn no_nan_or_infinity_at_the_extremes() {
    let mut rng = Rng(0xe7);
    for &c in &CLASSES {
        let n = counts(&mut rng, c);
        let mut b = vec![0.0; c];
        logit_offsets(&n, 1e4, &mut b).unwrap();
        let big = vec![1e30f32; c];
        for base in bases() {
            let la = LogitAdjusted::new(base, &b).unwrap();
            let la_big = LogitAdjusted::new(base, &big).unwrap();
            let ss = Seesaw::new(base, &n, 1e3, 1e3).unwrap();
            let ldam = Ldam::new(base, &big, 1.0).unwrap();
            each_row(&mut rng, c, |row, t| {
                let mut g = vec![0.0; c];
                let t = Target::Label(t);
                for l in [
                    la.loss_grad_row(row, t, &mut g),
                    la_big.loss_grad_row(row, t, &mut g),
                    ss.loss_grad_row(row, t, &mut g),
                    ldam.loss_grad_row(row, t, &mut g),
                ] {
                    let l = l.unwrap();
                    assert!(
                        l.is_finite() && l >= 0.0
                            || base == AnyLoss::from(SoftmaxPoly1::new(-1.0).unwrap())
                    );
                    assert!(l.is_finite() && g.iter().all(|v| v.is_finite()), "{row:?}");
                }
            });
        }
    }
}

/// The shift through `AnyShift` gives the typed shift's loss and gradient.
fn same_as_any<'a, S: Shift + Into<AnyShift<'a>> + std::fmt::Debug>(
    sh: Shifted<S, AnyLoss>,
    rows: &Rows<'_>,
    z: &[f32],
) {
    let (mut g1, mut g2) = (vec![0.0; z.len()], vec![0.0; z.len()]);
    let want = sh
        .loss_grad(rows, z, Reduction::Mean, &mut g1, None)
        .unwrap();
    let got = sh
        .into_any()
        .loss_grad(rows, z, Reduction::Mean, &mut g2, None)
        .unwrap();
    assert_eq!(got.to_bits(), want.to_bits(), "{sh:?}");
    assert_eq!(bits(&g1), bits(&g2), "{sh:?}");
}

#[test]
fn the_run_time_shift_is_the_typed_shift_bit_for_bit() {
    let mut rng = Rng(0xa5);
    let c = 10;
    let n = counts(&mut rng, c);
    let mut b = vec![0.0; c];
    logit_offsets(&n, 1.0, &mut b).unwrap();
    let mut delta = vec![0.0; c];
    ldam_margins(&n, 0.5, &mut delta).unwrap();
    let (z, y) = random_rows(&mut rng, 12, c, 5.0);
    let rows = Rows::new(c, Targets::from(&y[..]));
    for base in bases() {
        same_as_any(LogitAdjusted::new(base, &b).unwrap(), &rows, &z);
        same_as_any(Ldam::new(base, &delta, 30.0).unwrap(), &rows, &z);
        same_as_any(Seesaw::new(base, &n, 0.8, 2.0).unwrap(), &rows, &z);
    }
}
