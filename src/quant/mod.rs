//! Quantized inputs and outputs: `i8` and `i16` tensors with a scale and a
//! zero point (TensorFlow Lite Micro's affine convention), and gradients
//! re-quantized with a per-tensor max-abs scale.
//!
//! A quantized value `q` stands for the real number
//! `x = scale · (q - zero_point)`. TFLM's int8 activations use a zero point
//! in `[-128, 127]`; its int16 activations are symmetric (zero point 0).
//! Example: a layer whose int8 output spans the logits `[-8, 8)` has
//! `scale = 16/256 = 0.0625` and `zero_point = 0`, so `q = -128` is
//! `x = -8.0`, `q = 16` is `x = 1.0`; TFLM's quantized sigmoid writes
//! probabilities with `scale = 1/256`, `zero_point = -128`, so `q = -128`
//! is `p = 0` and `q = 127` is `p = 255/256`.
//!
//! * [`Quant`] holds a validated scale and zero point and dequantizes.
//! * [`BinaryTable`] runs any binary loss on `i8` logits or probabilities
//!   with integer work per element: a table of the loss and gradient at
//!   each of the 256 codes, built once per loss and quantization with the
//!   f32 kernels.
//! * [`quantize_max_abs`] re-quantizes a gradient (or any f32 slice) to
//!   `i8`/`i16` with the scale `max |x| / Q_MAX` (tiny-training's per-tensor
//!   max-abs scaling); [`BinaryTable::loss_grad_quantized`] does the same
//!   inside the batch call.
//!
//! `i16` inputs (65,536 codes, too many for a table on a microcontroller)
//! go through [`Quant::dequantize_into`] and the f32 [`Batch`](crate::Batch)
//! or [`softmax`](crate::softmax) calls.
//!
//! **Rounding.** Quantizing rounds to nearest, ties away from zero (C's
//! `round`, as TFLM's quantize kernels do), then clamps to
//! `[-Q_MAX, Q_MAX]` (`Q_MAX` = 127 or 32767: the symmetric range, so that
//! `-x` quantizes to `-q`).

use crate::Error;

mod exact;
mod table;

pub use table::{BinaryTable, QuantGrad};

/// The integer types a quantized tensor holds: `i8` and `i16`.
pub trait QuantInt: sealed::Sealed + Copy + Default {
    /// The largest magnitude a quantized gradient takes: 127 or 32767.
    const Q_MAX: i32;
    /// The value as an `i32`.
    fn get(self) -> i32;
    /// `v` clamped to `[-Q_MAX, Q_MAX]`.
    fn clamped(v: i32) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for i8 {}
    impl Sealed for i16 {}
}

impl QuantInt for i8 {
    const Q_MAX: i32 = 127;
    #[inline(always)]
    fn get(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn clamped(v: i32) -> Self {
        // In range after the clamp: the cast is exact.
        v.clamp(-Self::Q_MAX, Self::Q_MAX) as i8
    }
}

impl QuantInt for i16 {
    const Q_MAX: i32 = 32767;
    #[inline(always)]
    fn get(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn clamped(v: i32) -> Self {
        v.clamp(-Self::Q_MAX, Self::Q_MAX) as i16
    }
}

/// An affine quantization: `x = scale · (q - zero_point)`.
///
/// `scale` is finite and positive (subnormal included) with
/// `scale · 65536` finite, and `zero_point` lies in `[-32768, 32767]`, so
/// every `i8` and `i16` code dequantizes to a finite f32. Dequantizing is
/// correctly rounded: `q - zero_point` is an integer below `2^17`, exact in
/// f32, and one multiply rounds it (at most 0.5 ULP).
///
/// ```
/// use tinyloss::quant::Quant;
/// let q = Quant::new(0.0625, 0)?; // int8 logits in [-8, 8)
/// assert_eq!(q.dequantize(16i8), 1.0);
/// assert_eq!(q.dequantize(-128i8), -8.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quant {
    scale: f32,
    zero_point: i32,
}

impl Quant {
    /// A quantization with `scale` and `zero_point`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] `"scale"` (not finite, not positive, or
    /// `scale · 65536` beyond f32) or `"zero_point"` (outside
    /// `[-32768, 32767]`).
    pub fn new(scale: f32, zero_point: i32) -> Result<Self, Error> {
        if !(scale > 0.0 && (scale * 65536.0).is_finite()) {
            return Err(Error::InvalidParameter { name: "scale" });
        }
        if !(-32768..=32767).contains(&zero_point) {
            return Err(Error::InvalidParameter { name: "zero_point" });
        }
        Ok(Quant { scale, zero_point })
    }

    /// TFLM's int8 sigmoid output: `scale = 1/256`, `zero_point = -128`
    /// (`q = -128` is `p = 0`, `q = 127` is `p = 255/256`).
    pub const SIGMOID_I8: Quant = Quant {
        scale: 1.0 / 256.0,
        zero_point: -128,
    };

    /// The scale.
    pub const fn scale(&self) -> f32 {
        self.scale
    }

    /// The zero point.
    pub const fn zero_point(&self) -> i32 {
        self.zero_point
    }

    /// `scale · (q - zero_point)`, correctly rounded.
    #[inline(always)]
    pub fn dequantize<T: QuantInt>(&self, q: T) -> f32 {
        // |q - zero_point| ≤ 65535: no wrap, and exact in f32.
        q.get().wrapping_sub(self.zero_point) as f32 * self.scale
    }

    /// Dequantizes `q` into `out`.
    ///
    /// # Errors
    /// [`Error::Empty`], or [`Error::LengthMismatch`] `"out"` against
    /// `q`'s length; nothing is written then.
    pub fn dequantize_into<T: QuantInt>(&self, q: &[T], out: &mut [f32]) -> Result<(), Error> {
        check_len(q.len(), "out", out.len())?;
        for (o, &v) in out.iter_mut().zip(q) {
            *o = self.dequantize(v);
        }
        Ok(())
    }
}

/// `Err` unless `found == expected != 0` (the crate's length check, after
/// the empty one).
pub(crate) fn check_len(expected: usize, what: &'static str, found: usize) -> Result<(), Error> {
    if expected == 0 {
        return Err(Error::Empty);
    }
    crate::error::check_len(what, expected, found)
}

/// Re-quantizes `x` to `out` with the per-tensor max-abs scale and returns
/// that scale: `scale = m / Q_MAX`, `out[i] = round(x[i] / scale)` with
/// `m = max |x[i]|` (ties away from zero; `scale = 0` and all zeros when
/// `m = 0`).
///
/// **Bound.** `out[i]` is `x[i] · Q_MAX / m` rounded exactly (integer
/// arithmetic, no floating-point operation), so `|out[i] - x[i] / scale| ≤
/// 0.5 + u·Q_MAX` quanta (`u = 2^-24`, the rounding of `scale`): at most
/// 0.500008 for `i8` and 0.50196 for `i16`, while `scale` is normal
/// (`m ≥ Q_MAX · 2^-126`); the element of largest magnitude maps to
/// `±Q_MAX`.
///
/// ```
/// use tinyloss::quant::quantize_max_abs;
/// let g = [0.5f32, -0.25, 0.0, 0.125];
/// let mut q = [0i8; 4];
/// let s = quantize_max_abs(&g, &mut q)?;
/// assert_eq!(q, [127, -64, 0, 32]); // -63.5 and 31.75 round away from zero
/// assert_eq!(s, 0.5 / 127.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
///
/// # Errors
/// [`Error::Empty`], [`Error::LengthMismatch`] `"out"`, or
/// [`Error::NonFiniteInput`] at the first NaN or infinite value; nothing is
/// written then.
pub fn quantize_max_abs<T: QuantInt>(x: &[f32], out: &mut [T]) -> Result<f32, Error> {
    check_len(x.len(), "out", out.len())?;
    let mut m_bits = 0u32;
    let mut next = 0usize;
    for &v in x {
        let at = next;
        next = next.wrapping_add(1);
        // |v| as bits: finite magnitudes order like their bit patterns.
        let b = v.to_bits() & 0x7fff_ffff;
        if b >= 0x7f80_0000 {
            return Err(Error::NonFiniteInput {
                at: crate::At::Element(at),
            });
        }
        m_bits = m_bits.max(b);
    }
    let scale = f32::from_bits(m_bits) / T::Q_MAX as f32;
    let map = exact::MaxAbs::new(m_bits, T::Q_MAX);
    for (o, &v) in out.iter_mut().zip(x) {
        // 0 for every value when m = 0.
        *o = T::clamped(map.quantize(v));
    }
    Ok(scale)
}
