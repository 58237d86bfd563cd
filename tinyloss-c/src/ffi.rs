//! The exported functions: the only `unsafe` of the C ABI, each use the
//! turning of a C pointer and length into a Rust slice (or reference)
//! under the contract the header states: valid for that many elements,
//! aligned, not overlapping the outputs, alive for the call.

use super::*;

/// `*err = e` if `err` is not NULL.
pub(crate) fn write_err(err: *mut tl_error, e: tl_error) {
    // SAFETY: the caller passes NULL or a valid, writable tl_error.
    if let Some(slot) = unsafe { err.as_mut() } {
        *slot = e;
    }
}

/// `p[..n]` as a slice, or None for NULL.
///
/// # Safety
/// `p` is NULL, or valid for `n` reads of `T` and aligned.
unsafe fn slice<'a, T>(p: *const T, n: usize) -> Option<&'a [T]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: by the caller's contract.
        Some(unsafe { core::slice::from_raw_parts(p, n) })
    }
}

/// `p[..n]` as a mutable slice, or None for NULL.
///
/// # Safety
/// `p` is NULL, or valid for `n` reads and writes of `T`, aligned, and
/// overlapping nothing else the call reads.
unsafe fn slice_mut<'a, T>(p: *mut T, n: usize) -> Option<&'a mut [T]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: by the caller's contract.
        Some(unsafe { core::slice::from_raw_parts_mut(p, n) })
    }
}

/// Writes `v` into `*p` if `p` is not NULL.
fn put<T>(p: *mut T, v: T) {
    // SAFETY: the caller passes NULL or a valid, writable pointer.
    if let Some(slot) = unsafe { p.as_mut() } {
        *slot = v;
    }
}

macro_rules! need {
    ($p:expr, $name:literal, $err:expr) => {
        match $p {
            Some(v) => v,
            None => return null($err, $name),
        }
    };
}

/// Loss and gradient of a binary loss over `n` elements: `inputs` (logits,
/// or probabilities when `probabilities`), `targets` in `[0, 1]`,
/// optional per-element `weights` and `ignore` mask (NULL for none),
/// written into `grad` (`n` floats; NULL computes the loss alone); the
/// reduced loss goes to `*loss` (required).
///
/// # Safety
/// Each non-NULL pointer is valid for `n` elements (`loss`, `err`: one),
/// aligned; `grad` overlaps no input.
#[no_mangle]
pub unsafe extern "C" fn tl_binary_loss_grad(
    cfg: *const tl_binary_loss,
    inputs: *const f32,
    targets: *const f32,
    n: usize,
    weights: *const f32,
    ignore: *const bool,
    probabilities: bool,
    red: tl_reduction,
    normalizer: f32,
    grad: *mut f32,
    loss: *mut f32,
    err: *mut tl_error,
) -> tl_code {
    // SAFETY (every block here): the header's contract on each pointer.
    let cfg = need!(unsafe { cfg.as_ref() }, "cfg", err);
    let x = need!(unsafe { slice(inputs, n) }, "inputs", err);
    let y = need!(unsafe { slice(targets, n) }, "targets", err);
    if loss.is_null() {
        return null(err, "loss");
    }
    let w = unsafe { slice(weights, n) };
    let ig = unsafe { slice(ignore, n) };
    let g = unsafe { slice_mut(grad, n) };
    match binary(
        cfg,
        x,
        y,
        w,
        ig,
        probabilities,
        reduction(red, normalizer),
        g,
    ) {
        Ok(l) => {
            put(loss, l);
            tl_code::TL_OK
        }
        Err(e) => fail(err, e),
    }
}

/// Loss and gradient of a softmax loss over `rows` rows of `classes`
/// logits (row-major, `rows · classes` floats), one label per row, optional
/// `class_weights` (`classes` floats, NULL for none), written into `grad`
/// (`rows · classes` floats, required); the reduced loss goes to `*loss`.
///
/// # Safety
/// Each non-NULL pointer is valid for its length, aligned; `grad`
/// overlaps no input; `rows · classes` does not overflow.
#[no_mangle]
pub unsafe extern "C" fn tl_softmax_loss_grad(
    cfg: *const tl_softmax_loss,
    logits: *const f32,
    rows: usize,
    classes: usize,
    labels: *const u32,
    class_weights: *const f32,
    red: tl_reduction,
    normalizer: f32,
    grad: *mut f32,
    loss: *mut f32,
    err: *mut tl_error,
) -> tl_code {
    let Some(len) = rows.checked_mul(classes) else {
        return fail(
            err,
            Error::RaggedRows {
                len: usize::MAX,
                classes,
            },
        );
    };
    // SAFETY (every block here): the header's contract on each pointer.
    let cfg = need!(unsafe { cfg.as_ref() }, "cfg", err);
    let z = need!(unsafe { slice(logits, len) }, "logits", err);
    let t = need!(unsafe { slice(labels, rows) }, "labels", err);
    if loss.is_null() {
        return null(err, "loss");
    }
    let w = unsafe { slice(class_weights, classes) };
    let g = need!(unsafe { slice_mut(grad, len) }, "grad", err);
    match softmax(cfg, z, classes, t, w, reduction(red, normalizer), g) {
        Ok(l) => {
            put(loss, l);
            tl_code::TL_OK
        }
        Err(e) => fail(err, e),
    }
}

/// Fills `table` for the binary loss `cfg` on `int8` inputs quantized as
/// `x = scale · (q - zero_point)` (logits, or probabilities when
/// `probabilities`). Costs 512 evaluations of the f32 kernel.
///
/// # Safety
/// `cfg` and `table` are valid (the table writable); `err` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn tl_binary_table_init(
    table: *mut tl_binary_table,
    cfg: *const tl_binary_loss,
    scale: f32,
    zero_point: i32,
    probabilities: bool,
    err: *mut tl_error,
) -> tl_code {
    // SAFETY: the header's contract.
    let cfg = need!(unsafe { cfg.as_ref() }, "cfg", err);
    if table.is_null() {
        return null(err, "table");
    }
    let built = binary_loss(cfg).and_then(|l| {
        let q = quant(scale, zero_point)?;
        if probabilities {
            BinaryTable::probabilities(&l, q)
        } else {
            BinaryTable::logits(&l, q)
        }
    });
    match built {
        Ok(t) => {
            // SAFETY: `table` is valid and writable, `tl_binary_table` has
            // the size of a `BinaryTable` and at least its alignment (the
            // asserts in lib.rs); `write` reads nothing of the old bytes.
            unsafe { table.cast::<BinaryTable>().write(t) };
            tl_code::TL_OK
        }
        Err(e) => fail(err, e),
    }
}

/// The table a C caller filled.
///
/// # Safety
/// `t` is NULL or a table filled by `tl_binary_table_init`.
unsafe fn table_ref<'a>(t: *const tl_binary_table) -> Option<&'a BinaryTable> {
    // SAFETY: a filled table holds a valid `BinaryTable` (written by
    // `tl_binary_table_init`), and the storage is aligned for it.
    unsafe { t.cast::<BinaryTable>().as_ref() }
}

/// The inputs both table calls share: the table, codes, targets and mask,
/// with `loss` checked for NULL.
type TableArgs<'a> = (&'a BinaryTable, &'a [i8], &'a [f32], Option<&'a [bool]>);

/// # Safety
/// As `tl_binary_table_loss_grad`.
unsafe fn table_call<'a>(
    table: *const tl_binary_table,
    codes: *const i8,
    targets: *const f32,
    n: usize,
    ignore: *const bool,
    loss: *mut f32,
    err: *mut tl_error,
) -> Result<TableArgs<'a>, tl_code> {
    // SAFETY (every block here): the header's contract on each pointer.
    let Some(t) = (unsafe { table_ref(table) }) else {
        return Err(null(err, "table"));
    };
    let Some(q) = (unsafe { slice(codes, n) }) else {
        return Err(null(err, "codes"));
    };
    let Some(y) = (unsafe { slice(targets, n) }) else {
        return Err(null(err, "targets"));
    };
    if loss.is_null() {
        return Err(null(err, "loss"));
    }
    Ok((t, q, y, unsafe { slice(ignore, n) }))
}

/// A table's batch call on `n` `int8` codes with hard labels (`targets` 0
/// or 1), optional `ignore` mask (NULL for none): the f32 gradient
/// `∂L/∂x` into `grad` (`n` floats), the reduced loss into `*loss`.
///
/// # Safety
/// `table` was filled by `tl_binary_table_init`; each non-NULL pointer is
/// valid for its length, aligned; `grad` overlaps no input.
#[no_mangle]
pub unsafe extern "C" fn tl_binary_table_loss_grad(
    table: *const tl_binary_table,
    codes: *const i8,
    targets: *const f32,
    n: usize,
    ignore: *const bool,
    red: tl_reduction,
    normalizer: f32,
    grad: *mut f32,
    loss: *mut f32,
    err: *mut tl_error,
) -> tl_code {
    // SAFETY (every block here): the header's contract on each pointer.
    let (t, q, y, ig) = match unsafe { table_call(table, codes, targets, n, ignore, loss, err) } {
        Ok(a) => a,
        Err(c) => return c,
    };
    let g = need!(unsafe { slice_mut(grad, n) }, "grad", err);
    match t.loss_grad(q, y, ig, reduction(red, normalizer), g) {
        Ok(l) => {
            put(loss, l);
            tl_code::TL_OK
        }
        Err(e) => fail(err, e),
    }
}

/// [`tl_binary_table_loss_grad`] with the gradient re-quantized to `int8`
/// (`grad`, `n` codes) with the per-tensor max-abs scale written to
/// `*grad_scale`: `∂L/∂x_i ≈ grad[i] · *grad_scale`.
///
/// # Safety
/// As `tl_binary_table_loss_grad`.
#[no_mangle]
pub unsafe extern "C" fn tl_binary_table_loss_grad_i8(
    table: *const tl_binary_table,
    codes: *const i8,
    targets: *const f32,
    n: usize,
    ignore: *const bool,
    red: tl_reduction,
    normalizer: f32,
    grad: *mut i8,
    grad_scale: *mut f32,
    loss: *mut f32,
    err: *mut tl_error,
) -> tl_code {
    // SAFETY (every block here): the header's contract on each pointer.
    let (t, q, y, ig) = match unsafe { table_call(table, codes, targets, n, ignore, loss, err) } {
        Ok(a) => a,
        Err(c) => return c,
    };
    let g = need!(unsafe { slice_mut(grad, n) }, "grad", err);
    if grad_scale.is_null() {
        return null(err, "grad_scale");
    }
    match t.loss_grad_quantized(q, y, ig, reduction(red, normalizer), g) {
        Ok(out) => {
            put(loss, out.loss);
            put(grad_scale, out.grad_scale);
            tl_code::TL_OK
        }
        Err(e) => fail(err, e),
    }
}

/// Dequantizes `n` `int8` codes: `out[i] = scale · (q[i] - zero_point)`.
///
/// # Safety
/// `q` and `out` valid for `n` elements, not overlapping.
#[no_mangle]
pub unsafe extern "C" fn tl_dequantize_i8(
    q: *const i8,
    n: usize,
    scale: f32,
    zero_point: i32,
    out: *mut f32,
    err: *mut tl_error,
) -> tl_code {
    // SAFETY (every block here): the header's contract on each pointer.
    let q8 = need!(unsafe { slice(q, n) }, "q", err);
    let o = need!(unsafe { slice_mut(out, n) }, "out", err);
    match quant(scale, zero_point).and_then(|qz| qz.dequantize_into(q8, o)) {
        Ok(()) => tl_code::TL_OK,
        Err(e) => fail(err, e),
    }
}

/// Re-quantizes `n` floats to `int8` with the per-tensor max-abs scale
/// (written to `*scale`): `out[i] = round(x[i] / scale)`, exactly rounded.
///
/// # Safety
/// `x` and `out` valid for `n` elements; `scale` valid.
#[no_mangle]
pub unsafe extern "C" fn tl_quantize_max_abs_i8(
    x: *const f32,
    n: usize,
    out: *mut i8,
    scale: *mut f32,
    err: *mut tl_error,
) -> tl_code {
    // SAFETY (every block here): the header's contract on each pointer.
    let xs = need!(unsafe { slice(x, n) }, "x", err);
    let o = need!(unsafe { slice_mut(out, n) }, "out", err);
    if scale.is_null() {
        return null(err, "scale");
    }
    match tinyloss::quant::quantize_max_abs(xs, o) {
        Ok(s) => {
            put(scale, s);
            tl_code::TL_OK
        }
        Err(e) => fail(err, e),
    }
}

/// Adds `n` labels to the per-class `counts` (`classes` entries,
/// saturating at `UINT32_MAX`), all or nothing.
///
/// # Safety
/// `counts` valid for `classes` writes, `labels` for `n` reads.
#[no_mangle]
pub unsafe extern "C" fn tl_count_classes(
    counts: *mut u32,
    classes: usize,
    labels: *const u32,
    n: usize,
    err: *mut tl_error,
) -> tl_code {
    // SAFETY (every block here): the header's contract on each pointer.
    let c = need!(unsafe { slice_mut(counts, classes) }, "counts", err);
    let l = need!(unsafe { slice(labels, n) }, "labels", err);
    match count(c, l) {
        Ok(()) => tl_code::TL_OK,
        Err(e) => fail(err, e),
    }
}

/// Class-balanced weights (effective number of samples, Cui et al. 2019)
/// of `classes` counts with `beta` in `[0, 1)`, into `out`.
///
/// # Safety
/// `counts` and `out` valid for `classes` elements.
#[no_mangle]
pub unsafe extern "C" fn tl_class_balanced_weights(
    counts: *const u32,
    classes: usize,
    beta: f32,
    norm: tl_normalize,
    out: *mut f32,
    err: *mut tl_error,
) -> tl_code {
    // SAFETY (every block here): the header's contract on each pointer.
    let c = need!(unsafe { slice(counts, classes) }, "counts", err);
    let o = need!(unsafe { slice_mut(out, classes) }, "out", err);
    match cb_weights(c, beta, norm, o) {
        Ok(()) => tl_code::TL_OK,
        Err(e) => fail(err, e),
    }
}
