//! Logit adjustment for long-tailed classes (Menon et al. 2021): the
//! class prior's offsets `b_c = τ ln π_c` from class counts
//! ([`logit_offsets`]), and the post-hoc adjustment of a trained model's
//! logits at inference ([`post_hoc_adjust`], [`post_hoc_argmax`]).
//!
//! Legend: `n_c` the count of class `c` (a class not seen yet counts as 1,
//! as in [`class_balanced`](crate::class_balanced)), `N = Σ_c n_c`,
//! `π_c = n_c / N`, `τ ≥ 0` the temperature (1 in the paper).
//!
//! Post-hoc: predict `argmax_c (z_c - τ ln π_c)`, which moves the decision
//! from the training prior's Bayes rule to the balanced error's; no
//! retraining. Training: the logit-adjusted loss ([`LogitAdjusted`]) is
//! the base loss at `z + τ ln π`, and balanced softmax (Ren et al. 2020)
//! is its `τ = 1` (`softmax` of `z + ln n_c`, the same up to a constant
//! shift).

use super::kernel::{finite_rows, row_count};
use super::shift::{sealed, Shift, Shifted, MAX_SHIFT};
use super::{SoftmaxLoss, Target};
use crate::error::check_per_class;
use crate::lanes::{sat, Lane};
use crate::math::ln;
use crate::{At, Error};

/// The per-class offsets `b` of [`LogitAdjusted`] (validated once:
/// finite, `|b_c| ≤ 1e30`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Offsets<'a> {
    b: &'a [f32],
}

impl<'a> Offsets<'a> {
    /// Offsets `b` (length `C`), e.g. from [`logit_offsets`].
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::NonFiniteInput`] at the [`At::Class`] of
    /// the first non-finite offset, [`Error::InvalidParameter`]
    /// (`"offsets"`) for `|b_c| > 1e30`.
    pub fn new(b: &'a [f32]) -> Result<Self, Error> {
        if b.is_empty() {
            return Err(Error::Empty);
        }
        for (c, v) in (0..b.len()).zip(b) {
            if !v.is_finite() {
                return Err(Error::NonFiniteInput { at: At::Class(c) });
            }
            if v.abs() > MAX_SHIFT {
                return Err(Error::InvalidParameter { name: "offsets" });
            }
        }
        Ok(Offsets { b })
    }

    /// The offsets.
    pub fn get(&self) -> &'a [f32] {
        self.b
    }
}

impl sealed::Sealed for Offsets<'_> {}

impl Shift for Offsets<'_> {
    fn what(&self) -> &'static str {
        "offsets"
    }
    fn classes(&self) -> usize {
        self.b.len()
    }
    #[inline]
    fn apply(&self, row: &mut [f32], _t: Target<'_>) {
        for (z, &b) in row.iter_mut().zip(self.b) {
            *z += b;
        }
    }
}

/// The logit-adjusted loss (Menon et al. 2021, "Long-tail learning via
/// logit adjustment", their eq. 10) and balanced softmax (Ren et al. 2020,
/// `τ = 1`): a base loss `L` at `z̃ = z + b`, `b_c = τ ln π_c` the class
/// prior's offsets ([`logit_offsets`]), so that rare classes must win by a
/// margin `τ ln(π_head / π_rare)` during training and the trained logits
/// estimate the balanced posterior (no post-hoc step at inference).
/// `ℓ = L(z + b, t)`, `∂ℓ/∂z = ∂L/∂z̃`: for cross-entropy `softmax(z̃) - t`.
/// With the cross-entropy this is the research code's loss (none of
/// timm, mmdet or optax ships it); any base loss may be shifted (a
/// logit-adjusted focal loss, say). Uniform priors (or `τ = 0`) give the
/// base loss: `τ = 0` bit for bit.
///
/// Error bounds: `z̃_c = z_c + b_c` rounded once (within `u |z̃_c|`,
/// `u = 2^-24`); the loss and gradient are the base loss's at that `z̃`, bit
/// for bit (asserted by `tests/shifted.rs`), so its bounds hold there.
///
/// ```
/// use tinyloss::softmax::{LogitAdjusted, Rows, SoftmaxCe, Target};
/// use tinyloss::Reduction;
/// let counts = [900u32, 90, 10];
/// let mut b = [0.0; 3];
/// let la = LogitAdjusted::from_counts(SoftmaxCe::new(), &counts, 1.0, &mut b)?;
/// let z = [2.0, 0.5, 0.4];
/// let mut g = [0.0; 3];
/// // A rare-class label costs more than under plain CE...
/// let l = la.loss_grad_row(&z, Target::Label(2), &mut g)?;
/// let ce = SoftmaxCe::new().loss_grad_row(&z, Target::Label(2), &mut [0.0; 3])?;
/// assert!(l > ce && g[2] < 0.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
pub type LogitAdjusted<'a, L> = Shifted<Offsets<'a>, L>;

impl<'a, L: SoftmaxLoss> Shifted<Offsets<'a>, L> {
    /// `loss` at `z + offsets`.
    ///
    /// # Errors
    /// As [`Offsets::new`].
    pub fn new(loss: L, offsets: &'a [f32]) -> Result<Self, Error> {
        Ok(Shifted {
            shift: Offsets::new(offsets)?,
            loss,
        })
    }

    /// `loss` at `z + τ ln π`, the offsets built from `counts` into `buf`
    /// (length `C`) by [`logit_offsets`]; `τ = 1` is balanced softmax.
    ///
    /// # Errors
    /// As [`logit_offsets`].
    pub fn from_counts(
        loss: L,
        counts: &[u32],
        tau: f32,
        buf: &'a mut [f32],
    ) -> Result<Self, Error> {
        logit_offsets(counts, tau, buf)?;
        Self::new(loss, buf)
    }
}

/// Largest τ accepted.
const MAX_TAU: f32 = 1e4;

/// The offsets `b_c = τ ln π_c` (all ≤ 0) of the class prior
/// `π_c = n_c / N` from `counts` (a [`ClassCounter`](crate::class_balanced::ClassCounter)'s
/// `counts()`, or counts of a data set) into `out` (length `C`); a zero
/// count is taken as 1. Within `3u τ |ln π_c| + 2u τ` absolute of the
/// exact value at the counts (`u = 2^-24`; `π_c` is rounded once).
///
/// ```
/// use tinyloss::softmax::{logit_offsets, post_hoc_argmax};
/// let mut b = [0.0; 3];
/// logit_offsets(&[900, 90, 10], 1.0, &mut b)?;
/// assert!((b[0] - 0.9f32.ln()).abs() < 1e-6 && b[2] < b[1]);
/// // The head class wins the raw logits, the balanced rule picks class 2.
/// assert_eq!(post_hoc_argmax(&[2.0, 0.5, 0.4], &b)?, 2);
/// # Ok::<(), tinyloss::Error>(())
/// ```
///
/// # Errors
/// [`Error::Empty`] for no classes, [`Error::LengthMismatch`] (`"out"`),
/// [`Error::InvalidParameter`] (`"tau"`) for τ NaN or outside `[0, 1e4]`;
/// nothing is written on `Err`.
pub fn logit_offsets(counts: &[u32], tau: f32, out: &mut [f32]) -> Result<(), Error> {
    check_per_class(counts.len(), out.len())?;
    if !(0.0..=MAX_TAU).contains(&tau) {
        return Err(Error::InvalidParameter { name: "tau" });
    }
    let total = counts
        .iter()
        .fold(0u64, |t, &n| t.saturating_add(u64::from(n.max(1))));
    // `N` below 2^64 (at most 2^32 classes of 2^32 - 1), so its f32 is
    // finite; `1/N` rounds once.
    let inv = 1.0 / total as f32;
    for (o, &n) in out.iter_mut().zip(counts) {
        let pi = n.max(1) as f32 * inv;
        *o = if tau == 0.0 {
            0.0
        } else {
            tau * ln(Lane::min(pi, 1.0))
        };
    }
    Ok(())
}

/// The post-hoc adjusted logits `z_c - b_c` of every row (`C =
/// offsets.len()`) into `out` (same length as `logits`), saturated at
/// `±f32::MAX`; exact but for one rounding.
///
/// # Errors
/// [`Error::RaggedRows`] (`C < 2` or `logits.len() % C ≠ 0`),
/// [`Error::Empty`], [`Error::LengthMismatch`] (`"out"`),
/// [`Error::NonFiniteInput`] at the first row with a NaN or infinite logit
/// (or [`At::Class`] of a non-finite offset); nothing is written on `Err`.
pub fn post_hoc_adjust(logits: &[f32], offsets: &[f32], out: &mut [f32]) -> Result<(), Error> {
    check(logits, offsets)?;
    if out.len() != logits.len() {
        return Err(Error::LengthMismatch {
            what: "out",
            expected: logits.len(),
            found: out.len(),
        });
    }
    for (o_row, z_row) in out
        .chunks_exact_mut(offsets.len())
        .zip(logits.chunks_exact(offsets.len()))
    {
        for ((o, &z), &b) in o_row.iter_mut().zip(z_row).zip(offsets) {
            *o = sat(z - b);
        }
    }
    Ok(())
}

/// The post-hoc prediction of one row: `argmax_c (z_c - b_c)`, the
/// adjusted logits rounded once (as [`post_hoc_adjust`] writes them), the
/// first of ties.
///
/// # Errors
/// As [`post_hoc_adjust`] for one row of `C = offsets.len()` logits.
pub fn post_hoc_argmax(row: &[f32], offsets: &[f32]) -> Result<usize, Error> {
    check(row, offsets)?;
    if row.len() != offsets.len() {
        return Err(Error::RaggedRows {
            len: row.len(),
            classes: offsets.len(),
        });
    }
    let mut best = 0usize;
    let mut top = f32::MIN;
    for (c, (&z, &b)) in (0..row.len()).zip(row.iter().zip(offsets)) {
        let v = sat(z - b);
        if c == 0 || v > top {
            top = v;
            best = c;
        }
    }
    Ok(best)
}

/// Shape and finiteness of logits and offsets.
fn check(logits: &[f32], offsets: &[f32]) -> Result<(), Error> {
    let c = offsets.len();
    row_count(logits.len(), c)?;
    // A bounded range counts (`position` would link an overflow check).
    for (k, b) in (0..c).zip(offsets) {
        if !b.is_finite() {
            return Err(Error::NonFiniteInput { at: At::Class(k) });
        }
    }
    finite_rows(logits, c)?;
    Ok(())
}
