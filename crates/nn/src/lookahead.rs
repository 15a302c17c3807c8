//! Lookahead (Zhang et al., 2019), as the fast-training recipe uses it: a second,
//! slow copy of the weights trails the fast ones the optimiser moves. Every few steps
//! the slow copy moves part of the way towards the fast one,
//! `slow = decay·slow + (1 − decay)·fast`, and the fast weights are reset to it.
//!
//! It is an exponential moving average of the weights that also *feeds back*: the
//! averaged weights generalise better than any single late iterate (lecture 7's
//! model ensembles, the cheap way: one network averaged over time), and resetting to
//! them damps the noise of the large learning rates. Batchnorm's running statistics
//! are averaged too, so they match the averaged weights. A final sync with decay 1
//! leaves the network at the slow weights.
//!
//! ```
//! use nn::{Lookahead, Params};
//! let mut params = Params::from([("w".to_string(), ndarray::arr1(&[0.0_f64]).into_dyn())]);
//! let mut buffers = Params::new();
//! let mut slow = Lookahead::new(&params, &buffers);
//! params.get_mut("w").unwrap()[[0]] = 1.0; // the optimiser moved w
//! slow.update(&mut params, &mut buffers, 0.75);
//! assert_eq!(params["w"][[0]], 0.25); // 0.75·0 + 0.25·1, and w is reset to it
//! ```

use ndarray::Zip;
use numeric::Float;

use crate::Params;

/// The slow weights: a copy of the parameters and buffers.
#[derive(Debug, Clone)]
pub struct Lookahead<T> {
    params: Params<T>,
    buffers: Params<T>,
}

/// How many optimiser steps between lookahead updates in the recipe.
pub const LOOKAHEAD_EVERY: usize = 5;

impl<T: Float> Lookahead<T> {
    /// Slow weights starting at the current `params` and `buffers`.
    pub fn new(params: &Params<T>, buffers: &Params<T>) -> Self {
        Self {
            params: params.clone(),
            buffers: buffers.clone(),
        }
    }

    /// `slow = decay·slow + (1 − decay)·fast`, then `fast = slow`, for every tensor
    /// of `params` and `buffers` (decay 1: the final sync, fast = slow).
    ///
    /// # Panics
    /// If a tensor is missing from the slow copy or changed shape.
    pub fn update(&mut self, params: &mut Params<T>, buffers: &mut Params<T>, decay: f64) {
        let d = T::cast(decay);
        let one_d = T::one() - d;
        for (slow, fast) in [(&mut self.params, params), (&mut self.buffers, buffers)] {
            for (name, f) in fast.iter_mut() {
                let s = slow
                    .get_mut(name)
                    .unwrap_or_else(|| panic!("lookahead: no slow copy of {name}"));
                Zip::from(s).and(f).for_each(|s, f| {
                    *s = d * *s + one_d * *f;
                    *f = *s;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_sync_restores_the_slow_weights() {
        let mut params =
            Params::from([("w".to_string(), ndarray::arr1(&[1.0_f64, 2.0]).into_dyn())]);
        let mut buffers = Params::from([("m".to_string(), ndarray::arr1(&[3.0_f64]).into_dyn())]);
        let mut la = Lookahead::new(&params, &buffers);
        params.get_mut("w").unwrap().fill(10.0);
        buffers.get_mut("m").unwrap().fill(-3.0);
        la.update(&mut params, &mut buffers, 1.0);
        assert_eq!(params["w"], ndarray::arr1(&[1.0, 2.0]).into_dyn());
        assert_eq!(buffers["m"], ndarray::arr1(&[3.0]).into_dyn());
    }

    #[test]
    fn decay_zero_keeps_the_fast_weights_and_remembers_them() {
        let mut params = Params::from([("w".to_string(), ndarray::arr1(&[1.0_f64]).into_dyn())]);
        let mut buffers = Params::new();
        let mut la = Lookahead::new(&params, &buffers);
        params.get_mut("w").unwrap().fill(5.0);
        la.update(&mut params, &mut buffers, 0.0);
        assert_eq!(params["w"][[0]], 5.0);
        params.get_mut("w").unwrap().fill(7.0);
        la.update(&mut params, &mut buffers, 0.5);
        assert_eq!(params["w"][[0]], 6.0);
    }
}
