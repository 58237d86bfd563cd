//! The red wine quality data (Cortez et al. 2009, UCI, CC BY 4.0), converted
//! at build time by `gen/wine.rs` and stored in flash: 1,599 wines × 11
//! standardised features as i16 fixed point (`z = i / 2048`, 35 KiB; the
//! step is 10–100× finer than the recorded precision of the raw data) and
//! one quality byte each. Reading a feature converts it to f32 exactly.
//!
//! Layout: the training split (`0..N_TRAIN`, whose first `N_FIT` wines are the
//! fit part and the last `N_VAL` the validation part used to tune focal α) is
//! followed by the test split (`N_TRAIN..N_ALL`).

include!(concat!(env!("OUT_DIR"), "/wine.rs"));

/// Features per wine.
pub const N_FEATURES: usize = 11;
/// Wines in the training split (fit + validation).
pub const N_TRAIN: usize = N_FIT + N_VAL;
/// All wines.
pub const N_ALL: usize = N_TRAIN + N_TEST;

/// The feature names, in storage order.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
];

const _: () = assert!(X_BYTES.len() == N_ALL * N_FEATURES * 2);
const _: () = assert!(Q_BYTES.len() == N_ALL);

/// A contiguous range of wines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// First wine.
    pub start: usize,
    /// Number of wines.
    pub len: usize,
}

impl Split {
    /// The fit part of the training split.
    pub const FIT: Split = Split {
        start: 0,
        len: N_FIT,
    };
    /// The validation part of the training split.
    pub const VAL: Split = Split {
        start: N_FIT,
        len: N_VAL,
    };
    /// The whole training split.
    pub const TRAIN: Split = Split {
        start: 0,
        len: N_TRAIN,
    };
    /// The test split.
    pub const TEST: Split = Split {
        start: N_TRAIN,
        len: N_TEST,
    };

    /// Global index of the `k`-th wine of the split.
    #[inline]
    pub fn at(&self, k: usize) -> usize {
        self.start + k
    }
}

/// The standardised features of wine `i` (`i < N_ALL`).
#[inline]
pub fn features(i: usize) -> [f32; N_FEATURES] {
    let mut x = [0.0f32; N_FEATURES];
    let row = &X_BYTES[i * N_FEATURES * 2..(i + 1) * N_FEATURES * 2];
    for (v, b) in x.iter_mut().zip(row.chunks_exact(2)) {
        // Exact: an i16 times a power of two.
        *v = i16::from_le_bytes([b[0], b[1]]) as f32 * (1.0 / FIXED_ONE);
    }
    x
}

/// The quality score (3..=8) of wine `i`.
#[inline]
pub fn quality(i: usize) -> u8 {
    Q_BYTES[i]
}

/// The two imbalanced binary tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// "Good": quality ≥ 7 (13.6 % of the wines).
    Good,
    /// "Poor": quality ≤ 4 (3.9 % of the wines).
    Poor,
}

impl Task {
    /// Both tasks.
    pub const ALL: [Task; 2] = [Task::Good, Task::Poor];

    /// The label of wine `i` for this task (true = minority class).
    #[inline]
    pub fn label(self, i: usize) -> bool {
        match self {
            Task::Good => quality(i) >= 7,
            Task::Poor => quality(i) <= 4,
        }
    }

    /// Short name for the output.
    pub fn name(self) -> &'static str {
        match self {
            Task::Good => "q>=7",
            Task::Poor => "q<=4",
        }
    }

    /// Positives in a split.
    pub fn positives(self, s: Split) -> usize {
        (0..s.len).filter(|&k| self.label(s.at(k))).count()
    }
}
