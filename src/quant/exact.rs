//! Integer arithmetic for the quantized tables: an exact sum of `count · v`
//! over non-negative f32 values (a fixed-point accumulator wide enough for
//! every f32, rounded once at the end), and exactly rounded max-abs
//! quantization. Neither uses a floating-point operation, so both cost
//! only integer instructions on a core without an FPU.

/// Limbs of [`ExactSum`]: bit 0 is `2^-149`; `count · f32::MAX` for up to
/// 2^64 counts summed 2^9 times stays below bit `149 + 128 + 64 + 9 < 384`.
const LIMBS: usize = 12;

/// `Σ c · v`, exact.
pub(crate) struct ExactSum {
    limbs: [u32; LIMBS],
}

/// `v`'s integer mantissa and the bit position of its last bit above
/// `2^-149` (`v = m · 2^(pos - 149)`), for finite `v`.
#[inline(always)]
fn split(bits: u32) -> (u64, u32) {
    let e = (bits >> 23) & 0xff;
    let f = bits & 0x7f_ffff;
    if e == 0 {
        (u64::from(f), 0)
    } else {
        (u64::from(f | 0x80_0000), e.wrapping_sub(1))
    }
}

impl ExactSum {
    pub const fn new() -> Self {
        ExactSum { limbs: [0; LIMBS] }
    }

    /// Adds `x` at limb `w`, carrying upwards.
    #[inline(always)]
    fn add_word(&mut self, w: usize, x: u32) {
        let mut carry = x;
        for limb in self.limbs.iter_mut().skip(w) {
            if carry == 0 {
                break;
            }
            let (s, c) = limb.overflowing_add(carry);
            *limb = s;
            carry = u32::from(c);
        }
    }

    /// Adds `x · 2^pos` for `x < 2^64`, in 32-bit words (no 64-bit shift:
    /// on a Cortex-M0 that is a library call).
    #[inline(always)]
    fn add_shifted(&mut self, x: u64, pos: u32) {
        let (w, s) = ((pos / 32) as usize, pos % 32);
        let (lo, hi) = (x as u32, (x >> 32) as u32);
        let w1 = w.wrapping_add(1);
        if s == 0 {
            self.add_word(w, lo);
            self.add_word(w1, hi);
        } else {
            self.add_word(w, lo << s);
            self.add_word(w1, (lo >> (32 - s)) | (hi << s));
            self.add_word(w1.wrapping_add(1), hi >> (32 - s));
        }
    }

    /// Adds `c · v` for a finite `v >= 0` (the sign bit is ignored).
    pub fn add(&mut self, c: usize, v: f32) {
        let (m, pos) = split(v.to_bits() & 0x7fff_ffff);
        let c = c as u64;
        self.add_shifted((c & 0xffff_ffff).wrapping_mul(m), pos);
        // Zero on a 32-bit target (the branch folds away).
        let hi = c >> 32;
        if hi != 0 {
            self.add_shifted(hi.wrapping_mul(m), pos.wrapping_add(32));
        }
    }

    /// Bit `i` of the sum.
    #[inline(always)]
    fn bit(&self, i: u32) -> bool {
        let w = self.limbs.get((i / 32) as usize).copied().unwrap_or(0);
        (w >> (i % 32)) & 1 == 1
    }

    /// Whether any bit below `i` is set.
    fn any_below(&self, i: u32) -> bool {
        let (w, s) = ((i / 32) as usize, i % 32);
        let low = self.limbs.iter().take(w).any(|&l| l != 0);
        let part = self.limbs.get(w).copied().unwrap_or(0) & ((1u32 << s).wrapping_sub(1));
        low || part != 0
    }

    /// Bits `[lo, lo + 24)` of the sum.
    fn bits24(&self, lo: u32) -> u32 {
        let (w, s) = ((lo / 32) as usize, lo % 32);
        let a = u64::from(self.limbs.get(w).copied().unwrap_or(0));
        let b = u64::from(self.limbs.get(w.wrapping_add(1)).copied().unwrap_or(0));
        (((b << 32 | a) >> s) & 0xff_ffff) as u32
    }

    /// The sum rounded once to nearest (ties to even) as `(v, level)`:
    /// the value is `v · 2^(64 · level)`, with `v` below `2^128` and, when
    /// `level > 0`, at least `2^64` (what `Total::scale_parts` takes).
    pub fn parts(&self) -> (f32, u32) {
        let Some((w, &l)) = self.limbs.iter().enumerate().rev().find(|(_, &l)| l != 0) else {
            return (0.0, 0);
        };
        // Every index here is below 384: the wrapping forms never wrap.
        let top = (w as u32)
            .wrapping_mul(32)
            .wrapping_add(31 - l.leading_zeros());
        if top < 24 {
            // Below 2^-125: exact, and the bits are the f32's own.
            return (f32::from_bits(self.limbs[0]), 0);
        }
        let shift = top.wrapping_sub(23);
        let mut m = self.bits24(shift);
        let mut field = shift.wrapping_add(1);
        let half = self.bit(shift.wrapping_sub(1));
        if half && (self.any_below(shift.wrapping_sub(1)) || m & 1 == 1) {
            m = m.wrapping_add(1);
            if m == 1 << 24 {
                m >>= 1;
                field = field.wrapping_add(1);
            }
        }
        let mut level = 0u32;
        while field > 254 {
            field = field.wrapping_sub(64);
            level = level.wrapping_add(1);
        }
        (f32::from_bits((field << 23) | (m & 0x7f_ffff)), level)
    }
}

/// Exactly rounded max-abs quantization against one largest magnitude:
/// `round(|g| / m · q_max)` with the sign of `g`, ties away from zero.
#[derive(Clone, Copy)]
pub(crate) struct MaxAbs {
    /// `m`'s mantissa in `[2^23, 2^24)` (0 when `m = 0`) and exponent.
    mm: u64,
    me: u32,
    /// `floor(2^39 / mm)` (below 2^16): division by `mm` as a multiply.
    r: u32,
    q_max: i32,
}

impl MaxAbs {
    /// The map for the largest magnitude `m` (as bits without sign).
    pub fn new(m_bits: u32, q_max: i32) -> Self {
        let (mm, me) = normalize(m_bits);
        let r = (1u64 << 39).checked_div(mm).unwrap_or(0) as u32;
        MaxAbs { mm, me, r, q_max }
    }

    /// [`MaxAbs::quantize`] where `x2 = 2 gm q_max < 2^32` (every `i8`),
    /// in 32-bit arithmetic: `d = floor(x2 / mm) < 2^9` from a multiply by
    /// `r` (each truncation costs under 2^-7, so the estimate is `d` or
    /// `d - 1`) and one multiply-back; beyond `k = 8` the result is 0.
    #[inline(always)]
    fn quantize32(self, x2: u32, k: u32, neg: bool) -> i32 {
        if k > 8 {
            return 0;
        }
        let mm = self.mm as u32;
        let mut d = ((x2 >> 16).wrapping_mul(self.r)) >> 23;
        // d · mm ≤ x2 < 2^32: no wrap.
        if x2.wrapping_sub(d.wrapping_mul(mm)) >= mm {
            d = d.wrapping_add(1);
        }
        let q = (d.wrapping_add(1 << k) >> (k + 1)).min(self.q_max as u32) as i32;
        if neg {
            q.wrapping_neg()
        } else {
            q
        }
    }

    /// `round(|g| / m · q_max)` with `g`'s sign, for finite `|g| <= m`.
    #[inline]
    pub fn quantize(self, g: f32) -> i32 {
        let gb = g.to_bits();
        let (gm, ge) = normalize(gb & 0x7fff_ffff);
        let mm = self.mm;
        if gm == 0 || mm == 0 {
            return 0;
        }
        // |g| / m = (gm / mm) · 2^-(me - ge), gm and mm in [2^23, 2^24).
        let k = self.me.saturating_sub(ge);
        // Beyond 38 the quotient is below 2^-37 · 32767 < 1/2.
        if k > 38 {
            return 0;
        }
        // q = floor(x / (mm 2^k) + 1/2) with x = gm q_max (round half up on
        // magnitudes) = floor((floor(2x / mm) + 2^k) / 2^(k+1)).
        let x2 = gm.wrapping_mul((self.q_max as u64).wrapping_mul(2)); // below 2^40
        if x2 >> 32 == 0 {
            return self.quantize32(x2 as u32, k, gb >> 31 == 1);
        }
        let d = x2.checked_div(mm).unwrap_or(0);
        let q = (d.wrapping_add(1 << k) >> (k + 1)).min(self.q_max as u64) as i32;
        if gb >> 31 == 1 {
            q.wrapping_neg()
        } else {
            q
        }
    }
}

/// A finite magnitude's mantissa scaled into `[2^23, 2^24)` (0 for 0) and
/// its exponent, so that values compare as `(exponent, mantissa)`.
#[inline(always)]
fn normalize(bits: u32) -> (u64, u32) {
    if bits >= 0x0080_0000 {
        // Normal: the implicit bit is already bit 23.
        let (m, pos) = split(bits);
        return (m, pos.wrapping_add(32));
    }
    let m = bits;
    if m == 0 {
        return (0, 0);
    }
    let z = m.leading_zeros().wrapping_sub(8);
    // A subnormal's exponent goes below a normal's: offset every exponent
    // by 32.
    (u64::from(m << z), 32u32.wrapping_sub(z))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sum_rounds_once() {
        let mut s = ExactSum::new();
        s.add(3, 0.1);
        s.add(1, 1e-45);
        s.add(7, 2.5e10);
        let want = 3.0 * 0.1f32 as f64 + 1e-45f32 as f64 + 7.0 * 2.5e10;
        assert_eq!(s.parts(), (want as f32, 0));
        let mut s = ExactSum::new();
        s.add(usize::MAX, f32::MAX);
        s.add(usize::MAX, f32::MAX);
        let (v, level) = s.parts();
        let got = v as f64 * 2f64.powi(64 * level as i32);
        let want = 2.0 * usize::MAX as f64 * f32::MAX as f64;
        assert!(((got - want) / want).abs() < 1e-7 && level > 0 && v >= 1.8e19);
        assert_eq!(ExactSum::new().parts(), (0.0, 0));
        let mut s = ExactSum::new();
        s.add(5, f32::from_bits(3));
        assert_eq!(s.parts(), (f32::from_bits(15), 0));
    }

    #[test]
    fn quantize_exact_ties_away() {
        let q = |g: f32, m: f32, q_max| MaxAbs::new(m.to_bits(), q_max).quantize(g);
        assert_eq!(q(0.25, 0.5, 127), 64);
        assert_eq!(q(-0.25, 0.5, 127), -64);
        assert_eq!(q(0.5, 0.5, 127), 127);
        assert_eq!(q(0.0, 0.5, 127), 0);
        assert_eq!(q(1e-30, 0.5, 32767), 0);
        let s = f32::from_bits(1);
        assert_eq!(q(s, s, 127), 127);
        assert_eq!(q(f32::from_bits(2), f32::from_bits(4), 127), 64);
        assert_eq!(q(1.0, 0.0, 127), 0);
    }

    /// Against exact rational rounding (f64 holds `g / m · q_max` exactly
    /// enough: 24-bit mantissas, a quotient below 2^15), over random
    /// mantissas and exponent gaps.
    #[test]
    fn quantize_matches_rational_rounding() {
        let mut s = 0x9e37_79b9u32;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let e = (s >> 24) as i32 % 40 - 20;
            let m = f32::from_bits(0x3f80_0000 | (s & 0x7f_ffff)) * 2f32.powi(e);
            let sign = if s & 1 == 0 { 1.0 } else { -1.0 };
            let g = m * ((s >> 8) & 0xffff) as f32 / 65536.0 * sign;
            for q_max in [127, 32767] {
                let got = MaxAbs::new(m.to_bits(), q_max).quantize(g);
                let exact = (g as f64 / m as f64 * q_max as f64).abs();
                let want = exact.floor() + if exact.fract() >= 0.5 { 1.0 } else { 0.0 };
                assert_eq!(got as f64, want * sign as f64, "{g} / {m} · {q_max}");
            }
        }
    }
}
