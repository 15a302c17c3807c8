//! The classifiers of assignment 1 that a notebook calls in its inner loops: kNN's
//! distance matrix and vote, and the vectorised SVM and softmax losses, plus the
//! score-level losses of `layers.py` (`svm_loss(x, y)`, `softmax_loss(x, y)`).

use ndarray::{Array2, Ix2};
use numpy::IntoPyArray;
use pyo3::prelude::*;

use crate::arrays::{Dtype, array, by_dtype, count, kind_of, labels, value_error};
use crate::engine::{self, KNearestNeighbor};

/// `compute_distances_no_loops(X_train, X_test) -> dists` (num_test, num_train): L2
/// distances through one GEMM, `‖a‖² + ‖b‖² − 2·a·b`.
#[pyfunction]
#[allow(non_snake_case)]
pub fn compute_distances_no_loops<'py>(
    X_train: &Bound<'py, PyAny>,
    X_test: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(kind_of(X_train, "X_train")?, distances(X_train, X_test))
}

fn distances<'py, T: Dtype>(
    x_train: &Bound<'py, PyAny>,
    x_test: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x_train.py();
    let (train, test) = (
        array::<T, Ix2>(x_train, "X_train")?,
        array::<T, Ix2>(x_test, "X_test")?,
    );
    let (train, test) = (train.as_array(), test.as_array());
    let dists = py
        .detach(|| {
            let mut knn = KNearestNeighbor::new();
            knn.train(train, ndarray::Array1::zeros(train.nrows()).view())?;
            knn.compute_distances_no_loops(test)
        })
        .map_err(value_error)?;
    Ok(dists.into_pyarray(py).into_any())
}

/// `predict_labels(dists, y_train, k=1) -> y_pred`: the majority label among the `k`
/// nearest training examples of each test row, ties to the smaller label.
#[pyfunction]
#[pyo3(signature = (dists, y_train, k = 1))]
pub fn predict_labels<'py>(
    dists: &Bound<'py, PyAny>,
    y_train: &Bound<'py, PyAny>,
    k: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let k = count(k, "k")?;
    by_dtype!(kind_of(dists, "dists")?, vote(dists, y_train, k))
}

fn vote<'py, T: Dtype>(
    dists: &Bound<'py, PyAny>,
    y_train: &Bound<'py, PyAny>,
    k: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let py = dists.py();
    let y = labels(y_train, "y_train")?;
    let dists = array::<T, Ix2>(dists, "dists")?;
    let dists = dists.as_array();
    let y_pred = py
        .detach(|| {
            // The vote reads only the labels: the training rows need no features.
            let mut knn = KNearestNeighbor::<T>::new();
            knn.train_owned(Array2::zeros((y.len(), 0)), y)?;
            knn.predict_labels(dists, k)
        })
        .map_err(value_error)?;
    Ok(y_pred.mapv(|l| l as i64).into_pyarray(py).into_any())
}

/// `svm_loss_vectorized(W, X, y, reg) -> (loss, dW)`.
#[pyfunction]
#[allow(non_snake_case)]
pub fn svm_loss_vectorized<'py>(
    W: &Bound<'py, PyAny>,
    X: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    reg: f64,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(kind_of(W, "W")?, linear_loss(W, X, y, reg, true))
}

/// `softmax_loss_vectorized(W, X, y, reg) -> (loss, dW)`.
#[pyfunction]
#[allow(non_snake_case)]
pub fn softmax_loss_vectorized<'py>(
    W: &Bound<'py, PyAny>,
    X: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    reg: f64,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(kind_of(W, "W")?, linear_loss(W, X, y, reg, false))
}

fn linear_loss<'py, T: Dtype>(
    w: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    reg: f64,
    svm: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = w.py();
    let y = labels(y, "y")?;
    let (w, x) = (array::<T, Ix2>(w, "W")?, array::<T, Ix2>(x, "X")?);
    let (w, x) = (w.as_array(), x.as_array());
    if x.ncols() != w.nrows() || x.nrows() != y.len() {
        return Err(value_error(format!(
            "X is {:?} (N, D), W is {:?} (D, C) and y has {} labels",
            x.shape(),
            w.shape(),
            y.len()
        )));
    }
    engine::check_labels(&y.view(), w.ncols()).map_err(value_error)?;
    let reg = T::cast(reg);
    let (loss, dw) = py.detach(|| {
        if svm {
            engine::svm_loss_vectorized(&w, &x, &y.view(), reg)
        } else {
            engine::softmax_loss_vectorized(&w, &x, &y.view(), reg)
        }
    });
    Ok((loss.as_f64(), dw.into_pyarray(py))
        .into_pyobject(py)?
        .into_any())
}

/// `svm_loss(x, y) -> (loss, dx)` on class scores `x` (N, C).
#[pyfunction]
pub fn svm_loss<'py>(x: &Bound<'py, PyAny>, y: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(kind_of(x, "x")?, score_loss(x, y, true))
}

/// `softmax_loss(x, y) -> (loss, dx)` on class scores `x` (N, C).
#[pyfunction]
pub fn softmax_loss<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(kind_of(x, "x")?, score_loss(x, y, false))
}

fn score_loss<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    svm: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x.py();
    let y = labels(y, "y")?;
    let x = array::<T, Ix2>(x, "x")?;
    let x = x.as_array();
    if x.nrows() != y.len() || x.nrows() == 0 {
        return Err(value_error(format!(
            "x has shape {:?} (N, C) but y has {} labels",
            x.shape(),
            y.len()
        )));
    }
    engine::check_labels(&y.view(), x.ncols()).map_err(value_error)?;
    let (loss, dx) = py.detach(|| {
        if svm {
            engine::svm_loss(&x, &y.view())
        } else {
            engine::softmax_loss(&x, &y.view())
        }
    });
    Ok((loss.as_f64(), dx.into_pyarray(py))
        .into_pyobject(py)?
        .into_any())
}
