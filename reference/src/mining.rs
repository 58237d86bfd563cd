//! References of the hard-example miners, by rank counting: `O(n²)`, no
//! buffer, written from the definitions (not from tinyloss's radix select).
//!
//! The rank of a candidate is the number of candidates that come before it
//! in the miner's order: a larger score first (for threshold mining, a
//! smaller `p_t` first), equal scores by index. A miner that keeps `k`
//! keeps the candidates of rank below `k`. `ignore[i] == true`: not a
//! candidate. Scores compare as f32 values (`-0.0 == +0.0`).

/// Rank of candidate `i` among the candidates `cand(j)`, larger `s` first.
fn rank(s: &[f32], i: usize, cand: impl Fn(usize) -> bool, larger_first: bool) -> usize {
    let si = s[i];
    (0..s.len())
        .filter(|&j| cand(j))
        .filter(|&j| {
            let before = if larger_first { s[j] > si } else { s[j] < si };
            before || (s[j] == si && j < i)
        })
        .count()
}

/// OHEM: whether element `i` is kept by `top_k(scores, k, ignore)`.
pub fn top_k(scores: &[f32], k: usize, ignore: &[bool], i: usize) -> bool {
    !ignore[i] && rank(scores, i, |j| !ignore[j], true) < k
}

/// Threshold mining: whether element `i` is kept (candidates with
/// `p_t < thresh`; if fewer than `min_kept`, the `min_kept` smallest).
pub fn below_threshold(
    p_t: &[f32],
    thresh: f32,
    min_kept: usize,
    ignore: &[bool],
    i: usize,
) -> bool {
    if ignore[i] {
        return false;
    }
    let below = (0..p_t.len())
        .filter(|&j| !ignore[j] && p_t[j] < thresh)
        .count();
    if below >= min_kept {
        p_t[i] < thresh
    } else {
        rank(p_t, i, |j| !ignore[j], false) < min_kept
    }
}

/// SSD hard negatives: whether element `i` is kept (every positive,
/// `y > 0`; the `ratio · N_pos` highest-scoring negatives, `y == 0`).
pub fn hard_negatives(
    scores: &[f32],
    targets: &[f32],
    ratio: usize,
    ignore: &[bool],
    i: usize,
) -> bool {
    if ignore[i] {
        return false;
    }
    if targets[i] > 0.0 {
        return true;
    }
    let pos = (0..scores.len())
        .filter(|&j| !ignore[j] && targets[j] > 0.0)
        .count();
    rank(scores, i, |j| !ignore[j] && targets[j] == 0.0, true) < pos.saturating_mul(ratio)
}

/// mmseg's `OHEMPixelSampler` rule, as its Python states it: with the
/// candidates' `p_t` sorted ascending as `sorted`, keep `p_t <
/// max(thresh, sorted[min(min_kept, n - 1)])` (nothing when there is no
/// candidate). `sorted` is the caller's sorted copy.
pub fn mmseg_keeps(p: f32, thresh: f32, min_kept: usize, sorted: &[f32]) -> bool {
    if sorted.is_empty() {
        return false;
    }
    let m = sorted[min_kept.min(sorted.len() - 1)];
    p < if m > thresh { m } else { thresh }
}

/// mmdet's `GHMC` in f64: running bin counts `acc` (from 0) with momentum
/// `momentum`, over `M` bins of `g = |σ(z) − y|` with edges `k/M`.
#[derive(Clone, Copy, Debug)]
pub struct Ghm<const M: usize> {
    /// mmdet's `acc_sum`.
    pub acc: [f64; M],
    /// The momentum.
    pub momentum: f64,
}

impl<const M: usize> Ghm<M> {
    /// Running counts at 0.
    pub fn new(momentum: f64) -> Self {
        Ghm {
            acc: [0.0; M],
            momentum,
        }
    }

    /// `g` of an element, and whether it is within `2^-21` of an inner edge
    /// (where f32 may bin it either way).
    pub fn g(z: f32, y: f32) -> (f64, bool) {
        let z = f64::from(z);
        let p = 1.0 / (1.0 + libm::exp(-z));
        let g = libm::fabs(p - f64::from(y));
        let near = (1..M).any(|k| libm::fabs(g - k as f64 / M as f64) < 1.0 / (1u32 << 21) as f64);
        (g, near)
    }

    /// One step: the weights into `out` (0 where ignored); returns `N`.
    pub fn step(&mut self, z: &[f32], y: &[f32], ignore: Option<&[bool]>, out: &mut [f64]) -> f64 {
        let mut num = [0u32; M];
        let bin = |i: usize| ((Self::g(z[i], y[i]).0 * M as f64) as usize).min(M - 1);
        let mut valid = 0u32;
        for i in 0..z.len() {
            if ignore.is_some_and(|m| m[i]) {
                continue;
            }
            valid += 1;
            num[bin(i)] += 1;
        }
        let tot = if valid > 1 { valid as f64 } else { 1.0 };
        let mut per = [0.0f64; M];
        let mut n = 0;
        for k in 0..M {
            if num[k] > 0 {
                n += 1;
                per[k] = if self.momentum > 0.0 {
                    self.acc[k] =
                        self.momentum * self.acc[k] + (1.0 - self.momentum) * num[k] as f64;
                    tot / self.acc[k]
                } else {
                    tot / num[k] as f64
                };
            }
        }
        for i in 0..z.len() {
            out[i] = if ignore.is_some_and(|m| m[i]) {
                0.0
            } else {
                per[bin(i)] / if n > 0 { n as f64 } else { 1.0 }
            };
        }
        tot
    }
}
