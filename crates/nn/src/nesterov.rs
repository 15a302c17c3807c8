//! Nesterov momentum with decoupled weight decay, parametrised as the fast-training
//! recipe (airbench94) does it: learning rate and weight decay are given "per 1024
//! examples", so the batch size can change without retuning them.
//!
//! One step, for a parameter `w` with gradient `dw`, group learning rate `lr`,
//! momentum `μ`, per-step decay `λ` and schedule factor `s`:
//!
//! ```text
//! g = dw + (λ / lr)·w        weight decay, scaled so that it does not grow with lr
//! v = μ·v + g
//! w = w − s·lr·(g + μ·v)     Nesterov: step along the look-ahead velocity
//! ```
//!
//! The decay a step applies is `s·λ·w` whatever `lr` is (that is what "decoupled"
//! means here), which is why batchnorm biases can take a 64× larger learning rate
//! without a 64× larger decay. This is PyTorch's `SGD(nesterov=True)` with
//! `weight_decay = λ/lr`, as airbench94 configures it.
//!
//! [`RecipeRates::per_batch`] turns the per-1024 figures into `lr` and `λ` for a batch
//! size. The network's loss is the batch *mean*, while airbench94's is the sum, so
//! the learning rate here carries a factor of the batch size.
//!
//! ```
//! use ndarray::arr1;
//! let (mut w, mut v) = (arr1(&[1.0_f64]).into_dyn(), None);
//! // lr 0.5, μ 0.5, λ 0.1, s 1: g = 2 + 0.2 = 2.2, v = 2.2, w = 1 − 0.5·(2.2 + 1.1) = −0.65
//! nn::nesterov_sgd(&mut w, &arr1(&[2.0]).into_dyn(), &mut v, 0.5, 0.5, 0.1, 1.0);
//! assert!((w[[0]] + 0.65).abs() < 1e-15);
//! // Second step from w = −0.65: g = 2 − 0.13 = 1.87, v = 1.1 + 1.87 = 2.97,
//! // w = −0.65 − 0.5·(1.87 + 1.485) = −2.3275
//! nn::nesterov_sgd(&mut w, &arr1(&[2.0]).into_dyn(), &mut v, 0.5, 0.5, 0.1, 1.0);
//! assert!((w[[0]] + 2.3275).abs() < 1e-12);
//! ```

use ndarray::{ArrayD, Zip};
use numeric::Float;
use serde::{Deserialize, Serialize};

/// One Nesterov step with decoupled weight decay (formula in the module docs):
/// `velocity` starts at zero (`None`), `lr` is the group's learning rate (must be
/// > 0), `decay` the per-step decay `λ`, `schedule` the factor `s` of this step.
///
/// # Panics
/// If `w` and `dw` differ in shape, or `lr` is not positive.
pub fn nesterov_sgd<T: Float>(
    w: &mut ArrayD<T>,
    dw: &ArrayD<T>,
    velocity: &mut Option<ArrayD<T>>,
    lr: f64,
    momentum: f64,
    decay: f64,
    schedule: f64,
) {
    assert!(lr > 0.0, "learning rate {lr} must be positive");
    assert_eq!(
        w.shape(),
        dw.shape(),
        "parameter and gradient shapes differ"
    );
    let v = velocity.get_or_insert_with(|| ArrayD::zeros(w.raw_dim()));
    let (mu, wd, step) = (
        T::cast(momentum),
        T::cast(decay / lr),
        T::cast(schedule * lr),
    );
    Zip::from(w).and(dw).and(v).par_for_each(|w, &dw, v| {
        let g = dw + wd * *w;
        *v = mu * *v + g;
        *w -= step * (g + mu * *v);
    });
}

/// The recipe's optimiser settings as airbench94 states them, per 1024 examples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecipeRates {
    /// Learning rate per 1024 examples (11.5).
    pub lr: f64,
    /// Nesterov momentum (0.85).
    pub momentum: f64,
    /// Weight decay per 1024 examples (0.0153).
    pub weight_decay: f64,
    /// Learning-rate multiplier of the batchnorm biases (64); their decay is not
    /// multiplied.
    pub bias_scaler: f64,
}

impl Default for RecipeRates {
    fn default() -> Self {
        Self {
            lr: 11.5,
            momentum: 0.85,
            weight_decay: 0.0153,
            bias_scaler: 64.0,
        }
    }
}

/// The step sizes of one batch size: `(lr, lr of batchnorm biases, λ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRates {
    /// Learning rate of the weights (for the batch-mean gradient).
    pub lr: f64,
    /// Learning rate of the batchnorm biases.
    pub lr_bias: f64,
    /// Per-step weight decay λ, for every trained tensor.
    pub decay: f64,
}

impl RecipeRates {
    /// Step sizes for batches of `batch` examples. Nesterov momentum amplifies a
    /// constant gradient by `1 + 1/(1 − μ)`, so airbench94 divides by
    /// `1024·(1 + 1/(1 − μ))` ("kilostep scale") to make the rates mean "per 1024
    /// examples"; the mean loss here multiplies `lr` back by `batch`.
    ///
    /// ```
    /// let r = nn::RecipeRates::default().per_batch(1024);
    /// let kilostep = 1024.0 * (1.0 + 1.0 / 0.15);
    /// assert!((r.lr - 11.5 * 1024.0 / kilostep).abs() < 1e-12);
    /// assert!((r.decay - 0.0153 * 1024.0 / kilostep).abs() < 1e-15);
    /// assert!((r.lr_bias / r.lr - 64.0).abs() < 1e-12);
    /// // Half the batch: half the step and half the decay per step.
    /// assert!((nn::RecipeRates::default().per_batch(512).lr * 2.0 - r.lr).abs() < 1e-12);
    /// ```
    pub fn per_batch(&self, batch: usize) -> StepRates {
        let kilostep = 1024.0 * (1.0 + 1.0 / (1.0 - self.momentum));
        let lr = self.lr / kilostep * batch as f64;
        StepRates {
            lr,
            lr_bias: lr * self.bias_scaler,
            decay: self.weight_decay * batch as f64 / kilostep,
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::arr1;

    use super::*;

    #[test]
    fn decay_per_step_does_not_depend_on_the_learning_rate() {
        // Zero gradient, zero velocity: the first step shrinks w by s·λ·(1 + μ) for any lr.
        for lr in [0.01, 1.0, 64.0] {
            let mut w = arr1(&[2.0_f64]).into_dyn();
            nesterov_sgd(
                &mut w,
                &arr1(&[0.0]).into_dyn(),
                &mut None,
                lr,
                0.85,
                0.01,
                0.5,
            );
            let expected = 2.0 - 0.5 * 0.01 * 2.0 * 1.85;
            assert!((w[[0]] - expected).abs() < 1e-14, "lr {lr}: {}", w[[0]]);
        }
    }

    #[test]
    fn matches_the_unrolled_formula_over_several_steps() {
        let (lr, mu, wd, s) = (0.3, 0.85, 0.02, 0.7);
        let grads = [1.0, -0.5, 2.0, 0.25];
        let mut w = arr1(&[0.4_f64]).into_dyn();
        let mut v = None;
        let (mut w_ref, mut v_ref) = (0.4_f64, 0.0_f64);
        for g in grads {
            nesterov_sgd(&mut w, &arr1(&[g]).into_dyn(), &mut v, lr, mu, wd, s);
            let g = g + wd / lr * w_ref;
            v_ref = mu * v_ref + g;
            w_ref -= s * lr * (g + mu * v_ref);
        }
        assert!((w[[0]] - w_ref).abs() < 1e-15);
        assert!((v.unwrap()[[0]] - v_ref).abs() < 1e-15);
    }
}
