//! Convolution: the course's `conv_forward_naive` / `conv_backward_naive` and the fast
//! pair that `fast_layers.py` offers three ways (`_fast`, `_im2col`, `_strides`). All
//! fast variants run the engine's im2col + GEMM path, one image per thread, with the
//! GIL released; every forward returns the same kind of cache, so any backward pass
//! follows any forward pass, as in the course.

use ndarray::{Ix1, Ix4};
use pyo3::prelude::*;

use crate::arrays::{Dtype, array, by_dtype, check_pad, count, kind_of, value_error};
use crate::cache::Inner;
use crate::engine::{self, ConvCache, ConvParam, NnError};
use crate::glue::{backward_fn, out_and_cache};

/// The engine's shape error, worded as the course's assertions where it has them
/// (`'width does not work'`, `'Invalid height'`), followed by the sizes at fault.
pub fn shape_error(e: NnError) -> PyErr {
    match &e {
        NnError::NotWhole { layer, axis, .. } if *layer == "conv" => {
            value_error(format!("{axis} does not work: {e}"))
        }
        NnError::NotWhole { axis, .. } => value_error(format!("Invalid {axis}: {e}")),
        _ => value_error(e),
    }
}

/// `conv_forward_naive(x, w, b, stride, pad) -> (out, cache)`: the course's loops.
#[pyfunction]
pub fn conv_forward_naive<'py>(
    x: &Bound<'py, PyAny>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    stride: &Bound<'py, PyAny>,
    pad: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let param = ConvParam::new(count(stride, "stride")?, count(pad, "pad")?);
    by_dtype!(kind_of(x, "x")?, forward(x, w, b, param, false))
}

/// `conv_forward_fast(x, w, b, stride, pad) -> (out, cache)`: im2col + GEMM.
#[pyfunction]
pub fn conv_forward_fast<'py>(
    x: &Bound<'py, PyAny>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    stride: &Bound<'py, PyAny>,
    pad: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let param = ConvParam::new(count(stride, "stride")?, count(pad, "pad")?);
    by_dtype!(kind_of(x, "x")?, forward(x, w, b, param, true))
}

fn forward<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    param: ConvParam,
    fast: bool,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<ConvCache<T>>,
{
    let py = x.py();
    let (x, w, b) = (
        array::<T, Ix4>(x, "x")?,
        array::<T, Ix4>(w, "w")?,
        array::<T, Ix1>(b, "b")?,
    );
    let (x, w, b) = (x.as_array(), w.as_array(), b.as_array());
    let (f, _, hh, ww) = w.dim();
    if f == 0 {
        return Err(value_error("w has no filters: F of (F, C, HH, WW) is 0"));
    }
    if hh > 0 && ww > 0 {
        check_pad(param.pad, hh, ww)?;
    }
    let (out, cache) = py
        .detach(|| {
            if fast {
                engine::conv_forward_fast(&x, &w, &b, param)
            } else {
                engine::conv_forward_naive(&x, &w, &b, param)
            }
        })
        .map_err(shape_error)?;
    let made_by = if fast {
        "conv_forward_fast"
    } else {
        "conv_forward_naive"
    };
    out_and_cache::<T, _, _>(py, made_by, out, cache)
}

backward_fn!(
    /// `conv_backward_naive(dout, cache) -> (dx, dw, db)`.
    conv_backward_naive,
    Ix4,
    ConvCache,
    |dout, c| engine::conv_backward_naive(dout, c)
);

backward_fn!(
    /// `conv_backward_fast(dout, cache) -> (dx, dw, db)`.
    conv_backward_fast,
    Ix4,
    ConvCache,
    |dout, c| engine::conv_backward_fast(dout, c)
);
