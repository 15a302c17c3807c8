//! The geometric viewpoint in two dimensions: toy data a reader can see, and the
//! regions a trained classifier carves the plane into.
//!
//! With two features and the bias trick, class `j`'s score `s_j = w₀ⱼ·x + w₁ⱼ·y + bⱼ`
//! is a plane over the (x, y) plane; it is 0 on a line, positive on the side its
//! weight vector `(w₀ⱼ, w₁ⱼ)` points to. The classifier picks the highest plane, so
//! the regions are convex polygons bounded by lines where two scores tie. Pixel
//! space (D = 3 072) works the same way, with hyperplanes.

use ndarray::{Array1, Array2};
use numeric::Float;
use rand::Rng as _;

use crate::classifier::LinearClassifier;
use crate::error::LinearError;

/// `n_per_class` points for each of `num_classes` Gaussian blobs (standard deviation
/// `spread`) whose centres sit evenly on the unit circle, as rows `[x, y, 1]`
/// (the bias trick's column of ones appended) with their labels.
///
/// # Example
/// ```
/// let (X, y) = linear::toy_blobs(50, 3, 0.3, 0);
/// assert_eq!(X.dim(), (150, 3));
/// assert!(X.column(2).iter().all(|&b| b == 1.0));
/// assert_eq!(y.iter().filter(|&&c| c == 2).count(), 50);
/// ```
pub fn toy_blobs(
    n_per_class: usize,
    num_classes: usize,
    spread: f64,
    seed: u64,
) -> (Array2<f64>, Array1<usize>) {
    let mut rng = numeric::rng(seed);
    let n = n_per_class * num_classes;
    let noise = numeric::randn::<f64, _, _>((n, 2), &mut rng) * spread;
    let mut X = Array2::ones((n, 3));
    let mut y = Array1::zeros(n);
    // Shuffle the order so that a prefix of the rows is not all one class.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    for (row, &k) in order.iter().enumerate() {
        let class = k % num_classes.max(1);
        let angle = std::f64::consts::TAU * class as f64 / num_classes.max(1) as f64;
        X[[row, 0]] = angle.cos() + noise[[row, 0]];
        X[[row, 1]] = angle.sin() + noise[[row, 1]];
        y[row] = class;
    }
    (X, y)
}

/// The class each point of a `width × height` grid over `[x0, x1] × [y0, y1]` is
/// assigned to by a 2-D classifier (`W` of shape (3, C): x, y, bias). Row 0 of the
/// result is the top of the picture (`y = y1`), as image rows go.
///
/// # Errors
/// [`LinearError::Shape`] unless `W` has 3 rows.
///
/// # Example
/// ```
/// use ndarray::array;
/// // Class 0 where x < 0, class 1 where x > 0.
/// let clf = linear::LinearClassifier::from_weights(linear::Loss::Softmax, array![[-1.0_f64, 1.0], [0.0, 0.0], [0.0, 0.0]]);
/// let regions = linear::class_regions(&clf, (-1.0, 1.0), (-1.0, 1.0), 4, 2).unwrap();
/// assert_eq!(regions, array![[0, 0, 1, 1], [0, 0, 1, 1]]);
/// ```
pub fn class_regions<T: Float>(
    clf: &LinearClassifier<T>,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    width: usize,
    height: usize,
) -> Result<Array2<usize>, LinearError> {
    if clf.dim() != 3 {
        return Err(LinearError::Shape(format!(
            "class regions are for 2-D data with the bias column (W of 3 rows); W has {}",
            clf.dim()
        )));
    }
    // Pixel centres, as rows [x, y, 1], one image row after another.
    let points = Array2::from_shape_fn((width * height, 3), |(p, f)| {
        let (row, col) = (p / width.max(1), p % width.max(1));
        match f {
            0 => T::cast(x0 + (x1 - x0) * (col as f64 + 0.5) / width as f64),
            1 => T::cast(y1 - (y1 - y0) * (row as f64 + 0.5) / height as f64),
            _ => T::one(),
        }
    });
    let labels = clf.predict(&points.view())?;
    Ok(labels
        .into_shape_with_order((height, width))
        .expect("width·height labels"))
}

/// Class `j`'s score line `w₀ⱼ·x + w₁ⱼ·y + bⱼ = 0` of a 2-D classifier, as
/// `(w₀ⱼ, w₁ⱼ, bⱼ)` for each class (the columns of `W`): draw the line, and the
/// arrow `(w₀ⱼ, w₁ⱼ)` pointing to where the score grows.
///
/// # Errors
/// [`LinearError::Shape`] unless `W` has 3 rows.
///
/// # Example
/// ```
/// use ndarray::array;
/// let clf = linear::LinearClassifier::from_weights(linear::Loss::Svm, array![[1.0_f64, 2.0], [3.0, 4.0], [5.0, 6.0]]);
/// assert_eq!(linear::score_lines(&clf).unwrap(), vec![(1.0, 3.0, 5.0), (2.0, 4.0, 6.0)]);
/// ```
pub fn score_lines<T: Float>(
    clf: &LinearClassifier<T>,
) -> Result<Vec<(f64, f64, f64)>, LinearError> {
    if clf.dim() != 3 {
        return Err(LinearError::Shape(format!(
            "score lines are for 2-D data with the bias column (W of 3 rows); W has {}",
            clf.dim()
        )));
    }
    Ok(clf
        .W
        .columns()
        .into_iter()
        .map(|c| (c[0].as_f64(), c[1].as_f64(), c[2].as_f64()))
        .collect())
}
