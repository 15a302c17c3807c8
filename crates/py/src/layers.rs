//! The layer pairs of the course's `layers.py` that work on rows or on any shape:
//! affine, relu, dropout, batchnorm and layernorm. The Python wrapper reads the course's
//! parameter dicts (`bn_param`, `dropout_param`, ...) and passes plain values here.

use ndarray::{Array1, Ix1, Ix2, IxDyn};
use numpy::IntoPyArray;
use pyo3::prelude::*;

use crate::arrays::{Dtype, array, by_dtype, check_dout, kind_of, positive, value_error};
use crate::cache::{Affine, BatchNorm, Cache, Dropout, Holds, Inner, LayerNorm, Relu, cache};
use crate::engine::{self, BatchNormParam, Mode};

/// Checks that every 1-D parameter has `d` entries, naming the first that does not.
pub fn check_len(params: &[(&str, usize)], d: usize, what: &str) -> PyResult<()> {
    match params.iter().find(|(_, len)| *len != d) {
        Some((name, len)) => Err(value_error(format!(
            "{name} has {len} entries but x has {d} {what}"
        ))),
        None => Ok(()),
    }
}

/// `affine_forward(x, w, b) -> (out, cache)`: x (N, d1, ..., dk) flattened to rows.
#[pyfunction]
pub fn affine_forward<'py>(
    x: &Bound<'py, PyAny>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(kind_of(x, "x")?, affine_forward_t(x, w, b))
}

fn affine_forward_t<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<Affine<T>>,
{
    let py = x.py();
    let (x, w, b) = (
        array::<T, IxDyn>(x, "x")?,
        array::<T, Ix2>(w, "w")?,
        array::<T, Ix1>(b, "b")?,
    );
    let (x, w, b) = (x.as_array(), w.as_array(), b.as_array());
    if x.ndim() == 0 {
        return Err(value_error("x must have a batch axis, got a 0-D array"));
    }
    let d: usize = x.shape()[1..].iter().product();
    if d != w.nrows() || b.len() != w.ncols() {
        return Err(value_error(format!(
            "affine: x of shape {:?} has {d} features per example, w is {:?} (D, M), b has {} entries",
            x.shape(),
            w.shape(),
            b.len()
        )));
    }
    // The cache owns copies of x and w: Python may change its arrays before the
    // backward pass.
    let (out, c) = py.detach(|| engine::affine_forward(x.to_owned(), w.to_owned(), &b));
    let cache = Cache::new::<T, _>("affine_forward", out.shape(), c);
    Ok((out.into_pyarray(py), cache).into_pyobject(py)?.into_any())
}

/// `affine_backward(dout, cache) -> (dx, dw, db)`.
#[pyfunction]
pub fn affine_backward<'py>(
    dout: &Bound<'py, PyAny>,
    cache: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = self::cache(cache, "affine_backward")?.get();
    by_dtype!(cache.kind(), affine_backward_t(dout, cache))
}

fn affine_backward_t<'py, T: Dtype>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: Holds<Affine<T>>,
{
    let py = dout.py();
    let c: &Affine<T> = cache.get("affine_backward")?;
    let dout = array::<T, Ix2>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    let (dx, dw, db) = py.detach(|| engine::affine_backward(&dout, c));
    Ok((
        dx.into_pyarray(py),
        dw.into_pyarray(py),
        db.into_pyarray(py),
    )
        .into_pyobject(py)?
        .into_any())
}

/// `relu_forward(x) -> (out, cache)`, any shape.
#[pyfunction]
pub fn relu_forward<'py>(x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(kind_of(x, "x")?, relu_forward_t(x))
}

fn relu_forward_t<'py, T: Dtype>(x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<Relu<T>>,
{
    let py = x.py();
    let x = array::<T, IxDyn>(x, "x")?;
    let x = x.as_array();
    let (out, c) = py.detach(|| engine::relu_forward(&x));
    let cache = Cache::new::<T, _>("relu_forward", out.shape(), c);
    Ok((out.into_pyarray(py), cache).into_pyobject(py)?.into_any())
}

/// `relu_backward(dout, cache) -> dx`.
#[pyfunction]
pub fn relu_backward<'py>(
    dout: &Bound<'py, PyAny>,
    cache: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = self::cache(cache, "relu_backward")?.get();
    by_dtype!(cache.kind(), relu_backward_t(dout, cache))
}

fn relu_backward_t<'py, T: Dtype>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: Holds<Relu<T>>,
{
    let py = dout.py();
    let c: &Relu<T> = cache.get("relu_backward")?;
    let dout = array::<T, IxDyn>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    let dx = py.detach(|| engine::relu_backward(&dout, c));
    Ok(dx.into_pyarray(py).into_any())
}

/// `dropout_forward(x, p, train, seed) -> (out, cache)`: inverted dropout keeping each
/// unit with probability `p`; the mask comes from the engine's generator seeded with
/// `seed`.
#[pyfunction]
pub fn dropout_forward<'py>(
    x: &Bound<'py, PyAny>,
    p: f64,
    train: bool,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    if !(p > 0.0 && p <= 1.0) {
        return Err(value_error(format!(
            "dropout_param['p'] is the probability of keeping a unit and must be in (0, 1], got {p}"
        )));
    }
    by_dtype!(kind_of(x, "x")?, dropout_forward_t(x, p, train, seed))
}

fn dropout_forward_t<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    p: f64,
    train: bool,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<Dropout<T>>,
{
    let py = x.py();
    let x = array::<T, IxDyn>(x, "x")?;
    let x = x.as_array();
    let mode = if train { Mode::Train } else { Mode::Test };
    let (out, c) = py.detach(|| engine::dropout_forward(&x, p, mode, &mut engine::rng(seed)));
    let cache = Cache::new::<T, _>("dropout_forward", out.shape(), c);
    Ok((out.into_pyarray(py), cache).into_pyobject(py)?.into_any())
}

/// `dropout_backward(dout, cache) -> dx`.
#[pyfunction]
pub fn dropout_backward<'py>(
    dout: &Bound<'py, PyAny>,
    cache: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = self::cache(cache, "dropout_backward")?.get();
    by_dtype!(cache.kind(), dropout_backward_t(dout, cache))
}

fn dropout_backward_t<'py, T: Dtype>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: Holds<Dropout<T>>,
{
    let py = dout.py();
    let c: &Dropout<T> = cache.get("dropout_backward")?;
    let dout = array::<T, IxDyn>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    let dx = py.detach(|| engine::dropout_backward(&dout, c));
    Ok(dx.into_pyarray(py).into_any())
}

/// The batchnorm state passed in from `bn_param`, checked against `d` features.
pub fn bn_state<T: Dtype>(
    running_mean: &Bound<'_, PyAny>,
    running_var: &Bound<'_, PyAny>,
    momentum: f64,
    eps: f64,
    d: usize,
) -> PyResult<BatchNormParam<T>> {
    let mean = array::<T, Ix1>(running_mean, "bn_param['running_mean']")?;
    let var = array::<T, Ix1>(running_var, "bn_param['running_var']")?;
    check_len(
        &[
            ("bn_param['running_mean']", mean.as_array().len()),
            ("bn_param['running_var']", var.as_array().len()),
        ],
        d,
        "features",
    )?;
    let eps = positive(eps, "eps")?;
    Ok(BatchNormParam {
        running_mean: mean.as_array().to_owned(),
        running_var: var.as_array().to_owned(),
        momentum,
        eps,
    })
}

/// `batchnorm_forward(x, gamma, beta, running_mean, running_var, momentum, eps, train)
/// -> (out, cache, running_mean, running_var)`.
#[pyfunction]
pub fn batchnorm_forward<'py>(
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
    by_dtype!(
        kind_of(x, "x")?,
        batchnorm_forward_t(x, gamma, beta, state, train)
    )
}

type State<'a, 'py> = (&'a Bound<'py, PyAny>, &'a Bound<'py, PyAny>, f64, f64);

fn batchnorm_forward_t<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    gamma: &Bound<'py, PyAny>,
    beta: &Bound<'py, PyAny>,
    (running_mean, running_var, momentum, eps): State<'_, 'py>,
    train: bool,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<BatchNorm<T>>,
{
    let py = x.py();
    let (x, gamma, beta) = (
        array::<T, Ix2>(x, "x")?,
        array::<T, Ix1>(gamma, "gamma")?,
        array::<T, Ix1>(beta, "beta")?,
    );
    let (x, gamma, beta) = (x.as_array(), gamma.as_array(), beta.as_array());
    let d = x.ncols();
    check_len(
        &[("gamma", gamma.len()), ("beta", beta.len())],
        d,
        "features",
    )?;
    let mut bn = bn_state::<T>(running_mean, running_var, momentum, eps, d)?;
    let mode = if train { Mode::Train } else { Mode::Test };
    let (out, c) = py.detach(|| engine::batchnorm_forward(&x, &gamma, &beta, &mut bn, mode));
    let cache = Cache::new::<T, _>("batchnorm_forward", out.shape(), BatchNorm(c));
    let (mean, var): (Array1<T>, Array1<T>) = (bn.running_mean, bn.running_var);
    Ok((
        out.into_pyarray(py),
        cache,
        mean.into_pyarray(py),
        var.into_pyarray(py),
    )
        .into_pyobject(py)?
        .into_any())
}

/// `batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)`.
#[pyfunction]
pub fn batchnorm_backward<'py>(
    dout: &Bound<'py, PyAny>,
    cache: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = self::cache(cache, "batchnorm_backward")?.get();
    by_dtype!(cache.kind(), batchnorm_backward_t(dout, cache))
}

fn batchnorm_backward_t<'py, T: Dtype>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: Holds<BatchNorm<T>>,
{
    let py = dout.py();
    let c: &BatchNorm<T> = cache.get("batchnorm_backward")?;
    let dout = array::<T, Ix2>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    let (dx, dgamma, dbeta) = py.detach(|| engine::batchnorm_backward(&dout, &c.0));
    Ok((
        dx.into_pyarray(py),
        dgamma.into_pyarray(py),
        dbeta.into_pyarray(py),
    )
        .into_pyobject(py)?
        .into_any())
}

/// `layernorm_forward(x, gamma, beta, eps) -> (out, cache)`.
#[pyfunction]
pub fn layernorm_forward<'py>(
    x: &Bound<'py, PyAny>,
    gamma: &Bound<'py, PyAny>,
    beta: &Bound<'py, PyAny>,
    eps: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let eps = positive(eps, "eps")?;
    by_dtype!(kind_of(x, "x")?, layernorm_forward_t(x, gamma, beta, eps))
}

fn layernorm_forward_t<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    gamma: &Bound<'py, PyAny>,
    beta: &Bound<'py, PyAny>,
    eps: f64,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<LayerNorm<T>>,
{
    let py = x.py();
    let (x, gamma, beta) = (
        array::<T, Ix2>(x, "x")?,
        array::<T, Ix1>(gamma, "gamma")?,
        array::<T, Ix1>(beta, "beta")?,
    );
    let (x, gamma, beta) = (x.as_array(), gamma.as_array(), beta.as_array());
    check_len(
        &[("gamma", gamma.len()), ("beta", beta.len())],
        x.ncols(),
        "features",
    )?;
    let (out, c) = py.detach(|| engine::layernorm_forward(&x, &gamma, &beta, eps));
    let cache = Cache::new::<T, _>("layernorm_forward", out.shape(), LayerNorm(c));
    Ok((out.into_pyarray(py), cache).into_pyobject(py)?.into_any())
}

/// `layernorm_backward(dout, cache) -> (dx, dgamma, dbeta)`.
#[pyfunction]
pub fn layernorm_backward<'py>(
    dout: &Bound<'py, PyAny>,
    cache: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let cache = self::cache(cache, "layernorm_backward")?.get();
    by_dtype!(cache.kind(), layernorm_backward_t(dout, cache))
}

fn layernorm_backward_t<'py, T: Dtype>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: Holds<LayerNorm<T>>,
{
    let py = dout.py();
    let c: &LayerNorm<T> = cache.get("layernorm_backward")?;
    let dout = array::<T, Ix2>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    let (dx, dgamma, dbeta) = py.detach(|| engine::layernorm_backward(&dout, &c.0));
    Ok((
        dx.into_pyarray(py),
        dgamma.into_pyarray(py),
        dbeta.into_pyarray(py),
    )
        .into_pyobject(py)?
        .into_any())
}
