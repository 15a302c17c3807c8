use ndarray::{Array, Dimension, ShapeBuilder};
use ndarray_rand::RandomExt;
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

/// An array of standard normal samples, like numpy's `np.random.randn(*shape)`,
/// made by `ndarray_rand`'s [`RandomExt::random_using`].
///
/// Samples are drawn in `f64` and rounded, so an `f32` and an `f64` array drawn from
/// the same seed hold the same numbers (to `f32` precision). They fill the array in
/// row-major order, one draw per element.
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
    let normal = <StandardNormal as Distribution<f64>>::map(StandardNormal, T::cast);
    Array::random_using(shape, normal, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers_in_both_precisions() {
        let a = randn::<f64, _, _>((4, 3), &mut rng(5));
        let b = randn::<f64, _, _>((4, 3), &mut rng(5));
        let c = randn::<f32, _, _>((4, 3), &mut rng(5));
        assert_eq!(a, b);
        assert_eq!(c, a.mapv(|v| v as f32));
        assert_ne!(a, randn::<f64, _, _>((4, 3), &mut rng(6)));
    }

    #[test]
    fn one_draw_per_element_in_row_major_order() {
        let mut r = rng(9);
        let by_hand: Vec<f64> = (0..6)
            .map(|_| <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut r))
            .collect();
        let a = randn::<f64, _, _>((2, 3), &mut rng(9));
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), by_hand);
    }
}
