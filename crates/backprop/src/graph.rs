//! The tape: nodes in creation order (which is a topological order, since a gate's
//! inputs exist before it), the forward pass over it, and the backward pass — the
//! chain rule, one gate at a time, in reverse.
//!
//! Leaves are made in `leaves.rs`, values and gradients are read in `read.rs`, and
//! every gate lives with its forward and backward in `ops/`.

use ndarray::{Array, ArrayD, Dimension};
use numeric::Float;

use crate::GraphError;
use crate::gate::{BackwardArgs, Gate};
use crate::node::{Kind, Node, NodeId};
use crate::stack::{with_needs_grad, with_values};

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
    pub(crate) nodes: Vec<Node<T>>,
    pub(crate) last_output: Option<usize>,
    /// Decimals shown in tables and pictures.
    pub(crate) precision: usize,
}

impl<T: Float> Default for Graph<T> {
    fn default() -> Self {
        Self::new()
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

    /// Inserts a gate with the given inputs, running its forward pass now: how
    /// other crates add fused gates (the example on [`Gate`] adds `x³`).
    ///
    /// # Errors
    /// Whatever the gate's forward pass reports (shape mismatches name the gate and
    /// both shapes), or [`GraphError::UnknownNode`] for a foreign input id.
    pub fn apply(
        &mut self,
        gate: impl Gate<T> + 'static,
        inputs: &[NodeId],
    ) -> Result<NodeId, GraphError> {
        self.apply_boxed(Box::new(gate), inputs)
    }

    /// [`Graph::apply`] for a gate already boxed (a gate chosen at run time,
    /// `Box<dyn Gate<T>>`).
    ///
    /// # Errors
    /// As [`Graph::apply`].
    pub fn apply_boxed(
        &mut self,
        mut gate: Box<dyn Gate<T>>,
        inputs: &[NodeId],
    ) -> Result<NodeId, GraphError> {
        for &i in inputs {
            self.check(i)?;
        }
        let value = with_values(&self.nodes, inputs, |values| gate.forward(values))?;
        let needs_grad = inputs.iter().any(|i| self.nodes[i.0].needs_grad);
        let inputs = inputs.to_vec();
        self.nodes.push(Node {
            name: String::new(),
            kind: Kind::Op { gate, inputs },
            value,
            grad: None,
            needs_grad,
        });
        Ok(NodeId(self.nodes.len() - 1))
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
                node.value = with_values(before, inputs, |values| gate.forward(values))?;
            }
        }
        Ok(())
    }

    /// Backpropagation from `output`, seeded with ∂output/∂output = 1 (every
    /// element, for a non-scalar output: the gradient of its sum). Gradients of
    /// the previous pass are discarded first, so afterwards [`Graph::grad`] is
    /// exactly ∂output/∂node.
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
        let shape = self.nodes[i].value.shape();
        if dout.shape() != shape {
            return Err(GraphError::shape_mismatch(
                "backward_with",
                shape,
                dout.shape(),
            ));
        }
        self.backward_from(i, dout.into_dyn())
    }

    /// The chain rule over the tape: from the output down, each gate on the path
    /// turns its upstream gradient `dout` into its inputs' gradients, which are
    /// *added* into theirs (a fork sums its paths). Tape order is topological, so
    /// when node `i` is reached every node that uses it has already given it its
    /// whole gradient.
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
            // Leaves, nodes off the path, and gates over data only have nothing to pass on.
            let (Some(dout), true, Kind::Op { gate, inputs }) = (grad.as_ref(), *needs_grad, kind)
            else {
                continue;
            };
            let grads = with_needs_grad(before, inputs, |needs| {
                with_values(before, inputs, |values| {
                    gate.backward(&BackwardArgs::new(values, value, dout, needs))
                })
            })?;
            add_into_inputs(before, inputs, grads, gate.name())?;
        }
        Ok(())
    }
}

/// Adds each gradient a gate returned into its input's gradient (`+=`, never `=`:
/// that is what makes gradients sum at forks), after checking the gate kept its
/// contract: at most one gradient per input, each of its input's shape.
fn add_into_inputs<T: Float>(
    nodes: &mut [Node<T>],
    inputs: &[NodeId],
    grads: Vec<Option<ArrayD<T>>>,
    op: &str,
) -> Result<(), GraphError> {
    let bad = |message: String| GraphError::BadGradient {
        op: op.to_string(),
        message,
    };
    if grads.len() > inputs.len() {
        return Err(bad(format!(
            "{} gradients for {} inputs",
            grads.len(),
            inputs.len()
        )));
    }
    for (k, g) in grads.into_iter().enumerate() {
        let target = &mut nodes[inputs[k].0];
        let Some(g) = g.filter(|_| target.needs_grad) else {
            continue;
        };
        if g.shape() != target.value.shape() {
            let (got, want) = (g.shape(), target.value.shape());
            return Err(bad(format!(
                "a gradient of shape {got:?} for input {k} of shape {want:?}"
            )));
        }
        match &mut target.grad {
            None => target.grad = Some(g),
            Some(acc) => *acc += &g,
        }
    }
    Ok(())
}
