//! On-target tests of the quantized inputs (`tinyloss::quant`): every
//! `i8` code of the binary tables against the f64 references of
//! `tinyloss-reference` within the bounds of its table, and the batch calls
//! against the f32 driver and the exact quotient. A binary of its own so
//! that each test binary fits the M0's 256 KiB of flash; same checking and
//! output as `selftest`. Runs unchanged on the host
//! (`cargo run --bin quantized`).
#![cfg_attr(target_os = "none", no_std, no_main)]

use tinyloss::{Batch, Focal, Reduction, SigmoidCe};
use tinyloss_firmware::check::{a64, Case, Suite};
use tinyloss_reference::binary::{focal as focal_ref, focal_prob, sigmoid_ce as bce_ref};
use tinyloss_reference::bounds::{
    FOCAL_GRAD_HARD, FOCAL_LOSS_HARD, GRAD_FLOOR, PROB_GRAD, PROB_LOSS, SIGMOID_CE_GRAD,
    SIGMOID_CE_LOSS,
};
use tinyloss_reference::measure::LOSS_FLOOR;
use tinyloss_reference::Rng;

/// Probability-input focal loss at the clamped point, without smoothing.
fn focal_prob_ref(p: f64, y: f64, gamma: f64, alpha: Option<f64>) -> (f64, f64) {
    focal_prob(p, y, gamma, alpha, 0.0)
}

/// Quantized tables: every `i8` code of three losses at logit
/// quantizations from TFLM's to tiny scales, and TFLM's sigmoid output as
/// probabilities, against f64 at the dequantized input; then batch calls of
/// every reduction: f32 gradients bit for bit those of the f32 driver,
/// re-quantized `i8` gradients within their bound of the exact quotient.
#[inline(never)]
fn quantized_cases(s: &mut Suite) {
    let mut c = Case::new("quantized: every i8 code x 3 losses x 4 quantizations, batch calls");
    let mut rng = Rng(5);
    for (g, a) in [(2.0f32, Some(0.25f32)), (1.5, None)] {
        let f = Focal::new(g, a).unwrap();
        let g64 = g as f64;
        let bounds = (
            FOCAL_LOSS_HARD.at(g64),
            FOCAL_GRAD_HARD.at(g64),
            PROB_LOSS.at(g64),
            PROB_GRAD.at(g64),
        );
        quantized_loss(&mut c, &f, &mut rng, bounds, |x, y, prob| {
            if prob {
                focal_prob_ref(x, y, g64, a64(a))
            } else {
                focal_ref(x, y, g64, a64(a), 0.0)
            }
        });
    }
    let bounds = (
        SIGMOID_CE_LOSS.get(),
        SIGMOID_CE_GRAD.get(),
        PROB_LOSS.get(),
        PROB_GRAD.get(),
    );
    quantized_loss(&mut c, &SigmoidCe::PLAIN, &mut rng, bounds, |x, y, prob| {
        if prob {
            focal_prob_ref(x, y, 0.0, None)
        } else {
            bce_ref(x, y, 1.0, 0.0)
        }
    });
    s.done(c);
}

/// [`quantized_cases`] for one loss: `bounds` are (loss, gradient) from
/// logits, then from probabilities; `rf(x, y, prob)` the f64 reference.
#[inline(never)]
fn quantized_loss<L: tinyloss::BinaryLoss>(
    c: &mut Case,
    l: &L,
    rng: &mut Rng,
    bounds: (f64, f64, f64, f64),
    rf: impl Fn(f64, f64, bool) -> (f64, f64),
) {
    use tinyloss::quant::{BinaryTable, Quant};
    use tinyloss_reference::bounds::{QUANT_GRAD, QUANT_TOTAL};
    let quants = [
        (0.0625f32, 0i32, false),
        (0.5, -128, false),
        (1e-30, 3, false),
        (1.0 / 256.0, -128, true),
    ];
    for &(sc, zp, prob) in &quants {
        let q = Quant::new(sc, zp).unwrap();
        let t = if prob {
            BinaryTable::probabilities(l, q)
        } else {
            BinaryTable::logits(l, q)
        };
        let Ok(t) = t else {
            c.ok(false, "table built");
            continue;
        };
        let (lb, gb, gf) = if prob {
            (bounds.2, bounds.3, GRAD_FLOOR)
        } else {
            (bounds.0, bounds.1, LOSS_FLOOR)
        };
        for code in i8::MIN..=i8::MAX {
            let x = q.dequantize(code);
            for positive in [false, true] {
                let y = if positive { 1.0 } else { 0.0 };
                let e = t.entry(code, positive);
                let want = rf(x as f64, y, prob);
                let at = (x, y as f32, code as f32);
                c.see(e.loss, want.0, LOSS_FLOOR, lb, at);
                c.see(e.grad, want.1, gf, gb, at);
            }
        }
        if !prob {
            quantized_batch(c, &t, l, rng, QUANT_TOTAL.get(), QUANT_GRAD.get());
        }
    }
}

/// One random batch of 48 codes through every reduction, masked and not.
#[inline(never)]
fn quantized_batch<L: tinyloss::BinaryLoss>(
    c: &mut Case,
    t: &tinyloss::quant::BinaryTable,
    l: &L,
    rng: &mut Rng,
    total_bound: f64,
    grad_bound: f64,
) {
    const N: usize = 48;
    let q = t.quant();
    let mut codes = [0i8; N];
    let (mut ys, mut xs, mut mask) = ([0.0f32; N], [0.0f32; N], [false; N]);
    for i in 0..N {
        codes[i] = rng.below(256) as u8 as i8;
        ys[i] = (rng.below(4) == 0) as u8 as f32;
        mask[i] = rng.below(7) == 0;
        xs[i] = q.dequantize(codes[i]);
    }
    for masked in [false, true] {
        let ignore = masked.then_some(&mask[..]);
        let keep = |i: usize| !(masked && mask[i]);
        for r in [
            Reduction::Sum,
            Reduction::Mean,
            Reduction::MeanOverPositives,
            Reduction::MeanOver(1e-30),
        ] {
            let (mut g, mut g32, mut g8) = ([0.0f32; N], [0.0f32; N], [0i8; N]);
            let Ok(got) = t.loss_grad(&codes, &ys, ignore, r, &mut g) else {
                c.ok(false, "quantized call");
                continue;
            };
            let mut b = Batch::new(&ys);
            if masked {
                b = b.with_ignore(&mask);
            }
            let _ = b.loss_grad(l, &xs, r, &mut g32, None);
            c.ok(
                g.iter().zip(&g32).all(|(a, b)| a.to_bits() == b.to_bits()),
                "f32 gradients equal the driver's",
            );
            let kept = (0..N).filter(|&i| keep(i)).count();
            let pos = (0..N).filter(|&i| keep(i) && ys[i] == 1.0).count();
            let d = match r {
                Reduction::Sum => 1.0,
                Reduction::Mean => kept as f64,
                Reduction::MeanOver(d) => d as f64,
                Reduction::MeanOverPositives => (pos as f64).max(1.0),
            };
            let mut sum = 0.0f64;
            let mut m = 0.0f64;
            for i in (0..N).filter(|&i| keep(i)) {
                let e = t.entry(codes[i], ys[i] == 1.0);
                sum += e.loss as f64;
                m = m.max(libm::fabs(e.grad as f64 / d));
            }
            let want = (sum / d).min(f32::MAX as f64);
            c.see(
                got,
                want,
                LOSS_FLOOR,
                total_bound,
                (got, kept as f32, d as f32),
            );
            let Ok(out) = t.loss_grad_quantized(&codes, &ys, ignore, r, &mut g8) else {
                c.ok(false, "quantized gradient call");
                continue;
            };
            let sg = out.grad_scale as f64;
            if !(sg >= f32::MIN_POSITIVE as f64 && sg < f32::MAX as f64) {
                continue;
            }
            for i in 0..N {
                let e = t.entry(codes[i], ys[i] == 1.0).grad as f64 / d;
                let want = if keep(i) { e / sg } else { 0.0 };
                let dist = libm::fabs(g8[i] as f64 - want);
                let bound = 0.5 + grad_bound * tinyloss_reference::measure::U * 127.0;
                c.record(
                    g8[i] as f32,
                    want,
                    dist / bound,
                    1.0,
                    (xs[i], ys[i], d as f32),
                );
            }
            c.ok(
                m == 0.0 || g8.iter().any(|&v| v.unsigned_abs() == 127),
                "max-abs at 127",
            );
        }
    }
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    Suite::run("quantized selftest", &[quantized_cases])
}
