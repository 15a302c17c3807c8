//! [`KNearestNeighbor`]: training, the course's three distance functions and
//! `predict_labels`, and the vote over stored neighbours. The bounded-memory search
//! behind `kneighbors` and `predict` is in `kneighbors.rs`.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Zip};
use numeric::Float;

use crate::checks::{check_finite, check_k, check_training};
use crate::distances::{self, sq_norms};
use crate::select::{TopK, vote};
use crate::{KnnError, Metric, Neighbors, Vote};

mod kneighbors;

#[derive(Debug, Clone)]
struct Trained<T> {
    x: Array2<T>,
    y: Array1<usize>,
    /// ‖x_j‖² of every training row, computed once for all L2 searches.
    sq: Array1<T>,
}

/// The k-nearest-neighbour classifier of lecture 2: training memorises the data,
/// prediction votes among the k training examples nearest to each test example.
///
/// The metric and the vote rule are set when building; `train` and the course's
/// method names follow. Generic over `f32` and `f64`.
///
/// ```
/// use knn::{KNearestNeighbor, Metric};
/// use ndarray::array;
/// let x_train = array![[0.0_f32, 0.0], [0.0, 1.0], [5.0, 5.0], [6.0, 5.0]];
/// let y_train = array![0, 0, 1, 1];
/// let mut knn = KNearestNeighbor::new().with_metric(Metric::L1);
/// knn.train(x_train.view(), y_train.view()).unwrap();
/// let y_pred = knn.predict(array![[0.5, 0.2], [5.5, 4.0]].view(), 3).unwrap();
/// assert_eq!(y_pred, array![0, 1]);
/// ```
#[derive(Debug, Clone)]
pub struct KNearestNeighbor<T> {
    metric: Metric,
    vote: Vote,
    trained: Option<Trained<T>>,
}

impl<T: Float> Default for KNearestNeighbor<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> KNearestNeighbor<T> {
    /// An untrained classifier with the course's choices: L2 distance, majority vote.
    ///
    /// ```
    /// let knn = knn::KNearestNeighbor::<f64>::new();
    /// assert_eq!(knn.metric(), knn::Metric::L2);
    /// assert_eq!(knn.num_train(), 0);
    /// ```
    pub fn new() -> Self {
        Self {
            metric: Metric::L2,
            vote: Vote::Majority,
            trained: None,
        }
    }

    /// Uses `metric` for every distance.
    ///
    /// ```
    /// let knn = knn::KNearestNeighbor::<f32>::new().with_metric(knn::Metric::L1);
    /// assert_eq!(knn.metric(), knn::Metric::L1);
    /// ```
    pub fn with_metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// Uses `vote` to turn neighbours into a label.
    ///
    /// ```
    /// let knn = knn::KNearestNeighbor::<f32>::new().with_vote(knn::Vote::Distance);
    /// assert_eq!(knn.vote(), knn::Vote::Distance);
    /// ```
    pub fn with_vote(mut self, vote: Vote) -> Self {
        self.vote = vote;
        self
    }

    /// The distance in use.
    ///
    /// ```
    /// assert_eq!(knn::KNearestNeighbor::<f32>::default().metric(), knn::Metric::L2);
    /// ```
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The vote rule in use.
    ///
    /// ```
    /// assert_eq!(knn::KNearestNeighbor::<f32>::default().vote(), knn::Vote::Majority);
    /// ```
    pub fn vote(&self) -> Vote {
        self.vote
    }

    /// Memorises the training set: `x` is (num_train, D), `y` its labels.
    ///
    /// Copies `x`; use [`train_owned`](Self::train_owned) to hand over an array
    /// instead (half the memory for a large set).
    ///
    /// # Errors
    /// An empty set, a label count that is not the row count, a NaN or infinity.
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train(array![[1.0_f32, 2.0]].view(), array![7].view()).unwrap();
    /// assert_eq!(knn.num_train(), 1);
    /// assert!(knn.train(array![[1.0_f32, 2.0]].view(), array![7, 8].view()).is_err());
    /// ```
    pub fn train(
        &mut self,
        x: ArrayView2<'_, T>,
        y: ArrayView1<'_, usize>,
    ) -> Result<(), KnnError> {
        check_training(x, y)?;
        self.install(x.as_standard_layout().into_owned(), y.to_owned());
        Ok(())
    }

    /// [`train`](Self::train), taking ownership of the arrays instead of copying them.
    ///
    /// # Errors
    /// As [`train`](Self::train).
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train_owned(array![[1.0_f64], [2.0]], array![0, 1]).unwrap();
    /// assert_eq!(knn.num_train(), 2);
    /// ```
    pub fn train_owned(&mut self, x: Array2<T>, y: Array1<usize>) -> Result<(), KnnError> {
        check_training(x.view(), y.view())?;
        let x = if x.is_standard_layout() {
            x
        } else {
            x.as_standard_layout().into_owned()
        };
        self.install(x, y);
        Ok(())
    }

    fn install(&mut self, x: Array2<T>, y: Array1<usize>) {
        let sq = sq_norms(x.view());
        self.trained = Some(Trained { x, y, sq });
    }

    /// Number of memorised training examples (0 before training).
    ///
    /// ```
    /// assert_eq!(knn::KNearestNeighbor::<f64>::new().num_train(), 0);
    /// ```
    pub fn num_train(&self) -> usize {
        self.trained.as_ref().map_or(0, |t| t.x.nrows())
    }

    /// The memorised training rows and labels, if trained.
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train(array![[1.0_f64]].view(), array![3].view()).unwrap();
    /// let (x, y) = knn.training_set().unwrap();
    /// assert_eq!((x[[0, 0]], y[0]), (1.0, 3));
    /// ```
    pub fn training_set(&self) -> Option<(ArrayView2<'_, T>, ArrayView1<'_, usize>)> {
        self.trained.as_ref().map(|t| (t.x.view(), t.y.view()))
    }

    /// Distances from each test row to each training row, with two nested loops:
    /// the definition written out, slow, for checking the others.
    ///
    /// # Errors
    /// Untrained, a feature count other than the training one, a non-finite value.
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train(array![[0.0_f64, 0.0], [3.0, 4.0]].view(), array![0, 1].view()).unwrap();
    /// let dists = knn.compute_distances_two_loops(array![[0.0, 0.0]].view()).unwrap();
    /// assert_eq!(dists, array![[0.0, 5.0]]);
    /// ```
    pub fn compute_distances_two_loops(&self, x: ArrayView2<'_, T>) -> Result<Array2<T>, KnnError> {
        let t = self.check_test(x)?;
        Ok(distances::two_loops(x, t.x.view(), self.metric))
    }

    /// Distances with one loop over test rows, each row against all training rows at
    /// once by broadcasting.
    ///
    /// # Errors
    /// As [`compute_distances_two_loops`](Self::compute_distances_two_loops).
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new().with_metric(knn::Metric::L1);
    /// knn.train(array![[0.0_f64, 0.0], [3.0, 4.0]].view(), array![0, 1].view()).unwrap();
    /// let dists = knn.compute_distances_one_loop(array![[0.0, 0.0]].view()).unwrap();
    /// assert_eq!(dists, array![[0.0, 7.0]]);
    /// ```
    pub fn compute_distances_one_loop(&self, x: ArrayView2<'_, T>) -> Result<Array2<T>, KnnError> {
        let t = self.check_test(x)?;
        Ok(distances::one_loop(x, t.x.view(), self.metric))
    }

    /// Distances without explicit loops. L2: ‖a − b‖² = ‖a‖² − 2a·b + ‖b‖², the
    /// middle term for all pairs as ONE matrix product (GEMM), the squared norms
    /// broadcast from both sides, negatives from rounding clamped to 0 before the
    /// square root. L1 has no such identity: a blocked, SIMD, multi-threaded kernel.
    ///
    /// Materialises the whole (num_test, num_train) matrix; for large sets use
    /// [`predict`](Self::predict) or [`kneighbors`](Self::kneighbors), which do not.
    ///
    /// # Errors
    /// As [`compute_distances_two_loops`](Self::compute_distances_two_loops).
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train(array![[0.0_f64, 0.0], [3.0, 4.0]].view(), array![0, 1].view()).unwrap();
    /// let dists = knn.compute_distances_no_loops(array![[0.0, 0.0]].view()).unwrap();
    /// assert_eq!(dists, array![[0.0, 5.0]]);
    /// ```
    pub fn compute_distances_no_loops(&self, x: ArrayView2<'_, T>) -> Result<Array2<T>, KnnError> {
        let t = self.check_test(x)?;
        Ok(distances::no_loops(x, t.x.view(), t.sq.view(), self.metric))
    }

    /// Labels predicted from a distance matrix (rows: test, columns: training), as
    /// the course's `predict_labels(dists, k)`: the k smallest distances of each row
    /// by partial selection (not a full sort), then the vote.
    ///
    /// With the majority vote, ties go to the smaller label, as `np.argmax(np.bincount(..))`.
    /// Of equally distant training examples the earlier one counts as nearer.
    ///
    /// # Errors
    /// Untrained, a column count other than the training size, k out of 1..=num_train.
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train(array![[0.0_f64], [1.0], [2.0]].view(), array![5, 3, 3].view()).unwrap();
    /// let dists = array![[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]];
    /// assert_eq!(knn.predict_labels(dists.view(), 1).unwrap(), array![5, 3]);
    /// // One vote each for 5 and 3 at k = 2: the smaller label wins.
    /// assert_eq!(knn.predict_labels(dists.view(), 2).unwrap(), array![3, 3]);
    /// ```
    pub fn predict_labels(
        &self,
        dists: ArrayView2<'_, T>,
        k: usize,
    ) -> Result<Array1<usize>, KnnError> {
        let t = self.trained()?;
        if dists.ncols() != t.x.nrows() {
            return Err(KnnError::DistanceColumns {
                expected: t.x.nrows(),
                got: dists.ncols(),
            });
        }
        check_k(k, t.x.nrows())?;
        let y = t.y.as_slice().expect("owned labels are contiguous");
        let mut y_pred = Array1::zeros(dists.nrows());
        Zip::from(&mut y_pred)
            .and(dists.rows())
            .par_for_each(|pred, row| {
                let mut top = TopK::new(k);
                match row.as_slice() {
                    Some(r) => top.push_row(r, 0),
                    None => top.push_row(&row.to_vec(), 0),
                }
                *pred = vote(&top.finish(), y, self.vote);
            });
        Ok(y_pred)
    }

    /// Labels voted by the first `k` of the `neighbours` of each row (found by
    /// [`kneighbors`](Self::kneighbors) on this classifier, with at least k per row).
    ///
    /// # Errors
    /// Untrained; k zero or more than the neighbours stored.
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train(array![[0.0_f64], [1.0], [2.0]].view(), array![1, 0, 0].view()).unwrap();
    /// let nb = knn.kneighbors(array![[0.1]].view(), 3).unwrap();
    /// assert_eq!(knn.vote_labels(&nb, 1).unwrap(), array![1]);
    /// assert_eq!(knn.vote_labels(&nb, 3).unwrap(), array![0]);
    /// ```
    pub fn vote_labels(
        &self,
        neighbours: &Neighbors<T>,
        k: usize,
    ) -> Result<Array1<usize>, KnnError> {
        let t = self.trained()?;
        if k == 0 || k > neighbours.k() {
            return Err(KnnError::TooFewNeighbours {
                k,
                available: neighbours.k(),
            });
        }
        let y = t.y.as_slice().expect("owned labels are contiguous");
        let mut y_pred = Array1::zeros(neighbours.indices.nrows());
        Zip::from(&mut y_pred)
            .and(neighbours.indices.rows())
            .and(neighbours.distances.rows())
            .par_for_each(|pred, idx, dist| {
                let pairs: Vec<(T, usize)> = dist
                    .iter()
                    .copied()
                    .zip(idx.iter().copied())
                    .take(k)
                    .collect();
                *pred = vote(&pairs, y, self.vote);
            });
        Ok(y_pred)
    }

    /// Predicted labels of the rows of `x` with k neighbours, in bounded memory
    /// ([`kneighbors`](Self::kneighbors), then the vote).
    ///
    /// # Errors
    /// As [`kneighbors`](Self::kneighbors).
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train(array![[0.0_f32], [1.0], [9.0]].view(), array![0, 0, 1].view()).unwrap();
    /// assert_eq!(knn.predict(array![[8.0], [2.0]].view(), 1).unwrap(), array![1, 0]);
    /// ```
    pub fn predict(&self, x: ArrayView2<'_, T>, k: usize) -> Result<Array1<usize>, KnnError> {
        self.predict_with_progress(x, k, |_, _| {})
    }

    /// [`predict`](Self::predict) with `progress(done, total)` as in
    /// [`kneighbors_with_progress`](Self::kneighbors_with_progress).
    ///
    /// # Errors
    /// As [`kneighbors`](Self::kneighbors).
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train(array![[0.0_f32], [1.0]].view(), array![0, 1].view()).unwrap();
    /// let y = knn.predict_with_progress(array![[0.9]].view(), 1, |done, total| {
    ///     assert!(done <= total);
    /// }).unwrap();
    /// assert_eq!(y, array![1]);
    /// ```
    pub fn predict_with_progress<F>(
        &self,
        x: ArrayView2<'_, T>,
        k: usize,
        progress: F,
    ) -> Result<Array1<usize>, KnnError>
    where
        F: Fn(usize, usize) + Sync,
    {
        let nb = self.kneighbors_with_progress(x, k, progress)?;
        self.vote_labels(&nb, k)
    }

    fn trained(&self) -> Result<&Trained<T>, KnnError> {
        self.trained.as_ref().ok_or(KnnError::NotTrained)
    }

    fn check_test(&self, x: ArrayView2<'_, T>) -> Result<&Trained<T>, KnnError> {
        let t = self.trained()?;
        if x.ncols() != t.x.ncols() {
            return Err(KnnError::FeatureCount {
                what: "test",
                expected: t.x.ncols(),
                got: x.ncols(),
            });
        }
        check_finite(x, "test")?;
        Ok(t)
    }
}
