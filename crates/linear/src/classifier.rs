//! `LinearClassifier`: a weight matrix, a loss, minibatch SGD and prediction.

use std::fmt;
use std::str::FromStr;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use numeric::{Float, Rng};
use rand::Rng as _;
use rand::seq::SliceRandom;

use crate::error::{LinearError, check_labels};
use crate::vectorized::{Rows, ScoreLoss, loss_and_grad, loss_and_grad_rows};

/// Scale of the random initial weights, `W = W_INIT_SCALE · randn(D, C)`: small
/// enough that every initial score is ≈ 0 (softmax loss ≈ ln C, SVM loss ≈ C − 1,
/// the course's sanity checks), large enough to break the symmetry between classes.
pub const W_INIT_SCALE: f64 = 1e-4;

/// Which loss a [`LinearClassifier`] minimises.
///
/// # Example
/// ```
/// use linear::Loss;
/// assert_eq!("softmax".parse::<Loss>().unwrap(), Loss::Softmax);
/// assert_eq!(Loss::Svm.to_string(), "svm");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loss {
    /// Multiclass SVM (hinge) loss with Δ = 1: [`crate::svm_loss`].
    Svm,
    /// Softmax (cross-entropy) loss: [`crate::softmax_loss`].
    Softmax,
}

impl Loss {
    /// `"svm"` or `"softmax"`: the name used on the command line and in saved models.
    ///
    /// # Example
    /// ```
    /// assert_eq!(linear::Loss::Softmax.name(), "softmax");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Loss::Svm => "svm",
            Loss::Softmax => "softmax",
        }
    }

    /// The score-level loss, `(scores, y) -> (loss, dscores)`.
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// let f = linear::Loss::Svm.score_loss::<f64>();
    /// assert_eq!(f(&array![[0.0, 0.0]].view(), &array![0usize].view()).0, 1.0);
    /// ```
    pub fn score_loss<T: Float>(self) -> ScoreLoss<T> {
        match self {
            Loss::Svm => crate::svm_loss::<T>,
            Loss::Softmax => crate::softmax_loss::<T>,
        }
    }

    /// The vectorised W-level loss `(W, X, y, reg) -> (loss, dW)`
    /// ([`crate::svm_loss_vectorized`] or [`crate::softmax_loss_vectorized`]).
    ///
    /// # Panics
    /// If the shapes disagree (labels are checked in debug builds only).
    ///
    /// # Example
    /// ```
    /// use ndarray::{array, Array2};
    /// let W = Array2::<f64>::zeros((2, 4));
    /// let (loss, _) = linear::Loss::Softmax.loss_and_grad(&W.view(), &array![[1.0, 1.0]].view(), &array![3usize].view(), 0.0);
    /// assert!((loss - 4f64.ln()).abs() < 1e-12);
    /// ```
    pub fn loss_and_grad<T: Float>(
        self,
        W: &ArrayView2<T>,
        X: &ArrayView2<T>,
        y: &ArrayView1<usize>,
        reg: T,
    ) -> (T, Array2<T>) {
        loss_and_grad(self.score_loss(), W, X, y, reg)
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = LinearError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "svm" | "hinge" => Ok(Loss::Svm),
            "softmax" | "cross-entropy" => Ok(Loss::Softmax),
            other => Err(LinearError::HyperParameter(format!(
                "unknown loss {other:?} (expected svm or softmax)"
            ))),
        }
    }
}

/// How [`LinearClassifier::train`] draws its minibatches.
///
/// # Example
/// ```
/// use linear::{Sampling, TrainOptions};
/// assert_eq!(TrainOptions::default().sampling, Sampling::WithReplacement);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampling {
    /// `batch_size` indices drawn uniformly *with replacement* every iteration, as
    /// the course's `np.random.choice(num_train, batch_size, replace=True)`: cheap,
    /// and an unbiased estimate of the full-batch gradient.
    #[default]
    WithReplacement,
    /// Every example once per epoch, in a fresh random order each epoch: less
    /// gradient noise per epoch, the usual practice outside the course.
    ShuffledEpochs,
}

/// Options of [`LinearClassifier::train`] beyond the course's positional arguments.
///
/// # Example
/// ```
/// use linear::{Sampling, TrainOptions};
/// let opts = TrainOptions { sampling: Sampling::ShuffledEpochs, seed: 7, ..TrainOptions::default() };
/// assert_eq!(opts.learning_rate_decay, 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// Minibatch sampling (default: with replacement, as the course).
    pub sampling: Sampling,
    /// Seed of the minibatch sampler: the same seed, data and W give the same run.
    pub seed: u64,
    /// Multiply the learning rate by this after every epoch (`max(N / batch_size, 1)`
    /// iterations), as the course's `TwoLayerNet.train` does; 1.0 (default) keeps it
    /// constant, as the course's `LinearClassifier.train` does.
    pub learning_rate_decay: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            sampling: Sampling::WithReplacement,
            seed: 0,
            learning_rate_decay: 1.0,
        }
    }
}

/// A linear classifier `scores = X·W`, `W` of shape (D, C) with the bias as its
/// last row when the data carry the bias trick's column of ones.
///
/// # Example
/// ```
/// use linear::{LinearClassifier, Loss, TrainOptions};
/// use ndarray::array;
/// // Two classes on a line, with the bias column.
/// let X = array![[-2.0_f64, 1.0], [-1.0, 1.0], [1.0, 1.0], [2.0, 1.0]];
/// let y = array![0usize, 0, 1, 1];
/// let mut clf = LinearClassifier::new(Loss::Softmax, 2, 2, &mut numeric::rng(0));
/// let history = clf.train(&X.view(), &y.view(), 0.5, 0.0, 200, 4, &TrainOptions::default()).unwrap();
/// assert!(history[199] < history[0]);
/// assert_eq!(clf.predict(&X.view()).unwrap(), y);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LinearClassifier<T> {
    /// The loss it is trained with.
    pub loss: Loss,
    /// Weights (D, C): column `j` is class `j`'s template (and bias, last row).
    pub W: Array2<T>,
}

impl<T: Float> LinearClassifier<T> {
    /// A classifier with `W = 0.0001 · randn(dim, num_classes)` ([`W_INIT_SCALE`]).
    ///
    /// # Example
    /// ```
    /// let clf = linear::LinearClassifier::<f32>::new(linear::Loss::Svm, 3073, 10, &mut numeric::rng(0));
    /// assert_eq!(clf.W.dim(), (3073, 10));
    /// assert!(clf.W.iter().all(|w| w.abs() < 1e-3));
    /// ```
    pub fn new(loss: Loss, dim: usize, num_classes: usize, rng: &mut Rng) -> Self {
        let W = numeric::randn::<T, _, _>((dim, num_classes), rng) * T::cast(W_INIT_SCALE);
        LinearClassifier { loss, W }
    }

    /// A classifier with given weights (a loaded model, say).
    ///
    /// # Example
    /// ```
    /// use ndarray::Array2;
    /// let clf = linear::LinearClassifier::from_weights(linear::Loss::Softmax, Array2::<f64>::eye(3));
    /// assert_eq!((clf.dim(), clf.num_classes()), (3, 3));
    /// ```
    pub fn from_weights(loss: Loss, W: Array2<T>) -> Self {
        LinearClassifier { loss, W }
    }

    /// D, the number of input features (including the bias column, if any).
    ///
    /// # Example
    /// ```
    /// let clf = linear::LinearClassifier::<f64>::new(linear::Loss::Svm, 785, 10, &mut numeric::rng(0));
    /// assert_eq!(clf.dim(), 785);
    /// ```
    pub fn dim(&self) -> usize {
        self.W.nrows()
    }

    /// C, the number of classes.
    ///
    /// # Example
    /// ```
    /// let clf = linear::LinearClassifier::<f64>::new(linear::Loss::Svm, 785, 10, &mut numeric::rng(0));
    /// assert_eq!(clf.num_classes(), 10);
    /// ```
    pub fn num_classes(&self) -> usize {
        self.W.ncols()
    }

    /// Minibatch SGD as the course's `LinearClassifier.train`: `num_iters` times,
    /// sample `batch_size` examples, compute the vectorised loss and `dW` on them,
    /// and step `W ← W − learning_rate · dW`. Returns the loss of every iteration.
    ///
    /// Stops early if the loss stops being finite (the rate diverged; no later step
    /// can recover), so the history is then shorter than `num_iters`.
    ///
    /// # Errors
    /// [`LinearError`] when `X`, `y` and `W` do not fit, a label is `≥ C`, the data
    /// are empty, `batch_size` is 0, or a rate is negative or not finite.
    ///
    /// # Example
    /// ```
    /// use linear::{LinearClassifier, Loss, TrainOptions};
    /// use ndarray::array;
    /// let X = array![[1.0_f32, 0.0, 1.0], [0.0, 1.0, 1.0]];
    /// let mut clf = LinearClassifier::<f32>::new(Loss::Svm, 3, 2, &mut numeric::rng(1));
    /// let hist = clf.train(&X.view(), &array![0usize, 1].view(), 1e-1, 1e-3, 50, 2, &TrainOptions::default()).unwrap();
    /// assert_eq!(hist.len(), 50);
    /// assert!(clf.train(&X.view(), &array![0usize, 2].view(), 1e-1, 0.0, 1, 2, &TrainOptions::default()).is_err());
    /// ```
    pub fn train(
        &mut self,
        X: &ArrayView2<T>,
        y: &ArrayView1<usize>,
        learning_rate: T,
        reg: T,
        num_iters: usize,
        batch_size: usize,
        options: &TrainOptions,
    ) -> Result<Vec<T>, LinearError> {
        self.train_with(
            X,
            y,
            learning_rate,
            reg,
            num_iters,
            batch_size,
            options,
            |_, _| {},
        )
    }

    /// [`train`](Self::train) calling `on_iter(iteration, loss)` after every step
    /// (iterations count from 0): drive a progress bar or log the loss from it.
    ///
    /// # Errors
    /// As [`train`](Self::train).
    ///
    /// # Example
    /// ```
    /// use linear::{LinearClassifier, Loss, TrainOptions};
    /// use ndarray::array;
    /// let X = array![[1.0_f64, 1.0], [-1.0, 1.0]];
    /// let mut clf = LinearClassifier::new(Loss::Softmax, 2, 2, &mut numeric::rng(0));
    /// let mut seen = 0;
    /// clf.train_with(&X.view(), &array![0usize, 1].view(), 0.1, 0.0, 30, 2, &TrainOptions::default(),
    ///     |it, _loss| seen = it + 1).unwrap();
    /// assert_eq!(seen, 30);
    /// ```
    pub fn train_with(
        &mut self,
        X: &ArrayView2<T>,
        y: &ArrayView1<usize>,
        learning_rate: T,
        reg: T,
        num_iters: usize,
        batch_size: usize,
        options: &TrainOptions,
        mut on_iter: impl FnMut(usize, T),
    ) -> Result<Vec<T>, LinearError> {
        self.check_data(X, y, "training")?;
        if batch_size == 0 {
            return Err(LinearError::HyperParameter("batch size is 0".into()));
        }
        for (name, v) in [
            ("learning rate", learning_rate.as_f64()),
            ("regularisation strength", reg.as_f64()),
            ("learning-rate decay", options.learning_rate_decay),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(LinearError::HyperParameter(format!(
                    "{name} is {v}; it must be finite and ≥ 0"
                )));
            }
        }

        // Minibatches are gathered row by row: rows must be contiguous, or every
        // element is a cache miss. Data in column-major order (as a transposed or
        // column-concatenated array is) is copied to row-major once, here.
        let X = X.as_standard_layout();
        let num_train = X.nrows();
        let mut sampler = Sampler::new(options.sampling, num_train, options.seed);
        let mut y_batch = Array1::<usize>::zeros(batch_size);
        let mut idx = vec![0usize; batch_size];
        let mut scratch = Vec::new();
        let iterations_per_epoch = (num_train / batch_size).max(1);
        let decay = T::cast(options.learning_rate_decay);
        let score_loss = self.loss.score_loss();
        let mut lr = learning_rate;
        let mut history = Vec::with_capacity(num_iters);
        for it in 0..num_iters {
            sampler.fill(&mut idx);
            for (yb, &i) in y_batch.iter_mut().zip(&idx) {
                *yb = y[i];
            }
            // The drawn rows are copied by the threads that multiply them, inside the
            // loss's one fork-join: a step hands work to the pool once, not twice.
            let rows = Rows {
                x: X.view(),
                idx: Some(&idx),
            };
            let (loss, dW) = loss_and_grad_rows(
                score_loss,
                &self.W.view(),
                rows,
                &y_batch.view(),
                reg,
                &mut scratch,
            );
            self.W.scaled_add(-lr, &dW);
            history.push(loss);
            on_iter(it, loss);
            if !loss.is_finite() {
                break;
            }
            if (it + 1) % iterations_per_epoch == 0 {
                lr *= decay;
            }
        }
        Ok(history)
    }

    /// Class scores `X·W` (N, C).
    ///
    /// # Errors
    /// [`LinearError::Shape`] when `X` does not have D columns.
    ///
    /// # Example
    /// ```
    /// use ndarray::{array, Array2};
    /// let clf = linear::LinearClassifier::from_weights(linear::Loss::Svm, Array2::<f64>::eye(2));
    /// assert_eq!(clf.scores(&array![[3.0, 4.0]].view()).unwrap(), array![[3.0, 4.0]]);
    /// ```
    pub fn scores(&self, X: &ArrayView2<T>) -> Result<Array2<T>, LinearError> {
        self.check_width(X)?;
        Ok(numeric::matmul(X, &self.W.view()))
    }

    /// Predicted labels: the highest-scoring class of each row (the smaller class
    /// index on a tie).
    ///
    /// # Errors
    /// [`LinearError::Shape`] when `X` does not have D columns.
    ///
    /// # Example
    /// ```
    /// use ndarray::{array, Array2};
    /// let clf = linear::LinearClassifier::from_weights(linear::Loss::Svm, Array2::<f64>::eye(2));
    /// assert_eq!(clf.predict(&array![[3.0, 4.0], [1.0, 0.0], [2.0, 2.0]].view()).unwrap(), array![1, 0, 0]);
    /// ```
    pub fn predict(&self, X: &ArrayView2<T>) -> Result<Array1<usize>, LinearError> {
        Ok(argmax_rows(&self.scores(X)?.view()))
    }

    /// Fraction of rows of `X` whose predicted label is `y`'s.
    ///
    /// # Errors
    /// [`LinearError`] when shapes disagree or `X` is empty.
    ///
    /// # Example
    /// ```
    /// use ndarray::{array, Array2};
    /// let clf = linear::LinearClassifier::from_weights(linear::Loss::Svm, Array2::<f64>::eye(2));
    /// let acc = clf.accuracy(&array![[3.0, 4.0], [1.0, 0.0]].view(), &array![1usize, 1].view()).unwrap();
    /// assert_eq!(acc, 0.5);
    /// ```
    pub fn accuracy(&self, X: &ArrayView2<T>, y: &ArrayView1<usize>) -> Result<f64, LinearError> {
        if X.nrows() != y.len() {
            return Err(LinearError::Shape(format!(
                "X has {} rows but there are {} labels",
                X.nrows(),
                y.len()
            )));
        }
        if y.is_empty() {
            return Err(LinearError::Empty("no examples to score".into()));
        }
        let pred = self.predict(X)?;
        let hits = pred.iter().zip(y).filter(|(p, t)| p == t).count();
        Ok(hits as f64 / y.len() as f64)
    }

    fn check_width(&self, X: &ArrayView2<T>) -> Result<(), LinearError> {
        if X.ncols() != self.dim() {
            return Err(LinearError::Shape(format!(
                "X has {} columns but W has {} rows (features{})",
                X.ncols(),
                self.dim(),
                if X.ncols() + 1 == self.dim() {
                    "; did the data miss the bias trick's column of ones?"
                } else {
                    ""
                }
            )));
        }
        Ok(())
    }

    /// Checks a labelled set against W: widths, lengths, non-empty, labels `< C`.
    pub(crate) fn check_data(
        &self,
        X: &ArrayView2<T>,
        y: &ArrayView1<usize>,
        what: &str,
    ) -> Result<(), LinearError> {
        self.check_width(X)?;
        if X.nrows() != y.len() {
            return Err(LinearError::Shape(format!(
                "{what} X has {} rows but there are {} labels",
                X.nrows(),
                y.len()
            )));
        }
        if X.nrows() == 0 {
            return Err(LinearError::Empty(format!("{what} set has no examples")));
        }
        check_labels(y, self.num_classes())
    }
}

/// Index of the largest entry of each row; the first on a tie (as `np.argmax`).
fn argmax_rows<T: Float>(scores: &ArrayView2<T>) -> Array1<usize> {
    scores
        .rows()
        .into_iter()
        .map(|row| {
            let mut best = 0;
            for (j, &s) in row.iter().enumerate() {
                if s > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// Draws minibatch indices.
struct Sampler {
    sampling: Sampling,
    rng: Rng,
    num_train: usize,
    order: Vec<usize>,
    cursor: usize,
}

impl Sampler {
    fn new(sampling: Sampling, num_train: usize, seed: u64) -> Self {
        let order = match sampling {
            Sampling::WithReplacement => Vec::new(),
            Sampling::ShuffledEpochs => (0..num_train).collect(),
        };
        Sampler {
            sampling,
            rng: numeric::rng(seed),
            num_train,
            cursor: order.len(),
            order,
        }
    }

    fn fill(&mut self, idx: &mut [usize]) {
        match self.sampling {
            Sampling::WithReplacement => {
                for i in idx {
                    *i = self.rng.random_range(0..self.num_train);
                }
            }
            Sampling::ShuffledEpochs => {
                for i in idx {
                    if self.cursor == self.order.len() {
                        self.order.shuffle(&mut self.rng);
                        self.cursor = 0;
                    }
                    *i = self.order[self.cursor];
                    self.cursor += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_epochs_visit_every_example_once_per_epoch() {
        let mut s = Sampler::new(Sampling::ShuffledEpochs, 10, 3);
        let mut idx = vec![0; 5];
        for _ in 0..3 {
            let mut seen = Vec::new();
            s.fill(&mut idx);
            seen.extend_from_slice(&idx);
            s.fill(&mut idx);
            seen.extend_from_slice(&idx);
            seen.sort_unstable();
            assert_eq!(seen, (0..10).collect::<Vec<_>>());
        }
    }

    #[test]
    fn sampling_with_replacement_is_uniform_over_the_examples() {
        let mut s = Sampler::new(Sampling::WithReplacement, 7, 1);
        let mut idx = vec![0; 7000];
        s.fill(&mut idx);
        let mut counts = [0usize; 7];
        for &i in &idx {
            counts[i] += 1; // panics if out of range
        }
        // Each count is Binomial(7000, 1/7): mean 1000, sd ≈ 29.
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        let s = ndarray::array![[1.0_f64, 3.0, 3.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -0.5]];
        assert_eq!(argmax_rows(&s.view()), ndarray::array![1, 0, 2]);
    }
}
