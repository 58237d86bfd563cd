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
const INV_LN2_Q31: u32 = 3_098_164_009;
/// `round(ln 2 · 2^56)`, split into 32-bit halves.
const LN2_Q56_HI: u32 = 11_629_079;
const LN2_Q56_LO: u32 = 4_157_722_490;

/// ARMv6-M (Cortex-M0/M0+) has no 32×32→64 multiply: there, a 64-bit
/// product is a call to `__aeabi_lmul`, and four 16×16 products are cheaper.
const NO_LONG_MUL: bool = cfg!(all(target_arch = "arm", not(target_has_atomic = "32")));

/// `a · b` as u64 from four 16×16-bit products (no 64-bit multiply).
#[inline(always)]
fn umul_parts(a: u32, b: u32) -> u64 {
    let (ah, al) = (a >> 16, a & 0xffff);
    let (bh, bl) = (b >> 16, b & 0xffff);
    // 16×16-bit products fit in 32 bits and the sum in 64: no wrap-around
    // (wrapping ops, so that overflow checks link no panic path).
    let mid = (ah.wrapping_mul(bl) as u64).wrapping_add(al.wrapping_mul(bh) as u64);
    (((ah.wrapping_mul(bh)) as u64) << 32)
        .wrapping_add(mid << 16)
        .wrapping_add(al.wrapping_mul(bl) as u64)
}

/// `a · b` as u64: one `umull` on v7-M, [`umul_parts`] on v6-M.
#[inline(always)]
fn umul<const PARTS: bool>(a: u32, b: u32) -> u64 {
    if PARTS {
        umul_parts(a, b)
    } else {
        (a as u64).wrapping_mul(b as u64)
    }
}

/// `(a · b) >> frac` for Q30 `a` and Q30/Q31 `b` (one `smull` on v7-M). On
/// v6-M the magnitudes are multiplied and the sign applied after the shift,
/// which truncates toward zero instead of down: at most 1 unit of 2^-30
/// apart, far below the f32 results' resolution.
#[inline(always)]
fn mul<const PARTS: bool>(a: i32, b: i32, frac: u32) -> i32 {
    if PARTS {
        let m = (umul_parts(a.unsigned_abs(), b.unsigned_abs()) >> frac) as i32;
        if (a ^ b) < 0 {
            m.wrapping_neg()
        } else {
            m
        }
    } else {
        ((a as i64).wrapping_mul(b as i64) >> frac) as i32
    }
}

/// Horner evaluation of `c` at `x` (Q30 coefficients, `x` in Q`frac`; the
/// partial sums stay within `[-2^31, 2^31)` for the arguments used here, so
/// the wrapping adds never wrap).
#[inline(always)]
fn horner<const PARTS: bool>(c: &[i32], x: i32, frac: u32) -> i32 {
    let Some((&last, rest)) = c.split_last() else {
        return 0;
    };
    let mut t = last;
    for &ci in rest.iter().rev() {
        t = ci.wrapping_add(mul::<PARTS>(t, x, frac));
    }
    t
}

/// `m · 2^(e - 30)` as f32, for `m` in `[2^30, 2^31)`, rounded to nearest
/// (ties away from zero), with gradual underflow. (`m + 64 < 2^32`,
/// `e ∈ [-150, 7]`, `shift ∈ [1, 31]` where used: the wrapping ops never
/// wrap.)
#[inline(always)]
fn pack(m: u32, e: i32) -> f32 {
    if e >= -126 {
        let mut m = m.wrapping_add(64);
        let mut e = e;
        if m >= 1 << 31 {
            m >>= 1;
            e = e.wrapping_add(1);
        }
        f32::from_bits(((e.wrapping_add(127) as u32) << 23) | ((m >> 7) & 0x007f_ffff))
    } else {
        let shift = (-119i32).wrapping_sub(e) as u32;
        if shift >= 32 {
            0.0
        } else {
            // Rounding may carry into the smallest normal: still correct bits.
            f32::from_bits(
                m.wrapping_add(1u32.wrapping_shl(shift.wrapping_sub(1)))
                    .wrapping_shr(shift),
            )
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
        (q << 1, e.wrapping_sub(1))
    }
}

/// `(e^{-a}, log1p(e^{-a}))` for `a >= 0` (any f32; `+inf` gives `(0, 0)`).
/// Not inlined: every kernel loop calls it, and flash is scarce on the
/// cores that use it.
#[inline(never)]
pub fn exp_log1p(a: f32) -> (f32, f32) {
    exp_log1p_with::<NO_LONG_MUL>(a)
}

/// [`exp_log1p`] with the 64-bit products done natively or (`PARTS`) from
/// 16-bit pieces; both are tested on the host.
#[inline(always)]
fn exp_log1p_with<const PARTS: bool>(a: f32) -> (f32, f32) {
    let bits = a.to_bits() & 0x7fff_ffff;
    if bits >= 0x42d0_0000 {
        // a >= 104: e^{-a} < 2^-150 rounds to 0.
        return (0.0, 0.0);
    }
    if bits < 0x3000_0000 {
        // a < 2^-31: e^{-a} rounds to 1 and log1p to ln 2.
        return (1.0, core::f32::consts::LN_2);
    }
    // The ranges in the comments make every shift amount and sum below fit;
    // the wrapping forms are the same machine code without overflow checks
    // and keep panic paths out of builds with them.
    let ex = ((bits >> 23) as i32).wrapping_sub(127);
    let m24 = (bits & 0x007f_ffff) | 0x0080_0000;
    let (k, r) = if bits < 0x3eb0_0000 {
        // a < 0.34375 <= ln(2)/2: k = 0, r = a in Q31 (ex in [-31, -2]).
        let s = ex.wrapping_add(8);
        let r = if s >= 0 {
            m24.wrapping_shl(s as u32)
        } else {
            m24.wrapping_shr(s.wrapping_neg() as u32)
        };
        (0, r as i32)
    } else {
        // a in [0.34, 104): ex in [-2, 6]. a·2^24 fits in 31 bits.
        let a24 = if ex >= -1 {
            m24.wrapping_shl(ex.wrapping_add(1) as u32)
        } else {
            m24 >> 1
        };
        let k = (umul::<PARTS>(a24, INV_LN2_Q31).wrapping_add(1 << 54) >> 55) as u32;
        // k ln 2 in Q56 (k <= 150, so k·LN2_HI fits in 32 bits).
        let kln2 =
            ((k.wrapping_mul(LN2_Q56_HI) as u64) << 32).wrapping_add(umul::<PARTS>(k, LN2_Q56_LO));
        let r56 = (m24 as i64)
            .wrapping_shl(ex.wrapping_add(33) as u32)
            .wrapping_sub(kln2 as i64);
        let k = k as i32;
        (k, (r56 >> 25) as i32)
    };
    // e^{-r} in Q30, in [0.70, 1.42]·2^30.
    let q = horner::<PARTS>(&EXP_Q30, r, 31) as u32;
    let (em, ee) = normalize(q, k.wrapping_neg());
    let e = pack(em, ee);
    // log1p(e) = e · P(e), with e in Q30 for P's argument.
    let x = if k >= 31 {
        0
    } else {
        q.wrapping_shr(k as u32) as i32
    };
    let p = horner::<PARTS>(&LOG1P_Q30, x, 30) as u32;
    let lm = (umul::<PARTS>(em, p) >> 30) as u32;
    let (lm, le) = normalize(lm, ee);
    (e, pack(lm, le))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ulps;

    #[test]
    fn v6m_products_match_64_bit_ones() {
        let mut s = 0x9e37_79b9u32;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let a = s;
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let b = s;
            assert_eq!(umul_parts(a, b), a as u64 * b as u64);
            let (ai, bi) = (a as i32 >> 1, b as i32 >> 1);
            let exact = (ai as i64 * bi as i64) >> 30;
            let parts = {
                let m = (umul_parts(ai.unsigned_abs(), bi.unsigned_abs()) >> 30) as i64;
                if (ai ^ bi) < 0 {
                    -m
                } else {
                    m
                }
            };
            assert!((exact - parts).abs() <= 1, "{ai} {bi}");
        }
    }

    #[test]
    fn exp_log1p_within_2_ulp() {
        let (mut we, mut wl) = (0.0f64, 0.0f64);
        let mut worst_at = (0.0f32, 0.0f32);
        for b in (0u32..0x42d8_0000).step_by(97) {
            let a = f32::from_bits(b);
            let (e, l) = exp_log1p_with::<false>(a);
            let (e2, l2) = exp_log1p_with::<true>(a);
            // The v6-M products truncate differently: at most 1 ULP apart.
            assert!(
                ulps(e2, e as f64) <= 1.0 && ulps(l2, l as f64) <= 1.0,
                "{a}"
            );
            let ee = (-(a as f64)).exp();
            let el = ee.ln_1p();
            let ue = ulps(e, ee).max(ulps(e2, ee));
            let ul = ulps(l, el).max(ulps(l2, el));
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
