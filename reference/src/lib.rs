//! # tinyloss-reference
//!
//! One source of truth for every test of tinyloss: the host tests
//! (`tests/`), the fuzz targets (`fuzz/`) and the on-target `selftest`
//! (`firmware/`) all read this crate.
//!
//! * [`binary`], [`softmax`], [`class_balanced`]: f64 references of every
//!   loss and its gradient, written from the textbook / PyTorch formulas,
//!   independently of tinyloss's code (this crate does not depend on it);
//! * [`measure`]: the error measure (relative error in units of
//!   `u = 2^-24` with an absolute floor, and ULPs);
//! * [`bounds`]: the one table of asserted bounds, [`BOUNDS`], which the
//!   README's and the crate docs' accuracy tables are checked against;
//! * [`cases`]: the bad-input cases (non-finite values, out-of-range targets,
//!   probabilities, weights and labels, invalid parameters) as data;
//! * [`mining`]: the hard-example miners by rank counting;
//! * [`diagnostic`]: the easy-example diagnostic recomputed in f64;
//! * [`normalizer`]: the streaming normaliser's recurrence in f64;
//! * [`rng`]: one small seeded RNG (splitmix64).
//!
//! `no_std`, no allocation, `libm` for the f64 math: it runs on the Cortex-M0
//! inside the selftest.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod binary;
pub mod bounds;
pub mod cases;
pub mod class_balanced;
pub mod diagnostic;
pub mod measure;
pub mod mining;
pub mod normalizer;
pub mod rng;
pub mod softmax;

pub use bounds::{Bound, Measure, BOUNDS};
pub use measure::{rel_err, ulps, Worst, U};
pub use rng::Rng;

/// The probability clamp of the probability-input forms: `p` is clamped to
/// `[PROB_EPS, 1 - PROB_EPS]`, the upper end being the f32 value
/// `1.0f32 - PROB_EPS` (tinyloss's `PROB_EPS`, restated here; a test checks
/// that the two agree).
pub const PROB_EPS: f32 = 1e-7;

/// A reduction, as the references apply it (tinyloss's `Reduction`, restated).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reduce {
    /// Sum.
    Sum,
    /// Mean over what counts (elements not ignored; for softmax labels, the
    /// sum of the target classes' weights); 0 when nothing counts.
    Mean,
    /// Sum divided by a given normaliser.
    MeanOver(f64),
    /// Sum divided by `max(1, Σ y)` (binary only).
    MeanOverPositives,
}

impl Reduce {
    /// The factor the sum and the per-element gradients are multiplied by:
    /// `count` is the `Mean` denominator, `positives` the `Σ y` of the
    /// elements that count.
    pub fn scale(self, count: f64, positives: f64) -> f64 {
        match self {
            Reduce::Sum => 1.0,
            Reduce::Mean => {
                if count == 0.0 {
                    0.0
                } else {
                    1.0 / count
                }
            }
            Reduce::MeanOver(d) => 1.0 / d,
            Reduce::MeanOverPositives => 1.0 / if positives > 1.0 { positives } else { 1.0 },
        }
    }
}
