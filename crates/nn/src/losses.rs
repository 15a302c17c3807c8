//! Output layers: the score-level losses `(scores, y) -> (loss, dscores)`.
//!
//! They are written once, in the `linear` crate (the same losses end lectures 2–3's
//! linear classifiers); a network's last affine layer produces scores and hands them
//! to one of these.
//!
//! ```
//! use ndarray::array;
//! let (loss, dscores) = nn::losses::softmax_loss(&array![[0.0_f64, 0.0]].view(), &array![1usize].view());
//! assert!((loss - 2f64.ln()).abs() < 1e-12);
//! assert_eq!(dscores, array![[0.5, -0.5]]);
//! ```

pub use linear::{softmax_loss, svm_loss};

/// Which loss ends a network. Softmax is the course's default for its models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Cross-entropy on softmax probabilities.
    #[default]
    Softmax,
    /// Multiclass hinge loss with margin 1.
    Svm,
}

impl Loss {
    /// `(loss, dscores)` of this loss on `scores` (N, C) with labels `y`.
    ///
    /// ```
    /// use ndarray::array;
    /// let (l, _) = nn::losses::Loss::Svm.compute(&array![[1.0_f64, 0.5]].view(), &array![0usize].view());
    /// assert_eq!(l, 0.5);
    /// ```
    pub fn compute<T: numeric::Float>(
        self,
        scores: &ndarray::ArrayView2<'_, T>,
        y: &ndarray::ArrayView1<'_, usize>,
    ) -> (T, ndarray::Array2<T>) {
        match self {
            Loss::Softmax => softmax_loss(scores, y),
            Loss::Svm => svm_loss(scores, y),
        }
    }
}
