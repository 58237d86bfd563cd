//! The easy-example diagnostic: how much of the loss and of the gradient
//! comes from well-classified elements, gathered during the batch call
//! itself.

use crate::error::Error;

/// Octaves of the gradient histogram behind [`Diagnostic::half_gradient`]:
/// bin `k` holds `|g| ∈ [2^(k+GRAD_MIN_EXP), 2^(k+1+GRAD_MIN_EXP))`, the
/// first bin also everything smaller (zero included) and the last
/// everything larger.
pub const GRAD_OCTAVES: usize = 32;
const GRAD_MIN_EXP: i32 = -24;

/// Which elements a figure covers: positives (`y ≥ 0.5`; rows of any class
/// but the background class), negatives, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Group {
    /// Elements with target `y ≥ 0.5`; softmax rows whose class is not the
    /// background class.
    Positives,
    /// Elements with target `y < 0.5`; softmax rows of the background class.
    Negatives,
    /// Every element (or row) seen.
    All,
}

/// A Kahan-compensated sum of non-negative terms that saturates at
/// `f32::MAX` (never ∞, never NaN): within `2u + n u²` (`u = 2^-24`)
/// relative of the exact sum of its terms, so within `3u` for up to `2^24`
/// terms.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Acc {
    sum: f32,
    c: f32,
}

impl Acc {
    #[inline(always)]
    fn add(&mut self, v: f32) {
        let y = v - self.c;
        let t = self.sum + y;
        if t > f32::MAX {
            self.sum = f32::MAX;
            self.c = 0.0;
            return;
        }
        self.c = (t - self.sum) - y;
        self.sum = t;
    }

    #[inline(always)]
    fn value(self) -> f32 {
        // `sum - c` may round past MAX once saturated sums stop adding.
        (self.sum - self.c).min(f32::MAX)
    }
}

/// One bin of a histogram: how many elements fell in it, and their loss
/// and gradient mass.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Bin {
    /// Elements (or rows) in the bin.
    pub count: u32,
    /// `Σ w ℓ` over them.
    pub loss: f32,
    /// `Σ |∂(w ℓ)/∂z|` over them (a row's L1 norm for softmax rows).
    pub grad: f32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Cell {
    count: u32,
    loss: Acc,
    grad: Acc,
}

impl Cell {
    #[inline(always)]
    fn add(&mut self, l: f32, g: f32) {
        self.count = self.count.wrapping_add(1);
        self.loss.add(l);
        self.grad.add(g);
    }

    fn bin(&self) -> Bin {
        Bin {
            count: self.count,
            loss: self.loss.value(),
            grad: self.grad.value(),
        }
    }

    fn merge(a: Bin, b: Bin) -> Bin {
        Bin {
            count: a.count.wrapping_add(b.count),
            loss: (a.loss + b.loss).min(f32::MAX),
            grad: (a.grad + b.grad).min(f32::MAX),
        }
    }
}

/// One group's figures: all of it, its easy part, and its `p_t` histogram.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Part<const B: usize> {
    all: Cell,
    easy: Cell,
    bins: [Cell; B],
}

/// The easy-example diagnostic of Lin et al. (2017): which elements carry
/// the loss and the gradient. Pass one to
/// [`Batch::loss_grad_diagnosed`](crate::Batch::loss_grad_diagnosed) or
/// [`Rows::loss_grad_diagnosed`](crate::softmax::Rows::loss_grad_diagnosed);
/// it adds every element (or row) of the call that is not ignored, in the
/// same pass that computes the loss, so calls over an epoch accumulate an
/// epoch's figures ([`Diagnostic::reset`] starts again). Calls without one
/// run exactly as before.
///
/// For each element, with `p_t` the probability of its target (`σ(z)` for
/// `y ≥ 0.5`, else `1 - σ(z)`; a softmax row's probability of its class, or
/// of its largest target for probability targets), weighted loss `w ℓ` and
/// gradient `g = ∂(w ℓ)/∂z` (before the reduction's factor):
///
/// * it is **easy** when `p_t > threshold` (0.5 by default: classified
///   correctly);
/// * it is a **positive** when `y ≥ 0.5` (softmax: when its class is not the
///   background class of [`Diagnostic::with_background`]), else a
///   **negative**;
/// * it falls in bin `k = ⌊p_t B⌋` (clamped to `B - 1`) of its group's `p_t`
///   histogram, which holds the count, `Σ w ℓ` and `Σ |g|` per bin: the
///   cumulative-loss curves of the paper's figure 4 are its running sums;
/// * `|g|` falls in an octave of the gradient histogram behind
///   [`Diagnostic::half_gradient`].
///
/// So [`easy_grad_share`](Diagnostic::easy_grad_share)`(Group::Negatives)`
/// is the share of the whole gradient that easy negatives carry: near 1 for
/// cross-entropy on a dense detector, far lower under focal loss.
///
/// **Bounds.** Counts are exact (modulo `2^32`). Each sum is compensated:
/// within `3u` (`u = 2^-24`) relative of the exact sum of the f32 terms for
/// up to `2^24` terms, saturating at `f32::MAX`; the terms carry the
/// loss's own per-element bound. With logits, bins and easiness are decided
/// on `z` against `logit` of the edges (no `exp`), so an element whose
/// `p_t` is within a few ULP of an edge may land on either side. A softmax
/// row's `p_t` costs one more `exp` per class (only when diagnosed), and its
/// gradient mass is the L1 norm of the written gradient row divided by the
/// call's factor (one more rounding, and less accuracy where that gradient
/// is subnormal).
///
/// ```
/// use tinyloss::{Batch, Diagnostic, Focal, Group, Reduction, SigmoidCe};
/// // One positive and 99 easy negatives.
/// let mut targets = [0.0f32; 100];
/// targets[0] = 1.0;
/// let logits = [-3.0f32; 100];
/// let mut grad = [0.0; 100];
/// let batch = Batch::new(&targets);
/// let (mut ce, mut fl) = (Diagnostic::<10>::new(), Diagnostic::<10>::new());
/// batch.loss_grad_diagnosed(&SigmoidCe::PLAIN, &logits, Reduction::Sum, &mut grad, &mut ce)?;
/// batch.loss_grad_diagnosed(&Focal::RETINANET, &logits, Reduction::Sum, &mut grad, &mut fl)?;
/// // The 99 easy negatives carry 83 % of the CE gradient, 8 % of the focal one.
/// assert!(ce.easy_grad_share(Group::Negatives) > 0.8);
/// assert!(fl.easy_grad_share(Group::Negatives) < 0.1);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diagnostic<const B: usize = 10> {
    threshold: f32,
    /// `logit(threshold)`.
    z_easy: f32,
    /// `logit((k + 1)/B)` for `k < B - 1`, then ∞.
    z_edges: [f32; B],
    /// `(k + 1)/B` for `k < B - 1`, then ∞.
    p_edges: [f32; B],
    background: Option<u32>,
    parts: [Part<B>; 2],
    octaves: [Cell; GRAD_OCTAVES],
}

impl<const B: usize> Default for Diagnostic<B> {
    fn default() -> Self {
        Self::new()
    }
}

/// `ln(q / (1 - q)) = log1p((2q - 1) / (1 - q))` for `q ∈ (0, 1)`, to
/// within a few ULP (setup only; the vendored f64 `log1p` links no
/// overflow check).
fn logit(q: f32) -> f32 {
    let q = f64::from(q);
    crate::class_balanced::libm64::log1p((2.0 * q - 1.0) / (1.0 - q)) as f32
}

impl<const B: usize> Diagnostic<B> {
    /// An empty diagnostic with threshold 0.5 and no background class
    /// (`B = 0` is accepted and keeps no histogram).
    pub fn new() -> Self {
        // 0.5 is always valid.
        let mut d = Diagnostic {
            threshold: 0.5,
            z_easy: 0.0,
            z_edges: [f32::INFINITY; B],
            p_edges: [f32::INFINITY; B],
            background: None,
            parts: [Part {
                all: Cell::default(),
                easy: Cell::default(),
                bins: [Cell::default(); B],
            }; 2],
            octaves: [Cell::default(); GRAD_OCTAVES],
        };
        let last = B.saturating_sub(1);
        let mut k = 0usize;
        while k < last {
            let q = k.wrapping_add(1) as f32 / B as f32;
            if let (Some(z), Some(p)) = (d.z_edges.get_mut(k), d.p_edges.get_mut(k)) {
                *z = logit(q);
                *p = q;
            }
            k = k.wrapping_add(1);
        }
        d
    }

    /// The same diagnostic with `p_t > threshold` as "easy" (`threshold`
    /// in `(0, 1)`, else [`Error::InvalidParameter`] `"threshold"`). Figures
    /// gathered so far keep the threshold they were gathered with.
    pub fn with_threshold(self, threshold: f32) -> Result<Self, Error> {
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(Error::InvalidParameter { name: "threshold" });
        }
        Ok(Diagnostic {
            threshold,
            z_easy: logit(threshold),
            ..self
        })
    }

    /// The same diagnostic with softmax rows of class `c` counted as
    /// negatives (the background class of a detector); binary calls ignore
    /// it.
    pub const fn with_background(self, c: u32) -> Self {
        Diagnostic {
            background: Some(c),
            ..self
        }
    }

    /// The easiness threshold on `p_t`.
    pub const fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Forgets every figure (keeps the threshold and background class).
    pub fn reset(&mut self) {
        *self = Diagnostic {
            threshold: self.threshold,
            z_easy: self.z_easy,
            background: self.background,
            ..Self::new()
        };
    }

    fn pick(&self, g: Group, f: impl Fn(&Part<B>) -> Bin) -> Bin {
        let [p, n] = &self.parts;
        match g {
            Group::Positives => f(p),
            Group::Negatives => f(n),
            Group::All => Cell::merge(f(p), f(n)),
        }
    }

    /// Count, `Σ w ℓ` and `Σ |g|` of a group.
    pub fn total(&self, g: Group) -> Bin {
        self.pick(g, |p| p.all.bin())
    }

    /// Count, `Σ w ℓ` and `Σ |g|` of a group's easy elements.
    pub fn easy(&self, g: Group) -> Bin {
        self.pick(g, |p| p.easy.bin())
    }

    /// Bin `k` of a group's `p_t` histogram (`p_t ∈ [k/B, (k+1)/B)`); an
    /// empty bin for `k ≥ B`.
    pub fn bin(&self, g: Group, k: usize) -> Bin {
        self.pick(g, |p| p.bins.get(k).map_or(Bin::default(), Cell::bin))
    }

    /// The share of the whole loss (both groups) carried by group `g`'s easy
    /// elements; 0 when there is no loss.
    pub fn easy_loss_share(&self, g: Group) -> f32 {
        ratio(self.easy(g).loss, self.total(Group::All).loss)
    }

    /// The share of the whole gradient mass `Σ |g|` (both groups) carried
    /// by group `g`'s easy elements; 0 when there is none.
    pub fn easy_grad_share(&self, g: Group) -> f32 {
        ratio(self.easy(g).grad, self.total(Group::All).grad)
    }

    /// The effective number of elements that carry half the gradient: the
    /// smallest `k` such that the `k` largest `|g|` sum to at least half of
    /// `Σ |g|`, bracketed as `(low, high)` from the octave histogram
    /// (`low ≤ k ≤ high`, up to the rounding of the sums). Below it, a few
    /// elements drive learning; near the count of elements, all do
    /// equally. `(0, 0)` when no element has a gradient.
    pub fn half_gradient(&self) -> (u32, u32) {
        let total = self
            .octaves
            .iter()
            .fold(0.0f32, |a, c| (a + c.grad.value()).min(f32::MAX));
        let need = total * 0.5;
        if need <= 0.0 {
            return (0, 0);
        }
        let (mut above, mut acc) = (0u32, 0.0f32);
        let mut k = GRAD_OCTAVES;
        for c in self.octaves.iter().rev() {
            k = k.wrapping_sub(1);
            let m = c.grad.value();
            if m <= 0.0 {
                continue;
            }
            if acc + m < need && k > 0 {
                acc += m;
                above = above.wrapping_add(c.count);
                continue;
            }
            let rest = (need - acc).max(0.0);
            // Every |g| in octave k is below `top`; the j largest carry at
            // least j/count of the octave's mass.
            let top = if k.wrapping_add(1) >= GRAD_OCTAVES {
                f32::MAX
            } else {
                // 2^(k + 1 + GRAD_MIN_EXP), a normal power of two built
                // from its exponent bits (k < GRAD_OCTAVES - 1 here).
                f32::from_bits(((k as u32).wrapping_add((128 + GRAD_MIN_EXP) as u32)) << 23)
            };
            let n = c.count as f32;
            let lo = ceil_u32(rest / top).max(1);
            let hi = ceil_u32(rest / m * n).clamp(lo, c.count.max(lo));
            return (above.wrapping_add(lo), above.wrapping_add(hi));
        }
        (above, above)
    }

    /// The group and whether an element is easy, and its histogram bin,
    /// then the figures.
    #[inline(always)]
    fn add(&mut self, neg: bool, easy: bool, bin: usize, l: f32, g: f32) {
        let g = g.abs();
        let [pos_part, neg_part] = &mut self.parts;
        let part = if neg { neg_part } else { pos_part };
        part.all.add(l, g);
        if easy {
            part.easy.add(l, g);
        }
        if let Some(c) = part.bins.get_mut(bin) {
            c.add(l, g);
        }
        let e = (((g.to_bits() >> 23) & 0xff) as i32).wrapping_sub(127 + GRAD_MIN_EXP);
        let o = e.clamp(0, GRAD_OCTAVES as i32 - 1) as usize;
        if let Some(c) = self.octaves.get_mut(o) {
            c.add(0.0, g);
        }
    }

    /// An element with logit `z`, target `y`, weighted loss `l` and
    /// gradient `g`.
    #[inline(always)]
    pub(crate) fn logit(&mut self, z: f32, y: f32, l: f32, g: f32) {
        let neg = y < 0.5;
        let zt = if neg { -z } else { z };
        let bin = count_le(&self.z_edges, zt);
        self.add(neg, zt > self.z_easy, bin, l, g);
    }

    /// An element with probability input `p`.
    #[inline(always)]
    pub(crate) fn prob(&mut self, p: f32, y: f32, l: f32, g: f32) {
        let neg = y < 0.5;
        self.row(if neg { 1.0 - p } else { p }, neg, l, g);
    }

    /// An element (or softmax row) whose target has probability `pt`.
    #[inline(always)]
    pub(crate) fn row(&mut self, pt: f32, neg: bool, l: f32, g: f32) {
        let bin = count_le(&self.p_edges, pt);
        self.add(neg, pt > self.threshold, bin, l, g);
    }

    /// Softmax rows of class `c` are negatives.
    #[inline(always)]
    pub(crate) fn is_background(&self, c: usize) -> bool {
        self.background.is_some_and(|b| b as usize == c)
    }
}

/// Number of edges at or below `v` (a wrapping count: no overflow check).
#[inline(always)]
fn count_le(edges: &[f32], v: f32) -> usize {
    edges
        .iter()
        .fold(0usize, |n, &e| n.wrapping_add(usize::from(v >= e)))
}

fn ratio(a: f32, b: f32) -> f32 {
    if b > 0.0 {
        (a / b).min(1.0)
    } else {
        0.0
    }
}

fn ceil_u32(x: f32) -> u32 {
    // `as` saturates; NaN gives 0.
    libm::ceilf(x) as u32
}

/// What the batch drivers call with the elements of a diagnosed call.
pub(crate) trait Observe {
    /// Lanes of one vector: inputs `x` (logits, or probabilities with
    /// `prob`), targets `y`, weighted losses `l` and gradients `g` before
    /// the reduction's factor, and the ignore mask (empty: none).
    fn lanes(&mut self, prob: bool, x: &[f32], y: &[f32], l: &[f32], g: &[f32], ignore: &[bool]);
    /// A softmax row: `pt` of its class `c`, its weighted loss `l` and the
    /// L1 norm `g` of its gradient.
    fn row(&mut self, pt: f32, c: usize, l: f32, g: f32);
}

impl<const B: usize> Observe for Diagnostic<B> {
    #[inline(never)]
    fn lanes(&mut self, prob: bool, x: &[f32], y: &[f32], l: &[f32], g: &[f32], ignore: &[bool]) {
        let mut i = 0usize;
        for (((&x, &y), &l), &g) in x.iter().zip(y).zip(l).zip(g) {
            let skip = ignore.get(i) == Some(&true);
            i = i.wrapping_add(1);
            if skip {
                continue;
            }
            if prob {
                self.prob(x, y, l, g);
            } else {
                self.logit(x, y, l, g);
            }
        }
    }

    #[inline(never)]
    fn row(&mut self, pt: f32, c: usize, l: f32, g: f32) {
        let neg = self.is_background(c);
        Diagnostic::row(self, pt, neg, l, g);
    }
}

/// A diagnostic seen through a weight: what one unweighted element of a
/// huge weighted batch reports, weighted (saturating).
pub(crate) struct Weighted<'a> {
    pub o: &'a mut dyn Observe,
    pub w: f32,
}

impl Observe for Weighted<'_> {
    fn lanes(&mut self, prob: bool, x: &[f32], y: &[f32], l: &[f32], g: &[f32], ignore: &[bool]) {
        let mut lw = [0.0f32; 16];
        let mut gw = [0.0f32; 16];
        let w = self.w;
        let scale = |v: f32| {
            if w == 0.0 {
                0.0
            } else {
                (v * w).clamp(-f32::MAX, f32::MAX)
            }
        };
        for ((a, b), (&l, &g)) in lw.iter_mut().zip(gw.iter_mut()).zip(l.iter().zip(g)) {
            *a = scale(l);
            *b = scale(g);
        }
        let n = l.len().min(16);
        self.o.lanes(
            prob,
            x,
            y,
            lw.get(..n).unwrap_or(&[]),
            gw.get(..n).unwrap_or(&[]),
            ignore,
        );
    }

    fn row(&mut self, pt: f32, c: usize, l: f32, g: f32) {
        self.o.row(pt, c, l, g);
    }
}

#[cfg(feature = "defmt")]
impl<const B: usize> defmt::Format for Diagnostic<B> {
    fn format(&self, f: defmt::Formatter<'_>) {
        let (lo, hi) = self.half_gradient();
        let (p, n) = (self.total(Group::Positives), self.total(Group::Negatives));
        defmt::write!(
            f,
            "Diagnostic {{ positives: {}, negatives: {}, easy loss share: pos {} neg {}, easy grad share: pos {} neg {}, half the gradient in {}..={} elements, p_t bins (loss) pos [",
            p.count,
            n.count,
            self.easy_loss_share(Group::Positives),
            self.easy_loss_share(Group::Negatives),
            self.easy_grad_share(Group::Positives),
            self.easy_grad_share(Group::Negatives),
            lo,
            hi
        );
        for k in 0..B {
            defmt::write!(f, " {}", self.bin(Group::Positives, k).loss);
        }
        defmt::write!(f, " ] neg [");
        for k in 0..B {
            defmt::write!(f, " {}", self.bin(Group::Negatives, k).loss);
        }
        defmt::write!(f, " ] }}");
    }
}
