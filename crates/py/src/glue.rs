//! What every layer wrapper does the same way: results handed to Python, the
//! `(out, cache)` pair of a forward pass, and the whole backward pass (the cache
//! checked, `dout` read in the cache's dtype and checked against its shape, the
//! engine's pass run with the GIL released). A wrapper file then says only what is
//! its own: the arguments it reads and the engine function it calls.

use ndarray::{Array, ArrayView, Dimension};
use numpy::{Element, IntoPyArray};
use pyo3::prelude::*;

use crate::arrays::{Dtype, array, check_dout};
use crate::cache::{Cache, Holds, Inner};

/// A pass's result as Python gets it: an array as a numpy array, the cache as the
/// opaque `Cache`, a tuple of them as a tuple.
pub trait ToPython<'py> {
    /// Converts, moving the arrays' buffers into numpy without a copy.
    fn to_python(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

impl<'py, T: Element, D: Dimension> ToPython<'py> for Array<T, D> {
    fn to_python(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.into_pyarray(py).into_any())
    }
}

impl<'py> ToPython<'py> for Cache {
    fn to_python(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(Bound::new(py, self)?.into_any())
    }
}

macro_rules! tuple_to_python {
    ($($name:ident),+) => {
        impl<'py, $($name: ToPython<'py>),+> ToPython<'py> for ($($name,)+) {
            #[allow(non_snake_case)]
            fn to_python(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let ($($name,)+) = self;
                Ok(($($name.to_python(py)?,)+).into_pyobject(py)?.into_any())
            }
        }
    };
}
tuple_to_python!(A, B);
tuple_to_python!(A, B, C);
tuple_to_python!(A, B, C, D);

/// The `(out, cache)` a forward pass returns, the cache holding the engine's `c`
/// and `out`'s shape for the backward pass to check `dout` against.
pub fn out_and_cache<'py, T: Dtype, D: Dimension, C>(
    py: Python<'py>,
    made_by: &'static str,
    out: Array<T, D>,
    c: C,
) -> PyResult<Bound<'py, PyAny>>
where
    Inner: From<C>,
{
    let cache = Cache::new::<T, _>(made_by, out.shape(), c);
    (out, cache).to_python(py)
}

/// A backward pass in `T`: the engine cache of type `C` out of `cache` (a
/// `ValueError` naming `backward` when it is another layer's or dtype's), `dout` as
/// a `D`-axis array of the forward output's shape, then `pass` without the GIL.
pub fn backward<'py, T, D, C, R>(
    dout: &Bound<'py, PyAny>,
    cache: &Cache,
    backward: &str,
    pass: impl FnOnce(&ArrayView<'_, T, D>, &C) -> R + Send,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Dtype,
    D: Dimension,
    C: Sync,
    Inner: Holds<C>,
    R: ToPython<'py> + Send,
{
    let py = dout.py();
    let c: &C = cache.get(backward)?;
    let dout = array::<T, D>(dout, "dout")?;
    let dout = dout.as_array();
    check_dout(dout.shape(), cache.dout_shape())?;
    py.detach(|| pass(&dout, c)).to_python(py)
}

/// `#[pyfunction] $name(dout, cache)`: the course's backward function of one layer,
/// in the dtype its cache was made in, through [`backward`]. `$cache` names the
/// engine cache type (generic over the element type), `$pass` the engine call
/// `|dout, c| ...`.
macro_rules! backward_fn {
    ($(#[$doc:meta])* $name:ident, $dim:ty, $cache:ident, $pass:expr) => {
        $(#[$doc])*
        #[pyfunction]
        pub fn $name<'py>(
            dout: &Bound<'py, PyAny>,
            cache: &Bound<'py, PyAny>,
        ) -> PyResult<Bound<'py, PyAny>> {
            let name = stringify!($name);
            let cache = $crate::cache::cache(cache, name)?.get();
            match cache.kind() {
                $crate::arrays::Kind::F64 => {
                    $crate::glue::backward::<f64, $dim, $cache<f64>, _>(dout, cache, name, $pass)
                }
                $crate::arrays::Kind::F32 => {
                    $crate::glue::backward::<f32, $dim, $cache<f32>, _>(dout, cache, name, $pass)
                }
            }
        }
    };
}
pub(crate) use backward_fn;
