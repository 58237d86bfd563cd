//! f64 `log1p` and `expm1`, vendored from rust-lang/libm 0.2.16
//! (`src/math/log1p.rs`, `src/math/expm1.rs`; MIT license, see below), which
//! ports FreeBSD msun's `s_log1p.c` and `s_expm1.c`.
//!
//! Why vendored: Cargo applies a profile's `overflow-checks` to dependencies
//! too, and libm's integer steps (`hu += 0x3ff00000 - 0x3fe6a09e` in `log1p`,
//! `(0x3ff + k) as u64` in `expm1`) then link an overflow panic on paths its
//! own range reduction excludes, which LLVM cannot see (nopanic/README.md,
//! cause 3). Here every such integer step is `wrapping_*`: the same
//! machine code as libm without overflow checks, so the same results bit for
//! bit. The only other change is that `force_eval!` (which raises the
//! floating-point underflow flag on subnormal inputs) is dropped.
//!
//! Accuracy, as stated by msun and tested below against the host's `std`
//! (glibc): `log1p` < 1 ULP, `expm1` < 1 ULP, for every finite input.
//!
//! ```text
//! Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//!
//! Developed at SunPro, a Sun Microsystems, Inc. business.
//! Permission to use, copy, modify, and distribute this
//! software is freely granted, provided that this notice
//! is preserved.
//!
//! rust-lang/libm: Permission is hereby granted, free of charge, to any
//! person obtaining a copy of this software and associated documentation
//! files (the "Software"), to deal in the Software without restriction,
//! including without limitation the rights to use, copy, modify, merge,
//! publish, distribute, sublicense, and/or sell copies of the Software, and
//! to permit persons to whom the Software is furnished to do so, subject to
//! the following conditions: The above copyright notice and this permission
//! notice shall be included in all copies or substantial portions of the
//! Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
//! (Contributions to rust-lang/libm are also available under Apache-2.0.)
//! ```

// The constants as msun and libm publish them (with their bit patterns), so
// that this file diffs cleanly against upstream; `(x - x) / 0.0` is its NaN.
#![allow(clippy::excessive_precision, clippy::approx_constant, clippy::eq_op)]

const LN2_HI: f64 = 6.93147180369123816490e-01; /* 3fe62e42 fee00000 */
const LN2_LO: f64 = 1.90821492927058770002e-10; /* 3dea39ef 35793c76 */
const LG1: f64 = 6.666666666666735130e-01; /* 3FE55555 55555593 */
const LG2: f64 = 3.999999999940941908e-01; /* 3FD99999 9997FA04 */
const LG3: f64 = 2.857142874366239149e-01; /* 3FD24924 94229359 */
const LG4: f64 = 2.222219843214978396e-01; /* 3FCC71C5 1D8E78AF */
const LG5: f64 = 1.818357216161805012e-01; /* 3FC74664 96CB03DE */
const LG6: f64 = 1.531383769920937332e-01; /* 3FC39A09 D078C69F */
const LG7: f64 = 1.479819860511658591e-01; /* 3FC2F112 DF3E5244 */

/// `ln(1 + x)` in f64, < 1 ULP. `log1p(-1) = -inf`, NaN below -1.
pub(crate) fn log1p(x: f64) -> f64 {
    let mut ui: u64 = x.to_bits();
    let mut f: f64 = 0.;
    let mut c: f64 = 0.;
    let mut hu: u32;
    let mut k: i32;

    let hx = (ui >> 32) as u32;
    k = 1;
    if hx < 0x3fda827a || (hx >> 31) > 0 {
        /* 1+x < sqrt(2)+ */
        if hx >= 0xbff00000 {
            /* x <= -1.0 */
            if x == -1. {
                return x / 0.0; /* log1p(-1) = -inf */
            }
            return (x - x) / 0.0; /* log1p(x<-1) = NaN */
        }
        if hx << 1 < 0x3ca00000 << 1 {
            /* |x| < 2**-53 */
            return x;
        }
        if hx <= 0xbfd2bec4 {
            /* sqrt(2)/2- <= 1+x < sqrt(2)+ */
            k = 0;
            c = 0.;
            f = x;
        }
    } else if hx >= 0x7ff00000 {
        return x;
    }
    if k > 0 {
        ui = (1. + x).to_bits();
        hu = (ui >> 32) as u32;
        hu = hu.wrapping_add(0x3ff00000 - 0x3fe6a09e);
        k = ((hu >> 20) as i32).wrapping_sub(0x3ff);
        /* correction term ~ log(1+x)-log(u), avoid underflow in c/u */
        if k < 54 {
            c = if k >= 2 {
                1. - (f64::from_bits(ui) - x)
            } else {
                x - (f64::from_bits(ui) - 1.)
            };
            c /= f64::from_bits(ui);
        } else {
            c = 0.;
        }
        /* reduce u into [sqrt(2)/2, sqrt(2)] */
        hu = (hu & 0x000fffff).wrapping_add(0x3fe6a09e);
        ui = ((hu as u64) << 32) | (ui & 0xffffffff);
        f = f64::from_bits(ui) - 1.;
    }
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    let dk = k as f64;
    s * (hfsq + r) + (dk * LN2_LO + c) - hfsq + f + dk * LN2_HI
}

const O_THRESHOLD: f64 = 7.09782712893383973096e+02; /* 0x40862E42, 0xFEFA39EF */
const INVLN2: f64 = 1.44269504088896338700e+00; /* 0x3ff71547, 0x652b82fe */
/* Scaled Q's: Qn_here = 2**n * Qn_above, for R(2*z) where z = hxs = x*x/2: */
const Q1: f64 = -3.33333333333331316428e-02; /* BFA11111 111110F4 */
const Q2: f64 = 1.58730158725481460165e-03; /* 3F5A01A0 19FE5585 */
const Q3: f64 = -7.93650757867487942473e-05; /* BF14CE19 9EAADBB7 */
const Q4: f64 = 4.00821782732936239552e-06; /* 3ED0CFCA 86E65239 */
const Q5: f64 = -2.01099218183624371326e-07; /* BE8AFDB7 6E09C32D */

/// `e^x - 1` in f64, < 1 ULP. `expm1(-inf) = -1`.
pub(crate) fn expm1(mut x: f64) -> f64 {
    let hi: f64;
    let lo: f64;
    let k: i32;
    let c: f64;
    let mut t: f64;
    let mut y: f64;

    let mut ui = x.to_bits();
    let hx = ((ui >> 32) & 0x7fffffff) as u32;
    let sign = (ui >> 63) as i32;

    /* filter out huge and non-finite argument */
    if hx >= 0x4043687A {
        /* if |x|>=56*ln2 */
        if x.is_nan() {
            return x;
        }
        if sign != 0 {
            return -1.0;
        }
        if x > O_THRESHOLD {
            x *= f64::from_bits(0x7fe0000000000000);
            return x;
        }
    }

    /* argument reduction */
    if hx > 0x3fd62e42 {
        /* if  |x| > 0.5 ln2 */
        if hx < 0x3FF0A2B2 {
            /* and |x| < 1.5 ln2 */
            if sign == 0 {
                hi = x - LN2_HI;
                lo = LN2_LO;
                k = 1;
            } else {
                hi = x + LN2_HI;
                lo = -LN2_LO;
                k = -1;
            }
        } else {
            k = (INVLN2 * x + if sign != 0 { -0.5 } else { 0.5 }) as i32;
            t = k as f64;
            hi = x - t * LN2_HI; /* t*ln2_hi is exact here */
            lo = t * LN2_LO;
        }
        x = hi - lo;
        c = (hi - x) - lo;
    } else if hx < 0x3c900000 {
        /* |x| < 2**-54, return x */
        return x;
    } else {
        c = 0.0;
        k = 0;
    }

    /* x is now in primary range */
    let hfx = 0.5 * x;
    let hxs = x * hfx;
    let r1 = 1.0 + hxs * (Q1 + hxs * (Q2 + hxs * (Q3 + hxs * (Q4 + hxs * Q5))));
    t = 3.0 - r1 * hfx;
    let mut e = hxs * ((r1 - t) / (6.0 - x * t));
    if k == 0 {
        /* c is 0 */
        return x - (x * e - hxs);
    }
    e = x * (e - c) - c;
    e -= hxs;
    /* exp(x) ~ 2^k (x_reduced - e + 1) */
    if k == -1 {
        return 0.5 * (x - e) - 0.5;
    }
    if k == 1 {
        if x < -0.25 {
            return -2.0 * (e - (x + 0.5));
        }
        return 1.0 + 2.0 * (x - e);
    }
    ui = (0x3ff_i32.wrapping_add(k) as u64) << 52; /* 2^k */
    let twopk = f64::from_bits(ui);
    if !(0..=56).contains(&k) {
        /* suffice to return exp(x)-1 */
        y = x - e + 1.0;
        if k == 1024 {
            y = y * 2.0 * f64::from_bits(0x7fe0000000000000);
        } else {
            y *= twopk;
        }
        return y - 1.0;
    }
    ui = (0x3ff_i32.wrapping_sub(k) as u64) << 52; /* 2^-k */
    let uf = f64::from_bits(ui);
    if k < 20 {
        y = (x - e + (1.0 - uf)) * twopk;
    } else {
        y = (x - (e + uf) + 1.0) * twopk;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `|a - b|` in ULPs of `b` (f64).
    fn ulps64(a: f64, b: f64) -> f64 {
        if a == b {
            return 0.0;
        }
        let ulp = f64::from_bits(b.abs().to_bits() + 1) - b.abs();
        (a - b).abs() / ulp
    }

    /// Log-spaced and seeded inputs in `lo..hi` (both signs where asked).
    fn sweep(mut f: impl FnMut(f64)) {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        for i in 0..400_000u32 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            // Exponent from -60 to +10, uniform mantissa.
            let e = (i % 71) as i32 - 60;
            let m = 1.0 + (s >> 11) as f64 / (1u64 << 53) as f64;
            f(m * 2f64.powi(e));
        }
    }

    #[test]
    fn log1p_within_1_ulp_of_std() {
        let mut worst = 0.0f64;
        sweep(|x| {
            for x in [x, -x] {
                if x > -1.0 {
                    worst = worst.max(ulps64(log1p(x), x.ln_1p()));
                }
            }
        });
        // Both are < 1 ULP from the exact value: at most 2 apart.
        assert!(worst <= 2.0, "{worst}");
        assert_eq!(log1p(-1.0), f64::NEG_INFINITY);
        assert!(log1p(-1.5).is_nan());
        assert_eq!(log1p(0.0), 0.0);
    }

    #[test]
    fn expm1_within_1_ulp_of_std() {
        let mut worst = 0.0f64;
        sweep(|x| {
            for x in [x, -x, x * 64.0, -x * 64.0] {
                if x < 709.0 {
                    worst = worst.max(ulps64(expm1(x), x.exp_m1()));
                }
            }
        });
        assert!(worst <= 2.0, "{worst}");
        assert_eq!(expm1(f64::NEG_INFINITY), -1.0);
        assert_eq!(expm1(-800.0), -1.0);
        assert_eq!(expm1(0.0), 0.0);
    }

    #[test]
    fn same_bits_as_libm() {
        sweep(|x| {
            for x in [x, -x, x * 64.0, -x * 64.0] {
                if x > -1.0 {
                    assert_eq!(log1p(x).to_bits(), libm::log1p(x).to_bits(), "{x}");
                }
                assert_eq!(expm1(x).to_bits(), libm::expm1(x).to_bits(), "{x}");
            }
        });
    }
}
