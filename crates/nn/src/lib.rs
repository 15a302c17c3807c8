//! Neural networks as lectures 4–7 build them: modular layers with hand-derived
//! backward passes, fully connected and convolutional models, update rules, a
//! `Solver` and checkpoints.
//!
//! One idea per file, named as the course's modules; everything is re-exported here
//! (`nn::affine_forward`, `nn::SequentialNet`, ...):
//!
//! | file | what |
//! |------|------|
//! | `layer.rs` | the [`Layer`] trait: forward → (out, cache), backward → (dx, grads) |
//! | `gelu.rs` | GELU, exact and tanh forms |
//! | `affine.rs`, `activations.rs`, `norm.rs`, `dropout.rs`, `flatten.rs` | the course-named `*_forward` / `*_backward` pairs of `layers.py`, and their layers |
//! | `conv.rs`, `conv_param.rs`, `im2col.rs`, `im2col_wide.rs`, `conv_batched.rs`, `winograd.rs`, `winograd_tiles.rs`, `winograd_planes.rs` | naive convolution (`layers.py`) and the fast path (`fast_layers.py`, `im2col.py`) in its three layouts |
//! | `pool.rs`, `floor_pool.rs`, `spatial.rs`, `spatial_naive.rs`, `bn_gelu.rs`, `group_norm.rs`, `planes.rs` | max pooling; spatial batch norm, group norm; plane-wise passes over NCHW |
//! | `layer_utils.rs` | the sandwich layers (`affine_relu`, `conv_relu_pool`, ...) |
//! | `model.rs` | the [`Model`] trait the Solver trains and files hold |
//! | `two_layer_net.rs`, `fc.rs`, `three_layer_convnet.rs` | `TwoLayerNet`, `FullyConnectedNet` (`fc_net.py`), `ThreeLayerConvNet` (`cnn.py`), built from the sandwich layers |
//! | `sequential.rs`, `arch.rs` | `SequentialNet` and its spec language |
//! | `optim.rs`, `solver.rs`, `augment.rs` | update rules, the `Solver`, data augmentation |
//! | `airbench.rs`, `recipe.rs` | the fast-training recipe's network (airbench94) and its training loop |
//! | `whitening.rs`, `floor_pool.rs`, `scaled_linear.rs`, `label_smoothing.rs` | the recipe's layers and loss |
//! | `nesterov.rs`, `schedule.rs`, `lookahead.rs`, `tta.rs` | its optimiser, schedules, weight averaging and test-time augmentation |
//! | `tensor_file.rs`, `checkpoint.rs`, `registry.rs` | the safetensors codec, checkpoints, rebuilding a model from a file |
//! | `gates.rs` | any layer as a `backprop` gate |
//! | `error.rs`, `limits.rs` | the one [`Error`] type; the limits on sizes from files and specs |
//!
//! Conventions, stated once: arrays are `ndarray` views in and owned arrays out;
//! batches put examples on axis 0; parameters are named `W1`, `b1`, `gamma1`, ...;
//! everything is generic over `f32`/`f64` ([`numeric::Float`]); train in `f32`,
//! gradient-check in `f64`.
//!
//! A user's ten lines: a two-layer net trained on the bundled sample (Fashion-MNIST):
//!
//! ```
//! use nn::prelude::*;
//! use cifar_data::{preprocess, DataSource, DatasetChoice, Preprocess};
//! let (train, test) = DataSource::resolve(DatasetChoice::Sample, "data")?.load()?;
//! let d = preprocess::<f32>(&train, &test, &Preprocess::default())?;
//! let net = TwoLayerNet::<f32>::new(nn::defaults::two_layer(d.x_train.ncols(), 10));
//! let data = TrainData::new(d.x_train.view(), d.y_train.view(), d.x_val.view(), d.y_val.view());
//! let mut solver = Solver::new(net, data, SolverConfig { num_epochs: 2, ..nn::defaults::solver_config() })?;
//! solver.train()?;
//! assert!(solver.history.best_val_acc > 0.6, "{}", solver.history.best_val_acc);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod activations;
mod affine;
mod airbench;
mod arch;
mod augment;
mod bn_gelu;
mod checkpoint;
mod conv;
mod conv_batched;
mod conv_param;
mod conv_relu_pool;
pub mod defaults;
mod direct_relu_pool;
mod dropout;
mod error;
mod fc;
mod flatten;
mod floor_pool;
mod gates;
mod gelu;
mod group_norm;
mod im2col;
mod im2col_wide;
mod label_smoothing;
mod layer;
mod layer_utils;
pub mod limits;
mod lookahead;
mod model;
mod nesterov;
mod norm;
mod optim;
mod planes;
mod pool;
mod pooled_dw;
mod recipe;
mod registry;
mod scaled_linear;
mod schedule;
mod sequential;
mod solver;
mod spatial;
mod spatial_naive;
mod tensor_file;
#[cfg(test)]
mod test_util;
mod three_layer_convnet;
mod tta;
mod two_layer_net;
mod whitening;
mod winograd;
mod winograd_planes;
mod winograd_tiles;

pub use activations::*;
pub use affine::*;
pub use airbench::{Airbench94, Airbench94Config, ParamRole};
pub use arch::{LayerSpec, build as build_layers, parse_arch};
pub use augment::*;
pub use bn_gelu::BatchNormGelu;
pub use checkpoint::*;
pub use conv::{ConvCache, ConvParam, conv_backward_naive, conv_forward_naive};
pub use dropout::*;
pub use error::{Error, Result};
pub use fc::*;
pub use flatten::Flatten;
pub use floor_pool::FloorMaxPool;
pub use gates::{LayerGate, LossGate};
pub use gelu::*;
pub use group_norm::*;
#[doc(hidden)]
pub use im2col::ab;
pub use im2col::{Conv, conv_backward_fast, conv_backward_fast_no_dx, conv_forward_fast};
pub use label_smoothing::softmax_loss_smoothed;
pub use layer::{Cache, Init, Layer, Mode, ParamSpec};
pub use layer_utils::*;
pub use linear::{Loss, softmax_loss, svm_loss};
pub use lookahead::{LOOKAHEAD_EVERY, Lookahead};
pub use model::{Model, Params, accuracy, argmax};
pub use nesterov::{RecipeRates, StepRates, nesterov_sgd};
pub use norm::*;
pub use optim::*;
pub use pool::*;
pub use recipe::{EpochStats, Recipe, RecipeConfig};
pub use registry::{build_model, load_model, load_weights, parameter_count, rebuild_model};
pub use scaled_linear::ScaledLinear;
pub use schedule::{WARMUP_FRACTION, lookahead_decay, triangle_lr};
pub use sequential::{SequentialNet, SequentialNetConfig};
pub use solver::*;
pub use spatial::*;
pub use spatial_naive::*;
pub use tensor_file::TensorFile;
pub use three_layer_convnet::{ThreeLayerConvNet, ThreeLayerConvNetConfig};
pub use tta::{TtaView, tta_scores, tta_views};
pub use two_layer_net::{TwoLayerConfig, TwoLayerNet};
pub use whitening::{patch_covariance, symmetric_eigen, whitening_filters};

/// What a training script needs, in one `use nn::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Augment, FcConfig, FullyConnectedNet, Layer, Mode, Model, Params, SequentialNet,
        SequentialNetConfig, Solver, SolverConfig, ThreeLayerConvNet, ThreeLayerConvNetConfig,
        TrainData, TwoLayerConfig, TwoLayerNet, UpdateRule,
    };
}
