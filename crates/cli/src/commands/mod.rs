//! One module per subcommand; each takes the run's context and its own options.

pub mod backprop;
pub mod info;
pub mod knn;
pub mod linear;
pub mod net;
pub mod predict;
pub mod show;
