//! Gates from calculus' table of derivatives: `exp`, `log`, `sqrt`, `pow`. Where
//! the derivative is a function of the output (`(eˣ)' = eˣ`), backward reads the
//! output the graph kept instead of recomputing it.

use ndarray::{ArrayD, Zip};
use numeric::Float;

use super::{Grads, one};
use crate::gate::{BackwardArgs, Gate};
use crate::{Graph, GraphError, NodeId};

/// `eˣ`; local gradient `eˣ`, the output itself.
pub(crate) struct Exp;

impl<T: Float> Gate<T> for Exp {
    fn name(&self) -> &str {
        "exp"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        Ok(one("exp", inputs)?.mapv(|x| x.exp()))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        Ok(vec![Some(
            Zip::from(args.output)
                .and(args.dout)
                .map_collect(|&y, &d| d * y),
        )])
    }
}

/// `ln x`; local gradient `1/x`.
pub(crate) struct Log;

impl<T: Float> Gate<T> for Log {
    fn name(&self) -> &str {
        "log"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        Ok(one("log", inputs)?.mapv(|x| x.ln()))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        Ok(vec![Some(
            Zip::from(args.inputs[0])
                .and(args.dout)
                .map_collect(|&x, &d| d / x),
        )])
    }
}

/// `√x`; local gradient `1/(2√x)`, from the output.
pub(crate) struct Sqrt;

impl<T: Float> Gate<T> for Sqrt {
    fn name(&self) -> &str {
        "sqrt"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        Ok(one("sqrt", inputs)?.mapv(|x| x.sqrt()))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        Ok(vec![Some(
            Zip::from(args.output)
                .and(args.dout)
                .map_collect(|&y, &d| d / (y + y)),
        )])
    }
}

/// `xᵖ` for a constant `p`, labelled as the lecture draws it (`^2`); local
/// gradient `p·xᵖ⁻¹`.
pub(crate) struct Pow<T> {
    p: T,
    label: String,
}

impl<T: Float> Gate<T> for Pow<T> {
    fn name(&self) -> &str {
        &self.label
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let p = self.p;
        Ok(one(&self.label, inputs)?.mapv(|x| x.powf(p)))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let p = self.p;
        let dx = Zip::from(args.inputs[0])
            .and(args.dout)
            .map_collect(|&x, &d| d * p * x.powf(p - T::one()));
        Ok(vec![Some(dx)])
    }
}

impl<T: Float> Graph<T> {
    /// `e^a`; its backward reuses the cached output.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 0.0);
    /// let e = g.exp(a)?;
    /// assert_eq!(g.scalar_value(e)?, 1.0);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn exp(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Exp, &[a])
    }

    /// Natural logarithm (NaN / −∞ outside the domain, as IEEE and numpy).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 2.0);
    /// let l = g.log(a)?;
    /// g.backward(l)?;
    /// assert_eq!(g.scalar_grad(a)?, 0.5);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn log(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Log, &[a])
    }

    /// `√a`.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 4.0);
    /// let r = g.sqrt(a)?;
    /// g.backward(r)?;
    /// assert_eq!((g.scalar_value(r)?, g.scalar_grad(a)?), (2.0, 0.25));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn sqrt(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Sqrt, &[a])
    }

    /// `a^p` for a constant exponent `p`.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.scalar("a", 3.0);
    /// let sq = g.pow(a, 2.0)?;
    /// g.backward(sq)?;
    /// assert_eq!((g.scalar_value(sq)?, g.scalar_grad(a)?), (9.0, 6.0));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn pow(&mut self, a: NodeId, p: T) -> Result<NodeId, GraphError> {
        self.apply(
            Pow {
                p,
                label: format!("^{p}"),
            },
            &[a],
        )
    }
}
