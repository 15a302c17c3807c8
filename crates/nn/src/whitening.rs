//! Whitening initialisation of the recipe's first layer (airbench94): a frozen 2×2
//! convolution whose filters decorrelate the pixels of 2×2 patches.
//!
//! The 2×2×C patches of the training images have a covariance `Σ` (C·4 × C·4), and
//! neighbouring pixels are strongly correlated. With `Σ = V·diag(λ)·Vᵀ`, the filters
//! `vₖ/√(λₖ + ε)` map a patch to coordinates of unit variance that are uncorrelated
//! with each other (PCA whitening, lecture 6's data preprocessing done as a layer).
//! Each filter is used with both signs (`±`), so a following GELU keeps both halves
//! of every direction: 2·C·4 = 24 filters for colour images.
//!
//! Why it helps: the first layer no longer spends its training learning to undo the
//! pixel correlations, and every direction of the input (even the low-variance,
//! fine-detail ones) starts on the same scale, so gradient descent is better
//! conditioned from the first step.
//!
//! The eigendecomposition is a cyclic Jacobi sweep ([`symmetric_eigen`]): the matrix
//! is 12×12, so a textbook method that is easy to check beats a dependency.
//!
//! ```
//! use ndarray::Array4;
//! let images: Array4<f64> = numeric::randn((50, 3, 8, 8), &mut numeric::rng(0));
//! let w = nn::whitening_filters(&images.view(), 5e-4);
//! assert_eq!(w.dim(), (24, 3, 2, 2));
//! ```

use ndarray::{Array1, Array2, Array4, ArrayView2, ArrayView4};
use numeric::Float;

/// The covariance (uncentred second moment, as airbench94) of the 2×2 patches of
/// `images` (N, C, H, W) at every position: a (C·4, C·4) matrix whose axes are the
/// patch entries in (channel, row, column) order, computed in `f64`.
///
/// ```
/// let x = ndarray::Array4::<f32>::ones((2, 1, 3, 3));
/// assert_eq!(nn::patch_covariance(&x.view()), ndarray::Array2::<f64>::ones((4, 4)));
/// ```
pub fn patch_covariance<T: Float>(images: &ArrayView4<'_, T>) -> Array2<f64> {
    let (n, c, h, w) = images.dim();
    let d = c * 4;
    let mut cov = Array2::<f64>::zeros((d, d));
    if h < 2 || w < 2 || n == 0 {
        return cov;
    }
    let mut patch = vec![0.0_f64; d];
    for image in images.outer_iter() {
        for i in 0..h - 1 {
            for j in 0..w - 1 {
                for (k, p) in patch.iter_mut().enumerate() {
                    let (ch, di, dj) = (k / 4, (k / 2) % 2, k % 2);
                    *p = image[[ch, i + di, j + dj]].as_f64();
                }
                for a in 0..d {
                    for b in a..d {
                        cov[[a, b]] += patch[a] * patch[b];
                    }
                }
            }
        }
    }
    let count = (n * (h - 1) * (w - 1)) as f64;
    for a in 0..d {
        for b in a..d {
            cov[[a, b]] /= count;
            cov[[b, a]] = cov[[a, b]];
        }
    }
    cov
}

/// Eigenvalues (descending) and unit eigenvectors (the columns, in the same order) of
/// the symmetric matrix `a`, by cyclic Jacobi rotations until the off-diagonal part
/// is below `1e-14` of the matrix's norm (or 100 sweeps).
///
/// ```
/// let a = ndarray::array![[2.0, 1.0], [1.0, 2.0]];
/// let (values, vectors) = nn::symmetric_eigen(&a.view());
/// assert!((values[0] - 3.0).abs() < 1e-12 && (values[1] - 1.0).abs() < 1e-12);
/// assert!((vectors[[0, 0]].abs() - 0.5f64.sqrt()).abs() < 1e-12);
/// ```
///
/// # Panics
/// If `a` is not square.
pub fn symmetric_eigen(a: &ArrayView2<'_, f64>) -> (Array1<f64>, Array2<f64>) {
    let n = a.nrows();
    assert_eq!(a.ncols(), n, "symmetric_eigen: the matrix must be square");
    let mut a = a.to_owned();
    let mut v = Array2::<f64>::eye(n);
    let norm = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|p| (0..n).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[[p, q]] * a[[p, q]])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-14 * norm {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[[p, q]] == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, §8.5).
                let theta = (a[[q, q]] - a[[p, p]]) / (2.0 * a[[p, q]]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[[k, p]], a[[k, q]]);
                    a[[k, p]] = c * akp - s * akq;
                    a[[k, q]] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[[p, k]], a[[q, k]]);
                    a[[p, k]] = c * apk - s * aqk;
                    a[[q, k]] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[[k, p]], v[[k, q]]);
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[[j, j]].total_cmp(&a[[i, i]]));
    let values = Array1::from_iter(order.iter().map(|&i| a[[i, i]]));
    let vectors = Array2::from_shape_fn((n, n), |(r, k)| v[[r, order[k]]]);
    (values, vectors)
}

/// The whitening filters for `images` (N, C, H, W), normalised as the network sees
/// them: the eigenvectors of [`patch_covariance`], largest eigenvalue first, each
/// divided by `√(λ + eps)`, then the same filters negated: (2·C·4, C, 2, 2).
/// airbench94 uses 5 000 training images and `eps = 5e-4`.
pub fn whitening_filters<T: Float>(images: &ArrayView4<'_, T>, eps: f64) -> Array4<T> {
    let c = images.dim().1;
    let d = c * 4;
    let (values, vectors) = symmetric_eigen(&patch_covariance(images).view());
    let mut w = Array4::<T>::zeros((2 * d, c, 2, 2));
    for k in 0..d {
        let scale = 1.0 / (values[k].max(0.0) + eps).sqrt();
        for e in 0..d {
            let value = vectors[[e, k]] * scale;
            let (ch, di, dj) = (e / 4, (e / 2) % 2, e % 2);
            w[[k, ch, di, dj]] = T::cast(value);
            w[[k + d, ch, di, dj]] = T::cast(-value);
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, s};

    use super::*;

    #[test]
    fn eigen_reconstructs_a_random_symmetric_matrix() {
        let b: Array2<f64> = numeric::randn((12, 12), &mut numeric::rng(1));
        let a = b.t().dot(&b);
        let (values, v) = symmetric_eigen(&a.view());
        let rebuilt = v.dot(&Array2::from_diag(&values)).dot(&v.t());
        assert!((&rebuilt - &a).iter().all(|e| e.abs() < 1e-10));
        assert!(
            (v.t().dot(&v) - Array2::<f64>::eye(12))
                .iter()
                .all(|e| e.abs() < 1e-12)
        );
        assert!(values.windows(2).into_iter().all(|w| w[0] >= w[1]));
    }

    #[test]
    fn the_filters_whiten_the_patches() {
        // Correlated pixels: each image is a smooth ramp plus a little noise.
        let mut rng = numeric::rng(2);
        let noise: Array4<f64> = numeric::randn((40, 3, 6, 6), &mut rng);
        let slopes: Array2<f64> = numeric::randn((40, 3), &mut rng);
        let images = Array4::from_shape_fn((40, 3, 6, 6), |(n, c, i, j)| {
            slopes[[n, c]] * (i + j) as f64 + 0.1 * noise[[n, c, i, j]]
        });
        let w = whitening_filters(&images.view(), 0.0);
        // Response covariance of the first 12 filters: W·Σ·Wᵀ = identity.
        let cov = patch_covariance(&images.view());
        let flat = w
            .slice(s![..12, .., .., ..])
            .to_owned()
            .into_shape_with_order((12, 12))
            .unwrap();
        let white = flat.dot(&cov).dot(&flat.t());
        assert!(
            (&white - &Array2::<f64>::eye(12))
                .iter()
                .all(|e| e.abs() < 1e-8),
            "{white}"
        );
        // The second half are the negatives of the first.
        assert_eq!(
            w.slice(s![12.., .., .., ..]),
            w.slice(s![..12, .., .., ..]).mapv(|v| -v)
        );
    }

    #[test]
    fn patch_entries_follow_channel_row_column_order() {
        // One 1-channel image [[1, 2], [3, 4]]: a single patch p, cov = p·pᵀ.
        let x = Array4::from_shape_vec((1, 1, 2, 2), vec![1.0_f64, 2.0, 3.0, 4.0]).unwrap();
        let cov = patch_covariance(&x.view());
        assert_eq!(cov[[0, 3]], 4.0);
        assert_eq!(cov[[1, 2]], 6.0);
        assert_eq!(cov[[3, 3]], 16.0);
    }
}
