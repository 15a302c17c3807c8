//! Spatial batch normalisation of convolutional activations (N, C, H, W): one mean
//! and variance **per channel**, over the batch *and* the spatial positions — a
//! filter's response should be normalised the same way wherever in the image it
//! fires.
//!
//! Two ways, as the course's naive and fast layers:
//! - [`spatial_batchnorm_forward_naive`] / [`spatial_batchnorm_backward_naive`]
//!   (in `spatial_naive.rs`): as the course does it, plain batchnorm ([`crate::batchnorm_forward`]) on the
//!   activations reshaped to rows of C features, (N, C, H, W) → (N·H·W, C), and back.
//!   Clear, but the two transposes each way cost more than the normalisation.
//! - [`spatial_batchnorm_forward`] / [`spatial_batchnorm_backward`]: the same
//!   numbers straight from the NCHW planes ([`crate::planes`]): the per-channel sums
//!   with channels in parallel, each channel's planes summed in image order (the
//!   same bits for any thread count), then one element-wise pass over the planes in
//!   parallel. The cache keeps the input itself (moved in by the layer, not copied)
//!   and the backward pass recomputes x̂ = (x − μ)/σ where it needs it.
//!
//! ```
//! use ndarray::{Array1, Array4};
//! use nn::{BatchNormParam, Mode};
//! use nn::spatial_batchnorm_forward;
//! let x: Array4<f64> = numeric::randn((4, 3, 5, 5), &mut numeric::rng(0)) * 4.0 + 10.0;
//! let mut bn = BatchNormParam::new(3);
//! let (out, _) = spatial_batchnorm_forward(&x.view(), &Array1::ones(3).view(), &Array1::zeros(3).view(), &mut bn, Mode::Train);
//! let channel_mean = out.index_axis(ndarray::Axis(1), 2).mean().unwrap();
//! assert!(channel_mean.abs() < 1e-12);
//! ```

use ndarray::{Array1, Array4, ArrayD, ArrayView1, ArrayView4, Ix4, Zip};
use numeric::Float;
use rayon::prelude::*;

use crate::Params;
use crate::error::{Error, Result};
use crate::layer::{Cache, Layer, Mode, ParamSpec, batch};
use crate::norm::{BatchNormParam, NormNames};
use crate::planes::{channel_planes, lane_sum, map_planes, per_channel};

pub(crate) fn check_channels<T: Float>(
    c: usize,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    bn: &BatchNormParam<T>,
) {
    assert!(
        gamma.len() == c
            && beta.len() == c
            && bn.running_mean.len() == c
            && bn.running_var.len() == c,
        "spatial batchnorm: x has {c} channels but gamma, beta, running mean, running var have {}, {}, {}, {}",
        gamma.len(),
        beta.len(),
        bn.running_mean.len(),
        bn.running_var.len()
    );
}

/// What [`spatial_batchnorm_backward`] needs: the input, the statistics it was
/// normalised with, and `gamma`.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::{BatchNormParam, Mode};
/// let x = Array4::<f32>::ones((2, 3, 2, 2));
/// let (out, cache) = nn::spatial_batchnorm_forward(&x.view(), &Array1::ones(3).view(), &Array1::zeros(3).view(), &mut BatchNormParam::new(3), Mode::Train);
/// let (dx, _, _) = nn::spatial_batchnorm_backward(&out.view(), &cache);
/// assert_eq!(dx.dim(), x.dim());
/// ```
#[derive(Debug, Clone)]
pub struct SpatialBatchNormCache<T> {
    /// The input, standard layout.
    pub(crate) x: Array4<T>,
    pub(crate) mean: Array1<T>,
    pub(crate) inv_std: Array1<T>,
    pub(crate) gamma: Array1<T>,
    pub(crate) batch_stats: bool,
}

/// Spatial batch normalisation of `x` (N, C, H, W): per-channel statistics over N, H
/// and W; `gamma`, `beta` and the running statistics in `bn` have one entry per
/// channel. Train/test behaviour as [`crate::batchnorm_forward`]; the numbers of
/// [`crate::spatial_batchnorm_forward_naive`], computed on the NCHW planes (module docs).
///
/// # Panics
/// If `gamma`, `beta` or `bn` do not have C entries.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::{BatchNormParam, Mode};
/// use nn::spatial_batchnorm_forward;
/// let x = Array4::<f32>::from_elem((2, 2, 3, 3), 5.0);
/// let mut bn = BatchNormParam::new(2);
/// let (out, _) = spatial_batchnorm_forward(&x.view(), &Array1::ones(2).view(), &Array1::from_elem(2, 1.0).view(), &mut bn, Mode::Train);
/// assert!(out.iter().all(|&v| (v - 1.0).abs() < 1e-6)); // constant input: just beta
/// assert!((bn.running_mean[0] - 0.5).abs() < 1e-6);
/// ```
pub fn spatial_batchnorm_forward<T: Float>(
    x: &ArrayView4<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    bn: &mut BatchNormParam<T>,
    mode: Mode,
) -> (Array4<T>, SpatialBatchNormCache<T>) {
    spatial_batchnorm_forward_owned(x.to_owned(), gamma, beta, bn, mode)
}

/// [`spatial_batchnorm_forward`] keeping `x` itself in the cache.
pub(crate) fn spatial_batchnorm_forward_owned<T: Float>(
    x: Array4<T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    bn: &mut BatchNormParam<T>,
    mode: Mode,
) -> (Array4<T>, SpatialBatchNormCache<T>) {
    let cache = normalisation(x, gamma, beta, bn, mode);
    let out = map_planes(cache.input(), cache.x.dim(), |ch| {
        let (mu, k, b) = (cache.mean[ch], cache.inv_std[ch] * gamma[ch], beta[ch]);
        move |v| (v - mu) * k + b
    });
    (out, cache)
}

/// The cache of a forward pass of `x`: its statistics (the batch's in train mode,
/// which also updates the running ones in `bn`; the running ones in test mode).
///
/// # Panics
/// If `gamma`, `beta` or `bn` do not have C entries.
pub(crate) fn normalisation<T: Float>(
    x: Array4<T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    bn: &mut BatchNormParam<T>,
    mode: Mode,
) -> SpatialBatchNormCache<T> {
    let x = if x.is_standard_layout() {
        x
    } else {
        x.as_standard_layout().into_owned()
    };
    let (_, c, h, w) = x.dim();
    check_channels(c, gamma, beta, bn);
    let (mean, var) = match mode {
        Mode::Train => {
            let (mean, var) = channel_moments(x.as_slice().expect("standard layout"), c, h * w);
            let m = T::cast(bn.momentum);
            let one_m = T::one() - m;
            Zip::from(&mut bn.running_mean)
                .and(&mean)
                .for_each(|r, &v| *r = m * *r + one_m * v);
            Zip::from(&mut bn.running_var)
                .and(&var)
                .for_each(|r, &v| *r = m * *r + one_m * v);
            (mean, var)
        }
        Mode::Test => (bn.running_mean.clone(), bn.running_var.clone()),
    };
    let eps = T::cast(bn.eps);
    SpatialBatchNormCache {
        x,
        mean,
        inv_std: var.mapv(|v| T::one() / (v + eps).sqrt()),
        gamma: gamma.to_owned(),
        batch_stats: mode == Mode::Train,
    }
}

/// Per-channel mean and biased variance of a standard-layout (N, C, H·W) buffer,
/// two-pass for accuracy, as [`crate::batchnorm_forward`]'s.
fn channel_moments<T: Float>(x: &[T], c: usize, hw: usize) -> (Array1<T>, Array1<T>) {
    let m = T::count((x.len() / c.max(1)).max(1));
    let (mean, var): (Vec<T>, Vec<T>) = per_channel(c, |ch| {
        let planes = || channel_planes(x, c, hw, ch);
        let mean = planes()
            .map(|p| lane_sum(p, p, |v, _| v))
            .fold(T::zero(), |s, v| s + v)
            / m;
        let var = planes()
            .map(|p| lane_sum(p, p, |v, _| (v - mean) * (v - mean)))
            .fold(T::zero(), |s, v| s + v)
            / m;
        (mean, var)
    })
    .into_iter()
    .unzip();
    (Array1::from(mean), Array1::from(var))
}

impl<T: Float> SpatialBatchNormCache<T> {
    /// The input's values, standard layout.
    pub(crate) fn input(&self) -> &[T] {
        self.x.as_slice().expect("standard layout")
    }

    /// `(dgamma, dbeta)`: per channel `Σ dout·x̂` and `Σ dout` over N, H, W, with
    /// x̂ = (x − μ)/σ recomputed on the fly.
    pub(crate) fn channel_sums(&self, dout: &[T]) -> (Array1<T>, Array1<T>) {
        let (_, c, h, w) = self.x.dim();
        let x = self.input();
        let (dgamma, dbeta): (Vec<T>, Vec<T>) = per_channel(c, |ch| {
            let mu = self.mean[ch];
            let (dxc, db) = channel_planes(dout, c, h * w, ch)
                .zip(channel_planes(x, c, h * w, ch))
                .map(|(d, xp)| {
                    (
                        lane_sum(d, xp, |d, x| d * (x - mu)),
                        lane_sum(d, d, |d, _| d),
                    )
                })
                .fold((T::zero(), T::zero()), |(a, b), (p, q)| (a + p, b + q));
            (dxc * self.inv_std[ch], db)
        })
        .into_iter()
        .unzip();
        (Array1::from(dgamma), Array1::from(dbeta))
    }

    /// Turns `dout` (standard layout, the input's shape) into `dx` in place, given
    /// [`channel_sums`](Self::channel_sums)' `dgamma`, `dbeta`.
    pub(crate) fn dx_in_place(&self, dout: &mut [T], dgamma: &Array1<T>, dbeta: &Array1<T>) {
        let (n, c, h, w) = self.x.dim();
        let m = T::count((n * h * w).max(1));
        let (hw, img) = ((h * w).max(1), (c * h * w).max(1));
        // A task per image, its planes in turn (see map_planes).
        dout.par_chunks_mut(img)
            .zip(self.input().par_chunks(img))
            .for_each(|(di, xi)| {
                for (ch, (d, xp)) in di.chunks_mut(hw).zip(xi.chunks(hw)).enumerate() {
                    let (mu, s) = (self.mean[ch], self.inv_std[ch]);
                    let k = self.gamma[ch] * s;
                    if !self.batch_stats {
                        d.iter_mut().for_each(|d| *d *= k);
                        continue;
                    }
                    // γ/σ·(dout − dbeta/m − x̂·dgamma/m), x̂ = (x − μ)·s.
                    let (b, g) = (dbeta[ch] / m, dgamma[ch] * s / m);
                    for (d, &x) in d.iter_mut().zip(xp) {
                        *d = k * (*d - b - (x - mu) * g);
                    }
                }
            });
    }
}

/// Backward pass of [`spatial_batchnorm_forward`]: `(dx, dgamma, dbeta)`.
///
/// With x̂ = (x − μ)/σ and m = N·H·W values per channel: `dbeta = Σ dout`,
/// `dgamma = Σ dout·x̂`, and batchnorm's simplified expression
/// ([`crate::batchnorm_backward`]) with its sums read off those two (Σdx̂ = γ·dbeta,
/// Σdx̂·x̂ = γ·dgamma): `dx = γ/σ · (dout − dbeta/m − x̂·dgamma/m)`. In test mode
/// `dx = γ/σ · dout`.
///
/// # Panics
/// If `dout` is not shaped like the forward pass's input.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::{BatchNormParam, Mode};
/// use nn::{spatial_batchnorm_forward, spatial_batchnorm_backward};
/// let x: Array4<f64> = numeric::randn((2, 3, 4, 4), &mut numeric::rng(1));
/// let (out, cache) = spatial_batchnorm_forward(&x.view(), &Array1::ones(3).view(), &Array1::zeros(3).view(), &mut BatchNormParam::new(3), Mode::Train);
/// let (dx, dgamma, dbeta) = spatial_batchnorm_backward(&Array4::ones(out.dim()).view(), &cache);
/// assert!(dx.iter().all(|v| v.abs() < 1e-10)); // a constant shift is normalised away
/// assert_eq!(dbeta, Array1::from_elem(3, 32.0)); // N·H·W positions per channel
/// assert_eq!(dgamma.len(), 3);
/// ```
pub fn spatial_batchnorm_backward<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &SpatialBatchNormCache<T>,
) -> (Array4<T>, Array1<T>, Array1<T>) {
    let mut dx = dout.to_owned();
    let (dgamma, dbeta) = spatial_batchnorm_backward_in_place(&mut dx, cache);
    (dx, dgamma, dbeta)
}

/// [`spatial_batchnorm_backward`] turning `dout` into `dx` in its own buffer.
pub(crate) fn spatial_batchnorm_backward_in_place<T: Float>(
    dout: &mut Array4<T>,
    cache: &SpatialBatchNormCache<T>,
) -> (Array1<T>, Array1<T>) {
    assert_eq!(
        dout.dim(),
        cache.x.dim(),
        "spatial batchnorm backward: dout shape differs from x"
    );
    if !dout.is_standard_layout() {
        *dout = dout.as_standard_layout().into_owned();
    }
    let d = dout.as_slice_mut().expect("standard layout");
    let (dgamma, dbeta) = cache.channel_sums(d);
    cache.dx_in_place(d, &dgamma, &dbeta);
    (dgamma, dbeta)
}

/// Checks that `input` is images (C, H, W) of `c` channels.
pub(crate) fn check_images<T: Float>(
    layer: &dyn Layer<T>,
    input: &[usize],
    c: usize,
) -> Result<Vec<usize>> {
    match input {
        [ci, _, _] if *ci == c => Ok(input.to_vec()),
        _ => Err(Error::Input {
            layer: layer.name(),
            expected: format!("images ({c}, H, W)"),
            found: input.to_vec(),
        }),
    }
}

/// Spatial batch normalisation of images (N, C, H, W) as a [`Layer`] (`bn` after a
/// conv layer).
#[derive(Debug, Clone)]
pub struct SpatialBatchNorm {
    pub(crate) names: NormNames,
    pub(crate) c: usize,
    pub(crate) momentum: f64,
    pub(crate) eps: f64,
}

impl SpatialBatchNorm {
    /// Spatial batchnorm of `c` channels with tensors named by `names`, the course's
    /// momentum 0.9 and eps 1e-5.
    pub fn new(names: NormNames, c: usize) -> Self {
        Self {
            names,
            c,
            momentum: 0.9,
            eps: 1e-5,
        }
    }

    /// The same with the running statistics' `momentum` (the course's convention: the
    /// weight of the *old* value; PyTorch's momentum `m` is `1 − m` here) and `eps`.
    /// The fast-training recipe uses PyTorch's 0.6, i.e. 0.4, and eps 1e-12.
    ///
    /// ```
    /// use nn::{Layer, Mode, NormNames, Params, SpatialBatchNorm};
    /// let mut bn = SpatialBatchNorm::new(NormNames::numbered("1"), 1).with_stats(0.4, 1e-12);
    /// let params = Params::from([("gamma1".into(), ndarray::arr1(&[1.0_f64]).into_dyn()), ("beta1".into(), ndarray::arr1(&[0.0]).into_dyn())]);
    /// let mut buffers = Params::from([("running_mean1".into(), ndarray::arr1(&[0.0_f64]).into_dyn()), ("running_var1".into(), ndarray::arr1(&[0.0]).into_dyn())]);
    /// let x = ndarray::Array4::<f64>::from_elem((2, 1, 1, 1), 5.0).into_dyn();
    /// bn.forward(x, &params, &mut buffers, Mode::Train);
    /// assert!((buffers["running_mean1"][[0]] - 3.0).abs() < 1e-12); // 0.4·0 + 0.6·5
    /// ```
    pub fn with_stats(self, momentum: f64, eps: f64) -> Self {
        Self {
            momentum,
            eps,
            ..self
        }
    }
}

impl<T: Float> Layer<T> for SpatialBatchNorm {
    fn name(&self) -> String {
        "bn".into()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        check_images::<T>(self, input, self.c)
    }
    fn params(&self) -> Vec<ParamSpec> {
        self.names.scale_shift(self.c)
    }
    fn buffers(&self) -> Vec<ParamSpec> {
        self.names.running(self.c)
    }
    fn forward(
        &mut self,
        x: ArrayD<T>,
        params: &Params<T>,
        buffers: &mut Params<T>,
        mode: Mode,
    ) -> (ArrayD<T>, Cache) {
        let x = batch::<T, Ix4>(x, "bn");
        let (gamma, beta) = self.names.gamma_beta(params);
        let stats = (self.momentum, self.eps);
        let (out, cache) = self.names.with_running(buffers, stats, |bn| {
            spatial_batchnorm_forward_owned(x, &gamma, &beta, bn, mode)
        });
        (out.into_dyn(), Box::new(cache))
    }
    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        _: bool,
    ) -> (ArrayD<T>, Params<T>) {
        self.names
            .backward(dout, cache, "bn", |mut dx: Array4<T>, c| {
                let (dgamma, dbeta) = spatial_batchnorm_backward_in_place(&mut dx, c);
                (dx, dgamma, dbeta)
            })
    }
}

#[cfg(test)]
mod tests;
