//! Normalisation of convolutional activations (N, C, H, W): spatial batchnorm (one
//! mean and variance per channel) and group normalisation.

use ndarray::{Ix1, Ix4};
use numpy::IntoPyArray;
use pyo3::prelude::*;

use crate::arrays::{Dtype, array, by_dtype, check_dout, count, kind_of, positive};
use crate::cache::{Cache, Holds, Inner, cache};
use crate::conv::shape_error;
use crate::engine::{self, GroupNormCache, Mode, SpatialBatchNormCache};
use crate::layers::{bn_state, check_len};

/// `spatial_batchnorm_forward(x, gamma, beta, running_mean, running_var, momentum, eps,
/// train) -> (out, cache, running_mean, running_var)`.
#[pyfunction]
pub fn spatial_batchnorm_forward<'py>(
    x: &Bound<'py, PyAny>,
    gamma: &Bound<'py, PyAny>,
    beta: &Bound<'py, PyAny>,
    running_mean: &Bound<'py, PyAny>,
    running_var: &Bound<'py, PyAny>,
    momentum: f64,
    eps: f64,
    train: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let state = (running_mean, running_var, momentum, eps);
    by_dtype!(kind_of(x, "x")?, forward_bn(x, gamma, beta, state, train))
}

type State<'a, 'py> = (&'a Bound<'py, PyAny>, &'a Bound<'py, PyAny>, f64, f64);

fn forward_bn<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    gamma: &Bound<'py, PyAny>,
    beta: &Bound<'py, PyAny>,
    (running_mean, running_var, momentum, eps): State<'_, 'py>,
    train: bool,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<SpatialBatchNormCache<T>>,
{
    let py = x.py();
    let (x, gamma, beta) = (
        array::<T, Ix4>(x, "x")?,
        array::<T, Ix1>(gamma, "gamma")?,
        array::<T, Ix1>(beta, "beta")?,
    );
    let (x, gamma, beta) = (x.as_array(), gamma.as_array(), beta.as_array());
    let c = x.dim().1;
    check_len(
        &[("gamma", gamma.len()), ("beta", beta.len())],
        c,
        "channels",
    )?;
    let mut bn = bn_state::<T>(running_mean, running_var, momentum, eps, c)?;
    let mode = if train { Mode::Train } else { Mode::Test };
    let (out, cache) =
        py.detach(|| engine::spatial_batchnorm_forward(&x, &gamma, &beta, &mut bn, mode));
    let cache = Cache::new::<T, _>("spatial_batchnorm_forward", out.shape(), cache);
    Ok((
        out.into_pyarray(py),
        cache,
        bn.running_mean.into_pyarray(py),
        bn.running_var.into_pyarray(py),
    )
        .into_pyobject(py)?
        .into_any())
}

/// `spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)`.
#[pyfunction]
pub fn spatial_batchnorm_backward<'py>(
    dout: &Bound<'py, PyAny>,
    cache: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = self::cache(cache, "spatial_batchnorm_backward")?.get();
    by_dtype!(cache.kind(), backward_bn(dout, cache))
}

fn backward_bn<'py, T: Dtype>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: Holds<SpatialBatchNormCache<T>>,
{
    let py = dout.py();
    let c: &SpatialBatchNormCache<T> = cache.get("spatial_batchnorm_backward")?;
    let dout = array::<T, Ix4>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    let (dx, dgamma, dbeta) = py.detach(|| engine::spatial_batchnorm_backward(&dout, c));
    Ok((
        dx.into_pyarray(py),
        dgamma.into_pyarray(py),
        dbeta.into_pyarray(py),
    )
        .into_pyobject(py)?
        .into_any())
}

/// `spatial_groupnorm_forward(x, gamma, beta, G, eps) -> (out, cache)`, with `gamma`
/// and `beta` of C entries.
#[pyfunction]
#[allow(non_snake_case)]
pub fn spatial_groupnorm_forward<'py>(
    x: &Bound<'py, PyAny>,
    gamma: &Bound<'py, PyAny>,
    beta: &Bound<'py, PyAny>,
    G: i64,
    eps: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let eps = positive(eps, "eps")?;
    let groups = count(G, "G")?;
    by_dtype!(kind_of(x, "x")?, forward_gn(x, gamma, beta, groups, eps))
}

fn forward_gn<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    gamma: &Bound<'py, PyAny>,
    beta: &Bound<'py, PyAny>,
    groups: usize,
    eps: f64,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<GroupNormCache<T>>,
{
    let py = x.py();
    let (x, gamma, beta) = (
        array::<T, Ix4>(x, "x")?,
        array::<T, Ix1>(gamma, "gamma")?,
        array::<T, Ix1>(beta, "beta")?,
    );
    let (x, gamma, beta) = (x.as_array(), gamma.as_array(), beta.as_array());
    check_len(
        &[("gamma", gamma.len()), ("beta", beta.len())],
        x.dim().1,
        "channels",
    )?;
    let (out, c) = py
        .detach(|| engine::spatial_groupnorm_forward(&x, &gamma, &beta, groups, eps))
        .map_err(shape_error)?;
    let cache = Cache::new::<T, _>("spatial_groupnorm_forward", out.shape(), c);
    Ok((out.into_pyarray(py), cache).into_pyobject(py)?.into_any())
}

/// `spatial_groupnorm_backward(dout, cache) -> (dx, dgamma, dbeta)`, the parameter
/// gradients with C entries.
#[pyfunction]
pub fn spatial_groupnorm_backward<'py>(
    dout: &Bound<'py, PyAny>,
    cache: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = self::cache(cache, "spatial_groupnorm_backward")?.get();
    by_dtype!(cache.kind(), backward_gn(dout, cache))
}

fn backward_gn<'py, T: Dtype>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: Holds<GroupNormCache<T>>,
{
    let py = dout.py();
    let c: &GroupNormCache<T> = cache.get("spatial_groupnorm_backward")?;
    let dout = array::<T, Ix4>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    let (dx, dgamma, dbeta) = py.detach(|| engine::spatial_groupnorm_backward(&dout, c));
    Ok((
        dx.into_pyarray(py),
        dgamma.into_pyarray(py),
        dbeta.into_pyarray(py),
    )
        .into_pyobject(py)?
        .into_any())
}
