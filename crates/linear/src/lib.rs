//! Linear classifiers, as lectures 2–3 of CS231n teach them: the score function
//! `f(x, W) = x·W` (bias folded into `W` by the bias trick), the multiclass SVM and
//! softmax losses with their gradients, minibatch SGD, and hyper-parameter search.
//!
//! - Score-level losses [`svm_loss`] and [`softmax_loss`]: `(scores, y) -> (loss, dscores)`.
//!   They are the only place the two losses are written; `nn` reuses them.
//! - W-level losses `(W, X, y, reg) -> (loss, dW)`: [`svm_loss_naive`] /
//!   [`softmax_loss_naive`] with the course's explicit loops, and
//!   [`svm_loss_vectorized`] / [`softmax_loss_vectorized`] built on the score-level
//!   ones with two GEMMs.
//! - [`LinearClassifier`] (`loss` + `W`): minibatch SGD [`train`](LinearClassifier::train)
//!   (with a per-iteration callback in [`train_with`](LinearClassifier::train_with)),
//!   [`predict`](LinearClassifier::predict), [`accuracy`](LinearClassifier::accuracy).
//! - Hyper-parameter search on a validation split: [`grid_search`], [`random_search`],
//!   [`search`], returning every [`Trial`] and the best model ([`SearchOutcome`]).
//! - Recommended hyper-parameters per dataset: [`defaults_for`].
//! - The geometric viewpoint in 2-D: [`toy_blobs`], [`class_regions`], [`score_lines`].
//!
//! docs/linear.md derives the losses and gradients and records the measured results.
//!
//! Conventions (the course's): `W` is (D, C), `X` is (N, D) rows, labels are `usize`
//! in `0..C`, losses are averaged over the batch, regularisation is `reg·ΣW²` with
//! gradient `2·reg·W`.
//!
//! A program needs no dependency but `linear`: the crate re-exports [`ndarray`], the
//! [`Float`] bound, and the seeded generator [`Rng`] with its constructor [`rng`]
//! that [`LinearClassifier::new`] takes. The example below uses nothing else;
//! `cargo run -p linear --example linear_quickstart` trains a classifier.
//!
//! ```
//! use linear::ndarray::array;
//! let W = array![[0.2_f64, -0.5], [1.5, 1.3], [0.0, 0.25]]; // 2 features + bias row
//! let X = array![[56.0_f64, 231.0, 1.0]];                   // one example, bias trick
//! let (loss, dW) = linear::svm_loss_vectorized(&W.view(), &X.view(), &array![0usize].view(), 0.0);
//! assert_eq!(dW.dim(), (3, 2));
//! assert_eq!(loss, 0.0); // class 0 scores 357.7, class 1 scores 272.55: margin met
//! ```

// The course's names: W, X, dW. Keeping them makes the code read like the lecture.
#![allow(non_snake_case)]

mod classifier;
mod defaults;
mod error;
mod geometry;
mod loss;
mod search;
mod softmax;
mod svm;
mod vectorized;

pub use classifier::{LinearClassifier, Loss, Sampling, TrainOptions, W_INIT_SCALE};
pub use defaults::{
    CIFAR10_SOFTMAX, CIFAR10_SVM, COURSE_DEFAULTS, Defaults, FASHION_SOFTMAX, FASHION_SVM,
    defaults_for,
};
pub use error::{LinearError, check_labels};
pub use geometry::{class_regions, score_lines, toy_blobs};
pub use loss::{DELTA, softmax_loss, svm_loss};
pub use search::{
    SearchConfig, SearchOutcome, Trial, grid, grid_search, random_pairs, random_search, search,
};
pub use softmax::{softmax_loss_naive, softmax_loss_vectorized};
pub use svm::{svm_loss_naive, svm_loss_vectorized};
pub use vectorized::ScoreLoss;

// What the public signatures use, so that depending on `linear` alone is enough.
pub use ndarray;
pub use numeric::{Float, Rng, rng};
