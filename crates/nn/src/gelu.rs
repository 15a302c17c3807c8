//! The Gaussian error linear unit (Hendrycks & Gimpel, 2016): `GELU(x) = x·Φ(x)`,
//! with Φ the standard normal CDF. A smooth relu: it lets small negative values
//! through with a small weight, so no unit is ever dead (lecture 7's case against
//! saturating and dead units), and modern convnets train faster with it.
//!
//! Two forms, as PyTorch's `nn.GELU(approximate=...)`:
//! - [`GeluApprox::Exact`]: `Φ(x) = ½(1 + erf(x/√2))`, with `erf` from `libm`. The
//!   fast-training recipe (airbench94) uses this one, as PyTorch's default.
//! - [`GeluApprox::Tanh`]: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`, the approximation
//!   of the original paper, which avoids `erf`.
//!
//! [`gelu_naive`] / [`gelu_grad_naive`] are the scalar definitions the array
//! functions are tested against.
//!
//! ```
//! use ndarray::array;
//! use nn::{GeluApprox, gelu_forward, gelu_backward};
//! let x = array![-1.0_f64, 0.0, 1.0];
//! let (out, cache) = gelu_forward(&x.view(), GeluApprox::Exact);
//! assert!((out[2] - 0.841_344_746_068_542_9).abs() < 1e-15); // 1·Φ(1)
//! assert!((out[0] + 0.158_655_253_931_457_05).abs() < 1e-15);
//! let dx = gelu_backward(&array![1.0, 1.0, 1.0].view(), &cache);
//! assert_eq!(dx[1], 0.5); // Φ(0) + 0·φ(0)
//! ```

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use ndarray::{Array, ArrayD, ArrayView, Dimension, IxDyn, Zip};
use numeric::Float;

use crate::Params;
use crate::layer::{Cache, Layer, Mode, cache_of};

/// Which GELU: the exact erf form or the tanh approximation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeluApprox {
    /// `x·½(1 + erf(x/√2))` (PyTorch's default; the recipe's).
    #[default]
    Exact,
    /// `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    Tanh,
}

/// `√(2/π)`, the tanh form's slope at 0.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh form.
const CUBIC: f64 = 0.044_715;

/// GELU of one number, from its definition (the reference of [`gelu_forward`]).
///
/// ```
/// use nn::{GeluApprox, gelu_naive};
/// assert_eq!(gelu_naive(0.0, GeluApprox::Exact), 0.0);
/// // The two forms agree to about 1e-3.
/// assert!((gelu_naive(1.5, GeluApprox::Exact) - gelu_naive(1.5, GeluApprox::Tanh)).abs() < 1e-3);
/// ```
pub fn gelu_naive(x: f64, approx: GeluApprox) -> f64 {
    match approx {
        GeluApprox::Exact => x * 0.5 * (1.0 + libm::erf(x * FRAC_1_SQRT_2)),
        GeluApprox::Tanh => 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + CUBIC * x * x * x)).tanh()),
    }
}

/// The derivative of GELU at `x`: `Φ(x) + x·φ(x)` for the exact form (φ the normal
/// density), and the chain rule through tanh for the approximation.
///
/// ```
/// use nn::{GeluApprox, gelu_grad_naive};
/// assert_eq!(gelu_grad_naive(0.0, GeluApprox::Tanh), 0.5);
/// assert!((gelu_grad_naive(10.0, GeluApprox::Exact) - 1.0).abs() < 1e-12); // relu far right
/// ```
pub fn gelu_grad_naive(x: f64, approx: GeluApprox) -> f64 {
    match approx {
        GeluApprox::Exact => {
            let cdf = 0.5 * (1.0 + libm::erf(x * FRAC_1_SQRT_2));
            let pdf = (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
            cdf + x * pdf
        }
        GeluApprox::Tanh => {
            let t = (SQRT_2_OVER_PI * (x + CUBIC * x * x * x)).tanh();
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x * x);
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
        }
    }
}

/// What [`gelu_backward`] needs: the input and the form.
#[derive(Debug, Clone)]
pub struct GeluCache<T, D: Dimension> {
    x: Array<T, D>,
    approx: GeluApprox,
}

/// GELU of every element of `x` (any shape), in parallel over elements. Computed in
/// `f64` and rounded, so `f32` and `f64` give the same values to `f32` precision.
pub fn gelu_forward<T: Float, D: Dimension>(
    x: &ArrayView<'_, T, D>,
    approx: GeluApprox,
) -> (Array<T, D>, GeluCache<T, D>) {
    let mut out = x.to_owned();
    Zip::from(&mut out).par_for_each(|v| *v = T::cast(gelu_naive(v.as_f64(), approx)));
    let cache = GeluCache {
        x: x.to_owned(),
        approx,
    };
    (out, cache)
}

/// Backward pass of [`gelu_forward`]: `dx = dout · GELU'(x)`.
pub fn gelu_backward<T: Float, D: Dimension>(
    dout: &ArrayView<'_, T, D>,
    cache: &GeluCache<T, D>,
) -> Array<T, D> {
    let mut dx = dout.to_owned();
    let approx = cache.approx;
    Zip::from(&mut dx)
        .and(&cache.x)
        .par_for_each(|d, &x| *d *= T::cast(gelu_grad_naive(x.as_f64(), approx)));
    dx
}

/// GELU as a [`Layer`] (spec token `gelu`, the exact form; `gelu_tanh` for the
/// approximation). No parameters, any shape.
///
/// ```
/// use nn::{Gelu, Layer, Mode, Params};
/// let x = ndarray::array![[2.0_f32, -2.0]].into_dyn();
/// let (out, _) = Gelu::default().forward(x, &Params::new(), &mut Params::new(), Mode::Test);
/// assert!((out[[0, 0]] - 1.9545).abs() < 1e-4 && (out[[0, 1]] + 0.0455).abs() < 1e-4);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Gelu {
    /// Which form.
    pub approx: GeluApprox,
}

impl<T: Float> Layer<T> for Gelu {
    fn name(&self) -> String {
        match self.approx {
            GeluApprox::Exact => "gelu".into(),
            GeluApprox::Tanh => "gelu_tanh".into(),
        }
    }
    fn forward(
        &mut self,
        x: ArrayD<T>,
        _: &Params<T>,
        _: &mut Params<T>,
        _: Mode,
    ) -> (ArrayD<T>, Cache) {
        let (out, cache) = gelu_forward(&x.view(), self.approx);
        (out, Box::new(cache))
    }
    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        _: bool,
    ) -> (ArrayD<T>, Params<T>) {
        let cache: &GeluCache<T, IxDyn> = cache_of(cache, "gelu");
        (gelu_backward(&dout.view(), cache), Params::new())
    }
}

#[cfg(test)]
mod tests {
    use backprop::gradcheck::eval_numerical_gradient_array;
    use ndarray::Array4;

    use super::*;
    use crate::test_util::assert_rel_error_below;

    #[test]
    fn gradients_match_numerical_ones_in_both_forms() {
        for approx in [GeluApprox::Exact, GeluApprox::Tanh] {
            let mut x: Array4<f64> = numeric::randn((2, 3, 4, 4), &mut numeric::rng(3)) * 2.0;
            let dout: Array4<f64> = numeric::randn((2, 3, 4, 4), &mut numeric::rng(4));
            let (_, cache) = gelu_forward(&x.view(), approx);
            let dx = gelu_backward(&dout.view(), &cache);
            let dx_num = eval_numerical_gradient_array(
                |x| gelu_forward(&x.view(), approx).0,
                &mut x,
                &dout.view(),
                1e-5,
            );
            assert_rel_error_below(&format!("{approx:?} dx"), &dx, &dx_num, 1e-7);
        }
    }

    #[test]
    fn known_values_of_the_exact_form() {
        // x·Φ(x) with Φ from tables: Φ(1) = 0.8413447460685429, Φ(−2) = 0.022750131948179195.
        assert!((gelu_naive(1.0, GeluApprox::Exact) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((gelu_naive(-2.0, GeluApprox::Exact) + 0.045_500_263_896_358_39).abs() < 1e-15);
        // Far left it vanishes, far right it is the identity: relu's limits.
        assert_eq!(gelu_naive(-40.0, GeluApprox::Exact), -0.0);
        assert_eq!(gelu_naive(40.0, GeluApprox::Exact), 40.0);
    }

    #[test]
    fn the_tanh_form_stays_close_to_the_exact_one() {
        let worst = (-600..=600)
            .map(|i| f64::from(i) / 100.0)
            .map(|x| (gelu_naive(x, GeluApprox::Exact) - gelu_naive(x, GeluApprox::Tanh)).abs())
            .fold(0.0, f64::max);
        assert!(worst > 1e-6 && worst < 1e-3, "{worst}");
    }

    #[test]
    fn the_array_functions_match_the_scalar_reference_in_f32() {
        let x: Array4<f32> = numeric::randn((2, 2, 3, 3), &mut numeric::rng(5));
        let (out, cache) = gelu_forward(&x.view(), GeluApprox::Exact);
        let dx = gelu_backward(&Array4::ones(x.dim()).view(), &cache);
        for ((&x, &o), &d) in x.iter().zip(&out).zip(&dx) {
            let x = f64::from(x);
            assert_eq!(o, gelu_naive(x, GeluApprox::Exact) as f32);
            assert_eq!(d, gelu_grad_naive(x, GeluApprox::Exact) as f32);
        }
    }

    #[test]
    fn the_spec_token_builds_the_exact_form() {
        let layers = crate::build_layers::<f32>("conv4x3-gelu,fc10", &[3, 8, 8], 0).unwrap();
        assert_eq!(layers[1].name(), "gelu");
        let spec = crate::parse_arch("conv4x3-gelu,fc10").unwrap();
        assert_eq!(spec[1], crate::LayerSpec::Gelu);
        assert_eq!(spec[1].to_string(), "gelu");
    }

    #[test]
    fn the_layer_backward_is_the_function_backward() {
        let x: ArrayD<f64> = numeric::randn((3, 5), &mut numeric::rng(6)).into_dyn();
        let dout: ArrayD<f64> = numeric::randn((3, 5), &mut numeric::rng(7)).into_dyn();
        let mut layer = Gelu {
            approx: GeluApprox::Tanh,
        };
        let (out, cache) =
            layer.forward(x.clone(), &Params::new(), &mut Params::new(), Mode::Train);
        let (dx, grads) = layer.backward(dout.clone(), &cache, &Params::new(), true);
        let (out2, cache2) = gelu_forward(&x.view(), GeluApprox::Tanh);
        assert_eq!(out, out2);
        assert_eq!(dx, gelu_backward(&dout.view(), &cache2));
        assert!(grads.is_empty());
        assert_eq!(Layer::<f64>::name(&layer), "gelu_tanh");
    }
}
