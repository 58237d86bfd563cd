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

impl Power {
    /// Validates γ (finite, `>= 0`) and picks its path.
    pub(crate) fn of(gamma: f32) -> Result<Power, Error> {
        if !(gamma.is_finite() && gamma >= 0.0) {
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

/// Checks a label-smoothing ε (`0 <= ε <= 1`).
pub(crate) fn check_smoothing(eps: f32) -> Result<f32, Error> {
    if (0.0..=1.0).contains(&eps) {
        Ok(eps)
    } else {
        Err(Error::InvalidParameter { name: "smoothing" })
    }
}
