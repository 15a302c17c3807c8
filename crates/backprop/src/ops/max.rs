//! The max gate and its kin. The max gate *routes*: the whole upstream gradient
//! goes to the input that won, zero to the other. ReLU is `max(0, x)`.

use ndarray::{ArrayD, Zip};
use numeric::Float;

use super::broadcast::{broadcast_pair, input_at_dout, sum_to_shape};
use super::{Grads, one};
use crate::gate::{BackwardArgs, Gate};
use crate::{Graph, GraphError, NodeId};

/// `max(a, b)`, elementwise with broadcasting; ties go to `a`.
pub(crate) struct Max;

impl<T: Float> Gate<T> for Max {
    fn name(&self) -> &str {
        "max"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let (a, b) = broadcast_pair("max", inputs)?;
        Ok(Zip::from(&a)
            .and(&b)
            .map_collect(|&a, &b| if a >= b { a } else { b }))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        route("max", args, |a, b| a >= b)
    }
}

/// `min(a, b)`, elementwise with broadcasting; ties go to `a`.
pub(crate) struct Min;

impl<T: Float> Gate<T> for Min {
    fn name(&self) -> &str {
        "min"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let (a, b) = broadcast_pair("min", inputs)?;
        Ok(Zip::from(&a)
            .and(&b)
            .map_collect(|&a, &b| if a <= b { a } else { b }))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        route("min", args, |a, b| a <= b)
    }
}

/// The router's backward pass: `dout` goes to `a` where `a_won(a, b)`, else to `b`.
fn route<T: Float>(op: &str, args: &BackwardArgs<'_, T>, a_won: impl Fn(T, T) -> bool) -> Grads<T> {
    let (a, b) = (input_at_dout(op, args, 0)?, input_at_dout(op, args, 1)?);
    let to = |first: bool| {
        let g = Zip::from(&a)
            .and(&b)
            .and(args.dout)
            .map_collect(|&a, &b, &d| if a_won(a, b) == first { d } else { T::zero() });
        let k = usize::from(!first);
        sum_to_shape(g, args.inputs[k].shape())
    };
    Ok(vec![
        args.needs_grad(0).then(|| to(true)),
        args.needs_grad(1).then(|| to(false)),
    ])
}

/// `max(0, x)`: passes the upstream gradient where the output is positive.
pub(crate) struct Relu;

impl<T: Float> Gate<T> for Relu {
    fn name(&self) -> &str {
        "relu"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        Ok(one("relu", inputs)?.mapv(|x| if x > T::zero() { x } else { T::zero() }))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let dx = Zip::from(args.output)
            .and(args.dout)
            .map_collect(|&y, &d| if y > T::zero() { d } else { T::zero() });
        Ok(vec![Some(dx)])
    }
}

impl<T: Float> Graph<T> {
    /// `max(a, b)`, elementwise with broadcasting. The max gate *routes*: the whole
    /// upstream gradient goes to the larger input (to `a` on ties), zero to the other.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let (z, w) = (g.scalar("z", 2.0), g.scalar("w", -1.0));
    /// let m = g.max(z, w)?;
    /// g.backward(m)?;
    /// assert_eq!((g.scalar_grad(z)?, g.scalar_grad(w)?), (1.0, 0.0));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn max(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Max, &[a, b])
    }

    /// `min(a, b)`, elementwise with broadcasting: routes the gradient to the
    /// smaller input (to `a` on ties).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let (a, b) = (g.scalar("a", 2.0), g.scalar("b", -1.0));
    /// let m = g.min(a, b)?;
    /// g.backward(m)?;
    /// assert_eq!((g.scalar_grad(a)?, g.scalar_grad(b)?), (0.0, 1.0));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn min(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Min, &[a, b])
    }

    /// `max(0, a)`: passes the gradient where the input was positive.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.input("a", ndarray::array![-1.0, 2.0]);
    /// let r = g.relu(a)?;
    /// g.backward(r)?;
    /// assert_eq!(g.grad(a)?, &ndarray::array![0.0, 1.0].into_dyn());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn relu(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Relu, &[a])
    }
}
