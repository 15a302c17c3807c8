//! Model files written the way `cs231n` writes them (the safetensors layout of
//! docs/cli.md), so tests can spoil them one field at a time.

// Each test file uses a part of these helpers.
#![allow(dead_code)]

pub mod cli_run;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nn::Model;
use safetensors::tensor::{Dtype, TensorView};

/// A two-layer net model file and its parts, ready to be spoiled.
pub struct Spec {
    pub meta: HashMap<String, String>,
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Spec {
    /// A consistent model file: 3 classes, grey 2×2 input, channel statistics.
    pub fn net() -> Self {
        Self::net_for([1, 2, 2])
    }

    /// A consistent two-layer net model file for `[C, H, W]` input.
    pub fn net_for([c, h, w]: [usize; 3]) -> Self {
        let d = c * h * w;
        let net = nn::TwoLayerNet::<f32>::new(nn::TwoLayerConfig {
            input_dim: d,
            hidden_dim: 5,
            num_classes: 3,
            weight_scale: 0.1,
            seed: 7,
            ..Default::default()
        });
        let mut tensors = vec![
            ("prep.mean_image".to_string(), vec![d], vec![100.0; d]),
            ("prep.channel_mean".to_string(), vec![c], vec![0.0; c]),
            ("prep.channel_std".to_string(), vec![c], vec![50.0; c]),
        ];
        for (name, a) in net.params() {
            tensors.push((
                format!("param.{name}"),
                a.shape().to_vec(),
                a.iter().copied().collect(),
            ));
        }
        let meta = [
            ("format", "cs231n-model".to_string()),
            ("version", "1".into()),
            ("kind", "nn".into()),
            ("config", net.config().to_string()),
            ("classes", r#"["a","b","c"]"#.into()),
            ("dataset", "sample".into()),
            ("input_shape", format!("[{c},{h},{w}]")),
            ("bias", "false".into()),
        ];
        Spec {
            meta: meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            tensors,
        }
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }

    pub fn tensor(mut self, name: &str, f: impl Fn(&mut Vec<f32>)) -> Self {
        let t = self.tensors.iter_mut().find(|t| t.0 == name).expect(name);
        f(&mut t.2);
        self
    }

    pub fn write(&self, path: &Path) -> PathBuf {
        let bytes: Vec<Vec<u8>> = self
            .tensors
            .iter()
            .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views: Vec<(String, TensorView<'_>)> = self
            .tensors
            .iter()
            .zip(&bytes)
            .map(|((name, shape, _), b)| {
                (
                    name.clone(),
                    TensorView::new(Dtype::F32, shape.clone(), b).unwrap(),
                )
            })
            .collect();
        let out = safetensors::serialize(views, Some(self.meta.clone())).unwrap();
        std::fs::write(path, out).unwrap();
        path.to_owned()
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_cs231n");

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `cs231n predict --model MODEL IMAGES...`.
pub fn predict(model: &Path, images: &[&Path]) -> Output {
    predict_with(&[], model, images)
}

/// Runs `cs231n GLOBAL... predict --model MODEL IMAGES...` (global options such as `--json`).
pub fn predict_with(global: &[&str], model: &Path, images: &[&Path]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(global);
    cmd.args(["predict", "--model", s(model)]);
    cmd.args(images.iter().map(|p| s(p)));
    cmd.output().expect("the binary runs")
}
