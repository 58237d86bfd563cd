//! Integer kernels for cores without an FPU (Cortex-M0/M0+, M3, and any
//! `-none-eabi` target without `hf`).
//!
//! There every f32 operation is a call into compiler-builtins (40–200
//! instructions), so the polynomials of [`crate::math`] cost thousands of
//! instructions per element. This module computes the two transcendental
//! pieces every binary kernel needs, `e = e^{-a}` and `l = log1p(e)` for
//! `a >= 0`, in 32-bit fixed point with 64-bit products (`smull` on v7-M), and
//! packs them into correctly scaled f32 values (subnormals included):
//!
//! * `a = k ln 2 + r`, `|r| <= ln(2)/2`, with `k` and `r` from exact integer
//!   arithmetic (`ln 2` in Q56), then `e^{-r}` by its degree-8 Taylor
//!   polynomial in Q30 (truncation error 2e-10) and `e = 2^{-k} e^{-r}`;
//! * `l = e · P(e)`, `P(x) = log1p(x)/x` fitted on `[0, 1]` by a degree-9
//!   polynomial (relative error 4.7e-9), evaluated in Q30, so `l` keeps full
//!   relative accuracy however small `e` is.
//!
//! Both results are within 2 ULP of the exact values (tested against f64 on
//! the host, where this module is compiled too). Only the f32 libm-free glue
//! around them (`1/(1+e)`, the loss formula) stays in soft-float.

/// `e^{-r}` Taylor coefficients `(-1)^i / i!` in Q30.
const EXP_Q30: [i32; 9] = [
    1_073_741_824,
    -1_073_741_824,
    536_870_912,
    -178_956_971,
    44_739_243,
    -8_947_849,
    1_491_308,
    -213_044,
    26_631,
];

/// `log1p(x)/x` on `[0, 1]`, degree 9, coefficients in Q30.
const LOG1P_Q30: [i32; 10] = [
    1_073_741_819,
    -536_869_865,
    357_877_759,
    -267_943_059,
    211_269_133,
    -164_343_315,
    113_856_893,
    -61_160_615,
    21_315_662,
    -3_483_297,
];

/// `round(2^31 / ln 2)`.
const INV_LN2_Q31: u64 = 3_098_164_009;
/// `round(ln 2 · 2^56)`.
const LN2_Q56: i64 = 49_946_518_145_322_874;

/// `(a · b) >> 30` for Q30 `a` and Q30/Q31 `b` (one `smull` on v7-M).
#[inline(always)]
fn mul(a: i32, b: i32, frac: u32) -> i32 {
    ((a as i64 * b as i64) >> frac) as i32
}

/// Horner evaluation of `c` at `x` (Q30 coefficients, `x` in Q`frac`).
#[inline(always)]
fn horner(c: &[i32], x: i32, frac: u32) -> i32 {
    let mut t = c[c.len() - 1];
    for &ci in c[..c.len() - 1].iter().rev() {
        t = ci + mul(t, x, frac);
    }
    t
}

/// `m · 2^(e - 30)` as f32, for `m` in `[2^30, 2^31)`, rounded to nearest
/// (ties away from zero), with gradual underflow.
#[inline(always)]
fn pack(m: u32, e: i32) -> f32 {
    if e >= -126 {
        let mut m = m + 64;
        let mut e = e;
        if m >= 1 << 31 {
            m >>= 1;
            e += 1;
        }
        f32::from_bits((((e + 127) as u32) << 23) | ((m >> 7) & 0x007f_ffff))
    } else {
        let shift = (7 - 126 - e) as u32;
        if shift >= 32 {
            0.0
        } else {
            // Rounding may carry into the smallest normal: still correct bits.
            f32::from_bits((m + (1 << (shift - 1))) >> shift)
        }
    }
}

/// Normalises a positive Q30 value in `[2^29, 2^31)` times `2^e` to a
/// mantissa in `[2^30, 2^31)`.
#[inline(always)]
fn normalize(q: u32, e: i32) -> (u32, i32) {
    if q >= 1 << 30 {
        (q, e)
    } else {
        (q << 1, e - 1)
    }
}

/// `(e^{-a}, log1p(e^{-a}))` for `a >= 0` (any f32; `+inf` gives `(0, 0)`).
/// Not inlined: every kernel loop calls it, and flash is scarce on the
/// cores that use it.
#[inline(never)]
pub fn exp_log1p(a: f32) -> (f32, f32) {
    let bits = a.to_bits() & 0x7fff_ffff;
    if bits >= 0x42d0_0000 {
        // a >= 104: e^{-a} < 2^-150 rounds to 0.
        return (0.0, 0.0);
    }
    if bits < 0x3000_0000 {
        // a < 2^-31: e^{-a} rounds to 1 and log1p to ln 2.
        return (1.0, core::f32::consts::LN_2);
    }
    let ex = (bits >> 23) as i32 - 127;
    let m24 = (bits & 0x007f_ffff) | 0x0080_0000;
    let (k, r) = if bits < 0x3eb0_0000 {
        // a < 0.34375 <= ln(2)/2: k = 0, r = a in Q31 (ex in [-31, -2]).
        let s = ex + 8;
        let r = if s >= 0 { m24 << s } else { m24 >> -s };
        (0, r as i32)
    } else {
        // a in [0.34, 104): ex in [-2, 6]. a·2^24 fits in 31 bits.
        let a24 = if ex >= -1 { m24 << (ex + 1) } else { m24 >> 1 };
        let k = ((a24 as u64 * INV_LN2_Q31 + (1 << 54)) >> 55) as i32;
        let r56 = ((m24 as i64) << (ex + 33)) - k as i64 * LN2_Q56;
        (k, (r56 >> 25) as i32)
    };
    // e^{-r} in Q30, in [0.70, 1.42]·2^30.
    let q = horner(&EXP_Q30, r, 31) as u32;
    let (em, ee) = normalize(q, -k);
    let e = pack(em, ee);
    // log1p(e) = e · P(e), with e in Q30 for P's argument.
    let x = if k >= 31 { 0 } else { (q >> k) as i32 };
    let p = horner(&LOG1P_Q30, x, 30) as u32;
    let lm = ((em as u64 * p as u64) >> 30) as u32;
    let (lm, le) = normalize(lm, ee);
    (e, pack(lm, le))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ulps;

    #[test]
    fn exp_log1p_within_2_ulp() {
        let (mut we, mut wl) = (0.0f64, 0.0f64);
        let mut worst_at = (0.0f32, 0.0f32);
        for b in (0u32..0x42d8_0000).step_by(97) {
            let a = f32::from_bits(b);
            let (e, l) = exp_log1p(a);
            let ee = (-(a as f64)).exp();
            let el = ee.ln_1p();
            let (ue, ul) = (ulps(e, ee), ulps(l, el));
            if ue > we {
                we = ue;
                worst_at.0 = a;
            }
            if ul > wl {
                wl = ul;
                worst_at.1 = a;
            }
        }
        assert!(
            we <= 2.0 && wl <= 2.0,
            "exp {we} ulp, log1p {wl} ulp at {worst_at:?}"
        );
        assert_eq!(exp_log1p(f32::INFINITY), (0.0, 0.0));
        assert_eq!(exp_log1p(0.0), (1.0, core::f32::consts::LN_2));
    }
}
