//! Neural networks as lectures 4–7 build them: modular layers with hand-derived
//! backward passes, fully connected models, update rules, a `Solver` and checkpoints.
//!
//! - [`model`]: the [`Model`] trait every network implements, and the
//!   named-parameter container [`Params`] the Solver works on.
//! - [`layers`]: course-style `*_forward` / `*_backward` pairs (affine, relu, leaky
//!   relu, sigmoid, tanh, batchnorm, layernorm, dropout, sandwich layers).
//! - [`gates`]: the same layers as `backprop` gates, to compose on the tape.
//! - [`losses`]: softmax and SVM losses on scores (from `linear`).
//! - [`fc`]: `TwoLayerNet` and `FullyConnectedNet` (any depth, batch/layer norm, dropout).
//! - [`optim`]: update rules sgd, sgd_momentum, rmsprop, adam with per-parameter state.
//! - [`solver`]: the `Solver` (minibatch training, histories, best weights, lr decay,
//!   checkpoints and resume).
//! - [`defaults`]: the settings the CLI uses when given none (measured in docs/nn.md).
//! - [`checkpoint`]: model files and training checkpoints (safetensors), and
//!   rebuilding any saved model from its file.

pub mod checkpoint;
pub mod cnn;
pub mod conv;
pub mod defaults;
pub mod fc;
pub mod gates;
pub mod layers;
pub mod losses;
pub mod model;
pub mod optim;
pub mod pool;
pub mod solver;
pub mod spatial;
#[cfg(test)]
mod test_util;

pub use model::{Model, Params};
