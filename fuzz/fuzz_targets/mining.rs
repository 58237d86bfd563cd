//! Fuzzes the hard-example miners (`mining::{top_k, below_threshold,
//! hard_negatives}`), the `Replay` buffer and GHM-C weights (`Ghm`) with random scores (every
//! special value included: NaN, ±∞, ±0, subnormals, ±f32::MAX), random
//! prior masks, `k`, `min_kept`, thresholds and ratios, valid and invalid,
//! and wrong lengths; the streaming normaliser with the same values as
//! parameters and counts.
//!
//! Asserted:
//! * no panic;
//! * on `Err`, the mask is unchanged, and the input was invalid;
//! * on `Ok`, the mask equals the rank-counting reference of
//!   `tinyloss_reference::mining` element by element, and the count is the
//!   number of kept elements;
//! * the replay buffer never holds more than its capacity, and keeps the
//!   hardest of what it was offered (every kept score is at least every
//!   rejected one since the last refresh);
//! * `PositivesEma` accepts exactly the valid parameters and counts, is
//!   unchanged on `Err`, stays in its range and within `3u t` of the f64
//!   recurrence after `t` updates;
//! * GHM-C accepts exactly the valid input and momenta, writes nothing on
//!   `Err`, and otherwise gives finite weights within (3t + 4)u of mmdet's
//!   recurrence in f64 at step t.
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
    ghm(u, &s, &y, &prior)?;
    ema(u, &s)?;
    Ok(())
}

/// `PositivesEma` with any parameters and counts: Ok exactly for valid
/// ones, unchanged on Err, never outside `[min(v₀, 1), max(v₀, max P)]`, and
/// within `EMA_PER_UPDATE · t` u of the f64 recurrence after `t` updates.
fn ema(u: &mut Unstructured, counts: &[f32]) -> Result<()> {
    use tinyloss::{PositivesEma, Reduction};
    use tinyloss_reference::bounds::EMA_PER_UPDATE;
    use tinyloss_reference::normalizer::PositivesEma as Ref;
    let (v0, m) = (value(u)?, value(u)?);
    let Ok(mut e) = PositivesEma::new(v0, m) else {
        assert!(
            !Ref::valid(v0, m),
            "valid EMA parameters rejected: {v0} {m}"
        );
        return Ok(());
    };
    assert!(
        Ref::valid(v0, m),
        "invalid EMA parameters accepted: {v0} {m}"
    );
    let mut want = Ref::new(v0, m);
    let (lo, mut hi) = (v0.min(1.0), v0.max(1.0));
    let mut t = 0u32;
    for &p in counts {
        let before = e;
        let Ok(red) = e.update(p) else {
            assert!(!(p.is_finite() && p >= 0.0), "valid count rejected: {p}");
            assert_eq!(e, before, "EMA changed on Err");
            continue;
        };
        assert!(p.is_finite() && p >= 0.0, "invalid count accepted: {p}");
        t += 1;
        hi = hi.max(p);
        let (got, v) = (e.value(), want.update(p));
        assert_eq!(red, Reduction::MeanOver(got));
        assert!(got >= lo && got <= hi, "EMA {got} outside [{lo}, {hi}]");
        let err = (f64::from(got) - v).abs() / (v * tinyloss_reference::U);
        let bound = EMA_PER_UPDATE * f64::from(t);
        assert!(
            err <= bound,
            "EMA {got} vs {v} ({err} u > {bound} u) after {t}: {v0} {m}"
        );
    }
    Ok(())
}

/// GHM-C over a few batches on the same data: Ok exactly for valid input,
/// then the weights finite, non-negative, 0 where ignored, and (when no
/// element is within rounding of a bin edge) within (3t + 4)u of mmdet's
/// recurrence in f64 at step t, with `MeanOver` its normaliser; on `Err`,
/// the weights and the running counts unchanged.
fn ghm(u: &mut Unstructured, s: &[f32], y: &[f32], prior: &[bool]) -> Result<()> {
    use tinyloss::mining::Ghm;
    use tinyloss::Reduction;
    use tinyloss_reference::U;
    let momentum = match u.int_in_range(0..=3)? {
        0 => 0.75,
        1 => 0.0,
        2 => value(u)?,
        _ => u.int_in_range(0..=999)? as f32 / 1000.0,
    };
    let g = Ghm::<10>::new(momentum);
    assert_eq!(
        g.is_ok(),
        (0.0..1.0).contains(&momentum),
        "momentum {momentum}"
    );
    let Ok(mut g) = g else { return Ok(()) };
    let mut want_state = reference::Ghm::<10>::new(f64::from(momentum));
    let masked = u.arbitrary::<bool>()?;
    let ignore = masked.then_some(prior);
    let short = u.ratio(1, 20)? && !s.is_empty();
    let exact = s
        .iter()
        .zip(y)
        .all(|(&z, &t)| !reference::Ghm::<10>::g(z, t).1);
    for t in 1..=u.int_in_range(1..=3u32)? {
        let mut w = vec![-5.0f32; s.len() - usize::from(short)];
        let before = g;
        let r = g.weights(s, y, ignore, &mut w);
        let live = |i: usize| ignore.is_none_or(|m| !m[i]);
        let valid = !short
            && !s.is_empty()
            && (0..s.len()).all(|i| !live(i) || (s[i].is_finite() && (0.0..=1.0).contains(&y[i])));
        match r {
            Err(e) => {
                assert!(!valid, "valid input rejected: {e:?}");
                assert!(w.iter().all(|&v| v == -5.0), "weights written on Err");
                assert_eq!(g.counts(), before.counts(), "counts changed on Err");
                return Ok(());
            }
            Ok(red) => {
                assert!(valid, "invalid input accepted");
                assert!(!matches!(red, Reduction::MeanOver(n) if !(n >= 1.0)));
                for (i, &v) in w.iter().enumerate() {
                    assert!(v.is_finite() && v >= 0.0, "weight {v}");
                    assert!(live(i) || v == 0.0, "ignored weight {v}");
                }
                let mut want = vec![0.0f64; s.len()];
                let n = want_state.step(s, y, ignore, &mut want);
                if exact {
                    assert_eq!(red, Reduction::MeanOver(n as f32));
                    let bound = (3.0 * t as f64 + 4.0) * U;
                    for i in 0..s.len() {
                        let e = (f64::from(w[i]) - want[i]).abs();
                        assert!(e <= bound * want[i], "t {t} i {i}: {} vs {}", w[i], want[i]);
                    }
                }
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
