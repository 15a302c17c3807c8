//! Any [`Layer`] as a [`backprop::Gate`], so layers compose on `backprop`'s tape with
//! its elementary gates (the lecture's "modular" picture: every layer is a gate with
//! a forward and a backward). One generic adapter, [`LayerGate`], serves every
//! layer; [`LossGate`] ends the graph with a score-level loss.
//!
//! The gate's inputs are the layer's input followed by its parameters, in the order
//! of [`Layer::params`], so the tape accumulates the parameters' gradients. Buffers
//! (batchnorm's running statistics) stay inside the gate.
//!
//! ```
//! use backprop::Graph;
//! use nn::{Affine, LayerGate, LossGate, Mode, Relu};
//! let mut g = Graph::<f64>::new();
//! let x = g.constant("X", ndarray::array![[1.0, 2.0], [3.0, -1.0]]);
//! let w = g.parameter("W", ndarray::array![[0.1, -0.2], [0.3, 0.4]]);
//! let b = g.parameter("b", ndarray::array![0.0, 0.1]);
//! let a = g.apply(LayerGate::new(Affine::new("W", "b", 2, 2), Mode::Train), &[x, w, b])?;
//! let h = g.apply(LayerGate::new(Relu, Mode::Train), &[a])?;
//! let loss = g.apply(LossGate::new(linear::Loss::Softmax, vec![0, 1]), &[h])?;
//! g.backward(loss)?;
//! assert_eq!(g.grad(w)?.shape(), &[2, 2]);
//! # Ok::<(), backprop::GraphError>(())
//! ```

use std::marker::PhantomData;

use backprop::{BackwardArgs, Gate, GraphError};
use ndarray::{Array2, ArrayD, IxDyn};
use numeric::Float;

use crate::layer::{Cache, Layer, Mode, ParamSpec};
use crate::model::Params;

type Grads<T> = Result<Vec<Option<ArrayD<T>>>, GraphError>;

/// A [`Layer`] on the tape: inputs `[x, params…]`, output the layer's output.
#[derive(Debug)]
pub struct LayerGate<T, L> {
    layer: L,
    name: String,
    mode: Mode,
    specs: Vec<ParamSpec>,
    buffers: Params<T>,
    state: Option<(Params<T>, Cache)>,
    _t: PhantomData<T>,
}

impl<T: Float, L: Layer<T>> LayerGate<T, L> {
    /// `layer` as a gate running in `mode`; buffers start at zero, as in a new model.
    ///
    /// ```
    /// let gate = nn::LayerGate::<f32, _>::new(nn::Relu, nn::Mode::Test);
    /// assert!(gate.buffers().is_empty());
    /// ```
    pub fn new(layer: L, mode: Mode) -> Self {
        let buffers = layer
            .buffers()
            .into_iter()
            .map(|b| (b.name, ArrayD::zeros(IxDyn(&b.shape))))
            .collect();
        Self {
            name: layer.name(),
            specs: layer.params(),
            layer,
            mode,
            buffers,
            state: None,
            _t: PhantomData,
        }
    }

    /// The layer's buffers (running statistics after train-mode passes).
    pub fn buffers(&self) -> &Params<T> {
        &self.buffers
    }

    fn invalid(&self, message: String) -> GraphError {
        GraphError::InvalidInput {
            op: self.name.clone(),
            message,
        }
    }
}

impl<T: Float, L: Layer<T>> Gate<T> for LayerGate<T, L> {
    fn name(&self) -> &str {
        &self.name
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        if inputs.len() != 1 + self.specs.len() {
            return Err(GraphError::Arity {
                op: self.name.clone(),
                expected: 1 + self.specs.len(),
                got: inputs.len(),
            });
        }
        let x = inputs[0];
        if x.ndim() == 0 {
            return Err(self.invalid("the input needs a batch axis".into()));
        }
        self.layer
            .output_shape(&x.shape()[1..])
            .map_err(|e| self.invalid(e.to_string()))?;
        let mut params = Params::new();
        for (spec, value) in self.specs.iter().zip(&inputs[1..]) {
            if value.shape() != spec.shape.as_slice() {
                return Err(GraphError::ShapeMismatch {
                    op: format!("{} ({})", self.name, spec.name),
                    left: spec.shape.clone(),
                    right: value.shape().to_vec(),
                });
            }
            params.insert(spec.name.clone(), (*value).clone());
        }
        let (out, cache) = self
            .layer
            .forward(x.clone(), &params, &mut self.buffers, self.mode);
        self.state = Some((params, cache));
        Ok(out)
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let (params, cache) = self
            .state
            .as_ref()
            .ok_or_else(|| self.invalid("backward before forward".into()))?;
        let need_dx = args.needs_grad(0);
        let (dx, mut grads) = self
            .layer
            .backward(args.dout.clone(), cache, params, need_dx);
        let mut out = vec![need_dx.then_some(dx)];
        for spec in &self.specs {
            out.push(grads.remove(&spec.name));
        }
        Ok(out)
    }
}

/// A score-level loss (softmax or SVM, from `linear`) against fixed labels: scores
/// (N, C) in, a scalar (0-d) out. The forward pass keeps `dscores`, so the backward
/// pass only scales them by the upstream gradient.
#[derive(Debug, Clone)]
pub struct LossGate<T> {
    loss: linear::Loss,
    labels: ndarray::Array1<usize>,
    dscores: Option<Array2<T>>,
}

impl<T: Float> LossGate<T> {
    /// `loss` against `labels`.
    ///
    /// ```
    /// let _g = nn::LossGate::<f64>::new(linear::Loss::Svm, vec![1]);
    /// ```
    pub fn new(loss: linear::Loss, labels: Vec<usize>) -> Self {
        LossGate {
            loss,
            labels: labels.into(),
            dscores: None,
        }
    }

    fn invalid(&self, message: String) -> GraphError {
        GraphError::InvalidInput {
            op: self.loss.name().into(),
            message,
        }
    }
}

impl<T: Float> Gate<T> for LossGate<T> {
    fn name(&self) -> &str {
        self.loss.name()
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        if inputs.len() != 1 {
            return Err(GraphError::Arity {
                op: self.loss.name().into(),
                expected: 1,
                got: inputs.len(),
            });
        }
        let scores = inputs[0]
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|_| {
                self.invalid(format!(
                    "scores of shape {:?} are not (N, C)",
                    inputs[0].shape()
                ))
            })?;
        if scores.nrows() != self.labels.len() {
            return Err(self.invalid(format!(
                "{} score rows but {} labels",
                scores.nrows(),
                self.labels.len()
            )));
        }
        if let Some(&bad) = self.labels.iter().find(|&&l| l >= scores.ncols()) {
            return Err(self.invalid(format!(
                "label {bad} is not below the {} classes",
                scores.ncols()
            )));
        }
        let (loss, dscores) = (self.loss.score_loss::<T>())(&scores, &self.labels.view());
        self.dscores = Some(dscores);
        Ok(ndarray::arr0(loss).into_dyn())
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let dscores = self
            .dscores
            .as_ref()
            .ok_or_else(|| self.invalid("backward before forward".into()))?;
        let upstream = args.dout.iter().next().copied().unwrap_or_else(T::one);
        Ok(vec![Some((dscores * upstream).into_dyn())])
    }
}
