//! The model files `cs231n predict` reads: one safetensors file (written and read by
//! `nn`'s codec, [`nn::TensorFile`]) holding the learned tensors, the preprocessing
//! that was fitted on the training split (mean image, channel statistics, bias trick),
//! and in its metadata the model kind, its configuration, the class names and the
//! input shape.
//!
//! Layout (metadata keys, all strings):
//! - `format` = `"cs231n-model"`, `version` = `"2"`
//! - `kind`: `"linear"`, `"nn"` or `"cnn"`
//! - `config`: JSON of the model's configuration (for linear: `{"loss": "svm"}`; for
//!   nn/cnn: the network's own `config()`)
//! - `classes`: JSON array of class names; `dataset`: where it was trained
//! - `input_shape`: JSON `[C, H, W]` of the images it expects; `bias`: `"true"`/`"false"`
//!
//! Tensors (f32), grouped by prefix as in `nn`'s checkpoints: `prep/mean_image` (D),
//! optionally `prep/channel_mean` / `prep/channel_std` (C), the model's parameters
//! under `params/NAME` and its buffers (batchnorm running statistics) under
//! `buffers/NAME`. Version-1 files (names `prep.X`, `param.X`, `buffer.X`) still load.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayD};
use nn::TensorFile;

use crate::error::{CliError, Result};

const FORMAT: &str = "cs231n-model";
const VERSION: &str = "2";

/// How raw pixels become the model's input rows: the preprocessing fitted on the
/// training split (`cifar_data::preprocess`), replayed on new images.
pub type Preprocessing = cifar_data::Transform<f32>;

/// What a model file holds.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// `"linear"`, `"nn"` or `"cnn"`.
    pub kind: String,
    /// The model's configuration (JSON).
    pub config: serde_json::Value,
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// The dataset it was trained on (`"cifar10"`, ...).
    pub dataset: String,
    /// The preprocessing fitted on its training split.
    pub prep: Preprocessing,
    /// Learned parameters by name.
    pub params: BTreeMap<String, ArrayD<f32>>,
    /// Non-trained state by name (batchnorm running statistics).
    pub buffers: BTreeMap<String, ArrayD<f32>>,
}

fn model_err(path: &Path, reason: impl Into<String>) -> CliError {
    CliError::Model {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl ModelFile {
    /// Writes the file (to a temporary name first, so an interrupted write never
    /// leaves a half file under the final name).
    pub fn save(&self, path: &Path) -> Result<()> {
        let (c, h, w) = self.prep.image_shape;
        let mut file = TensorFile::<f32>::default();
        let mut prep = BTreeMap::from([(
            "mean_image".to_string(),
            self.prep.mean_image.clone().into_dyn(),
        )]);
        if let Some((mu, sd)) = &self.prep.channel_stats {
            prep.insert("channel_mean".into(), mu.clone().into_dyn());
            prep.insert("channel_std".into(), sd.clone().into_dyn());
        }
        file.insert_group("prep", &prep);
        file.insert_group("params", &self.params);
        file.insert_group("buffers", &self.buffers);
        let classes = serde_json::to_string(&self.classes).unwrap_or_default();
        for (key, value) in [
            ("format", FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("kind", self.kind.clone()),
            ("config", self.config.to_string()),
            ("classes", classes),
            ("dataset", self.dataset.clone()),
            ("input_shape", format!("[{c},{h},{w}]")),
            ("bias", self.prep.bias.to_string()),
        ] {
            file.metadata.insert(key.into(), value);
        }
        file.write(path).map_err(|e| model_err(path, e.to_string()))
    }

    /// Reads a file written by [`save`](Self::save); anything else is a clear error.
    pub fn load(path: &Path) -> Result<Self> {
        if let Err(e) = std::fs::metadata(path) {
            return Err(CliError::io(path, e));
        }
        let mut file = TensorFile::<f32>::read(path).map_err(|e| model_err(path, e.to_string()))?;
        let get = |key: &str| {
            file.metadata.get(key).cloned().ok_or_else(|| {
                model_err(
                    path,
                    format!("metadata has no `{key}` (was it written by cs231n?)"),
                )
            })
        };
        if get("format")? != FORMAT {
            return Err(model_err(path, "metadata `format` is not cs231n-model"));
        }
        let version = get("version")?;
        if version == "1" {
            // Version 1 named tensors `prep.X`, `param.X`, `buffer.X`.
            let old = std::mem::take(&mut file.tensors);
            for (name, a) in old {
                let renamed = match name.split_once('.') {
                    Some(("prep", rest)) => format!("prep/{rest}"),
                    Some(("param", rest)) => format!("params/{rest}"),
                    Some(("buffer", rest)) => format!("buffers/{rest}"),
                    _ => name,
                };
                file.tensors.insert(renamed, a);
            }
        } else if version != VERSION {
            return Err(model_err(
                path,
                format!("file version {version}; this cs231n reads versions 1 and {VERSION}"),
            ));
        }
        let parse = |key: &str| -> Result<serde_json::Value> {
            serde_json::from_str(&get(key)?)
                .map_err(|e| model_err(path, format!("metadata `{key}` is not JSON: {e}")))
        };
        let classes: Vec<String> = serde_json::from_value(parse("classes")?)
            .map_err(|e| model_err(path, format!("metadata `classes`: {e}")))?;
        let shape: Vec<usize> = serde_json::from_value(parse("input_shape")?)
            .map_err(|e| model_err(path, format!("metadata `input_shape`: {e}")))?;
        let &[c, h, w] = shape.as_slice() else {
            return Err(model_err(
                path,
                format!("input_shape {shape:?} is not [C, H, W]"),
            ));
        };
        let d = c
            .checked_mul(h)
            .and_then(|ch| ch.checked_mul(w))
            .ok_or_else(|| model_err(path, format!("input_shape {shape:?} overflows")))?;
        let (kind, config, dataset, bias) = (
            get("kind")?,
            parse("config")?,
            get("dataset")?,
            get("bias")?,
        );
        let mut prep = file.take_group("prep");
        let mut take1 = |key: &str, len: usize| -> Result<Option<Array1<f32>>> {
            match prep.remove(key) {
                None => Ok(None),
                Some(a) if a.shape() == [len] => {
                    Ok(Some(a.into_dimensionality().expect("shape checked")))
                }
                Some(a) => Err(model_err(
                    path,
                    format!("prep/{key} has shape {:?}, expected [{len}]", a.shape()),
                )),
            }
        };
        let mean_image =
            take1("mean_image", d)?.ok_or_else(|| model_err(path, "no prep/mean_image tensor"))?;
        let channel_stats = match (take1("channel_mean", c)?, take1("channel_std", c)?) {
            (Some(mu), Some(sd)) => Some((mu, sd)),
            (None, None) => None,
            _ => {
                return Err(model_err(
                    path,
                    "only one of the channel statistics is stored",
                ));
            }
        };
        let params = file.take_group("params");
        let buffers = file.take_group("buffers");
        if let Some(k) = prep
            .keys()
            .next()
            .map(|k| format!("prep/{k}"))
            .or_else(|| file.tensors.keys().next().cloned())
        {
            return Err(model_err(path, format!("unexpected tensor {k}")));
        }
        Ok(ModelFile {
            kind,
            config,
            classes,
            dataset,
            prep: Preprocessing {
                image_shape: (c, h, w),
                mean_image,
                channel_stats,
                bias: bias == "true",
            },
            params,
            buffers,
        })
    }

    /// The parameter `name` as a matrix, or an error naming the file.
    pub fn param2(&self, path: &Path, name: &str) -> Result<Array2<f32>> {
        let a = self
            .params
            .get(name)
            .ok_or_else(|| model_err(path, format!("no parameter {name}")))?;
        a.clone().into_dimensionality().map_err(|_| {
            model_err(
                path,
                format!("parameter {name} has shape {:?}, expected 2-D", a.shape()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn sample() -> ModelFile {
        ModelFile {
            kind: "linear".into(),
            config: serde_json::json!({"loss": "softmax"}),
            classes: vec!["a".into(), "b".into()],
            dataset: "sample".into(),
            prep: Preprocessing {
                image_shape: (1, 1, 2),
                mean_image: array![1.0, 2.0],
                channel_stats: Some((array![0.5], array![2.0])),
                bias: true,
            },
            params: BTreeMap::from([("W".to_string(), ArrayD::from_elem(vec![3, 2], 0.25f32))]),
            buffers: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let m = sample();
        m.save(&path).unwrap();
        let back = ModelFile::load(&path).unwrap();
        assert_eq!(back.kind, "linear");
        assert_eq!(back.config, m.config);
        assert_eq!(back.classes, m.classes);
        assert_eq!(back.prep, m.prep);
        assert_eq!(back.params, m.params);
        assert_eq!(back.param2(&path, "W").unwrap().dim(), (3, 2));
        assert!(back.param2(&path, "b").is_err());
    }

    #[test]
    fn foreign_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.safetensors");
        std::fs::write(&path, b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ").unwrap();
        let err = ModelFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("junk.safetensors"), "{err}");
        std::fs::write(&path, b"hello").unwrap();
        assert!(ModelFile::load(&path).is_err());
        assert!(ModelFile::load(&dir.path().join("missing")).is_err());
    }

    /// Files of version 1 (tensor names `prep.X`, `param.X`) still load.
    #[test]
    fn version_1_files_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.safetensors");
        let m = sample();
        m.save(&path).unwrap();
        let mut file = TensorFile::<f32>::read(&path).unwrap();
        let renamed: BTreeMap<String, ArrayD<f32>> = std::mem::take(&mut file.tensors)
            .into_iter()
            .map(|(k, v)| {
                let k = k
                    .replace("prep/", "prep.")
                    .replace("params/", "param.")
                    .replace("buffers/", "buffer.");
                (k, v)
            })
            .collect();
        file.tensors = renamed;
        file.metadata.insert("version".into(), "1".into());
        file.write(&path).unwrap();
        let back = ModelFile::load(&path).unwrap();
        assert_eq!(back.params, m.params);
        assert_eq!(back.prep, m.prep);
        file.metadata.insert("version".into(), "3".into());
        file.write(&path).unwrap();
        let err = ModelFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("version 3"), "{err}");
    }
}
