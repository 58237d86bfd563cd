//! Quantized inputs and gradients against f64: every `i8` code of each
//! table (exhaustive, both labels, logits and probabilities) for the binary
//! family at quantizations from subnormal to the largest accepted scale;
//! batch calls of every reduction with and without a mask against the f32
//! driver (bit for bit) and against the f64 sum; re-quantized `i8`/`i16`
//! gradients against the exact quotient; dequantization over every `i16`
//! code; bad input writes nothing.

use tinyloss::binary::AnyLoss;
use tinyloss::quant::{quantize_max_abs, BinaryTable, Quant, QuantInt};
use tinyloss::{
    Asymmetric, At, Batch, Error, Focal, FocalStar, Poly1, Qfl, Reduction, SigmoidCe, Varifocal,
};
use tinyloss_reference::binary::Loss;
use tinyloss_reference::bounds::{binary_element, QUANTIZE_MAX_ABS, QUANT_GRAD, QUANT_TOTAL};
use tinyloss_reference::measure::{rel_err, U};
use tinyloss_reference::{Rng, Worst};

/// The binary family, each with its f64 reference.
fn losses() -> Vec<(AnyLoss, Loss)> {
    let focal = |g: f32, a: Option<f32>, e: f32| {
        (
            AnyLoss::from(Focal::new(g, a).unwrap().with_smoothing(e).unwrap()),
            Loss::Focal {
                gamma: g as f64,
                alpha: a.map(f64::from),
                eps: e as f64,
            },
        )
    };
    vec![
        focal(2.0, Some(0.25), 0.0),
        focal(1.5, None, 0.0),
        focal(0.0, Some(0.75), 0.1),
        focal(5.0, Some(0.01), 0.0),
        (
            SigmoidCe::PLAIN.into(),
            Loss::SigmoidCe {
                pos_weight: 1.0,
                eps: 0.0,
            },
        ),
        (
            SigmoidCe::PLAIN
                .with_pos_weight(3.0)
                .unwrap()
                .with_smoothing(0.05)
                .unwrap()
                .into(),
            Loss::SigmoidCe {
                pos_weight: 3.0,
                eps: 0.05,
            },
        ),
        (
            Asymmetric::new(4.0, 1.0, 0.05).unwrap().into(),
            Loss::Asymmetric {
                gamma_pos: 1.0,
                gamma_neg: 4.0,
                clip: 0.05,
                eps: 0.0,
                detached: false,
            },
        ),
        (
            Poly1::new(Focal::RETINANET, 1.0).unwrap().into(),
            Loss::Poly1 {
                gamma: 2.0,
                alpha: Some(0.25),
                eps: 0.0,
                epsilon: 1.0,
            },
        ),
        (
            FocalStar::new(1.0, 0.0, None).unwrap().into(),
            Loss::FocalStar {
                gamma: 1.0,
                beta: 0.0,
                alpha: None,
                eps: 0.0,
            },
        ),
        (Qfl::MMDET.into(), Loss::Qfl { beta: 2.0 }),
        (
            Varifocal::MMDET.into(),
            Loss::Varifocal {
                alpha: 0.75,
                gamma: 2.0,
                iou_weighted: true,
            },
        ),
    ]
}

/// Logit quantizations: TFLM-like, shifted zero points, and the extremes
/// of the accepted scales (subnormal, tiny, huge, the largest).
fn logit_quants() -> Vec<Quant> {
    [
        (0.0625, 0),
        (1.0 / 16.0, 10),
        (0.5, -128),
        (0.13, 127),
        (0.02, -300),
        (1e-30, 3),
        (1e-42, 0),
        (1e30, 0),
        (f32::MAX / 65536.0, -32768),
    ]
    .into_iter()
    .map(|(s, z)| Quant::new(s, z).unwrap())
    .collect()
}

/// Probability quantizations that keep every code in `[0, 1]`.
fn prob_quants() -> Vec<Quant> {
    vec![
        Quant::SIGMOID_I8,
        Quant::new(1.0 / 255.0, -128).unwrap(),
        Quant::new(1e-3, -128).unwrap(),
        Quant::new(1.0 / 512.0, -256).unwrap(),
    ]
}

#[test]
fn every_code_of_every_table_against_f64() {
    let mut worst = [Worst::default(); 4];
    for (l, rl) in losses() {
        for (prob, quants) in [(false, logit_quants()), (true, prob_quants())] {
            for q in quants {
                let t = if prob {
                    BinaryTable::probabilities(&l, q).unwrap()
                } else {
                    BinaryTable::logits(&l, q).unwrap()
                };
                assert_eq!((t.quant(), t.is_probabilities()), (q, prob));
                for code in i8::MIN..=i8::MAX {
                    let x = q.dequantize(code);
                    for positive in [false, true] {
                        let y = if positive { 1.0 } else { 0.0 };
                        let e = t.entry(code, positive);
                        let want = if prob {
                            rl.prob(x as f64, y)
                        } else {
                            rl.logit(x as f64, y)
                        };
                        let b = binary_element(&rl, prob, true, x as f64, y);
                        let at = (x, y as f32, code as f32);
                        let w = &mut worst[usize::from(prob) * 2..];
                        assert!(e.loss.is_finite() && e.grad.is_finite(), "{rl:?} {at:?}");
                        w[0].see(e.loss, want.0, b.loss_floor, b.loss, at);
                        w[1].see(e.grad, want.1, b.grad_floor, b.grad, at);
                    }
                }
            }
        }
    }
    for (w, what) in worst
        .iter()
        .zip(["logit loss", "logit grad", "prob loss", "prob grad"])
    {
        println!(
            "{what}: worst ratio {:.3} at {:?}, {} checks",
            w.ratio, w.at, w.checks
        );
        assert_eq!(w.failures, 0, "{what} beyond its bound at {:?}", w.at);
    }
}

#[test]
fn probability_tables_refuse_codes_outside_the_unit_interval() {
    for (s, z) in [(1.0 / 128.0, 0), (1.0 / 255.0, -127), (0.01, 0)] {
        let q = Quant::new(s, z).unwrap();
        assert_eq!(
            BinaryTable::probabilities(&Focal::RETINANET, q),
            Err(Error::InvalidParameter {
                name: "quantization"
            })
        );
    }
}

fn reductions() -> [Reduction; 7] {
    [
        Reduction::Sum,
        Reduction::Mean,
        Reduction::MeanOverPositives,
        Reduction::MeanOver(3.5),
        Reduction::MeanOver(1e-40),
        Reduction::MeanOver(f32::MAX),
        Reduction::MeanOver(0.7),
    ]
}

/// A random batch: codes (some runs at the extremes), labels, a mask.
fn batch(rng: &mut Rng, n: usize) -> (Vec<i8>, Vec<f32>, Vec<bool>) {
    let codes = (0..n)
        .map(|_| match rng.below(8) {
            0 => i8::MIN,
            1 => i8::MAX,
            _ => rng.below(256) as u8 as i8,
        })
        .collect();
    let labels = (0..n).map(|_| (rng.below(5) == 0) as u8 as f32).collect();
    let mask = (0..n).map(|_| rng.below(6) == 0).collect();
    (codes, labels, mask)
}

/// The exact reduction factor `1/d` of a batch.
fn denom(r: Reduction, kept: usize, positives: usize) -> f64 {
    match r {
        Reduction::Sum => 1.0,
        Reduction::Mean => kept as f64,
        Reduction::MeanOver(d) => d as f64,
        Reduction::MeanOverPositives => (positives as f64).max(1.0),
    }
}

#[test]
fn batch_calls_match_the_f32_driver_and_the_f64_sum() {
    let mut rng = Rng(7);
    let mut total = Worst::default();
    let mut quanta = [0.0f64; 2];
    for (l, _) in losses() {
        for q in logit_quants() {
            let t = BinaryTable::logits(&l, q).unwrap();
            for n in [1usize, 2, 7, 64, 333, 2049] {
                let (codes, ys, mask) = batch(&mut rng, n);
                let xs: Vec<f32> = codes.iter().map(|&c| q.dequantize(c)).collect();
                for masked in [false, true] {
                    let ignore = masked.then_some(&mask[..]);
                    let keep = |i: usize| !(masked && mask[i]);
                    let kept = (0..n).filter(|&i| keep(i)).count();
                    let pos = (0..n).filter(|&i| keep(i) && ys[i] == 1.0).count();
                    for r in reductions() {
                        let mut g = vec![9.0f32; n];
                        let got = t.loss_grad(&codes, &ys, ignore, r, &mut g).unwrap();
                        assert_eq!(t.loss(&codes, &ys, ignore, r).unwrap(), got);
                        // The f32 driver on the dequantized inputs: the same
                        // gradient bits.
                        let mut b = Batch::new(&ys);
                        if masked {
                            b = b.with_ignore(&mask);
                        }
                        let mut g32 = vec![0.0f32; n];
                        b.loss_grad(&l, &xs, r, &mut g32, None).unwrap();
                        for i in 0..n {
                            assert_eq!(g[i].to_bits(), g32[i].to_bits(), "{l:?} {q:?} {r:?} {i}");
                        }
                        // The f64 sum of the entries.
                        let d = denom(r, kept, pos);
                        let sum: f64 = (0..n)
                            .filter(|&i| keep(i))
                            .map(|i| t.entry(codes[i], ys[i] == 1.0).loss as f64)
                            .sum();
                        let want = if kept == 0 && r == Reduction::Mean {
                            0.0
                        } else {
                            sum / d
                        };
                        let want_f32 = want.min(f32::MAX as f64);
                        let err = if want > f32::MAX as f64 {
                            if got == f32::MAX {
                                0.0
                            } else {
                                f64::INFINITY
                            }
                        } else {
                            rel_err(got, want_f32, f32::MIN_POSITIVE as f64)
                        };
                        total.record(err, QUANT_TOTAL.get(), (got, n as f32, d as f32));
                        // Re-quantized gradients, i8 and i16.
                        quanta[0] = quanta[0]
                            .max(check_quantized::<i8>(&t, &codes, &ys, ignore, r, d, &keep));
                        quanta[1] = quanta[1]
                            .max(check_quantized::<i16>(&t, &codes, &ys, ignore, r, d, &keep));
                    }
                }
            }
        }
    }
    println!(
        "reduced loss: worst {:.2}u, {} checks; quantized gradients: worst {:.5} (i8), {:.5} (i16) quanta",
        total.err, total.checks, quanta[0], quanta[1]
    );
    assert_eq!(
        total.failures, 0,
        "reduced loss beyond its bound at {:?}",
        total.at
    );
}

/// Checks one quantized batch call against the exact quotient; returns the
/// worst distance in quanta.
#[allow(clippy::too_many_arguments)]
fn check_quantized<T: QuantInt + Into<i32> + std::fmt::Debug>(
    t: &BinaryTable,
    codes: &[i8],
    ys: &[f32],
    ignore: Option<&[bool]>,
    r: Reduction,
    d: f64,
    keep: &dyn Fn(usize) -> bool,
) -> f64 {
    let n = codes.len();
    let mut g = vec![T::default(); n];
    let out = t.loss_grad_quantized(codes, ys, ignore, r, &mut g).unwrap();
    assert_eq!(out.loss, t.loss(codes, ys, ignore, r).unwrap());
    let exact: Vec<f64> = (0..n)
        .map(|i| t.entry(codes[i], ys[i] == 1.0).grad as f64 / d)
        .collect();
    let m = (0..n)
        .filter(|&i| keep(i))
        .map(|i| exact[i].abs())
        .fold(0.0, f64::max);
    let mut worst = 0.0f64;
    let mut top = 0;
    for i in 0..n {
        let qi: i32 = g[i].into();
        assert!(qi.abs() <= T::Q_MAX);
        if !keep(i) {
            assert_eq!(qi, 0);
            continue;
        }
        top = top.max(qi.abs());
        let s = out.grad_scale as f64;
        // The bound holds while the scale is a normal f32 below f32::MAX.
        if s >= f32::MIN_POSITIVE as f64
            && s < f32::MAX as f64
            && m / T::Q_MAX as f64 <= f32::MAX as f64
        {
            let dist = (qi as f64 - exact[i] / s).abs();
            let bound = 0.5 + QUANT_GRAD.get() * U * T::Q_MAX as f64;
            assert!(
                dist <= bound,
                "{t:?}: {qi} vs {} at {i}, {r:?}",
                exact[i] / s
            );
            worst = worst.max(dist);
        }
    }
    if m > 0.0 {
        assert_eq!(top, T::Q_MAX, "the largest gradient maps to ±Q_MAX");
        // Positive unless `m / Q_MAX` is below f32's range.
        assert!(out.grad_scale > 0.0 || m / (T::Q_MAX as f64) < f32::MIN_POSITIVE as f64);
    } else {
        assert_eq!(top, 0);
    }
    worst
}

#[test]
fn quantize_max_abs_against_the_exact_quotient() {
    let mut rng = Rng(11);
    let mut worst = [0.0f64; 2];
    for case in 0..600 {
        let n = 1 + rng.below(300);
        let mag = match case % 6 {
            0 => 1.0,
            1 => 1e-30,
            2 => 1e-41, // subnormal
            3 => 1e30,
            4 => f32::MAX as f64,
            _ => 10f64.powi(rng.below(60) as i32 - 30),
        };
        let x: Vec<f32> = (0..n).map(|_| rng.sym(mag)).collect();
        worst[0] = worst[0].max(check_max_abs::<i8>(&x));
        worst[1] = worst[1].max(check_max_abs::<i16>(&x));
    }
    println!(
        "quantize_max_abs: worst {:.5} (i8), {:.5} (i16) quanta",
        worst[0], worst[1]
    );
    let mut q = [5i8; 3];
    assert_eq!(quantize_max_abs(&[0.0, -0.0, 0.0], &mut q), Ok(0.0));
    assert_eq!(q, [0, 0, 0]);
}

fn check_max_abs<T: QuantInt + Into<i32>>(x: &[f32]) -> f64 {
    let mut q = vec![T::default(); x.len()];
    let s = quantize_max_abs(x, &mut q).unwrap() as f64;
    let m = x.iter().map(|v| v.abs() as f64).fold(0.0, f64::max);
    let mut worst = 0.0f64;
    let mut top = 0;
    for (&v, &qi) in x.iter().zip(&q) {
        let qi: i32 = qi.into();
        top = top.max(qi.abs());
        assert!(qi.abs() <= T::Q_MAX);
        assert!(qi == 0 || (qi > 0) == (v > 0.0), "sign of {v}");
        if s >= f32::MIN_POSITIVE as f64 {
            let dist = (qi as f64 - v as f64 / s).abs();
            assert!(
                dist <= 0.5 + QUANTIZE_MAX_ABS.get() * U * T::Q_MAX as f64,
                "{v}: {qi}"
            );
            worst = worst.max(dist);
        }
    }
    if m > 0.0 {
        assert_eq!(top, T::Q_MAX);
    }
    worst
}

#[test]
fn dequantize_is_correctly_rounded_over_every_i16_code() {
    for (s, z) in [
        (0.0625f32, 0),
        (0.013, -7),
        (3.3e-7, 32767),
        (1e-44, -32768),
        (f32::MAX / 65536.0, 0),
    ] {
        let q = Quant::new(s, z).unwrap();
        assert_eq!((q.scale(), q.zero_point()), (s, z));
        let codes: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        let mut out = vec![0.0f32; codes.len()];
        q.dequantize_into(&codes, &mut out).unwrap();
        for (&c, &x) in codes.iter().zip(&out) {
            let want = ((c as i32 - z) as f64 * s as f64) as f32;
            assert_eq!(x.to_bits(), want.to_bits(), "{c} at {s} {z}");
            assert!(x.is_finite());
        }
    }
}

#[test]
fn bad_parameters_are_refused() {
    for s in [0.0, -0.0, -1.0, f32::NAN, f32::INFINITY, f32::MAX, 5.2e33] {
        assert_eq!(
            Quant::new(s, 0),
            Err(Error::InvalidParameter { name: "scale" }),
            "{s}"
        );
    }
    for z in [-32769, 32768, i32::MIN, i32::MAX] {
        assert_eq!(
            Quant::new(1.0, z),
            Err(Error::InvalidParameter { name: "zero_point" })
        );
    }
    assert!(Quant::new(f32::from_bits(1), -32768).is_ok());
    assert!(Quant::new(f32::MAX / 65536.0, 32767).is_ok());
}

#[test]
fn bad_input_writes_nothing() {
    let t = BinaryTable::logits(&Focal::RETINANET, Quant::new(0.1, 0).unwrap()).unwrap();
    let codes = [1i8, -2, 3];
    let ys = [1.0, 0.0, 0.0];
    let mut g = [7.0f32; 3];
    let mut gq = [7i8; 3];
    let mut g2 = [7.0f32; 2];
    type Case<'a> = (&'a [i8], &'a [f32], Option<&'a [bool]>, Reduction, Error);
    let cases: [Case; 7] = [
        (
            &codes,
            &[1.0, 0.5, 0.0],
            None,
            Reduction::Sum,
            Error::TargetOutOfRange { at: At::Element(1) },
        ),
        (
            &codes,
            &[1.0, 0.0, f32::NAN],
            None,
            Reduction::Sum,
            Error::TargetOutOfRange { at: At::Element(2) },
        ),
        (
            &codes,
            &[-1.0, 0.0, 0.0],
            None,
            Reduction::Sum,
            Error::TargetOutOfRange { at: At::Element(0) },
        ),
        (
            &codes[..2],
            &ys,
            None,
            Reduction::Sum,
            Error::LengthMismatch {
                what: "inputs",
                expected: 3,
                found: 2,
            },
        ),
        (
            &codes,
            &ys,
            Some(&[false]),
            Reduction::Sum,
            Error::LengthMismatch {
                what: "ignore",
                expected: 3,
                found: 1,
            },
        ),
        (
            &codes,
            &ys,
            None,
            Reduction::MeanOver(0.0),
            Error::InvalidParameter { name: "normalizer" },
        ),
        (
            &codes,
            &ys,
            None,
            Reduction::MeanOver(f32::NAN),
            Error::InvalidParameter { name: "normalizer" },
        ),
    ];
    for (c, y, ig, r, e) in cases {
        assert_eq!(t.loss_grad(c, y, ig, r, &mut g), Err(e));
        assert_eq!(
            t.loss_grad_quantized(c, y, ig, r, &mut gq).map(|_| ()),
            Err(e)
        );
        assert_eq!(t.loss(c, y, ig, r), Err(e));
        assert_eq!((g, gq), ([7.0; 3], [7; 3]));
    }
    assert_eq!(
        t.loss_grad(&codes, &ys, None, Reduction::Sum, &mut g2),
        Err(Error::LengthMismatch {
            what: "grad",
            expected: 3,
            found: 2
        })
    );
    assert_eq!(
        t.loss_grad(&[], &[], None, Reduction::Sum, &mut []),
        Err(Error::Empty)
    );
    // An ignored element's target is not read.
    let l = t
        .loss_grad(
            &codes,
            &[1.0, 0.5, 0.0],
            Some(&[false, true, false]),
            Reduction::Sum,
            &mut g,
        )
        .unwrap();
    assert!(l > 0.0 && g[1] == 0.0);
    let mut q = [3i16; 2];
    assert_eq!(
        quantize_max_abs(&[1.0, f32::INFINITY], &mut q),
        Err(Error::NonFiniteInput { at: At::Element(1) })
    );
    assert_eq!(
        quantize_max_abs(&[1.0], &mut q),
        Err(Error::LengthMismatch {
            what: "out",
            expected: 1,
            found: 2
        })
    );
    assert_eq!(q, [3, 3]);
}
