//! Losses on shifted logits ([`Shifted`]): a base row loss `L` (any of
//! [`SoftmaxCe`](super::SoftmaxCe), [`SoftmaxFocal`](super::SoftmaxFocal),
//! [`SoftmaxPoly1`](super::SoftmaxPoly1), [`AnyLoss`](super::AnyLoss))
//! evaluated at `z̃ = A(z, t)`, a per-row shift of the logits that may read
//! the row's target: the logit-adjusted loss and balanced softmax
//! ([`LogitAdjusted`](super::LogitAdjusted), `z̃ = z + b`), LDAM ([`Ldam`](super::Ldam),
//! `z̃ = s (z - Δ ⊙ t)`) and seesaw ([`Seesaw`](super::Seesaw), `z̃_j = z_j + ln(M_tj C_tj)`).
//!
//! This file sits above the driver, as DFL does: a call checks everything
//! on the caller's logits first (the driver's own checks, then the shift's),
//! writes `z̃` into the gradient buffer, and runs the base loss in place on
//! it. Each shift is held constant in the gradient (the papers' and
//! mmdet's convention: LA's prior and seesaw's factors are constants or
//! detached), so `∂L/∂z = a · ∂L/∂z̃` with `a` the shift's slope (`s` for
//! LDAM, 1 otherwise). The loss and the gradient are therefore the base
//! loss's at the rounded `z̃`, bit for bit, within its documented bounds;
//! each shift states how far its rounded `z̃` is from the exact one.

use super::driver::{checked, target, Out, Tgt};
use super::{Rows, SoftmaxLoss, Target};
use crate::lanes::sat;
use crate::reduce::Reduction;
use crate::{At, Error};

/// Largest `|offset|` or margin a shift accepts: small enough that
/// `z + b` never rounds past `f32::MAX` (half an ULP there is `2^103`).
pub(crate) const MAX_SHIFT: f32 = 1e30;

/// A per-row shift of the logits (sealed; implemented by
/// [`LogitAdjusted`](super::LogitAdjusted)'s offsets, [`Ldam`](super::Ldam)'s margins and [`Seesaw`](super::Seesaw)'s
/// factors).
pub trait Shift: Copy + sealed::Sealed {
    /// The name of the shift's per-class slice, for
    /// [`Error::LengthMismatch`].
    #[doc(hidden)]
    fn what(&self) -> &'static str;
    /// Its length (`C`).
    #[doc(hidden)]
    fn classes(&self) -> usize;
    /// Whether the row's `z̃` is finite (checked on every row that counts
    /// before anything is written).
    #[doc(hidden)]
    fn fits(&self, _row: &[f32], _t: Target<'_>) -> Result<(), Error> {
        Ok(())
    }
    /// `row ← z̃` for a row that counts.
    #[doc(hidden)]
    fn apply(&self, row: &mut [f32], t: Target<'_>);
    /// `a`, the slope `∂z̃/∂z` the gradient is multiplied by.
    #[doc(hidden)]
    fn slope(&self) -> f32 {
        1.0
    }
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A base loss `L` on logits shifted by `S`: `ℓ = L(z̃, t)` with
/// `z̃ = A(z, t)` a per-row shift that may read the row's target (the type
/// aliases [`LogitAdjusted`](super::LogitAdjusted) `z + b`,
/// [`Ldam`](super::Ldam) `s (z - Δ ⊙ t)`, [`Seesaw`](super::Seesaw)
/// `z + ln(M C)`); `Copy`, validated once. The shift is held constant in
/// the gradient (the papers' and mmdet's convention), so
/// `∂ℓ/∂z = a ∂L/∂z̃` with `a` the shift's slope (`s` for LDAM, 1
/// otherwise). Its calls take the [`Rows`] (targets, weights, mask) like the
/// base loss's and return the same reductions.
///
/// A call checks everything on the caller's logits first (the base loss's
/// checks, then the shift's), writes `z̃` into the gradient buffer and runs
/// the base loss in place on it: the loss and gradient are the base loss's
/// at the rounded `z̃`, bit for bit, within its documented bounds, and each
/// shift states how far its rounded `z̃` is from the exact one.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shifted<S, L> {
    pub(crate) shift: S,
    pub(crate) loss: L,
}

impl<S: Shift, L: SoftmaxLoss> Shifted<S, L> {
    /// The base loss.
    pub fn base(&self) -> &L {
        &self.loss
    }

    /// The shift.
    pub fn shift(&self) -> &S {
        &self.shift
    }

    /// The shifted logits `z̃` of every row into `out` (same length as
    /// `logits`; dropped rows, by the loss's ignore index or the mask,
    /// get 0): what the base loss sees.
    ///
    /// # Errors
    /// As [`Shifted::loss_grad`] (with `"out"` for the buffer); nothing is
    /// written on `Err`.
    pub fn shifted(&self, rows: &Rows<'_>, logits: &[f32], out: &mut [f32]) -> Result<(), Error> {
        if out.len() != logits.len() {
            return Err(Error::LengthMismatch {
                what: "out",
                expected: logits.len(),
                found: out.len(),
            });
        }
        self.check(
            rows,
            &Out::Split {
                z: logits,
                grad: &mut *out,
            },
            Reduction::Sum,
            None,
        )?;
        self.fill(rows, logits, out);
        Ok(())
    }

    /// Loss and gradient `∂L/∂z` of the base loss at the shifted logits, as
    /// [`Rows::loss_grad`] (same reductions, per-row losses, weights and
    /// mask); `grad` also serves as the buffer of `z̃`.
    ///
    /// # Errors
    /// As [`Rows::loss_grad`], after [`Error::LengthMismatch`] for a
    /// shift built for a different `C`; then the shift's own data errors
    /// (each type says which), at the [`At::Row`] of the first bad row.
    /// Nothing is written on `Err`.
    pub fn loss_grad(
        &self,
        rows: &Rows<'_>,
        logits: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        let n = losses.as_deref().map(<[f32]>::len);
        self.check(
            rows,
            &Out::Split {
                z: logits,
                grad: &mut *grad,
            },
            reduction,
            n,
        )?;
        self.fill(rows, logits, grad);
        self.finish(rows, grad, reduction, losses)
    }

    /// As [`Shifted::loss_grad`], with the gradient written over the
    /// logits. On `Err` the logits are untouched.
    ///
    /// # Errors
    /// As [`Shifted::loss_grad`].
    pub fn loss_grad_in_place(
        &self,
        rows: &Rows<'_>,
        logits_then_grad: &mut [f32],
        reduction: Reduction,
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        let n = losses.as_deref().map(<[f32]>::len);
        self.check(rows, &Out::InPlace(&mut *logits_then_grad), reduction, n)?;
        for (r, g) in (0..usize::MAX).zip(logits_then_grad.chunks_exact_mut(rows.classes.max(1))) {
            self.apply_row(rows, r, g);
        }
        self.finish(rows, logits_then_grad, reduction, losses)
    }

    /// Checked loss and gradient `∂ℓ/∂z` of one row (`C = logits.len()`),
    /// no class weights; an ignored label gives `Ok(0.0)` and a zero
    /// gradient.
    ///
    /// # Errors
    /// As [`Shifted::loss_grad`], at row 0.
    pub fn loss_grad_row(
        &self,
        logits: &[f32],
        target: Target<'_>,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        let mut label = [0];
        let targets = target.one_row(&mut label);
        let rows = Rows::new(logits.len(), targets);
        self.loss_grad(&rows, logits, Reduction::Sum, grad, None)
    }

    /// Every check, on the caller's logits, before anything is written.
    fn check(
        &self,
        rows: &Rows<'_>,
        out: &Out<'_>,
        red: Reduction,
        losses: Option<usize>,
    ) -> Result<(), Error> {
        if self.shift.classes() != rows.classes {
            return Err(Error::LengthMismatch {
                what: self.shift.what(),
                expected: rows.classes,
                found: self.shift.classes(),
            });
        }
        let plan = checked(&self.loss, rows, red, out, losses)?;
        let z = out.logits();
        let ig = self.loss.ignore_index();
        for (r, row) in (0..plan.rows).zip(z.chunks_exact(rows.classes.max(1))) {
            if let Some(t) = row_target(rows, ig, r) {
                self.shift.fits(row, t).map_err(|e| at_row(e, r))?;
            }
        }
        Ok(())
    }

    /// `out ← z̃` of every row of `logits` (same length, checked).
    fn fill(&self, rows: &Rows<'_>, logits: &[f32], out: &mut [f32]) {
        let c = rows.classes.max(1);
        for (r, (o, z)) in (0..usize::MAX).zip(out.chunks_exact_mut(c).zip(logits.chunks_exact(c)))
        {
            o.copy_from_slice(z);
            self.apply_row(rows, r, o);
        }
    }

    /// `row ← z̃` for row `r` (0 for a dropped row).
    fn apply_row(&self, rows: &Rows<'_>, r: usize, row: &mut [f32]) {
        match row_target(rows, self.loss.ignore_index(), r) {
            Some(t) => self.shift.apply(row, t),
            None => row.fill(0.0),
        }
    }

    /// The base loss in place on `z̃`, then the slope.
    fn finish(
        &self,
        rows: &Rows<'_>,
        buf: &mut [f32],
        reduction: Reduction,
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        let l = rows.loss_grad_in_place(&self.loss, buf, reduction, losses)?;
        let a = self.shift.slope();
        if a != 1.0 {
            for g in buf.iter_mut() {
                *g = sat(*g * a);
            }
        }
        Ok(l)
    }
}

/// Row `r`'s target as the shift sees it, `None` when the row is dropped.
fn row_target<'a>(rows: &Rows<'a>, ig: Option<u32>, r: usize) -> Option<Target<'a>> {
    match target(rows, ig, r) {
        Tgt::Ignored => None,
        Tgt::Hard(t) => Some(Target::Label(t as u32)),
        Tgt::Soft(p) => Some(Target::Probs(p)),
    }
}

/// A shift's row error at row `r`.
fn at_row(e: Error, r: usize) -> Error {
    match e {
        Error::NonFiniteInput { .. } => Error::NonFiniteInput { at: At::Row(r) },
        e => e,
    }
}

/// A shift chosen at run time (the shift's counterpart of
/// [`AnyLoss`](super::AnyLoss)): `Shifted<AnyShift, AnyLoss>` is a
/// long-tail loss picked entirely at run time, e.g. from a configuration
/// byte. A call dispatches per row to the chosen shift (the same bits as
/// the shift's own type).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AnyShift<'a> {
    /// Logit adjustment, `z + b`.
    LogitAdjusted(super::Offsets<'a>),
    /// LDAM, `s (z - Δ ⊙ t)`.
    Ldam(super::Margins<'a>),
    /// Seesaw's factors.
    Seesaw(super::SeesawFactors<'a>),
}

impl<'a> From<super::Offsets<'a>> for AnyShift<'a> {
    fn from(s: super::Offsets<'a>) -> Self {
        AnyShift::LogitAdjusted(s)
    }
}

impl<'a> From<super::Margins<'a>> for AnyShift<'a> {
    fn from(s: super::Margins<'a>) -> Self {
        AnyShift::Ldam(s)
    }
}

impl<'a> From<super::SeesawFactors<'a>> for AnyShift<'a> {
    fn from(s: super::SeesawFactors<'a>) -> Self {
        AnyShift::Seesaw(s)
    }
}

impl<S: Shift, L: SoftmaxLoss> Shifted<S, L> {
    /// The same loss with its shift chosen at run time.
    pub fn into_any<'a>(self) -> Shifted<AnyShift<'a>, L>
    where
        S: Into<AnyShift<'a>>,
    {
        Shifted {
            shift: self.shift.into(),
            loss: self.loss,
        }
    }
}

impl sealed::Sealed for AnyShift<'_> {}

macro_rules! each_shift {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyShift::LogitAdjusted($s) => $e,
            AnyShift::Ldam($s) => $e,
            AnyShift::Seesaw($s) => $e,
        }
    };
}

impl Shift for AnyShift<'_> {
    fn what(&self) -> &'static str {
        each_shift!(self, s => s.what())
    }
    fn classes(&self) -> usize {
        each_shift!(self, s => s.classes())
    }
    fn fits(&self, row: &[f32], t: Target<'_>) -> Result<(), Error> {
        each_shift!(self, s => s.fits(row, t))
    }
    fn apply(&self, row: &mut [f32], t: Target<'_>) {
        each_shift!(self, s => s.apply(row, t))
    }
    fn slope(&self) -> f32 {
        each_shift!(self, s => s.slope())
    }
}
