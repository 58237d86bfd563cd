//! A streaming normaliser: an exponential moving average of the number of
//! positives, for batches too small for `MeanOverPositives`.

use crate::error::Error;
use crate::lanes::Lane;
use crate::reduce::Reduction;

/// An exponential moving average of the number of positives per batch, as a
/// normaliser: detectron2's RetinaNet `loss_normalizer` (momentum 0.9,
/// starting at 100; mmdet users keep the same average for the same reason).
///
/// `MeanOverPositives` divides by `max(1, Σ y)` of the batch itself. With
/// one sample per update (streaming on the device) that is 0 or 1 positive
/// per call, so a positive's loss is divided by 1 and a batch of negatives
/// by 1 too: the scale of the gradient jumps with every sample. The average
/// moves slowly instead:
///
/// `v ← m v + (1 − m) max(P, 1)`, and the call uses [`Reduction::MeanOver`]`(v)`,
///
/// where `P = Σ y` over the elements that are not ignored (the positive
/// count for hard labels).
///
/// **Range and bound.** `v` stays within `[min(v₀, 1), max(v₀, max P)]`, so
/// it is always a valid, positive normaliser. Against the same recurrence
/// in f64 (from the same f32 `m`, `v₀` and counts), each update adds at
/// most `3u` of relative error (`u = 2^-24`: the two products, `1 − m` and
/// the sum) and carries the earlier error over with the factor
/// `m v / v' ≤ 1`, so after `t` updates the relative error is at most
/// `3u t`; whenever a count is at least the average the factor is at most
/// `m`, and the error then decays. The tests assert `3u t` over long random
/// streams.
///
/// **The class-weighted `Mean` trap.** With class weights and one row per
/// call, `Mean` divides `w_t ℓ` by `w_t` and the weight cancels (PyTorch's
/// convention). The streaming alternative is `Sum`, or `MeanOver` of an
/// average like this one of the weight mass per update (feed it `Σ w_t`
/// instead of `P`).
///
/// ```
/// use tinyloss::{Batch, Focal, PositivesEma, Reduction};
/// let mut norm = PositivesEma::DETECTRON2;
/// let (logits, targets) = ([2.0, -1.0, -3.0], [1.0, 0.0, 0.0]);
/// let mut grad = [0.0; 3];
/// let positives = targets.iter().sum::<f32>();
/// let loss = Batch::new(&targets).loss_grad(&Focal::RETINANET, &logits,
///                                           norm.update(positives)?, &mut grad, None)?;
/// assert!((norm.value() - 90.1).abs() < 1e-4); // 0.9 · 100 + 0.1 · max(1, 1)
/// # let _ = loss;
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PositivesEma {
    value: f32,
    momentum: f32,
    rest: f32,
}

impl PositivesEma {
    /// detectron2's RetinaNet: starts at 100, momentum 0.9.
    pub const DETECTRON2: PositivesEma = PositivesEma {
        value: 100.0,
        momentum: 0.9,
        rest: 1.0 - 0.9,
    };

    /// An average starting at `initial` (finite, > 0) with momentum `m` in
    /// `[0, 1)` (0: the batch's own `max(P, 1)`, which is
    /// `MeanOverPositives`). Otherwise [`Error::InvalidParameter`]
    /// (`"initial"` or `"momentum"`).
    pub fn new(initial: f32, momentum: f32) -> Result<Self, Error> {
        if !(initial.is_finite() && initial > 0.0) {
            return Err(Error::InvalidParameter { name: "initial" });
        }
        if !(0.0..1.0).contains(&momentum) {
            return Err(Error::InvalidParameter { name: "momentum" });
        }
        Ok(PositivesEma {
            value: initial,
            momentum,
            rest: 1.0 - momentum,
        })
    }

    /// Folds in one batch's positive count `P` (finite, ≥ 0; otherwise
    /// [`Error::InvalidParameter`] `"positives"` and the average is
    /// unchanged) and returns the reduction to call with:
    /// `MeanOver(v)` of the updated average.
    pub fn update(&mut self, positives: f32) -> Result<Reduction, Error> {
        if !(positives.is_finite() && positives >= 0.0) {
            return Err(Error::InvalidParameter { name: "positives" });
        }
        // Compare-and-select (`Lane`), not `f32::max`: that is a libm call
        // on cores without `vmaxnm`; every value here is finite.
        let p = Lane::max(positives, 1.0);
        let v = self.momentum * self.value + self.rest * p;
        // The exact update lies between the old average and `max(P, 1)`;
        // rounding may step past either end (both ends 1e30: 1.0000001e30),
        // so the result is clamped back, which only brings it closer.
        let (lo, hi) = (Lane::min(self.value, p), Lane::max(self.value, p));
        self.value = Lane::min(Lane::max(v, lo), hi);
        Ok(Reduction::MeanOver(self.value))
    }

    /// The current average `v`.
    pub fn value(&self) -> f32 {
        self.value
    }

    /// The reduction for the current average, without an update.
    pub fn reduction(&self) -> Reduction {
        Reduction::MeanOver(self.value)
    }
}
