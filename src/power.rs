//! How the focal modulating factor `u^γ` is computed, shared by the binary
//! and the softmax focal losses.

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
