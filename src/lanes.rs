//! The lane abstraction every kernel is written against.
//!
//! A kernel is written once, generic over [`Lane`]; it is instantiated with
//! `wide::f32x8` where the target has SIMD registers (x86 SSE/AVX, aarch64
//! NEON, wasm simd128) and with plain `f32` elsewhere (Cortex-M), where
//! `wide`'s lanes would be arrays and LLVM schedules scalar code best.
//! The choice is made at compile time by [`Simd`]; the `scalar` feature
//! makes it `f32` on every target.

use core::ops::{Add, Div, Mul, Neg, Sub};

/// Largest lane count of [`Simd`] (`wide::f32x16`); sizes the lane buffers.
pub(crate) const MAX_LANES: usize = 16;
const _: () = assert!(<Simd as Lane>::N <= MAX_LANES);

/// A vector of `N` f32 lanes with the handful of operations the kernels need.
pub trait Lane:
    'static
    + Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Per-lane boolean.
    type Mask: Copy;
    /// Number of lanes.
    const N: usize;
    /// All lanes `v`.
    fn splat(v: f32) -> Self;
    /// Loads `N` values; `s.len() == N`.
    fn load(s: &[f32]) -> Self;
    /// Stores `N` values; `out.len() == N`.
    fn store(self, out: &mut [f32]);
    /// `self * b + c` (fused where the target has FMA and `wide` uses it).
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `|self|`.
    fn abs(self) -> Self;
    /// Lane-wise maximum.
    fn max(self, o: Self) -> Self;
    /// Lane-wise minimum.
    fn min(self, o: Self) -> Self;
    /// `self >= o`.
    fn ge(self, o: Self) -> Self::Mask;
    /// `self > o`.
    fn gt(self, o: Self) -> Self::Mask;
    /// `self == o`.
    fn eq(self, o: Self) -> Self::Mask;
    /// `m ? t : f`.
    fn select(m: Self::Mask, t: Self, f: Self) -> Self;
    /// Lane-wise `a && b`.
    fn and(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// Lane-wise `a || b`.
    fn or(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    /// True when every lane of `m` is set.
    fn all(m: Self::Mask) -> bool;
    /// `2^(k + 24)` from `t = k + 1.5·2^23` (the round-to-integer magic
    /// sum, whose low mantissa bits hold `k`), for integral `k` in
    /// `[-150, 103]`: one shift and one add on the bit pattern.
    fn pow2_magic(t: Self) -> Self;
    /// Splits a positive normal `self` into `(f, k)` with `self = 2^k (1 + f)`
    /// and `1 + f` in `[sqrt(1/2), sqrt(2))`.
    fn split_log(self) -> (Self, Self);
    /// Per-lane finiteness.
    fn is_finite(self) -> Self::Mask;
    /// `self` with the low 12 mantissa bits cleared: a 12-bit "high half"
    /// whose product with another 12-bit half is exact.
    fn high_half(self) -> Self;
    /// Sum of the lanes (in lane order).
    fn reduce_add(self) -> f32;
}

/// `x` clamped to `[-f32::MAX, f32::MAX]`, lane-wise (∞ saturates, so a
/// later product with 0 stays 0 instead of NaN). Through [`Lane`]: on
/// Cortex-M `f32::max` is a libm call.
#[inline(always)]
pub fn sat<V: Lane>(x: V) -> V {
    V::min(V::max(x, V::splat(-f32::MAX)), V::splat(f32::MAX))
}

/// True on targets without an FPU (soft-float ABI on ARM), where f32
/// arithmetic is a library call and integer kernels win.
pub const SOFT_FLOAT: bool = cfg!(all(target_arch = "arm", not(target_abi = "eabihf")));

/// `((151 - bits(1.5·2^23)) << 23) mod 2^32`: added to `bits(t) << 23` it
/// gives the bit pattern of `2^(k + 24)` (see [`Lane::pow2_magic`]).
const POW2_MAGIC: u32 = 0x4b80_0000;

impl Lane for f32 {
    type Mask = bool;
    const N: usize = 1;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        s[0]
    }
    #[inline(always)]
    fn store(self, out: &mut [f32]) {
        out[0] = self;
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        self * b + c
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::from_bits(self.to_bits() & 0x7fff_ffff)
    }
    #[inline(always)]
    fn max(self, o: Self) -> Self {
        if self >= o {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn min(self, o: Self) -> Self {
        if self <= o {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn ge(self, o: Self) -> bool {
        self >= o
    }
    #[inline(always)]
    fn gt(self, o: Self) -> bool {
        self > o
    }
    #[inline(always)]
    fn eq(self, o: Self) -> bool {
        self == o
    }
    #[inline(always)]
    fn select(m: bool, t: Self, f: Self) -> Self {
        if m {
            t
        } else {
            f
        }
    }
    #[inline(always)]
    fn and(a: bool, b: bool) -> bool {
        a & b
    }
    #[inline(always)]
    fn or(a: bool, b: bool) -> bool {
        a | b
    }
    #[inline(always)]
    fn all(m: bool) -> bool {
        m
    }
    #[inline(always)]
    fn pow2_magic(t: Self) -> Self {
        f32::from_bits((t.to_bits() << 23).wrapping_add(POW2_MAGIC))
    }
    #[inline(always)]
    fn split_log(self) -> (Self, Self) {
        let bits = self.to_bits();
        // Add (1 - sqrt(1/2)) worth of mantissa so that the exponent field
        // rolls over exactly where the mantissa passes sqrt(2).
        let t = bits.wrapping_add(0x3f80_0000 - 0x3f35_04f3);
        let k = (t >> 23) as i32 - 127;
        let m = f32::from_bits((t & 0x007f_ffff) + 0x3f35_04f3);
        (m - 1.0, k as f32)
    }
    #[inline(always)]
    fn is_finite(self) -> bool {
        self.to_bits() & 0x7f80_0000 != 0x7f80_0000
    }
    #[inline(always)]
    fn high_half(self) -> Self {
        f32::from_bits(self.to_bits() & 0xffff_f000)
    }
    #[inline(always)]
    fn reduce_add(self) -> f32 {
        self
    }
}

#[cfg(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "wasm32"
))]
mod simd {
    use super::Lane;
    use wide::{bytemuck::cast, f32x16, f32x8, i32x16, i32x8, u32x16, u32x8};

    macro_rules! lane_impl {
        ($f:ident, $i:ident, $u:ident, $n:literal, $from_i:ident) => {
            impl Lane for $f {
                type Mask = $f;
                const N: usize = $n;
                #[inline(always)]
                fn splat(v: f32) -> Self {
                    $f::splat(v)
                }
                #[inline(always)]
                fn load(s: &[f32]) -> Self {
                    let mut a = [0.0f32; $n];
                    a.copy_from_slice(&s[..$n]);
                    $f::new(a)
                }
                #[inline(always)]
                fn store(self, out: &mut [f32]) {
                    out[..$n].copy_from_slice(self.as_array());
                }
                #[inline(always)]
                fn mul_add(self, b: Self, c: Self) -> Self {
                    $f::mul_add(self, b, c)
                }
                #[inline(always)]
                fn abs(self) -> Self {
                    $f::abs(self)
                }
                #[inline(always)]
                fn max(self, o: Self) -> Self {
                    self.fast_max(o)
                }
                #[inline(always)]
                fn min(self, o: Self) -> Self {
                    self.fast_min(o)
                }
                #[inline(always)]
                fn ge(self, o: Self) -> Self {
                    self.simd_ge(o)
                }
                #[inline(always)]
                fn gt(self, o: Self) -> Self {
                    self.simd_gt(o)
                }
                #[inline(always)]
                fn eq(self, o: Self) -> Self {
                    self.simd_eq(o)
                }
                #[inline(always)]
                fn select(m: Self, t: Self, f: Self) -> Self {
                    wide::Select::select(m, t, f)
                }
                #[inline(always)]
                fn and(a: Self, b: Self) -> Self {
                    a & b
                }
                #[inline(always)]
                fn or(a: Self, b: Self) -> Self {
                    a | b
                }
                #[inline(always)]
                fn all(m: Self) -> bool {
                    m.all()
                }
                #[inline(always)]
                fn pow2_magic(t: Self) -> Self {
                    let b: $u = cast(t);
                    cast((b << 23) + $u::splat(super::POW2_MAGIC))
                }
                #[inline(always)]
                fn split_log(self) -> (Self, Self) {
                    let bits: $u = cast(self);
                    let t = bits + $u::splat(0x3f80_0000 - 0x3f35_04f3);
                    let k: $i = cast(t >> 23);
                    let k = k - $i::splat(127);
                    let m: $f = cast((t & $u::splat(0x007f_ffff)) + $u::splat(0x3f35_04f3));
                    (m - $f::splat(1.0), $f::$from_i(k))
                }
                #[inline(always)]
                fn is_finite(self) -> Self {
                    $f::is_finite(self)
                }
                #[inline(always)]
                fn high_half(self) -> Self {
                    let b: $u = cast(self);
                    cast(b & $u::splat(0xffff_f000))
                }
                #[inline(always)]
                fn reduce_add(self) -> f32 {
                    // Fixed pairwise order, independent of the instruction set.
                    let mut a = self.to_array();
                    let mut w = $n;
                    while w > 1 {
                        w /= 2;
                        for j in 0..w {
                            a[j] += a[j + w];
                        }
                    }
                    a[0]
                }
            }
        };
    }

    lane_impl!(f32x8, i32x8, u32x8, 8, from_i32x8);
    lane_impl!(f32x16, i32x16, u32x16, 16, from_i32x16);
}

/// The lane type the batch kernels use on this target: `wide::f32x16` with
/// AVX-512, `wide::f32x8` on other targets with SIMD registers (SSE/AVX,
/// NEON, simd128), `f32` on the rest (Cortex-M) and everywhere with the
/// `scalar` feature.
#[cfg(all(
    not(feature = "scalar"),
    target_arch = "x86_64",
    target_feature = "avx512f"
))]
pub type Simd = wide::f32x16;

/// The lane type the batch kernels use on this target: `wide::f32x16` with
/// AVX-512, `wide::f32x8` on other targets with SIMD registers (SSE/AVX,
/// NEON, simd128), `f32` on the rest (Cortex-M) and everywhere with the
/// `scalar` feature.
#[cfg(all(
    not(feature = "scalar"),
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "wasm32"
    ),
    not(all(target_arch = "x86_64", target_feature = "avx512f"))
))]
pub type Simd = wide::f32x8;

/// The lane type the batch kernels use on this target: `wide::f32x16` with
/// AVX-512, `wide::f32x8` on other targets with SIMD registers (SSE/AVX,
/// NEON, simd128), `f32` on the rest (Cortex-M) and everywhere with the
/// `scalar` feature.
///
/// With `f32` lanes a host runs the kernels exactly as a Cortex-M core with
/// an FPU does: the same operations in the same order, each rounded once
/// (`Lane::mul_add` is a separate multiply and add for `f32`, and Rust never
/// contracts them into a fused one), so the results are bit-identical.
#[cfg(any(
    feature = "scalar",
    not(any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "wasm32"
    ))
))]
pub type Simd = f32;
