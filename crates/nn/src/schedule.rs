//! The recipe's step-by-step schedules (lecture 7's learning-rate schedules):
//!
//! - [`triangle_lr`]: a linear warm-up of the learning-rate factor from 0.2 to 1.0
//!   over the first 23% of the steps, then a linear decay to 0.07 at the end.
//!   Starting small keeps the first steps, taken while batchnorm statistics and
//!   weights are still far from anything sensible, from blowing up; ending small lets
//!   the weights settle into the minimum instead of bouncing around it.
//! - [`lookahead_decay`]: the weight `0.95⁵·(step/total)³` that [`crate::Lookahead`]
//!   keeps of its slow weights at `step`: near 0 early (follow the fast weights), up to
//!   0.77 at the end (average over the last few hundred steps).
//!
//! ```
//! assert_eq!(nn::triangle_lr(0, 100), 0.2);
//! assert_eq!(nn::triangle_lr(23, 100), 1.0);
//! assert!((nn::triangle_lr(100, 100) - 0.07).abs() < 1e-15);
//! assert_eq!(nn::lookahead_decay(0, 100), 0.0);
//! assert!((nn::lookahead_decay(100, 100) - 0.95f64.powi(5)).abs() < 1e-15);
//! ```

/// The fraction of the steps spent warming up.
pub const WARMUP_FRACTION: f64 = 0.23;

/// Learning-rate factor at `step` of `total` (0-based, as airbench94's `get_lr`):
/// `0.2 → 1.0` linearly over the first `⌊0.23·total⌋` steps, then `1.0 → 0.07`
/// linearly up to `total`.
///
/// ```
/// // Halfway through a 10-step warm-up, and halfway down the decay.
/// assert!((nn::triangle_lr(5, 44) - 0.6).abs() < 1e-15);
/// assert!((nn::triangle_lr(27, 44) - (1.0 + 0.07) / 2.0).abs() < 1e-15);
/// ```
pub fn triangle_lr(step: usize, total: usize) -> f64 {
    let warmup = (total as f64 * WARMUP_FRACTION) as usize;
    if step < warmup {
        let frac = step as f64 / warmup as f64;
        0.2 * (1.0 - frac) + frac
    } else {
        let frac = (step - warmup) as f64 / (total - warmup).max(1) as f64;
        (1.0 - frac) + frac * 0.07
    }
}

/// Lookahead's decay at `step` of `total`: `0.95⁵·(step/total)³`.
pub fn lookahead_decay(step: usize, total: usize) -> f64 {
    let frac = step as f64 / total.max(1) as f64;
    0.95_f64.powi(5) * frac.powi(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learning_rate_rises_then_falls_linearly() {
        let total = 1000;
        let lrs: Vec<f64> = (0..total).map(|s| triangle_lr(s, total)).collect();
        let peak = lrs
            .iter()
            .copied()
            .enumerate()
            .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
        assert_eq!(peak, (230, 1.0));
        assert!(lrs[..230].windows(2).all(|w| w[1] > w[0]));
        assert!(lrs[230..].windows(2).all(|w| w[1] < w[0]));
        // Constant slopes: second differences vanish away from the peak.
        for w in lrs[..230].windows(3).chain(lrs[231..].windows(3)) {
            assert!((w[2] - 2.0 * w[1] + w[0]).abs() < 1e-12);
        }
        assert!(lrs[999] > 0.07 && lrs[999] < 0.072);
    }

    #[test]
    fn tiny_runs_do_not_divide_by_zero() {
        assert_eq!(triangle_lr(0, 1), 1.0); // no warm-up step at all
        assert!(triangle_lr(0, 0).is_finite() && lookahead_decay(0, 0) == 0.0);
    }

    #[test]
    fn lookahead_decay_grows_as_the_cube() {
        let d = |s| lookahead_decay(s, 100);
        assert!((d(50) / d(25) - 8.0).abs() < 1e-12);
    }
}
