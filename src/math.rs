//! Range-reduced polynomial `exp`, `log1p` and `ln` for f32 lanes, specialised
//! to the domains the loss kernels need.
//!
//! The polynomials are Cephes' single-precision minimax fits (`expf`, `logf`),
//! evaluated by Horner's rule. Each routine is within 2 ULP of the exact
//! result over its domain (asserted against f64 in this module's tests), which
//! is what libm's `expf` / `log1pf` reach, at about a third of the instructions
//! on a Cortex-M4F and with no branches, so they vectorise.

use crate::lanes::Lane;

const LOG2E: f32 = core::f32::consts::LOG2_E;
/// ln 2 split so that `k * LN2_HI` is exact for |k| < 2^9.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding and subtracting it rounds to the nearest integer.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Coefficients read through `black_box` so that LLVM keeps them in memory:
/// on the Cortex-M4F, hoisting all of them into registers made the register
/// allocator rotate ~30 registers per element (measured: 125 → 96
/// instructions per element for focal γ = 2). `exp`'s five (`P`), then
/// `log1p`'s four (`Q`), in one table, so that [`exp_log1p`] passes one
/// pointer through `black_box` per element, not two (each costs a store and
/// a load on the Cortex-M4F).
static COEF: Coef = [
    1.381_468_1e-3,
    8.368_711e-3,
    4.166_838_5e-2,
    1.666_652_1e-1,
    0.499_999_94,
    0.134_306_09,
    0.141_178_73,
    0.200_037_73,
    0.333_333_2,
];

/// [`COEF`]'s type.
type Coef = [f32; 9];

/// [`COEF`], opaque to the optimiser.
#[inline(always)]
fn coef() -> &'static Coef {
    core::hint::black_box(&COEF)
}

/// `e^r` for `|r| <= ln(2)/2`, times `2^k` where `t = k + ROUND_MAGIC`
/// carries `k` in its low mantissa bits. The polynomial is a degree-4
/// minimax fit of `(e^r - 1 - r)/r²` (relative error 3.1e-9; 1.2 u when
/// evaluated in f32).
#[inline(always)]
fn exp_reduced<V: Lane>(c: &Coef, r: V, t: V) -> V {
    let z = r * r;
    let mut p = V::splat(c[0]);
    p = p.mul_add(r, V::splat(c[1]));
    p = p.mul_add(r, V::splat(c[2]));
    p = p.mul_add(r, V::splat(c[3]));
    p = p.mul_add(r, V::splat(c[4]));
    let y = p.mul_add(z, r) + V::splat(1.0);
    // Scale in two steps so that results down to the subnormal range keep
    // gradual underflow: 2^(k+24) is a normal number for k >= -150.
    y * V::pow2_magic(t) * V::splat(5.960_464_5e-8)
}

/// `e^v` for `v <= 0`. Inputs below -104 give 0 or the smallest subnormal;
/// subnormal results are rounded once. Within 2 ULP (tested).
#[inline(always)]
pub fn exp_neg<V: Lane>(v: V) -> V {
    exp_neg_with(coef(), v)
}

#[inline(always)]
fn exp_neg_with<V: Lane>(c: &Coef, v: V) -> V {
    let v = v.max(V::splat(-104.0));
    let t = v.mul_add(V::splat(LOG2E), V::splat(ROUND_MAGIC));
    let k = t - V::splat(ROUND_MAGIC);
    let r = k.mul_add(V::splat(-LN2_HI), v);
    let r = k.mul_add(V::splat(-LN2_LO), r);
    exp_reduced(c, r, t)
}

/// `e^(hi + lo)` for `hi + lo <= 0`, where `hi` may be large and `lo` carries
/// the low-order part of the argument: the sum is never rounded, so the
/// result keeps its accuracy even when `|hi|` is in the tens (where rounding
/// `hi + lo` alone would cost `|hi| · 2^-24` relative). Arguments below -104
/// give 0.
#[inline(always)]
pub fn exp_hl<V: Lane>(hi: V, lo: V) -> V {
    let s = hi + lo;
    let under = V::gt(V::splat(-104.0), s);
    let s = s.max(V::splat(-104.0));
    let t = s.mul_add(V::splat(LOG2E), V::splat(ROUND_MAGIC));
    let k = t - V::splat(ROUND_MAGIC);
    // hi - k ln2_hi is exact (Cody-Waite); lo joins after the cancellation.
    let r = k.mul_add(V::splat(-LN2_HI), hi) + lo;
    let r = k.mul_add(V::splat(-LN2_LO), r);
    V::select(under, V::splat(0.0), exp_reduced(coef(), r, t))
}

/// Cephes' logf kernel: `log(1 + f)` for `f` in `[sqrt(1/2) - 1, sqrt(2) - 1]`,
/// plus `k ln 2`.
#[inline(always)]
fn log_kernel<V: Lane>(f: V, k: V) -> V {
    let z = f * f;
    let mut p = V::splat(7.037_683_6e-2);
    p = p.mul_add(f, V::splat(-1.151_461e-1));
    p = p.mul_add(f, V::splat(1.167_699_9e-1));
    p = p.mul_add(f, V::splat(-1.242_014_1e-1));
    p = p.mul_add(f, V::splat(1.424_932_3e-1));
    p = p.mul_add(f, V::splat(-1.666_805_8e-1));
    p = p.mul_add(f, V::splat(2.000_071_4e-1));
    p = p.mul_add(f, V::splat(-2.499_999_4e-1));
    p = p.mul_add(f, V::splat(3.333_333e-1));
    let mut y = p * f * z;
    y = k.mul_add(V::splat(LN2_LO), y);
    y = z.mul_add(V::splat(-0.5), y);
    let r = f + y;
    k.mul_add(V::splat(LN2_HI), r)
}

/// `log(1 + e)` for `e` in `[0, 1]`, as `2 atanh(s)` with `s = e / (2 + e)`
/// in `[0, 1/3]`: `2s + 2s·z·Q(z)`, `z = s²`, with `Q` a cubic fitted to
/// `(atanh(√z)/√z - 1)/z` on `[0, 1/9]` (relative error 4.1e-7 on `Q`, which
/// `z·Q <= 0.037` shrinks below 2^-25 on the result). Full relative accuracy
/// for tiny `e` (no `1 + e` is rounded), no branch, one divide: within 2 ULP.
#[inline(always)]
pub fn log1p_unit<V: Lane>(e: V) -> V {
    log1p_unit_with(coef(), e)
}

#[inline(always)]
fn log1p_unit_with<V: Lane>(c: &Coef, e: V) -> V {
    let s = e / (V::splat(2.0) + e);
    let s2 = s + s;
    let z = s * s;
    let mut q = V::splat(c[5]);
    q = q.mul_add(z, V::splat(c[6]));
    q = q.mul_add(z, V::splat(c[7]));
    q = q.mul_add(z, V::splat(c[8]));
    (s2 * z).mul_add(q, s2)
}

/// Natural log of a positive finite `x`, subnormals included.
#[inline(always)]
pub fn ln<V: Lane>(x: V) -> V {
    let tiny = V::gt(V::splat(f32::MIN_POSITIVE), x);
    let xs = V::select(tiny, x * V::splat(16_777_216.0), x);
    let (f, k) = xs.split_log();
    let k = V::select(tiny, k - V::splat(24.0), k);
    log_kernel(f, k)
}

/// `ln x = hi + lo` for a positive finite `x`, subnormals included, with the
/// sum left unrounded: `hi + lo` is within `2^-24 · 0.35` (plus the kernel's
/// own error on `ln f`, `|ln f| ≤ 0.35`) of `ln x` in absolute terms, however
/// large `|ln x|` is. `k ln 2_hi` is exact and joins `ln f` by Fast2Sum
/// (`|k ln 2_hi| ≥ 0.69 > |ln f|` whenever `k ≠ 0`), so a caller raising `x`
/// to a large power (`x^γ = e^{γ (hi + lo)}`) loses `γ · 2^-24` relative, not
/// `γ |ln x| · 2^-24`.
#[inline(always)]
pub fn ln_hl<V: Lane>(x: V) -> (V, V) {
    let tiny = V::gt(V::splat(f32::MIN_POSITIVE), x);
    let xs = V::select(tiny, x * V::splat(16_777_216.0), x);
    let (f, k) = xs.split_log();
    let k = V::select(tiny, k - V::splat(24.0), k);
    let r = log_kernel(f, V::splat(0.0));
    let a = k * V::splat(LN2_HI);
    let hi = a + r;
    let lo = ((a - hi) + r) + k * V::splat(LN2_LO);
    (hi, lo)
}

/// `ln(1 - p)` for `p` in `[0, 1)`, with full relative accuracy for tiny
/// `p`: the rounding error of `q = 1 - p` is recovered exactly (Fast2Sum) and
/// added back as `err / q`.
#[inline(always)]
pub fn ln_one_minus<V: Lane>(p: V) -> V {
    let one = V::splat(1.0);
    let q = one - p;
    let err = (one - q) - p;
    ln(q) + err / q
}

/// The shared pieces of a logit: `e = exp(-|x|)`, `l = log1p(e)`,
/// `big = 1 / (1 + e) = sigma(|x|)` and `small = e / (1 + e) = sigma(-|x|)`.
/// Then `softplus(x) = max(x, 0) + l`, `sigma(x) = x >= 0 ? big : small`.
#[derive(Clone, Copy)]
pub struct Logit<V> {
    pub ax: V,
    pub e: V,
    pub l: V,
    pub big: V,
    pub small: V,
}

/// `(e^{-a}, log1p(e^{-a}))` for `a >= 0`: the two transcendental pieces of
/// every binary kernel. Scalar lanes on a core without an FPU take the
/// integer kernels of [`crate::soft`].
#[inline(always)]
pub fn exp_log1p<V: Lane>(a: V) -> (V, V) {
    if crate::lanes::SOFT_FLOAT && V::N == 1 {
        let mut b = [0.0f32];
        a.store(&mut b);
        let (e, l) = crate::soft::exp_log1p(b[0]);
        return (V::splat(e), V::splat(l));
    }
    let c = coef();
    let e = exp_neg_with(c, -a);
    (e, log1p_unit_with(c, e))
}

impl<V: Lane> Logit<V> {
    #[inline(always)]
    pub fn new(x: V) -> Self {
        let ax = x.abs();
        let (e, l) = exp_log1p(ax);
        let big = V::splat(1.0) / (V::splat(1.0) + e);
        let small = e * big;
        Logit {
            ax,
            e,
            l,
            big,
            small,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ulps;

    #[test]
    fn exp_neg_within_2_ulp() {
        let mut worst: f64 = 0.0;
        let stop = (-104.0f32).to_bits();
        for b in (0x8000_0000u32..stop).step_by(211) {
            let v = f32::from_bits(b);
            worst = worst.max(ulps(exp_neg(v), (v as f64).exp()));
        }
        assert!(worst <= 2.0, "exp_neg worst {worst} ulp");
        assert_eq!(exp_neg(-1e4f32), 0.0);
        assert_eq!(exp_neg(0.0f32), 1.0);
    }

    #[test]
    fn log1p_unit_within_2_ulp() {
        let mut worst: f64 = 0.0;
        for i in 0..2_000_000u32 {
            let e = i as f32 / 2_000_000.0;
            let got = log1p_unit(e);
            let want = (e as f64).ln_1p();
            worst = worst.max(ulps(got, want));
        }
        for b in (1u32..0x3f80_0000).step_by(4099) {
            let e = f32::from_bits(b);
            worst = worst.max(ulps(log1p_unit(e), (e as f64).ln_1p()));
        }
        assert!(worst <= 2.0, "log1p worst {worst} ulp");
    }

    #[test]
    fn ln_within_2_ulp() {
        let mut worst: f64 = 0.0;
        for b in (1u32..0x7f80_0000).step_by(3001) {
            let x = f32::from_bits(b);
            worst = worst.max(ulps(ln(x), (x as f64).ln()));
        }
        assert!(worst <= 2.0, "ln worst {worst} ulp");
    }
}
