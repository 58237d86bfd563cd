//! How a batch of per-element losses becomes one number, and how that sum is
//! accumulated without losing accuracy over long slices.

use crate::lanes::{Lane, MAX_LANES};
use crate::Error;

/// How a batch kernel reduces per-element losses. The gradient a kernel writes
/// is always the gradient of the *reduced* loss it returns.
///
/// | variant | returned loss | gradient scale |
/// |---|---|---|
/// | `Sum` | `Σ w_i ℓ_i` | 1 |
/// | `Mean` | `Σ w_i ℓ_i / n` | `1/n` |
/// | `MeanOver(d)` | `Σ w_i ℓ_i / d` | `1/d` |
/// | `MeanOverPositives` | `Σ w_i ℓ_i / max(1, Σ y_i)` | `1/max(1, Σ y_i)` |
///
/// For the binary kernels `n` is the number of elements that are not ignored
/// and per-element weights only rescale (PyTorch's `BCEWithLogitsLoss(weight=..)`
/// convention). For the multi-class kernels with class weights, `n` is the sum
/// of the target classes' weights over rows that are not ignored (PyTorch's
/// `CrossEntropyLoss(weight=..)`). `MeanOverPositives` is RetinaNet's
/// normalisation by the number of positive anchors (`Σ y_i` over elements that
/// are not ignored, which is the count for hard labels), clamped to at least 1
/// as detectron2 does. When every element is ignored, `Mean` returns 0 and
/// writes a zero gradient. Every reduction follows the crate's one
/// reduction and saturation rule (see the crate docs): an exact normaliser
/// for any positive finite `d`, a sum that cannot overflow, saturation at
/// `±f32::MAX`.
///
/// **Streaming trap:** with class weights and one row per call, `Mean`
/// divides `w_t ℓ` by `w_t` and the weight cancels; use `Sum` or
/// `MeanOver(d)` there, e.g. with a [`PositivesEma`](crate::PositivesEma)
/// (an average of the positive count, or of the weight mass, per update).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reduction {
    /// Sum over elements. There is no `None`: the unreduced per-element (or
    /// per-row) losses come from the `losses` buffer of any call, and the
    /// gradient of each element's own loss is the `Sum` gradient.
    Sum,
    /// Mean over the elements that are not ignored.
    #[default]
    Mean,
    /// Sum divided by a caller-given normaliser (finite, > 0), e.g. mmdet's
    /// `avg_factor`.
    MeanOver(f32),
    /// Sum divided by `max(1, Σ y)`: RetinaNet's "normalise by the number of
    /// positives". Binary kernels only.
    MeanOverPositives,
}

impl Reduction {
    /// Checks the normaliser of [`Reduction::MeanOver`].
    pub(crate) fn validate(self) -> Result<(), Error> {
        match self {
            Reduction::MeanOver(d) if !(d.is_finite() && d > 0.0) => {
                Err(Error::InvalidParameter { name: "normalizer" })
            }
            _ => Ok(()),
        }
    }
}

/// How many lane-vectors are summed in f32 lanes before the partial sum is
/// handed to [`Total`]. With `BLOCK` = 32 the f32 part carries a relative
/// error of at most `31 u ≈ 1.9e-6` (u = 2^-24) per block.
pub(crate) const BLOCK: u32 = 32;

/// Sums above this magnitude make [`Total`] shift down by [`DOWN`].
const BIG: f32 = 1.267_650_6e30; // 2^100
/// `2^-64`: one down-shift of [`Total`].
const DOWN: f32 = 5.421_011e-20;
/// The most shifts of [`Total`]: `2^(64·3)` above f32 holds any sum of up to
/// `2^60` products of two f32 values.
const MAX_LEVEL: u32 = 3;
/// `2^64`.
const UP: f32 = 1.844_674_4e19;

/// The one overflow-safe sum of every driver: Kahan-compensated f32 (no f64
/// arithmetic, which is software on a Cortex-M4F), with exponent shifts so
/// that a sum of finite non-negative values (losses, weights, counts, and
/// products of two of them) never overflows.
///
/// The running sum is `(sum - c) · 2^(64·level)`. While every term and the
/// sum stay below `2^100` it is a plain Kahan sum (at most `2u` relative to
/// the sum of magnitudes, at any length). The first term or sum beyond that
/// shifts the sum down by `2^64` (exact), and every later term is shifted on
/// entry; a sum passing `2^100` again shifts once more, up to three times,
/// so a sum of up to `2^60` products of two finite f32 values is held. The
/// terms a shift rounds away are below `2^-64 · 2^-149` of the sum's scale,
/// invisible next to a sum beyond `2^100`.
#[derive(Default, Clone, Copy)]
pub(crate) struct Total {
    sum: f32,
    c: f32,
    /// The number of shifts by [`DOWN`] (at most [`MAX_LEVEL`]).
    level: u32,
}

/// Plain Kahan-compensated f32 sum, for a pass whose sum the caller has
/// bounded below `2^120` (its result then goes to a [`Total`]): `2u`
/// relative to the sum of magnitudes at any length.
#[derive(Default, Clone, Copy)]
pub(crate) struct Kahan {
    sum: f32,
    c: f32,
}

impl Kahan {
    #[inline(always)]
    pub fn add(&mut self, v: f32) {
        let y = v - self.c;
        let t = self.sum + y;
        self.c = (t - self.sum) - y;
        self.sum = t;
    }

    #[inline(always)]
    pub fn total(self) -> f32 {
        self.sum - self.c
    }
}

impl Total {
    /// Adds a finite `v ≥ 0`. Called once per block, never per element.
    #[inline(always)]
    pub fn add(&mut self, v: f32) {
        if self.level != 0 || v + self.sum > BIG {
            return self.add_big(v * DOWN);
        }
        let y = v - self.c;
        let t = self.sum + y;
        self.c = (t - self.sum) - y;
        self.sum = t;
    }

    /// [`Total::add`] as one small leaf out of line, the shifted sum's slow
    /// add folded in: for a caller that adds once per call (and per lane of
    /// a huge batch's blocks), whose stack then holds no frame below it.
    /// The same operations, so the same bits.
    #[inline(never)]
    pub fn add_leaf(&mut self, v: f32) {
        if self.level != 0 || v + self.sum > BIG {
            self.shift_add(v * DOWN, 1);
            return;
        }
        let y = v - self.c;
        let t = self.sum + y;
        self.c = (t - self.sum) - y;
        self.sum = t;
    }

    /// Adds `v · w` for finite `v, w ≥ 0` of any size (a weighted loss
    /// whose product may pass f32::MAX): rare, so out of line.
    #[cold]
    #[inline(never)]
    pub fn add_product(&mut self, v: f32, w: f32) {
        let p = v * w;
        if self.level == 0 && p + self.sum <= BIG {
            self.add(p);
            return;
        }
        let q = (v * DOWN) * w;
        if q <= f32::MAX {
            self.shift_add(q, 1);
        } else {
            // Beyond 2^192: both factors shifted (below f32::MAX again).
            self.shift_add((v * DOWN) * (w * DOWN), 2);
        }
    }

    /// [`Total::shift_add`], out of line: the rare path of the inlined
    /// [`Total::add`].
    #[cold]
    #[inline(never)]
    fn add_big(&mut self, v: f32) {
        self.shift_add(v, 1);
    }

    /// One more shift of the sum by `2^-64` (exact but for parts below
    /// `2^-64 · 2^-149` of it, invisible next to a sum beyond `2^100`).
    #[inline(always)]
    fn shift(&mut self) {
        self.sum *= DOWN;
        self.c *= DOWN;
        self.level = self.level.wrapping_add(1);
    }

    /// Adds `v`, given shifted down `lvl` times (1 or 2), to the shifted sum:
    /// the sum is shifted to at least that level, `v` to the sum's, and once
    /// more where the sum would pass `2^100` (up to [`MAX_LEVEL`]; beyond,
    /// the exact total exceeds `2^292` and the sum saturates).
    #[inline(always)]
    fn shift_add(&mut self, v: f32, lvl: u32) {
        let mut v = v;
        while self.level < lvl {
            self.shift();
        }
        let mut k = lvl;
        while k < self.level {
            v *= DOWN;
            k = k.wrapping_add(1);
        }
        loop {
            let y = v - self.c;
            let t = self.sum + y;
            if t <= BIG || (self.level >= MAX_LEVEL && t <= f32::MAX) {
                self.c = (t - self.sum) - y;
                self.sum = t;
                return;
            }
            if self.level >= MAX_LEVEL {
                self.sum = f32::MAX;
                self.c = 0.0;
                return;
            }
            self.shift();
            v *= DOWN;
        }
    }

    /// The compensated sum and how often it is still to be shifted up by
    /// `2^64`: what [`Total::scale_parts`] takes, as two scalars.
    #[inline(always)]
    pub fn parts(self) -> (f32, u32) {
        (self.sum - self.c, self.level)
    }

    /// `total · s`, exact to one rounding (plus the sum's own error), or
    /// `±f32::MAX` when the exact value is beyond it.
    #[inline(always)]
    pub fn scaled(self, s: Scale) -> f32 {
        let (v, level) = self.parts();
        Total::scale_parts(v, level, s)
    }

    /// `total · s · post` for a power of two `post` in `[2^-126, 2^127]`,
    /// saturated: for the rare final scale that such a factor follows,
    /// which a saturated (or shifted) `total · s` could not take in f32.
    /// `v · m` is rounded once; it cannot overflow where `post < 1`
    /// follows (`m` is then below `1/post / f32::MAX`), nor leave the
    /// normal range for a shifted sum (`v ≥ 2^36`); the powers of two
    /// (`p`, `post`, `2^(64·level)`) go after it as one exponent, upwards
    /// in saturating steps of at most `2^64`.
    pub fn scaled_post(self, s: Scale, post: f32) -> f32 {
        let (v, level) = self.parts();
        let mut r = crate::lanes::sat(v * s.m);
        let mut e = ((post.to_bits() >> 23) as i32).wrapping_sub(127);
        if s.p != 1.0 {
            e = e.wrapping_add(64);
        }
        e = e.wrapping_add((level as i32).wrapping_mul(64));
        while e > 64 {
            r = crate::lanes::sat(r * UP);
            e = e.wrapping_sub(64);
        }
        let f = f32::from_bits((e.max(-126).wrapping_add(127) as u32) << 23);
        crate::lanes::sat(r * f)
    }

    /// [`Total::scaled`] of the [`Total::parts`] `(v, level)`: `v · s`, then
    /// `level` times `· 2^64`, each saturated (`v ≥ 2^36` when shifted, so
    /// `v · s` is normal for any normaliser).
    #[inline(always)]
    pub fn scale_parts(v: f32, level: u32, s: Scale) -> f32 {
        let mut v = s.apply(v);
        let mut k = 0;
        while k < level {
            // `sat(sat(v) · 2^64)`, through the one out-of-line `apply`.
            v = Scale { m: 1.0, p: UP }.apply(v);
            k = k.wrapping_add(1);
            if k >= MAX_LEVEL {
                break;
            }
        }
        v
    }
}

/// Largest value [`Blocked`] sums in f32 lanes: 32 of them stay below
/// `2^125`.
const PLAIN_MAX: f32 = 1.329_228e36; // 2^120

/// Per-item values (a row's loss) summed in f32 for blocks of [`BLOCK`]
/// items, the blocks combined in a [`Total`]: `31u` relative per block plus
/// the total's `2u`, at any length. An item beyond `2^120` (or ∞) goes to the
/// total on its own, saturated at `f32::MAX`, so no block can overflow; the
/// common item costs one compare, one add and the block count.
#[derive(Default, Clone, Copy)]
pub(crate) struct Blocked {
    part: f32,
    count: u32,
    total: Total,
}

impl Blocked {
    /// Adds `v ≥ 0` (or `+∞`, which counts as `f32::MAX`).
    #[inline(always)]
    pub fn add(&mut self, v: f32) {
        if v <= PLAIN_MAX {
            self.part += v;
            // Below BLOCK (reset there): the wrapping add never wraps, and
            // links no overflow check.
            self.count = self.count.wrapping_add(1);
            if self.count == BLOCK {
                self.flush();
            }
        } else {
            self.add_huge(v);
        }
    }

    /// Adds the `V::N` values `v ≥ 0` of one vector (rows in lanes) as
    /// `V::N` items: their lane sum is one add to the block when every lane
    /// is at most `2^120` (a block then still holds at most [`BLOCK`]
    /// items, summed in a tree no deeper than the sequential one, so the
    /// `31u` per block holds), else one item at a time.
    #[inline(always)]
    pub fn add_lanes<V: Lane>(&mut self, v: V) {
        let n = V::N as u32;
        if V::all(V::splat(PLAIN_MAX).ge(v)) {
            if self.count.wrapping_add(n) > BLOCK {
                self.flush();
            }
            self.part += v.reduce_add();
            self.count = self.count.wrapping_add(n);
            if self.count == BLOCK {
                self.flush();
            }
        } else {
            self.add_each(v);
        }
    }

    /// Closes the current block into the total.
    #[inline(always)]
    fn flush(&mut self) {
        self.total.add(self.part);
        self.part = 0.0;
        self.count = 0;
    }

    #[cold]
    #[inline(never)]
    fn add_each<V: Lane>(&mut self, v: V) {
        let mut b = [0.0f32; MAX_LANES];
        if let Some(b) = b.get_mut(..V::N) {
            v.store(b);
            for &x in b.iter() {
                self.add(x);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn add_huge(&mut self, v: f32) {
        self.total.add(crate::lanes::sat(v));
    }

    /// The sum, as a [`Total`].
    #[inline(always)]
    pub fn total(mut self) -> Total {
        self.total.add(self.part);
        self.total
    }
}

/// The reduction's factor `s = 1/d` for a normaliser `d` (any positive
/// finite f32, subnormal included; `d = 0` means "nothing to average" and
/// gives `s = 0`), held as `m · p` with `m = 1/(d p⁻¹)` rounded once and `p`
/// a power of two (1, or `2^64` when `1/d` would overflow f32). Every
/// driver scales with it: the result is the exact `x / d` to two roundings,
/// or `±f32::MAX` when that is beyond f32 (never a clamped scale).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scale {
    m: f32,
    p: f32,
}

impl Scale {
    /// The factor of `Σ / d`.
    #[inline]
    pub fn of(d: f32) -> Scale {
        if d == 0.0 {
            Scale { m: 0.0, p: 1.0 }
        } else if d >= f32::MIN_POSITIVE {
            Scale { m: 1.0 / d, p: 1.0 }
        } else {
            // `d · 2^64` is exact and normal; `1 / (d · 2^64) ≤ 2^85`.
            Scale {
                m: 1.0 / (d * UP),
                p: UP,
            }
        }
    }

    /// `(m, p)`: the factor is `m · p`.
    #[inline(always)]
    pub fn parts(self) -> (f32, f32) {
        (self.m, self.p)
    }

    /// The factor a pass can multiply gradients by without any overflow:
    /// `s` when `s ≤ 1`, else 1 (then [`Scale::scale_up`] finishes).
    #[inline(always)]
    pub fn pass(self) -> f32 {
        if self.p == 1.0 && self.m <= 1.0 {
            self.m
        } else {
            1.0
        }
    }

    /// Whether the gradient written with [`Scale::pass`] still needs
    /// [`Scale::scale_up`].
    #[inline(always)]
    pub fn needs_up(self) -> bool {
        self.p != 1.0 || self.m > 1.0
    }

    /// `x · s` saturated at `±f32::MAX`. Once per call (and per element of
    /// the rare [`Scale::scale_up`]): out of line, so that the two share it.
    ///
    /// Without a branch on `p`: when `p = 1`, `v · 1 = v` and `sat` of the
    /// already saturated `v` is `v` (NaN included: `sat` maps it to
    /// `-f32::MAX`), so both multiplies always run and the bits are those of
    /// the two-armed form.
    #[inline(never)]
    pub fn apply(self, x: f32) -> f32 {
        let v = crate::lanes::sat(x * self.m);
        crate::lanes::sat(v * self.p)
    }

    /// `g ← g · s` over a gradient written with scale 1, saturated at
    /// `±f32::MAX`. Rare (a normaliser below 1), so kept small.
    #[cold]
    #[inline(never)]
    pub fn scale_up(self, grad: &mut [f32]) {
        for g in grad {
            // `black_box`: an opaque load keeps LLVM from unrolling the loop.
            *g = self.apply(core::hint::black_box(*g));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::Simd;

    /// Sums 3000 items, most in vectors of `V::N`, some one at a time (so
    /// that blocks fill at counts that are not multiples of `V::N`), and,
    /// with `huge`, a lane above `2^120` now and then (the item-by-item
    /// fallback): within `31u` per block plus the total's `2u` of the f64
    /// sum.
    fn lanes_case<V: Lane>(seed: u64, huge: bool) {
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        let mut acc = Blocked::default();
        let mut exact = 0.0f64;
        let mut i = 0;
        while i < 3000 {
            if i % 7 == 3 {
                let x = next() * 10.0;
                acc.add(x);
                exact += x as f64;
                i += 1;
                continue;
            }
            let mut b = [0.0f32; MAX_LANES];
            for (l, x) in b.iter_mut().take(V::N).enumerate() {
                *x = if huge && l == 1 && i % 5 == 0 {
                    2e36
                } else {
                    next() * 10.0
                };
                exact += *x as f64;
            }
            acc.add_lanes(V::load(&b[..V::N]));
            i += V::N;
        }
        let got = acc.total().scaled(Scale::of(1.0)) as f64;
        let u = f32::EPSILON as f64 / 2.0;
        assert!(
            (got - exact).abs() <= 34.0 * u * exact,
            "N={} huge={huge}: {got} vs {exact}",
            V::N
        );
    }

    /// Lanes near f32::MAX whose sum overflows f32: the mean is exact.
    fn lanes_huge<V: Lane>() {
        let mut acc = Blocked::default();
        acc.add_lanes(V::splat(1e38));
        acc.add_lanes(V::splat(0.0));
        let got = acc.total().scaled(Scale::of(2.0 * V::N as f32));
        assert!(
            (got - 5e37).abs() <= 4e37 * f32::EPSILON,
            "N={}: {got}",
            V::N
        );
    }

    #[test]
    fn add_lanes_mean_survives_overflowing_lanes() {
        lanes_huge::<Simd>();
        lanes_huge::<f32>();
    }

    #[test]
    fn add_lanes_keeps_the_block_bound() {
        for seed in 1..20 {
            for huge in [false, true] {
                lanes_case::<Simd>(seed, huge);
                lanes_case::<f32>(seed, huge);
            }
        }
    }
}
