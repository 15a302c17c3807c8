//! The typed errors of the training APIs.

use ndarray::ArrayView1;
use thiserror::Error;

/// What can be wrong with the input of [`crate::LinearClassifier::train`], the
/// prediction and the hyper-parameter searches. The loss functions themselves take
/// shapes and labels as their caller's invariant (they run thousands of times per
/// training); these checks run once, up front.
///
/// # Example
/// ```
/// use ndarray::{array, Array2};
/// let clf = linear::LinearClassifier::from_weights(linear::Loss::Svm, Array2::<f64>::zeros((3, 2)));
/// let err = clf.predict(&array![[1.0, 2.0]].view()).unwrap_err();
/// assert!(matches!(err, linear::LinearError::Shape(_)));
/// assert!(err.to_string().contains("bias trick"));
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LinearError {
    /// `X` and `y` (or `X` and `W`) do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A label is not a valid class index.
    #[error("label {label} at example {index} is out of range: there are {num_classes} classes")]
    Label {
        /// Position of the offending example.
        index: usize,
        /// Its label.
        label: usize,
        /// Number of classes (columns of `W`).
        num_classes: usize,
    },
    /// A hyper-parameter is unusable (zero batch, negative or non-finite rate, ...).
    #[error("invalid hyper-parameter: {0}")]
    HyperParameter(String),
    /// Nothing to train on, validate on, or search over.
    #[error("empty input: {0}")]
    Empty(String),
    /// A dataset name [`crate::defaults_for`] does not know.
    #[error(
        "no linear-classifier defaults for dataset {0:?} (known: cifar10, fashion-mnist, mnist, sample)"
    )]
    UnknownDataset(String),
}

/// Checks that every label is `< num_classes`, naming the first one that is not.
///
/// # Example
/// ```
/// use ndarray::array;
/// assert!(linear::check_labels(&array![0usize, 2].view(), 3).is_ok());
/// let err = linear::check_labels(&array![0usize, 3].view(), 3).unwrap_err();
/// assert_eq!(err.to_string(), "label 3 at example 1 is out of range: there are 3 classes");
/// ```
pub fn check_labels(y: &ArrayView1<usize>, num_classes: usize) -> Result<(), LinearError> {
    match y.iter().position(|&l| l >= num_classes) {
        Some(index) => Err(LinearError::Label {
            index,
            label: y[index],
            num_classes,
        }),
        None => Ok(()),
    }
}
