//! The add gate and its kin. The add gate *distributes*: each input receives the
//! upstream gradient unchanged, since ∂(a + b)/∂a = ∂(a + b)/∂b = 1.

use ndarray::{ArrayD, Zip};
use numeric::Float;

use super::broadcast::{broadcast_pair, sum_to_shape};
use super::{Grads, one};
use crate::gate::{BackwardArgs, Gate};
use crate::{Graph, GraphError, NodeId};

/// `a + b`, elementwise with numpy broadcasting.
pub(crate) struct Add;

impl<T: Float> Gate<T> for Add {
    fn name(&self) -> &str {
        "add"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let (a, b) = broadcast_pair("add", inputs)?;
        Ok(Zip::from(&a).and(&b).map_collect(|&a, &b| a + b))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        // dout to both, summed back over any broadcast copies
        let pass = |k: usize| sum_to_shape(args.dout.clone(), args.inputs[k].shape());
        Ok(vec![
            args.needs_grad(0).then(|| pass(0)),
            args.needs_grad(1).then(|| pass(1)),
        ])
    }
}

/// `a − b`, elementwise with broadcasting: `b` receives the upstream gradient negated.
pub(crate) struct Sub;

impl<T: Float> Gate<T> for Sub {
    fn name(&self) -> &str {
        "sub"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let (a, b) = broadcast_pair("sub", inputs)?;
        Ok(Zip::from(&a).and(&b).map_collect(|&a, &b| a - b))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let (a, b, dout) = (args.inputs[0], args.inputs[1], args.dout);
        Ok(vec![
            args.needs_grad(0)
                .then(|| sum_to_shape(dout.clone(), a.shape())),
            args.needs_grad(1)
                .then(|| sum_to_shape(dout.mapv(|d| -d), b.shape())),
        ])
    }
}

/// `x + c` for a constant `c`, labelled as the lecture draws it (`+1`).
pub(crate) struct AddScalar<T> {
    c: T,
    label: String,
}

impl<T: Float> AddScalar<T> {
    fn new(c: T) -> Self {
        let label = if c < T::zero() {
            format!("{c}")
        } else {
            format!("+{c}")
        };
        AddScalar { c, label }
    }
}

impl<T: Float> Gate<T> for AddScalar<T> {
    fn name(&self) -> &str {
        &self.label
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let c = self.c;
        Ok(one(&self.label, inputs)?.mapv(|x| x + c))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        Ok(vec![Some(args.dout.clone())])
    }
}

impl<T: Float> Graph<T> {
    /// `a + b`, elementwise with numpy broadcasting (`scores + b` adds a bias row to
    /// every row; its gradient sums the rows back). The add gate *distributes* the
    /// upstream gradient unchanged to both inputs.
    ///
    /// # Errors
    /// [`GraphError::ShapeMismatch`] naming both shapes if they do not broadcast.
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// let mut g = backprop::Graph::<f64>::new();
    /// let s = g.input("scores", array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    /// let b = g.parameter("b", array![10.0, 20.0]);
    /// let out = g.add(s, b)?;
    /// g.backward(out)?;
    /// assert_eq!(g.grad(b)?, &array![3.0, 3.0].into_dyn()); // summed over the 3 rows
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn add(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Add, &[a, b])
    }

    /// `a − b`, elementwise with broadcasting.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let (a, b) = (g.scalar("a", 5.0), g.scalar("b", 3.0));
    /// let d = g.sub(a, b)?;
    /// g.backward(d)?;
    /// assert_eq!((g.scalar_value(d)?, g.scalar_grad(b)?), (2.0, -1.0));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Sub, &[a, b])
    }

    /// `a + c` for a constant `c` (the lecture's `+1` gate).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 2.0);
    /// let s = g.add_scalar(a, 1.0)?;
    /// g.backward(s)?;
    /// assert_eq!((g.scalar_value(s)?, g.scalar_grad(a)?), (3.0, 1.0));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn add_scalar(&mut self, a: NodeId, c: T) -> Result<NodeId, GraphError> {
        self.apply(AddScalar::new(c), &[a])
    }
}
