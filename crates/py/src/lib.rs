//! `cs231n_rs`: the engine of cs231n-rs as a Python module, under the course's function
//! names, so that an assignment notebook switches to it with one import line.
//!
//! This crate is the native part, `cs231n_rs._native`: functions on numpy arrays
//! (float64 or float32, the first array's type deciding), with plain numbers where the
//! course passes parameter dicts. The Python package around it (`python/cs231n_rs`)
//! reads the dicts and keeps the course's signatures: `fast_layers`, `layers`,
//! `classifiers`. Every heavy call releases the GIL. Bad shapes, dtypes or parameters
//! raise `ValueError`.
//!
//! Files, one idea each: [`arrays`] (taking arrays in), [`cache`] (the opaque caches),
//! [`glue`] (what every layer wrapper does alike: results out, backward passes),
//! [`conv`], [`pool`], [`im2col`], [`layers`], [`spatial`], [`classifiers`], and
//! [`engine`], the one place that names the engine crates' items.

use pyo3::prelude::*;

pub mod arrays;
pub mod cache;
pub mod classifiers;
pub mod conv;
pub mod engine;
pub mod glue;
pub mod im2col;
pub mod layers;
pub mod pool;
pub mod spatial;

/// `set_threads(n) -> n`: the number of threads the engine computes with. Effective
/// when called first, before any computation (later calls change nothing); returns
/// the number in force. Without it: `RAYON_NUM_THREADS`, else one per core.
#[pyfunction]
fn set_threads(n: &Bound<'_, PyAny>) -> PyResult<usize> {
    Ok(engine::set_threads(arrays::count(n, "n")?))
}

/// `threads() -> n`: the number of threads the engine computes with.
#[pyfunction]
fn threads() -> usize {
    engine::threads()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<cache::Cache>()?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads, m)?)?;
    macro_rules! add {
        ($($module:ident::$f:ident),* $(,)?) => {
            $(m.add_function(wrap_pyfunction!($module::$f, m)?)?;)*
        };
    }
    add!(
        conv::conv_forward_naive,
        conv::conv_backward_naive,
        conv::conv_forward_fast,
        conv::conv_backward_fast,
        pool::max_pool_forward_naive,
        pool::max_pool_backward_naive,
        pool::max_pool_forward_fast,
        pool::max_pool_backward_fast,
        im2col::im2col_cython,
        im2col::col2im_cython,
        layers::affine_forward,
        layers::affine_backward,
        layers::relu_forward,
        layers::relu_backward,
        layers::dropout_forward,
        layers::dropout_backward,
        layers::batchnorm_forward,
        layers::batchnorm_backward,
        layers::layernorm_forward,
        layers::layernorm_backward,
        spatial::spatial_batchnorm_forward,
        spatial::spatial_batchnorm_backward,
        spatial::spatial_groupnorm_forward,
        spatial::spatial_groupnorm_backward,
        classifiers::compute_distances_no_loops,
        classifiers::predict_labels,
        classifiers::svm_loss_vectorized,
        classifiers::softmax_loss_vectorized,
        classifiers::svm_loss,
        classifiers::softmax_loss,
    );
    Ok(())
}
