//! Sigmoid cross-entropy (binary cross-entropy with logits), with PyTorch's
//! `pos_weight`.

use crate::binary::kernel::{binary_loss, ce_hard, Kernel, PROB_EPS};
use crate::lanes::{sat, Lane};
use crate::math::{ln, ln_one_minus, Logit};
use crate::{Error, LossGrad};

/// Binary cross-entropy from logits, validated once, `Copy`.
///
/// With `p = σ(z)`, target `y ∈ [0, 1]` and positive-class weight `w⁺`
/// (PyTorch's `BCEWithLogitsLoss(pos_weight=..)`):
///
/// `ℓ = w⁺ y · softplus(-z) + (1 - y) · softplus(z)`,
/// `∂ℓ/∂z = (1 - y) σ(z) - w⁺ y σ(-z)`,
///
/// with `softplus(z) = max(z, 0) + log1p(e^{-|z|})`. Both terms of `ℓ` are
/// non-negative, so no cancellation: `z = -20, y = 0` gives `2.06e-9`, not 0,
/// and `|z| = 1e4` gives a finite loss. `w⁺ = 1` is plain BCE; `w⁺ > 1` raises
/// recall of the positive class (PyTorch suggests `#neg / #pos`).
///
/// Label smoothing `ε` replaces `y` by `y(1 - ε) + ε/2`.
///
/// Error bounds (asserted by `tests/binary.rs` against f64 over |z| ≤ 1e4;
/// `u = 2^-24`): loss within `8u` relative (floor `2^-126 max(1, w⁺)`);
/// gradient within `16u` relative for hard labels and of
/// `max(|∂ℓ/∂z|, max(1, w⁺))` for soft targets.
///
/// **Cost** (batch API, per element, validation included; `tools/costs`):
/// Cortex-M4F 83 instructions (naive port 167), Cortex-M3 711 (naive
/// 4,927), Cortex-M0 1,412 (naive 8,341). Host AVX-512: about 0.8 ns.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SigmoidCe {
    pos_weight: f32,
    smoothing: f32,
}

impl Default for SigmoidCe {
    fn default() -> Self {
        SigmoidCe::PLAIN
    }
}

impl SigmoidCe {
    /// Plain binary cross-entropy: `w⁺ = 1`, no smoothing.
    pub const PLAIN: SigmoidCe = SigmoidCe {
        pos_weight: 1.0,
        smoothing: 0.0,
    };

    /// BCE with positive-class weight `pos_weight` (finite, `>= 0`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"pos_weight"`.
    pub fn with_pos_weight(pos_weight: f32) -> Result<Self, Error> {
        if !(pos_weight.is_finite() && pos_weight >= 0.0) {
            return Err(Error::InvalidParameter { name: "pos_weight" });
        }
        Ok(SigmoidCe {
            pos_weight,
            smoothing: 0.0,
        })
    }

    /// The same loss with label smoothing `epsilon`, 0 or in `[2^-126, 1]` (subnormal ε are refused).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"smoothing"`.
    pub fn with_smoothing(self, epsilon: f32) -> Result<Self, Error> {
        Ok(SigmoidCe {
            smoothing: crate::power::check_smoothing(epsilon)?,
            ..self
        })
    }

    /// The positive-class weight `w⁺`.
    pub fn pos_weight(&self) -> f32 {
        self.pos_weight
    }

    /// The label-smoothing ε.
    pub fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// Loss and gradient `∂ℓ/∂z` for one logit `z` and target `y`.
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`] or [`Error::TargetOutOfRange`] at element 0.
    pub fn loss_grad(&self, z: f32, y: f32) -> Result<LossGrad, Error> {
        crate::binary::kernel::one(self, z, y, false)
    }

    /// Loss `-(w⁺ y log p + (1 - y) log(1 - p))` and gradient `∂ℓ/∂p` for one
    /// probability `p`, clamped to `[PROB_EPS, 1 - PROB_EPS]` (gradient taken
    /// at the clamped point).
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`], [`Error::ProbabilityOutOfRange`] or
    /// [`Error::TargetOutOfRange`], with index 0.
    pub fn loss_grad_prob(&self, p: f32, y: f32) -> Result<LossGrad, Error> {
        crate::binary::kernel::one(self, p, y, true)
    }
}

binary_loss!(SigmoidCe);

impl Kernel for SigmoidCe {
    #[inline(always)]
    fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// `|(1 - y)σ(z) - w⁺ y σ(-z)| ≤ max(1, w⁺)`; with probabilities the
    /// gradient divides by a clamped `p` or `1 - p`, each `≥ PROB_EPS`.
    fn grad_bound(&self, prob: bool) -> f32 {
        let b = Lane::max(1.0, self.pos_weight);
        if prob {
            2.0 * b / PROB_EPS
        } else {
            b
        }
    }

    /// `ℓ ≤ max(1, w⁺) (|z| + ln 2)` from logits, `≤ 17 max(1, w⁺)` from
    /// clamped probabilities.
    fn loss_bound(&self, prob: bool) -> (f32, f32) {
        let w = Lane::max(1.0, self.pos_weight);
        if prob {
            (0.0, 17.0 * w)
        } else {
            (w, w)
        }
    }

    #[inline(always)]
    fn hard<V: Lane>(&self, x: V, y: V) -> (V, V) {
        // One σ and one softplus on the side the label picks (signs on the
        // bits on cores without an FPU), instead of the soft-target formula.
        let (loss, grad) = ce_hard(self.pos_weight, 1.0, x, y);
        if self.pos_weight > 1.0 {
            // Saturates at f32::MAX only when w⁺ > 1 pushes the exact loss past it.
            (loss.min(V::splat(f32::MAX)), grad)
        } else {
            (loss, grad)
        }
    }

    #[inline(always)]
    fn soft<V: Lane>(&self, x: V, _y: V, ys: V, oms: V) -> (V, V) {
        let zero = V::splat(0.0);
        let lg = Logit::new(x);
        let pos = x.ge(zero);
        let p = V::select(pos, lg.big, lg.small);
        let q = V::select(pos, lg.small, lg.big);
        let sp_pos = x.max(zero) + lg.l;
        let sp_neg = (-x).max(zero) + lg.l;
        let wy = V::splat(self.pos_weight) * ys;
        // Saturates at f32::MAX only when w⁺ > 1 pushes the exact loss past it.
        let loss = wy.mul_add(sp_neg, oms * sp_pos).min(V::splat(f32::MAX));
        (loss, oms * p - wy * q)
    }

    #[inline(always)]
    fn prob<V: Lane>(&self, p: V, _y: V, ys: V, oms: V) -> (V, V) {
        let one = V::splat(1.0);
        let pc = p.max(V::splat(PROB_EPS)).min(V::splat(1.0 - PROB_EPS));
        let qc = one - pc;
        let wy = V::splat(self.pos_weight) * ys;
        // Saturated: a huge w⁺ over a clamped p of 1e-7 passes f32::MAX.
        let loss = sat(-(wy * ln(pc) + oms * ln_one_minus(pc)));
        (loss, sat(oms / qc - wy / pc))
    }
}
