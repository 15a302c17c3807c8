//! Inverted dropout, as the course's `dropout_forward` / `dropout_backward`: `p` is
//! the probability of keeping a unit. The mask is drawn from a seeded generator, or
//! given ([`dropout_forward_with_mask`]) to reproduce a check exactly.

use ndarray::{Array, ArrayD, ArrayView, Dimension, IxDyn};
use numeric::{Float, Rng};
use rand::Rng as _;

use crate::layer::{Mode, Parameterless};

/// What [`dropout_backward`] needs: the scaled mask (`None` at test time or when
/// nothing is dropped).
#[derive(Debug, Clone)]
pub struct DropoutCache<T, D: Dimension> {
    mask: Option<Array<T, D>>,
}

impl<T: Float, D: Dimension> DropoutCache<T, D> {
    /// The cache of a dropout that dropped nothing (test mode, keep probability 1):
    /// backward passes the gradient through unchanged. For models that skip the
    /// dropout call altogether when it is off.
    ///
    /// ```
    /// let c = nn::DropoutCache::<f64, ndarray::Ix1>::identity();
    /// assert_eq!(nn::dropout_backward(&ndarray::array![2.0].view(), &c), ndarray::array![2.0]);
    /// ```
    pub fn identity() -> Self {
        DropoutCache { mask: None }
    }
}

/// Inverted dropout, as in the course: `p` is the probability of **keeping** a unit.
///
/// In train mode each unit is kept with probability `p` and the kept ones are scaled
/// by `1/p`, so the expected activation equals the test-time one and test time needs
/// no rescaling: at test time (or with `p = 1`) dropout is the identity.
///
/// The mask is drawn from `rng`, so a seeded generator gives reproducible masks.
///
/// # Panics
/// If `p` is not in (0, 1].
///
/// ```
/// use nn::{dropout_forward, Mode};
/// let x = ndarray::Array2::<f64>::ones((100, 100));
/// let (out, _) = dropout_forward(&x.view(), 0.25, Mode::Train, &mut numeric::rng(0));
/// let kept = out.iter().filter(|&&v| v != 0.0).count() as f64 / 1e4;
/// assert!((kept - 0.25).abs() < 0.02);
/// assert!((out.mean().unwrap() - 1.0).abs() < 0.1); // inverted: the mean is preserved
/// ```
pub fn dropout_forward<T: Float, D: Dimension>(
    x: &ArrayView<'_, T, D>,
    p: f64,
    mode: Mode,
    rng: &mut Rng,
) -> (Array<T, D>, DropoutCache<T, D>) {
    assert!(
        p > 0.0 && p <= 1.0,
        "dropout keep probability must be in (0, 1], got {p}"
    );
    if mode == Mode::Test || p == 1.0 {
        return (x.to_owned(), DropoutCache { mask: None });
    }
    let keep = Array::from_shape_simple_fn(x.raw_dim(), || rng.random::<f64>() < p);
    dropout_forward_with_mask(x, p, &keep.view())
}

/// Dropout with a given mask (`true` keeps the unit): the course's seeded check,
/// reproduced exactly whatever generator drew the mask. Kept units are scaled by
/// `1/p` as in [`dropout_forward`], which draws the mask and calls this.
///
/// # Panics
/// If `p` is not in (0, 1] or the mask's shape is not `x`'s.
///
/// ```
/// use ndarray::array;
/// let x = array![1.0_f64, 2.0, 3.0, 4.0];
/// let keep = array![true, false, false, true];
/// let (out, cache) = nn::dropout_forward_with_mask(&x.view(), 0.5, &keep.view());
/// assert_eq!(out, array![2.0, 0.0, 0.0, 8.0]);
/// assert_eq!(nn::dropout_backward(&array![1.0, 1.0, 1.0, 1.0].view(), &cache), array![2.0, 0.0, 0.0, 2.0]);
/// ```
pub fn dropout_forward_with_mask<T: Float, D: Dimension>(
    x: &ArrayView<'_, T, D>,
    p: f64,
    keep: &ArrayView<'_, bool, D>,
) -> (Array<T, D>, DropoutCache<T, D>) {
    assert!(
        p > 0.0 && p <= 1.0,
        "dropout keep probability must be in (0, 1], got {p}"
    );
    assert_eq!(
        keep.shape(),
        x.shape(),
        "dropout mask and input differ in shape"
    );
    let scale = T::cast(1.0 / p);
    let mask = keep.mapv(|k| if k { scale } else { T::zero() });
    let out = &mask * x;
    (out, DropoutCache { mask: Some(mask) })
}

/// Backward pass of [`dropout_forward`]: the gradient flows through kept units only,
/// with the same `1/p` scale.
///
/// ```
/// use nn::{dropout_forward, dropout_backward, Mode};
/// let x = ndarray::array![1.0_f64, 2.0, 3.0];
/// let (out, cache) = dropout_forward(&x.view(), 0.5, Mode::Train, &mut numeric::rng(1));
/// let dx = dropout_backward(&ndarray::array![1.0, 1.0, 1.0].view(), &cache);
/// for i in 0..3 { assert_eq!(dx[i] * x[i], out[i]); }
/// ```
pub fn dropout_backward<T: Float, D: Dimension>(
    dout: &ArrayView<'_, T, D>,
    cache: &DropoutCache<T, D>,
) -> Array<T, D> {
    match &cache.mask {
        Some(mask) => mask * dout,
        None => dout.to_owned(),
    }
}

/// Dropout as a [`Layer`](crate::Layer), with its own seeded generator so a network's masks are
/// reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Dropout {
    keep: f64,
    rng: Rng,
}

impl Dropout {
    /// Keeps each unit with probability `keep`; masks drawn from a generator seeded
    /// with `seed`.
    ///
    /// ```
    /// use nn::{Dropout, Layer, Mode, Params};
    /// let mut d = Dropout::new(0.5, 7);
    /// let x = ndarray::Array2::<f32>::ones((2, 3)).into_dyn();
    /// let (out, _) = d.forward(x.clone(), &Params::new(), &mut Params::new(), Mode::Test);
    /// assert_eq!(out, x);
    /// ```
    pub fn new(keep: f64, seed: u64) -> Self {
        Self {
            keep,
            rng: numeric::rng(seed),
        }
    }
}

impl Parameterless for Dropout {
    type Cache<T: Float> = DropoutCache<T, IxDyn>;
    fn token(&self) -> String {
        format!("drop{}", self.keep)
    }
    fn forward_x<T: Float>(&mut self, x: ArrayD<T>, mode: Mode) -> (ArrayD<T>, Self::Cache<T>) {
        dropout_forward(&x.view(), self.keep, mode, &mut self.rng)
    }
    fn backward_dx<T: Float>(&self, dout: ArrayD<T>, cache: &Self::Cache<T>) -> ArrayD<T> {
        dropout_backward(&dout.view(), cache)
    }
}
