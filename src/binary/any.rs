//! A binary loss chosen at run time.

use super::kernel::{sealed, BinaryLoss, Body};
use crate::{Asymmetric, Error, Focal, FocalStar, LossGrad, Poly1, Qfl, SigmoidCe, Varifocal};

/// Any binary loss, chosen at run time, so that training code (and a
/// configuration read from flash or a host) is written once, not once per
/// loss type. A batch call matches it once, at its entry, and then runs the
/// same loops as the loss it holds, with bit-identical results.
///
/// ```
/// use tinyloss::binary::AnyLoss;
/// use tinyloss::{Batch, Focal, Reduction, SigmoidCe};
/// let targets = [1.0, 0.0, 0.0];
/// let logits = [1.5, -0.5, 2.0];
/// let mut grad = [0.0; 3];
/// for loss in [AnyLoss::from(SigmoidCe::PLAIN), Focal::RETINANET.into()] {
///     let l = Batch::new(&targets).loss_grad(&loss, &logits, Reduction::Mean, &mut grad, None)?;
///     assert!(l > 0.0);
/// }
/// # Ok::<(), tinyloss::Error>(())
/// ```
/// `#[non_exhaustive]`: the family grows without a breaking release.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AnyLoss {
    /// Sigmoid cross-entropy.
    SigmoidCe(SigmoidCe),
    /// Sigmoid focal loss.
    Focal(Focal),
    /// Asymmetric loss (ASL).
    Asymmetric(Asymmetric),
    /// Poly-1 over focal loss or cross-entropy.
    Poly1(Poly1),
    /// FL*.
    FocalStar(FocalStar),
    /// Quality focal loss.
    Qfl(Qfl),
    /// Varifocal loss.
    Varifocal(Varifocal),
}

impl From<SigmoidCe> for AnyLoss {
    fn from(l: SigmoidCe) -> Self {
        AnyLoss::SigmoidCe(l)
    }
}

impl From<Focal> for AnyLoss {
    fn from(l: Focal) -> Self {
        AnyLoss::Focal(l)
    }
}

impl From<Asymmetric> for AnyLoss {
    fn from(l: Asymmetric) -> Self {
        AnyLoss::Asymmetric(l)
    }
}

impl From<Poly1> for AnyLoss {
    fn from(l: Poly1) -> Self {
        AnyLoss::Poly1(l)
    }
}

impl From<FocalStar> for AnyLoss {
    fn from(l: FocalStar) -> Self {
        AnyLoss::FocalStar(l)
    }
}

impl From<Qfl> for AnyLoss {
    fn from(l: Qfl) -> Self {
        AnyLoss::Qfl(l)
    }
}

impl From<Varifocal> for AnyLoss {
    fn from(l: Varifocal) -> Self {
        AnyLoss::Varifocal(l)
    }
}

impl AnyLoss {
    /// Loss and gradient `∂ℓ/∂z` for one logit `z` and target `y`
    /// ([`Focal::loss_grad`], [`SigmoidCe::loss_grad`]).
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`] or [`Error::TargetOutOfRange`] at element 0.
    pub fn loss_grad(&self, z: f32, y: f32) -> Result<LossGrad, Error> {
        match self {
            AnyLoss::SigmoidCe(l) => l.loss_grad(z, y),
            AnyLoss::Focal(l) => l.loss_grad(z, y),
            AnyLoss::Asymmetric(l) => l.loss_grad(z, y),
            AnyLoss::Poly1(l) => l.loss_grad(z, y),
            AnyLoss::FocalStar(l) => l.loss_grad(z, y),
            AnyLoss::Qfl(l) => l.loss_grad(z, y),
            AnyLoss::Varifocal(l) => l.loss_grad(z, y),
        }
    }

    /// Loss and gradient `∂ℓ/∂p` for one probability `p` and target `y`
    /// ([`Focal::loss_grad_prob`], [`SigmoidCe::loss_grad_prob`]).
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`], [`Error::ProbabilityOutOfRange`] or
    /// [`Error::TargetOutOfRange`], at element 0.
    pub fn loss_grad_prob(&self, p: f32, y: f32) -> Result<LossGrad, Error> {
        match self {
            AnyLoss::SigmoidCe(l) => l.loss_grad_prob(p, y),
            AnyLoss::Focal(l) => l.loss_grad_prob(p, y),
            AnyLoss::Asymmetric(l) => l.loss_grad_prob(p, y),
            AnyLoss::Poly1(l) => l.loss_grad_prob(p, y),
            AnyLoss::FocalStar(l) => l.loss_grad_prob(p, y),
            AnyLoss::Qfl(l) => l.loss_grad_prob(p, y),
            AnyLoss::Varifocal(l) => l.loss_grad_prob(p, y),
        }
    }
}

impl sealed::Sealed for AnyLoss {}

impl BinaryLoss for AnyLoss {
    #[inline(always)]
    fn dispatch<B: Body>(&self, body: B) -> B::Out {
        match self {
            AnyLoss::SigmoidCe(l) => body.call(l),
            AnyLoss::Focal(l) => body.call(l),
            AnyLoss::Asymmetric(l) => body.call(l),
            AnyLoss::Poly1(l) => body.call(l),
            AnyLoss::FocalStar(l) => body.call(l),
            AnyLoss::Qfl(l) => body.call(l),
            AnyLoss::Varifocal(l) => body.call(l),
        }
    }
}
