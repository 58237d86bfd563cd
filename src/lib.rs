#![cfg_attr(not(test), no_std)]
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod bce;
pub mod binary;
pub mod class_balanced;
mod error;
mod focal;
mod lanes;
mod math;
mod reduce;
pub mod softmax;

pub use bce::SigmoidCe;
pub use binary::{Batch, BinaryLoss, PROB_EPS};
pub use error::Error;
pub use focal::Focal;
pub use reduce::Reduction;
pub use softmax::{SoftmaxCe, SoftmaxFocal};

/// A loss value and its gradient for one element.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use]
pub struct LossGrad {
    /// The loss `ℓ`.
    pub loss: f32,
    /// The gradient `∂ℓ/∂input` (logit or probability).
    pub grad: f32,
}
