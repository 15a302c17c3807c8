//! The layers of [`crate::layers`] as [`backprop::Gate`]s, so they compose on
//! `backprop`'s tape with its elementary gates (the lecture's "modular"
//! picture: every layer is a gate with a forward and a backward).
//!
//! Each gate calls the same kernels as the course-style functions (one
//! implementation per layer) and reads its inputs and output back from the graph in
//! the backward pass, caching only what the graph does not keep (batchnorm's
//! normalised input, dropout's mask). Parameters are graph inputs, so the tape
//! accumulates their gradients; data enters as a constant, and the affine gate then
//! skips the input gradient.
//!
//! ```
//! use backprop::Graph;
//! use nn::gates::{AffineGate, ReluGate, SoftmaxLossGate};
//! let mut g = Graph::<f64>::new();
//! let x = g.constant("X", ndarray::array![[1.0, 2.0], [3.0, -1.0]]);
//! let w = g.parameter("W", ndarray::array![[0.1, -0.2], [0.3, 0.4]]);
//! let b = g.parameter("b", ndarray::array![0.0, 0.1]);
//! let a = g.apply(AffineGate, &[x, w, b])?;
//! let h = g.apply(ReluGate, &[a])?;
//! let loss = g.apply(SoftmaxLossGate::new(vec![0, 1]), &[h])?;
//! g.backward(loss)?;
//! assert_eq!(g.grad(w)?.shape(), &[2, 2]);
//! # Ok::<(), backprop::GraphError>(())
//! ```

use std::sync::{Arc, Mutex};

use backprop::{BackwardArgs, Gate, GraphError};
use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, Ix1, Ix2};
use numeric::{Float, Rng};

use crate::layers::{
    self, BatchNormParam, DropoutCache, Mode, NormCache, affine, affine_input_grad,
    affine_param_grads, relu_backward_from_output,
};
use crate::losses::Loss;

type Grads<T> = Result<Vec<Option<ArrayD<T>>>, GraphError>;

fn arity<T>(op: &str, inputs: &[&ArrayD<T>], n: usize) -> Result<(), GraphError> {
    if inputs.len() == n {
        Ok(())
    } else {
        Err(GraphError::Arity {
            op: op.to_string(),
            expected: n,
            got: inputs.len(),
        })
    }
}

fn as2<'a, T>(op: &str, a: &'a ArrayD<T>) -> Result<ArrayView2<'a, T>, GraphError> {
    a.view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| GraphError::InvalidInput {
            op: op.to_string(),
            message: format!("expected a matrix, got shape {:?}", a.shape()),
        })
}

fn as1<'a, T>(op: &str, a: &'a ArrayD<T>) -> Result<ArrayView1<'a, T>, GraphError> {
    a.view()
        .into_dimensionality::<Ix1>()
        .map_err(|_| GraphError::InvalidInput {
            op: op.to_string(),
            message: format!("expected a vector, got shape {:?}", a.shape()),
        })
}

/// The cache of the last forward pass, or the error for a backward without one.
fn cached<'c, C>(op: &str, cache: &'c Option<C>) -> Result<&'c C, GraphError> {
    cache.as_ref().ok_or_else(|| GraphError::InvalidInput {
        op: op.to_string(),
        message: "backward before forward".into(),
    })
}

/// A normalisation gate's inputs `(x (N, D), gamma (D), beta (D))`.
type NormInputs<'a, T> = (ArrayView2<'a, T>, ArrayView1<'a, T>, ArrayView1<'a, T>);

/// A normalisation gate's inputs, checked: three of them, gamma and beta fitting x.
fn norm_inputs<'a, T>(op: &str, inputs: &[&'a ArrayD<T>]) -> Result<NormInputs<'a, T>, GraphError> {
    arity(op, inputs, 3)?;
    let x = as2(op, inputs[0])?;
    let (gamma, beta) = (as1(op, inputs[1])?, as1(op, inputs[2])?);
    if gamma.len() != x.ncols() || beta.len() != x.ncols() {
        return Err(norm_mismatch(op, &x, &gamma));
    }
    Ok((x, gamma, beta))
}

/// The error for per-feature parameters that do not fit `x`'s D columns.
fn norm_mismatch<T>(op: &str, x: &ArrayView2<'_, T>, gamma: &ArrayView1<'_, T>) -> GraphError {
    GraphError::ShapeMismatch {
        op: op.to_string(),
        left: x.shape().to_vec(),
        right: gamma.shape().to_vec(),
    }
}

/// A normalisation backward `(dx, dgamma, dbeta)` as the gate's input gradients.
fn norm_grads<T>((dx, dgamma, dbeta): (Array2<T>, Array1<T>, Array1<T>)) -> Grads<T> {
    Ok(vec![
        Some(dx.into_dyn()),
        Some(dgamma.into_dyn()),
        Some(dbeta.into_dyn()),
    ])
}

/// `x` (N, d₁, …) as rows (N, D), a view when `x` is contiguous.
fn rows<'a, T: Float>(x: &'a ArrayD<T>) -> Result<ndarray::CowArray<'a, T, Ix2>, GraphError> {
    let n = x.shape().first().copied().unwrap_or(0);
    let d: usize = x.shape().iter().skip(1).product();
    x.to_shape((n, d)).map_err(|e| GraphError::InvalidInput {
        op: "affine".into(),
        message: e.to_string(),
    })
}

/// Affine layer `x·W + b` on inputs `[x, W, b]` (x flattened to rows).
#[derive(Debug, Clone, Copy, Default)]
pub struct AffineGate;

impl<T: Float> Gate<T> for AffineGate {
    fn name(&self) -> &str {
        "affine"
    }
    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        arity("affine", inputs, 3)?;
        let x = rows(inputs[0])?;
        let (w, b) = (as2("affine", inputs[1])?, as1("affine", inputs[2])?);
        if x.ncols() != w.nrows() || w.ncols() != b.len() {
            return Err(GraphError::ShapeMismatch {
                op: "affine".into(),
                left: inputs[0].shape().to_vec(),
                right: w.shape().to_vec(),
            });
        }
        Ok(affine(&x.view(), &w, &b).into_dyn())
    }
    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let x = rows(args.inputs[0])?;
        let w = as2("affine", args.inputs[1])?;
        let dout = as2("affine", args.dout)?;
        let dx = if args.needs_grad(0) {
            let dx = affine_input_grad(&dout, &w);
            Some(
                dx.into_shape_with_order(args.inputs[0].raw_dim())
                    .expect("same element count"),
            )
        } else {
            None
        };
        let (dw, db) = affine_param_grads(&x.view(), &dout);
        Ok(vec![dx, Some(dw.into_dyn()), Some(db.into_dyn())])
    }
}

/// Relu on one input (backward from the graph's stored output).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReluGate;

impl<T: Float> Gate<T> for ReluGate {
    fn name(&self) -> &str {
        "relu"
    }
    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        arity("relu", inputs, 1)?;
        let mut out = inputs[0].clone();
        layers::relu_inplace(&mut out.view_mut());
        Ok(out)
    }
    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let mut dx = args.dout.clone();
        relu_backward_from_output(&mut dx.view_mut(), &args.output.view());
        Ok(vec![Some(dx)])
    }
}

/// An elementwise activation chosen at run time: leaky relu (with its slope),
/// sigmoid or tanh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActivationGate {
    /// Leaky relu with slope α for negative inputs.
    LeakyRelu(f64),
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
}

impl<T: Float> Gate<T> for ActivationGate {
    fn name(&self) -> &str {
        match self {
            ActivationGate::LeakyRelu(_) => "leaky_relu",
            ActivationGate::Sigmoid => "sigmoid",
            ActivationGate::Tanh => "tanh",
        }
    }
    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        arity(Gate::<T>::name(self), inputs, 1)?;
        let x = inputs[0].view();
        Ok(match *self {
            ActivationGate::LeakyRelu(alpha) => layers::leaky_relu_forward(&x, alpha).0,
            ActivationGate::Sigmoid => layers::sigmoid_forward(&x).0,
            ActivationGate::Tanh => layers::tanh_forward(&x).0,
        })
    }
    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        // Recomputing the cheap elementwise forward keeps one backward formula per
        // activation (the one in `layers`).
        let x = args.inputs[0].view();
        let dout = args.dout.view();
        let dx = match *self {
            ActivationGate::LeakyRelu(alpha) => {
                layers::leaky_relu_backward(&dout, &layers::leaky_relu_forward(&x, alpha).1)
            }
            ActivationGate::Sigmoid => {
                layers::sigmoid_backward(&dout, &layers::sigmoid_forward(&x).1)
            }
            ActivationGate::Tanh => layers::tanh_backward(&dout, &layers::tanh_forward(&x).1),
        };
        Ok(vec![Some(dx)])
    }
}

/// Batch normalisation on inputs `[x (N, D), gamma, beta]`. The running statistics
/// are shared with the caller (`Arc<Mutex<_>>`), who reads them after training.
#[derive(Debug)]
pub struct BatchNormGate<T> {
    param: Arc<Mutex<BatchNormParam<T>>>,
    mode: Mode,
    cache: Option<NormCache<T>>,
}

impl<T: Float> BatchNormGate<T> {
    /// A batchnorm gate in `mode` updating (train) or reading (test) `param`.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let bn = Arc::new(Mutex::new(nn::layers::BatchNormParam::<f64>::new(3)));
    /// let gate = nn::gates::BatchNormGate::new(bn.clone(), nn::layers::Mode::Train);
    /// # let _ = gate;
    /// ```
    pub fn new(param: Arc<Mutex<BatchNormParam<T>>>, mode: Mode) -> Self {
        BatchNormGate {
            param,
            mode,
            cache: None,
        }
    }
}

impl<T: Float> Gate<T> for BatchNormGate<T> {
    fn name(&self) -> &str {
        "batchnorm"
    }
    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let (x, gamma, beta) = norm_inputs("batchnorm", inputs)?;
        let mut param = self.param.lock().unwrap_or_else(|e| e.into_inner());
        if param.running_mean.len() != x.ncols() {
            return Err(norm_mismatch("batchnorm", &x, &gamma));
        }
        let (out, cache) = layers::batchnorm_forward(&x, &gamma, &beta, &mut param, self.mode);
        self.cache = Some(cache);
        Ok(out.into_dyn())
    }
    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let cache = cached("batchnorm", &self.cache)?;
        norm_grads(layers::batchnorm_backward(
            &as2("batchnorm", args.dout)?,
            cache,
        ))
    }
}

/// Layer normalisation on inputs `[x (N, D), gamma, beta]`.
#[derive(Debug)]
pub struct LayerNormGate<T> {
    eps: f64,
    cache: Option<NormCache<T>>,
}

impl<T: Float> LayerNormGate<T> {
    /// A layernorm gate with the course's `eps` (1e-5 by convention).
    ///
    /// ```
    /// let _g = nn::gates::LayerNormGate::<f32>::new(1e-5);
    /// ```
    pub fn new(eps: f64) -> Self {
        LayerNormGate { eps, cache: None }
    }
}

impl<T: Float> Gate<T> for LayerNormGate<T> {
    fn name(&self) -> &str {
        "layernorm"
    }
    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        let (x, gamma, beta) = norm_inputs("layernorm", inputs)?;
        let (out, cache) = layers::layernorm_forward(&x, &gamma, &beta, self.eps);
        self.cache = Some(cache);
        Ok(out.into_dyn())
    }
    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let cache = cached("layernorm", &self.cache)?;
        norm_grads(layers::layernorm_backward(
            &as2("layernorm", args.dout)?,
            cache,
        ))
    }
}

/// Inverted dropout (keep probability `p`) with its own seeded generator; a new
/// mask on every forward pass.
#[derive(Debug)]
pub struct DropoutGate<T> {
    p: f64,
    mode: Mode,
    rng: Rng,
    cache: Option<DropoutCache<T, ndarray::IxDyn>>,
}

impl<T: Float> DropoutGate<T> {
    /// Keeps each unit with probability `p` in train mode; identity in test mode.
    ///
    /// ```
    /// let _g = nn::gates::DropoutGate::<f32>::new(0.5, nn::layers::Mode::Train, numeric::rng(0));
    /// ```
    pub fn new(p: f64, mode: Mode, rng: Rng) -> Self {
        DropoutGate {
            p,
            mode,
            rng,
            cache: None,
        }
    }
}

impl<T: Float> Gate<T> for DropoutGate<T> {
    fn name(&self) -> &str {
        "dropout"
    }
    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        arity("dropout", inputs, 1)?;
        if !(self.p > 0.0 && self.p <= 1.0) {
            return Err(GraphError::InvalidInput {
                op: "dropout".into(),
                message: format!("keep probability {} is not in (0, 1]", self.p),
            });
        }
        let (out, cache) =
            layers::dropout_forward(&inputs[0].view(), self.p, self.mode, &mut self.rng);
        self.cache = Some(cache);
        Ok(out)
    }
    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let cache = cached("dropout", &self.cache)?;
        Ok(vec![Some(layers::dropout_backward(
            &args.dout.view(),
            cache,
        ))])
    }
}

/// Softmax or SVM loss on scores (N, C) against fixed labels: a scalar (0-d) output.
#[derive(Debug, Clone)]
pub struct LossGate {
    loss: Loss,
    labels: ndarray::Array1<usize>,
}

/// The softmax-loss gate (a [`LossGate`] with [`Loss::Softmax`]).
pub type SoftmaxLossGate = LossGate;

impl LossGate {
    /// Softmax loss against `labels`.
    ///
    /// ```
    /// let _g = nn::gates::SoftmaxLossGate::new(vec![0, 2, 1]);
    /// ```
    pub fn new(labels: Vec<usize>) -> Self {
        Self::with_loss(Loss::Softmax, labels)
    }

    /// `loss` against `labels`.
    ///
    /// ```
    /// let _g = nn::gates::LossGate::with_loss(nn::losses::Loss::Svm, vec![1]);
    /// ```
    pub fn with_loss(loss: Loss, labels: Vec<usize>) -> Self {
        LossGate {
            loss,
            labels: labels.into(),
        }
    }

    fn check<T: Float>(&self, scores: &ArrayView2<'_, T>) -> Result<(), GraphError> {
        if scores.nrows() != self.labels.len() {
            return Err(GraphError::InvalidInput {
                op: "loss".into(),
                message: format!(
                    "{} score rows but {} labels",
                    scores.nrows(),
                    self.labels.len()
                ),
            });
        }
        if let Some(&bad) = self.labels.iter().find(|&&l| l >= scores.ncols()) {
            return Err(GraphError::InvalidInput {
                op: "loss".into(),
                message: format!("label {bad} is not below the {} classes", scores.ncols()),
            });
        }
        Ok(())
    }
}

impl<T: Float> Gate<T> for LossGate {
    fn name(&self) -> &str {
        match self.loss {
            Loss::Softmax => "softmax_loss",
            Loss::Svm => "svm_loss",
        }
    }
    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        arity("loss", inputs, 1)?;
        let scores = as2("loss", inputs[0])?;
        self.check(&scores)?;
        let (loss, _) = self.loss.compute(&scores, &self.labels.view());
        Ok(ndarray::arr0(loss).into_dyn())
    }
    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let scores = as2("loss", args.inputs[0])?;
        let (_, dscores) = self.loss.compute(&scores, &self.labels.view());
        let upstream = args.dout.iter().next().copied().unwrap_or_else(T::one);
        Ok(vec![Some((dscores * upstream).into_dyn())])
    }
}
