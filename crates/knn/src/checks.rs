//! The classifier's input checks: one typed error naming the set, row and value at
//! fault, before any search starts.

use ndarray::{ArrayView1, ArrayView2};
use numeric::Float;

use crate::KnnError;

pub(crate) fn check_training<T: Float>(
    x: ArrayView2<'_, T>,
    y: ArrayView1<'_, usize>,
) -> Result<(), KnnError> {
    if x.nrows() != y.len() {
        return Err(KnnError::LabelCount {
            rows: x.nrows(),
            labels: y.len(),
        });
    }
    if x.nrows() == 0 {
        return Err(KnnError::EmptyTrainingSet);
    }
    check_finite(x, "training")
}

pub(crate) fn check_finite<T: Float>(
    x: ArrayView2<'_, T>,
    what: &'static str,
) -> Result<(), KnnError> {
    // A fold over all values vectorises; the position is only looked for on failure.
    if x.iter().fold(true, |ok, v| ok & v.is_finite()) {
        return Ok(());
    }
    let ((row, col), v) = x
        .indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .expect("a non-finite value");
    Err(KnnError::NonFinite {
        what,
        row,
        col,
        value: v.as_f64(),
    })
}

pub(crate) fn check_k(k: usize, num_train: usize) -> Result<(), KnnError> {
    if k == 0 || k > num_train {
        return Err(KnnError::InvalidK { k, num_train });
    }
    Ok(())
}
