//! Hard-example mining: which elements (or rows) a batch trains on.
//!
//! Each miner reads one score per element — the per-element losses a
//! batch call returns, `p_t`, or any finite score — and refines an ignore
//! mask in place: on entry `ignore[i] == true` marks an element that is not
//! a candidate (already ignored); on return it marks every element that is
//! not kept. The mask then goes straight to [`Batch::with_ignore`] or
//! [`Rows::with_ignore`](crate::softmax::Rows::with_ignore), so the next
//! call trains on the kept elements only (and `Mean` counts only them).
//!
//! | miner | keeps | convention |
//! |---|---|---|
//! | [`top_k`] (OHEM) | the `k` candidates with the largest score | Shrivastava et al. 2016 |
//! | [`below_threshold`] | candidates with `p_t < thresh`, at least `min_kept` (the smallest `p_t`) | mmseg's `OHEMPixelSampler` |
//! | [`hard_negatives`] | every positive and the `ratio · N_pos` highest-scoring negatives | SSD (Liu et al. 2016), mmdet's `neg_pos_ratio` |
//! | [`Replay`] | the `N` highest-scoring examples seen across batches | a fixed-capacity buffer |
//!
//! [`Ghm`] weighs instead of selecting: gradient-harmonised weights
//! (GHM-C, mmdet's convention) for [`Batch::with_weights`](crate::Batch::with_weights).
//!
//! **Exactness.** Selection compares scores exactly (a total order on the
//! f32 values in which `-0.0 == +0.0`); ties at the cut are broken by index,
//! the first kept, so a miner keeps exactly as many elements as it says,
//! whatever the ties. There is no rounding anywhere.
//!
//! **Cost.** Selection is a radix select on the scores' bits with eight-bit
//! digits: one counting pass per digit, at most four, and it stops as soon
//! as the digit's bucket is kept whole (two or three passes on distinct
//! scores). No sort, no buffer; 256 counters on the stack (1 KiB on a
//! 32-bit core). Instructions per element on each core: `docs/costs.md`.
//!
//! **Errors.** A mask of another length is
//! [`Error::LengthMismatch`]; a NaN or infinite score
//! [`Error::NonFiniteInput`]; a `p_t` outside `[0, 1]`
//! [`Error::ProbabilityOutOfRange`]; a target outside `[0, 1]`
//! [`Error::TargetOutOfRange`]; a threshold outside `[0, 1]`
//! [`Error::InvalidParameter`]. Every input is checked before the mask is
//! written: on an error the mask is unchanged.
//!
//! ```
//! use tinyloss::{mining, Batch, Focal, Reduction};
//! let logits = [4.0, -3.0, 0.5, -0.2, -5.0, 2.0];
//! let targets = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
//! let batch = Batch::new(&targets);
//! let (mut grad, mut losses) = ([0.0; 6], [0.0; 6]);
//! batch.loss_grad(&Focal::RETINANET, &logits, Reduction::Sum, &mut grad, Some(&mut losses))?;
//! // OHEM: train on the 3 hardest elements only.
//! let mut ignore = [false; 6];
//! assert_eq!(mining::top_k(&losses, 3, &mut ignore)?, 3);
//! let loss = batch.with_ignore(&ignore)
//!     .loss_grad(&Focal::RETINANET, &logits, Reduction::Mean, &mut grad, None)?;
//! assert!(loss > 0.0 && grad[0] == 0.0 && grad[4] == 0.0);
//! # Ok::<(), tinyloss::Error>(())
//! ```
//!
//! [`Batch::with_ignore`]: crate::Batch::with_ignore

mod ghm;
mod replay;
mod select;

pub use ghm::Ghm;
pub use replay::{Replay, Slot};

use crate::error::{At, Error};
use select::{key, largest};

/// Checks the mask's length and that every score is finite.
fn check(scores: &[f32], ignore: &[bool]) -> Result<(), Error> {
    if ignore.len() != scores.len() {
        return Err(Error::LengthMismatch {
            what: "ignore",
            expected: scores.len(),
            found: ignore.len(),
        });
    }
    match scores.iter().position(|s| !s.is_finite()) {
        Some(i) => Err(Error::NonFiniteInput { at: At::Element(i) }),
        None => Ok(()),
    }
}

/// The number of `true`s (`Iterator::count` links an overflow check under
/// `overflow-checks`).
#[inline(always)]
fn count(it: impl Iterator<Item = bool>) -> usize {
    it.fold(0usize, |n, b| n.wrapping_add(b as usize))
}

/// The candidates' keys (`None` where ignored), as [`largest`] reads them;
/// `flip` (0 or `u32::MAX`) reverses the order (smallest score first).
#[inline(always)]
fn keys<'s>(
    scores: &'s [f32],
    ignore: &'s [bool],
    flip: u32,
) -> impl Iterator<Item = Option<u32>> + 's {
    scores
        .iter()
        .zip(ignore)
        .map(move |(&s, &i)| (!i).then(|| key(s) ^ flip))
}

/// Writes the mask: a candidate is kept where `keep(item)` says so (called
/// for candidates only, in index order, so it may consume the cut's ties).
/// Returns the number kept.
#[inline(always)]
fn mark<T>(
    ignore: &mut [bool],
    items: impl Iterator<Item = T>,
    mut keep: impl FnMut(T) -> bool,
) -> usize {
    let mut kept = 0usize;
    for (ig, t) in ignore.iter_mut().zip(items) {
        let k = !*ig && keep(t);
        *ig = !k;
        kept = kept.wrapping_add(k as usize);
    }
    kept
}

/// OHEM: keeps the `k` candidates with the largest `scores` (the first in
/// index order among equal scores at the cut), or every candidate if there
/// are at most `k`. Returns the number kept, `min(k, candidates)`.
///
/// `scores` are typically the per-element (or per-row) losses of the batch
/// call; any finite values work (larger = harder). `O(n)`: at most four
/// counting passes, no buffer. Errors as in the [module docs](self).
pub fn top_k(scores: &[f32], k: usize, ignore: &mut [bool]) -> Result<usize, Error> {
    check(scores, ignore)?;
    let mut cut = largest(|| keys(scores, ignore, 0), k);
    Ok(mark(ignore, scores.iter(), |&s| cut.keep(key(s))))
}

/// Threshold mining (mmseg's `OHEMPixelSampler`): keeps the candidates
/// whose `p_t` (the model's probability of the true class) is below
/// `thresh`; if there are fewer than `min_kept` of them, keeps the
/// `min_kept` candidates with the smallest `p_t` instead (ties by index;
/// all candidates if there are fewer). Returns the number kept.
///
/// mmseg keeps `p_t < max(thresh, p_(min_kept))`, the `min_kept`-th
/// smallest `p_t`: the same elements whenever the `p_t` at the cut are
/// distinct; on ties, or when `min_kept` reaches the number of candidates,
/// mmseg keeps fewer than `min_kept`, this keeps exactly `min_kept`.
/// One counting pass, plus the selection only when it is needed. `thresh`
/// in `[0, 1]`; errors as in the [module docs](self).
pub fn below_threshold(
    p_t: &[f32],
    thresh: f32,
    min_kept: usize,
    ignore: &mut [bool],
) -> Result<usize, Error> {
    if !(0.0..=1.0).contains(&thresh) {
        return Err(Error::InvalidParameter { name: "thresh" });
    }
    check(p_t, ignore)?;
    if let Some(i) = p_t.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(Error::ProbabilityOutOfRange { at: At::Element(i) });
    }
    let below = count(p_t.iter().zip(&*ignore).map(|(&p, &ig)| !ig && p < thresh));
    if below >= min_kept {
        return Ok(mark(ignore, p_t.iter(), |&p| p < thresh));
    }
    let mut cut = largest(|| keys(p_t, ignore, u32::MAX), min_kept);
    Ok(mark(ignore, p_t.iter(), |&p| cut.keep(!key(p))))
}

/// SSD's hard-negative mining: keeps every positive candidate (`target >
/// 0`) and the `ratio · N_pos` negative candidates (`target == 0`) with the
/// largest `scores` (ties by index), or every negative if there are fewer.
/// With no positive, no negative is kept (SSD's and mmdet's rule: pair it
/// with a normaliser that does not divide by zero, e.g. `MeanOverPositives`
/// or the EMA of the positive count). Returns the number kept.
///
/// `ratio` is an integer (SSD: 3) so that `ratio · N_pos` is exact; it
/// saturates at `usize::MAX`. `targets` as in [`Batch::new`](crate::Batch::new),
/// in `[0, 1]`; errors as in the [module docs](self).
pub fn hard_negatives(
    scores: &[f32],
    targets: &[f32],
    ratio: usize,
    ignore: &mut [bool],
) -> Result<usize, Error> {
    check(scores, ignore)?;
    if targets.len() != scores.len() {
        return Err(Error::LengthMismatch {
            what: "targets",
            expected: scores.len(),
            found: targets.len(),
        });
    }
    if let Some(i) = targets.iter().position(|y| !(0.0..=1.0).contains(y)) {
        return Err(Error::TargetOutOfRange { at: At::Element(i) });
    }
    let pos = count(targets.iter().zip(&*ignore).map(|(&y, &ig)| !ig && y > 0.0));
    let negs = || {
        scores
            .iter()
            .zip(targets.iter().zip(&*ignore))
            .map(|(&s, (&y, &ig))| (!ig && y == 0.0).then(|| key(s)))
    };
    let mut cut = largest(negs, pos.saturating_mul(ratio));
    Ok(mark(ignore, scores.iter().zip(targets), |(&s, &y)| {
        y > 0.0 || cut.keep(key(s))
    }))
}
