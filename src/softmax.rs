//! Multi-class losses over row-major logits: softmax cross-entropy
//! ([`SoftmaxCe`]) and softmax focal loss ([`SoftmaxFocal`]), with per-class
//! weights, label smoothing, an ignore index and the crate's reductions.
//!
//! A batch is `rows × C` logits `z`, row-major. Targets are class labels
//! ([`Targets::Labels`], `u32`, or [`Targets::LabelsU16`]) or probability rows
//! ([`Targets::Probs`], `rows × C`). Per-class weights, when given, are the
//! PyTorch `weight=` of `CrossEntropyLoss` (the "α per class" of focal loss).
//!
//! ```
//! use tinyloss::softmax::{Rows, SoftmaxFocal, Targets};
//! use tinyloss::Reduction;
//! let logits = [2.0, -1.0, 0.5, /* row 2 */ 0.1, 0.2, 3.0];
//! let labels = [0u32, 1];
//! let mut grad = [0.0; 6];
//! let loss = Rows::new(3, Targets::Labels(&labels))
//!     .class_weights(&[1.0, 2.0, 0.5])?
//!     .loss_grad(&SoftmaxFocal::new(2.0)?, &logits, Reduction::Mean, &mut grad, None)?;
//! assert!(loss > 0.0 && grad[4] < 0.0);
//! # Ok::<(), tinyloss::Error>(())
//! ```
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
//!   The gradient never evaluates `u^(γ-1)` (anchors (b) 5): with
//!   `R_c = Σ_{j≠c} e_j` (so `u_c = R_c / S`) and
//!   `G_c = u_c^γ (u_c + γ p_c CE_c)`,
//!   `∂ℓ/∂z_k = -w_k y'_k G_k + e_k Σ_{c≠k} w_c y'_c G_c / R_c`;
//!   for a hard label that is `∂/∂z_t = -w_t G_t` and
//!   `∂/∂z_c = w_t G_t e_c / R_t` (`c ≠ t`), which sum to zero.
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
//! maximum: about 93 instructions per logit on a Cortex-M4F at `C = 10`
//! (QEMU, exact count), against 127 for a naive port that takes the log of
//! every probability. Measured against a naive port
//! (softmax, then `ln`, then the gradient, in separate passes) on 4096 rows
//! on an x86-64 host: 2.7× (CE) to 3.4× (focal) faster at `C = 10` and
//! 4.5× at `C = 1000` with the default SSE2 target, 5-6× and 10× with
//! `-C target-cpu=native` (AVX-512) (see `docs/multiclass.md`).
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
//!
//! `scale` is the reduction's gradient factor (1, `1/n`, `1/Σ w_t`, `1/d`);
//! the reduced loss adds at most `2e-6` relative (blocked f32 sums). The wider
//! bound for tiny losses is the conditioning of `e^{d}`: `d = z_j - m` is
//! rounded to f32 (relative error `u`), which moves `e^{d}` by `|d|·u`
//! relative, and a loss of `e^{-85} ≈ 1e-37` has `|d| ≈ 85`; focal with a
//! non-integer γ adds `≈ 2γ|ln(1 - p_t)|·u` from `exp(γ ln u)`. Measured
//! worst cases: CE 5u / 33u, focal 18u / 65u, gradients below 6u.

use crate::error::check_len;
use crate::lanes::{sat, Lane, Simd};
use crate::math::{exp_neg, ln, ln_one_minus, log1p_unit};
use crate::power::{check_smoothing, Power};
use crate::reduce::{Blocked, Reduction, Scale};
use crate::{At, Error};

/// Largest `C` for which label rows are processed `Simd::N` rows at a time
/// (one row per lane) rather than one row at a time (classes in the lanes).
const BLOCK_MAX_C: usize = 64;

/// Length of the column buffer of the row-block path.
const COLS: usize = if <Simd as Lane>::N > 1 {
    BLOCK_MAX_C
} else {
    1
};

/// Largest lane count of [`Simd`] (`wide::f32x8`); sizes the lane buffers.
const MAX_LANES: usize = 16;
const _: () = assert!(<Simd as Lane>::N <= MAX_LANES);

mod sealed {
    /// The validated options every multi-class loss reduces to.
    #[derive(Clone, Copy, Debug)]
    pub struct Cfg {
        pub(crate) eps: f32,
        pub(crate) ignore: Option<u32>,
        pub(crate) power: super::Power,
        pub(crate) gamma: f32,
    }

    pub trait Sealed {
        fn cfg(&self) -> Cfg;
    }
}
use sealed::Cfg;

/// A multi-class loss the row kernels accept: [`SoftmaxCe`] or
/// [`SoftmaxFocal`]. Sealed.
pub trait SoftmaxLoss: sealed::Sealed + Copy {}

/// Softmax cross-entropy (PyTorch's `CrossEntropyLoss`), validated once, `Copy`.
///
/// `ℓ = Σ_c w_c y'_c (lse(z) - z_c)` with `y'` the (smoothed) target
/// distribution; for a label `t` without smoothing `ℓ = w_t (lse(z) - z_t)`
/// and `∂ℓ/∂z = w_t (p - onehot(t))`. See the [module docs](self) for the
/// smoothed and probability-target forms and the error table: loss within
/// `16u` relative (`u = 2^-24`) for losses ≥ 1e-3, `96u` or `1e-37` absolute
/// below; gradient within `16u · Σ_c w_c y'_c` absolute (before the
/// reduction's scale).
///
/// **Cost** (label targets, C = 10, per logit, validation included;
/// `tools/costs`): Cortex-M4F 93 instructions, Cortex-M3 1,843, Cortex-M0
/// 3,099. Host AVX-512 at C = 1000: about 0.8 ns per logit.
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

    /// The same loss with label smoothing `epsilon`, 0 or in `[2^-126, 1]` (subnormal ε are refused) (PyTorch's
    /// `label_smoothing`): the target becomes `(1 - ε)·onehot + ε/C` (for
    /// probability targets `(1 - ε) y + ε/C`).
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
    /// is not counted by [`Reduction::Mean`], gets a zero gradient row and a
    /// per-row loss of 0, and its logits are not validated. Applies to label
    /// targets only. Infallible; returns `Self` directly.
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

    /// Checked loss and gradient of one row (`C = logits.len()`); see
    /// [`row_loss_grad`]. Returns the (weighted) row loss.
    ///
    /// # Errors
    /// As [`Rows::loss_grad`] (row index 0).
    pub fn loss_grad_row(
        &self,
        logits: &[f32],
        target: Target<'_>,
        weights: Option<&[f32]>,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        row_loss_grad(self, logits, target, weights, grad)
    }
}

impl sealed::Sealed for SoftmaxCe {
    fn cfg(&self) -> Cfg {
        Cfg {
            eps: self.smoothing,
            ignore: self.ignore_index,
            power: Power::Zero,
            gamma: 0.0,
        }
    }
}
impl SoftmaxLoss for SoftmaxCe {}

/// Softmax focal loss, validated once, `Copy`.
///
/// `ℓ = Σ_c w_c y'_c (1 - p_c)^γ (lse(z) - z_c)`; for a label `t` without
/// smoothing `ℓ = -w_t (1 - p_t)^γ ln p_t` (Lin et al. 2017, with the
/// per-class weights `w` as α per class, the mmcv `softmax_focal_loss` and
/// Keras `CategoricalFocalCrossentropy` form; Keras' scalar α is
/// `w_c = α` for all `c`). γ is any real `≥ 0`; γ = 0 runs the
/// cross-entropy kernel, so it equals [`SoftmaxCe`] bit for bit.
///
/// Gradient (label `t`, no smoothing), free of `(1-p_t)^(γ-1)`:
/// `∂ℓ/∂z_t = -w_t u^γ (u + γ p_t CE)`, `∂ℓ/∂z_c = w_t u^γ (u + γ p_t CE) e_c / R_t`
/// (`u = 1 - p_t = R_t/S`, `CE = -ln p_t`), bounded by `w_t (1 + γ/e)`.
///
/// Error bounds (γ ≤ 5, `u = 2^-24`): loss within `32u` relative for losses
/// ≥ 1e-3, `256u` or `1e-37` absolute below; gradient within
/// `32u·(1 + γ) Σ_c w_c y'_c` absolute (`32u·(1 + γ) w_t` for a label without
/// smoothing), before the reduction's scale.
///
/// **Cost** (label targets, γ = 2, C = 10, per logit; `tools/costs`):
/// Cortex-M4F 93 instructions, Cortex-M3 1,858, Cortex-M0 3,139. Host
/// AVX-512 at C = 1000: about 0.5 ns per logit.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxFocal {
    gamma: f32,
    smoothing: f32,
    ignore_index: Option<u32>,
    #[cfg_attr(feature = "defmt", defmt(Debug2Format))]
    power: Power,
}

impl SoftmaxFocal {
    /// Focal loss with focusing parameter `gamma` (finite, `≥ 0`), no
    /// smoothing, no ignore index.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"gamma"`.
    pub fn new(gamma: f32) -> Result<Self, Error> {
        let power = Power::of(gamma)?;
        Ok(SoftmaxFocal {
            gamma,
            smoothing: 0.0,
            ignore_index: None,
            power,
        })
    }

    /// The same loss with label smoothing `epsilon`, 0 or in `[2^-126, 1]` (subnormal ε are refused) (target
    /// `(1 - ε)·onehot + ε/C`; every class then carries a focal term).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"smoothing"`.
    pub fn with_smoothing(self, epsilon: f32) -> Result<Self, Error> {
        Ok(SoftmaxFocal {
            smoothing: check_smoothing(epsilon)?,
            ..self
        })
    }

    /// The same loss with an ignore index; see [`SoftmaxCe::with_ignore_index`].
    pub const fn with_ignore_index(self, index: u32) -> Self {
        SoftmaxFocal {
            ignore_index: Some(index),
            ..self
        }
    }

    /// The focusing parameter γ.
    pub fn gamma(&self) -> f32 {
        self.gamma
    }

    /// The label-smoothing ε.
    pub fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// The ignore index, if set.
    pub fn ignore_index(&self) -> Option<u32> {
        self.ignore_index
    }

    /// Checked loss and gradient of one row; see [`row_loss_grad`].
    ///
    /// # Errors
    /// As [`Rows::loss_grad`] (row index 0).
    pub fn loss_grad_row(
        &self,
        logits: &[f32],
        target: Target<'_>,
        weights: Option<&[f32]>,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        row_loss_grad(self, logits, target, weights, grad)
    }
}

impl sealed::Sealed for SoftmaxFocal {
    fn cfg(&self) -> Cfg {
        Cfg {
            eps: self.smoothing,
            ignore: self.ignore_index,
            power: self.power,
            gamma: self.gamma,
        }
    }
}
impl SoftmaxLoss for SoftmaxFocal {}

/// The targets of a batch of rows.
///
/// Labels are `u32` (the natural width for a class index on a 32-bit MCU,
/// any `C` fits, and `u32::MAX` makes a convenient ignore index), with a
/// `u16` variant for callers that store labels compactly (halves the label
/// buffer; `C ≤ 65536`).
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One class label per row (`< C`, or the ignore index).
    Labels(&'a [u32]),
    /// One class label per row, stored as `u16`.
    LabelsU16(&'a [u16]),
    /// One probability row per row (`rows × C`, each entry in `[0, 1]`; rows
    /// need not sum to 1, the loss is the weighted sum over classes).
    /// PyTorch's "class probabilities" target: the ignore index does not
    /// apply and [`Reduction::Mean`] divides by the number of rows.
    Probs(&'a [f32]),
}

/// The target of a single row, for the per-row API.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// A class label.
    Label(u32),
    /// A probability row of length `C`.
    Probs(&'a [f32]),
}

/// The targets (and optional class weights) a batch of logits is compared
/// with: build it once per batch, then call [`Rows::loss_grad`],
/// [`Rows::loss_grad_in_place`] or [`Rows::loss`] with the logits.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    classes: usize,
    targets: Targets<'a>,
    weights: Option<&'a [f32]>,
}

/// A row's target after the ignore check.
#[derive(Clone, Copy)]
enum Tgt<'a> {
    Ignored,
    Hard(usize),
    Soft(&'a [f32]),
}

impl<'a> Rows<'a> {
    /// Rows of `classes` logits (`C ≥ 2`) compared with `targets`.
    pub fn new(classes: usize, targets: Targets<'a>) -> Self {
        Rows {
            classes,
            targets,
            weights: None,
        }
    }

    /// Per-class weights `w_c` (PyTorch's `weight=`, α per class for focal):
    /// `w.len() == C`, each finite and `≥ 0`. They multiply the loss and
    /// gradient of every target class and, for [`Reduction::Mean`] with label
    /// targets, the mean divides by `Σ_rows w_{t_row}` over rows that are not
    /// ignored (PyTorch).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] (`"weights"`), [`Error::InvalidWeight`] with the
    /// class index of the first bad weight. Checked here, once.
    pub fn class_weights(self, weights: &'a [f32]) -> Result<Self, Error> {
        check_len("weights", self.classes, weights.len())?;
        if let Some(i) = weights.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::InvalidWeight { at: At::Class(i) });
        }
        Ok(Rows {
            weights: Some(weights),
            ..self
        })
    }

    /// Number of classes `C`.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Loss and gradient in one pass per row: writes `∂L/∂z` of the reduced
    /// loss `L` into `grad` (`rows × C`), the per-row weighted losses (not
    /// divided by the reduction's normaliser; 0 for ignored rows) into
    /// `losses` (`rows`) if given, and returns `L`.
    ///
    /// Reductions: `None`/`Sum` return `Σ ℓ_row` (gradient unscaled); `Mean`
    /// divides by `Σ w_{t_row}` over rows not ignored (the row count without
    /// weights; the row count for probability targets), and returns 0 with a
    /// zero gradient when that is 0 (PyTorch returns NaN); `MeanOver(d)`
    /// divides by `d`. Error bounds: see the [module docs](self).
    ///
    /// # Errors
    /// All checked before anything is written: [`Error::RaggedRows`] (`C < 2` or
    /// `logits.len() % C != 0`), [`Error::Empty`], [`Error::LengthMismatch`]
    /// (`"targets"`, `"grad"`, `"losses"`), [`Error::InvalidParameter`]
    /// (`"reduction"` for `MeanOverPositives`, `"normalizer"`), then per row
    /// in order: [`Error::LabelOutOfRange`], [`Error::NonFiniteInput`], [`Error::ProbabilityOutOfRange`],
    /// [`Error::TargetOutOfRange`] (probability entry NaN or outside
    /// `[0, 1]`), each with the index of the first bad row.
    pub fn loss_grad<L: SoftmaxLoss>(
        &self,
        loss: &L,
        logits: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        let cfg = loss.cfg();
        let plan = self.validate(&cfg, logits, reduction)?;
        check_len("grad", logits.len(), grad.len())?;
        if let Some(l) = &losses {
            check_len("losses", plan.rows, l.len())?;
        }
        Ok(self.run(&cfg, Some(logits), grad, true, plan, losses))
    }

    /// As [`Rows::loss_grad`], with the gradient written over the logits: saves
    /// a `rows × C` buffer. On `Err` the logits are untouched.
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
        let cfg = loss.cfg();
        let plan = self.validate(&cfg, logits_then_grad, reduction)?;
        if let Some(l) = &losses {
            check_len("losses", plan.rows, l.len())?;
        }
        Ok(self.run(&cfg, None, logits_then_grad, true, plan, losses))
    }

    /// The reduced loss alone (evaluation). `scratch` (length `≥ C`) holds one
    /// row of exponentials at a time; its contents afterwards are unspecified.
    /// Same checks as [`Rows::loss_grad`], plus [`Error::LengthMismatch`]
    /// (`"scratch"`) when `scratch.len() < C`.
    ///
    /// # Errors
    /// As [`Rows::loss_grad`].
    pub fn loss<L: SoftmaxLoss>(
        &self,
        loss: &L,
        logits: &[f32],
        reduction: Reduction,
        scratch: &mut [f32],
    ) -> Result<f32, Error> {
        let cfg = loss.cfg();
        let plan = self.validate(&cfg, logits, reduction)?;
        if scratch.len() < self.classes {
            return Err(Error::LengthMismatch {
                what: "scratch",
                expected: self.classes,
                found: scratch.len(),
            });
        }
        let c = self.classes;
        Ok(self.run(&cfg, Some(logits), &mut scratch[..c], false, plan, None))
    }

    /// The label of row `r` (label targets only).
    #[inline(always)]
    fn label(&self, r: usize) -> Option<u32> {
        match self.targets {
            Targets::Labels(l) => Some(l[r]),
            Targets::LabelsU16(l) => Some(l[r] as u32),
            Targets::Probs(_) => None,
        }
    }

    #[inline(always)]
    fn target(&self, cfg: &Cfg, r: usize) -> Tgt<'a> {
        let c = self.classes;
        match self.targets {
            Targets::Probs(p) => Tgt::Soft(&p[r * c..(r + 1) * c]),
            _ => {
                let t = self.label(r).unwrap_or(0);
                if cfg.ignore == Some(t) {
                    Tgt::Ignored
                } else {
                    Tgt::Hard(t as usize)
                }
            }
        }
    }

    /// Checks shapes, parameters and data; returns the row count, the
    /// reduction's factor and the class weights' power-of-two scale.
    fn validate(&self, cfg: &Cfg, logits: &[f32], red: Reduction) -> Result<Plan, Error> {
        let c = self.classes;
        if c < 2 || logits.len() / c * c != logits.len() {
            return Err(Error::RaggedRows {
                len: logits.len(),
                classes: c,
            });
        }
        if logits.is_empty() {
            return Err(Error::Empty);
        }
        let n = logits.len() / c;
        match self.targets {
            Targets::Labels(l) => check_len("targets", n, l.len())?,
            Targets::LabelsU16(l) => check_len("targets", n, l.len())?,
            Targets::Probs(p) => check_len("targets", n * c, p.len())?,
        }
        if let Some(w) = self.weights {
            check_len("weights", c, w.len())?;
        }
        if red == Reduction::MeanOverPositives {
            return Err(Error::InvalidParameter { name: "reduction" });
        }
        red.validate()?;
        // Fast scans of the whole batch (branch-free over the logits, one
        // compare per label); rows are examined one by one only when a scan
        // finds something, to report the first bad row.
        let z_ok = all_finite(logits);
        // Σ w_t is only needed by a class-weighted `Mean` of labels.
        let w_mean = match (red, self.targets) {
            (Reduction::Mean, Targets::Labels(_) | Targets::LabelsU16(_)) => self.weights,
            _ => None,
        };
        let (kept, wsum, t_ok) = match self.targets {
            Targets::Labels(l) => scan_labels(l.iter().copied(), c, cfg.ignore, w_mean),
            Targets::LabelsU16(l) => {
                scan_labels(l.iter().map(|&t| t as u32), c, cfg.ignore, w_mean)
            }
            Targets::Probs(p) => (n, WeightSum::default(), all_probs(p)),
        };
        if !(z_ok && t_ok) {
            self.first_bad_row(cfg, logits)?;
        }
        let (denom, wscale) = match red {
            Reduction::Sum => (1.0, 1.0),
            Reduction::MeanOver(d) => (d, 1.0),
            _ => match w_mean {
                Some(_) => wsum.normalised(),
                None => (kept as f32, 1.0),
            },
        };
        Ok(Plan {
            rows: n,
            scale: Scale::of(denom),
            wscale,
        })
    }

    /// The per-row checks, in row order: the first bad row's error, or `Ok`
    /// when the only bad values are in ignored rows.
    #[cold]
    fn first_bad_row(&self, cfg: &Cfg, logits: &[f32]) -> Result<(), Error> {
        let c = self.classes;
        for r in 0..logits.len() / c {
            let z = &logits[r * c..(r + 1) * c];
            match self.target(cfg, r) {
                Tgt::Ignored => {}
                Tgt::Hard(t) => {
                    if t >= c {
                        return Err(Error::LabelOutOfRange { at: At::Row(r) });
                    }
                    if !all_finite(z) {
                        return Err(Error::NonFiniteInput { at: At::Row(r) });
                    }
                }
                Tgt::Soft(y) => {
                    if !all_finite(z) {
                        return Err(Error::NonFiniteInput { at: At::Row(r) });
                    }
                    if !all_probs(y) {
                        return Err(Error::TargetOutOfRange { at: At::Row(r) });
                    }
                }
            }
        }
        Ok(())
    }

    /// The pass over rows; everything is validated. `out` is `rows × C` when
    /// `grad`, else one row of scratch. With `logits == None`, `out` holds the
    /// logits on entry (in place).
    fn run(
        &self,
        cfg: &Cfg,
        logits: Option<&[f32]>,
        out: &mut [f32],
        grad: bool,
        plan: Plan,
        mut losses: Option<&mut [f32]>,
    ) -> f32 {
        let c = self.classes;
        let n = match logits {
            Some(z) => z.len() / c,
            None => out.len() / c,
        };
        let k = Kernel {
            power: cfg.power,
            gamma: cfg.gamma,
            eps: cfg.eps,
            weights: self.weights,
            wscale: plan.wscale,
            scale: plan.scale.pass(),
            grad,
        };
        // The per-row losses the caller sees are not scaled by `wscale`.
        let unscale = 1.0 / plan.wscale;
        let mut acc = Blocked::default();
        // Small C, label targets without smoothing: lanes across rows.
        let blocked = grad
            && Simd::N > 1
            && c <= BLOCK_MAX_C
            && cfg.eps == 0.0
            && !matches!(self.targets, Targets::Probs(_));
        // Columns of one block of rows (allocated once per call; a single
        // element where the block path is compiled out).
        let mut cols = [Simd::splat(0.0); COLS];
        let mut r = 0;
        while r < n {
            if blocked && r + Simd::N <= n {
                let mut ts = [0usize; MAX_LANES];
                let mut all = true;
                for (l, t) in ts[..Simd::N].iter_mut().enumerate() {
                    match self.target(cfg, r + l) {
                        Tgt::Hard(h) => *t = h,
                        _ => all = false,
                    }
                }
                if all {
                    let n8 = Simd::N;
                    let src: &[f32] = match logits {
                        Some(z) => &z[r * c..(r + n8) * c],
                        None => &out[r * c..(r + n8) * c],
                    };
                    let mut b = [0.0f32; MAX_LANES];
                    for (j, col) in cols[..c].iter_mut().enumerate() {
                        for (l, v) in b[..n8].iter_mut().enumerate() {
                            *v = src[l * c + j];
                        }
                        *col = Simd::load(&b[..n8]);
                    }
                    for (l, v) in b[..n8].iter_mut().enumerate() {
                        *v = src[l * c + ts[l]];
                    }
                    let z_t = Simd::load(&b[..n8]);
                    let w_t = match self.weights {
                        Some(w) => {
                            for (l, v) in b[..n8].iter_mut().enumerate() {
                                *v = w[ts[l]] * plan.wscale;
                            }
                            Simd::load(&b[..n8])
                        }
                        None => Simd::splat(1.0),
                    };
                    let (lv, gt) = k.hard_block::<Simd>(&mut cols[..c], z_t, w_t);
                    let blk = &mut out[r * c..(r + n8) * c];
                    for (j, col) in cols[..c].iter().enumerate() {
                        col.store(&mut b[..n8]);
                        for (l, &v) in b[..n8].iter().enumerate() {
                            blk[l * c + j] = v;
                        }
                    }
                    gt.store(&mut b[..n8]);
                    for (l, &v) in b[..n8].iter().enumerate() {
                        blk[l * c + ts[l]] = v;
                    }
                    let mut lb = [0.0f32; MAX_LANES];
                    lv.store(&mut lb[..n8]);
                    for (l, &v) in lb[..n8].iter().enumerate() {
                        acc.add(v);
                        if let Some(ls) = losses.as_deref_mut() {
                            ls[r + l] = sat(v * unscale);
                        }
                    }
                    r += Simd::N;
                    continue;
                }
            }
            let row: &mut [f32] = if grad {
                &mut out[r * c..(r + 1) * c]
            } else {
                &mut out[..c]
            };
            let l = match self.target(cfg, r) {
                Tgt::Ignored => {
                    if grad {
                        row.fill(0.0);
                    }
                    0.0
                }
                t => k.row(row, logits.map(|z| &z[r * c..(r + 1) * c]), t),
            };
            acc.add(l);
            if let Some(ls) = losses.as_deref_mut() {
                ls[r] = sat(l * unscale);
            }
            r += 1;
        }
        if plan.scale == Scale::of(0.0) {
            // `Mean` over nothing (every row ignored, or Σ w_t = 0): 0, and a
            // zero gradient (not ∞ · 0 where a row loss overflowed).
            if grad {
                out.fill(0.0);
            }
            return 0.0;
        }
        if grad && plan.scale.needs_up() {
            plan.scale.scale_up(out);
        }
        acc.total().scaled(plan.scale)
    }
}

/// Loss and gradient of a batch with label or probability targets, no class
/// weights: shorthand for `Rows::new(classes, targets).loss_grad(loss,
/// logits, reduction, grad, None)`.
///
/// # Errors
/// As [`Rows::loss_grad`].
pub fn loss_grad<L: SoftmaxLoss>(
    loss: &L,
    logits: &[f32],
    classes: usize,
    targets: Targets<'_>,
    reduction: Reduction,
    grad: &mut [f32],
) -> Result<f32, Error> {
    Rows::new(classes, targets).loss_grad(loss, logits, reduction, grad, None)
}

/// Checked loss and gradient `∂ℓ/∂z` of one row of `C = logits.len()` logits,
/// with optional class weights; returns the (weighted) row loss `ℓ`, writes
/// `grad` (length `C`). An ignored label gives `Ok(0.0)` and a zero gradient.
///
/// # Errors
/// As [`Rows::loss_grad`] with row index 0, plus the weight checks of
/// [`Rows::class_weights`].
pub fn row_loss_grad<L: SoftmaxLoss>(
    loss: &L,
    logits: &[f32],
    target: Target<'_>,
    weights: Option<&[f32]>,
    grad: &mut [f32],
) -> Result<f32, Error> {
    let label;
    let targets = match target {
        Target::Label(t) => {
            label = [t];
            Targets::Labels(&label)
        }
        Target::Probs(p) => Targets::Probs(p),
    };
    let mut rows = Rows::new(logits.len(), targets);
    if let Some(w) = weights {
        rows = rows.class_weights(w)?;
    }
    rows.loss_grad(loss, logits, Reduction::Sum, grad, None)
}

#[inline]
fn all_finite(z: &[f32]) -> bool {
    let mut bad = 0u32;
    for x in z {
        bad |= (x.to_bits() & 0x7f80_0000 == 0x7f80_0000) as u32;
    }
    bad == 0
}

/// Every entry in `[0, 1]` (NaN fails).
#[inline]
fn all_probs(y: &[f32]) -> bool {
    let mut ok = true;
    for v in y {
        ok &= (0.0..=1.0).contains(v);
    }
    ok
}

/// What validation hands to the row pass.
#[derive(Clone, Copy, Debug)]
struct Plan {
    rows: usize,
    /// The reduction's factor (`1/rows`, `1/Σ w_t`, `1/d`, ...).
    scale: Scale,
    /// A power of two the class weights are multiplied by (1 but for a
    /// class-weighted `Mean`, where it brings the largest target weight to
    /// `[1/2, 1)`: `Σ w_t ℓ / Σ w_t` does not depend on it, and neither the
    /// weighted row losses nor `Σ w_t` can underflow or overflow).
    wscale: f32,
}

/// `Σ w_t` over the kept rows (overflow-safe) and the largest `w_t`.
#[derive(Default, Clone, Copy)]
struct WeightSum {
    total: Blocked,
    max_bits: u32,
}

impl WeightSum {
    #[inline(always)]
    fn add(&mut self, w: f32) {
        // Non-negative floats order like their bits.
        self.max_bits = self.max_bits.max(w.to_bits());
        self.total.add(w);
    }

    /// `(Σ w_t · 2^-E, 2^-E)` with `2^E` the power of two just above the
    /// largest `w_t` (E clamped to `[-126, 126]`), so every scaled weight is
    /// below 1 and `w_t ℓ` cannot overflow where `ℓ` does not (for weights
    /// up to `2^126`; above, the clamp leaves them below 4); `(0, 1)` when
    /// every target weight is 0.
    fn normalised(self) -> (f32, f32) {
        if self.max_bits == 0 {
            return (0.0, 1.0);
        }
        let e = ((self.max_bits >> 23) as i32 - 126).clamp(-126, 126);
        let ws = f32::from_bits(((127 - e) as u32) << 23);
        let inv = f32::from_bits(((127 + e) as u32) << 23);
        (self.total.total().scaled(Scale::of(inv)), ws)
    }
}

/// One pass over the labels: `(rows not ignored, Σ w_t over them when
/// `weights` are given, all labels valid)`.
#[inline(always)]
fn scan_labels(
    labels: impl Iterator<Item = u32>,
    c: usize,
    ignore: Option<u32>,
    weights: Option<&[f32]>,
) -> (usize, WeightSum, bool) {
    let mut kept = 0usize;
    let mut ok = true;
    let mut wsum = WeightSum::default();
    for t in labels {
        if ignore == Some(t) {
            continue;
        }
        let valid = (t as usize) < c;
        ok &= valid;
        kept += 1;
        if let (Some(w), true) = (weights, valid) {
            wsum.add(w[t as usize]);
        }
    }
    (kept, wsum, ok)
}

/// `ln u` for `u = 1 - p = r / S` (`r > 0`), accurate to a few ULP at both
/// ends: `ln(1 - p)` while `p ≤ 1/2` (where `ln r - ln S` would cancel), and
/// `ln r - ln S` beyond.
#[inline(always)]
fn ln_u<V: Lane>(p: V, r: V, ln_s: V) -> V {
    let half = V::splat(0.5);
    let one = V::splat(1.0);
    let small = half.ge(p);
    let pos = r.gt(V::splat(0.0));
    V::select(
        small,
        ln_one_minus(p.min(half)),
        ln(V::select(pos, r, one)) - ln_s,
    )
}

/// `ln(1 + r)` for `r ≥ 0`, full relative accuracy for small `r`.
#[inline(always)]
fn log1p_pos(r: f32) -> f32 {
    if r <= 1.0 {
        log1p_unit(r)
    } else {
        ln(1.0 + r)
    }
}

/// `u^γ` for `u ∈ [0, 1]`; `ln_u` is called on the real-γ path only and must
/// return `ln u` (≤ 0) where `u > 0`; `u = 0` gives 0.
#[inline(always)]
fn power<V: Lane>(p: Power, gamma: f32, u: V, ln_u: impl FnOnce() -> V) -> V {
    match p {
        Power::Zero => V::splat(1.0),
        Power::One => u,
        Power::Two => u * u,
        Power::Int(n) => {
            let mut r = u;
            for _ in 1..n {
                r = r * u;
            }
            r
        }
        Power::Real => {
            let zero = V::splat(0.0);
            let v = exp_neg(V::splat(gamma) * ln_u().min(zero));
            V::select(u.gt(zero), v, zero)
        }
    }
}

/// Lane-wise `w_c y'_c`: the weighted (smoothed) target of classes
/// `i .. i + V::N`.
#[derive(Clone, Copy)]
struct SoftGen<'a> {
    weights: Option<&'a [f32]>,
    /// Probability row, or `None` for a hard label `t` (one-hot).
    y: Option<&'a [f32]>,
    t: usize,
    /// `1 - ε` and `ε / C`.
    a: f32,
    b: f32,
}

impl SoftGen<'_> {
    #[inline(always)]
    fn at<V: Lane>(&self, i: usize) -> V {
        let yv = match self.y {
            Some(y) => V::load(&y[i..i + V::N]).mul_add(V::splat(self.a), V::splat(self.b)),
            None => {
                let v = V::splat(self.b);
                if self.t >= i && self.t < i + V::N {
                    let mut buf = [0.0f32; MAX_LANES];
                    buf[self.t - i] = self.a;
                    v + V::load(&buf[..V::N])
                } else {
                    v
                }
            }
        };
        match self.weights {
            Some(w) => yv * V::load(&w[i..i + V::N]),
            None => yv,
        }
    }
}

/// Blocked sum over the classes of a row, all in f32 (f64 is software on
/// Cortex-M): lanes of f32 for 32 vectors at a time (relative error at most
/// `31u` per block), the block partials combined by Kahan summation (`2u`),
/// so the bound does not grow with `C`.
struct ClassSum<V> {
    lanes: V,
    count: u32,
    hi: f32,
    lo: f32,
}

impl<V: Lane> ClassSum<V> {
    #[inline(always)]
    fn new() -> Self {
        ClassSum {
            lanes: V::splat(0.0),
            count: 0,
            hi: 0.0,
            lo: 0.0,
        }
    }

    #[inline(always)]
    fn add(&mut self, v: V) {
        self.lanes = self.lanes + v;
        self.count += 1;
        if self.count == 32 {
            self.flush();
        }
    }

    /// Adds a partial sum computed elsewhere (Kahan step).
    #[inline(always)]
    fn add_partial(&mut self, x: f32) {
        let y = x - self.lo;
        let t = self.hi + y;
        // An overflowed sum stays ∞ (the compensation would be NaN).
        self.lo = if t.is_finite() {
            (t - self.hi) - y
        } else {
            0.0
        };
        self.hi = t;
    }

    #[inline(always)]
    fn flush(&mut self) {
        let y = self.lanes.reduce_add() - self.lo;
        let t = self.hi + y;
        self.lo = if t.is_finite() {
            (t - self.hi) - y
        } else {
            0.0
        };
        self.hi = t;
        self.lanes = V::splat(0.0);
        self.count = 0;
    }

    #[inline(always)]
    fn total(mut self) -> f32 {
        if self.count > 0 {
            self.flush();
        }
        self.hi - self.lo
    }
}

/// Lane-wise partial sums of one pass over a row.
struct Sums<V> {
    /// `Σ e_j` over entries below the max.
    r: ClassSum<V>,
    /// Number of entries equal to the max.
    ties: V,
    /// `Σ k_j d_j` and `Σ k_j` for a coefficient `k` (soft cross-entropy).
    kd: ClassSum<V>,
    k: ClassSum<V>,
}

impl<V: Lane> Sums<V> {
    #[inline(always)]
    fn new() -> Self {
        Sums {
            r: ClassSum::new(),
            ties: V::splat(0.0),
            kd: ClassSum::new(),
            k: ClassSum::new(),
        }
    }
}

/// The exponential pass over `row[lo..hi]` (`hi - lo` a multiple of `V::N`):
/// `d = max(z - m, -MAX)` with `z` read from `src` (or from `row` itself),
/// `e = exp(d)`; stores `e` (or `d` when `keep_d`) into `row`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn exp_pass<V: Lane>(
    row: &mut [f32],
    src: Option<&[f32]>,
    lo: usize,
    hi: usize,
    m: f32,
    keep_d: bool,
    coef: Option<&SoftGen<'_>>,
    s: &mut Sums<V>,
) {
    let zero = V::splat(0.0);
    let one = V::splat(1.0);
    let mv = V::splat(m);
    let floor = V::splat(-f32::MAX);
    let mut i = lo;
    while i < hi {
        let z = match src {
            Some(s) => V::load(&s[i..i + V::N]),
            None => V::load(&row[i..i + V::N]),
        };
        let d = (z - mv).max(floor);
        let e = exp_neg(d);
        let top = d.eq(zero);
        s.r.add(V::select(top, zero, e));
        s.ties = s.ties + V::select(top, one, zero);
        if let Some(g) = coef {
            let k: V = g.at(i);
            s.kd.add(V::select(k.eq(zero), zero, k * d));
            s.k.add(k);
        }
        let out = if keep_d { d } else { e };
        out.store(&mut row[i..i + V::N]);
        i += V::N;
    }
}

/// `row[lo..hi] = (e · a - k) · scale` with `e` read from the row and `k`
/// from `sub` (0 without).
#[inline(always)]
fn grad_pass<V: Lane>(
    row: &mut [f32],
    lo: usize,
    hi: usize,
    a: f32,
    sub: Option<&SoftGen<'_>>,
    scale: f32,
) {
    let sv = V::splat(scale);
    let mut i = lo;
    match sub {
        None => {
            // `e ≤ 1` and `a · scale` saturated: no ∞ · 0.
            let av = V::splat(sat(a * scale));
            while i < hi {
                let e = V::load(&row[i..i + V::N]);
                (e * av).store(&mut row[i..i + V::N]);
                i += V::N;
            }
        }
        Some(s) => {
            // Scale last: `e · a - k` is finite for finite `a` and `k`.
            let av = V::splat(a);
            while i < hi {
                let e = V::load(&row[i..i + V::N]);
                let k: V = s.at(i);
                (e.mul_add(av, -k) * sv).store(&mut row[i..i + V::N]);
                i += V::N;
            }
        }
    }
}

/// Per-row constants of the soft focal passes.
#[derive(Clone, Copy)]
struct FocalRow {
    s: f32,
    inv_s: f32,
    ln_s: f32,
    r_max: f32,
}

/// The per-class focal quantities for `row[i..]` holding `d`: returns
/// `(e, k, pw·ce, hr, G)` with `hr = u^γ (1/S + γ p CE / R)` and
/// `G = u^γ (u + γ p CE)`.
#[inline(always)]
fn focal_lanes<V: Lane>(
    k: &Kernel<'_>,
    f: &FocalRow,
    gen: &SoftGen<'_>,
    row: &[f32],
    i: usize,
) -> (V, V, V, V, V) {
    let zero = V::splat(0.0);
    let one = V::splat(1.0);
    let d = V::load(&row[i..i + V::N]);
    let e = exp_neg(d);
    let top = d.eq(zero);
    let r = V::select(top, V::splat(f.r_max), V::splat(f.s) - e);
    let inv_s = V::splat(f.inv_s);
    let u = r * inv_s;
    let p = e * inv_s;
    let ce = V::splat(f.ln_s) - d;
    let ln_s = V::splat(f.ln_s);
    let r0 = r.eq(zero);
    let pw = power(k.power, k.gamma, u, || ln_u(p, r, ln_s));
    let g = V::splat(k.gamma);
    let pce = V::select(e.eq(zero), zero, p * ce);
    // (u^γ γ) first, and saturated, as in `Kernel::hard_finish`.
    let pg = pw * g;
    let hr = V::select(
        r0,
        zero,
        sat(pg * (pce / V::select(r0, one, r)) + pw * inv_s),
    );
    let big_g = sat(pg.mul_add(pce, pw * u));
    let kk: V = gen.at(i);
    let lce = V::select(kk.eq(zero), zero, kk * (pw * ce));
    (e, kk, lce, hr, big_g)
}

/// The per-call constants of the row kernel.
struct Kernel<'a> {
    power: Power,
    gamma: f32,
    eps: f32,
    weights: Option<&'a [f32]>,
    /// Power-of-two factor of the class weights (see [`Plan::wscale`]).
    wscale: f32,
    scale: f32,
    grad: bool,
}

impl Kernel<'_> {
    /// One row: the logits are `src`, or `row` itself when `src` is `None`;
    /// `row` holds the scaled gradient on exit (when `self.grad`); returns
    /// the weighted row loss.
    #[inline(always)]
    fn row(&self, row: &mut [f32], src: Option<&[f32]>, tgt: Tgt<'_>) -> f32 {
        let c = row.len();
        let (t, y) = match tgt {
            Tgt::Hard(t) => (t, None),
            Tgt::Soft(y) => (usize::MAX, Some(y)),
            Tgt::Ignored => return 0.0,
        };
        let soft = y.is_some() || self.eps > 0.0;
        if !soft && (Simd::N == 1 || c < 2 * Simd::N) {
            return self.hard_scalar(row, src, t);
        }
        let main = c / Simd::N * Simd::N;
        let m = row_max(src.unwrap_or(row), main);
        let gen = SoftGen {
            weights: self.weights,
            y,
            t,
            a: (1.0 - self.eps) * self.wscale,
            b: self.eps / c as f32 * self.wscale,
        };
        if !soft {
            // Unreachable where the lane type is `f32` (Cortex-M).
            return self.hard(row, src, main, m, t);
        }
        if self.power == Power::Zero {
            self.soft_ce(row, src, main, m, &gen)
        } else {
            self.soft_focal(row, src, main, m, &gen)
        }
    }

    /// Label target, no smoothing: cross-entropy and focal.
    #[inline(always)]
    fn hard(&self, row: &mut [f32], src: Option<&[f32]>, main: usize, m: f32, t: usize) -> f32 {
        let c = row.len();
        let z_t = src.map_or(row[t], |s| s[t]);
        let mut s1 = Sums::<Simd>::new();
        let mut s2 = Sums::<f32>::new();
        exp_pass(row, src, 0, main, m, false, None, &mut s1);
        if Simd::N > 1 {
            exp_pass(row, src, main, c, m, false, None, &mut s2);
        }
        let ties = s1.ties.reduce_add() + s2.ties;
        let r_max = (s1.r.total() + s2.r.total()) + (ties - 1.0);
        let d_t = Lane::max(z_t - m, -f32::MAX);
        // `row[t]` holds e_t = exp(d_t) (1 when t is a maximum).
        self.hard_finish(row, main, t, r_max, d_t)
    }

    /// [`Kernel::hard`] for short rows and scalar targets (Cortex-M): the
    /// first arg-max `a` is found with the maximum, so `R = Σ_{j≠a} e_j`
    /// needs no per-entry test (other maxima add `e = 1` each, as they
    /// should).
    #[inline(always)]
    fn hard_scalar(&self, row: &mut [f32], src: Option<&[f32]>, t: usize) -> f32 {
        let c = row.len();
        let (m, a) = {
            let zs: &[f32] = src.unwrap_or(row);
            let mut m = zs[0];
            let mut a = 0;
            for (j, &v) in zs.iter().enumerate().skip(1) {
                if v > m {
                    m = v;
                    a = j;
                }
            }
            (m, a)
        };
        let z_t = src.map_or(row[t], |s| s[t]);
        let mut sum = ClassSum::<f32>::new();
        // Blocks of 32 terms summed in f32, combined by Kahan (as `ClassSum`).
        let mut pass = |lo: usize, hi: usize, row: &mut [f32]| {
            let mut b = lo;
            while b < hi {
                let end = hi.min(b + 32);
                let mut part = 0.0f32;
                match src {
                    Some(s) => {
                        for (o, &z) in row[b..end].iter_mut().zip(&s[b..end]) {
                            let e = exp_neg(z - m);
                            *o = e;
                            part += e;
                        }
                    }
                    None => {
                        for o in row[b..end].iter_mut() {
                            let e = exp_neg(*o - m);
                            *o = e;
                            part += e;
                        }
                    }
                }
                sum.add_partial(part);
                b = end;
            }
        };
        pass(0, a, row);
        pass(a + 1, c, row);
        row[a] = 1.0;
        let r_max = sum.total();
        let d_t = Lane::max(z_t - m, -f32::MAX);
        self.hard_finish(row, 0, t, r_max, d_t)
    }

    /// The rest of a label row once `row` holds `e_j` and
    /// `R = Σ_j e_j - 1` is known: loss, and the gradient over `row`
    /// (`row[..main]` in lanes, the rest scalar).
    #[inline(always)]
    fn hard_finish(&self, row: &mut [f32], main: usize, t: usize, r_max: f32, d_t: f32) -> f32 {
        let c = row.len();
        let s = 1.0 + r_max;
        let ln_s = log1p_pos(r_max);
        let top = d_t == 0.0;
        let e_t = row[t];
        let r_t = if top { r_max } else { s - e_t };
        let u = r_t / s;
        let p_t = e_t / s;
        let ce = ln_s - d_t;
        let pw = power(self.power, self.gamma, u, || ln_u(p_t, r_t, ln_s));
        let w_t = self.weights.map_or(1.0, |w| w[t] * self.wscale);
        let pce = if e_t == 0.0 { 0.0 } else { p_t * ce };
        let loss = if w_t == 0.0 { 0.0 } else { w_t * (pw * ce) };
        if self.grad {
            // (u^γ γ) first: γ may be huge only where u^γ is 0. Saturated,
            // so that an overflow (class weights near f32::MAX) never meets a
            // zero as ∞ · 0.
            let pg = pw * self.gamma;
            let g_t = sat(-w_t * pg.mul_add(pce, pw * u));
            let coef = if r_t == 0.0 {
                0.0
            } else {
                sat(w_t * (pg * (pce / r_t) + pw / s))
            };
            if Simd::N > 1 {
                grad_pass::<Simd>(row, 0, main, coef, None, self.scale);
            }
            grad_pass::<f32>(row, main, c, coef, None, self.scale);
            row[t] = g_t * self.scale;
        }
        loss
    }

    /// `V::N` rows at once, one row per lane (label targets, no smoothing,
    /// small `C`): the same arithmetic as [`Kernel::hard`] with the class
    /// loop outside and the rows in the lanes. `cols[j]` holds logit `j` of
    /// the rows on entry and their scaled gradient on exit, except at the
    /// target classes; returns `(losses, target gradients)`.
    #[inline(always)]
    fn hard_block<V: Lane>(&self, cols: &mut [V], z_t: V, w_t: V) -> (V, V) {
        let zero = V::splat(0.0);
        let one = V::splat(1.0);
        let mut m = V::splat(f32::NEG_INFINITY);
        for &z in cols.iter() {
            m = m.max(z);
        }
        let floor = V::splat(-f32::MAX);
        // At most BLOCK_MAX_C / 2 = 32 terms per lane and accumulator: each
        // has the error of one `ClassSum` block.
        let mut rs = [zero; 2];
        let mut ties = zero;
        for (j, col) in cols.iter_mut().enumerate() {
            let d = (*col - m).max(floor);
            let e = exp_neg(d);
            let top = d.eq(zero);
            rs[j & 1] = rs[j & 1] + V::select(top, zero, e);
            ties = ties + V::select(top, one, zero);
            *col = e;
        }
        let r_max = (rs[0] + rs[1]) + (ties - one);
        let s = one + r_max;
        let big = r_max.gt(one);
        let ln_s = V::select(
            big,
            ln(V::select(big, s, V::splat(2.0))),
            log1p_unit(r_max.min(one)),
        );
        let d_t = (z_t - m).max(floor);
        let top = d_t.eq(zero);
        let e_t = exp_neg(d_t);
        let r_t = V::select(top, r_max, s - e_t);
        let inv_s = one / s;
        let u = r_t * inv_s;
        let p_t = e_t * inv_s;
        let ce = ln_s - d_t;
        let r0 = r_t.eq(zero);
        let pw = power(self.power, self.gamma, u, || ln_u(p_t, r_t, ln_s));
        let g = V::splat(self.gamma);
        let pce = V::select(e_t.eq(zero), zero, p_t * ce);
        let loss = V::select(w_t.eq(zero), zero, w_t * (pw * ce));
        let sc = V::splat(self.scale);
        let pg = pw * g;
        let g_t = sat(-(w_t * pg.mul_add(pce, pw * u))) * sc;
        let coef = V::select(
            r0,
            zero,
            sat(sat(w_t * (pg * (pce / V::select(r0, one, r_t)) + pw * inv_s)) * sc),
        );
        for col in cols.iter_mut() {
            *col = *col * coef;
        }
        (loss, g_t)
    }

    /// Probability targets or smoothing, cross-entropy:
    /// `ℓ = Y ln S - Σ_c k_c d_c`, `g_k = e_k Y / S - k_k` with `k = w y'` and
    /// `Y = Σ k`.
    #[inline(always)]
    fn soft_ce(
        &self,
        row: &mut [f32],
        src: Option<&[f32]>,
        main: usize,
        m: f32,
        gen: &SoftGen<'_>,
    ) -> f32 {
        let c = row.len();
        let mut s1 = Sums::<Simd>::new();
        let mut s2 = Sums::<f32>::new();
        exp_pass(row, src, 0, main, m, false, Some(gen), &mut s1);
        if Simd::N > 1 {
            exp_pass(row, src, main, c, m, false, Some(gen), &mut s2);
        }
        let ties = s1.ties.reduce_add() + s2.ties;
        let r_max = (s1.r.total() + s2.r.total()) + (ties - 1.0);
        let ln_s = log1p_pos(r_max);
        let y_sum = sat(s1.k.total() + s2.k.total());
        let kd = s1.kd.total() + s2.kd.total();
        let loss = if y_sum == 0.0 { 0.0 } else { y_sum * ln_s } - kd;
        if self.grad {
            let a = y_sum / (1.0 + r_max);
            grad_pass::<Simd>(row, 0, main, a, Some(gen), self.scale);
            if Simd::N > 1 {
                grad_pass::<f32>(row, main, c, a, Some(gen), self.scale);
            }
        }
        loss
    }

    /// Probability targets or smoothing, focal (γ > 0): three passes, the
    /// row holding `d` between them.
    #[inline(always)]
    fn soft_focal(
        &self,
        row: &mut [f32],
        src: Option<&[f32]>,
        main: usize,
        m: f32,
        gen: &SoftGen<'_>,
    ) -> f32 {
        let c = row.len();
        let mut s1 = Sums::<Simd>::new();
        let mut s2 = Sums::<f32>::new();
        exp_pass(row, src, 0, main, m, true, None, &mut s1);
        if Simd::N > 1 {
            exp_pass(row, src, main, c, m, true, None, &mut s2);
        }
        let ties = s1.ties.reduce_add() + s2.ties;
        let r_max = (s1.r.total() + s2.r.total()) + (ties - 1.0);
        let s = 1.0 + r_max;
        let f = FocalRow {
            s,
            inv_s: 1.0 / s,
            ln_s: log1p_pos(r_max),
            r_max,
        };
        let (loss, h_tot) = {
            let (l1, h1) = self.focal_sum::<Simd>(&f, gen, row, 0, main);
            let (l2, h2) = if Simd::N > 1 {
                self.focal_sum::<f32>(&f, gen, row, main, c)
            } else {
                (0.0, 0.0)
            };
            (l1 + l2, sat(h1 + h2))
        };
        if self.grad {
            self.focal_grad::<Simd>(&f, gen, row, 0, main, h_tot);
            if Simd::N > 1 {
                self.focal_grad::<f32>(&f, gen, row, main, c, h_tot);
            }
        }
        loss
    }

    /// `(Σ k u^γ CE, Σ k hr)` over `row[lo..hi]`.
    #[inline(always)]
    fn focal_sum<V: Lane>(
        &self,
        f: &FocalRow,
        gen: &SoftGen<'_>,
        row: &[f32],
        lo: usize,
        hi: usize,
    ) -> (f32, f32) {
        let mut la = ClassSum::<V>::new();
        let mut ha = ClassSum::<V>::new();
        let mut i = lo;
        while i < hi {
            let (_, k, lce, hr, _) = focal_lanes::<V>(self, f, gen, row, i);
            la.add(lce);
            ha.add(k * hr);
            i += V::N;
        }
        (la.total(), ha.total())
    }

    /// `g_k = (e_k (H - k_k hr_k) - k_k G_k) · scale` over `row[lo..hi]`.
    #[inline(always)]
    fn focal_grad<V: Lane>(
        &self,
        f: &FocalRow,
        gen: &SoftGen<'_>,
        row: &mut [f32],
        lo: usize,
        hi: usize,
        h_tot: f32,
    ) {
        let h = V::splat(h_tot);
        let sc = V::splat(self.scale);
        let mut i = lo;
        while i < hi {
            let (e, k, _, hr, big_g) = focal_lanes::<V>(self, f, gen, row, i);
            // Saturated products: finite factors, so no ∞ · 0 below.
            let g = e * (h - sat(k * hr)) - sat(k * big_g);
            (g * sc).store(&mut row[i..i + V::N]);
            i += V::N;
        }
    }
}

/// `max(row)`, lanes over `row[..main]`, scalar over the rest.
#[inline(always)]
fn row_max(row: &[f32], main: usize) -> f32 {
    let mut mv = Simd::splat(f32::NEG_INFINITY);
    let mut i = 0;
    while i < main {
        // `Lane::max`, not `f32::max` (a libm call on Cortex-M).
        mv = Lane::max(mv, Simd::load(&row[i..i + Simd::N]));
        i += Simd::N;
    }
    let mut buf = [f32::NEG_INFINITY; MAX_LANES];
    mv.store(&mut buf[..Simd::N]);
    let mut m = f32::NEG_INFINITY;
    for &v in buf[..Simd::N].iter().chain(&row[main..]) {
        // Inputs are finite (validated): no NaN handling needed.
        if v > m {
            m = v;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SIMD and scalar instantiations of the soft passes agree.
    #[test]
    fn lanes_match_scalar() {
        let y = [0.1f32, 0.0, 0.3, 0.2, 0.0, 0.1, 0.2, 0.1, 0.0, 0.0];
        let w = [1.0f32, 2.0, 0.5, 0.0, 1.0, 3.0, 1.0, 1.0, 0.2, 1.0];
        let gen = SoftGen {
            weights: Some(&w),
            y: Some(&y),
            t: usize::MAX,
            a: 0.9,
            b: 0.01,
        };
        let mut i = 0;
        while i + Simd::N <= y.len() {
            let v: Simd = gen.at(i);
            let mut o = [0.0f32; MAX_LANES];
            v.store(&mut o[..Simd::N]);
            for (j, &v) in o[..Simd::N].iter().enumerate() {
                assert_eq!(v, gen.at::<f32>(i + j));
            }
            i += Simd::N;
        }
    }
}
