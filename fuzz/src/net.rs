//! Networks from untrusted text and files: architecture specs, and checkpoints or
//! model files followed by one forward pass.
//!
//! The nn calls sit in one small function per target ([`build_from_spec`],
//! [`load_from_file`]), so a change of nn's API touches one line each.

use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use nn::Model;

/// Input shapes a spec is built against: colour and grey images, flat rows.
const SPEC_INPUTS: [&[usize]; 3] = [&[3, 8, 8], &[1, 5, 5], &[10]];

/// Inputs larger than this are not scored (the forward pass is not what is fuzzed).
const MAX_INPUT: usize = 1 << 16;

/// Networks with more parameters than this are parsed and sized against nn's limits
/// but their weights are not allocated: a legal network of up to `nn::limits::MAX_PARAMETERS`
/// (2²⁸) is a real request that takes seconds to initialise, and a fuzzer that spends
/// them there finds timeouts instead of defects.
const MAX_BUILT_PARAMETERS: usize = 1 << 22;

/// Parses and builds a network from a spec (`nn::parse_arch` + `SequentialNet`).
pub fn build_from_spec(arch: &str, input_shape: &[usize]) -> Option<Box<dyn Model<f32>>> {
    let layers = nn::build_layers::<f32>(arch, input_shape, 0).ok()?;
    // Within the limits, so this sum cannot overflow.
    let parameters: usize = layers
        .iter()
        .flat_map(|layer| layer.params())
        .map(|p| p.shape.iter().product::<usize>())
        .sum();
    if parameters > MAX_BUILT_PARAMETERS {
        return None;
    }
    let config = nn::SequentialNetConfig::new(arch, input_shape);
    nn::SequentialNet::<f32>::new(config)
        .ok()
        .map(|m| Box::new(m) as Box<dyn Model<f32>>)
}

/// Loads a model (architecture from the metadata, then the weights) from a file.
pub fn load_from_file(path: &Path) -> Option<Box<dyn Model<f32>>> {
    nn::load_model::<f32>(path).ok()
}

/// One forward pass of zeros of the model's input shape (two images).
fn score_once(model: &mut dyn Model<f32>) {
    let mut shape = vec![2];
    shape.extend(model.input_shape());
    let size = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if size.is_some_and(|s| s <= MAX_INPUT) {
        let x = ArrayD::<f32>::zeros(IxDyn(&shape));
        let scores = model.scores(&x.view());
        assert_eq!(scores.nrows(), 2);
    }
}

/// An architecture spec (UTF-8 text), built against each input shape and run once.
pub fn spec(data: &[u8]) {
    let Ok(arch) = std::str::from_utf8(data) else {
        return;
    };
    for input in SPEC_INPUTS {
        if let Some(mut model) = build_from_spec(arch, input) {
            score_once(model.as_mut());
        }
    }
}

/// A safetensors file given as a model or checkpoint, loaded and run once.
pub fn checkpoint(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, data).expect("writing the file");
    if let Some(mut model) = load_from_file(&path) {
        score_once(model.as_mut());
    }
}
