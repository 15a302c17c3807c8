//! Data augmentation ([`Augment`], [`random_crop`], [`random_flip`]): random crops
//! of a zero-padded image and horizontal flips, drawn afresh for every training batch;
//! and the fast-training recipe's variants: translations with reflect padding
//! ([`random_translate`], [`shift_reflect`]) and flips that alternate by epoch
//! ([`alternating_flip`]).

use ndarray::{Array4, ArrayD, ArrayView4, Axis, Ix4};
use numeric::{Float, Rng};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::BatchTransform;

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
    /// ([`Solver::set_batch_transform`](crate::Solver::set_batch_transform)):
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

/// Where reading `i + shift` lands in `0..len` under reflect padding (the edge pixel
/// is not repeated: −1 reads 1, `len` reads `len − 2`), as numpy's and PyTorch's
/// `reflect`. `|shift| < len` keeps it one reflection deep.
fn reflect(i: usize, shift: isize, len: usize) -> usize {
    let j = i as isize + shift;
    let last = len as isize - 1;
    let j = if j < 0 {
        -j
    } else if j > last {
        2 * last - j
    } else {
        j
    };
    j.clamp(0, last) as usize
}

/// Each image of `x` mirrored left–right where `flip[i]`, then shifted by `(dy, dx)`
/// pixels with reflect padding: output pixel `(r, c)` reads the (mirrored) image at
/// `(r + dy, c + dx)`, reflected back into the image.
///
/// ```
/// use ndarray::Array4;
/// let x = Array4::from_shape_vec((1, 1, 1, 4), vec![1.0_f32, 2.0, 3.0, 4.0]).unwrap();
/// let out = nn::shift_reflect(&x.view(), &[(0, 1)], &[false]);
/// assert_eq!(out.as_slice().unwrap(), &[2.0, 3.0, 4.0, 3.0]); // 4 reflects to 3
/// let out = nn::shift_reflect(&x.view(), &[(0, -1)], &[true]);
/// assert_eq!(out.as_slice().unwrap(), &[3.0, 4.0, 3.0, 2.0]);
/// ```
///
/// # Panics
/// If `shifts` or `flip` do not have one entry per image.
pub fn shift_reflect<T: Float>(
    x: &ArrayView4<'_, T>,
    shifts: &[(isize, isize)],
    flip: &[bool],
) -> Array4<T> {
    let (n, _, h, w) = x.dim();
    assert!(
        shifts.len() == n && flip.len() == n,
        "one shift and flip per image"
    );
    let mut out = Array4::zeros(x.dim());
    ndarray::Zip::from(out.outer_iter_mut())
        .and(x.outer_iter())
        .and(shifts)
        .and(flip)
        .par_for_each(|mut dst, src, &(dy, dx), &flip| {
            for (src, mut dst) in src.outer_iter().zip(dst.outer_iter_mut()) {
                for r in 0..h {
                    let sr = reflect(r, dy, h);
                    for c in 0..w {
                        let sc = reflect(c, dx, w);
                        let sc = if flip { w - 1 - sc } else { sc };
                        dst[[r, c]] = src[[sr, sc]];
                    }
                }
            }
        });
    out
}

/// The recipe's augmentation of one training batch: every image translated by a
/// random `(dy, dx) ∈ [−pad, pad]²` with reflect padding (airbench94's ±2 px), and
/// mirrored where `flip` says. Drawing the shifts from `rng` per image.
///
/// ```
/// let x = ndarray::Array4::<f32>::ones((4, 3, 8, 8));
/// let out = nn::random_translate(&x.view(), 2, &[false; 4], &mut numeric::rng(0));
/// assert_eq!(out, x); // reflect padding invents no zeros
/// ```
pub fn random_translate<T: Float>(
    x: &ArrayView4<'_, T>,
    pad: usize,
    flip: &[bool],
    rng: &mut Rng,
) -> Array4<T> {
    let p = pad as i64;
    let mut draw = || rng.random_range(-p..=p) as isize;
    let shifts: Vec<(isize, isize)> = (0..x.dim().0).map(|_| (draw(), draw())).collect();
    shift_reflect(x, &shifts, flip)
}

/// Alternating flips (airbench94): whether image `i` is mirrored in `epoch`. Epoch 0
/// flips a random half (`start[i]`), and every later epoch flips exactly the images
/// the previous one did not, so over any two epochs each image is seen both ways,
/// where independent coin flips would show some images the same way twice.
///
/// ```
/// let start = [true, false];
/// assert_eq!(nn::alternating_flip(&start, 0), vec![true, false]);
/// assert_eq!(nn::alternating_flip(&start, 1), vec![false, true]);
/// assert_eq!(nn::alternating_flip(&start, 2), vec![true, false]);
/// ```
pub fn alternating_flip(start: &[bool], epoch: usize) -> Vec<bool> {
    start.iter().map(|&s| s ^ (epoch % 2 == 1)).collect()
}

#[cfg(test)]
mod recipe_tests {
    use ndarray::Array4;

    use super::*;

    #[test]
    fn shifts_read_reflected_pixels_in_both_axes() {
        let x = Array4::from_shape_fn((1, 1, 4, 4), |(_, _, i, j)| (10 * i + j) as f64);
        let out = shift_reflect(&x.view(), &[(-2, 2)], &[false]);
        // Row r reads row reflect(r − 2): 2, 1, 0, 1; column c reads reflect(c + 2): 2, 3, 2, 1.
        let rows = [2, 1, 0, 1];
        let cols = [2, 3, 2, 1];
        for r in 0..4 {
            for c in 0..4 {
                assert_eq!(out[[0, 0, r, c]], (10 * rows[r] + cols[c]) as f64);
            }
        }
    }

    #[test]
    fn a_flip_without_shift_mirrors_and_shifts_stay_in_range() {
        let x: Array4<f64> = numeric::randn((3, 2, 5, 5), &mut numeric::rng(1));
        let out = shift_reflect(&x.view(), &[(0, 0); 3], &[true; 3]);
        assert_eq!(out.slice(ndarray::s![.., .., .., ..;-1]), x);
        let translated = random_translate(&x.view(), 2, &[false; 3], &mut numeric::rng(2));
        // Every output pixel is some pixel of its own image and channel.
        for (t, im) in translated.outer_iter().zip(x.outer_iter()) {
            for (tc, ic) in t.outer_iter().zip(im.outer_iter()) {
                assert!(tc.iter().all(|v| ic.iter().any(|u| u == v)));
            }
        }
    }
}
