//! The C ABI of tinyloss: a static library (`libtinyloss_c.a`, built for
//! each thumb target and the host) and the header `include/tinyloss.h`,
//! generated from this file by cbindgen.
//!
//! Conventions, for every function:
//! * It returns a `tl_code`: `TL_OK` (0) or the kind of error, and fills
//!   `*err` (if `err` is not NULL) with the same information as the Rust
//!   `tinyloss::Error`: the kind, where (element, row or class, and the
//!   index), the lengths of a length mismatch, and the name of the slice or
//!   parameter (`name`, `name_len`: a static string, not NUL-terminated;
//!   print it with `%.*s`).
//! * Every check runs before anything is written: on an error no output
//!   (gradient, loss, table, counts) has been touched.
//! * Pointers are borrowed for the call only and never stored. A pointer
//!   with a length `n` must be valid for `n` elements (reads, or writes for
//!   outputs) and aligned for its type; the output buffers must not overlap
//!   the inputs. Optional pointers (documented as such) may be NULL; any
//!   other NULL pointer is refused with `TL_NULL_POINTER`.
//! * Nothing allocates, nothing panics (the library links no panic path:
//!   its panic handler calls a symbol defined nowhere, so a reachable panic
//!   would fail the C program's link).
#![cfg_attr(not(test), no_std)]
#![allow(non_camel_case_types)]

use core::ffi::c_char;
use tinyloss::binary::AnyLoss as AnyBinary;
use tinyloss::class_balanced::{self, Normalize};
use tinyloss::quant::{BinaryTable, Quant};
use tinyloss::softmax::{AnyLoss as AnySoftmax, Rows};
use tinyloss::{At, Batch, Error, Focal, Reduction, SigmoidCe, SoftmaxCe, SoftmaxFocal};

/// The kind of error (`TL_OK` for none).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tl_code {
    /// Success.
    TL_OK = 0,
    /// A slice's length does not match (`expected`, `found`, `name`).
    TL_LENGTH_MISMATCH = 1,
    /// The input is empty.
    TL_EMPTY = 2,
    /// A parameter is outside its range (`name`).
    TL_INVALID_PARAMETER = 3,
    /// An input is NaN or infinite (`at`, `index`).
    TL_NON_FINITE_INPUT = 4,
    /// A probability input is outside `[0, 1]` (`at`, `index`).
    TL_PROBABILITY_OUT_OF_RANGE = 5,
    /// A target is NaN or outside its range (`at`, `index`).
    TL_TARGET_OUT_OF_RANGE = 6,
    /// A weight is negative, NaN or infinite (`at`, `index`).
    TL_INVALID_WEIGHT = 7,
    /// A class label is out of range (`at`, `index`).
    TL_LABEL_OUT_OF_RANGE = 8,
    /// The logits' length is not `rows · classes`, or `classes < 2`
    /// (`expected` = classes, `found` = length).
    TL_RAGGED_ROWS = 9,
    /// A required pointer is NULL (`name`).
    TL_NULL_POINTER = 10,
    /// An error this version of the header does not name.
    TL_OTHER = 99,
}

/// Where a data error is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tl_at {
    /// Not a data error.
    TL_AT_NONE = 0,
    /// Element `index` of an elementwise batch.
    TL_AT_ELEMENT = 1,
    /// Row `index` of a row-wise batch.
    TL_AT_ROW = 2,
    /// Class `index` of a per-class array.
    TL_AT_CLASS = 3,
}

/// What went wrong, in full.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tl_error {
    /// The kind.
    pub code: tl_code,
    /// Where (data errors).
    pub at: tl_at,
    /// The element, row or class (data errors).
    pub index: usize,
    /// The expected length (`TL_LENGTH_MISMATCH`), or the classes
    /// (`TL_RAGGED_ROWS`).
    pub expected: usize,
    /// The length passed.
    pub found: usize,
    /// The slice's or parameter's name (static, not NUL-terminated), or
    /// NULL.
    pub name: *const c_char,
    /// The length of `name`.
    pub name_len: usize,
}

/// How a batch's per-element losses become one number (see the Rust
/// `Reduction`): `TL_MEAN_OVER` divides by the call's `normalizer`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tl_reduction {
    /// `Σ w ℓ`.
    TL_SUM = 0,
    /// `Σ w ℓ / n` over the elements (rows) not ignored.
    TL_MEAN = 1,
    /// `Σ w ℓ / normalizer`.
    TL_MEAN_OVER = 2,
    /// `Σ w ℓ / max(1, Σ y)` (binary only).
    TL_MEAN_OVER_POSITIVES = 3,
}

/// Which binary loss a `tl_binary_loss` describes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tl_binary_kind {
    /// Sigmoid focal loss: `gamma`, `alpha` (if `use_alpha`), `smoothing`.
    TL_FOCAL = 0,
    /// Sigmoid cross-entropy: `pos_weight`, `smoothing`.
    TL_SIGMOID_CE = 1,
}

/// A binary loss's configuration. `TL_FOCAL_RETINANET`-like defaults:
/// `{TL_FOCAL, 2.0f, 0.25f, true, 1.0f, 0.0f}`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tl_binary_loss {
    /// Which loss.
    pub kind: tl_binary_kind,
    /// Focal γ, in `[0, 1000]`.
    pub gamma: f32,
    /// Focal α, in `[0, 1]` (used when `use_alpha`).
    pub alpha: f32,
    /// Whether α weights the classes (else no α).
    pub use_alpha: bool,
    /// Cross-entropy `pos_weight`, finite and `>= 0` (1 is plain).
    pub pos_weight: f32,
    /// Label smoothing ε (0, or as the Rust docs accept).
    pub smoothing: f32,
}

/// Which softmax loss a `tl_softmax_loss` describes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tl_softmax_kind {
    /// Softmax cross-entropy.
    TL_SOFTMAX_CE = 0,
    /// Softmax focal loss with `gamma`.
    TL_SOFTMAX_FOCAL = 1,
}

/// A softmax loss's configuration.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct tl_softmax_loss {
    /// Which loss.
    pub kind: tl_softmax_kind,
    /// Focal γ, in `[0, 1000]` (`TL_SOFTMAX_FOCAL`).
    pub gamma: f32,
    /// Label smoothing ε.
    pub smoothing: f32,
    /// A label that marks a row as ignored, or -1 for none.
    pub ignore_index: i64,
}

/// The class-balanced weights' normalisation.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum tl_normalize {
    /// `Σ_c w_c = C` (Cui et al. 2019).
    TL_SUM_TO_CLASSES = 0,
    /// Mean weight per sample 1 (scikit-learn's "balanced").
    TL_MEAN_SAMPLE_WEIGHT = 1,
}

/// Words of a `tl_binary_table`.
pub const TL_BINARY_TABLE_WORDS: usize = 1027;

/// Storage for a quantized binary table (4 KiB plus its quantization),
/// opaque to C: declare one (static or on a stack that has room), fill it
/// with `tl_binary_table_init`, and pass it to the `tl_binary_table_*`
/// calls. Only a table filled by `tl_binary_table_init` may be passed.
#[repr(C)]
pub struct tl_binary_table {
    /// Private.
    pub words: [u32; TL_BINARY_TABLE_WORDS],
}

const _: () = assert!(core::mem::size_of::<BinaryTable>() == 4 * TL_BINARY_TABLE_WORDS);
const _: () = assert!(core::mem::align_of::<BinaryTable>() <= 4);

mod ffi;

pub use ffi::*;

/// Writes `e` into `*err` (if not NULL) and returns its code.
fn fail(err: *mut tl_error, e: Error) -> tl_code {
    let mut out = tl_error {
        code: tl_code::TL_OTHER,
        at: tl_at::TL_AT_NONE,
        index: 0,
        expected: 0,
        found: 0,
        name: core::ptr::null(),
        name_len: 0,
    };
    let at = |out: &mut tl_error, a: At| {
        let (k, i) = match a {
            At::Element(i) => (tl_at::TL_AT_ELEMENT, i),
            At::Row(i) => (tl_at::TL_AT_ROW, i),
            At::Class(i) => (tl_at::TL_AT_CLASS, i),
        };
        out.at = k;
        out.index = i;
    };
    let name = |out: &mut tl_error, s: &'static str| {
        out.name = s.as_ptr().cast();
        out.name_len = s.len();
    };
    out.code = match e {
        Error::LengthMismatch {
            what,
            expected,
            found,
        } => {
            name(&mut out, what);
            out.expected = expected;
            out.found = found;
            tl_code::TL_LENGTH_MISMATCH
        }
        Error::Empty => tl_code::TL_EMPTY,
        Error::InvalidParameter { name: n } => {
            name(&mut out, n);
            tl_code::TL_INVALID_PARAMETER
        }
        Error::NonFiniteInput { at: a } => {
            at(&mut out, a);
            tl_code::TL_NON_FINITE_INPUT
        }
        Error::ProbabilityOutOfRange { at: a } => {
            at(&mut out, a);
            tl_code::TL_PROBABILITY_OUT_OF_RANGE
        }
        Error::TargetOutOfRange { at: a } => {
            at(&mut out, a);
            tl_code::TL_TARGET_OUT_OF_RANGE
        }
        Error::InvalidWeight { at: a } => {
            at(&mut out, a);
            tl_code::TL_INVALID_WEIGHT
        }
        Error::LabelOutOfRange { at: a } => {
            at(&mut out, a);
            tl_code::TL_LABEL_OUT_OF_RANGE
        }
        Error::RaggedRows { len, classes } => {
            out.expected = classes;
            out.found = len;
            tl_code::TL_RAGGED_ROWS
        }
        _ => tl_code::TL_OTHER,
    };
    ffi::write_err(err, out);
    out.code
}

/// The NULL-pointer error for argument `what`.
fn null(err: *mut tl_error, what: &'static str) -> tl_code {
    let out = tl_error {
        code: tl_code::TL_NULL_POINTER,
        at: tl_at::TL_AT_NONE,
        index: 0,
        expected: 0,
        found: 0,
        name: what.as_ptr().cast(),
        name_len: what.len(),
    };
    ffi::write_err(err, out);
    out.code
}

/// The Rust reduction of a C one.
fn reduction(r: tl_reduction, normalizer: f32) -> Reduction {
    match r {
        tl_reduction::TL_SUM => Reduction::Sum,
        tl_reduction::TL_MEAN => Reduction::Mean,
        tl_reduction::TL_MEAN_OVER => Reduction::MeanOver(normalizer),
        tl_reduction::TL_MEAN_OVER_POSITIVES => Reduction::MeanOverPositives,
    }
}

/// The Rust binary loss of a C configuration (validated).
fn binary_loss(c: &tl_binary_loss) -> Result<AnyBinary, Error> {
    Ok(match c.kind {
        tl_binary_kind::TL_FOCAL => {
            let a = if c.use_alpha { Some(c.alpha) } else { None };
            Focal::new(c.gamma, a)?.with_smoothing(c.smoothing)?.into()
        }
        tl_binary_kind::TL_SIGMOID_CE => SigmoidCe::PLAIN
            .with_pos_weight(c.pos_weight)?
            .with_smoothing(c.smoothing)?
            .into(),
    })
}

/// The Rust softmax loss of a C configuration (validated).
fn softmax_loss(c: &tl_softmax_loss) -> Result<AnySoftmax, Error> {
    let l: AnySoftmax = match c.kind {
        tl_softmax_kind::TL_SOFTMAX_CE => SoftmaxCe::new().with_smoothing(c.smoothing)?.into(),
        tl_softmax_kind::TL_SOFTMAX_FOCAL => SoftmaxFocal::new(c.gamma)?
            .with_smoothing(c.smoothing)?
            .into(),
    };
    Ok(match c.ignore_index {
        -1 => l,
        i if (0..=i64::from(u32::MAX)).contains(&i) => l.with_ignore_index(i as u32),
        _ => {
            return Err(Error::InvalidParameter {
                name: "ignore_index",
            })
        }
    })
}

/// The binary batch call on borrowed slices.
#[allow(clippy::too_many_arguments)]
fn binary(
    loss: &tl_binary_loss,
    inputs: &[f32],
    targets: &[f32],
    weights: Option<&[f32]>,
    ignore: Option<&[bool]>,
    probabilities: bool,
    red: Reduction,
    grad: Option<&mut [f32]>,
) -> Result<f32, Error> {
    let l = binary_loss(loss)?;
    let mut b = Batch::new(targets);
    if probabilities {
        b = b.with_probabilities();
    }
    if let Some(w) = weights {
        b = b.with_weights(w);
    }
    if let Some(m) = ignore {
        b = b.with_ignore(m);
    }
    match grad {
        Some(g) => b.loss_grad(&l, inputs, red, g, None),
        None => {
            if inputs.len() != targets.len() {
                return Err(Error::LengthMismatch {
                    what: "inputs",
                    expected: targets.len(),
                    found: inputs.len(),
                });
            }
            b.loss(&l, inputs, red)
        }
    }
}

/// The softmax batch call on borrowed slices.
fn softmax(
    loss: &tl_softmax_loss,
    logits: &[f32],
    classes: usize,
    labels: &[u32],
    class_weights: Option<&[f32]>,
    red: Reduction,
    grad: &mut [f32],
) -> Result<f32, Error> {
    let l = softmax_loss(loss)?;
    let mut rows = Rows::new(classes, labels);
    if let Some(w) = class_weights {
        rows = rows.with_class_weights(w)?;
    }
    rows.loss_grad(&l, logits, red, grad, None)
}

/// The quantization of a C call.
fn quant(scale: f32, zero_point: i32) -> Result<Quant, Error> {
    Quant::new(scale, zero_point)
}

/// Class-balanced weights of counts.
fn cb_weights(counts: &[u32], beta: f32, norm: tl_normalize, out: &mut [f32]) -> Result<(), Error> {
    let n = match norm {
        tl_normalize::TL_SUM_TO_CLASSES => Normalize::SumToClasses,
        tl_normalize::TL_MEAN_SAMPLE_WEIGHT => Normalize::MeanSampleWeight,
    };
    class_balanced::weights(counts, beta, n, out)
}

/// Adds each label to `counts` (saturating), all or nothing.
fn count(counts: &mut [u32], labels: &[u32]) -> Result<(), Error> {
    let mut next = 0usize;
    for &l in labels {
        let at = next;
        next = next.wrapping_add(1);
        if l as usize >= counts.len() {
            return Err(Error::LabelOutOfRange {
                at: At::Element(at),
            });
        }
    }
    for &l in labels {
        if let Some(c) = counts.get_mut(l as usize) {
            *c = c.saturating_add(1);
        }
    }
    Ok(())
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    extern "C" {
        // Defined nowhere: a panic path that survives optimisation makes
        // the C program's link fail.
        fn tinyloss_c_panic_is_reachable() -> !;
    }
    // SAFETY: never runs (no panic path links); the call exists to make
    // the link fail if one did.
    unsafe { tinyloss_c_panic_is_reachable() }
}
