//! Flattening images (N, C, H, W) into rows (N, C·H·W): the reshape between the
//! convolutional and the fully connected part of a network. The affine layer does it
//! itself (as the course's `affine_forward`); this layer makes it explicit.
//!
//! ```
//! use nn::{Flatten, Layer, Mode, Params};
//! let x = ndarray::Array4::<f32>::ones((2, 3, 4, 4)).into_dyn();
//! let (out, cache) = Flatten.forward(x, &Params::new(), &mut Params::new(), Mode::Test);
//! assert_eq!(out.shape(), &[2, 48]);
//! let (dx, _) = Flatten.backward(out, &cache, &Params::new(), true);
//! assert_eq!(dx.shape(), &[2, 3, 4, 4]);
//! ```

use ndarray::{ArrayD, IxDyn};
use numeric::Float;

use crate::error::Result;
use crate::layer::{Cache, Layer, Mode, cache_of};
use crate::model::Params;

/// Reshapes each example to one row; no parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flatten;

impl<T: Float> Layer<T> for Flatten {
    fn name(&self) -> String {
        "flatten".into()
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(vec![input.iter().product()])
    }

    fn forward(
        &mut self,
        x: ArrayD<T>,
        _params: &Params<T>,
        _buffers: &mut Params<T>,
        _mode: Mode,
    ) -> (ArrayD<T>, Cache) {
        let dim = x.raw_dim();
        let n = dim[0];
        let d = x.len() / n.max(1);
        let out = x
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&[n, d]))
            .expect("N·D elements");
        (out, Box::new(dim))
    }

    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _params: &Params<T>,
        _need_dx: bool,
    ) -> (ArrayD<T>, Params<T>) {
        let dim: &IxDyn = cache_of(cache, "flatten");
        let dx = dout
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(dim.clone())
            .expect("as many gradients as inputs");
        (dx, Params::new())
    }
}
