//! Class-balanced weights (Cui et al. 2019) against an f64 reference written
//! here from the paper's formula.

use proptest::prelude::*;
use tinyloss::class_balanced::{binary_alpha, weights, ClassCounter};
use tinyloss::{At, Error};

use tinyloss_reference::bounds::CLASS_BALANCED;
use tinyloss_reference::class_balanced as cb;
use tinyloss_reference::measure::ulp;
use tinyloss_reference::{cases, ulps};

fn weights_ref(counts: &[u32], beta: f64) -> Vec<f64> {
    let mut w = vec![0.0; counts.len()];
    cb::weights(counts, beta, &mut w);
    w
}

/// Weights within the stated bound (1 ULP) of the reference.
fn assert_close(got: &[f32], want: &[f64], what: &str) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = ulps(g, w);
        assert!(
            err <= CLASS_BALANCED.get(),
            "{what}: w[{i}] = {g} vs {w} ({err} ulp)"
        );
    }
}

const BETAS: [f32; 9] = [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.99999994];

#[test]
fn matches_reference() {
    let counts_list: [&[u32]; 6] = [
        &[1000, 100, 10, 1],
        &[5, 5, 5],
        &[0, 3, 1_000_000],
        &[u32::MAX, 1],
        &[0, 0],
        &[7],
    ];
    for &beta in &BETAS {
        for counts in counts_list {
            let mut out = vec![0.0f32; counts.len()];
            weights(counts, beta, &mut out).unwrap();
            let want = weights_ref(counts, beta as f64);
            assert_close(&out, &want, &format!("β={beta} {counts:?}"));
            let s: f64 = out.iter().map(|&w| w as f64).sum();
            let c = counts.len() as f64;
            assert!(
                (s - c).abs() <= c * 2.0 * ulp(c as f32),
                "β={beta}: Σw = {s}"
            );
            assert!(out.iter().all(|&w| w > 0.0));
        }
    }
}

#[test]
fn documented_special_cases() {
    let mut out = [0.0f32; 4];
    // β = 0: all ones.
    weights(&[1, 10, 100, 0], 0.0, &mut out).unwrap();
    assert_eq!(out, [1.0; 4]);
    // A count of 0 is weighted as a count of 1.
    let mut a = [0.0f32; 3];
    let mut b = [0.0f32; 3];
    weights(&[0, 50, 9], 0.99, &mut a).unwrap();
    weights(&[1, 50, 9], 0.99, &mut b).unwrap();
    assert_eq!(a, b);
    // All counts 0: all ones.
    weights(&[0, 0, 0], 0.999, &mut a).unwrap();
    assert_eq!(a, [1.0; 3]);
    // β → 1 approaches inverse frequency: w_0 / w_1 → n_1 / n_0.
    weights(&[10, 100, 1000], 0.999_999_9, &mut a).unwrap();
    assert!(((a[0] / a[1]) as f64 - 10.0).abs() < 1e-3, "{a:?}");
    assert!(((a[1] / a[2]) as f64 - 10.0).abs() < 1e-2, "{a:?}");
}

#[test]
fn stable_where_the_naive_f32_formula_is_not() {
    // β = 0.9999, n = 1..4: 1 - β^n ≈ n·1e-4. The naive f32 formula
    // (1 - β)/(1 - powf(β, n)) loses about 4 digits; ours is exact to 1 ULP.
    let beta = 0.9999f32;
    let counts = [1u32, 2, 3, 4];
    let mut out = [0.0f32; 4];
    weights(&counts, beta, &mut out).unwrap();
    let want = weights_ref(&counts, beta as f64);
    assert_close(&out, &want, "small n");
    let naive: Vec<f64> = counts
        .iter()
        .map(|&n| ((1.0 - beta) / (1.0 - beta.powi(n as i32))) as f64)
        .collect();
    let s: f64 = naive.iter().sum();
    let worst_naive = naive
        .iter()
        .zip(&want)
        .map(|(v, w)| ((v * 4.0 / s) - w).abs() / w)
        .fold(0.0f64, f64::max);
    // Not an assertion on our code: documents why the expm1/log1p form exists.
    eprintln!("naive f32 formula relative error: {worst_naive:e}");
}

#[test]
fn errors_write_nothing() {
    let mut out = [7.0f32; 3];
    for beta in cases::BAD_BETAS {
        assert_eq!(
            weights(&[1, 2, 3], beta, &mut out),
            Err(Error::InvalidParameter { name: "beta" })
        );
        assert_eq!(
            binary_alpha(1, 2, beta),
            Err(Error::InvalidParameter { name: "beta" })
        );
    }
    assert_eq!(
        weights(&[1, 2], 0.9, &mut out),
        Err(Error::LengthMismatch {
            what: "out",
            expected: 2,
            found: 3
        })
    );
    assert_eq!(weights(&[], 0.9, &mut []), Err(Error::Empty));
    assert_eq!(out, [7.0; 3]);
}

#[test]
fn binary_alpha_matches_reference() {
    for &beta in &BETAS {
        for &(neg, pos) in &[
            (1000u32, 10u32),
            (10, 1000),
            (5, 5),
            (0, 7),
            (1, 0),
            (u32::MAX, 1),
        ] {
            let a = binary_alpha(neg, pos, beta).unwrap();
            let want = cb::binary_alpha(neg, pos, beta as f64);
            let err = ulps(a, want);
            assert!(
                err <= CLASS_BALANCED.get(),
                "β={beta} ({neg},{pos}): {a} vs {want}"
            );
            let b = binary_alpha(pos, neg, beta).unwrap();
            assert!(((a + b) as f64 - 1.0).abs() <= 2.0 * f32::EPSILON as f64);
        }
    }
    assert_eq!(binary_alpha(900, 100, 0.0).unwrap(), 0.5);
    // A rare positive class gets α > 0.5 (it is up-weighted).
    assert!(binary_alpha(900, 100, 0.999).unwrap() > 0.5);
}

#[test]
fn class_counter_streams_and_saturates() {
    let mut c = ClassCounter::<4>::new();
    assert_eq!(c.counts(), &[0; 4]);
    for l in [0usize, 1, 1, 3, 3, 3] {
        c.observe(l).unwrap();
    }
    assert_eq!(c.counts(), &[1, 2, 0, 3]);
    assert_eq!(c.total(), 6);
    assert_eq!(
        c.observe(4),
        Err(Error::LabelOutOfRange { at: At::Element(0) })
    );
    assert_eq!(
        c.observe_all(&[0, 1, 9, 2]),
        Err(Error::LabelOutOfRange { at: At::Element(2) })
    );
    assert_eq!(c.counts(), &[1, 2, 0, 3], "all-or-nothing");
    c.observe_all(&[2, 2]).unwrap();
    assert_eq!(c.counts(), &[1, 2, 2, 3]);

    let mut w = [0.0f32; 4];
    let mut w2 = [0.0f32; 4];
    c.weights(0.9, &mut w).unwrap();
    weights(c.counts(), 0.9, &mut w2).unwrap();
    assert_eq!(w, w2);
    assert_close(&w, &weights_ref(c.counts(), 0.9), "counter");
    assert_eq!(
        c.weights(1.0, &mut w),
        Err(Error::InvalidParameter { name: "beta" })
    );
    assert_eq!(w, w2, "untouched on error");

    let mut s = ClassCounter::<2>::from_counts([u32::MAX - 1, 5]);
    s.observe(0).unwrap();
    s.observe(0).unwrap();
    assert_eq!(s.counts(), &[u32::MAX, 5]);
    assert_eq!(s.total(), u32::MAX);
    s.reset();
    assert_eq!(s.counts(), &[0, 0]);
    assert_eq!(ClassCounter::<3>::default(), ClassCounter::<3>::new());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn weights_positive_normalised_and_monotone(
        counts in prop::collection::vec(0u32..1_000_000, 1..64),
        beta in prop_oneof![Just(0.0f32), 0.0f32..1.0, 0.99f32..1.0],
    ) {
        prop_assume!(beta < 1.0);
        let mut out = vec![0.0f32; counts.len()];
        weights(&counts, beta, &mut out).unwrap();
        let c = counts.len() as f64;
        let s: f64 = out.iter().map(|&w| w as f64).sum();
        prop_assert!((s - c).abs() <= c * c * f32::EPSILON as f64);
        prop_assert!(out.iter().all(|&w| w > 0.0 && w.is_finite()));
        for i in 0..counts.len() {
            for j in 0..counts.len() {
                if counts[i].max(1) < counts[j].max(1) {
                    prop_assert!(out[i] >= out[j], "more samples, larger weight: {counts:?} {out:?}");
                }
            }
        }
        assert_close(&out, &weights_ref(&counts, beta as f64), "prop");
    }
}
