//! What a call reads: the targets, and the [`Rows`] builder that borrows
//! them with the optional class weights, row weights and ignore mask. Each
//! builder step validates what it can once; the driver checks the rest
//! against the logits at the call.

use crate::error::check_len;
use crate::{At, Error, Labels};

/// The targets of a batch of rows.
///
/// Labels come in the width the caller stores them ([`Labels`]: `u8`,
/// `u16`, `u32`); `From` builds the `Labels` variant from a slice of any of
/// them: `Targets::from(&labels[..])`.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One class label per row (`< C`, or the loss's ignore index).
    Labels(Labels<'a>),
    /// One probability row per row (`rows × C`, each entry in `[0, 1]`; rows
    /// need not sum to 1, the loss is the weighted sum over classes).
    /// PyTorch's "class probabilities" target: the ignore index does not
    /// apply and [`Reduction::Mean`](crate::Reduction::Mean) divides by the
    /// number of rows that are not masked.
    Probs(&'a [f32]),
}

impl<'a> From<Labels<'a>> for Targets<'a> {
    #[inline]
    fn from(l: Labels<'a>) -> Self {
        Targets::Labels(l)
    }
}

macro_rules! from_labels {
    ($($t:ty),*) => {$(
        impl<'a> From<&'a [$t]> for Targets<'a> {
            #[inline]
            fn from(l: &'a [$t]) -> Self {
                Targets::Labels(Labels::from(l))
            }
        }
        impl<'a, const N: usize> From<&'a [$t; N]> for Targets<'a> {
            #[inline]
            fn from(l: &'a [$t; N]) -> Self {
                Targets::Labels(Labels::from(l))
            }
        }
    )*};
}
from_labels!(u8, u16, u32);

/// The target of a single row, for the per-row API
/// (`loss.loss_grad_row(logits, target, grad)`).
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// A class label.
    Label(u32),
    /// A probability row of length `C`.
    Probs(&'a [f32]),
}

impl<'a> Target<'a> {
    /// The targets of a one-row batch: a label goes into `label`.
    pub(crate) fn one_row(self, label: &'a mut [u32; 1]) -> Targets<'a> {
        match self {
            Target::Label(t) => {
                label[0] = t;
                Targets::from(&*label)
            }
            Target::Probs(p) => Targets::Probs(p),
        }
    }
}

/// The inputs a batch of logits is compared with: `C`, the targets, and
/// optional class weights, row weights and ignore mask. Build it once per
/// batch (it borrows, it does not copy), then call
/// [`Rows::loss_grad`], [`Rows::loss_grad_in_place`] or [`Rows::loss`] with
/// the loss and the logits.
///
/// * Class weights `w_c` (PyTorch's `weight=`, α per class for focal)
///   weight the loss of every target class; under
///   [`Reduction::Mean`](crate::Reduction::Mean) with labels the mean divides
///   by `Σ w_t` over the rows that count (PyTorch).
/// * Row weights `v_r` only rescale: row `r` adds `v_r ℓ_r` and gets
///   gradient `v_r ∂ℓ_r/∂z`, and `Mean`'s normaliser is unchanged (the row
///   count, or `Σ w_t`), as the binary family's per-element weights and
///   PyTorch's `BCEWithLogitsLoss(weight=..)`. A row of weight 0 still
///   counts in `Mean`'s normaliser.
/// * A masked row (`ignore[r] == true`) is dropped as an ignored label is:
///   it adds nothing, is not counted by `Mean`, gets a zero gradient row and
///   a per-row loss of 0, and its logits and target are not validated.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    pub(crate) classes: usize,
    pub(crate) targets: Targets<'a>,
    pub(crate) class_weights: Option<&'a [f32]>,
    pub(crate) row_weights: Option<&'a [f32]>,
    pub(crate) ignore: Option<&'a [bool]>,
}

/// Position of the first weight that is negative, NaN or infinite.
fn first_bad_weight(w: &[f32]) -> Option<usize> {
    w.iter().position(|w| !(w.is_finite() && *w >= 0.0))
}

impl<'a> Rows<'a> {
    /// Rows of `classes` logits (`C ≥ 2`, checked at the call) compared with
    /// `targets` (`Targets::from(&labels[..])`, or [`Targets::Probs`]).
    pub fn new(classes: usize, targets: impl Into<Targets<'a>>) -> Self {
        Rows {
            classes,
            targets: targets.into(),
            class_weights: None,
            row_weights: None,
            ignore: None,
        }
    }

    /// Per-class weights `w_c`: `w.len() == C`, each finite and `≥ 0`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] (`"class_weights"`), [`Error::InvalidWeight`]
    /// at the [`At::Class`] of the first bad weight. Checked here, once.
    pub fn with_class_weights(self, weights: &'a [f32]) -> Result<Self, Error> {
        check_len("class_weights", self.classes, weights.len())?;
        if let Some(c) = first_bad_weight(weights) {
            return Err(Error::InvalidWeight { at: At::Class(c) });
        }
        Ok(Rows {
            class_weights: Some(weights),
            ..self
        })
    }

    /// Per-row weights `v_r` (one per row, each finite and `≥ 0`; their
    /// length is checked against the logits at the call): they rescale row
    /// `r`'s loss and gradient and leave `Mean`'s normaliser alone.
    ///
    /// # Errors
    /// [`Error::InvalidWeight`] at the [`At::Row`] of the first bad weight.
    pub fn with_row_weights(self, weights: &'a [f32]) -> Result<Self, Error> {
        if let Some(r) = first_bad_weight(weights) {
            return Err(Error::InvalidWeight { at: At::Row(r) });
        }
        Ok(Rows {
            row_weights: Some(weights),
            ..self
        })
    }

    /// Per-row ignore mask (`true` = dropped; one per row, length checked at
    /// the call).
    pub fn with_ignore(self, ignore: &'a [bool]) -> Self {
        Rows {
            ignore: Some(ignore),
            ..self
        }
    }

    /// Number of classes `C`.
    pub fn classes(&self) -> usize {
        self.classes
    }
}
