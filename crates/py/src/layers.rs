//! The layer pairs of the course's `layers.py` that work on rows or on any shape:
//! affine, relu, dropout, batchnorm and layernorm. The Python wrapper reads the course's
//! parameter dicts (`bn_param`, `dropout_param`, ...) and passes plain values here.

use ndarray::{Array, ArrayView, ArrayView1, Dimension, Ix1, Ix2, IxDyn};
use numpy::{PyReadonlyArray, PyReadonlyArray1};
use pyo3::prelude::*;

use crate::arrays::{Dtype, array, by_dtype, kind_of, positive, value_error};
use crate::cache::{Affine, BatchNorm, Cache, Dropout, Inner, LayerNorm, Relu};
use crate::engine::{self, BatchNormParam, Mode};
use crate::glue::{ToPython, backward_fn, out_and_cache};

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
    out_and_cache::<T, _, _>(py, "affine_forward", out, c)
}

backward_fn!(
    /// `affine_backward(dout, cache) -> (dx, dw, db)`.
    affine_backward,
    Ix2,
    Affine,
    |dout, c| engine::affine_backward(dout, c)
);

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
    out_and_cache::<T, _, _>(py, "relu_forward", out, c)
}

backward_fn!(
    /// `relu_backward(dout, cache) -> dx`.
    relu_backward,
    IxDyn,
    Relu,
    |dout, c| engine::relu_backward(dout, c)
);

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
    out_and_cache::<T, _, _>(py, "dropout_forward", out, c)
}

backward_fn!(
    /// `dropout_backward(dout, cache) -> dx`.
    dropout_backward,
    IxDyn,
    Dropout,
    |dout, c| engine::dropout_backward(dout, c)
);

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

bn_forward_fn!(
    /// `batchnorm_forward(x, gamma, beta, running_mean, running_var, momentum, eps, train)
    /// -> (out, cache, running_mean, running_var)`.
    batchnorm_forward,
    Ix2,
    |x, g, b, bn, mode| {
        let (out, c) = engine::batchnorm_forward(x, g, b, bn, mode);
        (out, BatchNorm(c))
    }
);

/// `bn_param`'s running mean and variance, momentum and eps, as passed in.
pub type State<'a, 'py> = (&'a Bound<'py, PyAny>, &'a Bound<'py, PyAny>, f64, f64);

/// The three arrays of a normalisation: `x`, `gamma`, `beta`.
pub type ScaleShift<'py, T, D> = (
    PyReadonlyArray<'py, T, D>,
    PyReadonlyArray1<'py, T>,
    PyReadonlyArray1<'py, T>,
);

/// `x`, `gamma`, `beta` of a normalisation as arrays of `T`, `x` with `D` axes and
/// `gamma`, `beta` with one entry per feature (rows) or channel (images): axis 1.
pub fn scale_shift<'py, T: Dtype, D: Dimension>(
    (x, gamma, beta): (&Bound<'py, PyAny>, &Bound<'py, PyAny>, &Bound<'py, PyAny>),
) -> PyResult<ScaleShift<'py, T, D>> {
    let (x, gamma, beta) = (
        array::<T, D>(x, "x")?,
        array::<T, Ix1>(gamma, "gamma")?,
        array::<T, Ix1>(beta, "beta")?,
    );
    let what = if D::NDIM == Some(2) {
        "features"
    } else {
        "channels"
    };
    check_len(
        &[
            ("gamma", gamma.as_array().len()),
            ("beta", beta.as_array().len()),
        ],
        x.as_array().shape()[1],
        what,
    )?;
    Ok((x, gamma, beta))
}

/// Batchnorm's forward pass on rows or images (`D` axes, features on axis 1): the
/// arrays and `bn_param` checked, `pass` without the GIL, and
/// `(out, cache, running_mean, running_var)` back.
pub fn bn_forward<'py, T: Dtype, D: Dimension, C: Send>(
    made_by: &'static str,
    inputs: (&Bound<'py, PyAny>, &Bound<'py, PyAny>, &Bound<'py, PyAny>),
    (running_mean, running_var, momentum, eps): State<'_, 'py>,
    train: bool,
    pass: impl FnOnce(
        &ArrayView<'_, T, D>,
        &ArrayView1<'_, T>,
        &ArrayView1<'_, T>,
        &mut BatchNormParam<T>,
        Mode,
    ) -> (Array<T, D>, C)
    + Send,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<C>,
{
    let py = inputs.0.py();
    let (x, gamma, beta) = scale_shift::<T, D>(inputs)?;
    let (x, gamma, beta) = (x.as_array(), gamma.as_array(), beta.as_array());
    let mut bn = bn_state::<T>(running_mean, running_var, momentum, eps, x.shape()[1])?;
    let mode = if train { Mode::Train } else { Mode::Test };
    let (out, c) = py.detach(|| pass(&x, &gamma, &beta, &mut bn, mode));
    let cache = Cache::new::<T, _>(made_by, out.shape(), c);
    (out, cache, bn.running_mean, bn.running_var).to_python(py)
}

/// `#[pyfunction] $name(x, gamma, beta, running_mean, running_var, momentum, eps,
/// train)`: a batchnorm forward wrapper, of rows or of images (`$dim`), through
/// [`bn_forward`] with the engine call `$pass` (`|x, gamma, beta, bn, mode| ...`).
macro_rules! bn_forward_fn {
    ($(#[$doc:meta])* $name:ident, $dim:ty, $pass:expr) => {
        $(#[$doc])*
        #[pyfunction]
        pub fn $name<'py>(
            x: &Bound<'py, PyAny>,
            gamma: &Bound<'py, PyAny>,
            beta: &Bound<'py, PyAny>,
            running_mean: &Bound<'py, PyAny>,
            running_var: &Bound<'py, PyAny>,
            momentum: f64,
            eps: f64,
            train: bool,
        ) -> PyResult<Bound<'py, PyAny>> {
            use $crate::layers::bn_forward;
            let state = (running_mean, running_var, momentum, eps);
            let inputs = (x, gamma, beta);
            let (kind, made_by) = ($crate::arrays::kind_of(x, "x")?, stringify!($name));
            $crate::arrays::by_dtype!(
                kind,
                bn_forward::<_, $dim, _>(made_by, inputs, state, train, $pass)
            )
        }
    };
}
pub(crate) use bn_forward_fn;

backward_fn!(
    /// `batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)`.
    batchnorm_backward,
    Ix2,
    BatchNorm,
    |dout, c| engine::batchnorm_backward(dout, &c.0)
);

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
    let (x, gamma, beta) = scale_shift::<T, Ix2>((x, gamma, beta))?;
    let (x, gamma, beta) = (x.as_array(), gamma.as_array(), beta.as_array());
    let (out, c) = py.detach(|| engine::layernorm_forward(&x, &gamma, &beta, eps));
    out_and_cache::<T, _, _>(py, "layernorm_forward", out, LayerNorm(c))
}

backward_fn!(
    /// `layernorm_backward(dout, cache) -> (dx, dgamma, dbeta)`.
    layernorm_backward,
    Ix2,
    LayerNorm,
    |dout, c| engine::layernorm_backward(dout, &c.0)
);
