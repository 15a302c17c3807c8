use ndarray::{ArrayView1, ArrayView2, Axis, concatenate, s};
use numeric::Float;

use crate::checks::check_finite;
use crate::{KNearestNeighbor, KnnError};

/// The course's number of folds.
pub const COURSE_NUM_FOLDS: usize = 5;
/// The course's values of k to cross-validate.
pub const COURSE_K_CHOICES: [usize; 10] = [1, 3, 5, 8, 10, 12, 15, 20, 50, 100];

/// Accuracies of one k over all folds.
///
/// ```
/// let a = knn::KAccuracy::new(3, vec![0.5, 0.7]);
/// assert!((a.mean - 0.6).abs() < 1e-12 && (a.std - 0.1).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct KAccuracy {
    /// Number of neighbours.
    pub k: usize,
    /// Validation accuracy on each fold, in fold order.
    pub fold_accuracies: Vec<f64>,
    /// Mean over folds.
    pub mean: f64,
    /// Standard deviation over folds (population, as `np.std`; the notebook's error bars).
    pub std: f64,
}

impl KAccuracy {
    /// Summarises the accuracies of `k` on each fold.
    ///
    /// ```
    /// let a = knn::KAccuracy::new(1, vec![0.25; 4]);
    /// assert_eq!((a.mean, a.std), (0.25, 0.0));
    /// ```
    pub fn new(k: usize, fold_accuracies: Vec<f64>) -> Self {
        let n = fold_accuracies.len() as f64;
        let mean = fold_accuracies.iter().sum::<f64>() / n;
        let var = fold_accuracies
            .iter()
            .map(|a| (a - mean) * (a - mean))
            .sum::<f64>()
            / n;
        Self {
            k,
            fold_accuracies,
            mean,
            std: var.sqrt(),
        }
    }
}

/// The result of k-fold cross-validation: one [`KAccuracy`] per k tried, in the
/// order the k were given.
///
/// ```
/// use knn::{CrossValidation, KAccuracy};
/// let cv = CrossValidation { num_folds: 2, per_k: vec![
///     KAccuracy::new(1, vec![0.3, 0.4]), KAccuracy::new(5, vec![0.5, 0.4])] };
/// assert_eq!(cv.best().k, 5);
/// assert_eq!(cv.get(1).unwrap().fold_accuracies, vec![0.3, 0.4]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CrossValidation {
    /// Number of folds.
    pub num_folds: usize,
    /// Results per k.
    pub per_k: Vec<KAccuracy>,
}

impl CrossValidation {
    /// The k with the highest mean accuracy; of equal means, the smaller k (the
    /// simpler, smoother classifier).
    ///
    /// # Panics
    /// If `per_k` is empty, which [`cross_validate`] never returns.
    ///
    /// ```
    /// use knn::{CrossValidation, KAccuracy};
    /// let cv = CrossValidation { num_folds: 2, per_k: vec![
    ///     KAccuracy::new(8, vec![0.5, 0.5]), KAccuracy::new(3, vec![0.5, 0.5])] };
    /// assert_eq!(cv.best().k, 3);
    /// ```
    pub fn best(&self) -> &KAccuracy {
        self.per_k
            .iter()
            .reduce(|b, a| {
                if a.mean > b.mean || (a.mean == b.mean && a.k < b.k) {
                    a
                } else {
                    b
                }
            })
            .expect("at least one k")
    }

    /// The results of `k`, if it was tried.
    ///
    /// ```
    /// let cv = knn::CrossValidation { num_folds: 2, per_k: vec![knn::KAccuracy::new(1, vec![1.0, 0.0])] };
    /// assert!(cv.get(2).is_none());
    /// ```
    pub fn get(&self, k: usize) -> Option<&KAccuracy> {
        self.per_k.iter().find(|a| a.k == k)
    }
}

/// Fraction of predictions equal to the labels (`np.mean(y_pred == y)`); NaN when empty.
///
/// # Errors
/// Lengths that differ.
///
/// ```
/// use ndarray::array;
/// assert_eq!(knn::accuracy(array![1, 2, 3, 4].view(), array![1, 2, 0, 4].view()).unwrap(), 0.75);
/// ```
pub fn accuracy(y_pred: ArrayView1<'_, usize>, y: ArrayView1<'_, usize>) -> Result<f64, KnnError> {
    if y_pred.len() != y.len() {
        return Err(KnnError::PredictionCount {
            predictions: y_pred.len(),
            labels: y.len(),
        });
    }
    let correct = y_pred.iter().zip(y).filter(|(a, b)| a == b).count();
    Ok(correct as f64 / y.len() as f64)
}

/// k-fold cross-validation with the course's classifier (L2, majority vote): see
/// [`KNearestNeighbor::cross_validate`].
///
/// # Errors
/// As [`KNearestNeighbor::cross_validate`].
///
/// ```
/// use ndarray::{Array1, Array2};
/// // Two well separated classes: every k below the class size is perfect.
/// let x = Array2::from_shape_fn((20, 2), |(i, j)| (i % 2) as f64 * 10.0 + (i * 7 + j) as f64 % 3.0);
/// let y = Array1::from_shape_fn(20, |i| i % 2);
/// let cv = knn::cross_validate(x.view(), y.view(), 4, &[1, 3]).unwrap();
/// assert_eq!(cv.per_k[1].fold_accuracies, vec![1.0; 4]);
/// ```
pub fn cross_validate<T: Float>(
    x: ArrayView2<'_, T>,
    y: ArrayView1<'_, usize>,
    num_folds: usize,
    k_choices: &[usize],
) -> Result<CrossValidation, KnnError> {
    KNearestNeighbor::new().cross_validate(x, y, num_folds, k_choices)
}

impl<T: Float> KNearestNeighbor<T> {
    /// k-fold cross-validation as in the course notebook, with this classifier's metric
    /// and vote (its own training set, if any, is not used or changed).
    ///
    /// The examples split into `num_folds` consecutive folds (`np.array_split`: the
    /// first folds take one extra example when the split is uneven). Each fold in turn
    /// validates a classifier trained on the others, concatenated in order. The
    /// neighbours of each validation fold are searched once, for the largest k, and
    /// every k votes with the nearest k of them: one distance computation per fold,
    /// in bounded memory ([`kneighbors`](Self::kneighbors)).
    ///
    /// # Errors
    /// Labels and rows that disagree, a non-finite value, `num_folds` out of
    /// 2..=num_examples, no k, or a k beyond the smallest training split.
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// let x = Array2::from_shape_fn((30, 3), |(i, j)| ((i * 13 + j * 7) % 11) as f32);
    /// let y = Array1::from_shape_fn(30, |i| i % 3);
    /// let knn = knn::KNearestNeighbor::new().with_metric(knn::Metric::L1);
    /// let cv = knn.cross_validate(x.view(), y.view(), 5, &[1, 5, 10]).unwrap();
    /// assert_eq!(cv.per_k.len(), 3);
    /// assert!(cv.per_k.iter().all(|a| a.fold_accuracies.len() == 5));
    /// ```
    pub fn cross_validate(
        &self,
        x: ArrayView2<'_, T>,
        y: ArrayView1<'_, usize>,
        num_folds: usize,
        k_choices: &[usize],
    ) -> Result<CrossValidation, KnnError> {
        self.cross_validate_with_progress(x, y, num_folds, k_choices, |_, _| {})
    }

    /// [`cross_validate`](Self::cross_validate), calling `progress(done, total)` in
    /// validation examples over all folds (total = number of examples).
    ///
    /// # Errors
    /// As [`cross_validate`](Self::cross_validate).
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// let x = Array2::from_shape_fn((10, 2), |(i, j)| (i + j) as f64);
    /// let y = Array1::from_shape_fn(10, |i| i / 5);
    /// let knn = knn::KNearestNeighbor::new();
    /// let cv = knn.cross_validate_with_progress(x.view(), y.view(), 2, &[1], |done, total| {
    ///     assert!(done <= total && total == 10);
    /// }).unwrap();
    /// assert_eq!(cv.num_folds, 2);
    /// ```
    pub fn cross_validate_with_progress<F>(
        &self,
        x: ArrayView2<'_, T>,
        y: ArrayView1<'_, usize>,
        num_folds: usize,
        k_choices: &[usize],
        progress: F,
    ) -> Result<CrossValidation, KnnError>
    where
        F: Fn(usize, usize) + Sync,
    {
        let n = x.nrows();
        if y.len() != n {
            return Err(KnnError::LabelCount {
                rows: n,
                labels: y.len(),
            });
        }
        if num_folds < 2 || num_folds > n {
            return Err(KnnError::InvalidFolds {
                num_folds,
                num_examples: n,
            });
        }
        let k_max = *k_choices.iter().max().ok_or(KnnError::NoKChoices)?;
        // The largest fold leaves the smallest training split.
        let smallest_train = n - n.div_ceil(num_folds);
        if let Some(&k) = k_choices.iter().find(|&&k| k == 0 || k > smallest_train) {
            return Err(KnnError::InvalidK {
                k,
                num_train: smallest_train,
            });
        }
        check_finite(x, "training")?;

        let bounds: Vec<(usize, usize)> = (0..num_folds)
            .scan(0, |start, f| {
                let len = n / num_folds + usize::from(f < n % num_folds);
                let b = (*start, *start + len);
                *start += len;
                Some(b)
            })
            .collect();
        let mut acc = vec![Vec::with_capacity(num_folds); k_choices.len()];
        for &(lo, hi) in &bounds {
            let x_train = concatenate(Axis(0), &[x.slice(s![..lo, ..]), x.slice(s![hi.., ..])])
                .expect("same column count");
            let y_train =
                concatenate(Axis(0), &[y.slice(s![..lo]), y.slice(s![hi..])]).expect("1-D");
            let mut fold = KNearestNeighbor::new()
                .with_metric(self.metric())
                .with_vote(self.vote());
            fold.train_owned(x_train, y_train)?;
            let nb = fold.kneighbors_with_progress(x.slice(s![lo..hi, ..]), k_max, |done, _| {
                progress(lo + done, n)
            })?;
            for (a, &k) in acc.iter_mut().zip(k_choices) {
                let y_pred = fold.vote_labels(&nb, k)?;
                a.push(accuracy(y_pred.view(), y.slice(s![lo..hi]))?);
            }
        }
        Ok(CrossValidation {
            num_folds,
            per_k: k_choices
                .iter()
                .zip(acc)
                .map(|(&k, a)| KAccuracy::new(k, a))
                .collect(),
        })
    }
}
