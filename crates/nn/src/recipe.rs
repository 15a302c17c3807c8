//! The fast-training recipe's training loop (airbench94), one epoch at a time so a
//! caller can time the training steps apart from its own evaluation.
//!
//! Per step: a batch of shuffled training images, translated ±2 px with reflect
//! padding and flipped on alternate epochs; the network's label-smoothed loss;
//! Nesterov SGD with the per-1024 rates, scaled by the triangular schedule; every 5
//! steps a lookahead update. The whitening bias trains for the first 3 epochs only.
//! [`Recipe::finish`] makes the final lookahead sync.
//!
//! ```
//! use ndarray::{Array1, Array4};
//! use nn::{Airbench94, Airbench94Config, Recipe, RecipeConfig};
//! let cfg = Airbench94Config { input_shape: vec![1, 25, 25], widths: [4, 4, 4], num_classes: 2, ..Default::default() };
//! let x: Array4<f32> = numeric::randn((16, 1, 25, 25), &mut numeric::rng(0));
//! let y = Array1::from_iter((0..16).map(|i| i % 2));
//! let recipe = RecipeConfig { epochs: 1.0, batch_size: 8, ..RecipeConfig::default() };
//! let mut run = Recipe::new(Airbench94::new(cfg)?, x.view(), y.view(), recipe)?;
//! let stats = run.run_epoch(|_, _| {});
//! assert_eq!((stats.steps, stats.images), (2, 16));
//! let net = run.finish();
//! # Ok::<(), nn::Error>(())
//! ```

use std::collections::BTreeMap;

use ndarray::{ArrayD, ArrayView1, ArrayView4, Axis, s};
use numeric::{Float, Rng};
use rand::Rng as _;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::airbench::{Airbench94, ParamRole};
use crate::augment::{alternating_flip, random_translate};
use crate::error::{Error, Result};
use crate::lookahead::{LOOKAHEAD_EVERY, Lookahead};
use crate::model::{Model, argmax};
use crate::nesterov::{RecipeRates, StepRates, nesterov_sgd};
use crate::schedule::{lookahead_decay, triangle_lr};

/// The recipe's training settings, airbench94's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeConfig {
    /// Epochs, fractional (9.9): the last epoch stops part-way.
    pub epochs: f64,
    /// Images per step (1024).
    pub batch_size: usize,
    /// Learning rate, momentum, weight decay, bias scaler.
    pub rates: RecipeRates,
    /// Epochs during which the whitening bias trains (3).
    pub whiten_bias_epochs: usize,
    /// Random translation in pixels (2).
    pub translate: usize,
    /// Alternating flips.
    pub flip: bool,
    /// Training images the whitening filters are computed from (5 000).
    pub whiten_images: usize,
    /// Whitening eps (5e-4).
    pub whiten_eps: f64,
    /// Lookahead every 5 steps.
    pub lookahead: bool,
    /// Scale the learning rate by the triangular schedule ([`triangle_lr`]); off,
    /// every step takes the full rate (an ablation).
    pub schedule: bool,
    /// Seed of shuffling, augmentation and flips.
    pub seed: u64,
}

impl Default for RecipeConfig {
    fn default() -> Self {
        Self {
            epochs: 9.9,
            batch_size: 1024,
            rates: RecipeRates::default(),
            whiten_bias_epochs: 3,
            translate: 2,
            flip: true,
            whiten_images: 5000,
            whiten_eps: 5e-4,
            lookahead: true,
            schedule: true,
            seed: 0,
        }
    }
}

/// One epoch's training figures (train mode, augmented batches).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// Mean loss over the epoch's steps.
    pub loss: f64,
    /// Accuracy of the train-mode scores on the augmented batches.
    pub accuracy: f64,
    /// Steps taken.
    pub steps: usize,
    /// Images seen.
    pub images: usize,
}

/// A recipe run in progress: the network, its optimiser state and the data.
pub struct Recipe<'a, T: Float> {
    net: Airbench94<T>,
    x: ArrayView4<'a, T>,
    y: ArrayView1<'a, usize>,
    config: RecipeConfig,
    rates: StepRates,
    velocity: BTreeMap<String, Option<ArrayD<T>>>,
    lookahead: Option<Lookahead<T>>,
    flip_start: Vec<bool>,
    rng: Rng,
    step: usize,
    total_steps: usize,
    epoch: usize,
}

impl<'a, T: Float> Recipe<'a, T> {
    /// Checks the data, computes the whitening filters from the first
    /// `whiten_images` images of `x` (normalised images (N, C, H, W); unless the net
    /// was built without whitening), and starts
    /// the lookahead copy.
    ///
    /// # Errors
    /// [`Error::Config`] when `x` and `y` disagree, a label is
    /// out of range, the images do not fit the net, or there is not one full batch.
    pub fn new(
        mut net: Airbench94<T>,
        x: ArrayView4<'a, T>,
        y: ArrayView1<'a, usize>,
        config: RecipeConfig,
    ) -> Result<Self> {
        let bad = |reason: String| Error::config("recipe", reason);
        let n = x.dim().0;
        if y.len() != n {
            return Err(bad(format!("{n} images but {} labels", y.len())));
        }
        if x.shape()[1..] != net.settings().input_shape[..] {
            return Err(bad(format!(
                "images of shape {:?}, the net takes {:?}",
                &x.shape()[1..],
                net.settings().input_shape
            )));
        }
        if let Some(&label) = y.iter().find(|&&l| l >= net.num_classes()) {
            return Err(bad(format!(
                "label {label} is not below {} classes",
                net.num_classes()
            )));
        }
        if config.batch_size == 0 || n < config.batch_size {
            return Err(bad(format!(
                "{n} training images do not make one batch of {}",
                config.batch_size
            )));
        }
        if !(config.epochs > 0.0 && config.epochs <= 1e4) || config.rates.lr <= 0.0 {
            return Err(bad(format!(
                "epochs {} must be in (0, 10000] and the learning rate positive",
                config.epochs
            )));
        }
        if net.settings().whitening {
            let whiten = x.slice(s![..config.whiten_images.clamp(1, n), .., .., ..]);
            net.init_whitening(&whiten, config.whiten_eps)?;
        }
        let steps_per_epoch = n / config.batch_size;
        let total_steps = (steps_per_epoch as f64 * config.epochs).ceil() as usize;
        let mut rng = numeric::rng(config.seed);
        let flip_start = (0..n).map(|_| rng.random::<bool>()).collect();
        let lookahead = config
            .lookahead
            .then(|| Lookahead::new(net.params(), net.buffers().expect("batchnorm buffers")));
        Ok(Self {
            rates: config.rates.per_batch(config.batch_size),
            net,
            x,
            y,
            config,
            velocity: BTreeMap::new(),
            lookahead,
            flip_start,
            rng,
            step: 0,
            total_steps,
            epoch: 0,
        })
    }

    /// Epochs to run: `⌈epochs⌉`, the last one possibly partial.
    pub fn num_epochs(&self) -> usize {
        self.config.epochs.ceil() as usize
    }

    /// Optimiser steps in the whole run.
    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// The network as it is now (for evaluation between epochs).
    pub fn net_mut(&mut self) -> &mut Airbench94<T> {
        &mut self.net
    }

    /// Trains one epoch (or what is left of the run), calling `on_step(step, total)`
    /// after each step.
    pub fn run_epoch(&mut self, mut on_step: impl FnMut(usize, usize)) -> EpochStats {
        let n = self.x.dim().0;
        let b = self.config.batch_size;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut self.rng);
        let flips = if self.config.flip {
            alternating_flip(&self.flip_start, self.epoch)
        } else {
            vec![false; n]
        };
        let train_whiten_bias = self.epoch < self.config.whiten_bias_epochs;
        let (mut loss_sum, mut correct, mut steps, mut images) = (0.0, 0usize, 0usize, 0usize);
        for idx in order.chunks_exact(b) {
            if self.step >= self.total_steps {
                break;
            }
            let batch = self.x.select(Axis(0), idx);
            let flip: Vec<bool> = idx.iter().map(|&i| flips[i]).collect();
            let batch =
                random_translate(&batch.view(), self.config.translate, &flip, &mut self.rng);
            let labels = self.y.select(Axis(0), idx);
            let (loss, grads, scores) = self.net.loss_and_scores_with(
                &batch.view().into_dyn(),
                &labels.view(),
                train_whiten_bias,
            );
            self.update(&grads, train_whiten_bias);
            self.step += 1;
            if let Some(la) = &mut self.lookahead
                && self.step.is_multiple_of(LOOKAHEAD_EVERY)
            {
                let decay = lookahead_decay(self.step, self.total_steps);
                let (params, buffers) = self.net.state_mut();
                la.update(params, buffers, decay);
            }
            loss_sum += loss.as_f64();
            correct += scores
                .rows()
                .into_iter()
                .zip(labels.iter())
                .filter(|(row, l)| argmax(row.iter().copied()) == **l)
                .count();
            steps += 1;
            images += idx.len();
            on_step(self.step, self.total_steps);
        }
        self.epoch += 1;
        EpochStats {
            loss: loss_sum / steps.max(1) as f64,
            accuracy: correct as f64 / images.max(1) as f64,
            steps,
            images,
        }
    }

    /// One Nesterov step of every trained tensor with its role's learning rate.
    fn update(&mut self, grads: &crate::Params<T>, train_whiten_bias: bool) {
        let schedule = if self.config.schedule {
            triangle_lr(self.step, self.total_steps)
        } else {
            1.0
        };
        let StepRates { lr, lr_bias, decay } = self.rates;
        let momentum = self.config.rates.momentum;
        for (name, dw) in grads {
            let lr = match self.net.role(name) {
                ParamRole::Weight => lr,
                ParamRole::NormBias => lr_bias,
                ParamRole::WhiteningBias if train_whiten_bias => lr,
                _ => continue,
            };
            let w = self
                .net
                .params_mut()
                .get_mut(name)
                .expect("a gradient per parameter");
            let v = self.velocity.entry(name.clone()).or_default();
            nesterov_sgd(w, dw, v, lr, momentum, decay, schedule);
        }
    }

    /// Ends the run: the final lookahead sync (the network takes the slow weights, as
    /// airbench94 ends), and the trained network. A run too short for any lookahead
    /// update (under 5 steps) keeps its fast weights: its slow copy is still the
    /// initialisation.
    pub fn finish(mut self) -> Airbench94<T> {
        if let Some(la) = &mut self.lookahead
            && self.step >= LOOKAHEAD_EVERY
        {
            let (params, buffers) = self.net.state_mut();
            la.update(params, buffers, 1.0);
        }
        self.net
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array1, Array4};

    use super::*;
    use crate::Airbench94Config;

    /// Two classes a small net can tell apart: bright or dark images.
    fn data(n: usize) -> (Array4<f32>, Array1<usize>) {
        let noise: Array4<f32> = numeric::randn((n, 1, 25, 25), &mut numeric::rng(1));
        let y = Array1::from_iter((0..n).map(|i| i % 2));
        let x = Array4::from_shape_fn((n, 1, 25, 25), |(i, c, h, w)| {
            noise[[i, c, h, w]] + if y[i] == 1 { 1.0 } else { -1.0 }
        });
        (x, y)
    }

    fn net() -> Airbench94<f32> {
        Airbench94::new(Airbench94Config {
            input_shape: vec![1, 25, 25],
            widths: [8, 8, 8],
            num_classes: 2,
            ..Airbench94Config::default()
        })
        .unwrap()
    }

    #[test]
    fn it_learns_an_easy_problem_and_runs_the_planned_steps() {
        let (x, y) = data(64);
        let cfg = RecipeConfig {
            epochs: 7.5,
            batch_size: 16,
            ..RecipeConfig::default()
        };
        let mut run = Recipe::new(net(), x.view(), y.view(), cfg).unwrap();
        assert_eq!((run.num_epochs(), run.total_steps()), (8, 30));
        let steps: Vec<usize> = (0..8).map(|_| run.run_epoch(|_, _| {}).steps).collect();
        assert_eq!(steps, [4, 4, 4, 4, 4, 4, 4, 2]);
        let mut net = run.finish();
        let pred = net.predict(&x.view().into_dyn(), 32);
        assert!(crate::accuracy(&pred, &y.view()) > 0.9);
    }

    #[test]
    fn without_the_schedule_the_first_step_is_five_times_larger() {
        // Step 0 of the triangle (5 steps planned, one warming up) takes 0.2 of the
        // rate; with velocity zero and the same batch, the whole update (gradient and
        // decay) scales by 1 / 0.2.
        let (x, y) = data(16);
        let first_update = |schedule: bool| {
            let cfg = RecipeConfig {
                epochs: 5.0,
                batch_size: 16,
                lookahead: false,
                schedule,
                ..RecipeConfig::default()
            };
            let mut run = Recipe::new(net(), x.view(), y.view(), cfg).unwrap();
            let before = run.net_mut().params()["W8"].clone();
            assert_eq!(run.run_epoch(|_, _| {}).steps, 1);
            run.net_mut().params()["W8"].clone() - before
        };
        let (with, without) = (first_update(true), first_update(false));
        assert!(with.iter().any(|d| d.abs() > 1e-6));
        for (a, b) in with.iter().zip(&without) {
            assert!((b - 5.0 * a).abs() <= 1e-4 * a.abs().max(1e-3), "{a} {b}");
        }
    }

    #[test]
    fn plain_sgd_without_momentum_still_learns() {
        let (x, y) = data(64);
        let cfg = RecipeConfig {
            epochs: 6.0,
            batch_size: 16,
            rates: RecipeRates {
                momentum: 0.0,
                ..RecipeRates::default()
            },
            ..RecipeConfig::default()
        };
        let mut run = Recipe::new(net(), x.view(), y.view(), cfg).unwrap();
        for _ in 0..6 {
            run.run_epoch(|_, _| {});
        }
        let mut net = run.finish();
        let pred = net.predict(&x.view().into_dyn(), 32);
        assert!(crate::accuracy(&pred, &y.view()) > 0.9);
    }

    #[test]
    fn without_whitening_the_first_conv_trains_from_random_filters() {
        let (x, y) = data(64);
        let plain = Airbench94::new(Airbench94Config {
            input_shape: vec![1, 25, 25],
            widths: [8, 8, 8],
            num_classes: 2,
            whitening: false,
            ..Airbench94Config::default()
        })
        .unwrap();
        let w1 = plain.params()["W1"].clone();
        assert!(
            w1.iter().any(|v| *v != 0.0),
            "random, not zero until whitened"
        );
        let cfg = RecipeConfig {
            epochs: 6.0,
            batch_size: 16,
            ..RecipeConfig::default()
        };
        let mut run = Recipe::new(plain, x.view(), y.view(), cfg).unwrap();
        assert_eq!(run.net_mut().params()["W1"], w1, "no whitening filters set");
        for _ in 0..6 {
            run.run_epoch(|_, _| {});
        }
        let mut net = run.finish();
        assert_ne!(net.params()["W1"], w1, "the first conv trained");
        let pred = net.predict(&x.view().into_dyn(), 32);
        assert!(crate::accuracy(&pred, &y.view()) > 0.9);
    }

    #[test]
    fn same_seed_same_weights() {
        let (x, y) = data(32);
        let train = || {
            let cfg = RecipeConfig {
                epochs: 1.0,
                batch_size: 16,
                ..RecipeConfig::default()
            };
            let mut run = Recipe::new(net(), x.view(), y.view(), cfg).unwrap();
            run.run_epoch(|_, _| {});
            run.finish().params().clone()
        };
        assert_eq!(train(), train());
    }

    #[test]
    fn the_final_sync_takes_the_slow_weights_once_there_are_any() {
        let (x, y) = data(64);
        let run = |epochs: f64| {
            let cfg = RecipeConfig {
                epochs,
                batch_size: 16,
                ..RecipeConfig::default()
            };
            let mut run = Recipe::new(net(), x.view(), y.view(), cfg).unwrap();
            while run.steps_done() < run.total_steps() {
                run.run_epoch(|_, _| {});
            }
            let fast = run.net.params()["W8"].clone();
            (fast, run.finish().params()["W8"].clone())
        };
        // 3 steps: no lookahead update yet, the fast weights stay.
        let (fast, last) = run(0.75);
        assert_eq!(fast, last);
        // 7 steps: the net ends at the slow weights of step 5, not the fast ones.
        let (fast, last) = run(1.75);
        assert_ne!(fast, last);
        let initial = net().params()["W8"].clone();
        assert_ne!(last, initial);
    }

    #[test]
    fn too_little_data_is_an_error() {
        let (x, y) = data(8);
        let cfg = RecipeConfig {
            batch_size: 16,
            ..RecipeConfig::default()
        };
        let err = Recipe::new(net(), x.view(), y.view(), cfg).err().unwrap();
        assert!(err.to_string().contains("one batch of 16"), "{err}");
    }
}
