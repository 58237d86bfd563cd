//! Batch driver for the binary losses ([`Focal`](crate::Focal),
//! [`SigmoidCe`](crate::SigmoidCe)): validation, weights, ignore mask,
//! reductions, and the one fused pass that writes gradients.
//!
//! ```
//! use tinyloss::{binary, Focal, Reduction};
//! let logits = [2.0, -1.0, 0.5, -3.0];
//! let targets = [1.0, 0.0, 0.0, 0.0];
//! let mut grad = [0.0; 4];
//! let loss = binary::loss_grad(&Focal::RETINANET, &logits, &targets,
//!                              Reduction::MeanOverPositives, &mut grad)?;
//! assert!(loss > 0.0 && grad[2] > 0.0);
//! # Ok::<(), tinyloss::Error>(())
//! ```

use crate::error::check_len;
use crate::lanes::{sat, Lane, Simd, SOFT_FLOAT};
use crate::reduce::{Kahan, Reduction, Scale, Total, BLOCK};
use crate::{At, Error};

use kernel::{eval, finite_bits, hard_bits, input_error, input_ok, target_ok, unit_bits, Mode};
pub use kernel::{BinaryLoss, PROB_EPS};
#[doc(hidden)]
pub use kernel::{Body, Kernel};

pub(crate) mod kernel;

/// The inputs of a binary batch: logits (or probabilities), targets, and
/// optional per-element weights and ignore mask. Build it, then call
/// [`Batch::loss_grad`].
///
/// * `weights[i]` (finite, `>= 0`) multiplies element `i`'s loss and gradient.
/// * `ignore[i] == true` drops element `i`: it adds nothing, is not counted by
///   [`Reduction::Mean`], gets gradient 0 and loss 0, and its logit and target
///   are not validated (so a placeholder such as -1 is fine there).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    input: &'a [f32],
    targets: &'a [f32],
    prob: bool,
    weights: Option<&'a [f32]>,
    ignore: Option<&'a [bool]>,
}

impl<'a> Batch<'a> {
    /// A batch of logits `z` (any finite f32) and targets `y ∈ [0, 1]`.
    pub fn logits(logits: &'a [f32], targets: &'a [f32]) -> Self {
        Batch {
            input: logits,
            targets,
            prob: false,
            weights: None,
            ignore: None,
        }
    }

    /// A batch of probabilities `p ∈ [0, 1]` (outputs of a sigmoid layer) and
    /// targets. The written gradient is `∂ℓ/∂p`, taken at `p` clamped to
    /// `[PROB_EPS, 1 - PROB_EPS]`. Prefer [`Batch::logits`]: it is exact where
    /// this form must clamp.
    pub fn probabilities(probs: &'a [f32], targets: &'a [f32]) -> Self {
        Batch {
            prob: true,
            ..Batch::logits(probs, targets)
        }
    }

    /// Per-element weights.
    pub fn weights(self, weights: &'a [f32]) -> Self {
        Batch {
            weights: Some(weights),
            ..self
        }
    }

    /// Per-element ignore mask (`true` = ignored).
    pub fn ignore(self, ignore: &'a [bool]) -> Self {
        Batch {
            ignore: Some(ignore),
            ..self
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.input.len()
    }

    /// True when the batch has no element.
    pub fn is_empty(&self) -> bool {
        self.input.is_empty()
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
    /// [`Error::LengthMismatch`], [`Error::InvalidParameter`] (normaliser),
    /// [`Error::NonFiniteInput`], [`Error::ProbabilityOutOfRange`], [`Error::TargetOutOfRange`],
    /// [`Error::InvalidWeight`], each with the index of the first bad element.
    #[inline(always)]
    pub fn loss_grad<L: BinaryLoss>(
        &self,
        loss: &L,
        reduction: Reduction,
        grad: &mut [f32],
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        check_len("grad", self.len(), grad.len())?;
        if let Some(l) = &losses {
            check_len("losses", self.len(), l.len())?;
        }
        let plan = self.validate(loss, reduction)?;
        let n = self.len();
        let mut io = Split {
            x: &self.input[..n],
            grad: &mut grad[..n],
            losses: losses.unwrap_or(&mut []),
        };
        Ok(run::<L, Simd, _>(loss, self, plan, &mut io))
    }

    /// The reduced loss alone (for evaluation); same checks as
    /// [`Batch::loss_grad`], nothing written.
    pub fn loss<L: BinaryLoss>(&self, loss: &L, reduction: Reduction) -> Result<f32, Error> {
        let plan = self.validate(loss, reduction)?;
        let mut io = Discard { x: self.input };
        Ok(run::<L, Simd, _>(loss, self, plan, &mut io))
    }

    /// Checks shapes, parameters and data; returns the gradient scale and
    /// the kernel to run. Inlined: with the options known at the call site,
    /// only the checks that can apply are linked.
    #[inline(always)]
    fn validate<K: Kernel>(&self, loss: &K, reduction: Reduction) -> Result<Plan, Error> {
        let smoothing = loss.smoothing();
        let n = self.len();
        if n == 0 {
            return Err(Error::Empty);
        }
        check_len("targets", n, self.targets.len())?;
        if let Some(w) = self.weights {
            check_len("weights", n, w.len())?;
        }
        if let Some(m) = self.ignore {
            check_len("ignore", n, m.len())?;
        }
        reduction.validate()?;
        let (all_hard, saturate, sum_abs, sum_w) =
            if self.weights.is_none() && self.ignore.is_none() {
                let (hard, sum_abs) = if self.prob {
                    self.screen::<true>()
                } else {
                    self.screen::<false>()
                }
                .map_err(|i| self.locate(i))?;
                (hard, false, sum_abs, n as f32)
            } else {
                // `w · g` can pass f32::MAX only for a weight above this (the
                // loss's gradient bound, with a factor 2 for rounding).
                self.check_each(f32::MAX / (2.0 * loss.grad_bound(self.prob)))?
            };
        // An upper bound of Σ w ℓ (∞ when it overflows): below `SAFE_SUM`
        // no block's f32 lanes can overflow.
        let (a, b) = loss.loss_bound(self.prob);
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
        } else if all_hard && smoothing == 0.0 {
            Mode::Hard
        } else {
            Mode::Soft
        };
        Ok(Plan {
            saturate,
            scale: Scale::of(denom),
            mode,
            // An ∞ bound (or NaN from 0 · ∞) is huge.
            huge: bound.is_nan() || bound > SAFE_SUM,
        })
    }

    /// Element-by-element validation when weights or a mask are given:
    /// `Ok((all targets hard, some kept weight above w_safe, Σ w |x|, Σ w))`
    /// over the kept elements, or the first error. Non-negative floats order like their bit patterns, so one
    /// unsigned compare with `w_safe`'s bits passes every weight in
    /// `[0, w_safe]`; anything else (negative, non-finite, or huge) takes
    /// the slow test.
    #[inline(never)]
    fn check_each(&self, w_safe: f32) -> Result<(bool, bool, f32, f32), Error> {
        let mut all_hard = true;
        let mut big = false;
        let (mut sum_abs, mut sum_w) = (0.0f32, 0.0f32);
        let safe_bits = w_safe.to_bits();
        for i in 0..self.len() {
            if !self.keep(i) {
                continue;
            }
            let (x, y) = (self.input[i], self.targets[i]);
            if !(input_ok(x, self.prob) & target_ok(y)) {
                return Err(self.locate(i));
            }
            let mut wi = 1.0;
            if let Some(w) = self.weights {
                wi = w[i];
                if wi.to_bits() > safe_bits {
                    if !(finite_bits(wi.to_bits()) && wi >= 0.0) {
                        return Err(Error::InvalidWeight { at: At::Element(i) });
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
        Ok((all_hard, big, sum_abs, sum_w))
    }

    /// `max(1, Σ y)` over the elements that are not ignored.
    #[inline(never)]
    fn positives(&self) -> f32 {
        let mut total = Total::default();
        for (c, ys) in self.targets.chunks(BLOCK as usize).enumerate() {
            let mut part = 0.0f32;
            for (j, &y) in ys.iter().enumerate() {
                if self.keep(c * BLOCK as usize + j) {
                    part += y;
                }
            }
            total.add(part);
        }
        Lane::max(total.scaled(Scale::of(1.0)), 1.0)
    }

    /// Branch-free screen of the whole batch (no weights, no mask), in
    /// blocks (64 elements without an FPU, 4096 with one):
    /// `Ok(all targets hard)`, or `Err(start of the first block with a bad
    /// element)`.
    ///
    /// With `t = v - v²`, which is `>= 0` exactly when `v ∈ [0, 1]` (the
    /// rounded `v²` never crosses `v`), every element adds `|t_y| - t_y` and
    /// either `x - x` (logits) or `|t_x| - t_x` (probabilities) to a sum:
    /// each term is 0 for a valid element and positive, infinite or NaN
    /// otherwise, so the sum is 0 exactly when the block is valid. `Σ t_y` is
    /// 0 exactly when every target is 0 or 1. No comparisons in the loop: on a
    /// Cortex-M4F this costs about 10 instructions per element. Because no
    /// term is negative, a sum can never return to 0 once a defect has
    /// entered it, so the lanes carry their sums across a whole block and
    /// are reduced and tested once per block (reducing and testing them every
    /// 64 elements made the whole fused focal call about 10 % dearer on an
    /// AVX-512 host).
    #[inline(never)]
    fn screen<const PROB: bool>(&self) -> Result<(bool, f32), usize> {
        let mut hard = true;
        if SOFT_FLOAT {
            const CHUNK: usize = 64;
            // Without an FPU, float arithmetic is a library call: test bits.
            // `top` is the largest `bits(x) << 1` (|x| without the sign):
            // below `0xff00_0000` exactly when every logit is finite.
            let mut top = 0u32;
            for (c, (xs, ys)) in self
                .input
                .chunks(CHUNK)
                .zip(self.targets.chunks(CHUNK))
                .enumerate()
            {
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
                    return Err(c * CHUNK);
                }
            }
            // n · max |x| bounds Σ |x|.
            return Ok((hard, self.len() as f32 * f32::from_bits(top >> 1)));
        }
        const CHUNK: usize = 4096;
        let mut sum_abs = 0.0f32;
        for (c, (xs, ys)) in self
            .input
            .chunks(CHUNK)
            .zip(self.targets.chunks(CHUNK))
            .enumerate()
        {
            let split = xs.len() / Simd::N * Simd::N;
            let (b1, s1, a1) = screen_lanes::<Simd, PROB>(&xs[..split], &ys[..split]);
            let (b2, s2, a2) = if Simd::N > 1 {
                screen_lanes::<f32, PROB>(&xs[split..], &ys[split..])
            } else {
                (0.0, 0.0, 0.0)
            };
            let a = a1 + a2;
            // Σ |x| is finite when every logit is; an ∞ (or NaN) sum is a
            // bad logit, or finite logits whose sum overflowed.
            if (b1 + b2) != 0.0 || (!PROB && !a.is_finite() && !all_finite(xs)) {
                return Err(c * CHUNK);
            }
            sum_abs += a;
            hard &= s1 + s2 == 0.0;
        }
        Ok((hard, if PROB { self.len() as f32 } else { sum_abs }))
    }

    #[inline(always)]
    fn keep(&self, i: usize) -> bool {
        match self.ignore {
            None => true,
            Some(m) => !m[i],
        }
    }

    /// The error of the first bad element at or after `from` (which exists).
    #[cold]
    fn locate(&self, from: usize) -> Error {
        for i in from..self.len() {
            if !self.keep(i) {
                continue;
            }
            if !input_ok(self.input[i], self.prob) {
                return input_error(self.input[i], At::Element(i));
            }
            if !target_ok(self.targets[i]) {
                return Error::TargetOutOfRange { at: At::Element(i) };
            }
        }
        Error::Empty
    }
}

/// `(Σ defects, Σ t_y, Σ |x|)` of [`Batch::screen`] over whole
/// lane-vectors (`Σ |x|` for logits only: it is also their finiteness test).
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

/// Every entry is finite (bit test; the rare path of [`Batch::screen`]).
#[cold]
fn all_finite(xs: &[f32]) -> bool {
    xs.iter().all(|x| finite_bits(x.to_bits()))
}

/// Number of `false` entries of an ignore mask.
#[inline(never)]
fn count_kept(m: &[bool]) -> f32 {
    m.iter().filter(|&&ig| !ig).count() as f32
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

/// Where the driver reads inputs and writes results.
trait Io {
    /// The same outputs, restricted to element `i`.
    type One<'s>: Io
    where
        Self: 's;
    /// Element `i` alone (`i` is in range).
    fn one(&mut self, i: usize) -> Self::One<'_>;
    /// Shortens every slice to `n` (validation guarantees `n <= len`), so the
    /// pass's index arithmetic needs no bounds checks.
    fn truncate(&mut self, n: usize);
    /// Whether per-element losses are written.
    fn has_losses(&self) -> bool;
    /// Loads `V::N` inputs at `i` (a full vector).
    fn load<V: Lane>(&self, i: usize) -> V;
    /// Loads the remainder at `i`, padded with zeros.
    fn load_tail<V: Lane>(&self, i: usize) -> V;
    /// Stores `n` lanes of the gradient (and of the losses when `ls`).
    fn store<V: Lane>(&mut self, i: usize, n: usize, grad: V, loss: V, ls: bool);
    /// The gradient written so far (none for a loss-only call).
    fn grad_mut(&mut self) -> &mut [f32];
    /// The per-element losses written so far (none unless asked for).
    fn losses_mut(&mut self) -> &mut [f32];
    /// Whether the specialised fast loops serve this output.
    fn fast(&self) -> bool {
        !self.has_losses()
    }
}

/// Separate input and gradient buffers (`losses` is empty when not asked for).
struct Split<'a, 'b> {
    x: &'a [f32],
    grad: &'b mut [f32],
    losses: &'b mut [f32],
}

/// Gradient written over the logits.
struct InPlace<'b> {
    x: &'b mut [f32],
    losses: &'b mut [f32],
}

/// Loss only.
struct Discard<'a> {
    x: &'a [f32],
}

#[inline(always)]
fn truncate_mut(s: &mut &mut [f32], n: usize) {
    let t = core::mem::take(s);
    *s = &mut t[..n];
}

#[inline(always)]
fn store_part<V: Lane>(v: V, out: &mut [f32], i: usize, n: usize) {
    if n == V::N {
        v.store(&mut out[i..i + n]);
    } else {
        let mut buf = [0.0f32; 16];
        v.store(&mut buf[..V::N]);
        out[i..i + n].copy_from_slice(&buf[..n]);
    }
}

#[inline(always)]
fn load_part<V: Lane>(s: &[f32], i: usize, pad: f32) -> V {
    if i + V::N <= s.len() {
        V::load(&s[i..i + V::N])
    } else {
        let mut buf = [pad; 16];
        let n = s.len() - i;
        buf[..n].copy_from_slice(&s[i..]);
        V::load(&buf[..V::N])
    }
}

/// `s[i..i + 1]`, or empty when `s` is (per-element losses not asked for).
#[inline(always)]
fn one_mut(s: &mut [f32], i: usize) -> &mut [f32] {
    if s.is_empty() {
        s
    } else {
        &mut s[i..i + 1]
    }
}

impl Io for Split<'_, '_> {
    type One<'s>
        = Split<'s, 's>
    where
        Self: 's;
    fn one(&mut self, i: usize) -> Split<'_, '_> {
        Split {
            x: &self.x[i..i + 1],
            grad: &mut self.grad[i..i + 1],
            losses: one_mut(self.losses, i),
        }
    }
    #[inline(always)]
    fn truncate(&mut self, n: usize) {
        self.x = &self.x[..n];
        truncate_mut(&mut self.grad, n);
        if !self.losses.is_empty() {
            truncate_mut(&mut self.losses, n);
        }
    }
    #[inline(always)]
    fn has_losses(&self) -> bool {
        !self.losses.is_empty()
    }
    #[inline(always)]
    fn load<V: Lane>(&self, i: usize) -> V {
        V::load(&self.x[i..i + V::N])
    }
    #[inline(always)]
    fn load_tail<V: Lane>(&self, i: usize) -> V {
        load_part(self.x, i, 0.0)
    }
    #[inline(always)]
    fn store<V: Lane>(&mut self, i: usize, n: usize, grad: V, loss: V, ls: bool) {
        store_part(grad, self.grad, i, n);
        if ls {
            store_part(loss, self.losses, i, n);
        }
    }
    #[inline(always)]
    fn grad_mut(&mut self) -> &mut [f32] {
        self.grad
    }
    fn losses_mut(&mut self) -> &mut [f32] {
        self.losses
    }
}

impl Io for InPlace<'_> {
    type One<'s>
        = InPlace<'s>
    where
        Self: 's;
    fn one(&mut self, i: usize) -> InPlace<'_> {
        InPlace {
            x: &mut self.x[i..i + 1],
            losses: one_mut(self.losses, i),
        }
    }
    #[inline(always)]
    fn truncate(&mut self, n: usize) {
        truncate_mut(&mut self.x, n);
        if !self.losses.is_empty() {
            truncate_mut(&mut self.losses, n);
        }
    }
    #[inline(always)]
    fn has_losses(&self) -> bool {
        !self.losses.is_empty()
    }
    #[inline(always)]
    fn load<V: Lane>(&self, i: usize) -> V {
        V::load(&self.x[i..i + V::N])
    }
    #[inline(always)]
    fn load_tail<V: Lane>(&self, i: usize) -> V {
        load_part(self.x, i, 0.0)
    }
    #[inline(always)]
    fn store<V: Lane>(&mut self, i: usize, n: usize, grad: V, loss: V, ls: bool) {
        store_part(grad, self.x, i, n);
        if ls {
            store_part(loss, self.losses, i, n);
        }
    }
    #[inline(always)]
    fn grad_mut(&mut self) -> &mut [f32] {
        self.x
    }
    fn losses_mut(&mut self) -> &mut [f32] {
        self.losses
    }
}

impl Io for Discard<'_> {
    type One<'s>
        = Discard<'s>
    where
        Self: 's;
    fn one(&mut self, i: usize) -> Discard<'_> {
        Discard {
            x: &self.x[i..i + 1],
        }
    }
    #[inline(always)]
    fn truncate(&mut self, n: usize) {
        self.x = &self.x[..n];
    }
    #[inline(always)]
    fn has_losses(&self) -> bool {
        false
    }
    #[inline(always)]
    fn load<V: Lane>(&self, i: usize) -> V {
        V::load(&self.x[i..i + V::N])
    }
    #[inline(always)]
    fn load_tail<V: Lane>(&self, i: usize) -> V {
        load_part(self.x, i, 0.0)
    }
    #[inline(always)]
    fn store<V: Lane>(&mut self, _: usize, _: usize, _: V, _: V, _: bool) {}
    #[inline(always)]
    fn grad_mut(&mut self) -> &mut [f32] {
        &mut []
    }
    fn losses_mut(&mut self) -> &mut [f32] {
        &mut []
    }
    fn fast(&self) -> bool {
        false
    }
}

/// Lane mask of the elements to keep (`ignore[i] == false`), padded with
/// "ignored" past the end.
#[inline(always)]
fn keep_mask<V: Lane>(ignore: &[bool], i: usize) -> V::Mask {
    if V::N == 1 {
        return V::splat(0.0).eq(V::splat(if ignore[i] { 1.0 } else { 0.0 }));
    }
    let mut buf = [0.0f32; 16];
    for (j, b) in buf[..V::N].iter_mut().enumerate() {
        *b = if ignore.get(i + j) == Some(&false) {
            1.0
        } else {
            0.0
        };
    }
    V::load(&buf[..V::N]).gt(V::splat(0.0))
}

/// The fused pass; inputs already validated. Dispatches once per batch on
/// the optional inputs and the kernel, so the hot loop has no per-element
/// branches.
#[inline(always)]
fn run<K: Kernel, V: Lane, IO: Io>(k: &K, b: &Batch<'_>, plan: Plan, io: &mut IO) -> f32 {
    // The common call (no weights, no mask, no per-element losses) gets a
    // loop per γ fast path and mode; everything else shares one loop per mode
    // that tests its options at run time, which keeps the code small.
    let fast = io.fast() && b.weights.is_none() && b.ignore.is_none();
    // A normaliser below 1 scales the gradient up, past f32::MAX where the
    // exact value is beyond it: the pass then writes the unscaled gradient
    // and `finish` multiplies it with saturation, which keeps saturation
    // out of the common passes (a scale ≤ 1 cannot make a finite gradient
    // overflow).
    let total = if fast {
        k.specialize(Run::<V, IO> {
            b,
            plan,
            io: &mut *io,
            _v: core::marker::PhantomData,
        })
    } else {
        chunks::<K, V, IO, true>(k, b, plan, io)
    };
    finish(io.grad_mut(), plan.scale, total)
}

/// The reduced loss `total · s`; when `s > 1` (the pass then ran with
/// scale 1), also `g ← g · s`, both exact or saturated at `±f32::MAX`. Its
/// own function so that no float lives across a call in the caller's frame
/// (8 B of stack on a Cortex-M4F).
#[inline(never)]
fn finish(grad: &mut [f32], s: Scale, total: Total) -> f32 {
    if s.needs_up() {
        s.scale_up(grad);
    }
    total.scaled(s)
}

/// [`run`]'s fast path, generic over the (specialised) kernel.
struct Run<'a, 'b, V, IO> {
    b: &'a Batch<'a>,
    plan: Plan,
    io: &'b mut IO,
    _v: core::marker::PhantomData<V>,
}

impl<V: Lane, IO: Io> Body for Run<'_, '_, V, IO> {
    type Out = Total;
    #[inline(always)]
    fn call<K: Kernel>(self, k: &K) -> Total {
        let Run { b, plan, io, .. } = self;
        chunks::<K, V, IO, false>(k, b, plan, io)
    }
}

/// The whole batch in one pass, or, when the sum of its losses could
/// overflow f32 ([`Plan::huge`], logits near `f32::MAX`), [`one_by_one`].
#[inline(always)]
fn chunks<K: Kernel, V: Lane, IO: Io, const OPT: bool>(
    k: &K,
    b: &Batch<'_>,
    plan: Plan,
    io: &mut IO,
) -> Total {
    if plan.huge {
        return one_by_one::<K, V, IO, OPT>(k, b, plan, io);
    }
    let mut total = Total::default();
    total.add(run_mode::<K, V, IO, OPT>(k, b, plan, io));
    total
}

/// One element per pass, each loss going to the overflow-safe [`Total`] on
/// its own: slow, but it runs the passes already linked and keeps every
/// check (and this frame) out of the common call.
#[cold]
#[inline(never)]
fn one_by_one<K: Kernel, V: Lane, IO: Io, const OPT: bool>(
    k: &K,
    b: &Batch<'_>,
    plan: Plan,
    io: &mut IO,
) -> Total {
    let mut total = Total::default();
    for i in 0..b.targets.len() {
        // Unweighted: the weight is applied here, so that `w ℓ` beyond
        // f32::MAX still enters the sum exactly.
        let one = Batch {
            input: b.input.get(i..i + 1).unwrap_or(&[]),
            targets: &b.targets[i..i + 1],
            prob: b.prob,
            weights: None,
            ignore: b.ignore.map(|m| &m[i..i + 1]),
        };
        let mut io1 = io.one(i);
        let l = run_mode::<K, V, IO::One<'_>, OPT>(k, &one, plan, &mut io1);
        match b.weights {
            None => total.add(l),
            Some(w) => {
                let w = w[i];
                total.add_product(l, w);
                let sc = |v: &mut f32| *v = if w == 0.0 { 0.0 } else { sat(*v * w) };
                io1.grad_mut().iter_mut().for_each(sc);
                io1.losses_mut().iter_mut().for_each(sc);
            }
        }
    }
    total
}

#[inline(always)]
fn run_mode<K: Kernel, V: Lane, IO: Io, const OPT: bool>(
    k: &K,
    b: &Batch<'_>,
    plan: Plan,
    io: &mut IO,
) -> f32 {
    // `b.prob` is a constant where the batch was built, so logits-only
    // callers do not link the probability loop.
    if b.prob {
        pass::<K, V, IO, OPT, PROB>(k, b, plan, io)
    } else if plan.mode == Mode::Hard {
        pass::<K, V, IO, OPT, HARD>(k, b, plan, io)
    } else {
        pass::<K, V, IO, OPT, SOFT>(k, b, plan, io)
    }
}

const HARD: u8 = 0;
const SOFT: u8 = 1;
const PROB: u8 = 2;

/// One pass over the batch: `BLOCK` lane-vectors are summed in f32 lanes,
/// then combined with Kahan compensation. Its sum is below `2^120` unless
/// [`Plan::huge`]; then [`chunks`] calls it one element at a time.
///
/// Each (kernel, options, mode) combination is its own function, never
/// inlined: the dispatch above inlines into the caller, so firmware that uses
/// one configuration links one or two of these loops and nothing else.
#[inline(never)]
fn pass<K: Kernel, V: Lane, IO: Io, const OPT: bool, const MODE: u8>(
    k: &K,
    b: &Batch<'_>,
    plan: Plan,
    io: &mut IO,
) -> f32 {
    let saturate = plan.saturate;
    let mode = match MODE {
        HARD => Mode::Hard,
        SOFT => Mode::Soft,
        _ => Mode::Prob,
    };
    let n = b.targets.len();
    let ys = b.targets;
    io.truncate(n);
    // With `OPT`, weights, mask and per-element losses are each tested at run
    // time (once per vector, a predictable branch); without it they are absent.
    let ws = match b.weights {
        Some(w) if OPT => &w[..n],
        _ => &[],
    };
    let ig = match b.ignore {
        Some(m) if OPT => &m[..n],
        _ => &[],
    };
    let (w_on, m_on, ls_on) = (!ws.is_empty(), !ig.is_empty(), OPT && io.has_losses());
    let scale = V::splat(plan.scale.pass());
    let zero = V::splat(0.0);
    let full = n / V::N * V::N;
    let mut sum = Kahan::default();
    let mut i = 0;
    while i < full {
        let end = (i + BLOCK as usize * V::N).min(full);
        let mut acc = zero;
        while i < end {
            let x: V = io.load(i);
            let y = V::load(&ys[i..i + V::N]);
            let (mut l, mut g) = eval(k, x, y, mode);
            if w_on {
                let w = V::load(&ws[i..i + V::N]);
                // Saturate: a weighted loss or gradient beyond f32::MAX is
                // reported as ±MAX.
                l = (l * w).min(V::splat(f32::MAX));
                g = g * w;
                if saturate {
                    g = sat(g);
                }
            }
            if m_on {
                let keep = keep_mask::<V>(ig, i);
                l = V::select(keep, l, zero);
                g = V::select(keep, g, zero);
            }
            acc = acc + l;
            io.store(i, V::N, g * scale, l, ls_on);
            i += V::N;
        }
        sum.add(acc.reduce_add());
    }
    if full < n {
        // Remainder (SIMD only): padded lanes evaluate (x, y) = (0, 0) and
        // are masked out of the sum; only `n - full` lanes are stored.
        let len = n - full;
        let x: V = io.load_tail(full);
        let y: V = load_part(ys, full, 0.0);
        let (mut l, mut g) = eval(k, x, y, mode);
        if w_on {
            let w: V = load_part(ws, full, 0.0);
            l = (l * w).min(V::splat(f32::MAX));
            g = g * w;
            if saturate {
                g = sat(g);
            }
        }
        let keep = if m_on {
            keep_mask::<V>(ig, full)
        } else {
            let mut buf = [0.0f32; 16];
            buf[..len].fill(1.0);
            V::load(&buf[..V::N]).gt(zero)
        };
        l = V::select(keep, l, zero);
        g = V::select(keep, g, zero);
        io.store(full, len, g * scale, l, ls_on);
        sum.add(l.reduce_add());
    }
    sum.total()
}

/// Loss and gradient of a batch of logits in one pass, without weights or
/// mask: shorthand for `Batch::logits(logits, targets).loss_grad(loss,
/// reduction, grad, None)`.
///
/// # Errors
/// As [`Batch::loss_grad`].
#[inline(always)]
pub fn loss_grad<L: BinaryLoss>(
    loss: &L,
    logits: &[f32],
    targets: &[f32],
    reduction: Reduction,
    grad: &mut [f32],
) -> Result<f32, Error> {
    Batch::logits(logits, targets).loss_grad(loss, reduction, grad, None)
}

/// Loss and gradient with the gradient written over the logits, which saves a
/// buffer the size of the batch (RAM is what a microcontroller lacks).
/// `losses` as in [`Batch::loss_grad`]; on `Err` the logits are untouched.
///
/// # Errors
/// As [`Batch::loss_grad`].
pub fn loss_grad_in_place<L: BinaryLoss>(
    loss: &L,
    logits_then_grad: &mut [f32],
    targets: &[f32],
    reduction: Reduction,
    losses: Option<&mut [f32]>,
) -> Result<f32, Error> {
    if let Some(l) = &losses {
        check_len("losses", logits_then_grad.len(), l.len())?;
    }
    let plan = Batch::logits(logits_then_grad, targets).validate(loss, reduction)?;
    // The pass reads the logits through `io`; the batch only supplies targets.
    let b = Batch::logits(&[], targets);
    let n = targets.len();
    let mut io = InPlace {
        x: &mut logits_then_grad[..n],
        losses: losses.unwrap_or(&mut []),
    };
    Ok(run::<L, Simd, _>(loss, &b, plan, &mut io))
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
            check(&SigmoidCe::with_pos_weight(3.0).unwrap(), &xs, &ys, false);
        }
    }

    fn check<K: Kernel>(k: &K, xs: &[f32; 16], ys: &[f32; 16], prob: bool) {
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
            let tol_l = 1e-6 * ls.abs().max(f32::MIN_POSITIVE);
            let tol_g = 1e-6 * gs.abs().max(1e-30) + 1e-7;
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
