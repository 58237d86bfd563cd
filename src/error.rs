//! The crate's one error type.

use core::fmt;

/// What was wrong with a call. Every kernel validates its whole input before
/// it writes anything, so on `Err` no output buffer has been touched.
///
/// The enum is small and `Copy`; data errors carry the index of the first bad
/// element (for multi-class kernels, the row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A slice's length does not match the length the call requires.
    LengthMismatch {
        /// Which slice (`"targets"`, `"grad"`, `"weights"`, ...).
        what: &'static str,
        /// The length the call needs.
        expected: usize,
        /// The length that was passed.
        found: usize,
    },
    /// The logits slice (or the batch) is empty.
    Empty,
    /// A configuration value is outside its documented range
    /// (`"gamma"`, `"alpha"`, `"smoothing"`, `"pos_weight"`, `"normalizer"`, `"beta"`, ...).
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// A logit (or, for probability inputs, a probability) is NaN or infinite,
    /// or a probability lies outside `[0, 1]`.
    NonFiniteLogit {
        /// Index of the first bad element.
        index: usize,
    },
    /// A target is NaN or outside `[0, 1]` (binary targets, probability-row entries).
    TargetOutOfRange {
        /// Index of the first bad element.
        index: usize,
    },
    /// A per-element or per-class weight is negative, NaN or infinite.
    InvalidWeight {
        /// Index of the first bad weight.
        index: usize,
    },
    /// A class label is `>= C` and is not the ignore index.
    LabelOutOfRange {
        /// Row of the first bad label.
        index: usize,
    },
    /// The logits' length is not a multiple of the number of classes, or the
    /// number of classes is below 2.
    RaggedRows {
        /// Length of the logits slice.
        len: usize,
        /// Number of classes.
        classes: usize,
    },
    /// The number of classes exceeds a fixed capacity.
    TooManyClasses {
        /// Number of classes requested.
        classes: usize,
        /// The capacity of the container or kernel.
        capacity: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::LengthMismatch {
                what,
                expected,
                found,
            } => write!(f, "`{what}` has length {found}, expected {expected}"),
            Error::Empty => f.write_str("empty input"),
            Error::InvalidParameter { name } => {
                write!(f, "parameter `{name}` is outside its valid range")
            }
            Error::NonFiniteLogit { index } => {
                write!(
                    f,
                    "input at index {index} is not finite (or not a probability)"
                )
            }
            Error::TargetOutOfRange { index } => {
                write!(f, "target at index {index} is NaN or outside [0, 1]")
            }
            Error::InvalidWeight { index } => {
                write!(f, "weight at index {index} is negative or not finite")
            }
            Error::LabelOutOfRange { index } => {
                write!(f, "label of row {index} is not a valid class")
            }
            Error::RaggedRows { len, classes } => {
                write!(
                    f,
                    "{len} logits do not form rows of {classes} classes (C >= 2)"
                )
            }
            Error::TooManyClasses { classes, capacity } => {
                write!(f, "{classes} classes exceed the capacity of {capacity}")
            }
        }
    }
}

impl core::error::Error for Error {}

/// `Ok` when a slice has the length the call needs.
pub(crate) fn check_len(what: &'static str, expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            what,
            expected,
            found,
        })
    }
}
