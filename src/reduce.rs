//! How a batch of per-element losses becomes one number, and how that sum is
//! accumulated without losing accuracy over long slices.

use crate::lanes::Lane;
use crate::Error;

/// How a batch kernel reduces per-element losses. The gradient a kernel writes
/// is always the gradient of the *reduced* loss it returns.
///
/// | variant | returned loss | gradient scale |
/// |---|---|---|
/// | `None` | `Σ w_i ℓ_i` (per-element values go to the `losses` buffer) | 1 |
/// | `Sum` | `Σ w_i ℓ_i` | 1 |
/// | `Mean` | `Σ w_i ℓ_i / n` | `1/n` |
/// | `MeanOver(d)` | `Σ w_i ℓ_i / d` | `1/d` |
/// | `MeanOverPositives` | `Σ w_i ℓ_i / max(1, Σ y_i)` | `1/max(1, Σ y_i)` |
///
/// For the binary kernels `n` is the number of elements that are not ignored
/// and per-element weights only rescale (PyTorch's `BCEWithLogitsLoss(weight=..)`
/// convention). For the multi-class kernels with class weights, `n` is the sum
/// of the target classes' weights over rows that are not ignored (PyTorch's
/// `CrossEntropyLoss(weight=..)`). `MeanOverPositives` is RetinaNet's
/// normalisation by the number of positive anchors (`Σ y_i` over elements that
/// are not ignored, which is the count for hard labels), clamped to at least 1
/// as detectron2 does. When every element is ignored, `Mean` returns 0 and
/// writes a zero gradient.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reduction {
    /// No reduction: ask for the per-element losses through the `losses`
    /// buffer; the return value is their sum and the gradient is per element.
    None,
    /// Sum over elements.
    Sum,
    /// Mean over the elements that are not ignored.
    #[default]
    Mean,
    /// Sum divided by a caller-given normaliser (finite, > 0), e.g. mmdet's
    /// `avg_factor`.
    MeanOver(f32),
    /// Sum divided by `max(1, Σ y)`: RetinaNet's "normalise by the number of
    /// positives". Binary kernels only.
    MeanOverPositives,
}

impl Reduction {
    /// Checks the normaliser of [`Reduction::MeanOver`].
    pub(crate) fn validate(self) -> Result<(), Error> {
        match self {
            Reduction::MeanOver(d) if !(d.is_finite() && d > 0.0) => {
                Err(Error::InvalidParameter { name: "normalizer" })
            }
            _ => Ok(()),
        }
    }
}

/// How many lane-vectors are summed in f32 before the partial sum is moved
/// into the f64 total. With `BLOCK` = 32 the f32 part carries a relative error
/// of at most `31 u ≈ 1.9e-6` (u = 2^-24) per block, and the f64 part adds
/// nothing visible, whatever the slice length.
pub(crate) const BLOCK: u32 = 32;

/// Lane-wise blocked accumulator: `V` lanes of f32, flushed into an f64 total
/// every [`BLOCK`] additions.
pub(crate) struct Acc<V> {
    lanes: V,
    count: u32,
    total: f64,
}

impl<V: Lane> Acc<V> {
    #[inline(always)]
    pub fn new() -> Self {
        Acc {
            lanes: V::splat(0.0),
            count: 0,
            total: 0.0,
        }
    }

    #[inline(always)]
    pub fn add(&mut self, v: V) {
        self.lanes = self.lanes + v;
        self.count += 1;
        if self.count == BLOCK {
            self.flush();
        }
    }

    #[inline(always)]
    fn flush(&mut self) {
        self.total += self.lanes.reduce_add() as f64;
        self.lanes = V::splat(0.0);
        self.count = 0;
    }

    #[inline(always)]
    pub fn total(mut self) -> f64 {
        self.flush();
        self.total
    }
}

/// Kahan-compensated f32 sum of block partial sums: the outer level of the
/// kernels' two-level reduction (f32 lanes within a block of [`BLOCK`]
/// vectors, compensated across blocks). Error: at most `2u` relative to the
/// sum of magnitudes on top of the blocks' own error, at any length, and it
/// needs no f64 arithmetic (which is software on a Cortex-M4F).
#[derive(Default, Clone, Copy)]
pub(crate) struct Kahan {
    sum: f32,
    c: f32,
}

impl Kahan {
    #[inline(always)]
    pub fn add(&mut self, v: f32) {
        let y = v - self.c;
        let t = self.sum + y;
        self.c = (t - self.sum) - y;
        self.sum = t;
    }

    #[inline(always)]
    pub fn total(self) -> f32 {
        self.sum - self.c
    }
}
