//! The [`Layer`] trait: the course's forward/backward pair as two methods, so a
//! network is a list of layers and a new kind of layer is one new file.
//!
//! A layer's forward pass returns its output and a [`Cache`] of what the backward
//! pass needs; the backward pass turns the upstream gradient `dout` and that cache
//! into `dx` and one gradient per parameter. Each implementation calls the
//! course-named functions of its file (`affine_forward`, `conv_forward_fast`, ...),
//! so the teaching surface and the code that trains are the same code.
//!
//! Parameters live in the model's [`Params`] map (the one the Solver updates and the
//! checkpoints save), under the names the layer gives in [`Layer::params`]: `W1`,
//! `b1`, `gamma1`, ... Each layer also says which of its parameters regularisation
//! decays ([`ParamSpec::decay`]), instead of a model guessing from a name prefix.
//!
//! ```
//! use ndarray::array;
//! use nn::{Affine, Layer, Mode, Params};
//! let mut fc = Affine::new("W", "b", 2, 1);
//! let params = Params::from([
//!     ("W".to_string(), array![[1.0_f64], [2.0]].into_dyn()),
//!     ("b".to_string(), array![0.5].into_dyn()),
//! ]);
//! let x = array![[1.0, 1.0]].into_dyn();
//! let (out, cache) = fc.forward(x, &params, &mut Params::new(), Mode::Train);
//! assert_eq!(out, array![[3.5]].into_dyn());
//! let (dx, grads) = fc.backward(array![[1.0]].into_dyn(), &cache, &params, true);
//! assert_eq!(dx, array![[1.0, 2.0]].into_dyn());
//! assert_eq!(grads["W"], array![[1.0], [1.0]].into_dyn());
//! ```

use std::any::Any;
use std::fmt::Debug;

use ndarray::{Array, ArrayD, ArrayView, Dimension, IxDyn};
use numeric::Float;

use crate::Params;
use crate::error::Result;

/// Train or test behaviour of the layers that differ between the two (batchnorm,
/// dropout), as the course's `bn_param['mode']` / `dropout_param['mode']`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Use batch statistics and update running ones; drop units.
    Train,
    /// Use running statistics; dropout is the identity.
    Test,
}

/// What a layer's forward pass keeps for its backward pass (the course's `cache`).
/// Each layer downcasts it back to its own cache type.
pub type Cache = Box<dyn Any + Send + Sync>;

/// How a parameter starts out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Gaussian weights scaled for `fan_in` inputs: He (`√(2/fan_in)`) unless the
    /// model gives a weight scale.
    Weights {
        /// Inputs feeding each output unit.
        fan_in: usize,
    },
    /// All zeros (biases, `beta`, running statistics).
    Zeros,
    /// All ones (`gamma`).
    Ones,
}

/// One named tensor of a layer: its name in the model, shape and initial value, and
/// whether L2 regularisation decays it (the weights of affine and conv layers, not
/// biases, `gamma` or `beta`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Name in the model's map (`"W1"`, `"gamma2"`, `"running_mean2"`).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Initial value.
    pub init: Init,
    /// Whether `0.5·reg·Σp²` includes it.
    pub decay: bool,
}

impl ParamSpec {
    /// A spec; `decay` is true for [`Init::Weights`].
    pub fn new(name: impl Into<String>, shape: Vec<usize>, init: Init) -> Self {
        Self {
            name: name.into(),
            shape,
            decay: matches!(init, Init::Weights { .. }),
            init,
        }
    }
}

/// A layer of a network: the course's `*_forward` / `*_backward` pair.
pub trait Layer<T: Float>: Debug + Send + Sync {
    /// The spec token the layer is written as (`"conv32x3"`, `"relu"`, `"fc10"`).
    fn name(&self) -> String;

    /// The shape of one output example for one input example of shape `input`, or
    /// the error that makes this layer not fit.
    ///
    /// The default keeps the shape, as activations and dropout do.
    ///
    /// # Errors
    /// [`crate::Error`] naming the layer and the sizes at fault.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        Ok(input.to_vec())
    }

    /// The trainable parameters this layer reads, by name.
    fn params(&self) -> Vec<ParamSpec> {
        Vec::new()
    }

    /// Non-trainable state saved with the weights (batchnorm's running statistics).
    fn buffers(&self) -> Vec<ParamSpec> {
        Vec::new()
    }

    /// Forward pass of a batch `x` (N, …) in `mode`: the output and the cache.
    /// `params` holds (at least) this layer's parameters; `buffers` its buffers, which
    /// a train-mode pass may update.
    ///
    /// # Panics
    /// If `x` does not have the shape [`output_shape`](Layer::output_shape) accepts,
    /// or a parameter is missing: models check both when they are built.
    fn forward(
        &mut self,
        x: ArrayD<T>,
        params: &Params<T>,
        buffers: &mut Params<T>,
        mode: Mode,
    ) -> (ArrayD<T>, Cache);

    /// Backward pass: `dx` (empty when `need_dx` is false: a network's first layer
    /// needs no gradient of the data) and one gradient per parameter, by name.
    ///
    /// # Panics
    /// If `cache` comes from another kind of layer.
    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        params: &Params<T>,
        need_dx: bool,
    ) -> (ArrayD<T>, Params<T>);
}

/// A layer without parameters or buffers whose passes are one function each
/// (activations, dropout): it says its name, its forward pass with its own cache
/// type, and its backward pass; the blanket [`Layer`] impl below does the rest
/// (boxing the cache, taking it back, the empty parameter gradients).
pub trait Parameterless: Debug + Send + Sync {
    /// What the backward pass needs.
    type Cache<T: Float>: Send + Sync + 'static;

    /// The spec token, as [`Layer::name`].
    fn token(&self) -> String;

    /// Forward pass of a batch `x` of any shape in `mode`.
    fn forward_x<T: Float>(&mut self, x: ArrayD<T>, mode: Mode) -> (ArrayD<T>, Self::Cache<T>);

    /// Backward pass: `dx` from `dout`.
    fn backward_dx<T: Float>(&self, dout: ArrayD<T>, cache: &Self::Cache<T>) -> ArrayD<T>;
}

impl<T: Float, L: Parameterless> Layer<T> for L {
    fn name(&self) -> String {
        self.token()
    }
    fn forward(
        &mut self,
        x: ArrayD<T>,
        _: &Params<T>,
        _: &mut Params<T>,
        mode: Mode,
    ) -> (ArrayD<T>, Cache) {
        let (out, cache) = self.forward_x(x, mode);
        (out, Box::new(cache))
    }
    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        _: bool,
    ) -> (ArrayD<T>, Params<T>) {
        let cache = cache
            .downcast_ref::<L::Cache<T>>()
            .unwrap_or_else(|| panic!("{}: backward got the cache of another layer", self.token()));
        (self.backward_dx(dout, cache), Params::new())
    }
}

/// The cache of layer `layer`, as its own type.
pub(crate) fn cache_of<'a, C: 'static>(cache: &'a Cache, layer: &str) -> &'a C {
    cache
        .downcast_ref::<C>()
        .unwrap_or_else(|| panic!("{layer}: backward got the cache of another layer"))
}

/// The tensor `name` of `params` as an array of `D` dimensions.
pub(crate) fn view<'a, T: Float, D: Dimension>(
    params: &'a Params<T>,
    name: &str,
) -> ArrayView<'a, T, D> {
    params
        .get(name)
        .unwrap_or_else(|| panic!("parameter {name} is missing"))
        .view()
        .into_dimensionality::<D>()
        .unwrap_or_else(|_| panic!("parameter {name} has the wrong number of axes"))
}

/// A batch as an array of `D` dimensions (a layer's input or upstream gradient).
pub(crate) fn batch<T: Float, D: Dimension>(x: ArrayD<T>, layer: &str) -> Array<T, D> {
    let shape = x.shape().to_vec();
    x.into_dimensionality::<D>().unwrap_or_else(|_| {
        panic!("{layer}: batch of shape {shape:?} has the wrong number of axes")
    })
}

/// An empty `dx`, for layers asked not to compute one.
pub(crate) fn no_dx<T: Float>() -> ArrayD<T> {
    ArrayD::zeros(IxDyn(&[0]))
}
