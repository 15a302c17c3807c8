//! The `nn` crate's integration tests as one test binary: one module per idea,
//! linked against the crate and its dependencies once rather than once per file.

mod arch;
mod augment;
mod common;
mod fc;
mod gates;
mod layer;
mod layer_utils;
mod layers;
mod models_match_reference;
mod registry;
mod sequential;
mod solver;
mod three_layer_convnet;
