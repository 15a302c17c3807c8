//! Max pooling: the course's naive pair and the fast pair of `fast_layers.py`.
//!
//! The fast backward pass sends each window's gradient to the window's *first*
//! maximum (numpy's `argmax`, as the course's im2col path does). The course's reshape
//! path, which its `max_pool_forward_fast` picks for square tiling windows, splits the
//! gradient evenly among tied maxima instead. The two differ only on exact ties; after
//! a ReLU those are zeros, whose gradient the ReLU's backward pass discards anyway.

use ndarray::Ix4;
use numpy::IntoPyArray;
use pyo3::prelude::*;

use crate::arrays::{Dtype, array, by_dtype, check_dout, count, kind_of};
use crate::cache::{Cache, FastPool, Holds, Inner, cache};
use crate::conv::shape_error;
use crate::engine::{self, PoolCache, PoolParam};

fn pool_param(pool_height: i64, pool_width: i64, stride: i64) -> PyResult<PoolParam> {
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
    pool_height: i64,
    pool_width: i64,
    stride: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let param = pool_param(pool_height, pool_width, stride)?;
    by_dtype!(kind_of(x, "x")?, forward_naive(x, param))
}

fn forward_naive<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    param: PoolParam,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<PoolCache<T>>,
{
    let py = x.py();
    let x = array::<T, Ix4>(x, "x")?;
    let x = x.as_array();
    let (out, c) = py
        .detach(|| engine::max_pool_forward_naive(&x, param))
        .map_err(shape_error)?;
    let cache = Cache::new::<T, _>("max_pool_forward_naive", out.shape(), c);
    Ok((out.into_pyarray(py), cache).into_pyobject(py)?.into_any())
}

/// `max_pool_backward_naive(dout, cache) -> dx`.
#[pyfunction]
pub fn max_pool_backward_naive<'py>(
    dout: &Bound<'py, PyAny>,
    cache: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = self::cache(cache, "max_pool_backward_naive")?.get();
    by_dtype!(cache.kind(), backward_naive(dout, cache))
}

fn backward_naive<'py, T: Dtype>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: Holds<PoolCache<T>>,
{
    let py = dout.py();
    let c: &PoolCache<T> = cache.get("max_pool_backward_naive")?;
    let dout = array::<T, Ix4>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    let dx = py.detach(|| engine::max_pool_backward_naive(&dout, c));
    Ok(dx.into_pyarray(py).into_any())
}

/// `max_pool_forward_fast(x, pool_height, pool_width, stride) -> (out, cache)`.
#[pyfunction]
pub fn max_pool_forward_fast<'py>(
    x: &Bound<'py, PyAny>,
    pool_height: i64,
    pool_width: i64,
    stride: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let param = pool_param(pool_height, pool_width, stride)?;
    by_dtype!(kind_of(x, "x")?, forward_fast(x, param))
}

fn forward_fast<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    param: PoolParam,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<FastPool<T>>,
{
    let py = x.py();
    let x = array::<T, Ix4>(x, "x")?;
    let x = x.as_array();
    let (out, c) = py
        .detach(|| engine::max_pool_forward_fast(&x, param))
        .map_err(shape_error)?;
    let cache = Cache::new::<T, _>("max_pool_forward_fast", out.shape(), FastPool::<T>::new(c));
    Ok((out.into_pyarray(py), cache).into_pyobject(py)?.into_any())
}

/// `max_pool_backward_fast(dout, cache) -> dx`.
#[pyfunction]
pub fn max_pool_backward_fast<'py>(
    dout: &Bound<'py, PyAny>,
    cache: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = self::cache(cache, "max_pool_backward_fast")?.get();
    by_dtype!(cache.kind(), backward_fast(dout, cache))
}

fn backward_fast<'py, T: Dtype>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: Holds<FastPool<T>>,
{
    let py = dout.py();
    let c: &FastPool<T> = cache.get("max_pool_backward_fast")?;
    let dout = array::<T, Ix4>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    let dx = py.detach(|| engine::max_pool_backward_fast(&dout, &c.0));
    Ok(dx.into_pyarray(py).into_any())
}
