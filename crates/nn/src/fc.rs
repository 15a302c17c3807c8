//! Fully connected networks: the course's `TwoLayerNet` and `FullyConnectedNet`.
//!
//! Architecture (L layers): `{affine − [batch/layer norm] − relu − [dropout]} × (L − 1)
//! − affine − softmax`. Regularisation is the course's model convention:
//! `0.5·reg·Σ W²` over the weight matrices only (not biases, `gamma` or `beta`), with
//! gradient `reg·W`.
//!
//! The forward pass keeps each layer's output; the backward pass reads them back
//! instead of keeping caches, skips the input gradient of the first layer (nobody
//! needs `dX` of the data), and takes `xᵀ` and `Wᵀ` as transposed GEMM views.
//!
//! ```
//! use nn::{FcConfig, FullyConnectedNet};
//! use nn::Model;
//! let mut net = FullyConnectedNet::<f64>::new(FcConfig { input_dim: 15, hidden_dims: vec![20, 30], num_classes: 10, weight_scale: Some(5e-2), ..FcConfig::default() });
//! let x = numeric::randn::<f64, _, _>((2, 15), &mut numeric::rng(0)).into_dyn();
//! let (loss, grads) = net.loss(&x.view(), &ndarray::array![3, 7].view());
//! assert!(loss > 0.0);
//! assert_eq!(grads.len(), 6); // W1 b1 W2 b2 W3 b3
//! ```

use ndarray::{Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewD, Ix1, Ix2};
use numeric::{Float, Rng};
use serde::{Deserialize, Serialize};

use crate::activations::{relu_backward_from_output, relu_inplace};
use crate::affine::{affine, affine_input_grad, affine_param_grads};
use crate::dropout::{DropoutCache, dropout_backward, dropout_forward};
use crate::error::{Error, Result};
use crate::layer::Mode;
use crate::layer_utils::Normalization;
use crate::limits::{self, MAX_PARAMETERS};
use crate::model::{Model, Params};
use crate::norm::{
    BatchNormParam, NormCache, batchnorm_backward, batchnorm_forward, layernorm_backward,
    layernorm_forward,
};
use linear::softmax_loss;

/// Hyper-parameters of a [`FullyConnectedNet`] (the course's constructor arguments).
/// The element type (f32/f64) is the model's type parameter; it is recorded in files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FcConfig {
    /// Size of one input row (3072 for CIFAR-10, 784 for Fashion-MNIST).
    pub input_dim: usize,
    /// Sizes of the hidden layers, first to last (`[100]` for a two-layer net).
    pub hidden_dims: Vec<usize>,
    /// Number of classes.
    pub num_classes: usize,
    /// Probability of *keeping* a hidden unit in dropout (1 = no dropout).
    pub dropout_keep: f64,
    /// Normalisation after each hidden affine layer.
    pub normalization: Normalization,
    /// L2 regularisation strength (loss term `0.5·reg·Σ W²`).
    pub reg: f64,
    /// Standard deviation of the initial weights; `None` is He initialisation,
    /// `√(2 / fan_in)` per layer (lecture 6: keeps relu activations from shrinking
    /// or exploding with depth).
    pub weight_scale: Option<f64>,
    /// Seed for the initial weights and the dropout masks.
    pub seed: u64,
}

impl Default for FcConfig {
    /// The course's defaults: CIFAR-10 shapes, no hidden layer given, no dropout or
    /// normalisation, reg 0, weight scale 1e-2, seed 0.
    fn default() -> Self {
        FcConfig {
            input_dim: 3 * 32 * 32,
            hidden_dims: Vec::new(),
            num_classes: 10,
            dropout_keep: 1.0,
            normalization: Normalization::None,
            reg: 0.0,
            weight_scale: Some(1e-2),
            seed: 0,
        }
    }
}

/// A fully connected network of any depth with optional batch/layer normalisation and
/// dropout, trained with softmax loss.
///
/// Parameters: `W1..WL`, `b1..bL`, and with normalisation `gamma1..gamma(L−1)` (ones)
/// and `beta1..beta(L−1)` (zeros). Batchnorm's running statistics are buffers
/// `running_mean{i}` / `running_var{i}`.
#[derive(Debug, Clone)]
pub struct FullyConnectedNet<T> {
    config: FcConfig,
    params: Params<T>,
    buffers: Params<T>,
    rng: Rng,
    fixed_dropout_seed: Option<u64>,
}

/// What the backward pass needs from one hidden layer.
struct HiddenLayer<T> {
    out: Array2<T>,
    norm: Option<NormCache<T>>,
    dropout: DropoutCache<T, Ix2>,
}

impl<T: Float> FullyConnectedNet<T> {
    /// A network with weights drawn from `N(0, weight_scale²)` (or He), zero biases,
    /// `gamma = 1`, `beta = 0`, seeded by `config.seed`.
    ///
    /// # Panics
    /// If `dropout_keep` is not in (0, 1] or a dimension is zero (see
    /// [`try_new`](Self::try_new) for the checked form).
    ///
    /// ```
    /// use nn::{FcConfig, FullyConnectedNet};
    /// use nn::Model;
    /// let net = FullyConnectedNet::<f32>::new(FcConfig { hidden_dims: vec![100, 50], normalization: nn::Normalization::BatchNorm, ..FcConfig::default() });
    /// assert_eq!(net.params()["W2"].shape(), &[100, 50]);
    /// assert_eq!(net.params()["gamma2"].shape(), &[50]);
    /// assert!(!net.params().contains_key("gamma3")); // no norm after the last layer
    /// ```
    pub fn new(config: FcConfig) -> Self {
        Self::try_new(config).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`new`](Self::new), with a typed error for an invalid configuration.
    ///
    /// ```
    /// use nn::{FcConfig, FullyConnectedNet};
    /// assert!(FullyConnectedNet::<f32>::try_new(FcConfig { dropout_keep: 0.0, ..FcConfig::default() }).is_err());
    /// ```
    pub fn try_new(config: FcConfig) -> Result<Self> {
        config.validate()?;
        let mut rng = numeric::rng(config.seed);
        let dims: Vec<usize> = std::iter::once(config.input_dim)
            .chain(config.hidden_dims.iter().copied())
            .chain(std::iter::once(config.num_classes))
            .collect();
        let mut params = Params::new();
        let mut buffers = Params::new();
        for (i, pair) in dims.windows(2).enumerate() {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let l = i + 1;
            let std = config
                .weight_scale
                .unwrap_or_else(|| (2.0 / fan_in as f64).sqrt());
            let w: Array2<T> = numeric::randn((fan_in, fan_out), &mut rng) * T::cast(std);
            params.insert(format!("W{l}"), w.into_dyn());
            params.insert(format!("b{l}"), ArrayD::zeros(vec![fan_out]));
            if l < dims.len() - 1 && config.normalization != Normalization::None {
                params.insert(format!("gamma{l}"), ArrayD::ones(vec![fan_out]));
                params.insert(format!("beta{l}"), ArrayD::zeros(vec![fan_out]));
                if config.normalization == Normalization::BatchNorm {
                    buffers.insert(format!("running_mean{l}"), ArrayD::zeros(vec![fan_out]));
                    buffers.insert(format!("running_var{l}"), ArrayD::zeros(vec![fan_out]));
                }
            }
        }
        Ok(FullyConnectedNet {
            config,
            params,
            buffers,
            rng,
            fixed_dropout_seed: None,
        })
    }

    /// The hyper-parameters.
    ///
    /// ```
    /// let net = nn::FullyConnectedNet::<f32>::new(nn::FcConfig { hidden_dims: vec![7], ..Default::default() });
    /// assert_eq!(net.fc_config().hidden_dims, vec![7]);
    /// ```
    pub fn fc_config(&self) -> &FcConfig {
        &self.config
    }

    /// Sets the regularisation strength (the course's `model.reg = ...`).
    ///
    /// ```
    /// let mut net = nn::FullyConnectedNet::<f32>::new(Default::default());
    /// net.set_reg(3.14);
    /// assert_eq!(net.fc_config().reg, 3.14);
    /// ```
    pub fn set_reg(&mut self, reg: f64) {
        self.config.reg = reg;
    }

    /// With `Some(seed)`, every call draws the same dropout masks (from a generator
    /// seeded afresh): the course's `dropout_param['seed']`, which makes the loss a
    /// deterministic function of the parameters so it can be gradient-checked.
    /// With `None` (the default) masks come from the model's own seeded stream.
    ///
    /// ```
    /// let mut net = nn::FullyConnectedNet::<f64>::new(nn::FcConfig { dropout_keep: 0.5, ..Default::default() });
    /// net.set_fixed_dropout_seed(Some(123));
    /// ```
    pub fn set_fixed_dropout_seed(&mut self, seed: Option<u64>) {
        self.fixed_dropout_seed = seed;
    }

    fn num_layers(&self) -> usize {
        self.config.hidden_dims.len() + 1
    }

    fn p1(&self, name: &str) -> ArrayView1<'_, T> {
        self.params[name]
            .view()
            .into_dimensionality::<Ix1>()
            .expect("1-d parameter")
    }

    fn p2(&self, name: &str) -> ArrayView2<'_, T> {
        self.params[name]
            .view()
            .into_dimensionality::<Ix2>()
            .expect("2-d parameter")
    }

    /// Forward pass through every layer: scores and, per hidden layer, what backward needs.
    fn forward(&mut self, x: &ArrayView2<'_, T>, mode: Mode) -> (Array2<T>, Vec<HiddenLayer<T>>) {
        let num_layers = self.num_layers();
        let mut hidden: Vec<HiddenLayer<T>> = Vec::with_capacity(num_layers - 1);
        let mut dropout_rng = self.fixed_dropout_seed.map(numeric::rng);
        for l in 1..num_layers {
            let input = hidden.last().map_or(x.view(), |h| h.out.view());
            let mut a = affine(
                &input,
                &self.p2(&format!("W{l}")),
                &self.p1(&format!("b{l}")),
            );
            let norm = match self.config.normalization {
                Normalization::None => None,
                kind => {
                    let gamma = self.p1(&format!("gamma{l}")).to_owned();
                    let beta = self.p1(&format!("beta{l}")).to_owned();
                    let (out, cache) = if kind == Normalization::BatchNorm {
                        let mut bn = self.batchnorm_param(l);
                        let r = batchnorm_forward(
                            &a.view(),
                            &gamma.view(),
                            &beta.view(),
                            &mut bn,
                            mode,
                        );
                        self.store_batchnorm_param(l, bn);
                        r
                    } else {
                        layernorm_forward(&a.view(), &gamma.view(), &beta.view(), 1e-5)
                    };
                    a = out;
                    Some(cache)
                }
            };
            relu_inplace(&mut a.view_mut());
            let rng = dropout_rng.as_mut().unwrap_or(&mut self.rng);
            let (out, dropout) = if self.config.dropout_keep < 1.0 {
                dropout_forward(&a.view(), self.config.dropout_keep, mode, rng)
            } else {
                (a, DropoutCache::identity())
            };
            hidden.push(HiddenLayer { out, norm, dropout });
        }
        let input = hidden.last().map_or(x.view(), |h| h.out.view());
        let l = num_layers;
        let scores = affine(
            &input,
            &self.p2(&format!("W{l}")),
            &self.p1(&format!("b{l}")),
        );
        (scores, hidden)
    }

    fn batchnorm_param(&self, l: usize) -> BatchNormParam<T> {
        let get = |k: String| {
            self.buffers[&k]
                .view()
                .into_dimensionality::<Ix1>()
                .expect("1-d buffer")
                .to_owned()
        };
        BatchNormParam {
            running_mean: get(format!("running_mean{l}")),
            running_var: get(format!("running_var{l}")),
            momentum: 0.9,
            eps: 1e-5,
        }
    }

    fn store_batchnorm_param(&mut self, l: usize, bn: BatchNormParam<T>) {
        self.buffers
            .insert(format!("running_mean{l}"), bn.running_mean.into_dyn());
        self.buffers
            .insert(format!("running_var{l}"), bn.running_var.into_dyn());
    }

    fn rows<'a>(&self, x: &'a ArrayViewD<'_, T>) -> ArrayView2<'a, T> {
        let n = x.shape().first().copied().unwrap_or(0);
        let d = self.config.input_dim;
        assert_eq!(
            x.len(),
            n * d,
            "FullyConnectedNet: input of shape {:?} is not N rows of {d} values",
            x.shape()
        );
        x.view()
            .into_shape_with_order((n, d))
            .expect("batches are contiguous rows; copy non-standard layouts first")
    }
}

impl FcConfig {
    /// Checks the hyper-parameters make a network.
    ///
    /// ```
    /// assert!(nn::FcConfig { num_classes: 0, ..Default::default() }.validate().is_err());
    /// assert!(nn::FcConfig::default().validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<()> {
        if !(self.dropout_keep > 0.0 && self.dropout_keep <= 1.0) {
            return Err(Error::config(
                "FullyConnectedNet",
                format!(
                    "dropout keep probability must be in (0, 1], got {}",
                    self.dropout_keep
                ),
            ));
        }
        if self.input_dim == 0 || self.num_classes == 0 || self.hidden_dims.contains(&0) {
            return Err(Error::config(
                "FullyConnectedNet",
                format!(
                    "layer sizes must be positive: input {}, hidden {:?}, classes {}",
                    self.input_dim, self.hidden_dims, self.num_classes
                ),
            ));
        }
        if self.reg < 0.0 || !self.reg.is_finite() {
            return Err(Error::config(
                "FullyConnectedNet",
                format!("reg must be finite and non-negative, got {}", self.reg),
            ));
        }
        if let Some(s) = self.weight_scale
            && !(s > 0.0 && s.is_finite())
        {
            return Err(Error::config(
                "FullyConnectedNet",
                format!("weight scale must be positive, got {s}"),
            ));
        }
        let what = "the FullyConnectedNet configuration";
        limits::check(what, self.parameter_count(), "parameters", MAX_PARAMETERS)?;
        Ok(())
    }

    /// The number of trainable parameters (weights, biases, and γ, β with
    /// normalisation), or `None` when it overflows: checked before allocating.
    ///
    /// ```
    /// let c = nn::FcConfig { input_dim: 4, hidden_dims: vec![3], num_classes: 2, ..Default::default() };
    /// assert_eq!(c.parameter_count(), Some(4 * 3 + 3 + 3 * 2 + 2));
    /// ```
    pub fn parameter_count(&self) -> Option<usize> {
        let dims: Vec<usize> = std::iter::once(self.input_dim)
            .chain(self.hidden_dims.iter().copied())
            .chain(std::iter::once(self.num_classes))
            .collect();
        let norm = usize::from(self.normalization != Normalization::None);
        let mut total = 0usize;
        for (l, pair) in dims.windows(2).enumerate() {
            let hidden = l + 2 < dims.len();
            let weights = pair[0].checked_mul(pair[1])?;
            let per_unit = 1 + if hidden { 2 * norm } else { 0 };
            total = total
                .checked_add(weights)?
                .checked_add(pair[1].checked_mul(per_unit)?)?;
        }
        Some(total)
    }
}

impl<T: Float> Model<T> for FullyConnectedNet<T> {
    fn params(&self) -> &Params<T> {
        &self.params
    }

    fn params_mut(&mut self) -> &mut Params<T> {
        &mut self.params
    }

    fn buffers(&self) -> Option<&Params<T>> {
        Some(&self.buffers)
    }

    fn buffers_mut(&mut self) -> Option<&mut Params<T>> {
        Some(&mut self.buffers)
    }

    fn loss(&mut self, x: &ArrayViewD<'_, T>, y: &ArrayView1<'_, usize>) -> (T, Params<T>) {
        let x = self.rows(x);
        let (scores, mut hidden) = self.forward(&x, Mode::Train);
        let (data_loss, mut dout) = softmax_loss(&scores.view(), y);
        let reg = T::cast(self.config.reg);
        let mut grads = Params::new();
        let mut reg_loss = T::zero();
        for l in (1..=self.num_layers()).rev() {
            let w_name = format!("W{l}");
            let w = self.p2(&w_name);
            let input = if l == 1 {
                x.view()
            } else {
                hidden[l - 2].out.view()
            };
            let (mut dw, db) = affine_param_grads(&input, &dout.view());
            if reg != T::zero() {
                reg_loss += w.iter().map(|&v| v * v).sum::<T>();
                dw.zip_mut_with(&w, |g, &w| *g += reg * w);
            }
            if l > 1 {
                // Back through layer l−1's dropout, relu and normalisation.
                let dh = affine_input_grad(&dout.view(), &w);
                let layer = hidden.pop().expect("one entry per hidden layer");
                let mut da = dropout_backward(&dh.view(), &layer.dropout);
                relu_backward_from_output(&mut da.view_mut(), &layer.out.view());
                dout = match (&layer.norm, self.config.normalization) {
                    (Some(cache), Normalization::BatchNorm) => {
                        let (dx, dgamma, dbeta) = batchnorm_backward(&da.view(), cache);
                        grads.insert(format!("gamma{}", l - 1), dgamma.into_dyn());
                        grads.insert(format!("beta{}", l - 1), dbeta.into_dyn());
                        dx
                    }
                    (Some(cache), _) => {
                        let (dx, dgamma, dbeta) = layernorm_backward(&da.view(), cache);
                        grads.insert(format!("gamma{}", l - 1), dgamma.into_dyn());
                        grads.insert(format!("beta{}", l - 1), dbeta.into_dyn());
                        dx
                    }
                    (None, _) => da,
                };
            }
            grads.insert(w_name, dw.into_dyn());
            grads.insert(format!("b{l}"), db.into_dyn());
        }
        let loss = data_loss + T::cast(0.5) * reg * reg_loss;
        (loss, grads)
    }

    fn scores(&mut self, x: &ArrayViewD<'_, T>) -> Array2<T> {
        let x = self.rows(x);
        self.forward(&x, Mode::Test).0
    }

    fn config(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.config).expect("config serialises");
        v["kind"] = "FullyConnectedNet".into();
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

/// The course's `TwoLayerNet`: `affine − relu − affine − softmax`, weights
/// `N(0, weight_scale²)`, zero biases.
///
/// It is a [`FullyConnectedNet`] with one hidden layer (one implementation of the
/// passes); it keeps its own configuration so that files say `"TwoLayerNet"`.
#[derive(Debug, Clone)]
pub struct TwoLayerNet<T> {
    config: TwoLayerConfig,
    net: FullyConnectedNet<T>,
}

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
        Ok(TwoLayerNet {
            config,
            net: FullyConnectedNet::try_new(config.into())?,
        })
    }

    /// Sets the regularisation strength (the course's `model.reg = ...`).
    ///
    /// ```
    /// let mut net = nn::TwoLayerNet::<f64>::new(Default::default());
    /// net.set_reg(1.0);
    /// ```
    pub fn set_reg(&mut self, reg: f64) {
        self.config.reg = reg;
        self.net.set_reg(reg);
    }
}

impl<T: Float> Model<T> for TwoLayerNet<T> {
    fn params(&self) -> &Params<T> {
        self.net.params()
    }
    fn params_mut(&mut self) -> &mut Params<T> {
        self.net.params_mut()
    }
    fn loss(&mut self, x: &ArrayViewD<'_, T>, y: &ArrayView1<'_, usize>) -> (T, Params<T>) {
        self.net.loss(x, y)
    }
    fn scores(&mut self, x: &ArrayViewD<'_, T>) -> Array2<T> {
        self.net.scores(x)
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
