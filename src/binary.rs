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

use crate::lanes::{Lane, Simd};
use crate::reduce::{Acc, Reduction};
use crate::{Error, LossGrad};

/// Probabilities are clamped to `[PROB_EPS, 1 - PROB_EPS]` by the
/// probability-input variants (Keras' `epsilon()`); the largest loss they can
/// return is therefore `-ln(1e-7) ≈ 16.1` per element (times weights).
pub const PROB_EPS: f32 = 1e-7;

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// The per-lane kernels of a binary loss. Implemented by the crate's loss
/// configurations only.
#[doc(hidden)]
pub trait Kernel: Copy {
    /// Label smoothing ε.
    fn smoothing(&self) -> f32;
    /// Loss and gradient for hard labels (every lane of `y` is 0 or 1).
    fn hard<V: Lane>(&self, x: V, y: V) -> (V, V);
    /// Loss and gradient for soft targets: `y` as given (for `α_t`), `ys`
    /// smoothed and `oms = 1 - ys`, each computed directly so that neither
    /// loses relative accuracy near 0.
    fn soft<V: Lane>(&self, x: V, y: V, ys: V, oms: V) -> (V, V);
    /// Loss and gradient with respect to a probability input.
    fn prob<V: Lane>(&self, p: V, y: V, ys: V, oms: V) -> (V, V);
}

/// A binary loss the batch kernels accept: [`Focal`](crate::Focal) or
/// [`SigmoidCe`](crate::SigmoidCe). Sealed.
pub trait BinaryLoss: Kernel + sealed::Sealed {}

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

/// Evaluates one lane-vector: the hard-label kernel when every lane's target
/// is exactly 0 or 1 and there is no smoothing, the soft kernel otherwise.
#[inline(always)]
fn eval<K: Kernel, V: Lane>(k: &K, x: V, y: V, prob: bool) -> (V, V) {
    let eps = k.smoothing();
    let one = V::splat(1.0);
    let (ys, oms) = if eps == 0.0 {
        (y, one - y)
    } else {
        // y(1-ε) + ε/2 and (1-y)(1-ε) + ε/2: both sides keep full relative
        // accuracy (1 - ys would lose it when ys is close to 1).
        let (keep, add) = (V::splat(1.0 - eps), V::splat(0.5 * eps));
        (y.mul_add(keep, add), (one - y).mul_add(keep, add))
    };
    if prob {
        return k.prob(x, y, ys, oms);
    }
    let hard = V::or(y.eq(V::splat(0.0)), y.eq(one));
    if eps == 0.0 && V::all(hard) {
        k.hard(x, y)
    } else {
        k.soft(x, y, ys, oms)
    }
}

#[inline]
fn input_ok(x: f32, prob: bool) -> bool {
    if prob {
        (0.0..=1.0).contains(&x)
    } else {
        x.is_finite()
    }
}

#[inline]
fn target_ok(y: f32) -> bool {
    (0.0..=1.0).contains(&y)
}

/// Checked evaluation of a single element (the per-element API).
pub(crate) fn one<K: Kernel>(k: &K, x: f32, y: f32, prob: bool) -> Result<LossGrad, Error> {
    if !input_ok(x, prob) {
        return Err(Error::NonFiniteLogit { index: 0 });
    }
    if !target_ok(y) {
        return Err(Error::TargetOutOfRange { index: 0 });
    }
    let (loss, grad) = eval(k, x, y, prob);
    Ok(LossGrad { loss, grad })
}

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
    /// The sum is accumulated in f32 lanes flushed into f64 every 32 vectors,
    /// so the reduction adds at most 2e-6 relative error to the returned loss
    /// at any length (2^20 elements included) on top of the per-element bound.
    ///
    /// # Errors
    /// Every check runs before anything is written: [`Error::Empty`],
    /// [`Error::LengthMismatch`], [`Error::InvalidParameter`] (normaliser),
    /// [`Error::NonFiniteLogit`], [`Error::TargetOutOfRange`],
    /// [`Error::InvalidWeight`], each with the index of the first bad element.
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
        let scale = self.validate(reduction)?;
        let mut io = Split {
            x: self.input,
            grad,
            losses,
        };
        Ok(run::<L, Simd, _>(loss, self, scale, &mut io))
    }

    /// The reduced loss alone (for evaluation); same checks as
    /// [`Batch::loss_grad`], nothing written.
    pub fn loss<L: BinaryLoss>(&self, loss: &L, reduction: Reduction) -> Result<f32, Error> {
        let scale = self.validate(reduction)?;
        let mut io = Discard { x: self.input };
        Ok(run::<L, Simd, _>(loss, self, scale, &mut io))
    }

    /// Checks shapes, parameters and data; returns the gradient scale.
    fn validate(&self, reduction: Reduction) -> Result<f64, Error> {
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
        let keep = |i: usize| self.ignore.is_none_or(|m| !m[i]);
        // Fast branch-free scan in blocks; locate the index only on failure.
        const CHUNK: usize = 64;
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK).min(n);
            let mut ok = true;
            for i in start..end {
                let w_ok = self.weights.is_none_or(|w| w[i].is_finite() && w[i] >= 0.0);
                let good = input_ok(self.input[i], self.prob) & target_ok(self.targets[i]) & w_ok;
                ok &= good | !keep(i);
            }
            if !ok {
                for i in start..end {
                    if !keep(i) {
                        continue;
                    }
                    if !input_ok(self.input[i], self.prob) {
                        return Err(Error::NonFiniteLogit { index: i });
                    }
                    if !target_ok(self.targets[i]) {
                        return Err(Error::TargetOutOfRange { index: i });
                    }
                    if let Some(w) = self.weights {
                        if !(w[i].is_finite() && w[i] >= 0.0) {
                            return Err(Error::InvalidWeight { index: i });
                        }
                    }
                }
            }
            start = end;
        }
        let denom = match reduction {
            Reduction::None | Reduction::Sum => 1.0,
            Reduction::MeanOver(d) => d as f64,
            Reduction::Mean => match self.ignore {
                None => n as f64,
                Some(m) => m.iter().filter(|&&ig| !ig).count() as f64,
            },
            Reduction::MeanOverPositives => {
                let mut acc = Acc::<f32>::new();
                for (i, &y) in self.targets.iter().enumerate() {
                    if keep(i) {
                        acc.add(y);
                    }
                }
                acc.total().max(1.0)
            }
        };
        Ok(if denom == 0.0 { 0.0 } else { 1.0 / denom })
    }
}

fn check_len(what: &'static str, expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            found,
        })
    }
}

/// Where the driver reads inputs and writes results.
trait Io {
    fn load<V: Lane>(&self, i: usize) -> V;
    fn store<V: Lane>(&mut self, i: usize, n: usize, grad: V, loss: V);
}

/// Separate input and gradient buffers.
struct Split<'a, 'b> {
    x: &'a [f32],
    grad: &'b mut [f32],
    losses: Option<&'b mut [f32]>,
}

/// Gradient written over the logits.
struct InPlace<'b> {
    x: &'b mut [f32],
    losses: Option<&'b mut [f32]>,
}

/// Loss only.
struct Discard<'a> {
    x: &'a [f32],
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

impl Io for Split<'_, '_> {
    #[inline(always)]
    fn load<V: Lane>(&self, i: usize) -> V {
        load_part(self.x, i, 0.0)
    }
    #[inline(always)]
    fn store<V: Lane>(&mut self, i: usize, n: usize, grad: V, loss: V) {
        store_part(grad, self.grad, i, n);
        if let Some(l) = self.losses.as_deref_mut() {
            store_part(loss, l, i, n);
        }
    }
}

impl Io for InPlace<'_> {
    #[inline(always)]
    fn load<V: Lane>(&self, i: usize) -> V {
        load_part(self.x, i, 0.0)
    }
    #[inline(always)]
    fn store<V: Lane>(&mut self, i: usize, n: usize, grad: V, loss: V) {
        store_part(grad, self.x, i, n);
        if let Some(l) = self.losses.as_deref_mut() {
            store_part(loss, l, i, n);
        }
    }
}

impl Io for Discard<'_> {
    #[inline(always)]
    fn load<V: Lane>(&self, i: usize) -> V {
        load_part(self.x, i, 0.0)
    }
    #[inline(always)]
    fn store<V: Lane>(&mut self, _: usize, _: usize, _: V, _: V) {}
}

/// Lane mask of the elements to keep (`ignore[i] == false`), padded with
/// "ignored" past the end.
#[inline(always)]
fn keep_mask<V: Lane>(ignore: &[bool], i: usize) -> V::Mask {
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

/// The fused pass. Inputs are already validated.
#[inline(always)]
fn run<L: Kernel, V: Lane, IO: Io>(k: &L, b: &Batch<'_>, scale: f64, io: &mut IO) -> f32 {
    let n = b.targets.len();
    let scale32 = V::splat(scale as f32);
    let zero = V::splat(0.0);
    let mut acc = Acc::<V>::new();
    let mut i = 0;
    while i < n {
        let len = (n - i).min(V::N);
        let x: V = io.load(i);
        let y: V = load_part(b.targets, i, 0.0);
        let (mut l, mut g) = eval(k, x, y, b.prob);
        if let Some(w) = b.weights {
            let w: V = load_part(w, i, 0.0);
            // Saturate: a weighted loss beyond f32::MAX is reported as MAX.
            l = (l * w).min(V::splat(f32::MAX));
            g = g * w;
        }
        if let Some(m) = b.ignore {
            let keep = keep_mask::<V>(m, i);
            l = V::select(keep, l, zero);
            g = V::select(keep, g, zero);
        } else if len < V::N {
            // Padding lanes evaluate (x, y) = (0, 0); drop them from the sum.
            let mut buf = [0.0f32; 16];
            buf[..len].fill(1.0);
            let keep = V::load(&buf[..V::N]).gt(zero);
            l = V::select(keep, l, zero);
        }
        acc.add(l);
        io.store(i, len, g * scale32, l);
        i += len;
    }
    (acc.total() * scale).min(f32::MAX as f64) as f32
}

/// Loss and gradient of a batch of logits in one pass, without weights or
/// mask: shorthand for `Batch::logits(logits, targets).loss_grad(loss,
/// reduction, grad, None)`.
///
/// # Errors
/// As [`Batch::loss_grad`].
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
    let scale = Batch::logits(logits_then_grad, targets).validate(reduction)?;
    // The pass reads the logits through `io`; the batch only supplies targets.
    let b = Batch::logits(&[], targets);
    let mut io = InPlace {
        x: logits_then_grad,
        losses,
    };
    Ok(run::<L, Simd, _>(loss, &b, scale, &mut io))
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
        let mut xs = [0.0f32; 8];
        let mut ys = [0.0f32; 8];
        for round in 0..4000 {
            for j in 0..8 {
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
                    let p: [f32; 8] = core::array::from_fn(|j| 1.0 / (1.0 + libm::expf(-xs[j])));
                    check(&f, &p, &ys, true);
                }
            }
            check(&SigmoidCe::with_pos_weight(3.0).unwrap(), &xs, &ys, false);
        }
    }

    fn check<K: Kernel>(k: &K, xs: &[f32; 8], ys: &[f32; 8], prob: bool) {
        let (l, g) = eval(k, <Simd as Lane>::load(xs), <Simd as Lane>::load(ys), prob);
        let mut lo = [0.0f32; 8];
        let mut go = [0.0f32; 8];
        l.store(&mut lo[..Simd::N]);
        g.store(&mut go[..Simd::N]);
        for j in 0..Simd::N {
            // Hard and soft kernels may be chosen differently per lane, and
            // FMA may round differently: allow a few ULP of the magnitude.
            let (ls, gs) = eval::<K, f32>(k, xs[j], ys[j], prob);
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
