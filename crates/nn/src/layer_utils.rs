//! The course's sandwich layers (`layer_utils.py`): common layer sequences as one
//! forward/backward pair each (`affine_relu`, `affine_norm_relu`, `conv_relu`,
//! `conv_relu_pool`, `conv_bn_relu`). The affine ones take inputs of any shape and
//! flatten each example, as the course's `affine_forward` does, and their caches
//! refer to `x` and `W` as [`AffineCache`] does.
//!
//! The models call these, so each backward pass has a `_no_dx` form for the layer
//! whose input is the data: nobody needs the data's gradient, and for the first
//! layer of a net it is the largest product of the backward pass.
//!
//! ```
//! use ndarray::array;
//! use nn::{affine_relu_forward, affine_relu_backward};
//! let x = array![[1.0_f64, -2.0]];
//! let w = array![[1.0_f64, 0.5], [1.0, -1.0]];
//! let b = array![0.0_f64, 0.0];
//! let (out, cache) = affine_relu_forward(&x, &w, &b.view());
//! assert_eq!(out, array![[0.0, 2.5]]); // x·W = [-1, 2.5], relu clips the -1
//! let (dx, dw, db) = affine_relu_backward(&array![[1.0, 1.0]].view(), &cache);
//! assert_eq!(db, array![0.0, 1.0]); // no gradient flows through the clipped unit
//! assert_eq!(dx.shape(), &[1, 2]);
//! assert_eq!(dw.shape(), &[2, 2]);
//! ```

use std::fmt;
use std::str::FromStr;

use ndarray::{
    Array, Array1, Array2, Array4, ArrayView, ArrayView1, ArrayView2, ArrayView4, CowArray,
    Dimension, Ix2,
};
use numeric::Float;

use crate::conv::{ConvCache, ConvParam, check_dout, check_shapes};
use crate::conv_relu_pool;
use crate::error::Result;
use crate::im2col::{
    conv_backward_fast, conv_backward_fast_no_dx, conv_forward_fast, forward_cached, runs_wide,
};
use crate::pool::{FastPoolCache, PoolParam, max_pool_backward_fast, max_pool_forward_fast};
use crate::spatial::{
    SpatialBatchNormCache, spatial_batchnorm_backward, spatial_batchnorm_forward,
};

use crate::activations::{relu_backward_from_output, relu_inplace};
use crate::affine::{AffineCache, affine_backward, affine_backward_no_dx, affine_forward};
use crate::layer::Mode;
use crate::norm::{
    BatchNormParam, NormCache, batchnorm_backward, batchnorm_forward, layernorm_backward,
    layernorm_forward,
};

/// What [`affine_relu_backward`] needs: the affine cache and relu's output.
#[derive(Debug, Clone)]
pub struct AffineReluCache<'a, T, D = Ix2> {
    fc: AffineCache<'a, T, D>,
    out: Array2<T>,
}

/// The course's `affine_relu_forward`: affine followed by relu. `x` and `w` are kept
/// by the cache as [`affine_forward`] keeps them (borrowed, or moved in).
///
/// ```
/// let x = ndarray::array![[1.0_f64, -1.0]];
/// let (out, _) = nn::affine_relu_forward(&x, &ndarray::array![[1.0], [2.0]], &ndarray::array![0.0].view());
/// assert_eq!(out, ndarray::array![[0.0]]);
/// ```
pub fn affine_relu_forward<'a, T: Float, D: Dimension>(
    x: impl Into<CowArray<'a, T, D>>,
    w: impl Into<CowArray<'a, T, Ix2>>,
    b: &ArrayView1<'_, T>,
) -> (Array2<T>, AffineReluCache<'a, T, D>) {
    let (mut out, fc) = affine_forward(x, w, b);
    relu_inplace(&mut out.view_mut());
    (out.clone(), AffineReluCache { fc, out })
}

/// Backward pass of [`affine_relu_forward`]: `(dx, dW, db)`.
///
/// ```
/// let x = ndarray::array![[1.0_f64, 1.0]];
/// let w = ndarray::array![[1.0], [2.0]];
/// let (_, c) = nn::affine_relu_forward(&x, &w, &ndarray::array![0.0].view());
/// let (dx, _, _) = nn::affine_relu_backward(&ndarray::array![[1.0]].view(), &c);
/// assert_eq!(dx, ndarray::array![[1.0, 2.0]]);
/// ```
pub fn affine_relu_backward<T: Float, D: Dimension>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineReluCache<'_, T, D>,
) -> (Array<T, D>, Array2<T>, Array1<T>) {
    let da = relu_grad(dout, &cache.out);
    affine_backward(&da.view(), &cache.fc)
}

/// [`affine_relu_backward`] without `dx`: `(dW, db)`, for the layer whose input is
/// the data.
///
/// ```
/// let x = ndarray::array![[1.0_f64, 1.0]];
/// let w = ndarray::array![[1.0], [2.0]];
/// let (_, c) = nn::affine_relu_forward(&x, &w, &ndarray::array![0.0].view());
/// let (dw, db) = nn::affine_relu_backward_no_dx(&ndarray::array![[1.0]].view(), &c);
/// assert_eq!((dw, db), (ndarray::array![[1.0], [1.0]], ndarray::array![1.0]));
/// ```
pub fn affine_relu_backward_no_dx<T: Float, D: Dimension>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineReluCache<'_, T, D>,
) -> (Array2<T>, Array1<T>) {
    let da = relu_grad(dout, &cache.out);
    affine_backward_no_dx(&da.view(), &cache.fc)
}

/// Relu's backward pass from its output: `dout` where `out > 0`, else 0.
fn relu_grad<T: Float, D: Dimension>(dout: &ArrayView<'_, T, D>, out: &Array<T, D>) -> Array<T, D> {
    let mut da = dout.to_owned();
    relu_backward_from_output(&mut da.view_mut(), &out.view());
    da
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

impl Normalization {
    /// The name used on the command line and in configurations.
    ///
    /// ```
    /// assert_eq!(nn::Normalization::BatchNorm.name(), "batchnorm");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Normalization::None => "none",
            Normalization::BatchNorm => "batchnorm",
            Normalization::LayerNorm => "layernorm",
        }
    }
}

impl fmt::Display for Normalization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Normalization {
    type Err = crate::Error;
    /// Parses `none`, `batchnorm`/`batch`/`bn` and `layernorm`/`layer`/`ln`.
    ///
    /// ```
    /// assert_eq!("bn".parse::<nn::Normalization>().unwrap(), nn::Normalization::BatchNorm);
    /// assert!("group".parse::<nn::Normalization>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Normalization::None),
            "batchnorm" | "batch" | "bn" => Ok(Normalization::BatchNorm),
            "layernorm" | "layer" | "ln" => Ok(Normalization::LayerNorm),
            _ => Err(crate::Error::UnknownName {
                what: "normalisation",
                name: s.to_string(),
                expected: "none, batchnorm or layernorm",
            }),
        }
    }
}

/// What [`affine_norm_relu_backward`] needs.
#[derive(Debug, Clone)]
pub struct AffineNormReluCache<'a, T, D = Ix2> {
    fc: AffineCache<'a, T, D>,
    norm: NormCache<T>,
    kind: Normalization,
    out: Array2<T>,
}

/// The course's affine–norm–relu sandwich: affine, then batchnorm or layernorm with
/// `gamma`/`beta`, then relu. `bn` (running statistics) is used by batchnorm only;
/// `mode` matters for batchnorm only. `x` and `w` are kept as [`affine_forward`]
/// keeps them.
///
/// # Panics
/// If `kind` is [`Normalization::None`] (use [`affine_relu_forward`]).
///
/// ```
/// use ndarray::array;
/// use nn::{affine_norm_relu_forward, BatchNormParam, Mode, Normalization};
/// let x = array![[1.0_f64], [3.0]];
/// let (out, _) = affine_norm_relu_forward(&x, &array![[1.0]], &array![0.0].view(),
///     &array![1.0].view(), &array![0.0].view(), Normalization::BatchNorm, &mut BatchNormParam::new(1), Mode::Train);
/// assert_eq!(out[[0, 0]], 0.0); // normalised to -1, clipped
/// assert!((out[[1, 0]] - 1.0).abs() < 1e-4);
/// ```
pub fn affine_norm_relu_forward<'a, T: Float, D: Dimension>(
    x: impl Into<CowArray<'a, T, D>>,
    w: impl Into<CowArray<'a, T, Ix2>>,
    b: &ArrayView1<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    kind: Normalization,
    bn: &mut BatchNormParam<T>,
    mode: Mode,
) -> (Array2<T>, AffineNormReluCache<'a, T, D>) {
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
/// use nn::*;
/// let x = array![[1.0_f64], [3.0]];
/// let w = array![[1.0]];
/// let (_, c) = affine_norm_relu_forward(&x, &w, &array![0.0].view(),
///     &array![1.0].view(), &array![0.0].view(), Normalization::LayerNorm, &mut BatchNormParam::new(1), Mode::Train);
/// let (dx, dw, db, dgamma, dbeta) = affine_norm_relu_backward(&array![[1.0], [1.0]].view(), &c);
/// assert_eq!((dx.dim(), dw.dim(), db.len(), dgamma.len(), dbeta.len()), ((2, 1), (1, 1), 1, 1, 1));
/// ```
pub fn affine_norm_relu_backward<T: Float, D: Dimension>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineNormReluCache<'_, T, D>,
) -> (Array<T, D>, Array2<T>, Array1<T>, Array1<T>, Array1<T>) {
    let (da, dgamma, dbeta) = norm_relu_backward(dout, cache);
    let (dx, dw, db) = affine_backward(&da.view(), &cache.fc);
    (dx, dw, db, dgamma, dbeta)
}

/// [`affine_norm_relu_backward`] without `dx`: `(dW, db, dgamma, dbeta)`, for the
/// layer whose input is the data.
///
/// ```
/// use ndarray::array;
/// use nn::*;
/// let (x, w) = (array![[1.0_f64], [3.0]], array![[1.0]]);
/// let (_, c) = affine_norm_relu_forward(&x, &w, &array![0.0].view(),
///     &array![1.0].view(), &array![0.0].view(), Normalization::BatchNorm, &mut BatchNormParam::new(1), Mode::Train);
/// let (dw, db, dgamma, dbeta) = affine_norm_relu_backward_no_dx(&array![[1.0], [1.0]].view(), &c);
/// assert_eq!((dw.dim(), db.len(), dgamma.len(), dbeta.len()), ((1, 1), 1, 1, 1));
/// ```
pub fn affine_norm_relu_backward_no_dx<T: Float, D: Dimension>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineNormReluCache<'_, T, D>,
) -> (Array2<T>, Array1<T>, Array1<T>, Array1<T>) {
    let (da, dgamma, dbeta) = norm_relu_backward(dout, cache);
    let (dw, db) = affine_backward_no_dx(&da.view(), &cache.fc);
    (dw, db, dgamma, dbeta)
}

/// Back through the relu and the normalisation: `(da, dgamma, dbeta)`.
fn norm_relu_backward<T: Float, D: Dimension>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineNormReluCache<'_, T, D>,
) -> (Array2<T>, Array1<T>, Array1<T>) {
    let dn = relu_grad(dout, &cache.out);
    match cache.kind {
        Normalization::LayerNorm => layernorm_backward(&dn.view(), &cache.norm),
        _ => batchnorm_backward(&dn.view(), &cache.norm),
    }
}

// ---------------------------------------------------------------------------------
// Convolutional sandwiches (the fast convolution and pooling, as `layer_utils.py`)
// ---------------------------------------------------------------------------------

/// What [`conv_relu_backward`] needs: the convolution's cache and the output.
#[derive(Debug, Clone)]
pub struct ConvReluCache<T> {
    conv: ConvCache<T>,
    out: Array4<T>,
}

/// The course's `conv_relu_forward`: a convolution followed by a relu.
///
/// # Errors
/// As [`conv_forward_fast`].
///
/// ```
/// use ndarray::{Array1, Array4};
/// let x = Array4::<f64>::from_elem((1, 1, 3, 3), -1.0);
/// let (out, _) = nn::conv_relu_forward(&x.view(), &Array4::ones((2, 1, 3, 3)).view(), &Array1::zeros(2).view(), nn::ConvParam::new(1, 1))?;
/// assert!(out.iter().all(|&v| v == 0.0));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_relu_forward<T: Float>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    conv_param: ConvParam,
) -> Result<(Array4<T>, ConvReluCache<T>)> {
    let (mut out, conv) = conv_forward_fast(x, w, b, conv_param)?;
    relu_inplace(&mut out.view_mut());
    Ok((out.clone(), ConvReluCache { conv, out }))
}

/// Backward pass of [`conv_relu_forward`]: `(dx, dw, db)`.
///
/// ```
/// use ndarray::{Array1, Array4};
/// let x = Array4::<f64>::ones((1, 1, 3, 3));
/// let (out, cache) = nn::conv_relu_forward(&x.view(), &Array4::ones((2, 1, 3, 3)).view(), &Array1::zeros(2).view(), nn::ConvParam::new(1, 1))?;
/// let (dx, dw, db) = nn::conv_relu_backward(&Array4::ones(out.dim()).view(), &cache);
/// assert_eq!((dx.dim(), dw.dim(), db.len()), ((1, 1, 3, 3), (2, 1, 3, 3), 2));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_relu_backward<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvReluCache<T>,
) -> (Array4<T>, Array4<T>, Array1<T>) {
    let da = relu_grad(dout, &cache.out);
    conv_backward_fast(&da.view(), &cache.conv)
}

/// What [`conv_relu_pool_backward`] needs: the convolution's and the pool's caches
/// and the output.
#[derive(Debug, Clone)]
pub struct ConvReluPoolCache<T> {
    conv: ConvCache<T>,
    pool: FastPoolCache,
    out: Array4<T>,
    /// Whether the three layers ran as one pass (`conv_relu_pool.rs`), so that the
    /// backward pass can too.
    fused: bool,
}

/// The course's `conv_relu_pool_forward`: convolution, relu, max pooling.
///
/// The relu runs after the pooling: relu and max commute (`relu(max(a)) =
/// max(relu(a))`, both monotone), so the output and every gradient are the course's,
/// and the relu touches a quarter of the values (2×2 pooling). A 2×2 pool after a
/// stride-1 convolution on wide columns (large maps, few filters: the
/// ThreeLayerConvNet's first layer) runs fused with it, image by image, so that the
/// convolution's output is never written out whole (`conv_relu_pool.rs`).
///
/// # Errors
/// As [`conv_forward_fast`] and [`max_pool_forward_fast`].
///
/// ```
/// use ndarray::{Array1, Array4};
/// let x = Array4::<f32>::ones((2, 3, 8, 8));
/// let (out, _) = nn::conv_relu_pool_forward(&x.view(), &Array4::ones((4, 3, 3, 3)).view(), &Array1::zeros(4).view(),
///     nn::ConvParam::new(1, 1), nn::PoolParam::square(2, 2))?;
/// assert_eq!(out.dim(), (2, 4, 4, 4));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_relu_pool_forward<T: Float>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    conv_param: ConvParam,
    pool_param: PoolParam,
) -> Result<(Array4<T>, ConvReluPoolCache<T>)> {
    check_shapes(x, w, b, conv_param)?;
    let conv = ConvCache {
        x: x.as_standard_layout().into_owned(),
        w: w.as_standard_layout().into_owned(),
        param: conv_param,
    };
    let (h_out, w_out) = conv.out_hw();
    pool_param.output_size(h_out, w_out)?;
    let b = b.to_vec();
    if pool_param.is_2x2_stride_2() && runs_wide(&conv) {
        let (out, pool) = conv_relu_pool::forward(&conv, &b);
        let cache = ConvReluPoolCache {
            conv,
            pool,
            out: out.clone(),
            fused: true,
        };
        return Ok((out, cache));
    }
    let a = forward_cached(&conv, &b, None);
    let (mut out, pool) = max_pool_forward_fast(&a.view(), pool_param)?;
    relu_inplace(&mut out.view_mut());
    Ok((
        out.clone(),
        ConvReluPoolCache {
            conv,
            pool,
            out,
            fused: false,
        },
    ))
}

/// Backward pass of [`conv_relu_pool_forward`]: `(dx, dw, db)`.
///
/// ```
/// use ndarray::{Array1, Array4};
/// let x = Array4::<f32>::ones((1, 1, 4, 4));
/// let (out, cache) = nn::conv_relu_pool_forward(&x.view(), &Array4::ones((1, 1, 3, 3)).view(), &Array1::zeros(1).view(),
///     nn::ConvParam::new(1, 1), nn::PoolParam::square(2, 2))?;
/// let (dx, _, db) = nn::conv_relu_pool_backward(&Array4::ones(out.dim()).view(), &cache);
/// assert_eq!((dx.dim(), db[0]), ((1, 1, 4, 4), 4.0)); // one max per 2×2 window
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_relu_pool_backward<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvReluPoolCache<T>,
) -> (Array4<T>, Array4<T>, Array1<T>) {
    let (dx, dw, db) = relu_pool_conv_backward(dout, cache, true);
    (dx.expect("asked for dx"), dw, db)
}

/// [`conv_relu_pool_backward`] without `dx`: `(dw, db)`, for the layer whose input is
/// the data.
///
/// ```
/// use ndarray::{Array1, Array4};
/// let x = Array4::<f32>::ones((1, 1, 4, 4));
/// let (out, cache) = nn::conv_relu_pool_forward(&x.view(), &Array4::ones((1, 1, 3, 3)).view(), &Array1::zeros(1).view(),
///     nn::ConvParam::new(1, 1), nn::PoolParam::square(2, 2))?;
/// let (dw, db) = nn::conv_relu_pool_backward_no_dx(&Array4::ones(out.dim()).view(), &cache);
/// assert_eq!((dw.dim(), db[0]), ((1, 1, 3, 3), 4.0));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_relu_pool_backward_no_dx<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvReluPoolCache<T>,
) -> (Array4<T>, Array1<T>) {
    let (_, dw, db) = relu_pool_conv_backward(dout, cache, false);
    (dw, db)
}

/// Back through the relu, the pooling and the convolution: `(dx if need_dx, dw, db)`.
fn relu_pool_conv_backward<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvReluPoolCache<T>,
    need_dx: bool,
) -> (Option<Array4<T>>, Array4<T>, Array1<T>) {
    if cache.fused {
        check_dout(dout, cache.out.dim());
        let dout = dout.as_standard_layout();
        let dout = dout.as_slice().expect("standard layout");
        let out = cache.out.as_slice().expect("fresh array");
        return conv_relu_pool::backward(dout, out, &cache.pool, &cache.conv, need_dx);
    }
    let dpooled = relu_grad(dout, &cache.out);
    let da = max_pool_backward_fast(&dpooled.view(), &cache.pool);
    if need_dx {
        let (dx, dw, db) = conv_backward_fast(&da.view(), &cache.conv);
        (Some(dx), dw, db)
    } else {
        let (dw, db) = conv_backward_fast_no_dx(&da.view(), &cache.conv);
        (None, dw, db)
    }
}

/// What [`conv_bn_relu_backward`] needs.
#[derive(Debug, Clone)]
pub struct ConvBnReluCache<T> {
    conv: ConvCache<T>,
    bn: SpatialBatchNormCache<T>,
    out: Array4<T>,
}

/// The course's `conv_bn_relu_forward`: convolution, spatial batchnorm with
/// `gamma`/`beta` and running statistics `bn`, relu.
///
/// # Errors
/// As [`conv_forward_fast`].
///
/// ```
/// use ndarray::{Array1, Array4};
/// let x: Array4<f64> = numeric::randn((4, 2, 5, 5), &mut numeric::rng(0));
/// let mut bn = nn::BatchNormParam::new(3);
/// let (out, _) = nn::conv_bn_relu_forward(&x.view(), &Array4::ones((3, 2, 3, 3)).view(), &Array1::zeros(3).view(),
///     &Array1::ones(3).view(), &Array1::zeros(3).view(), nn::ConvParam::new(1, 1), &mut bn, nn::Mode::Train)?;
/// assert_eq!(out.dim(), (4, 3, 5, 5));
/// assert!(bn.running_var.iter().all(|&v| v > 0.0));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_bn_relu_forward<T: Float>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    conv_param: ConvParam,
    bn_param: &mut BatchNormParam<T>,
    mode: Mode,
) -> Result<(Array4<T>, ConvBnReluCache<T>)> {
    let (a, conv) = conv_forward_fast(x, w, b, conv_param)?;
    let (mut out, bn) = spatial_batchnorm_forward(&a.view(), gamma, beta, bn_param, mode);
    relu_inplace(&mut out.view_mut());
    Ok((out.clone(), ConvBnReluCache { conv, bn, out }))
}

/// Backward pass of [`conv_bn_relu_forward`]: `(dx, dw, db, dgamma, dbeta)`.
///
/// ```
/// use ndarray::{Array1, Array4};
/// let x: Array4<f64> = numeric::randn((2, 1, 4, 4), &mut numeric::rng(1));
/// let (out, cache) = nn::conv_bn_relu_forward(&x.view(), &Array4::ones((2, 1, 3, 3)).view(), &Array1::zeros(2).view(),
///     &Array1::ones(2).view(), &Array1::zeros(2).view(), nn::ConvParam::new(1, 1), &mut nn::BatchNormParam::new(2), nn::Mode::Train)?;
/// let (dx, dw, db, dgamma, dbeta) = nn::conv_bn_relu_backward(&Array4::ones(out.dim()).view(), &cache);
/// assert_eq!((dx.dim(), dw.dim(), db.len(), dgamma.len(), dbeta.len()), ((2, 1, 4, 4), (2, 1, 3, 3), 2, 2, 2));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_bn_relu_backward<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvBnReluCache<T>,
) -> (Array4<T>, Array4<T>, Array1<T>, Array1<T>, Array1<T>) {
    let dn = relu_grad(dout, &cache.out);
    let (da, dgamma, dbeta) = spatial_batchnorm_backward(&dn.view(), &cache.bn);
    let (dx, dw, db) = conv_backward_fast(&da.view(), &cache.conv);
    (dx, dw, db, dgamma, dbeta)
}
