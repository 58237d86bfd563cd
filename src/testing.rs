//! Test helpers shared by the unit tests.

/// `|got - want|` in ULPs of the f32 nearest to `want` (subnormal ULP below
/// the normal range).
pub(crate) fn ulps(got: f32, want: f64) -> f64 {
    let w = (want as f32).abs();
    let ulp = if w < f32::MIN_POSITIVE {
        f32::from_bits(1) as f64
    } else {
        (f32::from_bits(w.to_bits() + 1) - w) as f64
    };
    (got as f64 - want).abs() / ulp
}
