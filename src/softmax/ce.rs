//! Softmax cross-entropy ([`SoftmaxCe`]).
//!
//! Legend (see [`kernel`](super::kernel)): `z` logits, `t` the label, `w_c`
//! class weights, `ε` smoothing, `y'_c = (1 - ε)[c = t] + ε/C` (or
//! `(1 - ε) y_c + ε/C` for probability targets), `k_c = w_c y'_c`,
//! `K = Σ_c k_c`, `lse = m + ln S`, `p = softmax(z)`, `u = 1 - p_t`.
//!
//! Formula: `ℓ = Σ_c k_c (lse - z_c)`, `∂ℓ/∂z_k = p_k K - k_k`; for a label
//! without smoothing `ℓ = w_t (lse - z_t)`, `∂ℓ/∂z_t = -w_t u`,
//! `∂ℓ/∂z_c = w_t p_c`.
//!
//! Bound: `|∂ℓ/∂z_k| ≤ K` (`p_k K ≤ K` and `k_k ≤ K`).

use super::kernel::{ce_label, ce_soft, sealed, LabelRow, RowKernel, RowLoss, SoftRow};
use crate::lanes::Lane;
use crate::power::check_smoothing;
use crate::Error;

/// Softmax cross-entropy (PyTorch's `CrossEntropyLoss`), validated once, `Copy`.
///
/// `ℓ = Σ_c w_c y'_c (lse(z) - z_c)` with `y'` the (smoothed) target
/// distribution; for a label `t` without smoothing `ℓ = w_t (lse(z) - z_t)`
/// and `∂ℓ/∂z = w_t (p - onehot(t))`. See the [module docs](super) for the
/// smoothed and probability-target forms and the error table: loss within
/// `16u` relative (`u = 2^-24`) for losses ≥ 1e-3, `96u` or `1e-37` absolute
/// below; gradient within `16u · Σ_c w_c y'_c` absolute (before the
/// reduction's scale).
///
/// **Cost** (label targets, C = 10, per logit, validation included;
/// `tools/costs`): Cortex-M4F 65.5 instructions (Cortex-M3 1,843 and Cortex-M0
/// 3,099 before the driver split, not re-measured). Host AVX-512 at C = 1000: about 0.8 ns per logit.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxCe {
    smoothing: f32,
    ignore_index: Option<u32>,
}

impl SoftmaxCe {
    /// Plain cross-entropy: no smoothing, no ignore index.
    pub const fn new() -> Self {
        SoftmaxCe {
            smoothing: 0.0,
            ignore_index: None,
        }
    }

    /// The same loss with label smoothing `epsilon`, 0 or in `[2^-126, 1]`
    /// (subnormal ε are refused) (PyTorch's `label_smoothing`): the target
    /// becomes `(1 - ε)·onehot + ε/C` (for probability targets
    /// `(1 - ε) y + ε/C`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"smoothing"`.
    pub fn with_smoothing(self, epsilon: f32) -> Result<Self, Error> {
        Ok(SoftmaxCe {
            smoothing: check_smoothing(epsilon)?,
            ..self
        })
    }

    /// The same loss with an ignore index (PyTorch's `ignore_index`; any value,
    /// also one `< C`): a row whose label equals it adds nothing to the loss,
    /// is not counted by [`Reduction::Mean`](crate::Reduction::Mean), gets a
    /// zero gradient row and a per-row loss of 0, and its logits are not
    /// validated. Applies to label targets only. Infallible.
    pub const fn with_ignore_index(self, index: u32) -> Self {
        SoftmaxCe {
            ignore_index: Some(index),
            ..self
        }
    }

    /// The label-smoothing ε.
    pub fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// The ignore index, if set.
    pub fn ignore_index(&self) -> Option<u32> {
        self.ignore_index
    }
}

impl RowKernel for SoftmaxCe {
    #[inline(always)]
    fn options(&self) -> (f32, Option<u32>) {
        (self.smoothing, self.ignore_index)
    }
    #[inline(always)]
    fn label<V: Lane>(&self, st: &LabelRow<V>, w_t: V) -> (V, V, V) {
        ce_label(st, w_t)
    }
    #[inline(always)]
    fn soft(&self, row: &mut SoftRow<'_>) -> RowLoss {
        ce_soft(row)
    }
    fn grad_bound(&self) -> f32 {
        1.0
    }
}

impl sealed::Sealed for SoftmaxCe {}
