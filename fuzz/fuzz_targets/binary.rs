//! Fuzzes the binary batch API (`Batch::logits`/`probabilities` with weights
//! and ignore mask, `binary::loss_grad`, `loss_grad_in_place`, `Batch::loss`)
//! and the per-element API with random configurations (γ, α, smoothing,
//! pos_weight, reduction, including invalid values), random data (specials,
//! raw bit patterns, extreme magnitudes) and occasionally mismatched lengths.
//!
//! Asserted:
//! * no panic, whatever the input;
//! * on `Err`, every output buffer still holds its sentinel;
//! * on `Ok` with finite inputs, no NaN anywhere in the outputs; when the
//!   inputs are also moderate (|z| ≤ 1e6, weights, pos_weight ≤ 1e6,
//!   normaliser ≥ 1e-6, so that nothing can legitimately overflow), every
//!   written gradient and loss and the returned loss are finite, and losses
//!   are ≥ 0 up to rounding;
//! * the separate-buffer, in-place and loss-only entry points agree exactly.
//!
//! Run: `cargo +nightly fuzz run binary -- -max_total_time=180`.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyloss::{binary, Batch, BinaryLoss, Error, Focal, Reduction, SigmoidCe};

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
    Shorthand,
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
}

fn resize<T: Copy>(v: &mut Vec<T>, delta: i8, fill: T) {
    let len = (v.len() as isize + isize::from(delta)).max(0) as usize;
    v.resize(len, fill);
}

fn case(u: &mut Unstructured) -> Result<Case> {
    let mode = match u.arbitrary::<u8>()? % 5 {
        0 => Mode::Logits,
        1 => Mode::Probabilities,
        2 => Mode::Shorthand,
        3 => Mode::InPlace,
        _ => Mode::LossOnly,
    };
    let reduction = match u.arbitrary::<u8>()? % 6 {
        0 => Reduction::None,
        1 => Reduction::Sum,
        2 | 3 => Reduction::Mean,
        4 => Reduction::MeanOver(param(u, &[1.0, 7.0, 100.0, 0.5, 1e-45, 1e-40, 1e-30])?),
        _ => Reduction::MeanOverPositives,
    };
    let n = match u.arbitrary::<u8>()? % 8 {
        0 => 0,
        1..=5 => usize::from(u.arbitrary::<u8>()? % 40),
        _ => usize::from(u.arbitrary::<u16>()? % 600),
    };
    let batch_mode = matches!(mode, Mode::Logits | Mode::Probabilities | Mode::LossOnly);
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
    Ok(Case {
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

/// What a configuration amplifies a loss by, for the overflow bound.
struct Cfg {
    amp: f32,
}

fn run<L: BinaryLoss + core::fmt::Debug>(loss: &L, cfg: &Cfg, c: &Case) {
    let n = c.x.len();
    let mut grad = vec![SENTINEL_GRAD; c.grad_len];
    let mut losses = c.losses_len.map(|l| vec![SENTINEL_LOSS; l]);
    let mut xs = c.x.clone();

    let build = || {
        let mut b = match c.mode {
            Mode::Probabilities => Batch::probabilities(&c.x, &c.y),
            _ => Batch::logits(&c.x, &c.y),
        };
        if let Some(w) = &c.w {
            b = b.weights(w);
        }
        if let Some(ig) = &c.ig {
            b = b.ignore(ig);
        }
        b
    };
    let r: core::result::Result<f32, Error> = match c.mode {
        Mode::Logits | Mode::Probabilities => {
            build().loss_grad(loss, c.reduction, &mut grad, losses.as_deref_mut())
        }
        Mode::Shorthand => binary::loss_grad(loss, &c.x, &c.y, c.reduction, &mut grad),
        Mode::InPlace => {
            binary::loss_grad_in_place(loss, &mut xs, &c.y, c.reduction, losses.as_deref_mut())
        }
        Mode::LossOnly => build().loss(loss, c.reduction),
    };
    // Which buffers the call was allowed to write.
    let wrote_grad = matches!(c.mode, Mode::Logits | Mode::Probabilities | Mode::Shorthand);
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
    let keep = |i: usize| c.ig.as_ref().is_none_or(|m| !m[i]);
    for i in (0..n).filter(|&i| keep(i)) {
        let x_ok = if matches!(c.mode, Mode::Probabilities) {
            (0.0..=1.0).contains(&c.x[i])
        } else {
            c.x[i].is_finite()
        };
        assert!(x_ok, "Ok with bad input {} at {i}: {c:?}", c.x[i]);
        assert!((0.0..=1.0).contains(&c.y[i]), "Ok with bad target at {i}");
        if let Some(w) = &c.w {
            assert!(w[i].is_finite() && w[i] >= 0.0, "Ok with bad weight at {i}");
        }
    }

    let grad_out: &[f32] = if wrote_x { &xs } else { &grad };
    let check_grad = wrote_grad || wrote_x;
    let losses_out = if wrote_losses {
        losses.as_deref()
    } else {
        None
    };

    // Validated inputs are finite: no NaN, ever.
    assert!(!total.is_nan(), "NaN loss: {loss:?} {c:?}");
    if check_grad {
        for (i, g) in grad_out.iter().enumerate() {
            assert!(!g.is_nan(), "NaN grad[{i}]: {loss:?} {c:?}");
        }
    }
    if let Some(l) = losses_out {
        for (i, v) in l.iter().enumerate() {
            assert!(!v.is_nan(), "NaN loss[{i}]: {loss:?} {c:?}");
        }
    }

    // Moderate inputs: nothing may overflow, losses are >= 0 up to rounding.
    // (over the elements that count: ignored ones may hold anything)
    let max_x = (0..n)
        .filter(|&i| keep(i))
        .fold(0.0f32, |m, i| m.max(c.x[i].abs()));
    let max_w = c.w.as_ref().map_or(1.0, |w| {
        (0..n).filter(|&i| keep(i)).fold(1.0f32, |m, i| m.max(w[i]))
    });
    let denom_ok = match c.reduction {
        Reduction::MeanOver(d) => d >= 1e-6,
        _ => true,
    };
    if max_x <= 1e6 && max_w <= 1e6 && cfg.amp <= 1e6 && denom_ok {
        assert!(total.is_finite(), "non-finite loss {total}: {loss:?} {c:?}");
        // Per-element rounding slack: ℓ is computed from terms of size |z|.
        let slack = |i: usize| {
            let w = c.w.as_ref().map_or(1.0, |w| w[i]);
            1e-6 * (1.0 + c.x[i].abs()) * cfg.amp.max(1.0) * w
        };
        let total_slack: f32 = (0..n)
            .filter(|&i| keep(i))
            .map(slack)
            .sum::<f32>()
            .max(1e-30);
        assert!(
            total >= -total_slack,
            "negative loss {total}: {loss:?} {c:?}"
        );
        if check_grad {
            for (i, g) in grad_out.iter().enumerate() {
                assert!(g.is_finite(), "non-finite grad[{i}] {g}: {loss:?} {c:?}");
                if !keep(i) {
                    assert_eq!(*g, 0.0, "ignored element {i} has gradient {g}");
                }
            }
        }
        if let Some(l) = losses_out {
            for (i, &v) in l.iter().enumerate() {
                if !keep(i) {
                    assert_eq!(v, 0.0, "ignored element {i} has loss {v}");
                    continue;
                }
                assert!(v.is_finite(), "non-finite loss[{i}] {v}: {loss:?} {c:?}");
                assert!(v >= -slack(i), "negative loss[{i}] {v}: {loss:?} {c:?}");
            }
        }
    }

    // The entry points agree exactly on the same data.
    if matches!(c.mode, Mode::Logits | Mode::Shorthand | Mode::InPlace)
        && c.w.is_none()
        && c.ig.is_none()
    {
        let lo = Batch::logits(&c.x, &c.y).loss(loss, c.reduction);
        assert_eq!(
            lo.map(f32::to_bits),
            Ok(total.to_bits()),
            "loss-only differs"
        );
        if !matches!(c.mode, Mode::InPlace) {
            let mut zz = c.x.clone();
            let t2 = binary::loss_grad_in_place(loss, &mut zz, &c.y, c.reduction, None);
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
        }
    }
}

/// The per-element API: Ok exactly for valid inputs, finite results then.
fn per_element<L: BinaryLoss + core::fmt::Debug>(
    one: impl Fn(f32, f32) -> core::result::Result<tinyloss::LossGrad, Error>,
    one_prob: impl Fn(f32, f32) -> core::result::Result<tinyloss::LossGrad, Error>,
    loss: &L,
    cfg: &Cfg,
    c: &Case,
) {
    for (&x, &y) in c.x.iter().zip(&c.y).take(8) {
        let y_ok = (0.0..=1.0).contains(&y);
        match one(x, y) {
            Ok(r) => {
                assert!(
                    x.is_finite() && y_ok,
                    "per-element Ok on bad input z={x} y={y}"
                );
                assert!(
                    !r.loss.is_nan() && !r.grad.is_nan(),
                    "{loss:?} z={x} y={y}: {r:?}"
                );
                if x.abs() <= 1e6 && cfg.amp <= 1e6 {
                    assert!(
                        r.loss.is_finite() && r.grad.is_finite(),
                        "{loss:?} z={x} y={y}: {r:?}"
                    );
                    let slack = 1e-6 * (1.0 + x.abs()) * cfg.amp.max(1.0);
                    assert!(r.loss >= -slack, "{loss:?} z={x} y={y}: {r:?}");
                }
            }
            Err(_) => assert!(!(x.is_finite() && y_ok), "per-element Err on z={x} y={y}"),
        }
        let p_ok = (0.0..=1.0).contains(&x);
        match one_prob(x, y) {
            Ok(r) => {
                assert!(p_ok && y_ok, "per-element prob Ok on bad input p={x} y={y}");
                if cfg.amp <= 1e6 {
                    assert!(
                        r.loss.is_finite() && r.grad.is_finite(),
                        "{loss:?} p={x} y={y}: {r:?}"
                    );
                    assert!(
                        r.loss >= -1e-5 * cfg.amp.max(1.0),
                        "{loss:?} p={x} y={y}: {r:?}"
                    );
                }
            }
            Err(_) => assert!(!(p_ok && y_ok), "per-element prob Err on p={x} y={y}"),
        }
    }
}

fn fuzz(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let focal = u.arbitrary::<u8>()? % 3 != 0;
    // [0, 1] is the documented range of every smoothing ε.
    let smoothing = if u.arbitrary::<u8>()? % 3 == 0 {
        Some(param(&mut u, &[0.0, 0.1, 0.01, 0.5, 1.0])?)
    } else {
        None
    };
    if focal {
        let gamma = param(&mut u, &[2.0, 0.0, 0.5, 1.0, 1.5, 3.0, 5.0, 8.0, 9.0, 0.25])?;
        let alpha = if u.arbitrary::<u8>()? % 3 == 0 {
            None
        } else {
            Some(param(&mut u, &[0.25, 0.0, 1.0, 0.5, 0.75, 0.99, 0.01])?)
        };
        let c = case(&mut u)?;
        let f = Focal::new(gamma, alpha);
        let f = match (f, smoothing) {
            (Ok(f), Some(e)) => f.with_smoothing(e),
            (f, _) => f,
        };
        let valid = gamma.is_finite()
            && gamma >= 0.0
            && alpha.is_none_or(|a| (0.0..=1.0).contains(&a))
            && smoothing.is_none_or(|e| (0.0..=1.0).contains(&e));
        match f {
            Ok(f) => {
                assert!(
                    valid,
                    "Focal accepted γ={gamma} α={alpha:?} ε={smoothing:?}"
                );
                let cfg = Cfg { amp: 1.0 + gamma };
                run(&f, &cfg, &c);
                per_element(
                    |z, y| f.loss_grad(z, y),
                    |p, y| f.loss_grad_prob(p, y),
                    &f,
                    &cfg,
                    &c,
                );
            }
            Err(e) => assert!(
                !valid && matches!(e, Error::InvalidParameter { .. }),
                "Focal rejected γ={gamma} α={alpha:?} ε={smoothing:?}: {e:?}"
            ),
        }
    } else {
        let pw = if u.arbitrary::<u8>()? % 2 == 0 {
            None
        } else {
            Some(param(&mut u, &[1.0, 3.0, 0.3, 100.0, 0.0])?)
        };
        let c = case(&mut u)?;
        let b = match pw {
            None => Ok(SigmoidCe::PLAIN),
            Some(w) => SigmoidCe::with_pos_weight(w),
        };
        let b = match (b, smoothing) {
            (Ok(b), Some(e)) => b.with_smoothing(e),
            (b, _) => b,
        };
        let valid = pw.is_none_or(|w| w.is_finite() && w >= 0.0)
            && smoothing.is_none_or(|e| (0.0..=1.0).contains(&e));
        match b {
            Ok(b) => {
                assert!(
                    valid,
                    "SigmoidCe accepted pos_weight={pw:?} ε={smoothing:?}"
                );
                let cfg = Cfg {
                    amp: pw.unwrap_or(1.0).max(1.0),
                };
                run(&b, &cfg, &c);
                per_element(
                    |z, y| b.loss_grad(z, y),
                    |p, y| b.loss_grad_prob(p, y),
                    &b,
                    &cfg,
                    &c,
                );
            }
            Err(e) => assert!(
                !valid && matches!(e, Error::InvalidParameter { .. }),
                "SigmoidCe rejected pos_weight={pw:?} ε={smoothing:?}: {e:?}"
            ),
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = fuzz(data);
});
