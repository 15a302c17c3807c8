//! The one [safetensors] codec of the project: named tensors plus string metadata,
//! written atomically (to `FILE.partial`, then renamed, so an interrupted write never
//! leaves a torn file under the final name) and read back with every problem a
//! typed [`Error`] naming the file and the tensor.
//!
//! Tensors are grouped by a name prefix and a slash: `params/W1`, `buffers/running_mean1`,
//! `optim/W1/m`, `prep/mean_image`. Checkpoints ([`crate::Checkpoint`]) and the CLI's
//! model files both go through this module.
//!
//! [safetensors]: https://github.com/huggingface/safetensors
//!
//! ```
//! use nn::{Params, TensorFile};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("t.safetensors");
//! let mut file = TensorFile::<f32>::default();
//! file.metadata.insert("format".into(), "demo".into());
//! file.insert_group("params", &Params::from([("W".to_string(), ndarray::ArrayD::ones(vec![2, 3]))]));
//! file.write(&path)?;
//! let mut back = TensorFile::<f64>::read(&path)?; // f32 on disk, f64 in memory
//! assert_eq!(back.metadata["format"], "demo");
//! assert_eq!(back.take_group("params")["W"].shape(), &[2, 3]);
//! # Ok::<(), nn::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use numeric::{Dtype as NumericDtype, Float};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Error, Result};
use crate::model::Params;

/// Named tensors and string metadata: the contents of one safetensors file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorFile<T> {
    /// Metadata entries.
    pub metadata: BTreeMap<String, String>,
    /// Tensors by full name (`"params/W1"`).
    pub tensors: Params<T>,
}

impl<T> Default for TensorFile<T> {
    fn default() -> Self {
        Self {
            metadata: BTreeMap::new(),
            tensors: Params::new(),
        }
    }
}

/// The safetensors dtype of `T`.
fn dtype_of<T: Float>() -> Dtype {
    match T::DTYPE {
        NumericDtype::F32 => Dtype::F32,
        NumericDtype::F64 => Dtype::F64,
    }
}

impl<T: Float> TensorFile<T> {
    /// Adds every tensor of `group` under `prefix/name`.
    pub fn insert_group(&mut self, prefix: &str, group: &Params<T>) {
        for (name, a) in group {
            self.tensors.insert(format!("{prefix}/{name}"), a.clone());
        }
    }

    /// Removes and returns the tensors named `prefix/…`, keyed by the rest of the name.
    pub fn take_group(&mut self, prefix: &str) -> Params<T> {
        let start = format!("{prefix}/");
        let names: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| k.starts_with(&start))
            .cloned()
            .collect();
        names
            .into_iter()
            .filter_map(|k| {
                let a = self.tensors.remove(&k)?;
                Some((k[start.len()..].to_string(), a))
            })
            .collect()
    }

    /// The metadata entry `key`, or [`Error::Metadata`] saying it is missing.
    ///
    /// # Errors
    /// When the entry is missing.
    pub fn meta(&self, path: &Path, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::Metadata {
                path: path.to_path_buf(),
                key: key.to_string(),
                problem: "missing".to_string(),
            })
    }

    /// Writes the file as `T` (via `path.partial` and a rename).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file that could not be written.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let dtype = dtype_of::<T>();
        let bytes: Vec<(&String, Vec<u8>, &[usize])> = self
            .tensors
            .iter()
            .map(|(name, a)| (name, to_bytes(a), a.shape()))
            .collect();
        let views = bytes
            .iter()
            .map(|(name, data, shape)| {
                TensorView::new(dtype, shape.to_vec(), data)
                    .map(|v| ((*name).clone(), v))
                    .map_err(|e| format_error(path, e))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        let encoded =
            safetensors::serialize(views, Some(meta)).map_err(|e| format_error(path, e))?;
        let tmp = partial_name(path);
        std::fs::write(&tmp, encoded).map_err(|source| Error::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a safetensors file of F32 or F64 tensors, converting them to `T`.
    ///
    /// The header's offsets are checked against the file's length by the reader, so a
    /// tensor never claims more memory than the file holds.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Format`] for bytes that are not safetensors,
    /// [`Error::Dtype`] for a tensor of another element type.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| format_error(path, e))?;
        let metadata = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let st = SafeTensors::deserialize(&bytes).map_err(|e| format_error(path, e))?;
        let mut tensors = Params::new();
        for (name, view) in st.iter() {
            tensors.insert(name.to_string(), from_view(path, name, &view)?);
        }
        Ok(Self { metadata, tensors })
    }
}

/// `FILE.partial` beside `FILE`: where a write goes before its rename.
fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn to_bytes<T: Float>(a: &ArrayD<T>) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() * std::mem::size_of::<T>());
    for &v in a.iter() {
        match T::DTYPE {
            NumericDtype::F64 => out.extend_from_slice(&v.as_f64().to_le_bytes()),
            NumericDtype::F32 => out.extend_from_slice(&(v.as_f64() as f32).to_le_bytes()),
        }
    }
    out
}

fn from_view<T: Float>(path: &Path, name: &str, view: &TensorView<'_>) -> Result<ArrayD<T>> {
    let data = view.data();
    let values: Vec<T> = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| T::cast(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| T::cast(f64::from_le_bytes(c.try_into().expect("8 bytes"))))
            .collect(),
        other => {
            return Err(Error::Dtype {
                path: path.to_path_buf(),
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    };
    ArrayD::from_shape_vec(view.shape().to_vec(), values).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: format!("tensor {name:?}: {e}"),
    })
}

fn format_error(path: &Path, e: safetensors::SafeTensorError) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.safetensors");
        let mut f = TensorFile::<f64>::default();
        f.tensors
            .insert("g/x".into(), ndarray::array![[1.5, -2.0]].into_dyn());
        f.metadata.insert("k".into(), "v".into());
        f.write(&path).unwrap();
        assert!(!partial_name(&path).exists());
        assert_eq!(TensorFile::<f64>::read(&path).unwrap(), f);
    }

    #[test]
    fn foreign_bytes_are_format_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.safetensors");
        std::fs::write(&path, b"hello").unwrap();
        let err = TensorFile::<f32>::read(&path).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
        assert!(err.to_string().contains("junk.safetensors"), "{err}");
    }
}
