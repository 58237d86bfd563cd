//! # tinyloss
//!
//! Focal-loss and cross-entropy **loss + gradient kernels** for learning on
//! the device: `#![no_std]`, no allocator, no `unsafe`, fixed capacity. Every
//! kernel computes the loss *and* its gradient with respect to the logits in
//! one pass, into buffers the caller owns, and validates its whole input first:
//! bad input gets an [`Error`] value, never a panic, and no output is
//! half-written.
//!
//! | loss | type | batch API |
//! |---|---|
//! | binary cross-entropy from logits, PyTorch `pos_weight` | [`SigmoidCe`] | [`binary`], [`Batch`] |
//! | binary (sigmoid) focal loss, any real γ ≥ 0, α on/off | [`Focal`] | [`binary`], [`Batch`] |
//! | asymmetric loss (ASL, timm's convention), γ⁺, γ⁻, probability clip | [`Asymmetric`] | [`binary`], [`Batch`] |
//! | Poly-1 over sigmoid cross-entropy or focal loss | [`Poly1`] | [`binary`], [`Batch`] |
//! | FL\* (focal loss's appendix variant, fvcore + the paper's β) | [`FocalStar`] | [`binary`], [`Batch`] |
//! | quality focal loss (GFL, mmdet) and varifocal loss (mmdet) on IoU-score targets | [`Qfl`], [`Varifocal`] | [`binary`], [`Batch`] |
//! | the full gradient, or the focusing weight held constant | [`GradMode`] | `with_grad_mode` |
//! | softmax cross-entropy, class weights, smoothing, ignore index | [`SoftmaxCe`] | [`softmax`] |
//! | softmax focal loss | [`SoftmaxFocal`] | [`softmax`] |
//! | Poly-1 softmax cross-entropy | [`SoftmaxPoly1`] | [`softmax`] |
//! | post-hoc logit adjustment (Menon et al. 2021): the prior's offsets `τ ln π` from counts, adjusted logits and predictions | — | [`softmax::logit_offsets`], [`softmax::post_hoc_argmax`] |
//! | distribution focal loss (GFL, mmdet), two-hot targets, integral decoder | [`softmax::Dfl`] | [`softmax::two_hot_rows`], [`softmax::integral`] |
//! | logit-adjusted loss / balanced softmax (Menon et al. 2021, Ren et al. 2020), over any softmax loss | [`softmax::LogitAdjusted`] | [`softmax::logit_offsets`] |
//! | LDAM (Cao et al. 2019), margins from counts, DRW through class weights | [`softmax::Ldam`] | [`softmax::ldam_margins`] |
//! | seesaw (Wang et al. 2021; mmdet), running counts | [`softmax::Seesaw`] | [`class_balanced::ClassCounter`] |
//! | class-balanced weights (effective number of samples) and an on-device class counter | — | [`class_balanced`] |
//! | hard-example mining: OHEM, threshold, SSD hard negatives, a replay buffer of the hardest examples | — | [`mining`] |
//! | a streaming normaliser: the EMA of the positive count (detectron2) | [`PositivesEma`] | any batch call |
//! | quantized `i8`/`i16` inputs (TFLM's scale and zero point), binary losses on `i8` logits or probabilities at integer cost per element, max-abs re-quantized gradients | [`quant::Quant`], [`quant::BinaryTable`] | [`quant`] |
//! | the easy-example diagnostic: loss and gradient shares of easy positives and negatives, `p_t` histograms | [`Diagnostic`] | `loss_grad_diagnosed` |
//!
//! ```
//! use tinyloss::{Batch, Focal, Reduction};
//! let logits = [3.1, -0.4, -2.2, 0.9];
//! let targets = [1.0, 0.0, 0.0, 1.0];
//! let mut grad = [0.0; 4];
//! // RetinaNet: γ = 2, α = 0.25, normalised by the number of positives.
//! let loss = Batch::new(&targets).loss_grad(&Focal::RETINANET, &logits,
//!                                           Reduction::MeanOverPositives, &mut grad, None)?;
//! assert!(loss > 0.0 && grad[0] < 0.0 && grad[1] > 0.0);
//! # Ok::<(), tinyloss::Error>(())
//! ```
//!
//! # Binary losses: the formulas
//!
//! Logit `z`, target `y ∈ [0, 1]` (hard labels and soft targets), `p = σ(z)`,
//! `p_t = p y + (1 - p)(1 - y)`.
//!
//! * **Cross-entropy** ([`SigmoidCe`]): `ℓ = w⁺ y softplus(-z) + (1 - y) softplus(z)`,
//!   `∂ℓ/∂z = (1 - y) σ(z) - w⁺ y σ(-z)` (`w⁺` = PyTorch's `pos_weight`, 1 by default).
//! * **Focal** ([`Focal`], Lin et al. 2017): `FL = α_t (1 - p_t)^γ CE`,
//!   `CE = softplus(z) - z y`, which for a hard label is the familiar
//!   `-α_t (1 - p_t)^γ log p_t`. γ = 0 is cross-entropy.
//!   For hard labels, with `s = 2y - 1`, `u = 1 - p_t = σ(-s z)`:
//!   `∂FL/∂z = -s α_t u^γ (u + γ p_t CE)`; for soft targets
//!   `∂FL/∂z = α_t m^γ [(p - y) + γ (1 - 2y) CE · p(1-p)/m]`, `m = 1 - p_t`.
//!
//! * **Asymmetric** ([`Asymmetric`], Ridnik et al. 2021): positives
//!   `q^{γ⁺} softplus(-z)`, negatives `p_m^{γ⁻} (-ln(1 - p_m))` with
//!   `p_m = max(p - m, 0)`: easy negatives below the clip `m` cost nothing.
//! * **Poly-1** ([`Poly1`], Leng et al. 2022): `FL + ε (1 - p_t)^{γ+1}`.
//! * **FL\*** ([`FocalStar`]): `α_t softplus(-(γ x_t + β)) / γ`, no power.
//! * **Quality focal** ([`Qfl`]): `|p - y|^β BCE(z, y)` on an IoU target;
//!   **varifocal** ([`Varifocal`]): `y BCE(z, y)` for positives,
//!   `α p^γ softplus(z)` for negatives (α weights the negatives).
//!
//! **α convention** (torchvision's, which users often get backwards):
//! `α_t = α y + (1 - α)(1 - y)` — α weights the **positives** and `1 - α` the
//! negatives. The RetinaNet default α = 0.25 therefore *down-weights* the rare
//! positives; the paper found that best together with γ = 2, because γ already
//! removes the easy negatives' mass. `alpha: None` turns α off (fvcore's and
//! Keras' default). [`class_balanced::binary_alpha`] derives α from class
//! counts instead.
//!
//! **Label smoothing** ε (`with_smoothing`) replaces the target by
//! `y(1 - ε) + ε/2` in `p_t` and `CE`, *after* `α_t` has been taken from the
//! unsmoothed target, so smoothing never moves weight between the classes.
//!
//! **Probability inputs** ([`Batch::with_probabilities`], `loss_grad_prob`) for
//! models that end in a sigmoid: `p` is clamped to
//! `[PROB_EPS, 1 - PROB_EPS]` (`1e-7`, Keras' ε; the upper bound is the f32
//! value `1 - 1e-7`), and the gradient `∂ℓ/∂p` is that of the formula at the
//! clamped point, so there is no flat zero-gradient region. Prefer logits.
//!
//! # How it stays stable
//!
//! * `softplus(z) = max(z, 0) + log1p(e^{-|z|})` and `σ` from the same
//!   `e = e^{-|z|} ≤ 1`: nothing overflows for any finite `z`, and tiny
//!   losses keep full relative accuracy (`z = -20, y = 0` gives `2.06e-9`;
//!   torchvision's `log(1 - sigmoid)` gives 0).
//! * `1 - p_t` is never formed by subtraction: it is `σ(-s z)` directly.
//! * General γ: `u^γ = exp(-γ softplus(s z))` — never `pow(0, ·)` — and the
//!   gradient has no `u^{γ-1}`, so γ < 1 gives a finite gradient where a
//!   pow-based backward returns NaN (torchvision at γ = 0.5, `z ≥ 20`). The
//!   product `γ · softplus` is formed exactly from 12-bit halves and enters
//!   `exp`'s range reduction unrounded. γ = 0, 1, 2 are separate compiled
//!   kernels; integers up to 8 use products.
//! * `α_t`, `y_s` and `1 - y_s` are each sums of non-negative terms.
//! * `exp`, `log1p` and `ln` are range-reduced polynomials tuned for f32
//!   (within 2 ULP each, branch-free, vectorisable), not libm calls.
//! * Reductions: f32 lanes summed in blocks of 32 vectors, blocks combined
//!   with Kahan compensation (no f64 arithmetic, which is software on a
//!   Cortex-M4F); see the one rule below.
//!
//! # Reductions and saturation: one rule for every loss
//!
//! Every batch entry point of both families follows the same rule, and no
//! finite input with valid parameters gives a NaN or an infinity anywhere:
//!
//! * **Saturation.** A value whose exact result is beyond f32 (a per-element
//!   or per-row loss, a weighted loss `w ℓ`, a gradient, the reduced loss) is
//!   returned as `±f32::MAX`; everything else is returned within its bound.
//!   Losses are never negative. A binary element loss beyond f32 (only
//!   [`SigmoidCe`]'s `w⁺ > 1` makes one from finite input) saturates before
//!   its weight and the reduction apply: `w ℓ` is `w · min(ℓ, f32::MAX)`;
//!   so does its gradient from probability inputs (only `w⁺ y / p` with a
//!   huge `w⁺` passes f32 there): `w · clamp(∂ℓ/∂p, ±f32::MAX) · scale`.
//! * **The sum never overflows.** The reduced loss is accumulated in f32
//!   lanes (blocks of 32), the blocks in a compensated sum that shifts its
//!   exponent rather than overflow; a binary batch whose loss sum could pass
//!   `f32::MAX` (logits near it) is found by the validation pass and summed
//!   one element at a time. So a mean whose exact value fits in f32 is
//!   returned within its bound even when the sum of the losses does not.
//!   A softmax row carries a loss up to `2 f32::MAX` to the sum (class
//!   weights are rescaled by a power of two where a row could pass that);
//!   the rows beyond it, with logits spanning more than f32::MAX and
//!   either targets summing past 1 or class weights that span more than
//!   `2^125` (which no rescaling keeps normal), saturate the reduced loss.
//! * **The normaliser is exact.** `Mean`, `MeanOver(d)` and
//!   `MeanOverPositives` divide by their normaliser `d` to one rounding for
//!   any positive finite `d`, subnormal ones included, or saturate; the
//!   gradient written is the gradient of the loss returned. `Mean` over
//!   nothing (every element ignored, or `Σ w_t = 0`) returns 0 and writes a
//!   zero gradient.
//! * **Zeros are exact.** An element of weight 0, an ignored element and an
//!   ignored row contribute exactly 0 to the loss and get exactly 0 gradient,
//!   whatever their intermediate values.
//! * **Class weights cancel under `Mean`** (PyTorch's convention for label
//!   targets: `Σ w_t ℓ / Σ w_t`), exactly, for any positive weights however
//!   small or large: the weights are scaled by a power of two first (with
//!   label smoothing every class weight enters a row's loss, and weights
//!   more than `2^126` apart lose the exact cancellation). Under the other
//!   reductions class weights outside `[2^-64, 2^64)` are scaled the same
//!   way, and the scale is undone exactly in the final one. The
//!   trap for streaming use: with **one row per call**, `Mean` returns the
//!   unweighted loss `ℓ` and the class weight has no effect at all. Use
//!   `Sum` (or `MeanOver(d)` with a running normaliser) to make the weights
//!   count there.
//! * **γ** is accepted in `[0, MAX_GAMMA]` ([`MAX_GAMMA`] = 1000) by both focal
//!   losses. The softmax bounds are tested over that whole range. The binary
//!   bounds are swept for γ ≤ 5 (the table's grid) and hold for hard labels
//!   from logits beyond it; for soft targets and probability inputs with a
//!   non-integer or large γ (> 5) two known gaps remain: `(1 - p_t)^γ` is
//!   `exp(γ ln(1 - p_t))` with `ln` rounded once, so the relative error can
//!   pass `(16 + 3γ)u` by up to `γ · ulp(ln(1 - p_t)) / 2` (the fuzz target
//!   finds such cases above γ = 5, not below), and where `(1 - p_t)^γ` falls below f32's normal
//!   range while `CE` is huge (large γ with `|z|` near `f32::MAX`) the loss
//!   carries an extra absolute error of up to `2^-149 α_t CE`, the subnormal
//!   rounding of the factor.
//!
//! The reduction adds at most `2e-6` relative error to the returned loss at
//! any length, plus one subnormal ULP (`2^-149`) when the result is below
//! f32's normal range.
//!
//! # Error bounds
//!
//! Measured against f64 references written in the tests (`tests/binary.rs`,
//! `tests/multiclass.rs`), over logits in `[-1e4, 1e4]` (dense near 0 and
//! across `|z| ∈ [15, 90]` where f32's sigmoid saturates), γ ∈ {0, 0.25, 0.5,
//! 1, 1.5, 2, 3, 5}, α ∈ {off, 0.01, 0.25, 0.75, 0.99}, targets
//! {0, 1, 0.05, 0.5, 0.95}. `u = 2^-24` (half an ULP at 1). The bound is
//! relative to the exact value, with an absolute floor where stated. Each
//! bound is asserted.
//!
//! | routine | bound (asserted) |
//! |---|---|
//! | `SigmoidCe` loss | 8u rel., floor `2^-126 max(1, w⁺)` |
//! | `SigmoidCe` gradient | 16u of `max(|g|, max(1, w⁺))` for soft targets, rel. for hard |
//! | `Focal` loss, hard labels | (8 + 3γ)u rel., floor `2^-126` |
//! | `Focal` loss, soft / smoothed targets | (16 + 3γ)u rel. |
//! | `Focal` gradient, hard labels | (16 + 3γ)u rel. |
//! | `Focal` gradient, soft targets | (16 + 3γ)u of `max(|g|, α_t)` |
//! | probability inputs, loss / gradient | (16 + 3γ)u rel. / of `max(|g|, 1)` |
//! | `Asymmetric` loss / gradient | (16 + 3γ)u rel., floor `p ∂ℓ/∂m` / (16 + 3γ)u, floor `p ∂g/∂m; u^γ_y` |
//! | `Poly1` loss / gradient | (24 + 3γ)u, floor `the terms' magnitudes` / (24 + 3γ)u |
//! | `FocalStar` loss / gradient | 24u rel., floor `z g/4` / 24u, floor `g(1+γ x_t)/4` |
//! | `Qfl` loss / gradient (γ = β) | (16 + 3γ)u rel., floor `s ∂ℓ/∂y` / (16 + 3γ)u, floor `s ∂g/∂y` |
//! | `Varifocal` loss / gradient | (16 + 3γ)u rel. / (16 + 3γ)u, floor `y` |
//! | `LogitAdjusted` / `Ldam` / `Seesaw` shifted logits `z̃` | 1u / 2u rel., floor 2^-126 / 2u, floor `the terms' magnitudes` |
//! | [`softmax::ldam_margins`] (of the largest margin) | 2u |
//! | mean of 2^20 losses (reduction error) | 2e-6 rel. |
//! | `SoftmaxCe` loss ≥ 1e-3 / any / gradient | 16u / 96u rel. / 16u·K abs. |
//! | `SoftmaxFocal` loss ≥ 1e-3 / any / gradient | 32u / 256u rel. / 32u(1+γ)K abs. |
//! | `SoftmaxPoly1` loss ≥ 1e-3 / any / gradient | 24u, floor `the terms' magnitudes` / 96u / 24u(1+γ)K abs. |
//! | [`class_balanced::weights`] | 1 ULP |
//!
//! (`K = Σ_c w_c y'_c`, the target mass of a softmax row; in the
//! `SoftmaxPoly1` row γ stands for `|ε|`.) The worst errors
//! the tests measure are in the README's accuracy table. The SIMD lanes and
//! the scalar path agree lane by lane within 1e-6 relative (tested). Gradients
//! are also checked against central finite differences of the f64 references.
//!
//! # Targets and cost
//!
//! The batch kernels run on `wide::f32x8` lanes on x86-64 (SSE/AVX) and
//! aarch64 (NEON), and as scalar code on Cortex-M, where `wide`'s lanes are
//! plain arrays; one API, chosen at compile time. Each (loss, options, mode)
//! loop is its own function, so firmware links only what its configuration
//! reaches. The README has the cost tables (instructions per element on
//! emulated Cortex-M cores, ns per element on the host) and how to regenerate
//! them.
//!
//! # Features
//!
//! * `defmt`: `defmt::Format` for [`Error`], [`Reduction`], the loss
//!   configurations and [`LossGrad`].
//! * `scalar`: the batch kernels run on plain `f32` lanes on every target,
//!   as on Cortex-M, instead of `wide`'s SIMD vectors. A host then computes
//!   exactly what a Cortex-M core with an FPU (M4F, M7, M33, M55) computes,
//!   bit for bit, losses and gradients alike; without it the SIMD path's
//!   results differ from the scalar path's in the last bits (the lanes reduce
//!   in another order). Use it to reproduce on-device results or to build
//!   test vectors for the device; it is slower. The FPU-less M0 and M3 run
//!   integer kernels of their own and are not reproduced by it. The
//!   firmware's `digest` binary checks the equality on every emulated core
//!   with an FPU (`tools/test-all`).
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod asymmetric;
mod bce;
pub mod binary;
pub mod class_balanced;
mod diagnostic;
mod error;
mod focal;
mod focal_star;
mod labels;
mod lanes;
mod math;
pub mod mining;
mod normalizer;
mod poly;
mod power;
mod quality;
pub mod quant;
mod reduce;
#[cfg_attr(
    not(all(target_arch = "arm", not(target_abi = "eabihf"))),
    allow(dead_code)
)]
mod soft;
pub mod softmax;
#[cfg(test)]
mod testing;

pub use asymmetric::Asymmetric;
pub use bce::SigmoidCe;
pub use binary::{Batch, BinaryLoss, PROB_EPS};
pub use class_balanced::ClassCounter;
pub use diagnostic::{Bin, Diagnostic, Group, GRAD_OCTAVES};
pub use error::{At, Error};
pub use focal::Focal;
pub use focal_star::FocalStar;
pub use labels::Labels;
pub use normalizer::PositivesEma;
pub use poly::Poly1;
pub use power::{GradMode, MAX_GAMMA};
pub use quality::{Qfl, Varifocal};
pub use reduce::Reduction;
pub use softmax::{SoftmaxCe, SoftmaxFocal, SoftmaxPoly1};

/// The README's code blocks run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

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
