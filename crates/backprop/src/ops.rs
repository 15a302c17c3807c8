//! The elementary gates as [`Graph`] methods: each records one gate on the tape
//! and returns its output node.

use numeric::Float;

use crate::gates::{BinOp, Binary, Gather, MatMul, Reduce, Reshape, Transpose, UnOp, Unary};
use crate::{Graph, GraphError, NodeId};

impl<T: Float> Graph<T> {
    fn binary(&mut self, op: BinOp, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Binary(op), &[a, b])
    }

    fn unary(&mut self, op: UnOp<T>, a: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Unary::new(op), &[a])
    }

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
        self.binary(BinOp::Add, a, b)
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
        self.binary(BinOp::Sub, a, b)
    }

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
        self.binary(BinOp::Mul, a, b)
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
        self.binary(BinOp::Div, a, b)
    }

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
        self.binary(BinOp::Max, a, b)
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
        self.binary(BinOp::Min, a, b)
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
        self.unary(UnOp::Neg, a)
    }

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
        self.unary(UnOp::Sigmoid, a)
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
        self.unary(UnOp::Tanh, a)
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
        self.unary(UnOp::Relu, a)
    }

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
        self.unary(UnOp::Exp, a)
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
        self.unary(UnOp::Log, a)
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
        self.unary(UnOp::Pow(p), a)
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
        self.unary(UnOp::Sqrt, a)
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
        self.unary(UnOp::Recip, a)
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
        self.unary(UnOp::Scale(c), a)
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
        self.unary(UnOp::AddScalar(c), a)
    }

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
        self.apply(
            Reduce {
                axis: None,
                mean: false,
            },
            &[a],
        )
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
        self.apply(
            Reduce {
                axis: None,
                mean: true,
            },
            &[a],
        )
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
        self.apply(
            Reduce {
                axis: Some(axis),
                mean: false,
            },
            &[a],
        )
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
        self.apply(
            Reduce {
                axis: Some(axis),
                mean: true,
            },
            &[a],
        )
    }

    /// `out[i] = scores[i, labels[i]]`: the correct-class score of each row, for
    /// losses. `labels` is a node made by [`Graph::labels`]; it gets no gradient.
    ///
    /// # Errors
    /// [`GraphError::ShapeMismatch`] unless scores is (N, C) and labels (N);
    /// [`GraphError::InvalidInput`] naming the row of a label that is not a class
    /// index below C.
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// let mut g = backprop::Graph::<f64>::new();
    /// let scores = g.input("scores", array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    /// let y = g.labels("y", &[2, 0]);
    /// let correct = g.gather(scores, y)?;
    /// assert_eq!(g.value(correct)?, &array![3.0, 4.0].into_dyn());
    /// let bad = g.labels("bad", &[0, 3]);
    /// assert!(g.gather(scores, bad).unwrap_err().to_string().contains("label 3 of row 1"));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn gather(&mut self, scores: NodeId, labels: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Gather, &[scores, labels])
    }
}
