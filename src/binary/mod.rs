//! Batch driver for the binary losses ([`Focal`](crate::Focal),
//! [`SigmoidCe`](crate::SigmoidCe), or either chosen at run time with
//! [`AnyLoss`]): validation, weights, ignore mask, reductions, and the one
//! fused pass that writes gradients.
//!
//! ```
//! use tinyloss::{Batch, Focal, Reduction};
//! let logits = [2.0, -1.0, 0.5, -3.0];
//! let targets = [1.0, 0.0, 0.0, 0.0];
//! let mut grad = [0.0; 4];
//! let loss = Batch::new(&targets).loss_grad(&Focal::RETINANET, &logits,
//!                                           Reduction::MeanOverPositives, &mut grad, None)?;
//! assert!(loss > 0.0 && grad[2] > 0.0);
//! # Ok::<(), tinyloss::Error>(())
//! ```

use crate::diagnostic::{Diagnostic, Observe, Weighted};
use crate::lanes::{sat, Lane, Simd, SOFT_FLOAT};
use crate::reduce::{Kahan, Reduction, Scale, Total, BLOCK};
use crate::{At, Error};

pub use any::AnyLoss;
use kernel::{eval, finite_bits, hard_bits, input_error, input_ok, target_ok, unit_bits, Mode};
pub use kernel::{BinaryLoss, PROB_EPS};
#[doc(hidden)]
pub use kernel::{Body, Kernel};

mod any;
pub(crate) mod kernel;

/// What a binary batch call reads besides its inputs: the targets, whether
/// the inputs are logits or probabilities, and optional per-element weights
/// and ignore mask. Build it once, then call [`Batch::loss_grad`],
/// [`Batch::loss_grad_in_place`] or [`Batch::loss`] with the loss and the
/// inputs (as many calls as wanted: it only borrows).
///
/// * `weights[i]` (finite, `>= 0`) multiplies element `i`'s loss and gradient.
/// * `ignore[i] == true` drops element `i`: it adds nothing, is not counted by
///   [`Reduction::Mean`], gets gradient 0 and loss 0, and its input and target
///   are not validated (so a placeholder such as -1 is fine there).
///
/// ```
/// use tinyloss::{Batch, Reduction, SigmoidCe};
/// let targets = [1.0, 0.0, 1.0];
/// let weights = [1.0, 0.5, 2.0];
/// let mask = [false, false, true];
/// let batch = Batch::new(&targets).with_weights(&weights).with_ignore(&mask);
/// let mut logits_then_grad = [0.3, -1.2, 4.0];
/// let l = batch.loss_grad_in_place(&SigmoidCe::PLAIN, &mut logits_then_grad,
///                                  Reduction::Mean, None)?;
/// assert!(l > 0.0 && logits_then_grad[2] == 0.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    targets: &'a [f32],
    prob: bool,
    weights: Option<&'a [f32]>,
    ignore: Option<&'a [bool]>,
}

impl<'a> Batch<'a> {
    /// A batch with targets `y ∈ [0, 1]` whose inputs are logits `z` (any
    /// finite f32).
    pub const fn new(targets: &'a [f32]) -> Self {
        Batch {
            targets,
            prob: false,
            weights: None,
            ignore: None,
        }
    }

    /// The same batch with probability inputs `p ∈ [0, 1]` (outputs of a
    /// sigmoid layer) instead of logits. The written gradient is `∂ℓ/∂p`,
    /// taken at `p` clamped to `[PROB_EPS, 1 - PROB_EPS]`. Prefer logits:
    /// they are exact where this form must clamp.
    pub const fn with_probabilities(self) -> Self {
        Batch { prob: true, ..self }
    }

    /// The same batch with per-element weights.
    pub const fn with_weights(self, weights: &'a [f32]) -> Self {
        Batch {
            weights: Some(weights),
            ..self
        }
    }

    /// The same batch with a per-element ignore mask (`true` = ignored).
    pub const fn with_ignore(self, ignore: &'a [bool]) -> Self {
        Batch {
            ignore: Some(ignore),
            ..self
        }
    }

    /// Number of elements (of targets).
    pub const fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when the batch has no element.
    pub const fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Loss and gradient in one pass: writes `∂L/∂input` of the reduced loss
    /// `L` into `grad`, the per-element weighted losses `w_i ℓ_i` (not divided
    /// by the reduction's normaliser; 0 where ignored) into `losses` if given,
    /// and returns `L`.
    ///
    /// The sum is accumulated in f32 lanes in blocks of 32 vectors, and the
    /// blocks are combined with Kahan compensation,
    /// so the reduction adds at most 2e-6 relative error to the returned loss
    /// at any length (2^20 elements included) on top of the per-element bound.
    ///
    /// # Errors
    /// Every check runs before anything is written: [`Error::Empty`],
    /// [`Error::LengthMismatch`] (`"inputs"`, `"weights"`, `"ignore"`,
    /// `"grad"`, `"losses"` against the targets' length),
    /// [`Error::InvalidParameter`] (normaliser), [`Error::NonFiniteInput`],
    /// [`Error::ProbabilityOutOfRange`], [`Error::TargetOutOfRange`],
    /// [`Error::InvalidWeight`], each at the first bad element.
    #[inline(always)]
    pub fn loss_grad<L: BinaryLoss>(
        &self,
        loss: &L,
        inputs: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        loss.dispatch(Call::<SPLIT> {
            b: self,
            reduction,
            x: inputs,
            grad,
            losses,
            obs: None,
        })
    }

    /// [`Batch::loss_grad`] that also adds every kept element to the
    /// easy-example [`Diagnostic`] `diag`, in the same pass (its `p_t`, group,
    /// weighted loss and gradient before the reduction's factor). The loss
    /// and the gradient are those of `loss_grad`, bit for bit; on `Err`
    /// nothing is written and `diag` is unchanged.
    ///
    /// # Errors
    /// As [`Batch::loss_grad`].
    #[inline(always)]
    pub fn loss_grad_diagnosed<L: BinaryLoss, const B: usize>(
        &self,
        loss: &L,
        inputs: &[f32],
        reduction: Reduction,
        grad: &mut [f32],
        diag: &mut Diagnostic<B>,
    ) -> Result<f32, Error> {
        loss.dispatch(Call::<SPLIT> {
            b: self,
            reduction,
            x: inputs,
            grad,
            losses: None,
            obs: Some(diag),
        })
    }

    /// [`Batch::loss_grad`] with the gradient written over the inputs,
    /// which saves a buffer the size of the batch (RAM is what a
    /// microcontroller lacks). Weights, mask and `losses` as there; on `Err`
    /// the inputs are untouched.
    ///
    /// # Errors
    /// As [`Batch::loss_grad`].
    #[inline(always)]
    pub fn loss_grad_in_place<L: BinaryLoss>(
        &self,
        loss: &L,
        inputs_then_grad: &mut [f32],
        reduction: Reduction,
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        loss.dispatch(Call::<IN_PLACE> {
            b: self,
            reduction,
            x: &[],
            grad: inputs_then_grad,
            losses,
            obs: None,
        })
    }

    /// The reduced loss alone (for evaluation); same checks as
    /// [`Batch::loss_grad`], nothing written.
    ///
    /// # Errors
    /// As [`Batch::loss_grad`].
    #[inline(always)]
    pub fn loss<L: BinaryLoss>(
        &self,
        loss: &L,
        inputs: &[f32],
        reduction: Reduction,
    ) -> Result<f32, Error> {
        loss.dispatch(Call::<DISCARD> {
            b: self,
            reduction,
            x: inputs,
            grad: &mut [],
            losses: None,
            obs: None,
        })
    }

    /// Checks shapes (of the inputs, the options, then the outputs: the
    /// lengths `g_len` of the gradient and `l_len` of the losses, each the
    /// batch's length when absent), parameters and data; returns the
    /// gradient scale and the kernel to run, or `None` when a check fails
    /// (then the cold [`reject`] finds which, so that no error is
    /// built in the entry, nor mixed with the plan). Inlined: with the
    /// options known at the call site, only the checks that can apply are
    /// linked, and every length is tested in one branch.
    #[inline(always)]
    fn validate<K: Kernel>(
        &self,
        k: &K,
        x: &[f32],
        g_len: usize,
        l_len: usize,
        reduction: Reduction,
    ) -> Option<Plan> {
        let n = self.len();
        let lens_ok = (n != 0)
            & (x.len() == n)
            & self.weights.is_none_or(|w| w.len() == n)
            & self.ignore.is_none_or(|m| m.len() == n)
            & (g_len == n)
            & (l_len == n);
        if !(lens_ok && reduction.validate().is_ok()) {
            return None;
        }
        let (all_hard, saturate, sum_abs, sum_w) =
            if self.weights.is_none() && self.ignore.is_none() {
                let ys = self.targets;
                let (hard, sum_abs) = if self.prob {
                    screen::<true>(x, ys)
                } else {
                    screen::<false>(x, ys)
                }
                .ok()?;
                (hard, false, sum_abs, n as f32)
            } else {
                // `w · g` can pass f32::MAX only for a weight above this (the
                // loss's gradient bound, with a factor 2 for rounding).
                self.check_each(x, f32::MAX / (2.0 * k.grad_bound(self.prob)))?
            };
        // An upper bound of Σ w ℓ (∞ when it overflows): below `SAFE_SUM`
        // no block's f32 lanes can overflow.
        let (a, b) = k.loss_bound(self.prob);
        let bound = a * sum_abs + b * sum_w;
        let denom = match reduction {
            Reduction::Sum => 1.0,
            Reduction::MeanOver(d) => d,
            Reduction::Mean => match self.ignore {
                None => n as f32,
                Some(m) => count_kept(m),
            },
            Reduction::MeanOverPositives => self.positives(),
        };
        let mode = if self.prob {
            Mode::Prob
        } else if all_hard && k.smoothing() == 0.0 {
            Mode::Hard
        } else {
            Mode::Soft
        };
        Some(Plan {
            saturate,
            scale: Scale::of(denom),
            mode,
            // An ∞ bound (or NaN from 0 · ∞) is huge.
            huge: bound.is_nan() || bound > SAFE_SUM,
        })
    }

    /// Element-by-element validation when weights or a mask are given:
    /// `Some((all targets hard, some kept weight above w_safe, Σ w |x|, Σ w))`
    /// over the kept elements, or `None` at a bad one ([`reject`]
    /// names it). Non-negative floats order like their bit patterns, so one
    /// unsigned compare with `w_safe`'s bits passes every weight in
    /// `[0, w_safe]`; anything else (negative, non-finite, or huge) takes
    /// the slow test.
    #[inline(never)]
    fn check_each(&self, xs: &[f32], w_safe: f32) -> Option<(bool, bool, f32, f32)> {
        let mut all_hard = true;
        let mut big = false;
        let (mut sum_abs, mut sum_w) = (0.0f32, 0.0f32);
        let safe_bits = w_safe.to_bits();
        // The index counts with a wrapping add (an `enumerate` would be an
        // overflow check under `overflow-checks`; the count is below the
        // slices' length).
        let mut next = 0usize;
        for (&x, &y) in xs.iter().zip(self.targets) {
            let i = next;
            next = next.wrapping_add(1);
            if !self.keep(i) {
                continue;
            }
            if !(input_ok(x, self.prob) & target_ok(y)) {
                return None;
            }
            let mut wi = 1.0;
            if let Some(w) = self.weights {
                // Always present: validation checked the length.
                wi = w.get(i).copied().unwrap_or(0.0);
                if wi.to_bits() > safe_bits {
                    if !(finite_bits(wi.to_bits()) && wi >= 0.0) {
                        return None;
                    }
                    // -0.0 lands here too, and is not big.
                    big |= wi > w_safe;
                }
            }
            // Overflow to ∞ only marks the batch as needing the safe sum.
            sum_abs += wi * Lane::abs(x);
            sum_w += wi;
            all_hard &= hard_bits(y.to_bits());
        }
        Some((all_hard, big, sum_abs, sum_w))
    }

    /// `max(1, Σ y)` over the elements that are not ignored.
    #[inline(never)]
    fn positives(&self) -> f32 {
        const B: usize = BLOCK as usize;
        let mut total = Total::default();
        let add = |a: f32, y: &f32| a + *y;
        match self.ignore {
            None => self
                .targets
                .chunks(B)
                .for_each(|ys| total.add(ys.iter().fold(0.0, add))),
            Some(m) => {
                for (ys, ms) in self.targets.chunks(B).zip(m.chunks(B)) {
                    let kept = ys.iter().zip(ms).filter(|&(_, &ig)| !ig);
                    total.add(kept.fold(0.0, |a, (y, _)| add(a, y)));
                }
            }
        }
        Lane::max(total.scaled(Scale::of(1.0)), 1.0)
    }

    /// Element `i` is not ignored.
    #[inline(always)]
    fn keep(&self, i: usize) -> bool {
        self.ignore.is_none_or(|m| m.get(i) != Some(&true))
    }
}

/// What [`reject`] reads of a batch besides its targets: the input form and
/// the options. The common call (no weights, no mask) passes the constant
/// [`Opts::NONE`], so its entry keeps no copy of the batch in its frame.
struct Opts<'a> {
    prob: bool,
    weights: Option<&'a [f32]>,
    ignore: Option<&'a [bool]>,
}

impl Opts<'_> {
    /// No options: what a batch without weights or mask passes (a promoted
    /// constant; its input form is [`reject`]'s `PROB`).
    const NONE: Opts<'static> = Opts {
        prob: false,
        weights: None,
        ignore: None,
    };
}

/// The error of a call whose [`Batch::validate`] failed, in the order the
/// checks are documented: [`Error::Empty`], each length (inputs `xs`,
/// weights, ignore, then the gradient's `g_len` and the losses' `l_len`,
/// the batch's length when absent), the normaliser `d` (1 for reductions
/// without one), then the first bad element. Cold and generic over none of
/// the kernel, the call's kind or the outputs: every loss shares it (its
/// rescan of the batch runs only on an error). `OPT` links the weights' and
/// the mask's checks, which a batch without either (the common call) never
/// needs; without them the input form is `PROB`'s (with them, `o.prob`'s).
/// Scalars and one pointer, no batch by reference: the entry's frame holds
/// no copy of the batch for it.
#[cold]
#[inline(never)]
fn reject<const OPT: bool, const PROB: bool>(
    o: &Opts<'_>,
    xs: &[f32],
    ys: &[f32],
    g_len: usize,
    l_len: usize,
    d: f32,
) -> Error {
    let n = ys.len();
    if n == 0 {
        return Error::Empty;
    }
    let (weights, ignore) = if OPT {
        (o.weights, o.ignore)
    } else {
        (None, None)
    };
    let (w_len, m_len) = (
        weights.map_or(n, <[f32]>::len),
        ignore.map_or(n, <[bool]>::len),
    );
    // The first length that differs, as one error site.
    let (what, found) = if xs.len() != n {
        ("inputs", xs.len())
    } else if w_len != n {
        ("weights", w_len)
    } else if m_len != n {
        ("ignore", m_len)
    } else if g_len != n {
        ("grad", g_len)
    } else {
        ("losses", l_len)
    };
    if found != n {
        return Error::LengthMismatch {
            what,
            expected: n,
            found,
        };
    }
    if !(d.is_finite() && d > 0.0) {
        return Error::InvalidParameter { name: "normalizer" };
    }
    // A wrapping count, as in `check_each`.
    let mut next = 0usize;
    for (&x, &y) in xs.iter().zip(ys) {
        let i = next;
        next = next.wrapping_add(1);
        // With options, opaque each time: LLVM cannot hoist their tests and
        // copy the loop once per combination (the loop is cold; its size is
        // what counts).
        let (prob, weights, ignore) = if OPT {
            core::hint::black_box((o.prob, weights, ignore))
        } else {
            (PROB, None, None)
        };
        if ignore.is_some_and(|m| m.get(i) == Some(&true)) {
            continue;
        }
        if !(input_ok(x, prob) & target_ok(y)) {
            return element_error(x, prob, At::Element(i));
        }
        let w = weights.and_then(|w| w.get(i)).copied().unwrap_or(0.0);
        if !(finite_bits(w.to_bits()) && w >= 0.0) {
            return Error::InvalidWeight { at: At::Element(i) };
        }
    }
    Error::Empty
}

/// The error of a bad element whose input is `x`: the input's, or else the
/// target's.
#[cold]
fn element_error(x: f32, prob: bool, at: At) -> Error {
    if input_ok(x, prob) {
        Error::TargetOutOfRange { at }
    } else {
        input_error(x, at)
    }
}

/// Branch-free screen of a whole batch (no weights, no mask): `Ok(all
/// targets hard, a bound of Σ |x|)`, or `Err(start of the first block with a
/// bad element)` (blocks of 64 elements without an FPU; with one, the batch
/// is one block; [`reject`] finds the element).
///
/// With `t = v - v²`, which is `>= 0` exactly when `v ∈ [0, 1]` (the
/// rounded `v²` never crosses `v`), every element adds `|t_y| - t_y` and
/// either `x - x` (logits) or `|t_x| - t_x` (probabilities) to a sum:
/// each term is 0 for a valid element and positive, infinite or NaN
/// otherwise, so the sum is 0 exactly when the block is valid. `Σ t_y` is
/// 0 exactly when every target is 0 or 1. No comparisons in the loop: on a
/// Cortex-M4F this costs about 10 instructions per element. Because no
/// term is negative, a sum can never return to 0 once a defect has
/// entered it, so the lanes carry their sums across the whole batch and
/// are reduced and tested once (reducing and testing them every 64
/// elements made the whole fused focal call about 10 % dearer on an AVX-512
/// host; blocks of 4096 cost the M4F 176 B of flash and 0.3 instructions per
/// element).
#[inline(never)]
fn screen<const PROB: bool>(xs: &[f32], ys: &[f32]) -> Result<(bool, f32), usize> {
    let mut hard = true;
    if SOFT_FLOAT {
        const CHUNK: usize = 64;
        // Without an FPU, float arithmetic is a library call: test bits.
        // `top` is the largest `bits(x) << 1` (|x| without the sign):
        // below `0xff00_0000` exactly when every logit is finite.
        let mut top = 0u32;
        for (c, (xs, ys)) in xs.chunks(CHUNK).zip(ys.chunks(CHUNK)).enumerate() {
            let mut ok = true;
            for (x, y) in xs.iter().zip(ys) {
                let (xb, yb) = (x.to_bits(), y.to_bits());
                if PROB {
                    ok &= unit_bits(xb);
                } else {
                    top = top.max(xb << 1);
                }
                ok &= unit_bits(yb);
                hard &= hard_bits(yb);
            }
            if !(ok && top < 0xff00_0000) {
                return Err(c.wrapping_mul(CHUNK));
            }
        }
        // n · max |x| bounds Σ |x|.
        return Ok((hard, xs.len() as f32 * f32::from_bits(top >> 1)));
    }
    // Whole lane-vectors, then (SIMD only) the scalar remainder.
    let (b1, s1, a1) = screen_lanes::<Simd, PROB>(xs, ys);
    let (b2, s2, a2) = if Simd::N > 1 {
        screen_lanes::<f32, PROB>(
            xs.chunks_exact(Simd::N).remainder(),
            ys.chunks_exact(Simd::N).remainder(),
        )
    } else {
        (0.0, 0.0, 0.0)
    };
    let a = a1 + a2;
    // Σ |x| is finite when every logit is; an ∞ (or NaN) sum is a bad
    // logit, or finite logits whose sum overflowed (then the bound is ∞).
    if (b1 + b2) != 0.0 || (!PROB && !a.is_finite() && !all_finite(xs)) {
        return Err(0);
    }
    Ok((s1 + s2 == 0.0, if PROB { xs.len() as f32 } else { a }))
}

/// `(Σ defects, Σ t_y, Σ |x|)` of [`screen`] over the whole lane-vectors
/// of `xs` and `ys` (`Σ |x|` for logits only: it is also their finiteness
/// test).
#[inline(always)]
fn screen_lanes<V: Lane, const PROB: bool>(xs: &[f32], ys: &[f32]) -> (f32, f32, f32) {
    let mut bad = V::splat(0.0);
    let mut soft = V::splat(0.0);
    let mut abs = V::splat(0.0);
    for (xc, yc) in xs.chunks_exact(V::N).zip(ys.chunks_exact(V::N)) {
        let (x, y) = (V::load(xc), V::load(yc));
        let t = y - y * y;
        if PROB {
            let tx = x - x * x;
            // One add on the loop-carried chain.
            bad = bad + ((tx.abs() - tx) + (t.abs() - t));
        } else {
            bad = bad + (t.abs() - t);
            abs = abs + x.abs();
        }
        soft = soft + t;
    }
    (bad.reduce_add(), soft.reduce_add(), abs.reduce_add())
}

/// Every entry is finite (bit test; the rare path of [`screen`]).
#[cold]
fn all_finite(xs: &[f32]) -> bool {
    xs.iter().all(|x| finite_bits(x.to_bits()))
}

/// Number of `false` entries of an ignore mask.
#[inline(never)]
fn count_kept(m: &[bool]) -> f32 {
    m.iter()
        .fold(0usize, |k, &ig| k.wrapping_add(usize::from(!ig))) as f32
}

/// Below this bound of `Σ w ℓ` no f32 lane of a block can overflow.
const SAFE_SUM: f32 = 1e37;

/// What validation hands to the pass.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// The reduction's factor (`1/n`, `1/d`, ...).
    scale: Scale,
    mode: Mode,
    /// Weighted gradients may overflow: saturate them at `±f32::MAX`.
    saturate: bool,
    /// The losses' sum may overflow f32 (logits near f32::MAX): every
    /// lane goes to the [`Total`] on its own instead of in blocks.
    huge: bool,
}

/// [`Io`] kinds: inputs and gradient in separate buffers, the gradient
/// written over the inputs, or no gradient at all (loss only).
const SPLIT: u8 = 0;
const IN_PLACE: u8 = 1;
const DISCARD: u8 = 2;

/// Where the driver reads inputs and writes results. `x` is the inputs
/// (empty when `KIND == IN_PLACE`: they are read from `grad`), `grad` the
/// gradient (empty when `KIND == DISCARD`), `losses` the per-element losses
/// (empty when not asked for).
struct Io<'x, 'o, const KIND: u8> {
    x: &'x [f32],
    grad: &'o mut [f32],
    losses: &'o mut [f32],
    /// The diagnostic that sees every kept element, if asked for.
    obs: Option<&'o mut dyn Observe>,
}

impl<const KIND: u8> Io<'_, '_, KIND> {
    #[inline(always)]
    fn reborrow(&mut self) -> Io<'_, '_, KIND> {
        Io {
            x: self.x,
            grad: &mut *self.grad,
            losses: &mut *self.losses,
            obs: match &mut self.obs {
                Some(o) => Some(&mut **o),
                None => None,
            },
        }
    }

    /// Element `i` alone (empty slices if out of range, which validation
    /// excludes).
    #[inline(always)]
    fn one(&mut self, i: usize) -> Io<'_, '_, KIND> {
        Io {
            x: self.x.get(i..=i).unwrap_or(&[]),
            grad: self.grad.get_mut(i..=i).unwrap_or(&mut []),
            losses: self.losses.get_mut(i..=i).unwrap_or(&mut []),
            obs: None,
        }
    }

    /// Every slice the kind uses cut to `n`, or `None` if one is shorter
    /// (which validation excludes): then the pass's indexing is proved in
    /// range once, before its loop.
    #[inline(always)]
    fn cut(self, n: usize) -> Option<Self> {
        let Io {
            x,
            grad,
            losses,
            obs,
        } = self;
        let x = if KIND == IN_PLACE { x } else { x.get(..n)? };
        let grad = if KIND == DISCARD {
            grad
        } else {
            grad.get_mut(..n)?
        };
        let losses = if losses.is_empty() {
            losses
        } else {
            losses.get_mut(..n)?
        };
        Some(Io {
            x,
            grad,
            losses,
            obs,
        })
    }
}

/// The `V::N` entries of `s` at `i`, if there are as many.
#[inline(always)]
fn lanes_at<T, V: Lane>(s: &[T], i: usize) -> Option<&[T]> {
    s.get(i..).and_then(|s| s.get(..V::N))
}

/// The `V::N` entries of `s` at `i`, if there are as many, to write.
#[inline(always)]
fn lanes_at_mut<V: Lane>(s: &mut [f32], i: usize) -> Option<&mut [f32]> {
    s.get_mut(i..).and_then(|s| s.get_mut(..V::N))
}

/// Stores the first `n` lanes of `v` at `out[i..]` (as many as fit).
#[inline(always)]
fn store_part<V: Lane>(v: V, out: &mut [f32], i: usize, n: usize) {
    let Some(out) = out.get_mut(i..).and_then(|o| o.get_mut(..n)) else {
        return;
    };
    let mut buf = [0.0f32; 16];
    v.store(&mut buf[..V::N]);
    if let Some(b) = buf.get(..n) {
        out.copy_from_slice(b);
    }
}

/// The lanes at `s[i..]`, padded with `pad` past its end.
#[inline(always)]
fn load_part<V: Lane>(s: &[f32], i: usize, pad: f32) -> V {
    let rest = s.get(i..).unwrap_or(&[]);
    let mut buf = [pad; 16];
    for (b, &v) in buf.iter_mut().zip(rest.iter().take(V::N)) {
        *b = v;
    }
    V::load(&buf[..V::N])
}

/// Lane mask of the elements to keep (`ignore[i] == false`), padded with
/// "ignored" past the end.
#[inline(always)]
fn keep_mask<V: Lane>(ignore: &[bool], i: usize) -> V::Mask {
    if V::N == 1 {
        let ig = ignore.get(i) == Some(&true);
        return V::splat(0.0).eq(V::splat(if ig { 1.0 } else { 0.0 }));
    }
    let mut buf = [0.0f32; 16];
    let rest = ignore.get(i..).unwrap_or(&[]);
    for (b, &ig) in buf.iter_mut().zip(rest.iter().take(V::N)) {
        *b = if ig { 0.0 } else { 1.0 };
    }
    V::load(&buf[..V::N]).gt(V::splat(0.0))
}

/// A batch call, handed to [`BinaryLoss::dispatch`], which runs it with the
/// concrete loss: an [`AnyLoss`] is matched here, once per call.
struct Call<'c, 'a, 'x, 'o, const KIND: u8> {
    b: &'c Batch<'a>,
    reduction: Reduction,
    x: &'x [f32],
    grad: &'o mut [f32],
    losses: Option<&'o mut [f32]>,
    obs: Option<&'o mut dyn Observe>,
}

impl<const KIND: u8> Body for Call<'_, '_, '_, '_, KIND> {
    type Out = Result<f32, Error>;
    #[inline(always)]
    fn call<K: Kernel>(self, k: &K) -> Result<f32, Error> {
        let Call {
            b,
            reduction,
            x,
            grad,
            losses,
            obs,
        } = self;
        let n = b.len();
        let g_len = if KIND == SPLIT { grad.len() } else { n };
        let l_len = losses.as_ref().map_or(n, |l| l.len());
        let x_in: &[f32] = if KIND == IN_PLACE { grad } else { x };
        let Some(plan) = b.validate(k, x_in, g_len, l_len, reduction) else {
            let d = match reduction {
                Reduction::MeanOver(d) => d,
                _ => 1.0,
            };
            let (ys, none) = (b.targets, &Opts::NONE);
            return Err(match (b.weights, b.ignore, b.prob) {
                (None, None, false) => reject::<false, false>(none, x_in, ys, g_len, l_len, d),
                (None, None, true) => reject::<false, true>(none, x_in, ys, g_len, l_len, d),
                (weights, ignore, prob) => {
                    let o = Opts {
                        prob,
                        weights,
                        ignore,
                    };
                    reject::<true, false>(&o, x_in, ys, g_len, l_len, d)
                }
            });
        };
        let io = Io::<KIND> {
            x,
            grad,
            losses: losses.unwrap_or(&mut []),
            obs,
        };
        Ok(run::<K, Simd, KIND>(k, b, plan, io))
    }
}

/// The fused pass; inputs already validated. Dispatches once per batch on
/// the optional inputs and the kernel, so the hot loop has no per-element
/// branches.
#[inline(always)]
fn run<K: Kernel, V: Lane, const KIND: u8>(
    k: &K,
    b: &Batch<'_>,
    plan: Plan,
    mut io: Io<'_, '_, KIND>,
) -> f32 {
    // The common call (no weights, no mask, no per-element losses) gets a
    // loop per γ fast path and mode; everything else shares one loop per mode
    // that tests its options at run time, which keeps the code small.
    let fast = KIND != DISCARD
        && io.losses.is_empty()
        && io.obs.is_none()
        && b.weights.is_none()
        && b.ignore.is_none();
    // A normaliser below 1 scales the gradient up, past f32::MAX where the
    // exact value is beyond it: the pass then writes the unscaled gradient
    // and `finish` multiplies it with saturation, which keeps saturation
    // out of the common passes (a scale ≤ 1 cannot make a finite gradient
    // overflow).
    let total = if fast {
        k.specialize(Run::<V, KIND> {
            b,
            plan,
            io: io.reborrow(),
            _v: core::marker::PhantomData,
        })
    } else {
        chunks::<K, V, KIND, true>(k, b, plan, io.reborrow())
    };
    let (v, level) = total.parts();
    finish(io.grad, plan.scale, v, level)
}

/// The reduced loss `total · s`; when `s > 1` (the pass then ran with
/// scale 1), also `g ← g · s`, both exact or saturated at `±f32::MAX`. Its
/// own function so that no float lives across a call in the caller's frame
/// (8 B of stack on a Cortex-M4F).
///
/// The total comes as its two scalar [`Total::parts`], in registers: a
/// `Total` by value would be a copy in the caller's frame.
#[inline(never)]
fn finish(grad: &mut [f32], s: Scale, v: f32, level: u32) -> f32 {
    if s.needs_up() {
        // `Scale::scale_up`'s loop, here: no function (and frame) of its
        // own for the binary call.
        for g in grad {
            // `black_box`: an opaque load keeps LLVM from unrolling the loop.
            *g = s.apply(core::hint::black_box(*g));
        }
    }
    Total::scale_parts(v, level, s)
}

/// [`run`]'s fast path, generic over the (specialised) kernel.
struct Run<'c, 'a, 'x, 'o, V, const KIND: u8> {
    b: &'c Batch<'a>,
    plan: Plan,
    io: Io<'x, 'o, KIND>,
    _v: core::marker::PhantomData<V>,
}

impl<V: Lane, const KIND: u8> Body for Run<'_, '_, '_, '_, V, KIND> {
    type Out = Total;
    #[inline(always)]
    fn call<K: Kernel>(self, k: &K) -> Total {
        let Run { b, plan, io, .. } = self;
        chunks::<K, V, KIND, false>(k, b, plan, io)
    }
}

/// The whole batch in one pass (each loss to the overflow-safe total on its
/// own when their sum could overflow f32: [`Plan::huge`], logits near
/// `f32::MAX`), or a weighted huge batch [`one_by_one`].
#[inline(always)]
fn chunks<K: Kernel, V: Lane, const KIND: u8, const OPT: bool>(
    k: &K,
    b: &Batch<'_>,
    plan: Plan,
    io: Io<'_, '_, KIND>,
) -> Total {
    // `b.prob` is a constant where the batch was built, so logits-only
    // callers link neither the probability loop nor its `one_by_one`.
    if OPT && plan.huge && b.weights.is_some() {
        return if b.prob {
            one_by_one::<K, V, KIND, OPT, true>(k, b, plan, io)
        } else {
            one_by_one::<K, V, KIND, OPT, false>(k, b, plan, io)
        };
    }
    if b.prob {
        run_mode::<K, V, KIND, OPT, true>(k, b, plan, io)
    } else {
        run_mode::<K, V, KIND, OPT, false>(k, b, plan, io)
    }
}

/// A weighted batch whose loss sum could overflow, one element per pass, so
/// that each `w ℓ` (which may pass f32::MAX) enters the overflow-safe
/// [`Total`] exactly: slow, but it runs the passes already linked and keeps
/// every check (and this frame) out of the common call.
#[cold]
#[inline(never)]
fn one_by_one<K: Kernel, V: Lane, const KIND: u8, const OPT: bool, const P: bool>(
    k: &K,
    b: &Batch<'_>,
    plan: Plan,
    mut io: Io<'_, '_, KIND>,
) -> Total {
    let mut total = Total::default();
    let mut obs = io.obs.take();
    for (i, y) in b.targets.iter().enumerate() {
        // Unweighted: the weight is applied here, so that `w ℓ` beyond
        // f32::MAX still enters the sum exactly.
        let one = Batch {
            targets: core::slice::from_ref(y),
            prob: P,
            weights: None,
            ignore: b.ignore.map(|m| m.get(i..=i).unwrap_or(&[])),
        };
        // An ignored element's weight is never read (it may be NaN): its
        // zeros stay zeros.
        let w = match b.weights {
            Some(w) if OPT && b.keep(i) => w.get(i).copied().unwrap_or(0.0),
            Some(_) if OPT => 0.0,
            _ => 1.0,
        };
        // The diagnostic sees the element weighted, as the sum does.
        let mut weighted = obs.as_deref_mut().map(|o| Weighted { o, w });
        let mut io1 = io.one(i);
        io1.obs = weighted.as_mut().map(|o| o as &mut dyn Observe);
        let l =
            run_mode::<K, V, KIND, OPT, P>(k, &one, plan, io1.reborrow()).scaled(Scale::of(1.0));
        // Without `OPT` there are no weights (the fast path has none).
        match b.weights {
            Some(_) if OPT => {
                total.add_product(l, w);
                let sc = |v: &mut f32| *v = if w == 0.0 { 0.0 } else { sat(*v * w) };
                io1.grad.iter_mut().for_each(sc);
                io1.losses.iter_mut().for_each(sc);
            }
            _ => total.add(l),
        }
    }
    total
}

#[inline(always)]
fn run_mode<K: Kernel, V: Lane, const KIND: u8, const OPT: bool, const P: bool>(
    k: &K,
    b: &Batch<'_>,
    plan: Plan,
    io: Io<'_, '_, KIND>,
) -> Total {
    let mut total = Total::default();
    let huge = plan.huge.then_some(&mut total);
    let sum = if P {
        pass::<K, V, KIND, OPT, PROB>(k, b, plan.scale.pass(), plan.saturate, huge, io)
    } else if plan.mode == Mode::Hard {
        pass::<K, V, KIND, OPT, HARD>(k, b, plan.scale.pass(), plan.saturate, huge, io)
    } else {
        pass::<K, V, KIND, OPT, SOFT>(k, b, plan.scale.pass(), plan.saturate, huge, io)
    };
    total.add_leaf(sum);
    total
}

const HARD: u8 = 0;
const SOFT: u8 = 1;
const PROB: u8 = 2;

/// One pass over the batch: `BLOCK` lane-vectors are summed in f32 lanes,
/// then combined with Kahan compensation (their sum is then below
/// `2^120`), or, when [`Plan::huge`], each loss goes to the overflow-safe
/// `huge` total on its own (a test per block, never per element).
///
/// Each (kernel, options, mode) combination is its own function, never
/// inlined: the dispatch above inlines into the caller, so firmware that uses
/// one configuration links one or two of these loops and nothing else.
///
/// Panic-free by construction: every slice is cut to the batch's length
/// once, here, and every access is a `get` that the loop's own bound proves
/// (a branch never taken where it is not proved, never a panic).
#[inline(never)]
fn pass<K: Kernel, V: Lane, const KIND: u8, const OPT: bool, const MODE: u8>(
    k: &K,
    b: &Batch<'_>,
    scale: f32,
    saturate: bool,
    mut huge: Option<&mut Total>,
    io: Io<'_, '_, KIND>,
) -> f32 {
    let mode = match MODE {
        HARD => Mode::Hard,
        SOFT => Mode::Soft,
        _ => Mode::Prob,
    };
    let ys = b.targets;
    let n = ys.len();
    let Some(Io {
        x,
        grad,
        losses,
        mut obs,
    }) = io.cut(n)
    else {
        return 0.0;
    };
    // With `OPT`, weights, mask and per-element losses are each tested at run
    // time (once per vector, a predictable branch); without it they are
    // absent. `ws` is as long as the batch in both arms (never read when
    // `!w_on`).
    let (ws, w_on) = match b.weights {
        Some(w) if OPT => match w.get(..n) {
            Some(w) => (w, true),
            None => return 0.0,
        },
        _ => (ys, false),
    };
    let ig: &[bool] = match b.ignore {
        Some(m) if OPT => match m.get(..n) {
            Some(m) => m,
            None => return 0.0,
        },
        _ => &[],
    };
    let (m_on, ls_on) = (!ig.is_empty(), OPT && !losses.is_empty());
    let scale = V::splat(scale);
    let zero = V::splat(0.0);
    let full = n - n % V::N;
    // A huge batch's blocks are one lane-vector each, whose lanes go to
    // `total` one by one.
    let block = if huge.is_some() {
        V::N
    } else {
        BLOCK as usize * V::N
    };
    let mut sum = Kahan::default();
    let mut i = 0;
    'blocks: while i < full {
        let end = full.min(i.saturating_add(block));
        let mut acc = zero;
        if !OPT && V::N > 1 {
            // The common SIMD call: exact chunks, no per-vector range checks
            // (the scalar loop below compiles as tight on its own, and
            // smaller, for one lane).
            let Some(yb) = ys.get(i..end) else {
                break 'blocks;
            };
            let yb = yb.chunks_exact(V::N);
            if KIND == IN_PLACE {
                let Some(gb) = grad.get_mut(i..end) else {
                    break 'blocks;
                };
                for (gc, yc) in gb.chunks_exact_mut(V::N).zip(yb) {
                    let (l, g) = eval(k, V::load(gc), V::load(yc), mode);
                    acc = acc + l;
                    (g * scale).store(gc);
                }
            } else {
                let Some(xb) = x.get(i..end) else {
                    break 'blocks;
                };
                let xb = xb.chunks_exact(V::N).zip(yb);
                if KIND == DISCARD {
                    for (xc, yc) in xb {
                        acc = acc + eval(k, V::load(xc), V::load(yc), mode).0;
                    }
                } else {
                    let Some(gb) = grad.get_mut(i..end) else {
                        break 'blocks;
                    };
                    for ((xc, yc), gc) in xb.zip(gb.chunks_exact_mut(V::N)) {
                        let (l, g) = eval(k, V::load(xc), V::load(yc), mode);
                        acc = acc + l;
                        (g * scale).store(gc);
                    }
                }
            }
            i = end;
        }
        while i < end {
            let xs: &[f32] = if KIND == IN_PLACE { &*grad } else { x };
            let (Some(xc), Some(yc)) = (lanes_at::<_, V>(xs, i), lanes_at::<_, V>(ys, i)) else {
                break 'blocks;
            };
            let (x_v, y_v) = (V::load(xc), V::load(yc));
            let (mut l, mut g) = eval(k, x_v, y_v, mode);
            let mut gs = None;
            if w_on {
                let w = lanes_at::<_, V>(ws, i).map_or(zero, V::load);
                // Saturate: a weighted loss or gradient beyond f32::MAX is
                // reported as ±MAX.
                l = (l * w).min(V::splat(f32::MAX));
                if saturate {
                    let (gw, out) = weighted_grad(g, w, scale);
                    g = gw;
                    gs = Some(out);
                } else {
                    g = g * w;
                }
            }
            if m_on {
                let keep = keep_mask::<V>(ig, i);
                l = V::select(keep, l, zero);
                g = V::select(keep, g, zero);
                gs = gs.map(|v| V::select(keep, v, zero));
            }
            acc = acc + l;
            if OPT {
                if let Some(o) = obs.as_deref_mut() {
                    observe(o, MODE == PROB, (x_v, y_v, l, g), ig, i, V::N);
                }
            }
            if KIND != DISCARD {
                if let Some(o) = lanes_at_mut::<V>(grad, i) {
                    gs.unwrap_or(g * scale).store(o);
                }
            }
            if ls_on {
                if let Some(o) = lanes_at_mut::<V>(losses, i) {
                    l.store(o);
                }
            }
            i = i.wrapping_add(V::N);
        }
        match &mut huge {
            // One lane: the total's own add, no buffer.
            Some(t) if V::N == 1 => t.add_leaf(acc.reduce_add()),
            Some(t) => add_lanes(t, acc),
            None => sum.add(acc.reduce_add()),
        }
    }
    if full < n {
        // Remainder (SIMD only): padded lanes evaluate (x, y) = (0, 0) and
        // are masked out of the sum; only `n - full` lanes are stored.
        let len = n - full;
        let xs: &[f32] = if KIND == IN_PLACE { &*grad } else { x };
        let x: V = load_part(xs, full, 0.0);
        let y: V = load_part(ys, full, 0.0);
        let (mut l, mut g) = eval(k, x, y, mode);
        let mut gs = None;
        if w_on {
            let w: V = load_part(ws, full, 0.0);
            l = (l * w).min(V::splat(f32::MAX));
            if saturate {
                let (gw, out) = weighted_grad(g, w, scale);
                g = gw;
                gs = Some(out);
            } else {
                g = g * w;
            }
        }
        let keep = if m_on {
            keep_mask::<V>(ig, full)
        } else {
            let mut buf = [0.0f32; 16];
            buf.iter_mut().take(len).for_each(|b| *b = 1.0);
            V::load(&buf[..V::N]).gt(zero)
        };
        l = V::select(keep, l, zero);
        g = V::select(keep, g, zero);
        let gs = gs.map(|v| V::select(keep, v, zero));
        if OPT {
            if let Some(o) = obs {
                observe(o, MODE == PROB, (x, y, l, g), ig, full, len);
            }
        }
        if KIND != DISCARD {
            store_part(gs.unwrap_or(g * scale), grad, full, len);
        }
        if ls_on {
            store_part(l, losses, full, len);
        }
        match &mut huge {
            Some(t) if V::N == 1 => t.add_leaf(l.reduce_add()),
            Some(t) => add_lanes(t, l),
            None => sum.add(l.reduce_add()),
        }
    }
    sum.total()
}

/// `(sat(g w), the written gradient)` for a batch that may saturate: a
/// weighted gradient beyond f32 before the reduction's scale may fit after
/// it (a huge weight over a clamped probability under `MeanOver(100)`),
/// so there the scale applies first: `sat((g · scale) · w)`, else
/// `sat((g w) · scale)`.
#[inline(always)]
fn weighted_grad<V: Lane>(g: V, w: V, scale: V) -> (V, V) {
    let gw = g * w;
    let over = Lane::abs(gw).gt(V::splat(f32::MAX));
    (sat(gw), sat(V::select(over, g * scale * w, gw * scale)))
}

/// Hands the first `n` lanes of one vector (inputs, targets, weighted
/// losses and gradients before the reduction's factor) to a diagnostic,
/// with the mask's entries at `i` (out of line: a diagnosed call is not the
/// common one).
#[inline(never)]
fn observe<V: Lane>(
    o: &mut dyn Observe,
    prob: bool,
    v: (V, V, V, V),
    ig: &[bool],
    i: usize,
    n: usize,
) {
    let mut buf = [[0.0f32; 16]; 4];
    let (x, y, l, g) = v;
    for (b, v) in buf.iter_mut().zip([x, y, l, g]) {
        v.store(&mut b[..V::N]);
    }
    let n = n.min(V::N);
    let ig = ig.get(i..).map_or(&[][..], |m| m.get(..n).unwrap_or(m));
    let [x, y, l, g] = &buf;
    fn part(s: &[f32; 16], n: usize) -> &[f32] {
        s.get(..n).unwrap_or(&[])
    }
    o.lanes(prob, part(x, n), part(y, n), part(l, n), part(g, n), ig);
}

/// Adds each lane of `v` (in element order) to the overflow-safe total: the
/// blocks of a huge batch ([`Plan::huge`]), out of the hot loop's way.
#[cold]
#[inline(never)]
fn add_lanes<V: Lane>(total: &mut Total, v: V) {
    let mut buf = [0.0f32; 16];
    v.store(&mut buf[..V::N]);
    buf.iter().take(V::N).for_each(|&l| total.add_leaf(l));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Focal, SigmoidCe};

    /// The SIMD lanes and the scalar path agree lane by lane.
    #[test]
    fn simd_matches_scalar_lane_by_lane() {
        let gammas = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0];
        let alphas = [None, Some(0.25), Some(0.9)];
        let mut seed = 0x1234_5678u32;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as f32 / u32::MAX as f32
        };
        let mut xs = [0.0f32; 16];
        let mut ys = [0.0f32; 16];
        for round in 0..4000 {
            for j in 0..16 {
                let mag = libm::powf(10.0, rnd() * 8.0 - 4.0);
                xs[j] = if rnd() < 0.5 { -mag } else { mag };
                ys[j] = match round % 3 {
                    0 => (rnd() < 0.3) as u8 as f32,
                    1 => rnd(),
                    _ => [0.0, 1.0, 0.5, 0.05][j % 4],
                };
            }
            for &g in &gammas {
                for &a in &alphas {
                    let f = Focal::new(g, a).unwrap();
                    check(&f, &xs, &ys, false);
                    let p: [f32; 16] = core::array::from_fn(|j| 1.0 / (1.0 + libm::expf(-xs[j])));
                    check(&f, &p, &ys, true);
                }
            }
            check(
                &SigmoidCe::PLAIN.with_pos_weight(3.0).unwrap(),
                &xs,
                &ys,
                false,
            );
            let p: [f32; 16] = core::array::from_fn(|j| 1.0 / (1.0 + libm::expf(-xs[j])));
            let asl = crate::Asymmetric::TIMM;
            let asl2 = crate::Asymmetric::new(0.5, 2.5, 0.0)
                .unwrap()
                .with_grad_mode(crate::GradMode::Detached);
            // ε > 0: no cancellation between the terms, so that lanes
            // agree relative to the loss itself.
            let poly = crate::Poly1::new(Focal::new(1.5, Some(0.25)).unwrap(), 1.0).unwrap();
            let star = crate::FocalStar::new(2.0, 1.0, Some(0.25)).unwrap();
            for prob in [false, true] {
                let x = if prob { &p } else { &xs };
                // Bounds of 16-24u: FMA and the lanes' own roundings may
                // differ by twice that.
                check_tol(&asl, x, &ys, prob, 4e-6);
                check_tol(&asl2, x, &ys, prob, 4e-6);
                check_tol(&poly, x, &ys, prob, 4e-6);
                check_tol(&star, x, &ys, prob, 4e-6);
            }
        }
    }

    /// The cold `reject` names the error the documented order gives: shapes
    /// (inputs, weights, ignore, grad, losses), the normaliser, then the
    /// first bad kept element (input before target before weight).
    #[test]
    fn errors_in_documented_order() {
        let f = Focal::RETINANET;
        let y = [0.0, 1.0, 0.5, 2.0];
        let z = [0.0, f32::NAN, 1.0, 0.0];
        let mut g = [0.0; 4];
        let at = |i| At::Element(i);
        let b = Batch::new(&y);
        let len = |what, found| Error::LengthMismatch {
            what,
            expected: 4,
            found,
        };
        assert_eq!(
            Batch::new(&[]).loss(&f, &[], Reduction::Mean),
            Err(Error::Empty)
        );
        assert_eq!(
            b.loss_grad(&f, &z[..3], Reduction::Mean, &mut g, None),
            Err(len("inputs", 3))
        );
        let w = [1.0, 1.0, -1.0];
        let bw = b.with_weights(&w);
        assert_eq!(
            bw.loss_grad(&f, &z, Reduction::Mean, &mut g[..2], None),
            Err(len("weights", 3))
        );
        let m = [false, true, false, true];
        let bm = b.with_ignore(&m[..2]);
        assert_eq!(bm.loss(&f, &z, Reduction::Mean), Err(len("ignore", 2)));
        assert_eq!(
            b.loss_grad(&f, &z, Reduction::Mean, &mut g[..2], None),
            Err(len("grad", 2))
        );
        let mut ls = [0.0; 5];
        assert_eq!(
            b.loss_grad(&f, &z, Reduction::Mean, &mut g, Some(&mut ls)),
            Err(len("losses", 5))
        );
        let bad_d = Reduction::MeanOver(0.0);
        assert_eq!(
            b.loss(&f, &z, bad_d),
            Err(Error::InvalidParameter { name: "normalizer" })
        );
        assert_eq!(
            b.loss(&f, &z, Reduction::Mean),
            Err(Error::NonFiniteInput { at: at(1) })
        );
        let bm = b.with_ignore(&m);
        // The ignored NaN input and out-of-range target are not checked.
        assert!(bm.loss(&f, &z, Reduction::Sum).is_ok());
        let z3 = [0.0, 0.0, 0.0, 0.0];
        assert_eq!(
            b.loss(&f, &z3, Reduction::Sum),
            Err(Error::TargetOutOfRange { at: at(3) })
        );
        let w = [1.0, 1.0, -1.0, 1.0];
        let y2 = [0.0, 1.0, 0.5, 1.0];
        let z2 = [0.0, f32::NAN, 1.0, 0.0];
        let bwm = Batch::new(&y2).with_weights(&w).with_ignore(&m);
        assert_eq!(
            bwm.loss(&f, &z2, Reduction::Sum),
            Err(Error::InvalidWeight { at: at(2) })
        );
        let p = [0.5, 0.5, 1.5, 0.5];
        let bp = Batch::new(&y2).with_probabilities();
        assert_eq!(
            bp.loss(&f, &p, Reduction::Sum),
            Err(Error::ProbabilityOutOfRange { at: at(2) })
        );
        let bpw = bp.with_weights(&w);
        assert_eq!(
            bpw.loss(&f, &p, Reduction::Sum),
            Err(Error::ProbabilityOutOfRange { at: at(2) })
        );
    }

    fn check<K: Kernel>(k: &K, xs: &[f32; 16], ys: &[f32; 16], prob: bool) {
        check_tol(k, xs, ys, prob, 1e-6)
    }

    fn check_tol<K: Kernel>(k: &K, xs: &[f32; 16], ys: &[f32; 16], prob: bool, tol: f32) {
        let lanes_mode = if prob {
            Mode::Prob
        } else if ys[..Simd::N].iter().all(|&y| y == 0.0 || y == 1.0) {
            Mode::Hard
        } else {
            Mode::Soft
        };
        let (l, g) = eval(
            k,
            <Simd as Lane>::load(&xs[..Simd::N]),
            <Simd as Lane>::load(&ys[..Simd::N]),
            lanes_mode,
        );
        let mut lo = [0.0f32; 16];
        let mut go = [0.0f32; 16];
        l.store(&mut lo[..Simd::N]);
        g.store(&mut go[..Simd::N]);
        for j in 0..Simd::N {
            // Hard and soft kernels may be chosen differently per lane, and
            // FMA may round differently: allow a few ULP of the magnitude.
            let (ls, gs) = eval::<K, f32>(k, xs[j], ys[j], lanes_mode);
            let tol_l = tol * ls.abs().max(f32::MIN_POSITIVE);
            let tol_g = tol * gs.abs().max(1e-30) + 1e-7;
            assert!(
                (lo[j] - ls).abs() <= tol_l,
                "loss lane {j}: {} vs {ls} at x={} y={}",
                lo[j],
                xs[j],
                ys[j]
            );
            assert!(
                (go[j] - gs).abs() <= tol_g,
                "grad lane {j}: {} vs {gs} at x={} y={}",
                go[j],
                xs[j],
                ys[j]
            );
        }
    }
}
