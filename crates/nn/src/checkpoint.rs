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
//! The `model` entry lets [`crate::load_model`] rebuild *any* saved model (its architecture,
//! then its weights), so `cs231n predict --model FILE` needs nothing else. Files are
//! written to a temporary name and renamed, so an interrupted run never leaves a torn
//! checkpoint behind.
//!
//! The bytes go through the one codec, [`crate::TensorFile`].
//!
//! [safetensors]: https://github.com/huggingface/safetensors
//!
//! ```
//! use nn::{save_model, load_model, Model, TwoLayerNet, TwoLayerConfig};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("net.safetensors");
//! let mut net = TwoLayerNet::<f32>::new(TwoLayerConfig { input_dim: 4, hidden_dim: 3, num_classes: 2, ..Default::default() });
//! save_model(&path, &net).unwrap();
//! let mut again = load_model::<f32>(&path).unwrap(); // a Box<dyn Model<f32>>
//! let x = ndarray::Array2::<f32>::ones((1, 4)).into_dyn();
//! assert_eq!(again.scores(&x.view()), net.scores(&x.view()));
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use numeric::Float;

use crate::error::{Error, Result};
use crate::model::{Model, Params};
use crate::optim::{OptimConfig, Optimizer, ParamState, UpdateRule};
use crate::tensor_file::TensorFile;

/// The `format` metadata value of checkpoints.
pub const CHECKPOINT_FORMAT: &str = "cs231n-rs";

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
    /// let net = nn::TwoLayerNet::<f32>::new(Default::default());
    /// let c = nn::Checkpoint::of_model(&net);
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
    /// let net = nn::TwoLayerNet::<f64>::new(nn::TwoLayerConfig { input_dim: 2, hidden_dim: 2, num_classes: 2, ..Default::default() });
    /// nn::Checkpoint::of_model(&net).save(dir.path().join("a.safetensors")).unwrap();
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut file = TensorFile::<T>::default();
        file.insert_group("params", &self.params);
        file.insert_group("buffers", &self.buffers);
        if let Some(p) = &self.best_params {
            file.insert_group("best_params", p);
        }
        if let Some(p) = &self.best_buffers {
            file.insert_group("best_buffers", p);
        }
        let meta = &mut file.metadata;
        meta.insert("format".into(), CHECKPOINT_FORMAT.into());
        meta.insert("model".into(), self.model.to_string());
        meta.insert("epoch".into(), self.epoch.to_string());
        meta.insert("dtype".into(), T::NAME.into());
        if let Some(opt) = &self.optimizer {
            let mut steps = BTreeMap::new();
            for (name, state) in &opt.state {
                steps.insert(name.clone(), state.t);
                for (slot, a) in state.arrays() {
                    file.tensors
                        .insert(format!("optim/{name}/{slot}"), a.clone());
                }
            }
            let json = serde_json::json!({ "rule": opt.rule, "config": opt.config, "t": steps });
            file.metadata.insert("optimizer".into(), json.to_string());
        }
        if let Some(s) = &self.solver {
            file.metadata.insert("solver".into(), s.to_string());
        }
        file.write(path)
    }

    /// Reads a file written by [`save`](Self::save) (any element type: values are
    /// converted to `T`).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("a.safetensors");
    /// let net = nn::TwoLayerNet::<f64>::new(nn::TwoLayerConfig { input_dim: 2, hidden_dim: 2, num_classes: 2, ..Default::default() });
    /// nn::Checkpoint::of_model(&net).save(&p).unwrap();
    /// let c = nn::Checkpoint::<f32>::load(&p).unwrap(); // f64 file, f32 use
    /// assert_eq!(c.params["W1"].shape(), &[2, 2]);
    /// assert!(std::fs::write(&p, b"not safetensors").is_ok());
    /// assert!(nn::Checkpoint::<f32>::load(&p).is_err());
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_file(TensorFile::read(path)?, path)
    }

    /// The checkpoint in a tensor file already read (`path` is for error messages).
    ///
    /// # Errors
    /// [`Error::Metadata`] when the file is not a checkpoint of ours.
    pub fn from_file(mut file: TensorFile<T>, path: &Path) -> Result<Self> {
        let bad = |key: &str, problem: String| Error::Metadata {
            path: path.to_path_buf(),
            key: key.to_string(),
            problem,
        };
        let format = file.meta(path, "format")?;
        if format != CHECKPOINT_FORMAT {
            return Err(bad(
                "format",
                format!("{format:?}: not a cs231n-rs checkpoint (expected {CHECKPOINT_FORMAT:?})"),
            ));
        }
        let model: serde_json::Value = serde_json::from_str(file.meta(path, "model")?)
            .map_err(|e| bad("model", format!("invalid JSON ({e})")))?;
        let epoch: usize = file
            .meta(path, "epoch")?
            .parse()
            .map_err(|e| bad("epoch", format!("not a count ({e})")))?;
        let solver = match file.metadata.get("solver") {
            Some(s) => Some(
                serde_json::from_str(s)
                    .map_err(|e| bad("solver", format!("invalid JSON ({e})")))?,
            ),
            None => None,
        };
        let optimizer = match file.metadata.get("optimizer") {
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
                for (key, array) in file.take_group("optim") {
                    let (name, slot) = key.rsplit_once('/').unwrap_or((&key, ""));
                    let state = opt.state.entry(name.to_string()).or_default();
                    let slot_ref = state.slot(slot).ok_or_else(|| Error::TensorSet {
                        path: path.to_path_buf(),
                        name: format!("optim/{key}"),
                        problem: "not an optimiser state slot",
                    })?;
                    *slot_ref = Some(array);
                }
                Some(opt)
            }
        };
        let best_params = Some(file.take_group("best_params")).filter(|g| !g.is_empty());
        let best_buffers = best_params
            .as_ref()
            .map(|_| file.take_group("best_buffers"));
        let checkpoint = Checkpoint {
            model,
            params: file.take_group("params"),
            buffers: file.take_group("buffers"),
            optimizer,
            epoch,
            solver,
            best_params,
            best_buffers,
        };
        if let Some(name) = file.tensors.keys().next() {
            return Err(Error::TensorSet {
                path: path.to_path_buf(),
                name: name.clone(),
                problem: "not a tensor of a checkpoint (params/, buffers/, optim/, best_params/, best_buffers/)",
            });
        }
        Ok(checkpoint)
    }

    /// Copies this checkpoint's parameters and buffers into `model`, after checking
    /// that the names and shapes agree exactly (`path` is for error messages).
    ///
    /// ```
    /// use nn::{TwoLayerNet, TwoLayerConfig};
    /// use nn::{Checkpoint, Error};
    /// let small = TwoLayerNet::<f32>::new(TwoLayerConfig { input_dim: 4, hidden_dim: 3, num_classes: 2, ..Default::default() });
    /// let mut big = TwoLayerNet::<f32>::new(TwoLayerConfig { input_dim: 4, hidden_dim: 5, num_classes: 2, ..Default::default() });
    /// let err = Checkpoint::of_model(&small).apply_to(&mut big, "small.safetensors").unwrap_err();
    /// assert!(matches!(err, Error::ShapeMismatch { .. }));
    /// ```
    pub fn apply_to<M: Model<T> + ?Sized>(
        &self,
        model: &mut M,
        path: impl AsRef<Path>,
    ) -> Result<()> {
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
) -> Result<()> {
    for (name, a) in model {
        let Some(f) = file.get(name) else {
            return Err(Error::TensorSet {
                path: path.into(),
                name: format!("{group}/{name}"),
                problem: "missing from the file",
            });
        };
        if f.shape() != a.shape() {
            return Err(Error::ShapeMismatch {
                path: path.into(),
                name: format!("{group}/{name}"),
                expected: a.shape().to_vec(),
                found: f.shape().to_vec(),
            });
        }
    }
    if let Some(extra) = file.keys().find(|k| !model.contains_key(*k)) {
        return Err(Error::TensorSet {
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
/// let net = nn::FullyConnectedNet::<f32>::new(nn::FcConfig { input_dim: 3, hidden_dims: vec![4], ..Default::default() });
/// nn::save_model(dir.path().join("m.safetensors"), &net).unwrap();
/// ```
pub fn save_model<T: Float, M: Model<T> + ?Sized>(path: impl AsRef<Path>, model: &M) -> Result<()> {
    Checkpoint::of_model(model).save(path)
}
