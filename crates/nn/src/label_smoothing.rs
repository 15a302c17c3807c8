//! Softmax cross-entropy against *smoothed* labels (Szegedy et al., 2016): the target
//! puts `1 − ε` on the true class and spreads `ε` evenly over all `C` classes,
//! `tᵢ = (1 − ε)·onehot(yᵢ) + ε/C`. The loss is `−Σⱼ tᵢⱼ log pᵢⱼ`, averaged over the
//! batch, and its gradient is `dscores = (p − t)/N`.
//!
//! Why: with hard labels the loss keeps pushing the true score up long after the
//! example is classified right, so the network grows over-confident and its scores
//! grow without bound. A soft target has a finite optimum, which regularises (lecture
//! 7's regularisation, applied to the targets instead of the weights). The recipe uses
//! ε = 0.2.
//!
//! ```
//! use ndarray::array;
//! // Equal scores: every probability is 1/C, so the loss is ln C whatever ε is.
//! let (loss, dscores) = nn::softmax_loss_smoothed(&array![[0.0_f64, 0.0]].view(), &array![0].view(), 0.2);
//! assert!((loss - 2f64.ln()).abs() < 1e-15);
//! // p − t = (0.5 − (0.8 + 0.1), 0.5 − 0.1)
//! assert!((dscores[[0, 0]] + 0.4).abs() < 1e-15 && (dscores[[0, 1]] - 0.4).abs() < 1e-15);
//! ```

use ndarray::{Array2, ArrayView1, ArrayView2, Zip};
use numeric::Float;

/// Mean softmax cross-entropy of `scores` (N, C) against labels `y` smoothed by
/// `smoothing` ∈ [0, 1], and `dscores`. With `smoothing = 0` it is the course's
/// [`softmax_loss`](crate::softmax_loss). Rows are shifted by their maximum first, so
/// large scores do not overflow.
///
/// # Panics
/// If `y` does not have N labels, a label is `≥ C`, or `smoothing` is outside [0, 1]:
/// callers check their data once, up front.
pub fn softmax_loss_smoothed<T: Float>(
    scores: &ArrayView2<'_, T>,
    y: &ArrayView1<'_, usize>,
    smoothing: f64,
) -> (T, Array2<T>) {
    let (n, c) = scores.dim();
    assert_eq!(y.len(), n, "{n} rows of scores but {} labels", y.len());
    assert!(
        (0.0..=1.0).contains(&smoothing),
        "label smoothing {smoothing} is outside [0, 1]"
    );
    let mut dscores = Array2::<T>::zeros((n, c));
    if n == 0 {
        return (T::zero(), dscores);
    }
    let off = smoothing / c as f64;
    let on = 1.0 - smoothing + off;
    let inv_n = 1.0 / n as f64;
    let mut loss = 0.0_f64;
    Zip::from(scores.rows())
        .and(dscores.rows_mut())
        .and(y)
        .for_each(|s, mut ds, &yi| {
            assert!(yi < c, "label {yi} is not below the {c} classes");
            let max = s
                .iter()
                .map(|v| v.as_f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = s.iter().map(|v| (v.as_f64() - max).exp()).sum();
            let log_sum = sum.ln();
            for (j, (&sj, dsj)) in s.iter().zip(ds.iter_mut()).enumerate() {
                let t = if j == yi { on } else { off };
                let log_p = sj.as_f64() - max - log_sum;
                loss -= t * log_p;
                *dsj = T::cast((log_p.exp() - t) * inv_n);
            }
        });
    (T::cast(loss * inv_n), dscores)
}

#[cfg(test)]
mod tests {
    use backprop::gradcheck::{eval_numerical_gradient, rel_error};
    use ndarray::{Array1, Array2};

    use super::*;

    fn data() -> (Array2<f64>, Array1<usize>) {
        let scores = numeric::randn((6, 5), &mut numeric::rng(11)) * 3.0;
        (scores, ndarray::array![0, 4, 2, 2, 1, 3])
    }

    #[test]
    fn without_smoothing_it_is_the_course_softmax_loss() {
        let (scores, y) = data();
        let (loss, dscores) = softmax_loss_smoothed(&scores.view(), &y.view(), 0.0);
        let (loss0, dscores0) = linear::softmax_loss(&scores.view(), &y.view());
        assert!((loss - loss0).abs() < 1e-12, "{loss} {loss0}");
        assert!(rel_error(&dscores.view(), &dscores0.view()) < 1e-12);
    }

    #[test]
    fn gradient_matches_the_numerical_one() {
        let (mut scores, y) = data();
        let (_, dscores) = softmax_loss_smoothed(&scores.view(), &y.view(), 0.2);
        let num = eval_numerical_gradient(
            |s| softmax_loss_smoothed(&s.view(), &y.view(), 0.2).0,
            &mut scores,
            1e-5,
        );
        let err = rel_error(&dscores.view(), &num.view());
        assert!(err < 1e-7, "{err}");
    }

    #[test]
    fn the_loss_has_a_finite_optimum_at_the_smoothed_target() {
        // Scores whose softmax is exactly the target: the gradient vanishes there, and
        // a more confident prediction costs more.
        let (c, eps) = (4, 0.2);
        let t = |j: usize| {
            if j == 1 {
                1.0 - eps + eps / 4.0
            } else {
                eps / 4.0
            }
        };
        let at_target = Array2::from_shape_fn((1, c), |(_, j)| f64::ln(t(j)));
        let y = ndarray::array![1];
        let (loss, dscores) = softmax_loss_smoothed(&at_target.view(), &y.view(), eps);
        assert!(dscores.iter().all(|d| d.abs() < 1e-15), "{dscores}");
        let mut confident = at_target.clone();
        confident[[0, 1]] += 5.0;
        assert!(softmax_loss_smoothed(&confident.view(), &y.view(), eps).0 > loss);
    }

    #[test]
    fn large_scores_do_not_overflow() {
        let scores = ndarray::array![[1e30_f32, 0.0, -1e30]];
        let (loss, dscores) =
            softmax_loss_smoothed(&scores.view(), &ndarray::array![0].view(), 0.2);
        assert!(loss.is_finite() && dscores.iter().all(|d| d.is_finite()));
    }
}
