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
