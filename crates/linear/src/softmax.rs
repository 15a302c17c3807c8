//! The softmax loss on the weights, `(W, X, y, reg) -> (loss, dW)`, twice: with
//! explicit loops as the course's `softmax_loss_naive`, and vectorised.

use ndarray::{Array2, ArrayView1, ArrayView2};
use numeric::Float;

use crate::vectorized::{average_and_l2, loss_and_grad, naive_dims};

/// Softmax loss and gradient with explicit loops, as the course writes it first:
/// for each example, shift its scores by their maximum (stability), turn them into
/// probabilities `p`, add `−log p_{yᵢ}` to the loss and `(pⱼ − [j = yᵢ])·xᵢ` to each
/// column `j` of `dW`. The reference for [`softmax_loss_vectorized`].
///
/// `W` is (D, C), `X` is (N, D), labels `< C`; loss averaged over N plus `reg·ΣW²`,
/// `dW` includes `2·reg·W`.
///
/// # Panics
/// If the shapes disagree or a label is `≥ C`.
///
/// # Example
/// ```
/// use ndarray::{array, Array2};
/// // W = 0: every class equally likely, loss ln C.
/// let W = Array2::<f64>::zeros((2, 3));
/// let X = array![[1.0_f64, 2.0]];
/// let (loss, _) = linear::softmax_loss_naive(&W.view(), &X.view(), &array![0usize].view(), 0.0);
/// assert!((loss - 3.0_f64.ln()).abs() < 1e-12);
/// ```
pub fn softmax_loss_naive<T: Float>(
    W: &ArrayView2<T>,
    X: &ArrayView2<T>,
    y: &ArrayView1<usize>,
    reg: T,
) -> (T, Array2<T>) {
    let (num_train, dim, num_classes) = naive_dims(W, X, y);
    let mut dW = Array2::<T>::zeros((dim, num_classes));
    let mut loss = T::zero();
    for i in 0..num_train {
        let mut scores = vec![T::zero(); num_classes];
        for j in 0..num_classes {
            for d in 0..dim {
                scores[j] += X[[i, d]] * W[[d, j]];
            }
        }
        let max = scores.iter().copied().fold(T::neg_infinity(), T::max);
        let mut sum = T::zero();
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            sum += *s;
        }
        let probs: Vec<T> = scores.iter().map(|&e| e / sum).collect();
        loss -= probs[y[i]].ln();
        for j in 0..num_classes {
            let dscore = if j == y[i] {
                probs[j] - T::one()
            } else {
                probs[j]
            };
            for d in 0..dim {
                dW[[d, j]] += dscore * X[[i, d]];
            }
        }
    }
    average_and_l2(loss, dW, num_train, W, reg)
}

/// Softmax loss and gradient, vectorised: `scores = X·W` by GEMM, then
/// [`crate::softmax_loss`] (row-max shifted) gives `(loss, dscores)`, and
/// `dW = Xᵀ·dscores` by GEMM, plus the L2 term. Large batches are split into row
/// chunks across threads.
///
/// Same conventions and results as [`softmax_loss_naive`] (to rounding).
///
/// # Panics
/// As [`softmax_loss_naive`] (labels are checked in debug builds only).
///
/// # Example
/// ```
/// use ndarray::array;
/// let W = array![[0.5_f64, -0.2, 0.1], [0.3, 0.8, -0.6]];
/// let X = array![[1.0_f64, 2.0], [-1.0, 0.5]];
/// let y = array![1usize, 0];
/// let (naive, dn) = linear::softmax_loss_naive(&W.view(), &X.view(), &y.view(), 0.5);
/// let (fast, df) = linear::softmax_loss_vectorized(&W.view(), &X.view(), &y.view(), 0.5);
/// assert!((naive - fast).abs() < 1e-12 && (&dn - &df).iter().all(|e| e.abs() < 1e-12));
/// ```
pub fn softmax_loss_vectorized<T: Float>(
    W: &ArrayView2<T>,
    X: &ArrayView2<T>,
    y: &ArrayView1<usize>,
    reg: T,
) -> (T, Array2<T>) {
    loss_and_grad(crate::softmax_loss, W, X, y, reg)
}
