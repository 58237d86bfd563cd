//! Class-balanced weights (Cui et al. 2019) against the f64 reference
//! (`tinyloss_reference::class_balanced`), which reads β as the decimal
//! string the user wrote.
//!
//! The decimal cases also check that they would catch the old behaviour
//! (1 - β taken from the f32): for each of them, the weights of the f32's β
//! are more than the bound away from the decimal's, so an implementation that
//! does not read β back as a decimal fails the assertion.

use proptest::prelude::*;
use tinyloss::class_balanced::{binary_alpha, weights, ClassCounter, Normalize};
use tinyloss::{At, Error};

use tinyloss_reference::bounds::CLASS_BALANCED;
use tinyloss_reference::class_balanced::{self as cb, Norm};
use tinyloss_reference::measure::ulp;
use tinyloss_reference::{cases, ulps};

const NORMS: [(Normalize, Norm); 2] = [
    (Normalize::SumToClasses, Norm::SumToClasses),
    (Normalize::MeanSampleWeight, Norm::MeanSampleWeight),
];

/// β as written, and the f32 it parses to.
fn beta(s: &str) -> (f32, f64) {
    let b: f32 = s.parse().unwrap();
    assert_eq!(format!("{b}"), s, "not the shortest decimal of its f32");
    (b, cb::one_minus(s).unwrap())
}

fn weights_ref(counts: &[u32], d: f64, norm: Norm) -> Vec<f64> {
    let mut w = vec![0.0; counts.len()];
    cb::weights(counts, d, norm, &mut w);
    w
}

fn worst_ulps(got: &[f32], want: &[f64]) -> (f64, usize) {
    got.iter()
        .zip(want)
        .map(|(&g, &w)| ulps(g, w))
        .enumerate()
        .fold((0.0, 0), |a, (i, e)| if e > a.0 { (e, i) } else { a })
}

/// Weights within the stated bound (1 ULP) of the reference.
fn assert_close(got: &[f32], want: &[f64], what: &str) -> f64 {
    let (err, i) = worst_ulps(got, want);
    assert!(
        err <= CLASS_BALANCED.get(),
        "{what}: w[{i}] = {} vs {} ({err} ulp)",
        got[i],
        want[i]
    );
    err
}

/// The normalisation `norm` promises, within `C` ULP of the sum.
fn assert_normalised(counts: &[u32], w: &[f32], norm: Normalize, what: &str) {
    let (s, target) = match norm {
        Normalize::SumToClasses => (w.iter().map(|&w| w as f64).sum::<f64>(), w.len() as f64),
        Normalize::MeanSampleWeight => {
            let n: f64 = counts.iter().map(|&n| n as f64).sum();
            if n == 0.0 {
                assert!(w.iter().all(|&w| w == 1.0), "{what}: {w:?}");
                return;
            }
            let s: f64 = counts
                .iter()
                .zip(w)
                .map(|(&n, &w)| n as f64 * w as f64)
                .sum();
            (s / n, 1.0)
        }
    };
    let c = w.len() as f64;
    assert!(
        (s - target).abs() <= target * c * ulp(1.0),
        "{what}: normalised to {s}, not {target}"
    );
    assert!(w.iter().all(|&w| w > 0.0 && w.is_finite()), "{what}: {w:?}");
}

/// The β the paper and users write, and β just below 1 (the largest f32
/// below 1 is 0.99999994 = 1 - 5.96e-8; its decimal's 1 - β is 6e-8).
const DECIMAL_BETAS: [&str; 6] = ["0.9", "0.99", "0.999", "0.9999", "0.99999", "0.99999994"];

/// Count vectors whose weights depend on 1 - β to first order at every β
/// above (`v(u32::MAX) = 1 - β` next to `v(1) = 1`; `n = 10^6` is not yet
/// in the inverse-frequency limit at β = 0.99999994), with the edges 0, 1
/// and `u32::MAX`. (Counts far below `1/(1 - β)` are not: there
/// `v ≈ 1/n` whatever β is, and `matches_reference` covers them.)
const SENSITIVE_COUNTS: [&[u32]; 4] = [
    &[1, u32::MAX],
    &[0, 1, u32::MAX],
    &[u32::MAX, 0],
    &[0, 3, 1_000_000, 1],
];

#[test]
fn exact_for_the_decimal_beta() {
    let mut worst: f64 = 0.0;
    for s in DECIMAL_BETAS {
        let (b, d) = beta(s);
        let d_f32 = 1.0 - b as f64; // what tinyloss 0.1 computed
        for counts in SENSITIVE_COUNTS {
            for (norm, rnorm) in NORMS {
                let what = format!("β={s} {counts:?} {norm:?}");
                let mut out = vec![0.0f32; counts.len()];
                weights(counts, b, norm, &mut out).unwrap();
                let want = weights_ref(counts, d, rnorm);
                worst = worst.max(assert_close(&out, &want, &what));
                assert_normalised(counts, &out, norm, &what);
                // The old code computed (within 1 ULP) the weights of d_f32:
                // rounded to f32, they miss the decimal's by more than the
                // bound, so this case fails without the decimal reading.
                let old: Vec<f32> = weights_ref(counts, d_f32, rnorm)
                    .iter()
                    .map(|&w| w as f32)
                    .collect();
                let (e_old, _) = worst_ulps(&old, &want);
                assert!(
                    e_old > CLASS_BALANCED.get() + 1.0,
                    "{what}: does not discriminate ({e_old} ulp)"
                );
            }
        }
    }
    eprintln!("worst over the decimal cases: {worst} ulp");
}

#[test]
fn binary_alpha_exact_for_the_decimal_beta() {
    for s in DECIMAL_BETAS {
        let (b, d) = beta(s);
        for (neg, pos) in [(u32::MAX, 1u32), (1, u32::MAX), (0, u32::MAX), (100_000, 1)] {
            let a = binary_alpha(neg, pos, b).unwrap();
            let want = cb::binary_alpha(neg, pos, d);
            let err = ulps(a, want);
            assert!(
                err <= CLASS_BALANCED.get(),
                "β={s} ({neg},{pos}): {a} vs {want} ({err} ulp)"
            );
            if pos == u32::MAX {
                // α = (1 - β)/(1 + v_0) with v_0 = 1: first order in 1 - β.
                let old = cb::binary_alpha(neg, pos, 1.0 - b as f64) as f32;
                assert!(
                    ulps(old, want) > CLASS_BALANCED.get() + 1.0,
                    "β={s} ({neg},{pos})"
                );
            }
        }
    }
}

/// Every β of the accepted range's grid (the decimal ones, the exact ones
/// 0 and 0.5, small ones on both sides of 2^-20) on every count vector, both normalisations.
const BETAS: [&str; 11] = [
    "0",
    "0.0000001",
    "0.000001",
    "0.1",
    "0.5",
    "0.9",
    "0.99",
    "0.999",
    "0.9999",
    "0.99999",
    "0.99999994",
];

#[test]
fn matches_reference() {
    let counts_list: [&[u32]; 9] = [
        &[1000, 100, 10, 1],
        &[5, 5, 5],
        &[0, 3, 1_000_000],
        &[u32::MAX, 1],
        &[u32::MAX, u32::MAX, u32::MAX],
        &[0, 0],
        &[1, 1],
        &[7],
        &[0],
    ];
    for s in BETAS {
        let (b, d) = beta(s);
        for counts in counts_list {
            for (norm, rnorm) in NORMS {
                let what = format!("β={s} {counts:?} {norm:?}");
                let mut out = vec![0.0f32; counts.len()];
                weights(counts, b, norm, &mut out).unwrap();
                assert_close(&out, &weights_ref(counts, d, rnorm), &what);
                assert_normalised(counts, &out, norm, &what);
            }
        }
    }
}

#[test]
fn documented_special_cases() {
    for (norm, _) in NORMS {
        let mut out = [0.0f32; 4];
        // β = 0: all ones (β = 0 is exact in f32: nothing to read back).
        weights(&[1, 10, 100, u32::MAX], 0.0, norm, &mut out).unwrap();
        assert_eq!(out, [1.0; 4]);
        // All counts 0: all ones, for any β.
        for s in BETAS {
            weights(&[0, 0, 0, 0], beta(s).0, norm, &mut out).unwrap();
            assert_eq!(out, [1.0; 4], "β={s} {norm:?}");
        }
    }
    // The smallest β there is (subnormal): 1 - β is 1 in f64, ln β = -inf,
    // and every weight is exactly 1 (no NaN from -inf · n or expm1(-inf)).
    for (norm, _) in NORMS {
        let mut out = [0.0f32; 4];
        weights(&[0, 1, 2, u32::MAX], f32::from_bits(1), norm, &mut out).unwrap();
        assert_eq!(out, [1.0; 4], "{norm:?}");
    }
    assert_eq!(binary_alpha(1, u32::MAX, f32::from_bits(1)).unwrap(), 0.5);
    // SumToClasses: a count of 0 is weighted as a count of 1.
    let mut a = [0.0f32; 3];
    let mut b = [0.0f32; 3];
    weights(&[0, 50, 9], 0.99, Normalize::SumToClasses, &mut a).unwrap();
    weights(&[1, 50, 9], 0.99, Normalize::SumToClasses, &mut b).unwrap();
    assert_eq!(a, b);
    // MeanSampleWeight: a zero-count class gets k = w_c / v_c of the others,
    // i.e. the weight a class with one sample would get, and does not
    // change the others' weights.
    weights(&[0, 50, 9], 0.99, Normalize::MeanSampleWeight, &mut a).unwrap();
    let mut two = [0.0f32; 2];
    weights(&[50, 9], 0.99, Normalize::MeanSampleWeight, &mut two).unwrap();
    assert_eq!(&a[1..], &two);
    let d = cb::one_minus("0.99").unwrap();
    let k = a[1] as f64 / cb::v(50, d);
    assert!(ulps(a[0], k) <= 1.0, "{a:?} {k}");
    // MeanSampleWeight with one class: weight 1.
    weights(&[12], 0.999, Normalize::MeanSampleWeight, &mut a[..1]).unwrap();
    assert_eq!(a[0], 1.0);
    // β → 1 approaches inverse frequency: w_0 / w_1 → n_1 / n_0.
    let mut a = [0.0f32; 3];
    weights(
        &[10, 100, 1000],
        0.999_999_9,
        Normalize::SumToClasses,
        &mut a,
    )
    .unwrap();
    assert!(((a[0] / a[1]) as f64 - 10.0).abs() < 1e-3, "{a:?}");
    assert!(((a[1] / a[2]) as f64 - 10.0).abs() < 1e-2, "{a:?}");
    // The largest weights there are: MeanSampleWeight at β just below 1.
    let mut a = [0.0f32; 2];
    weights(
        &[u32::MAX, 0],
        0.99999994,
        Normalize::MeanSampleWeight,
        &mut a,
    )
    .unwrap();
    assert!(a[0] == 1.0 && a[1] > 1.6e7 && a[1] < 1.7e7, "{a:?}");
}

#[test]
fn stable_where_the_naive_f32_formula_is_not() {
    // β = 0.9999, n = 1..4: 1 - β^n ≈ n·1e-4. The naive f32 formula
    // (1 - β)/(1 - powf(β, n)) loses about 4 digits; ours is exact to 1 ULP.
    let (beta, d) = beta("0.9999");
    let counts = [1u32, 2, 3, 4];
    let mut out = [0.0f32; 4];
    weights(&counts, beta, Normalize::SumToClasses, &mut out).unwrap();
    let want = weights_ref(&counts, d, Norm::SumToClasses);
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
    for (norm, _) in NORMS {
        for beta in cases::BAD_BETAS {
            assert_eq!(
                weights(&[1, 2, 3], beta, norm, &mut out),
                Err(Error::InvalidParameter { name: "beta" })
            );
            assert_eq!(
                ClassCounter::<3>::new().weights(beta, norm, &mut out),
                Err(Error::InvalidParameter { name: "beta" })
            );
            assert_eq!(
                binary_alpha(1, 2, beta),
                Err(Error::InvalidParameter { name: "beta" })
            );
        }
        let mismatch = Err(Error::LengthMismatch {
            what: "out",
            expected: 2,
            found: 3,
        });
        assert_eq!(weights(&[1, 2], 0.9, norm, &mut out), mismatch);
        assert_eq!(
            ClassCounter::<2>::new().weights(0.9, norm, &mut out),
            mismatch
        );
        assert_eq!(weights(&[], 0.9, norm, &mut []), Err(Error::Empty));
        assert_eq!(
            ClassCounter::<0>::new().weights(0.9, norm, &mut []),
            Err(Error::Empty)
        );
    }
    assert_eq!(out, [7.0; 3]);
}

#[test]
fn binary_alpha_matches_reference() {
    for s in BETAS {
        let (beta, d) = beta(s);
        for &(neg, pos) in &[
            (1000u32, 10u32),
            (10, 1000),
            (5, 5),
            (0, 7),
            (1, 0),
            (0, 0),
            (u32::MAX, 1),
        ] {
            let a = binary_alpha(neg, pos, beta).unwrap();
            let want = cb::binary_alpha(neg, pos, d);
            let err = ulps(a, want);
            assert!(
                err <= CLASS_BALANCED.get(),
                "β={s} ({neg},{pos}): {a} vs {want}"
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
    for l in [0u32, 1, 1, 3, 3, 3] {
        c.observe(l).unwrap();
    }
    assert_eq!(c.counts(), &[1, 2, 0, 3]);
    assert_eq!(c.total(), 6);
    assert_eq!(
        c.observe(4),
        Err(Error::LabelOutOfRange { at: At::Element(0) })
    );
    assert_eq!(
        c.observe(u32::MAX),
        Err(Error::LabelOutOfRange { at: At::Element(0) })
    );
    assert_eq!(
        c.observe_all(&[0u32, 1, 9, 2]),
        Err(Error::LabelOutOfRange { at: At::Element(2) })
    );
    assert_eq!(
        c.observe_all(&[0u8, 1, 2, 255]),
        Err(Error::LabelOutOfRange { at: At::Element(3) })
    );
    assert_eq!(
        c.observe_all(&[4u16][..]),
        Err(Error::LabelOutOfRange { at: At::Element(0) })
    );
    assert_eq!(c.counts(), &[1, 2, 0, 3], "all-or-nothing");
    // Every label width counts alike.
    c.observe_all(&[2u32, 2]).unwrap();
    c.observe_all(&[2u8][..]).unwrap();
    c.observe_all(tinyloss::Labels::U16(&[0, 3])).unwrap();
    c.observe_all(&[] as &[u8]).unwrap();
    assert_eq!(c.counts(), &[2, 2, 3, 4]);

    for (norm, rnorm) in NORMS {
        let mut w = [0.0f32; 4];
        let mut w2 = [0.0f32; 4];
        c.weights(0.9, norm, &mut w).unwrap();
        weights(c.counts(), 0.9, norm, &mut w2).unwrap();
        assert_eq!(w, w2);
        let d = cb::one_minus("0.9").unwrap();
        assert_close(&w, &weights_ref(c.counts(), d, rnorm), "counter");
        assert_eq!(
            c.weights(1.0, norm, &mut w),
            Err(Error::InvalidParameter { name: "beta" })
        );
        assert_eq!(w, w2, "untouched on error");
        // A slice of any length is checked, not just an array of C.
        assert!(c.weights(0.9, norm, &mut [0.0; 5][..]).is_err());
    }

    let mut s = ClassCounter::<2>::from_counts([u32::MAX - 1, 5]);
    s.observe(0).unwrap();
    s.observe(0).unwrap();
    s.observe_all(&[0u8, 0, 0]).unwrap();
    assert_eq!(s.counts(), &[u32::MAX, 5]);
    assert_eq!(s.total(), u32::MAX);
    s.reset();
    assert_eq!(s.counts(), &[0, 0]);
    assert_eq!(ClassCounter::<3>::default(), ClassCounter::<3>::new());
}

/// A decimal β with up to 7 digits after the point, written the way `{}`
/// writes it (every such decimal is the shortest of its f32 in `[0, 1)`).
fn decimal_beta() -> impl Strategy<Value = String> {
    (1u32..=7).prop_flat_map(|k| {
        (0u64..10u64.pow(k)).prop_map(move |b| {
            if b == 0 {
                return "0".to_string();
            }
            let s = format!("0.{b:0w$}", w = k as usize);
            s.trim_end_matches('0').to_string()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn weights_match_reference_normalised_and_monotone(
        counts in prop::collection::vec(
            prop_oneof![0u32..1_000_000, Just(0u32), Just(1), Just(u32::MAX)], 1..64),
        s in prop_oneof![decimal_beta(), Just("0.9999".to_string()), Just("0.99999994".to_string())],
        mean in any::<bool>(),
    ) {
        let (b, d) = beta(&s);
        let (norm, rnorm) = NORMS[usize::from(mean)];
        let mut out = vec![0.0f32; counts.len()];
        weights(&counts, b, norm, &mut out).unwrap();
        let what = format!("β={s} {norm:?}");
        assert_normalised(&counts, &out, norm, &what);
        for i in 0..counts.len() {
            for j in 0..counts.len() {
                if counts[i].max(1) < counts[j].max(1) {
                    prop_assert!(out[i] >= out[j], "more samples, larger weight: {counts:?} {out:?}");
                }
            }
        }
        assert_close(&out, &weights_ref(&counts, d, rnorm), &what);
    }
}
