//! Rebuilding a model from a file: the one place that knows every model kind, so
//! that checkpoints, the models and the Solver need not import one another.
//!
//! A stored configuration is untrusted: before a model is built from it, the number
//! of parameters it asks for is computed with checked arithmetic (nothing allocated)
//! and compared with the tensors the file actually holds.
//!
//! ```
//! let cfg = serde_json::json!({"kind": "FullyConnectedNet", "input_dim": 784, "hidden_dims": [256, 128], "num_classes": 10});
//! let m = nn::build_model::<f32>(&cfg)?;
//! assert_eq!(m.params()["W3"].shape(), &[128, 10]);
//! assert!(nn::build_model::<f32>(&serde_json::json!({"kind": "Perceptron"})).is_err());
//! # Ok::<(), nn::Error>(())
//! ```

use std::path::Path;

use numeric::Float;
use serde_json::Value;

use crate::Checkpoint;
use crate::airbench::Airbench94;
use crate::error::{Error, Result};
use crate::fc::{FcConfig, FullyConnectedNet};
use crate::limits::{self, MAX_PARAMETERS};
use crate::model::{Model, Params};
use crate::sequential::SequentialNet;
use crate::three_layer_convnet::{ThreeLayerConvNet, ThreeLayerConvNetConfig};
use crate::two_layer_net::{TwoLayerConfig, TwoLayerNet};

/// The model kinds a file may hold.
const KINDS: &str = "TwoLayerNet, FullyConnectedNet, ThreeLayerConvNet, SequentialNet, Airbench94";

/// The `"kind"` of a stored configuration.
fn kind_of(config: &Value) -> Result<&str> {
    config
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::config("model", "the stored configuration has no \"kind\""))
}

/// `config` without the fields every model adds (`kind`, `dtype`), for serde.
fn fields(config: &Value) -> Value {
    let mut fields = config.clone();
    if let Some(obj) = fields.as_object_mut() {
        obj.remove("kind");
        obj.remove("dtype");
    }
    fields
}

fn parse<C: serde::de::DeserializeOwned>(kind: &str, config: &Value) -> Result<C> {
    serde_json::from_value(fields(config)).map_err(|e| Error::config(kind, e.to_string()))
}

/// How many trainable parameters the model a stored configuration describes has,
/// computed without building it.
///
/// # Errors
/// [`Error::Config`] for an unknown kind or invalid fields; [`Error::TooLarge`]
/// when the count overflows or exceeds [`MAX_PARAMETERS`].
///
/// ```
/// let cfg = serde_json::json!({"kind": "TwoLayerNet", "input_dim": 4, "hidden_dim": 3, "num_classes": 2});
/// assert_eq!(nn::parameter_count(&cfg)?, 4 * 3 + 3 + 3 * 2 + 2);
/// let huge = serde_json::json!({"kind": "TwoLayerNet", "input_dim": 10_000_000, "hidden_dim": 10_000_000, "num_classes": 2});
/// assert!(matches!(nn::parameter_count(&huge), Err(nn::Error::TooLarge { .. })));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn parameter_count(config: &Value) -> Result<usize> {
    let kind = kind_of(config)?;
    let count = match kind {
        "TwoLayerNet" => FcConfig::from(parse::<TwoLayerConfig>(kind, config)?).parameter_count(),
        "FullyConnectedNet" => parse::<FcConfig>(kind, config)?.parameter_count(),
        "ThreeLayerConvNet" => parse::<ThreeLayerConvNetConfig>(kind, config)?.parameter_count(),
        "SequentialNet" => Some(SequentialNet::<f32>::parse_config(config)?.parameter_count()?),
        "Airbench94" => Airbench94::<f32>::parse_config(config)?.parameter_count(),
        other => {
            return Err(Error::config(
                "model",
                format!("unknown model kind {other:?} (expected one of {KINDS})"),
            ));
        }
    };
    limits::check(
        &format!("the {kind} configuration"),
        count,
        "parameters",
        MAX_PARAMETERS,
    )
}

/// Builds an untrained model from a [`Model::config`] JSON (the `model` metadata of a
/// file), after checking its size against [`MAX_PARAMETERS`].
///
/// # Errors
/// As [`parameter_count`], and the model's own checks.
pub fn build_model<T: Float>(config: &Value) -> Result<Box<dyn Model<T>>> {
    parameter_count(config)?;
    let kind = kind_of(config)?;
    Ok(match kind {
        "TwoLayerNet" => Box::new(TwoLayerNet::<T>::try_new(parse(kind, config)?)?),
        "FullyConnectedNet" => Box::new(FullyConnectedNet::<T>::try_new(parse(kind, config)?)?),
        "ThreeLayerConvNet" => Box::new(ThreeLayerConvNet::<T>::from_config(config)?),
        "SequentialNet" => Box::new(SequentialNet::<T>::from_config(config)?),
        "Airbench94" => Box::new(Airbench94::<T>::from_config(config)?),
        other => unreachable!("parameter_count accepted kind {other:?}"),
    })
}

/// Rebuilds the model a file describes and loads its weights: `config` is the file's
/// stored configuration, `params` and `buffers` its tensors, `path` the file (for
/// messages). The configuration's parameter count must equal the number of values
/// the file holds *before* anything is allocated for the model, so a forged
/// configuration cannot make a small file allocate gigabytes.
///
/// # Errors
/// [`Error::Model`] naming the file when the configuration is invalid, too large or
/// does not match the tensors; the errors of [`Checkpoint::apply_to`].
///
/// ```
/// let cfg = serde_json::json!({"kind": "TwoLayerNet", "input_dim": 10_000_000, "hidden_dim": 10_000_000, "num_classes": 2});
/// let w = nn::Params::<f32>::from([("W1".to_string(), ndarray::ArrayD::zeros(vec![4, 5]))]);
/// let err = nn::rebuild_model(&cfg, w, nn::Params::new(), "forged.safetensors".as_ref()).err().unwrap();
/// assert!(err.to_string().contains("forged.safetensors"), "{err}");
/// ```
pub fn rebuild_model<T: Float>(
    config: &Value,
    params: Params<T>,
    buffers: Params<T>,
    path: &Path,
) -> Result<Box<dyn Model<T>>> {
    let in_file = |e: Error| Error::Model {
        path: path.to_path_buf(),
        source: Box::new(e),
    };
    let held: usize = params.values().map(|a| a.len()).sum();
    let kind = kind_of(config).map_err(in_file)?;
    let wanted = parameter_count(config).map_err(|e| match e {
        Error::TooLarge { asked, limit, .. } => in_file(Error::config(
            kind,
            format!(
                "the model file's config asks for {asked} parameters (over the limit of {limit}) but holds {held}"
            ),
        )),
        e => in_file(e),
    })?;
    if wanted != held {
        return Err(in_file(Error::config(
            kind,
            format!("the model file's config asks for {wanted} parameters but holds {held}"),
        )));
    }
    let mut model = build_model::<T>(config).map_err(in_file)?;
    let checkpoint = Checkpoint {
        model: config.clone(),
        params,
        buffers,
        optimizer: None,
        epoch: 0,
        solver: None,
        best_params: None,
        best_buffers: None,
    };
    checkpoint.apply_to(&mut model, path)?;
    Ok(model)
}

/// Rebuilds the model saved in `path` (architecture from its `model` metadata, then
/// its weights), whatever its kind. Works on checkpoints too (their current weights).
///
/// # Errors
/// As [`Checkpoint::load`] and [`rebuild_model`].
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("m.safetensors");
/// let net = nn::FullyConnectedNet::<f32>::new(nn::FcConfig { input_dim: 3, hidden_dims: vec![4, 5], ..Default::default() });
/// nn::save_model(&p, &net)?;
/// let m = nn::load_model::<f32>(&p)?;
/// assert_eq!(m.input_shape(), vec![3]);
/// # Ok::<(), nn::Error>(())
/// ```
pub fn load_model<T: Float>(path: impl AsRef<Path>) -> Result<Box<dyn Model<T>>> {
    let path = path.as_ref();
    let ckpt = Checkpoint::<T>::load(path)?;
    rebuild_model(&ckpt.model, ckpt.params, ckpt.buffers, path)
}

/// Loads the weights (and buffers) saved in `path` into an existing `model`; a file
/// whose tensor names or shapes differ from the model's is an error, not a panic.
///
/// # Errors
/// As [`Checkpoint::load`] and [`Checkpoint::apply_to`].
///
/// ```
/// use nn::{Model, TwoLayerNet, TwoLayerConfig};
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("m.safetensors");
/// let a = TwoLayerNet::<f32>::new(TwoLayerConfig { input_dim: 3, hidden_dim: 4, num_classes: 2, seed: 1, ..Default::default() });
/// let mut b = TwoLayerNet::<f32>::new(TwoLayerConfig { input_dim: 3, hidden_dim: 4, num_classes: 2, seed: 2, ..Default::default() });
/// nn::save_model(&p, &a)?;
/// nn::load_weights(&p, &mut b)?;
/// assert_eq!(a.params(), b.params());
/// # Ok::<(), nn::Error>(())
/// ```
pub fn load_weights<T: Float, M: Model<T> + ?Sized>(
    path: impl AsRef<Path>,
    model: &mut M,
) -> Result<()> {
    let path = path.as_ref();
    Checkpoint::<T>::load(path)?.apply_to(model, path)
}
