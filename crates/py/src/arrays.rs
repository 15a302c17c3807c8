//! Taking numpy arrays in: the element type (float64 or float32) is read from the
//! first array of a call and every other array must share it. Anything else (another
//! dtype, the wrong number of axes, a list instead of an array) is a `ValueError`
//! naming the argument, so a notebook user sees which input is at fault.

use std::fmt::Display;

use ndarray::Dimension;
use numpy::{
    Element, PyArray, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::engine::Float;

/// The element types the module computes in.
pub trait Dtype: Float + Element {
    /// Which one this is.
    const KIND: Kind;
}
impl Dtype for f64 {
    const KIND: Kind = Kind::F64;
}
impl Dtype for f32 {
    const KIND: Kind = Kind::F32;
}

/// Which of the two element types a call computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// float64, as the course's gradient checks need.
    F64,
    /// float32, as training runs.
    F32,
}

impl Kind {
    /// numpy's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            Kind::F64 => "float64",
            Kind::F32 => "float32",
        }
    }
}

/// Calls `$f::<f64>(args)` or `$f::<f32>(args)` as `$kind` says; written
/// `$f::<_, G, ...>(args)`, the element type fills the `_` and the other generic
/// arguments stay as given.
macro_rules! by_dtype {
    ($kind:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $kind {
            $crate::arrays::Kind::F64 => $f::<f64>($($arg),*),
            $crate::arrays::Kind::F32 => $f::<f32>($($arg),*),
        }
    };
    ($kind:expr, $f:ident ::<_ $(, $g:ty)+> ( $($arg:expr),* $(,)? )) => {
        match $kind {
            $crate::arrays::Kind::F64 => $f::<f64 $(, $g)+>($($arg),*),
            $crate::arrays::Kind::F32 => $f::<f32 $(, $g)+>($($arg),*),
        }
    };
}
pub(crate) use by_dtype;

/// A `ValueError` with this message.
pub fn value_error(message: impl Display) -> PyErr {
    PyValueError::new_err(message.to_string())
}

/// The element type of `obj`, which must be a float64 or float32 numpy array.
pub fn kind_of(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Kind> {
    if obj.cast::<PyArray<f64, ndarray::IxDyn>>().is_ok() {
        Ok(Kind::F64)
    } else if obj.cast::<PyArray<f32, ndarray::IxDyn>>().is_ok() {
        Ok(Kind::F32)
    } else {
        Err(value_error(format!(
            "{name} must be a float64 or float32 numpy array, got {}",
            describe(obj)
        )))
    }
}

/// `obj` as an array of `T` with `D`'s number of axes, or a `ValueError` saying what
/// was expected and what came.
pub fn array<'py, T: Element, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    let expected = || {
        let axes = D::NDIM.map_or(String::new(), |n| format!("{n}-D "));
        let dtype = T::get_dtype(obj.py());
        format!(
            "{name} must be a {axes}{dtype} numpy array, got {}",
            describe(obj)
        )
    };
    let array = obj
        .cast::<PyArray<T, D>>()
        .map_err(|_| value_error(expected()))?;
    array
        .try_readonly()
        .map_err(|e| value_error(format!("{name}: {e}")))
}

/// A 1-D array of class labels `y` (any integer dtype) as indices; negative labels
/// are a `ValueError`.
pub fn labels(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<ndarray::Array1<usize>> {
    let wrong = || {
        value_error(format!(
            "{name} must be a 1-D numpy array of integer labels, got {}",
            describe(obj)
        ))
    };
    let untyped = obj.cast::<PyUntypedArray>().map_err(|_| wrong())?;
    if untyped.ndim() != 1 || !matches!(untyped.dtype().kind(), b'i' | b'u') {
        return Err(wrong());
    }
    let as_i64 = obj.call_method1("astype", ("int64",))?;
    let y = array::<i64, ndarray::Ix1>(&as_i64, name)?;
    y.as_array()
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            usize::try_from(l)
                .map_err(|_| value_error(format!("{name}[{i}] = {l} is not a class index")))
        })
        .collect()
}

/// A non-negative count (stride, padding, window size, groups, k) from a Python int
/// of any size: anything else, negative or too large, is a `ValueError` naming it.
pub fn count(value: &Bound<'_, PyAny>, name: &str) -> PyResult<usize> {
    let whole = (!value.is_instance_of::<pyo3::types::PyBool>())
        .then(|| value.extract::<u64>().ok())
        .flatten()
        .and_then(|v| usize::try_from(v).ok());
    whole.ok_or_else(|| {
        let shown = value
            .repr()
            .map_or_else(|_| describe(value), |r| r.to_string());
        value_error(format!("{name} must be a whole number >= 0, got {shown}"))
    })
}

/// Padding must be smaller than the filter (or window) in both directions: wider
/// padding only adds outputs that see nothing but zeros, and a bound on it keeps the
/// output's size a function of the input arrays rather than of one number.
pub fn check_pad(pad: usize, hh: usize, ww: usize) -> PyResult<()> {
    if pad < hh && pad < ww {
        Ok(())
    } else {
        Err(value_error(format!(
            "pad {pad} must be smaller than the filter, {hh}×{ww}: wider padding adds only outputs that see nothing but zeros"
        )))
    }
}

/// A positive, finite `eps` (or other strictly positive parameter).
pub fn positive(value: f64, name: &str) -> PyResult<f64> {
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(value_error(format!("{name} must be positive, got {value}")))
    }
}

/// "float32 array of shape (2, 3)" or "list", for error messages.
pub fn describe(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<PyUntypedArray>() {
        Ok(a) => format!("{} array of shape {:?}", a.dtype(), a.shape()),
        Err(_) => obj
            .get_type()
            .name()
            .map_or_else(|_| "an object".into(), |n| n.to_string()),
    }
}

/// Checks that the upstream gradient has the layer's output shape (the engine's
/// backward passes take that as given).
pub fn check_dout(shape: &[usize], expected: &[usize]) -> PyResult<()> {
    if shape == expected {
        Ok(())
    } else {
        Err(value_error(format!(
            "dout has shape {shape:?} but the layer's output has shape {expected:?}"
        )))
    }
}
