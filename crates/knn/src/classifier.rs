use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip, s};
use numeric::Float;
use rayon::prelude::*;

use crate::checks::{check_finite, check_k, check_training};
use crate::distances::{self, l1_block, sq_norms};
use crate::select::{TopK, vote};
use crate::{KnnError, Metric, Neighbors, Vote};

/// Test rows per chunk of [`KNearestNeighbor::kneighbors`]: the GEMM's M, large
/// enough for a threaded GEMM to run near peak.
const CHUNK_ROWS: usize = 1024;
/// Training rows per distance block: with `CHUNK_ROWS` this bounds the one block at
/// 1 024 × 8 192 values (32 MiB in `f32`) whatever the sizes.
const TILE_COLS: usize = 8192;
/// Test rows per parallel task of the L1 kernel inside a chunk: each training row
/// fetched from L3 serves 64 test rows, and a 1 024-row chunk still makes 16 tasks.
const L1_SUB_ROWS: usize = 64;

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

    /// The k nearest training examples of every row of `x`, in bounded memory.
    ///
    /// Test rows go in chunks of up to 1 024; each chunk's distances are computed
    /// against tiles of 8 192 training rows (in parallel: threaded GEMM for L2, row
    /// blocks for L1) and only a top-k per row is kept, so memory is
    /// O(1 024 × 8 192 + num_test × k) whatever the sizes: the full test × train matrix
    /// never exists.
    ///
    /// # Errors
    /// Untrained, a feature count other than the training one, a non-finite value,
    /// k out of 1..=num_train.
    ///
    /// ```
    /// use ndarray::array;
    /// let mut knn = knn::KNearestNeighbor::new().with_metric(knn::Metric::L1);
    /// knn.train(array![[0.0_f32, 0.0], [1.0, 1.0], [4.0, 4.0]].view(), array![0, 0, 1].view()).unwrap();
    /// let nb = knn.kneighbors(array![[3.0, 3.0]].view(), 2).unwrap();
    /// assert_eq!(nb.indices, array![[2, 1]]);
    /// assert_eq!(nb.distances, array![[2.0, 4.0]]);
    /// ```
    pub fn kneighbors(&self, x: ArrayView2<'_, T>, k: usize) -> Result<Neighbors<T>, KnnError> {
        self.kneighbors_with_progress(x, k, |_, _| {})
    }

    /// [`kneighbors`](Self::kneighbors), calling `progress(done, total)` (test rows)
    /// after each chunk. Calls are serialised and `done` only grows, so a progress bar
    /// can take the values as they come.
    ///
    /// # Errors
    /// As [`kneighbors`](Self::kneighbors).
    ///
    /// ```
    /// use ndarray::array;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let mut knn = knn::KNearestNeighbor::new();
    /// knn.train(array![[0.0_f64], [1.0]].view(), array![0, 1].view()).unwrap();
    /// let last = AtomicUsize::new(0);
    /// knn.kneighbors_with_progress(array![[0.2], [0.9]].view(), 1, |done, total| {
    ///     assert_eq!(total, 2);
    ///     last.store(done, Ordering::Relaxed);
    /// }).unwrap();
    /// assert_eq!(last.load(Ordering::Relaxed), 2);
    /// ```
    pub fn kneighbors_with_progress<F>(
        &self,
        x: ArrayView2<'_, T>,
        k: usize,
        progress: F,
    ) -> Result<Neighbors<T>, KnnError>
    where
        F: Fn(usize, usize) + Sync,
    {
        let t = self.check_test(x)?;
        check_k(k, t.x.nrows())?;
        let n = x.nrows();
        let mut nb = Neighbors {
            indices: Array2::zeros((n, k)),
            distances: Array2::zeros((n, k)),
        };
        if n == 0 {
            return Ok(nb);
        }
        let x = x.as_standard_layout();
        let x_sq = match self.metric {
            Metric::L2 => sq_norms(x.view()),
            Metric::L1 => Array1::zeros(n),
        };
        let (rows, tile) = (CHUNK_ROWS.min(n), TILE_COLS.min(t.x.nrows()));
        self.search(
            t,
            x.view(),
            x_sq.view(),
            k,
            (rows, tile),
            &mut nb,
            &progress,
        );
        Ok(nb)
    }

    /// Chunk by chunk of test rows, tile by tile of training rows: a block of
    /// distances, then a running top-k per row.
    ///
    /// Chunks run one after another and the work inside each is parallel: L2's GEMM
    /// threads itself (this runs outside rayon) with M = 1 024 rows, and the norms,
    /// clamping and selection run in parallel over rows. Measured against one chunk
    /// per rayon task with single-threaded GEMMs (docs/knn.md), this used about 13 %
    /// less CPU for the same search: one packing of each training tile serves both
    /// threads instead of one packing per thread.
    fn search(
        &self,
        t: &Trained<T>,
        x: ArrayView2<'_, T>,
        x_sq: ArrayView1<'_, T>,
        k: usize,
        (rows, tile): (usize, usize),
        nb: &mut Neighbors<T>,
        progress: &(impl Fn(usize, usize) + Sync),
    ) {
        let (n, m) = (x.nrows(), t.x.nrows());
        let mut block = Array2::<T>::zeros((rows, tile));
        let mut done = 0;
        for (c, (mut idx, mut dist)) in nb
            .indices
            .axis_chunks_iter_mut(Axis(0), rows)
            .zip(nb.distances.axis_chunks_iter_mut(Axis(0), rows))
            .enumerate()
        {
            let r = c * rows..c * rows + idx.nrows();
            let xc = x.slice(s![r.clone(), ..]);
            let xc_sq = x_sq.slice(s![r.clone()]);
            let mut tops: Array1<TopK<T>> = (0..r.len()).map(|_| TopK::new(k)).collect();
            for j0 in (0..m).step_by(tile) {
                let j1 = (j0 + tile).min(m);
                let mut b = block.slice_mut(s![..r.len(), ..j1 - j0]);
                let x_train = t.x.slice(s![j0..j1, ..]);
                match self.metric {
                    Metric::L2 => {
                        // Outside rayon: this one GEMM uses every thread.
                        numeric::gemm(T::cast(-2.0), &xc, &x_train.t(), T::zero(), &mut b);
                        let train_sq = &t.sq.as_slice().expect("contiguous")[j0..j1];
                        // ‖x‖² + ‖y‖² − 2x·y finished while it is read, not in a
                        // second pass over the block (which is larger than the caches).
                        Zip::from(&mut tops).and(b.rows()).and(&xc_sq).par_for_each(
                            |top, row, &a| {
                                let row = row.to_slice().expect("contiguous");
                                let d2 = row
                                    .iter()
                                    .zip(train_sq)
                                    .map(|(&d, &b)| distances::clamp_sq(d + a + b));
                                top.push_iter(d2, j0);
                            },
                        );
                    }
                    Metric::L1 => {
                        let sub = L1_SUB_ROWS;
                        b.axis_chunks_iter_mut(Axis(0), sub)
                            .into_par_iter()
                            .zip(tops.axis_chunks_iter_mut(Axis(0), sub))
                            .enumerate()
                            .for_each(|(s, (mut bs, mut ts))| {
                                let xs = xc.slice(s![s * sub..s * sub + bs.nrows(), ..]);
                                l1_block(xs, x_train, bs.view_mut());
                                for (top, row) in ts.iter_mut().zip(bs.rows()) {
                                    top.push_row(row.as_slice().expect("contiguous"), j0);
                                }
                            });
                    }
                }
            }
            Zip::from(&mut tops)
                .and(idx.rows_mut())
                .and(dist.rows_mut())
                .par_for_each(|top, mut idx, mut dist| {
                    for (c, (d, j)) in top.finish().into_iter().enumerate() {
                        idx[c] = j;
                        dist[c] = match self.metric {
                            Metric::L2 => d.sqrt(),
                            Metric::L1 => d,
                        };
                    }
                });
            done += r.len();
            progress(done, n);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Many chunks and tiles (sizes that do not divide evenly) find exactly the
    /// neighbours of the one-block search, ties included; the one block of 150 rows
    /// also splits into several L1 tasks.
    fn chunked_equals_one_block<T: Float>(metric: Metric) {
        let mut r = numeric::rng(11);
        let x_train = numeric::randn::<T, _, _>((103, 9), &mut r).mapv(|v| v.round());
        let x = numeric::randn::<T, _, _>((150, 9), &mut r).mapv(|v| v.round());
        let mut knn = KNearestNeighbor::new().with_metric(metric);
        knn.train_owned(x_train, Array1::zeros(103)).unwrap();
        let t = knn.trained().unwrap();
        let x_sq = sq_norms(x.view());
        let k = 12;
        let run = |rows, tile| {
            let mut nb = Neighbors {
                indices: Array2::zeros((150, k)),
                distances: Array2::zeros((150, k)),
            };
            let calls = std::sync::Mutex::new(Vec::new());
            knn.search(
                t,
                x.view(),
                x_sq.view(),
                k,
                (rows, tile),
                &mut nb,
                &|d, n| calls.lock().unwrap().push((d, n)),
            );
            (nb, calls.into_inner().unwrap())
        };
        let (whole, _) = run(150, 103);
        let (chunked, calls) = run(7, 13);
        assert_eq!(chunked.indices, whole.indices);
        assert_eq!(chunked.distances, whole.distances);
        let expected: Vec<(usize, usize)> = (1..=22).map(|c| ((7 * c).min(150), 150)).collect();
        assert_eq!(calls, expected);
    }

    #[test]
    fn chunked_search_equals_one_block() {
        chunked_equals_one_block::<f64>(Metric::L2);
        chunked_equals_one_block::<f64>(Metric::L1);
        chunked_equals_one_block::<f32>(Metric::L2);
        chunked_equals_one_block::<f32>(Metric::L1);
    }
}
