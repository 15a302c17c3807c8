//! Max pooling, as lecture 5 draws it: each channel of each image is cut into
//! windows (usually 2×2 with stride 2) and only the largest activation of each window
//! goes on, halving the spatial size with no parameters.
//!
//! The gradient flows to the window's maximum only (the *first* maximum on ties, as
//! numpy's `argmax`): the other inputs did not influence the output.
//!
//! - [`max_pool_forward_naive`] / [`max_pool_backward_naive`]: the course's loops.
//! - [`max_pool_forward_fast`] / [`max_pool_backward_fast`]: parallel over the
//!   (image, channel) planes; remembers where each maximum was, so that the backward
//!   pass is a scatter. For non-overlapping 2×2 windows with stride 2 (the course's
//!   "reshape trick") it compares two rows at once without any window bookkeeping.
//!
//! ```
//! use ndarray::Array4;
//! use nn::{PoolParam, max_pool_forward_fast, max_pool_backward_fast};
//! let x = Array4::from_shape_vec((1, 1, 2, 2), vec![1.0_f32, 4.0, 3.0, 2.0]).unwrap();
//! let (out, cache) = max_pool_forward_fast(&x.view(), PoolParam::square(2, 2))?;
//! assert_eq!(out[[0, 0, 0, 0]], 4.0);
//! let dx = max_pool_backward_fast(&Array4::<f32>::ones((1, 1, 1, 1)).view(), &cache);
//! assert_eq!(dx.into_raw_vec_and_offset().0, vec![0.0, 1.0, 0.0, 0.0]);
//! # Ok::<(), nn::Error>(())
//! ```

use std::mem::MaybeUninit;

use ndarray::{Array4, ArrayView4};
use numeric::Float;
use rayon::prelude::*;

use ndarray::{ArrayD, Ix4};

use crate::Params;
use crate::conv::window_count;
use crate::error::{Error, Result};
use crate::layer::{Cache, Layer, Mode, batch, cache_of};

/// Pooling window and stride, as the course's `pool_param`.
///
/// ```
/// let p = nn::PoolParam::square(2, 2);
/// assert_eq!((p.pool_height, p.pool_width, p.stride), (2, 2, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolParam {
    /// Window height.
    pub pool_height: usize,
    /// Window width.
    pub pool_width: usize,
    /// Pixels between neighbouring windows, both directions.
    pub stride: usize,
}

impl PoolParam {
    /// A `size`×`size` window moved by `stride`.
    ///
    /// ```
    /// assert_eq!(nn::PoolParam::square(3, 2).pool_width, 3);
    /// ```
    pub fn square(size: usize, stride: usize) -> Self {
        Self {
            pool_height: size,
            pool_width: size,
            stride,
        }
    }

    /// Output size `(H', W')`, `H' = (H − pool_height) / stride + 1`, or an error when
    /// the windows do not tile the input exactly.
    ///
    /// ```
    /// let p = nn::PoolParam::square(2, 2);
    /// assert_eq!(p.output_size(32, 32).unwrap(), (16, 16));
    /// assert!(p.output_size(7, 8).is_err());
    /// ```
    pub fn output_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        Ok((
            window_count("max pool", "height", h, 0, self.pool_height, self.stride)?,
            window_count("max pool", "width", w, 0, self.pool_width, self.stride)?,
        ))
    }

    pub(crate) fn is_2x2_stride_2(&self) -> bool {
        self.pool_height == 2 && self.pool_width == 2 && self.stride == 2
    }
}

/// What [`max_pool_backward_naive`] needs: the input and the window parameters.
///
/// ```
/// let x = ndarray::Array4::<f64>::zeros((1, 1, 2, 2));
/// let (_, cache) = nn::max_pool_forward_naive(&x.view(), nn::PoolParam::square(2, 2))?;
/// let dx = nn::max_pool_backward_naive(&ndarray::Array4::ones((1, 1, 1, 1)).view(), &cache);
/// assert_eq!(dx.sum(), 1.0);
/// # Ok::<(), nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PoolCache<T> {
    x: Array4<T>,
    param: PoolParam,
}

/// What [`max_pool_backward_fast`] needs: where each output's maximum came from
/// (one index per output, so the input itself is not kept).
///
/// ```
/// let x = ndarray::Array4::<f32>::zeros((2, 3, 4, 4));
/// let (out, cache) = nn::max_pool_forward_fast(&x.view(), nn::PoolParam::square(2, 2))?;
/// assert_eq!(nn::max_pool_backward_fast(&out.view(), &cache).dim(), x.dim());
/// # Ok::<(), nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct FastPoolCache {
    /// For every output, the flat index of its maximum inside its (H, W) input plane.
    argmax: Vec<u32>,
    input_dim: (usize, usize, usize, usize),
    output_dim: (usize, usize, usize, usize),
}

impl FastPoolCache {
    /// A cache from the positions of the maxima, each a flat index inside its input
    /// plane, for a pass computed elsewhere (`conv_relu_pool.rs`).
    pub(crate) fn new(
        argmax: Vec<u32>,
        input_dim: (usize, usize, usize, usize),
        output_dim: (usize, usize, usize, usize),
    ) -> Self {
        Self {
            argmax,
            input_dim,
            output_dim,
        }
    }

    /// For every output, the flat index of its maximum inside its input plane.
    pub(crate) fn argmax(&self) -> &[u32] {
        &self.argmax
    }

    /// The pooled input's shape (N, C, H, W).
    pub(crate) fn input_dim(&self) -> (usize, usize, usize, usize) {
        self.input_dim
    }

    /// The output's shape (N, C, H', W').
    pub(crate) fn output_dim(&self) -> (usize, usize, usize, usize) {
        self.output_dim
    }
}

/// The course's naive max-pool forward pass: a loop over every window.
///
/// Returns `out` (N, C, H', W') and the cache.
///
/// # Errors
/// [`Error`](crate::Error) when the windows do not tile the input.
///
/// ```
/// use ndarray::Array4;
/// use nn::{PoolParam, max_pool_forward_naive};
/// let x = Array4::from_shape_fn((1, 1, 4, 4), |(_, _, i, j)| (i * 4 + j) as f64);
/// let (out, _) = max_pool_forward_naive(&x.view(), PoolParam::square(2, 2))?;
/// assert_eq!(out.into_raw_vec_and_offset().0, vec![5.0, 7.0, 13.0, 15.0]);
/// # Ok::<(), nn::Error>(())
/// ```
pub fn max_pool_forward_naive<T: Float>(
    x: &ArrayView4<'_, T>,
    param: PoolParam,
) -> Result<(Array4<T>, PoolCache<T>)> {
    let (n, c, h, w) = x.dim();
    let (h_out, w_out) = param.output_size(h, w)?;
    let s = param.stride;
    let mut out = Array4::zeros((n, c, h_out, w_out));
    for i in 0..n {
        for ch in 0..c {
            for oh in 0..h_out {
                for ow in 0..w_out {
                    let window = x.slice(ndarray::s![
                        i,
                        ch,
                        oh * s..oh * s + param.pool_height,
                        ow * s..ow * s + param.pool_width
                    ]);
                    out[[i, ch, oh, ow]] = window.iter().copied().fold(T::neg_infinity(), T::max);
                }
            }
        }
    }
    Ok((
        out,
        PoolCache {
            x: x.to_owned(),
            param,
        },
    ))
}

/// The course's naive max-pool backward pass: each output's gradient goes to the
/// (first) position of its window's maximum; overlapping windows add up.
///
/// # Panics
/// If `dout` is not shaped like the forward pass's output.
///
/// ```
/// use ndarray::Array4;
/// use nn::{PoolParam, max_pool_forward_naive, max_pool_backward_naive};
/// let x = Array4::from_shape_vec((1, 1, 2, 2), vec![1.0_f64, 4.0, 3.0, 2.0]).unwrap();
/// let (out, cache) = max_pool_forward_naive(&x.view(), PoolParam::square(2, 2))?;
/// let dx = max_pool_backward_naive(&Array4::from_elem(out.dim(), 5.0).view(), &cache);
/// assert_eq!(dx.into_raw_vec_and_offset().0, vec![0.0, 5.0, 0.0, 0.0]);
/// # Ok::<(), nn::Error>(())
/// ```
pub fn max_pool_backward_naive<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &PoolCache<T>,
) -> Array4<T> {
    let (n, c, h, w) = cache.x.dim();
    let p = cache.param;
    let (h_out, w_out) = p.output_size(h, w).expect("checked by the forward pass");
    check_dout(dout, (n, c, h_out, w_out));
    let s = p.stride;
    let mut dx = Array4::zeros(cache.x.dim());
    for i in 0..n {
        for ch in 0..c {
            for oh in 0..h_out {
                for ow in 0..w_out {
                    let (mut best, mut at) = (T::neg_infinity(), (oh * s, ow * s));
                    for y in oh * s..oh * s + p.pool_height {
                        for xx in ow * s..ow * s + p.pool_width {
                            if cache.x[[i, ch, y, xx]] > best {
                                best = cache.x[[i, ch, y, xx]];
                                at = (y, xx);
                            }
                        }
                    }
                    dx[[i, ch, at.0, at.1]] += dout[[i, ch, oh, ow]];
                }
            }
        }
    }
    dx
}

fn check_dout<T>(dout: &ArrayView4<'_, T>, expected: (usize, usize, usize, usize)) {
    assert_eq!(
        dout.dim(),
        expected,
        "max pool backward: dout is {:?} but the layer's output is {expected:?}",
        dout.dim()
    );
}

/// Fast max-pool forward pass: same output as [`max_pool_forward_naive`], computed
/// plane by plane in parallel, remembering each maximum's position for the backward
/// pass. 2×2 windows with stride 2 take a branch-light path over pairs of rows.
///
/// # Errors
/// [`Error`](crate::Error) when the windows do not tile the input.
///
/// ```
/// use ndarray::Array4;
/// use nn::{PoolParam, max_pool_forward_fast, max_pool_forward_naive};
/// let x: Array4<f64> = numeric::randn((2, 3, 6, 6), &mut numeric::rng(0));
/// for p in [PoolParam::square(2, 2), PoolParam::square(3, 1)] {
///     let (fast, _) = max_pool_forward_fast(&x.view(), p)?;
///     let (naive, _) = max_pool_forward_naive(&x.view(), p)?;
///     assert_eq!(fast, naive);
/// }
/// # Ok::<(), nn::Error>(())
/// ```
pub fn max_pool_forward_fast<T: Float>(
    x: &ArrayView4<'_, T>,
    param: PoolParam,
) -> Result<(Array4<T>, FastPoolCache)> {
    let (h_out, w_out) = param.output_size(x.dim().2, x.dim().3)?;
    Ok(pool_planes(x, param, (h_out, w_out)))
}

/// Max pooling of `x` into `h_out`×`w_out` windows from the top left, whatever lies
/// beyond them (the floor mode's dropped last rows and columns): the planes in
/// parallel, each maximum's position kept relative to the whole input plane.
pub(crate) fn pool_planes<T: Float>(
    x: &ArrayView4<'_, T>,
    param: PoolParam,
    (h_out, w_out): (usize, usize),
) -> (Array4<T>, FastPoolCache) {
    let (n, c, h, w) = x.dim();
    let x = x.as_standard_layout();
    let x_flat = x.as_slice().expect("standard layout");
    let (plane_in, plane_out) = (h * w, h_out * w_out);
    // Both outputs start uninitialised: every element is written once below, so a
    // zeroing pass over them first would only add memory traffic.
    let mut out = Array4::<T>::uninit((n, c, h_out, w_out));
    let mut argmax = Vec::with_capacity(n * c * plane_out);
    if plane_out > 0 {
        out.as_slice_mut()
            .expect("fresh array")
            .par_chunks_mut(plane_out)
            .zip(argmax.spare_capacity_mut().par_chunks_mut(plane_out))
            .enumerate()
            .for_each(|(plane, (out_p, arg_p))| {
                let x_p = &x_flat[plane * plane_in..(plane + 1) * plane_in];
                if param.is_2x2_stride_2() {
                    pool_plane_2x2(x_p, w, w_out, out_p, arg_p);
                } else {
                    pool_plane(x_p, w, param, w_out, out_p, arg_p);
                }
            });
    }
    // SAFETY: the planes cover both outputs (or they are empty, plane_out = 0), and
    // the pool_plane functions write every element of their plane's outputs.
    let (out, argmax) = unsafe {
        argmax.set_len(n * c * plane_out);
        (out.assume_init(), argmax)
    };
    (
        out,
        FastPoolCache {
            argmax,
            input_dim: (n, c, h, w),
            output_dim: (n, c, h_out, w_out),
        },
    )
}

/// 2×2 stride-2 pooling of one plane: each output row reads exactly two input rows.
/// Ties go to the first position in row-major order, as in the naive pass.
fn pool_plane_2x2<T: Float>(
    x: &[T],
    w: usize,
    w_out: usize,
    out: &mut [MaybeUninit<T>],
    arg: &mut [MaybeUninit<u32>],
) {
    for (oh, (out_row, arg_row)) in out.chunks_mut(w_out).zip(arg.chunks_mut(w_out)).enumerate() {
        let top = &x[2 * oh * w..2 * oh * w + w];
        let bottom = &x[(2 * oh + 1) * w..(2 * oh + 1) * w + w];
        let base = (2 * oh * w) as u32;
        for ow in 0..w_out {
            let (a, b, c, d) = (
                top[2 * ow],
                top[2 * ow + 1],
                bottom[2 * ow],
                bottom[2 * ow + 1],
            );
            // Strict comparisons keep the earlier position (row-major) on ties.
            let (m_top, i_top) = if b > a { (b, 1) } else { (a, 0) };
            let (m_bot, i_bot) = if d > c {
                (d, w as u32 + 1)
            } else {
                (c, w as u32)
            };
            let (m, at) = if m_bot > m_top {
                (m_bot, i_bot)
            } else {
                (m_top, i_top)
            };
            out_row[ow].write(m);
            arg_row[ow].write(base + 2 * ow as u32 + at);
        }
    }
}

/// Any window and stride, one plane.
fn pool_plane<T: Float>(
    x: &[T],
    w: usize,
    p: PoolParam,
    w_out: usize,
    out: &mut [MaybeUninit<T>],
    arg: &mut [MaybeUninit<u32>],
) {
    let s = p.stride;
    for (oh, (out_row, arg_row)) in out.chunks_mut(w_out).zip(arg.chunks_mut(w_out)).enumerate() {
        for ow in 0..w_out {
            let (mut m, mut at) = (T::neg_infinity(), oh * s * w + ow * s);
            for y in oh * s..oh * s + p.pool_height {
                for xx in ow * s..ow * s + p.pool_width {
                    if x[y * w + xx] > m {
                        m = x[y * w + xx];
                        at = y * w + xx;
                    }
                }
            }
            out_row[ow].write(m);
            arg_row[ow].write(at as u32);
        }
    }
}

/// Fast max-pool backward pass: scatters each output's gradient to the remembered
/// position of its maximum (adding where windows overlap), in parallel over blocks of
/// planes, each zeroed just before its scatter.
///
/// # Panics
/// If `dout` is not shaped like the forward pass's output.
///
/// ```
/// use ndarray::Array4;
/// use nn::{PoolParam, max_pool_forward_fast, max_pool_backward_fast, max_pool_forward_naive, max_pool_backward_naive};
/// let x: Array4<f64> = numeric::randn((2, 2, 4, 4), &mut numeric::rng(1));
/// let dout: Array4<f64> = numeric::randn((2, 2, 2, 2), &mut numeric::rng(2));
/// let (_, fast) = max_pool_forward_fast(&x.view(), PoolParam::square(2, 2))?;
/// let (_, naive) = max_pool_forward_naive(&x.view(), PoolParam::square(2, 2))?;
/// assert_eq!(max_pool_backward_fast(&dout.view(), &fast), max_pool_backward_naive(&dout.view(), &naive));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn max_pool_backward_fast<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &FastPoolCache,
) -> Array4<T> {
    check_dout(dout, cache.output_dim);
    let (_, _, h, w) = cache.input_dim;
    let (_, _, h_out, w_out) = cache.output_dim;
    let (plane_in, plane_out) = (h * w, h_out * w_out);
    let dout = dout.as_standard_layout();
    let dout_flat = dout.as_slice().expect("standard layout");
    if plane_out == 0 || plane_in == 0 {
        return Array4::zeros(cache.input_dim);
    }
    // Each block of planes is zeroed just before its scatter, while it sits in L1:
    // one pass over dx in memory, where zeroing all of it first would make two. A
    // block is one plane, or enough small ones (the last pool's hold 9 values) to
    // make a task worth scheduling.
    let group = (SCATTER_BLOCK / plane_in).max(1);
    let mut dx = Array4::<T>::uninit(cache.input_dim);
    dx.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(group * plane_in)
        .zip(dout_flat.par_chunks(group * plane_out))
        .zip(cache.argmax.par_chunks(group * plane_out))
        .for_each(|((dx_b, dout_b), arg_b)| {
            let planes = zeroed(dx_b).chunks_mut(plane_in);
            for ((dx_p, d), a) in planes
                .zip(dout_b.chunks(plane_out))
                .zip(arg_b.chunks(plane_out))
            {
                for (&at, &g) in a.iter().zip(d) {
                    dx_p[at as usize] += g;
                }
            }
        });
    // SAFETY: the blocks cover dx, and each was zeroed before its scatter.
    unsafe { dx.assume_init() }
}

/// Values of dx per task of [`max_pool_backward_fast`] at least (4 KiB in f32).
const SCATTER_BLOCK: usize = 1024;

/// Zeros every element of `p` and gives it back initialised.
fn zeroed<T: Float>(p: &mut [MaybeUninit<T>]) -> &mut [T] {
    p.fill(MaybeUninit::new(T::zero()));
    // SAFETY: every element was just written, and MaybeUninit<T> has T's layout.
    unsafe { &mut *(std::ptr::from_mut(p) as *mut [T]) }
}

/// Max pooling as a [`Layer`] (`pool` or `pool{K}`): the fast path.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool {
    /// Window and stride.
    pub param: PoolParam,
}

impl<T: Float> Layer<T> for MaxPool {
    fn name(&self) -> String {
        match self.param.pool_height {
            2 => "pool".into(),
            k => format!("pool{k}"),
        }
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let &[c, h, w] = input else {
            return Err(Error::Input {
                layer: Layer::<T>::name(self),
                expected: "images (C, H, W)".into(),
                found: input.to_vec(),
            });
        };
        let (ho, wo) = self.param.output_size(h, w)?;
        Ok(vec![c, ho, wo])
    }
    fn forward(
        &mut self,
        x: ArrayD<T>,
        _: &Params<T>,
        _: &mut Params<T>,
        _: Mode,
    ) -> (ArrayD<T>, Cache) {
        let x = batch::<T, Ix4>(x, "pool");
        let (out, cache) =
            max_pool_forward_fast(&x.view(), self.param).expect("checked by output_shape");
        (out.into_dyn(), Box::new(cache))
    }
    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        _: bool,
    ) -> (ArrayD<T>, Params<T>) {
        let cache: &FastPoolCache = cache_of(cache, "pool");
        let dx = max_pool_backward_fast(&batch::<T, Ix4>(dout, "pool").view(), cache);
        (dx.into_dyn(), Params::new())
    }
}

#[cfg(test)]
mod tests;
