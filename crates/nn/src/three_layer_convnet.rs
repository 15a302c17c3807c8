//! The course's `ThreeLayerConvNet` (`classifiers/cnn.py`):
//! `conv - relu - 2x2 max pool - affine - relu - affine - softmax`, with its defaults
//! (32 filters of 7×7, hidden 100, weight scale 1e-3, no regularisation), its loss
//! written as the course writes it: `conv_relu_pool_forward`, `affine_relu_forward`,
//! `affine_forward`, `softmax_loss`, then the backward passes in reverse.
//!
//! ```
//! use ndarray::{Array4, Array1};
//! use nn::{Model, ThreeLayerConvNet, ThreeLayerConvNetConfig};
//! let mut net = ThreeLayerConvNet::<f64>::new(ThreeLayerConvNetConfig { input_dim: [3, 8, 8], ..Default::default() })?;
//! let x: Array4<f64> = numeric::randn((4, 3, 8, 8), &mut numeric::rng(0));
//! let (loss, grads) = net.loss(&x.view().into_dyn(), &Array1::from(vec![0, 1, 2, 3]).view());
//! assert!((loss - 10f64.ln()).abs() < 0.01); // small weights: uniform over 10 classes
//! assert_eq!(grads["W1"].shape(), &[32, 3, 7, 7]);
//! # Ok::<(), nn::Error>(())
//! ```

use ndarray::{Array2, ArrayD, ArrayView1, ArrayView2, ArrayView4, ArrayViewD, Ix2, Ix4, IxDyn};
use numeric::Float;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::affine::{AffineCache, affine_backward, affine_forward};
use crate::conv::ConvParam;
use crate::error::{Error, Result};
use crate::layer_utils::{
    AffineReluCache, ConvReluPoolCache, affine_relu_backward, affine_relu_forward,
    conv_relu_pool_backward_no_dx, conv_relu_pool_forward,
};
use crate::limits::{self, MAX_PARAMETERS};
use crate::model::{Model, Params, check_kind, regularise};
use crate::pool::PoolParam;

/// Hyper-parameters of [`ThreeLayerConvNet`], with the course's defaults.
///
/// ```
/// let c = nn::ThreeLayerConvNetConfig::default();
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

impl ThreeLayerConvNetConfig {
    /// The number of trainable parameters (W1, b1, W2, b2, W3, b3), or `None` when it
    /// overflows: checked before anything is allocated.
    ///
    /// ```
    /// let c = nn::ThreeLayerConvNetConfig::default();
    /// assert_eq!(c.parameter_count(), Some(32 * 3 * 49 + 32 + 32 * 16 * 16 * 100 + 100 + 100 * 10 + 10));
    /// ```
    pub fn parameter_count(&self) -> Option<usize> {
        let [c, h, w] = self.input_dim;
        let (f, k, hid, classes) = (
            self.num_filters,
            self.filter_size,
            self.hidden_dim,
            self.num_classes,
        );
        let sizes = [
            limits::product(&[f, c, k, k])?,
            f,
            limits::product(&[f, h / 2, w / 2, hid])?,
            hid,
            limits::product(&[hid, classes])?,
            classes,
        ];
        sizes.iter().try_fold(0usize, |acc, &n| acc.checked_add(n))
    }
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
/// classes), `b3`. The first layer skips the input gradient (nobody needs the data's).
///
/// ```
/// use nn::Model;
/// let net = nn::ThreeLayerConvNet::<f32>::new(Default::default())?;
/// assert_eq!(net.params()["W2"].shape(), &[32 * 16 * 16, 100]);
/// assert_eq!(net.input_shape(), vec![3, 32, 32]);
/// # Ok::<(), nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ThreeLayerConvNet<T> {
    config: ThreeLayerConvNetConfig,
    params: Params<T>,
}

/// What the backward pass needs from each layer: `conv - relu - pool`,
/// `affine - relu` (on the pooled images) and `affine`.
type Caches<'a, T> = (
    ConvReluPoolCache<T>,
    AffineReluCache<'a, T, Ix4>,
    AffineCache<'a, T>,
);

impl<T: Float> ThreeLayerConvNet<T> {
    /// A net with Gaussian weights of standard deviation `weight_scale` (seeded) and
    /// zero biases.
    ///
    /// # Errors
    /// [`Error::Config`] for an even filter size, odd image sides (the pool halves
    /// them) or zero sizes.
    ///
    /// ```
    /// use nn::{ThreeLayerConvNet, ThreeLayerConvNetConfig};
    /// let bad = ThreeLayerConvNetConfig { filter_size: 4, ..Default::default() };
    /// assert!(ThreeLayerConvNet::<f32>::new(bad).is_err());
    /// ```
    pub fn new(config: ThreeLayerConvNetConfig) -> Result<Self> {
        let [c, h, w] = config.input_dim;
        let c_ = &config;
        if c == 0
            || h == 0
            || w == 0
            || c_.num_filters == 0
            || c_.hidden_dim == 0
            || c_.num_classes == 0
        {
            return Err(Error::config(
                "ThreeLayerConvNet",
                format!("all sizes must be positive: {config:?}"),
            ));
        }
        if c_.filter_size.is_multiple_of(2) {
            return Err(Error::config(
                "ThreeLayerConvNet",
                format!(
                    "filter_size must be odd for same padding, got {}",
                    c_.filter_size
                ),
            ));
        }
        if h % 2 != 0 || w % 2 != 0 {
            return Err(Error::config(
                "ThreeLayerConvNet",
                format!("the 2x2 pool needs even image sides, got {h}x{w}"),
            ));
        }
        if !(c_.weight_scale.is_finite() && c_.reg.is_finite() && c_.reg >= 0.0) {
            return Err(Error::config(
                "ThreeLayerConvNet",
                format!(
                    "weight_scale and reg must be finite, reg ≥ 0: {} {}",
                    c_.weight_scale, c_.reg
                ),
            ));
        }
        limits::check(
            "ThreeLayerConvNet configuration",
            config.parameter_count(),
            "parameters",
            MAX_PARAMETERS,
        )?;
        if c_.filter_size > h || c_.filter_size > w {
            return Err(Error::config(
                "ThreeLayerConvNet",
                format!(
                    "the {fs}×{fs} filter is wider than the {h}×{w} input",
                    fs = c_.filter_size
                ),
            ));
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
    /// [`Error::Config`] if the JSON is not a ThreeLayerConvNet configuration.
    ///
    /// ```
    /// use nn::Model;
    /// use nn::ThreeLayerConvNet;
    /// let net = ThreeLayerConvNet::<f32>::new(Default::default())?;
    /// let copy = ThreeLayerConvNet::<f32>::from_config(&net.config())?;
    /// assert_eq!(copy.settings(), net.settings());
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn from_config(value: &Value) -> Result<Self> {
        check_kind(value, "ThreeLayerConvNet")?;
        let config: ThreeLayerConvNetConfig = serde_json::from_value(value.clone())
            .map_err(|e| Error::config("ThreeLayerConvNet", format!("ThreeLayerConvNet: {e}")))?;
        Self::new(config)
    }

    /// The hyper-parameters this net was built with.
    ///
    /// ```
    /// let net = nn::ThreeLayerConvNet::<f32>::new(Default::default())?;
    /// assert_eq!(net.settings().num_classes, 10);
    /// # Ok::<(), nn::Error>(())
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

    /// The forward pass of `cnn.py`'s `loss`: the scores and each layer's cache.
    fn forward<'a>(&'a self, x: &ArrayViewD<'a, T>) -> (Array2<T>, Caches<'a, T>) {
        let x = as_images(x, &self.input_shape());
        let pad = (self.config.filter_size - 1) / 2;
        let (conv_param, pool_param) = (ConvParam::new(1, pad), PoolParam::square(2, 2));
        let (out1, cache1) =
            conv_relu_pool_forward(&x, &self.p4("W1"), &self.p1("b1"), conv_param, pool_param)
                .expect("shapes checked at construction");
        let (out2, cache2) = affine_relu_forward(out1, self.p2("W2"), &self.p1("b2"));
        let (scores, cache3) = affine_forward(out2, self.p2("W3"), &self.p1("b3"));
        (scores, (cache1, cache2, cache3))
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

impl<T: Float> Model<T> for ThreeLayerConvNet<T> {
    fn params(&self) -> &Params<T> {
        &self.params
    }

    fn params_mut(&mut self) -> &mut Params<T> {
        &mut self.params
    }

    fn loss(&mut self, x: &ArrayViewD<'_, T>, y: &ArrayView1<'_, usize>) -> (T, Params<T>) {
        let (scores, (cache1, cache2, cache3)) = self.forward(x);
        let (data_loss, dscores) = linear::softmax_loss(&scores.view(), y);

        let (dout2, dw3, db3) = affine_backward(&dscores.view(), &cache3);
        let (dout1, dw2, db2) = affine_relu_backward(&dout2.view(), &cache2);
        // The data needs no gradient: the first layer skips dx.
        let (dw1, db1) = conv_relu_pool_backward_no_dx(&dout1.view(), &cache1);
        let mut grads = Params::from([
            ("W1".to_string(), dw1.into_dyn()),
            ("b1".to_string(), db1.into_dyn()),
            ("W2".to_string(), dw2.into_dyn()),
            ("b2".to_string(), db2.into_dyn()),
            ("W3".to_string(), dw3.into_dyn()),
            ("b3".to_string(), db3.into_dyn()),
        ]);
        let weights = ["W1", "W2", "W3"].map(String::from);
        let reg_loss = regularise(&self.params, &mut grads, self.config.reg, &weights);
        (data_loss + reg_loss, grads)
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

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }
}
