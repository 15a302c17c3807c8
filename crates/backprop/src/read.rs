//! Reading a graph: its nodes, values and gradients, for optimisers, tables and
//! tests.

use ndarray::ArrayD;
use numeric::Float;

use crate::node::{Kind, NodeId, NodeKind, NodeView};
use crate::{Graph, GraphError};

impl<T: Float> std::fmt::Debug for Graph<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("nodes", &self.nodes.len())
            .field("last_output", &self.last_output)
            .finish()
    }
}

impl<T: Float> Graph<T> {
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

    pub(crate) fn view(&self, i: usize) -> NodeView<'_, T> {
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

    /// The tape index of `node`, or an error for an id from another graph.
    pub(crate) fn check(&self, node: NodeId) -> Result<usize, GraphError> {
        if node.0 < self.nodes.len() {
            Ok(node.0)
        } else {
            Err(GraphError::UnknownNode {
                node: node.0,
                len: self.nodes.len(),
            })
        }
    }
}

/// The one number of a node, or an error naming the node and the shape it holds.
fn single<T: Float>(a: &ArrayD<T>, what: &str, node: &NodeView<'_, T>) -> Result<T, GraphError> {
    if a.len() == 1 {
        Ok(*a.iter().next().expect("one element"))
    } else {
        let (id, label, shape) = (node.id, node.label(), a.shape());
        Err(GraphError::invalid(
            what,
            format!("node {id} (\"{label}\") holds shape {shape:?}, not one number"),
        ))
    }
}
