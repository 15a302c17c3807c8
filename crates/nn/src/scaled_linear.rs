//! A linear layer without a bias whose scores are multiplied by a constant:
//! `scores = scale·(x·W)`. The recipe's classifier head uses scale 1/9: with the
//! batchnorm-and-GELU features feeding it, smaller initial scores keep the first
//! softmax near uniform, and the scale acts as a fixed temperature (a learning-rate
//! cut for the head alone) without changing what the layer can represent.
//!
//! ```
//! use ndarray::array;
//! use nn::{Layer, Mode, Params, ScaledLinear};
//! let mut head = ScaledLinear::new("W", 2, 1, 0.5);
//! let params = Params::from([("W".to_string(), array![[1.0_f64], [3.0]].into_dyn())]);
//! let (scores, cache) = head.forward(array![[2.0, 2.0]].into_dyn(), &params, &mut Params::new(), Mode::Test);
//! assert_eq!(scores, array![[4.0]].into_dyn()); // 0.5·(2 + 6)
//! let (dx, grads) = head.backward(array![[1.0]].into_dyn(), &cache, &params, true);
//! assert_eq!(dx, array![[0.5, 1.5]].into_dyn());
//! assert_eq!(grads["W"], array![[1.0], [1.0]].into_dyn());
//! ```

use ndarray::{ArrayD, Ix2};
use numeric::Float;

use crate::Params;
use crate::error::{Error, Result};
use crate::layer::{Cache, Init, Layer, Mode, ParamSpec, batch, cache_of, view};

/// `scores = scale·(x·W)`, `W` of shape (D, M), no bias.
#[derive(Debug, Clone)]
pub struct ScaledLinear {
    w: String,
    d: usize,
    m: usize,
    scale: f64,
}

impl ScaledLinear {
    /// A layer from `d` features to `m` scores with weight named `w`.
    pub fn new(w: impl Into<String>, d: usize, m: usize, scale: f64) -> Self {
        Self {
            w: w.into(),
            d,
            m,
            scale,
        }
    }
}

impl<T: Float> Layer<T> for ScaledLinear {
    fn name(&self) -> String {
        format!("linear{}", self.m)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if input != [self.d] {
            return Err(Error::Input {
                layer: Layer::<T>::name(self),
                expected: format!("rows of {} features", self.d),
                found: input.to_vec(),
            });
        }
        Ok(vec![self.m])
    }

    fn params(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::new(
            &self.w,
            vec![self.d, self.m],
            Init::Weights { fan_in: self.d },
        )]
    }

    fn forward(
        &mut self,
        x: ArrayD<T>,
        params: &Params<T>,
        _: &mut Params<T>,
        _: Mode,
    ) -> (ArrayD<T>, Cache) {
        let x = batch::<T, Ix2>(x, "linear");
        let w = view::<T, Ix2>(params, &self.w);
        let scores = numeric::matmul(&x.view(), &w) * T::cast(self.scale);
        (scores.into_dyn(), Box::new(x))
    }

    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        params: &Params<T>,
        need_dx: bool,
    ) -> (ArrayD<T>, Params<T>) {
        let x: &ndarray::Array2<T> = cache_of(cache, "linear");
        let dscaled = batch::<T, Ix2>(dout, "linear") * T::cast(self.scale);
        let dw = numeric::matmul(&x.t(), &dscaled.view());
        let dx = if need_dx {
            numeric::matmul(&dscaled.view(), &view::<T, Ix2>(params, &self.w).t()).into_dyn()
        } else {
            crate::layer::no_dx()
        };
        (dx, Params::from([(self.w.clone(), dw.into_dyn())]))
    }
}

#[cfg(test)]
mod tests {
    use backprop::gradcheck::eval_numerical_gradient_array;
    use ndarray::Array2;

    use super::*;
    use crate::test_util::assert_rel_error_below;

    #[test]
    fn gradients_match_numerical_ones() {
        let mut layer = ScaledLinear::new("W", 5, 3, 1.0 / 9.0);
        let mut x: Array2<f64> = numeric::randn((4, 5), &mut numeric::rng(1));
        let mut w: Array2<f64> = numeric::randn((5, 3), &mut numeric::rng(2));
        let dout: Array2<f64> = numeric::randn((4, 3), &mut numeric::rng(3));
        let params = Params::from([("W".to_string(), w.clone().into_dyn())]);
        let (_, cache) = layer.forward(
            x.clone().into_dyn(),
            &params,
            &mut Params::new(),
            Mode::Train,
        );
        let (dx, grads) = layer.backward(dout.clone().into_dyn(), &cache, &params, true);
        let f = |x: &Array2<f64>, w: &Array2<f64>| x.dot(w) / 9.0;
        let w0 = w.clone();
        let dx_num = eval_numerical_gradient_array(|x| f(x, &w0), &mut x, &dout.view(), 1e-5);
        let x0 = x.clone();
        let dw_num = eval_numerical_gradient_array(|w| f(&x0, w), &mut w, &dout.view(), 1e-5);
        assert_rel_error_below("dx", &dx.into_dimensionality().unwrap(), &dx_num, 1e-7);
        assert_rel_error_below(
            "dW",
            &grads["W"].clone().into_dimensionality().unwrap(),
            &dw_num,
            1e-7,
        );
    }
}
