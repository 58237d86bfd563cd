//! Shared helpers for the host benches: deterministic inputs, naive ports of
//! the reference implementations (what one gets by translating the PyTorch
//! code into a per-element loop with `std` f32 functions), and the streaming
//! floor (same memory traffic as a loss kernel, trivial arithmetic).
//!
//! Everything here is deliberately plain Rust: no `tinyloss` internals, no
//! hand-written SIMD. LLVM may auto-vectorise what it can.
#![allow(dead_code)]

/// SplitMix64: a tiny deterministic generator (no `rand` dependency).
pub struct Rng(u64);

impl Rng {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `(0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// A realistic detector-head batch: logits `z ~ N(mu, sigma)` (mean shifted
/// towards "background", as after RetinaNet's prior-probability init and some
/// training) and hard labels with a fraction `pos` of positives, whose logits
/// are shifted up by `sigma`.
pub fn detector_batch(n: usize, pos: f64, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let mut z = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let positive = rng.uniform() < pos;
        let shift = if positive { 1.0 } else { -1.0 };
        z.push((3.0 * rng.normal() + shift) as f32);
        y.push(if positive { 1.0 } else { 0.0 });
    }
    (z, y)
}

/// [`detector_batch`] with IoU-like soft targets for quality-score losses
/// (QFL, varifocal): the same logits and the same positives, each positive's
/// target replaced by a score uniform in `[0.25, 1)` (the IoU of the box it
/// predicts) from a second stream of the same seed; negatives keep 0.
pub fn detector_batch_iou(n: usize, pos: f64, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let (z, mut y) = detector_batch(n, pos, seed);
    let mut rng = Rng::new(seed ^ 0x10D0_5C02_E000_0000);
    for t in y.iter_mut().filter(|t| **t > 0.0) {
        *t = (0.25 + 0.75 * rng.uniform()) as f32;
    }
    (z, y)
}

/// Sum of a slice with 16 independent f32 accumulators (LLVM vectorises it),
/// so neither the floor nor the naive port is limited by the latency of one
/// serial add chain.
#[inline]
pub fn blocked_sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let mut s: f32 = chunks.remainder().iter().sum();
    for a in acc {
        s += a;
    }
    s
}

/// Streaming floor: reads the logits and the targets, writes one gradient per
/// element and returns a reduced value, with trivial arithmetic
/// (`g = (z y + c) / n`, `Σ z`). This is the memory traffic of
/// `Batch::loss_grad` (two input streams, one output stream) and nothing
/// else; no loss kernel can be faster than it.
#[inline(never)]
pub fn streaming_floor(z: &[f32], y: &[f32], grad: &mut [f32]) -> f32 {
    let n = z.len().min(y.len()).min(grad.len());
    let (z, y, grad) = (&z[..n], &y[..n], &mut grad[..n]);
    let inv_n = 1.0 / n as f32;
    let mut acc = [0.0f32; 16];
    // Fixed-size chunks: no bounds checks, so LLVM vectorises the body.
    let mut zc = z.chunks_exact(16);
    let mut yc = y.chunks_exact(16);
    let mut gc = grad.chunks_exact_mut(16);
    for ((z, y), g) in (&mut zc).zip(&mut yc).zip(&mut gc) {
        let z: &[f32; 16] = z.try_into().unwrap();
        let y: &[f32; 16] = y.try_into().unwrap();
        let g: &mut [f32; 16] = g.try_into().unwrap();
        for j in 0..16 {
            g[j] = (z[j] * y[j] + 0.5) * inv_n;
            acc[j] += z[j];
        }
    }
    let mut s = 0.0f32;
    for ((&z, &y), g) in zc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .zip(gc.into_remainder())
    {
        *g = (z * y + 0.5) * inv_n;
        s += z;
    }
    for a in acc {
        s += a;
    }
    s * inv_n
}

/// Naive port of torchvision's `sigmoid_focal_loss(reduction="mean")` and its
/// autograd backward, one element at a time with `std` f32 functions:
///
/// ```text
/// forward:  p    = 1 / (1 + exp(-z))                       # torch.sigmoid
///           ce   = max(z, 0) - z y + ln(1 + exp(-|z|))     # BCE with logits
///           p_t  = p y + (1 - p)(1 - y)
///           mod  = powf(1 - p_t, γ)
///           α_t  = α y + (1 - α)(1 - y)
///           ℓ    = α_t ce mod                              # -> losses[i]
/// backward: ∂ce/∂z  = p - y
///           ∂mod/∂z = -γ powf(1 - p_t, γ - 1) · p (1 - p)(2y - 1)
///           g    = α_t (∂ce/∂z · mod + ce · ∂mod/∂z) / n   # -> grad[i]
/// mean:     L    = Σ ℓ / n
/// ```
///
/// That is two `expf`, one `logf` and two `powf` per element, as in eager
/// PyTorch (which also saves `p`, `ce` and `1 - p_t` for the backward). It
/// writes the per-element losses and the gradient, then mean-reduces the
/// losses (a second pass, as `loss.mean()` does).
#[inline(never)]
pub fn naive_focal(
    gamma: f32,
    alpha: f32,
    z: &[f32],
    y: &[f32],
    losses: &mut [f32],
    grad: &mut [f32],
) -> f32 {
    let n = z.len();
    let inv_n = 1.0 / n as f32;
    for (((&z, &y), l), g) in z.iter().zip(y).zip(losses.iter_mut()).zip(grad.iter_mut()) {
        let p = 1.0 / (1.0 + (-z).exp());
        let ce = z.max(0.0) - z * y + (1.0 + (-z.abs()).exp()).ln();
        let p_t = p * y + (1.0 - p) * (1.0 - y);
        let m = 1.0 - p_t;
        let modulator = m.powf(gamma);
        let alpha_t = alpha * y + (1.0 - alpha) * (1.0 - y);
        *l = alpha_t * ce * modulator;
        let dce = p - y;
        let dmod = -gamma * m.powf(gamma - 1.0) * (p * (1.0 - p) * (2.0 * y - 1.0));
        *g = alpha_t * (dce * modulator + ce * dmod) * inv_n;
    }
    blocked_sum(losses) * inv_n
}

/// Naive port of `F.binary_cross_entropy_with_logits(reduction="mean")` and
/// its backward: `ℓ = max(z, 0) - z y + ln(1 + exp(-|z|))`,
/// `g = (σ(z) - y) / n` with `σ(z) = 1 / (1 + exp(-z))`; two `expf` and one
/// `logf` per element.
#[inline(never)]
pub fn naive_bce(z: &[f32], y: &[f32], losses: &mut [f32], grad: &mut [f32]) -> f32 {
    let n = z.len();
    let inv_n = 1.0 / n as f32;
    for (((&z, &y), l), g) in z.iter().zip(y).zip(losses.iter_mut()).zip(grad.iter_mut()) {
        *l = z.max(0.0) - z * y + (1.0 + (-z.abs()).exp()).ln();
        let p = 1.0 / (1.0 + (-z).exp());
        *g = (p - y) * inv_n;
    }
    blocked_sum(losses) * inv_n
}

/// Naive port of timm's `AsymmetricLossMultiLabel` (γ⁻, γ⁺, clip, eps =
/// 1e-8 log clamps) forward and a hand-written backward for hard labels,
/// with `expf`, `logf` and `powf` per element, mean-reduced.
#[inline(never)]
pub fn naive_asl(
    gamma_neg: f32,
    gamma_pos: f32,
    clip: f32,
    z: &[f32],
    y: &[f32],
    losses: &mut [f32],
    grad: &mut [f32],
) -> f32 {
    let n = z.len();
    let inv_n = 1.0 / n as f32;
    for (((&z, &y), l), g) in z.iter().zip(y).zip(losses.iter_mut()).zip(grad.iter_mut()) {
        let p = 1.0 / (1.0 + (-z).exp());
        let xs_neg = (1.0 - p + clip).min(1.0);
        if y > 0.5 {
            let ce = -(p.max(1e-8)).ln();
            let w = (1.0 - p).powf(gamma_pos);
            *l = ce * w;
            let dw = -gamma_pos * (1.0 - p).powf(gamma_pos - 1.0) * p * (1.0 - p);
            *g = (-(1.0 - p) * w + ce * dw) * inv_n;
        } else {
            let pm = 1.0 - xs_neg;
            let ce = -(xs_neg.max(1e-8)).ln();
            let w = pm.powf(gamma_neg);
            *l = ce * w;
            *g = if pm > 0.0 {
                let dce = p * (1.0 - p) / xs_neg;
                let dw = gamma_neg * pm.powf(gamma_neg - 1.0) * p * (1.0 - p);
                (dce * w + ce * dw) * inv_n
            } else {
                0.0
            };
        }
    }
    blocked_sum(losses) * inv_n
}

/// Naive port of the PolyLoss paper's `poly1_focal_loss` (also timm's
/// convention): focal loss as in [`naive_focal`] plus
/// `ε powf(1 - p_t, γ + 1)`, the poly term without `α_t`, mean-reduced. The
/// backward is autograd's chain rule written out: `∂(1 - p_t)/∂z =
/// -p(1 - p)(2y - 1)`, and every `pow` differentiated as
/// `e powf(x, e - 1)`, so four `powf` per element.
#[inline(never)]
pub fn naive_poly1_focal(
    gamma: f32,
    alpha: f32,
    epsilon: f32,
    z: &[f32],
    y: &[f32],
    losses: &mut [f32],
    grad: &mut [f32],
) -> f32 {
    let n = z.len();
    let inv_n = 1.0 / n as f32;
    for (((&z, &y), l), g) in z.iter().zip(y).zip(losses.iter_mut()).zip(grad.iter_mut()) {
        let p = 1.0 / (1.0 + (-z).exp());
        let ce = z.max(0.0) - z * y + (1.0 + (-z.abs()).exp()).ln();
        let p_t = p * y + (1.0 - p) * (1.0 - y);
        let m = 1.0 - p_t;
        let modulator = m.powf(gamma);
        let alpha_t = alpha * y + (1.0 - alpha) * (1.0 - y);
        let poly = epsilon * m.powf(gamma + 1.0);
        *l = alpha_t * ce * modulator + poly;
        let dm = -(p * (1.0 - p) * (2.0 * y - 1.0));
        let dce = p - y;
        let dmod = gamma * m.powf(gamma - 1.0) * dm;
        let dpoly = epsilon * (gamma + 1.0) * m.powf(gamma) * dm;
        *g = (alpha_t * (dce * modulator + ce * dmod) + dpoly) * inv_n;
    }
    blocked_sum(losses) * inv_n
}

/// Naive port of fvcore's `sigmoid_focal_loss_star(reduction="mean")` with
/// the paper's shift β: `t = γ z (2y - 1) + β`,
/// `ℓ = α_t · -logsigmoid(t) / γ` with PyTorch's
/// `-logsigmoid(t) = max(-t, 0) + ln(1 + exp(-|t|))`, and autograd's
/// backward `∂ℓ/∂z = -α_t (2y - 1) σ(-t)`, `σ(-t) = 1 / (1 + exp(t))`:
/// two `expf` and one `logf` per element.
#[inline(never)]
pub fn naive_focal_star(
    gamma: f32,
    beta: f32,
    alpha: f32,
    z: &[f32],
    y: &[f32],
    losses: &mut [f32],
    grad: &mut [f32],
) -> f32 {
    let n = z.len();
    let inv_n = 1.0 / n as f32;
    for (((&z, &y), l), g) in z.iter().zip(y).zip(losses.iter_mut()).zip(grad.iter_mut()) {
        let s = 2.0 * y - 1.0;
        let t = gamma * (z * s) + beta;
        let alpha_t = alpha * y + (1.0 - alpha) * (1.0 - y);
        let nls = (-t).max(0.0) + (1.0 + (-t.abs()).exp()).ln();
        *l = alpha_t * nls / gamma;
        let sig_neg = 1.0 / (1.0 + t.exp());
        *g = -(alpha_t * s * sig_neg) * inv_n;
    }
    blocked_sum(losses) * inv_n
}

/// Naive port of mmdet's `quality_focal_loss` (elementwise, as
/// `quality_focal_loss_tensor_target`; for negatives `|0 - p|^β = p^β` as in
/// mmdet's background branch) on score targets `y ∈ [0, 1]`:
/// `ℓ = BCE_with_logits(z, y) · powf(|p - y|, β)`, mean-reduced; autograd's
/// backward `(p - y) powf(|d|, β) + BCE β powf(|d|, β - 1) sign(d) p(1 - p)`
/// with `d = p - y`: two `expf`, one `logf`, two `powf` per element.
#[inline(never)]
pub fn naive_qfl(beta: f32, z: &[f32], y: &[f32], losses: &mut [f32], grad: &mut [f32]) -> f32 {
    let n = z.len();
    let inv_n = 1.0 / n as f32;
    for (((&z, &y), l), g) in z.iter().zip(y).zip(losses.iter_mut()).zip(grad.iter_mut()) {
        let p = 1.0 / (1.0 + (-z).exp());
        let ce = z.max(0.0) - z * y + (1.0 + (-z.abs()).exp()).ln();
        let d = p - y;
        let ad = d.abs();
        let w = ad.powf(beta);
        *l = ce * w;
        let sign = if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            0.0
        };
        let dw = beta * ad.powf(beta - 1.0) * sign * (p * (1.0 - p));
        *g = (d * w + ce * dw) * inv_n;
    }
    blocked_sum(losses) * inv_n
}

/// Naive port of mmdet's `varifocal_loss(iou_weighted=True,
/// reduction="mean")`: `fw = y [y > 0] + α powf(|p - y|, γ) [y <= 0]`
/// (masks as float factors, both terms computed for every element, the
/// weight not detached), `ℓ = BCE_with_logits(z, y) · fw`; autograd's
/// backward `(p - y) fw + BCE · α γ powf(|p - y|, γ - 1) sign(p - y) p(1 - p)
/// [y <= 0]`: two `expf`, one `logf`, two `powf` per element.
#[inline(never)]
pub fn naive_varifocal(
    alpha: f32,
    gamma: f32,
    z: &[f32],
    y: &[f32],
    losses: &mut [f32],
    grad: &mut [f32],
) -> f32 {
    let n = z.len();
    let inv_n = 1.0 / n as f32;
    for (((&z, &y), l), g) in z.iter().zip(y).zip(losses.iter_mut()).zip(grad.iter_mut()) {
        let p = 1.0 / (1.0 + (-z).exp());
        let ce = z.max(0.0) - z * y + (1.0 + (-z.abs()).exp()).ln();
        let pos = if y > 0.0 { 1.0 } else { 0.0 };
        let d = p - y;
        let ad = d.abs();
        let fw = y * pos + alpha * ad.powf(gamma) * (1.0 - pos);
        *l = ce * fw;
        let sign = if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            0.0
        };
        let dfw = alpha * gamma * ad.powf(gamma - 1.0) * sign * (p * (1.0 - p)) * (1.0 - pos);
        *g = (d * fw + ce * dfw) * inv_n;
    }
    blocked_sum(losses) * inv_n
}
