//! Max pooling that drops the rows and columns the windows do not cover, as
//! PyTorch's `MaxPool2d` (floor mode) does: a 31×31 map pools to 15×15 by 2. The
//! course's pooling ([`crate::MaxPool`]) insists on an exact tiling; the recipe's
//! network, whose 2×2 whitening layer makes maps of odd size, needs this one.
//!
//! ```
//! use nn::{FloorMaxPool, Layer, Mode, Params};
//! let x = ndarray::Array4::<f32>::from_shape_fn((1, 1, 3, 3), |(_, _, i, j)| (3 * i + j) as f32);
//! let mut pool = FloorMaxPool { size: 2 };
//! let (out, cache) = pool.forward(x.into_dyn(), &Params::new(), &mut Params::new(), Mode::Test);
//! assert_eq!(out.into_raw_vec_and_offset().0, vec![4.0]); // max of [[0, 1], [3, 4]]
//! let (dx, _) = pool.backward(ndarray::Array4::<f32>::ones((1, 1, 1, 1)).into_dyn(), &cache, &Params::new(), true);
//! assert_eq!(dx.shape(), &[1, 1, 3, 3]);
//! assert_eq!(dx[[0, 0, 1, 1]], 1.0);
//! ```

use ndarray::{ArrayD, Ix4};
use numeric::Float;

use crate::Params;
use crate::error::{Error, Result};
use crate::layer::{Cache, Layer, Mode, batch, cache_of};
use crate::pool::{FastPoolCache, PoolParam, max_pool_backward_fast, pool_planes};

/// `size`×`size` max pooling at stride `size`, leftover rows and columns dropped.
#[derive(Debug, Clone, Copy)]
pub struct FloorMaxPool {
    /// Window side and stride.
    pub size: usize,
}

impl<T: Float> Layer<T> for FloorMaxPool {
    fn name(&self) -> String {
        format!("floorpool{}", self.size)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        match *input {
            [c, h, w] if self.size > 0 && h >= self.size && w >= self.size => {
                Ok(vec![c, h / self.size, w / self.size])
            }
            _ => Err(Error::Input {
                layer: Layer::<T>::name(self),
                expected: format!("images (C, H, W) of at least {0}×{0}", self.size),
                found: input.to_vec(),
            }),
        }
    }

    fn forward(
        &mut self,
        x: ArrayD<T>,
        _: &Params<T>,
        _: &mut Params<T>,
        _: Mode,
    ) -> (ArrayD<T>, Cache) {
        let x = batch::<T, Ix4>(x, "floor pool");
        let (_, _, h, w) = x.dim();
        let k = self.size;
        // The windows read the covered part in place: no copy of it, and the
        // positions of the maxima index the whole plane, so the backward pass
        // scatters straight into a dx of the input's shape.
        let (out, cache) = pool_planes(&x.view(), PoolParam::square(k, k), (h / k, w / k));
        (out.into_dyn(), Box::new(cache))
    }

    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        _: bool,
    ) -> (ArrayD<T>, Params<T>) {
        let cache: &FastPoolCache = cache_of(cache, "floor pool");
        let dx = max_pool_backward_fast(&batch::<T, Ix4>(dout, "floor pool").view(), cache);
        (dx.into_dyn(), Params::new())
    }
}

#[cfg(test)]
mod tests {
    use backprop::gradcheck::eval_numerical_gradient_array;
    use ndarray::{Array4, s};

    use super::*;
    use crate::pool::{max_pool_backward_naive, max_pool_forward_naive};
    use crate::test_util::assert_rel_error_below;

    #[test]
    fn gradient_matches_the_numerical_one_on_odd_maps() {
        for size in [2, 3] {
            let mut pool = FloorMaxPool { size };
            let mut x: Array4<f64> = numeric::randn((2, 3, 7, 8), &mut numeric::rng(size as u64));
            let out_dim = (2, 3, 7 / size, 8 / size);
            let dout: Array4<f64> = numeric::randn(out_dim, &mut numeric::rng(9));
            let (out, cache) = pool.forward(
                x.clone().into_dyn(),
                &Params::new(),
                &mut Params::new(),
                Mode::Train,
            );
            assert_eq!(out.shape(), &[2, 3, out_dim.2, out_dim.3]);
            let (dx, _) = pool.backward(dout.clone().into_dyn(), &cache, &Params::new(), true);
            let dx_num = eval_numerical_gradient_array(
                |x| {
                    FloorMaxPool { size }
                        .forward(
                            x.clone().into_dyn(),
                            &Params::new(),
                            &mut Params::new(),
                            Mode::Train,
                        )
                        .0
                        .into_dimensionality::<Ix4>()
                        .unwrap()
                },
                &mut x,
                &dout.view(),
                1e-5,
            );
            let dx = dx.into_dimensionality::<Ix4>().unwrap();
            assert_rel_error_below("dx", &dx, &dx_num, 1e-7);
            // The dropped last row (and column) gets no gradient.
            assert!(
                dx.slice(s![.., .., 7 / size * size.., ..])
                    .iter()
                    .all(|&v| v == 0.0)
            );
        }
    }

    #[test]
    fn too_small_inputs_are_an_error() {
        assert!(Layer::<f32>::output_shape(&FloorMaxPool { size: 3 }, &[4, 2, 9]).is_err());
        assert_eq!(
            Layer::<f32>::output_shape(&FloorMaxPool { size: 3 }, &[4, 3, 5]).unwrap(),
            vec![4, 1, 1]
        );
    }

    /// At the network's shapes (31→15, 15→7, 7→3 by 2; 3→1 by 3), the layer gives
    /// the course's naive pooling of the covered part, and its gradient padded with
    /// zeros.
    #[test]
    fn matches_naive_pooling_of_the_covered_part() {
        for (size, hw) in [(2, 31), (2, 15), (2, 7), (3, 3), (3, 5)] {
            let x: Array4<f64> = numeric::randn((2, 3, hw, hw), &mut numeric::rng(hw as u64));
            let cut = hw / size * size;
            let param = PoolParam::square(size, size);
            let (naive, naive_cache) =
                max_pool_forward_naive(&x.slice(s![.., .., ..cut, ..cut]), param).unwrap();
            let dout: Array4<f64> = numeric::randn(naive.dim(), &mut numeric::rng(7));
            let mut pool = FloorMaxPool { size };
            let (out, cache) = pool.forward(
                x.clone().into_dyn(),
                &Params::new(),
                &mut Params::new(),
                Mode::Train,
            );
            assert_eq!(out, naive.into_dyn(), "{size} on {hw}");
            let (dx, _) = pool.backward(dout.clone().into_dyn(), &cache, &Params::new(), true);
            let mut dx_naive = Array4::<f64>::zeros(x.dim());
            dx_naive
                .slice_mut(s![.., .., ..cut, ..cut])
                .assign(&max_pool_backward_naive(&dout.view(), &naive_cache));
            assert_eq!(dx, dx_naive.into_dyn(), "{size} on {hw}");
        }
    }
}
