//! The model files `cs231n predict` reads: one safetensors file holding the learned
//! tensors, the preprocessing that was fitted on the training split (mean image,
//! channel statistics, bias trick), and in its metadata the model kind, its
//! configuration, the class names and the input shape.
//!
//! Layout (metadata keys, all strings):
//! - `format` = `"cs231n-model"`, `version` = `"1"`
//! - `kind`: `"linear"`, `"nn"` or `"cnn"`
//! - `config`: JSON of the model's configuration (for linear: `{"loss": "svm"}`; for
//!   nn/cnn: the network's own `config()`)
//! - `classes`: JSON array of class names; `dataset`: where it was trained
//! - `input_shape`: JSON `[C, H, W]` of the images it expects; `bias`: `"true"`/`"false"`
//!
//! Tensors (f32): `prep.mean_image` (D), optionally `prep.channel_mean` /
//! `prep.channel_std` (C), and the model's own under `param.NAME` (and `buffer.NAME`
//! for non-trained state such as batchnorm running statistics).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayD, IxDyn};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

use crate::error::{CliError, Result};

const FORMAT: &str = "cs231n-model";
const VERSION: &str = "1";

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

fn bytes_of(a: &ArrayD<f32>) -> Vec<u8> {
    a.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl ModelFile {
    /// Writes the file (to a temporary name first, so an interrupted write never
    /// leaves a half file under the final name).
    pub fn save(&self, path: &Path) -> Result<()> {
        let (c, h, w) = self.prep.image_shape;
        let mut tensors: Vec<(String, ArrayD<f32>)> = vec![(
            "prep.mean_image".into(),
            self.prep.mean_image.clone().into_dyn(),
        )];
        if let Some((mu, sd)) = &self.prep.channel_stats {
            tensors.push(("prep.channel_mean".into(), mu.clone().into_dyn()));
            tensors.push(("prep.channel_std".into(), sd.clone().into_dyn()));
        }
        for (k, v) in &self.params {
            tensors.push((format!("param.{k}"), v.clone()));
        }
        for (k, v) in &self.buffers {
            tensors.push((format!("buffer.{k}"), v.clone()));
        }
        let data: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
            .iter()
            .map(|(k, a)| (k.clone(), bytes_of(a), a.shape().to_vec()))
            .collect();
        let views: Vec<(String, TensorView<'_>)> = data
            .iter()
            .map(|(k, bytes, shape)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| model_err(path, e.to_string()))
            })
            .collect::<Result<_>>()?;
        let meta: HashMap<String, String> = HashMap::from([
            ("format".into(), FORMAT.into()),
            ("version".into(), VERSION.into()),
            ("kind".into(), self.kind.clone()),
            ("config".into(), self.config.to_string()),
            (
                "classes".into(),
                serde_json::to_string(&self.classes).unwrap_or_default(),
            ),
            ("dataset".into(), self.dataset.clone()),
            ("input_shape".into(), format!("[{c},{h},{w}]")),
            ("bias".into(), self.prep.bias.to_string()),
        ]);
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| model_err(path, e.to_string()))?;
        let tmp = tmp_name(path);
        std::fs::write(&tmp, bytes).map_err(|e| CliError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| CliError::io(path, e))
    }

    /// Reads a file written by [`save`](Self::save); anything else is a clear error.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| model_err(path, format!("not a safetensors file ({e})")))?;
        let meta = header
            .metadata()
            .clone()
            .ok_or_else(|| model_err(path, "no metadata (was it written by cs231n?)"))?;
        let get = |key: &str| {
            meta.get(key)
                .cloned()
                .ok_or_else(|| model_err(path, format!("metadata has no `{key}`")))
        };
        if get("format")? != FORMAT {
            return Err(model_err(path, "metadata `format` is not cs231n-model"));
        }
        let version = get("version")?;
        if version != VERSION {
            return Err(model_err(
                path,
                format!("file version {version}; this cs231n reads version {VERSION}"),
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
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| model_err(path, format!("damaged tensors ({e})")))?;
        let mut all: BTreeMap<String, ArrayD<f32>> = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(model_err(
                    path,
                    format!("tensor {name} is {:?}, expected F32", view.dtype()),
                ));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let a = ArrayD::from_shape_vec(IxDyn(view.shape()), values)
                .map_err(|e| model_err(path, format!("tensor {name}: {e}")))?;
            all.insert(name, a);
        }
        let d = c * h * w;
        let take1 = |all: &mut BTreeMap<String, ArrayD<f32>>,
                     key: &str,
                     len: usize|
         -> Result<Option<Array1<f32>>> {
            match all.remove(key) {
                None => Ok(None),
                Some(a) if a.shape() == [len] => {
                    Ok(Some(a.into_dimensionality().expect("shape checked")))
                }
                Some(a) => Err(model_err(
                    path,
                    format!("{key} has shape {:?}, expected [{len}]", a.shape()),
                )),
            }
        };
        let mean_image = take1(&mut all, "prep.mean_image", d)?
            .ok_or_else(|| model_err(path, "no prep.mean_image tensor"))?;
        let channel_stats = match (
            take1(&mut all, "prep.channel_mean", c)?,
            take1(&mut all, "prep.channel_std", c)?,
        ) {
            (Some(mu), Some(sd)) => Some((mu, sd)),
            (None, None) => None,
            _ => {
                return Err(model_err(
                    path,
                    "only one of the channel statistics is stored",
                ));
            }
        };
        let mut params = BTreeMap::new();
        let mut buffers = BTreeMap::new();
        for (k, v) in all {
            if let Some(name) = k.strip_prefix("param.") {
                params.insert(name.to_owned(), v);
            } else if let Some(name) = k.strip_prefix("buffer.") {
                buffers.insert(name.to_owned(), v);
            } else {
                return Err(model_err(path, format!("unexpected tensor {k}")));
            }
        }
        Ok(ModelFile {
            kind: get("kind")?,
            config: parse("config")?,
            classes,
            dataset: get("dataset")?,
            prep: Preprocessing {
                image_shape: (c, h, w),
                mean_image,
                channel_stats,
                bias: get("bias")? == "true",
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

fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
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
}
