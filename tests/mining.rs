//! The hard-example miners against the rank-counting references
//! (`tinyloss_reference::mining`), on every size to 70 and random larger
//! batches, with heavy ties, signed zeros, subnormals and ±f32::MAX among
//! the scores, random prior masks, and every `k` / `min_kept` / ratio edge;
//! the bad-input cases leave the mask unchanged.
#![allow(clippy::needless_range_loop)] // the references take an index

use tinyloss::mining::{self, Replay};
use tinyloss::{At, Error};
use tinyloss_reference::mining as reference;
use tinyloss_reference::Rng;

/// A score from a small pool (many ties) or anywhere in f32.
fn score(r: &mut Rng) -> f32 {
    const POOL: [f32; 10] = [
        0.0,
        -0.0,
        1e-45,
        f32::MIN_POSITIVE,
        0.5,
        1.0,
        3.0,
        f32::MAX,
        -f32::MAX,
        -2.0,
    ];
    match r.below(3) {
        0 => POOL[r.below(POOL.len())],
        1 => {
            f32::from_bits(r.next_u64() as u32 & 0x7f7f_ffff)
                * if r.below(2) == 0 { 1.0 } else { -1.0 }
        }
        _ => r.sym(10.0),
    }
}

/// A probability from a small pool or uniform.
fn prob(r: &mut Rng) -> f32 {
    const POOL: [f32; 7] = [0.0, -0.0, 1e-45, 0.25, 0.5, 0.7, 1.0];
    if r.below(2) == 0 {
        POOL[r.below(POOL.len())]
    } else {
        r.f() as f32
    }
}

/// The mask keeps exactly the elements `want` keeps, and `kept` counts them.
fn assert_mask(ig: &[bool], kept: usize, want: impl Fn(usize) -> bool, what: &str) {
    let n = ig.len();
    for i in 0..n {
        assert_eq!(!ig[i], want(i), "n {n} {what} i {i}");
    }
    assert_eq!(kept, (0..n).filter(|&i| want(i)).count(), "n {n} {what}");
}

fn sizes(r: &mut Rng) -> impl Iterator<Item = usize> + '_ {
    (0..70).chain((0..30).map(move |_| 70 + r.below(3000)))
}

#[test]
fn top_k_matches_the_rank_reference() {
    let mut r = Rng(1);
    let ns: Vec<usize> = sizes(&mut Rng(2)).collect();
    for n in ns {
        for _ in 0..4 {
            let s: Vec<f32> = (0..n).map(|_| score(&mut r)).collect();
            let prior: Vec<bool> = (0..n).map(|_| r.below(5) == 0).collect();
            let cands = prior.iter().filter(|&&i| !i).count();
            for k in [
                0,
                1,
                r.below(n + 1),
                cands.saturating_sub(1),
                cands,
                cands + 1,
                usize::MAX,
            ] {
                let mut ig = prior.clone();
                let kept = mining::top_k(&s, k, &mut ig).unwrap();
                assert_eq!(kept, k.min(cands), "n {n} k {k}");
                let want = |i| reference::top_k(&s, k, &prior, i);
                assert_mask(&ig, kept, want, &format!("k {k}"));
            }
        }
    }
}

#[test]
fn below_threshold_matches_the_rank_reference_and_mmseg_on_distinct_values() {
    let mut r = Rng(3);
    let ns: Vec<usize> = sizes(&mut Rng(4)).take(90).collect();
    for n in ns {
        for _ in 0..4 {
            let p: Vec<f32> = (0..n).map(|_| prob(&mut r)).collect();
            let prior: Vec<bool> = (0..n).map(|_| r.below(5) == 0).collect();
            for thresh in [0.0, 0.5, 0.7, 1.0, r.f() as f32] {
                for min_kept in [0, 1, r.below(n + 1), n, n + 5] {
                    let mut ig = prior.clone();
                    let kept = mining::below_threshold(&p, thresh, min_kept, &mut ig).unwrap();
                    let want = |i| reference::below_threshold(&p, thresh, min_kept, &prior, i);
                    assert_mask(
                        &ig,
                        kept,
                        want,
                        &format!("thresh {thresh} min_kept {min_kept}"),
                    );
                }
            }
        }
    }
    // Distinct p_t and min_kept below the candidate count: mmseg's rule.
    for n in [1usize, 2, 10, 333] {
        let p: Vec<f32> = (0..n).map(|i| ((i * 7919) % n) as f32 / n as f32).collect();
        let mut sorted = p.clone();
        sorted.sort_by(f32::total_cmp);
        for thresh in [0.0, 0.3, 0.7, 1.0] {
            for min_kept in 0..n {
                let mut ig = vec![false; n];
                mining::below_threshold(&p, thresh, min_kept, &mut ig).unwrap();
                for i in 0..n {
                    assert_eq!(
                        !ig[i],
                        reference::mmseg_keeps(p[i], thresh, min_kept, &sorted)
                    );
                }
            }
        }
    }
}

#[test]
fn hard_negatives_match_the_rank_reference() {
    let mut r = Rng(5);
    let ns: Vec<usize> = sizes(&mut Rng(6)).collect();
    for n in ns {
        for _ in 0..4 {
            let s: Vec<f32> = (0..n).map(|_| score(&mut r)).collect();
            let rare = 1 + r.below(20);
            let y: Vec<f32> = (0..n)
                .map(|_| match r.below(rare) {
                    0 => [1.0, 0.3, 1e-45][r.below(3)],
                    _ => [0.0, -0.0][r.below(2)],
                })
                .collect();
            let prior: Vec<bool> = (0..n).map(|_| r.below(6) == 0).collect();
            for ratio in [0, 1, 3, r.below(50), usize::MAX] {
                let mut ig = prior.clone();
                let kept = mining::hard_negatives(&s, &y, ratio, &mut ig).unwrap();
                let want = |i| reference::hard_negatives(&s, &y, ratio, &prior, i);
                assert_mask(&ig, kept, want, &format!("ratio {ratio}"));
            }
        }
    }
}

#[test]
fn bad_input_is_an_error_and_leaves_the_mask_unchanged() {
    let prior = [false, true, false, false];
    let check = |got: Result<usize, Error>, want: Error, ig: &[bool]| {
        assert_eq!(got, Err(want));
        assert_eq!(ig, prior);
    };
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let s = [1.0, 2.0, bad, 0.0];
        let nf = Error::NonFiniteInput { at: At::Element(2) };
        let mut ig = prior;
        check(mining::top_k(&s, 2, &mut ig), nf, &ig);
        check(mining::hard_negatives(&s, &[0.0; 4], 3, &mut ig), nf, &ig);
        check(mining::below_threshold(&s, 0.5, 1, &mut ig), nf, &ig);
        let y = [0.0, 1.0, bad, 0.0];
        let t = Error::TargetOutOfRange { at: At::Element(2) };
        check(mining::hard_negatives(&[0.0; 4], &y, 3, &mut ig), t, &ig);
        let inv = Error::InvalidParameter { name: "thresh" };
        check(
            mining::below_threshold(&[0.5; 4], bad, 1, &mut ig),
            inv,
            &ig,
        );
    }
    let mut ig = prior;
    for p in [-1e-45, 1.0000001, -1.0, 2.0] {
        let pr = Error::ProbabilityOutOfRange { at: At::Element(3) };
        check(
            mining::below_threshold(&[0.1, 0.2, 0.3, p], 0.5, 1, &mut ig),
            pr,
            &ig,
        );
        let t = Error::TargetOutOfRange { at: At::Element(3) };
        check(
            mining::hard_negatives(&[0.0; 4], &[0.0, 0.0, 1.0, p], 1, &mut ig),
            t,
            &ig,
        );
    }
    for t in [-1e-45, 1.0000001] {
        let inv = Error::InvalidParameter { name: "thresh" };
        check(mining::below_threshold(&[0.5; 4], t, 1, &mut ig), inv, &ig);
    }
    let short = Error::LengthMismatch {
        what: "ignore",
        expected: 5,
        found: 4,
    };
    check(mining::top_k(&[0.0; 5], 1, &mut ig), short, &ig);
    let short = Error::LengthMismatch {
        what: "targets",
        expected: 4,
        found: 3,
    };
    check(
        mining::hard_negatives(&[0.0; 4], &[0.0; 3], 1, &mut ig),
        short,
        &ig,
    );
}

/// A brute-force model of the replay buffer's rules.
#[derive(Default)]
struct Model {
    slots: Vec<(f32, u32, u16)>,
}

impl Model {
    fn offer(&mut self, cap: usize, s: f32, item: u32) -> bool {
        if self.slots.len() < cap {
            self.slots.push((s, item, 0));
            return true;
        }
        let Some(m) = (0..self.slots.len()).min_by(|&a, &b| {
            self.slots[a]
                .0
                .partial_cmp(&self.slots[b].0)
                .unwrap()
                .then(a.cmp(&b))
        }) else {
            return false;
        };
        if s > self.slots[m].0 {
            self.slots[m] = (s, item, 0);
            true
        } else {
            false
        }
    }
    fn refresh(&mut self, max: u16, scores: &[f32]) {
        for (sl, &s) in self.slots.iter_mut().zip(scores) {
            sl.0 = s;
            sl.2 += 1;
        }
        self.slots.retain(|s| max == 0 || s.2 < max);
    }
}

fn replay_against_model<const N: usize>(max: u16, seed: u64) {
    let mut r = Rng(seed);
    let mut b: Replay<u32, N> = Replay::new(max);
    let mut m = Model::default();
    for step in 0..3000u32 {
        if r.below(3) == 0 {
            let scores: Vec<f32> = (0..b.len()).map(|_| score(&mut r)).collect();
            b.refresh(&scores).unwrap();
            m.refresh(max, &scores);
        } else {
            let s = score(&mut r);
            assert_eq!(
                b.offer(s, step).unwrap(),
                m.offer(N, s, step),
                "step {step}"
            );
        }
        let got: Vec<(f32, u32, u16)> = b
            .slots()
            .iter()
            .map(|s| (s.score, s.item, s.uses))
            .collect();
        assert_eq!(got, m.slots, "step {step}");
        assert_eq!(
            b.items().copied().collect::<Vec<_>>(),
            m.slots.iter().map(|s| s.1).collect::<Vec<_>>()
        );
        assert_eq!(b.min_score(), m.slots.iter().map(|s| s.0).reduce(f32::min));
        assert_eq!(b.is_full(), m.slots.len() == N);
    }
}

#[test]
fn replay_follows_its_rules() {
    for max in [0, 1, 2, 5, u16::MAX] {
        replay_against_model::<1>(max, 7 + max as u64);
        replay_against_model::<7>(max, 8 + max as u64);
        replay_against_model::<32>(max, 9 + max as u64);
    }
}

#[test]
fn replay_rejects_bad_scores_and_changes_nothing() {
    let mut b: Replay<u8, 2> = Replay::new(3);
    b.offer(1.0, 1).unwrap();
    let before = b.slots().to_vec();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        assert_eq!(
            b.offer(bad, 9),
            Err(Error::NonFiniteInput { at: At::Element(0) })
        );
        assert_eq!(
            b.refresh(&[bad]),
            Err(Error::NonFiniteInput { at: At::Element(0) })
        );
        assert_eq!(b.slots(), &before[..]);
    }
    assert_eq!(
        b.refresh(&[1.0, 2.0]),
        Err(Error::LengthMismatch {
            what: "scores",
            expected: 1,
            found: 2
        })
    );
    assert_eq!(b.slots(), &before[..]);
    // A zero-capacity buffer keeps nothing.
    let mut z: Replay<u8, 0> = Replay::default();
    assert_eq!(z.offer(f32::MAX, 1), Ok(false));
    assert!(z.is_empty() && z.min_score().is_none());
}

// ------------------------------------------------------------------ GHM-C

/// GHM-C weights against mmdet's recurrence in f64, over sequences of
/// batches (the running counts' bound grows with the updates), every
/// momentum edge, soft targets, masks and extreme logits; then through the
/// batch API, the loss against mmdet's `Σ w CE / N`.
#[test]
fn ghm_matches_mmdet_in_f64() {
    use tinyloss::mining::Ghm;
    use tinyloss::{Batch, Reduction, SigmoidCe};
    use tinyloss_reference::mining::Ghm as GhmRef;
    use tinyloss_reference::U;
    let mut r = Rng(21);
    for &m in &[0.75f32, 0.0, 0.5, 0.999, 1e-7] {
        for soft in [false, true] {
            let mut ghm = Ghm::<10>::new(m).unwrap();
            let mut reference = GhmRef::<10>::new(f64::from(m));
            for t in 1..=25u32 {
                let n = 1 + r.below(300);
                let mut z: Vec<f32> = (0..n)
                    .map(|_| match r.below(6) {
                        0 => [f32::MAX, -f32::MAX, 0.0, 1e-45, 1e4, -30.0][r.below(6)],
                        _ => r.sym(8.0),
                    })
                    .collect();
                let y: Vec<f32> = (0..n)
                    .map(|_| {
                        if soft && r.below(2) == 0 {
                            r.f() as f32
                        } else {
                            r.below(2) as f32
                        }
                    })
                    .collect();
                for i in 0..n {
                    for _ in 0..8 {
                        if !GhmRef::<10>::g(z[i], y[i]).1 {
                            break;
                        }
                        z[i] += 1e-3;
                    }
                }
                let ig: Vec<bool> = (0..n).map(|_| r.below(6) == 0).collect();
                let mask = (t % 2 == 0).then_some(&ig[..]);
                let mut w = vec![0.0f32; n];
                let red = ghm.weights(&z, &y, mask, &mut w).unwrap();
                let mut want = vec![0.0f64; n];
                let tot = reference.step(&z, &y, mask, &mut want);
                assert_eq!(red, Reduction::MeanOver(tot as f32));
                let bound = (3.0 * t as f64 + 4.0) * U;
                for i in 0..n {
                    let e = (f64::from(w[i]) - want[i]).abs();
                    assert!(
                        e <= bound * want[i],
                        "m {m} t {t} i {i}: {} vs {}",
                        w[i],
                        want[i]
                    );
                }
                for k in 0..10 {
                    let (a, b) = (f64::from(ghm.counts()[k]), reference.acc[k]);
                    assert!(
                        (a - b).abs() <= 3.0 * t as f64 * U * b,
                        "acc {k}: {a} vs {b}"
                    );
                }
                // Through the batch API: mmdet's loss.
                let mut g = vec![0.0; n];
                let mut b = Batch::new(&y).with_weights(&w);
                if let Some(mk) = mask {
                    b = b.with_ignore(mk);
                }
                let loss = b
                    .loss_grad(&SigmoidCe::PLAIN, &z, red, &mut g, None)
                    .unwrap();
                let want_loss: f64 = (0..n)
                    .filter(|&i| mask.is_none_or(|mk| !mk[i]))
                    .map(|i| {
                        let (zi, yi) = (f64::from(z[i]), f64::from(y[i]));
                        want[i] * (zi.max(0.0) - zi * yi + (-zi.abs()).exp().ln_1p())
                    })
                    .sum::<f64>()
                    / tot;
                if want_loss.is_finite() && want_loss < 1e30 {
                    let e = (f64::from(loss) - want_loss).abs();
                    assert!(e <= 1e-5 * want_loss + 1e-30, "loss {loss} vs {want_loss}");
                }
                assert!(g.iter().all(|v| v.is_finite()));
            }
        }
    }
}

#[test]
fn ghm_bad_input_changes_nothing() {
    use tinyloss::mining::Ghm;
    assert_eq!(
        Ghm::<10>::new(1.0).err(),
        Some(Error::InvalidParameter { name: "momentum" })
    );
    assert_eq!(
        Ghm::<10>::new(-0.1).err(),
        Some(Error::InvalidParameter { name: "momentum" })
    );
    assert_eq!(
        Ghm::<10>::new(f32::NAN).err(),
        Some(Error::InvalidParameter { name: "momentum" })
    );
    assert_eq!(
        Ghm::<0>::new(0.5).err(),
        Some(Error::InvalidParameter { name: "bins" })
    );
    let mut ghm = Ghm::<10>::MMDET;
    let mut w = [7.0f32; 3];
    ghm.weights(&[1.0, -1.0, 0.5], &[1.0, 0.0, 0.0], None, &mut w)
        .unwrap();
    let (before, wb) = (ghm, w);
    type Case<'a> = (&'a [f32], &'a [f32], Option<&'a [bool]>, Error);
    let cases: [Case; 5] = [
        (
            &[1.0, f32::NAN, 0.0],
            &[1.0, 0.0, 0.0],
            None,
            Error::NonFiniteInput { at: At::Element(1) },
        ),
        (
            &[1.0, 0.0, f32::INFINITY],
            &[1.0, 0.0, 0.0],
            None,
            Error::NonFiniteInput { at: At::Element(2) },
        ),
        (
            &[1.0, 0.0, 0.0],
            &[1.0, 1.5, 0.0],
            None,
            Error::TargetOutOfRange { at: At::Element(1) },
        ),
        (
            &[1.0, 0.0],
            &[1.0, 0.0, 0.0],
            None,
            Error::LengthMismatch {
                what: "targets",
                expected: 2,
                found: 3,
            },
        ),
        (
            &[1.0, 0.0, 0.0],
            &[1.0, 0.0, 0.0],
            Some(&[false]),
            Error::LengthMismatch {
                what: "ignore",
                expected: 3,
                found: 1,
            },
        ),
    ];
    for (z, y, m, e) in cases {
        assert_eq!(ghm.weights(z, y, m, &mut w), Err(e));
        assert_eq!((ghm, w), (before, wb));
    }
    // An ignored bad element is not checked.
    let ok = ghm.weights(
        &[1.0, f32::NAN, 0.0],
        &[1.0, 9.0, 0.0],
        Some(&[false, true, false]),
        &mut w,
    );
    assert!(ok.is_ok() && w[1] == 0.0);
    assert_eq!(ghm.weights(&[], &[], None, &mut []), Err(Error::Empty));
}
