//! The course's `TwoLayerNet` (`classifiers/fc_net.py`): `affine - relu - affine -
//! softmax`, its loss written as the course writes it, with the sandwich layers.
//!
//! ```
//! use nn::{Model, TwoLayerConfig, TwoLayerNet};
//! let mut net = TwoLayerNet::<f64>::new(TwoLayerConfig { input_dim: 6, hidden_dim: 5, num_classes: 3, ..Default::default() });
//! let x = numeric::randn::<f64, _, _>((4, 6), &mut numeric::rng(0)).into_dyn();
//! let (loss, grads) = net.loss(&x.view(), &ndarray::array![0, 1, 2, 0].view());
//! assert!((loss - 3f64.ln()).abs() < 1e-3); // small weights: uniform over 3 classes
//! assert_eq!(grads["W1"].shape(), &[6, 5]);
//! ```

use ndarray::{Array2, ArrayD, ArrayView1, ArrayViewD};
use numeric::Float;
use serde::{Deserialize, Serialize};

use crate::affine::{affine_backward, affine_forward};
use crate::error::Result;
use crate::fc::{FcConfig, as_rows, p1, p2};
use crate::layer_utils::{affine_relu_backward_no_dx, affine_relu_forward};
use crate::model::{Model, Params, regularise};
use linear::softmax_loss;

/// Hyper-parameters of a [`TwoLayerNet`] (the course's constructor arguments).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwoLayerConfig {
    /// Size of one input row.
    pub input_dim: usize,
    /// Size of the hidden layer.
    pub hidden_dim: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Standard deviation of the initial weights.
    pub weight_scale: f64,
    /// L2 regularisation strength.
    pub reg: f64,
    /// Seed for the initial weights.
    pub seed: u64,
}

impl Default for TwoLayerConfig {
    /// The course's defaults: `input_dim 3·32·32, hidden_dim 100, num_classes 10,
    /// weight_scale 1e-3, reg 0`.
    fn default() -> Self {
        TwoLayerConfig {
            input_dim: 3 * 32 * 32,
            hidden_dim: 100,
            num_classes: 10,
            weight_scale: 1e-3,
            reg: 0.0,
            seed: 0,
        }
    }
}

impl From<TwoLayerConfig> for FcConfig {
    fn from(c: TwoLayerConfig) -> Self {
        FcConfig {
            input_dim: c.input_dim,
            hidden_dims: vec![c.hidden_dim],
            num_classes: c.num_classes,
            reg: c.reg,
            weight_scale: Some(c.weight_scale),
            seed: c.seed,
            ..FcConfig::default()
        }
    }
}

/// The course's `TwoLayerNet`: `affine - relu - affine - softmax`, weights
/// `N(0, weight_scale²)`, zero biases. Parameters `W1` (D, H), `b1`, `W2` (H, C), `b2`.
#[derive(Debug, Clone)]
pub struct TwoLayerNet<T> {
    config: TwoLayerConfig,
    params: Params<T>,
}

impl<T: Float> TwoLayerNet<T> {
    /// A two-layer net; `TwoLayerNet::new(TwoLayerConfig::default())` is the course's
    /// `TwoLayerNet()`.
    ///
    /// # Panics
    /// On a zero dimension or a non-positive weight scale ([`try_new`](Self::try_new)
    /// returns the error instead).
    ///
    /// ```
    /// use nn::{TwoLayerNet, TwoLayerConfig};
    /// use nn::Model;
    /// let net = TwoLayerNet::<f32>::new(TwoLayerConfig::default());
    /// assert_eq!(net.params()["W1"].shape(), &[3072, 100]);
    /// ```
    pub fn new(config: TwoLayerConfig) -> Self {
        Self::try_new(config).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`new`](Self::new), with a typed error.
    ///
    /// ```
    /// let bad = nn::TwoLayerConfig { hidden_dim: 0, ..Default::default() };
    /// assert!(nn::TwoLayerNet::<f32>::try_new(bad).is_err());
    /// ```
    pub fn try_new(config: TwoLayerConfig) -> Result<Self> {
        FcConfig::from(config).validate()?;
        let TwoLayerConfig {
            input_dim,
            hidden_dim,
            num_classes,
            weight_scale,
            seed,
            ..
        } = config;
        let mut rng = numeric::rng(seed);
        let scale = T::cast(weight_scale);
        let w1: Array2<T> = numeric::randn((input_dim, hidden_dim), &mut rng) * scale;
        let w2: Array2<T> = numeric::randn((hidden_dim, num_classes), &mut rng) * scale;
        let params = Params::from([
            ("W1".to_string(), w1.into_dyn()),
            ("b1".to_string(), ArrayD::zeros(vec![hidden_dim])),
            ("W2".to_string(), w2.into_dyn()),
            ("b2".to_string(), ArrayD::zeros(vec![num_classes])),
        ]);
        Ok(TwoLayerNet { config, params })
    }

    /// Sets the regularisation strength (the course's `model.reg = ...`).
    ///
    /// ```
    /// let mut net = nn::TwoLayerNet::<f64>::new(Default::default());
    /// net.set_reg(1.0);
    /// ```
    pub fn set_reg(&mut self, reg: f64) {
        self.config.reg = reg;
    }
}

impl<T: Float> Model<T> for TwoLayerNet<T> {
    fn params(&self) -> &Params<T> {
        &self.params
    }

    fn params_mut(&mut self) -> &mut Params<T> {
        &mut self.params
    }

    fn loss(&mut self, x: &ArrayViewD<'_, T>, y: &ArrayView1<'_, usize>) -> (T, Params<T>) {
        let p = &self.params;
        let x = as_rows(x, self.config.input_dim, "TwoLayerNet");
        let (h, cache1) = affine_relu_forward(x, p2(p, "W1"), &p1(p, "b1"));
        let (scores, cache2) = affine_forward(h, p2(p, "W2"), &p1(p, "b2"));
        let (data_loss, dscores) = softmax_loss(&scores.view(), y);

        let (dh, dw2, db2) = affine_backward(&dscores.view(), &cache2);
        // The data needs no gradient: the first layer skips dx.
        let (dw1, db1) = affine_relu_backward_no_dx(&dh.view(), &cache1);
        let mut grads = Params::from([
            ("W1".to_string(), dw1.into_dyn()),
            ("b1".to_string(), db1.into_dyn()),
            ("W2".to_string(), dw2.into_dyn()),
            ("b2".to_string(), db2.into_dyn()),
        ]);
        let reg_loss = regularise(
            p,
            &mut grads,
            self.config.reg,
            &["W1", "W2"].map(String::from),
        );
        (data_loss + reg_loss, grads)
    }

    fn scores(&mut self, x: &ArrayViewD<'_, T>) -> Array2<T> {
        let p = &self.params;
        let x = as_rows(x, self.config.input_dim, "TwoLayerNet");
        let (h, _) = affine_relu_forward(x, p2(p, "W1"), &p1(p, "b1"));
        affine_forward(h, p2(p, "W2"), &p1(p, "b2")).0
    }

    fn config(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self.config).expect("config serialises");
        v["kind"] = "TwoLayerNet".into();
        v["dtype"] = T::NAME.into();
        v
    }

    fn input_shape(&self) -> Vec<usize> {
        vec![self.config.input_dim]
    }

    fn num_classes(&self) -> usize {
        self.config.num_classes
    }
}
