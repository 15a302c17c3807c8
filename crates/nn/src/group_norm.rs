//! Group normalisation (Wu & He, 2018) of convolutional activations (N, C, H, W):
//! per *example*, the channels are split into `G` groups and each group is
//! normalised over its channels and positions, then scaled and shifted per channel.
//! No batch statistics, so it behaves the same for any batch size, in train and
//! test. It is layer normalisation ([`crate::layernorm_forward`]) on rows of
//! (N·G, C/G·H·W), followed by the per-channel `gamma`, `beta`.

use ndarray::{Array1, Array4, ArrayD, ArrayView1, ArrayView2, ArrayView4, Axis, Ix4, Zip};
use numeric::Float;

use crate::Params;
use crate::error::{Error, Result};
use crate::layer::{Cache, Layer, Mode, ParamSpec, batch};
use crate::norm::{NormCache, NormNames, layernorm_backward, layernorm_forward};
use crate::spatial::check_images;

/// What [`spatial_groupnorm_backward`] needs.
///
/// ```
/// use ndarray::{Array1, Array4};
/// let x = Array4::<f64>::ones((1, 4, 2, 2));
/// let (out, cache) = nn::spatial_groupnorm_forward(&x.view(), &Array1::ones(4).view(), &Array1::zeros(4).view(), 2, 1e-5)?;
/// assert_eq!(nn::spatial_groupnorm_backward(&out.view(), &cache).0.dim(), x.dim());
/// # Ok::<(), nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GroupNormCache<T> {
    /// Layernorm's cache on the (N·G, C/G·H·W) rows (with unit gamma).
    rows: NormCache<T>,
    /// The normalised input x̂, (N, C, H, W).
    x_hat: Array4<T>,
    gamma: Array1<T>,
    groups: usize,
}

/// Group normalisation of `x` (N, C, H, W) with `groups` groups of C/G channels:
/// each (example, group) is normalised over its channels and positions, then each
/// channel is scaled by `gamma[c]` and shifted by `beta[c]`. `eps` as the course's
/// `gn_param` (1e-5).
///
/// `gamma` and `beta` are vectors of C values; the course stores the same numbers
/// with shape (1, C, 1, 1) so that numpy broadcasts them over (N, C, H, W). Reshape
/// with `gamma.into_shape_with_order(c)` to move between the two.
///
/// # Errors
/// [`Error::Groups`] when `groups` does not divide C (or is 0).
///
/// # Panics
/// If `gamma` or `beta` do not have C entries.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::spatial_groupnorm_forward;
/// let x: Array4<f64> = numeric::randn((2, 6, 4, 5), &mut numeric::rng(0)) * 3.0 + 7.0;
/// let (out, _) = spatial_groupnorm_forward(&x.view(), &Array1::ones(6).view(), &Array1::zeros(6).view(), 2, 1e-5)?;
/// // Example 1, group 0 (channels 0..3) has zero mean and unit variance.
/// let g = out.slice(ndarray::s![1, 0..3, .., ..]);
/// assert!(g.mean().unwrap().abs() < 1e-12);
/// assert!((g.mapv(|v| v * v).mean().unwrap() - 1.0).abs() < 1e-4);
/// # Ok::<(), nn::Error>(())
/// ```
pub fn spatial_groupnorm_forward<T: Float>(
    x: &ArrayView4<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    groups: usize,
    eps: f64,
) -> Result<(Array4<T>, GroupNormCache<T>)> {
    let (n, c, h, w) = x.dim();
    if groups == 0 || c % groups != 0 {
        return Err(Error::Groups {
            channels: c,
            groups,
        });
    }
    assert!(
        gamma.len() == c && beta.len() == c,
        "group norm: x has {c} channels but gamma, beta have {}, {}",
        gamma.len(),
        beta.len()
    );
    let d = c / groups * h * w;
    let x_std = x.as_standard_layout();
    let rows = x_std
        .view()
        .into_shape_with_order((n * groups, d))
        .expect("standard layout");
    let (x_hat_rows, rows_cache) = layernorm_forward(
        &rows,
        &Array1::ones(d).view(),
        &Array1::zeros(d).view(),
        eps,
    );
    let x_hat = x_hat_rows
        .into_shape_with_order((n, c, h, w))
        .expect("same size");
    let mut out = x_hat.clone();
    scale_shift_channels(&mut out, gamma, Some(beta));
    let cache = GroupNormCache {
        rows: rows_cache,
        x_hat,
        gamma: gamma.to_owned(),
        groups,
    };
    Ok((out, cache))
}

/// Backward pass of [`spatial_groupnorm_forward`]: `(dx, dgamma, dbeta)`.
/// `dgamma[c] = Σ dout·x̂` and `dbeta[c] = Σ dout` over N, H, W; `dx` is layernorm's
/// backward pass applied to `dx̂ = dout·gamma` on the group rows.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::{spatial_groupnorm_forward, spatial_groupnorm_backward};
/// let x: Array4<f64> = numeric::randn((2, 4, 3, 3), &mut numeric::rng(2));
/// let (out, cache) = spatial_groupnorm_forward(&x.view(), &Array1::ones(4).view(), &Array1::zeros(4).view(), 2, 1e-5)?;
/// let (dx, _, dbeta) = spatial_groupnorm_backward(&Array4::ones(out.dim()).view(), &cache);
/// assert!(dx.iter().all(|v| v.abs() < 1e-10));
/// assert_eq!(dbeta, Array1::from_elem(4, 18.0));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn spatial_groupnorm_backward<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &GroupNormCache<T>,
) -> (Array4<T>, Array1<T>, Array1<T>) {
    let dim = cache.x_hat.dim();
    assert_eq!(
        dout.dim(),
        dim,
        "group norm backward: dout shape differs from x"
    );
    let (n, c, h, w) = dim;
    let dbeta = dout.sum_axis(Axis(3)).sum_axis(Axis(2)).sum_axis(Axis(0));
    let dgamma = (dout * &cache.x_hat)
        .sum_axis(Axis(3))
        .sum_axis(Axis(2))
        .sum_axis(Axis(0));
    let mut dx_hat = dout.to_owned();
    scale_shift_channels(&mut dx_hat, &cache.gamma.view(), None);
    let rows: ArrayView2<'_, T> = dx_hat
        .view()
        .into_shape_with_order((n * cache.groups, c / cache.groups * h * w))
        .expect("standard layout");
    let (dx, _, _) = layernorm_backward(&rows, &cache.rows);
    (
        dx.into_shape_with_order(dim).expect("same size"),
        dgamma,
        dbeta,
    )
}

/// `a[:, c] ← a[:, c]·gamma[c] (+ beta[c])` for every channel c.
fn scale_shift_channels<T: Float>(
    a: &mut Array4<T>,
    gamma: &ArrayView1<'_, T>,
    beta: Option<&ArrayView1<'_, T>>,
) {
    for mut image in a.outer_iter_mut() {
        Zip::from(image.outer_iter_mut())
            .and(gamma)
            .for_each(|mut plane, &g| {
                plane.mapv_inplace(|v| v * g);
            });
        if let Some(beta) = beta {
            Zip::from(image.outer_iter_mut())
                .and(beta)
                .for_each(|mut plane, &b| {
                    plane.mapv_inplace(|v| v + b);
                });
        }
    }
}

/// Group normalisation of images as a [`Layer`] (`gn{G}`); γ and β have C values
/// (the course's (1, C, 1, 1), see [`spatial_groupnorm_forward`]).
#[derive(Debug, Clone)]
pub struct GroupNorm {
    names: NormNames,
    c: usize,
    groups: usize,
}

impl GroupNorm {
    /// Group norm of `c` channels in `groups` groups, γ and β named by `names`.
    ///
    /// ```
    /// use nn::Layer;
    /// let gn = nn::GroupNorm::new(nn::NormNames::numbered("1"), 6, 4);
    /// assert!(Layer::<f32>::output_shape(&gn, &[6, 8, 8]).is_err()); // 4 does not divide 6
    /// ```
    pub fn new(names: NormNames, c: usize, groups: usize) -> Self {
        Self { names, c, groups }
    }
}

impl<T: Float> Layer<T> for GroupNorm {
    fn name(&self) -> String {
        format!("gn{}", self.groups)
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if self.groups == 0 || !self.c.is_multiple_of(self.groups) {
            return Err(Error::Groups {
                channels: self.c,
                groups: self.groups,
            });
        }
        check_images::<T>(self, input, self.c)
    }
    fn params(&self) -> Vec<ParamSpec> {
        self.names.scale_shift(self.c)
    }
    fn forward(
        &mut self,
        x: ArrayD<T>,
        params: &Params<T>,
        _: &mut Params<T>,
        _: Mode,
    ) -> (ArrayD<T>, Cache) {
        let x = batch::<T, Ix4>(x, "gn");
        let (gamma, beta) = self.names.gamma_beta(params);
        let (out, cache) = spatial_groupnorm_forward(&x.view(), &gamma, &beta, self.groups, 1e-5)
            .expect("groups checked by output_shape");
        (out.into_dyn(), Box::new(cache))
    }
    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        _: bool,
    ) -> (ArrayD<T>, Params<T>) {
        self.names.backward(dout, cache, "gn", |d: Array4<T>, c| {
            spatial_groupnorm_backward(&d.view(), c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{check_scale_shift_grads, randn4};

    #[test]
    fn groupnorm_backward_matches_numerical_gradients() {
        let mut x = randn4((2, 6, 4, 5), 5) * 3.0 + 2.0;
        let mut gamma: Array1<f64> = numeric::randn(6, &mut numeric::rng(6));
        let mut beta: Array1<f64> = numeric::randn(6, &mut numeric::rng(7));
        let dout = randn4((2, 6, 4, 5), 8);
        let fwd = |x: &Array4<f64>, g: &Array1<f64>, b: &Array1<f64>| {
            spatial_groupnorm_forward(&x.view(), &g.view(), &b.view(), 2, 1e-5)
                .unwrap()
                .0
        };
        let (_, cache) =
            spatial_groupnorm_forward(&x.view(), &gamma.view(), &beta.view(), 2, 1e-5).unwrap();
        let (dx, dgamma, dbeta) = spatial_groupnorm_backward(&dout.view(), &cache);
        let inputs = (&mut x, &mut gamma, &mut beta);
        check_scale_shift_grads(fwd, inputs, &dout, (&dx, &dgamma, &dbeta), 1e-7);
    }

    #[test]
    fn groups_must_divide_channels() {
        let x = Array4::<f32>::zeros((1, 6, 2, 2));
        let err = spatial_groupnorm_forward(
            &x.view(),
            &Array1::ones(6).view(),
            &Array1::zeros(6).view(),
            4,
            1e-5,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::Groups {
                channels: 6,
                groups: 4
            }
        ));
    }
}
