//! LDAM, the label-distribution-aware margin loss ([`Ldam`], its margins
//! [`ldam_margins`]).
//!
//! Legend: `n_c` the count of class `c` (0 counts as 1), `m` the largest
//! margin, `Δ_c = m (n_min / n_c)^(1/4)` (so `Δ ∝ n_c^(-1/4)` and
//! `max Δ = m`), `s > 0` the logit scale, `t` the target row (one-hot for
//! a label).
//!
//! Formula: `z̃ = s (z - Δ ⊙ t)`, `ℓ = L(z̃, t)`, `∂ℓ/∂z = s ∂L/∂z̃`; for
//! cross-entropy on a label `y`, `ℓ = CE(s (z - Δ_y e_y), y)` and
//! `∂ℓ/∂z = s (softmax(z̃) - e_y)`.

use super::shift::{sealed, Shift, Shifted, MAX_SHIFT};
use super::{SoftmaxLoss, Target};
use crate::error::check_per_class;
use crate::lanes::Lane;
use crate::{At, Error};

/// Largest scale `s` accepted (the paper uses 30 on normalized logits).
const MAX_SCALE: f32 = 1e4;

/// LDAM's margins `Δ_c = m (n_min / n_c)^(1/4)` from class counts (a
/// [`ClassCounter`](crate::class_balanced::ClassCounter)'s `counts()`;
/// a zero count is taken as 1) into `out` (length `C`): the paper's code
/// (`1/√√n_c` scaled so that the largest is `m`; `m = 0.5` there). Within
/// `2u m` absolute of the exact value at the counts (`u = 2^-24`; counts
/// above `2^24` round to f32 first).
///
/// # Errors
/// [`Error::Empty`], [`Error::LengthMismatch`] (`"out"`),
/// [`Error::InvalidParameter`] (`"max_margin"`) for `m` NaN or outside
/// `[0, 1e30]`; nothing is written on `Err`.
pub fn ldam_margins(counts: &[u32], max_margin: f32, out: &mut [f32]) -> Result<(), Error> {
    check_per_class(counts.len(), out.len())?;
    if !(0.0..=MAX_SHIFT).contains(&max_margin) {
        return Err(Error::InvalidParameter { name: "max_margin" });
    }
    let min = counts.iter().fold(u32::MAX, |m, &n| m.min(n.max(1))) as f32;
    for (o, &n) in out.iter_mut().zip(counts) {
        // (n_min / n)^(1/4) ≤ 1: a quotient and two square roots, each
        // correctly rounded (the counts themselves round to f32 above 2^24).
        let r = Lane::min(min / n.max(1) as f32, 1.0);
        *o = max_margin * libm::sqrtf(libm::sqrtf(r));
    }
    Ok(())
}

/// LDAM's margins and scale (validated once: margins finite, in
/// `[0, 1e30]`; `s` in `(0, 1e4]`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Margins<'a> {
    delta: &'a [f32],
    scale: f32,
}

impl<'a> Margins<'a> {
    /// Margins `Δ` (length `C`, e.g. from [`ldam_margins`]) and scale `s`.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::InvalidWeight`] at the [`At::Class`] of the
    /// first margin that is negative, NaN or above `1e30`,
    /// [`Error::InvalidParameter`] (`"scale"`).
    pub fn new(delta: &'a [f32], scale: f32) -> Result<Self, Error> {
        if delta.is_empty() {
            return Err(Error::Empty);
        }
        for (c, d) in (0..delta.len()).zip(delta) {
            if !(0.0..=MAX_SHIFT).contains(d) {
                return Err(Error::InvalidWeight { at: At::Class(c) });
            }
        }
        if !(scale > 0.0 && scale <= MAX_SCALE) {
            return Err(Error::InvalidParameter { name: "scale" });
        }
        Ok(Margins { delta, scale })
    }

    /// The margins `Δ`.
    pub fn margins(&self) -> &'a [f32] {
        self.delta
    }

    /// The scale `s`.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// `z̃_c = s (z_c - Δ_c t_c)`: for a label two f32 roundings; for a
    /// probability target in f64 (`Δ_c t_c` is exact there, so the
    /// difference cannot cancel a rounded product), rounded once to f32.
    #[inline(always)]
    fn shifted(&self, c: usize, z: f32, t: Target<'_>) -> f32 {
        let d = self.delta.get(c).copied().unwrap_or(0.0);
        match t {
            Target::Label(y) if y as usize == c => self.scale * (z - d),
            Target::Label(_) => self.scale * z,
            Target::Probs(p) => {
                let t = f64::from(p.get(c).copied().unwrap_or(0.0));
                ((f64::from(z) - f64::from(d) * t) * f64::from(self.scale)) as f32
            }
        }
    }
}

impl sealed::Sealed for Margins<'_> {}

impl Shift for Margins<'_> {
    fn what(&self) -> &'static str {
        "margins"
    }
    fn classes(&self) -> usize {
        self.delta.len()
    }
    fn fits(&self, row: &[f32], t: Target<'_>) -> Result<(), Error> {
        for (c, &z) in (0..row.len()).zip(row) {
            if !self.shifted(c, z, t).is_finite() {
                return Err(Error::NonFiniteInput { at: At::Row(0) });
            }
        }
        Ok(())
    }
    #[inline]
    fn apply(&self, row: &mut [f32], t: Target<'_>) {
        for (c, z) in (0..row.len()).zip(row.iter_mut()) {
            *z = self.shifted(c, *z, t);
        }
    }
    fn slope(&self) -> f32 {
        self.scale
    }
}

/// LDAM (Cao et al. 2019, "Learning Imbalanced Datasets with
/// Label-Distribution-Aware Margin Loss"; the paper's `LDAMLoss`): the
/// base loss at `z̃ = s (z - Δ ⊙ t)`, which asks each class for a margin
/// `Δ_c ∝ n_c^(-1/4)` ([`ldam_margins`]: rare classes get the larger
/// margins), on logits meant to be cosine-normalized (`|z| ≤ 1`, hence the
/// scale, `s = 30` in the paper). `∂ℓ/∂z = s ∂L/∂z̃`. A probability target
/// pulls every class by `Δ_c t_c` (the label's case for a one-hot row);
/// smoothing smooths the target of the base loss, not the margin.
///
/// LDAM-DRW (deferred re-weighting): train with LDAM unweighted, then from a
/// late epoch on (160 of 200 in the paper) give the [`Rows`](super::Rows)
/// the class-balanced weights
/// ([`class_balanced::weights`](crate::class_balanced::weights),
/// `β = 0.9999`) as class weights.
///
/// Error bounds: `z̃_c` is two roundings from the exact value (within
/// `2u max(|z̃_c|, 2^-126)`, `u = 2^-24`; a probability target's
/// `s (z - Δ t)` is formed in f64 and rounded once); the loss is the base loss's at that `z̃`, bit
/// for bit, and the gradient `s` times the base gradient, rounded once more
/// (within `s (B + u K)` with `B` the base loss's gradient bound).
///
/// # Errors
/// Besides the base loss's: [`Error::NonFiniteInput`] at the row where
/// `s (z - Δ ⊙ t)` overflows f32 (`|z| > f32::MAX / s`).
///
/// ```
/// use tinyloss::softmax::{ldam_margins, Ldam, SoftmaxCe, Target};
/// let mut delta = [0.0; 3];
/// ldam_margins(&[900, 90, 10], 0.5, &mut delta)?;
/// assert!(delta[2] == 0.5 && delta[0] < delta[1]);
/// let ldam = Ldam::new(SoftmaxCe::new(), &delta, 30.0)?;
/// let mut g = [0.0; 3];
/// let l = ldam.loss_grad_row(&[0.9, 0.1, -0.2], Target::Label(0), &mut g)?;
/// assert!(l > 0.0 && g[0] < 0.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
pub type Ldam<'a, L> = Shifted<Margins<'a>, L>;

impl<'a, L: SoftmaxLoss> Shifted<Margins<'a>, L> {
    /// `loss` at `s (z - Δ ⊙ t)`.
    ///
    /// # Errors
    /// As [`Margins::new`].
    pub fn new(loss: L, margins: &'a [f32], scale: f32) -> Result<Self, Error> {
        Ok(Shifted {
            shift: Margins::new(margins, scale)?,
            loss,
        })
    }
}
