//! Reverse-mode automatic differentiation, as lecture 4 teaches it: a computational
//! graph of gates, the chain rule applied backwards, gradients adding at forks —
//! and the numerical gradient checks that every analytic gradient in cs231n-rs
//! must pass ([`gradcheck`]).
//!
//! - [`Graph`]: the tape. Leaves ([`Graph::input`], [`Graph::parameter`],
//!   [`Graph::constant`]) and elementary gates (add, mul, max, sigmoid, matmul,
//!   sums, gather, ...) as methods; [`Graph::backward`] fills every node's gradient.
//! - [`Gate`]: the trait through which other crates add fused gates with
//!   hand-derived vectorised backward passes ([`Graph::apply`]).
//! - [`Graph::to_dot`]: the lecture's picture, values and gradients on the wires.
//! - [`examples`]: the lecture's three circuits, built and differentiated.
//!
//! ```
//! use backprop::Graph;
//! // The sigmoid neuron of the lecture, with the fused sigmoid gate.
//! let mut g = Graph::<f64>::new();
//! let w = g.input("w", ndarray::array![2.0, -3.0, -3.0]);
//! let x = g.input("x", ndarray::array![-1.0, -2.0, 1.0]); // bias trick: x2 = 1
//! let dot = g.mul(w, x)?;
//! let z = g.sum(dot)?;
//! let f = g.sigmoid(z)?;
//! g.backward(f)?;
//! assert!((g.scalar_value(f)? - 0.73).abs() < 0.005);
//! assert!((g.grad(w)?[[0]] + 0.20).abs() < 0.005);
//! # Ok::<(), backprop::GraphError>(())
//! ```

mod display;
mod error;
mod gate;
mod gates;
mod graph;
mod ops;

pub mod examples;
pub mod gradcheck;

pub use display::TableRow;
pub use error::GraphError;
pub use gate::{BackwardArgs, Gate};
pub use graph::{Graph, NodeId, NodeKind, NodeView};
