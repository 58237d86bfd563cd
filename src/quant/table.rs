//! Binary losses on `i8` inputs through a table of the 256 codes.

use super::exact::{ExactSum, MaxAbs};
use super::{check_len, Quant, QuantInt};
use crate::reduce::{Scale, Total};
use crate::{At, Batch, BinaryLoss, Error, LossGrad, Reduction};

/// Codes of an `i8`.
const CODES: usize = 256;

/// The bits of `1.0f32`.
const ONE: u32 = 0x3f80_0000;

/// The table slot of a code: `-128 → 0`, `127 → 255`.
#[inline(always)]
fn slot(q: i8) -> usize {
    usize::from((q as u8) ^ 0x80)
}

/// Any binary loss on `i8` logits or probabilities with a scale and zero
/// point, at integer cost per element: the loss `ℓ` and gradient `∂ℓ/∂x`
/// at each of the 256 codes, for label 0 and label 1, computed once (by
/// the f32 [`Batch`] kernel at the dequantized inputs) and then looked up.
///
/// A batch call reads each element's code and label, counts how often each
/// (code, label) pair occurs, sums `count · ℓ` over the pairs that occur in
/// a wide integer accumulator (exact, rounded once), and writes each
/// element's gradient by lookup. Per element it does only integer work (no
/// floating-point operation, so nothing is software floating point on a
/// core without an FPU); per call it does integer work for each distinct
/// pair that occurs (at most 512), plus one f32 multiply per distinct pair
/// for the f32 gradient (none for the re-quantized one). Targets are hard
/// labels (0 or 1); for soft targets, dequantize
/// ([`Quant::dequantize_into`]) and use [`Batch`].
///
/// The table is 4 KiB (`2 · 2 · 256` f32; fill one in place with
/// [`BinaryTable::new`] and [`BinaryTable::set_logits`] to avoid a 4 KiB
/// temporary); a call uses a scratch of `512 · size_of::<usize>()` bytes
/// on the stack (2 KiB on a Cortex-M).
///
/// **Bounds.** Each table entry is, bit for bit, what the f32 batch kernel
/// returns at `x = scale · (q - zero_point)` (dequantized with one
/// rounding) on the same target, so the per-element bounds of the crate's
/// accuracy table hold against the f64 loss at that `x`. The returned loss
/// is the exact `Σ count · ℓ` rounded once, then scaled by the reduction's
/// factor: within the per-element bound plus `3u` (`u = 2^-24`) at any
/// length. The f32 gradient is the entry times the reduction's factor, as
/// the f32 kernel scales it (bit for bit). The re-quantized gradient's
/// integers are exactly rounded; with the returned scale (rounded) it is
/// within `0.5 + 3u·Q_MAX` quanta of the exact gradient.
///
/// ```
/// use tinyloss::quant::{BinaryTable, Quant};
/// use tinyloss::{Focal, Reduction};
/// let table = BinaryTable::logits(&Focal::RETINANET, Quant::new(0.0625, 0)?)?;
/// let logits: [i8; 4] = [48, -16, 8, -64]; // 3.0, -1.0, 0.5, -4.0
/// let targets = [1.0, 0.0, 0.0, 0.0];
/// let mut grad = [0i8; 4];
/// let out = table.loss_grad_quantized(&logits, &targets, None,
///                                     Reduction::MeanOverPositives, &mut grad)?;
/// assert!(out.loss > 0.0 && grad[2] == 127); // the hardest negative
/// let g2 = f32::from(grad[2]) * out.grad_scale; // ∂L/∂x₂ in real units
/// assert!(g2 > 0.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryTable {
    quant: Quant,
    prob: bool,
    /// `[label][slot]`.
    loss: [[f32; CODES]; 2],
    /// `[label][slot]`.
    grad: [[f32; CODES]; 2],
}

impl Default for BinaryTable {
    /// [`BinaryTable::new`].
    fn default() -> Self {
        Self::new()
    }
}

/// The result of [`BinaryTable::loss_grad_quantized`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QuantGrad {
    /// The reduced loss.
    pub loss: f32,
    /// The gradient's scale: `∂L/∂x_i ≈ grad[i] · grad_scale` (zero point
    /// 0). 0 when every gradient is 0; subnormal or 0 where the
    /// gradients themselves are below f32's normal range (a huge
    /// normaliser), as the f32 gradients would be.
    pub grad_scale: f32,
}

impl BinaryTable {
    /// A table of zeros (every entry's loss and gradient 0, logits,
    /// `scale = 1`), to be filled in place by [`BinaryTable::set_logits`]
    /// or [`BinaryTable::set_probabilities`]: on a microcontroller this
    /// builds a table without a 4 KiB temporary on the stack.
    pub const fn new() -> Self {
        BinaryTable {
            quant: Quant {
                scale: 1.0,
                zero_point: 0,
            },
            prob: false,
            loss: [[0.0; CODES]; 2],
            grad: [[0.0; CODES]; 2],
        }
    }

    /// The table of `loss` on `i8` logits quantized with `quant`.
    ///
    /// # Errors
    /// As [`BinaryTable::set_logits`].
    pub fn logits<L: BinaryLoss>(loss: &L, quant: Quant) -> Result<Self, Error> {
        let mut t = Self::new();
        t.set_logits(loss, quant)?;
        Ok(t)
    }

    /// The table of `loss` on `i8` probabilities quantized with `quant`
    /// (a model ending in a quantized sigmoid: [`Quant::SIGMOID_I8`] is
    /// TFLM's). The gradient is `∂ℓ/∂p`, as [`Batch::with_probabilities`]
    /// defines it.
    ///
    /// # Errors
    /// As [`BinaryTable::set_probabilities`].
    pub fn probabilities<L: BinaryLoss>(loss: &L, quant: Quant) -> Result<Self, Error> {
        let mut t = Self::new();
        t.set_probabilities(loss, quant)?;
        Ok(t)
    }

    /// Refills the table, in place, for `loss` on `i8` logits quantized
    /// with `quant` (a new loss, or the scale of a layer that changed).
    /// Costs 512 evaluations of the f32 kernel; uses 1 KiB of stack.
    ///
    /// # Errors
    /// None for a valid [`Quant`] today (every code dequantizes to a finite
    /// logit); the `Result` leaves room for losses with range limits. On
    /// `Err` the table is unchanged.
    pub fn set_logits<L: BinaryLoss>(&mut self, loss: &L, quant: Quant) -> Result<(), Error> {
        self.fill(loss, quant, false)
    }

    /// [`BinaryTable::set_logits`] for probabilities.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] `"quantization"` when some code
    /// dequantizes outside `[0, 1]`; the table is unchanged then.
    pub fn set_probabilities<L: BinaryLoss>(
        &mut self,
        loss: &L,
        quant: Quant,
    ) -> Result<(), Error> {
        let bad = (i8::MIN..=i8::MAX).any(|q| !(0.0..=1.0).contains(&quant.dequantize(q)));
        if bad {
            return Err(Error::InvalidParameter {
                name: "quantization",
            });
        }
        self.fill(loss, quant, true)
    }

    /// Fills the entries with the f32 batch kernel (inputs checked by the
    /// caller: the batch calls cannot fail).
    #[inline(never)]
    fn fill<L: BinaryLoss>(&mut self, loss: &L, quant: Quant, prob: bool) -> Result<(), Error> {
        let mut targets = [0.0f32; CODES];
        for (positive, (ls, gs)) in [false, true]
            .into_iter()
            .zip(self.loss.iter_mut().zip(self.grad.iter_mut()))
        {
            if positive {
                targets = [1.0; CODES];
            }
            for (g, q) in gs.iter_mut().zip(i8::MIN..=i8::MAX) {
                *g = quant.dequantize(q);
            }
            let batch = if prob {
                Batch::new(&targets).with_probabilities()
            } else {
                Batch::new(&targets)
            };
            batch.loss_grad_in_place(loss, gs, Reduction::Sum, Some(ls))?;
        }
        self.quant = quant;
        self.prob = prob;
        Ok(())
    }

    /// The quantization the table was built for.
    pub const fn quant(&self) -> Quant {
        self.quant
    }

    /// Whether the inputs are probabilities (else logits).
    pub const fn is_probabilities(&self) -> bool {
        self.prob
    }

    /// The entry of code `q` and label `positive`: `ℓ` and `∂ℓ/∂x` at the
    /// dequantized input.
    pub fn entry(&self, q: i8, positive: bool) -> LossGrad {
        let l = usize::from(positive);
        let (ls, gs) = (&self.loss[l & 1], &self.grad[l & 1]);
        LossGrad {
            loss: ls[slot(q)],
            grad: gs[slot(q)],
        }
    }

    /// Loss and f32 gradient `∂L/∂x` (with respect to the dequantized
    /// input) of the reduced loss `L`, written into `grad`; returns `L`.
    /// `targets` are 0 or 1; `ignore[i] == true` drops element `i` (it
    /// adds nothing, is not counted, gets gradient 0, and its target is
    /// not read). Reductions as for [`Batch`]: `Mean` over kept elements,
    /// `MeanOverPositives` over `max(1, positives)`.
    ///
    /// # Errors
    /// Before anything is written: [`Error::Empty`],
    /// [`Error::LengthMismatch`] (`"inputs"`, `"ignore"`, `"grad"` against
    /// the targets' length), [`Error::InvalidParameter`] (normaliser), or
    /// [`Error::TargetOutOfRange`] at the first target that is not 0 or 1.
    pub fn loss_grad(
        &self,
        inputs: &[i8],
        targets: &[f32],
        ignore: Option<&[bool]>,
        reduction: Reduction,
        grad: &mut [f32],
    ) -> Result<f32, Error> {
        let mut counts = [[0usize; CODES]; 2];
        let (loss, scale, _) = self.reduce(
            inputs,
            targets,
            ignore,
            Some(grad.len()),
            reduction,
            &mut counts,
        )?;
        self.encode(&mut counts, |g| scale.apply(g).to_bits());
        write(inputs, targets, ignore, &counts, grad, f32::from_bits);
        Ok(loss)
    }

    /// [`BinaryTable::loss_grad`] with the gradient re-quantized to `i8`
    /// or `i16` with a per-tensor max-abs scale: `grad[i] ≈ ∂L/∂x_i /
    /// grad_scale`, the largest magnitude at `±Q_MAX`, rounded to nearest
    /// (ties away from zero), within `0.5 + 3u·Q_MAX` quanta of
    /// `∂L/∂x_i / grad_scale` (the integers exactly rounded; `grad_scale`
    /// is `max |∂ℓ/∂x| / Q_MAX` times the reduction's factor, each rounded).
    ///
    /// # Errors
    /// As [`BinaryTable::loss_grad`].
    pub fn loss_grad_quantized<T: QuantInt>(
        &self,
        inputs: &[i8],
        targets: &[f32],
        ignore: Option<&[bool]>,
        reduction: Reduction,
        grad: &mut [T],
    ) -> Result<QuantGrad, Error> {
        let mut counts = [[0usize; CODES]; 2];
        let (loss, scale, m_bits) = self.reduce(
            inputs,
            targets,
            ignore,
            Some(grad.len()),
            reduction,
            &mut counts,
        )?;
        let unit = f32::from_bits(m_bits) / T::Q_MAX as f32;
        // The reduction's factor goes into the scale, not the integers.
        let grad_scale = if scale.parts().0 == 0.0 {
            0.0
        } else {
            scale.apply(unit)
        };
        let map = MaxAbs::new(m_bits, T::Q_MAX);
        self.encode(&mut counts, |g| map.quantize(g) as u32);
        write(inputs, targets, ignore, &counts, grad, |b| {
            T::clamped(b as i32)
        });
        Ok(QuantGrad { loss, grad_scale })
    }

    /// The reduced loss alone; same checks as [`BinaryTable::loss_grad`].
    ///
    /// # Errors
    /// As [`BinaryTable::loss_grad`] (without `"grad"`).
    pub fn loss(
        &self,
        inputs: &[i8],
        targets: &[f32],
        ignore: Option<&[bool]>,
        reduction: Reduction,
    ) -> Result<f32, Error> {
        let mut counts = [[0usize; CODES]; 2];
        Ok(self
            .reduce(inputs, targets, ignore, None, reduction, &mut counts)?
            .0)
    }

    /// Validates (lengths in the order inputs, ignore, grad), counts each
    /// (label, code) pair into `counts`, and
    /// returns the reduced loss, the reduction's factor and the largest
    /// `|∂ℓ/∂x|` among the pairs that occur (as bits).
    #[inline(never)]
    fn reduce(
        &self,
        inputs: &[i8],
        targets: &[f32],
        ignore: Option<&[bool]>,
        grad_len: Option<usize>,
        reduction: Reduction,
        counts: &mut [[usize; CODES]; 2],
    ) -> Result<(f32, Scale, u32), Error> {
        let n = targets.len();
        check_len(n, "inputs", inputs.len())?;
        if let Some(m) = ignore {
            check_len(n, "ignore", m.len())?;
        }
        if let Some(g) = grad_len {
            check_len(n, "grad", g)?;
        }
        reduction.validate()?;
        let [neg, pos] = counts;
        let mut next = 0usize;
        for (&q, &y) in inputs.iter().zip(targets) {
            let at = next;
            next = next.wrapping_add(1);
            if ignore.is_some_and(|m| m.get(at) == Some(&true)) {
                continue;
            }
            let b = y.to_bits();
            let c = if b << 1 == 0 {
                &mut neg[slot(q)]
            } else if b == ONE {
                &mut pos[slot(q)]
            } else {
                return Err(Error::TargetOutOfRange {
                    at: At::Element(at),
                });
            };
            *c = c.wrapping_add(1);
        }
        let sum = |cs: &[usize; CODES]| cs.iter().fold(0usize, |a, &c| a.wrapping_add(c));
        let positives = sum(pos);
        let denom = match reduction {
            Reduction::Sum => 1.0,
            Reduction::MeanOver(d) => d,
            Reduction::Mean => sum(neg).wrapping_add(positives) as f32,
            Reduction::MeanOverPositives => (positives as f32).max(1.0),
        };
        let scale = Scale::of(denom);
        let mut total = ExactSum::new();
        let mut m_bits = 0u32;
        for (cs, (ls, gs)) in counts.iter().zip(self.loss.iter().zip(&self.grad)) {
            for (&c, (&l, &g)) in cs.iter().zip(ls.iter().zip(gs)) {
                if c != 0 {
                    total.add(c, l);
                    m_bits = m_bits.max(g.to_bits() & 0x7fff_ffff);
                }
            }
        }
        let (v, level) = total.parts();
        Ok((Total::scale_parts(v, level, scale), scale, m_bits))
    }

    /// Replaces each nonzero count with the encoded output of its entry's
    /// gradient.
    #[inline(never)]
    fn encode(&self, counts: &mut [[usize; CODES]; 2], f: impl Fn(f32) -> u32) {
        for (cs, gs) in counts.iter_mut().zip(&self.grad) {
            for (c, &g) in cs.iter_mut().zip(gs) {
                if *c != 0 {
                    *c = f(g) as usize;
                }
            }
        }
    }
}

/// The lookup pass: each kept element's encoded gradient, 0 where ignored
/// (the targets were validated by [`BinaryTable::reduce`]).
#[inline(always)]
fn write<T: Copy + Default>(
    inputs: &[i8],
    targets: &[f32],
    ignore: Option<&[bool]>,
    codes: &[[usize; CODES]; 2],
    out: &mut [T],
    decode: impl Fn(u32) -> T,
) {
    let [neg, pos] = codes;
    let mut next = 0usize;
    for ((o, &q), &y) in out.iter_mut().zip(inputs).zip(targets) {
        let at = next;
        next = next.wrapping_add(1);
        *o = if ignore.is_some_and(|m| m.get(at) == Some(&true)) {
            T::default()
        } else if y.to_bits() == ONE {
            decode(pos[slot(q)] as u32)
        } else {
            decode(neg[slot(q)] as u32)
        };
    }
}
