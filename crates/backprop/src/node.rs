//! What the tape is made of: nodes (a leaf or a gate's output) with their value
//! and, after a backward pass, their gradient; and the read-only view of one.

use ndarray::ArrayD;

use crate::gate::Gate;

/// A handle to one node of a [`Graph`](crate::Graph): cheap to copy, valid for the graph that
/// returned it.
///
/// # Example
/// ```
/// let mut g = backprop::Graph::<f32>::new();
/// let x = g.scalar("x", 1.0);
/// assert_eq!(x.index(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) usize);

impl NodeId {
    /// Position of the node on the tape (0 for the first node created).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 1.0);
    /// let b = g.scalar("b", 2.0);
    /// assert_eq!((a.index(), b.index()), (0, 1));
    /// ```
    pub fn index(self) -> usize {
        self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a node is.
///
/// # Example
/// ```
/// use backprop::{Graph, NodeKind};
/// let mut g = Graph::<f64>::new();
/// let w = g.parameter("w", ndarray::array![1.0]);
/// assert_eq!(g.node(w)?.kind, NodeKind::Parameter);
/// # Ok::<(), backprop::GraphError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A leaf whose gradient is wanted (the lecture's x, y, z).
    Input,
    /// A leaf the optimiser updates (weights, biases): gradient wanted, and listed
    /// by [`Graph::parameters`](crate::Graph::parameters).
    Parameter,
    /// A leaf without gradient (the data batch, the labels).
    Constant,
    /// The output of a gate.
    Op,
}

/// A leaf holds a value set from outside; an op node, the gate that computes it.
pub(crate) enum Kind<T> {
    Leaf(NodeKind),
    Op {
        gate: Box<dyn Gate<T>>,
        inputs: Vec<NodeId>,
    },
}

/// One entry of the tape.
pub(crate) struct Node<T> {
    pub(crate) name: String,
    pub(crate) kind: Kind<T>,
    pub(crate) value: ArrayD<T>,
    pub(crate) grad: Option<ArrayD<T>>,
    /// Whether any leaf that wants a gradient lies below this node: if not, the
    /// backward pass skips it (no gradient is computed for data).
    pub(crate) needs_grad: bool,
}

/// A read-only view of one node, for tables, pictures and inspection.
///
/// # Example
/// ```
/// let mut g = backprop::Graph::<f64>::new();
/// let x = g.scalar("x", 3.0);
/// let y = g.neg(x)?;
/// let node = g.node(y)?;
/// assert_eq!((node.op, node.inputs), ("neg", &[x][..]));
/// # Ok::<(), backprop::GraphError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'g, T> {
    /// The node's handle.
    pub id: NodeId,
    /// The name given at creation or by [`Graph::set_name`](crate::Graph::set_name) (may be empty for gates).
    pub name: &'g str,
    /// The gate's name for gate outputs; `"input"`, `"parameter"` or `"constant"` for leaves.
    pub op: &'g str,
    /// What the node is.
    pub kind: NodeKind,
    /// The gate's inputs (empty for leaves).
    pub inputs: &'g [NodeId],
    /// The value of the last forward pass.
    pub value: &'g ArrayD<T>,
    /// The gradient of the last backward pass's output with respect to this node,
    /// if the pass reached it.
    pub grad: Option<&'g ArrayD<T>>,
}

impl<T> NodeView<'_, T> {
    /// The name if there is one, else the op: how the node is shown to people.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.scalar("x", 3.0);
    /// let y = g.exp(x)?;
    /// assert_eq!(g.node(x)?.label(), "x");
    /// assert_eq!(g.node(y)?.label(), "exp");
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn label(&self) -> &str {
        if self.name.is_empty() {
            self.op
        } else {
            self.name
        }
    }
}
