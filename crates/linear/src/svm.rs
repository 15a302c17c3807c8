//! The multiclass SVM loss on the weights, `(W, X, y, reg) -> (loss, dW)`, twice:
//! with explicit loops as the course's `svm_loss_naive`, and vectorised.

use ndarray::{Array2, ArrayView1, ArrayView2};
use numeric::Float;

use crate::loss::DELTA;
use crate::vectorized::{average_and_l2, loss_and_grad, naive_dims};

/// Multiclass SVM loss and gradient with explicit loops, as the course writes it
/// first: for each example, for each wrong class with a positive margin, add the
/// margin to the loss, `xᵢ` to that class's column of `dW` and `−xᵢ` to the right
/// class's column. Slow; it is the reference the vectorised version is tested against.
///
/// `W` is (D, C) (the bias folded in by the bias trick), `X` is (N, D), labels `< C`.
/// The loss is averaged over the N examples plus `reg·ΣW²`; `dW` includes `2·reg·W`.
///
/// # Panics
/// If the shapes disagree or a label is `≥ C` (validate untrusted labels with
/// [`crate::check_labels`]).
///
/// # Example
/// ```
/// use ndarray::array;
/// let W = array![[1.0_f64, 0.0], [0.0, 1.0]];
/// let X = array![[2.0_f64, 0.5]];
/// let (loss, dW) = linear::svm_loss_naive(&W.view(), &X.view(), &array![1usize].view(), 0.0);
/// assert_eq!(loss, 2.5); // margin 2 − 0.5 + 1
/// assert_eq!(dW, array![[2.0, -2.0], [0.5, -0.5]]);
/// ```
pub fn svm_loss_naive<T: Float>(
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
        let correct_class_score = scores[y[i]];
        for j in 0..num_classes {
            if j == y[i] {
                continue;
            }
            let margin = scores[j] - correct_class_score + T::cast(DELTA);
            if margin > T::zero() {
                loss += margin;
                for d in 0..dim {
                    dW[[d, j]] += X[[i, d]];
                    dW[[d, y[i]]] -= X[[i, d]];
                }
            }
        }
    }
    average_and_l2(loss, dW, num_train, W, reg)
}

/// Multiclass SVM loss and gradient, vectorised: `scores = X·W` by GEMM, then
/// [`crate::svm_loss`] gives `(loss, dscores)`, and `dW = Xᵀ·dscores` by GEMM, plus
/// the L2 term. Large batches are split into row chunks across threads.
///
/// Same conventions and results as [`svm_loss_naive`] (to rounding).
///
/// # Panics
/// As [`svm_loss_naive`] (labels are checked in debug builds only).
///
/// # Example
/// ```
/// use ndarray::array;
/// let W = array![[1.0_f64, 0.0], [0.0, 1.0]];
/// let X = array![[2.0_f64, 0.5], [0.0, 3.0]];
/// let y = array![1usize, 1];
/// let (naive, dn) = linear::svm_loss_naive(&W.view(), &X.view(), &y.view(), 0.1);
/// let (fast, df) = linear::svm_loss_vectorized(&W.view(), &X.view(), &y.view(), 0.1);
/// assert!((naive - fast).abs() < 1e-12 && (&dn - &df).iter().all(|e| e.abs() < 1e-12));
/// ```
pub fn svm_loss_vectorized<T: Float>(
    W: &ArrayView2<T>,
    X: &ArrayView2<T>,
    y: &ArrayView1<usize>,
    reg: T,
) -> (T, Array2<T>) {
    loss_and_grad(crate::svm_loss, W, X, y, reg)
}
