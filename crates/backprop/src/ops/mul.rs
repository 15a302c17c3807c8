//! The mul gate and its kin. The mul gate *swaps*: each input's gradient is the
//! upstream gradient times the *other* input, since ∂(a·b)/∂a = b.

use ndarray::{ArrayD, Zip};
use numeric::Float;

use super::broadcast::{broadcast_pair, input_at_dout, sum_to_shape};
use super::{Grads, one};
use crate::gate::{BackwardArgs, Gate};
use crate::{Graph, GraphError, NodeId};

/// `a ⊙ b`, elementwise with numpy broadcasting.
pub(crate) struct Mul;

impl<T: Float> Gate<T> for Mul {
    fn name(&self) -> &str {
        "mul"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let (a, b) = broadcast_pair("mul", inputs)?;
        Ok(Zip::from(&a).and(&b).map_collect(|&a, &b| a * b))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        // d(input k) = dout ⊙ (the other input), summed back over broadcast copies
        let swap = |k: usize| -> Result<ArrayD<T>, GraphError> {
            let other = input_at_dout("mul", args, 1 - k)?;
            let g = Zip::from(&other).and(args.dout).map_collect(|&o, &d| d * o);
            Ok(sum_to_shape(g, args.inputs[k].shape()))
        };
        let da = args.needs_grad(0).then(|| swap(0)).transpose()?;
        let db = args.needs_grad(1).then(|| swap(1)).transpose()?;
        Ok(vec![da, db])
    }
}

/// `a / b`, elementwise with broadcasting: `∂/∂a = 1/b`, `∂/∂b = −a/b²`.
pub(crate) struct Div;

impl<T: Float> Gate<T> for Div {
    fn name(&self) -> &str {
        "div"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let (a, b) = broadcast_pair("div", inputs)?;
        Ok(Zip::from(&a).and(&b).map_collect(|&a, &b| a / b))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let (a, b, dout) = (
            input_at_dout("div", args, 0)?,
            input_at_dout("div", args, 1)?,
            args.dout,
        );
        let da = args
            .needs_grad(0)
            .then(|| Zip::from(&b).and(dout).map_collect(|&b, &d| d / b));
        let db = args.needs_grad(1).then(|| {
            Zip::from(&a)
                .and(&b)
                .and(dout)
                .map_collect(|&a, &b, &d| -d * a / (b * b))
        });
        Ok(vec![
            da.map(|g| sum_to_shape(g, args.inputs[0].shape())),
            db.map(|g| sum_to_shape(g, args.inputs[1].shape())),
        ])
    }
}

/// `c · x` for a constant `c`, labelled as the lecture draws it (`*-1`).
pub(crate) struct Scale<T> {
    c: T,
    label: String,
}

impl<T: Float> Gate<T> for Scale<T> {
    fn name(&self) -> &str {
        &self.label
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let c = self.c;
        Ok(one(&self.label, inputs)?.mapv(|x| x * c))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let c = self.c;
        Ok(vec![Some(args.dout.mapv(|d| d * c))])
    }
}

/// `−x`.
pub(crate) struct Neg;

impl<T: Float> Gate<T> for Neg {
    fn name(&self) -> &str {
        "neg"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        Ok(one("neg", inputs)?.mapv(|x| -x))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        Ok(vec![Some(args.dout.mapv(|d| -d))])
    }
}

/// `1 / x` (the lecture's `1/x` gate): local gradient `−1/x² = −y²`, from the output.
pub(crate) struct Recip;

impl<T: Float> Gate<T> for Recip {
    fn name(&self) -> &str {
        "1/x"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        Ok(one("1/x", inputs)?.mapv(|x| x.recip()))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let dx = Zip::from(args.output)
            .and(args.dout)
            .map_collect(|&y, &d| -d * y * y);
        Ok(vec![Some(dx)])
    }
}

impl<T: Float> Graph<T> {
    /// `a ⊙ b`, elementwise with broadcasting. The mul gate *swaps*: each input's
    /// gradient is the upstream gradient times the other input.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let (x, y) = (g.scalar("x", 3.0), g.scalar("y", -4.0));
    /// let f = g.mul(x, y)?;
    /// g.backward(f)?;
    /// assert_eq!((g.scalar_grad(x)?, g.scalar_grad(y)?), (-4.0, 3.0));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Mul, &[a, b])
    }

    /// `a / b`, elementwise with broadcasting.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let (a, b) = (g.scalar("a", 1.0), g.scalar("b", 2.0));
    /// let q = g.div(a, b)?;
    /// g.backward(q)?;
    /// assert_eq!((g.scalar_grad(a)?, g.scalar_grad(b)?), (0.5, -0.25));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn div(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Div, &[a, b])
    }

    /// `c · a` for a constant `c` (the lecture's `*−1` is `scale(a, −1)`).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 2.0);
    /// let s = g.scale(a, -1.0)?;
    /// assert_eq!(g.scalar_value(s)?, -2.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn scale(&mut self, a: NodeId, c: T) -> Result<NodeId, GraphError> {
        self.apply(
            Scale {
                c,
                label: format!("*{c}"),
            },
            &[a],
        )
    }

    /// `−a` (the lecture's `*−1` gate).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f32>::new();
    /// let a = g.scalar("a", 2.0);
    /// let n = g.neg(a)?;
    /// assert_eq!(g.scalar_value(n)?, -2.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn neg(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Neg, &[a])
    }

    /// `1 / a` (the lecture's `1/x` gate, local gradient `−1/x²`).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 2.0);
    /// let r = g.recip(a)?;
    /// g.backward(r)?;
    /// assert_eq!((g.scalar_value(r)?, g.scalar_grad(a)?), (0.5, -0.25));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn recip(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Recip, &[a])
    }
}
