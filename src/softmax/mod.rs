//! Multi-class losses over row-major logits: softmax cross-entropy
//! ([`SoftmaxCe`]), softmax focal loss ([`SoftmaxFocal`]), Poly-1
//! cross-entropy ([`SoftmaxPoly1`]) and the distribution focal loss
//! ([`Dfl`], with its two-hot targets and integral decoder); for
//! long-tailed classes, any of them on shifted logits ([`Shifted`]: the
//! logit-adjusted loss and balanced softmax [`LogitAdjusted`], [`Ldam`],
//! [`Seesaw`]) and the post-hoc logit adjustment ([`logit_offsets`],
//! [`post_hoc_argmax`]); with per-class
//! weights, per-row weights and mask, label smoothing, an ignore index and
//! the crate's reductions.
//!
//! A batch is `rows × C` logits `z`, row-major. Targets are class labels
//! ([`Targets::Labels`]: `u8`, `u16` or `u32`, see [`Labels`](crate::Labels))
//! or probability rows ([`Targets::Probs`], `rows × C`). Per-class weights,
//! when given, are the PyTorch `weight=` of `CrossEntropyLoss` (the "α per
//! class" of focal loss). Every call takes `(loss, logits, reduction,
//! outputs…)`; [`AnyLoss`] picks the loss at run time.
//!
//! ```
//! use tinyloss::softmax::{Rows, SoftmaxFocal, Target, Targets};
//! use tinyloss::Reduction;
//! let logits = [2.0, -1.0, 0.5, /* row 2 */ 0.1, 0.2, 3.0];
//! let labels = [0u8, 1];
//! let mut grad = [0.0; 6];
//! let focal = SoftmaxFocal::new(2.0)?;
//! let loss = Rows::new(3, Targets::from(&labels[..]))
//!     .with_class_weights(&[1.0, 2.0, 0.5])?
//!     .loss_grad(&focal, &logits, Reduction::Mean, &mut grad, None)?;
//! assert!(loss > 0.0 && grad[4] < 0.0);
//! // One row, unweighted: the per-row method of the loss.
//! let mut g = [0.0; 3];
//! let l0 = focal.loss_grad_row(&logits[..3], Target::Label(0), &mut g)?;
//! assert!(l0 > 0.0 && g[0] < 0.0);
//! # Ok::<(), tinyloss::Error>(())
//! ```
//!
//! # Layout
//!
//! `mod.rs` (this file) holds the entry points, `input.rs` the targets and
//! the [`Rows`] builder, `driver.rs` the one row driver (validation, weights,
//! ignore index and mask, reductions, saturation, SIMD tail, output modes),
//! `kernel.rs` the contract a loss implements, and `ce.rs` / `focal.rs` /
//! `poly.rs` one loss each; `dfl.rs` builds DFL's targets above the driver
//! and calls the cross-entropy; `shift.rs` runs a loss at shifted logits
//! (above the driver too), `adjust.rs`, `ldam.rs` and `seesaw.rs` one shift
//! each (`docs/architecture.md`).
//!
//! # Formulas
//!
//! Per row, with `m = max_j z_j`, `d_j = z_j - m ≤ 0`, `e_j = exp(d_j)`,
//! `S = Σ_j e_j`, `p_j = e_j / S` and `lse = m + ln S`:
//!
//! * **Cross-entropy**, label `t`, class weights `w` (all 1 when absent),
//!   smoothing ε (PyTorch's convention: the target becomes
//!   `y'_c = (1 - ε)·[c = t] + ε/C`):
//!   `ℓ = Σ_c w_c y'_c (lse - z_c) = (1 - ε) w_t (lse - z_t) + (ε/C) Σ_c w_c (lse - z_c)`,
//!   `∂ℓ/∂z_k = p_k Σ_c w_c y'_c - w_k y'_k`.
//!   Probability targets use the same formula with `y'_c = (1 - ε) y_c + ε/C`.
//! * **Focal**, γ ≥ 0, per class `u_c = 1 - p_c`, `CE_c = lse - z_c`:
//!   `ℓ = Σ_c w_c y'_c u_c^γ CE_c`, which for a hard label without smoothing is
//!   `w_t (1 - p_t)^γ (-ln p_t)` and for γ = 0 is the cross-entropy above.
//!   The gradient never evaluates `u^(γ-1)`: with
//!   `R_c = Σ_{j≠c} e_j` (so `u_c = R_c / S`) and
//!   `G_c = u_c^γ (u_c + γ p_c CE_c)`,
//!   `∂ℓ/∂z_k = -w_k y'_k G_k + e_k Σ_{c≠k} w_c y'_c G_c / R_c`;
//!   for a hard label that is `∂/∂z_t = -w_t G_t` and
//!   `∂/∂z_c = w_t G_t e_c / R_t` (`c ≠ t`), which sum to zero.
//! * **Distribution focal loss** (Li et al. 2020), `n` bins, target
//!   `y ∈ [0, n - 1]`: cross-entropy against the two-hot row
//!   `t_j = max(0, 1 - |j - y|)`, `∂ℓ/∂z = p - t`; decoded `ŷ = Σ_j j p_j`.
//! * **Poly-1**, ε ∈ [-1, 1e4] (Leng et al. 2022):
//!   `ℓ = Σ_c w_c y'_c (CE_c + ε u_c)`, for a label `CE + ε(1 - p_t)`;
//!   `∂ℓ/∂z_j = p_j (K + ε P) - k_j (1 + ε p_j)` with `k_c = w_c y'_c`,
//!   `K = Σ k`, `P = Σ_c k_c p_c` (for a label `(1 + ε p_t)(p - onehot)`).
//!
//! # Stability
//!
//! * Max shift: every exponent is `d_j ≤ 0`, evaluated by the crate's
//!   branch-free `exp_neg` (2 ULP); nothing overflows for any finite logits
//!   (`d` is clamped at `-f32::MAX`, so a row spanning more than `f32::MAX`
//!   gives a huge but finite per-row loss).
//! * `S = 1 + R` where `R` sums the exponentials of every entry *below* the
//!   maximum (plus one per extra tie), so `ln S = log1p(R)` keeps full
//!   relative accuracy when the row is confident: `CE_t = log1p(R) - d_t`,
//!   which for `t = argmax` is `log1p(R_t)`, and a loss of 1e-30 comes out as
//!   1e-30, not 0.
//! * `1 - p_t` is never formed: `u_t = R_t / S` with `R_t = R` when `t` is an
//!   argmax and `R_t = S - e_t ≥ S/2` otherwise (no cancellation).
//! * `u^γ` uses exact products for integer γ ≤ 8 and `exp(γ (ln R_t - ln S))`
//!   otherwise; `u = 0` gives 0 for γ > 0 without `ln 0`.
//! * Sums over classes go through lane-wise f32 blocks of 32 vectors whose
//!   partial sums are combined by Kahan summation, all in f32 (f64 is
//!   software on Cortex-M), so their error does not grow with `C`; sums over
//!   rows go through f32 blocks of 32 rows combined by the crate's one
//!   overflow-safe sum (see the crate docs' reduction rule).
//!
//! # Memory and speed
//!
//! No allocation and no class-count capacity: the kernels need one row of
//! scratch, and that is the gradient row they are about to write (or, for
//! [`Rows::loss`], a caller slice of length `C`). Everything is validated
//! before the first write, so on `Err` no output (and, for the in-place form,
//! no logit) has been touched.
//!
//! Rows are processed with the classes in the SIMD lanes (`wide::f32x8`, or
//! `f32x16` with AVX-512, on hosts), except for label targets without
//! smoothing and `C ≤ 64`, where one vector's worth of rows run side by side,
//! one per lane (a row of 10 classes would otherwise fill one and a quarter
//! vectors). On Cortex-M the lane type is
//! `f32` and label rows take a scalar loop that finds the arg-max with the
//! maximum (`docs/costs.md` has the instruction counts per core, next to a
//! naive port that takes the log of every probability); `docs/multiclass.md`
//! has the host times against a naive port (softmax, then `ln`, then the
//! gradient, in separate passes).
//!
//! # Error bounds
//!
//! Asserted by `tests/multiclass.rs` against f64 references over random rows
//! (|z| ≤ 30), extreme rows (±1e4, 1e30, equal logits, one dominant logit,
//! ties), C ∈ {2, 3, 10, 17, 50, 100, 1000}, γ ∈ [0, 5], with `u = 2^-24`
//! and `K = Σ_c w_c y'_c` (= `w_t` for a label without smoothing):
//!
//! | routine | loss ≥ 1e-3 (relative) | any loss (relative, or 1e-37 absolute) | gradient (absolute) |
//! |---|---|---|---|
//! | [`SoftmaxCe`] | `16u` | `96u` | `16u · K · scale` |
//! | [`SoftmaxFocal`] | `32u` | `256u` | `32u · (1 + γ) K · scale` |
//! | [`SoftmaxPoly1`] | `24u` of `CE + \|ε\| U` | `96u` of the same | `24u · (1 + \|ε\|) K · scale` |
//!
//! `scale` is the reduction's gradient factor (1, `1/n`, `1/Σ w_t`, `1/d`);
//! the reduced loss adds at most `2e-6` relative (blocked f32 sums). A class
//! term below f32's normal range (`e^d` for `d < -87`) keeps its subnormal
//! rounding, which a class weight then multiplies: with class weights the
//! loss floor is also `K · 2^-147`. With a
//! class weight `w_max ≥ 2^64` the weights are scaled by a power of two
//! below `1/w_max`, and a row's loss has the absolute floor
//! `2^-146 · w_max · max(1, ℓ₁)` as well, `ℓ₁` its loss without class
//! weights (a small weight's term next to a huge weight lands on f32's
//! subnormal grid there, or vanishes when the weight is more than `2^149`
//! below `w_max`, and an easy row's loss below `2^-126` rounds there before
//! its huge weight multiplies it). A subnormal class weight's
//! terms are rounded on that grid before the scale: the gradient adds up to
//! `4 · 2^-149 · scale` absolute (visible only under `MeanOver(d)` with a
//! tiny `d`). The wider
//! bound for tiny losses is the conditioning of `e^{d}`: `d = z_j - m` is
//! rounded to f32 (relative error `u`), which moves `e^{d}` by `|d|·u`
//! relative, and a loss of `e^{-85} ≈ 1e-37` has `|d| ≈ 85`; focal with a
//! non-integer γ adds `≈ 2γ|ln(1 - p_t)|·u` from `exp(γ ln u)`. Measured
//! worst cases: CE 5u / 33u, focal 18u / 65u, gradients below 6u.
mod adjust;
mod ce;
mod dfl;
mod driver;
mod focal;
mod input;
pub(crate) mod kernel;
mod ldam;
mod poly;
mod seesaw;
mod shift;

pub use adjust::{logit_offsets, post_hoc_adjust, post_hoc_argmax, LogitAdjusted, Offsets};
pub use ce::SoftmaxCe;
pub use dfl::{integral, integral_rows, two_hot, two_hot_rows, Dfl};
pub use focal::SoftmaxFocal;
pub use input::{Rows, Target, Targets};
#[doc(hidden)]
pub use kernel::{Body, RowKernel};
pub use ldam::{ldam_margins, Ldam, Margins};
pub use poly::SoftmaxPoly1;
pub use seesaw::{Seesaw, SeesawFactors};
pub use shift::{AnyShift, Shift, Shifted};

use crate::diagnostic::{Diagnostic, Observe};
use crate::lanes::Lane;
use crate::reduce::Reduction;
use crate::Error;
use driver::Out;
use kernel::{sealed, LabelRow, RowLoss, SoftRow};

/// A call of the driver, run once the loss is concrete ([`RowKernel::specialize`]).
struct Call<'c, 'o> {
    rows: &'c Rows<'c>,
    red: Reduction,
    out: Out<'o>,
    losses: Option<&'o mut [f32]>,
    obs: Option<&'o mut dyn Observe>,
}

impl Body for Call<'_, '_> {
    type Out = Result<f32, Error>;
    #[inline(always)]
    fn call<K: RowKernel>(self, k: &K) -> Result<f32, Error> {
        driver::call(k, self.rows, self.red, self.out, self.losses, self.obs)
    }
}

impl Rows<'_> {
    /// Loss and gradient in one pass per row: writes `∂L/∂z` of the reduced
    /// loss `L` into `grad` (`rows × C`), the per-row weighted losses (class
    /// and row weights applied, not divided by the reduction's normaliser; 0
    /// for dropped rows) into `losses` (`rows`) if given, and returns `L`.
    ///
    /// Reductions: `Sum` returns `Σ v_r ℓ_r` (gradient unscaled); `Mean`
    /// divides by `Σ w_{t_r}` over the rows that count (not ignored, not
    /// masked; the row count without class weights and for probability
    /// targets), and returns 0 with a zero gradient when that is 0 (PyTorch
    /// returns NaN); `MeanOver(d)` divides by `d`. Row weights `v_r` never
    /// enter the normaliser. Error bounds: see the [module docs](self).
    ///
    /// # Errors
    /// All checked before anything is written: [`Error::RaggedRows`] (`C < 2` or
    /// `logits.len() % C != 0`), [`Error::Empty`], [`Error::LengthMismatch`]
    /// (`"targets"`, `"class_weights"`, `"row_weights"`, `"ignore"`,
    /// `"grad"`, `"losses"`), [`Error::InvalidParameter`] (`"reduction"` for
    /// `MeanOverPositives`, `"normalizer"`), then per row in order:
    /// [`Error::LabelOutOfRange`], [`Error::NonFiniteInput`],
    /// [`Error::TargetOutOfRange`] (probability entry NaN or outside
    /// `[0, 1]`), each at the [`At::Row`](crate::At::Row) of the first bad
    /// row.
    pub fn loss_grad<L: SoftmaxLoss>(
        &self,
        loss: &L,
        logits: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        loss.specialize(Call {
            rows: self,
            red: reduction,
            out: Out::Split { z: logits, grad },
            losses,
            obs: None,
        })
    }

    /// [`Rows::loss_grad`] that also adds every row that counts to the
    /// easy-example [`Diagnostic`] `diag` in the same pass: its class
    /// probability `p_t` (one more `exp` per logit), group (negatives are
    /// the rows of [`Diagnostic::with_background`]'s class), weighted loss
    /// and the L1 norm of its gradient before the reduction's factor. The
    /// loss and the gradient are those of `loss_grad`, bit for bit; on `Err`
    /// nothing is written and `diag` is unchanged.
    ///
    /// # Errors
    /// As [`Rows::loss_grad`].
    pub fn loss_grad_diagnosed<L: SoftmaxLoss, const B: usize>(
        &self,
        loss: &L,
        logits: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
        diag: &mut Diagnostic<B>,
    ) -> Result<f32, Error> {
        loss.specialize(Call {
            rows: self,
            red: reduction,
            out: Out::Split { z: logits, grad },
            losses: None,
            obs: Some(diag),
        })
    }

    /// As [`Rows::loss_grad`], with the gradient written over the logits:
    /// saves a `rows × C` buffer. On `Err` the logits are untouched.
    ///
    /// # Errors
    /// As [`Rows::loss_grad`].
    pub fn loss_grad_in_place<L: SoftmaxLoss>(
        &self,
        loss: &L,
        logits_then_grad: &mut [f32],
        reduction: Reduction,
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        loss.specialize(Call {
            rows: self,
            red: reduction,
            out: Out::InPlace(logits_then_grad),
            losses,
            obs: None,
        })
    }

    /// The reduced loss alone (evaluation). `scratch` (length `≥ C`) holds one
    /// row of exponentials at a time; its contents afterwards are unspecified.
    ///
    /// # Errors
    /// As [`Rows::loss_grad`], plus [`Error::LengthMismatch`] (`"scratch"`)
    /// when `scratch.len() < C`.
    pub fn loss<L: SoftmaxLoss>(
        &self,
        loss: &L,
        logits: &[f32],
        reduction: Reduction,
        scratch: &mut [f32],
    ) -> Result<f32, Error> {
        loss.specialize(Call {
            rows: self,
            red: reduction,
            out: Out::Scratch {
                z: logits,
                row: scratch,
            },
            losses: None,
            obs: None,
        })
    }
}

/// A multi-class loss the row kernels accept: [`SoftmaxCe`],
/// [`SoftmaxFocal`], [`SoftmaxPoly1`] or [`AnyLoss`]. Sealed. Its method is the per-row API
/// for code generic over the loss (each loss also has it as an inherent
/// method, so no import is needed).
pub trait SoftmaxLoss: RowKernel + sealed::Sealed {
    /// Checked loss and gradient `∂ℓ/∂z` of one row of `C = logits.len()`
    /// logits, no class weights; see [`SoftmaxCe::loss_grad_row`].
    ///
    /// # Errors
    /// As [`Rows::loss_grad`], at row 0.
    fn loss_grad_row(
        &self,
        logits: &[f32],
        target: Target<'_>,
        grad: &mut [f32],
    ) -> Result<f32, Error>
    where
        Self: Sized,
    {
        loss_grad_row(self, logits, target, grad)
    }
}

impl<T: RowKernel + sealed::Sealed> SoftmaxLoss for T {}

/// Checked loss and gradient `∂ℓ/∂z` of one row (`C = logits.len()`), no
/// class weights: the per-row method of every loss.
fn loss_grad_row<L: SoftmaxLoss>(
    loss: &L,
    logits: &[f32],
    target: Target<'_>,
    grad: &mut [f32],
) -> Result<f32, Error> {
    let mut label = [0];
    let targets = target.one_row(&mut label);
    Rows::new(logits.len(), targets).loss_grad(loss, logits, Reduction::Sum, grad, None)
}

macro_rules! row_api {
    ($($t:ty),*) => {$(
        impl $t {
            /// Checked loss and gradient `∂ℓ/∂z` of one row of
            /// `C = logits.len()` logits (no class weights: for those, a
            /// one-row [`Rows`] with [`Reduction::Sum`]); returns the row
            /// loss `ℓ`, writes `grad` (length `C`). An ignored label gives
            /// `Ok(0.0)` and a zero gradient.
            ///
            /// # Errors
            /// As [`Rows::loss_grad`], at row 0.
            pub fn loss_grad_row(
                &self,
                logits: &[f32],
                target: Target<'_>,
                grad: &mut [f32],
            ) -> Result<f32, Error> {
                loss_grad_row(self, logits, target, grad)
            }
        }
    )*};
}
row_api!(SoftmaxCe, SoftmaxFocal, SoftmaxPoly1, AnyLoss);

/// A multi-class loss chosen at run time, so that training code is written
/// once for every loss: `AnyLoss::from(SoftmaxFocal::new(2.0)?)`. A call
/// dispatches once, then runs the chosen loss's own kernels (the same bits
/// as calling with that loss directly).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AnyLoss {
    /// Softmax cross-entropy.
    Ce(SoftmaxCe),
    /// Softmax focal loss.
    Focal(SoftmaxFocal),
    /// Poly-1 softmax cross-entropy.
    Poly1(SoftmaxPoly1),
}

impl From<SoftmaxCe> for AnyLoss {
    fn from(l: SoftmaxCe) -> Self {
        AnyLoss::Ce(l)
    }
}

impl From<SoftmaxFocal> for AnyLoss {
    fn from(l: SoftmaxFocal) -> Self {
        AnyLoss::Focal(l)
    }
}

impl From<SoftmaxPoly1> for AnyLoss {
    fn from(l: SoftmaxPoly1) -> Self {
        AnyLoss::Poly1(l)
    }
}

impl AnyLoss {
    /// The label-smoothing ε.
    pub fn smoothing(&self) -> f32 {
        RowKernel::smoothing(self)
    }

    /// The ignore index, if set.
    pub fn ignore_index(&self) -> Option<u32> {
        RowKernel::ignore_index(self)
    }

    /// The same loss with an ignore index (each loss's `with_ignore_index`).
    pub fn with_ignore_index(self, index: u32) -> Self {
        match self {
            AnyLoss::Ce(l) => l.with_ignore_index(index).into(),
            AnyLoss::Focal(l) => l.with_ignore_index(index).into(),
            AnyLoss::Poly1(l) => l.with_ignore_index(index).into(),
        }
    }
}

impl RowKernel for AnyLoss {
    #[inline(always)]
    fn specialize<B: Body>(&self, body: B) -> B::Out {
        match self {
            AnyLoss::Ce(l) => body.call(l),
            AnyLoss::Focal(l) => body.call(l),
            AnyLoss::Poly1(l) => body.call(l),
        }
    }
    fn options(&self) -> (f32, Option<u32>) {
        match self {
            AnyLoss::Ce(l) => l.options(),
            AnyLoss::Focal(l) => l.options(),
            AnyLoss::Poly1(l) => l.options(),
        }
    }
    // Reached only through `specialize`'s concrete kernels; kept for the
    // contract.
    fn label<V: Lane>(&self, st: &LabelRow<V>, w_t: V) -> (V, V, V) {
        match self {
            AnyLoss::Ce(l) => l.label(st, w_t),
            AnyLoss::Focal(l) => l.label(st, w_t),
            AnyLoss::Poly1(l) => l.label(st, w_t),
        }
    }
    fn soft(&self, row: &mut SoftRow<'_>) -> RowLoss {
        match self {
            AnyLoss::Ce(l) => l.soft(row),
            AnyLoss::Focal(l) => l.soft(row),
            AnyLoss::Poly1(l) => l.soft(row),
        }
    }
    fn grad_bound(&self) -> f32 {
        match self {
            AnyLoss::Ce(l) => l.grad_bound(),
            AnyLoss::Focal(l) => l.grad_bound(),
            AnyLoss::Poly1(l) => l.grad_bound(),
        }
    }
}

impl sealed::Sealed for AnyLoss {}
