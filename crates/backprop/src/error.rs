//! The one error type of the engine.

use thiserror::Error;

/// What can go wrong when building, running or reading a [`crate::Graph`].
///
/// Every variant names the gate (op) or node at fault, so a message read in a
/// training log points at the line of model code that built it.
///
/// # Example
/// ```
/// use backprop::{Graph, GraphError};
/// use ndarray::array;
/// let mut g = Graph::<f64>::new();
/// let a = g.input("a", array![1.0, 2.0]);
/// let b = g.input("b", array![1.0, 2.0, 3.0]);
/// let err = g.add(a, b).unwrap_err();
/// assert!(matches!(err, GraphError::ShapeMismatch { .. }));
/// assert_eq!(err.to_string(), "add: shapes [2] and [3] do not match");
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GraphError {
    /// Two operands whose shapes the op cannot combine.
    #[error("{op}: shapes {left:?} and {right:?} do not match")]
    ShapeMismatch {
        /// The gate that refused them.
        op: String,
        /// Shape of the first operand.
        left: Vec<usize>,
        /// Shape of the second operand.
        right: Vec<usize>,
    },
    /// A gate received a number of inputs it does not take.
    #[error("{op}: takes {expected} inputs, got {got}")]
    Arity {
        /// The gate.
        op: String,
        /// How many it takes.
        expected: usize,
        /// How many it was given.
        got: usize,
    },
    /// An input the op cannot work on (an axis out of range, a label that is not a
    /// class index, a reshape that changes the element count, ...).
    #[error("{op}: {message}")]
    InvalidInput {
        /// The gate.
        op: String,
        /// What is wrong, with the offending value.
        message: String,
    },
    /// The gradient of a node that the last backward pass did not reach: it is not
    /// on any path to the output (or no backward pass has run since the last
    /// [`crate::Graph::zero_grad`]).
    #[error("node {node} (\"{name}\") is not on the path to the output{}", .output.map(|o| format!(" (node {o})")).unwrap_or_default())]
    NotOnPath {
        /// Index of the node asked about.
        node: usize,
        /// Its name or op.
        name: String,
        /// The output of the last backward pass, if any.
        output: Option<usize>,
    },
    /// The gradient of a constant (data, labels, or a value computed from constants
    /// only): the engine never computes one.
    #[error("node {node} (\"{name}\") is a constant: it has no gradient")]
    Constant {
        /// Index of the node asked about.
        node: usize,
        /// Its name or op.
        name: String,
    },
    /// A node id that does not belong to this graph.
    #[error("node {node} does not exist: the graph has {len} nodes")]
    UnknownNode {
        /// The id given.
        node: usize,
        /// How many nodes the graph has.
        len: usize,
    },
    /// A gate's backward broke its contract (a gradient whose shape differs from
    /// its input's, or more gradients than inputs): a bug in that gate.
    #[error("{op}: backward returned {message}")]
    BadGradient {
        /// The gate.
        op: String,
        /// What it returned.
        message: String,
    },
}

impl GraphError {
    /// A [`GraphError::ShapeMismatch`] for `op` on two shapes.
    ///
    /// # Example
    /// ```
    /// let e = backprop::GraphError::shape_mismatch("matmul", &[2, 3], &[4, 5]);
    /// assert_eq!(e.to_string(), "matmul: shapes [2, 3] and [4, 5] do not match");
    /// ```
    pub fn shape_mismatch(op: &str, left: &[usize], right: &[usize]) -> Self {
        GraphError::ShapeMismatch {
            op: op.to_string(),
            left: left.to_vec(),
            right: right.to_vec(),
        }
    }

    /// A [`GraphError::InvalidInput`] for `op`.
    ///
    /// # Example
    /// ```
    /// let e = backprop::GraphError::invalid("log", "needs positive inputs");
    /// assert_eq!(e.to_string(), "log: needs positive inputs");
    /// ```
    pub fn invalid(op: &str, message: impl Into<String>) -> Self {
        GraphError::InvalidInput {
            op: op.to_string(),
            message: message.into(),
        }
    }

    /// Checks that a gate got exactly `expected` inputs.
    ///
    /// # Example
    /// ```
    /// use ndarray::{ArrayD, IxDyn};
    /// let x = ArrayD::<f32>::zeros(IxDyn(&[2]));
    /// assert!(backprop::GraphError::check_arity("relu", &[&x], 1).is_ok());
    /// assert!(backprop::GraphError::check_arity("relu", &[&x, &x], 1).is_err());
    /// ```
    pub fn check_arity<A>(op: &str, inputs: &[A], expected: usize) -> Result<(), Self> {
        if inputs.len() == expected {
            Ok(())
        } else {
            Err(GraphError::Arity {
                op: op.to_string(),
                expected,
                got: inputs.len(),
            })
        }
    }
}
