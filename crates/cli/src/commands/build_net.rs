//! The network `cs231n nn` or `cs231n cnn` describes: the course's TwoLayerNet, a
//! FullyConnectedNet, the ThreeLayerConvNet or a `--arch` spec, built for the data.

use nn::{FcConfig, FullyConnectedNet, TwoLayerConfig, TwoLayerNet};
use nn::{Model, Normalization};
use nn::{SequentialNet, SequentialNetConfig, ThreeLayerConvNet, ThreeLayerConvNetConfig};

use super::net::Net;
use crate::error::{CliError, Result};

fn lib(what: &'static str) -> impl Fn(String) -> CliError {
    move |e| CliError::library(what, e)
}

/// Builds the network the options describe for inputs of `input_shape`.
pub(super) fn build(
    net: &Net<'_>,
    input_shape: (usize, usize, usize),
    num_classes: usize,
    reg: f64,
    seed: u64,
) -> Result<Box<dyn Model<f32>>> {
    let (c, h, w) = input_shape;
    let ws = net.train_args().weight_scale;
    match net {
        Net::Fc(a) => {
            if a.hidden.is_empty() || a.hidden.contains(&0) {
                return Err(CliError::Usage(
                    "--hidden needs positive sizes, e.g. 100 or 100,100".into(),
                ));
            }
            let keep = a.dropout.unwrap_or(1.0);
            if a.hidden.len() == 1 && a.norm == Normalization::None && keep == 1.0 {
                // The course's TwoLayerNet (files say so), He-initialised unless told.
                let he = nn::defaults::two_layer(c * h * w, num_classes);
                let cfg = TwoLayerConfig {
                    hidden_dim: a.hidden[0],
                    weight_scale: ws.unwrap_or(he.weight_scale),
                    reg,
                    seed,
                    ..he
                };
                return Ok(Box::new(
                    TwoLayerNet::<f32>::try_new(cfg).map_err(|e| lib("nn")(e.to_string()))?,
                ));
            }
            let cfg = FcConfig {
                input_dim: c * h * w,
                hidden_dims: a.hidden.clone(),
                num_classes,
                dropout_keep: keep,
                normalization: a.norm,
                reg,
                // He initialisation unless a scale is given: deep relu nets need it.
                weight_scale: ws,
                seed,
            };
            Ok(Box::new(
                FullyConnectedNet::<f32>::try_new(cfg).map_err(|e| lib("nn")(e.to_string()))?,
            ))
        }
        Net::Conv(a) => match &a.arch {
            None => {
                let cfg = ThreeLayerConvNetConfig {
                    input_dim: [c, h, w],
                    num_filters: a.num_filters,
                    filter_size: a.filter_size,
                    hidden_dim: a.hidden,
                    num_classes,
                    weight_scale: ws.unwrap_or(nn::defaults::convnet::WEIGHT_SCALE),
                    reg,
                    seed,
                };
                Ok(Box::new(
                    ThreeLayerConvNet::<f32>::new(cfg).map_err(|e| lib("cnn")(e.to_string()))?,
                ))
            }
            Some(arch) => {
                let cfg = SequentialNetConfig {
                    reg,
                    weight_scale: ws,
                    seed,
                    ..SequentialNetConfig::new(arch, &[c, h, w])
                };
                let model =
                    SequentialNet::<f32>::new(cfg).map_err(|e| lib("cnn")(e.to_string()))?;
                let classes = model.num_classes();
                if classes != num_classes {
                    return Err(CliError::Usage(format!(
                        "--arch ends with fc{classes} but the dataset has {num_classes} classes: end it with fc{num_classes}"
                    )));
                }
                Ok(Box::new(model))
            }
        },
    }
}

/// One line for the model: its kind and shape.
pub(super) fn describe(cfg: &serde_json::Value) -> String {
    let kind = cfg["kind"].as_str().unwrap_or("model");
    let mut parts = Vec::new();
    for key in [
        "hidden_dim",
        "hidden_dims",
        "normalization",
        "dropout_keep",
        "arch",
        "num_filters",
        "filter_size",
    ] {
        if let Some(v) = cfg.get(key) {
            parts.push(format!("{key} {v}"));
        }
    }
    if parts.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({})", parts.join(", "))
    }
}
