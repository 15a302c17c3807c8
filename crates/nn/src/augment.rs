//! Data augmentation ([`Augment`], [`random_crop`], [`random_flip`]): random crops
//! of a zero-padded image and horizontal flips, drawn afresh for every training batch.

use ndarray::{Array4, ArrayD, ArrayView4, Axis, Ix4};
use numeric::{Float, Rng};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::solver::BatchTransform;

/// Training-time data augmentation: random crops of the zero-padded image and random
/// horizontal flips, drawn independently for every image of every training batch.
/// A flipped or slightly shifted cat is still a cat, so the network sees many more
/// distinct training images than there are.
///
/// ```
/// let a = nn::Augment { crop_pad: 4, flip: true };
/// let x = ndarray::Array4::<f32>::ones((2, 3, 8, 8));
/// let out = a.apply(&x.view(), &mut numeric::rng(0));
/// assert_eq!(out.dim(), x.dim());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Augment {
    /// Pad each side with this many zeros and crop back to the original size at a
    /// random offset (0 = no crops). 4 is the usual choice on CIFAR-10.
    pub crop_pad: usize,
    /// Flip each image left–right with probability ½.
    pub flip: bool,
}

impl Augment {
    /// Whether this augments anything at all.
    ///
    /// ```
    /// assert!(!nn::Augment::default().is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        self.crop_pad > 0 || self.flip
    }

    /// This augmentation as the Solver's minibatch transform
    /// ([`Solver::set_batch_transform`](crate::solver::Solver::set_batch_transform)):
    /// image batches (N, C, H, W) are augmented, anything else passes through.
    ///
    /// ```
    /// let mut t = nn::Augment { crop_pad: 2, flip: true }.into_transform::<f32>();
    /// let x = ndarray::Array4::<f32>::ones((3, 1, 5, 5)).into_dyn();
    /// assert_eq!(t(x, &mut numeric::rng(0)).shape(), &[3, 1, 5, 5]);
    /// ```
    pub fn into_transform<T: Float>(self) -> BatchTransform<T> {
        Box::new(
            move |x: ArrayD<T>, rng: &mut Rng| match x.view().into_dimensionality::<Ix4>() {
                Ok(images) if self.is_active() => self.apply(&images, rng).into_dyn(),
                _ => x,
            },
        )
    }

    /// A new batch with each image cropped and/or flipped at random (one pass, no
    /// padded copy).
    ///
    /// ```
    /// use ndarray::Array4;
    /// let x = Array4::from_shape_fn((1, 1, 1, 3), |(_, _, _, j)| j as f64 + 1.0);
    /// let flips = nn::Augment { crop_pad: 0, flip: true };
    /// let mut rng = numeric::rng(3);
    /// let seen: Vec<f64> = (0..20).map(|_| flips.apply(&x.view(), &mut rng)[[0, 0, 0, 0]]).collect();
    /// assert!(seen.contains(&1.0) && seen.contains(&3.0));
    /// ```
    pub fn apply<T: Float>(&self, x: &ArrayView4<'_, T>, rng: &mut Rng) -> Array4<T> {
        let (n, _, h, w) = x.dim();
        let p = self.crop_pad;
        let mut out = Array4::zeros(x.dim());
        for i in 0..n {
            let (dy, dx) = if p > 0 {
                (rng.random_range(0..=2 * p), rng.random_range(0..=2 * p))
            } else {
                (p, p)
            };
            let flip = self.flip && rng.random::<bool>();
            for (src, mut dst) in x
                .index_axis(Axis(0), i)
                .outer_iter()
                .zip(out.index_axis_mut(Axis(0), i).outer_iter_mut())
            {
                for r in 0..h {
                    // Output row r reads padded row r + dy, i.e. input row r + dy − p.
                    let Some(sr) = (r + dy).checked_sub(p).filter(|&v| v < h) else {
                        continue;
                    };
                    for c in 0..w {
                        let c_src = if flip { w - 1 - c } else { c };
                        if let Some(sc) = (c_src + dx).checked_sub(p).filter(|&v| v < w) {
                            dst[[r, c]] = src[[sr, sc]];
                        }
                    }
                }
            }
        }
        out
    }
}

/// Random crops: pads each image with `pad` zeros per side and takes a crop of the
/// original size at a random offset (per image).
///
/// ```
/// use ndarray::Array4;
/// let x = Array4::<f32>::ones((8, 3, 6, 6));
/// let out = nn::random_crop(&x.view(), 2, &mut numeric::rng(0));
/// assert_eq!(out.dim(), x.dim());
/// assert!(out.iter().any(|&v| v == 0.0)); // some crops reach into the padding
/// ```
pub fn random_crop<T: Float>(x: &ArrayView4<'_, T>, pad: usize, rng: &mut Rng) -> Array4<T> {
    Augment {
        crop_pad: pad,
        flip: false,
    }
    .apply(x, rng)
}

/// Random horizontal flips: each image is mirrored left–right with probability ½.
///
/// ```
/// use ndarray::Array4;
/// let x = Array4::from_shape_fn((50, 1, 1, 2), |(_, _, _, j)| j as f32);
/// let out = nn::random_flip(&x.view(), &mut numeric::rng(0));
/// let flipped = out.outer_iter().filter(|im| im[[0, 0, 0]] == 1.0).count();
/// assert!(flipped > 10 && flipped < 40);
/// ```
pub fn random_flip<T: Float>(x: &ArrayView4<'_, T>, rng: &mut Rng) -> Array4<T> {
    Augment {
        crop_pad: 0,
        flip: true,
    }
    .apply(x, rng)
}
