//! Score-level losses: from a batch of class scores (N, C) and labels to the mean loss
//! and its gradient with respect to the scores.
//!
//! These are the only place the two losses are written down; the W-level losses in
//! [`crate::svm`] and [`crate::softmax`] and the `nn` crate's output layers all call them.

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, Zip};
use numeric::Float;

/// The SVM margin Δ. The course fixes it at 1: the scale of the margin only trades
/// off against the regularisation strength, so any other value is the same model.
pub const DELTA: f64 = 1.0;

/// Multiclass SVM (hinge) loss on scores: `Lᵢ = Σ_{j≠yᵢ} max(0, sⱼ − s_{yᵢ} + Δ)`,
/// averaged over the batch, with Δ = 1. Returns `(loss, dscores)`.
///
/// Gradient: every positive margin adds `1/N` to `dscores[i, j]` and subtracts `1/N`
/// from `dscores[i, yᵢ]`.
///
/// Labels must be `< C` (checked with `debug_assert!`: this is the hot loop; the
/// public training APIs validate labels and return a typed error).
///
/// # Example
/// ```
/// use ndarray::array;
/// // The right class wins by 2: no loss, no gradient.
/// let (loss, dscores) = linear::svm_loss(&array![[3.0_f64, 1.0]].view(), &array![0usize].view());
/// assert_eq!(loss, 0.0);
/// assert!(dscores.iter().all(|&g| g == 0.0));
/// // Class 1 is only 0.5 behind: margin 0.5.
/// let (loss, dscores) = linear::svm_loss(&array![[1.0_f64, 0.5]].view(), &array![0usize].view());
/// assert_eq!(loss, 0.5);
/// assert_eq!(dscores, array![[-1.0, 1.0]]);
/// ```
pub fn svm_loss<T: Float>(scores: &ArrayView2<T>, y: &ArrayView1<usize>) -> (T, Array2<T>) {
    let delta = T::cast(DELTA);
    per_row(scores, y, |s, mut ds, yi, inv_n| {
        let correct = s[yi];
        let mut positive = 0usize;
        let mut row_loss = T::zero();
        for (j, (&sj, dsj)) in s.iter().zip(ds.iter_mut()).enumerate() {
            if j == yi {
                continue;
            }
            let margin = sj - correct + delta;
            if margin > T::zero() {
                row_loss += margin;
                *dsj = inv_n;
                positive += 1;
            }
        }
        ds[yi] = -T::count(positive) * inv_n;
        row_loss
    })
}

/// Softmax (cross-entropy) loss on scores: `Lᵢ = −log(e^{s_{yᵢ}} / Σⱼ e^{sⱼ})`,
/// averaged over the batch. Returns `(loss, dscores)` with
/// `dscores = (softmax(s) − onehot(y)) / N`.
///
/// Numerically stable: each row is shifted by its maximum before exponentiating
/// (`e^{sⱼ−m} / Σ e^{sₖ−m}` is the same probability, and no exponent exceeds 0, so
/// nothing overflows), and the loss is computed as `log Σ e^{sⱼ−m} − (s_{yᵢ} − m)`, so
/// a vanishing probability gives a large finite loss instead of `log 0`.
///
/// Labels must be `< C` (checked with `debug_assert!`, as for [`svm_loss`]).
///
/// # Example
/// ```
/// use ndarray::array;
/// // Equal scores over C classes: loss ln C, whatever their size.
/// let (loss, dscores) = linear::softmax_loss(&array![[1000.0_f64, 1000.0, 1000.0, 1000.0]].view(), &array![2usize].view());
/// assert!((loss - 4.0_f64.ln()).abs() < 1e-12);
/// assert!((dscores[[0, 2]] + 0.75).abs() < 1e-12 && (dscores[[0, 0]] - 0.25).abs() < 1e-12);
/// ```
pub fn softmax_loss<T: Float>(scores: &ArrayView2<T>, y: &ArrayView1<usize>) -> (T, Array2<T>) {
    per_row(scores, y, |s, mut ds, yi, inv_n| {
        let max = s.iter().copied().fold(T::neg_infinity(), T::max);
        let mut sum = T::zero();
        for (&sj, dsj) in s.iter().zip(ds.iter_mut()) {
            let e = (sj - max).exp();
            *dsj = e;
            sum += e;
        }
        let scale = inv_n / sum;
        ds.mapv_inplace(|e| e * scale);
        ds[yi] -= inv_n;
        sum.ln() - (s[yi] - max)
    })
}

/// The score losses' shared shell: checks the shapes, hands each row of scores to
/// `row(s, ds, yi, 1/N)` with its (zeroed) `dscores` row and label, and averages the
/// row losses it returns over N, summing in f64 so large batches lose no precision.
/// `row` writes `ds` already divided by N. An empty batch has loss 0.
fn per_row<T: Float>(
    scores: &ArrayView2<T>,
    y: &ArrayView1<usize>,
    mut row: impl FnMut(ArrayView1<T>, ArrayViewMut1<T>, usize, T) -> T,
) -> (T, Array2<T>) {
    check_shapes(scores, y);
    let n = scores.nrows();
    let mut dscores = Array2::<T>::zeros(scores.raw_dim());
    if n == 0 {
        return (T::zero(), dscores);
    }
    let inv_n = T::one() / T::count(n);
    let mut loss = 0.0_f64;
    Zip::from(scores.rows())
        .and(dscores.rows_mut())
        .and(y)
        .for_each(|s, ds, &yi| loss += row(s, ds, yi, inv_n).as_f64());
    (T::cast(loss / n as f64), dscores)
}

/// Shapes are the caller's invariant in the hot loss functions; labels are checked
/// in debug builds only (the training APIs validate them once, up front).
fn check_shapes<T: Float>(scores: &ArrayView2<T>, y: &ArrayView1<usize>) {
    assert_eq!(
        scores.nrows(),
        y.len(),
        "scores have {} rows but there are {} labels",
        scores.nrows(),
        y.len()
    );
    debug_assert!(
        y.iter().all(|&yi| yi < scores.ncols()),
        "a label is not below the number of classes {}",
        scores.ncols()
    );
}
