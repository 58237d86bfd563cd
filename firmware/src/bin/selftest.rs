//! On-target tests: tinyloss's public kernels on a fixed input set, checked
//! against f64 references computed here on the target, within the crate's
//! documented bounds. The references (independent formulas, libm's f64
//! functions), the error measure, the bounds (`BOUNDS`) and the bad-input
//! lists come from `tinyloss-reference` (`../reference`), the same crate the
//! host tests and the fuzz targets read. Prints one line per case; exits
//! non-zero if any case fails. Runs unchanged on the host
//! (`cargo run --bin selftest`).
//!
//! Error measure: `|got - ref| / (u · max(|ref|, floor))` with `u = 2^-24`
//! (softmax gradients: `|got - ref| / (u · K)`, K the row's target mass),
//! compared with a bound in those units.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tinyloss::softmax::{AnyLoss, Rows, Target, Targets};
use tinyloss::{At, Batch, Error, Focal, Reduction, SigmoidCe, SoftmaxCe, SoftmaxFocal, PROB_EPS};
use tinyloss_firmware::check::{a64, is_hard, Case, Suite, LOGITS, PROBS, TARGETS};
use tinyloss_firmware::out;

// ------------------------------------------------- references and bounds

// The f64 references, the error measure and the bounds come from
// `tinyloss-reference` (`../reference`), the crate the host tests and the
// fuzz targets read too.
use tinyloss::mining::{self, Replay};
use tinyloss_reference::binary::{alpha_t, focal as focal_ref, sigmoid_ce as bce_ref};
use tinyloss_reference::bounds::{
    BATCH_SCALED_GRAD, BATCH_TOTAL, BATCH_WEIGHTED_LOSS, FOCAL_GRAD_HARD, FOCAL_GRAD_SOFT,
    FOCAL_LOSS_HARD, FOCAL_LOSS_SOFT, GRAD_FLOOR, MEAN_2_20, PROB_GRAD, PROB_LOSS, SIGMOID_CE_GRAD,
    SIGMOID_CE_LOSS, SOFTMAX_BATCH_MEAN, SOFTMAX_CE_GRAD, SOFTMAX_CE_LOSS, SOFTMAX_FOCAL_GRAD,
    SOFTMAX_FOCAL_LOSS,
};
use tinyloss_reference::measure::LOSS_FLOOR;
use tinyloss_reference::mining as mref;
use tinyloss_reference::softmax::{self as sref, RowTarget};
use tinyloss_reference::{cases, Rng};

/// Probability-input focal loss at the clamped point, without smoothing.
fn focal_prob_ref(p: f64, y: f64, gamma: f64, alpha: Option<f64>) -> (f64, f64) {
    tinyloss_reference::binary::focal_prob(p, y, gamma, alpha, 0.0)
}

// ------------------------------------------------------------------ checking

// -------------------------------------------------------------------- inputs

const GAMMAS: [f32; 7] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0];
const ALPHAS: [Option<f32>; 3] = [None, Some(0.25), Some(0.9)];

// --------------------------------------------------------------------- cases

/// Per-element API, focal, every γ and α, hard and soft targets.
fn focal_per_element(s: &mut Suite) {
    let mut c = Case::new("focal per-element: 7 gammas x 3 alphas, hard+soft targets");
    for &g in &GAMMAS {
        for &a in &ALPHAS {
            let f = Focal::new(g, a).unwrap();
            for &y in &TARGETS {
                for &z in &LOGITS {
                    let r = f.loss_grad(z, y).unwrap();
                    let (l, d) = focal_ref(z as f64, y as f64, g as f64, a64(a), 0.0);
                    let at = alpha_t(a64(a), y as f64);
                    let g64 = g as f64;
                    if is_hard(y) {
                        c.see(r.loss, l, LOSS_FLOOR, FOCAL_LOSS_HARD.at(g64), (z, y, g));
                        c.see(r.grad, d, LOSS_FLOOR, FOCAL_GRAD_HARD.at(g64), (z, y, g));
                    } else {
                        c.see(r.loss, l, LOSS_FLOOR, FOCAL_LOSS_SOFT.at(g64), (z, y, g));
                        c.see(
                            r.grad,
                            d,
                            GRAD_FLOOR * at,
                            FOCAL_GRAD_SOFT.at(g64),
                            (z, y, g),
                        );
                    }
                }
            }
        }
    }
    s.done(c);
}

/// Label smoothing.
fn focal_smoothing(s: &mut Suite) {
    let mut c = Case::new("focal with label smoothing 0.1 / 1.0");
    for &g in &[0.0f32, 0.5, 2.0, 3.5] {
        for &a in &[None, Some(0.25f32)] {
            for &eps in &[0.1f32, 1.0] {
                let f = Focal::new(g, a).unwrap().with_smoothing(eps).unwrap();
                for &y in &TARGETS {
                    for &z in &LOGITS {
                        let r = f.loss_grad(z, y).unwrap();
                        let (l, d) = focal_ref(z as f64, y as f64, g as f64, a64(a), eps as f64);
                        let g64 = g as f64;
                        c.see(r.loss, l, LOSS_FLOOR, FOCAL_LOSS_SOFT.at(g64), (z, y, g));
                        c.see(r.grad, d, GRAD_FLOOR, FOCAL_GRAD_SOFT.at(g64), (z, y, g));
                    }
                }
            }
        }
    }
    s.done(c);
}

/// Sigmoid cross-entropy with pos_weight and smoothing.
fn bce(s: &mut Suite) {
    let mut c = Case::new("sigmoid CE: pos_weight 1/0.3/3/100, smoothing 0/0.1");
    for &w in &[1.0f32, 0.3, 3.0, 100.0] {
        for &eps in &[0.0f32, 0.1] {
            let k = SigmoidCe::PLAIN
                .with_pos_weight(w)
                .unwrap()
                .with_smoothing(eps)
                .unwrap();
            for &y in &TARGETS {
                for &z in &LOGITS {
                    let r = k.loss_grad(z, y).unwrap();
                    let (l, d) = bce_ref(z as f64, y as f64, w as f64, eps as f64);
                    let wm = if w > 1.0 { w as f64 } else { 1.0 };
                    let gfloor = if is_hard(y) && eps == 0.0 {
                        LOSS_FLOOR
                    } else {
                        GRAD_FLOOR
                    };
                    c.see(r.loss, l, LOSS_FLOOR * wm, SIGMOID_CE_LOSS.get(), (z, y, w));
                    c.see(r.grad, d, gfloor * wm, SIGMOID_CE_GRAD.get(), (z, y, w));
                }
            }
        }
    }
    s.done(c);
}

/// Probability-input variants (focal and BCE).
fn prob_variants(s: &mut Suite) {
    let mut c = Case::new("probability inputs: focal (7 gammas x 3 alphas) and BCE");
    for &g in &GAMMAS {
        for &a in &ALPHAS {
            let f = Focal::new(g, a).unwrap();
            for &y in &TARGETS {
                for &p in &PROBS {
                    let r = f.loss_grad_prob(p, y).unwrap();
                    let (l, d) = focal_prob_ref(p as f64, y as f64, g as f64, a64(a));
                    let g64 = g as f64;
                    c.see(r.loss, l, LOSS_FLOOR, PROB_LOSS.at(g64), (p, y, g));
                    c.see(r.grad, d, GRAD_FLOOR, PROB_GRAD.at(g64), (p, y, g));
                }
            }
        }
    }
    for &y in &TARGETS {
        for &p in &PROBS {
            let r = SigmoidCe::PLAIN.loss_grad_prob(p, y).unwrap();
            let (l, d) = focal_prob_ref(p as f64, y as f64, 0.0, None);
            c.see(r.loss, l, LOSS_FLOOR, PROB_LOSS.get(), (p, y, 0.0));
            c.see(r.grad, d, GRAD_FLOOR, PROB_GRAD.get(), (p, y, 0.0));
        }
    }
    s.done(c);
}

/// A fixed batch: the logits × targets grid flattened, with weights and an
/// ignore mask.
const B: usize = LOGITS.len() * 3;

fn batch_inputs() -> ([f32; B], [f32; B], [f32; B], [bool; B]) {
    let mut z = [0.0; B];
    let mut y = [0.0; B];
    let mut w = [0.0; B];
    let mut m = [false; B];
    for i in 0..B {
        z[i] = LOGITS[i % LOGITS.len()];
        y[i] = [0.0, 1.0, 1.0][i / LOGITS.len()];
        w[i] = 0.25 + (i % 7) as f32 * 0.5;
        m[i] = i % 5 == 3;
    }
    (z, y, w, m)
}

/// Batch driver: every reduction, weights, ignore mask, losses buffer,
/// in-place, for focal γ=2 α=0.25, focal γ=1.5, and BCE.
fn batches(s: &mut Suite) {
    let (z, y, w, m) = batch_inputs();
    let mut c = Case::new("batch: 4 reductions x weights/ignore, losses buffer, in-place");
    let reds = [
        Reduction::Sum,
        Reduction::Mean,
        Reduction::MeanOver(7.5),
        Reduction::MeanOverPositives,
    ];
    let f15 = Focal::new(1.5, None).unwrap();
    for kind in 0..3 {
        for &red in &reds {
            for opt in 0..4 {
                let weights = opt & 1 == 1;
                let ignore = opt & 2 == 2;
                // f64 reference.
                let mut sum = 0.0;
                let mut mag = 0.0;
                let mut cnt = 0.0;
                let mut pos = 0.0;
                let mut want_l = [0.0f64; B];
                let mut want_g = [0.0f64; B];
                for i in 0..B {
                    if ignore && m[i] {
                        continue;
                    }
                    let (l, d) = match kind {
                        0 => focal_ref(z[i] as f64, y[i] as f64, 2.0, Some(0.25), 0.0),
                        1 => focal_ref(z[i] as f64, y[i] as f64, 1.5, None, 0.0),
                        _ => bce_ref(z[i] as f64, y[i] as f64, 1.0, 0.0),
                    };
                    let wi = if weights { w[i] as f64 } else { 1.0 };
                    want_l[i] = wi * l;
                    want_g[i] = wi * d;
                    sum += wi * l;
                    mag += libm::fabs(wi * l);
                    cnt += 1.0;
                    pos += y[i] as f64;
                }
                let scale = match red {
                    Reduction::Sum => 1.0,
                    Reduction::Mean => 1.0 / cnt,
                    Reduction::MeanOver(d) => 1.0 / d as f64,
                    _ => 1.0 / if pos > 1.0 { pos } else { 1.0 },
                };
                let mut b = Batch::new(&y);
                if weights {
                    b = b.with_weights(&w);
                }
                if ignore {
                    b = b.with_ignore(&m);
                }
                let mut g = [f32::NAN; B];
                let mut ls = [f32::NAN; B];
                let got = match kind {
                    0 => b.loss_grad(&Focal::RETINANET, &z, red, &mut g, Some(&mut ls)),
                    1 => b.loss_grad(&f15, &z, red, &mut g, Some(&mut ls)),
                    _ => b.loss_grad(&SigmoidCe::PLAIN, &z, red, &mut g, Some(&mut ls)),
                };
                let Ok(got) = got else {
                    c.ok(false, "batch returned Err");
                    continue;
                };
                let p = (kind as f32, red_code(red), opt as f32);
                // Returned loss: BATCH_TOTAL + the reduction's 2e-6 of Σ|ℓ|.
                c.see(
                    got,
                    sum * scale,
                    LOSS_FLOOR,
                    BATCH_TOTAL.get() + MEAN_2_20.get() * mag / libm::fabs(sum).max(1e-300),
                    p,
                );
                // Per element: the kernel's bound (at γ = 2, the largest γ
                // here) plus the batch slack for the weight and scale
                // products; the absolute floor is the per-element one
                // (subnormal results round absolutely, and scaling a
                // subnormal gradient by 1/n keeps its absolute error), times
                // the weight.
                let code = p.0 * 100.0 + p.1 * 10.0 + p.2;
                let lb = FOCAL_LOSS_HARD.at(2.0) + BATCH_WEIGHTED_LOSS.get();
                let gb = FOCAL_GRAD_HARD.at(2.0) + BATCH_SCALED_GRAD.get();
                for i in 0..B {
                    let wm = if weights { w[i] as f64 } else { 1.0 };
                    let at = (z[i], y[i], code);
                    c.see(ls[i], want_l[i], LOSS_FLOOR * wm, lb, at);
                    c.see(g[i], want_g[i] * scale, LOSS_FLOOR * wm, gb, at);
                }
                // The reduced loss alone agrees with the fused pass.
                let alone = match kind {
                    0 => b.loss(&Focal::RETINANET, &z, red),
                    1 => b.loss(&f15, &z, red),
                    _ => b.loss(&SigmoidCe::PLAIN, &z, red),
                };
                c.ok(
                    alone == Ok(got),
                    "Batch::loss differs from loss_grad's return",
                );
            }
        }
    }
    // In place: the gradient overwrites the logits, same values as loss_grad.
    let mut zg = z;
    let mut g = [0.0; B];
    let a = Batch::new(&y).loss_grad_in_place(&Focal::RETINANET, &mut zg, Reduction::Mean, None);
    let b = Batch::new(&y).loss_grad(&Focal::RETINANET, &z, Reduction::Mean, &mut g, None);
    c.ok(
        a.is_ok() && a == b && zg == g,
        "in-place result differs from loss_grad",
    );
    // Probability batch = per-element probability API, summed.
    let mut p = [0.0f32; B];
    for i in 0..B {
        p[i] = PROBS[i % PROBS.len()];
    }
    let mut g = [0.0; B];
    let got = Batch::new(&y).with_probabilities().loss_grad(
        &Focal::RETINANET,
        &p,
        Reduction::Sum,
        &mut g,
        None,
    );
    let mut sum = 0.0;
    let mut mag = 0.0;
    for i in 0..B {
        let (l, d) = focal_prob_ref(p[i] as f64, y[i] as f64, 2.0, Some(0.25));
        sum += l;
        mag += libm::fabs(l);
        c.see(g[i], d, GRAD_FLOOR, PROB_GRAD.at(2.0), (p[i], y[i], 2.0));
    }
    match got {
        Ok(v) => c.see(
            v,
            sum,
            LOSS_FLOOR,
            BATCH_TOTAL.get() + MEAN_2_20.get() * mag / libm::fabs(sum),
            (0.0, 0.0, 2.0),
        ),
        Err(_) => c.ok(false, "probability batch returned Err"),
    }
    s.done(c);
}

fn red_code(r: Reduction) -> f32 {
    match r {
        Reduction::Sum => 1.0,
        Reduction::Mean => 2.0,
        Reduction::MeanOver(_) => 3.0,
        _ => 4.0,
    }
}

/// Bad input: the documented errors, nothing written on Err.
fn errors(s: &mut Suite) {
    let mut c = Case::new("errors: parameters, shapes, bad data, outputs untouched");
    // The bad-input lists of tinyloss-reference.
    for g in cases::BAD_GAMMAS {
        c.ok(
            Focal::new(g, None) == Err(Error::InvalidParameter { name: "gamma" }),
            "bad gamma",
        );
    }
    for a in cases::BAD_ALPHAS {
        c.ok(
            Focal::new(2.0, Some(a)) == Err(Error::InvalidParameter { name: "alpha" }),
            "bad alpha",
        );
    }
    for e in cases::BAD_SMOOTHING {
        c.ok(
            Focal::RETINANET.with_smoothing(e)
                == Err(Error::InvalidParameter { name: "smoothing" }),
            "bad smoothing",
        );
    }
    for w in cases::BAD_POS_WEIGHTS {
        c.ok(
            SigmoidCe::PLAIN.with_pos_weight(w)
                == Err(Error::InvalidParameter { name: "pos_weight" }),
            "bad pos_weight",
        );
    }
    let f = Focal::RETINANET;
    for bad in cases::NON_FINITE {
        c.ok(
            f.loss_grad(bad, 1.0) == Err(Error::NonFiniteInput { at: At::Element(0) }),
            "non-finite logit",
        );
    }
    for bad in cases::BAD_TARGETS {
        c.ok(
            f.loss_grad(1.0, bad) == Err(Error::TargetOutOfRange { at: At::Element(0) }),
            "bad target",
        );
    }
    for bad in cases::BAD_PROBS {
        c.ok(
            f.loss_grad_prob(bad, 1.0)
                == Err(if bad.is_finite() {
                    Error::ProbabilityOutOfRange { at: At::Element(0) }
                } else {
                    Error::NonFiniteInput { at: At::Element(0) }
                }),
            "bad probability",
        );
    }
    c.ok(
        PROB_EPS.to_bits() == tinyloss_reference::PROB_EPS.to_bits(),
        "PROB_EPS differs from the reference's",
    );
    let z = [0.5, -1.0, f32::INFINITY, 2.0];
    let y = [1.0, 0.0, 0.0, -0.5];
    let w = [1.0, 1.0, 1.0, -1.0];
    let mut g = [7.0f32; 4];
    let chk = |c: &mut Case, r: Result<f32, Error>, want: Error, what: &str, g: &[f32]| {
        if r != Err(want) {
            out!("  {}: got {:?}, want {:?}", what, r, want);
        }
        c.ok(r == Err(want), what);
        c.ok(g.iter().all(|&v| v == 7.0), "output written on Err");
    };
    let r = Batch::new(&y[..0]).loss_grad(&f, &z[..0], Reduction::Mean, &mut g[..0], None);
    chk(&mut c, r, Error::Empty, "empty", &g);
    let r = Batch::new(&y[..3]).loss_grad(&f, &z[..2], Reduction::Mean, &mut g[..2], None);
    chk(
        &mut c,
        r,
        Error::LengthMismatch {
            what: "inputs",
            expected: 3,
            found: 2,
        },
        "inputs length",
        &g,
    );
    let r = Batch::new(&y).loss_grad(&f, &z, Reduction::Mean, &mut g, None);
    chk(
        &mut c,
        r,
        Error::NonFiniteInput { at: At::Element(2) },
        "inf logit",
        &g,
    );
    let ign = [false, false, true, false];
    let r = Batch::new(&y)
        .with_ignore(&ign)
        .loss_grad(&f, &z, Reduction::Mean, &mut g, None);
    chk(
        &mut c,
        r,
        Error::TargetOutOfRange { at: At::Element(3) },
        "bad target after ignored inf",
        &g,
    );
    let y2 = [1.0, 0.0, 0.0, 0.5];
    let r = Batch::new(&y2)
        .with_ignore(&ign)
        .with_weights(&w)
        .loss_grad(&f, &z, Reduction::Mean, &mut g, None);
    chk(
        &mut c,
        r,
        Error::InvalidWeight { at: At::Element(3) },
        "negative weight",
        &g,
    );
    for d in cases::BAD_NORMALIZERS {
        let r =
            Batch::new(&y[..2]).loss_grad(&f, &z[..2], Reduction::MeanOver(d), &mut g[..2], None);
        chk(
            &mut c,
            r,
            Error::InvalidParameter { name: "normalizer" },
            "bad MeanOver normaliser",
            &g,
        );
    }
    let mut zz = z;
    let r = Batch::new(&y).loss_grad_in_place(&f, &mut zz, Reduction::Sum, None);
    c.ok(
        r == Err(Error::NonFiniteInput { at: At::Element(2) }),
        "in-place error",
    );
    c.ok(
        zz[0] == z[0] && zz[3] == z[3],
        "in-place logits touched on Err",
    );
    s.done(c);
}

// ------------------------------------------------------------- multi-class

/// Softmax CE (γ = 0) and focal loss of one row (C ≤ 10) with label `t`, in
/// f64 (`tinyloss_reference::softmax::row`). Returns the loss, writes the
/// gradient.
fn softmax_ref(z: &[f32], t: usize, gamma: f64, grad: &mut [f64]) -> f64 {
    let mut zd = [0.0f64; 10];
    for (d, &v) in zd.iter_mut().zip(z) {
        *d = v as f64;
    }
    sref::row(&zd[..z.len()], RowTarget::Label(t), None, 0.0, gamma, grad)
}

/// The target mass `K = Σ_c w_c y'_c` of a label row without class weights
/// or smoothing (1): the softmax gradient bounds' scale.
fn label_mass(n: usize, t: usize) -> f64 {
    sref::target_mass(RowTarget::Label(t), n, None, 0.0)
}

const SOFTMAX_ROWS: [[f32; 10]; 6] = [
    [0.1, -0.4, 2.0, 0.7, -1.3, 0.0, 0.9, -2.2, 1.1, 0.3],
    [30.0, -30.0, 5.0, 0.0, -5.0, 12.0, -12.0, 1.0, -1.0, 29.5],
    [1e4, -1e4, 0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 9999.0],
    [0.5; 10],
    [-7.0, -7.5, -6.0, -8.0, -7.2, -6.9, -9.0, -5.5, -7.7, -6.1],
    [20.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
];

/// Multi-class kernels (C = 10 and C = 3): per-row API for every label and
/// several γ, the batch API with `Reduction::Mean`, and errors.
fn softmax_cases(s: &mut Suite) {
    let mut c = Case::new("softmax CE + focal (γ 0.5/1/2/3.5): per row, batch, errors");
    let mut g = [0.0f32; 10];
    let mut want = [0.0f64; 10];
    for (ri, row) in SOFTMAX_ROWS.iter().enumerate() {
        for n in [10usize, 3] {
            let z = &row[..n];
            for t in 0..n {
                let l = SoftmaxCe::new().loss_grad_row(z, Target::Label(t as u32), &mut g[..n]);
                let lw = softmax_ref(z, t, 0.0, &mut want[..n]);
                match l {
                    Ok(l) => {
                        let at = (ri as f32, t as f32, 0.0);
                        c.see(l, lw, LOSS_FLOOR, SOFTMAX_CE_LOSS.get(), at);
                        let k = label_mass(n, t);
                        for j in 0..n {
                            let at = (z[j], t as f32, 0.0);
                            c.see_abs(g[j], want[j], k, SOFTMAX_CE_GRAD.get(), at);
                        }
                    }
                    Err(_) => c.ok(false, "softmax CE returned Err"),
                }
                for &gamma in &[0.5f32, 1.0, 2.0, 3.5] {
                    // Through `AnyLoss`: the loss chosen at run time.
                    let f = AnyLoss::from(SoftmaxFocal::new(gamma).unwrap());
                    let l = f.loss_grad_row(z, Target::Label(t as u32), &mut g[..n]);
                    let lw = softmax_ref(z, t, gamma as f64, &mut want[..n]);
                    match l {
                        Ok(l) => {
                            let at = (ri as f32, t as f32, gamma);
                            c.see(l, lw, LOSS_FLOOR, SOFTMAX_FOCAL_LOSS.get(), at);
                            let b = SOFTMAX_FOCAL_GRAD.at(gamma as f64);
                            let k = label_mass(n, t);
                            for j in 0..n {
                                c.see_abs(g[j], want[j], k, b, (z[j], t as f32, gamma));
                            }
                        }
                        Err(_) => c.ok(false, "softmax focal returned Err"),
                    }
                }
            }
        }
    }
    // Batch, mean over rows: loss and gradient / rows.
    let mut z = [0.0f32; 60];
    let mut labels = [0u32; 6];
    for (r, row) in SOFTMAX_ROWS.iter().enumerate() {
        z[r * 10..r * 10 + 10].copy_from_slice(row);
        labels[r] = (r * 7 % 10) as u32;
    }
    let mut gb = [0.0f32; 60];
    let f2 = SoftmaxFocal::new(2.0).unwrap();
    let got =
        Rows::new(10, Targets::from(&labels)).loss_grad(&f2, &z, Reduction::Mean, &mut gb, None);
    let mut sum = 0.0;
    for r in 0..6 {
        let l = softmax_ref(&z[r * 10..r * 10 + 10], labels[r] as usize, 2.0, &mut want);
        sum += l;
        let k = label_mass(10, labels[r] as usize) / 6.0;
        for j in 0..10 {
            c.see_abs(
                gb[r * 10 + j],
                want[j] / 6.0,
                k,
                SOFTMAX_FOCAL_GRAD.at(2.0) + BATCH_SCALED_GRAD.get(),
                (z[r * 10 + j], labels[r] as f32, 2.0),
            );
        }
    }
    match got {
        Ok(v) => c.see(
            v,
            sum / 6.0,
            LOSS_FLOOR,
            SOFTMAX_FOCAL_LOSS.get() + SOFTMAX_BATCH_MEAN.get(),
            (0.0, 0.0, 2.0),
        ),
        Err(_) => c.ok(false, "softmax batch returned Err"),
    }
    // Errors, nothing written.
    let mut gz = [7.0f32; 60];
    labels[4] = 10;
    let r = Rows::new(10, Targets::from(&labels)).loss_grad(
        &SoftmaxCe::new(),
        &z,
        Reduction::Mean,
        &mut gz,
        None,
    );
    c.ok(
        r == Err(Error::LabelOutOfRange { at: At::Row(4) }),
        "label 10 of C = 10",
    );
    let r = Rows::new(10, Targets::from(&labels)).loss_grad(
        &SoftmaxCe::new(),
        &z[..59],
        Reduction::Mean,
        &mut gz[..59],
        None,
    );
    c.ok(
        matches!(r, Err(Error::RaggedRows { .. })),
        "59 logits in rows of 10",
    );
    c.ok(gz.iter().all(|&v| v == 7.0), "gradient written on Err");
    c.ok(SoftmaxFocal::new(-1.0).is_err(), "softmax focal γ = -1");
    s.done(c);
}

/// The miners against the rank-counting references, on scores with heavy
/// ties, signed zeros, subnormals and ±f32::MAX, random prior masks.
fn mining_cases(s: &mut Suite) {
    const N: usize = 48;
    const POOL: [f32; 9] = [0.0, -0.0, 1e-45, 0.25, 0.5, 1.0, 3.0, f32::MAX, -f32::MAX];
    let mut c = Case::new("mining: OHEM, threshold, SSD hard negatives, replay buffer");
    let mut r = Rng(0x5EED_0009);
    let (mut sc, mut p, mut y, mut prior) = ([0.0f32; N], [0.0f32; N], [0.0f32; N], [false; N]);
    for round in 0..24 {
        let n = if round < 8 { round * 3 } else { N };
        for i in 0..N {
            sc[i] = if r.below(2) == 0 {
                POOL[r.below(POOL.len())]
            } else {
                r.sym(10.0)
            };
            p[i] = if r.below(2) == 0 {
                POOL[r.below(6)].min(1.0)
            } else {
                r.f() as f32
            };
            y[i] = if r.below(6) == 0 { 1.0 } else { 0.0 };
            prior[i] = r.below(5) == 0;
        }
        let (sc, p, y, prior) = (&sc[..n], &p[..n], &y[..n], &prior[..n]);
        for k in [0, 1, r.below(n + 1), n, n + 1] {
            let mut ig = [false; N];
            let ig = &mut ig[..n];
            ig.copy_from_slice(prior);
            let kept = mining::top_k(sc, k, ig);
            c.ok(kept.is_ok(), "top_k returned an error");
            let same = (0..n).all(|i| ig[i] != mref::top_k(sc, k, prior, i));
            c.ok(same, "top_k differs from the reference");
            ig.copy_from_slice(prior);
            let thresh = [0.0, 0.5, 0.7, 1.0][r.below(4)];
            c.ok(
                mining::below_threshold(p, thresh, k, ig).is_ok(),
                "below_threshold error",
            );
            let same = (0..n).all(|i| ig[i] != mref::below_threshold(p, thresh, k, prior, i));
            c.ok(same, "below_threshold differs from the reference");
            ig.copy_from_slice(prior);
            c.ok(
                mining::hard_negatives(sc, y, k, ig).is_ok(),
                "hard_negatives error",
            );
            let same = (0..n).all(|i| ig[i] != mref::hard_negatives(sc, y, k, prior, i));
            c.ok(same, "hard_negatives differs from the reference");
        }
    }
    // The replay buffer keeps the hardest and ages them out.
    let mut b: Replay<u16, 3> = Replay::new(2);
    for (i, l) in [0.5f32, 2.0, 0.1, 1.0, 3.0].into_iter().enumerate() {
        c.ok(b.offer(l, i as u16).is_ok(), "offer");
    }
    let items: [u16; 3] = [4, 1, 3];
    c.ok(
        b.items().copied().eq(items),
        "replay keeps the three hardest in place",
    );
    c.ok(
        b.refresh(&[0.2, 0.2, 0.2]).is_ok() && b.len() == 3,
        "one replay keeps all",
    );
    c.ok(
        b.refresh(&[0.2, 0.2, 0.2]).is_ok() && b.is_empty(),
        "two replays age all out",
    );
    c.ok(
        b.offer(f32::NAN, 9).is_err() && b.is_empty(),
        "NaN offer rejected",
    );
    s.done(c);
}

/// `got` within `bound` u of `want` (relative), or an exact 0.
/// `got` within `bound`·u relative of the non-negative `want`; a sum whose
/// exact value exceeds `f32::MAX` must have saturated there.
fn near(got: f32, want: f64, bound: f64) -> bool {
    if want > f64::from(f32::MAX) {
        return got == f32::MAX;
    }
    let e = (f64::from(got) - want).abs();
    got.is_finite() && e <= bound * tinyloss_reference::U * want
}

/// The easy-example diagnostic against the f64 recomputation from the
/// call's own per-element terms: counts exact, sums within 3u (softmax
/// gradient norms within (C + 8)u); loss and gradient bit for bit those of
/// the plain call.
fn diagnostic_cases(s: &mut Suite) {
    use tinyloss::{Diagnostic, Group};
    use tinyloss_reference::diagnostic::Figures;
    const N: usize = 40;
    const B: usize = 10;
    let mut c = Case::new("diagnostic: easy-example shares and p_t bins against f64");
    let mut r = Rng(0x5EED_000A);
    let groups = [Group::Positives, Group::Negatives];
    let agree = |c: &mut Case, d: &Diagnostic<B>, f: &Figures<B>, gu: f64| {
        for (gi, &g) in groups.iter().enumerate() {
            let (t, e) = (d.total(g), d.easy(g));
            c.ok(
                t.count == f.count[gi] && e.count == f.easy[gi],
                "diagnostic counts",
            );
            c.ok(
                near(t.loss, f.loss[gi], 3.0) && near(e.loss, f.easy_loss[gi], 3.0),
                "diagnostic loss sums",
            );
            c.ok(
                near(t.grad, f.grad[gi], gu) && near(e.grad, f.easy_grad[gi], gu),
                "diagnostic gradient sums",
            );
            for k in 0..B {
                let (b, (n, l, gr)) = (d.bin(g, k), f.bins[gi][k]);
                c.ok(
                    b.count == n && near(b.loss, l, 3.0) && near(b.grad, gr, gu),
                    "diagnostic bins",
                );
            }
        }
    };
    for round in 0..12 {
        let (mut x, mut y, mut w, mut m) = ([0.0f32; N], [0.0f32; N], [0.0f32; N], [false; N]);
        let thr = [0.5f32, 0.9, 0.2][round % 3];
        for i in 0..N {
            y[i] = (r.below(4) == 0) as u32 as f32;
            x[i] = [r.sym(6.0), r.sym(40.0), f32::MAX, -1e-45][r.below(4)];
            for _ in 0..8 {
                let mut f = Figures::<B>::default();
                f.element(false, f64::from(thr), x[i], y[i], 0.0, 0.0);
                if f.ambiguous == 0 {
                    break;
                }
                x[i] += 1e-3;
            }
            w[i] = r.f() as f32 * 2.0;
            m[i] = r.below(5) == 0;
        }
        let mut b = Batch::new(&y);
        if round % 2 == 1 {
            b = b.with_weights(&w).with_ignore(&m);
        }
        // Concrete losses (not `AnyLoss`, which would link every binary
        // loss's diagnosed passes into the M0's 256 KiB).
        let ([plain, got], [g, g1], sum, d) = match round % 3 {
            0 => diagnosed::<_, B, N>(&Focal::RETINANET, b, &x, thr),
            1 => diagnosed::<_, B, N>(&SigmoidCe::PLAIN, b, &x, thr),
            _ => diagnosed::<_, B, N>(&Focal::new(0.5, None).unwrap(), b, &x, thr),
        };
        c.ok(
            got == plain && g == g1,
            "diagnosed call differs from the plain call",
        );
        c.ok(sum.is_some(), "sum call");
        let (g1, l1) = sum.unwrap_or(([0.0; N], [0.0; N]));
        let mut f = Figures::<B>::default();
        for i in 0..N {
            if round % 2 == 0 || !m[i] {
                f.element(false, f64::from(thr), x[i], y[i], l1[i], g1[i]);
            }
        }
        agree(&mut c, &d, &f, 3.0);
    }
    // Softmax rows, class 0 the background.
    const C: usize = 5;
    const R: usize = 12;
    for round in 0..6 {
        let mut z = [0.0f32; R * C];
        let mut labels = [0u32; R];
        let thr = [0.5f32, 0.3][round % 2];
        for i in 0..R {
            labels[i] = r.below(C) as u32;
            for j in 0..C {
                z[i * C + j] = r.sym(6.0);
            }
            for _ in 0..8 {
                let mut f = Figures::<B> {
                    tol: 1.0 / f64::from(1u32 << 18),
                    ..Figures::default()
                };
                f.row(
                    f64::from(thr),
                    &z[i * C..(i + 1) * C],
                    labels[i] as usize,
                    false,
                    0.0,
                    &[],
                );
                if f.ambiguous == 0 {
                    break;
                }
                z[i * C + labels[i] as usize] += 1e-2;
            }
        }
        let rows = Rows::new(C, Targets::from(&labels[..]));
        let loss: AnyLoss = if round % 2 == 0 {
            SoftmaxCe::new().into()
        } else {
            SoftmaxFocal::new(2.0).unwrap().into()
        };
        let (mut g, mut g1, mut l1) = ([0.0f32; R * C], [0.0f32; R * C], [0.0f32; R]);
        let plain = rows.loss_grad(&loss, &z, Reduction::Mean, &mut g1, None);
        let mut d = Diagnostic::<B>::new()
            .with_threshold(thr)
            .unwrap()
            .with_background(0);
        let got = rows.loss_grad_diagnosed(&loss, &z, Reduction::Mean, &mut g, &mut d);
        c.ok(
            got == plain && g == g1,
            "diagnosed rows differ from the plain call",
        );
        c.ok(
            rows.loss_grad(&loss, &z, Reduction::Sum, &mut g1, Some(&mut l1))
                .is_ok(),
            "sum call",
        );
        let mut f = Figures::<B> {
            tol: 1.0 / f64::from(1u32 << 18),
            ..Figures::default()
        };
        for i in 0..R {
            let t = labels[i] as usize;
            f.row(
                f64::from(thr),
                &z[i * C..(i + 1) * C],
                t,
                t == 0,
                l1[i],
                &g1[i * C..(i + 1) * C],
            );
        }
        agree(&mut c, &d, &f, C as f64 + 8.0);
    }
    s.done(c);
}

/// GHM-C weights against mmdet's recurrence in f64 over a run of batches.
fn ghm_cases(s: &mut Suite) {
    use tinyloss_reference::mining::Ghm as GhmRef;
    const N: usize = 40;
    let mut c = Case::new("GHM-C: weights and running counts against mmdet in f64");
    let mut r = Rng(0x5EED_000B);
    let mut ghm = mining::Ghm::<10>::MMDET;
    let mut reference = GhmRef::<10>::new(0.75);
    for t in 1..=10u32 {
        let (mut z, mut y, mut w, mut want) = ([0.0f32; N], [0.0f32; N], [0.0f32; N], [0.0f64; N]);
        for i in 0..N {
            y[i] = (r.below(3) == 0) as u32 as f32;
            z[i] = [r.sym(6.0), f32::MAX, -30.0][r.below(3)];
            for _ in 0..8 {
                if !GhmRef::<10>::g(z[i], y[i]).1 {
                    break;
                }
                z[i] += 1e-3;
            }
        }
        let red = ghm.weights(&z, &y, None, &mut w);
        let tot = reference.step(&z, &y, None, &mut want);
        c.ok(red == Ok(Reduction::MeanOver(tot as f32)), "GHM normaliser");
        let bound = 3.0 * f64::from(t) + 4.0;
        c.ok((0..N).all(|i| near(w[i], want[i], bound)), "GHM weights");
    }
    c.ok(
        ghm.weights(&[f32::NAN], &[0.0], None, &mut [0.0]).is_err(),
        "GHM NaN logit",
    );
    s.done(c);
}

/// The fuzz findings at the ends of f32, on the target: class weights near
/// f32::MAX with small probability targets (softmax gradient against f64),
/// and weighted binary losses whose sum passes `2^192` under a `MeanOver`
/// that brings it back (against f64).
fn extreme_cases(s: &mut Suite) {
    let mut c = Case::new("extremes: huge class weights, weighted sums past 2^192");
    let p = [0.003_784_237_4f32, 0.003_921_569];
    let pd = [f64::from(p[0]), f64::from(p[1])];
    for w0 in [f32::MAX, 1e38, 1e30] {
        for z0 in [-540_835_840.0f32, -20.0, 1.5] {
            let (z, w) = ([z0, 0.031_174_181], [w0, 1.0]);
            let (zd, wd) = ([f64::from(z[0]), f64::from(z[1])], [f64::from(w[0]), 1.0]);
            let mut g = [0.0f32; 2];
            let mut want = [0.0f64; 2];
            let rows = Rows::new(2, Targets::Probs(&p)).with_class_weights(&w);
            let got =
                rows.and_then(|r| r.loss_grad(&SoftmaxCe::new(), &z, Reduction::Sum, &mut g, None));
            c.ok(got.is_ok(), "huge class weights refused");
            sref::row(&zd, RowTarget::Probs(&pd), Some(&wd), 0.0, 0.0, &mut want);
            let k = sref::target_mass(RowTarget::Probs(&pd), 2, Some(&wd), 0.0);
            for j in 0..2 {
                c.see_abs(g[j], want[j], k, SOFTMAX_CE_GRAD.get(), (z0, w0, j as f32));
            }
        }
    }
    let z = [3.4e38f32, 3.0e38, 1.0];
    let y = [0.0f32, 0.0, 1.0];
    let w = [1e38f32, 2e38, f32::MAX];
    let mut g = [0.0f32; 3];
    for d in [f32::MAX, 3e38] {
        let t = Batch::new(&y).with_weights(&w).loss_grad(
            &SigmoidCe::PLAIN,
            &z,
            Reduction::MeanOver(d),
            &mut g,
            None,
        );
        let mut want = 0.0;
        for i in 0..3 {
            let (zi, yi) = (f64::from(z[i]), f64::from(y[i]));
            want += f64::from(w[i]) * bce_ref(zi, yi, 1.0, 0.0).0;
        }
        match t {
            Ok(t) => c.see(
                t,
                want / f64::from(d),
                LOSS_FLOOR,
                BATCH_WEIGHTED_LOSS.get(),
                (d, 0.0, 0.0),
            ),
            Err(_) => c.ok(false, "weighted MeanOver refused"),
        }
    }
    s.done(c);
}

/// The streaming normaliser against its recurrence in f64: within
/// `EMA_PER_UPDATE · t` u after `t` updates, inside its range, and bad
/// parameters and counts rejected with the average unchanged.
fn ema_cases(s: &mut Suite) {
    use tinyloss::PositivesEma;
    use tinyloss_reference::bounds::EMA_PER_UPDATE;
    use tinyloss_reference::normalizer::PositivesEma as Ref;
    let mut c = Case::new("PositivesEma: the f64 recurrence, its range, bad input");
    let mut r = Rng(0x5EED_000C);
    for (v0, m) in [
        (100.0f32, 0.9f32),
        (1e-45, 0.5),
        (f32::MAX, 0.999),
        (3.0, 0.0),
    ] {
        let Ok(mut e) = PositivesEma::new(v0, m) else {
            c.ok(false, "valid parameters rejected");
            continue;
        };
        let mut want = Ref::new(v0, m);
        let (lo, mut hi) = (v0.min(1.0), v0.max(1.0));
        for t in 1..=300u32 {
            let p = [0.0, 1.0, r.below(20) as f32, f32::MAX, 0.5][r.below(5)];
            hi = hi.max(p);
            let red = e.update(p);
            let v = want.update(p);
            let got = e.value();
            c.ok(red == Ok(Reduction::MeanOver(got)), "EMA reduction");
            c.ok(got >= lo && got <= hi, "EMA out of its range");
            c.ok(near(got, v, EMA_PER_UPDATE * f64::from(t)), "EMA vs f64");
        }
        let before = e;
        for bad in [f32::NAN, -1.0, f32::INFINITY] {
            c.ok(e.update(bad).is_err() && e == before, "EMA bad count");
        }
    }
    for (v0, m) in [
        (0.0f32, 0.9f32),
        (f32::NAN, 0.5),
        (1.0, 1.0),
        (1.0, -0.1),
        (f32::INFINITY, 0.0),
    ] {
        c.ok(
            PositivesEma::new(v0, m).is_err(),
            "EMA bad parameters accepted",
        );
    }
    s.done(c);
}

/// The plain, diagnosed and per-element-loss calls of one diagnostic round:
/// the plain and diagnosed results, their gradients, the gradients and
/// losses of the Sum call (`None` if it failed), and the diagnostic.
#[allow(clippy::type_complexity)]
fn diagnosed<L: tinyloss::BinaryLoss, const B: usize, const N: usize>(
    loss: &L,
    b: Batch<'_>,
    x: &[f32; N],
    thr: f32,
) -> (
    [Result<f32, Error>; 2],
    [[f32; N]; 2],
    Option<([f32; N], [f32; N])>,
    tinyloss::Diagnostic<B>,
) {
    let (mut g, mut g1, mut gs, mut ls) = ([0.0f32; N], [0.0f32; N], [0.0f32; N], [0.0f32; N]);
    let plain = b.loss_grad(loss, x, Reduction::Mean, &mut g1, None);
    let mut d = tinyloss::Diagnostic::<B>::new()
        .with_threshold(thr)
        .unwrap();
    let got = b.loss_grad_diagnosed(loss, x, Reduction::Mean, &mut g, &mut d);
    let sum = b.loss_grad(loss, x, Reduction::Sum, &mut gs, Some(&mut ls));
    ([plain, got], [g, g1], sum.ok().map(|_| (gs, ls)), d)
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    Suite::run(
        "selftest",
        &[
            focal_per_element,
            focal_smoothing,
            bce,
            prob_variants,
            batches,
            errors,
            softmax_cases,
            mining_cases,
            diagnostic_cases,
            ghm_cases,
            ema_cases,
            extreme_cases,
        ],
    )
}
