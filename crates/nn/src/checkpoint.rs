//! Model files and training checkpoints in the [safetensors] format.
//!
//! One file format for both: named tensors plus string metadata.
//!
//! | tensors                  | what                                          |
//! |--------------------------|-----------------------------------------------|
//! | `params/{name}`          | trainable parameters (`W1`, `b1`, `gamma1`…)  |
//! | `buffers/{name}`         | non-trainable state (batchnorm running stats) |
//! | `optim/{name}/{slot}`    | optimiser state (`velocity`, `cache`, `m`, `v`) |
//! | `best_params/{name}`, `best_buffers/{name}` | the Solver's best model so far |
//!
//! | metadata    | what                                                          |
//! |-------------|---------------------------------------------------------------|
//! | `format`    | `"cs231n-rs"`: marks our files                                |
//! | `model`     | [`Model::config`] as JSON: `{"kind": "TwoLayerNet", ...}`     |
//! | `epoch`     | completed epochs                                              |
//! | `optimizer` | `{"rule", "config", "t": {name: step}}` as JSON               |
//! | `solver`    | the Solver's histories and settings as JSON                   |
//!
//! The `model` entry lets [`load_model`] rebuild *any* saved model (its architecture,
//! then its weights), so `cs231n predict --model FILE` needs nothing else. Files are
//! written to a temporary name and renamed, so an interrupted run never leaves a torn
//! checkpoint behind.
//!
//! [safetensors]: https://github.com/huggingface/safetensors
//!
//! ```
//! use nn::checkpoint::{save_model, load_model};
//! use nn::fc::{TwoLayerNet, TwoLayerConfig};
//! use nn::Model;
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("net.safetensors");
//! let mut net = TwoLayerNet::<f32>::new(TwoLayerConfig { input_dim: 4, hidden_dim: 3, num_classes: 2, ..Default::default() });
//! save_model(&path, &net).unwrap();
//! let mut again = load_model::<f32>(&path).unwrap(); // a Box<dyn Model<f32>>
//! let x = ndarray::Array2::<f32>::ones((1, 4)).into_dyn();
//! assert_eq!(again.scores(&x.view()), net.scores(&x.view()));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use numeric::Float;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::fc::{FcConfig, FullyConnectedNet, TwoLayerConfig, TwoLayerNet};
use crate::model::{Model, Params};
use crate::optim::{OptimConfig, Optimizer, ParamState, UpdateRule};

/// The `format` metadata value of our files.
pub const FORMAT: &str = "cs231n-rs";

/// What can go wrong reading or writing a model file or checkpoint. Every variant
/// names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file, or a tensor is malformed.
    #[error("{path}: not a valid safetensors file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A safetensors file that is not ours, or lacks a metadata entry.
    #[error("{path}: not a cs231n-rs model file: metadata {key:?} is {problem}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: String,
        /// "missing" or what is wrong with it.
        problem: String,
    },
    /// A tensor's shape differs from the model's parameter of the same name.
    #[error("{path}: tensor {name:?} has shape {found:?} but the model expects {expected:?}")]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// The model has a parameter the file lacks, or the file one the model lacks.
    #[error("{path}: tensor {name:?} is {problem}")]
    TensorSet {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// `"missing from the file"` or `"not a parameter of the model"`.
        problem: &'static str,
    },
    /// A tensor is stored in a type other than F32/F64.
    #[error("{path}: tensor {name:?} has dtype {dtype:?}; only F32 and F64 are supported")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// The `model` metadata names an architecture this build cannot rebuild, or its
    /// hyper-parameters are invalid.
    #[error("{path}: cannot rebuild the model: {reason}")]
    Model {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Everything in one file: a model's weights and architecture, and optionally the
/// training state (optimiser, epoch, Solver histories, best weights).
#[derive(Debug, Clone)]
pub struct Checkpoint<T> {
    /// [`Model::config`] of the saved model.
    pub model: serde_json::Value,
    /// Trainable parameters.
    pub params: Params<T>,
    /// Non-trainable buffers.
    pub buffers: Params<T>,
    /// Optimiser rule, hyper-parameters and per-parameter state, if training.
    pub optimizer: Option<Optimizer<T>>,
    /// Completed epochs.
    pub epoch: usize,
    /// The Solver's histories and settings (opaque JSON to this module).
    pub solver: Option<serde_json::Value>,
    /// Best parameters (by validation accuracy) so far.
    pub best_params: Option<Params<T>>,
    /// Buffers that go with `best_params`.
    pub best_buffers: Option<Params<T>>,
}

impl<T: Float> Checkpoint<T> {
    /// A checkpoint holding just `model` (architecture, parameters, buffers).
    ///
    /// ```
    /// let net = nn::fc::TwoLayerNet::<f32>::new(Default::default());
    /// let c = nn::checkpoint::Checkpoint::of_model(&net);
    /// assert_eq!(c.model["kind"], "TwoLayerNet");
    /// assert!(c.optimizer.is_none());
    /// ```
    pub fn of_model<M: Model<T> + ?Sized>(model: &M) -> Self {
        Checkpoint {
            model: model.config(),
            params: model.params().clone(),
            buffers: model.buffers().cloned().unwrap_or_default(),
            optimizer: None,
            epoch: 0,
            solver: None,
            best_params: None,
            best_buffers: None,
        }
    }

    /// Writes the checkpoint to `path` (via a temporary file and a rename).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let net = nn::fc::TwoLayerNet::<f64>::new(nn::fc::TwoLayerConfig { input_dim: 2, hidden_dim: 2, num_classes: 2, ..Default::default() });
    /// nn::checkpoint::Checkpoint::of_model(&net).save(dir.path().join("a.safetensors")).unwrap();
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let path = path.as_ref();
        let mut tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
        let mut put = |prefix: &str, params: &Params<T>| {
            for (name, a) in params {
                tensors.insert(
                    format!("{prefix}/{name}"),
                    (a.shape().to_vec(), to_bytes(a)),
                );
            }
        };
        put("params", &self.params);
        put("buffers", &self.buffers);
        if let Some(p) = &self.best_params {
            put("best_params", p);
        }
        if let Some(p) = &self.best_buffers {
            put("best_buffers", p);
        }
        let mut meta = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("model".to_string(), self.model.to_string()),
            ("epoch".to_string(), self.epoch.to_string()),
            ("dtype".to_string(), T::NAME.to_string()),
        ]);
        if let Some(opt) = &self.optimizer {
            let mut steps = BTreeMap::new();
            for (name, state) in &opt.state {
                steps.insert(name.clone(), state.t);
                for (slot, a) in state.arrays() {
                    tensors.insert(
                        format!("optim/{name}/{slot}"),
                        (a.shape().to_vec(), to_bytes(a)),
                    );
                }
            }
            let json = serde_json::json!({ "rule": opt.rule, "config": opt.config, "t": steps });
            meta.insert("optimizer".to_string(), json.to_string());
        }
        if let Some(s) = &self.solver {
            meta.insert("solver".to_string(), s.to_string());
        }
        let dtype = dtype_of::<T>();
        let views = tensors
            .iter()
            .map(|(name, (shape, bytes))| {
                TensorView::new(dtype, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| format_error(path, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| format_error(path, e))?;
        let tmp = path.with_extension("safetensors.tmp");
        std::fs::write(&tmp, bytes).map_err(|source| CheckpointError::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a file written by [`save`](Self::save) (any element type: values are
    /// converted to `T`).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("a.safetensors");
    /// let net = nn::fc::TwoLayerNet::<f64>::new(nn::fc::TwoLayerConfig { input_dim: 2, hidden_dim: 2, num_classes: 2, ..Default::default() });
    /// nn::checkpoint::Checkpoint::of_model(&net).save(&p).unwrap();
    /// let c = nn::checkpoint::Checkpoint::<f32>::load(&p).unwrap(); // f64 file, f32 use
    /// assert_eq!(c.params["W1"].shape(), &[2, 2]);
    /// assert!(std::fs::write(&p, b"not safetensors").is_ok());
    /// assert!(nn::checkpoint::Checkpoint::<f32>::load(&p).is_err());
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| format_error(path, e))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |key: &str| {
            meta.get(key).ok_or_else(|| CheckpointError::Metadata {
                path: path.to_path_buf(),
                key: key.to_string(),
                problem: "missing".to_string(),
            })
        };
        let bad = |key: &str, problem: String| CheckpointError::Metadata {
            path: path.to_path_buf(),
            key: key.to_string(),
            problem,
        };
        if get("format")? != FORMAT {
            return Err(bad(
                "format",
                format!("{:?}, expected {FORMAT:?}", meta["format"]),
            ));
        }
        let model: serde_json::Value = serde_json::from_str(get("model")?)
            .map_err(|e| bad("model", format!("invalid JSON ({e})")))?;
        let epoch: usize = get("epoch")?
            .parse()
            .map_err(|e| bad("epoch", format!("not a count ({e})")))?;
        let solver = match meta.get("solver") {
            Some(s) => Some(
                serde_json::from_str(s)
                    .map_err(|e| bad("solver", format!("invalid JSON ({e})")))?,
            ),
            None => None,
        };
        let st = SafeTensors::deserialize(&bytes).map_err(|e| format_error(path, e))?;
        let mut groups: BTreeMap<String, Params<T>> = BTreeMap::new();
        for (name, view) in st.iter() {
            let (group, rest) = name.split_once('/').unwrap_or(("", name));
            let array = from_view::<T>(path, name, &view)?;
            groups
                .entry(group.to_string())
                .or_default()
                .insert(rest.to_string(), array);
        }
        let optimizer = match meta.get("optimizer") {
            None => None,
            Some(s) => {
                #[derive(serde::Deserialize)]
                struct Saved {
                    rule: UpdateRule,
                    config: OptimConfig,
                    t: BTreeMap<String, u64>,
                }
                let saved: Saved = serde_json::from_str(s)
                    .map_err(|e| bad("optimizer", format!("invalid ({e})")))?;
                let mut opt = Optimizer::new(saved.rule, saved.config);
                for (name, t) in saved.t {
                    opt.state.insert(
                        name,
                        ParamState {
                            t,
                            ..ParamState::default()
                        },
                    );
                }
                for (key, array) in groups.remove("optim").unwrap_or_default() {
                    let (name, slot) = key.rsplit_once('/').unwrap_or((&key, ""));
                    let state = opt.state.entry(name.to_string()).or_default();
                    let slot_ref = state.slot(slot).ok_or_else(|| CheckpointError::TensorSet {
                        path: path.to_path_buf(),
                        name: format!("optim/{key}"),
                        problem: "not an optimiser state slot",
                    })?;
                    *slot_ref = Some(array);
                }
                Some(opt)
            }
        };
        Ok(Checkpoint {
            model,
            params: groups.remove("params").unwrap_or_default(),
            buffers: groups.remove("buffers").unwrap_or_default(),
            optimizer,
            epoch,
            solver,
            best_params: groups.remove("best_params"),
            best_buffers: groups.remove("best_buffers"),
        })
    }

    /// Copies this checkpoint's parameters and buffers into `model`, after checking
    /// that the names and shapes agree exactly (`path` is for error messages).
    ///
    /// ```
    /// use nn::fc::{TwoLayerNet, TwoLayerConfig};
    /// use nn::checkpoint::{Checkpoint, CheckpointError};
    /// let small = TwoLayerNet::<f32>::new(TwoLayerConfig { input_dim: 4, hidden_dim: 3, num_classes: 2, ..Default::default() });
    /// let mut big = TwoLayerNet::<f32>::new(TwoLayerConfig { input_dim: 4, hidden_dim: 5, num_classes: 2, ..Default::default() });
    /// let err = Checkpoint::of_model(&small).apply_to(&mut big, "small.safetensors").unwrap_err();
    /// assert!(matches!(err, CheckpointError::ShapeMismatch { .. }));
    /// ```
    pub fn apply_to<M: Model<T> + ?Sized>(
        &self,
        model: &mut M,
        path: impl AsRef<Path>,
    ) -> Result<(), CheckpointError> {
        let path = path.as_ref();
        check_same_set(path, "params", model.params(), &self.params)?;
        let empty = Params::new();
        check_same_set(
            path,
            "buffers",
            model.buffers().unwrap_or(&empty),
            &self.buffers,
        )?;
        model.params_mut().clone_from(&self.params);
        if let Some(b) = model.buffers_mut() {
            b.clone_from(&self.buffers);
        }
        Ok(())
    }
}

/// Checks `file` has exactly `model`'s tensor names and shapes.
fn check_same_set<T: Float>(
    path: &Path,
    group: &str,
    model: &Params<T>,
    file: &Params<T>,
) -> Result<(), CheckpointError> {
    for (name, a) in model {
        let Some(f) = file.get(name) else {
            return Err(CheckpointError::TensorSet {
                path: path.into(),
                name: format!("{group}/{name}"),
                problem: "missing from the file",
            });
        };
        if f.shape() != a.shape() {
            return Err(CheckpointError::ShapeMismatch {
                path: path.into(),
                name: format!("{group}/{name}"),
                expected: a.shape().to_vec(),
                found: f.shape().to_vec(),
            });
        }
    }
    if let Some(extra) = file.keys().find(|k| !model.contains_key(*k)) {
        return Err(CheckpointError::TensorSet {
            path: path.into(),
            name: format!("{group}/{extra}"),
            problem: "not a parameter of the model",
        });
    }
    Ok(())
}

/// Saves `model`'s architecture, parameters and buffers to `path`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let net = nn::fc::FullyConnectedNet::<f32>::new(nn::fc::FcConfig { input_dim: 3, hidden_dims: vec![4], ..Default::default() });
/// nn::checkpoint::save_model(dir.path().join("m.safetensors"), &net).unwrap();
/// ```
pub fn save_model<T: Float, M: Model<T> + ?Sized>(
    path: impl AsRef<Path>,
    model: &M,
) -> Result<(), CheckpointError> {
    Checkpoint::of_model(model).save(path)
}

/// Rebuilds the model saved in `path` (architecture from its `model` metadata, then
/// its weights), whatever its kind. Works on checkpoints too (their current weights).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("m.safetensors");
/// let net = nn::fc::FullyConnectedNet::<f32>::new(nn::fc::FcConfig { input_dim: 3, hidden_dims: vec![4, 5], ..Default::default() });
/// nn::checkpoint::save_model(&p, &net).unwrap();
/// let m = nn::checkpoint::load_model::<f32>(&p).unwrap();
/// assert_eq!(m.input_shape(), vec![3]);
/// ```
pub fn load_model<T: Float>(path: impl AsRef<Path>) -> Result<Box<dyn Model<T>>, CheckpointError> {
    let path = path.as_ref();
    let ckpt = Checkpoint::<T>::load(path)?;
    let mut model = build_model::<T>(&ckpt.model).map_err(|reason| CheckpointError::Model {
        path: path.to_path_buf(),
        reason,
    })?;
    ckpt.apply_to(&mut model, path)?;
    Ok(model)
}

/// Loads the weights (and buffers) saved in `path` into an existing `model`; a file
/// whose tensor names or shapes differ from the model's is an error, not a panic.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("m.safetensors");
/// let a = nn::fc::TwoLayerNet::<f32>::new(nn::fc::TwoLayerConfig { input_dim: 3, hidden_dim: 4, num_classes: 2, seed: 1, ..Default::default() });
/// let mut b = nn::fc::TwoLayerNet::<f32>::new(nn::fc::TwoLayerConfig { input_dim: 3, hidden_dim: 4, num_classes: 2, seed: 2, ..Default::default() });
/// nn::checkpoint::save_model(&p, &a).unwrap();
/// nn::checkpoint::load_weights(&p, &mut b).unwrap();
/// use nn::Model;
/// assert_eq!(a.params(), b.params());
/// ```
pub fn load_weights<T: Float, M: Model<T> + ?Sized>(
    path: impl AsRef<Path>,
    model: &mut M,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    Checkpoint::<T>::load(path)?.apply_to(model, path)
}

/// Builds an untrained model from a [`Model::config`] JSON (the `model` metadata of a
/// file). Errors name the unknown kind or the invalid field.
///
/// ```
/// let cfg = serde_json::json!({"kind": "FullyConnectedNet", "input_dim": 784, "hidden_dims": [256, 128], "num_classes": 10});
/// let m = nn::checkpoint::build_model::<f32>(&cfg).unwrap();
/// assert_eq!(m.params()["W3"].shape(), &[128, 10]);
/// assert!(nn::checkpoint::build_model::<f32>(&serde_json::json!({"kind": "Perceptron"})).is_err());
/// ```
pub fn build_model<T: Float>(config: &serde_json::Value) -> Result<Box<dyn Model<T>>, String> {
    let kind = config
        .get("kind")
        .and_then(|k| k.as_str())
        .ok_or("the model config has no \"kind\"")?;
    let mut fields = config.clone();
    if let Some(obj) = fields.as_object_mut() {
        obj.remove("kind");
        obj.remove("dtype");
    }
    let invalid = |e: serde_json::Error| format!("invalid {kind} config: {e}");
    match kind {
        "TwoLayerNet" => {
            let c: TwoLayerConfig = serde_json::from_value(fields).map_err(invalid)?;
            Ok(Box::new(
                TwoLayerNet::<T>::try_new(c).map_err(|e| e.to_string())?,
            ))
        }
        "FullyConnectedNet" => {
            let c: FcConfig = serde_json::from_value(fields).map_err(invalid)?;
            Ok(Box::new(
                FullyConnectedNet::<T>::try_new(c).map_err(|e| e.to_string())?,
            ))
        }
        "ThreeLayerConvNet" => Ok(Box::new(
            crate::cnn::ThreeLayerConvNet::<T>::from_config(config).map_err(|e| e.to_string())?,
        )),
        "SequentialNet" => Ok(Box::new(
            crate::cnn::SequentialNet::<T>::from_config(config).map_err(|e| e.to_string())?,
        )),
        other => Err(format!("unknown model kind {other:?}")),
    }
}

fn dtype_of<T: Float>() -> Dtype {
    if T::NAME == "f64" {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

fn to_bytes<T: Float>(a: &ArrayD<T>) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() * std::mem::size_of::<T>());
    for &v in a.iter() {
        if T::NAME == "f64" {
            out.extend_from_slice(&v.as_f64().to_le_bytes());
        } else {
            out.extend_from_slice(&(v.as_f64() as f32).to_le_bytes());
        }
    }
    out
}

fn from_view<T: Float>(
    path: &Path,
    name: &str,
    view: &TensorView<'_>,
) -> Result<ArrayD<T>, CheckpointError> {
    let data = view.data();
    let values: Vec<T> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| T::cast(f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| T::cast(f64::from_le_bytes(c.try_into().expect("8 bytes"))))
            .collect(),
        other => {
            return Err(CheckpointError::Dtype {
                path: path.to_path_buf(),
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    };
    ArrayD::from_shape_vec(view.shape().to_vec(), values).map_err(|e| CheckpointError::Format {
        path: path.to_path_buf(),
        reason: format!("tensor {name:?}: {e}"),
    })
}

fn format_error(path: &Path, e: safetensors::SafeTensorError) -> CheckpointError {
    CheckpointError::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
