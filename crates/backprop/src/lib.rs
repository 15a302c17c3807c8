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
//! A program needs no dependency but `backprop`: the crate re-exports [`ndarray`], the
//! [`Float`] bound, and the seeded generator [`Rng`] / [`rng`] that
//! [`gradcheck::grad_check_sparse`] takes. The example below uses nothing else;
//! `cargo run -p backprop --example backprop_quickstart` differentiates the lecture's first circuit.
//!
//! ```
//! use backprop::Graph;
//! use backprop::ndarray::array;
//! // The sigmoid neuron of the lecture, with the fused sigmoid gate.
//! let mut g = Graph::<f64>::new();
//! let w = g.input("w", array![2.0, -3.0, -3.0]);
//! let x = g.input("x", array![-1.0, -2.0, 1.0]); // bias trick: x2 = 1
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
mod graph;
mod leaves;
mod node;
mod ops;
mod read;
mod stack;

pub mod examples;
pub mod gradcheck;

pub use display::TableRow;
pub use error::GraphError;
pub use gate::{BackwardArgs, Gate};
pub use graph::Graph;

// What the public signatures use, so that depending on `backprop` alone is enough.
pub use ndarray;
pub use node::{NodeId, NodeKind, NodeView};
pub use numeric::{Float, Rng, rng};
