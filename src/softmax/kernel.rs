//! The contract between the row driver and its losses: what a loss file
//! implements ([`RowKernel`]: the loss and gradient of a label row from the
//! row's softmax statistics, of a soft row through the passes the driver's
//! row view offers, and its bound), and the shared pieces a loss may use (the
//! weighted smoothed targets, the class sums, the cross-entropy of a row).
//! A loss file imports this module and the math, never the driver.
//!
//! Symbols (as in the module docs): `m = max z`, `d = z - m ≤ 0`,
//! `e = exp(d)`, `R = Σ e - 1` (entries below the max, plus one per extra
//! tie), `S = 1 + R`, `p = e / S`, `R_t = S - e_t` (or `R` at an arg-max),
//! `u = 1 - p_t = R_t / S`, `CE = ln S - d_t`, `k_c = w_c y'_c` (the weighted
//! smoothed target of class `c`), `K = Σ k`.

pub(crate) use crate::lanes::MAX_LANES;
use crate::lanes::{sat, Lane, Simd};
use crate::math::{exp_neg, ln, log1p_unit};
use crate::{At, Error};

pub mod sealed {
    pub trait Sealed {}
}

/// A computation generic over the row kernel, handed to
/// [`RowKernel::specialize`].
#[doc(hidden)]
pub trait Body {
    /// What the computation returns.
    type Out;
    /// Runs with kernel `k`.
    fn call<K: RowKernel>(self, k: &K) -> Self::Out;
}

/// The per-row kernels of a multi-class loss. Implemented by the crate's loss
/// configurations only.
#[doc(hidden)]
pub trait RowKernel: Copy {
    /// Calls `body` with a concrete kernel: a loss chosen at run time
    /// ([`AnyLoss`](super::AnyLoss)) dispatches here, once per call.
    #[inline(always)]
    fn specialize<B: Body>(&self, body: B) -> B::Out {
        body.call(self)
    }
    /// `(ε, ignore index)`: the label smoothing and the ignore index, the
    /// options the driver reads.
    fn options(&self) -> (f32, Option<u32>);
    /// Label smoothing ε.
    #[inline(always)]
    fn smoothing(&self) -> f32 {
        self.options().0
    }
    /// The ignore index, if any.
    #[inline(always)]
    fn ignore_index(&self) -> Option<u32> {
        self.options().1
    }
    /// A label row without smoothing: `(ℓ, ∂ℓ/∂z_t, a)` for target weight
    /// `w_t`, where every other class gets `∂ℓ/∂z_c = a e_c`. `ℓ` must be
    /// linear in `st.ce` (the driver doubles the loss of a halved row where
    /// `CE` is beyond f32). The gradient and
    /// `a` are saturated at `±f32::MAX`; `ℓ` is 0 where `w_t` is, `a` where
    /// `R_t` is. Before the reduction's scale.
    fn label<V: Lane>(&self, st: &LabelRow<V>, w_t: V) -> (V, V, V);
    /// A row with probability targets or smoothing: returns its loss, and
    /// writes the scaled gradient through the row view when `row.grad`.
    fn soft(&self, row: &mut SoftRow<'_>) -> RowLoss;
    /// `b` with `|∂ℓ/∂z_k| ≤ b · K` for every row (before the reduction's
    /// scale). Tested against sweeps (`tests/multiclass.rs`).
    fn grad_bound(&self) -> f32;
}

/// The softmax statistics of a label row, lane-wise (one row per lane in
/// the driver's row blocks). `u` and `p_t` are formed with [`LabelRow::over_s`],
/// which a loss uses for any other division by `S`, so that every path
/// rounds as the driver's.
#[derive(Clone, Copy)]
pub struct LabelRow<V: Lane> {
    /// `S = 1 + R`.
    pub s: V,
    /// `ln S` (from `log1p(R)`, full relative accuracy for small `R`).
    pub ln_s: V,
    /// `d_t = z_t - m`.
    pub d_t: V,
    /// `e_t = exp(d_t)`.
    pub e_t: V,
    /// `R_t = S - e_t`, or `R` when `t` is an arg-max (no cancellation).
    pub r_t: V,
    /// `u = 1 - p_t = R_t / S`.
    pub u: V,
    /// `p_t = e_t / S`.
    pub p_t: V,
    /// `CE = ln S - d_t = -ln p_t` (at most about `f32::MAX`: `d_t` is
    /// clamped there, and the driver takes such rows' loss from
    /// [`LabelRow::halved`]).
    pub ce: V,
    /// `z_t` and `m`, for [`LabelRow::halved`].
    z_t: V,
    m: V,
    /// `1 / S` when the row divides by multiplying (row blocks).
    inv_s: V,
    div: bool,
}

impl<V: Lane> LabelRow<V> {
    /// The statistics from `R`, `z_t`, the maximum `m`, `e_t` and `ln S`
    /// (`d_t = max(z_t - m, -f32::MAX)`); `div` selects `x / S` (one row)
    /// or `x · (1/S)` (a row block).
    #[inline(always)]
    pub(crate) fn new(r_max: V, z_t: V, m: V, e_t: V, ln_s: V, div: bool) -> Self {
        let one = V::splat(1.0);
        let d_t = (z_t - m).max(V::splat(-f32::MAX));
        let s = one + r_max;
        let r_t = V::select(d_t.eq(V::splat(0.0)), r_max, s - e_t);
        let inv_s = if div { one } else { one / s };
        let mut st = LabelRow {
            s,
            ln_s,
            d_t,
            e_t,
            r_t,
            u: r_t,
            p_t: e_t,
            ce: ln_s - d_t,
            z_t,
            m,
            inv_s,
            div,
        };
        st.u = st.over_s(r_t);
        st.p_t = st.over_s(e_t);
        st
    }

    /// The same row with `CE / 2` in place of `CE`, exact where `d_t` is
    /// clamped at `-f32::MAX` (`z_t / 2 - m / 2`): the driver evaluates such
    /// rows' loss from it and doubles it (a loss is linear in `CE`).
    #[inline(always)]
    pub(crate) fn halved(&self) -> Self {
        let h = V::splat(0.5);
        LabelRow {
            ce: self.ln_s * h - (self.z_t * h - self.m * h),
            ..*self
        }
    }

    /// `x / S`, rounded as the driver's path does.
    #[inline(always)]
    pub fn over_s(&self, x: V) -> V {
        if self.div {
            x / self.s
        } else {
            x * self.inv_s
        }
    }
}

/// Weighted cross-entropy of a label row, shared by [`SoftmaxCe`](super::SoftmaxCe)
/// and the focal loss at γ = 0: `ℓ = w_t CE`, `∂ℓ/∂z_t = -w_t u`,
/// `a = w_t / S`.
#[inline(always)]
pub(crate) fn ce_label<V: Lane>(st: &LabelRow<V>, w_t: V) -> (V, V, V) {
    let zero = V::splat(0.0);
    let loss = V::select(w_t.eq(zero), zero, w_t * st.ce);
    let g_t = sat(-(w_t * st.u));
    let a = V::select(st.r_t.eq(zero), zero, sat(w_t * st.over_s(V::splat(1.0))));
    (loss, g_t, a)
}

/// A row's loss `ℓ`, saturated at `f32::MAX`, and `over = ℓ / 2` where it
/// saturated (0 elsewhere): the driver sums such a row exactly
/// (`Total::add_product`), so a mean whose exact value fits is returned
/// within its bound even when one row's loss is beyond f32.
#[derive(Clone, Copy, Debug)]
pub struct RowLoss {
    /// `ℓ`, saturated.
    pub l: f32,
    /// `ℓ / 2` where `l` saturated, else 0.
    pub over: f32,
}

impl RowLoss {
    /// A loss that is exact in f32 (or saturated without a half to offer).
    #[inline(always)]
    pub fn of(l: f32) -> Self {
        RowLoss { l, over: 0.0 }
    }

    /// `ℓ = 2 · half`.
    #[inline(always)]
    pub fn from_half(half: f32) -> Self {
        let l = sat(2.0 * half);
        RowLoss {
            l,
            over: if l == f32::MAX { half } else { 0.0 },
        }
    }
}

/// Weighted cross-entropy of a soft row, shared like [`ce_label`]:
/// `ℓ = K ln S - Σ_c k_c d_c`, `∂ℓ/∂z_k = e_k K / S - k_k`.
#[inline(always)]
pub(crate) fn ce_soft(row: &mut SoftRow<'_>) -> RowLoss {
    let e = row.exp(false, true);
    let ln_s = log1p_pos(e.r_max);
    let y_sum = sat(e.k);
    let y_ln_s = if y_sum == 0.0 { 0.0 } else { y_sum * ln_s };
    // `Σ k d` from its half, which is exact for rows spanning beyond f32.
    let l = sat(y_ln_s - 2.0 * e.kd_half);
    if row.grad {
        row.grad_linear(y_sum / (1.0 + e.r_max));
    }
    RowLoss {
        l,
        over: if l == f32::MAX {
            0.5 * y_ln_s - e.kd_half
        } else {
            0.0
        },
    }
}

/// `(d, d/2)` for `d = z - m ≤ 0`: `d` clamped at `-f32::MAX` (a row that
/// spans more than `f32::MAX`), `d/2` exact there too (`z/2 - m/2`), and
/// `(z - m)/2`, the same bits as `d` halved, everywhere else.
#[inline(always)]
pub(crate) fn shift<V: Lane>(z: V, m: V) -> (V, V) {
    let raw = z - m;
    let half = V::splat(0.5);
    let d = raw.max(V::splat(-f32::MAX));
    (
        d,
        V::select(raw.is_finite(), raw * half, z * half - m * half),
    )
}

/// The number of rows of `c` classes in `len` logits, after the shape
/// checks every row-wise call makes: [`Error::RaggedRows`] (`c < 2` or
/// `len % c ≠ 0`), then [`Error::Empty`].
pub(crate) fn row_count(len: usize, c: usize) -> Result<usize, Error> {
    if c < 2 || !len.is_multiple_of(c) {
        return Err(Error::RaggedRows { len, classes: c });
    }
    if len == 0 {
        return Err(Error::Empty);
    }
    Ok(len / c)
}

/// [`Error::NonFiniteInput`] at the first row of `c` logits holding a NaN
/// or an infinity.
pub(crate) fn finite_rows(logits: &[f32], c: usize) -> Result<(), Error> {
    for (r, row) in (0..logits.len()).zip(logits.chunks_exact(c)) {
        if !row.iter().all(|z| z.is_finite()) {
            return Err(Error::NonFiniteInput { at: At::Row(r) });
        }
    }
    Ok(())
}

/// `ln(1 + r)` for `r ≥ 0`, full relative accuracy for small `r`.
#[inline(always)]
pub(crate) fn log1p_pos(r: f32) -> f32 {
    if r <= 1.0 {
        log1p_unit(r)
    } else {
        ln(1.0 + r)
    }
}

/// `V::N` values of `s` at `i`, or zeros past its end (never, after
/// validation: the form keeps every access free of a bounds panic).
#[inline(always)]
pub(crate) fn vec_at<V: Lane>(s: &[f32], i: usize) -> V {
    match s.get(i..).and_then(|s| s.get(..V::N)) {
        Some(v) => V::load(v),
        None => V::splat(0.0),
    }
}

/// Lane-wise `k_c = w_c y'_c`: the weighted (smoothed) target of classes
/// `i .. i + V::N`, with `y'_c = a y_c + b` (`a = 1 - ε`, `b = ε / C`) and
/// the driver's weight scale `ws` on one side of the product: on `y'` when
/// `ws ≥ 1` (`y' ws` cannot leave the normal range downwards), on `w` when
/// `ws < 1` (huge weights: `y' ws` would be subnormal for small `y'`, while
/// `w ws` is normal but for weights `2^126` below the largest, which
/// [`Mass::scaled`] catches).
#[derive(Clone, Copy)]
pub struct Mass<'a> {
    pub(crate) weights: Option<&'a [f32]>,
    /// Probability row, or `None` for a hard label `t` (one-hot).
    pub(crate) y: Option<&'a [f32]>,
    pub(crate) t: usize,
    pub(crate) a: f32,
    pub(crate) b: f32,
    /// The weight-side factor: `ws` when `ws < 1`, else 1 (then in `a`, `b`).
    pub(crate) wk: f32,
}

impl Mass<'_> {
    /// `k` of classes `i .. i + V::N`.
    #[inline(always)]
    pub fn at<V: Lane>(&self, i: usize) -> V {
        let (yv, w) = self.parts::<V>(i);
        match w {
            Some(w) => yv * (w * V::splat(self.wk)),
            None => yv,
        }
    }

    /// `(k, k d)` of classes `i .. i + V::N`, `k` as [`Mass::at`], `k d`
    /// through [`Mass::scaled`] so a tiny weight times a huge `d` keeps its
    /// value.
    #[inline(always)]
    pub fn times<V: Lane>(&self, i: usize, d: V) -> (V, V) {
        let (ks, f) = self.scaled::<V>(i);
        (ks * f, ks * d * f)
    }

    /// `(k_s, f)` with `k = k_s f` for classes `i .. i + V::N`: `f = 1`,
    /// except where `k = y' w` is subnormal or underflows to 0 with
    /// `y', w > 0` (a class weight far below the largest one, or a small
    /// `y'`); there `k_s = y' (w · 2^64 wk)`, exact up to its rounding
    /// (`2^64 wk ≥ 2^-63` is a normal power of two and `w wk ≤ 2`), and
    /// `f = 2^-64`. Where that is still below f32's normal range (`k <
    /// 2^-190`: a small weight under the scale of a huge one times a
    /// subnormal `y'`, such as `ε/C` for `ε = 2^-126`, whose loss terms
    /// `k d` reach 8 for `|d|` near `f32::MAX`), `k_s = (y' 2^64) (w · 2^64
    /// wk)` and `f = 2^-128` (exact: `y' 2^64` is normal or exact, and
    /// cannot overflow there). So `(k_s x) f` keeps the value of `k x` for
    /// any `|x| ≤ 2^127` and `k ≥ 2^-254` (below, `k_s` keeps its subnormal
    /// bits), and `k_s x` cannot overflow (`k_s < 2^-62`).
    #[inline(always)]
    pub fn scaled<V: Lane>(&self, i: usize) -> (V, V) {
        let one = V::splat(1.0);
        let (yv, w) = self.parts::<V>(i);
        let Some(w) = w else {
            return (yv, one);
        };
        let k = yv * (w * V::splat(self.wk));
        let zero = V::splat(0.0);
        let tiny = V::splat(f32::MIN_POSITIVE);
        let sub = V::and(tiny.gt(k), V::and(yv.gt(zero), w.gt(zero)));
        let lift = V::splat(f32::from_bits(0x5f80_0000)); // 2^64
        let wu = w * V::splat(f32::from_bits(0x5f80_0000) * self.wk); // w 2^64 wk
        let k1 = yv * wu;
        let deep = tiny.gt(k1);
        let k2 = (yv * lift) * wu;
        let down = V::select(
            deep,
            V::splat(f32::from_bits(0x0020_0000)), // 2^-128
            V::splat(f32::from_bits(0x1f80_0000)), // 2^-64
        );
        (
            V::select(sub, V::select(deep, k2, k1), k),
            V::select(sub, down, one),
        )
    }

    /// `(y', w)` of classes `i .. i + V::N` (`w` when weighted).
    #[inline(always)]
    fn parts<V: Lane>(&self, i: usize) -> (V, Option<V>) {
        let yv = match self.y {
            Some(y) => vec_at::<V>(y, i).mul_add(V::splat(self.a), V::splat(self.b)),
            None => {
                let v = V::splat(self.b);
                let j = self.t.wrapping_sub(i);
                if j < V::N {
                    let mut buf = [0.0f32; MAX_LANES];
                    if let Some(x) = buf.get_mut(j) {
                        *x = self.a;
                    }
                    v + vec_at::<V>(&buf, 0)
                } else {
                    v
                }
            }
        };
        (yv, self.weights.map(|w| vec_at::<V>(w, i)))
    }
}

/// Blocked sum over the classes of a row, all in f32 (f64 is software on
/// Cortex-M): lanes of f32 for 32 vectors at a time (relative error at most
/// `31u` per block), the block partials combined by Kahan summation (`2u`),
/// so the bound does not grow with `C`.
pub struct ClassSum<V> {
    lanes: V,
    count: u32,
    hi: f32,
    lo: f32,
}

impl<V: Lane> ClassSum<V> {
    /// An empty sum.
    #[inline(always)]
    pub fn new() -> Self {
        ClassSum {
            lanes: V::splat(0.0),
            count: 0,
            hi: 0.0,
            lo: 0.0,
        }
    }

    /// Adds one vector of terms.
    #[inline(always)]
    pub fn add(&mut self, v: V) {
        self.lanes = self.lanes + v;
        self.count = self.count.wrapping_add(1);
        if self.count == 32 {
            self.flush();
        }
    }

    /// Adds a partial sum computed elsewhere (Kahan step).
    #[inline(always)]
    pub(crate) fn add_partial(&mut self, x: f32) {
        let y = x - self.lo;
        let t = self.hi + y;
        // An overflowed sum stays ∞ (the compensation would be NaN).
        self.lo = if t.is_finite() {
            (t - self.hi) - y
        } else {
            0.0
        };
        self.hi = t;
    }

    #[inline(always)]
    fn flush(&mut self) {
        self.add_partial(self.lanes.reduce_add());
        self.lanes = V::splat(0.0);
        self.count = 0;
    }

    /// The sum.
    #[inline(always)]
    pub fn total(mut self) -> f32 {
        if self.count > 0 {
            self.flush();
        }
        self.hi - self.lo
    }
}

/// Lane-wise partial sums of one exponential pass over a row.
pub(crate) struct Sums<V> {
    /// `Σ e_j` over entries below the max.
    pub r: ClassSum<V>,
    /// Number of entries equal to the max.
    pub ties: V,
    /// `Σ k_j d_j / 2` and `Σ k_j` (soft cross-entropy).
    pub kd: ClassSum<V>,
    pub k: ClassSum<V>,
}

impl<V: Lane> Sums<V> {
    #[inline(always)]
    pub fn new() -> Self {
        Sums {
            r: ClassSum::new(),
            ties: V::splat(0.0),
            kd: ClassSum::new(),
            k: ClassSum::new(),
        }
    }
}

/// The exponential pass over `row[lo..hi]` (`hi - lo` a multiple of `V::N`):
/// `d = max(z - m, -MAX)` with `z` read from `src` (or from `row` itself),
/// `e = exp(d)`; stores `e` (or `d/2`, exact for rows spanning beyond f32,
/// when `keep_d`) into `row`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn exp_pass<V: Lane>(
    row: &mut [f32],
    src: Option<&[f32]>,
    lo: usize,
    hi: usize,
    m: f32,
    keep_d: bool,
    coef: Option<&Mass<'_>>,
    s: &mut Sums<V>,
) {
    let mv = V::splat(m);
    let Some(out) = row.get_mut(lo..hi) else {
        return;
    };
    // Exact chunks: no per-vector bounds test (and none that can panic).
    match src {
        Some(src) => {
            let Some(zs) = src.get(lo..hi) else {
                return;
            };
            // A bounded range counts the vectors: `enumerate` would link an
            // overflow check under `overflow-checks`.
            for (j, (o, z)) in (0..hi).zip(out.chunks_exact_mut(V::N).zip(zs.chunks_exact(V::N))) {
                exp_step(
                    o,
                    V::load(z),
                    lo.wrapping_add(j.wrapping_mul(V::N)),
                    mv,
                    keep_d,
                    coef,
                    s,
                );
            }
        }
        None => {
            for (j, o) in (0..hi).zip(out.chunks_exact_mut(V::N)) {
                let z = V::load(o);
                exp_step(
                    o,
                    z,
                    lo.wrapping_add(j.wrapping_mul(V::N)),
                    mv,
                    keep_d,
                    coef,
                    s,
                );
            }
        }
    }
}

/// One vector of [`exp_pass`]: `z` at class `i`, the result into `o`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn exp_step<V: Lane>(
    o: &mut [f32],
    z: V,
    i: usize,
    mv: V,
    keep_d: bool,
    coef: Option<&Mass<'_>>,
    s: &mut Sums<V>,
) {
    let zero = V::splat(0.0);
    let one = V::splat(1.0);
    let (d, dh) = shift(z, mv);
    let e = exp_neg(d);
    let top = d.eq(zero);
    s.r.add(V::select(top, zero, e));
    s.ties = s.ties + V::select(top, one, zero);
    if let Some(g) = coef {
        let (k, kd) = g.times::<V>(i, dh);
        s.kd.add(V::select(kd.eq(zero), zero, kd));
        s.k.add(k);
    }
    let v = if keep_d { dh } else { e };
    v.store(o);
}

/// `row[lo..hi] = (e · a - k) · scale` with `e` read from the row and `k`
/// from `sub` (0 without).
#[inline(always)]
pub(crate) fn grad_pass<V: Lane>(
    row: &mut [f32],
    lo: usize,
    hi: usize,
    a: f32,
    sub: Option<&Mass<'_>>,
    scale: f32,
) {
    let sv = V::splat(scale);
    // `e ≤ 1` and `a · scale` saturated: no ∞ · 0. With `k`, scale last:
    // `e · a - k` is finite for finite `a` and `k`.
    let av = match sub {
        None => V::splat(sat(a * scale)),
        Some(_) => V::splat(a),
    };
    let Some(out) = row.get_mut(lo..hi) else {
        return;
    };
    match sub {
        None => {
            for o in out.chunks_exact_mut(V::N) {
                (V::load(o) * av).store(o);
            }
        }
        Some(s) => {
            for (j, o) in (0..hi).zip(out.chunks_exact_mut(V::N)) {
                let k = s.at::<V>(lo.wrapping_add(j.wrapping_mul(V::N)));
                (V::load(o).mul_add(av, -k) * sv).store(o);
            }
        }
    }
}

/// Totals of the exponential pass of a soft row.
#[derive(Clone, Copy)]
pub struct ExpSums {
    /// `R = Σ e - 1`.
    pub r_max: f32,
    /// `K = Σ_c k_c` (0 unless asked for).
    pub k: f32,
    /// `Σ_c k_c d_c / 2` (0 unless asked for; exact for rows spanning
    /// beyond f32).
    pub kd_half: f32,
}

/// Per-class terms of a soft row's sum pass: `(a_c, b_c)` from `d_c / 2` and
/// `k_c = k_s f` (see [`Mass::scaled`]), lane-wise; [`SoftRow::sum2`]
/// returns `(Σ a, Σ b)`.
pub trait ClassTerms {
    /// The two terms of classes `i .. i + V::N`, from `d/2` and `k = k_s f`.
    fn terms<V: Lane>(&self, d_half: V, k_s: V, f: V) -> (V, V);
}

/// Per-class gradient of a soft row, lane-wise, before the reduction's scale.
pub trait ClassGrad {
    /// `∂ℓ/∂z` of classes `i .. i + V::N`, from `d/2`.
    fn grad<V: Lane>(&self, d_half: V, k: V) -> V;
}

/// One row with probability targets or smoothing, as the driver hands it to
/// a loss: its logits (in `src`, or in the row itself), its maximum, its
/// weighted targets, and the passes over its classes (SIMD lanes, then the
/// scalar tail). The row doubles as scratch: it holds `e` or `d` between
/// passes and the gradient at the end.
pub struct SoftRow<'a> {
    pub(crate) row: &'a mut [f32],
    pub(crate) src: Option<&'a [f32]>,
    /// Whole vectors end here.
    pub(crate) main: usize,
    pub(crate) m: f32,
    pub(crate) mass: Mass<'a>,
    pub(crate) scale: f32,
    /// Whether the gradient is written.
    pub grad: bool,
}

impl SoftRow<'_> {
    /// The exponential pass: leaves `e` (or `d/2` with `keep_d`) in the
    /// row, returns `R`, and with `coef` also `K` and `Σ k d / 2`.
    #[inline(always)]
    pub fn exp(&mut self, keep_d: bool, coef: bool) -> ExpSums {
        let c = self.row.len();
        let mass = if coef { Some(&self.mass) } else { None };
        let mut s1 = Sums::<Simd>::new();
        let mut s2 = Sums::<f32>::new();
        exp_pass(
            self.row, self.src, 0, self.main, self.m, keep_d, mass, &mut s1,
        );
        if Simd::N > 1 {
            exp_pass(
                self.row, self.src, self.main, c, self.m, keep_d, mass, &mut s2,
            );
        }
        let ties = s1.ties.reduce_add() + s2.ties;
        ExpSums {
            r_max: (s1.r.total() + s2.r.total()) + (ties - 1.0),
            k: s1.k.total() + s2.k.total(),
            kd_half: s1.kd.total() + s2.kd.total(),
        }
    }

    /// `∂ℓ/∂z_c = (e_c a - k_c) · scale` over the row holding `e`.
    #[inline(always)]
    pub fn grad_linear(&mut self, a: f32) {
        let c = self.row.len();
        grad_pass::<Simd>(self.row, 0, self.main, a, Some(&self.mass), self.scale);
        if Simd::N > 1 {
            grad_pass::<f32>(self.row, self.main, c, a, Some(&self.mass), self.scale);
        }
    }

    /// `(Σ_c a_c, Σ_c b_c)` of `f`'s terms over the row holding `d/2`.
    #[inline(always)]
    pub fn sum2<F: ClassTerms>(&self, f: &F) -> (f32, f32) {
        let (a1, b1) = self.sum2_lanes::<Simd, F>(f, 0, self.main);
        let (a2, b2) = if Simd::N > 1 {
            self.sum2_lanes::<f32, F>(f, self.main, self.row.len())
        } else {
            (0.0, 0.0)
        };
        (a1 + a2, b1 + b2)
    }

    #[inline(always)]
    fn sum2_lanes<V: Lane, F: ClassTerms>(&self, f: &F, lo: usize, hi: usize) -> (f32, f32) {
        let mut sa = ClassSum::<V>::new();
        let mut sb = ClassSum::<V>::new();
        if let Some(row) = self.row.get(lo..hi) {
            for (j, o) in (0..hi).zip(row.chunks_exact(V::N)) {
                let i = lo.wrapping_add(j.wrapping_mul(V::N));
                let (ks, sc) = self.mass.scaled::<V>(i);
                let (a, b) = f.terms(V::load(o), ks, sc);
                sa.add(a);
                sb.add(b);
            }
        }
        (sa.total(), sb.total())
    }

    /// `row ← f's gradient · scale` over the row holding `d/2`.
    #[inline(always)]
    pub fn store<F: ClassGrad>(&mut self, f: &F) {
        let c = self.row.len();
        self.store_lanes::<Simd, F>(f, 0, self.main);
        if Simd::N > 1 {
            self.store_lanes::<f32, F>(f, self.main, c);
        }
    }

    #[inline(always)]
    fn store_lanes<V: Lane, F: ClassGrad>(&mut self, f: &F, lo: usize, hi: usize) {
        let sc = V::splat(self.scale);
        let mass = self.mass;
        let Some(row) = self.row.get_mut(lo..hi) else {
            return;
        };
        for (j, o) in (0..hi).zip(row.chunks_exact_mut(V::N)) {
            let i = lo.wrapping_add(j.wrapping_mul(V::N));
            let g = f.grad(V::load(o), mass.at::<V>(i));
            (g * sc).store(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SIMD and scalar instantiations of the weighted targets agree.
    #[test]
    fn lanes_match_scalar() {
        let y = [0.1f32, 0.0, 0.3, 0.2, 0.0, 0.1, 0.2, 0.1, 0.0, 0.0];
        let w = [1.0f32, 2.0, 0.5, 0.0, 1.0, 3.0, 1.0, 1.0, 0.2, 1.0];
        for (yv, t) in [(Some(&y[..]), usize::MAX), (None, 3)] {
            let gen = Mass {
                weights: Some(&w),
                y: yv,
                t,
                a: 0.9,
                b: 0.01,
                wk: 1.0,
            };
            let mut i = 0;
            while i + Simd::N <= y.len() {
                let v: Simd = gen.at(i);
                let mut o = [0.0f32; MAX_LANES];
                v.store(&mut o[..Simd::N]);
                for (j, &v) in o[..Simd::N].iter().enumerate() {
                    assert_eq!(v, gen.at::<f32>(i + j));
                }
                i += Simd::N;
            }
        }
    }
}
