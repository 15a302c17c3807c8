//! Test-time augmentation (TTA): score each test image as several augmented views
//! and average the scores, an ensemble of one network over the transformations it
//! was trained to ignore (lecture 7's model ensembles, for free at test time).
//!
//! The views and weights of airbench94's levels:
//! - level 0: the image alone;
//! - level 1: the image and its mirror, ½ each;
//! - level 2: level 1 at ½, plus the mirror pair of the image shifted by one pixel
//!   up-left and the pair shifted down-right (reflect padding) at ⅛ each: 6 views.
//!
//! Scores are averaged before the softmax (logits), as airbench94 does.
//!
//! ```
//! use nn::{TtaView, tta_views};
//! let views = tta_views(2);
//! assert_eq!(views.len(), 6);
//! assert!((views.iter().map(|v| v.weight).sum::<f64>() - 1.0).abs() < 1e-15);
//! assert_eq!(views[0], TtaView { flip: false, shift: (0, 0), weight: 0.25 });
//! ```

use ndarray::{Array2, ArrayView4, Axis};
use numeric::Float;

use crate::Model;
use crate::augment::shift_reflect;

/// One view of a test image: mirrored or not, then shifted by `shift` = (dy, dx)
/// pixels with reflect padding; its scores count with `weight`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TtaView {
    /// Mirror left–right first.
    pub flip: bool,
    /// Then read pixel (r + dy, c + dx).
    pub shift: (isize, isize),
    /// Weight of this view's scores.
    pub weight: f64,
}

/// The views of TTA `level` (0, 1 or 2; higher levels are level 2).
///
/// A mirrored shift is the mirror of the shifted image, as airbench94 forms it:
/// mirroring turns a shift by `dx` into one by `−dx`.
pub fn tta_views(level: usize) -> Vec<TtaView> {
    let view = |flip, shift, weight| TtaView {
        flip,
        shift,
        weight,
    };
    match level {
        0 => vec![view(false, (0, 0), 1.0)],
        1 => vec![view(false, (0, 0), 0.5), view(true, (0, 0), 0.5)],
        _ => vec![
            view(false, (0, 0), 0.25),
            view(true, (0, 0), 0.25),
            view(false, (-1, -1), 0.125),
            view(true, (-1, 1), 0.125),
            view(false, (1, 1), 0.125),
            view(true, (1, -1), 0.125),
        ],
    }
}

/// Test-mode scores (N, classes) of `x` (N, C, H, W) averaged over the views of
/// TTA `level`, in batches of `batch_size` images so memory stays bounded.
///
/// ```
/// use nn::{Model, SequentialNet, SequentialNetConfig};
/// let mut net = SequentialNet::<f64>::new(SequentialNetConfig::new("conv2x3-relu,fc3", &[1, 4, 4]))?;
/// let x: ndarray::Array4<f64> = numeric::randn((5, 1, 4, 4), &mut numeric::rng(0));
/// // Level 0 is the plain scores.
/// let plain = net.scores(&x.view().into_dyn());
/// assert!((nn::tta_scores(&mut net, &x.view(), 0, 2) - plain).iter().all(|d| d.abs() < 1e-12));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn tta_scores<T: Float, M: Model<T> + ?Sized>(
    model: &mut M,
    x: &ArrayView4<'_, T>,
    level: usize,
    batch_size: usize,
) -> Array2<T> {
    let n = x.dim().0;
    let mut scores = Array2::<T>::zeros((n, model.num_classes()));
    let batch_size = batch_size.max(1);
    for start in (0..n).step_by(batch_size) {
        let end = (start + batch_size).min(n);
        let batch = x.slice_axis(Axis(0), (start..end).into());
        let mut out = scores.slice_axis_mut(Axis(0), (start..end).into());
        for view in tta_views(level) {
            let images = shift_reflect(
                &batch,
                &vec![view.shift; end - start],
                &vec![view.flip; end - start],
            );
            let s = model.scores(&images.view().into_dyn());
            out.scaled_add(T::cast(view.weight), &s);
        }
    }
    scores
}

#[cfg(test)]
mod tests {
    use ndarray::{Array4, s};

    use super::*;
    use crate::{SequentialNet, SequentialNetConfig};

    #[test]
    fn level_one_averages_the_image_and_its_mirror() {
        let mut net =
            SequentialNet::<f64>::new(SequentialNetConfig::new("conv3x3-relu,fc4", &[2, 5, 5]))
                .unwrap();
        let x: Array4<f64> = numeric::randn((3, 2, 5, 5), &mut numeric::rng(1));
        let mirrored = x.slice(s![.., .., .., ..;-1]).to_owned();
        let expected =
            (net.scores(&x.view().into_dyn()) + net.scores(&mirrored.view().into_dyn())) * 0.5;
        let got = tta_scores(&mut net, &x.view(), 1, 2);
        assert!((got - expected).iter().all(|d| d.abs() < 1e-12));
    }

    #[test]
    fn mirrored_shifts_are_mirrors_of_shifted_images() {
        let x: Array4<f64> = numeric::randn((1, 1, 6, 6), &mut numeric::rng(2));
        for v in tta_views(2)
            .into_iter()
            .filter(|v| v.flip && v.shift != (0, 0))
        {
            let unflipped = shift_reflect(&x.view(), &[(v.shift.0, -v.shift.1)], &[false]);
            let mirror_of_shifted = unflipped.slice(s![.., .., .., ..;-1]).to_owned();
            assert_eq!(
                shift_reflect(&x.view(), &[v.shift], &[true]),
                mirror_of_shifted
            );
        }
    }
}
