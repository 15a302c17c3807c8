//! Convolutional networks, trained by the same [`Solver`](crate::solver::Solver) as the
//! fully connected ones (both implement [`Model`]):
//!
//! - [`ThreeLayerConvNet`]: the course's `conv - relu - 2x2 max pool - affine - relu -
//!   affine - softmax`, with its defaults (32 filters of 7×7, hidden 100, weight
//!   scale 1e-3, no regularisation).
//! - [`SequentialNet`]: any stack of layers described by a small spec string, e.g.
//!   `"conv32x3-bn-relu-pool,conv64x3-bn-relu-pool,fc256-relu-drop0.5,fc10"`
//!   (see [`parse_arch`]). The spec is the architecture description stored in model
//!   files, so a saved net is rebuilt from it.
//! - Data augmentation ([`Augment`], [`random_crop`], [`random_flip`]): random crops
//!   of a zero-padded image and horizontal flips, drawn afresh for every training batch.
//!
//! ```
//! use ndarray::{Array4, Array1};
//! use nn::Model;
//! use nn::cnn::{ThreeLayerConvNet, ThreeLayerConvNetConfig};
//! let mut net = ThreeLayerConvNet::<f64>::new(ThreeLayerConvNetConfig { input_dim: [3, 8, 8], ..Default::default() })?;
//! let x: Array4<f64> = numeric::randn((4, 3, 8, 8), &mut numeric::rng(0));
//! let (loss, grads) = net.loss(&x.view().into_dyn(), &Array1::from(vec![0, 1, 2, 3]).view());
//! assert!((loss - 10f64.ln()).abs() < 0.01); // small weights: uniform over 10 classes
//! assert_eq!(grads["W1"].shape(), &[32, 3, 7, 7]);
//! # Ok::<(), nn::cnn::CnnError>(())
//! ```

use ndarray::{
    Array2, Array4, ArrayD, ArrayView1, ArrayView2, ArrayView4, ArrayViewD, Axis, Ix2, Ix4, IxDyn,
};
use numeric::{Float, Rng};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::conv::{
    ConvCache, ConvParam, ShapeError, conv_backward_fast, conv_backward_fast_no_dx,
    conv_forward_fast,
};
use crate::layers::{
    BatchNormParam, DropoutCache, Mode, NormCache, affine, affine_input_grad, affine_param_grads,
    batchnorm_backward, batchnorm_forward, dropout_backward, dropout_forward,
    relu_backward_from_output, relu_inplace,
};
use crate::losses::softmax_loss;
use crate::model::{Model, Params};
use crate::pool::{FastPoolCache, PoolParam, max_pool_backward_fast, max_pool_forward_fast};
use crate::solver::BatchTransform;
use crate::spatial::{
    GroupNormCache, SpatialBatchNormCache, spatial_batchnorm_backward, spatial_batchnorm_forward,
    spatial_groupnorm_backward, spatial_groupnorm_forward,
};

/// Everything that can be wrong when building a convolutional network.
///
/// ```
/// let err = nn::cnn::parse_arch("conv32x3-relu,fc").unwrap_err();
/// assert!(err.to_string().contains("\"fc\""));
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CnnError {
    /// A layer of the architecture spec could not be understood or does not fit.
    #[error("architecture \"{arch}\": layer \"{layer}\": {reason}")]
    Spec {
        /// The whole spec string.
        arch: String,
        /// The offending layer token.
        layer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The layers' shapes do not fit the input (e.g. an output size that is not whole).
    #[error("{0}")]
    Shape(#[from] ShapeError),
    /// A hyper-parameter is out of range, or a stored configuration is malformed.
    #[error("configuration: {0}")]
    Config(String),
}

// ---------------------------------------------------------------------------------
// ThreeLayerConvNet
// ---------------------------------------------------------------------------------

/// Hyper-parameters of [`ThreeLayerConvNet`], with the course's defaults.
///
/// ```
/// let c = nn::cnn::ThreeLayerConvNetConfig::default();
/// assert_eq!((c.num_filters, c.filter_size, c.hidden_dim, c.weight_scale, c.reg), (32, 7, 100, 1e-3, 0.0));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThreeLayerConvNetConfig {
    /// (C, H, W) of one input image.
    pub input_dim: [usize; 3],
    /// Filters in the convolutional layer.
    pub num_filters: usize,
    /// Side of the square filters (odd, so that "same" padding exists).
    pub filter_size: usize,
    /// Units of the hidden affine layer.
    pub hidden_dim: usize,
    /// Number of classes scored.
    pub num_classes: usize,
    /// Standard deviation of the Gaussian initial weights.
    pub weight_scale: f64,
    /// L2 regularisation strength: `0.5·reg·ΣW²` over W1, W2, W3.
    pub reg: f64,
    /// Seed of the initial weights.
    pub seed: u64,
}

impl Default for ThreeLayerConvNetConfig {
    fn default() -> Self {
        Self {
            input_dim: [3, 32, 32],
            num_filters: 32,
            filter_size: 7,
            hidden_dim: 100,
            num_classes: 10,
            weight_scale: 1e-3,
            reg: 0.0,
            seed: 0,
        }
    }
}

/// The course's three-layer convolutional network:
/// `conv (F filters, stride 1, same padding) - relu - 2x2 max pool - affine - relu - affine - softmax`.
///
/// Parameters `W1` (F, C, HH, WW), `b1`, `W2` (F·H/2·W/2, hidden), `b2`, `W3` (hidden,
/// classes), `b3`. Pooling runs before the relu (`relu(max(x)) = max(relu(x))`, and
/// the relu then touches a quarter of the values), and the first layer skips the input
/// gradient.
///
/// ```
/// use nn::Model;
/// let net = nn::cnn::ThreeLayerConvNet::<f32>::new(Default::default())?;
/// assert_eq!(net.params()["W2"].shape(), &[32 * 16 * 16, 100]);
/// assert_eq!(net.input_shape(), vec![3, 32, 32]);
/// # Ok::<(), nn::cnn::CnnError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ThreeLayerConvNet<T> {
    config: ThreeLayerConvNetConfig,
    params: Params<T>,
}

/// What the three-layer net's backward pass needs from its forward pass.
struct ThreeLayerCache<T> {
    conv: ConvCache<T>,
    pool: FastPoolCache,
    pooled: Array2<T>,
    hidden: Array2<T>,
}

impl<T: Float> ThreeLayerConvNet<T> {
    /// A net with Gaussian weights of standard deviation `weight_scale` (seeded) and
    /// zero biases.
    ///
    /// # Errors
    /// [`CnnError::Config`] for an even filter size, odd image sides (the pool halves
    /// them) or zero sizes.
    ///
    /// ```
    /// use nn::cnn::{ThreeLayerConvNet, ThreeLayerConvNetConfig};
    /// let bad = ThreeLayerConvNetConfig { filter_size: 4, ..Default::default() };
    /// assert!(ThreeLayerConvNet::<f32>::new(bad).is_err());
    /// ```
    pub fn new(config: ThreeLayerConvNetConfig) -> Result<Self, CnnError> {
        let [c, h, w] = config.input_dim;
        let c_ = &config;
        if c == 0
            || h == 0
            || w == 0
            || c_.num_filters == 0
            || c_.hidden_dim == 0
            || c_.num_classes == 0
        {
            return Err(CnnError::Config(format!(
                "all sizes must be positive: {config:?}"
            )));
        }
        if c_.filter_size % 2 == 0 {
            return Err(CnnError::Config(format!(
                "filter_size must be odd for same padding, got {}",
                c_.filter_size
            )));
        }
        if h % 2 != 0 || w % 2 != 0 {
            return Err(CnnError::Config(format!(
                "the 2x2 pool needs even image sides, got {h}x{w}"
            )));
        }
        if !(c_.weight_scale.is_finite() && c_.reg.is_finite() && c_.reg >= 0.0) {
            return Err(CnnError::Config(format!(
                "weight_scale and reg must be finite, reg ≥ 0: {} {}",
                c_.weight_scale, c_.reg
            )));
        }
        let mut rng = numeric::rng(config.seed);
        let (f, fs, hid, k) = (
            c_.num_filters,
            c_.filter_size,
            c_.hidden_dim,
            c_.num_classes,
        );
        let scale = T::cast(config.weight_scale);
        let mut params = Params::new();
        let mut gaussian =
            |shape: &[usize]| numeric::randn::<T, _, _>(IxDyn(shape), &mut rng) * scale;
        params.insert("W1".into(), gaussian(&[f, c, fs, fs]));
        params.insert("W2".into(), gaussian(&[f * (h / 2) * (w / 2), hid]));
        params.insert("W3".into(), gaussian(&[hid, k]));
        params.insert("b1".into(), ArrayD::zeros(IxDyn(&[f])));
        params.insert("b2".into(), ArrayD::zeros(IxDyn(&[hid])));
        params.insert("b3".into(), ArrayD::zeros(IxDyn(&[k])));
        Ok(Self { config, params })
    }

    /// Rebuilds a net (fresh weights) from [`Model::config`]'s JSON, as model files
    /// store it.
    ///
    /// # Errors
    /// [`CnnError::Config`] if the JSON is not a ThreeLayerConvNet configuration.
    ///
    /// ```
    /// use nn::Model;
    /// use nn::cnn::ThreeLayerConvNet;
    /// let net = ThreeLayerConvNet::<f32>::new(Default::default())?;
    /// let copy = ThreeLayerConvNet::<f32>::from_config(&net.config())?;
    /// assert_eq!(copy.settings(), net.settings());
    /// # Ok::<(), nn::cnn::CnnError>(())
    /// ```
    pub fn from_config(value: &Value) -> Result<Self, CnnError> {
        check_kind(value, "ThreeLayerConvNet")?;
        let config: ThreeLayerConvNetConfig = serde_json::from_value(value.clone())
            .map_err(|e| CnnError::Config(format!("ThreeLayerConvNet: {e}")))?;
        Self::new(config)
    }

    /// The hyper-parameters this net was built with.
    ///
    /// ```
    /// let net = nn::cnn::ThreeLayerConvNet::<f32>::new(Default::default())?;
    /// assert_eq!(net.settings().num_classes, 10);
    /// # Ok::<(), nn::cnn::CnnError>(())
    /// ```
    pub fn settings(&self) -> &ThreeLayerConvNetConfig {
        &self.config
    }

    fn p4(&self, name: &str) -> ArrayView4<'_, T> {
        self.params[name]
            .view()
            .into_dimensionality::<Ix4>()
            .expect("4-d filters")
    }

    fn p2(&self, name: &str) -> ArrayView2<'_, T> {
        self.params[name]
            .view()
            .into_dimensionality::<Ix2>()
            .expect("2-d weights")
    }

    fn p1(&self, name: &str) -> ArrayView1<'_, T> {
        self.params[name]
            .view()
            .into_dimensionality()
            .expect("1-d bias")
    }

    /// Scores and the caches of every layer.
    fn forward(&self, x: &ArrayViewD<'_, T>) -> (Array2<T>, ThreeLayerCache<T>) {
        let x = as_images(x, &self.input_shape());
        let pad = (self.config.filter_size - 1) / 2;
        let (conv, conv_cache) =
            conv_forward_fast(&x, &self.p4("W1"), &self.p1("b1"), ConvParam::new(1, pad))
                .expect("shapes checked at construction");
        let (pooled, pool_cache) = max_pool_forward_fast(&conv.view(), PoolParam::square(2, 2))
            .expect("even sides checked at construction");
        drop(conv);
        let n = pooled.dim().0;
        let mut pooled = pooled
            .into_shape_with_order((n, self.p2("W2").nrows()))
            .expect("F·H/2·W/2 per image");
        relu_inplace(&mut pooled.view_mut());
        let mut hidden = affine(&pooled.view(), &self.p2("W2"), &self.p1("b2"));
        relu_inplace(&mut hidden.view_mut());
        let scores = affine(&hidden.view(), &self.p2("W3"), &self.p1("b3"));
        (
            scores,
            ThreeLayerCache {
                conv: conv_cache,
                pool: pool_cache,
                pooled,
                hidden,
            },
        )
    }
}

/// Checks the `"kind"` field of a stored configuration.
fn check_kind(value: &Value, kind: &str) -> Result<(), CnnError> {
    match value.get("kind").and_then(Value::as_str) {
        Some(k) if k == kind => Ok(()),
        other => Err(CnnError::Config(format!(
            "expected kind \"{kind}\", found {other:?}"
        ))),
    }
}

/// A batch as images (N, C, H, W) of the model's input shape.
fn as_images<'a, T>(x: &ArrayViewD<'a, T>, input_shape: &[usize]) -> ArrayView4<'a, T> {
    assert!(
        x.ndim() == 4 && x.shape()[1..] == *input_shape,
        "expected images (N, {input_shape:?}), got {:?}",
        x.shape()
    );
    x.clone().into_dimensionality::<Ix4>().expect("4-d")
}

/// `0.5·reg·ΣW²` over the named weights, and `reg·W` added to their gradients.
fn regularise<T: Float>(
    params: &Params<T>,
    grads: &mut Params<T>,
    reg: f64,
    names: impl Iterator<Item = String>,
) -> T {
    if reg == 0.0 {
        return T::zero();
    }
    let r = T::cast(reg);
    let mut penalty = T::zero();
    for name in names {
        let w = &params[&name];
        penalty += w.iter().map(|&v| v * v).sum::<T>();
        grads
            .get_mut(&name)
            .expect("gradient of every weight")
            .scaled_add(r, w);
    }
    T::cast(0.5) * r * penalty
}

impl<T: Float> Model<T> for ThreeLayerConvNet<T> {
    fn params(&self) -> &Params<T> {
        &self.params
    }

    fn params_mut(&mut self) -> &mut Params<T> {
        &mut self.params
    }

    fn loss(&mut self, x: &ArrayViewD<'_, T>, y: &ArrayView1<'_, usize>) -> (T, Params<T>) {
        let (scores, cache) = self.forward(x);
        let (data_loss, dscores) = softmax_loss(&scores.view(), y);
        let mut grads = Params::new();
        let (dw3, db3) = affine_param_grads(&cache.hidden.view(), &dscores.view());
        let mut dhidden = affine_input_grad(&dscores.view(), &self.p2("W3"));
        relu_backward_from_output(&mut dhidden.view_mut(), &cache.hidden.view());
        let (dw2, db2) = affine_param_grads(&cache.pooled.view(), &dhidden.view());
        let mut dpooled = affine_input_grad(&dhidden.view(), &self.p2("W2"));
        relu_backward_from_output(&mut dpooled.view_mut(), &cache.pooled.view());
        let (n, f, h, w) = (
            x.shape()[0],
            self.config.num_filters,
            self.config.input_dim[1],
            self.config.input_dim[2],
        );
        let dpooled = dpooled
            .into_shape_with_order((n, f, h / 2, w / 2))
            .expect("F·H/2·W/2 per image");
        let dconv = max_pool_backward_fast(&dpooled.view(), &cache.pool);
        let (dw1, db1) = conv_backward_fast_no_dx(&dconv.view(), &cache.conv);
        for (name, g) in [
            ("W1", dw1.into_dyn()),
            ("W2", dw2.into_dyn()),
            ("W3", dw3.into_dyn()),
        ] {
            grads.insert(name.into(), g);
        }
        for (name, g) in [("b1", db1), ("b2", db2), ("b3", db3)] {
            grads.insert(name.into(), g.into_dyn());
        }
        let penalty = regularise(
            &self.params,
            &mut grads,
            self.config.reg,
            ["W1", "W2", "W3"].map(String::from).into_iter(),
        );
        (data_loss + penalty, grads)
    }

    fn scores(&mut self, x: &ArrayViewD<'_, T>) -> Array2<T> {
        self.forward(x).0
    }

    fn config(&self) -> Value {
        let mut v = serde_json::to_value(&self.config).expect("plain data");
        v["kind"] = Value::from("ThreeLayerConvNet");
        v
    }

    fn input_shape(&self) -> Vec<usize> {
        self.config.input_dim.to_vec()
    }
}

// ---------------------------------------------------------------------------------
// Architecture specs
// ---------------------------------------------------------------------------------

/// One layer of a [`SequentialNet`], as written in an architecture spec.
///
/// ```
/// use nn::cnn::{LayerSpec, parse_arch};
/// assert_eq!(parse_arch("conv16x5s2,pool,gn4,drop0.8,fc10")?, vec![
///     LayerSpec::Conv { filters: 16, size: 5, stride: 2 },
///     LayerSpec::Pool { size: 2 },
///     LayerSpec::GroupNorm { groups: 4 },
///     LayerSpec::Dropout { keep: 0.8 },
///     LayerSpec::Fc { units: 10 },
/// ]);
/// # Ok::<(), nn::cnn::CnnError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    /// `conv{F}x{K}` (or `conv{F}x{K}s{S}`): F filters of K×K, stride S (default 1),
    /// zero padding (K−1)/2 — "same" size for odd K at stride 1.
    Conv {
        /// Number of filters.
        filters: usize,
        /// Filter side.
        size: usize,
        /// Stride.
        stride: usize,
    },
    /// `pool` (2×2, stride 2) or `pool{K}` (K×K, stride K): max pooling.
    Pool {
        /// Window side and stride.
        size: usize,
    },
    /// `bn`: batch normalisation (spatial after a conv layer, per feature after fc).
    BatchNorm,
    /// `gn{G}`: group normalisation with G groups (conv layers only).
    GroupNorm {
        /// Number of groups; must divide the channels.
        groups: usize,
    },
    /// `relu`.
    Relu,
    /// `fc{M}`: affine layer with M outputs (the input is flattened first).
    Fc {
        /// Output units.
        units: usize,
    },
    /// `drop{p}`: inverted dropout keeping each unit with probability p, as in the course.
    Dropout {
        /// Probability of keeping a unit, in (0, 1].
        keep: f64,
    },
}

/// Parses an architecture spec: layers separated by `,` or `-` (commas conventionally
/// end a block), each one of `conv{F}x{K}[s{S}]`, `pool[{K}]`, `bn`, `gn{G}`, `relu`,
/// `fc{M}`, `drop{p}` (see [`LayerSpec`]). The last layer must be `fc{classes}`.
///
/// # Errors
/// [`CnnError::Spec`] naming the token that is not understood.
///
/// ```
/// let layers = nn::cnn::parse_arch("conv32x3-bn-relu-pool,conv64x3-bn-relu-pool,fc256-relu-drop0.5,fc10")?;
/// assert_eq!(layers.len(), 12);
/// assert!(nn::cnn::parse_arch("conv32x3-relu").is_err()); // no scores layer
/// # Ok::<(), nn::cnn::CnnError>(())
/// ```
pub fn parse_arch(arch: &str) -> Result<Vec<LayerSpec>, CnnError> {
    let err = |layer: &str, reason: &str| CnnError::Spec {
        arch: arch.into(),
        layer: layer.into(),
        reason: reason.into(),
    };
    let number = |tok: &str, digits: &str| -> Result<usize, CnnError> {
        digits
            .parse::<usize>()
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| err(tok, &format!("\"{digits}\" is not a positive whole number")))
    };
    let mut layers = Vec::new();
    for tok in arch.split([',', '-']).map(str::trim) {
        let layer = if let Some(rest) = tok.strip_prefix("conv") {
            let (f, rest) = rest
                .split_once('x')
                .ok_or_else(|| err(tok, "expected conv{filters}x{size}, e.g. conv32x3"))?;
            let (k, s) = rest.split_once('s').unwrap_or((rest, "1"));
            LayerSpec::Conv {
                filters: number(tok, f)?,
                size: number(tok, k)?,
                stride: number(tok, s)?,
            }
        } else if let Some(rest) = tok.strip_prefix("pool") {
            LayerSpec::Pool {
                size: if rest.is_empty() {
                    2
                } else {
                    number(tok, rest)?
                },
            }
        } else if tok == "bn" {
            LayerSpec::BatchNorm
        } else if let Some(rest) = tok.strip_prefix("gn") {
            LayerSpec::GroupNorm {
                groups: number(tok, rest)?,
            }
        } else if tok == "relu" {
            LayerSpec::Relu
        } else if let Some(rest) = tok.strip_prefix("fc") {
            LayerSpec::Fc {
                units: number(tok, rest)?,
            }
        } else if let Some(rest) = tok.strip_prefix("drop") {
            let keep = rest
                .parse::<f64>()
                .ok()
                .filter(|p| *p > 0.0 && *p <= 1.0)
                .ok_or_else(|| {
                    err(
                        tok,
                        "expected drop{p} with keep probability p in (0, 1], e.g. drop0.5",
                    )
                })?;
            LayerSpec::Dropout { keep }
        } else {
            return Err(err(
                tok,
                "unknown layer (expected convFxK, pool, bn, gnG, relu, fcM, dropP)",
            ));
        };
        layers.push(layer);
    }
    match layers.last() {
        Some(LayerSpec::Fc { .. }) => Ok(layers),
        _ => Err(err(
            arch.rsplit([',', '-']).next().unwrap_or(""),
            "the last layer must be fc{classes}, the scores",
        )),
    }
}

// ---------------------------------------------------------------------------------
// Data augmentation
// ---------------------------------------------------------------------------------

/// Training-time data augmentation: random crops of the zero-padded image and random
/// horizontal flips, drawn independently for every image of every training batch.
/// A flipped or slightly shifted cat is still a cat, so the network sees many more
/// distinct training images than there are.
///
/// ```
/// let a = nn::cnn::Augment { crop_pad: 4, flip: true };
/// let x = ndarray::Array4::<f32>::ones((2, 3, 8, 8));
/// let out = a.apply(&x.view(), &mut numeric::rng(0));
/// assert_eq!(out.dim(), x.dim());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Augment {
    /// Pad each side with this many zeros and crop back to the original size at a
    /// random offset (0 = no crops). 4 is the usual choice on CIFAR-10.
    pub crop_pad: usize,
    /// Flip each image left–right with probability ½.
    pub flip: bool,
}

impl Augment {
    /// Whether this augments anything at all.
    ///
    /// ```
    /// assert!(!nn::cnn::Augment::default().is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        self.crop_pad > 0 || self.flip
    }

    /// This augmentation as the Solver's minibatch transform
    /// ([`Solver::set_batch_transform`](crate::solver::Solver::set_batch_transform)):
    /// image batches (N, C, H, W) are augmented, anything else passes through.
    ///
    /// ```
    /// let mut t = nn::cnn::Augment { crop_pad: 2, flip: true }.into_transform::<f32>();
    /// let x = ndarray::Array4::<f32>::ones((3, 1, 5, 5)).into_dyn();
    /// assert_eq!(t(x, &mut numeric::rng(0)).shape(), &[3, 1, 5, 5]);
    /// ```
    pub fn into_transform<T: Float>(self) -> BatchTransform<T> {
        Box::new(
            move |x: ArrayD<T>, rng: &mut Rng| match x.view().into_dimensionality::<Ix4>() {
                Ok(images) if self.is_active() => self.apply(&images, rng).into_dyn(),
                _ => x,
            },
        )
    }

    /// A new batch with each image cropped and/or flipped at random (one pass, no
    /// padded copy).
    ///
    /// ```
    /// use ndarray::Array4;
    /// let x = Array4::from_shape_fn((1, 1, 1, 3), |(_, _, _, j)| j as f64 + 1.0);
    /// let flips = nn::cnn::Augment { crop_pad: 0, flip: true };
    /// let mut rng = numeric::rng(3);
    /// let seen: Vec<f64> = (0..20).map(|_| flips.apply(&x.view(), &mut rng)[[0, 0, 0, 0]]).collect();
    /// assert!(seen.contains(&1.0) && seen.contains(&3.0));
    /// ```
    pub fn apply<T: Float>(&self, x: &ArrayView4<'_, T>, rng: &mut Rng) -> Array4<T> {
        let (n, _, h, w) = x.dim();
        let p = self.crop_pad;
        let mut out = Array4::zeros(x.dim());
        for i in 0..n {
            let (dy, dx) = if p > 0 {
                (rng.random_range(0..=2 * p), rng.random_range(0..=2 * p))
            } else {
                (p, p)
            };
            let flip = self.flip && rng.random::<bool>();
            for (src, mut dst) in x
                .index_axis(Axis(0), i)
                .outer_iter()
                .zip(out.index_axis_mut(Axis(0), i).outer_iter_mut())
            {
                for r in 0..h {
                    // Output row r reads padded row r + dy, i.e. input row r + dy − p.
                    let Some(sr) = (r + dy).checked_sub(p).filter(|&v| v < h) else {
                        continue;
                    };
                    for c in 0..w {
                        let c_src = if flip { w - 1 - c } else { c };
                        if let Some(sc) = (c_src + dx).checked_sub(p).filter(|&v| v < w) {
                            dst[[r, c]] = src[[sr, sc]];
                        }
                    }
                }
            }
        }
        out
    }
}

/// Random crops: pads each image with `pad` zeros per side and takes a crop of the
/// original size at a random offset (per image).
///
/// ```
/// use ndarray::Array4;
/// let x = Array4::<f32>::ones((8, 3, 6, 6));
/// let out = nn::cnn::random_crop(&x.view(), 2, &mut numeric::rng(0));
/// assert_eq!(out.dim(), x.dim());
/// assert!(out.iter().any(|&v| v == 0.0)); // some crops reach into the padding
/// ```
pub fn random_crop<T: Float>(x: &ArrayView4<'_, T>, pad: usize, rng: &mut Rng) -> Array4<T> {
    Augment {
        crop_pad: pad,
        flip: false,
    }
    .apply(x, rng)
}

/// Random horizontal flips: each image is mirrored left–right with probability ½.
///
/// ```
/// use ndarray::Array4;
/// let x = Array4::from_shape_fn((50, 1, 1, 2), |(_, _, _, j)| j as f32);
/// let out = nn::cnn::random_flip(&x.view(), &mut numeric::rng(0));
/// let flipped = out.outer_iter().filter(|im| im[[0, 0, 0]] == 1.0).count();
/// assert!(flipped > 10 && flipped < 40);
/// ```
pub fn random_flip<T: Float>(x: &ArrayView4<'_, T>, rng: &mut Rng) -> Array4<T> {
    Augment {
        crop_pad: 0,
        flip: true,
    }
    .apply(x, rng)
}

// ---------------------------------------------------------------------------------
// SequentialNet
// ---------------------------------------------------------------------------------

/// Hyper-parameters of a [`SequentialNet`]: the architecture spec and the rest.
///
/// ```
/// let c = nn::cnn::SequentialNetConfig::new("conv8x3-relu-pool,fc10", &[3, 32, 32]);
/// assert_eq!(c.weight_scale, None); // He initialisation
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialNetConfig {
    /// The architecture spec ([`parse_arch`]).
    pub arch: String,
    /// Shape of one input: (C, H, W) images, or (D,) rows for an fc-only net.
    pub input_shape: Vec<usize>,
    /// L2 regularisation `0.5·reg·ΣW²` over conv and fc weights.
    #[serde(default)]
    pub reg: f64,
    /// Standard deviation of the initial weights; `None` for He initialisation
    /// (`sqrt(2 / fan_in)`), which deep relu nets need to train at all.
    #[serde(default)]
    pub weight_scale: Option<f64>,
    /// Seed of the initial weights and dropout masks.
    #[serde(default)]
    pub seed: u64,
}

impl SequentialNetConfig {
    /// A configuration with no regularisation, He initialisation, seed 0.
    ///
    /// ```
    /// let c = nn::cnn::SequentialNetConfig::new("fc10", &[784]);
    /// assert_eq!(c.input_shape, vec![784]);
    /// ```
    pub fn new(arch: &str, input_shape: &[usize]) -> Self {
        Self {
            arch: arch.into(),
            input_shape: input_shape.to_vec(),
            reg: 0.0,
            weight_scale: None,
            seed: 0,
        }
    }
}

/// A spec layer resolved against its input shape: parameter names and sizes.
#[derive(Debug, Clone)]
enum Layer {
    Conv { k: usize, param: ConvParam },
    Pool { param: PoolParam },
    SpatialBatchNorm { k: usize },
    BatchNorm { k: usize },
    GroupNorm { k: usize, groups: usize },
    Relu,
    Fc { k: usize },
    Dropout { keep: f64 },
}

/// A layer's cache for the backward pass.
enum Cache<T> {
    Conv(ConvCache<T>),
    Pool(FastPoolCache),
    SpatialBatchNorm(SpatialBatchNormCache<T>),
    BatchNorm(NormCache<T>),
    GroupNorm(GroupNormCache<T>),
    Relu(ArrayD<T>),
    Fc(Array2<T>, IxDyn),
    Dropout(DropoutCache<T, IxDyn>),
}

/// A network built from an architecture spec (see [`parse_arch`]), e.g. the course's
/// "[conv-relu-pool]xN - [affine]xM - softmax" family:
/// `"conv32x3-bn-relu-pool,conv64x3-bn-relu-pool,fc256-relu-drop0.5,fc10"`.
///
/// Parameters are named after the weight layer they belong to, counting conv and fc
/// layers from 1: `W1`, `b1` (first conv), `gamma1`, `beta1` (its batchnorm), ...;
/// batchnorm's running statistics are buffers `running_mean1`, `running_var1`.
/// [`Model::loss`] runs in train mode (batch statistics, dropout);
/// [`Model::scores`] in test mode.
///
/// ```
/// use nn::Model;
/// use nn::cnn::{SequentialNet, SequentialNetConfig};
/// let net = SequentialNet::<f32>::new(SequentialNetConfig::new("conv8x3-bn-relu-pool,fc10", &[3, 32, 32]))?;
/// assert_eq!(net.params()["W2"].shape(), &[8 * 16 * 16, 10]);
/// assert!(net.buffers().unwrap().contains_key("running_var1"));
/// # Ok::<(), nn::cnn::CnnError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SequentialNet<T> {
    config: SequentialNetConfig,
    layers: Vec<Layer>,
    params: Params<T>,
    buffers: Params<T>,
    rng: Rng,
}

impl<T: Float> SequentialNet<T> {
    /// Parses the spec, checks every layer's shape against its input, and initialises
    /// the weights (He or `weight_scale`, seeded), zero biases, unit gamma, zero beta.
    ///
    /// # Errors
    /// [`CnnError::Spec`] for a malformed spec or a layer that does not fit (a conv
    /// after an fc layer, group counts that do not divide the channels, ...);
    /// [`CnnError::Shape`] when a conv or pool output size is not whole.
    ///
    /// ```
    /// use nn::cnn::{SequentialNet, SequentialNetConfig};
    /// let err = SequentialNet::<f32>::new(SequentialNetConfig::new("fc10,conv8x3,fc10", &[3, 8, 8])).unwrap_err();
    /// assert!(err.to_string().contains("conv8x3"));
    /// ```
    pub fn new(config: SequentialNetConfig) -> Result<Self, CnnError> {
        let specs = parse_arch(&config.arch)?;
        let spec_err = |layer: String, reason: String| CnnError::Spec {
            arch: config.arch.clone(),
            layer,
            reason,
        };
        if !(config.reg.is_finite() && config.reg >= 0.0)
            || config.weight_scale.is_some_and(|s| !s.is_finite())
        {
            return Err(CnnError::Config(format!(
                "reg must be finite and ≥ 0, weight_scale finite: {} {:?}",
                config.reg, config.weight_scale
            )));
        }
        let mut shape = config.input_shape.clone();
        if !(shape.len() == 3 || shape.len() == 1) || shape.contains(&0) {
            return Err(CnnError::Config(format!(
                "input_shape must be (C, H, W) or (D,), got {shape:?}"
            )));
        }
        let mut rng = numeric::rng(config.seed);
        let mut params = Params::new();
        let mut buffers = Params::new();
        let mut layers = Vec::new();
        let mut k = 0;
        let init = |fan_in: usize, dims: &[usize], rng: &mut Rng| {
            let std = config
                .weight_scale
                .unwrap_or_else(|| (2.0 / fan_in as f64).sqrt());
            numeric::randn::<T, _, _>(IxDyn(dims), rng) * T::cast(std)
        };
        let mut add_norm =
            |k: usize, c: usize, running: bool, tok: String| -> Result<(), CnnError> {
                if params.contains_key(&format!("gamma{k}")) {
                    return Err(spec_err(
                        tok,
                        format!("layer {k} already has a normalisation"),
                    ));
                }
                params.insert(format!("gamma{k}"), ArrayD::ones(IxDyn(&[c])));
                params.insert(format!("beta{k}"), ArrayD::zeros(IxDyn(&[c])));
                if running {
                    buffers.insert(format!("running_mean{k}"), ArrayD::zeros(IxDyn(&[c])));
                    buffers.insert(format!("running_var{k}"), ArrayD::zeros(IxDyn(&[c])));
                }
                Ok(())
            };
        let mut weights = Params::new();
        for spec in &specs {
            let tok = format!("{spec}");
            let layer = match *spec {
                LayerSpec::Conv {
                    filters,
                    size,
                    stride,
                } => {
                    let [c, h, w] = shape[..] else {
                        return Err(spec_err(
                            tok,
                            "a conv layer needs images (C, H, W), not flattened rows".into(),
                        ));
                    };
                    let param = ConvParam::new(stride, (size - 1) / 2);
                    let (ho, wo) = param.output_size(h, w, size, size)?;
                    k += 1;
                    weights.insert(
                        format!("W{k}"),
                        init(c * size * size, &[filters, c, size, size], &mut rng),
                    );
                    weights.insert(format!("b{k}"), ArrayD::zeros(IxDyn(&[filters])));
                    shape = vec![filters, ho, wo];
                    Layer::Conv { k, param }
                }
                LayerSpec::Pool { size } => {
                    let [c, h, w] = shape[..] else {
                        return Err(spec_err(
                            tok,
                            "pooling needs images (C, H, W), not flattened rows".into(),
                        ));
                    };
                    let param = PoolParam::square(size, size);
                    let (ho, wo) = param.output_size(h, w)?;
                    shape = vec![c, ho, wo];
                    Layer::Pool { param }
                }
                LayerSpec::BatchNorm => {
                    add_norm(k, shape[0], true, tok)?;
                    if shape.len() == 3 {
                        Layer::SpatialBatchNorm { k }
                    } else {
                        Layer::BatchNorm { k }
                    }
                }
                LayerSpec::GroupNorm { groups } => {
                    if shape.len() != 3 || shape[0] % groups != 0 {
                        return Err(spec_err(
                            tok,
                            format!(
                                "group norm needs images whose channels divide into {groups} groups, input is {shape:?}"
                            ),
                        ));
                    }
                    add_norm(k, shape[0], false, tok)?;
                    Layer::GroupNorm { k, groups }
                }
                LayerSpec::Relu => Layer::Relu,
                LayerSpec::Fc { units } => {
                    let d: usize = shape.iter().product();
                    k += 1;
                    weights.insert(format!("W{k}"), init(d, &[d, units], &mut rng));
                    weights.insert(format!("b{k}"), ArrayD::zeros(IxDyn(&[units])));
                    shape = vec![units];
                    Layer::Fc { k }
                }
                LayerSpec::Dropout { keep } => Layer::Dropout { keep },
            };
            layers.push(layer);
        }
        params.extend(weights);
        Ok(Self {
            config,
            layers,
            params,
            buffers,
            rng,
        })
    }

    /// Rebuilds a net (fresh weights) from [`Model::config`]'s JSON.
    ///
    /// # Errors
    /// [`CnnError::Config`] if the JSON is not a SequentialNet configuration, and
    /// [`SequentialNet::new`]'s errors for its spec.
    ///
    /// ```
    /// use nn::Model;
    /// use nn::cnn::{SequentialNet, SequentialNetConfig};
    /// let net = SequentialNet::<f32>::new(SequentialNetConfig::new("conv4x3-relu,fc10", &[1, 6, 6]))?;
    /// let copy = SequentialNet::<f32>::from_config(&net.config())?;
    /// assert_eq!(copy.settings(), net.settings());
    /// # Ok::<(), nn::cnn::CnnError>(())
    /// ```
    pub fn from_config(value: &Value) -> Result<Self, CnnError> {
        check_kind(value, "SequentialNet")?;
        let config: SequentialNetConfig = serde_json::from_value(value.clone())
            .map_err(|e| CnnError::Config(format!("SequentialNet: {e}")))?;
        Self::new(config)
    }

    /// Number of classes scored: the units of the spec's last `fc` layer.
    ///
    /// ```
    /// let net = nn::cnn::SequentialNet::<f32>::new(nn::cnn::SequentialNetConfig::new("conv4x3-relu,fc7", &[1, 5, 5]))?;
    /// assert_eq!(net.num_classes(), 7);
    /// # Ok::<(), nn::cnn::CnnError>(())
    /// ```
    pub fn num_classes(&self) -> usize {
        let last = self.layers.iter().rev().find_map(|l| match l {
            Layer::Fc { k } => Some(*k),
            _ => None,
        });
        last.map_or(0, |k| self.params[&format!("b{k}")].len())
    }

    /// The configuration this net was built with.
    ///
    /// ```
    /// let net = nn::cnn::SequentialNet::<f32>::new(nn::cnn::SequentialNetConfig::new("fc3", &[4]))?;
    /// assert_eq!(net.settings().arch, "fc3");
    /// # Ok::<(), nn::cnn::CnnError>(())
    /// ```
    pub fn settings(&self) -> &SequentialNetConfig {
        &self.config
    }

    /// Forward pass in `mode`; with `keep_caches`, also the caches for backward.
    fn forward(
        &mut self,
        x: &ArrayViewD<'_, T>,
        mode: Mode,
        keep_caches: bool,
    ) -> (Array2<T>, Vec<Cache<T>>) {
        let input_shape = &self.config.input_shape;
        assert!(
            x.ndim() == input_shape.len() + 1 && x.shape()[1..] == *input_shape,
            "expected a batch of shape (N, {input_shape:?}), got {:?}",
            x.shape()
        );
        let mut a: ArrayD<T> = x.as_standard_layout().into_owned();
        let mut caches = Vec::with_capacity(if keep_caches { self.layers.len() } else { 0 });
        let layers = self.layers.clone();
        for layer in &layers {
            let (out, cache) = self.layer_forward(layer, a, mode);
            a = out;
            if keep_caches {
                caches.push(cache);
            }
        }
        let n = a.shape()[0];
        let d = a.len() / n.max(1);
        (
            a.into_shape_with_order((n, d))
                .expect("scores")
                .into_dimensionality::<Ix2>()
                .expect("2-d"),
            caches,
        )
    }

    fn w4(&self, k: usize) -> ArrayView4<'_, T> {
        self.params[&format!("W{k}")]
            .view()
            .into_dimensionality()
            .expect("4-d filters")
    }

    fn w2(&self, k: usize) -> ArrayView2<'_, T> {
        self.params[&format!("W{k}")]
            .view()
            .into_dimensionality()
            .expect("2-d weights")
    }

    fn vec1(&self, name: String) -> ArrayView1<'_, T> {
        self.params[&name]
            .view()
            .into_dimensionality()
            .expect("1-d")
    }

    fn layer_forward(&mut self, layer: &Layer, a: ArrayD<T>, mode: Mode) -> (ArrayD<T>, Cache<T>) {
        match *layer {
            Layer::Conv { k, param } => {
                let x = a.view().into_dimensionality::<Ix4>().expect("images");
                let (out, cache) =
                    conv_forward_fast(&x, &self.w4(k), &self.vec1(format!("b{k}")), param)
                        .expect("checked at construction");
                (out.into_dyn(), Cache::Conv(cache))
            }
            Layer::Pool { param } => {
                let x = a.view().into_dimensionality::<Ix4>().expect("images");
                let (out, cache) =
                    max_pool_forward_fast(&x, param).expect("checked at construction");
                (out.into_dyn(), Cache::Pool(cache))
            }
            Layer::SpatialBatchNorm { k } | Layer::BatchNorm { k } => {
                let mut bn = BatchNormParam::new(a.shape()[1]);
                bn.running_mean = self.buffers[&format!("running_mean{k}")]
                    .view()
                    .into_dimensionality()
                    .expect("1-d")
                    .to_owned();
                bn.running_var = self.buffers[&format!("running_var{k}")]
                    .view()
                    .into_dimensionality()
                    .expect("1-d")
                    .to_owned();
                let (gamma, beta) = (
                    self.vec1(format!("gamma{k}")),
                    self.vec1(format!("beta{k}")),
                );
                let (out, cache) = if a.ndim() == 4 {
                    let x = a.view().into_dimensionality::<Ix4>().expect("images");
                    let (out, cache) = spatial_batchnorm_forward(&x, &gamma, &beta, &mut bn, mode);
                    (out.into_dyn(), Cache::SpatialBatchNorm(cache))
                } else {
                    let x = a.view().into_dimensionality::<Ix2>().expect("rows");
                    let (out, cache) = batchnorm_forward(&x, &gamma, &beta, &mut bn, mode);
                    (out.into_dyn(), Cache::BatchNorm(cache))
                };
                self.buffers
                    .insert(format!("running_mean{k}"), bn.running_mean.into_dyn());
                self.buffers
                    .insert(format!("running_var{k}"), bn.running_var.into_dyn());
                (out, cache)
            }
            Layer::GroupNorm { k, groups } => {
                let x = a.view().into_dimensionality::<Ix4>().expect("images");
                let (out, cache) = spatial_groupnorm_forward(
                    &x,
                    &self.vec1(format!("gamma{k}")),
                    &self.vec1(format!("beta{k}")),
                    groups,
                    1e-5,
                )
                .expect("checked at construction");
                (out.into_dyn(), Cache::GroupNorm(cache))
            }
            Layer::Relu => {
                let mut a = a;
                relu_inplace(&mut a.view_mut());
                let cache = Cache::Relu(a.clone());
                (a, cache)
            }
            Layer::Fc { k } => {
                let dim = a.raw_dim();
                let n = dim[0];
                let x = a
                    .into_shape_with_order((n, self.w2(k).nrows()))
                    .expect("flattened rows")
                    .into_dimensionality::<Ix2>()
                    .expect("2-d");
                let out = affine(&x.view(), &self.w2(k), &self.vec1(format!("b{k}")));
                (out.into_dyn(), Cache::Fc(x, dim))
            }
            Layer::Dropout { keep } => {
                let (out, cache) = dropout_forward(&a.view(), keep, mode, &mut self.rng);
                (out, Cache::Dropout(cache))
            }
        }
    }
}

impl std::fmt::Display for LayerSpec {
    /// The spec token this layer parses from.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerSpec::Conv {
                filters,
                size,
                stride: 1,
            } => write!(f, "conv{filters}x{size}"),
            LayerSpec::Conv {
                filters,
                size,
                stride,
            } => write!(f, "conv{filters}x{size}s{stride}"),
            LayerSpec::Pool { size: 2 } => write!(f, "pool"),
            LayerSpec::Pool { size } => write!(f, "pool{size}"),
            LayerSpec::BatchNorm => write!(f, "bn"),
            LayerSpec::GroupNorm { groups } => write!(f, "gn{groups}"),
            LayerSpec::Relu => write!(f, "relu"),
            LayerSpec::Fc { units } => write!(f, "fc{units}"),
            LayerSpec::Dropout { keep } => write!(f, "drop{keep}"),
        }
    }
}

impl<T: Float> Model<T> for SequentialNet<T> {
    fn params(&self) -> &Params<T> {
        &self.params
    }

    fn params_mut(&mut self) -> &mut Params<T> {
        &mut self.params
    }

    fn loss(&mut self, x: &ArrayViewD<'_, T>, y: &ArrayView1<'_, usize>) -> (T, Params<T>) {
        let (scores, caches) = self.forward(x, Mode::Train, true);
        let (data_loss, dscores) = softmax_loss(&scores.view(), y);
        let mut grads = Params::new();
        let mut dout = dscores.into_dyn();
        for (i, (layer, cache)) in self.layers.iter().zip(caches).enumerate().rev() {
            // Nobody needs the gradient of the data: the first layer skips dx.
            let need_dx = i > 0;
            dout = match (layer, cache) {
                (Layer::Conv { k, .. }, Cache::Conv(cache)) => {
                    let d = dout.view().into_dimensionality::<Ix4>().expect("images");
                    let (dx, dw, db) = if need_dx {
                        let (dx, dw, db) = conv_backward_fast(&d, &cache);
                        (dx.into_dyn(), dw, db)
                    } else {
                        let (dw, db) = conv_backward_fast_no_dx(&d, &cache);
                        (ArrayD::zeros(IxDyn(&[0])), dw, db)
                    };
                    grads.insert(format!("W{k}"), dw.into_dyn());
                    grads.insert(format!("b{k}"), db.into_dyn());
                    dx
                }
                (Layer::Pool { .. }, Cache::Pool(cache)) => {
                    let d = dout.view().into_dimensionality::<Ix4>().expect("images");
                    max_pool_backward_fast(&d, &cache).into_dyn()
                }
                (Layer::SpatialBatchNorm { k }, Cache::SpatialBatchNorm(cache)) => {
                    let d = dout.view().into_dimensionality::<Ix4>().expect("images");
                    let (dx, dgamma, dbeta) = spatial_batchnorm_backward(&d, &cache);
                    grads.insert(format!("gamma{k}"), dgamma.into_dyn());
                    grads.insert(format!("beta{k}"), dbeta.into_dyn());
                    dx.into_dyn()
                }
                (Layer::BatchNorm { k }, Cache::BatchNorm(cache)) => {
                    let d = dout.view().into_dimensionality::<Ix2>().expect("rows");
                    let (dx, dgamma, dbeta) = batchnorm_backward(&d, &cache);
                    grads.insert(format!("gamma{k}"), dgamma.into_dyn());
                    grads.insert(format!("beta{k}"), dbeta.into_dyn());
                    dx.into_dyn()
                }
                (Layer::GroupNorm { k, .. }, Cache::GroupNorm(cache)) => {
                    let d = dout.view().into_dimensionality::<Ix4>().expect("images");
                    let (dx, dgamma, dbeta) = spatial_groupnorm_backward(&d, &cache);
                    grads.insert(format!("gamma{k}"), dgamma.into_dyn());
                    grads.insert(format!("beta{k}"), dbeta.into_dyn());
                    dx.into_dyn()
                }
                (Layer::Relu, Cache::Relu(out)) => {
                    let mut d = dout;
                    relu_backward_from_output(&mut d.view_mut(), &out.view());
                    d
                }
                (Layer::Fc { k }, Cache::Fc(x, in_dim)) => {
                    let d = dout.view().into_dimensionality::<Ix2>().expect("rows");
                    let (dw, db) = affine_param_grads(&x.view(), &d);
                    let dx = if need_dx {
                        affine_input_grad(&d, &self.w2(*k))
                            .into_shape_with_order(in_dim)
                            .expect("input shape")
                    } else {
                        ArrayD::zeros(IxDyn(&[0]))
                    };
                    grads.insert(format!("W{k}"), dw.into_dyn());
                    grads.insert(format!("b{k}"), db.into_dyn());
                    dx
                }
                (Layer::Dropout { .. }, Cache::Dropout(cache)) => {
                    dropout_backward(&dout.view(), &cache)
                }
                _ => unreachable!("caches are built from the same layer list"),
            };
        }
        let weights: Vec<String> = self
            .params
            .keys()
            .filter(|n| n.starts_with('W'))
            .cloned()
            .collect();
        let penalty = regularise(
            &self.params,
            &mut grads,
            self.config.reg,
            weights.into_iter(),
        );
        (data_loss + penalty, grads)
    }

    fn scores(&mut self, x: &ArrayViewD<'_, T>) -> Array2<T> {
        self.forward(x, Mode::Test, false).0
    }

    fn config(&self) -> Value {
        let mut v = serde_json::to_value(&self.config).expect("plain data");
        v["kind"] = Value::from("SequentialNet");
        v
    }

    fn input_shape(&self) -> Vec<usize> {
        self.config.input_shape.clone()
    }

    fn buffers(&self) -> Option<&Params<T>> {
        if self.buffers.is_empty() {
            None
        } else {
            Some(&self.buffers)
        }
    }

    fn buffers_mut(&mut self) -> Option<&mut Params<T>> {
        if self.buffers.is_empty() {
            None
        } else {
            Some(&mut self.buffers)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop::gradcheck::{eval_numerical_gradient, rel_error};
    use ndarray::Array1;

    fn toy_batch(
        n: usize,
        shape: &[usize],
        classes: usize,
        seed: u64,
    ) -> (ArrayD<f64>, Array1<usize>) {
        let mut r = numeric::rng(seed);
        let mut dims = vec![n];
        dims.extend_from_slice(shape);
        let x = numeric::randn::<f64, _, _>(IxDyn(&dims), &mut r);
        let y = Array1::from_shape_fn(n, |_| r.random_range(0..classes));
        (x, y)
    }

    /// Whole-model gradient checks agree to ~1e-10 absolute, but the worst *relative*
    /// error sits on gradient elements of ~1e-6, where the centred difference's
    /// rounding floor (ε·loss/h ≈ 2e-11) alone is a few 1e-6. The layers themselves are
    /// checked at 1e-7 in their modules.
    const MODEL_TOLERANCE: f64 = 1e-5;

    /// Checks every parameter's analytic gradient against centred differences; returns
    /// the worst relative error per parameter.
    fn gradient_errors<M: Model<f64>>(
        model: &mut M,
        x: &ArrayD<f64>,
        y: &Array1<usize>,
    ) -> Vec<(String, f64)> {
        let (_, grads) = model.loss(&x.view(), &y.view());
        let names: Vec<String> = model.params().keys().cloned().collect();
        names
            .into_iter()
            .map(|name| {
                let mut p = model.params()[&name].clone();
                let num = eval_numerical_gradient(
                    |p| {
                        model.params_mut().insert(name.clone(), p.clone());
                        model.loss(&x.view(), &y.view()).0
                    },
                    &mut p,
                    1e-5,
                );
                model.params_mut().insert(name.clone(), p);
                let analytic = &grads[&name];
                let largest = |a: &ArrayD<f64>| a.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
                // A parameter whose gradient is zero in theory (a conv bias followed by
                // batchnorm, which subtracts it again): both must be zero to rounding,
                // where a relative error would only compare rounding noise.
                let e = if largest(analytic) < 1e-12 {
                    largest(&num)
                } else {
                    rel_error(&num.view(), &analytic.view())
                };
                (name, e)
            })
            .collect()
    }

    /// The course's sanity check: with small weights and no regularisation the
    /// initial loss is ln 10; regularisation makes it larger.
    #[test]
    fn three_layer_initial_loss_is_log_of_classes() {
        let (x, y) = toy_batch(50, &[3, 32, 32], 10, 1);
        let mut net = ThreeLayerConvNet::<f64>::new(ThreeLayerConvNetConfig::default()).unwrap();
        let (loss, _) = net.loss(&x.view(), &y.view());
        assert!((loss - 10f64.ln()).abs() < 1e-3, "loss {loss}");
        let mut reg = ThreeLayerConvNet::<f64>::new(ThreeLayerConvNetConfig {
            reg: 0.5,
            ..Default::default()
        })
        .unwrap();
        let (loss_reg, _) = reg.loss(&x.view(), &y.view());
        assert!(loss_reg > loss);
    }

    /// The course's gradient check of the small ThreeLayerConvNet: 2 images (3, 16, 16),
    /// 3 filters of 3×3, hidden 7, weight scale 1e-2, f64.
    #[test]
    fn three_layer_gradients_match_numerical() {
        let (x, y) = toy_batch(2, &[3, 16, 16], 10, 2);
        for reg in [0.0, 0.5] {
            let config = ThreeLayerConvNetConfig {
                input_dim: [3, 16, 16],
                num_filters: 3,
                filter_size: 3,
                hidden_dim: 7,
                weight_scale: 1e-1,
                reg,
                seed: 3,
                ..Default::default()
            };
            let mut net = ThreeLayerConvNet::<f64>::new(config).unwrap();
            for (name, e) in gradient_errors(&mut net, &x, &y) {
                assert!(e < MODEL_TOLERANCE, "reg {reg} {name}: {e}");
            }
        }
    }

    #[test]
    fn sequential_gradients_match_numerical_with_every_layer_kind() {
        let (x, y) = toy_batch(4, &[2, 10, 10], 5, 4);
        let mut config = SequentialNetConfig::new(
            "conv4x3-bn-relu-pool,conv4x3s2-gn2-relu,fc6-bn-relu,fc5",
            &[2, 10, 10],
        );
        config.reg = 0.1;
        config.seed = 5;
        let mut net = SequentialNet::<f64>::new(config).unwrap();
        for (name, e) in gradient_errors(&mut net, &x, &y) {
            assert!(e < MODEL_TOLERANCE, "{name}: {e}");
        }
    }

    #[test]
    fn sequential_matches_three_layer_net_on_the_same_weights() {
        let (x, y) = toy_batch(3, &[3, 8, 8], 10, 6);
        let three = ThreeLayerConvNetConfig {
            input_dim: [3, 8, 8],
            num_filters: 4,
            filter_size: 3,
            hidden_dim: 6,
            weight_scale: 0.1,
            ..Default::default()
        };
        let mut a = ThreeLayerConvNet::<f64>::new(three).unwrap();
        let mut b = SequentialNet::<f64>::new(SequentialNetConfig::new(
            "conv4x3-relu-pool,fc6-relu,fc10",
            &[3, 8, 8],
        ))
        .unwrap();
        *b.params_mut() = a.params().clone();
        let (la, ga) = a.loss(&x.view(), &y.view());
        let (lb, gb) = b.loss(&x.view(), &y.view());
        assert!((la - lb).abs() < 1e-12);
        for (name, g) in &ga {
            assert!(rel_error(&g.view(), &gb[name].view()) < 1e-10, "{name}");
        }
    }

    /// The course's overfitting check: a small training set is learnt (almost) perfectly.
    #[test]
    fn three_layer_net_overfits_small_data() {
        let (x, y) = toy_batch(20, &[3, 8, 8], 10, 7);
        let x = x.mapv(|v| v as f32);
        let config = ThreeLayerConvNetConfig {
            input_dim: [3, 8, 8],
            num_filters: 8,
            filter_size: 3,
            hidden_dim: 50,
            weight_scale: 1e-1,
            ..Default::default()
        };
        let mut net = ThreeLayerConvNet::<f32>::new(config).unwrap();
        let (first, _) = net.loss(&x.view(), &y.view());
        for _ in 0..200 {
            let (_, grads) = net.loss(&x.view(), &y.view());
            for (name, g) in grads {
                net.params_mut()
                    .get_mut(&name)
                    .unwrap()
                    .scaled_add(-0.05, &g);
            }
        }
        let (last, _) = net.loss(&x.view(), &y.view());
        let acc = crate::model::accuracy(&net.predict(&x.view(), 10), &y.view());
        assert!(
            last < 0.1 * first && acc == 1.0,
            "loss {first} -> {last}, train accuracy {acc}"
        );
    }

    #[test]
    fn batchnorm_running_statistics_move_in_training_only() {
        let (x, y) = toy_batch(4, &[2, 4, 4], 3, 8);
        let mut net =
            SequentialNet::<f64>::new(SequentialNetConfig::new("conv2x3-bn-relu,fc3", &[2, 4, 4]))
                .unwrap();
        net.scores(&x.view());
        assert!(
            net.buffers().unwrap()["running_mean1"]
                .iter()
                .all(|&v| v == 0.0)
        );
        net.loss(&x.view(), &y.view());
        assert!(
            net.buffers().unwrap()["running_var1"]
                .iter()
                .all(|&v| v > 0.0)
        );
    }

    #[test]
    fn augmentation_crops_shift_and_flip_mirror() {
        let x = Array4::from_shape_fn((1, 1, 3, 3), |(_, _, i, j)| (i * 3 + j + 1) as f64);
        let mut rng = numeric::rng(0);
        let mut seen_shift = false;
        for _ in 0..50 {
            let out = random_crop(&x.view(), 1, &mut rng);
            // Every crop is the image shifted by at most one pixel: the centre is an
            // original pixel or a neighbour of the original centre.
            assert!([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0].contains(&out[[0, 0, 1, 1]]));
            seen_shift |= out[[0, 0, 1, 1]] != 5.0;
        }
        assert!(seen_shift);
        let a = Augment {
            crop_pad: 0,
            flip: true,
        };
        let flipped = (0..20)
            .map(|_| a.apply(&x.view(), &mut rng))
            .find(|o| o[[0, 0, 0, 0]] == 3.0)
            .expect("a flip in 20 draws");
        assert_eq!(
            flipped.into_raw_vec_and_offset().0,
            vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0, 9.0, 8.0, 7.0]
        );
    }

    #[test]
    fn spec_errors_name_the_layer() {
        for (arch, bad) in [
            ("conv32-relu,fc10", "conv32"),
            ("convx3,fc10", "convx3"),
            ("pool0,fc10", "pool0"),
            ("drop1.5,fc10", "drop1.5"),
            ("softmax,fc10", "softmax"),
        ] {
            match parse_arch(arch).unwrap_err() {
                CnnError::Spec { layer, .. } => assert_eq!(layer, bad),
                e => panic!("{e}"),
            }
        }
        let e = SequentialNet::<f32>::new(SequentialNetConfig::new("conv4x3-gn3,fc10", &[3, 8, 8]))
            .unwrap_err();
        assert!(
            matches!(e, CnnError::Spec { ref layer, .. } if layer == "gn3"),
            "{e}"
        );
        let e = SequentialNet::<f32>::new(SequentialNetConfig::new("pool,fc10", &[3, 7, 8]))
            .unwrap_err();
        assert!(
            matches!(e, CnnError::Shape(ShapeError::NotWhole { size: 7, .. })),
            "{e}"
        );
        assert!(
            ThreeLayerConvNet::<f32>::from_config(&serde_json::json!({"kind": "SequentialNet"}))
                .is_err()
        );
    }

    #[test]
    fn specs_print_back_to_what_they_parse_from() {
        let arch = "conv32x3-bn-relu-pool-conv64x3s2-gn4-relu-pool3-fc256-relu-drop0.5-fc10";
        let printed: Vec<String> = parse_arch(arch)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(printed.join("-"), arch);
    }
}
