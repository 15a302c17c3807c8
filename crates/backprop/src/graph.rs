//! The tape: nodes in creation order (which is a topological order, since a gate's
//! inputs exist before it), each holding its value and, after a backward pass,
//! its gradient.

use ndarray::{Array, ArrayD, Dimension, IxDyn};
use numeric::Float;

use crate::GraphError;
use crate::gate::{BackwardArgs, Gate};

/// A handle to one node of a [`Graph`]: cheap to copy, valid for the graph that
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
    /// by [`Graph::parameters`].
    Parameter,
    /// A leaf without gradient (the data batch, the labels).
    Constant,
    /// The output of a gate.
    Op,
}

enum Kind<T> {
    Leaf(NodeKind),
    Op {
        gate: Box<dyn Gate<T>>,
        inputs: Vec<NodeId>,
    },
}

struct Node<T> {
    name: String,
    kind: Kind<T>,
    value: ArrayD<T>,
    grad: Option<ArrayD<T>>,
    /// Whether any leaf that wants a gradient lies below this node: if not, the
    /// backward pass skips it (no gradient is computed for data).
    needs_grad: bool,
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
    /// The name given at creation or by [`Graph::set_name`] (may be empty for gates).
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

/// A computational graph recorded as a tape of gates, with reverse-mode
/// differentiation over it.
///
/// Building a node runs its gate's forward pass at once (so shape errors surface
/// where the model code is wrong). [`Graph::backward`] then walks the tape in
/// reverse, giving each gate the upstream gradient and *adding* the gradients it
/// returns into its inputs — a value used twice receives the sum of both paths.
///
/// For the next minibatch, the same tape is reused: [`Graph::set_value`] the
/// leaves, [`Graph::forward`] re-runs every gate, [`Graph::backward`] again.
///
/// # Example
/// The lecture's first circuit, f(x, y, z) = (x + y)·z:
/// ```
/// use backprop::Graph;
/// let mut g = Graph::<f64>::new();
/// let (x, y, z) = (g.scalar("x", -2.0), g.scalar("y", 5.0), g.scalar("z", -4.0));
/// let q = g.add(x, y)?;
/// let f = g.mul(q, z)?;
/// g.backward(f)?;
/// assert_eq!(g.scalar_value(f)?, -12.0);
/// assert_eq!([g.scalar_grad(x)?, g.scalar_grad(y)?, g.scalar_grad(z)?], [-4.0, -4.0, 3.0]);
/// # Ok::<(), backprop::GraphError>(())
/// ```
pub struct Graph<T: Float> {
    nodes: Vec<Node<T>>,
    last_output: Option<usize>,
    /// Decimals shown in tables and pictures.
    pub(crate) precision: usize,
}

impl<T: Float> Default for Graph<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> std::fmt::Debug for Graph<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("nodes", &self.nodes.len())
            .field("last_output", &self.last_output)
            .finish()
    }
}

/// Calls `f` with the values of `inputs`, without a heap allocation for the
/// common arities.
fn with_values<T, R>(
    nodes: &[Node<T>],
    inputs: &[NodeId],
    f: impl FnOnce(&[&ArrayD<T>]) -> R,
) -> R {
    let v = |i: usize| &nodes[inputs[i].0].value;
    match inputs.len() {
        0 => f(&[]),
        1 => f(&[v(0)]),
        2 => f(&[v(0), v(1)]),
        3 => f(&[v(0), v(1), v(2)]),
        4 => f(&[v(0), v(1), v(2), v(3)]),
        _ => {
            let refs: Vec<&ArrayD<T>> = inputs.iter().map(|i| &nodes[i.0].value).collect();
            f(&refs)
        }
    }
}

impl<T: Float> Graph<T> {
    /// An empty graph.
    ///
    /// # Example
    /// ```
    /// let g = backprop::Graph::<f32>::new();
    /// assert!(g.is_empty());
    /// ```
    pub fn new() -> Self {
        Graph {
            nodes: Vec::new(),
            last_output: None,
            precision: 3,
        }
    }

    /// Number of nodes on the tape.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f32>::new();
    /// g.scalar("x", 1.0);
    /// assert_eq!(g.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tape has no node.
    ///
    /// # Example
    /// ```
    /// assert!(backprop::Graph::<f64>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn leaf<D: Dimension>(&mut self, name: &str, value: Array<T, D>, kind: NodeKind) -> NodeId {
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node {
            name: name.to_string(),
            kind: Kind::Leaf(kind),
            value: value.into_dyn(),
            grad: None,
            needs_grad: kind != NodeKind::Constant,
        });
        id
    }

    /// A leaf whose gradient is wanted (any shape; 0-d for a scalar).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.input("x", ndarray::array![[1.0, 2.0]]);
    /// assert_eq!(g.value(x)?.shape(), &[1, 2]);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn input<D: Dimension>(&mut self, name: &str, value: Array<T, D>) -> NodeId {
        self.leaf(name, value, NodeKind::Input)
    }

    /// A scalar (0-d) input, for the lecture's circuits of numbers.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.scalar("x", -2.0);
    /// assert_eq!(g.scalar_value(x)?, -2.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn scalar(&mut self, name: &str, value: T) -> NodeId {
        self.leaf(name, ndarray::arr0(value), NodeKind::Input)
    }

    /// A learnable parameter (a weight matrix, a bias): like an input, and listed by
    /// [`Graph::parameters`] for the optimiser.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f32>::new();
    /// let w = g.parameter("W", ndarray::Array2::<f32>::zeros((3, 2)));
    /// assert_eq!(g.parameters(), vec![w]);
    /// ```
    pub fn parameter<D: Dimension>(&mut self, name: &str, value: Array<T, D>) -> NodeId {
        self.leaf(name, value, NodeKind::Parameter)
    }

    /// A leaf without gradient: the data batch, the labels. Gates see that it
    /// needs none ([`BackwardArgs::needs_grad`]) and skip that work.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.constant("X", ndarray::array![1.0, 2.0]);
    /// let w = g.input("w", ndarray::array![3.0, 4.0]);
    /// let y = g.mul(x, w)?;
    /// let f = g.sum(y)?;
    /// g.backward(f)?;
    /// assert!(g.grad(x).is_err());
    /// assert_eq!(g.grad(w)?, &ndarray::array![1.0, 2.0].into_dyn());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn constant<D: Dimension>(&mut self, name: &str, value: Array<T, D>) -> NodeId {
        self.leaf(name, value, NodeKind::Constant)
    }

    /// Class labels as a constant node (stored as `T`, read back as indices by
    /// [`Graph::gather`]).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f32>::new();
    /// let y = g.labels("y", &[2, 0]);
    /// assert_eq!(g.value(y)?, &ndarray::array![2.0_f32, 0.0].into_dyn());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn labels(&mut self, name: &str, labels: &[usize]) -> NodeId {
        let value = labels_array::<T>(labels);
        self.leaf(name, value, NodeKind::Constant)
    }

    /// Inserts a gate with the given inputs, running its forward pass now.
    ///
    /// This is how other crates add fused gates (see [`Gate`]).
    ///
    /// # Errors
    /// Whatever the gate's forward pass reports (shape mismatches name the gate and
    /// both shapes), or [`GraphError::UnknownNode`] for a foreign input id.
    ///
    /// # Example
    /// ```
    /// # use backprop::{BackwardArgs, Gate, Graph, GraphError};
    /// # use ndarray::ArrayD;
    /// struct Double;
    /// impl Gate<f32> for Double {
    ///     fn name(&self) -> &str { "double" }
    ///     fn forward(&mut self, x: &[&ArrayD<f32>]) -> Result<ArrayD<f32>, GraphError> { Ok(x[0] * 2.0) }
    ///     fn backward(&mut self, a: &BackwardArgs<'_, f32>) -> Result<Vec<Option<ArrayD<f32>>>, GraphError> {
    ///         Ok(vec![Some(a.dout * 2.0)])
    ///     }
    /// }
    /// let mut g = Graph::new();
    /// let x = g.scalar("x", 3.0);
    /// let y = g.apply(Double, &[x])?;
    /// assert_eq!(g.scalar_value(y)?, 6.0);
    /// # Ok::<(), GraphError>(())
    /// ```
    pub fn apply(
        &mut self,
        gate: impl Gate<T> + 'static,
        inputs: &[NodeId],
    ) -> Result<NodeId, GraphError> {
        self.apply_boxed(Box::new(gate), inputs)
    }

    /// [`Graph::apply`] for a gate already boxed (a gate chosen at run time).
    ///
    /// # Example
    /// ```
    /// # use backprop::{Gate, Graph};
    /// # struct Id;
    /// # impl Gate<f64> for Id {
    /// #     fn name(&self) -> &str { "id" }
    /// #     fn forward(&mut self, x: &[&ndarray::ArrayD<f64>]) -> Result<ndarray::ArrayD<f64>, backprop::GraphError> { Ok(x[0].clone()) }
    /// #     fn backward(&mut self, a: &backprop::BackwardArgs<'_, f64>) -> Result<Vec<Option<ndarray::ArrayD<f64>>>, backprop::GraphError> { Ok(vec![Some(a.dout.clone())]) }
    /// # }
    /// let mut g = Graph::<f64>::new();
    /// let x = g.scalar("x", 1.0);
    /// let gate: Box<dyn Gate<f64>> = Box::new(Id);
    /// let y = g.apply_boxed(gate, &[x])?;
    /// assert_eq!(g.node(y)?.op, "id");
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn apply_boxed(
        &mut self,
        mut gate: Box<dyn Gate<T>>,
        inputs: &[NodeId],
    ) -> Result<NodeId, GraphError> {
        for &i in inputs {
            self.check(i)?;
        }
        let value = with_values(&self.nodes, inputs, |vals| gate.forward(vals))?;
        let needs_grad = inputs.iter().any(|i| self.nodes[i.0].needs_grad);
        let id = NodeId(self.nodes.len());
        self.nodes.push(Node {
            name: String::new(),
            kind: Kind::Op {
                gate,
                inputs: inputs.to_vec(),
            },
            value,
            grad: None,
            needs_grad,
        });
        Ok(id)
    }

    fn check(&self, node: NodeId) -> Result<usize, GraphError> {
        if node.0 < self.nodes.len() {
            Ok(node.0)
        } else {
            Err(GraphError::UnknownNode {
                node: node.0,
                len: self.nodes.len(),
            })
        }
    }

    /// Names a node (for tables and the DOT picture); returns it for chaining.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let (x, y) = (g.scalar("x", 1.0), g.scalar("y", 2.0));
    /// let q = g.add(x, y)?;
    /// g.set_name(q, "q")?;
    /// assert_eq!(g.node(q)?.name, "q");
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn set_name(&mut self, node: NodeId, name: &str) -> Result<NodeId, GraphError> {
        let i = self.check(node)?;
        self.nodes[i].name = name.to_string();
        Ok(node)
    }

    /// A read-only view of one node.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.scalar("x", 1.0);
    /// assert_eq!(g.node(x)?.op, "input");
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn node(&self, node: NodeId) -> Result<NodeView<'_, T>, GraphError> {
        let i = self.check(node)?;
        Ok(self.view(i))
    }

    fn view(&self, i: usize) -> NodeView<'_, T> {
        let n = &self.nodes[i];
        let (op, kind, inputs): (&str, NodeKind, &[NodeId]) = match &n.kind {
            Kind::Leaf(NodeKind::Input) => ("input", NodeKind::Input, &[]),
            Kind::Leaf(NodeKind::Parameter) => ("parameter", NodeKind::Parameter, &[]),
            Kind::Leaf(k) => ("constant", *k, &[]),
            Kind::Op { gate, inputs } => (gate.name(), NodeKind::Op, inputs),
        };
        NodeView {
            id: NodeId(i),
            name: &n.name,
            op,
            kind,
            inputs,
            value: &n.value,
            grad: n.grad.as_ref(),
        }
    }

    /// All nodes in tape (topological) order.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.scalar("x", 1.0);
    /// g.exp(x)?;
    /// let ops: Vec<&str> = g.nodes().map(|n| n.op).collect();
    /// assert_eq!(ops, ["input", "exp"]);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = NodeView<'_, T>> + '_ {
        (0..self.nodes.len()).map(|i| self.view(i))
    }

    /// The parameter nodes, in creation order.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// g.input("x", ndarray::array![1.0]);
    /// let b = g.parameter("b", ndarray::array![0.0]);
    /// assert_eq!(g.parameters(), vec![b]);
    /// ```
    pub fn parameters(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.kind, Kind::Leaf(NodeKind::Parameter)))
            .map(|(i, _)| NodeId(i))
            .collect()
    }

    /// The value of the last forward pass.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.input("x", ndarray::array![1.0, 4.0]);
    /// let r = g.sqrt(x)?;
    /// assert_eq!(g.value(r)?, &ndarray::array![1.0, 2.0].into_dyn());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn value(&self, node: NodeId) -> Result<&ArrayD<T>, GraphError> {
        let i = self.check(node)?;
        Ok(&self.nodes[i].value)
    }

    /// The value of a node holding a single number (a loss, a circuit's output).
    ///
    /// # Errors
    /// [`GraphError::InvalidInput`] if the node holds more than one number.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.input("x", ndarray::array![1.0, 2.0]);
    /// let s = g.sum(x)?;
    /// assert_eq!(g.scalar_value(s)?, 3.0);
    /// assert!(g.scalar_value(x).is_err());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn scalar_value(&self, node: NodeId) -> Result<T, GraphError> {
        let i = self.check(node)?;
        single(&self.nodes[i].value, "scalar_value", &self.view(i))
    }

    /// Replaces a leaf's value (the next minibatch, updated weights). The tape is
    /// kept; call [`Graph::forward`] to recompute the gates. The shape may change
    /// (a smaller last batch); gates check shapes again on the next forward.
    ///
    /// # Errors
    /// [`GraphError::InvalidInput`] for a gate's output (its value is computed).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.scalar("x", 1.0);
    /// let y = g.exp(x)?;
    /// g.set_value(x, ndarray::arr0(0.0))?;
    /// g.forward()?;
    /// assert_eq!(g.scalar_value(y)?, 1.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn set_value<D: Dimension>(
        &mut self,
        node: NodeId,
        value: Array<T, D>,
    ) -> Result<(), GraphError> {
        let i = self.check(node)?;
        let n = &mut self.nodes[i];
        if let Kind::Op { gate, .. } = &n.kind {
            return Err(GraphError::invalid(
                "set_value",
                format!(
                    "node {i} is the output of gate \"{}\"; only leaves can be set",
                    gate.name()
                ),
            ));
        }
        n.value = value.into_dyn();
        Ok(())
    }

    /// Sets a labels node (see [`Graph::labels`]) for the next minibatch.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f32>::new();
    /// let y = g.labels("y", &[0, 1]);
    /// g.set_labels(y, &[1, 1, 0])?;
    /// assert_eq!(g.value(y)?.len(), 3);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn set_labels(&mut self, node: NodeId, labels: &[usize]) -> Result<(), GraphError> {
        self.set_value(node, labels_array::<T>(labels))
    }

    /// Mutable access to a leaf's value, to update a parameter in place (an SGD
    /// step) without reallocating it. Call [`Graph::forward`] afterwards.
    ///
    /// # Errors
    /// [`GraphError::InvalidInput`] for a gate's output.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let w = g.parameter("w", ndarray::array![1.0, 2.0]);
    /// let f = g.sum(w)?;
    /// g.backward(f)?;
    /// let dw = g.grad(w)?.clone();
    /// g.value_mut(w)?.scaled_add(-0.5, &dw); // w -= lr * dw
    /// g.forward()?;
    /// assert_eq!(g.scalar_value(f)?, 2.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn value_mut(&mut self, node: NodeId) -> Result<&mut ArrayD<T>, GraphError> {
        let i = self.check(node)?;
        let n = &mut self.nodes[i];
        match &n.kind {
            Kind::Op { gate, .. } => Err(GraphError::invalid(
                "value_mut",
                format!(
                    "node {i} is the output of gate \"{}\"; only leaves can be changed",
                    gate.name()
                ),
            )),
            Kind::Leaf(_) => Ok(&mut n.value),
        }
    }

    /// Re-runs every gate's forward pass in tape order, over the current leaf
    /// values: the tape of the first minibatch serves all the next ones.
    ///
    /// # Errors
    /// The first gate that fails (new leaf shapes that no longer fit).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.input("x", ndarray::array![1.0, 2.0]);
    /// let s = g.sum(x)?;
    /// g.set_value(x, ndarray::array![5.0, 5.0, 5.0])?;
    /// g.forward()?;
    /// assert_eq!(g.scalar_value(s)?, 15.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn forward(&mut self) -> Result<(), GraphError> {
        self.last_output = None;
        for i in 0..self.nodes.len() {
            let (before, rest) = self.nodes.split_at_mut(i);
            let node = &mut rest[0];
            node.grad = None;
            if let Kind::Op { gate, inputs } = &mut node.kind {
                node.value = with_values(before, inputs, |vals| gate.forward(vals))?;
            }
        }
        Ok(())
    }

    /// Backpropagation from `output`, seeded with ∂output/∂output = 1 (every
    /// element, for a non-scalar output: the gradient of its sum).
    ///
    /// Walks the tape backwards from `output`; each gate reached multiplies its
    /// local gradient by the upstream one, and the results are *added* into its
    /// inputs' gradients. Gradients of the previous pass are discarded first, so
    /// afterwards [`Graph::grad`] is exactly ∂output/∂node.
    ///
    /// # Errors
    /// [`GraphError::BadGradient`] if a gate breaks its contract, or whatever a
    /// gate's backward reports.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.scalar("x", 3.0);
    /// let y = g.mul(x, x)?; // x used twice: the two paths add, 3 + 3
    /// g.backward(y)?;
    /// assert_eq!(g.scalar_grad(x)?, 6.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn backward(&mut self, output: NodeId) -> Result<(), GraphError> {
        let i = self.check(output)?;
        let seed = ArrayD::from_elem(self.nodes[i].value.raw_dim(), T::one());
        self.backward_from(i, seed)
    }

    /// Backpropagation from `output` seeded with an upstream gradient `dout` of
    /// `output`'s shape — how a sub-graph is checked with
    /// [`crate::gradcheck::eval_numerical_gradient_array`].
    ///
    /// # Errors
    /// [`GraphError::ShapeMismatch`] if `dout` is not `output`'s shape.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.input("x", ndarray::array![1.0, 2.0]);
    /// let y = g.scale(x, 3.0)?;
    /// g.backward_with(y, ndarray::array![1.0, -1.0])?;
    /// assert_eq!(g.grad(x)?, &ndarray::array![3.0, -3.0].into_dyn());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn backward_with<D: Dimension>(
        &mut self,
        output: NodeId,
        dout: Array<T, D>,
    ) -> Result<(), GraphError> {
        let i = self.check(output)?;
        if dout.shape() != self.nodes[i].value.shape() {
            return Err(GraphError::shape_mismatch(
                "backward_with",
                self.nodes[i].value.shape(),
                dout.shape(),
            ));
        }
        self.backward_from(i, dout.into_dyn())
    }

    fn backward_from(&mut self, out: usize, seed: ArrayD<T>) -> Result<(), GraphError> {
        self.zero_grad();
        self.nodes[out].grad = Some(seed);
        self.last_output = Some(out);
        for i in (0..=out).rev() {
            let (before, rest) = self.nodes.split_at_mut(i);
            let Node {
                kind,
                value,
                grad,
                needs_grad,
                ..
            } = &mut rest[0];
            let (Some(dout), true, Kind::Op { gate, inputs }) = (grad.as_ref(), *needs_grad, kind)
            else {
                continue;
            };
            let mut needs_buf = [false; 8];
            let needs_vec: Vec<bool>;
            let needs: &[bool] = if inputs.len() <= needs_buf.len() {
                for (k, inp) in inputs.iter().enumerate() {
                    needs_buf[k] = before[inp.0].needs_grad;
                }
                &needs_buf[..inputs.len()]
            } else {
                needs_vec = inputs.iter().map(|inp| before[inp.0].needs_grad).collect();
                &needs_vec
            };
            let grads = with_values(before, inputs, |vals| {
                gate.backward(&BackwardArgs::new(vals, value, dout, needs))
            })?;
            if grads.len() > inputs.len() {
                return Err(GraphError::BadGradient {
                    op: gate.name().to_string(),
                    message: format!("{} gradients for {} inputs", grads.len(), inputs.len()),
                });
            }
            for (k, g) in grads.into_iter().enumerate() {
                let (Some(g), true) = (g, needs[k]) else {
                    continue;
                };
                let target = &mut before[inputs[k].0];
                if g.shape() != target.value.shape() {
                    return Err(GraphError::BadGradient {
                        op: gate.name().to_string(),
                        message: format!(
                            "a gradient of shape {:?} for input {k} of shape {:?}",
                            g.shape(),
                            target.value.shape()
                        ),
                    });
                }
                match &mut target.grad {
                    None => target.grad = Some(g),
                    Some(acc) => *acc += &g,
                }
            }
        }
        Ok(())
    }

    /// ∂output/∂node from the last [`Graph::backward`].
    ///
    /// # Errors
    /// [`GraphError::NotOnPath`] if the last backward pass did not reach the node
    /// (it does not feed the output, or no pass has run), [`GraphError::Constant`]
    /// for constants.
    ///
    /// # Example
    /// ```
    /// use backprop::{Graph, GraphError};
    /// let mut g = Graph::<f64>::new();
    /// let (x, unused) = (g.scalar("x", 2.0), g.scalar("unused", 1.0));
    /// let y = g.exp(x)?;
    /// g.backward(y)?;
    /// assert!((g.scalar_grad(x)? - 2f64.exp()).abs() < 1e-12);
    /// assert!(matches!(g.grad(unused), Err(GraphError::NotOnPath { .. })));
    /// # Ok::<(), GraphError>(())
    /// ```
    pub fn grad(&self, node: NodeId) -> Result<&ArrayD<T>, GraphError> {
        let i = self.check(node)?;
        let n = &self.nodes[i];
        match &n.grad {
            Some(g) => Ok(g),
            None if !n.needs_grad => Err(GraphError::Constant {
                node: i,
                name: self.view(i).label().to_string(),
            }),
            None => Err(GraphError::NotOnPath {
                node: i,
                name: self.view(i).label().to_string(),
                output: self.last_output,
            }),
        }
    }

    /// The gradient of a node holding a single number.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.scalar("x", 2.0);
    /// let y = g.scale(x, 5.0)?;
    /// g.backward(y)?;
    /// assert_eq!(g.scalar_grad(x)?, 5.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn scalar_grad(&self, node: NodeId) -> Result<T, GraphError> {
        let g = self.grad(node)?;
        single(g, "scalar_grad", &self.view(node.0))
    }

    /// Moves a gradient out of the graph (no copy), e.g. to hand `dW` to an
    /// optimiser; the node then reads as not reached until the next backward.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let w = g.parameter("w", ndarray::array![1.0, 2.0]);
    /// let f = g.sum(w)?;
    /// g.backward(f)?;
    /// let dw = g.take_grad(w)?;
    /// assert_eq!(dw, ndarray::array![1.0, 1.0].into_dyn());
    /// assert!(g.grad(w).is_err());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn take_grad(&mut self, node: NodeId) -> Result<ArrayD<T>, GraphError> {
        self.grad(node)?;
        Ok(self.nodes[node.0].grad.take().expect("checked by grad()"))
    }

    /// Discards every gradient (also done at the start of each backward pass and
    /// each forward pass, so gradients never mix two passes).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let x = g.scalar("x", 2.0);
    /// let y = g.neg(x)?;
    /// g.backward(y)?;
    /// g.zero_grad();
    /// assert!(g.grad(x).is_err());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn zero_grad(&mut self) {
        for n in &mut self.nodes {
            n.grad = None;
        }
    }
}

fn single<T: Float>(a: &ArrayD<T>, what: &str, node: &NodeView<'_, T>) -> Result<T, GraphError> {
    if a.len() == 1 {
        Ok(*a.iter().next().expect("one element"))
    } else {
        Err(GraphError::invalid(
            what,
            format!(
                "node {} (\"{}\") holds shape {:?}, not one number",
                node.id,
                node.label(),
                a.shape()
            ),
        ))
    }
}

pub(crate) fn labels_array<T: Float>(labels: &[usize]) -> ArrayD<T> {
    ArrayD::from_shape_vec(
        IxDyn(&[labels.len()]),
        labels.iter().map(|&l| T::count(l)).collect(),
    )
    .expect("length matches")
}
