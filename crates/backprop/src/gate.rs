//! The [`Gate`] trait: how any operation — elementary or a whole fused layer —
//! joins the graph.

use ndarray::ArrayD;
use numeric::Float;

use crate::GraphError;

/// One operation of a computational graph: a forward pass that computes its
/// output (and caches what its backward pass needs), and a backward pass that
/// multiplies its local gradient by the upstream gradient — the chain rule, one
/// gate at a time.
///
/// The graph keeps every input and output value alive between the passes and
/// hands them to [`Gate::backward`], so a gate caches only what it cannot read
/// there (a dropout mask, batchnorm's normalised input): no gate needs to copy
/// its inputs. The graph adds the returned gradients into its nodes, which is
/// what makes gradients sum where a value fans out.
///
/// Implement it to add a fused gate with a hand-derived, vectorised backward pass
/// (an affine layer, a convolution, a loss), then insert it with
/// [`crate::Graph::apply`].
///
/// # Example
/// The gate `f(x) = x³`, checked against centred differences:
/// ```
/// use backprop::{BackwardArgs, Gate, Graph, GraphError};
/// use ndarray::{array, ArrayD};
///
/// struct Cube;
/// impl Gate<f64> for Cube {
///     fn name(&self) -> &str { "cube" }
///     fn forward(&mut self, inputs: &[&ArrayD<f64>]) -> Result<ArrayD<f64>, GraphError> {
///         GraphError::check_arity("cube", inputs, 1)?;
///         Ok(inputs[0].mapv(|x| x * x * x))
///     }
///     fn backward(&mut self, args: &BackwardArgs<'_, f64>) -> Result<Vec<Option<ArrayD<f64>>>, GraphError> {
///         let x = args.inputs[0];
///         Ok(vec![Some(x.mapv(|x| 3.0 * x * x) * args.dout)])
///     }
/// }
///
/// let mut g = Graph::new();
/// let x = g.input("x", array![1.0, 2.0]);
/// let y = g.apply(Cube, &[x])?;
/// let f = g.sum(y)?;
/// g.backward(f)?;
/// assert_eq!(g.grad(x)?, &array![3.0, 12.0].into_dyn());
/// # Ok::<(), GraphError>(())
/// ```
pub trait Gate<T: Float>: Send {
    /// A short label (`"add"`, `"affine"`): used in error messages, the DOT
    /// picture and the forward/backward tables.
    fn name(&self) -> &str;

    /// Computes the output from the inputs (in the order they were given to
    /// [`crate::Graph::apply`]), caching whatever the backward pass needs beyond
    /// the input and output values. Errors name this gate and the bad shapes.
    ///
    /// Called again, with new input values, on every [`crate::Graph::forward`].
    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError>;

    /// Given `args.dout = ∂L/∂output`, returns `∂L/∂input` for each input, each the
    /// shape of its input, in input order.
    ///
    /// `None` (or a shorter vector) means "no gradient": allowed for inputs where
    /// [`BackwardArgs::needs_grad`] is false (data, labels), which is how an affine
    /// gate skips the product for `dx` when `x` is the data batch.
    fn backward(
        &mut self,
        args: &BackwardArgs<'_, T>,
    ) -> Result<Vec<Option<ArrayD<T>>>, GraphError>;
}

/// What a gate's backward pass receives: the values of the forward pass (kept by
/// the graph, so gates need not copy them) and the upstream gradient.
///
/// # Example
/// ```
/// use backprop::BackwardArgs;
/// use ndarray::{array, ArrayD};
/// let x = array![1.0_f32, 2.0].into_dyn();
/// let out = x.clone();
/// let dout = array![0.5_f32, 0.5].into_dyn();
/// let inputs = [&x];
/// let args = BackwardArgs::new(&inputs, &out, &dout, &[true]);
/// assert!(args.needs_grad(0));
/// assert!(!args.needs_grad(1)); // no such input
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BackwardArgs<'a, T> {
    /// The input values of the last forward pass, in input order.
    pub inputs: &'a [&'a ArrayD<T>],
    /// The output value of the last forward pass.
    pub output: &'a ArrayD<T>,
    /// The upstream gradient `∂L/∂output`, the shape of `output`.
    pub dout: &'a ArrayD<T>,
    needs_grad: &'a [bool],
}

impl<'a, T> BackwardArgs<'a, T> {
    /// Bundles the arguments (the graph does this; tests of a gate may too).
    /// `needs_grad[i]` says whether input `i` wants a gradient.
    ///
    /// # Example
    /// ```
    /// # use ndarray::array;
    /// let v = array![1.0_f64].into_dyn();
    /// let inputs = [&v];
    /// let args = backprop::BackwardArgs::new(&inputs, &v, &v, &[false]);
    /// assert!(!args.needs_grad(0));
    /// ```
    pub fn new(
        inputs: &'a [&'a ArrayD<T>],
        output: &'a ArrayD<T>,
        dout: &'a ArrayD<T>,
        needs_grad: &'a [bool],
    ) -> Self {
        BackwardArgs {
            inputs,
            output,
            dout,
            needs_grad,
        }
    }

    /// Whether input `i` wants a gradient (false for constants such as the data
    /// batch and the labels, and for indices past the last input).
    ///
    /// # Example
    /// ```
    /// # use ndarray::array;
    /// let v = array![1.0_f64].into_dyn();
    /// let inputs = [&v, &v];
    /// let args = backprop::BackwardArgs::new(&inputs, &v, &v, &[false, true]);
    /// assert!(args.needs_grad(1));
    /// ```
    pub fn needs_grad(&self, i: usize) -> bool {
        self.needs_grad.get(i).copied().unwrap_or(false)
    }
}
