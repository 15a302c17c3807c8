//! The one vectorised W-level loss: scores by GEMM, a score-level loss, the gradient
//! by GEMM back through the scores, and L2 regularisation.

use std::ops::Range;

use ndarray::{Array2, ArrayView1, ArrayView2, s};
use numeric::Float;
use rayon::prelude::*;

/// A score-level loss: `(scores, y) -> (mean loss, dscores)`, such as
/// [`crate::svm_loss`] and [`crate::softmax_loss`].
///
/// # Example
/// ```
/// use ndarray::array;
/// let f: linear::ScoreLoss<f64> = linear::softmax_loss;
/// let (loss, _) = f(&array![[0.0, 0.0]].view(), &array![1usize].view());
/// assert!((loss - 2f64.ln()).abs() < 1e-12);
/// ```
pub type ScoreLoss<T> = fn(&ArrayView2<T>, &ArrayView1<usize>) -> (T, Array2<T>);

/// Rows per task when a batch is split over threads. A 128-row chunk of 3 073 `f32`
/// features is 1.5 MB, so its rows are still in (L2) cache when `Xᵀ·dscores` re-reads them:
/// X crosses the memory bus once instead of twice.
const CHUNK_ROWS: usize = 128;

/// Batches with fewer multiply-adds (N·D·C) than this run on the calling thread:
/// about 100 µs of work, less than waking and joining a second thread costs when
/// the machine is busy (the same threshold as `numeric::gemm`'s).
const MIN_PARALLEL_MADDS: usize = 1 << 22;

/// The rows a loss is computed on: all of `x`, or the rows `idx` of it (a minibatch
/// drawn by index). Drawn rows are copied chunk by chunk, by the thread that then
/// multiplies them, into that thread's scratch buffer: they are still in its cache for
/// both products, and a training step is one fork-join instead of two (a gather, then
/// the loss).
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a, T> {
    /// The data, (N, D).
    pub x: ArrayView2<'a, T>,
    /// The rows of `x` that make the batch, in order; `None`: all of them.
    pub idx: Option<&'a [usize]>,
}

impl<T: Float> Rows<'_, T> {
    fn len(&self) -> usize {
        self.idx.map_or(self.x.nrows(), <[usize]>::len)
    }

    /// Rows `range` of the batch: a view of `x`, or the drawn rows copied into `buf`.
    fn chunk<'b>(&'b self, range: Range<usize>, buf: &'b mut Vec<T>) -> ArrayView2<'b, T> {
        let Some(idx) = self.idx else {
            return self.x.slice(s![range, ..]);
        };
        let d = self.x.ncols();
        buf.clear();
        for &i in &idx[range.clone()] {
            match self.x.row(i).as_slice() {
                Some(row) => buf.extend_from_slice(row),
                None => buf.extend(self.x.row(i).iter().copied()),
            }
        }
        ArrayView2::from_shape((range.len(), d), buf).expect("rows × D elements")
    }
}

/// `(data loss + reg·ΣW², dW)` for `scores = X·W`, built on `score_loss`.
///
/// Large batches are cut into row chunks processed in parallel; since the score-level
/// loss is a mean over rows, chunk `c` contributes its loss and `X_cᵀ·dscores_c`
/// weighted by `n_c / N`, which sums to exactly the whole-batch mean.
pub(crate) fn loss_and_grad<T: Float>(
    score_loss: ScoreLoss<T>,
    w: &ArrayView2<T>,
    x: &ArrayView2<T>,
    y: &ArrayView1<usize>,
    reg: T,
) -> (T, Array2<T>) {
    let rows = Rows {
        x: x.view(),
        idx: None,
    };
    loss_and_grad_rows(score_loss, w, rows, y, reg, &mut Vec::new())
}

/// [`loss_and_grad`] on a batch of [`Rows`], with `y` the batch's labels; `scratch`
/// holds the buffers drawn rows are copied into, kept by the caller from one step to
/// the next.
pub(crate) fn loss_and_grad_rows<T: Float>(
    score_loss: ScoreLoss<T>,
    w: &ArrayView2<T>,
    rows: Rows<'_, T>,
    y: &ArrayView1<usize>,
    reg: T,
    scratch: &mut Vec<Vec<T>>,
) -> (T, Array2<T>) {
    assert_eq!(
        rows.x.ncols(),
        w.nrows(),
        "X has {} columns but W has {} rows",
        rows.x.ncols(),
        w.nrows()
    );
    let n = rows.len();
    assert_eq!(
        n,
        y.len(),
        "X has {n} rows but there are {} labels",
        y.len()
    );
    let threads = rayon::current_num_threads();
    // Rows per chunk, and chunks per group (one group per thread).
    let (chunk, per_group) = if n * rows.x.ncols() * w.ncols() < MIN_PARALLEL_MADDS || threads == 1
    {
        (n.max(1), 1)
    } else {
        let chunk = n.div_ceil(threads).min(CHUNK_ROWS);
        (chunk, numeric::chunk_for_threads(n.div_ceil(chunk)))
    };
    let chunks = n.div_ceil(chunk);
    let groups = chunks.div_ceil(per_group).max(1);
    if scratch.len() < groups {
        scratch.resize_with(groups, Vec::new);
    }
    let inv_n = 1.0 / n.max(1) as f64;
    // Group g folds chunks g·per_group.. of rows into one (loss, dW), with GEMM's β = 1:
    // one dW buffer per thread, not per chunk, and a grouping fixed by `n` and the
    // thread count, so that a seeded run gives the same bits every time.
    let group = |(loss, mut dw): (T, Array2<T>), (g, buf): (usize, &mut Vec<T>)| {
        let mut loss = loss;
        for c in g * per_group..((g + 1) * per_group).min(chunks) {
            let range = c * chunk..((c + 1) * chunk).min(n);
            // A single chunk is the whole batch: weight exactly 1.
            let weight = if chunks == 1 {
                T::one()
            } else {
                T::cast(range.len() as f64 * inv_n)
            };
            let labels = y.slice(s![range.clone()]);
            let x_c = rows.chunk(range, buf);
            loss += accumulate_chunk(score_loss, w, &x_c, &labels, weight, &mut dw);
        }
        (loss, dw)
    };
    let zero = || (T::zero(), Array2::<T>::zeros(w.raw_dim()));
    let (mut loss, mut dw) = if groups == 1 {
        group(zero(), (0, &mut scratch[0]))
    } else {
        numeric::fold_chunks_in_order(
            scratch[..groups].par_iter_mut().enumerate(),
            1,
            zero,
            group,
            |(la, mut da), (lb, db)| {
                da += &db;
                (la + lb, da)
            },
        )
        .expect("groups > 1")
    };
    add_l2(&mut loss, &mut dw, w, reg);
    (loss, dw)
}

/// Returns `weight·L(X·W)` and adds `weight·Xᵀ·dscores` to `dw`.
fn accumulate_chunk<T: Float>(
    score_loss: ScoreLoss<T>,
    w: &ArrayView2<T>,
    x: &ArrayView2<T>,
    y: &ArrayView1<usize>,
    weight: T,
    dw: &mut Array2<T>,
) -> T {
    let scores = numeric::matmul(x, w);
    let (loss, dscores) = score_loss(&scores.view(), y);
    numeric::gemm(
        weight,
        &x.t(),
        &dscores.view(),
        T::one(),
        &mut dw.view_mut(),
    );
    loss * weight
}

/// The naive losses' shape checks: `W` is (D, C), `X` is (N, D), one label per row.
/// Returns `(N, D, C)`.
///
/// # Panics
/// If the shapes disagree.
#[track_caller]
pub(crate) fn naive_dims<T: Float>(
    W: &ArrayView2<T>,
    X: &ArrayView2<T>,
    y: &ArrayView1<usize>,
) -> (usize, usize, usize) {
    let (num_train, dim) = X.dim();
    assert_eq!(
        W.nrows(),
        dim,
        "X has {dim} columns but W has {} rows",
        W.nrows()
    );
    assert_eq!(
        y.len(),
        num_train,
        "X has {num_train} rows but there are {} labels",
        y.len()
    );
    (num_train, dim, W.ncols())
}

/// The naive losses' shared tail: average the summed loss and `dW` over the
/// `num_train` examples (none: left at zero), then add the L2 term.
pub(crate) fn average_and_l2<T: Float>(
    mut loss: T,
    mut dW: Array2<T>,
    num_train: usize,
    W: &ArrayView2<T>,
    reg: T,
) -> (T, Array2<T>) {
    if num_train > 0 {
        loss /= T::count(num_train);
        dW /= T::count(num_train);
    }
    add_l2(&mut loss, &mut dW, W, reg);
    (loss, dW)
}

/// Adds the L2 penalty the course uses: `reg·ΣW²` to the loss, `2·reg·W` to `dW`.
pub(crate) fn add_l2<T: Float>(loss: &mut T, dw: &mut Array2<T>, w: &ArrayView2<T>, reg: T) {
    if reg == T::zero() {
        return;
    }
    let sum_sq = match w.as_slice_memory_order() {
        Some(values) => numeric::sum_of_squares(values),
        None => w.iter().map(|&v| v * v).sum::<T>(),
    };
    *loss += reg * sum_sq;
    dw.scaled_add(reg + reg, w);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows drawn by index (repeats included) give the same bits as the same rows
    /// copied out first, in the serial case and when the batch is split over a
    /// 2-thread pool (N·D·C above the parallel threshold), and the same bits on every
    /// run of that pool.
    #[test]
    fn drawn_rows_give_the_bits_of_gathered_rows() {
        let mut r = numeric::rng(4);
        let (num_train, d, c) = (900, 1100, 10);
        let x: Array2<f32> = numeric::randn((num_train, d), &mut r);
        let w: Array2<f32> = numeric::randn((d, c), &mut r);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for batch in [7, 400] {
            let idx: Vec<usize> = (0..batch).map(|i| (i * 37 + i / 3) % num_train).collect();
            let y: ndarray::Array1<usize> = idx.iter().map(|&i| i % c).collect();
            let gathered = x.select(ndarray::Axis(0), &idx);
            let rows = Rows {
                x: x.view(),
                idx: Some(&idx),
            };
            let loss = crate::softmax_loss::<f32>;
            let (expected, expected_dw) =
                pool.install(|| loss_and_grad(loss, &w.view(), &gathered.view(), &y.view(), 0.1));
            let mut scratch = Vec::new();
            for _ in 0..3 {
                let (got, got_dw) = pool.install(|| {
                    loss_and_grad_rows(loss, &w.view(), rows, &y.view(), 0.1, &mut scratch)
                });
                assert_eq!(got.to_bits(), expected.to_bits(), "batch {batch}");
                assert!(
                    got_dw
                        .iter()
                        .zip(&expected_dw)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "batch {batch}: dW differs"
                );
            }
            let split = batch * d * c >= MIN_PARALLEL_MADDS;
            assert_eq!(scratch.len(), if split { 2 } else { 1 }, "batch {batch}");
        }
    }

    /// The split batch's loss is the whole batch's mean, to rounding.
    #[test]
    fn split_batches_average_like_one_chunk() {
        let mut r = numeric::rng(5);
        let (n, d, c) = (500, 1000, 10);
        let x: Array2<f64> = numeric::randn((n, d), &mut r);
        let w: Array2<f64> = numeric::randn::<f64, _, _>((d, c), &mut r) * 0.01;
        let y: ndarray::Array1<usize> = (0..n).map(|i| (i * 7) % c).collect();
        let pool = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        };
        let run = |t: usize| {
            pool(t).install(|| loss_and_grad(crate::svm_loss, &w.view(), &x.view(), &y.view(), 0.0))
        };
        let ((one, d_one), (two, d_two)) = (run(1), run(2));
        assert!((one - two).abs() < 1e-12, "{one} vs {two}");
        let err = (&d_one - &d_two)
            .iter()
            .fold(0.0_f64, |e, v| e.max(v.abs()));
        assert!(err < 1e-12, "dW differs by {err}");
    }
}
