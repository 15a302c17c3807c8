//! What a k-nearest search returns: the neighbours' indices and distances.

use ndarray::Array2;

/// The k nearest training examples of each test row, nearest first (ties: the earlier
/// training example first).
///
/// Searching once for the largest k and voting with prefixes is how cross-validation
/// tries every k for the price of one search.
///
/// ```
/// use knn::KNearestNeighbor;
/// use ndarray::array;
/// let mut knn = KNearestNeighbor::new();
/// knn.train(array![[0.0_f64], [10.0], [3.0]].view(), array![0, 1, 2].view()).unwrap();
/// let nb = knn.kneighbors(array![[4.0]].view(), 2).unwrap();
/// assert_eq!(nb.indices, array![[2, 0]]);
/// assert_eq!(nb.distances, array![[1.0, 4.0]]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbors<T> {
    /// (num_test, k): row index into the training set.
    pub indices: Array2<usize>,
    /// (num_test, k): the distances, in the classifier's metric (not squared).
    pub distances: Array2<T>,
}

impl<T> Neighbors<T> {
    /// Neighbours stored per test row.
    ///
    /// ```
    /// let nb = knn::Neighbors::<f32> { indices: ndarray::Array2::zeros((3, 5)),
    ///                                  distances: ndarray::Array2::zeros((3, 5)) };
    /// assert_eq!(nb.k(), 5);
    /// ```
    pub fn k(&self) -> usize {
        self.indices.ncols()
    }
}
