//! The contract between the binary (elementwise) driver and its losses: what
//! a loss file implements ([`Kernel`]: its per-lane loss and gradient for
//! hard labels, soft targets and probability inputs, and its bounds), the
//! shared pieces a loss may use (`α_t`, the smoothed targets, the weighted
//! hard-label cross-entropy), and the checked evaluation of one element.
//! A loss file imports this module and the math, never the driver.

use crate::lanes::{Lane, SOFT_FLOAT};
use crate::math::{ln, ln_one_minus, Logit};
use crate::{At, Error, LossGrad};

/// Probabilities are clamped to `[PROB_EPS, 1 - PROB_EPS]` by the
/// probability-input variants (Keras' `epsilon()`); the largest loss they can
/// return is therefore `-ln(1e-7) ≈ 16.1` per element (times weights).
pub const PROB_EPS: f32 = 1e-7;

pub mod sealed {
    pub trait Sealed {}
}

/// The per-lane kernels of a binary loss. Implemented by the crate's loss
/// configurations only.
/// A computation generic over the kernel, handed to [`Kernel::specialize`].
#[doc(hidden)]
pub trait Body {
    /// What the computation returns.
    type Out;
    /// Runs with kernel `k`.
    fn call<K: Kernel>(self, k: &K) -> Self::Out;
}

#[doc(hidden)]
pub trait Kernel: Copy {
    /// Calls `body` with a kernel whose loop-invariant choices (such as
    /// γ's fast path) are fixed at compile time.
    #[inline(always)]
    fn specialize<B: Body>(&self, body: B) -> B::Out {
        body.call(self)
    }
    /// Label smoothing ε.
    fn smoothing(&self) -> f32;
    /// Loss and gradient for hard labels (every lane of `y` is 0 or 1); by
    /// default the soft-target kernel at `y_s = y`.
    #[inline(always)]
    fn hard<V: Lane>(&self, x: V, y: V) -> (V, V) {
        self.soft(x, y, y, V::splat(1.0) - y)
    }
    /// Loss and gradient for soft targets: `y` as given (for `α_t`), `ys`
    /// smoothed and `oms = 1 - ys`, each computed directly so that neither
    /// loses relative accuracy near 0.
    fn soft<V: Lane>(&self, x: V, y: V, ys: V, oms: V) -> (V, V);
    /// Loss and gradient with respect to a probability input.
    fn prob<V: Lane>(&self, p: V, y: V, ys: V, oms: V) -> (V, V);
    /// An upper bound of `|∂ℓ/∂input|` over every valid input, before
    /// weights and the reduction's scale (with `prob`: for probability
    /// inputs). Tested against sweeps; used to decide once per batch whether
    /// weighted gradients can overflow f32 and need saturating.
    fn grad_bound(&self, prob: bool) -> f32;
    /// `(a, b)` with `ℓ ≤ a |x| + b` for every valid input `x` (logit, or
    /// probability with `prob`), before weights: lets the driver decide
    /// once per batch whether the sum of the losses can overflow f32.
    fn loss_bound(&self, prob: bool) -> (f32, f32);
}

/// A binary loss the batch calls accept: [`Focal`](crate::Focal),
/// [`SigmoidCe`](crate::SigmoidCe), or either chosen at run time
/// ([`AnyLoss`](crate::binary::AnyLoss)). Sealed.
pub trait BinaryLoss: sealed::Sealed {
    /// Runs `body` with the concrete loss (an `AnyLoss` matches once here,
    /// so the batch's loops are those of the loss it holds).
    #[doc(hidden)]
    fn dispatch<B: Body>(&self, body: B) -> B::Out;
}

/// [`BinaryLoss`] for a loss that is its own kernel.
macro_rules! binary_loss {
    ($t:ty) => {
        impl $crate::binary::kernel::sealed::Sealed for $t {}
        impl $crate::binary::kernel::BinaryLoss for $t {
            #[inline(always)]
            fn dispatch<B: $crate::binary::kernel::Body>(&self, body: B) -> B::Out {
                body.call(self)
            }
        }
    };
}
pub(crate) use binary_loss;

/// The per-element API of a binary loss: `loss_grad` (from a logit) and
/// `loss_grad_prob` (from a probability, clamped), both through [`one`].
macro_rules! element_api {
    ($t:ty) => {
        impl $t {
            /// Loss and gradient `∂ℓ/∂z` for one logit `z` and target `y`.
            ///
            /// # Errors
            /// [`Error::NonFiniteInput`](crate::Error::NonFiniteInput) or
            /// [`Error::TargetOutOfRange`](crate::Error::TargetOutOfRange) at
            /// element 0.
            pub fn loss_grad(&self, z: f32, y: f32) -> Result<crate::LossGrad, crate::Error> {
                $crate::binary::kernel::one(self, z, y, false)
            }

            /// Loss and gradient `∂ℓ/∂p` for one probability `p`, clamped to
            /// `[PROB_EPS, 1 - PROB_EPS]` (the formula at the clamped point).
            ///
            /// # Errors
            /// [`Error::NonFiniteInput`](crate::Error::NonFiniteInput),
            /// [`Error::ProbabilityOutOfRange`](crate::Error::ProbabilityOutOfRange)
            /// or [`Error::TargetOutOfRange`](crate::Error::TargetOutOfRange),
            /// with index 0.
            pub fn loss_grad_prob(&self, p: f32, y: f32) -> Result<crate::LossGrad, crate::Error> {
                $crate::binary::kernel::one(self, p, y, true)
            }
        }
    };
}
pub(crate) use element_api;

/// A gradient bound `b` from logits, or for probability inputs `2b /
/// PROB_EPS` (`∂ℓ/∂p = (∂ℓ/∂z) / (p(1 - p))` with the clamped
/// `p(1 - p) ≥ PROB_EPS/2`).
pub(crate) fn grad_bound_for(b: f32, prob: bool) -> f32 {
    if prob {
        2.0 * b / PROB_EPS
    } else {
        b
    }
}

/// The loss bound of a loss below cross-entropy: `ℓ ≤ CE ≤ |z| + ln 2` from
/// logits, `ℓ ≤ -ln PROB_EPS < 17` from clamped probabilities.
pub(crate) fn ce_loss_bound(prob: bool) -> (f32, f32) {
    if prob {
        (0.0, 17.0)
    } else {
        (1.0, 1.0)
    }
}

/// `α_t = α y + (1 - α)(1 - y)`, or 1 when α is off. Both terms are
/// non-negative, so there is no cancellation (the shorter
/// `(1 - α) + y (2α - 1)` loses all accuracy for α near 0 or 1).
#[inline(always)]
pub(crate) fn alpha_t<V: Lane>(alpha: Option<f32>, y: V) -> V {
    match alpha {
        None => V::splat(1.0),
        Some(a) => V::splat(a).mul_add(y, V::splat(1.0 - a) * (V::splat(1.0) - y)),
    }
}

/// Smoothed targets `(y_s, 1 - y_s)`, each computed directly:
/// `y(1-ε) + ε/2` and `(1-y)(1-ε) + ε/2` (forming `1 - y_s` by subtraction
/// would lose its relative accuracy when `y_s` is close to 1).
#[inline(always)]
pub(crate) fn smooth<V: Lane>(eps: f32, y: V) -> (V, V) {
    let one = V::splat(1.0);
    if eps == 0.0 {
        (y, one - y)
    } else {
        let (keep, add) = (V::splat(1.0 - eps), V::splat(0.5 * eps));
        (y.mul_add(keep, add), (one - y).mul_add(keep, add))
    }
}

/// Which kernel a batch runs, decided once by the validation pass.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Logits, every target exactly 0 or 1, no smoothing.
    Hard,
    /// Logits, soft or smoothed targets.
    Soft,
    /// Probability inputs.
    Prob,
}

#[inline(always)]
pub(crate) fn eval<K: Kernel, V: Lane>(k: &K, x: V, y: V, mode: Mode) -> (V, V) {
    match mode {
        Mode::Hard => k.hard(x, y),
        Mode::Soft => {
            let (ys, oms) = smooth(k.smoothing(), y);
            k.soft(x, y, ys, oms)
        }
        Mode::Prob => {
            let (ys, oms) = smooth(k.smoothing(), y);
            k.prob(x, y, ys, oms)
        }
    }
}

/// `x` is finite (bit test: the exponent field is not all ones).
#[inline(always)]
pub(crate) fn finite_bits(b: u32) -> bool {
    (b << 1) < 0xff00_0000
}

/// `x` lies in `[0, 1]` (bit test; `-0.0` included, NaN excluded).
#[inline(always)]
pub(crate) fn unit_bits(b: u32) -> bool {
    (b <= 0x3f80_0000) | (b == 0x8000_0000)
}

/// `x` is exactly 0 (either sign) or 1.
#[inline(always)]
pub(crate) fn hard_bits(b: u32) -> bool {
    (b << 1 == 0) | (b == 0x3f80_0000)
}

#[inline]
pub(crate) fn input_ok(x: f32, prob: bool) -> bool {
    if prob {
        unit_bits(x.to_bits())
    } else {
        finite_bits(x.to_bits())
    }
}

/// The error for an input that [`input_ok`] refused.
#[cold]
pub(crate) fn input_error(x: f32, at: At) -> Error {
    if x.is_finite() {
        Error::ProbabilityOutOfRange { at }
    } else {
        Error::NonFiniteInput { at }
    }
}

#[inline]
pub(crate) fn target_ok(y: f32) -> bool {
    unit_bits(y.to_bits())
}

/// Checked evaluation of a single element (the per-element API).
pub(crate) fn one<K: Kernel>(k: &K, x: f32, y: f32, prob: bool) -> Result<LossGrad, Error> {
    if !input_ok(x, prob) {
        return Err(input_error(x, At::Element(0)));
    }
    if !target_ok(y) {
        return Err(Error::TargetOutOfRange { at: At::Element(0) });
    }
    let mode = if prob {
        Mode::Prob
    } else if k.smoothing() == 0.0 && hard_bits(y.to_bits()) {
        Mode::Hard
    } else {
        Mode::Soft
    };
    let (loss, grad) = eval(k, x, y, mode);
    Ok(LossGrad { loss, grad })
}

/// Class-weighted cross-entropy for hard labels and its gradient:
/// `w⁺ y softplus(-z) + w⁻ (1 - y) softplus(z)`,
/// `∂ℓ/∂z = w⁻ (1 - y) σ(z) - w⁺ y σ(-z)`. One σ and one softplus on the side
/// the label picks; on a core without an FPU every sign and selection is
/// done on the bits and `e^{-|z|}`, `log1p` come from the integer kernels.
/// Focal loss at γ = 0 and sigmoid cross-entropy both run it.
#[inline(always)]
pub(crate) fn ce_hard<V: Lane>(w_pos: f32, w_neg: f32, x: V, y: V) -> (V, V) {
    if SOFT_FLOAT && V::N == 1 {
        let (mut b, mut c) = ([0.0f32], [0.0f32]);
        x.store(&mut b);
        y.store(&mut c);
        let (l, g) = ce_hard_bits(w_pos, w_neg, b[0], c[0]);
        return (V::splat(l), V::splat(g));
    }
    let zero = V::splat(0.0);
    // s = 2y - 1 and x_t = s x, exact for y ∈ {0, 1}.
    let s = y.mul_add(V::splat(2.0), V::splat(-1.0));
    let right = (s * x).ge(zero);
    let lg = Logit::new(x);
    // u = 1 - p_t = σ(-x_t), CE = softplus(-x_t).
    let u = V::select(right, lg.small, lg.big);
    let ce = V::select(right, lg.l, lg.ax + lg.l);
    if w_pos == 1.0 && w_neg == 1.0 {
        // Unweighted (plain CE, focal at γ = 0 without α): the weights
        // below are 1 and `s`, exactly. The test is loop-invariant.
        return (ce, -(s * u));
    }
    let neg = V::splat(w_neg) * (V::splat(1.0) - y);
    let pos = V::splat(w_pos) * y;
    ((pos + neg) * ce, -((pos - neg) * u))
}

/// [`ce_hard`] on the bits, for scalar f32 on a core without an FPU.
#[inline(always)]
fn ce_hard_bits(w_pos: f32, w_neg: f32, x: f32, y: f32) -> (f32, f32) {
    let positive = y.to_bits() == 0x3f80_0000;
    let right = positive != (x.to_bits() >> 31 == 1);
    let ax = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    let (e, l) = crate::soft::exp_log1p(ax);
    let big = 1.0 / (1.0 + e);
    let u = if right { e * big } else { big };
    let ce = if right { l } else { ax + l };
    let (at, sat) = if positive {
        (w_pos, w_pos)
    } else {
        (w_neg, -w_neg)
    };
    (at * ce, -(sat * u))
}

/// The sigmoid of a logit in the four forms a loss needs, each to full
/// relative accuracy: `p = σ(z)`, `q = 1 - p = σ(-z)`,
/// `sp_pos = softplus(z) = -ln q` and `sp_neg = softplus(-z) = -ln p`.
/// A loss written on `Sig` gets probability inputs for free
/// ([`Sig::prob`], [`per_prob`]): the same formulas at the clamped `p`.
#[derive(Clone, Copy)]
pub(crate) struct Sig<V> {
    pub p: V,
    pub q: V,
    pub sp_pos: V,
    pub sp_neg: V,
}

impl<V: Lane> Sig<V> {
    /// From a logit: one `e^{-|z|}`, one `log1p`, one divide.
    #[inline(always)]
    pub fn logit(x: V) -> Self {
        let lg = Logit::new(x);
        let pos = x.ge(V::splat(0.0));
        let big_l = lg.ax + lg.l;
        Sig {
            p: V::select(pos, lg.big, lg.small),
            q: V::select(pos, lg.small, lg.big),
            sp_pos: V::select(pos, big_l, lg.l),
            sp_neg: V::select(pos, lg.l, big_l),
        }
    }

    /// From a probability, clamped to `[PROB_EPS, 1 - PROB_EPS]`.
    #[inline(always)]
    pub fn prob(p: V) -> Self {
        let p = p.max(V::splat(PROB_EPS)).min(V::splat(1.0 - PROB_EPS));
        Sig {
            p,
            q: V::splat(1.0) - p,
            sp_pos: -ln_one_minus(p),
            sp_neg: -ln(p),
        }
    }

    /// `p (1 - p) = ∂p/∂z`.
    #[inline(always)]
    pub fn dp(&self) -> V {
        self.p * self.q
    }
}

/// A loss `f(Sig)` (loss, `∂ℓ/∂z`) evaluated at a probability input: the
/// loss at the clamped `p` and `∂ℓ/∂p = (∂ℓ/∂z) / (p (1 - p))`.
#[inline(always)]
pub(crate) fn per_prob<V: Lane>(p: V, f: impl FnOnce(Sig<V>) -> (V, V)) -> (V, V) {
    let s = Sig::prob(p);
    let (l, g) = f(s);
    (l, g / s.dp())
}
