//! Cost table: instructions per element of every public kernel on the
//! emulated core, counted exactly with QEMU `-icount shift=0` + SysTick (see
//! `tinyloss_firmware::counter`), next to a naive port (sigmoid via `expf`,
//! `powf`, `logf` per element, as a literal translation of torchvision's
//! `sigmoid_focal_loss` forward + backward would do), and the worst-case stack
//! use of each kernel (stack painting). On the host the same program prints
//! nanoseconds per element instead (not the benchmark: see benches/).
//!
//! Output: one `COST` line per kernel, parsed by `tools/costs`:
//! `COST <board> <kernel> <units per element> <stack bytes>`.
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::hint::black_box;
use tinyloss::mining::{self, Ghm, Replay};
use tinyloss::quant::{quantize_max_abs, BinaryTable, Quant};
use tinyloss::softmax::{Rows, Targets};
use tinyloss::{
    Asymmetric, Batch, Diagnostic, Error, Focal, FocalStar, GradMode, Poly1, PositivesEma,
    Reduction, SigmoidCe, SoftmaxCe, SoftmaxFocal, SoftmaxPoly1,
};
use tinyloss_firmware::{counter, exit, fx, out, stack_use, BOARD, UNIT};

/// Elements per batch.
const N: usize = 320;
/// Batches per measurement.
const REPS: u32 = 2;

// ---- #[inline(never)] entry points: one per kernel, so `tools/costs` can read
// each kernel's code size from the symbol table (nm) and stack painting sees
// one call. Constant configurations let LTO specialise (as firmware using
// `Focal::RETINANET` gets); `tl_focal_any` takes the loss at run time.

/// Fused focal, γ = 2, α = 0.25 (RetinaNet), mean.
#[no_mangle]
#[inline(never)]
pub fn tl_focal_g2(z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    Batch::new(y).loss_grad(&Focal::RETINANET, z, Reduction::Mean, g, None)
}

/// Sigmoid cross-entropy, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_bce(z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    Batch::new(y).loss_grad(&SigmoidCe::PLAIN, z, Reduction::Mean, g, None)
}

/// Any focal configuration (γ, α chosen at run time), mean.
#[no_mangle]
#[inline(never)]
pub fn tl_focal_any(f: &Focal, z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    Batch::new(y).loss_grad(f, z, Reduction::Mean, g, None)
}

/// Probability-input focal, γ = 2, α = 0.25, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_focal_prob_g2(p: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    Batch::new(y)
        .with_probabilities()
        .loss_grad(&Focal::RETINANET, p, Reduction::Mean, g, None)
}

/// Asymmetric loss, timm's defaults (γ⁻ = 4, γ⁺ = 1, clip 0.05), mean.
#[no_mangle]
#[inline(never)]
pub fn tl_asl(z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    Batch::new(y).loss_grad(&Asymmetric::TIMM, z, Reduction::Mean, g, None)
}

/// Poly-1 over focal γ = 2, α = 0.25 with ε = 1 (the paper's classification
/// setting), mean.
#[no_mangle]
#[inline(never)]
pub fn tl_poly1_focal(p: &Poly1, z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    Batch::new(y).loss_grad(p, z, Reduction::Mean, g, None)
}

/// FL* with γ = 2, β = 1, α = 0.25, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_focal_star(f: &FocalStar, z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    Batch::new(y).loss_grad(f, z, Reduction::Mean, g, None)
}

/// Quality focal loss, β = 2, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_qfl(z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    Batch::new(y).loss_grad(&tinyloss::Qfl::MMDET, z, Reduction::Mean, g, None)
}

/// Varifocal loss, α = 0.75, γ = 2, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_varifocal(z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    Batch::new(y).loss_grad(&tinyloss::Varifocal::MMDET, z, Reduction::Mean, g, None)
}

/// Focal γ = 2, α = 0.25 with the modulating factor held constant, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_focal_g2_detached(z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    let f = Focal::RETINANET.with_grad_mode(GradMode::Detached);
    Batch::new(y).loss_grad(&f, z, Reduction::Mean, g, None)
}

/// Focal γ = 2 with the gradient written over the logits.
#[no_mangle]
#[inline(never)]
pub fn tl_focal_g2_in_place(zg: &mut [f32], y: &[f32]) -> Result<f32, Error> {
    Batch::new(y).loss_grad_in_place(&Focal::RETINANET, zg, Reduction::Mean, None)
}

/// Focal γ = 2 through the per-element API, summed by the caller.
#[no_mangle]
#[inline(never)]
pub fn tl_focal_g2_each(z: &[f32], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    let mut s = 0.0;
    for i in 0..z.len() {
        let lg = Focal::RETINANET.loss_grad(z[i], y[i])?;
        s += lg.loss;
        g[i] = lg.grad;
    }
    Ok(s / z.len() as f32)
}

/// Rows of the softmax benchmarks (C = 10): 32 rows = 320 logits.
const ROWS: usize = 32;
const C: usize = 10;

/// Softmax cross-entropy over rows of C = 10 logits, label targets, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_softmax_ce(z: &[f32], t: &[u32], g: &mut [f32]) -> Result<f32, Error> {
    Rows::new(C, Targets::from(t)).loss_grad(&SoftmaxCe::new(), z, Reduction::Mean, g, None)
}

/// Softmax focal loss (γ = 2) over rows of C = 10 logits, label targets, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_softmax_focal(
    f: &SoftmaxFocal,
    z: &[f32],
    t: &[u32],
    g: &mut [f32],
) -> Result<f32, Error> {
    Rows::new(C, Targets::from(t)).loss_grad(f, z, Reduction::Mean, g, None)
}

/// Poly-1 softmax cross-entropy (ε = 2) over rows of C = 10 logits, label
/// targets, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_softmax_poly1(z: &[f32], t: &[u32], g: &mut [f32]) -> Result<f32, Error> {
    let l = SoftmaxPoly1::IMAGENET;
    Rows::new(C, Targets::from(t)).loss_grad(&l, z, Reduction::Mean, g, None)
}

/// Long-tailed counts for the shifted losses' rows (C = 10).
const COUNTS: [u32; C] = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50];

/// Logit-adjusted cross-entropy, τ = 1 (balanced softmax), mean; the
/// offsets are built outside the measured call.
#[no_mangle]
#[inline(never)]
pub fn tl_logit_adjusted(b: &[f32], z: &[f32], t: &[u32], g: &mut [f32]) -> Result<f32, Error> {
    let la = tinyloss::softmax::LogitAdjusted::new(SoftmaxCe::new(), b)?;
    la.loss_grad(&Rows::new(C, Targets::from(t)), z, Reduction::Mean, g, None)
}

/// LDAM over cross-entropy, m = 0.5, s = 30, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_ldam(delta: &[f32], z: &[f32], t: &[u32], g: &mut [f32]) -> Result<f32, Error> {
    let l = tinyloss::softmax::Ldam::new(SoftmaxCe::new(), delta, 30.0)?;
    l.loss_grad(&Rows::new(C, Targets::from(t)), z, Reduction::Mean, g, None)
}

/// Seesaw over cross-entropy, p = 0.8, q = 2, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_seesaw(z: &[f32], t: &[u32], g: &mut [f32]) -> Result<f32, Error> {
    let s = tinyloss::softmax::Seesaw::new(SoftmaxCe::new(), &COUNTS, 0.8, 2.0)?;
    s.loss_grad(&Rows::new(C, Targets::from(t)), z, Reduction::Mean, g, None)
}

/// The post-hoc adjusted logits `z - τ ln π` of every row (inference).
#[no_mangle]
#[inline(never)]
pub fn tl_post_hoc(z: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), Error> {
    tinyloss::softmax::post_hoc_adjust(z, b, out)
}

/// Distribution focal loss over rows of 17 bins (GFL's `reg_max = 16`),
/// mean: the two-hot targets into `sc`, then cross-entropy.
#[no_mangle]
#[inline(never)]
pub fn tl_dfl(z: &[f32], ys: &[f32], g: &mut [f32], sc: &mut [f32]) -> Result<f32, Error> {
    match tinyloss::softmax::Dfl::new(17) {
        Ok(d) => d.loss_grad(z, ys, Reduction::Mean, g, None, sc),
        Err(e) => Err(e),
    }
}

/// Naive port of torchvision's sigmoid_focal_loss (γ, α) forward + backward
/// for hard labels: p = 1/(1+expf(-z)), p_t, ce = -logf(p_t),
/// m = powf(1 - p_t, γ), loss = α_t m ce,
/// dFL/dz = α_t s (γ m p_t ln p_t - m (1 - p_t)), s = 2y - 1.
#[no_mangle]
#[inline(never)]
pub fn tl_naive_focal(gamma: f32, alpha: f32, z: &[f32], y: &[f32], g: &mut [f32]) -> f32 {
    let mut s = 0.0;
    for i in 0..z.len() {
        let p = 1.0 / (1.0 + libm::expf(-z[i]));
        let yi = y[i];
        let pt = p * yi + (1.0 - p) * (1.0 - yi);
        let at = alpha * yi + (1.0 - alpha) * (1.0 - yi);
        let lnp = libm::logf(pt);
        let m = libm::powf(1.0 - pt, gamma);
        s += -at * m * lnp;
        let sg = 2.0 * yi - 1.0;
        g[i] = at * sg * (gamma * m * pt * lnp - m * (1.0 - pt)) / z.len() as f32;
    }
    s / z.len() as f32
}

/// Naive sigmoid cross-entropy: p = 1/(1+expf(-z)), -(y logf p + (1-y) logf(1-p)).
#[no_mangle]
#[inline(never)]
pub fn tl_naive_bce(z: &[f32], y: &[f32], g: &mut [f32]) -> f32 {
    let mut s = 0.0;
    for i in 0..z.len() {
        let p = 1.0 / (1.0 + libm::expf(-z[i]));
        let yi = y[i];
        s += -(yi * libm::logf(p) + (1.0 - yi) * libm::logf(1.0 - p));
        g[i] = (p - yi) / z.len() as f32;
    }
    s / z.len() as f32
}

/// Streaming floor: reads the same inputs, writes the same output, trivial
/// arithmetic.
#[no_mangle]
#[inline(never)]
pub fn tl_floor(z: &[f32], y: &[f32], g: &mut [f32]) -> f32 {
    let mut s = 0.0;
    for i in 0..z.len() {
        let d = z[i] - y[i];
        s += d;
        g[i] = d;
    }
    s
}

/// Fused focal, γ = 2, α = 0.25, mean, with the easy-example diagnostic
/// (10 bins) gathered in the same pass.
#[no_mangle]
#[inline(never)]
pub fn tl_focal_g2_diagnosed(
    z: &[f32],
    y: &[f32],
    g: &mut [f32],
    d: &mut Diagnostic,
) -> Result<f32, Error> {
    Batch::new(y).loss_grad_diagnosed(&Focal::RETINANET, z, Reduction::Mean, g, d)
}

/// Softmax CE over rows of C = 10 logits, mean, with the diagnostic.
#[no_mangle]
#[inline(never)]
pub fn tl_softmax_ce_diagnosed(
    z: &[f32],
    t: &[u32],
    g: &mut [f32],
    d: &mut Diagnostic,
) -> Result<f32, Error> {
    Rows::new(C, Targets::from(t)).loss_grad_diagnosed(&SoftmaxCe::new(), z, Reduction::Mean, g, d)
}

/// GHM-C weights (10 bins, mmdet's momentum) of a batch.
#[no_mangle]
#[inline(never)]
pub fn tl_ghm_weights(
    h: &mut Ghm,
    z: &[f32],
    y: &[f32],
    w: &mut [f32],
) -> Result<Reduction, Error> {
    h.weights(z, y, None, w)
}

/// OHEM: keeps the N/4 largest of N scores, into a cleared mask.
#[no_mangle]
#[inline(never)]
pub fn tl_ohem_top_k(s: &[f32], ig: &mut [bool]) -> Result<usize, Error> {
    ig.fill(false);
    mining::top_k(s, s.len() / 4, ig)
}

/// SSD mining: every positive and as many of the highest-scoring negatives
/// (ratio 1), into a cleared mask.
#[no_mangle]
#[inline(never)]
pub fn tl_hard_negatives(s: &[f32], y: &[f32], ig: &mut [bool]) -> Result<usize, Error> {
    ig.fill(false);
    mining::hard_negatives(s, y, 1, ig)
}

/// Threshold mining (mmseg): keeps the elements with p_t below 0.7, at
/// least N/8 of them, into a cleared mask.
#[no_mangle]
#[inline(never)]
pub fn tl_below_threshold(p: &[f32], ig: &mut [bool]) -> Result<usize, Error> {
    ig.fill(false);
    mining::below_threshold(p, 0.7, p.len() / 8, ig)
}

/// The replay buffer (16 slots): every score of a batch offered to it;
/// returns how many were kept (`u32::MAX` if one was refused).
#[no_mangle]
#[inline(never)]
pub fn tl_replay_offer(b: &mut Replay<u16, 16>, s: &[f32]) -> u32 {
    let mut kept = 0u32;
    let mut i = 0u16;
    for &v in s {
        match b.offer(v, i) {
            Ok(k) => kept = kept.wrapping_add(k as u32),
            Err(_) => return u32::MAX,
        }
        i = i.wrapping_add(1);
    }
    kept
}

/// One update of the streaming normaliser (per call, not per element).
#[no_mangle]
#[inline(never)]
pub fn tl_ema_update(e: &mut PositivesEma, positives: f32) -> Result<Reduction, Error> {
    e.update(positives)
}

/// The table of RetinaNet's focal loss on `i8` logits, filled in place
/// (once per quantization).
#[no_mangle]
#[inline(never)]
pub fn tl_quant_table(t: &mut BinaryTable, q: Quant) -> Result<(), Error> {
    t.set_logits(&Focal::RETINANET, q)
}

/// A table's batch call, `i8` gradients re-quantized with max-abs, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_quant_i8(t: &BinaryTable, q: &[i8], y: &[f32], g: &mut [i8]) -> Result<f32, Error> {
    Ok(t.loss_grad_quantized(q, y, None, Reduction::Mean, g)?.loss)
}

/// A table's batch call, f32 gradients, mean.
#[no_mangle]
#[inline(never)]
pub fn tl_quant_f32(t: &BinaryTable, q: &[i8], y: &[f32], g: &mut [f32]) -> Result<f32, Error> {
    t.loss_grad(q, y, None, Reduction::Mean, g)
}

/// The path without a table: dequantize into the gradient buffer, the f32
/// focal kernel in place, re-quantize to `i8` (what an FPU core can do).
#[no_mangle]
#[inline(never)]
pub fn tl_dequant_focal_g2(
    qz: Quant,
    q: &[i8],
    y: &[f32],
    g: &mut [f32],
    g8: &mut [i8],
) -> Result<f32, Error> {
    qz.dequantize_into(q, g)?;
    let l = Batch::new(y).loss_grad_in_place(&Focal::RETINANET, g, Reduction::Mean, None)?;
    quantize_max_abs(g, g8)?;
    Ok(l)
}

/// Deterministic inputs: logits spread over [-8, 8], about 1 in 4 positive.
fn inputs(z: &mut [f32; N], p: &mut [f32; N], y: &mut [f32; N]) {
    let mut s = 0x2545_F491u32;
    for i in 0..N {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let u = (s >> 8) as f32 / (1u32 << 24) as f32;
        z[i] = 16.0 * u - 8.0;
        y[i] = if (s & 3) == 0 { 1.0 } else { 0.0 };
        p[i] = 1.0 / (1.0 + libm::expf(-z[i]));
    }
}

struct Row<'a> {
    name: &'a str,
    per_elem: f64,
    stack: usize,
}

fn report(r: &Row) {
    out!(
        "COST {} {} {} {}",
        BOARD,
        r.name,
        fx(r.per_elem as f32, 1),
        r.stack
    );
}

/// Calibration, then every f32 kernel; false if a sanity check failed.
#[inline(never)]
fn float_costs() -> bool {
    let mut z = [0.0f32; N];
    let mut p = [0.0f32; N];
    let mut y = [0.0f32; N];
    let mut g = [0.0f32; N];
    inputs(&mut z, &mut p, &mut y);
    let f15 = Focal::new(1.5, Some(0.25)).unwrap();
    let f05 = Focal::new(0.5, Some(0.25)).unwrap();
    let poly = black_box(Poly1::new(Focal::RETINANET, 1.0).unwrap());
    let star = black_box(FocalStar::new(2.0, 1.0, Some(0.25)).unwrap());
    let n = N as f64;
    out!("costs on {} ({} per element, batch of {})", BOARD, UNIT, N);
    let (r16, cal) = counter::calibration();
    out!(
        "calibration: {} instructions per SysTick tick ({} ticks for 2^20)",
        fx(r16 as f32 / 16.0, 4),
        cal
    );

    let mut ok = true;
    // Every measurement: per-call cost net of loop + timer overhead, / N, and
    // the stack high-water mark of one call.
    macro_rules! measure {
        ($name:expr, $call:expr) => {
            measure!($name, $call, n)
        };
        ($name:expr, $call:expr, $per:expr) => {{
            let per_call = counter::per_call(REPS, || {
                let _ = black_box($call);
            });
            let (_, stack) = stack_use(4096, || black_box($call));
            let r = Row {
                name: $name,
                per_elem: per_call / $per,
                stack,
            };
            report(&r);
        }};
    }
    {
        let (z, y) = (black_box(&z[..]), black_box(&y[..]));
        measure!("focal_g2_a025", tl_focal_g2(z, y, &mut g));
        measure!("sigmoid_ce", tl_bce(z, y, &mut g));
        measure!("focal_g1.5_a025", tl_focal_any(&f15, z, y, &mut g));
        measure!("focal_g0.5_a025", tl_focal_any(&f05, z, y, &mut g));
        measure!(
            "focal_g2_a025_runtime",
            tl_focal_any(&Focal::RETINANET, z, y, &mut g)
        );
        measure!("focal_prob_g2_a025", tl_focal_prob_g2(&p, y, &mut g));
        measure!("asl_timm", tl_asl(z, y, &mut g));
        measure!("poly1_focal_g2", tl_poly1_focal(&poly, z, y, &mut g));
        measure!("focal_star_g2_b1", tl_focal_star(&star, z, y, &mut g));
        measure!("focal_g2_detached", tl_focal_g2_detached(z, y, &mut g));
        measure!("qfl_b2", tl_qfl(z, y, &mut g));
        measure!("varifocal", tl_varifocal(z, y, &mut g));
        measure!("focal_g2_per_element_api", tl_focal_g2_each(z, y, &mut g));
        let mut zg = [0.0f32; N];
        measure!("focal_g2_in_place", {
            zg.copy_from_slice(z);
            tl_focal_g2_in_place(&mut zg, y)
        });
        measure!("naive_focal_g2", tl_naive_focal(2.0, 0.25, z, y, &mut g));
        measure!("naive_focal_g1.5", tl_naive_focal(1.5, 0.25, z, y, &mut g));
        measure!("naive_sigmoid_ce", tl_naive_bce(z, y, &mut g));
        measure!("floor", tl_floor(z, y, &mut g));
        let mut d = Diagnostic::new();
        measure!(
            "focal_g2_diagnosed",
            tl_focal_g2_diagnosed(z, y, &mut g, &mut d)
        );
        ok &= d.total(tinyloss::Group::All).count > 0;
        let mut h = Ghm::MMDET;
        let mut w = [0.0f32; N];
        measure!("ghm_weights", tl_ghm_weights(&mut h, z, y, &mut w));
        ok &= tl_ghm_weights(&mut h, z, y, &mut w).is_ok();
        let mut ig = [false; N];
        measure!("ohem_top_k", tl_ohem_top_k(z, &mut ig));
        measure!("hard_negatives", tl_hard_negatives(z, y, &mut ig));
        ok &= tl_ohem_top_k(z, &mut ig) == Ok(N / 4);
        measure!("below_threshold", tl_below_threshold(&p, &mut ig));
        ok &= tl_below_threshold(&p, &mut ig).is_ok_and(|k| k >= N / 8);
        let mut rb = Replay::new(4);
        measure!("replay_offer", tl_replay_offer(&mut rb, z));
        ok &= rb.is_full();
        let mut ema = PositivesEma::DETECTRON2;
        measure!("ema_update", tl_ema_update(&mut ema, black_box(3.0)), 1.0);
        ok &= ema.value() < 100.0;
        // Softmax, per logit: the first ROWS × C logits, labels from them.
        let zs = &z[..ROWS * C];
        let mut t = [0u32; ROWS];
        for (r, t) in t.iter_mut().enumerate() {
            *t = zs[r * C].to_bits() % C as u32;
        }
        let sf = SoftmaxFocal::new(2.0).unwrap();
        let logits = (ROWS * C) as f64;
        let mut gs = [0.0f32; ROWS * C];
        measure!("softmax_ce_c10", tl_softmax_ce(zs, &t, &mut gs), logits);
        measure!(
            "softmax_focal_c10",
            tl_softmax_focal(&sf, zs, &t, &mut gs),
            logits
        );
        measure!(
            "softmax_poly1_c10",
            tl_softmax_poly1(zs, &t, &mut gs),
            logits
        );
        let mut b = [0.0f32; C];
        let mut delta = [0.0f32; C];
        ok &= tinyloss::softmax::logit_offsets(&COUNTS, 1.0, &mut b).is_ok();
        ok &= tinyloss::softmax::ldam_margins(&COUNTS, 0.5, &mut delta).is_ok();
        measure!(
            "logit_adjusted_c10",
            tl_logit_adjusted(&b, zs, &t, &mut gs),
            logits
        );
        // LDAM's logits are cosine-normalized: |z| ≤ 1.
        let mut zc = [0.0f32; ROWS * C];
        for (c, &v) in zc.iter_mut().zip(zs) {
            *c = v / (1.0 + v.abs());
        }
        measure!("ldam_c10", tl_ldam(&delta, &zc, &t, &mut gs), logits);
        ok &= tl_ldam(&delta, &zc, &t, &mut gs).is_ok();
        measure!("seesaw_c10", tl_seesaw(zs, &t, &mut gs), logits);
        ok &= tl_seesaw(zs, &t, &mut gs).is_ok();
        measure!("post_hoc_c10", tl_post_hoc(zs, &b, &mut gs), logits);
        // DFL: 18 rows of 17 bins, targets in [0, 16] from the logits.
        let zd = &z[..18 * 17];
        let mut ys = [0.0f32; 18];
        for (r, y) in ys.iter_mut().enumerate() {
            *y = (zd[r].to_bits() % 1601) as f32 * 0.01;
        }
        let mut sc = [0.0f32; 18 * 17];
        measure!(
            "dfl_n17",
            tl_dfl(zd, &ys, &mut gs[..18 * 17], &mut sc),
            (18 * 17) as f64
        );
        measure!(
            "softmax_ce_c10_diagnosed",
            tl_softmax_ce_diagnosed(zs, &t, &mut gs, &mut d),
            logits
        );
        ok &= tl_softmax_ce(zs, &t, &mut gs).is_ok();
        ok &= tl_focal_g2(z, y, &mut g).is_ok();
    }
    ok
}

/// One quantized measurement: per-call cost over `per`, stack of one call
/// (painting 3 KiB: the calls use 2 KiB of scratch).
fn quant_row<R>(name: &str, per: f64, mut call: impl FnMut() -> R) {
    let per_call = counter::per_call(REPS, || {
        let _ = black_box(call());
    });
    let (_, stack) = stack_use(3072, || black_box(call()));
    report(&Row {
        name,
        per_elem: per_call / per,
        stack,
    });
}

/// The quantized rows: `i8` logits (the f32 inputs at scale 1/16, so
/// `[-8, 8)`) through the tables, with `i8` and f32 gradients, against
/// dequantizing and running the f32 kernel; and one table's build, per
/// call. Their own frames: the 4 KiB tables and the calls' 2 KiB scratch
/// do not fit the M0's 16 KiB next to `float_costs`' buffers.
#[inline(never)]
fn quant_costs() -> bool {
    let q = Quant::new(1.0 / 16.0, 0).ok();
    let Some(q) = q else {
        return false;
    };
    let (mut codes, mut y) = ([0i8; N], [0.0f32; N]);
    quant_inputs(&mut codes, &mut y);
    let (codes, y) = (black_box(&codes[..]), black_box(&y[..]));
    let mut g8 = [0i8; N];
    let mut g = [0.0f32; N];
    quant_build_row(q);
    let n = N as f64;
    let mut ok = quant_table_rows(
        q,
        &Focal::RETINANET,
        ["quant_focal_g2_i8", "quant_focal_g2_i8_f32grad"],
        codes,
        y,
        &mut g,
        &mut g8,
    );
    ok &= quant_table_rows(
        q,
        &SigmoidCe::PLAIN,
        ["quant_sigmoid_ce_i8", "quant_sigmoid_ce_i8_f32grad"],
        codes,
        y,
        &mut g,
        &mut g8,
    );
    quant_row("dequant_focal_g2_i8", n, || {
        tl_dequant_focal_g2(q, codes, y, &mut g, &mut g8)
    });
    ok & tl_dequant_focal_g2(q, codes, y, &mut g, &mut g8).is_ok()
}

/// The codes and labels of the quantized rows: `inputs`' logits at scale
/// 1/16 (its own frame, so its buffers are gone before the tables).
#[inline(never)]
fn quant_inputs(codes: &mut [i8; N], y: &mut [f32; N]) {
    let (mut z, mut p) = ([0.0f32; N], [0.0f32; N]);
    inputs(&mut z, &mut p, y);
    for (c, &v) in codes.iter_mut().zip(&z) {
        *c = (v * 16.0) as i8;
    }
}

/// The build of one table, per call.
#[inline(never)]
fn quant_build_row(q: Quant) {
    let mut t = BinaryTable::new();
    quant_row("quant_table_focal_g2_per_table", 1.0, || {
        tl_quant_table(&mut t, q).is_ok()
    });
}

/// One table's rows, `names`: `i8` gradients, then f32 gradients.
#[inline(never)]
fn quant_table_rows<L: tinyloss::BinaryLoss>(
    q: Quant,
    loss: &L,
    names: [&str; 2],
    codes: &[i8],
    y: &[f32],
    g: &mut [f32],
    g8: &mut [i8],
) -> bool {
    let mut t = BinaryTable::new();
    if t.set_logits(loss, q).is_err() {
        return false;
    }
    let n = N as f64;
    quant_row(names[0], n, || tl_quant_i8(&t, codes, y, g8));
    quant_row(names[1], n, || tl_quant_f32(&t, codes, y, g));
    tl_quant_i8(&t, codes, y, g8).is_ok()
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    let ok = float_costs();
    let ok = quant_costs() & ok;
    out!("costs done");
    exit(ok)
}
