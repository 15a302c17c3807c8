//! Spatial batchnorm as the course writes it: plain batchnorm on the activations
//! reshaped to rows of C features, (N, C, H, W) → (N·H·W, C), and back. The
//! reference the NCHW version ([`crate::spatial_batchnorm_forward`]) is tested
//! against; the transposes each way cost more than the normalisation itself.

use ndarray::{Array1, Array2, Array4, ArrayView1, ArrayView4};
use numeric::Float;

use crate::layer::Mode;
use crate::norm::{BatchNormParam, NormCache, batchnorm_backward, batchnorm_forward};
use crate::spatial::check_channels;

/// (N, C, H, W) → (N·H·W, C): one row per (image, position), one column per channel.
fn to_rows<T: Float>(x: &ArrayView4<'_, T>) -> Array2<T> {
    let (n, c, h, w) = x.dim();
    x.view()
        .permuted_axes([0, 2, 3, 1])
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((n * h * w, c))
        .expect("standard layout")
}

/// The inverse of [`to_rows`].
fn from_rows<T: Float>(rows: Array2<T>, (n, c, h, w): (usize, usize, usize, usize)) -> Array4<T> {
    rows.into_shape_with_order((n, h, w, c))
        .expect("N·H·W rows of C")
        .permuted_axes([0, 3, 1, 2])
        .as_standard_layout()
        .into_owned()
}

/// What [`spatial_batchnorm_backward_naive`] needs: batchnorm's cache on the rows.
#[derive(Debug, Clone)]
pub struct SpatialBatchNormNaiveCache<T> {
    rows: NormCache<T>,
    dim: (usize, usize, usize, usize),
}

/// The course's spatial batchnorm: [`batchnorm_forward`] on `x` reshaped to rows
/// (N·H·W, C), reshaped back. The reference [`crate::spatial_batchnorm_forward`] is tested
/// against.
///
/// # Panics
/// If `gamma`, `beta` or `bn` do not have C entries.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::{BatchNormParam, Mode, spatial_batchnorm_forward, spatial_batchnorm_forward_naive};
/// let x: Array4<f64> = numeric::randn((2, 3, 4, 4), &mut numeric::rng(3));
/// let (g, b) = (Array1::ones(3), Array1::zeros(3));
/// let (naive, _) = spatial_batchnorm_forward_naive(&x.view(), &g.view(), &b.view(), &mut BatchNormParam::new(3), Mode::Train);
/// let (fast, _) = spatial_batchnorm_forward(&x.view(), &g.view(), &b.view(), &mut BatchNormParam::new(3), Mode::Train);
/// assert!((naive - fast).iter().all(|d| d.abs() < 1e-12));
/// ```
pub fn spatial_batchnorm_forward_naive<T: Float>(
    x: &ArrayView4<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    bn: &mut BatchNormParam<T>,
    mode: Mode,
) -> (Array4<T>, SpatialBatchNormNaiveCache<T>) {
    check_channels(x.dim().1, gamma, beta, bn);
    let rows = to_rows(x);
    let (out, cache) = batchnorm_forward(&rows.view(), gamma, beta, bn, mode);
    (
        from_rows(out, x.dim()),
        SpatialBatchNormNaiveCache {
            rows: cache,
            dim: x.dim(),
        },
    )
}

/// Backward pass of [`spatial_batchnorm_forward_naive`]: `(dx, dgamma, dbeta)`,
/// through the same reshape and [`batchnorm_backward`].
///
/// # Panics
/// If `dout` is not shaped like the forward pass's input.
pub fn spatial_batchnorm_backward_naive<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &SpatialBatchNormNaiveCache<T>,
) -> (Array4<T>, Array1<T>, Array1<T>) {
    assert_eq!(
        dout.dim(),
        cache.dim,
        "spatial batchnorm backward: dout shape differs from x"
    );
    let (dx, dgamma, dbeta) = batchnorm_backward(&to_rows(dout).view(), &cache.rows);
    (from_rows(dx, cache.dim), dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{check_scale_shift_grads, randn4};

    #[test]
    fn naive_backward_matches_numerical_gradients() {
        let mut x = randn4((2, 3, 4, 5), 1) * 2.0 + 1.0;
        let mut gamma: Array1<f64> = numeric::randn(3, &mut numeric::rng(2));
        let mut beta: Array1<f64> = numeric::randn(3, &mut numeric::rng(3));
        let dout = randn4((2, 3, 4, 5), 4);
        let fwd = |x: &Array4<f64>, g: &Array1<f64>, b: &Array1<f64>| {
            spatial_batchnorm_forward_naive(
                &x.view(),
                &g.view(),
                &b.view(),
                &mut BatchNormParam::new(3),
                Mode::Train,
            )
            .0
        };
        let (_, cache) = spatial_batchnorm_forward_naive(
            &x.view(),
            &gamma.view(),
            &beta.view(),
            &mut BatchNormParam::new(3),
            Mode::Train,
        );
        let (dx, dgamma, dbeta) = spatial_batchnorm_backward_naive(&dout.view(), &cache);
        // dx: 1e-6, not 1e-7. Some elements of dx are ~1e-5, where the centred
        // difference's rounding floor (~1e-11 absolute) alone is a 4e-7 relative error;
        // the course's own check reports errors of this order for this layer.
        let inputs = (&mut x, &mut gamma, &mut beta);
        check_scale_shift_grads(fwd, inputs, &dout, (&dx, &dgamma, &dbeta), 1e-6);
    }
}
