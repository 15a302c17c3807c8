//! Spatial batchnorm followed by GELU, as one layer with one pass over the data each
//! way (airbench94's `BatchNorm2d → GELU`, twice per block).
//!
//! Apart, the two layers write the normalised y = γ·x̂ + β, read it back for GELU,
//! and keep it for GELU's backward pass; the backward passes write GELU's dy, read
//! it for batchnorm's sums, and read it again for dx. Together:
//! - forward: the statistics of x (as [`crate::spatial_batchnorm_forward`]), then one
//!   pass that writes GELU(y) with y computed in registers; the cache is x alone;
//! - backward: one pass that recomputes y from x, turns dout into dy = dout·GELU'(y)
//!   in place and sums Σdy, Σdy·(x − μ) per plane; then batchnorm's dx pass. The
//!   per-plane sums are added per channel in image order, as the unfused layer's
//!   are, so the two give the same bits.
//!
//! ```
//! use nn::{BatchNormGelu, Gelu, Layer, Mode, NormNames, Params, SpatialBatchNorm};
//! let x: ndarray::ArrayD<f64> = numeric::randn((2, 3, 4, 4), &mut numeric::rng(0)).into_dyn();
//! let params = Params::from([("gamma1".into(), ndarray::Array1::ones(3).into_dyn()), ("beta1".into(), ndarray::Array1::zeros(3).into_dyn())]);
//! let buffers = || Params::from([("running_mean1".into(), ndarray::Array1::zeros(3).into_dyn()), ("running_var1".into(), ndarray::Array1::ones(3).into_dyn())]);
//! let bn = SpatialBatchNorm::new(NormNames::numbered("1"), 3);
//! let (fused, _) = BatchNormGelu::new(bn.clone()).forward(x.clone(), &params, &mut buffers(), Mode::Train);
//! let (y, _) = bn.clone().forward(x, &params, &mut buffers(), Mode::Train);
//! let (chain, _) = Layer::<f64>::forward(&mut Gelu::default(), y, &params, &mut Params::new(), Mode::Train);
//! assert!((fused - chain).iter().all(|d| d.abs() < 1e-12));
//! ```

use ndarray::{Array1, Array4, ArrayD, Ix4};
use numeric::Float;
use rayon::prelude::*;

use crate::Params;
use crate::error::Result;
use crate::gelu::{GeluApprox, fast_grad, fast_path, fast_value, gelu_grad_naive, gelu_naive};
use crate::layer::{Cache, Layer, Mode, ParamSpec, batch, cache_of};
use crate::planes::lane_sum;
use crate::spatial::{SpatialBatchNorm, SpatialBatchNormCache, check_images, normalisation};

/// [`SpatialBatchNorm`] then [`crate::Gelu`] (exact form), fused (module docs). Its
/// tensors are the batchnorm's, under the same names.
#[derive(Debug, Clone)]
pub struct BatchNormGelu {
    bn: SpatialBatchNorm,
}

impl BatchNormGelu {
    /// The fused pair of `bn` and an exact-form GELU.
    pub fn new(bn: SpatialBatchNorm) -> Self {
        Self { bn }
    }
}

/// The batchnorm's cache and β (y is recomputed from x).
#[derive(Debug)]
struct BatchNormGeluCache<T> {
    bn: SpatialBatchNormCache<T>,
    beta: Array1<T>,
}

impl<T: Float> BatchNormGeluCache<T> {
    /// Per channel, y = (x − μ)·k + β with k = γ/σ: `(μ, k, β)`.
    fn affine(&self, ch: usize) -> (T, T, T) {
        let bn = &self.bn;
        (bn.mean[ch], bn.gamma[ch] * bn.inv_std[ch], self.beta[ch])
    }

    /// y = (x − μ)·k + β of one image `xi` (C planes of `hw` values) into `y`.
    fn normalised(&self, xi: &[T], hw: usize, y: &mut Vec<T>) {
        y.resize(xi.len(), T::zero());
        for (ch, (yp, xp)) in y.chunks_mut(hw).zip(xi.chunks(hw)).enumerate() {
            let (mu, k, b) = self.affine(ch);
            for (y, &v) in yp.iter_mut().zip(xp) {
                *y = (v - mu) * k + b;
            }
        }
    }
}

/// Planes shorter than this (the 7×7 and 3×3 maps deep in the net) are too short
/// for a vector loop of their own: the forward pass runs GELU along the whole image.
const SHORT_PLANE: usize = 64;

/// GELU(γ·x̂ + β) of every element, the form chosen outside the loop, a task per
/// image. Long planes: one loop per plane. Short ones: y of the image's planes into
/// a scratch row, then GELU along the whole row of C·H·W values.
fn forward_pass<T: Float>(
    cache: &BatchNormGeluCache<T>,
    gelu: impl Fn(T) -> T + Sync + Send,
) -> Array4<T> {
    let dim = cache.bn.x.dim();
    let (_, c, h, w) = dim;
    let (hw, img) = ((h * w).max(1), (c * h * w).max(1));
    let mut out = Array4::<T>::uninit(dim);
    out.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(img)
        .zip(cache.bn.input().par_chunks(img))
        .for_each_init(Vec::new, |y, (o, xi)| {
            if hw >= SHORT_PLANE {
                for (ch, (o, xp)) in o.chunks_mut(hw).zip(xi.chunks(hw)).enumerate() {
                    let (mu, k, b) = cache.affine(ch);
                    for (o, &v) in o.iter_mut().zip(xp) {
                        o.write(gelu((v - mu) * k + b));
                    }
                }
                return;
            }
            cache.normalised(xi, hw, y);
            for (o, &y) in o.iter_mut().zip(y.iter()) {
                o.write(gelu(y));
            }
        });
    // SAFETY: the images cover the whole array (x has its length) and the loop
    // above wrote every element of every image.
    unsafe { out.assume_init() }
}

/// dout → dy = dout·GELU'(y) in place; returns `(dgamma, dbeta)` of the batchnorm.
///
/// Image by image, whatever the planes' size: y into a scratch row, dy along the
/// row, then the two sums per plane. The planes' sums are added per channel in image order,
/// as the unfused layer's are.
fn gelu_backward_and_sums<T: Float>(
    dout: &mut [T],
    cache: &BatchNormGeluCache<T>,
    grad: impl Fn(T) -> T + Sync + Send,
) -> (Array1<T>, Array1<T>) {
    let (_, c, h, w) = cache.bn.x.dim();
    let (hw, img) = ((h * w).max(1), (c * h * w).max(1));
    let partial: Vec<Vec<(T, T)>> = dout
        .par_chunks_mut(img)
        .zip(cache.bn.input().par_chunks(img))
        .map_init(Vec::new, |y, (d, xi)| {
            cache.normalised(xi, hw, y);
            for (d, &y) in d.iter_mut().zip(y.iter()) {
                *d *= grad(y);
            }
            d.chunks(hw)
                .zip(xi.chunks(hw))
                .enumerate()
                .map(|(ch, (d, xp))| {
                    let mu = cache.bn.mean[ch];
                    (
                        lane_sum(d, xp, |d, x| d * (x - mu)),
                        lane_sum(d, d, |d, _| d),
                    )
                })
                .collect()
        })
        .collect();
    let mut dgamma = Array1::zeros(c);
    let mut dbeta = Array1::zeros(c);
    for image in &partial {
        for (ch, &(dxc, db)) in image.iter().enumerate() {
            dgamma[ch] += dxc;
            dbeta[ch] += db;
        }
    }
    dgamma *= &cache.bn.inv_std;
    (dgamma, dbeta)
}

impl<T: Float> Layer<T> for BatchNormGelu {
    fn name(&self) -> String {
        "bn-gelu".into()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        check_images::<T>(self, input, self.bn.c)
    }
    fn params(&self) -> Vec<ParamSpec> {
        Layer::<T>::params(&self.bn)
    }
    fn buffers(&self) -> Vec<ParamSpec> {
        Layer::<T>::buffers(&self.bn)
    }
    fn forward(
        &mut self,
        x: ArrayD<T>,
        params: &Params<T>,
        buffers: &mut Params<T>,
        mode: Mode,
    ) -> (ArrayD<T>, Cache) {
        let names = &self.bn.names;
        let x = batch::<T, Ix4>(x, "bn-gelu");
        let (gamma, beta) = names.gamma_beta(params);
        let stats = (self.bn.momentum, self.bn.eps);
        let bn = names.with_running(buffers, stats, |running| {
            normalisation(x, &gamma, &beta, running, mode)
        });
        let cache = BatchNormGeluCache {
            bn,
            beta: beta.to_owned(),
        };
        let out = if fast_path::<T>(GeluApprox::Exact) {
            forward_pass(&cache, fast_value)
        } else {
            forward_pass(&cache, |y| {
                T::cast(gelu_naive(y.as_f64(), GeluApprox::Exact))
            })
        };
        (out.into_dyn(), Box::new(cache))
    }
    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        _: bool,
    ) -> (ArrayD<T>, Params<T>) {
        let cache: &BatchNormGeluCache<T> = cache_of(cache, "bn-gelu");
        let mut d = batch::<T, Ix4>(dout, "bn-gelu");
        assert_eq!(
            d.dim(),
            cache.bn.x.dim(),
            "bn-gelu backward: dout shape differs from x"
        );
        if !d.is_standard_layout() {
            d = d.as_standard_layout().into_owned();
        }
        let ds = d.as_slice_mut().expect("standard layout");
        let (dgamma, dbeta) = if fast_path::<T>(GeluApprox::Exact) {
            gelu_backward_and_sums(ds, cache, fast_grad)
        } else {
            gelu_backward_and_sums(ds, cache, |y| {
                T::cast(gelu_grad_naive(y.as_f64(), GeluApprox::Exact))
            })
        };
        cache.bn.dx_in_place(ds, &dgamma, &dbeta);
        (d.into_dyn(), self.bn.names.grads(dgamma, dbeta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::check_scale_shift_grads;
    use crate::{Gelu, NormNames};

    fn tensors(gamma: &Array1<f64>, beta: &Array1<f64>) -> (Params<f64>, Params<f64>) {
        let c = gamma.len();
        let params = Params::from([
            ("gamma1".into(), gamma.clone().into_dyn()),
            ("beta1".into(), beta.clone().into_dyn()),
        ]);
        let buffers = Params::from([
            ("running_mean1".into(), Array1::<f64>::zeros(c).into_dyn()),
            ("running_var1".into(), Array1::<f64>::ones(c).into_dyn()),
        ]);
        (params, buffers)
    }

    fn bn(c: usize) -> SpatialBatchNorm {
        SpatialBatchNorm::new(NormNames::numbered("1"), c).with_stats(0.4, 1e-5)
    }

    /// The fused layer gives the chain's output, running statistics, dx, dγ and dβ
    /// (1e-10 in f64), in both modes.
    #[test]
    fn fused_matches_the_chain() {
        let x: Array4<f64> = numeric::randn((3, 4, 5, 6), &mut numeric::rng(1)) * 2.0 + 0.5;
        let dout: Array4<f64> = numeric::randn((3, 4, 5, 6), &mut numeric::rng(2));
        let gamma = ndarray::array![1.0, 0.5, -2.0, 1.5];
        let beta = ndarray::array![0.0, 0.3, -0.2, 1.0];
        let (params, buffers) = tensors(&gamma, &beta);
        for mode in [Mode::Train, Mode::Test] {
            let (mut b_fused, mut b_chain) = (buffers.clone(), buffers.clone());
            let mut fused = BatchNormGelu::new(bn(4));
            let (out, cache) = fused.forward(x.clone().into_dyn(), &params, &mut b_fused, mode);
            let (dx, grads) = fused.backward(dout.clone().into_dyn(), &cache, &params, true);
            let (mut norm, mut gelu) = (bn(4), Gelu::default());
            let (y, bn_cache) = norm.forward(x.clone().into_dyn(), &params, &mut b_chain, mode);
            let (out_chain, gelu_cache) = gelu.forward(y, &params, &mut Params::new(), mode);
            let (dy, _) = gelu.backward(dout.clone().into_dyn(), &gelu_cache, &params, true);
            let (dx_chain, grads_chain) = norm.backward(dy, &bn_cache, &params, true);
            let close = |a: &ArrayD<f64>, b: &ArrayD<f64>| (a - b).iter().all(|d| d.abs() < 1e-10);
            assert!(close(&out, &out_chain), "{mode:?} out");
            assert!(close(&dx, &dx_chain), "{mode:?} dx");
            for k in ["gamma1", "beta1"] {
                assert!(close(&grads[k], &grads_chain[k]), "{mode:?} {k}");
            }
            for k in ["running_mean1", "running_var1"] {
                assert!(close(&b_fused[k], &b_chain[k]), "{mode:?} {k}");
            }
        }
    }

    /// In f32 (GELU's fast path) the fused layer gives the chain's numbers to the
    /// bit, on the network's small planes too, with any thread count.
    #[test]
    fn f32_fused_is_the_chain_to_the_bit_on_any_thread_count() {
        for dim in [(6, 5, 3, 3), (4, 3, 7, 7), (3, 2, 5, 6), (3, 4, 9, 9)] {
            let c = dim.1;
            let x: Array4<f32> = numeric::randn(dim, &mut numeric::rng(5)) * 2.0 + 0.5;
            let dout = numeric::randn::<f32, _, _>(dim, &mut numeric::rng(6)).into_dyn();
            let params = Params::from([
                ("gamma1".into(), Array1::<f32>::ones(c).into_dyn()),
                ("beta1".into(), Array1::from_elem(c, 0.25_f32).into_dyn()),
            ]);
            let buffers = Params::from([
                ("running_mean1".into(), Array1::<f32>::zeros(c).into_dyn()),
                ("running_var1".into(), Array1::<f32>::ones(c).into_dyn()),
            ]);
            let fused = |threads| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads);
                pool.build().unwrap().install(|| {
                    let mut layer = BatchNormGelu::new(bn(c));
                    let mut b = buffers.clone();
                    let x = x.clone().into_dyn();
                    let (out, cache) = layer.forward(x, &params, &mut b, Mode::Train);
                    let (dx, grads) = layer.backward(dout.clone(), &cache, &params, true);
                    (out, dx, grads, b)
                })
            };
            let (mut norm, mut gelu, mut b) = (bn(c), Gelu::default(), buffers.clone());
            let (y, bn_cache) = norm.forward(x.clone().into_dyn(), &params, &mut b, Mode::Train);
            let (out, gelu_cache) = gelu.forward(y, &params, &mut Params::new(), Mode::Train);
            let (dy, _) = gelu.backward(dout.clone(), &gelu_cache, &params, true);
            let (dx, grads) = norm.backward(dy, &bn_cache, &params, true);
            assert_eq!(fused(1), (out, dx, grads, b), "{dim:?}");
            assert_eq!(fused(1), fused(3), "{dim:?}");
        }
    }

    #[test]
    fn fused_gradients_match_numerical_ones() {
        let mut x: Array4<f64> = numeric::randn((4, 3, 5, 5), &mut numeric::rng(3));
        let mut gamma = ndarray::array![1.5, -0.8, 2.0];
        let mut beta = ndarray::array![0.1, 0.2, -0.3];
        let dout: Array4<f64> = numeric::randn((4, 3, 5, 5), &mut numeric::rng(4));
        let fwd = |x: &Array4<f64>, g: &Array1<f64>, b: &Array1<f64>| {
            let (params, mut buffers) = tensors(g, b);
            BatchNormGelu::new(bn(3))
                .forward(x.clone().into_dyn(), &params, &mut buffers, Mode::Train)
                .0
                .into_dimensionality::<Ix4>()
                .unwrap()
        };
        let (params, mut buffers) = tensors(&gamma, &beta);
        let mut layer = BatchNormGelu::new(bn(3));
        let (_, cache) = layer.forward(x.clone().into_dyn(), &params, &mut buffers, Mode::Train);
        let (dx, grads) = layer.backward(dout.clone().into_dyn(), &cache, &params, true);
        let dx = dx.into_dimensionality::<Ix4>().unwrap();
        let g = |k: &str| {
            grads[k]
                .clone()
                .into_dimensionality::<ndarray::Ix1>()
                .unwrap()
        };
        let inputs = (&mut x, &mut gamma, &mut beta);
        let analytic = (&dx, &g("gamma1"), &g("beta1"));
        check_scale_shift_grads(fwd, inputs, &dout, analytic, 1e-7);
    }
}
