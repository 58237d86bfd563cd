//! How the focal modulating factor `u^γ` is computed, shared by the binary
//! and the softmax focal losses.

use crate::lanes::Lane;
use crate::Error;

/// Exact products for γ = 0, 1, 2 and integers up to [`MAX_INT_GAMMA`];
/// `exp(γ ln u)` (never `pow(0, ·)`) otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Power {
    Zero,
    One,
    Two,
    Int(u8),
    Real,
}

/// Largest integer γ that takes the repeated-product path.
pub(crate) const MAX_INT_GAMMA: u8 = 8;

/// Largest γ the focal losses accept. The literature uses γ ≤ 5; up to this
/// value every bound in the crate's table holds (tested at the edge), while
/// beyond it `γ p_t` is no longer small next to the rounding of a
/// subnormal `p_t`, and the softmax form would lose its accuracy.
pub const MAX_GAMMA: f32 = 1000.0;

impl Power {
    /// Validates γ (`0 ≤ γ ≤ MAX_GAMMA`) and picks its path.
    pub(crate) fn of(gamma: f32) -> Result<Power, Error> {
        if !(0.0..=MAX_GAMMA).contains(&gamma) {
            return Err(Error::InvalidParameter { name: "gamma" });
        }
        Ok(if gamma == 0.0 {
            Power::Zero
        } else if gamma == 1.0 {
            Power::One
        } else if gamma == 2.0 {
            Power::Two
        } else if gamma <= MAX_INT_GAMMA as f32 && gamma == (gamma as u8) as f32 {
            Power::Int(gamma as u8)
        } else {
            Power::Real
        })
    }
}

/// Checks a label-smoothing ε: 0, or in `[2^-126, 1]` (a subnormal ε would
/// make `ε/2` round on the subnormal grid, and the smoothed term with it).
pub(crate) fn check_smoothing(eps: f32) -> Result<f32, Error> {
    if eps == 0.0 || (f32::MIN_POSITIVE..=1.0).contains(&eps) {
        Ok(eps)
    } else {
        Err(Error::InvalidParameter { name: "smoothing" })
    }
}

/// Which gradient a focal-family loss returns (binary focal, softmax focal,
/// asymmetric loss).
///
/// With `ℓ = w · CE` and the focusing weight `w` (`(1 - p_t)^γ` and its
/// relatives):
/// * [`GradMode::Full`] is the derivative of the loss as written,
///   `∂ℓ/∂z = w ∂CE/∂z + CE ∂w/∂z` (torchvision, fvcore, mmdet, optax, and
///   timm's default);
/// * [`GradMode::Detached`] holds the weight constant,
///   `∂ℓ/∂z = w ∂CE/∂z`: timm's `disable_torch_grad_focal_loss=True`, or
///   `w.detach()` in PyTorch. The loss value is the same in both modes.
///
/// The detached gradient is not the gradient of any loss; it is smaller
/// than the full one near the decision boundary (the `CE ∂w/∂z` term
/// pushes well-classified examples further) and agrees with it where
/// `w ≈ 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GradMode {
    /// The derivative of the loss, weight included.
    #[default]
    Full,
    /// The focusing weight held constant.
    Detached,
}

/// An exponent γ validated once, with its evaluation path and its 12-bit
/// high half (for the exact products of [`pow`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exponent {
    pub gamma: f32,
    pub power: Power,
}

impl Exponent {
    /// `γ` in `[0, MAX_GAMMA]`, or `Err` naming `name`.
    pub(crate) fn new(gamma: f32, name: &'static str) -> Result<Self, Error> {
        match Power::of(gamma) {
            Ok(power) => Ok(Exponent { gamma, power }),
            Err(_) => Err(Error::InvalidParameter { name }),
        }
    }

    /// `u^γ` for `u ∈ [0, 1]` (`0^0 = 1`): exact products for γ ∈ {0, 1, 2}
    /// and integers up to [`MAX_INT_GAMMA`], else [`pow`].
    #[inline(always)]
    pub(crate) fn of<V: Lane>(&self, u: V) -> V {
        match self.power {
            Power::Zero => V::splat(1.0),
            Power::One => u,
            Power::Two => u * u,
            Power::Int(n) => {
                let mut r = u;
                for _ in 1..n {
                    r = r * u;
                }
                r
            }
            Power::Real => pow(u, V::splat(self.gamma)),
        }
    }
}

/// `u^g` for `u ∈ [0, 1]` and `g ∈ [0, MAX_GAMMA]` lane by lane, as
/// `e^{g ln u}` with `ln u = hi + lo` unrounded ([`crate::math::ln_hl`]) and
/// `g · hi` formed exactly from 12-bit halves: within `(2 + g)` ULP-scale
/// relative error for every `u`, subnormals included; `0^g = 0` for `g > 0`
/// and `u^0 = 1`.
#[inline(always)]
pub(crate) fn pow<V: Lane>(u: V, g: V) -> V {
    let zero = V::splat(0.0);
    let one = V::splat(1.0);
    let u0 = u.eq(zero);
    let (hi, lo) = crate::math::ln_hl(V::select(u0, one, u));
    let g_hi = g.high_half();
    let g_lo = g - g_hi;
    let h_hi = hi.high_half();
    let p = g_hi * h_hi;
    let q = g_hi.mul_add(hi - h_hi, g_lo * hi) + g * lo;
    let r = crate::math::exp_hl(p, q);
    let r = V::select(g.eq(zero), one, r);
    V::select(V::and(u0, g.gt(zero)), zero, r)
}

/// `u^g · c` for `u ∈ [0, 1]`, `g ≥ 0`, finite `c ≥ 0`, given `w = u^g`
/// ([`pow`] or [`Exponent::of`]): the product `w c`, except where `w` is
/// below f32's normal range while `c > 1` (a tiny focusing weight on a
/// large cross-entropy), where `w`'s subnormal rounding would be multiplied
/// by `c`: there `e^{g ln u + ln c}`, its argument unrounded (at most
/// `ln 2^2`, as `w < 2^-126` and `c < 2^128`).
#[inline(always)]
pub(crate) fn pow_mul<V: Lane>(w: V, u: V, g: V, c: V) -> V {
    let prod = w * c;
    let one = V::splat(1.0);
    let fine = V::or(w.ge(V::splat(f32::MIN_POSITIVE)), one.ge(c));
    if V::all(fine) {
        return prod;
    }
    let zero = V::splat(0.0);
    let u0 = u.eq(zero);
    let (hi, lo) = crate::math::ln_hl(V::select(u0, one, u));
    let g_hi = g.high_half();
    let h_hi = hi.high_half();
    let p = g_hi * h_hi;
    let q = g_hi.mul_add(hi - h_hi, (g - g_hi) * hi) + g * lo;
    let (c_hi, c_lo) = crate::math::ln_hl(V::select(c.gt(one), c, one));
    let s = p + c_hi;
    // TwoSum: the rounding error of p + c_hi, exactly.
    let sv = s - c_hi;
    let err = (p - sv) + (c_hi - (s - sv));
    let r = crate::math::exp_hl(s, (q + c_lo) + err);
    V::select(fine, prod, V::select(u0, zero, r))
}
