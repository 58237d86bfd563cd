//! The crate's one error type.

use core::fmt;

/// Where in the input a data error is: the position of the first bad value.
///
/// Elementwise (binary) calls report the element, row-wise (softmax) calls
/// the row, and checks of a class-indexed slice (class weights, counts) the
/// class. The per-element and per-row methods report position 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum At {
    /// Element `i` of an elementwise batch (or of a label slice).
    Element(usize),
    /// Row `r` of a row-wise batch.
    Row(usize),
    /// Class `c` of a per-class slice.
    Class(usize),
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            At::Element(i) => write!(f, "element {i}"),
            At::Row(r) => write!(f, "row {r}"),
            At::Class(c) => write!(f, "class {c}"),
        }
    }
}

/// What was wrong with a call. Every call validates its whole input before
/// it writes anything, so on `Err` no output buffer has been touched.
///
/// The enum is small and `Copy`; data errors say where the first bad value
/// is ([`At`]).
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
    /// The input (or the batch) is empty.
    Empty,
    /// A configuration value is outside its documented range
    /// (`"gamma"`, `"alpha"`, `"smoothing"`, `"pos_weight"`, `"normalizer"`, `"beta"`, ...).
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
    },
    /// An input (a logit, or a probability for probability inputs) is NaN or
    /// infinite.
    NonFiniteInput {
        /// The first bad input.
        at: At,
    },
    /// A probability input is finite but outside `[0, 1]`.
    ProbabilityOutOfRange {
        /// The first bad input.
        at: At,
    },
    /// A target is NaN or outside `[0, 1]` (binary targets, probability-row
    /// entries), a distribution focal loss target outside `[0, n - 1]`, or
    /// a target other than 0 and 1 where a call takes hard labels (the
    /// quantized [`BinaryTable`](crate::quant::BinaryTable)).
    TargetOutOfRange {
        /// The first bad target.
        at: At,
    },
    /// A per-element or per-class weight is negative, NaN or infinite.
    InvalidWeight {
        /// The first bad weight.
        at: At,
    },
    /// A class label is `>= C` and is not the ignore index.
    LabelOutOfRange {
        /// The first bad label.
        at: At,
    },
    /// The logits' length is not a multiple of the number of classes, or the
    /// number of classes is below 2.
    RaggedRows {
        /// Length of the logits slice.
        len: usize,
        /// Number of classes.
        classes: usize,
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
            Error::NonFiniteInput { at } => write!(f, "input at {at} is NaN or infinite"),
            Error::ProbabilityOutOfRange { at } => {
                write!(f, "probability input at {at} is outside [0, 1]")
            }
            Error::TargetOutOfRange { at } => {
                write!(f, "target at {at} is NaN or outside [0, 1]")
            }
            Error::InvalidWeight { at } => {
                write!(f, "weight at {at} is negative or not finite")
            }
            Error::LabelOutOfRange { at } => {
                write!(f, "label at {at} is not a valid class")
            }
            Error::RaggedRows { len, classes } => {
                write!(
                    f,
                    "{len} logits do not form rows of {classes} classes (C >= 2)"
                )
            }
        }
    }
}

impl core::error::Error for Error {}

/// `Ok` when a slice has the length the call needs.
/// A per-class computation's shapes: `counts` not empty, `out` as long.
pub(crate) fn check_per_class(counts: usize, out: usize) -> Result<(), Error> {
    if counts == 0 {
        return Err(Error::Empty);
    }
    check_len("out", counts, out)
}

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
