//! The matrix product and the shape gates around it. matmul's backward pass is the
//! lecture's dimension argument: `da = dout · bᵀ` and `db = aᵀ · dout` are the only
//! products whose shapes fit.

use ndarray::{ArrayD, ArrayView2, Axis, IxDyn, Order};
use numeric::Float;

use super::{Grads, one};
use crate::gate::{BackwardArgs, Gate};
use crate::{Graph, GraphError, NodeId};

/// Views an operand of a product as a matrix: a vector on the left is a row,
/// on the right a column (numpy's `@` convention).
fn as_matrix<'a, T>(
    x: &'a ArrayD<T>,
    left: bool,
    op: &str,
) -> Result<ArrayView2<'a, T>, GraphError> {
    let v = x.view();
    let m = match x.ndim() {
        2 => v.into_dimensionality(),
        1 if left => v.insert_axis(Axis(0)).into_dimensionality(),
        1 => v.insert_axis(Axis(1)).into_dimensionality(),
        _ => {
            return Err(GraphError::invalid(
                op,
                format!("needs 1-d or 2-d operands, got shape {:?}", x.shape()),
            ));
        }
    };
    Ok(m.expect("ndim checked"))
}

/// `a · b` through [`numeric::gemm`]; the backward pass is the lecture's
/// dimension-driven pair `da = dout · bᵀ`, `db = aᵀ · dout`, on transposed views
/// (no copies).
pub(crate) struct MatMul;

impl<T: Float> Gate<T> for MatMul {
    fn name(&self) -> &str {
        "matmul"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        GraphError::check_arity("matmul", inputs, 2)?;
        let (a, b) = (inputs[0], inputs[1]);
        let (a2, b2) = (
            as_matrix(a, true, "matmul")?,
            as_matrix(b, false, "matmul")?,
        );
        if a2.ncols() != b2.nrows() {
            return Err(GraphError::shape_mismatch("matmul", a.shape(), b.shape()));
        }
        let c = numeric::matmul(&a2, &b2);
        let shape: Vec<usize> = match (a.ndim(), b.ndim()) {
            (2, 2) => vec![c.nrows(), c.ncols()],
            (2, 1) => vec![c.nrows()],
            (1, 2) => vec![c.ncols()],
            _ => vec![],
        };
        Ok(c.into_shape_with_order(IxDyn(&shape))
            .expect("same element count"))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let (a, b) = (args.inputs[0], args.inputs[1]);
        let (a2, b2) = (
            as_matrix(a, true, "matmul")?,
            as_matrix(b, false, "matmul")?,
        );
        // dout as the (m, n) matrix it is, whatever its layout (it may come
        // transposed from a transpose gate): a view, never a copy.
        let mut d = args.dout.view();
        if b.ndim() == 1 {
            let last = d.ndim();
            d = d.insert_axis(Axis(last));
        }
        if a.ndim() == 1 {
            d = d.insert_axis(Axis(0));
        }
        let mismatch =
            || GraphError::shape_mismatch("matmul", args.dout.shape(), args.output.shape());
        let d2: ArrayView2<'_, T> = d.into_dimensionality().map_err(|_| mismatch())?;
        if d2.dim() != (a2.nrows(), b2.ncols()) {
            return Err(mismatch());
        }
        let da = args.needs_grad(0).then(|| {
            numeric::matmul(&d2, &b2.t())
                .into_shape_with_order(a.raw_dim())
                .expect("same element count")
        });
        let db = args.needs_grad(1).then(|| {
            numeric::matmul(&a2.t(), &d2)
                .into_shape_with_order(b.raw_dim())
                .expect("same element count")
        });
        Ok(vec![da, db])
    }
}

/// Reverses the axes (the matrix transpose for 2-d), as numpy's `.T`.
pub(crate) struct Transpose;

impl<T: Float> Gate<T> for Transpose {
    fn name(&self) -> &str {
        "transpose"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        // One memcpy into the transposed layout; consumers (GEMM) take any strides.
        Ok(one("transpose", inputs)?.view().reversed_axes().to_owned())
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        Ok(vec![Some(args.dout.view().reversed_axes().to_owned())])
    }
}

/// Reads the elements in row-major order into a new shape.
pub(crate) struct Reshape(pub(crate) Vec<usize>);

fn reshape_to<T: Float>(x: &ArrayD<T>, shape: &[usize], op: &str) -> Result<ArrayD<T>, GraphError> {
    x.to_shape((IxDyn(shape), Order::RowMajor))
        .map(|c| c.into_owned())
        .map_err(|_| GraphError::shape_mismatch(op, x.shape(), shape))
}

impl<T: Float> Gate<T> for Reshape {
    fn name(&self) -> &str {
        "reshape"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        reshape_to(one("reshape", inputs)?, &self.0, "reshape")
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        Ok(vec![Some(reshape_to(
            args.dout,
            args.inputs[0].shape(),
            "reshape",
        )?)])
    }
}

impl<T: Float> Graph<T> {
    /// Matrix product through [`numeric::gemm`]: (m, k)·(k, n) → (m, n), and
    /// matrix–vector (m, k)·(k) → (m) or (k)·(k, n) → (n). Backward:
    /// `da = dout · bᵀ`, `db = aᵀ · dout` — the only arrangement whose shapes fit.
    ///
    /// # Errors
    /// [`GraphError::ShapeMismatch`] if the inner dimensions differ.
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// let mut g = backprop::Graph::<f64>::new();
    /// let w = g.input("W", array![[1.0, 2.0], [3.0, 4.0]]);
    /// let x = g.input("x", array![1.0, 1.0]);
    /// let q = g.matmul(w, x)?;
    /// assert_eq!(g.value(q)?, &array![3.0, 7.0].into_dyn());
    /// let bad = g.input("v", array![1.0, 2.0, 3.0]);
    /// assert_eq!(g.matmul(w, bad).unwrap_err().to_string(), "matmul: shapes [2, 2] and [3] do not match");
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.apply(MatMul, &[a, b])
    }

    /// The transpose (all axes reversed, as numpy's `.T`).
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.input("a", ndarray::Array2::<f64>::zeros((2, 3)));
    /// let t = g.transpose(a)?;
    /// assert_eq!(g.value(t)?.shape(), &[3, 2]);
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn transpose(&mut self, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Transpose, &[a])
    }

    /// The same elements, in row-major order, in a new shape.
    ///
    /// # Errors
    /// [`GraphError::ShapeMismatch`] if the element counts differ.
    ///
    /// # Example
    /// ```
    /// let mut g = backprop::Graph::<f64>::new();
    /// let a = g.input("a", ndarray::Array4::<f64>::zeros((2, 3, 4, 4)));
    /// let rows = g.reshape(a, &[2, 48])?;
    /// assert_eq!(g.value(rows)?.shape(), &[2, 48]);
    /// assert!(g.reshape(a, &[5, 5]).is_err());
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn reshape(&mut self, a: NodeId, shape: &[usize]) -> Result<NodeId, GraphError> {
        self.apply(Reshape(shape.to_vec()), &[a])
    }
}
