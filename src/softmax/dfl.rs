//! Distribution focal loss ([`Dfl`]): the two-hot target builder
//! ([`two_hot`], [`two_hot_rows`]), the loss as cross-entropy on those
//! targets, and the integral decoder ([`integral`], [`integral_rows`]).
//!
//! Legend: `n` bins (classes) `0 … n - 1`, a continuous target
//! `y ∈ [0, n - 1]`, `i = ⌊y⌋`, the two-hot target `t_i = i + 1 - y`,
//! `t_{i+1} = y - i` (all other `t_j = 0`; `y = n - 1` gives `t_{n-1} = 1`),
//! equivalently `t_j = max(0, 1 - |j - y|)`.
//!
//! Formula: `ℓ = CE(z, t) = t_i (lse - z_i) + t_{i+1} (lse - z_{i+1})`,
//! `∂ℓ/∂z = p - t`; decoded `ŷ = Σ_j j p_j`.
//!
//! This file sits above the driver: it builds the targets and calls the
//! cross-entropy's public entry point, so the loss has exactly
//! [`SoftmaxCe`]'s kernels and bounds.

use super::kernel::{finite_rows, row_count, ClassSum};
use super::{Rows, SoftmaxCe, Targets};
use crate::lanes::Lane;
use crate::math::exp_neg;
use crate::{At, Error, Reduction};

/// Distribution focal loss (Li et al. 2020, "Generalized Focal Loss"; the
/// convention of mmdet's `DistributionFocalLoss` and ultralytics'
/// `DFLoss`), validated once, `Copy`: a box side's distance is predicted as
/// a distribution over `n` bins, and the loss is the cross-entropy against
/// the two-hot target of the real-valued distance `y ∈ [0, n - 1]`,
/// `ℓ = (i + 1 - y) CE_i + (y - i) CE_{i+1}` with `i = ⌊y⌋`
/// (mmdet: `CE(z, i) w_left + CE(z, i + 1) w_right`; ultralytics clamps
/// `y` to `n - 1.01` first, which the caller does if wanted). On an integer
/// `y` it is the cross-entropy of label `y`.
///
/// Gradient `∂ℓ/∂z = p - t`. Bounds: those of [`SoftmaxCe`] with
/// probability targets (the module's error table), plus the rounding of
/// `i + 1 - y` (half an ULP of the target, relative to the loss). Decode
/// the prediction with [`integral`]. Keep DFL in float: its targets and
/// decoder are too rounding-sensitive for int8 logits.
///
/// Class weights, row weights and a mask: build the targets with
/// [`two_hot_rows`] and call [`Rows`] with [`Targets::Probs`] and
/// [`SoftmaxCe`] (this type is that call).
///
/// ```
/// use tinyloss::softmax::{integral, Dfl};
/// use tinyloss::Reduction;
/// let dfl = Dfl::new(5)?; // bins 0..=4
/// let logits = [0.1f32, 2.0, 1.5, -1.0, -2.0, /* row 2 */ 0.0, 0.0, 0.0, 1.0, 3.0];
/// let (mut grad, mut scratch) = ([0.0; 10], [0.0; 10]);
/// let loss = dfl.loss_grad(&logits, &[1.25, 3.9], Reduction::Mean, &mut grad, None, &mut scratch)?;
/// assert!(loss > 0.0);
/// let y = integral(&logits[..5])?;
/// assert!(y > 1.0 && y < 2.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
///
/// **Cost**: that of [`SoftmaxCe`] with probability targets, plus one pass
/// writing the targets.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dfl {
    bins: usize,
}

impl Dfl {
    /// DFL over `bins ≥ 2` bins (mmdet's `reg_max + 1`: 17 in GFL).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"bins"`.
    pub fn new(bins: usize) -> Result<Self, Error> {
        if bins < 2 {
            return Err(Error::InvalidParameter { name: "bins" });
        }
        Ok(Dfl { bins })
    }

    /// The number of bins `n`.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Loss and gradient of `targets.len()` rows of `n` logits each, one
    /// target `y ∈ [0, n - 1]` per row: writes `∂L/∂z` into `grad`, the
    /// per-row losses into `losses` if given, and returns the reduced loss
    /// (`Mean` divides by the row count; `MeanOver(d)` by `d`, mmdet's
    /// `avg_factor`). `scratch` (length `rows × n`) receives the two-hot
    /// targets; its contents afterwards are those targets, or unspecified
    /// on `Err`.
    ///
    /// # Errors
    /// As [`two_hot_rows`] (with `"scratch"` for its length), then as
    /// [`Rows::loss_grad`]; nothing but `scratch` is written on `Err`.
    pub fn loss_grad(
        &self,
        logits: &[f32],
        targets: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
        losses: Option<&mut [f32]>,
        scratch: &mut [f32],
    ) -> Result<f32, Error> {
        two_hot_rows(targets, self.bins, scratch)?;
        Rows::new(self.bins, Targets::Probs(scratch)).loss_grad(
            &SoftmaxCe::new(),
            logits,
            reduction,
            grad,
            losses,
        )
    }

    /// One row: the loss for target `y`, the gradient into `grad` (length
    /// `n`), `scratch` (length `n`) as in [`Dfl::loss_grad`].
    ///
    /// # Errors
    /// As [`Dfl::loss_grad`], at row 0.
    pub fn loss_grad_row(
        &self,
        logits: &[f32],
        y: f32,
        grad: &mut [f32],
        scratch: &mut [f32],
    ) -> Result<f32, Error> {
        self.loss_grad(logits, &[y], Reduction::Sum, grad, None, scratch)
    }
}

/// The two-hot target of `y ∈ [0, n - 1]` over `n = out.len() ≥ 2` bins:
/// `out[i] = i + 1 - y`, `out[i + 1] = y - i` (`i = ⌊y⌋`), 0 elsewhere;
/// `y - i` is exact, `i + 1 - y` within half an ULP.
///
/// # Errors
/// [`Error::RaggedRows`] when `n < 2`; [`Error::TargetOutOfRange`] at
/// [`At::Row`]`(0)` when `y` is NaN or outside `[0, n - 1]`. Nothing is
/// written on `Err`.
pub fn two_hot(y: f32, out: &mut [f32]) -> Result<(), Error> {
    two_hot_rows(&[y], out.len(), out)
}

/// [`two_hot`] for `ys.len()` rows of `bins` entries each into `out`
/// (row-major, `ys.len() × bins`): the targets of [`Targets::Probs`].
///
/// # Errors
/// [`Error::RaggedRows`] when `bins < 2`, [`Error::Empty`],
/// [`Error::LengthMismatch`] (`"scratch"`) when `out.len() ≠ ys.len() × bins`,
/// [`Error::TargetOutOfRange`] at the first row whose `y` is NaN or outside
/// `[0, bins - 1]`; all checked before anything is written.
pub fn two_hot_rows(ys: &[f32], bins: usize, out: &mut [f32]) -> Result<(), Error> {
    if bins < 2 {
        return Err(Error::RaggedRows {
            len: out.len(),
            classes: bins,
        });
    }
    if ys.is_empty() {
        return Err(Error::Empty);
    }
    let want = ys.len().checked_mul(bins);
    if want != Some(out.len()) {
        return Err(Error::LengthMismatch {
            what: "scratch",
            expected: want.unwrap_or(usize::MAX),
            found: out.len(),
        });
    }
    // `bins - 1` as f32 rounds up at most to the next f32; a `y` past the
    // exact top is caught by the index test below.
    let top = (bins - 1) as f32;
    for (r, &y) in (0..ys.len()).zip(ys) {
        let i = y as usize;
        if !(0.0..=top).contains(&y) || i > bins - 1 {
            return Err(Error::TargetOutOfRange { at: At::Row(r) });
        }
    }
    for (row, &y) in out.chunks_exact_mut(bins).zip(ys) {
        row.fill(0.0);
        let i = y as usize;
        let right = y - i as f32;
        if let Some(t) = row.get_mut(i) {
            *t = 1.0 - right;
        }
        if right > 0.0 {
            if let Some(t) = row.get_mut(i.wrapping_add(1)) {
                *t = right;
            }
        }
    }
    Ok(())
}

/// The integral decoder: `ŷ = Σ_j j p_j`, `p = softmax(logits)`, the
/// expected bin of one row of `n = logits.len() ≥ 2` logits (GFL's
/// `Integral`), in `[0, n - 1]`.
///
/// Max-shifted exponentials, blocked f32 sums (`ClassSum`): within
/// `(n - 1)(66 + n/2)u` absolute (`u = 2^-24`; asserted against f64 by
/// `tests/rows_family.rs`).
///
/// # Errors
/// [`Error::RaggedRows`] when `n < 2`; [`Error::NonFiniteInput`] at
/// [`At::Row`]`(0)` for a NaN or infinite logit.
pub fn integral(logits: &[f32]) -> Result<f32, Error> {
    let mut out = [0.0f32];
    integral_rows(logits, logits.len(), &mut out)?;
    Ok(out[0])
}

/// [`integral`] of every row of `bins` logits into `out` (one per row).
///
/// # Errors
/// [`Error::RaggedRows`] (`bins < 2` or `logits.len() % bins ≠ 0`),
/// [`Error::Empty`], [`Error::LengthMismatch`] (`"out"`),
/// [`Error::NonFiniteInput`] at the first row with a NaN or infinite logit;
/// all checked before anything is written.
pub fn integral_rows(logits: &[f32], bins: usize, out: &mut [f32]) -> Result<(), Error> {
    let rows = row_count(logits.len(), bins)?;
    if out.len() != rows {
        return Err(Error::LengthMismatch {
            what: "out",
            expected: rows,
            found: out.len(),
        });
    }
    finite_rows(logits, bins)?;
    for (o, row) in out.iter_mut().zip(logits.chunks_exact(bins)) {
        let m = row.iter().fold(f32::MIN, |m, &z| if z > m { z } else { m });
        let mut s = ClassSum::<f32>::new();
        let mut js = ClassSum::<f32>::new();
        let mut j = 0.0f32;
        for &z in row {
            // `z - m` is at most `-2·f32::MAX` away: clamp, then `e ≥ 0`.
            let d = z - m;
            let e = exp_neg(if d >= -f32::MAX { d } else { -f32::MAX });
            s.add(e);
            js.add(j * e);
            j += 1.0;
        }
        // `S ≥ 1` (the maximum's own term), so the quotient is finite.
        let y = js.total() / s.total();
        *o = if y > 0.0 { Lane::min(y, j - 1.0) } else { 0.0 };
    }
    Ok(())
}
