//! The course's `FullyConnectedNet` (`classifiers/fc_net.py`):
//! `{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax`,
//! its loss written as the course writes it, with the sandwich layers of
//! `layer_utils.rs`. Regularisation is the course's model convention:
//! `0.5·reg·Σ W²` over the weight matrices only (not biases, `gamma` or `beta`), with
//! gradient `reg·W`.
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

use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewD, CowArray, Ix1, Ix2};
use numeric::{Float, Rng};
use serde::{Deserialize, Serialize};

use crate::affine::{AffineCache, affine_backward, affine_backward_no_dx, affine_forward};
use crate::dropout::{DropoutCache, dropout_backward, dropout_forward};
use crate::error::{Error, Result};
use crate::layer::Mode;
use crate::layer_utils::{
    AffineNormReluCache, AffineReluCache, Normalization, affine_norm_relu_backward,
    affine_norm_relu_backward_no_dx, affine_norm_relu_forward, affine_relu_backward,
    affine_relu_backward_no_dx, affine_relu_forward,
};
use crate::limits::{self, MAX_PARAMETERS};
use crate::model::{Model, Params, regularise};
use crate::norm::BatchNormParam;
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

/// What the backward pass needs from one hidden layer: the sandwich's cache and,
/// with dropout, the mask.
struct Hidden<'a, T> {
    cache: HiddenCache<'a, T>,
    dropout: Option<DropoutCache<T, Ix2>>,
}

/// The cache of `affine - relu` or of `affine - norm - relu`.
enum HiddenCache<'a, T> {
    Plain(AffineReluCache<'a, T>),
    Norm(AffineNormReluCache<'a, T>),
}

/// One hidden layer's gradients: `dW`, `db` and, with normalisation, `dgamma`, `dbeta`.
type HiddenGrads<T> = (Array2<T>, Array1<T>, Option<(Array1<T>, Array1<T>)>);

impl<T: Float> HiddenCache<'_, T> {
    /// The sandwich's backward pass; `dx` only when `need_dx`.
    fn backward(
        &self,
        dout: &ArrayView2<'_, T>,
        need_dx: bool,
    ) -> (Option<Array2<T>>, HiddenGrads<T>) {
        match (self, need_dx) {
            (HiddenCache::Plain(cache), true) => {
                let (dx, dw, db) = affine_relu_backward(dout, cache);
                (Some(dx), (dw, db, None))
            }
            (HiddenCache::Plain(cache), false) => {
                let (dw, db) = affine_relu_backward_no_dx(dout, cache);
                (None, (dw, db, None))
            }
            (HiddenCache::Norm(cache), true) => {
                let (dx, dw, db, dgamma, dbeta) = affine_norm_relu_backward(dout, cache);
                (Some(dx), (dw, db, Some((dgamma, dbeta))))
            }
            (HiddenCache::Norm(cache), false) => {
                let (dw, db, dgamma, dbeta) = affine_norm_relu_backward_no_dx(dout, cache);
                (None, (dw, db, Some((dgamma, dbeta))))
            }
        }
    }
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

    /// The forward pass of `fc_net.py`'s `loss`: the scores, and what the backward
    /// pass needs from each hidden layer and from the last affine layer. The caches
    /// borrow the weights and the data; hidden activations move into them.
    fn forward<'a>(
        &'a mut self,
        x: CowArray<'a, T, Ix2>,
        mode: Mode,
    ) -> (Array2<T>, Vec<Hidden<'a, T>>, AffineCache<'a, T>) {
        let FullyConnectedNet {
            config,
            params,
            buffers,
            rng,
            fixed_dropout_seed,
        } = self;
        let params: &'a Params<T> = params;
        let mut dropout_rng = fixed_dropout_seed.map(numeric::rng);
        let mut hidden = Vec::with_capacity(config.hidden_dims.len());
        let mut out = x;
        for l in 1..=config.hidden_dims.len() {
            let (w, b) = (p2(params, &format!("W{l}")), p1(params, &format!("b{l}")));
            let (h, cache) = match config.normalization {
                Normalization::None => {
                    let (h, cache) = affine_relu_forward(out, w, &b);
                    (h, HiddenCache::Plain(cache))
                }
                kind => {
                    let gamma = p1(params, &format!("gamma{l}"));
                    let beta = p1(params, &format!("beta{l}"));
                    let mut bn = match kind {
                        Normalization::BatchNorm => batchnorm_param(buffers, l),
                        _ => BatchNormParam::new(b.len()),
                    };
                    let (h, cache) =
                        affine_norm_relu_forward(out, w, &b, &gamma, &beta, kind, &mut bn, mode);
                    if kind == Normalization::BatchNorm {
                        store_batchnorm_param(buffers, l, bn);
                    }
                    (h, HiddenCache::Norm(cache))
                }
            };
            let (h, dropout) = if config.dropout_keep < 1.0 {
                let rng = dropout_rng.as_mut().unwrap_or(&mut *rng);
                let (h, cache) = dropout_forward(&h.view(), config.dropout_keep, mode, rng);
                (h, Some(cache))
            } else {
                (h, None)
            };
            hidden.push(Hidden { cache, dropout });
            out = h.into();
        }
        let l = config.hidden_dims.len() + 1;
        let (w, b) = (p2(params, &format!("W{l}")), p1(params, &format!("b{l}")));
        let (scores, last) = affine_forward(out, w, &b);
        (scores, hidden, last)
    }
}

/// The backward pass of `fc_net.py`'s `loss`: from `dscores` back through the last
/// affine layer, then each hidden layer's dropout and sandwich; one gradient per
/// parameter (without regularisation).
fn backward<T: Float>(
    dscores: &ArrayView2<'_, T>,
    hidden: &[Hidden<'_, T>],
    last: &AffineCache<'_, T>,
) -> Params<T> {
    let mut grads = Params::new();
    let l = hidden.len() + 1;
    if hidden.is_empty() {
        // Softmax regression: the only layer's input is the data, which needs no
        // gradient.
        let (dw, db) = affine_backward_no_dx(dscores, last);
        grads.insert("W1".into(), dw.into_dyn());
        grads.insert("b1".into(), db.into_dyn());
        return grads;
    }
    let (mut dout, dw, db) = affine_backward(dscores, last);
    grads.insert(format!("W{l}"), dw.into_dyn());
    grads.insert(format!("b{l}"), db.into_dyn());
    for (i, layer) in hidden.iter().enumerate().rev() {
        let l = i + 1;
        if let Some(cache) = &layer.dropout {
            dout = dropout_backward(&dout.view(), cache);
        }
        // The data needs no gradient: the first layer skips dx.
        let (dx, (dw, db, norm)) = layer.cache.backward(&dout.view(), l > 1);
        grads.insert(format!("W{l}"), dw.into_dyn());
        grads.insert(format!("b{l}"), db.into_dyn());
        if let Some((dgamma, dbeta)) = norm {
            grads.insert(format!("gamma{l}"), dgamma.into_dyn());
            grads.insert(format!("beta{l}"), dbeta.into_dyn());
        }
        if let Some(dx) = dx {
            dout = dx;
        }
    }
    grads
}

/// Batchnorm's running statistics of hidden layer `l`, from the buffers.
fn batchnorm_param<T: Float>(buffers: &Params<T>, l: usize) -> BatchNormParam<T> {
    let get = |k: String| {
        buffers[&k]
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

/// Stores batchnorm's updated running statistics of hidden layer `l`.
fn store_batchnorm_param<T: Float>(buffers: &mut Params<T>, l: usize, bn: BatchNormParam<T>) {
    buffers.insert(format!("running_mean{l}"), bn.running_mean.into_dyn());
    buffers.insert(format!("running_var{l}"), bn.running_var.into_dyn());
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
        let x = as_rows(x, self.config.input_dim, "FullyConnectedNet");
        let (data_loss, mut grads) = {
            let (scores, hidden, last) = self.forward(x, Mode::Train);
            let (data_loss, dscores) = softmax_loss(&scores.view(), y);
            (data_loss, backward(&dscores.view(), &hidden, &last))
        };
        let weights: Vec<String> = (1..=self.config.hidden_dims.len() + 1)
            .map(|l| format!("W{l}"))
            .collect();
        let reg_loss = regularise(&self.params, &mut grads, self.config.reg, &weights);
        (data_loss + reg_loss, grads)
    }

    fn scores(&mut self, x: &ArrayViewD<'_, T>) -> Array2<T> {
        let x = as_rows(x, self.config.input_dim, "FullyConnectedNet");
        self.forward(x, Mode::Test).0
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

/// A batch as rows (N, D), each example flattened as the course's `affine_forward`
/// does: borrowed for a batch in standard layout, copied otherwise.
///
/// # Panics
/// If the examples do not hold `d` values each.
pub(crate) fn as_rows<'a, T: Float>(
    x: &ArrayViewD<'a, T>,
    d: usize,
    model: &str,
) -> CowArray<'a, T, Ix2> {
    let n = x.shape().first().copied().unwrap_or(0);
    assert_eq!(
        x.len(),
        n * d,
        "{model}: input of shape {:?} is not N rows of {d} values",
        x.shape()
    );
    let x = CowArray::from(x.clone());
    let x = if x.is_standard_layout() {
        x
    } else {
        CowArray::from(x.as_standard_layout().into_owned())
    };
    x.into_shape_with_order((n, d))
        .expect("a standard-layout batch reshapes to rows")
}

/// A 1-d parameter (a bias, `gamma`, `beta`) by name.
pub(crate) fn p1<'a, T>(params: &'a Params<T>, name: &str) -> ArrayView1<'a, T> {
    params[name]
        .view()
        .into_dimensionality::<Ix1>()
        .expect("1-d parameter")
}

/// A 2-d parameter (a weight matrix) by name.
pub(crate) fn p2<'a, T>(params: &'a Params<T>, name: &str) -> ArrayView2<'a, T> {
    params[name]
        .view()
        .into_dimensionality::<Ix2>()
        .expect("2-d parameter")
}
