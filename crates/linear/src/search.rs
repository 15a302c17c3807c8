//! Hyper-parameter search over learning rate × regularisation strength, selected on a
//! validation split, as the notebooks' tuning cells do.

use ndarray::{ArrayView1, ArrayView2};
use numeric::Float;
use rand::Rng as _;

use crate::classifier::{LinearClassifier, Loss, TrainOptions};
use crate::error::LinearError;

/// What every trial of a search shares: the SGD budget and seeds.
///
/// # Example
/// ```
/// let cfg = linear::SearchConfig { num_iters: 500, ..linear::SearchConfig::default() };
/// assert_eq!(cfg.batch_size, 200);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchConfig {
    /// SGD iterations per trial (course: 1 500).
    pub num_iters: usize,
    /// Minibatch size (course: 200).
    pub batch_size: usize,
    /// Sampling, sampler seed and learning-rate decay, the same for every trial.
    pub options: TrainOptions,
    /// Seed of the initial weights, the same for every trial: trials then differ only
    /// by their hyper-parameters.
    pub init_seed: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            num_iters: 1500,
            batch_size: 200,
            options: TrainOptions::default(),
            init_seed: 0,
        }
    }
}

/// One trained candidate: its hyper-parameters and accuracies.
///
/// # Example
/// ```
/// use ndarray::array;
/// let X = array![[-1.0_f64, 1.0], [1.0, 1.0]];
/// let y = array![0usize, 1];
/// let cfg = linear::SearchConfig { num_iters: 50, batch_size: 2, ..Default::default() };
/// let out = linear::grid_search(linear::Loss::Svm, &X.view(), &y.view(), &X.view(), &y.view(),
///     &[0.1], &[0.0], &cfg, |_, _| {}).unwrap();
/// let t: &linear::Trial = &out.trials[0];
/// assert_eq!((t.learning_rate, t.reg, t.iterations), (0.1, 0.0, 50));
/// assert_eq!(t.train_accuracy, 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    /// Learning rate.
    pub learning_rate: f64,
    /// Regularisation strength.
    pub reg: f64,
    /// Accuracy on the whole training split.
    pub train_accuracy: f64,
    /// Accuracy on the validation split (what the search maximises).
    pub val_accuracy: f64,
    /// Loss of the last SGD iteration (non-finite if training diverged).
    pub final_loss: f64,
    /// Iterations actually run (fewer than asked when the loss diverged).
    pub iterations: usize,
}

/// Everything a search found.
///
/// # Example
/// ```
/// use ndarray::array;
/// let X = array![[-1.0_f64, 1.0], [1.0, 1.0]];
/// let y = array![0usize, 1];
/// let cfg = linear::SearchConfig { num_iters: 50, batch_size: 2, ..Default::default() };
/// let out = linear::grid_search(linear::Loss::Softmax, &X.view(), &y.view(), &X.view(), &y.view(),
///     &[1e-9, 0.5], &[0.0], &cfg, |_, _| {}).unwrap();
/// assert_eq!(out.best_index, 1); // the rate that moves W wins
/// assert_eq!(out.best_loss_history.len(), 50);
/// ```
#[derive(Debug, Clone)]
pub struct SearchOutcome<T> {
    /// Every trial, in the order run.
    pub trials: Vec<Trial>,
    /// Index in `trials` of the best one (highest validation accuracy; the first on a tie).
    pub best_index: usize,
    /// The best trial's trained classifier.
    pub best: LinearClassifier<T>,
    /// The best trial's loss history.
    pub best_loss_history: Vec<T>,
}

impl<T> SearchOutcome<T> {
    /// The best trial.
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// let X = array![[-1.0_f64, 1.0], [1.0, 1.0]];
    /// let y = array![0usize, 1];
    /// let cfg = linear::SearchConfig { num_iters: 50, batch_size: 2, ..Default::default() };
    /// let out = linear::grid_search(linear::Loss::Svm, &X.view(), &y.view(), &X.view(), &y.view(),
    ///     &[0.5], &[0.0, 1e-3], &cfg, |_, _| {}).unwrap();
    /// assert_eq!(out.best_trial(), &out.trials[out.best_index]);
    /// ```
    pub fn best_trial(&self) -> &Trial {
        &self.trials[self.best_index]
    }
}

/// Every (learning rate, reg) pair of the two lists, learning rate outermost (the
/// notebooks' nested loops).
///
/// # Example
/// ```
/// assert_eq!(linear::grid(&[1e-7, 1e-6], &[1e4]), vec![(1e-7, 1e4), (1e-6, 1e4)]);
/// ```
pub fn grid(learning_rates: &[f64], regs: &[f64]) -> Vec<(f64, f64)> {
    learning_rates
        .iter()
        .flat_map(|&lr| regs.iter().map(move |&reg| (lr, reg)))
        .collect()
}

/// `num_trials` pairs drawn log-uniformly from the two ranges `(low, high)`:
/// random search covers each axis with more distinct values than a grid of the
/// same size (Bergstra & Bengio, 2012), and rates matter on a log scale.
///
/// # Errors
/// [`LinearError::HyperParameter`] unless `0 < low ≤ high` (both finite) for each range.
///
/// # Example
/// ```
/// let pairs = linear::random_pairs((1e-8, 1e-6), (1e3, 1e5), 5, 0).unwrap();
/// assert_eq!(pairs.len(), 5);
/// assert!(pairs.iter().all(|&(lr, reg)| (1e-8..=1e-6).contains(&lr) && (1e3..=1e5).contains(&reg)));
/// ```
pub fn random_pairs(
    learning_rate_range: (f64, f64),
    reg_range: (f64, f64),
    num_trials: usize,
    seed: u64,
) -> Result<Vec<(f64, f64)>, LinearError> {
    for (name, (lo, hi)) in [
        ("learning-rate", learning_rate_range),
        ("regularisation", reg_range),
    ] {
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return Err(LinearError::HyperParameter(format!(
                "{name} range ({lo}, {hi}) must satisfy 0 < low ≤ high for a log-uniform draw"
            )));
        }
    }
    let mut rng = numeric::rng(seed);
    let mut draw = |(lo, hi): (f64, f64)| {
        let (a, b) = (lo.ln(), hi.ln());
        let u: f64 = rng.random();
        (a + u * (b - a)).exp().clamp(lo, hi)
    };
    Ok((0..num_trials)
        .map(|_| (draw(learning_rate_range), draw(reg_range)))
        .collect())
}

/// Trains one classifier per (learning rate, reg) pair on the training split,
/// scores each on the training and validation splits, and keeps the one with the
/// best validation accuracy. `on_trial(index, trial)` runs after each trial (for
/// progress output).
///
/// # Errors
/// [`LinearError`] when the splits' shapes or labels disagree, a split is empty,
/// `pairs` is empty, or a hyper-parameter is unusable.
///
/// # Example
/// ```
/// use ndarray::array;
/// let X = array![[-1.0_f64, 1.0], [1.0, 1.0]];
/// let y = array![0usize, 1];
/// let cfg = linear::SearchConfig { num_iters: 50, batch_size: 2, ..Default::default() };
/// let mut seen = Vec::new();
/// let out = linear::search(linear::Loss::Svm, &X.view(), &y.view(), &X.view(), &y.view(),
///     &[(0.5, 0.0), (1e-9, 0.0)], &cfg, |i, t| seen.push((i, t.val_accuracy))).unwrap();
/// assert_eq!(seen.len(), 2);
/// assert_eq!(out.best_index, 0);
/// ```
pub fn search<T: Float>(
    loss: Loss,
    X_train: &ArrayView2<T>,
    y_train: &ArrayView1<usize>,
    X_val: &ArrayView2<T>,
    y_val: &ArrayView1<usize>,
    pairs: &[(f64, f64)],
    config: &SearchConfig,
    mut on_trial: impl FnMut(usize, &Trial),
) -> Result<SearchOutcome<T>, LinearError> {
    if pairs.is_empty() {
        return Err(LinearError::Empty(
            "no (learning rate, reg) pairs to search".into(),
        ));
    }
    let num_classes = num_classes(y_train, y_val)?;
    let template = || {
        LinearClassifier::<T>::new(
            loss,
            X_train.ncols(),
            num_classes,
            &mut numeric::rng(config.init_seed),
        )
    };
    template().check_data(X_val, y_val, "validation")?;

    // Row-major once for all trials (training would otherwise copy per trial).
    let X_train = &X_train.as_standard_layout();
    let X_train = &X_train.view();
    let mut trials: Vec<Trial> = Vec::with_capacity(pairs.len());
    let mut best: Option<(usize, LinearClassifier<T>, Vec<T>)> = None;
    for (index, &(learning_rate, reg)) in pairs.iter().enumerate() {
        let mut clf = template();
        let history = clf.train(
            X_train,
            y_train,
            T::cast(learning_rate),
            T::cast(reg),
            config.num_iters,
            config.batch_size,
            &config.options,
        )?;
        let trial = Trial {
            learning_rate,
            reg,
            train_accuracy: clf.accuracy(X_train, y_train)?,
            val_accuracy: clf.accuracy(X_val, y_val)?,
            final_loss: history.last().map_or(f64::NAN, |l| l.as_f64()),
            iterations: history.len(),
        };
        on_trial(index, &trial);
        let better = best
            .as_ref()
            .is_none_or(|(b, _, _)| trial.val_accuracy > trials[*b].val_accuracy);
        trials.push(trial);
        if better {
            best = Some((index, clf, history));
        }
    }
    let (best_index, best, best_loss_history) = best.expect("pairs is not empty");
    Ok(SearchOutcome {
        trials,
        best_index,
        best,
        best_loss_history,
    })
}

/// [`search`] over the [`grid`] of `learning_rates × regs`.
///
/// # Errors
/// As [`search`].
///
/// # Example
/// ```
/// use linear::{grid_search, Loss, SearchConfig};
/// use ndarray::array;
/// // Two separable classes (with the bias column); validation = training here.
/// let X = array![[-2.0_f64, 1.0], [-1.0, 1.0], [1.0, 1.0], [2.0, 1.0]];
/// let y = array![0usize, 0, 1, 1];
/// let cfg = SearchConfig { num_iters: 100, batch_size: 4, ..SearchConfig::default() };
/// let out = grid_search(Loss::Svm, &X.view(), &y.view(), &X.view(), &y.view(),
///     &[1e-6, 1e-1], &[0.0, 1e-3], &cfg, |_, _| {}).unwrap();
/// assert_eq!(out.trials.len(), 4);
/// assert_eq!(out.best_trial().val_accuracy, 1.0);
/// assert_eq!(out.best.predict(&X.view()).unwrap(), y);
/// ```
pub fn grid_search<T: Float>(
    loss: Loss,
    X_train: &ArrayView2<T>,
    y_train: &ArrayView1<usize>,
    X_val: &ArrayView2<T>,
    y_val: &ArrayView1<usize>,
    learning_rates: &[f64],
    regs: &[f64],
    config: &SearchConfig,
    on_trial: impl FnMut(usize, &Trial),
) -> Result<SearchOutcome<T>, LinearError> {
    let pairs = grid(learning_rates, regs);
    search(
        loss, X_train, y_train, X_val, y_val, &pairs, config, on_trial,
    )
}

/// [`search`] over `num_trials` log-uniform [`random_pairs`] (seeded by
/// `config.init_seed`).
///
/// # Errors
/// As [`search`] and [`random_pairs`].
///
/// # Example
/// ```
/// use linear::{random_search, Loss, SearchConfig};
/// use ndarray::array;
/// let X = array![[-2.0_f64, 1.0], [-1.0, 1.0], [1.0, 1.0], [2.0, 1.0]];
/// let y = array![0usize, 0, 1, 1];
/// let cfg = SearchConfig { num_iters: 100, batch_size: 4, ..SearchConfig::default() };
/// let out = random_search(Loss::Softmax, &X.view(), &y.view(), &X.view(), &y.view(),
///     (1e-2, 1.0), (1e-4, 1e-2), 3, &cfg, |_, _| {}).unwrap();
/// assert_eq!(out.trials.len(), 3);
/// assert_eq!(out.best_trial().val_accuracy, 1.0);
/// ```
pub fn random_search<T: Float>(
    loss: Loss,
    X_train: &ArrayView2<T>,
    y_train: &ArrayView1<usize>,
    X_val: &ArrayView2<T>,
    y_val: &ArrayView1<usize>,
    learning_rate_range: (f64, f64),
    reg_range: (f64, f64),
    num_trials: usize,
    config: &SearchConfig,
    on_trial: impl FnMut(usize, &Trial),
) -> Result<SearchOutcome<T>, LinearError> {
    let pairs = random_pairs(learning_rate_range, reg_range, num_trials, config.init_seed)?;
    search(
        loss, X_train, y_train, X_val, y_val, &pairs, config, on_trial,
    )
}

/// Number of classes: one more than the largest label of either split (the course's
/// `np.max(y) + 1`).
fn num_classes(
    y_train: &ArrayView1<usize>,
    y_val: &ArrayView1<usize>,
) -> Result<usize, LinearError> {
    let max = y_train
        .iter()
        .chain(y_val)
        .copied()
        .max()
        .ok_or_else(|| LinearError::Empty("no labels".into()))?;
    Ok(max + 1)
}
