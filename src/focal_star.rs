//! FL*, the focal loss variant of Lin et al. 2017's appendix.

use crate::binary::kernel::{
    alpha_t, binary_loss, element_api, grad_bound_for, per_prob, Kernel, Sig,
};
use crate::lanes::Lane;
use crate::math::{exp_hl, ln_one_minus, log1p_unit};
use crate::Error;

/// Smallest γ FL* accepts (the loss divides by γ).
const MIN_GAMMA: f32 = 1e-3;
/// Largest γ FL* accepts.
const MAX_GAMMA: f32 = crate::power::MAX_GAMMA;
/// Largest `|β|` FL* accepts.
const MAX_BETA: f32 = 1e4;

/// FL\* (Lin et al. 2017, appendix A), validated once, `Copy`. Convention:
/// fvcore's `sigmoid_focal_loss_star`, plus the paper's shift `β` (fvcore
/// has `β = 0`).
///
/// With `s = 2y - 1`, `x_t = s z` and `α_t` as in [`Focal`](crate::Focal):
///
/// `ℓ = α_t · softplus(-(γ x_t + β)) / γ`, `∂ℓ/∂z = -s α_t σ(-(γ x_t + β))`.
///
/// Like focal loss it flattens the loss of well-classified examples
/// (`x_t ≫ 0`), but with one `exp` and one `log1p` and no power at all. The
/// exact `γ x_t + β` below costs a two-product, which is cheap with an FPU
/// and dear without one (see the cost table). `γ = 1, β = 0`
/// is cross-entropy. Soft targets follow fvcore (`s = 2y - 1` continuous);
/// label smoothing replaces `y` by `y(1 - ε) + ε/2` in `s` (not in `α_t`).
///
/// `t = γ x_t + β` is formed exactly (a two-product and a two-sum) and
/// enters `exp`'s range reduction unrounded, so the tail `e^{-t}/γ` keeps
/// its relative accuracy for `t` in the tens; where `γ |x_t|` passes
/// f32's range the loss is `-x_t - β/γ` (no overflow).
///
/// Error bounds (asserted against f64 over |z| ≤ 1e4, γ ∈ [0.25, 5],
/// β ∈ [-2, 2]; `u = 2^-24`, the README's accuracy table): loss and
/// gradient within `24u` relative for hard labels; soft targets and
/// probability inputs round `s` and `z`, so there the bound is relative to
/// the sensitivity to that rounding, `|z g|/4` and `|g|(1 + γ|x_t|)/4`.
///
/// ```
/// use tinyloss::FocalStar;
/// let fl = FocalStar::new(2.0, 1.0, None)?;
/// let easy = fl.loss_grad(4.0, 1.0)?;
/// let hard = fl.loss_grad(-1.0, 1.0)?;
/// assert!(easy.loss < 1e-3 && hard.loss > 0.5);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FocalStar {
    gamma: f32,
    beta: f32,
    alpha: Option<f32>,
    smoothing: f32,
}

impl FocalStar {
    /// fvcore's defaults: `γ = 1`, `β = 0`, α off (which is cross-entropy);
    /// change γ and β with [`FocalStar::new`].
    pub const FVCORE: FocalStar = FocalStar {
        gamma: 1.0,
        beta: 0.0,
        alpha: None,
        smoothing: 0.0,
    };

    /// FL\* with `gamma` in `[1e-3, MAX_GAMMA]`, shift `beta` with
    /// `|β| ≤ 1e4`, and `alpha` (`None`, or `α ∈ [0, 1]`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"gamma"`, `"beta"` or `"alpha"`.
    pub fn new(gamma: f32, beta: f32, alpha: Option<f32>) -> Result<Self, Error> {
        if !(MIN_GAMMA..=MAX_GAMMA).contains(&gamma) {
            return Err(Error::InvalidParameter { name: "gamma" });
        }
        if !(-MAX_BETA..=MAX_BETA).contains(&beta) {
            return Err(Error::InvalidParameter { name: "beta" });
        }
        if let Some(a) = alpha {
            if !(0.0..=1.0).contains(&a) {
                return Err(Error::InvalidParameter { name: "alpha" });
            }
        }
        Ok(FocalStar {
            gamma,
            beta,
            alpha,
            smoothing: 0.0,
        })
    }

    /// The same loss with label smoothing `epsilon`, 0 or in `[2^-126, 1]`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"smoothing"`.
    pub fn with_smoothing(self, epsilon: f32) -> Result<Self, Error> {
        Ok(FocalStar {
            smoothing: crate::power::check_smoothing(epsilon)?,
            ..self
        })
    }

    /// γ.
    pub fn gamma(&self) -> f32 {
        self.gamma
    }

    /// β.
    pub fn beta(&self) -> f32 {
        self.beta
    }

    /// α, if on.
    pub fn alpha(&self) -> Option<f32> {
        self.alpha
    }

    /// The label-smoothing ε.
    pub fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// `s = 2 y_s - 1 = (2y - 1)(1 - ε)`: `2y - 1` is exact for `y ≥ 1/4`
    /// (and within `u` below), so `s` keeps its relative accuracy where it
    /// is small (`y` near 1/2), which `y_s - (1 - y_s)` would not.
    #[inline(always)]
    fn sign<V: Lane>(&self, y: V) -> V {
        let s = y.mul_add(V::splat(2.0), V::splat(-1.0));
        if self.smoothing == 0.0 {
            s
        } else {
            s * V::splat(1.0 - self.smoothing)
        }
    }

    /// `(ℓ, ∂ℓ/∂z)` for `x` with sign factor `s` and weight `α_t`.
    #[inline(always)]
    fn kernel<V: Lane>(&self, x: V, s: V, at: V) -> (V, V) {
        let zero = V::splat(0.0);
        let xt = s * x;
        // γ x_t = p + err exactly (Dekker, 12-bit halves), then + β.
        let g = V::splat(self.gamma);
        let g_hi = V::splat(f32::from_bits(self.gamma.to_bits() & 0xffff_f000));
        let g_lo = g - g_hi;
        let x_hi = xt.high_half();
        let x_lo = xt - x_hi;
        let p = g * xt;
        let err = ((g_hi * x_hi - p) + g_hi.mul_add(x_lo, g_lo * x_hi)) + g_lo * x_lo;
        let b = V::splat(self.beta);
        let t = p + b;
        let bv = t - p;
        let lo = err + ((p - (t - bv)) + (b - bv));
        // γ |x_t| past f32: e^{-|t|} is 0 and the loss is -x_t - β/γ.
        let big = V::gt(p.abs(), V::splat(f32::MAX));
        let neg = V::gt(zero, t);
        let (hi, lo) = (
            V::select(neg, t, -t),
            V::select(big, zero, V::select(neg, lo, -lo)),
        );
        let e = exp_hl(V::select(big, V::splat(-200.0), hi), lo);
        let l = log1p_unit(e);
        let inv = V::splat(1.0 / self.gamma);
        let far = V::select(big, -xt - b * inv, (-t - lo) * inv);
        let lin = V::select(neg, far, zero);
        let loss = at * l.mul_add(inv, lin);
        // σ(-t): 1/(1+e) below 0, e/(1+e) above.
        let r = V::splat(1.0) / (V::splat(1.0) + e);
        let sig = V::select(neg, r, e * r);
        (loss, -(s * at) * sig)
    }
}

/// `z = ln(p / q)` of a clamped probability to full relative accuracy:
/// near `p = 1/2`, where `ln p - ln q` cancels, from `2p - 1` (exact for
/// `p ≥ 1/4`) as `-ln(1 - (2p - 1)/p)` or `ln(1 - (1 - 2p)/q)`; elsewhere
/// the difference, which does not cancel there.
#[inline(always)]
fn logit_of<V: Lane>(s: &Sig<V>) -> V {
    let one = V::splat(1.0);
    let d = s.p.mul_add(V::splat(2.0), -one);
    let up = s.p.ge(V::splat(0.5));
    let near = V::and(s.p.ge(V::splat(0.25)), V::splat(0.75).ge(s.p));
    let x = V::select(up, d / s.p, -d / s.q);
    let r = ln_one_minus(V::select(near, x, V::splat(0.0)));
    V::select(near, V::select(up, -r, r), s.sp_pos - s.sp_neg)
}

binary_loss!(FocalStar);
element_api!(FocalStar);

impl Kernel for FocalStar {
    #[inline(always)]
    fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// `|∂ℓ/∂z| ≤ α_t ≤ 1`; with probabilities, divided by the clamped
    /// `p (1 - p) ≥ PROB_EPS/2`.
    fn grad_bound(&self, prob: bool) -> f32 {
        grad_bound_for(1.0, prob)
    }

    /// `ℓ ≤ |z| + (|β| + ln 2)/γ`; from clamped probabilities `|z| ≤ 17`.
    fn loss_bound(&self, prob: bool) -> (f32, f32) {
        let b = (Lane::abs(self.beta) + 1.0) / self.gamma;
        if prob {
            (0.0, 17.0 + b)
        } else {
            (1.0, b)
        }
    }

    #[inline(always)]
    fn hard<V: Lane>(&self, x: V, y: V) -> (V, V) {
        let s = y.mul_add(V::splat(2.0), V::splat(-1.0));
        self.kernel(x, s, alpha_t(self.alpha, y))
    }

    #[inline(always)]
    fn soft<V: Lane>(&self, x: V, y: V, _ys: V, _oms: V) -> (V, V) {
        self.kernel(x, self.sign(y), alpha_t(self.alpha, y))
    }

    #[inline(always)]
    fn prob<V: Lane>(&self, p: V, y: V, _ys: V, _oms: V) -> (V, V) {
        per_prob(p, |s| {
            self.kernel(logit_of(&s), self.sign(y), alpha_t(self.alpha, y))
        })
    }
}
