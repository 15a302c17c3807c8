//! [`SequentialNet`]: any stack of layers written as an architecture spec (see
//! [`crate::arch`]), e.g. the course's "[conv-relu-pool]xN - [affine]xM - softmax"
//! family. The spec is what model files store, so a saved net is rebuilt from it.
//!
//! The net is a list of [`Layer`]s: its forward pass runs them in order, keeping each
//! one's cache; its backward pass runs them in reverse. That loop is the whole model.

use ndarray::{Array2, ArrayD, ArrayView1, ArrayViewD, Ix2, IxDyn};
use numeric::Float;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::layer::{Cache, Init, Layer, Mode};
use crate::model::{Model, Params, check_kind, regularise};

/// Hyper-parameters of a [`SequentialNet`]: the architecture spec and the rest.
///
/// ```
/// let c = nn::SequentialNetConfig::new("conv8x3-relu-pool,fc10", &[3, 32, 32]);
/// assert_eq!(c.weight_scale, None); // He initialisation
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialNetConfig {
    /// The architecture spec ([`crate::parse_arch`]).
    pub arch: String,
    /// Shape of one input: (C, H, W) images, or (D,) rows for an fc-only net.
    pub input_shape: Vec<usize>,
    /// L2 regularisation `0.5·reg·Σp²` over the parameters the layers decay (conv
    /// and fc weights).
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
    /// let c = nn::SequentialNetConfig::new("fc10", &[784]);
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

    /// The number of trainable parameters this configuration asks for, computed
    /// without allocating them.
    ///
    /// # Errors
    /// As [`SequentialNet::new`].
    ///
    /// ```
    /// let c = nn::SequentialNetConfig::new("fc10", &[784]);
    /// assert_eq!(c.parameter_count()?, 7850);
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn parameter_count(&self) -> Result<usize> {
        let layers = crate::arch::build::<f32>(&self.arch, &self.input_shape, self.seed)?;
        Ok(layers
            .iter()
            .flat_map(|l| l.params())
            .map(|p| p.shape.iter().product::<usize>())
            .sum())
    }
}

/// A network built from an architecture spec (see [`crate::parse_arch`]).
///
/// Parameters are named after the weight layer they belong to, counting conv and fc
/// layers from 1: `W1`, `b1` (first conv), `gamma1`, `beta1` (its batchnorm), ...;
/// batchnorm's running statistics are buffers `running_mean1`, `running_var1`.
/// [`Model::loss`] runs in train mode (batch statistics, dropout);
/// [`Model::scores`] in test mode.
///
/// ```
/// use nn::{Model, SequentialNet, SequentialNetConfig};
/// let net = SequentialNet::<f32>::new(SequentialNetConfig::new("conv8x3-bn-relu-pool,fc10", &[3, 32, 32]))?;
/// assert_eq!(net.params()["W2"].shape(), &[8 * 16 * 16, 10]);
/// assert!(net.buffers().unwrap().contains_key("running_var1"));
/// # Ok::<(), nn::Error>(())
/// ```
#[derive(Debug)]
pub struct SequentialNet<T> {
    config: SequentialNetConfig,
    layers: Vec<Box<dyn Layer<T>>>,
    params: Params<T>,
    buffers: Params<T>,
    /// The parameters regularisation decays, as the layers say.
    decayed: Vec<String>,
}

impl<T: Float> SequentialNet<T> {
    /// Builds the layers of the spec (checking every layer's shape against its input
    /// and the sizes against [`crate::limits`]), then initialises the weights (He or
    /// `weight_scale`, seeded), zero biases, unit gamma, zero beta.
    ///
    /// # Errors
    /// [`Error::Spec`] for a malformed spec or a layer that does not fit;
    /// [`Error::TooLarge`] for a net over the size limits; [`Error::Config`] for a
    /// negative `reg` or a non-finite weight scale.
    ///
    /// ```
    /// use nn::{SequentialNet, SequentialNetConfig};
    /// let err = SequentialNet::<f32>::new(SequentialNetConfig::new("fc10,conv8x3,fc10", &[3, 8, 8])).unwrap_err();
    /// assert!(err.to_string().contains("conv8x3"));
    /// ```
    pub fn new(config: SequentialNetConfig) -> Result<Self> {
        if !(config.reg.is_finite() && config.reg >= 0.0)
            || config.weight_scale.is_some_and(|s| !s.is_finite())
        {
            return Err(Error::config(
                "SequentialNet",
                format!(
                    "reg must be finite and ≥ 0, weight_scale finite: {} {:?}",
                    config.reg, config.weight_scale
                ),
            ));
        }
        let layers = crate::arch::build::<T>(&config.arch, &config.input_shape, config.seed)?;
        let mut rng = numeric::rng(config.seed);
        let mut params = Params::new();
        let mut buffers = Params::new();
        let mut decayed = Vec::new();
        for layer in &layers {
            for p in layer.params() {
                let value = match p.init {
                    Init::Weights { fan_in } => {
                        let std = config
                            .weight_scale
                            .unwrap_or_else(|| (2.0 / fan_in as f64).sqrt());
                        numeric::randn::<T, _, _>(IxDyn(&p.shape), &mut rng) * T::cast(std)
                    }
                    Init::Zeros => ArrayD::zeros(IxDyn(&p.shape)),
                    Init::Ones => ArrayD::ones(IxDyn(&p.shape)),
                };
                if p.decay {
                    decayed.push(p.name.clone());
                }
                params.insert(p.name, value);
            }
            for b in layer.buffers() {
                buffers.insert(b.name, ArrayD::zeros(IxDyn(&b.shape)));
            }
        }
        Ok(Self {
            config,
            layers,
            params,
            buffers,
            decayed,
        })
    }

    /// Rebuilds a net (fresh weights) from [`Model::config`]'s JSON.
    ///
    /// # Errors
    /// [`Error::Config`] if the JSON is not a SequentialNet configuration, and
    /// [`SequentialNet::new`]'s errors for its spec.
    ///
    /// ```
    /// use nn::{Model, SequentialNet, SequentialNetConfig};
    /// let net = SequentialNet::<f32>::new(SequentialNetConfig::new("conv4x3-relu,fc10", &[1, 6, 6]))?;
    /// let copy = SequentialNet::<f32>::from_config(&net.config())?;
    /// assert_eq!(copy.settings(), net.settings());
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn from_config(value: &Value) -> Result<Self> {
        Self::new(Self::parse_config(value)?)
    }

    /// The [`SequentialNetConfig`] in a stored configuration.
    pub(crate) fn parse_config(value: &Value) -> Result<SequentialNetConfig> {
        check_kind(value, "SequentialNet")?;
        serde_json::from_value(value.clone())
            .map_err(|e| Error::config("SequentialNet", e.to_string()))
    }

    /// Number of classes scored: the width of the last layer's output.
    ///
    /// ```
    /// let net = nn::SequentialNet::<f32>::new(nn::SequentialNetConfig::new("conv4x3-relu,fc7", &[1, 5, 5]))?;
    /// assert_eq!(net.num_classes(), 7);
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn num_classes(&self) -> usize {
        let mut shape = self.config.input_shape.clone();
        for layer in &self.layers {
            shape = layer.output_shape(&shape).expect("checked when built");
        }
        shape.iter().product()
    }

    /// The configuration this net was built with.
    ///
    /// ```
    /// let net = nn::SequentialNet::<f32>::new(nn::SequentialNetConfig::new("fc3", &[4]))?;
    /// assert_eq!(net.settings().arch, "fc3");
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn settings(&self) -> &SequentialNetConfig {
        &self.config
    }

    /// The layers, first to last.
    ///
    /// ```
    /// let net = nn::SequentialNet::<f32>::new(nn::SequentialNetConfig::new("fc3-relu,fc2", &[4]))?;
    /// let names: Vec<String> = net.layers().iter().map(|l| l.name()).collect();
    /// assert_eq!(names, ["fc3", "relu", "fc2"]);
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn layers(&self) -> &[Box<dyn Layer<T>>] {
        &self.layers
    }

    /// Forward pass in `mode`: the scores and, with `keep_caches`, every layer's cache.
    fn forward(
        &mut self,
        x: &ArrayViewD<'_, T>,
        mode: Mode,
        keep_caches: bool,
    ) -> (Array2<T>, Vec<Cache>) {
        let input_shape = &self.config.input_shape;
        assert!(
            x.ndim() == input_shape.len() + 1 && x.shape()[1..] == *input_shape,
            "expected a batch of shape (N, {input_shape:?}), got {:?}",
            x.shape()
        );
        let mut a: ArrayD<T> = x.as_standard_layout().into_owned();
        let mut caches = Vec::with_capacity(if keep_caches { self.layers.len() } else { 0 });
        for layer in &mut self.layers {
            let (out, cache) = layer.forward(a, &self.params, &mut self.buffers, mode);
            a = out;
            if keep_caches {
                caches.push(cache);
            }
        }
        let n = a.shape()[0];
        let d = a.len() / n.max(1);
        let scores = a
            .into_shape_with_order((n, d))
            .expect("scores")
            .into_dimensionality::<Ix2>()
            .expect("2-d");
        (scores, caches)
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
        let (data_loss, dscores) = linear::softmax_loss(&scores.view(), y);
        let mut grads = Params::new();
        let mut dout = dscores.into_dyn();
        for (i, (layer, cache)) in self.layers.iter().zip(&caches).enumerate().rev() {
            // Nobody needs the gradient of the data: the first layer skips dx.
            let (dx, layer_grads) = layer.backward(dout, cache, &self.params, i > 0);
            grads.extend(layer_grads);
            dout = dx;
        }
        let penalty = regularise(&self.params, &mut grads, self.config.reg, &self.decayed);
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

    fn num_classes(&self) -> usize {
        SequentialNet::num_classes(self)
    }

    fn buffers(&self) -> Option<&Params<T>> {
        (!self.buffers.is_empty()).then_some(&self.buffers)
    }

    fn buffers_mut(&mut self) -> Option<&mut Params<T>> {
        (!self.buffers.is_empty()).then_some(&mut self.buffers)
    }
}
