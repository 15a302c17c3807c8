//! The course's `Solver`: minibatch training of any [`Model`] with an update rule,
//! learning-rate decay, loss and accuracy histories, best-model tracking and
//! checkpoints that a later run resumes from.
//!
//! Like every algorithm crate here it prints nothing: progress goes to a callback
//! ([`Solver::train_with`]) that the CLI turns into a progress bar.
//!
//! ```
//! use nn::{FcConfig, FullyConnectedNet};
//! use nn::{Solver, SolverConfig, TrainData};
//! use nn::UpdateRule;
//! // Two separable blobs.
//! let x = ndarray::Array2::from_shape_fn((40, 2), |(i, j)| if (i % 2 == 0) == (j == 0) { 3.0_f32 } else { 0.0 }).into_dyn();
//! let y: ndarray::Array1<usize> = (0..40).map(|i| i % 2).collect();
//! let model = FullyConnectedNet::<f32>::new(FcConfig { input_dim: 2, hidden_dims: vec![8], num_classes: 2, ..Default::default() });
//! let data = TrainData { x_train: x.view(), y_train: y.view(), x_val: x.view(), y_val: y.view() };
//! let config = SolverConfig { num_epochs: 5, batch_size: 10, ..SolverConfig::with_rule(UpdateRule::Adam, 1e-2) };
//! let mut solver = Solver::new(model, data, config).unwrap();
//! let mut iterations = 0;
//! solver.train_with(|p| if let nn::Progress::Iteration { .. } = p { iterations += 1 }).unwrap();
//! assert_eq!(iterations, 20);
//! assert_eq!(solver.history.loss.len(), 20);
//! assert_eq!(solver.history.val_acc.len(), 6); // before training and after each epoch
//! assert_eq!(solver.history.best_val_acc, 1.0);
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array1, ArrayD, ArrayView, ArrayView1, ArrayViewD, Axis, Dimension, IxDyn};
use numeric::{Float, Rng};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Checkpoint;
use crate::error::{Error, Result};
use crate::model::{Model, Params, accuracy};
use crate::optim::{OptimConfig, Optimizer, UpdateRule};

/// Training and validation data, borrowed: `x` is (N, …) in the model's
/// [`input_shape`](Model::input_shape), `y` holds labels in `0..C`.
#[derive(Debug, Clone)]
pub struct TrainData<'a, T> {
    /// Training inputs.
    pub x_train: ArrayViewD<'a, T>,
    /// Training labels.
    pub y_train: ArrayView1<'a, usize>,
    /// Validation inputs (used to pick the best model).
    pub x_val: ArrayViewD<'a, T>,
    /// Validation labels.
    pub y_val: ArrayView1<'a, usize>,
}

impl<'a, T> TrainData<'a, T> {
    /// Training and validation data of any dimension: rows (N, D) for fully connected
    /// nets, images (N, C, H, W) for convnets.
    ///
    /// ```
    /// let x = ndarray::Array4::<f32>::zeros((4, 1, 2, 2));
    /// let y = ndarray::Array1::<usize>::zeros(4);
    /// let data = nn::TrainData::new(x.view(), y.view(), x.view(), y.view());
    /// assert_eq!(data.x_val.shape(), &[4, 1, 2, 2]);
    /// ```
    pub fn new<D: Dimension, E: Dimension>(
        x_train: ArrayView<'a, T, D>,
        y_train: ArrayView1<'a, usize>,
        x_val: ArrayView<'a, T, E>,
        y_val: ArrayView1<'a, usize>,
    ) -> Self {
        Self {
            x_train: x_train.into_dyn(),
            y_train,
            x_val: x_val.into_dyn(),
            y_val,
        }
    }
}

/// The Solver's settings (the course's keyword arguments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SolverConfig {
    /// Update rule.
    pub update_rule: UpdateRule,
    /// Its hyper-parameters (learning rate, ...).
    pub optim_config: OptimConfig,
    /// The learning rate is multiplied by this after every epoch.
    pub lr_decay: f64,
    /// Examples per minibatch.
    pub batch_size: usize,
    /// Epochs to train for (in total, counting epochs before a resume).
    pub num_epochs: usize,
    /// Training examples sampled to estimate training accuracy (`None`: all).
    pub num_train_samples: Option<usize>,
    /// Validation examples used (`None`: all).
    pub num_val_samples: Option<usize>,
    /// [`Progress::Iteration::report`] is true every this many iterations (the
    /// course's `print_every`; the Solver itself prints nothing).
    pub print_every: usize,
    /// Write a checkpoint here after every epoch (`None`: no checkpoints).
    pub checkpoint: Option<PathBuf>,
    /// Seed for the minibatch order and accuracy subsamples.
    pub seed: u64,
    /// Batch size for the accuracy checks (memory bound, not a hyper-parameter).
    pub eval_batch_size: usize,
}

impl SolverConfig {
    /// The course's defaults with `rule` and learning rate `lr` (the other
    /// hyper-parameters of the rule at their defaults).
    ///
    /// ```
    /// let c = nn::SolverConfig::with_rule(nn::UpdateRule::Adam, 5e-4);
    /// assert_eq!((c.optim_config.learning_rate, c.optim_config.beta2), (5e-4, 0.999));
    /// ```
    pub fn with_rule(rule: UpdateRule, lr: f64) -> Self {
        SolverConfig {
            update_rule: rule,
            optim_config: OptimConfig {
                learning_rate: lr,
                ..OptimConfig::default_for(rule)
            },
            ..SolverConfig::default()
        }
    }
}

impl Default for SolverConfig {
    /// The course's defaults: sgd (learning rate 1e-2), lr_decay 1, batch size 100,
    /// 10 epochs, 1000 training samples for accuracy, all validation samples,
    /// print_every 10, no checkpoints.
    fn default() -> Self {
        SolverConfig {
            update_rule: UpdateRule::Sgd,
            optim_config: OptimConfig::default_for(UpdateRule::Sgd),
            lr_decay: 1.0,
            batch_size: 100,
            num_epochs: 10,
            num_train_samples: Some(1000),
            num_val_samples: None,
            print_every: 10,
            checkpoint: None,
            seed: 0,
            eval_batch_size: 1000,
        }
    }
}

/// What happened in training so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Loss of every iteration.
    pub loss: Vec<f64>,
    /// Training accuracy before training and after each epoch.
    pub train_acc: Vec<f64>,
    /// Validation accuracy before training and after each epoch.
    pub val_acc: Vec<f64>,
    /// Best validation accuracy seen.
    pub best_val_acc: f64,
    /// Epoch of the best validation accuracy (0: before training).
    pub best_epoch: usize,
    /// Seconds spent training (summed over resumed runs).
    pub train_seconds: f64,
}

/// A training event, passed to the callback of [`Solver::train_with`].
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// One minibatch update is done.
    Iteration {
        /// Current epoch, from 1.
        epoch: usize,
        /// Iteration within the epoch, from 1.
        iteration_in_epoch: usize,
        /// Iterations per epoch.
        iterations_per_epoch: usize,
        /// Iteration over the whole run, from 1.
        iteration: usize,
        /// Iterations in the whole run.
        num_iterations: usize,
        /// This minibatch's loss.
        loss: f64,
        /// Examples in the minibatch (for throughput).
        batch_size: usize,
        /// True every `print_every` iterations (and on the first).
        report: bool,
    },
    /// An epoch is done and accuracies were measured.
    Epoch {
        /// The epoch just completed, from 1.
        epoch: usize,
        /// Epochs in the run.
        num_epochs: usize,
        /// Training accuracy (on the sample).
        train_acc: f64,
        /// Validation accuracy.
        val_acc: f64,
        /// Learning rate for the next epoch (after decay).
        learning_rate: f64,
        /// Whether this epoch set a new best validation accuracy.
        improved: bool,
        /// Seconds the epoch took (updates and accuracy checks).
        seconds: f64,
    },
}

/// A minibatch transform applied to each training batch before the model sees it
/// (data augmentation): gets the batch (N, …) and the Solver's generator.
pub type BatchTransform<T> = Box<dyn FnMut(ArrayD<T>, &mut Rng) -> ArrayD<T> + Send>;

/// Trains a [`Model`] on [`TrainData`]; minibatch SGD with an update rule, learning-rate decay, histories, best weights and checkpoints (the example at the top of `solver.rs` trains two blobs apart).
pub struct Solver<'a, T: Float, M: Model<T>> {
    /// The model being trained. After [`train`](Self::train) it holds the best
    /// parameters by validation accuracy, as in the course.
    pub model: M,
    /// Rule, hyper-parameters (decayed learning rate) and per-parameter state.
    pub optimizer: Optimizer<T>,
    /// Settings.
    pub config: SolverConfig,
    /// Histories.
    pub history: History,
    /// Completed epochs.
    pub epoch: usize,
    data: TrainData<'a, T>,
    num_classes: usize,
    best_params: Params<T>,
    best_buffers: Params<T>,
    transform: Option<BatchTransform<T>>,
}

impl<'a, T: Float, M: Model<T>> Solver<'a, T, M> {
    /// A Solver for `model` on `data`; checks the data's shapes and labels against
    /// the model up front (so the training loop cannot panic on them).
    ///
    /// ```
    /// use nn::{Solver, SolverConfig, TrainData};
    /// let model = nn::TwoLayerNet::<f32>::new(nn::TwoLayerConfig { input_dim: 4, hidden_dim: 3, num_classes: 2, ..Default::default() });
    /// let x = ndarray::Array2::<f32>::zeros((5, 3)).into_dyn(); // 3 features, not 4
    /// let y = ndarray::Array1::<usize>::zeros(5);
    /// let data = TrainData { x_train: x.view(), y_train: y.view(), x_val: x.view(), y_val: y.view() };
    /// assert!(matches!(Solver::new(model, data, SolverConfig::default()), Err(nn::Error::DataShape { .. })));
    /// ```
    pub fn new(mut model: M, data: TrainData<'a, T>, config: SolverConfig) -> Result<Self> {
        let num_classes = validate(&mut model, &data, &config)?;
        let optimizer = Optimizer::new(config.update_rule, config.optim_config);
        let best_params = model.params().clone();
        let best_buffers = model.buffers().cloned().unwrap_or_default();
        Ok(Solver {
            model,
            optimizer,
            config,
            history: History::default(),
            epoch: 0,
            data,
            num_classes,
            best_params,
            best_buffers,
            transform: None,
        })
    }

    /// A Solver that continues the run saved in the checkpoint at `path`: the model's
    /// weights and buffers, the optimiser's state and (decayed) learning rate, the
    /// epoch count, histories and best weights come from the file; `config` gives
    /// everything else (`num_epochs` is the total, so a finished 10-epoch run resumed
    /// with `num_epochs: 15` trains 5 more).
    ///
    /// Errors if the checkpoint's tensors do not match `model` (names or shapes).
    ///
    /// ```
    /// use nn::{Solver, SolverConfig, TrainData};
    /// use nn::{TwoLayerNet, TwoLayerConfig};
    /// let dir = tempfile::tempdir().unwrap();
    /// let ckpt = dir.path().join("run.safetensors");
    /// let x = ndarray::Array2::<f32>::ones((8, 4)).into_dyn();
    /// let y = ndarray::Array1::<usize>::zeros(8);
    /// let data = TrainData { x_train: x.view(), y_train: y.view(), x_val: x.view(), y_val: y.view() };
    /// let cfg = TwoLayerConfig { input_dim: 4, hidden_dim: 3, num_classes: 2, ..Default::default() };
    /// let config = SolverConfig { num_epochs: 2, batch_size: 4, checkpoint: Some(ckpt.clone()), ..Default::default() };
    /// Solver::new(TwoLayerNet::<f32>::new(cfg), data.clone(), config.clone()).unwrap().train().unwrap();
    /// let resumed = Solver::resume(TwoLayerNet::<f32>::new(cfg), data, SolverConfig { num_epochs: 3, ..config }, &ckpt).unwrap();
    /// assert_eq!(resumed.epoch, 2);
    /// assert_eq!(resumed.history.loss.len(), 4);
    /// ```
    pub fn resume(
        model: M,
        data: TrainData<'a, T>,
        config: SolverConfig,
        path: impl AsRef<Path>,
    ) -> Result<Self> {
        let path = path.as_ref();
        let ckpt = Checkpoint::<T>::load(path)?;
        let mut solver = Solver::new(model, data, config)?;
        ckpt.apply_to(&mut solver.model, path)?;
        if let Some(opt) = ckpt.optimizer {
            solver.optimizer = opt;
        }
        solver.epoch = ckpt.epoch;
        if let Some(history) = ckpt.solver.as_ref().and_then(|s| s.get("history")) {
            solver.history =
                serde_json::from_value(history.clone()).map_err(|e| Error::Metadata {
                    path: path.to_path_buf(),
                    key: "solver".into(),
                    problem: format!("has an invalid history ({e})"),
                })?;
        }
        solver.best_params = ckpt
            .best_params
            .unwrap_or_else(|| solver.model.params().clone());
        solver.best_buffers = ckpt
            .best_buffers
            .unwrap_or_else(|| solver.model.buffers().cloned().unwrap_or_default());
        Ok(solver)
    }

    /// Applies `transform` to every training minibatch (data augmentation such as
    /// random crops and flips). Accuracy checks see the data untransformed.
    ///
    /// ```
    /// # use nn::*;
    /// # let x = ndarray::Array2::<f32>::ones((4, 2)).into_dyn();
    /// # let y = ndarray::Array1::<usize>::zeros(4);
    /// # let data = TrainData { x_train: x.view(), y_train: y.view(), x_val: x.view(), y_val: y.view() };
    /// let model = nn::FullyConnectedNet::<f32>::new(nn::FcConfig { input_dim: 2, num_classes: 2, ..Default::default() });
    /// let mut s = Solver::new(model, data, SolverConfig { num_epochs: 1, batch_size: 2, ..Default::default() }).unwrap();
    /// s.set_batch_transform(Box::new(|x, _rng| -x)); // a (silly) transform
    /// s.train().unwrap();
    /// ```
    pub fn set_batch_transform(&mut self, transform: BatchTransform<T>) {
        self.transform = Some(transform);
    }

    /// Trains to `config.num_epochs` without progress reports; see
    /// [`train_with`](Self::train_with).
    ///
    /// # Errors
    /// As [`train_with`](Self::train_with).
    pub fn train(&mut self) -> Result<&History> {
        self.train_with(|_| {})
    }

    /// Trains from the current epoch to `config.num_epochs`, calling `on_progress`
    /// after every iteration and every epoch. After each epoch the learning rate is
    /// decayed, accuracies are measured, the best weights are kept and a checkpoint
    /// is written (if configured). At the end the model holds the best weights.
    ///
    /// # Errors
    /// [`Error::NonFiniteLoss`] when the loss becomes NaN or infinite (the
    /// model is left with its last finite weights' successor, so inspect, don't use);
    /// [`Error::Io`] if a checkpoint cannot be written.
    pub fn train_with(&mut self, mut on_progress: impl FnMut(&Progress)) -> Result<&History> {
        let n = self.data.x_train.shape()[0];
        let batch_size = self.config.batch_size.min(n);
        let iterations_per_epoch = (n / batch_size).max(1);
        let num_iterations = iterations_per_epoch * self.config.num_epochs;
        let sample_shape: Vec<usize> = self.data.x_train.shape()[1..].to_vec();
        let row_len: usize = sample_shape.iter().product();
        let mut batch_shape = vec![batch_size];
        batch_shape.extend(&sample_shape);
        // One batch buffer for the whole run: memory stays flat across epochs.
        let mut x_batch = ArrayD::<T>::zeros(IxDyn(&batch_shape));
        let mut y_batch = Array1::<usize>::zeros(batch_size);
        let x_train = self.data.x_train.clone();
        let x_contiguous = x_train.as_standard_layout();
        let x_rows = x_contiguous.as_slice().expect("standard layout");

        if self.history.val_acc.is_empty() {
            let (train_acc, val_acc) = self.check_accuracies(0);
            self.history.train_acc.push(train_acc);
            self.history.val_acc.push(val_acc);
            self.history.best_val_acc = val_acc;
            self.history.best_epoch = 0;
        }
        let mut order: Vec<usize> = (0..n).collect();
        while self.epoch < self.config.num_epochs {
            let epoch = self.epoch + 1;
            let start = Instant::now();
            // Seeded by (seed, epoch), so a resumed run sees the same batches.
            let mut rng =
                numeric::rng(self.config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch as u64);
            order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
            order.shuffle(&mut rng);
            for it in 0..iterations_per_epoch {
                let idx = &order[it * batch_size..(it + 1) * batch_size];
                // The gather is a pure memory copy (2.4 MB per CIFAR batch): split it
                // over the pool, which is idle between GEMMs.
                let dst = x_batch.as_slice_mut().expect("owned buffer");
                dst.par_chunks_mut(row_len.max(1))
                    .zip(idx.par_iter())
                    .for_each(|(row, &i)| {
                        row.copy_from_slice(&x_rows[i * row_len..(i + 1) * row_len]);
                    });
                for (j, &i) in idx.iter().enumerate() {
                    y_batch[j] = self.data.y_train[i];
                }
                let (loss, grads) = match self.transform.as_mut() {
                    Some(f) => {
                        let x = f(x_batch.clone(), &mut rng);
                        self.model.loss(&x.view(), &y_batch.view())
                    }
                    None => self.model.loss(&x_batch.view(), &y_batch.view()),
                };
                let loss = loss.as_f64();
                if !loss.is_finite() {
                    return Err(Error::NonFiniteLoss {
                        epoch,
                        iteration: it + 1,
                        loss,
                        learning_rate: self.optimizer.config.learning_rate,
                    });
                }
                self.optimizer.step(self.model.params_mut(), &grads);
                self.history.loss.push(loss);
                let iteration = (epoch - 1) * iterations_per_epoch + it + 1;
                on_progress(&Progress::Iteration {
                    epoch,
                    iteration_in_epoch: it + 1,
                    iterations_per_epoch,
                    iteration,
                    num_iterations,
                    loss,
                    batch_size,
                    report: it == 0 || iteration.is_multiple_of(self.config.print_every.max(1)),
                });
            }
            self.optimizer.config.learning_rate *= self.config.lr_decay;
            self.epoch = epoch;
            let (train_acc, val_acc) = self.check_accuracies(epoch);
            self.history.train_acc.push(train_acc);
            self.history.val_acc.push(val_acc);
            let improved = val_acc > self.history.best_val_acc;
            if improved {
                self.history.best_val_acc = val_acc;
                self.history.best_epoch = epoch;
                self.best_params.clone_from(self.model.params());
                if let Some(b) = self.model.buffers() {
                    self.best_buffers.clone_from(b);
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            self.history.train_seconds += seconds;
            if let Some(path) = self.config.checkpoint.clone() {
                self.save_checkpoint(&path)?;
            }
            on_progress(&Progress::Epoch {
                epoch,
                num_epochs: self.config.num_epochs,
                train_acc,
                val_acc,
                learning_rate: self.optimizer.config.learning_rate,
                improved,
                seconds,
            });
        }
        self.restore_best();
        Ok(&self.history)
    }

    /// Puts the best weights (by validation accuracy) into the model.
    fn restore_best(&mut self) {
        self.model.params_mut().clone_from(&self.best_params);
        if let Some(b) = self.model.buffers_mut() {
            b.clone_from(&self.best_buffers);
        }
    }

    /// The best parameters so far (by validation accuracy).
    pub fn best_params(&self) -> &Params<T> {
        &self.best_params
    }

    /// Writes the full training state to `path`: current and best weights, buffers,
    /// optimiser state, epoch, histories and settings, and the model's architecture.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut ckpt = Checkpoint::of_model(&self.model);
        ckpt.optimizer = Some(self.optimizer.clone());
        ckpt.epoch = self.epoch;
        ckpt.solver = Some(serde_json::json!({ "history": self.history, "config": self.config }));
        ckpt.best_params = Some(self.best_params.clone());
        ckpt.best_buffers = Some(self.best_buffers.clone());
        ckpt.save(path)?;
        Ok(())
    }

    /// Accuracy of the model (test mode) on `x`, `y`, using at most `num_samples`
    /// examples drawn at random (the course's `check_accuracy`).
    pub fn check_accuracy(
        &mut self,
        x: &ArrayViewD<'_, T>,
        y: &ArrayView1<'_, usize>,
        num_samples: Option<usize>,
        rng: &mut Rng,
    ) -> f64 {
        let n = x.shape()[0];
        match num_samples {
            Some(k) if k < n => {
                let mut idx: Vec<usize> = (0..n).collect();
                idx.shuffle(rng);
                idx.truncate(k);
                let xs = x.select(Axis(0), &idx);
                let ys = y.select(Axis(0), &idx);
                let pred = self.model.predict(&xs.view(), self.config.eval_batch_size);
                accuracy(&pred, &ys.view())
            }
            _ => {
                let pred = self.model.predict(x, self.config.eval_batch_size);
                accuracy(&pred, y)
            }
        }
    }

    fn check_accuracies(&mut self, epoch: usize) -> (f64, f64) {
        let mut rng = numeric::rng(self.config.seed ^ 0xACC ^ ((epoch as u64) << 20));
        let (xt, yt, xv, yv) = (
            self.data.x_train.clone(),
            self.data.y_train,
            self.data.x_val.clone(),
            self.data.y_val,
        );
        let train = self.check_accuracy(&xt, &yt, self.config.num_train_samples, &mut rng);
        let val = self.check_accuracy(&xv, &yv, self.config.num_val_samples, &mut rng);
        (train, val)
    }

    /// Number of classes of the model (from its scores' width).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
}

/// Checks data against the model and settings; returns the number of classes.
fn validate<T: Float, M: Model<T>>(
    model: &mut M,
    data: &TrainData<'_, T>,
    config: &SolverConfig,
) -> Result<usize> {
    if config.batch_size == 0 {
        return Err(Error::Setting("batch size must be positive".into()));
    }
    if !(config.lr_decay > 0.0 && config.optim_config.learning_rate > 0.0) {
        return Err(Error::Setting(format!(
            "learning rate ({}) and lr decay ({}) must be positive",
            config.optim_config.learning_rate, config.lr_decay
        )));
    }
    let expected = model.input_shape();
    for (what, x) in [("x_train", &data.x_train), ("x_val", &data.x_val)] {
        if x.ndim() == 0 || x.shape()[1..] != expected[..] {
            return Err(Error::DataShape {
                what,
                expected: expected.clone(),
                found: x.shape().to_vec(),
            });
        }
    }
    if data.x_train.shape()[0] == 0 || data.x_val.shape()[0] == 0 {
        return Err(Error::Setting(
            "training and validation sets must not be empty".into(),
        ));
    }
    let num_classes = model.num_classes();
    for (what, x, y) in [
        ("train", &data.x_train, &data.y_train),
        ("val", &data.x_val, &data.y_val),
    ] {
        if x.shape()[0] != y.len() {
            return Err(Error::LabelCount {
                what,
                examples: x.shape()[0],
                labels: y.len(),
            });
        }
        if let Some((index, &label)) = y.iter().enumerate().find(|(_, l)| **l >= num_classes) {
            let what = if what == "train" { "y_train" } else { "y_val" };
            return Err(Error::Label {
                what,
                index,
                label,
                num_classes,
            });
        }
    }
    Ok(num_classes)
}
