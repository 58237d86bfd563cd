//! The row driver: validation (shapes, parameters, data, the reduction's
//! normaliser and the class weights' power-of-two scale), then one pass over
//! the rows in one of three output modes (gradient into a buffer, in place,
//! loss only). Per row it applies the ignore index and mask, class and row
//! weights and the saturation rule, runs the label rows itself (SIMD lanes
//! and scalar tail, or one row per lane for small `C`) with the loss's
//! [`RowKernel::label`], and hands soft rows to [`RowKernel::soft`]. Rows are
//! summed through `crate::reduce`.
//!
//! Every access is a `get` (or an iterator) so that no panic path links:
//! validation proves them all in range, and the neutral fallbacks never run.

use super::input::{Rows, Targets};
use super::kernel::{
    exp_pass, grad_pass, log1p_pos, row_count, vec_at, ClassSum, LabelRow, Mass, RowKernel,
    RowLoss, SoftRow, Sums, MAX_LANES,
};
use crate::diagnostic::Observe;
use crate::error::check_len;
use crate::lanes::{sat, Lane, Simd};
use crate::math::{exp_neg, ln, log1p_unit};
use crate::reduce::{Blocked, Reduction, Scale, Total};
use crate::{At, Error, Labels};

/// Largest `C` for which label rows are processed `Simd::N` rows at a time
/// (one row per lane) rather than one row at a time (classes in the lanes).
const BLOCK_MAX_C: usize = 64;

/// Length of the column buffer of the row-block path.
const COLS: usize = if <Simd as Lane>::N > 1 {
    BLOCK_MAX_C
} else {
    1
};

/// Lanes of the transpose buffer of the row-block path (1 where the path is
/// compiled out, so that the buffer costs nothing there).
const ROW_LANES: usize = if <Simd as Lane>::N > 1 {
    <Simd as Lane>::N
} else {
    1
};

/// Row losses (times row weights) above this go to the overflow-safe
/// [`Total::add_product`] instead of the f32 blocks.
const PLAIN: f32 = 1e36;

/// Where a call reads the logits and writes its results.
pub(crate) enum Out<'o> {
    /// Gradient into its own buffer (`rows × C`).
    Split { z: &'o [f32], grad: &'o mut [f32] },
    /// Gradient over the logits.
    InPlace(&'o mut [f32]),
    /// Loss only: one row of scratch (`≥ C`).
    Scratch { z: &'o [f32], row: &'o mut [f32] },
}

impl Out<'_> {
    /// The logits the call reads.
    pub(crate) fn logits(&self) -> &[f32] {
        match self {
            Out::Split { z, .. } | Out::Scratch { z, .. } => z,
            Out::InPlace(z) => z,
        }
    }
}

/// The whole call: every check, then the pass.
#[inline(always)]
pub(crate) fn call<K: RowKernel>(
    k: &K,
    rows: &Rows<'_>,
    red: Reduction,
    out: Out<'_>,
    losses: Option<&mut [f32]>,
    obs: Option<&mut dyn Observe>,
) -> Result<f32, Error> {
    let plan = checked(k, rows, red, &out, losses.as_deref().map(<[f32]>::len))?;
    Ok(run(k, rows, plan, out, losses, obs))
}

/// Every check of a call (shapes, parameters, data, output lengths), in
/// the order the errors are documented; the plan of its pass.
#[inline(always)]
pub(crate) fn checked<K: RowKernel>(
    k: &K,
    rows: &Rows<'_>,
    red: Reduction,
    out: &Out<'_>,
    losses: Option<usize>,
) -> Result<Plan, Error> {
    let z = out.logits();
    let plan = validate(k, rows, z, red)?;
    match out {
        Out::Split { grad, .. } => check_len("grad", z.len(), grad.len())?,
        Out::Scratch { row, .. } if row.len() < rows.classes => {
            return Err(Error::LengthMismatch {
                what: "scratch",
                expected: rows.classes,
                found: row.len(),
            })
        }
        _ => {}
    }
    if let Some(l) = losses {
        check_len("losses", plan.rows, l)?;
    }
    Ok(plan)
}

/// A row's target after the ignore index and mask.
#[derive(Clone, Copy)]
pub(crate) enum Tgt<'a> {
    Ignored,
    Hard(usize),
    Soft(&'a [f32]),
}

/// Row `r`'s target.
#[inline(always)]
pub(crate) fn target<'a>(rows: &Rows<'a>, ignore: Option<u32>, r: usize) -> Tgt<'a> {
    if let Some(m) = rows.ignore {
        if m.get(r) != Some(&false) {
            return Tgt::Ignored;
        }
    }
    match rows.targets {
        Targets::Probs(p) => {
            let c = rows.classes;
            match p.get(r.wrapping_mul(c)..).and_then(|s| s.get(..c)) {
                Some(y) => Tgt::Soft(y),
                None => Tgt::Ignored,
            }
        }
        Targets::Labels(l) => match l.get(r) {
            Some(t) if ignore != Some(t) => Tgt::Hard(t as usize),
            _ => Tgt::Ignored,
        },
    }
}

/// What validation hands to the row pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub rows: usize,
    /// The reduction's factor (`1/rows`, `1/Σ w_t`, `1/d`, ...).
    scale: Scale,
    /// A power of two the class weights are multiplied by: 1 without class
    /// weights; with them, it brings the largest class weight that enters a
    /// row loss (the target weights of labels, every weight with smoothing
    /// or probability targets) to `[1/2, 1)` when that weight is outside
    /// `[2^-64, 2^64)` (see [`WeightSum::wscale`]), so that the weighted targets
    /// `w_c y'_c` stay off f32's subnormal grid and the weighted row losses
    /// cannot overflow. Under a class-weighted `Mean` of labels it cancels
    /// (`Σ w_t ℓ / Σ w_t`); under every other reduction `scale` (and `post`)
    /// divide it out again, exactly.
    wscale: f32,
    /// A power of two applied after `scale` (1 but where `d · wscale` is not
    /// exact in f32, see [`fold`]).
    post: f32,
    /// The gradient's factor: `scale`, but with row weights and `wscale ≠
    /// 1` the part of `1/(d · wscale)` that [`row_factors`] does not give
    /// the rows, so that no row gradient leaves the normal range before its
    /// row weight brings it back.
    gscale: Scale,
    /// A power of two applied to the gradient after `gscale`: `post`, or 1
    /// with row weights.
    gpost: f32,
    /// The factor each row-weighted gradient row is multiplied by with its
    /// row weight: 1, or part of `1/(d · wscale)` with row weights (see
    /// [`row_factors`]).
    row_unscale: f32,
    /// Label rows without smoothing under `Sum` or `MeanOver` whose target
    /// weights need a scale (`wscale ≠ 1`, see [`class_rows`]): each row's
    /// class weight `w_t` is applied as its row weight, after a kernel run
    /// with weight 1, and `wscale` is 1.
    class_rows: bool,
}

/// Whether a call's class weights are applied as row weights (see
/// [`Plan::class_rows`]): a label row's loss and gradient are linear in its
/// one class weight `w_t`, so where one power of two for all rows would take
/// a small `w_t` below f32's normal range (weights spanning past `2^125`:
/// fuzz, `1e-42` next to `f32::MAX` gave a gradient 0 against 178 under
/// `MeanOver(1e-45)`), the row runs unweighted and `w_t` is applied in the
/// row weights' overflow- and underflow-safe order ([`row_weight`]; next
/// to a row weight, as one more factor). Not with smoothing or probability
/// targets (every class weight enters the row), nor under a class-weighted
/// `Mean` (where the scale cancels and a small `w_t` only gives a small
/// result).
#[inline]
fn class_rows(rows: &Rows<'_>, eps: f32, wscale: f32) -> bool {
    wscale != 1.0 && eps == 0.0 && matches!(rows.targets, Targets::Labels(_))
}

/// The gradient's factors with row weights and `ws ≠ 1`: `(gscale, gpost,
/// row_unscale)` of [`Plan`]. The row pass writes the gradient unscaled, so
/// a row weight above 1 cannot meet a gradient the factor `1/(d ws)` has
/// already taken below the normal range: for `d ws ≤ 1` the factor is the
/// final scale-up; for `1 < d ws ≤ 2^126` it goes with the row weight
/// (`1/(d ws)` normal, one more rounding); beyond, `1/ws` goes with the row
/// weight and `1/d` is the final scale.
#[cold]
#[inline(never)]
fn row_factors(d: f32, ws: f32) -> (Scale, f32, f32) {
    let dd = d * ws;
    let exact = if ws > 1.0 {
        dd <= f32::MAX
    } else {
        dd >= f32::MIN_POSITIVE
    };
    if exact && dd <= 1.0 {
        (Scale::of(dd), 1.0, 1.0)
    } else if exact && dd <= 8.507_059e37 {
        // 2^126
        (Scale::of(1.0), 1.0, 1.0 / dd)
    } else {
        (Scale::of(d), 1.0, 1.0 / ws)
    }
}

/// The reduction's factor for a normaliser `d` of row losses computed with
/// class weights scaled by `ws` (a power of two): `(Scale::of(d · ws), 1)`
/// where `d · ws` is exact in f32, else `(Scale::of(d), 1/ws)`: the factor
/// `1/ws` then goes after the scale, which over- or underflows only where
/// the exact result does (`d · ws` beyond f32 needs `ws > 1` and `d > 2`:
/// the result is far below 1; below f32's normal range needs `ws < 1` and
/// `d < 1`: scaling up after `1/d` saturates only where the result does).
#[inline]
fn fold(d: f32, ws: f32) -> (Scale, f32) {
    if ws == 1.0 {
        return (Scale::of(d), 1.0);
    }
    let dd = d * ws;
    // Scaling up by a power of two is exact unless it overflows; scaling
    // down, unless it leaves the normal range.
    let exact = if ws > 1.0 {
        dd <= f32::MAX
    } else {
        dd >= f32::MIN_POSITIVE || d == 0.0
    };
    if exact {
        (Scale::of(dd), 1.0)
    } else {
        (Scale::of(d), 1.0 / ws)
    }
}

/// Checks shapes, parameters and data (rows the ignore index or the mask
/// drop are not validated); returns the row count, the reduction's factor
/// and the class weights' scale.
#[inline(always)]
fn validate<K: RowKernel>(
    k: &K,
    rows: &Rows<'_>,
    logits: &[f32],
    red: Reduction,
) -> Result<Plan, Error> {
    let c = rows.classes;
    let n = row_count(logits.len(), c)?;
    match rows.targets {
        Targets::Labels(l) => check_len("targets", n, l.len())?,
        Targets::Probs(p) => check_len("targets", logits.len(), p.len())?,
    }
    if let Some(w) = rows.class_weights {
        check_len("class_weights", c, w.len())?;
    }
    if let Some(v) = rows.row_weights {
        check_len("row_weights", n, v.len())?;
    }
    if let Some(m) = rows.ignore {
        check_len("ignore", n, m.len())?;
    }
    if red == Reduction::MeanOverPositives {
        return Err(Error::InvalidParameter { name: "reduction" });
    }
    red.validate()?;
    // Fast scans of the whole batch (branch-free over the logits, one
    // compare per label); rows are examined one by one only when a scan
    // finds something, to report the first bad row.
    let top = largest_bits(logits);
    let z_ok = top < 0x7f80_0000;
    // The scan of the labels also finds the largest target weight, and
    // Σ w_t for a class-weighted `Mean`.
    let w_mean = match (red, rows.targets) {
        (Reduction::Mean, Targets::Labels(_)) => rows.class_weights,
        _ => None,
    };
    let ig = k.ignore_index();
    let (kept, mut wsum, t_ok) = match rows.targets {
        Targets::Labels(l) => scan(l, c, ig, rows.ignore, rows.class_weights),
        Targets::Probs(p) => (
            rows.ignore.map_or(n, count_kept),
            WeightSum::default(),
            all_probs(p),
        ),
    };
    if !(z_ok && t_ok) {
        first_bad_row(rows, ig, logits, n)?;
    }
    if let Some(w) = rows.class_weights {
        // With smoothing or probability targets every class weight enters
        // every row loss.
        if k.smoothing() > 0.0 || matches!(rows.targets, Targets::Probs(_)) {
            wsum.include(w);
        }
    }
    let (scale, wscale, post, d, class_rows) = match (red, w_mean) {
        (Reduction::Mean, Some(_)) => {
            let (denom, ws, post) = wsum.normalised(top);
            (Scale::of(denom), ws, post, None, false)
        }
        _ => {
            let ws = match rows.class_weights {
                Some(_) => wsum.wscale(top),
                None => 1.0,
            };
            let d = match red {
                Reduction::Sum => 1.0,
                Reduction::MeanOver(d) => d,
                _ => kept as f32,
            };
            // Class weights as row weights: the rows are unweighted.
            let cr = class_rows(rows, k.smoothing(), ws);
            let ws = if cr { 1.0 } else { ws };
            let (s, post) = fold(d, ws);
            (s, ws, post, Some(d), cr)
        }
    };
    let (gscale, gpost, row_unscale) = match d {
        Some(d) if wscale != 1.0 && rows.row_weights.is_some() => row_factors(d, wscale),
        _ => (scale, post, 1.0),
    };
    Ok(Plan {
        rows: n,
        scale,
        wscale,
        post,
        gscale,
        gpost,
        row_unscale,
        class_rows,
    })
}

/// The per-row checks, in row order: the first bad row's error, or `Ok`
/// when the only bad values are in dropped rows.
#[cold]
#[inline(never)]
fn first_bad_row(rows: &Rows<'_>, ig: Option<u32>, logits: &[f32], n: usize) -> Result<(), Error> {
    let c = rows.classes;
    for (r, z) in logits.chunks(c.max(1)).take(n).enumerate() {
        match target(rows, ig, r) {
            Tgt::Ignored => {}
            Tgt::Hard(t) => {
                if t >= c {
                    return Err(Error::LabelOutOfRange { at: At::Row(r) });
                }
                if !all_finite(z) {
                    return Err(Error::NonFiniteInput { at: At::Row(r) });
                }
            }
            Tgt::Soft(y) => {
                if !all_finite(z) {
                    return Err(Error::NonFiniteInput { at: At::Row(r) });
                }
                if !all_probs(y) {
                    return Err(Error::TargetOutOfRange { at: At::Row(r) });
                }
            }
        }
    }
    Ok(())
}

#[inline]
fn all_finite(z: &[f32]) -> bool {
    largest_bits(z) < 0x7f80_0000
}

/// The bits of the largest `|z|` (NaN's and ∞'s are above every finite
/// value's): the finiteness scan, and whether a row can span past f32.
#[inline]
fn largest_bits(z: &[f32]) -> u32 {
    let mut top = 0u32;
    for x in z {
        top = top.max(x.to_bits() & 0x7fff_ffff);
    }
    top
}

/// Every entry in `[0, 1]` (NaN fails).
#[inline]
fn all_probs(y: &[f32]) -> bool {
    let mut ok = true;
    for v in y {
        ok &= (0.0..=1.0).contains(v);
    }
    ok
}

/// Number of `false` entries of a mask.
#[inline(never)]
fn count_kept(m: &[bool]) -> usize {
    m.iter().fold(0usize, |n, &ig| n.wrapping_add(!ig as usize))
}

/// `Σ w_t` over the kept rows (overflow-safe), the largest `w_t`, and the
/// largest class weight that enters a row loss.
#[derive(Default, Clone, Copy)]
struct WeightSum {
    total: Blocked,
    target_bits: u32,
    max_bits: u32,
    /// `!(b - 1)` of the smallest positive weight's bits `b` that enters a
    /// row loss (0: none), so that a plain max finds it.
    small: u32,
}

impl WeightSum {
    #[inline(always)]
    fn add(&mut self, w: f32) {
        // Non-negative floats order like their bits; the sign bit is
        // dropped so that a -0.0 weight (valid) is not the largest.
        let b = w.to_bits() & 0x7fff_ffff;
        self.target_bits = self.target_bits.max(b);
        self.small = self.small.max(!b.wrapping_sub(1));
        self.total.add(w);
    }

    /// Every class weight enters the row losses (smoothing).
    fn include(&mut self, w: &[f32]) {
        for &x in w {
            let b = x.to_bits() & 0x7fff_ffff;
            self.max_bits = self.max_bits.max(b);
            self.small = self.small.max(!b.wrapping_sub(1));
        }
    }

    /// `(Σ w_t · ws, ws, 1)` with `ws` of [`WeightSum::wscale`] (1 for
    /// ordinary weights; else `2^-E`, `2^E` the power of two just above the
    /// largest weight that enters a row loss, E clamped to `[-126, 127]`);
    /// `(0, 1, 1)` when every target weight is 0. Where scaling down would
    /// take the sum out of f32's normal range, `(Σ w_t, ws, 1/ws)`: the
    /// normaliser unscaled and the factor `1/ws` after the reduction's
    /// scale. A positive `Σ w_t` below f32 (it cannot be: each weight is an
    /// f32) would become the smallest subnormal.
    fn normalised(self, ztop: u32) -> (f32, f32, f32) {
        if self.target_bits == 0 {
            return (0.0, 1.0, 1.0);
        }
        // The scale of the other reductions: 1 for ordinary weights, whose
        // results then keep their bits (a small weight scaled down with
        // the rest could land on the subnormal grid: fuzz, 1e-42 next to
        // 12.5 lost 0.8% of its row's loss).
        let ws = self.wscale(ztop);
        let inv = 1.0 / ws;
        let total = self.total.total();
        let d = total.scaled(Scale::of(inv));
        // Scaling up is exact, subnormal sums included.
        if d >= f32::MIN_POSITIVE || ws >= 1.0 {
            return (d, ws, 1.0);
        }
        // `Σ w_t · 2^-E` left f32's normal range (`ws < 1`: target weights
        // far below the largest weight, with smoothing or all of them
        // small): the unscaled sum is exact to its rounding (and far below
        // `2^100`, so not shifted) and `1/ws` goes after the scale.
        let raw = total.scaled(Scale::of(1.0));
        (if raw > 0.0 { raw } else { f32::from_bits(1) }, ws, inv)
    }

    /// The class weights' scale `2^-E` (see [`WeightSum::exponents`]), but
    /// 1 when the largest weight that
    /// enters a row loss is in `[2^-64, 2^64)` (or 0): there the weighted
    /// targets stay normal (for `ε/C ≥ 2^-62`) and the results keep their
    /// bits; only subnormal-prone and huge class weights are scaled. Where
    /// the largest weight times the largest logit magnitude (`ztop`, its
    /// bits) reaches `2^124`, a weighted row loss (at most `w (2|z|_max +
    /// ln C)`) could pass `2 f32::MAX`, what a row's overflow half carries:
    /// there the range ends at 1, unless the weights span more than `2^125`
    /// (the smallest would leave the normal range). A row then keeps
    /// `w_c d_c / 2` inside f32 and its loss below `2 f32::MAX` (for
    /// targets summing to at most 1).
    fn wscale(self, ztop: u32) -> f32 {
        let bits = self.max_bits.max(self.target_bits);
        // Biased exponents: `w · |z| ≥ 2^124` when they sum to 378.
        let wide = (bits >> 23).wrapping_add(ztop >> 23) >= 378;
        // The smallest positive weight stays normal after the scale
        // (exponent at least the largest's minus 125).
        let least = (!self.small).wrapping_add(1) >> 23;
        let fits = self.small == 0 || least.wrapping_add(125) >= bits >> 23;
        let top = if wide && fits { 127 } else { 191 };
        if bits == 0 || (63..top).contains(&(bits >> 23)) {
            return 1.0;
        }
        self.exponents().0
    }

    /// `(2^-E, 2^E)`.
    #[inline(always)]
    fn exponents(self) -> (f32, f32) {
        let top = self.max_bits.max(self.target_bits);
        // Up to E = 127: weights from 2^127 (to f32::MAX) become at most 2,
        // so a row loss (at most f32::MAX + ln C unweighted) stays below
        // `2 f32::MAX`; `2^-127` itself is a subnormal power of two, exact
        // as a factor wherever the product is normal.
        let e = ((top >> 23) as i32 - 126).clamp(-126, 127);
        let ws = if e == 127 {
            f32::from_bits(0x0040_0000)
        } else {
            f32::from_bits(((127 - e) as u32) << 23)
        };
        let inv = f32::from_bits(((127 + e) as u32) << 23);
        (ws, inv)
    }
}

/// One pass over the labels: `(rows kept, Σ w_t over them when `weights`
/// are given, all kept labels valid)`.
#[inline(always)]
fn scan(
    labels: Labels<'_>,
    c: usize,
    ignore: Option<u32>,
    mask: Option<&[bool]>,
    weights: Option<&[f32]>,
) -> (usize, WeightSum, bool) {
    if let (None, None, None) = (mask, ignore, weights) {
        // The common call: every row counts, and the labels are valid if
        // the largest is (a plain max over the labels, which vectorises).
        return (
            labels.len(),
            WeightSum::default(),
            (max_label(labels) as usize) < c,
        );
    }
    match (labels, mask) {
        (Labels::U8(l), None) => {
            scan_labels(l.iter().map(|&t| (u32::from(t), false)), c, ignore, weights)
        }
        (Labels::U16(l), None) => {
            scan_labels(l.iter().map(|&t| (u32::from(t), false)), c, ignore, weights)
        }
        (Labels::U32(l), None) => scan_labels(l.iter().map(|&t| (t, false)), c, ignore, weights),
        (Labels::U8(l), Some(m)) => scan_labels(
            l.iter().map(|&t| u32::from(t)).zip(m.iter().copied()),
            c,
            ignore,
            weights,
        ),
        (Labels::U16(l), Some(m)) => scan_labels(
            l.iter().map(|&t| u32::from(t)).zip(m.iter().copied()),
            c,
            ignore,
            weights,
        ),
        (Labels::U32(l), Some(m)) => {
            scan_labels(l.iter().copied().zip(m.iter().copied()), c, ignore, weights)
        }
    }
}

/// The largest label (0 for none). Inlined: a call costs the row pass
/// registers (and stack) on a Cortex-M; each loss's validation has its copy.
/// A match outside the loops, not `Labels::iter`, whose chained iterator
/// makes a Cortex-M softmax call bigger and its frame deeper.
#[inline(always)]
fn max_label(labels: Labels<'_>) -> u32 {
    match labels {
        Labels::U8(l) => l.iter().fold(0, |m, &t| m.max(u32::from(t))),
        Labels::U16(l) => l.iter().fold(0, |m, &t| m.max(u32::from(t))),
        Labels::U32(l) => l.iter().fold(0, |m, &t| m.max(t)),
    }
}

#[inline(always)]
fn scan_labels(
    labels: impl Iterator<Item = (u32, bool)>,
    c: usize,
    ignore: Option<u32>,
    weights: Option<&[f32]>,
) -> (usize, WeightSum, bool) {
    let mut kept = 0usize;
    let mut ok = true;
    let mut wsum = WeightSum::default();
    for (t, masked) in labels {
        if masked || ignore == Some(t) {
            continue;
        }
        let valid = (t as usize) < c;
        ok &= valid;
        kept = kept.wrapping_add(1);
        if let (Some(w), true) = (weights, valid) {
            wsum.add(w.get(t as usize).copied().unwrap_or(0.0));
        }
    }
    (kept, wsum, ok)
}

/// The per-call constants of the row pass.
struct Pass<'a> {
    eps: f32,
    weights: Option<&'a [f32]>,
    /// Power-of-two factor of the class weights (see [`Plan::wscale`]).
    wscale: f32,
    scale: f32,
    grad: bool,
}

impl Pass<'_> {
    /// `w_t` (scaled), 1 without class weights.
    #[inline(always)]
    fn w_t(&self, t: usize) -> f32 {
        match self.weights {
            Some(w) => w.get(t).copied().unwrap_or(0.0) * self.wscale,
            None => 1.0,
        }
    }
}

/// The pass over rows; everything is validated.
fn run<K: RowKernel>(
    k: &K,
    rows: &Rows<'_>,
    plan: Plan,
    out: Out<'_>,
    losses: Option<&mut [f32]>,
    mut obs: Option<&mut dyn Observe>,
) -> f32 {
    let c = rows.classes;
    if c < 2 {
        return 0.0;
    }
    let n = plan.rows;
    let (src, out, grad): (Option<&[f32]>, &mut [f32], bool) = match out {
        Out::Split { z, grad } => (Some(z), grad, true),
        Out::InPlace(zg) => (None, zg, true),
        Out::Scratch { z, row } => (Some(z), row, false),
    };
    let losses: &mut [f32] = match losses {
        Some(l) => match l.get_mut(..n) {
            Some(l) => l,
            None => return 0.0,
        },
        None => &mut [],
    };
    // Class weights applied as row weights: the kernel runs unweighted.
    let cw = if plan.class_rows {
        rows.class_weights
    } else {
        None
    };
    let weighted = rows.row_weights.is_some() || cw.is_some();
    let kp = Pass {
        eps: k.smoothing(),
        weights: if cw.is_some() {
            None
        } else {
            rows.class_weights
        },
        wscale: plan.wscale,
        scale: plan.gscale.pass(),
        grad,
    };
    let ig = k.ignore_index();
    // The per-row losses the caller sees are not scaled by `wscale`.
    let unscale = 1.0 / plan.wscale;
    let mut acc = Blocked::default();
    // Weighted row losses beyond `PLAIN`, and row losses beyond f32.
    let mut huge = Total::default();
    let mut any_huge = false;
    // Small C, label targets without smoothing, no row weights: lanes
    // across rows.
    let blocked = grad
        && Simd::N > 1
        && c <= BLOCK_MAX_C
        && kp.eps == 0.0
        && !weighted
        && matches!(rows.targets, Targets::Labels(_));
    // Transpose buffer of one block of rows, `tb[j][l]` = logit `j` of row
    // `l` (a single element where the block path is compiled out).
    let mut tb = [[0.0f32; ROW_LANES]; COLS];
    // A diagnosed call: each row's `(p_t, class)` is taken from its logits
    // before the pass (which may overwrite them), and its L1 gradient norm
    // times `g_unit` is `Σ_j |∂(v ℓ)/∂z_j|` (the pass's factor divided out).
    let pass = kp.scale;
    let g_unit = if pass > 0.0 { unscale / pass } else { 0.0 };
    // Row weights under a gradient scale above 1: each row gets the scale
    // with its weight, in an order that keeps a product the weight takes
    // below f32's normal range (see `weigh`), instead of one pass at the end.
    let per_row_up = (grad && weighted && plan.gscale.needs_up()).then_some(plan.gscale);
    // Weighted row losses below f32's normal range that the reduction's
    // factor brings back, already times that factor (see `row_weight`).
    let rescue = weighted && (plan.scale.needs_up() || plan.post > 1.0);
    let mut fine = Total::default();
    let mut r = 0;
    while r < n {
        if blocked && n - r >= Simd::N {
            let mut pre = [None; MAX_LANES];
            if obs.is_some() {
                let z: &[f32] = src.unwrap_or(out);
                for (l, p) in (0..Simd::N).zip(pre.iter_mut()) {
                    let at = r.wrapping_add(l);
                    let zr = z.get(at.wrapping_mul(c)..).and_then(|s| s.get(..c));
                    *p = zr.and_then(|zr| row_pt(rows, ig, at, zr));
                }
            }
            if let Some(lv) = block(k, &kp, rows, ig, r, src, out, &mut tb) {
                acc.add_lanes(lv);
                if let Some(o) = obs.as_deref_mut() {
                    let mut lb = [0.0f32; MAX_LANES];
                    lv.store(&mut lb[..Simd::N]);
                    for (l, (&v, p)) in (0..Simd::N).zip(lb.iter().zip(pre)) {
                        let at = r.wrapping_add(l).wrapping_mul(c);
                        let g = out.get(at..).and_then(|s| s.get(..c)).map_or(0.0, l1);
                        if let Some((pt, t)) = p {
                            o.row(pt, t, sat(v * unscale), g * g_unit);
                        }
                    }
                }
                if !losses.is_empty() {
                    let mut lb = [0.0f32; MAX_LANES];
                    lv.store(&mut lb[..Simd::N]);
                    for (l, &v) in lb[..Simd::N].iter().enumerate() {
                        if let Some(x) = losses.get_mut(r.wrapping_add(l)) {
                            *x = sat(v * unscale);
                        }
                    }
                }
                r = r.wrapping_add(Simd::N);
                continue;
            }
        }
        let lo = r.wrapping_mul(c);
        let row = if grad {
            out.get_mut(lo..).and_then(|s| s.get_mut(..c))
        } else {
            out.get_mut(..c)
        };
        let Some(row) = row else { break };
        let zr = match src {
            Some(z) => match z.get(lo..).and_then(|s| s.get(..c)) {
                Some(z) => Some(z),
                None => break,
            },
            None => None,
        };
        let pre = match obs {
            Some(_) => row_pt(rows, ig, r, zr.unwrap_or(row)),
            None => None,
        };
        let tg = target(rows, ig, r);
        let rl = match tg {
            Tgt::Ignored => {
                if grad {
                    row.fill(0.0);
                }
                RowLoss::of(0.0)
            }
            t => one_row(k, &kp, row, zr, t),
        };
        // The row's weight: its row weight, or its class weight applied as
        // one (`Plan::class_rows`).
        // With both, `(row weight, class weight)`.
        let w_of = |w: &[f32], t: usize| w.get(t).copied().unwrap_or(0.0);
        let rw = match (rows.row_weights, cw, tg) {
            (Some(vs), Some(w), Tgt::Hard(t)) => {
                Some((vs.get(r).copied().unwrap_or(0.0), w_of(w, t)))
            }
            (Some(vs), _, _) => Some((vs.get(r).copied().unwrap_or(0.0), 1.0)),
            (None, Some(w), Tgt::Hard(t)) => Some((w_of(w, t), 1.0)),
            (None, Some(_), _) => Some((1.0, 1.0)),
            (None, None, _) => None,
        };
        // A diagnosed call reports the row's loss here too.
        let mut reported = 0.0f32;
        let mut pre_l1 = 0.0f32;
        let slot = if obs.is_some() {
            Some(&mut reported)
        } else {
            losses.get_mut(r)
        };
        match rw {
            None if rl.over == 0.0 => {
                acc.add(rl.l);
                if let Some(x) = slot {
                    *x = sat(rl.l * unscale);
                }
            }
            None => {
                any_huge = true;
                let x = beyond_f32(rl.over, 1.0, unscale, &mut huge);
                if let Some(o) = slot {
                    *o = x;
                }
            }
            Some((v, cwt)) => {
                // With the scale applied per row, the diagnostic takes the
                // row's L1 norm before it (and the weight) instead.
                if per_row_up.is_some() && pre.is_some() {
                    pre_l1 = sat(times_unscaled(l1(row), v, g_unit) * cwt);
                }
                // A class weight next to a row weight: the gradient takes
                // it as its factor `u` (`row_unscale` is 1 then), the loss
                // as part of one of its two factors.
                let (rl, lv, c3, u) = if cwt == 1.0 {
                    (rl, v, 1.0, plan.row_unscale)
                } else {
                    let (rl, lv, c3) = fold_class_weight(rl, v, cwt);
                    (rl, lv, c3, cwt)
                };
                row_weight(
                    row,
                    rl,
                    (lv, c3),
                    unscale,
                    grad.then_some((v, u, per_row_up)),
                    &mut acc,
                    &mut huge,
                    rescue.then_some((plan.scale, plan.post, &mut fine)),
                    slot,
                );
            }
        }
        if let Some(o) = obs.as_deref_mut() {
            if let Some(x) = losses.get_mut(r) {
                *x = reported;
            }
            if let Some((pt, t)) = pre {
                let u = match rw {
                    Some(_) => g_unit / plan.row_unscale,
                    None => g_unit,
                };
                let g = match (rw, per_row_up) {
                    (Some(_), Some(_)) => pre_l1,
                    _ => sat(l1(row) * u),
                };
                o.row(pt, t, reported, g);
            }
        }
        r = r.wrapping_add(1);
    }
    if plan.scale == Scale::of(0.0) {
        // `Mean` over nothing (every row dropped, or Σ w_t = 0): 0, and a
        // zero gradient (not ∞ · 0 where a row loss overflowed).
        if grad {
            out.fill(0.0);
        }
        return 0.0;
    }
    if grad && plan.gscale.needs_up() && per_row_up.is_none() {
        plan.gscale.scale_up(out);
    }
    let total = acc.total().scaled(plan.scale);
    let total = if any_huge || weighted {
        sat(total + huge.scaled(plan.scale))
    } else {
        total
    };
    let total = if plan.post != 1.0 || plan.gpost != 1.0 {
        unscale_post(
            plan.post,
            plan.gpost,
            (acc.total(), huge, plan.scale),
            if grad { out } else { &mut [] },
        )
    } else {
        total
    };
    if rescue {
        sat(total + fine.scaled(Scale::of(1.0)))
    } else {
        total
    }
}

/// A diagnosed row's `(p_t, class)` from its logits `z`: the softmax probability of its label, or of
/// its largest target for probability targets; `None` for a dropped row.
#[inline(never)]
fn row_pt(rows: &Rows<'_>, ig: Option<u32>, r: usize, z: &[f32]) -> Option<(f32, usize)> {
    let c = rows.classes;
    let t = match target(rows, ig, r) {
        Tgt::Ignored => return None,
        Tgt::Hard(t) => t,
        Tgt::Soft(y) => {
            let (mut t, mut best) = (0usize, f32::NEG_INFINITY);
            for (j, &v) in (0..c).zip(y) {
                if v > best {
                    (t, best) = (j, v);
                }
            }
            t
        }
    };
    // `Lane::max` (compare and select): `f32::max` is a libm call on cores
    // without `vmaxnm`.
    let m = z.iter().fold(f32::NEG_INFINITY, |m, &v| Lane::max(m, v));
    let s = z.iter().fold(0.0f32, |s, &v| s + exp_neg(v - m));
    Some((exp_neg(z.get(t).copied().unwrap_or(m) - m) / s, t))
}

/// `Σ |g_j|` of a gradient row (saturating).
fn l1(row: &[f32]) -> f32 {
    sat(row.iter().fold(0.0f32, |a, g| a + g.abs()))
}

/// The factors [`Plan::post`] on the loss and [`Plan::gpost`] on the
/// gradient (saturating; powers of two, so exact unless the result leaves
/// the normal range). The loss is `(Σ + Σ_huge) · scale · post` from the
/// two sums ([`Total::scaled_post`]): they may be far beyond f32 before
/// `post < 1` brings them back (tiny class weights scaled up, many rows or
/// huge row weights), and a saturated `Σ · scale` would stay wrong after
/// it.
#[cold]
#[inline(never)]
fn unscale_post(post: f32, gpost: f32, sums: (Total, Total, Scale), grad: &mut [f32]) -> f32 {
    if gpost != 1.0 {
        for g in grad.iter_mut() {
            *g = sat(*g * gpost);
        }
    }
    let (a, h, s) = sums;
    sat(a.scaled_post(s, post) + h.scaled_post(s, post))
}

/// `x · v · u` for a row weight `v` and a factor `u` (a power of two, or
/// `u ≥ 2^-126` when `u < 1`), in an order that neither overflows nor leaves
/// the normal range where the exact result does not; saturated.
#[inline(always)]
fn times_unscaled(x: f32, v: f32, u: f32) -> f32 {
    let p = x * v;
    if p.abs() > f32::MAX {
        // `v > 1` and `|x| ≥ 1`: `x · u` is normal.
        sat(sat(x * u) * v)
    } else if p.abs() < f32::MIN_POSITIVE && u > 1.0 {
        sat((x * u) * v)
    } else {
        sat(p * u)
    }
}

/// Applies row weight `v` to a row whose loss is `l` and whose gradient
/// (when `grad`) is in `row`: exact zeros for `v = 0`, saturation beyond
/// f32, and the weighted loss into the sum (through `huge` when it is
/// beyond the f32 blocks, already times the reduction's factor `(scale,
/// post)` into `fine` when it is below f32's normal range and that factor,
/// given when above 1, could bring it back) and into `out` (unscaled by the
/// class weights' scale).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn row_weight(
    row: &mut [f32],
    rl: RowLoss,
    (v, c): (f32, f32),
    unscale: f32,
    grad: Option<(f32, f32, Option<Scale>)>,
    acc: &mut Blocked,
    huge: &mut Total,
    fine: Option<(Scale, f32, &mut Total)>,
    out: Option<&mut f32>,
) {
    if v == 0.0 || grad.is_some_and(|(gv, u, _)| gv == 0.0 || u == 0.0) {
        if grad.is_some() {
            row.fill(0.0);
        }
        if let Some(x) = out {
            *x = 0.0;
        }
        acc.add(0.0);
        return;
    }
    match grad {
        Some((gv, u, Some(s))) => {
            for g in row.iter_mut() {
                *g = weigh(*g, gv, u, s);
            }
        }
        Some((gv, 1.0, None)) if gv != 1.0 => {
            for g in row.iter_mut() {
                *g = sat(*g * gv);
            }
        }
        Some((gv, u, None)) if u != 1.0 => {
            for g in row.iter_mut() {
                *g = times_unscaled(*g, gv, u);
            }
        }
        _ => {}
    }
    if c != 1.0 {
        // A third factor (a class weight that fits with neither of the
        // others): rare, in order.
        return three_factors(rl, [v, c], unscale, acc, huge, fine, out);
    }
    if rl.over > 0.0 {
        let x = beyond_f32(rl.over, v, unscale, huge);
        if let Some(o) = out {
            *o = x;
        }
        return;
    }
    let l = rl.l;
    let lv = l * v;
    match fine {
        // Below f32's normal range, where the reduction's factor brings the
        // sum back (a tiny row weight, or class weight applied as one, on a
        // row loss under `MeanOver` of a small `d` or the class weights'
        // `post`): the product with that factor, into its own sum.
        Some((s, post, f)) if lv < f32::MIN_POSITIVE && l > 0.0 => {
            let (m, p) = s.parts();
            f.add(ordered(l, [v, m, p, post, 1.0, 1.0]));
        }
        _ if lv <= PLAIN => acc.add(lv),
        _ => huge.add_product(sat(l), v),
    }
    if let Some(x) = out {
        *x = times_unscaled(l, v, unscale);
    }
}

/// The loss part of [`row_weight`] for a loss `ℓ = 2 · half` (`rl`) times
/// two weights `f` whose product is not normal: each product in order
/// ([`ordered`]), into `huge` (overflow-safe) or, already times the
/// reduction's factor, into `fine`.
#[cold]
#[inline(never)]
fn three_factors(
    rl: RowLoss,
    [v, c]: [f32; 2],
    unscale: f32,
    acc: &mut Blocked,
    huge: &mut Total,
    fine: Option<(Scale, f32, &mut Total)>,
    out: Option<&mut f32>,
) {
    let half = if rl.over > 0.0 { rl.over } else { 0.5 * rl.l };
    let x = ordered(half, [v, c, 1.0, 1.0, 1.0, 1.0]);
    match fine {
        Some((s, post, f)) if x < f32::MIN_POSITIVE => {
            let (m, p) = s.parts();
            f.add(ordered(half, [v, c, m, p, post, 2.0]));
        }
        _ if x < f32::MAX => acc.add(sat(2.0 * x)),
        _ => {
            // Beyond f32 (`v c` overflows: both huge): saturated.
            huge.add_product(f32::MAX, 1.0);
        }
    }
    if let Some(o) = out {
        *o = ordered(half, [v, c, unscale, 2.0, 1.0, 1.0]);
    }
}

/// A row loss `rl` with row weight `v` and class weight `c` (applied as a
/// row weight, [`Plan::class_rows`]) as a loss and one factor whose product
/// is `ℓ v c`: `(rl, v c)` where `v c` is normal, else the class weight
/// with the loss (`ℓ c`, from `ℓ/2` so that a saturated loss keeps its
/// half) where that is normal, else `(rl, v)` and `c` as a third factor
/// (`(rl, v, c)`; 1 in the other cases), which [`row_weight`] applies in
/// order. The gradient takes `v` and `c` as its two factors.
#[cold]
#[inline(never)]
fn fold_class_weight(rl: RowLoss, v: f32, c: f32) -> (RowLoss, f32, f32) {
    let q = v * c;
    if (f32::MIN_POSITIVE..=f32::MAX).contains(&q) || c == 0.0 || v == 0.0 {
        return (rl, q, 1.0);
    }
    let half = if rl.over > 0.0 { rl.over } else { 0.5 * rl.l };
    let hc = half * c;
    if (f32::MIN_POSITIVE..=f32::MAX).contains(&hc) || rl.l == 0.0 {
        return (RowLoss::from_half(hc), v, 1.0);
    }
    (rl, v, c)
}

/// `g · v · u · s` for a gradient entry `g` of a row with weight `v`,
/// factor `u` (as [`times_unscaled`]) and the gradient's scale `s > 1`:
/// the weight first; where that takes a nonzero `g` below f32's normal
/// range, the four factors (`v`, `u` and the scale's two) one at a time,
/// each time the one that keeps the running product nearest 1 (the largest
/// below 1, the smallest above), so that no intermediate leaves f32's
/// range where the result does not; saturated.
#[cold]
#[inline(never)]
fn weigh(g: f32, v: f32, u: f32, s: Scale) -> f32 {
    let x = times_unscaled(g, v, u);
    if !(x.abs() < f32::MIN_POSITIVE && g != 0.0) {
        return s.apply(x);
    }
    let (m, p) = s.parts();
    ordered(g, [v, u, m, p, 1.0, 1.0])
}

/// `x` times the factors `f`, one at a time, each time the one whose
/// product with the running value has the exponent nearest 0 (a product
/// that leaves f32's normal range counts as farthest), so that no
/// intermediate leaves f32's range where the result does not (a factor far
/// below 1 waits for one far above it, whatever the running value);
/// saturated.
#[cold]
#[inline(never)]
fn ordered(x: f32, f: [f32; 6]) -> f32 {
    let mut used = [false; 6];
    let mut acc = x;
    // One instantiation, not unrolled (a factor of 1 changes nothing):
    // rare, so small.
    for _ in 0..core::hint::black_box(6) {
        let mut best: Option<(usize, f32, u32)> = None;
        for (i, (&a, &done)) in (0..6).zip(f.iter().zip(&used)) {
            // Biased exponent of the product: 0 below the normal range,
            // 255 beyond f32; its distance from 127.
            let e = (((acc * a).to_bits() >> 23) & 0xff) as i32;
            let dist = e.wrapping_sub(127).unsigned_abs();
            let better = match best {
                None => true,
                Some((_, _, b)) => dist < b,
            };
            if !done && better {
                best = Some((i, a, dist));
            }
        }
        if let Some((i, a, _)) = best {
            acc = sat(acc * a);
            if let Some(d) = used.get_mut(i) {
                *d = true;
            }
        }
    }
    acc
}

/// A row loss `2 · over · v` beyond f32 (`over` its half) into the
/// overflow-safe total; returns the per-row loss to report (unscaled by the
/// class weights' scale), saturated.
#[cold]
#[inline(never)]
fn beyond_f32(over: f32, v: f32, unscale: f32, huge: &mut Total) -> f32 {
    huge.add_product(over, v);
    huge.add_product(over, v);
    sat(sat(sat(over * unscale) * v) * 2.0)
}

/// One row: the logits are `src`, or `row` itself when `src` is `None`;
/// `row` holds the scaled gradient on exit (when `kp.grad`); returns the
/// weighted row loss.
#[inline(always)]
fn one_row<K: RowKernel>(
    k: &K,
    kp: &Pass<'_>,
    row: &mut [f32],
    src: Option<&[f32]>,
    tgt: Tgt<'_>,
) -> RowLoss {
    let c = row.len();
    let (t, y) = match tgt {
        Tgt::Hard(t) => (t, None),
        Tgt::Soft(y) => (usize::MAX, Some(y)),
        Tgt::Ignored => return RowLoss::of(0.0),
    };
    let soft = y.is_some() || kp.eps > 0.0;
    if !soft && (Simd::N == 1 || c < 2 * Simd::N) {
        return label_scalar(k, kp, row, src, t);
    }
    let main = c / Simd::N * Simd::N;
    let m = row_max(src.unwrap_or(row), main);
    if !soft {
        // Unreachable where the lane type is `f32` (Cortex-M).
        return label_lanes(k, kp, row, src, main, m, t);
    }
    // The weight scale goes with the weights when it is below 1 (see
    // `Mass`), else with the targets.
    let (ys, wk) = if kp.wscale < 1.0 {
        (1.0, kp.wscale)
    } else {
        (kp.wscale, 1.0)
    };
    let mut sr = SoftRow {
        row,
        src,
        main,
        m,
        mass: Mass {
            weights: kp.weights,
            y,
            t,
            a: (1.0 - kp.eps) * ys,
            b: kp.eps / c as f32 * ys,
            wk,
        },
        scale: kp.scale,
        grad: kp.grad,
    };
    k.soft(&mut sr)
}

/// Label row, no smoothing, classes in the lanes (SIMD, long rows).
#[inline(always)]
fn label_lanes<K: RowKernel>(
    k: &K,
    kp: &Pass<'_>,
    row: &mut [f32],
    src: Option<&[f32]>,
    main: usize,
    m: f32,
    t: usize,
) -> RowLoss {
    let c = row.len();
    let Some(&z_t) = src.unwrap_or(row).get(t) else {
        return RowLoss::of(0.0);
    };
    let mut s1 = Sums::<Simd>::new();
    let mut s2 = Sums::<f32>::new();
    exp_pass(row, src, 0, main, m, false, None, &mut s1);
    if Simd::N > 1 {
        exp_pass(row, src, main, c, m, false, None, &mut s2);
    }
    let ties = s1.ties.reduce_add() + s2.ties;
    let r_max = (s1.r.total() + s2.r.total()) + (ties - 1.0);
    // `row[t]` holds e_t = exp(d_t) (1 when t is a maximum).
    label_finish(k, kp, row, main, t, r_max, z_t, m)
}

/// [`label_lanes`] for short rows and scalar lanes (Cortex-M): the first
/// arg-max `a` is found with the maximum, so `R = Σ_{j≠a} e_j` needs no
/// per-entry test (other maxima add `e = 1` each, as they should).
#[inline(always)]
fn label_scalar<K: RowKernel>(
    k: &K,
    kp: &Pass<'_>,
    row: &mut [f32],
    src: Option<&[f32]>,
    t: usize,
) -> RowLoss {
    let c = row.len();
    let src = match src {
        Some(s) => match s.get(..c) {
            Some(s) => Some(s),
            None => return RowLoss::of(0.0),
        },
        None => None,
    };
    let (m, a, z_t) = {
        let zs: &[f32] = src.unwrap_or(row);
        let Some((&z0, rest)) = zs.split_first() else {
            return RowLoss::of(0.0);
        };
        let Some(&z_t) = zs.get(t) else {
            return RowLoss::of(0.0);
        };
        let mut m = z0;
        let mut a = 0;
        for (j, &v) in rest.iter().enumerate() {
            if v > m {
                m = v;
                a = j.wrapping_add(1);
            }
        }
        (m, a, z_t)
    };
    let mut sum = ClassSum::<f32>::new();
    // Blocks of 32 terms summed in f32, combined by Kahan (as `ClassSum`),
    // over the entries before and after the arg-max.
    {
        let Some((left, right)) = row.split_at_mut_checked(a) else {
            return RowLoss::of(0.0);
        };
        let Some((top, right)) = right.split_first_mut() else {
            return RowLoss::of(0.0);
        };
        *top = 1.0;
        let (zl, zr) = match src {
            Some(s) => match s.split_at_checked(a) {
                Some((zl, zr)) => (Some(zl), zr.get(1..)),
                None => return RowLoss::of(0.0),
            },
            None => (None, None),
        };
        exp_blocks(left, zl, m, &mut sum);
        exp_blocks(right, zr, m, &mut sum);
    }
    let r_max = sum.total();
    label_finish(k, kp, row, 0, t, r_max, z_t, m)
}

/// `out = exp(z - m)` in blocks of 32 summed in f32, each block added to
/// `sum`; `z` is `src`, or `out` itself.
#[inline(always)]
fn exp_blocks(out: &mut [f32], src: Option<&[f32]>, m: f32, sum: &mut ClassSum<f32>) {
    match src {
        Some(s) => {
            for (ob, zb) in out.chunks_mut(32).zip(s.chunks(32)) {
                let mut part = 0.0f32;
                for (o, &z) in ob.iter_mut().zip(zb) {
                    let e = exp_neg(z - m);
                    *o = e;
                    part += e;
                }
                sum.add_partial(part);
            }
        }
        None => {
            for ob in out.chunks_mut(32) {
                let mut part = 0.0f32;
                for o in ob.iter_mut() {
                    let e = exp_neg(*o - m);
                    *o = e;
                    part += e;
                }
                sum.add_partial(part);
            }
        }
    }
}

/// The rest of a label row once `row` holds `e_j` and `R = Σ_j e_j - 1`
/// is known: the loss's kernel, then the gradient over `row`
/// (`row[..main]` in lanes, the rest scalar).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn label_finish<K: RowKernel>(
    k: &K,
    kp: &Pass<'_>,
    row: &mut [f32],
    main: usize,
    t: usize,
    r_max: f32,
    z_t: f32,
    m: f32,
) -> RowLoss {
    let c = row.len();
    let Some(&e_t) = row.get(t) else {
        return RowLoss::of(0.0);
    };
    let st = LabelRow::new(r_max, z_t, m, e_t, log1p_pos(r_max), true);
    let w_t = kp.w_t(t);
    let (loss, g_t, a) = k.label(&st, w_t);
    let rl = if st.d_t == -f32::MAX {
        let (l, over) = huge_loss(k, [r_max, z_t, m, e_t, st.ln_s], true, w_t, loss);
        RowLoss { l, over }
    } else {
        RowLoss::of(loss)
    };
    if kp.grad {
        if Simd::N > 1 {
            grad_pass::<Simd>(row, 0, main, a, None, kp.scale);
        }
        grad_pass::<f32>(row, main, c, a, None, kp.scale);
        if let Some(g) = row.get_mut(t) {
            *g = g_t * kp.scale;
        }
    }
    rl
}

/// The loss of a label row whose `d_t` is clamped at `-f32::MAX` (a row
/// spanning more than f32): `(ℓ, ℓ/2 where ℓ saturates, else 0)` with `ℓ`
/// twice that of the halved row, where `CE` alone is beyond f32 but the
/// weighted loss need not be. Takes the row's inputs by value, so that the
/// common row's statistics stay in registers.
#[cold]
#[inline(never)]
fn huge_loss<K: RowKernel, V: Lane>(
    k: &K,
    [r_max, z_t, m, e_t, ln_s]: [V; 5],
    div: bool,
    w_t: V,
    loss: V,
) -> (V, V) {
    let st = LabelRow::new(r_max, z_t, m, e_t, ln_s, div);
    let (half, _, _) = k.label(&st.halved(), w_t);
    let clamped = st.d_t.eq(V::splat(-f32::MAX));
    let l = V::select(clamped, sat(V::splat(2.0) * half), loss);
    let over = V::select(l.eq(V::splat(f32::MAX)), half, V::splat(0.0));
    (l, V::select(clamped, over, V::splat(0.0)))
}

/// `Simd::N` label rows from row `r` at once, one row per lane (label
/// targets, no smoothing, small `C`): the same arithmetic as
/// [`label_lanes`] with the class loop outside and the rows in the lanes.
/// Writes their scaled gradient rows; returns their losses, or `None` (and
/// writes nothing) when a row of the block is dropped.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<K: RowKernel>(
    k: &K,
    kp: &Pass<'_>,
    rows: &Rows<'_>,
    ig: Option<u32>,
    r: usize,
    src: Option<&[f32]>,
    out: &mut [f32],
    tb: &mut [[f32; ROW_LANES]; COLS],
) -> Option<Simd> {
    let c = rows.classes;
    let n8 = Simd::N;
    let mut ts = [0usize; MAX_LANES];
    for (l, t) in ts.iter_mut().take(n8).enumerate() {
        match target(rows, ig, r.wrapping_add(l)) {
            Tgt::Hard(h) if h < c => *t = h,
            _ => return None,
        }
    }
    let tb = tb.get_mut(..c)?;
    let lo = r.wrapping_mul(c);
    let len = n8.wrapping_mul(c);
    let mut b = [0.0f32; MAX_LANES];
    let mut wt = [1.0f32; MAX_LANES];
    let mut mb = [0.0f32; MAX_LANES];
    let z_t: Simd = {
        let src: &[f32] = src.unwrap_or(out);
        let sb = src.get(lo..)?.get(..len)?;
        // Transposed through `tb` (in L1): `tb[j][l]` is logit `j` of row
        // `l`. Exact chunks and zips: no per-element bounds test.
        // `0..n8`, not `enumerate`: a bounded range links no overflow check.
        for (l, zr) in (0..n8).zip(sb.chunks_exact(c)) {
            // The row maximum on the way, as the lanes' `max` computes it
            // (`maxps`: the later operand on ties).
            let mut m = f32::NEG_INFINITY;
            for (t, &z) in tb.iter_mut().zip(zr) {
                if let Some(x) = t.get_mut(l) {
                    *x = z;
                }
                m = if m > z { m } else { z };
            }
            if let Some(x) = mb.get_mut(l) {
                *x = m;
            }
            let tl = ts.get(l).copied().unwrap_or(0);
            if let Some(x) = b.get_mut(l) {
                *x = zr.get(tl).copied().unwrap_or(0.0);
            }
            if let Some(x) = wt.get_mut(l) {
                *x = kp.w_t(tl);
            }
        }
        vec_at(&b, 0)
    };
    let m: Simd = vec_at(&mb, 0);
    let w_t: Simd = match kp.weights {
        Some(_) => vec_at(&wt, 0),
        None => Simd::splat(1.0),
    };
    // A row spanning more than f32 takes the one-row path (`huge_loss`).
    let (lv, gt, a) = block_lanes(k, kp, tb, m, z_t, w_t)?;
    let blk = out.get_mut(lo..)?.get_mut(..len)?;
    gt.store(&mut b[..n8]);
    a.store(&mut wt[..n8]);
    for (l, orow) in (0..n8).zip(blk.chunks_exact_mut(c)) {
        // `∂ℓ/∂z_j = e_j · a` off the target.
        let a_l = wt.get(l).copied().unwrap_or(0.0);
        for (o, t) in orow.iter_mut().zip(tb.iter()) {
            *o = t.get(l).copied().unwrap_or(0.0) * a_l;
        }
        let tl = ts.get(l).copied().unwrap_or(0);
        if let (Some(o), Some(&g)) = (orow.get_mut(tl), b.get(l)) {
            *o = g;
        }
    }
    Some(lv)
}

/// The lane arithmetic of [`block`]: lanes `..V::N` of `cols[j]` hold logit
/// `j` of the rows on entry and `e_j` on exit, `m` their maxima; returns
/// `(losses, target gradients, a)` with the scaled gradient `e_j · a` off
/// the targets, or `None` when a row spans more than f32 (`d_t` clamped).
#[inline(always)]
fn block_lanes<K: RowKernel, V: Lane>(
    k: &K,
    kp: &Pass<'_>,
    cols: &mut [[f32; ROW_LANES]],
    m: V,
    z_t: V,
    w_t: V,
) -> Option<(V, V, V)> {
    let zero = V::splat(0.0);
    let one = V::splat(1.0);
    let floor = V::splat(-f32::MAX);
    // At most BLOCK_MAX_C / 2 = 32 terms per lane and accumulator (even
    // and odd classes): each has the error of one `ClassSum` block.
    let mut rs = [zero; 2];
    let mut ties = zero;
    for pair in cols.chunks_mut(2) {
        for (col, r) in pair.iter_mut().zip(rs.iter_mut()) {
            let d = (vec_at::<V>(col, 0) - m).max(floor);
            let e = exp_neg(d);
            let top = d.eq(zero);
            *r = *r + V::select(top, zero, e);
            ties = ties + V::select(top, one, zero);
            e.store(col.get_mut(..V::N)?);
        }
    }
    let r_max = (rs[0] + rs[1]) + (ties - one);
    let s = one + r_max;
    let big = r_max.gt(one);
    let ln_s = V::select(
        big,
        ln(V::select(big, s, V::splat(2.0))),
        log1p_unit(r_max.min(one)),
    );
    let st = LabelRow::new(r_max, z_t, m, exp_neg((z_t - m).max(floor)), ln_s, false);
    if !V::all(st.d_t.gt(floor)) {
        return None;
    }
    let (loss, g_t, a) = k.label(&st, w_t);
    let sc = V::splat(kp.scale);
    Some((loss, g_t * sc, sat(a * sc)))
}

/// `max(row)`, lanes over `row[..main]`, scalar over the rest.
#[inline(always)]
fn row_max(row: &[f32], main: usize) -> f32 {
    let (head, tail) = row.split_at_checked(main).unwrap_or((row, &[]));
    let mut mv = Simd::splat(f32::NEG_INFINITY);
    for v in head.chunks_exact(Simd::N) {
        // `Lane::max`, not `f32::max` (a libm call on Cortex-M).
        mv = Lane::max(mv, Simd::load(v));
    }
    let mut buf = [f32::NEG_INFINITY; MAX_LANES];
    mv.store(&mut buf[..Simd::N]);
    let mut m = f32::NEG_INFINITY;
    for &v in buf[..Simd::N].iter().chain(tail) {
        // Inputs are finite (validated): no NaN handling needed.
        if v > m {
            m = v;
        }
    }
    m
}
