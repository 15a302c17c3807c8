//! Squashing gates, each fused into one gate whose backward pass reads its own
//! output: `σ' = σ(1 − σ)` and `tanh' = 1 − tanh²` (lecture 4's sigmoid gate).

use ndarray::{ArrayD, Zip};
use numeric::Float;

use super::{Grads, one};
use crate::gate::{BackwardArgs, Gate};
use crate::{Graph, GraphError, NodeId};

/// `σ(x) = 1 / (1 + e^−x)`.
pub(crate) struct Sigmoid;

impl<T: Float> Gate<T> for Sigmoid {
    fn name(&self) -> &str {
        "sigmoid"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        Ok(one("sigmoid", inputs)?.mapv(|x| T::one() / (T::one() + (-x).exp())))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let dx = Zip::from(args.output)
            .and(args.dout)
            .map_collect(|&y, &d| d * y * (T::one() - y));
        Ok(vec![Some(dx)])
    }
}

/// `tanh(x)`.
pub(crate) struct Tanh;

impl<T: Float> Gate<T> for Tanh {
    fn name(&self) -> &str {
        "tanh"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        Ok(one("tanh", inputs)?.mapv(|x| x.tanh()))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let dx = Zip::from(args.output)
            .and(args.dout)
            .map_collect(|&y, &d| d * (T::one() - y * y));
        Ok(vec![Some(dx)])
    }
}

impl<T: Float> Graph<T> {
    /// `σ(a) = 1 / (1 + e^−a)` as one fused gate: its backward pass is
    /// `σ(a)(1 − σ(a))` times the upstream gradient, from the cached output.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 0.0);
    /// let s = g.sigmoid(a)?;
    /// g.backward(s)?;
    /// assert_eq!((g.scalar_value(s)?, g.scalar_grad(a)?), (0.5, 0.25));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn sigmoid(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Sigmoid, &[a])
    }

    /// `tanh(a)`, backward `1 − tanh²`.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 0.0);
    /// let t = g.tanh(a)?;
    /// g.backward(t)?;
    /// assert_eq!(g.scalar_grad(a)?, 1.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn tanh(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Tanh, &[a])
    }
}
