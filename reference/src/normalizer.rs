//! The streaming normaliser's recurrence in f64: detectron2's RetinaNet
//! `loss_normalizer`, `v ← m v + (1 − m) max(P, 1)`.

/// The average of positives per update, in f64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PositivesEma {
    /// The current average.
    pub v: f64,
    /// The momentum `m`.
    pub m: f64,
}

impl PositivesEma {
    /// From the same f32 parameters as the kernel.
    pub fn new(initial: f32, momentum: f32) -> Self {
        PositivesEma {
            v: f64::from(initial),
            m: f64::from(momentum),
        }
    }

    /// Folds in one count `P` and returns the new average.
    pub fn update(&mut self, positives: f32) -> f64 {
        self.v = self.m * self.v + (1.0 - self.m) * f64::from(positives).max(1.0);
        self.v
    }

    /// Whether `got` is a valid parameter pair for the kernel: `initial`
    /// finite and positive, `momentum` in `[0, 1)`.
    pub fn valid(initial: f32, momentum: f32) -> bool {
        initial.is_finite() && initial > 0.0 && (0.0..1.0).contains(&momentum)
    }
}
