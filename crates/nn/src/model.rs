//! The [`Model`] trait: what the [`Solver`](crate::Solver), the update rules and
//! the checkpoints need from a network, and nothing more.
//!
//! A model is, as in the course's `classifiers/fc_net.py`, a dictionary of named
//! parameters (`"W1"`, `"b1"`, `"gamma1"`, ...) plus a `loss` function that returns the
//! loss and one gradient per parameter under the same names. Everything else (how the
//! layers are wired) is the model's own business, so the Solver trains a two-layer
//! net, a deep batch-normalised net and a convolutional net alike.
//!
//! ```
//! use std::collections::BTreeMap;
//! use ndarray::{Array2, ArrayD, ArrayView1, ArrayViewD, Ix2};
//! use nn::{Model, Params};
//!
//! /// Scores = X·W: the smallest useful model (a linear classifier with softmax loss).
//! struct Linear { params: Params<f64> }
//!
//! impl Model<f64> for Linear {
//!     fn params(&self) -> &Params<f64> { &self.params }
//!     fn params_mut(&mut self) -> &mut Params<f64> { &mut self.params }
//!     fn loss(&mut self, x: &ArrayViewD<f64>, y: &ArrayView1<usize>) -> (f64, Params<f64>) {
//!         let x = x.view().into_dimensionality::<Ix2>().unwrap();
//!         let w = self.params["W"].view().into_dimensionality::<Ix2>().unwrap();
//!         let scores = numeric::matmul(&x, &w);
//!         let (loss, dscores) = linear::softmax_loss(&scores.view(), y);
//!         let dw = numeric::matmul(&x.t(), &dscores.view());
//!         (loss, BTreeMap::from([("W".to_string(), dw.into_dyn())]))
//!     }
//!     fn scores(&mut self, x: &ArrayViewD<f64>) -> Array2<f64> {
//!         let x = x.view().into_dimensionality::<Ix2>().unwrap();
//!         numeric::matmul(&x, &self.params["W"].view().into_dimensionality::<Ix2>().unwrap())
//!     }
//!     fn config(&self) -> serde_json::Value { serde_json::json!({"kind": "Linear"}) }
//!     fn input_shape(&self) -> Vec<usize> { vec![self.params["W"].shape()[0]] }
//!     fn num_classes(&self) -> usize { self.params["W"].shape()[1] }
//! }
//!
//! let mut m = Linear { params: BTreeMap::from([("W".to_string(), ArrayD::zeros(vec![4, 3]))]) };
//! let x = ndarray::Array2::<f64>::ones((2, 4)).into_dyn();
//! let (loss, grads) = m.loss(&x.view(), &ndarray::array![0, 2].view());
//! assert!((loss - 3f64.ln()).abs() < 1e-12); // zero weights: uniform over 3 classes
//! assert_eq!(grads["W"].shape(), &[4, 3]);
//! ```

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayD, ArrayView1, ArrayViewD};
use numeric::Float;

/// Named arrays: a model's trainable parameters, their gradients (same keys), or its
/// non-trainable buffers. A `BTreeMap` so that iteration order — and therefore the
/// order of tensors in a checkpoint and of random draws in an optimiser — is stable.
pub type Params<T> = BTreeMap<String, ArrayD<T>>;

/// A network the [`Solver`](crate::Solver) can train and a checkpoint can hold.
///
/// Two modes, as in the course: [`loss`](Model::loss) runs in *train* mode (dropout
/// drops, batchnorm normalises with the batch's statistics and updates its running
/// ones), [`scores`](Model::scores) in *test* mode (dropout is the identity, batchnorm
/// uses the running statistics). Keeping them as two methods makes it impossible to
/// evaluate accidentally in train mode.
///
/// Implementors: regularisation is part of `loss` (and its gradients); state that is
/// not trained by gradient but must survive a save/load (batchnorm's running mean and
/// variance) goes in [`buffers`](Model::buffers); [`config`](Model::config) must carry
/// everything needed to rebuild the model's shape from a file (see
/// [`crate::Checkpoint`]).
pub trait Model<T: Float>: Send {
    /// The trainable parameters by name (`"W1"`, `"b1"`, `"gamma1"`, ...).
    fn params(&self) -> &Params<T>;

    /// Mutable access, for update rules and for loading weights.
    fn params_mut(&mut self) -> &mut Params<T>;

    /// Train mode: the data loss plus regularisation on the minibatch `x` with labels
    /// `y`, and the gradient of that loss for every parameter (same keys as
    /// [`params`](Model::params)).
    ///
    /// `x` is (N, D) rows for fully connected models or (N, C, H, W) images for
    /// convolutional ones, as given by [`input_shape`](Model::input_shape).
    ///
    /// # Panics
    /// If `x`'s per-sample shape differs from `input_shape()` or a label is out of
    /// range: callers check data once, up front (the Solver does, with a typed error).
    fn loss(&mut self, x: &ArrayViewD<'_, T>, y: &ArrayView1<'_, usize>) -> (T, Params<T>);

    /// Test mode: class scores (N, C) for the batch `x`. Takes `&mut self` so models
    /// may reuse scratch buffers; it changes no parameter or buffer.
    ///
    /// # Panics
    /// As [`loss`](Model::loss), on a malformed batch.
    fn scores(&mut self, x: &ArrayViewD<'_, T>) -> Array2<T>;

    /// The architecture as JSON: an object whose `"kind"` names the model type
    /// (`"TwoLayerNet"`, `"FullyConnectedNet"`, ...) and whose other fields are its
    /// hyper-parameters. Stored in model files and checkpoints so that
    /// [`crate::load_model`] can rebuild the model before loading weights.
    fn config(&self) -> serde_json::Value;

    /// Number of classes scored: the width of [`scores`](Model::scores)' output.
    fn num_classes(&self) -> usize;

    /// The shape of one sample, without the batch axis: `[3072]` for a fully
    /// connected net on flattened CIFAR-10, `[3, 32, 32]` for a convnet. Lets callers
    /// (Solver, `cs231n predict`) check and shape their data before calling the model.
    fn input_shape(&self) -> Vec<usize>;

    /// Non-trainable state that must be saved with the weights (batchnorm running
    /// mean/variance). `None` for models without any.
    fn buffers(&self) -> Option<&Params<T>> {
        None
    }

    /// Mutable access to [`buffers`](Model::buffers), for loading a file.
    fn buffers_mut(&mut self) -> Option<&mut Params<T>> {
        None
    }

    /// Predicted labels (argmax of the test-mode scores), in batches of `batch_size`
    /// rows so memory stays bounded on large sets.
    fn predict(&mut self, x: &ArrayViewD<'_, T>, batch_size: usize) -> Vec<usize> {
        let n = x.shape()[0];
        let batch_size = batch_size.max(1);
        let mut labels = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let end = (start + batch_size).min(n);
            let batch = x.slice_axis(ndarray::Axis(0), (start..end).into());
            let scores = self.scores(&batch);
            labels.extend(
                scores
                    .rows()
                    .into_iter()
                    .map(|row| argmax(row.iter().copied())),
            );
            start = end;
        }
        labels
    }
}

/// Boxed models are models, so the Solver and checkpoints work on `Box<dyn Model<T>>`
/// (what [`crate::load_model`] returns) as on concrete types.
impl<T: Float, M: Model<T> + ?Sized> Model<T> for Box<M> {
    fn params(&self) -> &Params<T> {
        (**self).params()
    }
    fn params_mut(&mut self) -> &mut Params<T> {
        (**self).params_mut()
    }
    fn loss(&mut self, x: &ArrayViewD<'_, T>, y: &ArrayView1<'_, usize>) -> (T, Params<T>) {
        (**self).loss(x, y)
    }
    fn scores(&mut self, x: &ArrayViewD<'_, T>) -> Array2<T> {
        (**self).scores(x)
    }
    fn config(&self) -> serde_json::Value {
        (**self).config()
    }
    fn input_shape(&self) -> Vec<usize> {
        (**self).input_shape()
    }
    fn num_classes(&self) -> usize {
        (**self).num_classes()
    }
    fn buffers(&self) -> Option<&Params<T>> {
        (**self).buffers()
    }
    fn buffers_mut(&mut self) -> Option<&mut Params<T>> {
        (**self).buffers_mut()
    }
}

/// Index of the largest value (the first one on ties, as numpy's `argmax`); NaN never wins.
///
/// ```
/// assert_eq!(nn::argmax([0.1_f32, 0.7, 0.7, -1.0]), 1);
/// ```
pub fn argmax<T: PartialOrd + Copy>(values: impl IntoIterator<Item = T>) -> usize {
    let mut best: Option<(usize, T)> = None;
    for (i, v) in values.into_iter().enumerate() {
        let better = match best {
            None => v.partial_cmp(&v).is_some(), // not NaN
            Some((_, b)) => v.partial_cmp(&b) == Some(std::cmp::Ordering::Greater),
        };
        if better {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i)
}

/// Fraction of `predicted` labels equal to `y`, as the course's `check_accuracy`.
///
/// ```
/// assert_eq!(nn::accuracy(&[1, 2, 3, 4], &ndarray::array![1, 2, 0, 0].view()), 0.5);
/// ```
pub fn accuracy(predicted: &[usize], y: &ArrayView1<'_, usize>) -> f64 {
    if predicted.is_empty() {
        return 0.0;
    }
    let correct = predicted
        .iter()
        .zip(y.iter())
        .filter(|(p, t)| p == t)
        .count();
    correct as f64 / predicted.len() as f64
}

/// Checks the `"kind"` field of a stored configuration.
pub(crate) fn check_kind(value: &serde_json::Value, kind: &str) -> crate::Result<()> {
    match value.get("kind").and_then(serde_json::Value::as_str) {
        Some(k) if k == kind => Ok(()),
        other => Err(crate::Error::config(
            kind,
            format!("expected kind \"{kind}\", found {other:?}"),
        )),
    }
}

/// `0.5·reg·Σp²` over the named parameters, and `reg·p` added to their gradients:
/// the course's L2 regularisation, over the parameters the layers decay.
pub(crate) fn regularise<T: Float>(
    params: &Params<T>,
    grads: &mut Params<T>,
    reg: f64,
    names: &[String],
) -> T {
    if reg == 0.0 {
        return T::zero();
    }
    let r = T::cast(reg);
    let mut penalty = T::zero();
    for name in names {
        let w = &params[name];
        penalty += match w.as_slice_memory_order() {
            Some(values) => numeric::sum_of_squares(values),
            None => w.iter().map(|&v| v * v).sum::<T>(),
        };
        grads
            .get_mut(name)
            .expect("gradient of every weight")
            .scaled_add(r, w);
    }
    T::cast(0.5) * r * penalty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_first_maximum_and_skips_nan() {
        assert_eq!(argmax([3.0_f64, 1.0, 3.0]), 0);
        assert_eq!(argmax([f64::NAN, 1.0, 2.0]), 2);
        assert_eq!(argmax([1.0_f64, f64::NAN, 0.5]), 0);
    }
}
