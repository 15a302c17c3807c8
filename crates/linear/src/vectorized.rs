//! The one vectorised W-level loss: scores by GEMM, a score-level loss, the gradient
//! by GEMM back through the scores, and L2 regularisation.

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
    assert_eq!(
        x.ncols(),
        w.nrows(),
        "X has {} columns but W has {} rows",
        x.ncols(),
        w.nrows()
    );
    assert_eq!(
        x.nrows(),
        y.len(),
        "X has {} rows but there are {} labels",
        x.nrows(),
        y.len()
    );
    let n = x.nrows();
    let threads = rayon::current_num_threads();
    let (mut loss, mut dw) = if n * x.ncols() * w.ncols() < MIN_PARALLEL_MADDS || threads == 1 {
        chunk_loss(score_loss, w, x, y, T::one())
    } else {
        let chunk = n.div_ceil(threads).min(CHUNK_ROWS);
        let inv_n = 1.0 / n as f64;
        let chunks = n.div_ceil(chunk);
        // Each partial result accumulates its chunks of rows into one dW (GEMM with
        // β = 1): one dW buffer per thread, not per chunk, and a grouping fixed by `n`
        // and the thread count, so that a seeded run gives the same bits every time.
        numeric::fold_chunks_in_order(
            (0..chunks).into_par_iter(),
            numeric::chunk_for_threads(chunks),
            || (T::zero(), Array2::<T>::zeros(w.raw_dim())),
            |(loss, mut dw), c| {
                let rows = c * chunk..((c + 1) * chunk).min(n);
                let weight = T::cast(rows.len() as f64 * inv_n);
                let chunk_loss = accumulate_chunk(
                    score_loss,
                    w,
                    &x.slice(s![rows.clone(), ..]),
                    &y.slice(s![rows]),
                    weight,
                    &mut dw,
                );
                (loss + chunk_loss, dw)
            },
            |(la, mut da), (lb, db)| {
                da += &db;
                (la + lb, da)
            },
        )
        .expect("n > 0")
    };
    add_l2(&mut loss, &mut dw, w, reg);
    (loss, dw)
}

/// `(weight·L(X·W), weight·Xᵀ·dscores)` for one chunk of rows.
fn chunk_loss<T: Float>(
    score_loss: ScoreLoss<T>,
    w: &ArrayView2<T>,
    x: &ArrayView2<T>,
    y: &ArrayView1<usize>,
    weight: T,
) -> (T, Array2<T>) {
    let mut dw = Array2::zeros(w.raw_dim());
    let loss = accumulate_chunk(score_loss, w, x, y, weight, &mut dw);
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
    *loss += reg * w.iter().map(|&v| v * v).sum::<T>();
    dw.scaled_add(reg + reg, w);
}
