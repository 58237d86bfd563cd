//! The checking of the on-target tests (`selftest`, `family`): a case
//! records the worst error against its bound (`tinyloss_reference`'s
//! measure) and prints one line; a suite counts the cases.

use crate::{fx, out};
use tinyloss_reference::measure::{abs_err, rel_err};
use tinyloss_reference::Worst;

/// One case: the worst error seen relative to its bound.
pub struct Case {
    /// What the case checks.
    pub name: &'static str,
    /// The worst error and the failure count.
    pub w: Worst,
}

impl Case {
    pub fn new(name: &'static str) -> Self {
        Case {
            name,
            w: Worst::default(),
        }
    }

    /// Checks `got` against `want` within `bound` units of u relative to
    /// `max(|want|, floor)` (`tinyloss_reference::rel_err`).
    pub fn see(&mut self, got: f32, want: f64, floor: f64, bound: f64, at: (f32, f32, f32)) {
        self.record(got, want, rel_err(got, want, floor), bound, at);
    }

    /// Checks an absolute error in units of `u · scale`
    /// (`tinyloss_reference::measure::abs_err`; softmax gradients, scale K).
    pub fn see_abs(&mut self, got: f32, want: f64, scale: f64, bound: f64, at: (f32, f32, f32)) {
        self.record(got, want, abs_err(got, want, scale), bound, at);
    }

    /// Records an error `e` already measured against `bound`.
    pub fn record(&mut self, got: f32, want: f64, e: f64, bound: f64, at: (f32, f32, f32)) {
        if !self.w.record(e, bound, at) && self.w.failures <= 4 {
            out!(
                "  FAIL {}: got {} want {} ({} u, bound {}) at input {} y {} param {}",
                self.name,
                got,
                want as f32,
                fx(e as f32, 1),
                fx(bound as f32, 1),
                at.0,
                at.1,
                at.2
            );
        }
    }

    /// A yes/no check.
    pub fn ok(&mut self, cond: bool, what: &str) {
        self.w.checks += 1;
        if !cond {
            if self.w.failures < 4 {
                out!("  FAIL {}: {}", self.name, what);
            }
            self.w.failures += 1;
        }
    }
}

/// Cases run and their outcome.
#[derive(Default)]
pub struct Suite {
    /// Cases that passed.
    pub passed: u32,
    /// Cases that failed.
    pub failed: u32,
}

impl Suite {
    pub fn done(&mut self, c: Case) {
        let status = if c.w.failures == 0 { "PASS" } else { "FAIL" };
        out!(
            "{} {} ({} checks, worst error {} of bound)",
            status,
            c.name,
            c.w.checks,
            fx(c.w.ratio as f32, 3)
        );
        if c.w.failures == 0 {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }
}
