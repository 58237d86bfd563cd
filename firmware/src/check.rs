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
    /// Runs `cases` as the test binary `what` on this board: a header line,
    /// the cases, a summary with the elapsed count, then the exit status.
    pub fn run(what: &str, cases: &[fn(&mut Suite)]) -> ! {
        use crate::{counter, exit, BOARD, UNIT};
        out!("{} on {}", what, BOARD);
        let t = counter::Stopwatch::start();
        let mut s = Suite::default();
        for case in cases {
            case(&mut s);
        }
        out!(
            "{} on {}: {} passed, {} failed ({} {})",
            what,
            BOARD,
            s.passed,
            s.failed,
            t.elapsed(),
            UNIT
        );
        exit(s.failed == 0)
    }

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

/// The logits every binary case sweeps: from -1e4 to 1e4, through the
/// saturated ranges.
pub const LOGITS: [f32; 21] = [
    -1e4, -100.0, -30.0, -17.0, -12.0, -5.0, -2.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.3, 1.0, 2.5,
    5.0, 12.0, 17.0, 30.0, 100.0, 1e4,
];
/// Hard and soft targets.
pub const TARGETS: [f32; 5] = [0.0, 1.0, 0.05, 0.5, 0.95];
/// Probabilities, the clamp points and both ends included.
pub const PROBS: [f32; 14] = [
    0.0,
    1e-30,
    1e-7,
    2e-6,
    1e-3,
    0.05,
    0.3,
    0.5,
    0.7,
    0.95,
    0.999,
    0.999_999,
    0.999_999_9,
    1.0,
];

/// Whether `y` is a hard label.
pub fn is_hard(y: f32) -> bool {
    y == 0.0 || y == 1.0
}

/// An f32 α as f64.
pub fn a64(a: Option<f32>) -> Option<f64> {
    a.map(|a| a as f64)
}
