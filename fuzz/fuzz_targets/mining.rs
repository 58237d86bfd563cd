//! Fuzzes the hard-example miners (`mining::{top_k, below_threshold,
//! hard_negatives}`) and the `Replay` buffer with random scores (every
//! special value included: NaN, ±∞, ±0, subnormals, ±f32::MAX), random
//! prior masks, `k`, `min_kept`, thresholds and ratios, valid and invalid,
//! and wrong lengths.
//!
//! Asserted:
//! * no panic;
//! * on `Err`, the mask is unchanged, and the input was invalid;
//! * on `Ok`, the mask equals the rank-counting reference of
//!   `tinyloss_reference::mining` element by element, and the count is the
//!   number of kept elements;
//! * the replay buffer never holds more than its capacity, and keeps the
//!   hardest of what it was offered (every kept score is at least every
//!   rejected one since the last refresh).
//!
//! Run: `cargo +nightly fuzz run mining -- -max_total_time=180`.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use tinyloss::mining::{self, Replay};
use tinyloss_reference::cases;
use tinyloss_reference::mining as reference;

/// The special values, from the shared bad-input and edge lists (NaN, ±∞,
/// signed zeros, subnormals, the probability edges and beyond, f32::MAX),
/// plus the most negative values.
const SPECIALS: [&[f32]; 6] = [
    &cases::NON_FINITE,
    &cases::EDGE_PROBS,
    &cases::BAD_PROBS,
    &cases::EDGE_WEIGHTS,
    &cases::BAD_TARGETS,
    &[f32::MIN, -f32::MIN_POSITIVE, -1e-45],
];

fn value(u: &mut Unstructured) -> Result<f32> {
    Ok(match u.int_in_range(0..=2)? {
        0 => {
            let list = SPECIALS[u.choose_index(SPECIALS.len())?];
            *u.choose(list)?
        }
        1 => f32::from_bits(u.arbitrary()?),
        _ => u.int_in_range(0..=8)? as f32 / 8.0,
    })
}

fn run(u: &mut Unstructured) -> Result<()> {
    let n = u.int_in_range(0..=200usize)?;
    let mut s = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    let mut prior = Vec::with_capacity(n);
    for _ in 0..n {
        s.push(value(u)?);
        y.push(if u.ratio(1, 5)? { value(u)? } else { 0.0 });
        prior.push(u.ratio(1, 6)?);
    }
    let k = match u.int_in_range(0..=3)? {
        0 => 0,
        1 => usize::MAX,
        _ => u.int_in_range(0..=n + 2)?,
    };
    let thresh = value(u)?;
    let short = u.ratio(1, 20)? && n > 0;
    let mut ig = prior.clone();
    if short {
        ig.pop();
    }
    let before = ig.clone();
    let finite = s.iter().all(|v| v.is_finite());
    let probs = s.iter().all(|v| (0.0..=1.0).contains(v));
    let targets = y.iter().all(|v| (0.0..=1.0).contains(v));
    let t_ok = (0.0..=1.0).contains(&thresh);
    let which = u.int_in_range(0..=2)?;
    let r = match which {
        0 => mining::top_k(&s, k, &mut ig),
        1 => mining::below_threshold(&s, thresh, k, &mut ig),
        _ => mining::hard_negatives(&s, &y, k, &mut ig),
    };
    let valid = !short
        && finite
        && match which {
            0 => true,
            1 => probs && t_ok,
            _ => targets,
        };
    match r {
        Err(_) => {
            assert!(!valid, "a valid input was rejected");
            assert_eq!(ig, before, "mask written on Err");
        }
        Ok(kept) => {
            assert!(valid, "an invalid input was accepted");
            let mut count = 0;
            for i in 0..n {
                let want = match which {
                    0 => reference::top_k(&s, k, &prior, i),
                    1 => reference::below_threshold(&s, thresh, k, &prior, i),
                    _ => reference::hard_negatives(&s, &y, k, &prior, i),
                };
                assert_eq!(!ig[i], want, "element {i}");
                count += want as usize;
            }
            assert_eq!(kept, count);
        }
    }
    // The replay buffer.
    let mut b: Replay<usize, 5> = Replay::new(u.int_in_range(0..=3)?);
    let mut rejected = f32::NEG_INFINITY;
    for (i, &v) in s.iter().enumerate() {
        if u.ratio(1, 8)? {
            let fresh: Vec<f32> = (0..b.len()).map(|_| value(u)).collect::<Result<_>>()?;
            let ok = fresh.iter().all(|v| v.is_finite());
            assert_eq!(b.refresh(&fresh).is_ok(), ok);
            rejected = f32::NEG_INFINITY;
        }
        match b.offer(v, i) {
            Err(_) => assert!(!v.is_finite()),
            Ok(kept) => {
                if !kept {
                    rejected = rejected.max(v);
                }
            }
        }
        assert!(b.len() <= 5);
        if b.is_full() {
            assert!(b.slots().iter().all(|s| s.score >= rejected));
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
