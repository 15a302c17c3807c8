//! Elementwise activations: relu, leaky relu, sigmoid and tanh, each a
//! `*_forward` / `*_backward` pair as in the course's `layers.py`. They act on any
//! shape, so convnets reuse them on images. [`relu_inplace`] and
//! [`relu_backward_from_output`] are the in-place kernels the sandwich layers use.

use ndarray::{Array, ArrayD, ArrayView, ArrayViewMut, Dimension, IxDyn, Zip};
use numeric::Float;

use crate::layer::{Mode, Parameterless};

/// What [`relu_backward`] needs: the input `x`.
#[derive(Debug, Clone)]
pub struct ReluCache<T, D: Dimension> {
    x: Array<T, D>,
}

/// Rectified linear unit, `max(0, x)`, elementwise.
///
/// ```
/// use ndarray::{array, Array};
/// // The course's check.
/// let x = Array::linspace(-0.5, 0.5, 12).into_shape_with_order((3, 4)).unwrap();
/// let (out, _) = nn::relu_forward(&x.view());
/// assert_eq!(out[[0, 3]], 0.0);
/// assert!((out[[1, 2]] - 0.04545455_f64).abs() < 1e-8);
/// assert_eq!(out[[2, 3]], 0.5);
/// ```
pub fn relu_forward<T: Float, D: Dimension>(
    x: &ArrayView<'_, T, D>,
) -> (Array<T, D>, ReluCache<T, D>) {
    let mut out = x.to_owned();
    relu_inplace(&mut out.view_mut());
    (out, ReluCache { x: x.to_owned() })
}

/// Backward pass of [`relu_forward`]: `dx = dout · [x > 0]`.
///
/// ```
/// use ndarray::array;
/// let (_, cache) = nn::relu_forward(&array![-1.0_f64, 2.0].view());
/// assert_eq!(nn::relu_backward(&array![5.0, 5.0].view(), &cache), array![0.0, 5.0]);
/// ```
pub fn relu_backward<T: Float, D: Dimension>(
    dout: &ArrayView<'_, T, D>,
    cache: &ReluCache<T, D>,
) -> Array<T, D> {
    let mut dx = dout.to_owned();
    relu_backward_from_output(&mut dx.view_mut(), &cache.x.view());
    dx
}

/// In-place relu (the kernel the sandwich layers run on an affine or pooled output).
///
/// ```
/// let mut a = ndarray::array![-1.0_f32, 3.0];
/// nn::relu_inplace(&mut a.view_mut());
/// assert_eq!(a, ndarray::array![0.0, 3.0]);
/// ```
pub fn relu_inplace<T: Float, D: Dimension>(a: &mut ArrayViewMut<'_, T, D>) {
    // `v < 0` rather than `v > 0`: a NaN passes through (as numpy's maximum), so a
    // diverging run shows up in the loss instead of being silently zeroed.
    a.mapv_inplace(|v| if v < T::zero() { T::zero() } else { v });
}

/// In-place relu backward: zeroes `dout` where `out ≤ 0`. Works with either relu's
/// input or its output, since `out > 0` exactly where `x > 0`, so models need not
/// keep the pre-activation.
///
/// ```
/// let mut d = ndarray::array![1.0_f32, 1.0];
/// nn::relu_backward_from_output(&mut d.view_mut(), &ndarray::array![0.0_f32, 2.0].view());
/// assert_eq!(d, ndarray::array![0.0, 1.0]);
/// ```
pub fn relu_backward_from_output<T: Float, D: Dimension>(
    dout: &mut ArrayViewMut<'_, T, D>,
    out: &ArrayView<'_, T, D>,
) {
    Zip::from(dout).and(out).for_each(|d, &o| {
        if o <= T::zero() {
            *d = T::zero();
        }
    });
}

/// What [`leaky_relu_backward`] needs: the input and the slope.
#[derive(Debug, Clone)]
pub struct LeakyReluCache<T, D: Dimension> {
    x: Array<T, D>,
    alpha: T,
}

/// Leaky relu, `x` for `x > 0` and `α·x` otherwise: a small slope keeps dead units
/// learning (lecture 7).
///
/// ```
/// let (out, _) = nn::leaky_relu_forward(&ndarray::array![-2.0_f64, 3.0].view(), 0.01);
/// assert_eq!(out, ndarray::array![-0.02, 3.0]);
/// ```
pub fn leaky_relu_forward<T: Float, D: Dimension>(
    x: &ArrayView<'_, T, D>,
    alpha: f64,
) -> (Array<T, D>, LeakyReluCache<T, D>) {
    let alpha = T::cast(alpha);
    let out = x.mapv(|v| if v > T::zero() { v } else { alpha * v });
    (
        out,
        LeakyReluCache {
            x: x.to_owned(),
            alpha,
        },
    )
}

/// Backward pass of [`leaky_relu_forward`]: `dx = dout · (1 if x > 0 else α)`.
///
/// ```
/// let (_, c) = nn::leaky_relu_forward(&ndarray::array![-2.0_f64, 3.0].view(), 0.1);
/// assert_eq!(nn::leaky_relu_backward(&ndarray::array![1.0, 1.0].view(), &c), ndarray::array![0.1, 1.0]);
/// ```
pub fn leaky_relu_backward<T: Float, D: Dimension>(
    dout: &ArrayView<'_, T, D>,
    cache: &LeakyReluCache<T, D>,
) -> Array<T, D> {
    let mut dx = dout.to_owned();
    Zip::from(&mut dx).and(&cache.x).for_each(|d, &x| {
        if x <= T::zero() {
            *d *= cache.alpha;
        }
    });
    dx
}

/// What [`sigmoid_backward`] needs: the output σ(x), since σ' = σ(1 − σ).
#[derive(Debug, Clone)]
pub struct SigmoidCache<T, D: Dimension> {
    out: Array<T, D>,
}

/// Logistic sigmoid `σ(x) = 1 / (1 + e^(−x))`, computed without overflow for large |x|.
///
/// ```
/// let (out, _) = nn::sigmoid_forward(&ndarray::array![0.0_f64, -1000.0].view());
/// assert_eq!(out, ndarray::array![0.5, 0.0]);
/// ```
pub fn sigmoid_forward<T: Float, D: Dimension>(
    x: &ArrayView<'_, T, D>,
) -> (Array<T, D>, SigmoidCache<T, D>) {
    let out = x.mapv(|v| {
        if v >= T::zero() {
            T::one() / (T::one() + (-v).exp())
        } else {
            let e = v.exp();
            e / (T::one() + e)
        }
    });
    (out.clone(), SigmoidCache { out })
}

/// Backward pass of [`sigmoid_forward`]: `dx = dout · σ(x)(1 − σ(x))`.
///
/// ```
/// let (_, c) = nn::sigmoid_forward(&ndarray::array![0.0_f64].view());
/// assert_eq!(nn::sigmoid_backward(&ndarray::array![1.0].view(), &c), ndarray::array![0.25]);
/// ```
pub fn sigmoid_backward<T: Float, D: Dimension>(
    dout: &ArrayView<'_, T, D>,
    cache: &SigmoidCache<T, D>,
) -> Array<T, D> {
    let mut dx = dout.to_owned();
    Zip::from(&mut dx)
        .and(&cache.out)
        .for_each(|d, &s| *d *= s * (T::one() - s));
    dx
}

/// What [`tanh_backward`] needs: the output tanh(x), since tanh' = 1 − tanh².
#[derive(Debug, Clone)]
pub struct TanhCache<T, D: Dimension> {
    out: Array<T, D>,
}

/// Hyperbolic tangent, elementwise (zero-centred, unlike the sigmoid).
///
/// ```
/// let (out, _) = nn::tanh_forward(&ndarray::array![0.0_f64].view());
/// assert_eq!(out, ndarray::array![0.0]);
/// ```
pub fn tanh_forward<T: Float, D: Dimension>(
    x: &ArrayView<'_, T, D>,
) -> (Array<T, D>, TanhCache<T, D>) {
    let out = x.mapv(T::tanh);
    (out.clone(), TanhCache { out })
}

/// Backward pass of [`tanh_forward`]: `dx = dout · (1 − tanh²(x))`.
///
/// ```
/// let (_, c) = nn::tanh_forward(&ndarray::array![0.0_f64].view());
/// assert_eq!(nn::tanh_backward(&ndarray::array![2.0].view(), &c), ndarray::array![2.0]);
/// ```
pub fn tanh_backward<T: Float, D: Dimension>(
    dout: &ArrayView<'_, T, D>,
    cache: &TanhCache<T, D>,
) -> Array<T, D> {
    let mut dx = dout.to_owned();
    Zip::from(&mut dx)
        .and(&cache.out)
        .for_each(|d, &t| *d *= T::one() - t * t);
    dx
}

// ---------------------------------------------------------------------------------
// The activations as layers of a network: no parameters, any shape.
// ---------------------------------------------------------------------------------

/// Relu as a [`Layer`](crate::Layer): runs in place on its input and keeps its output as the cache
/// (`out > 0` exactly where `x > 0`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Relu;

impl Parameterless for Relu {
    type Cache<T: Float> = ArrayD<T>;
    fn token(&self) -> String {
        "relu".into()
    }
    fn forward_x<T: Float>(&mut self, mut x: ArrayD<T>, _: Mode) -> (ArrayD<T>, ArrayD<T>) {
        relu_inplace(&mut x.view_mut());
        (x.clone(), x)
    }
    fn backward_dx<T: Float>(&self, mut dout: ArrayD<T>, out: &ArrayD<T>) -> ArrayD<T> {
        relu_backward_from_output(&mut dout.view_mut(), &out.view());
        dout
    }
}

/// Leaky relu with slope `alpha` as a [`Layer`](crate::Layer).
#[derive(Debug, Clone, Copy)]
pub struct LeakyRelu {
    /// Slope for negative inputs.
    pub alpha: f64,
}

impl Parameterless for LeakyRelu {
    type Cache<T: Float> = LeakyReluCache<T, IxDyn>;
    fn token(&self) -> String {
        format!("lrelu{}", self.alpha)
    }
    fn forward_x<T: Float>(&mut self, x: ArrayD<T>, _: Mode) -> (ArrayD<T>, Self::Cache<T>) {
        leaky_relu_forward(&x.view(), self.alpha)
    }
    fn backward_dx<T: Float>(&self, dout: ArrayD<T>, cache: &Self::Cache<T>) -> ArrayD<T> {
        leaky_relu_backward(&dout.view(), cache)
    }
}

/// The sigmoid as a [`Layer`](crate::Layer).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sigmoid;

impl Parameterless for Sigmoid {
    type Cache<T: Float> = SigmoidCache<T, IxDyn>;
    fn token(&self) -> String {
        "sigmoid".into()
    }
    fn forward_x<T: Float>(&mut self, x: ArrayD<T>, _: Mode) -> (ArrayD<T>, Self::Cache<T>) {
        sigmoid_forward(&x.view())
    }
    fn backward_dx<T: Float>(&self, dout: ArrayD<T>, cache: &Self::Cache<T>) -> ArrayD<T> {
        sigmoid_backward(&dout.view(), cache)
    }
}

/// Tanh as a [`Layer`](crate::Layer).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tanh;

impl Parameterless for Tanh {
    type Cache<T: Float> = TanhCache<T, IxDyn>;
    fn token(&self) -> String {
        "tanh".into()
    }
    fn forward_x<T: Float>(&mut self, x: ArrayD<T>, _: Mode) -> (ArrayD<T>, Self::Cache<T>) {
        tanh_forward(&x.view())
    }
    fn backward_dx<T: Float>(&self, dout: ArrayD<T>, cache: &Self::Cache<T>) -> ArrayD<T> {
        tanh_backward(&dout.view(), cache)
    }
}
