//! Quality focal loss (Li et al. 2020) and varifocal loss (Zhang et al.
//! 2021): focal losses whose target is a localisation-quality score.

use crate::binary::kernel::{
    binary_loss, ce_loss_bound, element_api, grad_bound_for, per_prob, Kernel, Sig,
};
use crate::lanes::Lane;
use crate::power::{pow_mul, Exponent};
use crate::Error;

/// `p - y` from the side where it does not cancel needlessly: `p - y`
/// below 1/2, `(1 - y) - q` above (both operands exact small terms there).
#[inline(always)]
fn p_minus_y<V: Lane>(s: &Sig<V>, y: V) -> V {
    let hi = s.p.ge(V::splat(0.5));
    V::select(hi, (V::splat(1.0) - y) - s.q, s.p - y)
}

/// `BCE(z, y) = y softplus(-z) + (1 - y) softplus(z)`.
#[inline(always)]
fn bce<V: Lane>(s: &Sig<V>, y: V) -> V {
    y.mul_add(s.sp_neg, (V::splat(1.0) - y) * s.sp_pos)
}

/// Quality focal loss (QFL; Li et al. 2020, "Generalized Focal Loss"),
/// validated once, `Copy`. Convention: mmdet's `quality_focal_loss`.
///
/// The target `y ∈ [0, 1]` is a quality score (the IoU of the box a
/// positive predicts; 0 for negatives). With `p = σ(z)`, `d = p - y`:
///
/// `ℓ = |d|^β · BCE(z, y)`, `∂ℓ/∂z = |d|^β d + sign(d) β |d|^{β-1} p(1-p) BCE(z, y)`.
///
/// For hard labels it is focal loss with α off and `γ = β`. `β ≥ 1` (the
/// paper and mmdet: 2); below 1 the loss has no derivative where `p = y`.
/// No label smoothing (the targets are scores already).
///
/// Error bounds (asserted against f64 over |z| ≤ 1e4, β ∈ [1, 5]; `u = 2^-24`,
/// the README's accuracy table): `(16 + 3β)u` relative; for soft targets
/// `p - y` carries the rounding of `p` and `1 - y`, so the bound is relative
/// to the sensitivity to it, `s |∂ℓ/∂y|` with `s = min(max(p, y), max(1 - p, 1 - y))`.
///
/// ```
/// use tinyloss::Qfl;
/// let qfl = Qfl::MMDET;
/// // A box with IoU 0.8 scored at p = 0.8 costs nothing more.
/// let z = (0.8f32 / 0.2).ln();
/// assert!(qfl.loss_grad(z, 0.8)?.loss < 1e-6);
/// assert!(qfl.loss_grad(-2.0, 0.8)?.grad < 0.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Qfl {
    #[cfg_attr(feature = "defmt", defmt(Debug2Format))]
    beta: Exponent,
    /// β - 1, for `|d|^{β-1}`.
    #[cfg_attr(feature = "defmt", defmt(Debug2Format))]
    beta_1: Exponent,
}

impl Qfl {
    /// mmdet's and the paper's default, `β = 2`.
    pub const MMDET: Qfl = Qfl {
        beta: Exponent {
            gamma: 2.0,
            power: crate::power::Power::Two,
        },
        beta_1: Exponent {
            gamma: 1.0,
            power: crate::power::Power::One,
        },
    };

    /// QFL with `beta` in `[1, MAX_GAMMA]`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"beta"`.
    pub fn new(beta: f32) -> Result<Self, Error> {
        if beta.is_nan() || beta < 1.0 {
            return Err(Error::InvalidParameter { name: "beta" });
        }
        Ok(Qfl {
            beta: Exponent::new(beta, "beta")?,
            beta_1: Exponent::new(beta - 1.0, "beta")?,
        })
    }

    /// β.
    pub fn beta(&self) -> f32 {
        self.beta.gamma
    }

    #[inline(always)]
    fn sig<V: Lane>(&self, s: Sig<V>, y: V) -> (V, V) {
        let d = p_minus_y(&s, y);
        let ad = d.abs();
        let w = self.beta.of(ad);
        let ce = bce(&s, y);
        let sgn = V::select(d.ge(V::splat(0.0)), V::splat(1.0), V::splat(-1.0));
        let k = (V::splat(self.beta.gamma) * self.beta_1.of(ad)) * (s.dp() * ce);
        let loss = pow_mul(w, ad, V::splat(self.beta.gamma), ce);
        (loss, w.mul_add(d, sgn * k))
    }
}

binary_loss!(Qfl);
element_api!(Qfl);

impl Kernel for Qfl {
    #[inline(always)]
    fn smoothing(&self) -> f32 {
        0.0
    }

    /// `|d|^β |d| + β |d|^{β-1} p q BCE ≤ 1 + β` from logits (`p q BCE ≤ 1`);
    /// with probabilities, divided by the clamped `p(1 - p) ≥ PROB_EPS/2`.
    fn grad_bound(&self, prob: bool) -> f32 {
        grad_bound_for(2.0 * (1.0 + self.beta.gamma), prob)
    }

    /// `ℓ ≤ BCE ≤ |z| + ln 2`; `≤ 17` from clamped probabilities.
    fn loss_bound(&self, prob: bool) -> (f32, f32) {
        ce_loss_bound(prob)
    }

    #[inline(always)]
    fn soft<V: Lane>(&self, x: V, y: V, _ys: V, _oms: V) -> (V, V) {
        self.sig(Sig::logit(x), y)
    }

    #[inline(always)]
    fn prob<V: Lane>(&self, p: V, y: V, _ys: V, _oms: V) -> (V, V) {
        per_prob(p, |s| self.sig(s, y))
    }
}

/// Varifocal loss (VFL; Zhang et al. 2021, "VarifocalNet"), validated once,
/// `Copy`. Convention: mmdet's `varifocal_loss` (ultralytics'
/// `VarifocalLoss` likewise).
///
/// The target `y ∈ [0, 1]` is the IoU-aware classification score: the IoU of
/// a positive's box, 0 for negatives. With `p = σ(z)`:
///
/// * positives (`y > 0`): `ℓ = y · BCE(z, y)`, `∂ℓ/∂z = y (p - y)` (weight 1
///   instead of `y` without IoU weighting);
/// * negatives (`y = 0`): `ℓ = α p^γ softplus(z)`,
///   `∂ℓ/∂z = α p^γ (γ (1 - p) softplus(z) + p)`.
///
/// **α weights the negatives here**, not the positives as in torchvision's
/// focal loss: VFL's α = 0.75 *keeps* three quarters of the (already
/// focused) negatives' loss, and positives are never down-weighted. No
/// label smoothing.
///
/// Error bounds (asserted against f64 over |z| ≤ 1e4, γ ∈ [0, 5]; `u = 2^-24`,
/// the README's accuracy table): `(16 + 3γ)u` relative; positives' gradients
/// (where `p - y` cancels) of `max(|g|, y)`.
///
/// ```
/// use tinyloss::Varifocal;
/// let vfl = Varifocal::MMDET;
/// let neg = vfl.loss_grad(-3.0, 0.0)?;
/// let pos = vfl.loss_grad(-3.0, 0.9)?;
/// assert!(neg.loss < 1e-4 && pos.loss > 1.0 && pos.grad < 0.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Varifocal {
    alpha: f32,
    #[cfg_attr(feature = "defmt", defmt(Debug2Format))]
    gamma: Exponent,
    iou_weighted: bool,
}

impl Varifocal {
    /// mmdet's defaults: `α = 0.75`, `γ = 2`, IoU-weighted positives.
    pub const MMDET: Varifocal = Varifocal {
        alpha: 0.75,
        gamma: Exponent {
            gamma: 2.0,
            power: crate::power::Power::Two,
        },
        iou_weighted: true,
    };

    /// VFL with the negatives' weight `alpha` in `[0, 1]` and `gamma` in
    /// `[0, MAX_GAMMA]`, IoU-weighted positives.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"alpha"` or `"gamma"`.
    pub fn new(alpha: f32, gamma: f32) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&alpha) {
            return Err(Error::InvalidParameter { name: "alpha" });
        }
        Ok(Varifocal {
            alpha,
            gamma: Exponent::new(gamma, "gamma")?,
            iou_weighted: true,
        })
    }

    /// The same loss with positives weighted by their target (`true`, mmdet's
    /// default) or by 1.
    pub const fn with_iou_weighted(self, iou_weighted: bool) -> Self {
        Varifocal {
            iou_weighted,
            ..self
        }
    }

    /// α, the negatives' weight.
    pub fn alpha(&self) -> f32 {
        self.alpha
    }

    /// γ.
    pub fn gamma(&self) -> f32 {
        self.gamma.gamma
    }

    /// Whether positives are weighted by their target.
    pub fn iou_weighted(&self) -> bool {
        self.iou_weighted
    }

    #[inline(always)]
    fn sig<V: Lane>(&self, s: Sig<V>, y: V) -> (V, V) {
        let zero = V::splat(0.0);
        let wq = if self.iou_weighted { y } else { V::splat(1.0) };
        let lp = wq * bce(&s, y);
        let gp = wq * p_minus_y(&s, y);
        let a = V::splat(self.alpha);
        let w = a * self.gamma.of(s.p);
        let ln_ = w * s.sp_pos;
        let gn = w * (V::splat(self.gamma.gamma) * s.q).mul_add(s.sp_pos, s.p);
        let pos = y.gt(zero);
        (V::select(pos, lp, ln_), V::select(pos, gp, gn))
    }
}

binary_loss!(Varifocal);
element_api!(Varifocal);

impl Kernel for Varifocal {
    #[inline(always)]
    fn smoothing(&self) -> f32 {
        0.0
    }

    /// `|∂ℓ/∂z| ≤ max(1, α (1 + γ/e)) ≤ 1 + γ` from logits; with
    /// probabilities, divided by the clamped `p(1 - p) ≥ PROB_EPS/2`.
    fn grad_bound(&self, prob: bool) -> f32 {
        grad_bound_for(1.0 + self.gamma.gamma, prob)
    }

    /// `ℓ ≤ BCE ≤ |z| + ln 2`; `≤ 17` from clamped probabilities.
    fn loss_bound(&self, prob: bool) -> (f32, f32) {
        ce_loss_bound(prob)
    }

    #[inline(always)]
    fn soft<V: Lane>(&self, x: V, y: V, _ys: V, _oms: V) -> (V, V) {
        self.sig(Sig::logit(x), y)
    }

    #[inline(always)]
    fn prob<V: Lane>(&self, p: V, y: V, _ys: V, _oms: V) -> (V, V) {
        per_prob(p, |s| self.sig(s, y))
    }
}
