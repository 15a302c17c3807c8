//! The leaves of a graph: the inputs, parameters and constants a circuit starts
//! from, made and later reset for the next minibatch.

use ndarray::{Array, ArrayD, Dimension, IxDyn};
use numeric::Float;

use crate::node::{Kind, Node, NodeId, NodeKind};
use crate::{Graph, GraphError};

impl<T: Float> Graph<T> {
    /// Pushes a leaf; constants want no gradient, every other leaf does.
    pub(crate) fn leaf<D: Dimension>(
        &mut self,
        name: &str,
        value: Array<T, D>,
        kind: NodeKind,
    ) -> NodeId {
        self.nodes.push(Node {
            name: name.to_string(),
            kind: Kind::Leaf(kind),
            value: value.into_dyn(),
            grad: None,
            needs_grad: kind != NodeKind::Constant,
        });
        NodeId(self.nodes.len() - 1)
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
    /// needs none ([`crate::BackwardArgs::needs_grad`]) and skip that work.
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
}

/// Class labels as the values of a node: exact in `T` for any realistic class count.
pub(crate) fn labels_array<T: Float>(labels: &[usize]) -> ArrayD<T> {
    ArrayD::from_shape_vec(
        IxDyn(&[labels.len()]),
        labels.iter().map(|&l| T::count(l)).collect(),
    )
    .expect("length matches")
}
