//! Does a model file agree with itself? `predict` trusts nothing a file says until it
//! is checked against the rest of the file: the input shape against the mean image
//! actually stored, the class names against the scores the network gives, every
//! stored number against being finite, every channel's std against zero.
//!
//! Two moments: [`preflight`] reads only the safetensors header, before any size in it
//! is used to allocate or multiply; [`check_values`] and [`check_outputs`] run on the
//! loaded file and on the first scores.

use std::io::Read;
use std::path::Path;

use ndarray::{Array2, ArrayD};
use serde_json::Value;

use crate::error::{CliError, Result};
use crate::model_file::ModelFile;

/// The `format` of nn's training checkpoints (and bare network files).
const CHECKPOINT_FORMAT: &str = nn::CHECKPOINT_FORMAT;

/// safetensors' own limit on the JSON header, which a file's first 8 bytes claim.
const MAX_HEADER: u64 = 100 << 20;

fn model_err(path: &Path, reason: impl Into<String>) -> CliError {
    CliError::Model {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Reads the safetensors JSON header of `path` (bounded by the file's length and by
/// safetensors' own 100 MB limit), without reading the tensors.
fn read_header(path: &Path) -> Result<Value> {
    let mut file = std::fs::File::open(path).map_err(|e| CliError::io(path, e))?;
    let len = file.metadata().map_err(|e| CliError::io(path, e))?.len();
    let mut n = [0u8; 8];
    if file.read_exact(&mut n).is_err() {
        return Err(model_err(
            path,
            format!("not a safetensors file ({len} bytes, shorter than its 8-byte header length)"),
        ));
    }
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || n > len.saturating_sub(8) {
        return Err(model_err(
            path,
            format!(
                "not a safetensors file (its header claims {n} bytes; the file has {})",
                len.saturating_sub(8)
            ),
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| CliError::io(path, e))?;
    serde_json::from_slice(&header)
        .map_err(|e| model_err(path, format!("not a safetensors file (header: {e})")))
}

/// The model file a training checkpoint sits beside: `OUT/nn_checkpoint.safetensors`
/// goes with `OUT/nn.safetensors`.
fn model_beside(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.strip_suffix("_checkpoint.safetensors") {
        Some(prefix) => path
            .with_file_name(format!("{prefix}.safetensors"))
            .display()
            .to_string(),
        None => "OUT/nn.safetensors (or OUT/cnn.safetensors)".into(),
    }
}

/// Checks what the header alone can tell, before the file is loaded: that it is a
/// model file and not a training checkpoint, that `classes` is not empty, and that
/// `input_shape` is three non-zero sizes whose product (checked) is the length of the
/// mean image the file actually stores.
///
/// Anything else odd about the file is left to the loader, whose errors name it too.
pub fn preflight(path: &Path) -> Result<()> {
    let header = read_header(path)?;
    let meta = header.get("__metadata__");
    let get = |key: &str| meta.and_then(|m| m.get(key)).and_then(Value::as_str);
    if get("format") == Some(CHECKPOINT_FORMAT) {
        return Err(model_err(
            path,
            format!(
                "this is a training checkpoint (for --resume), not a model for predict; use {}",
                model_beside(path)
            ),
        ));
    }
    if let Some(classes) = get("classes").and_then(|c| serde_json::from_str::<Value>(c).ok())
        && classes.as_array().is_some_and(Vec::is_empty)
    {
        return Err(model_err(path, "metadata `classes` lists no classes"));
    }
    let Some(shape) = get("input_shape") else {
        return Ok(());
    };
    let dims: Vec<u64> = serde_json::from_str(shape).map_err(|e| {
        model_err(
            path,
            format!("metadata `input_shape` {shape} is not a list of sizes: {e}"),
        )
    })?;
    if dims.len() != 3 || dims.contains(&0) {
        return Err(model_err(
            path,
            format!("metadata `input_shape` {shape} is not [C, H, W] of non-zero sizes"),
        ));
    }
    let stored = header
        .get("prep.mean_image")
        .and_then(|t| t.get("shape"))
        .and_then(Value::as_array)
        .map(|s| s.iter().map(Value::as_u64).product::<Option<u64>>());
    let values = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    match (values, stored) {
        (None, _) => Err(model_err(
            path,
            format!("metadata `input_shape` {shape}: C·H·W overflows"),
        )),
        (Some(d), Some(Some(m))) if d != m => Err(model_err(
            path,
            format!(
                "metadata `input_shape` {shape} asks for {d} values per image but prep.mean_image holds {m}"
            ),
        )),
        _ => Ok(()),
    }
}

/// The first value of `a` that is not finite, as (flat index, value).
fn first_non_finite(a: &ArrayD<f32>) -> Option<(usize, f32)> {
    a.iter().copied().enumerate().find(|(_, v)| !v.is_finite())
}

/// Refuses a loaded file with a NaN or infinite number anywhere (weights, buffers,
/// preprocessing) or a channel std that is not positive: either would turn every
/// prediction into NaN.
pub fn check_values(path: &Path, file: &ModelFile) -> Result<()> {
    let prep = &file.prep;
    let mut tensors: Vec<(String, ArrayD<f32>)> =
        vec![("prep.mean_image".into(), prep.mean_image.clone().into_dyn())];
    if let Some((mu, sd)) = &prep.channel_stats {
        tensors.push(("prep.channel_mean".into(), mu.clone().into_dyn()));
        tensors.push(("prep.channel_std".into(), sd.clone().into_dyn()));
    }
    let named = |prefix: &str, m: &std::collections::BTreeMap<String, ArrayD<f32>>| {
        m.iter()
            .map(|(k, v)| (format!("{prefix}.{k}"), v.clone()))
            .collect::<Vec<_>>()
    };
    tensors.extend(named("param", &file.params));
    tensors.extend(named("buffer", &file.buffers));
    for (name, a) in &tensors {
        if let Some((i, v)) = first_non_finite(a) {
            return Err(model_err(
                path,
                format!("{name}[{i}] is {v}; a model with non-finite numbers predicts nothing"),
            ));
        }
    }
    if let Some((_, sd)) = &prep.channel_stats
        && let Some((i, v)) = sd.iter().enumerate().find(|(_, v)| **v <= 0.0)
    {
        return Err(model_err(
            path,
            format!("prep.channel_std[{i}] is {v}; a channel's std must be positive to divide by"),
        ));
    }
    Ok(())
}

/// Refuses a file whose `classes` list does not name exactly the scores its model
/// gives, or a model whose scores overflow (finite weights can still reach infinity).
pub fn check_outputs(path: &Path, classes: usize, scores: &Array2<f32>) -> Result<()> {
    let given = scores.ncols();
    if classes != given {
        return Err(model_err(
            path,
            format!(
                "the model gives {given} scores per image but metadata `classes` names {classes}"
            ),
        ));
    }
    if let Some(v) = scores.iter().find(|v| !v.is_finite()) {
        return Err(model_err(
            path,
            format!("the model's scores overflow (a score is {v}); its weights are unusable"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_names_the_model_beside_it() {
        let p = Path::new("/o/cnn_checkpoint.safetensors");
        assert_eq!(model_beside(p), "/o/cnn.safetensors");
        assert!(model_beside(Path::new("x.safetensors")).contains("OUT/nn.safetensors"));
    }

    #[test]
    fn short_and_lying_headers_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        std::fs::write(&p, b"abc").unwrap();
        assert!(preflight(&p).unwrap_err().to_string().contains("8-byte"));
        let mut lying = u64::MAX.to_le_bytes().to_vec();
        lying.extend(b"{}");
        std::fs::write(&p, &lying).unwrap();
        let err = preflight(&p).unwrap_err().to_string();
        assert!(
            err.contains("claims") && err.contains("m.safetensors"),
            "{err}"
        );
    }

    #[test]
    fn outputs_must_match_classes() {
        let p = Path::new("m");
        let scores = Array2::<f32>::zeros((2, 10));
        assert!(check_outputs(p, 10, &scores).is_ok());
        let err = check_outputs(p, 3, &scores).unwrap_err().to_string();
        assert!(
            err.contains("10 scores") && err.contains("names 3"),
            "{err}"
        );
        let inf = Array2::from_elem((1, 2), f32::INFINITY);
        let err = check_outputs(p, 2, &inf).unwrap_err().to_string();
        assert!(err.contains("overflow"), "{err}");
    }
}
