//! The elementary gates of lecture 4. Each backward pass is the local gradient
//! times the upstream gradient, written out vectorised; values come from the
//! graph, so no gate copies its inputs.

use ndarray::{ArrayD, ArrayView2, Axis, IxDyn, Order, Zip};
use numeric::Float;

use crate::GraphError;
use crate::gate::{BackwardArgs, Gate};

type Grads<T> = Result<Vec<Option<ArrayD<T>>>, GraphError>;

/// numpy's broadcast of two shapes, or `None` if they are incompatible.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for k in 0..n {
        let da = if k + a.len() >= n {
            a[k + a.len() - n]
        } else {
            1
        };
        let db = if k + b.len() >= n {
            b[k + b.len() - n]
        } else {
            1
        };
        out[k] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Sums a gradient of the broadcast shape down to an operand's `shape`: the
/// gradient of a broadcast copy is the sum over the copies (bias rows: Σ over N).
pub(crate) fn sum_to_shape<T: Float>(mut g: ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
    if g.shape() == shape {
        return g;
    }
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for ax in 0..shape.len() {
        if shape[ax] == 1 && g.shape()[ax] != 1 {
            g = g.sum_axis(Axis(ax)).insert_axis(Axis(ax));
        }
    }
    g
}

/// Elementwise binary operations, with numpy broadcasting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

impl BinOp {
    fn name(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "sub",
            BinOp::Mul => "mul",
            BinOp::Div => "div",
            BinOp::Max => "max",
            BinOp::Min => "min",
        }
    }

    #[inline]
    fn apply<T: Float>(self, a: T, b: T) -> T {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Max => {
                if a >= b {
                    a
                } else {
                    b
                }
            }
            BinOp::Min => {
                if a <= b {
                    a
                } else {
                    b
                }
            }
        }
    }

    /// (∂/∂a, ∂/∂b) times the upstream gradient `d`.
    #[inline]
    fn local<T: Float>(self, a: T, b: T, d: T) -> (T, T) {
        let zero = T::zero();
        match self {
            BinOp::Add => (d, d),
            BinOp::Sub => (d, -d),
            BinOp::Mul => (d * b, d * a), // the "swap multiplier"
            BinOp::Div => (d / b, -d * a / (b * b)),
            // the "gradient router": all to the larger input (ties: the first)
            BinOp::Max => {
                if a >= b {
                    (d, zero)
                } else {
                    (zero, d)
                }
            }
            BinOp::Min => {
                if a <= b {
                    (d, zero)
                } else {
                    (zero, d)
                }
            }
        }
    }
}

pub(crate) struct Binary(pub(crate) BinOp);

impl<T: Float> Gate<T> for Binary {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        GraphError::check_arity(self.0.name(), inputs, 2)?;
        let (a, b) = (inputs[0], inputs[1]);
        let op = self.0;
        let (a, b) = if a.shape() == b.shape() {
            (a.view(), b.view())
        } else {
            let shape = broadcast_shape(a.shape(), b.shape())
                .ok_or_else(|| GraphError::shape_mismatch(op.name(), a.shape(), b.shape()))?;
            let ab = a.broadcast(shape.clone()).expect("broadcastable");
            (ab, b.broadcast(shape).expect("broadcastable"))
        };
        // One monomorphised loop per op: no per-element dispatch.
        let zip = Zip::from(&a).and(&b);
        Ok(match op {
            BinOp::Add => zip.map_collect(|&a, &b| a + b),
            BinOp::Sub => zip.map_collect(|&a, &b| a - b),
            BinOp::Mul => zip.map_collect(|&a, &b| a * b),
            BinOp::Div => zip.map_collect(|&a, &b| a / b),
            BinOp::Max => zip.map_collect(|&a, &b| BinOp::Max.apply(a, b)),
            BinOp::Min => zip.map_collect(|&a, &b| BinOp::Min.apply(a, b)),
        })
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let (a, b, dout) = (args.inputs[0], args.inputs[1], args.dout);
        let op = self.0;
        let (want_a, want_b) = (args.needs_grad(0), args.needs_grad(1));
        // Add and Sub pass the upstream gradient through ("gradient distributor").
        if matches!(op, BinOp::Add | BinOp::Sub) {
            let da = want_a.then(|| sum_to_shape(dout.clone(), a.shape()));
            let db = want_b.then(|| {
                let g = sum_to_shape(dout.clone(), b.shape());
                if op == BinOp::Sub { -g } else { g }
            });
            return Ok(vec![da, db]);
        }
        let shape = dout.shape();
        let ab = a
            .broadcast(shape)
            .ok_or_else(|| GraphError::shape_mismatch(op.name(), a.shape(), shape))?;
        let bb = b
            .broadcast(shape)
            .ok_or_else(|| GraphError::shape_mismatch(op.name(), b.shape(), shape))?;
        let (da, db) = match op {
            // the "swap multiplier": each input gets dout times the other
            BinOp::Mul => (
                want_a.then(|| Zip::from(&bb).and(dout).map_collect(|&b, &d| d * b)),
                want_b.then(|| Zip::from(&ab).and(dout).map_collect(|&a, &d| d * a)),
            ),
            BinOp::Div => (
                want_a.then(|| Zip::from(&bb).and(dout).map_collect(|&b, &d| d / b)),
                want_b.then(|| {
                    Zip::from(&ab)
                        .and(&bb)
                        .and(dout)
                        .map_collect(|&a, &b, &d| -d * a / (b * b))
                }),
            ),
            _ => {
                let zip = || Zip::from(&ab).and(&bb).and(dout);
                (
                    want_a.then(|| zip().map_collect(|&a, &b, &d| op.local(a, b, d).0)),
                    want_b.then(|| zip().map_collect(|&a, &b, &d| op.local(a, b, d).1)),
                )
            }
        };
        Ok(vec![
            da.map(|g| sum_to_shape(g, a.shape())),
            db.map(|g| sum_to_shape(g, b.shape())),
        ])
    }
}

/// Elementwise unary operations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum UnOp<T> {
    Neg,
    Sigmoid,
    Tanh,
    Relu,
    Exp,
    Log,
    Sqrt,
    Recip,
    Pow(T),
    Scale(T),
    AddScalar(T),
}

impl<T: Float> UnOp<T> {
    fn name(&self) -> &'static str {
        match self {
            UnOp::Neg => "neg",
            UnOp::Sigmoid => "sigmoid",
            UnOp::Tanh => "tanh",
            UnOp::Relu => "relu",
            UnOp::Exp => "exp",
            UnOp::Log => "log",
            UnOp::Sqrt => "sqrt",
            UnOp::Recip => "1/x",
            UnOp::Pow(_) => "pow",
            UnOp::Scale(_) => "scale",
            UnOp::AddScalar(_) => "add_scalar",
        }
    }
}

#[inline]
fn sigmoid<T: Float>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

#[inline]
fn relu<T: Float>(x: T) -> T {
    if x > T::zero() { x } else { T::zero() }
}

/// An elementwise unary gate, labelled as the lecture draws it (`*-1`, `+1`, `^2`).
pub(crate) struct Unary<T> {
    op: UnOp<T>,
    label: String,
}

impl<T: Float> Unary<T> {
    pub(crate) fn new(op: UnOp<T>) -> Self {
        let label = match op {
            UnOp::Pow(p) => format!("^{p}"),
            UnOp::Scale(c) => format!("*{c}"),
            UnOp::AddScalar(c) if c < T::zero() => format!("{c}"),
            UnOp::AddScalar(c) => format!("+{c}"),
            other => other.name().to_string(),
        };
        Unary { op, label }
    }
}

impl<T: Float> Gate<T> for Unary<T> {
    fn name(&self) -> &str {
        &self.label
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        GraphError::check_arity(&self.label, inputs, 1)?;
        let x = inputs[0];
        // The match is outside the loops: one monomorphised loop per op.
        Ok(match self.op {
            UnOp::Neg => x.mapv(|x| -x),
            UnOp::Sigmoid => x.mapv(sigmoid),
            UnOp::Tanh => x.mapv(|x| x.tanh()),
            UnOp::Relu => x.mapv(relu),
            UnOp::Exp => x.mapv(|x| x.exp()),
            UnOp::Log => x.mapv(|x| x.ln()),
            UnOp::Sqrt => x.mapv(|x| x.sqrt()),
            UnOp::Recip => x.mapv(|x| x.recip()),
            UnOp::Pow(p) => x.mapv(|x| x.powf(p)),
            UnOp::Scale(c) => x.mapv(|x| x * c),
            UnOp::AddScalar(c) => x.mapv(|x| x + c),
        })
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let (x, y, d) = (args.inputs[0], args.output, args.dout);
        let one = T::one();
        // Each local gradient from whichever of input x / cached output y it needs.
        fn with_y<T: Float>(y: &ArrayD<T>, d: &ArrayD<T>, f: impl Fn(T, T) -> T) -> ArrayD<T> {
            Zip::from(y).and(d).map_collect(|&y, &d| f(y, d))
        }
        let dx = match self.op {
            UnOp::Neg => d.mapv(|d| -d),
            UnOp::Sigmoid => Zip::from(y).and(d).map_collect(|&y, &d| d * y * (one - y)),
            UnOp::Tanh => Zip::from(y).and(d).map_collect(|&y, &d| d * (one - y * y)),
            UnOp::Relu => with_y(y, d, |y, d| if y > T::zero() { d } else { T::zero() }),
            UnOp::Exp => with_y(y, d, |y, d| d * y),
            UnOp::Log => Zip::from(x).and(d).map_collect(|&x, &d| d / x),
            UnOp::Sqrt => with_y(y, d, |y, d| d / (y + y)),
            UnOp::Recip => with_y(y, d, |y, d| -d * y * y),
            UnOp::Pow(p) => Zip::from(x)
                .and(d)
                .map_collect(|&x, &d| d * p * x.powf(p - one)),
            UnOp::Scale(c) => d.mapv(|d| d * c),
            UnOp::AddScalar(_) => d.clone(),
        };
        Ok(vec![Some(dx)])
    }
}

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
        GraphError::check_arity("transpose", inputs, 1)?;
        // One memcpy into the transposed layout; consumers (GEMM) take any strides.
        Ok(inputs[0].view().reversed_axes().to_owned())
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
        GraphError::check_arity("reshape", inputs, 1)?;
        reshape_to(inputs[0], &self.0, "reshape")
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        Ok(vec![Some(reshape_to(
            args.dout,
            args.inputs[0].shape(),
            "reshape",
        )?)])
    }
}

/// Sum or mean over everything (`axis: None`, a 0-d output) or over one axis
/// (which disappears, as numpy's default).
pub(crate) struct Reduce {
    pub(crate) axis: Option<usize>,
    pub(crate) mean: bool,
}

impl Reduce {
    fn label(&self) -> &'static str {
        match (self.axis.is_some(), self.mean) {
            (false, false) => "sum",
            (false, true) => "mean",
            (true, false) => "sum_axis",
            (true, true) => "mean_axis",
        }
    }
}

impl<T: Float> Gate<T> for Reduce {
    fn name(&self) -> &str {
        self.label()
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        GraphError::check_arity(self.label(), inputs, 1)?;
        let x = inputs[0];
        match self.axis {
            None => {
                let s = x.sum();
                let s = if self.mean {
                    s / T::count(x.len().max(1))
                } else {
                    s
                };
                Ok(ArrayD::from_elem(IxDyn(&[]), s))
            }
            Some(ax) if ax >= x.ndim() => Err(GraphError::invalid(
                self.label(),
                format!("axis {ax} is out of range for shape {:?}", x.shape()),
            )),
            Some(ax) => {
                let s = x.sum_axis(Axis(ax));
                Ok(if self.mean {
                    s / T::count(x.shape()[ax].max(1))
                } else {
                    s
                })
            }
        }
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let x = args.inputs[0];
        let (d, n) = match self.axis {
            None => (args.dout.view(), x.len()),
            Some(ax) => (args.dout.view().insert_axis(Axis(ax)), x.shape()[ax]),
        };
        let d = d.broadcast(x.raw_dim()).ok_or_else(|| {
            GraphError::shape_mismatch(self.label(), args.dout.shape(), x.shape())
        })?;
        // Every input element contributed once (with weight 1/n for a mean).
        let dx = if self.mean {
            let scale = T::one() / T::count(n.max(1));
            d.mapv(|v| v * scale)
        } else {
            d.to_owned()
        };
        Ok(vec![Some(dx)])
    }
}

/// `out[i] = scores[i, labels[i]]`: one entry per row (the correct-class score
/// of a loss). The labels get no gradient.
pub(crate) struct Gather;

fn check_labels<T: Float>(scores: &ArrayD<T>, labels: &ArrayD<T>) -> Result<(), GraphError> {
    if scores.ndim() != 2 || labels.ndim() != 1 || labels.len() != scores.shape()[0] {
        return Err(GraphError::shape_mismatch(
            "gather",
            scores.shape(),
            labels.shape(),
        ));
    }
    let classes = scores.shape()[1];
    for (i, &y) in labels.iter().enumerate() {
        if !(y >= T::zero() && y.fract() == T::zero() && y.as_f64() < classes as f64) {
            return Err(GraphError::invalid(
                "gather",
                format!("label {y} of row {i} is not a class index below {classes}"),
            ));
        }
    }
    Ok(())
}

impl<T: Float> Gate<T> for Gather {
    fn name(&self) -> &str {
        "gather"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        GraphError::check_arity("gather", inputs, 2)?;
        let (scores, labels) = (inputs[0], inputs[1]);
        check_labels(scores, labels)?;
        Ok(Zip::from(scores.lanes(Axis(1)))
            .and(labels)
            .map_collect(|row, &y| row[y.as_f64() as usize]))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let (scores, labels) = (args.inputs[0], args.inputs[1]);
        if !args.needs_grad(0) {
            return Ok(vec![]);
        }
        let mut dscores = ArrayD::zeros(scores.raw_dim());
        Zip::from(dscores.lanes_mut(Axis(1)))
            .and(labels)
            .and(args.dout)
            .for_each(|mut row, &y, &d| row[y.as_f64() as usize] = d);
        Ok(vec![Some(dscores)])
    }
}
