//! The course's sandwich layers (`layer_utils.py`): common layer sequences as one
//! forward/backward pair each. The models are built from them.
//!
//! ```
//! use ndarray::array;
//! use nn::{affine_relu_forward, affine_relu_backward};
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

use std::fmt;
use std::str::FromStr;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Ix2};
use numeric::Float;

use crate::activations::{relu_backward_from_output, relu_inplace};
use crate::affine::{AffineCache, affine_backward, affine_forward};
use crate::layer::Mode;
use crate::norm::{
    BatchNormParam, NormCache, batchnorm_backward, batchnorm_forward, layernorm_backward,
    layernorm_forward,
};

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
/// let (out, _) = nn::affine_relu_forward(&x.view(), &ndarray::array![[1.0], [2.0]].view(), &ndarray::array![0.0].view());
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
/// let (_, c) = nn::affine_relu_forward(&x.view(), &ndarray::array![[1.0], [2.0]].view(), &ndarray::array![0.0].view());
/// let (dx, _, _) = nn::affine_relu_backward(&ndarray::array![[1.0]].view(), &c);
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
/// use nn::{affine_norm_relu_forward, BatchNormParam, Mode, Normalization};
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
/// use nn::*;
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
