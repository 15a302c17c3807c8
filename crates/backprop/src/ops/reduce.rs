//! Sums and means, over everything or over one axis. Backward is the add gate
//! again: every input element contributed once to its sum, so each receives the
//! upstream gradient of that sum, broadcast back (times `1/n` for a mean).

use ndarray::{ArrayD, Axis, IxDyn};
use numeric::Float;

use super::{Grads, one};
use crate::gate::{BackwardArgs, Gate};
use crate::{Graph, GraphError, NodeId};

/// The sum of all elements (`axis: None`, a 0-d output) or over one axis, which
/// disappears (numpy's `x.sum(axis=k)`).
pub(crate) struct Sum {
    axis: Option<usize>,
}

impl<T: Float> Gate<T> for Sum {
    fn name(&self) -> &str {
        if self.axis.is_some() {
            "sum_axis"
        } else {
            "sum"
        }
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let op = <Self as Gate<T>>::name(self);
        Ok(sum(op, one(op, inputs)?, self.axis)?.0)
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let op = <Self as Gate<T>>::name(self);
        spread(op, args, self.axis, T::one())
    }
}

/// The mean of all elements (a loss averaged over the batch) or over one axis.
pub(crate) struct Mean {
    axis: Option<usize>,
}

impl<T: Float> Gate<T> for Mean {
    fn name(&self) -> &str {
        if self.axis.is_some() {
            "mean_axis"
        } else {
            "mean"
        }
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let op = <Self as Gate<T>>::name(self);
        let (s, n) = sum(op, one(op, inputs)?, self.axis)?;
        Ok(s / T::count(n.max(1)))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let op = <Self as Gate<T>>::name(self);
        let n = match self.axis {
            None => args.inputs[0].len(),
            Some(ax) => args.inputs[0].shape()[ax],
        };
        let scale = T::one() / T::count(n.max(1));
        spread(op, args, self.axis, scale)
    }
}

/// The sum over `axis` (or everything), and how many elements each entry summed.
fn sum<T: Float>(
    op: &str,
    x: &ArrayD<T>,
    axis: Option<usize>,
) -> Result<(ArrayD<T>, usize), GraphError> {
    match axis {
        None => Ok((ArrayD::from_elem(IxDyn(&[]), x.sum()), x.len())),
        Some(ax) if ax < x.ndim() => Ok((x.sum_axis(Axis(ax)), x.shape()[ax])),
        Some(ax) => Err(GraphError::invalid(
            op,
            format!("axis {ax} is out of range for shape {:?}", x.shape()),
        )),
    }
}

/// The upstream gradient broadcast back to the input's shape, times `scale`.
fn spread<T: Float>(
    op: &str,
    args: &BackwardArgs<'_, T>,
    axis: Option<usize>,
    scale: T,
) -> Grads<T> {
    let x = args.inputs[0];
    let d = match axis {
        None => args.dout.view(),
        Some(ax) => args.dout.view().insert_axis(Axis(ax)),
    };
    let d = d
        .broadcast(x.raw_dim())
        .ok_or_else(|| GraphError::shape_mismatch(op, args.dout.shape(), x.shape()))?;
    Ok(vec![Some(if scale == T::one() {
        d.to_owned()
    } else {
        d.mapv(|d| d * scale)
    })])
}

impl<T: Float> Graph<T> {
    /// The sum of all elements (a 0-d node).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.input("a", ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    /// let s = g.sum(a)?;
    /// assert_eq!(g.scalar_value(s)?, 10.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn sum(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Sum { axis: None }, &[a])
    }

    /// The mean of all elements (a 0-d node): a loss averaged over the batch.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.input("a", ndarray::array![1.0, 3.0]);
    /// let m = g.mean(a)?;
    /// g.backward(m)?;
    /// assert_eq!((g.scalar_value(m)?, g.grad(a)?[[0]]), (2.0, 0.5));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn mean(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Mean { axis: None }, &[a])
    }

    /// The sum over one axis, which disappears (numpy's `x.sum(axis=k)`).
    ///
    /// # Errors
    /// [`GraphError::InvalidInput`] if the axis is out of range.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.input("a", ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    /// let rows = g.sum_axis(a, 1)?;
    /// assert_eq!(g.value(rows)?, &ndarray::array![3.0, 7.0].into_dyn());
    /// assert!(g.sum_axis(a, 2).is_err());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn sum_axis(&mut self, a: NodeId, axis: usize) -> Result<NodeId, GraphError> {
        self.apply(Sum { axis: Some(axis) }, &[a])
    }

    /// The mean over one axis, which disappears.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.input("a", ndarray::array![[1.0, 2.0], [3.0, 4.0]]);
    /// let cols = g.mean_axis(a, 0)?;
    /// assert_eq!(g.value(cols)?, &ndarray::array![2.0, 3.0].into_dyn());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn mean_axis(&mut self, a: NodeId, axis: usize) -> Result<NodeId, GraphError> {
        self.apply(Mean { axis: Some(axis) }, &[a])
    }
}
