//! The error measure: relative error in units of `u = 2^-24` (half an ULP at
//! 1) with an absolute floor, and ULPs of the f32 nearest to the reference.

use libm::fabs;

/// `u = 2^-24`, the f32 unit roundoff.
pub const U: f64 = f32::EPSILON as f64 / 2.0;

/// The absolute floor under every relative loss bound: `2^-126`, f32's
/// smallest normal (results below it are computed from subnormal
/// intermediates).
pub const LOSS_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// `|got - want| / (u · max(|want|, floor))`; infinite when `got` is not
/// finite, so that it exceeds every bound.
pub fn rel_err(got: f32, want: f64, floor: f64) -> f64 {
    if !got.is_finite() {
        return f64::INFINITY;
    }
    let w = fabs(want);
    let scale = if w > floor { w } else { floor };
    fabs(got as f64 - want) / (U * scale)
}

/// [`rel_err`] for outputs that saturate: when the exact value lies beyond
/// f32's range, the result must be `±f32::MAX` with its sign (error 0, else
/// infinite). Equal values have error 0 (also at a zero floor).
pub fn sat_rel_err(got: f32, want: f64, floor: f64) -> f64 {
    saturated(got, want).unwrap_or_else(|| rel_err(got, want, floor))
}

/// [`abs_err`] for outputs that saturate at `±f32::MAX` (see [`sat_rel_err`]).
pub fn sat_abs_err(got: f32, want: f64, scale: f64) -> f64 {
    saturated(got, want).unwrap_or_else(|| abs_err(got, want, scale))
}

/// The error where the saturation rule decides it: infinite for a
/// non-finite result, 0 or infinite when the exact value is beyond f32
/// (the result must be `±f32::MAX` with its sign), 0 for an exact result;
/// `None` where the error measure decides.
fn saturated(got: f32, want: f64) -> Option<f64> {
    if !got.is_finite() {
        return Some(f64::INFINITY);
    }
    if fabs(want) > f32::MAX as f64 {
        let ok = fabs(got as f64) == f32::MAX as f64 && (got > 0.0) == (want > 0.0);
        return Some(if ok { 0.0 } else { f64::INFINITY });
    }
    (got as f64 == want).then_some(0.0)
}

/// `|got - want| / (u · scale)`: an absolute error in units of `u · scale`
/// (softmax gradients, whose scale is the row's target mass). Infinite when
/// `got` is not finite.
pub fn abs_err(got: f32, want: f64, scale: f64) -> f64 {
    if !got.is_finite() {
        return f64::INFINITY;
    }
    fabs(got as f64 - want) / (U * scale)
}

/// The spacing of f32 values above `|x|` (the subnormal spacing below the
/// normal range).
pub fn ulp(x: f32) -> f64 {
    let a = libm::fabsf(x);
    if a < f32::MIN_POSITIVE {
        f32::from_bits(1) as f64
    } else {
        (f32::from_bits(a.to_bits() + 1) - a) as f64
    }
}

/// `|got - want|` in ULPs of the f32 nearest to `want` (the subnormal ULP
/// below the normal range). Infinite when `got` is not finite.
pub fn ulps(got: f32, want: f64) -> f64 {
    if !got.is_finite() {
        return f64::INFINITY;
    }
    fabs(got as f64 - want) / ulp(want as f32)
}

/// The worst error seen against its bound, where it was, and how many checks
/// failed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Worst {
    /// Largest `error / bound` (a check fails above 1).
    pub ratio: f64,
    /// The error at that point, in the measure's units.
    pub err: f64,
    /// Where: (input, target, parameter).
    pub at: (f32, f32, f32),
    /// Checks made.
    pub checks: u32,
    /// Checks above their bound (or not finite).
    pub failures: u32,
}

impl Worst {
    /// Records a relative error ([`rel_err`]) against `bound`; returns
    /// whether it is within.
    pub fn see(
        &mut self,
        got: f32,
        want: f64,
        floor: f64,
        bound: f64,
        at: (f32, f32, f32),
    ) -> bool {
        self.record(rel_err(got, want, floor), bound, at)
    }

    /// Records an error already measured against `bound`; returns whether it
    /// is within (false for NaN).
    pub fn record(&mut self, err: f64, bound: f64, at: (f32, f32, f32)) -> bool {
        self.checks += 1;
        let r = err / bound;
        if r > self.ratio || (r.is_nan() && !self.ratio.is_nan()) {
            self.ratio = if r.is_nan() { f64::INFINITY } else { r };
            self.err = err;
            self.at = at;
        }
        let within = r <= 1.0;
        if !within {
            self.failures += 1;
        }
        within
    }

    /// Combines two records.
    pub fn merge(&mut self, o: &Worst) {
        if o.ratio > self.ratio {
            self.ratio = o.ratio;
            self.err = o.err;
            self.at = o.at;
        }
        self.checks += o.checks;
        self.failures += o.failures;
    }
}
