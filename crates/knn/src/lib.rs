//! k-nearest-neighbour classifier of CS231n lecture 2: L1/L2 distances computed the
//! course's three ways, the majority (or distance-weighted) vote, k-fold
//! cross-validation, and a search over large sets in bounded memory.
//!
//! A program needs no dependency but `knn`: the crate re-exports [`ndarray`] (its
//! arrays in and out) and the [`Float`] bound (`f32` or `f64`). The example below
//! uses nothing else; `cargo run -p knn --example knn_quickstart` runs a longer one.
//!
//! ```
//! use knn::ndarray::array;
//! use knn::{KNearestNeighbor, Metric};
//!
//! let x_train = array![[0.0_f32, 0.0], [1.0, 0.0], [9.0, 9.0], [8.0, 9.0]];
//! let y_train = array![0, 0, 1, 1];
//! let mut knn = KNearestNeighbor::new();          // L2, majority vote
//! knn.train(x_train.view(), y_train.view()).unwrap();
//!
//! let x_test = array![[0.5, 0.5], [9.0, 8.0]];
//! // The course's way: a distance matrix, then the vote...
//! let dists = knn.compute_distances_no_loops(x_test.view()).unwrap();
//! assert_eq!(knn.predict_labels(dists.view(), 1).unwrap(), array![0, 1]);
//! // ...and the scalable way, which never holds the whole matrix.
//! assert_eq!(knn.predict(x_test.view(), 3).unwrap(), array![0, 1]);
//! ```

mod checks;
mod classifier;
mod cross_validation;
mod distances;
mod error;
mod neighbors;
mod select;

use std::fmt;
use std::str::FromStr;

pub use classifier::KNearestNeighbor;
pub use cross_validation::{
    COURSE_K_CHOICES, COURSE_NUM_FOLDS, CrossValidation, KAccuracy, accuracy, cross_validate,
};
pub use error::KnnError;
pub use neighbors::Neighbors;

// What the public signatures use, so that depending on `knn` alone is enough.
pub use ndarray;
pub use numeric::Float;

/// How far apart two images are.
///
/// L1 (Manhattan) sums absolute pixel differences; L2 (Euclidean) is the square root
/// of the summed squares, so it punishes one large difference more than many small
/// ones. L2 also has the GEMM identity that makes it fast.
///
/// ```
/// use knn::Metric;
/// assert_eq!("l1".parse::<Metric>().unwrap(), Metric::L1);
/// assert_eq!(Metric::L2.to_string(), "l2");
/// assert!("l3".parse::<Metric>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Metric {
    /// Σ|aᵢ − bᵢ|.
    L1,
    /// √Σ(aᵢ − bᵢ)², the course's default.
    #[default]
    L2,
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::L1 => "l1",
            Metric::L2 => "l2",
        })
    }
}

impl FromStr for Metric {
    type Err = KnnError;
    fn from_str(s: &str) -> Result<Self, KnnError> {
        match s.to_ascii_lowercase().as_str() {
            "l1" => Ok(Metric::L1),
            "l2" => Ok(Metric::L2),
            _ => Err(KnnError::UnknownMetric(s.to_owned())),
        }
    }
}

/// How the k nearest neighbours decide the label.
///
/// ```
/// assert_eq!(knn::Vote::default(), knn::Vote::Majority);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Vote {
    /// One vote each; ties to the smaller label (the course's `argmax(bincount)`).
    #[default]
    Majority,
    /// Each votes 1/distance, so nearer neighbours count more; neighbours at distance
    /// 0, if any, decide alone (scikit-learn's `weights='distance'`).
    Distance,
}
