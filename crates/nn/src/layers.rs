//! Modular layers, as the course's `layers.py` writes them: a `*_forward` that returns
//! the output and a *cache* of what the backward pass needs, and a `*_backward` that
//! turns the upstream gradient `dout` and the cache into gradients for the inputs.
//!
//! Every backward is derived by hand and vectorised (no loops over examples), and
//! every one is checked against a centred-difference numerical gradient in `f64`
//! (relative error < 1e-7) in this module's tests.
//!
//! Underneath the course-style pairs sit a few *kernels* ([`affine`],
//! [`affine_param_grads`], [`affine_input_grad`], [`relu_inplace`],
//! [`relu_backward_from_output`]) that take views instead of caches. Models call those
//! directly so that they can keep activations themselves, skip the input gradient of
//! the first layer (nobody needs `dX` of the data) and avoid copying the input batch
//! into a cache; the course-style functions are thin wrappers over the same kernels.
//!
//! ```
//! use ndarray::array;
//! use nn::layers::{affine_relu_forward, affine_relu_backward};
//! let x = array![[1.0_f64, -2.0]];
//! let w = array![[1.0_f64, 0.5], [1.0, -1.0]];
//! let b = array![0.0_f64, 0.0];
//! let (out, cache) = affine_relu_forward(&x.view(), &w.view(), &b.view());
//! assert_eq!(out, array![[0.0, 2.5]]); // x·W = [-1, 2.5], relu clips the -1
//! let (dx, dw, db) = affine_relu_backward(&array![[1.0, 1.0]].view(), &cache);
//! assert_eq!(db, array![0.0, 1.0]); // no gradient flows through the clipped unit
//! assert_eq!(dx.shape(), &[1, 2]);
//! assert_eq!(dw.shape(), &[2, 2]);
//! ```

use ndarray::{
    Array, Array1, Array2, ArrayView, ArrayView1, ArrayView2, ArrayViewMut, Axis, Dimension, Ix2,
    Zip,
};
use numeric::{Float, Rng};
use rand::Rng as _;

/// Train or test behaviour of the layers that differ between the two (batchnorm,
/// dropout), as the course's `bn_param['mode']` / `dropout_param['mode']`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Use batch statistics and update running ones; drop units.
    Train,
    /// Use running statistics; dropout is the identity.
    Test,
}

// ---------------------------------------------------------------------------------
// Affine
// ---------------------------------------------------------------------------------

/// `x·W + b` for rows `x` (N, D), weights `W` (D, M), bias `b` (M): the forward kernel.
///
/// The bias is broadcast into the output first and GEMM accumulates onto it
/// (β = 1), so bias addition costs no extra pass over the output.
///
/// ```
/// use ndarray::array;
/// let out = nn::layers::affine(&array![[1.0_f32, 2.0]].view(), &array![[1.0_f32], [1.0]].view(), &array![0.5_f32].view());
/// assert_eq!(out, array![[3.5]]);
/// ```
pub fn affine<T: Float>(
    x: &ArrayView2<'_, T>,
    w: &ArrayView2<'_, T>,
    b: &ArrayView1<'_, T>,
) -> Array2<T> {
    let mut out = b
        .broadcast((x.nrows(), w.ncols()))
        .expect("bias length matches W's columns")
        .to_owned();
    numeric::gemm(T::one(), x, w, T::one(), &mut out.view_mut());
    out
}

/// Parameter gradients of an affine layer: `dW = xᵀ·dout`, `db = Σ_rows dout`.
///
/// `xᵀ` is a transposed *view*: GEMM reads it with swapped strides, no copy.
///
/// ```
/// use ndarray::array;
/// let (dw, db) = nn::layers::affine_param_grads(&array![[2.0_f64, 3.0]].view(), &array![[1.0_f64]].view());
/// assert_eq!(dw, array![[2.0], [3.0]]);
/// assert_eq!(db, array![1.0]);
/// ```
pub fn affine_param_grads<T: Float>(
    x: &ArrayView2<'_, T>,
    dout: &ArrayView2<'_, T>,
) -> (Array2<T>, Array1<T>) {
    let mut dw = Array2::zeros((x.ncols(), dout.ncols()));
    numeric::gemm(T::one(), &x.t(), dout, T::zero(), &mut dw.view_mut());
    (dw, dout.sum_axis(Axis(0)))
}

/// Input gradient of an affine layer: `dx = dout·Wᵀ` (transposed view, no copy).
///
/// ```
/// use ndarray::array;
/// let dx = nn::layers::affine_input_grad(&array![[1.0_f64]].view(), &array![[2.0_f64], [3.0]].view());
/// assert_eq!(dx, array![[2.0, 3.0]]);
/// ```
pub fn affine_input_grad<T: Float>(dout: &ArrayView2<'_, T>, w: &ArrayView2<'_, T>) -> Array2<T> {
    numeric::matmul(dout, &w.t())
}

/// What [`affine_backward`] needs: the input (flattened to rows), its original shape,
/// and the weights.
#[derive(Debug, Clone)]
pub struct AffineCache<T, D> {
    x: Array2<T>,
    x_dim: D,
    w: Array2<T>,
}

/// Affine (fully connected) layer: `out = x·W + b`, where each example of `x`
/// (shape (N, d₁, …, d_k), e.g. images) is flattened to a row of D = d₁⋯d_k values.
///
/// Returns `out` (N, M) and the cache for [`affine_backward`].
///
/// # Panics
/// If D differs from `W`'s rows or `b`'s length from `W`'s columns.
///
/// ```
/// use ndarray::{array, Array};
/// // The course's check: inputs (2, 4, 5, 6), 3 outputs, values from linspace.
/// let x = Array::linspace(-0.1, 0.5, 240).into_shape_with_order((2, 4, 5, 6)).unwrap();
/// let w = Array::linspace(-0.2, 0.3, 360).into_shape_with_order((120, 3)).unwrap();
/// let b = Array::linspace(-0.3, 0.1, 3);
/// let (out, _) = nn::layers::affine_forward(&x.view(), &w.view(), &b.view());
/// let expected = array![[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]];
/// assert!(backprop::gradcheck::rel_error(&out.view(), &expected.view()) < 1e-7);
/// ```
pub fn affine_forward<T: Float, D: Dimension>(
    x: &ArrayView<'_, T, D>,
    w: &ArrayView2<'_, T>,
    b: &ArrayView1<'_, T>,
) -> (Array2<T>, AffineCache<T, D>) {
    let x2 = flatten_rows(x);
    let out = affine(&x2.view(), w, b);
    let cache = AffineCache {
        x: x2,
        x_dim: x.raw_dim(),
        w: w.to_owned(),
    };
    (out, cache)
}

/// Backward pass of [`affine_forward`]: `(dx, dW, db)` with `dx` in the input's shape.
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 2.0]];
/// let (_, cache) = nn::layers::affine_forward(&x.view(), &array![[3.0], [4.0]].view(), &array![0.0].view());
/// let (dx, dw, db) = nn::layers::affine_backward(&array![[1.0]].view(), &cache);
/// assert_eq!((dx, dw, db), (array![[3.0, 4.0]], array![[1.0], [2.0]], array![1.0]));
/// ```
pub fn affine_backward<T: Float, D: Dimension>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineCache<T, D>,
) -> (Array<T, D>, Array2<T>, Array1<T>) {
    let (dw, db) = affine_param_grads(&cache.x.view(), dout);
    let dx = affine_input_grad(dout, &cache.w.view())
        .into_shape_with_order(cache.x_dim.clone())
        .expect("dx has as many elements as x");
    (dx, dw, db)
}

/// `x` (N, d₁, …) as rows (N, d₁⋯d_k), copied into standard layout.
fn flatten_rows<T: Float, D: Dimension>(x: &ArrayView<'_, T, D>) -> Array2<T> {
    let n = x.shape().first().copied().unwrap_or(1);
    let d: usize = x.shape().iter().skip(1).product();
    let flat: Vec<T> = x.iter().copied().collect();
    Array2::from_shape_vec((n, d), flat).expect("N·D elements")
}

// ---------------------------------------------------------------------------------
// Activations (any shape: they act elementwise, so convnets reuse them on images)
// ---------------------------------------------------------------------------------

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
/// let (out, _) = nn::layers::relu_forward(&x.view());
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
/// let (_, cache) = nn::layers::relu_forward(&array![-1.0_f64, 2.0].view());
/// assert_eq!(nn::layers::relu_backward(&array![5.0, 5.0].view(), &cache), array![0.0, 5.0]);
/// ```
pub fn relu_backward<T: Float, D: Dimension>(
    dout: &ArrayView<'_, T, D>,
    cache: &ReluCache<T, D>,
) -> Array<T, D> {
    let mut dx = dout.to_owned();
    relu_backward_from_output(&mut dx.view_mut(), &cache.x.view());
    dx
}

/// In-place relu (the kernel models fuse behind an affine layer).
///
/// ```
/// let mut a = ndarray::array![-1.0_f32, 3.0];
/// nn::layers::relu_inplace(&mut a.view_mut());
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
/// nn::layers::relu_backward_from_output(&mut d.view_mut(), &ndarray::array![0.0_f32, 2.0].view());
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
/// let (out, _) = nn::layers::leaky_relu_forward(&ndarray::array![-2.0_f64, 3.0].view(), 0.01);
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
/// let (_, c) = nn::layers::leaky_relu_forward(&ndarray::array![-2.0_f64, 3.0].view(), 0.1);
/// assert_eq!(nn::layers::leaky_relu_backward(&ndarray::array![1.0, 1.0].view(), &c), ndarray::array![0.1, 1.0]);
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
/// let (out, _) = nn::layers::sigmoid_forward(&ndarray::array![0.0_f64, -1000.0].view());
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
/// let (_, c) = nn::layers::sigmoid_forward(&ndarray::array![0.0_f64].view());
/// assert_eq!(nn::layers::sigmoid_backward(&ndarray::array![1.0].view(), &c), ndarray::array![0.25]);
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
/// let (out, _) = nn::layers::tanh_forward(&ndarray::array![0.0_f64].view());
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
/// let (_, c) = nn::layers::tanh_forward(&ndarray::array![0.0_f64].view());
/// assert_eq!(nn::layers::tanh_backward(&ndarray::array![2.0].view(), &c), ndarray::array![2.0]);
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
// Batch normalisation and layer normalisation
// ---------------------------------------------------------------------------------

/// Batchnorm's state that is not a parameter: the course's `bn_param`.
///
/// The running mean and variance are exponential moving averages of the batch
/// statistics seen in training (`running = momentum·running + (1 − momentum)·batch`),
/// used in place of the batch statistics at test time, when there may be a single
/// example.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormParam<T> {
    /// Moving average of the per-feature means.
    pub running_mean: Array1<T>,
    /// Moving average of the per-feature (biased) variances.
    pub running_var: Array1<T>,
    /// Weight of the old running value in each update (course default 0.9).
    pub momentum: f64,
    /// Added to the variance before the square root (course default 1e-5).
    pub eps: f64,
}

impl<T: Float> BatchNormParam<T> {
    /// Zero running mean and variance for `d` features, momentum 0.9, eps 1e-5 (the
    /// course's defaults).
    ///
    /// ```
    /// let bn = nn::layers::BatchNormParam::<f32>::new(4);
    /// assert_eq!((bn.momentum, bn.eps, bn.running_var.len()), (0.9, 1e-5, 4));
    /// ```
    pub fn new(d: usize) -> Self {
        Self {
            running_mean: Array1::zeros(d),
            running_var: Array1::zeros(d),
            momentum: 0.9,
            eps: 1e-5,
        }
    }
}

/// What [`batchnorm_backward`] / [`layernorm_backward`] need: the normalised input,
/// the inverse standard deviations, `gamma`, and whether batch statistics were used.
#[derive(Debug, Clone)]
pub struct NormCache<T> {
    x_hat: Array2<T>,
    inv_std: Array1<T>,
    gamma: Array1<T>,
    batch_stats: bool,
}

/// Batch normalisation over the examples of `x` (N, D): each feature is normalised
/// to zero mean and unit variance, then scaled by `gamma` and shifted by `beta`.
///
/// In [`Mode::Train`] the batch's mean and (biased) variance are used and the running
/// statistics in `bn` are updated; in [`Mode::Test`] the running statistics are used
/// and `bn` is left alone.
///
/// ```
/// use ndarray::array;
/// use nn::layers::{batchnorm_forward, BatchNormParam, Mode};
/// let x = array![[1.0_f64, 10.0], [3.0, 30.0]];
/// let mut bn = BatchNormParam::new(2);
/// let (out, _) = batchnorm_forward(&x.view(), &array![1.0, 2.0].view(), &array![0.0, 5.0].view(), &mut bn, Mode::Train);
/// // Each column becomes ±1 (times gamma, plus beta), up to eps.
/// assert!((out[[0, 0]] + 1.0).abs() < 1e-4 && (out[[1, 1]] - 7.0).abs() < 1e-4);
/// assert!((bn.running_mean[0] - 0.2).abs() < 1e-12); // 0.9·0 + 0.1·2
/// ```
pub fn batchnorm_forward<T: Float>(
    x: &ArrayView2<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    bn: &mut BatchNormParam<T>,
    mode: Mode,
) -> (Array2<T>, NormCache<T>) {
    let eps = T::cast(bn.eps);
    let (mean, var) = match mode {
        Mode::Train => {
            let (mean, var) = column_moments(x);
            let m = T::cast(bn.momentum);
            let one_m = T::one() - m;
            Zip::from(&mut bn.running_mean)
                .and(&mean)
                .for_each(|r, &v| *r = m * *r + one_m * v);
            Zip::from(&mut bn.running_var)
                .and(&var)
                .for_each(|r, &v| *r = m * *r + one_m * v);
            (mean, var)
        }
        Mode::Test => (bn.running_mean.clone(), bn.running_var.clone()),
    };
    let inv_std = var.mapv(|v| T::one() / (v + eps).sqrt());
    let mut x_hat = x.to_owned();
    Zip::from(x_hat.rows_mut()).for_each(|mut row| {
        Zip::from(&mut row)
            .and(&mean)
            .and(&inv_std)
            .for_each(|v, &mu, &s| *v = (*v - mu) * s);
    });
    let out = scale_shift(&x_hat, gamma, beta);
    let cache = NormCache {
        x_hat,
        inv_std,
        gamma: gamma.to_owned(),
        batch_stats: mode == Mode::Train,
    };
    (out, cache)
}

/// Backward pass of [`batchnorm_forward`]: `(dx, dgamma, dbeta)`.
///
/// The simplified single-expression form (derived on paper from the computational
/// graph, as the course's `batchnorm_backward_alt`): with `dx̂ = dout·γ`,
/// `dx = (1/σ)/N · (N·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂))`, sums over the batch. In test mode the
/// statistics are constants and `dx = dx̂/σ`.
///
/// ```
/// use ndarray::array;
/// use nn::layers::{batchnorm_forward, batchnorm_backward, BatchNormParam, Mode};
/// let x = array![[1.0_f64], [3.0]];
/// let (_, cache) = batchnorm_forward(&x.view(), &array![1.0].view(), &array![0.0].view(), &mut BatchNormParam::new(1), Mode::Train);
/// // A constant upstream gradient is absorbed by the mean: dx = 0, dbeta = N.
/// let (dx, _, dbeta) = batchnorm_backward(&array![[1.0], [1.0]].view(), &cache);
/// assert!(dx.iter().all(|v| v.abs() < 1e-12));
/// assert_eq!(dbeta, array![2.0]);
/// ```
pub fn batchnorm_backward<T: Float>(
    dout: &ArrayView2<'_, T>,
    cache: &NormCache<T>,
) -> (Array2<T>, Array1<T>, Array1<T>) {
    let dbeta = dout.sum_axis(Axis(0));
    let dgamma = (dout * &cache.x_hat).sum_axis(Axis(0));
    let mut dx_hat = dout.to_owned();
    Zip::from(dx_hat.rows_mut()).for_each(|mut row| row *= &cache.gamma);
    if !cache.batch_stats {
        Zip::from(dx_hat.rows_mut()).for_each(|mut row| row *= &cache.inv_std);
        return (dx_hat, dgamma, dbeta);
    }
    let n = T::count(dout.nrows());
    let sum_dx_hat = dx_hat.sum_axis(Axis(0));
    let sum_dx_hat_x_hat = (&dx_hat * &cache.x_hat).sum_axis(Axis(0));
    let mut dx = dx_hat;
    Zip::from(dx.rows_mut())
        .and(cache.x_hat.rows())
        .for_each(|mut d, xh| {
            Zip::from(&mut d)
                .and(&xh)
                .and(&sum_dx_hat)
                .and(&sum_dx_hat_x_hat)
                .for_each(|d, &xh, &s1, &s2| *d = n * *d - s1 - xh * s2);
            Zip::from(&mut d)
                .and(&cache.inv_std)
                .for_each(|d, &s| *d = *d * s / n);
        });
    (dx, dgamma, dbeta)
}

/// Layer normalisation of `x` (N, D): each *example* is normalised over its features
/// (the transpose of batchnorm), then scaled by `gamma` and shifted by `beta` per
/// feature. It has no running statistics and behaves the same in train and test,
/// so it works with any batch size.
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 3.0], [10.0, 30.0]];
/// let (out, _) = nn::layers::layernorm_forward(&x.view(), &array![1.0, 1.0].view(), &array![0.0, 0.0].view(), 1e-5);
/// assert!((out[[1, 0]] + 1.0).abs() < 1e-6 && (out[[0, 1]] - 1.0).abs() < 1e-5);
/// ```
pub fn layernorm_forward<T: Float>(
    x: &ArrayView2<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    eps: f64,
) -> (Array2<T>, NormCache<T>) {
    let (mean, var) = column_moments(&x.t());
    let eps = T::cast(eps);
    let inv_std = var.mapv(|v| T::one() / (v + eps).sqrt());
    let mut x_hat = x.to_owned();
    Zip::from(x_hat.rows_mut())
        .and(&mean)
        .and(&inv_std)
        .for_each(|mut row, &mu, &s| {
            row.mapv_inplace(|v| (v - mu) * s);
        });
    let out = scale_shift(&x_hat, gamma, beta);
    (
        out,
        NormCache {
            x_hat,
            inv_std,
            gamma: gamma.to_owned(),
            batch_stats: true,
        },
    )
}

/// Backward pass of [`layernorm_forward`]: batchnorm's simplified expression with the
/// sums taken over each example's D features instead of over the batch.
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 3.0]];
/// let (_, c) = nn::layers::layernorm_forward(&x.view(), &array![1.0, 1.0].view(), &array![0.0, 0.0].view(), 1e-5);
/// let (dx, dgamma, dbeta) = nn::layers::layernorm_backward(&array![[1.0, 1.0]].view(), &c);
/// assert!(dx.iter().all(|v| v.abs() < 1e-12)); // shifting every feature changes nothing
/// assert_eq!(dbeta, array![1.0, 1.0]);
/// assert_eq!(dgamma.len(), 2);
/// ```
pub fn layernorm_backward<T: Float>(
    dout: &ArrayView2<'_, T>,
    cache: &NormCache<T>,
) -> (Array2<T>, Array1<T>, Array1<T>) {
    let dbeta = dout.sum_axis(Axis(0));
    let dgamma = (dout * &cache.x_hat).sum_axis(Axis(0));
    let d = T::count(dout.ncols());
    let mut dx = dout.to_owned();
    Zip::from(dx.rows_mut())
        .and(cache.x_hat.rows())
        .and(&cache.inv_std)
        .for_each(|mut row, xh, &s| {
            Zip::from(&mut row)
                .and(&cache.gamma)
                .for_each(|v, &g| *v *= g);
            let s1 = row.sum();
            let s2 = row.iter().zip(xh.iter()).map(|(&a, &b)| a * b).sum::<T>();
            Zip::from(&mut row)
                .and(&xh)
                .for_each(|v, &xh| *v = (d * *v - s1 - xh * s2) * s / d);
        });
    (dx, dgamma, dbeta)
}

/// Per-column mean and biased variance (numpy's `x.mean(0)`, `x.var(0)`), two-pass for
/// accuracy, accumulated row by row so memory is read in order.
fn column_moments<T: Float>(x: &ArrayView2<'_, T>) -> (Array1<T>, Array1<T>) {
    let n = T::count(x.nrows().max(1));
    let mean = x.sum_axis(Axis(0)) / n;
    let mut var = Array1::<T>::zeros(x.ncols());
    for row in x.rows() {
        Zip::from(&mut var)
            .and(&row)
            .and(&mean)
            .for_each(|v, &x, &m| {
                let c = x - m;
                *v += c * c;
            });
    }
    (mean, var / n)
}

/// `γ ⊙ x̂ + β`, row by row.
fn scale_shift<T: Float>(
    x_hat: &Array2<T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
) -> Array2<T> {
    let mut out = x_hat.clone();
    Zip::from(out.rows_mut()).for_each(|mut row| {
        Zip::from(&mut row)
            .and(gamma)
            .and(beta)
            .for_each(|v, &g, &b| *v = *v * g + b);
    });
    out
}

// ---------------------------------------------------------------------------------
// Dropout
// ---------------------------------------------------------------------------------

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
    /// let c = nn::layers::DropoutCache::<f64, ndarray::Ix1>::identity();
    /// assert_eq!(nn::layers::dropout_backward(&ndarray::array![2.0].view(), &c), ndarray::array![2.0]);
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
/// use nn::layers::{dropout_forward, Mode};
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
    let scale = T::cast(1.0 / p);
    let mask = Array::from_shape_simple_fn(x.raw_dim(), || {
        if rng.random::<f64>() < p {
            scale
        } else {
            T::zero()
        }
    });
    let out = &mask * x;
    (out, DropoutCache { mask: Some(mask) })
}

/// Backward pass of [`dropout_forward`]: the gradient flows through kept units only,
/// with the same `1/p` scale.
///
/// ```
/// use nn::layers::{dropout_forward, dropout_backward, Mode};
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

// ---------------------------------------------------------------------------------
// Sandwich layers
// ---------------------------------------------------------------------------------

/// What [`affine_relu_backward`] needs.
#[derive(Debug, Clone)]
pub struct AffineReluCache<T> {
    fc: AffineCache<T, Ix2>,
    out: Array2<T>,
}

/// The course's `affine_relu_forward`: affine followed by relu, fused (relu runs in
/// place on the affine output and the output doubles as relu's cache).
///
/// ```
/// let x = ndarray::array![[1.0_f64, -1.0]];
/// let (out, _) = nn::layers::affine_relu_forward(&x.view(), &ndarray::array![[1.0], [2.0]].view(), &ndarray::array![0.0].view());
/// assert_eq!(out, ndarray::array![[0.0]]);
/// ```
pub fn affine_relu_forward<T: Float>(
    x: &ArrayView2<'_, T>,
    w: &ArrayView2<'_, T>,
    b: &ArrayView1<'_, T>,
) -> (Array2<T>, AffineReluCache<T>) {
    let (mut out, fc) = affine_forward(x, w, b);
    relu_inplace(&mut out.view_mut());
    (out.clone(), AffineReluCache { fc, out })
}

/// Backward pass of [`affine_relu_forward`]: `(dx, dW, db)`.
///
/// ```
/// let x = ndarray::array![[1.0_f64, 1.0]];
/// let (_, c) = nn::layers::affine_relu_forward(&x.view(), &ndarray::array![[1.0], [2.0]].view(), &ndarray::array![0.0].view());
/// let (dx, _, _) = nn::layers::affine_relu_backward(&ndarray::array![[1.0]].view(), &c);
/// assert_eq!(dx, ndarray::array![[1.0, 2.0]]);
/// ```
pub fn affine_relu_backward<T: Float>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineReluCache<T>,
) -> (Array2<T>, Array2<T>, Array1<T>) {
    let mut da = dout.to_owned();
    relu_backward_from_output(&mut da.view_mut(), &cache.out.view());
    affine_backward(&da.view(), &cache.fc)
}

/// Which normalisation a fully connected layer uses (the course's `normalization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// No normalisation.
    #[default]
    None,
    /// Batch normalisation (statistics over the batch, running averages for test).
    #[serde(alias = "batch")]
    BatchNorm,
    /// Layer normalisation (statistics over each example's features).
    #[serde(alias = "layer")]
    LayerNorm,
}

/// What [`affine_norm_relu_backward`] needs.
#[derive(Debug, Clone)]
pub struct AffineNormReluCache<T> {
    fc: AffineCache<T, Ix2>,
    norm: NormCache<T>,
    kind: Normalization,
    out: Array2<T>,
}

/// The course's affine–norm–relu sandwich: affine, then batchnorm or layernorm with
/// `gamma`/`beta`, then relu. `bn` (running statistics) is used by batchnorm only;
/// `mode` matters for batchnorm only.
///
/// # Panics
/// If `kind` is [`Normalization::None`] (use [`affine_relu_forward`]).
///
/// ```
/// use ndarray::array;
/// use nn::layers::{affine_norm_relu_forward, BatchNormParam, Mode, Normalization};
/// let x = array![[1.0_f64], [3.0]];
/// let (out, _) = affine_norm_relu_forward(&x.view(), &array![[1.0]].view(), &array![0.0].view(),
///     &array![1.0].view(), &array![0.0].view(), Normalization::BatchNorm, &mut BatchNormParam::new(1), Mode::Train);
/// assert_eq!(out[[0, 0]], 0.0); // normalised to -1, clipped
/// assert!((out[[1, 0]] - 1.0).abs() < 1e-4);
/// ```
pub fn affine_norm_relu_forward<T: Float>(
    x: &ArrayView2<'_, T>,
    w: &ArrayView2<'_, T>,
    b: &ArrayView1<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    kind: Normalization,
    bn: &mut BatchNormParam<T>,
    mode: Mode,
) -> (Array2<T>, AffineNormReluCache<T>) {
    let (a, fc) = affine_forward(x, w, b);
    let (mut out, norm) = match kind {
        Normalization::BatchNorm => batchnorm_forward(&a.view(), gamma, beta, bn, mode),
        Normalization::LayerNorm => layernorm_forward(&a.view(), gamma, beta, bn.eps),
        Normalization::None => panic!("affine_norm_relu_forward needs a normalisation"),
    };
    relu_inplace(&mut out.view_mut());
    (
        out.clone(),
        AffineNormReluCache {
            fc,
            norm,
            kind,
            out,
        },
    )
}

/// Backward pass of [`affine_norm_relu_forward`]: `(dx, dW, db, dgamma, dbeta)`.
///
/// ```
/// use ndarray::array;
/// use nn::layers::*;
/// let x = array![[1.0_f64], [3.0]];
/// let (_, c) = affine_norm_relu_forward(&x.view(), &array![[1.0]].view(), &array![0.0].view(),
///     &array![1.0].view(), &array![0.0].view(), Normalization::LayerNorm, &mut BatchNormParam::new(1), Mode::Train);
/// let (dx, dw, db, dgamma, dbeta) = affine_norm_relu_backward(&array![[1.0], [1.0]].view(), &c);
/// assert_eq!((dx.dim(), dw.dim(), db.len(), dgamma.len(), dbeta.len()), ((2, 1), (1, 1), 1, 1, 1));
/// ```
pub fn affine_norm_relu_backward<T: Float>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineNormReluCache<T>,
) -> (Array2<T>, Array2<T>, Array1<T>, Array1<T>, Array1<T>) {
    let mut dn = dout.to_owned();
    relu_backward_from_output(&mut dn.view_mut(), &cache.out.view());
    let (da, dgamma, dbeta) = match cache.kind {
        Normalization::LayerNorm => layernorm_backward(&dn.view(), &cache.norm),
        _ => batchnorm_backward(&dn.view(), &cache.norm),
    };
    let (dx, dw, db) = affine_backward(&da.view(), &cache.fc);
    (dx, dw, db, dgamma, dbeta)
}
