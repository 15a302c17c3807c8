//! Max pooling: the course's naive pair and the fast pair of `fast_layers.py`.
//!
//! The fast backward pass sends each window's gradient to the window's *first*
//! maximum (numpy's `argmax`, as the course's im2col path does). The course's reshape
//! path, which its `max_pool_forward_fast` picks for square tiling windows, splits the
//! gradient evenly among tied maxima instead. The two differ only on exact ties; after
//! a ReLU those are zeros, whose gradient the ReLU's backward pass discards anyway.

use ndarray::{Array4, ArrayView4, Ix4};
use pyo3::prelude::*;

use crate::arrays::{Dtype, array, by_dtype, count, kind_of};
use crate::cache::{FastPool, Inner};
use crate::conv::shape_error;
use crate::engine::{self, FastPoolCache, NnError, PoolCache, PoolParam};
use crate::glue::{backward_fn, out_and_cache};

fn pool_param(
    pool_height: &Bound<'_, PyAny>,
    pool_width: &Bound<'_, PyAny>,
    stride: &Bound<'_, PyAny>,
) -> PyResult<PoolParam> {
    Ok(PoolParam {
        pool_height: count(pool_height, "pool_height")?,
        pool_width: count(pool_width, "pool_width")?,
        stride: count(stride, "stride")?,
    })
}

/// `max_pool_forward_naive(x, pool_height, pool_width, stride) -> (out, cache)`.
#[pyfunction]
pub fn max_pool_forward_naive<'py>(
    x: &Bound<'py, PyAny>,
    pool_height: &Bound<'py, PyAny>,
    pool_width: &Bound<'py, PyAny>,
    stride: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let param = pool_param(pool_height, pool_width, stride)?;
    let made_by = "max_pool_forward_naive";
    by_dtype!(
        kind_of(x, "x")?,
        forward::<_, _>(x, made_by, |x| engine::max_pool_forward_naive(x, param))
    )
}

/// A forward pass of either pair: `x` as images of `T`, `pass` without the GIL.
fn forward<'py, T: Dtype, C: Send>(
    x: &Bound<'py, PyAny>,
    made_by: &'static str,
    pass: impl FnOnce(&ArrayView4<'_, T>) -> Result<(Array4<T>, C), NnError> + Send,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<C>,
{
    let py = x.py();
    let x = array::<T, Ix4>(x, "x")?;
    let x = x.as_array();
    let (out, c) = py.detach(|| pass(&x)).map_err(shape_error)?;
    out_and_cache::<T, _, _>(py, made_by, out, c)
}

backward_fn!(
    /// `max_pool_backward_naive(dout, cache) -> dx`.
    max_pool_backward_naive,
    Ix4,
    PoolCache,
    |dout, c| engine::max_pool_backward_naive(dout, c)
);

/// `max_pool_forward_fast(x, pool_height, pool_width, stride) -> (out, cache)`.
#[pyfunction]
pub fn max_pool_forward_fast<'py>(
    x: &Bound<'py, PyAny>,
    pool_height: &Bound<'py, PyAny>,
    pool_width: &Bound<'py, PyAny>,
    stride: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let param = pool_param(pool_height, pool_width, stride)?;
    let made_by = "max_pool_forward_fast";
    by_dtype!(
        kind_of(x, "x")?,
        forward::<_, _>(x, made_by, |x| engine::max_pool_forward_fast(x, param)
            .map(tagged))
    )
}

/// The fast pass's cache tagged with its output's element type.
fn tagged<T>((out, c): (Array4<T>, FastPoolCache)) -> (Array4<T>, FastPool<T>) {
    (out, FastPool::new(c))
}

backward_fn!(
    /// `max_pool_backward_fast(dout, cache) -> dx`.
    max_pool_backward_fast,
    Ix4,
    FastPool,
    |dout, c| engine::max_pool_backward_fast(dout, &c.0)
);
