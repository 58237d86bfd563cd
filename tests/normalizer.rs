//! `PositivesEma` against the same recurrence in f64, over long random
//! streams of positive counts (zeros, ones, bursts, fractional sums, huge
//! counts) for momenta from 0 to 0.999 and initial values from subnormal to
//! f32::MAX; its range; and its bad-parameter errors.

use tinyloss::{Error, PositivesEma, Reduction};
use tinyloss_reference::bounds::EMA_PER_UPDATE;
use tinyloss_reference::normalizer::PositivesEma as Ref;
use tinyloss_reference::{Rng, U};

fn counts(r: &mut Rng) -> f32 {
    match r.below(6) {
        0 | 1 => 0.0,
        2 => 1.0,
        3 => r.below(20) as f32,
        4 => (r.f() * 7.0) as f32,
        _ => [1e6, 3e30, f32::MAX, 0.5][r.below(4)],
    }
}

#[test]
fn matches_the_f64_recurrence_within_its_bound_and_stays_in_range() {
    let mut r = Rng(0xE3A);
    for m in [0.0f32, 0.1, 0.5, 0.75, 0.9, 0.99, 0.999] {
        for v0 in [100.0f32, 1.0, 1e-45, 0.25, 3.0e38, f32::MAX] {
            let mut e = PositivesEma::new(v0, m).unwrap();
            let mut want = Ref::new(v0, m);
            let (mut lo, mut hi) = (v0.min(1.0), v0.max(1.0));
            // 3u fresh per update, carried over with a factor ≤ 1: ≤ 3u·t.
            for step in 0..20_000 {
                let p = counts(&mut r);
                let red = e.update(p).unwrap();
                let v = want.update(p);
                hi = hi.max(p);
                let got = e.value();
                assert_eq!(red, Reduction::MeanOver(got));
                assert!(
                    got.is_finite() && got >= lo && got <= hi,
                    "m {m} v0 {v0} step {step}: {got}"
                );
                let err = ((got as f64 - v) / v).abs() / U;
                let bound = EMA_PER_UPDATE * (step + 1) as f64;
                assert!(
                    err <= bound,
                    "m {m} v0 {v0} step {step}: {err} u > {bound} u"
                );
            }
            lo = lo.min(1.0);
            assert!(e.value() >= lo);
        }
    }
}

#[test]
fn detectron2_defaults_and_momentum_zero_is_the_batch_count() {
    let d = PositivesEma::DETECTRON2;
    assert_eq!(d.value(), 100.0);
    assert_eq!(d, PositivesEma::new(100.0, 0.9).unwrap());
    assert_eq!(d.reduction(), Reduction::MeanOver(100.0));
    let mut z = PositivesEma::new(5.0, 0.0).unwrap();
    for p in [0.0, 1.0, 7.0, 0.5, 3e38] {
        assert_eq!(z.update(p), Ok(Reduction::MeanOver(p.max(1.0))));
    }
}

#[test]
fn bad_parameters_are_errors_and_change_nothing() {
    for bad in [0.0, -0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert_eq!(
            PositivesEma::new(bad, 0.9),
            Err(Error::InvalidParameter { name: "initial" })
        );
    }
    for bad in [-1e-45, 1.0, 1.5, f32::NAN, -f32::INFINITY] {
        assert_eq!(
            PositivesEma::new(1.0, bad),
            Err(Error::InvalidParameter { name: "momentum" })
        );
    }
    let mut e = PositivesEma::DETECTRON2;
    for bad in [-1.0, -1e-45, f32::NAN, f32::INFINITY] {
        assert_eq!(
            e.update(bad),
            Err(Error::InvalidParameter { name: "positives" })
        );
        assert_eq!(e, PositivesEma::DETECTRON2);
    }
}

/// Rounding cannot step past the ends: an average and counts both at a
/// value whose update rounds up (fuzz: 1e30 became 1.0000001e30) stays at
/// that value, for every momentum, also where the ends are 1 and f32::MAX.
#[test]
fn rounding_never_leaves_the_range() {
    for m in [0.1f32, 0.3, 0.7, 0.9, 0.99, 0.999_9] {
        for v in [1e30f32, 3.0, 7.0, 1.0, f32::MAX, 123_456.79] {
            let mut e = PositivesEma::new(v, m).unwrap();
            for _ in 0..50 {
                e.update(v).unwrap();
                assert_eq!(e.value(), v, "m {m}: a stream of {v} moved the average");
            }
        }
    }
}
