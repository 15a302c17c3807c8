use thiserror::Error;

/// Everything that can be wrong with the inputs of the kNN classifier.
///
/// Each variant names the offending shape or value, so a caller can report it
/// as is.
///
/// ```
/// use knn::{KNearestNeighbor, KnnError};
/// use ndarray::array;
/// let knn = KNearestNeighbor::<f64>::new();
/// let err = knn.predict(array![[1.0, 2.0]].view(), 1).unwrap_err();
/// assert!(matches!(err, KnnError::NotTrained));
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
pub enum KnnError {
    /// A prediction or distance was asked for before `train`.
    #[error("the classifier is not trained: call train(x, y) first")]
    NotTrained,
    /// The training set has no rows, so there is no neighbour to find.
    #[error("the training set is empty")]
    EmptyTrainingSet,
    /// `x` and `y` of the training set disagree on the number of examples.
    #[error("the training set has {rows} rows but {labels} labels")]
    LabelCount {
        /// Rows of `x`.
        rows: usize,
        /// Length of `y`.
        labels: usize,
    },
    /// Test rows and training rows have different dimensions.
    #[error("the {what} rows have {got} features but the training rows have {expected}")]
    FeatureCount {
        /// Which input is at fault (`"test"`, `"validation"`).
        what: &'static str,
        /// Features per training row.
        expected: usize,
        /// Features per row of the offending input.
        got: usize,
    },
    /// A distance matrix whose number of columns is not the number of training rows.
    #[error("the distance matrix has {got} columns but there are {expected} training examples")]
    DistanceColumns {
        /// Number of training examples.
        expected: usize,
        /// Columns of the distance matrix passed in.
        got: usize,
    },
    /// A NaN or infinity in the data: distances to it would be meaningless.
    #[error("the {what} data holds a non-finite value ({value}) at row {row}, column {col}")]
    NonFinite {
        /// Which input is at fault (`"training"`, `"test"`).
        what: &'static str,
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value, widened to `f64`.
        value: f64,
    },
    /// `k` is zero or larger than the number of training examples.
    #[error(
        "k = {k} is out of range: it must be between 1 and the number of training examples ({num_train})"
    )]
    InvalidK {
        /// The `k` asked for.
        k: usize,
        /// Training examples available.
        num_train: usize,
    },
    /// Neighbours were asked to vote with more of them than were searched for.
    #[error("k = {k} but only {available} neighbours per row were searched for")]
    TooFewNeighbours {
        /// The `k` asked for.
        k: usize,
        /// Neighbours stored per row.
        available: usize,
    },
    /// Predictions and labels of different lengths.
    #[error("{predictions} predictions but {labels} labels")]
    PredictionCount {
        /// Length of the predictions.
        predictions: usize,
        /// Length of the labels.
        labels: usize,
    },
    /// Cross-validation needs at least 2 folds and no more folds than examples.
    #[error(
        "num_folds = {num_folds} is out of range: it must be between 2 and the number of examples ({num_examples})"
    )]
    InvalidFolds {
        /// The number of folds asked for.
        num_folds: usize,
        /// Examples available.
        num_examples: usize,
    },
    /// A metric name other than `l1` / `l2`.
    #[error("unknown metric {0:?}: expected \"l1\" or \"l2\"")]
    UnknownMetric(String),
    /// Cross-validation was given no value of `k` to try.
    #[error("k_choices is empty: give at least one k to cross-validate")]
    NoKChoices,
}
