//! The fast-training recipe's network (airbench94, Keller Jordan 2024): a small
//! VGG-style convnet that reaches 94% on CIFAR-10 in under ten epochs.
//!
//! ```text
//! conv 2×2, C→24, no padding, bias           the frozen whitening layer (whitening.rs)
//! GELU
//! block(24→64), block(64→256), block(256→256), block(ci→co) =
//!     conv3×3 'same' → maxpool 2 → batchnorm → GELU → conv3×3 'same' → batchnorm → GELU
//! maxpool 3 → flatten → linear 256→10, no bias, scores × 1/9
//! ```
//!
//! Each batchnorm and the GELU after it run as one fused layer ([`BatchNormGelu`]):
//! the same numbers with fewer passes over the activations.
//!
//! Parameters are numbered by weight layer: `W1`, `b1` the whitening conv; `W2`…`W7`
//! the block convs with their batchnorms `gamma2`, `beta2`, …; `W8` the head. Block
//! convs have no bias (batchnorm's β follows): their `b2`…`b7` exist for the conv
//! layer's sake, stay zero and are never trained, as are the batchnorm scales (γ = 1).
//! [`ParamRole`] says how the recipe treats each tensor.
//!
//! Initialisation as airbench94 (PyTorch's defaults, then):
//! - each block conv's first `ci` filters are the identity on the input channels
//!   ("Dirac"), so a fresh block starts by passing its input through;
//! - the other weights are uniform in ±1/√fan_in;
//! - the whitening filters come from the data ([`Airbench94::init_whitening`]).
//!
//! ```
//! use nn::{Airbench94, Airbench94Config, Model};
//! let net = Airbench94::<f32>::new(Airbench94Config::default())?;
//! assert_eq!(net.params()["W1"].shape(), &[24, 3, 2, 2]);
//! assert_eq!(net.params()["W8"].shape(), &[256, 10]);
//! // 1.97 M trained numbers: the conv and head weights, the whitening bias and β.
//! let trained: usize = net.params().iter().filter(|(k, _)| net.role(k).trains()).map(|(_, v)| v.len()).sum();
//! assert_eq!(trained, 1_970_176 + 24 + 1_152);
//! # Ok::<(), nn::Error>(())
//! ```

use ndarray::{Array2, ArrayD, ArrayView1, ArrayView4, ArrayViewD, Ix2, IxDyn};
use numeric::Float;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::label_smoothing::softmax_loss_smoothed;
use crate::layer::{Cache, Init, Layer, Mode};
use crate::model::{Model, Params, check_kind};
use crate::norm::NormNames;
use crate::{
    BatchNormGelu, Conv, Flatten, FloorMaxPool, Gelu, ScaledLinear, SpatialBatchNorm,
    whitening_filters,
};

/// The shape and hyper-parameters of an [`Airbench94`] net.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Airbench94Config {
    /// One example (C, H, W); H and W at least 25 so that every pool has a window.
    pub input_shape: Vec<usize>,
    /// Widths of the three blocks (64, 256, 256).
    pub widths: [usize; 3],
    /// Number of classes.
    pub num_classes: usize,
    /// Batchnorm momentum in PyTorch's convention (weight of the new batch): 0.6.
    pub bn_momentum: f64,
    /// Batchnorm eps (1e-12).
    pub bn_eps: f64,
    /// Factor on the head's scores (1/9).
    pub scaling: f64,
    /// Label smoothing of the loss (0.2).
    pub label_smoothing: f64,
    /// Seed of the initial weights.
    pub seed: u64,
    /// The first conv holds whitening filters set from the data and frozen (true);
    /// false makes it an ordinary trained conv, initialised like the others (an
    /// ablation). Files written before this setting existed whiten.
    #[serde(default = "whitening_default")]
    pub whitening: bool,
}

fn whitening_default() -> bool {
    true
}

impl Default for Airbench94Config {
    fn default() -> Self {
        Self {
            input_shape: vec![3, 32, 32],
            widths: [64, 256, 256],
            num_classes: 10,
            bn_momentum: 0.6,
            bn_eps: 1e-12,
            scaling: 1.0 / 9.0,
            label_smoothing: 0.2,
            seed: 0,
            whitening: true,
        }
    }
}

/// How the recipe trains a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamRole {
    /// The whitening filters: set from the data, never trained.
    Whitening,
    /// The whitening bias: trained, for the first epochs only.
    WhiteningBias,
    /// Conv and head weights: the learning rate and weight decay.
    Weight,
    /// Batchnorm β: the learning rate × bias_scaler, the same decay.
    NormBias,
    /// Block conv biases and batchnorm γ: held at 0 and 1.
    Fixed,
}

impl ParamRole {
    /// Whether the optimiser ever moves it.
    pub fn trains(self) -> bool {
        !matches!(self, ParamRole::Whitening | ParamRole::Fixed)
    }
}

/// The airbench94 network (module docs), a [`Model`] whose loss is label-smoothed.
#[derive(Debug)]
pub struct Airbench94<T> {
    config: Airbench94Config,
    layers: Vec<Box<dyn Layer<T>>>,
    params: Params<T>,
    buffers: Params<T>,
}

impl<T: Float> Airbench94<T> {
    /// Builds the layers, checks every shape, and initialises the weights (seeded);
    /// the whitening filters are zero until [`init_whitening`](Self::init_whitening).
    ///
    /// # Errors
    /// [`Error::Config`] for images too small for the pools, zero widths or classes,
    /// or a hyper-parameter out of range.
    pub fn new(config: Airbench94Config) -> Result<Self> {
        let bad = |reason: String| Error::config("Airbench94", reason);
        let &[c, h, w] = &config.input_shape[..] else {
            return Err(bad(format!(
                "input_shape must be (C, H, W), got {:?}",
                config.input_shape
            )));
        };
        if c == 0 || config.widths.contains(&0) || config.num_classes == 0 {
            return Err(bad("channels, widths and classes must be positive".into()));
        }
        if h < 25
            || w < 25
            || h > 4096
            || w > 4096
            || c > 64
            || config.widths.iter().any(|&k| k > 4096)
        {
            return Err(bad(format!(
                "images of {h}×{w} with {c} channels and widths {:?}: need 25 ≤ H, W ≤ 4096, C ≤ 64, widths ≤ 4096",
                config.widths
            )));
        }
        let in_range = (0.0..=1.0).contains(&config.bn_momentum)
            && config.bn_eps >= 0.0
            && config.scaling.is_finite()
            && (0.0..=1.0).contains(&config.label_smoothing);
        if !in_range {
            return Err(bad(
                "bn_momentum and label_smoothing must be in [0, 1], bn_eps ≥ 0".into(),
            ));
        }
        let whiten = 2 * c * 4;
        let mut layers: Vec<Box<dyn Layer<T>>> = vec![
            Box::new(Conv::new("W1", "b1", c, whiten, 2, 1).with_frozen_filters(config.whitening)),
            Box::new(Gelu::default()),
        ];
        let bn = |k: usize, width| {
            SpatialBatchNorm::new(NormNames::numbered(&k.to_string()), width)
                .with_stats(1.0 - config.bn_momentum, config.bn_eps)
        };
        let mut ci = whiten;
        for (b, &co) in config.widths.iter().enumerate() {
            let (k1, k2) = (2 + 2 * b, 3 + 2 * b);
            layers.push(Box::new(Conv::new(
                format!("W{k1}"),
                format!("b{k1}"),
                ci,
                co,
                3,
                1,
            )));
            layers.push(Box::new(FloorMaxPool { size: 2 }));
            layers.push(Box::new(BatchNormGelu::new(bn(k1, co))));
            layers.push(Box::new(Conv::new(
                format!("W{k2}"),
                format!("b{k2}"),
                co,
                co,
                3,
                1,
            )));
            layers.push(Box::new(BatchNormGelu::new(bn(k2, co))));
            ci = co;
        }
        layers.push(Box::new(FloorMaxPool { size: 3 }));
        layers.push(Box::new(Flatten));
        let mut shape = config.input_shape.clone();
        for layer in &layers {
            shape = layer.output_shape(&shape).map_err(|e| bad(e.to_string()))?;
        }
        layers.push(Box::new(ScaledLinear::new(
            "W8",
            shape[0],
            config.num_classes,
            config.scaling,
        )));

        let mut rng = numeric::rng(config.seed);
        let mut params = Params::new();
        let mut buffers = Params::new();
        for layer in &layers {
            for p in layer.params() {
                let value = match p.init {
                    Init::Weights { fan_in } if p.name != "W1" || !config.whitening => {
                        let bound = 1.0 / (fan_in as f64).sqrt();
                        let mut w = ArrayD::<T>::zeros(IxDyn(&p.shape));
                        w.mapv_inplace(|_| T::cast(rng.random_range(-bound..bound)));
                        if p.name != "W1" {
                            dirac(&mut w);
                        }
                        w
                    }
                    Init::Ones => ArrayD::ones(IxDyn(&p.shape)),
                    _ => ArrayD::zeros(IxDyn(&p.shape)),
                };
                params.insert(p.name, value);
            }
            for b in layer.buffers() {
                let init = if b.name.starts_with("running_var") {
                    T::one()
                } else {
                    T::zero()
                };
                buffers.insert(b.name, ArrayD::from_elem(IxDyn(&b.shape), init));
            }
        }
        Ok(Self {
            config,
            layers,
            params,
            buffers,
        })
    }

    /// The configuration this net was built with.
    pub fn settings(&self) -> &Airbench94Config {
        &self.config
    }

    /// How the recipe treats parameter `name` (see [`ParamRole`]).
    ///
    /// ```
    /// use nn::{Airbench94, Airbench94Config, ParamRole};
    /// let net = Airbench94::<f32>::new(Airbench94Config::default())?;
    /// assert_eq!(net.role("b1"), ParamRole::WhiteningBias);
    /// assert_eq!(net.role("beta5"), ParamRole::NormBias);
    /// assert_eq!(net.role("gamma5"), ParamRole::Fixed);
    /// assert_eq!(net.role("b5"), ParamRole::Fixed);
    /// assert_eq!(net.role("W8"), ParamRole::Weight);
    /// // Without whitening the first conv is one more trained layer.
    /// let plain = Airbench94::<f32>::new(Airbench94Config { whitening: false, ..Default::default() })?;
    /// assert_eq!((plain.role("W1"), plain.role("b1")), (ParamRole::Weight, ParamRole::Weight));
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn role(&self, name: &str) -> ParamRole {
        role_of(self.config.whitening, name)
    }

    /// Sets the whitening filters from `images` (N, C, H, W), normalised as the net
    /// will see them ([`whitening_filters`] with `eps`); airbench94 uses the first
    /// 5 000 training images, without augmentation, and eps 5e-4.
    ///
    /// # Errors
    /// [`Error::Config`] if the images do not have the net's channels, or the net was
    /// built without whitening.
    pub fn init_whitening(&mut self, images: &ArrayView4<'_, T>, eps: f64) -> Result<()> {
        let c = self.config.input_shape[0];
        if !self.config.whitening {
            return Err(Error::config(
                "Airbench94",
                "built with whitening off: its first conv trains instead",
            ));
        }
        if images.dim().1 != c || images.dim().0 == 0 {
            return Err(Error::config(
                "Airbench94",
                format!(
                    "whitening needs images with {c} channels, got {:?}",
                    images.dim()
                ),
            ));
        }
        self.params
            .insert("W1".into(), whitening_filters(images, eps).into_dyn());
        Ok(())
    }

    /// Train-mode pass: the label-smoothed loss, the gradient of every trained
    /// tensor (not of `W1` nor the [`ParamRole::Fixed`] ones), and the scores.
    ///
    /// # Panics
    /// As [`Model::loss`].
    pub fn loss_and_scores(
        &mut self,
        x: &ArrayViewD<'_, T>,
        y: &ArrayView1<'_, usize>,
    ) -> (T, Params<T>, Array2<T>) {
        self.loss_and_scores_with(x, y, true)
    }

    /// As [`loss_and_scores`](Self::loss_and_scores), with the whitening bias `b1`
    /// trained or frozen. Frozen (airbench94 sets `requires_grad = False` on it after
    /// its first epochs), nothing below the first block conv trains, so the backward
    /// pass stops there: no gradient of that conv's input, none through the whitening
    /// GELU and conv, about a twentieth of the step. The other gradients are the same
    /// bits.
    ///
    /// ```
    /// use nn::{Airbench94, Airbench94Config};
    /// let config = Airbench94Config { input_shape: vec![3, 25, 25], widths: [4, 4, 4], ..Default::default() };
    /// let mut net = Airbench94::<f64>::new(config)?;
    /// let x = numeric::randn::<f64, _, _>((2, 3, 25, 25), &mut numeric::rng(0)).into_dyn();
    /// let y = ndarray::array![1, 7];
    /// let (_, all, _) = net.loss_and_scores_with(&x.view(), &y.view(), true);
    /// let (_, frozen, _) = net.loss_and_scores_with(&x.view(), &y.view(), false);
    /// assert!(all.contains_key("b1") && !frozen.contains_key("b1"));
    /// assert_eq!(frozen["W2"], all["W2"]);
    /// # Ok::<(), nn::Error>(())
    /// ```
    ///
    /// # Panics
    /// As [`Model::loss`].
    pub fn loss_and_scores_with(
        &mut self,
        x: &ArrayViewD<'_, T>,
        y: &ArrayView1<'_, usize>,
        whitening_bias_trains: bool,
    ) -> (T, Params<T>, Array2<T>) {
        let whitening = self.config.whitening;
        let trains = move |name: &str| match role_of(whitening, name) {
            ParamRole::WhiteningBias => whitening_bias_trains,
            role => role.trains(),
        };
        // The lowest layer with a trained parameter: the backward pass ends there.
        let lowest = self
            .layers
            .iter()
            .position(|l| l.params().iter().any(|p| trains(&p.name)))
            .unwrap_or(0);
        let (scores, caches) = self.forward(x, Mode::Train, true);
        let (loss, dscores) = softmax_loss_smoothed(&scores.view(), y, self.config.label_smoothing);
        let mut grads = Params::new();
        let mut dout = dscores.into_dyn();
        for (i, (layer, cache)) in self.layers.iter().zip(&caches).enumerate().rev() {
            if i < lowest {
                break;
            }
            let (dx, layer_grads) = layer.backward(dout, cache, &self.params, i > lowest);
            grads.extend(layer_grads.into_iter().filter(|(k, _)| trains(k)));
            dout = dx;
        }
        (loss, grads, scores)
    }

    fn forward(
        &mut self,
        x: &ArrayViewD<'_, T>,
        mode: Mode,
        keep: bool,
    ) -> (Array2<T>, Vec<Cache>) {
        let shape = &self.config.input_shape;
        assert!(
            x.ndim() == 4 && x.shape()[1..] == shape[..],
            "expected a batch of shape (N, {shape:?}), got {:?}",
            x.shape()
        );
        let mut a: ArrayD<T> = x.as_standard_layout().into_owned();
        let mut caches = Vec::new();
        for layer in &mut self.layers {
            let (out, cache) = layer.forward(a, &self.params, &mut self.buffers, mode);
            a = out;
            if keep {
                caches.push(cache);
            }
        }
        (
            a.into_dimensionality::<Ix2>().expect("scores (N, classes)"),
            caches,
        )
    }

    /// The parameters and the buffers at once (for weight averaging).
    pub fn state_mut(&mut self) -> (&mut Params<T>, &mut Params<T>) {
        (&mut self.params, &mut self.buffers)
    }

    /// Rebuilds a net (fresh weights) from [`Model::config`]'s JSON.
    ///
    /// # Errors
    /// [`Error::Config`] if it is not an Airbench94 configuration or is invalid.
    pub fn from_config(value: &Value) -> Result<Self> {
        Self::new(Self::parse_config(value)?)
    }

    /// The configuration in a stored JSON.
    pub(crate) fn parse_config(value: &Value) -> Result<Airbench94Config> {
        check_kind(value, "Airbench94")?;
        let mut fields = value.clone();
        if let Some(obj) = fields.as_object_mut() {
            obj.remove("kind");
            obj.remove("dtype");
        }
        serde_json::from_value(fields).map_err(|e| Error::config("Airbench94", e.to_string()))
    }
}

impl Airbench94Config {
    /// Trainable-or-not parameter count, without building the net (`None` on
    /// overflow, which [`Airbench94::new`]'s bounds rule out).
    pub fn parameter_count(&self) -> Option<usize> {
        let &[c, h, w] = &self.input_shape[..] else {
            return None;
        };
        let whiten = 2 * c * 4;
        let mut n = whiten.checked_mul(c * 4)?.checked_add(whiten)?;
        let mut ci = whiten;
        for &co in &self.widths {
            n = n.checked_add(co.checked_mul(ci)?.checked_mul(9)?.checked_add(co)?)?;
            n = n.checked_add(co.checked_mul(co)?.checked_mul(9)?.checked_add(co)?)?;
            n = n.checked_add(4 * co)?; // two batchnorms' γ, β
            ci = co;
        }
        let side = |s: usize| Some((s.checked_sub(1)? / 8) / 3);
        let features = ci.checked_mul(side(h)?)?.checked_mul(side(w)?)?;
        n.checked_add(features.checked_mul(self.num_classes)?)
    }
}

/// Identity on the first input channels: filter `i < min(F, C)` becomes the 3×3
/// kernel with a single 1 at its centre on channel `i` (PyTorch's `dirac_`). Other
/// tensors (the head's 2-d weights) are left alone.
fn dirac<T: Float>(w: &mut ArrayD<T>) {
    let &[f, c, kh, kw] = w.shape() else {
        return;
    };
    for i in 0..f.min(c) {
        let mut filter = w.index_axis_mut(ndarray::Axis(0), i);
        filter.fill(T::zero());
        filter[[i, kh / 2, kw / 2]] = T::one();
    }
}

/// [`Airbench94::role`] of `name` in a net with or without `whitening`.
fn role_of(whitening: bool, name: &str) -> ParamRole {
    match name {
        "W1" | "b1" if !whitening => ParamRole::Weight,
        "W1" => ParamRole::Whitening,
        "b1" => ParamRole::WhiteningBias,
        n if n.starts_with("beta") => ParamRole::NormBias,
        n if n.starts_with('W') => ParamRole::Weight,
        _ => ParamRole::Fixed,
    }
}

impl<T: Float> Model<T> for Airbench94<T> {
    fn params(&self) -> &Params<T> {
        &self.params
    }
    fn params_mut(&mut self) -> &mut Params<T> {
        &mut self.params
    }
    fn loss(&mut self, x: &ArrayViewD<'_, T>, y: &ArrayView1<'_, usize>) -> (T, Params<T>) {
        let (loss, grads, _) = self.loss_and_scores(x, y);
        (loss, grads)
    }
    fn scores(&mut self, x: &ArrayViewD<'_, T>) -> Array2<T> {
        self.forward(x, Mode::Test, false).0
    }
    fn config(&self) -> Value {
        let mut v = serde_json::to_value(&self.config).expect("plain data");
        v["kind"] = Value::from("Airbench94");
        v
    }
    fn num_classes(&self) -> usize {
        self.config.num_classes
    }
    fn input_shape(&self) -> Vec<usize> {
        self.config.input_shape.clone()
    }
    fn buffers(&self) -> Option<&Params<T>> {
        Some(&self.buffers)
    }
    fn buffers_mut(&mut self) -> Option<&mut Params<T>> {
        Some(&mut self.buffers)
    }
}

#[cfg(test)]
mod tests;
