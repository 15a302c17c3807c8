use ndarray::{Array, Dimension, ShapeBuilder};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use crate::Float;

/// The seedable generator used throughout: same seed, same run, on every machine.
pub type Rng = rand::rngs::StdRng;

/// A generator seeded with `seed`.
///
/// ```
/// use rand::Rng as _;
/// let a: u32 = numeric::rng(7).random();
/// let b: u32 = numeric::rng(7).random();
/// assert_eq!(a, b);
/// ```
pub fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// An array of standard normal samples, like numpy's `np.random.randn(*shape)`.
///
/// Samples are drawn in `f64` and rounded, so an `f32` and an `f64` array drawn from
/// the same seed hold the same numbers (to `f32` precision).
///
/// ```
/// let w = numeric::randn::<f32, _, _>((3, 2), &mut numeric::rng(0));
/// assert_eq!(w.shape(), &[3, 2]);
/// ```
pub fn randn<T, Sh, D>(shape: Sh, rng: &mut Rng) -> Array<T, D>
where
    T: Float,
    Sh: ShapeBuilder<Dim = D>,
    D: Dimension,
{
    Array::from_shape_simple_fn(shape, || {
        T::cast(<StandardNormal as Distribution<f64>>::sample(
            &StandardNormal,
            rng,
        ))
    })
}
