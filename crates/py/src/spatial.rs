//! Normalisation of convolutional activations (N, C, H, W): spatial batchnorm (one
//! mean and variance per channel) and group normalisation.

use ndarray::Ix4;
use pyo3::prelude::*;

use crate::arrays::{Dtype, by_dtype, count, kind_of, positive};
use crate::cache::Inner;
use crate::conv::shape_error;
use crate::engine::{self, GroupNormCache, SpatialBatchNormCache};
use crate::glue::{backward_fn, out_and_cache};
use crate::layers::{bn_forward_fn, scale_shift};

bn_forward_fn!(
    /// `spatial_batchnorm_forward(x, gamma, beta, running_mean, running_var, momentum, eps,
    /// train) -> (out, cache, running_mean, running_var)`.
    spatial_batchnorm_forward,
    Ix4,
    |x, g, b, bn, mode| engine::spatial_batchnorm_forward(x, g, b, bn, mode)
);

backward_fn!(
    /// `spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)`.
    spatial_batchnorm_backward,
    Ix4,
    SpatialBatchNormCache,
    |dout, c| engine::spatial_batchnorm_backward(dout, c)
);

/// `spatial_groupnorm_forward(x, gamma, beta, G, eps) -> (out, cache)`, with `gamma`
/// and `beta` of C entries.
#[pyfunction]
#[allow(non_snake_case)]
pub fn spatial_groupnorm_forward<'py>(
    x: &Bound<'py, PyAny>,
    gamma: &Bound<'py, PyAny>,
    beta: &Bound<'py, PyAny>,
    G: &Bound<'py, PyAny>,
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
    let (x, gamma, beta) = scale_shift::<T, Ix4>((x, gamma, beta))?;
    let (x, gamma, beta) = (x.as_array(), gamma.as_array(), beta.as_array());
    let (out, c) = py
        .detach(|| engine::spatial_groupnorm_forward(&x, &gamma, &beta, groups, eps))
        .map_err(shape_error)?;
    out_and_cache::<T, _, _>(py, "spatial_groupnorm_forward", out, c)
}

backward_fn!(
    /// `spatial_groupnorm_backward(dout, cache) -> (dx, dgamma, dbeta)`, the parameter
    /// gradients with C entries.
    spatial_groupnorm_backward,
    Ix4,
    GroupNormCache,
    |dout, c| engine::spatial_groupnorm_backward(dout, c)
);
