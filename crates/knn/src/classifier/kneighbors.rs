//! The bounded-memory neighbour search: test rows in chunks, training rows in
//! tiles, and only a running top-k per test row kept between tiles, so the
//! (num_test, num_train) distance matrix never exists whole.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip, s};
use numeric::Float;
use rayon::prelude::*;

use super::{KNearestNeighbor, Trained};
use crate::checks::check_k;
use crate::distances::{self, l1_block, sq_norms};
use crate::select::TopK;
use crate::{KnnError, Metric, Neighbors};

/// Test rows per chunk of [`KNearestNeighbor::kneighbors`]: the GEMM's M, large
/// enough for a threaded GEMM to run near peak.
const CHUNK_ROWS: usize = 1024;
/// Training rows per distance block: with `CHUNK_ROWS` this bounds the one block at
/// 1 024 × 8 192 values (32 MiB in `f32`) whatever the sizes.
const TILE_COLS: usize = 8192;
/// Test rows per parallel task of the L1 kernel inside a chunk: each training row
/// fetched from L3 serves 64 test rows, and a 1 024-row chunk still makes 16 tasks.
const L1_SUB_ROWS: usize = 64;

impl<T: Float> KNearestNeighbor<T> {
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
