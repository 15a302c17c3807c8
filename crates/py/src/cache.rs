//! The `cache` every `*_forward` returns: an opaque Python object holding the engine's
//! own cache for the layer, in the element type the forward pass ran in, plus the
//! output shape that the matching `*_backward` checks `dout` against.
//!
//! A cache handed to the wrong backward pass (another layer's, or a float32 cache with
//! a float64 `dout`) is a `ValueError`, never a crash.

use std::marker::PhantomData;

use ndarray::IxDyn;
use pyo3::prelude::*;

use crate::arrays::{Dtype, Kind, value_error};
use crate::engine::{
    AffineCache, ConvCache, DropoutCache, FastPoolCache, GroupNormCache, NormCache, PoolCache,
    ReluCache, SpatialBatchNormCache,
};

/// The fast max-pool cache does not depend on the element type; this pins the type
/// its forward pass ran in, so the backward pass can insist on the same.
pub struct FastPool<T>(pub FastPoolCache, PhantomData<T>);

impl<T> FastPool<T> {
    /// Tags `cache` with the element type `T`.
    pub fn new(cache: FastPoolCache) -> Self {
        Self(cache, PhantomData)
    }
}

/// The batchnorm cache (layernorm's has the same type but another backward pass).
pub struct BatchNorm<T>(pub NormCache<T>);
/// The layernorm cache.
pub struct LayerNorm<T>(pub NormCache<T>);
/// The affine cache, for inputs of any number of axes (owning its `x` and `w`).
pub type Affine<T> = AffineCache<'static, T, IxDyn>;
/// The relu cache, for inputs of any number of axes.
pub type Relu<T> = ReluCache<T, IxDyn>;
/// The dropout cache, for inputs of any number of axes.
pub type Dropout<T> = DropoutCache<T, IxDyn>;

/// Gets the engine cache of type `C` out of an [`Inner`], if that is what it holds.
pub trait Holds<C> {
    /// The cache, or `None` when `self` holds another layer's or another dtype's.
    fn get(&self) -> Option<&C>;
}

macro_rules! inner {
    ($($v64:ident, $v32:ident: $ty:ident;)*) => {
        /// One engine cache, of some layer, in float64 or float32.
        pub enum Inner {
            $(
                #[doc = concat!(stringify!($ty), " in float64.")]
                $v64($ty<f64>),
                #[doc = concat!(stringify!($ty), " in float32.")]
                $v32($ty<f32>),
            )*
        }
        $(
            impl From<$ty<f64>> for Inner {
                fn from(c: $ty<f64>) -> Self { Inner::$v64(c) }
            }
            impl From<$ty<f32>> for Inner {
                fn from(c: $ty<f32>) -> Self { Inner::$v32(c) }
            }
            impl Holds<$ty<f64>> for Inner {
                fn get(&self) -> Option<&$ty<f64>> {
                    match self { Inner::$v64(c) => Some(c), _ => None }
                }
            }
            impl Holds<$ty<f32>> for Inner {
                fn get(&self) -> Option<&$ty<f32>> {
                    match self { Inner::$v32(c) => Some(c), _ => None }
                }
            }
        )*
    };
}

inner! {
    Conv64, Conv32: ConvCache;
    Pool64, Pool32: PoolCache;
    FastPool64, FastPool32: FastPool;
    Affine64, Affine32: Affine;
    Relu64, Relu32: Relu;
    Dropout64, Dropout32: Dropout;
    BatchNorm64, BatchNorm32: BatchNorm;
    LayerNorm64, LayerNorm32: LayerNorm;
    SpatialBatchNorm64, SpatialBatchNorm32: SpatialBatchNormCache;
    GroupNorm64, GroupNorm32: GroupNormCache;
}

/// What a layer's forward pass leaves for its backward pass. Opaque: pass it back to
/// the matching `*_backward` unchanged.
#[pyclass(frozen, module = "cs231n_rs._native", name = "Cache")]
pub struct Cache {
    /// The forward function that made it, for messages.
    made_by: &'static str,
    kind: Kind,
    dout_shape: Vec<usize>,
    inner: Inner,
}

impl Cache {
    /// Wraps the engine's cache `c` of a forward pass in `T` whose output had `out_shape`.
    pub fn new<T: Dtype, C>(made_by: &'static str, out_shape: &[usize], c: C) -> Self
    where
        Inner: From<C>,
    {
        Self {
            made_by,
            kind: T::KIND,
            dout_shape: out_shape.to_vec(),
            inner: Inner::from(c),
        }
    }

    /// The element type the forward pass ran in.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The forward output's shape, which `dout` must have.
    pub fn dout_shape(&self) -> &[usize] {
        &self.dout_shape
    }

    /// The engine cache for `backward`, or a `ValueError` naming both functions.
    pub fn get<C>(&self, backward: &str) -> PyResult<&C>
    where
        Inner: Holds<C>,
    {
        self.inner.get().ok_or_else(|| {
            value_error(format!(
                "{backward} was given a cache made by {}, which it cannot use",
                self.made_by
            ))
        })
    }
}

#[pymethods]
impl Cache {
    fn __repr__(&self) -> String {
        format!(
            "<cache of {} ({}), output shape {:?}>",
            self.made_by,
            self.kind.name(),
            self.dout_shape
        )
    }
}

/// `obj` as a [`Cache`], or a `ValueError` when it is something else.
pub fn cache<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
    backward: &str,
) -> PyResult<&'a Bound<'py, Cache>> {
    obj.cast::<Cache>().map_err(|_| {
        value_error(format!(
            "{backward} needs the cache returned by the forward pass, got {}",
            crate::arrays::describe(obj)
        ))
    })
}
