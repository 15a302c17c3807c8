//! Convolutional layers, as lecture 5 draws them: each of `F` filters of shape
//! `(C, HH, WW)` slides over the zero-padded input with a stride, and every
//! position's dot product (plus the filter's bias) is one output activation.
//!
//! Two implementations of the same function:
//!
//! - [`conv_forward_naive`] / [`conv_backward_naive`]: the loops of the course's
//!   assignment, for teaching and as the reference the fast path is tested against.
//! - [`conv_forward_fast`] / [`conv_backward_fast`]: im2col + GEMM, one image per
//!   rayon task (the GEMM inside then runs on that task's thread only, so the cores
//!   are never oversubscribed). [`conv_backward_fast_no_dx`] skips the input
//!   gradient, which the first layer of a network never needs.
//!
//! Both forward passes return the same [`ConvCache`], so either backward pass can
//! follow either forward pass.
//!
//! ```
//! use ndarray::{Array1, Array4};
//! use nn::conv::{ConvParam, conv_forward_fast, conv_backward_fast};
//! let x = Array4::<f32>::ones((2, 3, 8, 8));
//! let w = Array4::<f32>::ones((4, 3, 3, 3));
//! let b = Array1::<f32>::zeros(4);
//! let (out, cache) = conv_forward_fast(&x.view(), &w.view(), &b.view(), ConvParam::new(1, 1))?;
//! assert_eq!(out.shape(), &[2, 4, 8, 8]);
//! assert_eq!(out[[0, 0, 4, 4]], 27.0); // a 3×3×3 window of ones
//! let (dx, dw, db) = conv_backward_fast(&out.view(), &cache);
//! assert_eq!((dx.dim(), dw.dim(), db.len()), (x.dim(), w.dim(), 4));
//! # Ok::<(), nn::conv::ShapeError>(())
//! ```

use ndarray::{Array1, Array2, Array4, ArrayView1, ArrayView2, ArrayView4, ArrayViewMut2};
use numeric::Float;
use rayon::prelude::*;
use thiserror::Error;

/// Shapes that do not fit together in a convolution or pooling layer.
///
/// Every variant names the layer and the sizes at fault, so the message can be shown
/// to a user as is.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::conv::{ConvParam, ShapeError, conv_forward_naive};
/// let x = Array4::<f64>::zeros((1, 1, 5, 5));
/// let w = Array4::<f64>::zeros((1, 1, 2, 2));
/// let err = conv_forward_naive(&x.view(), &w.view(), &Array1::zeros(1).view(), ConvParam::new(2, 0)).unwrap_err();
/// assert!(matches!(err, ShapeError::NotWhole { .. }));
/// assert!(err.to_string().contains("(5 + 2·0 − 2) / 2"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShapeError {
    /// `(size + 2·pad − window)` is not a multiple of the stride, so the windows do
    /// not tile the padded input.
    #[error(
        "{layer}: {axis} output size (size + 2·pad − window) / stride + 1 = ({size} + 2·{pad} − {window}) / {stride} + 1 is not whole"
    )]
    NotWhole {
        /// `"conv"` or `"max pool"`.
        layer: &'static str,
        /// `"height"` or `"width"`.
        axis: &'static str,
        /// Input height or width.
        size: usize,
        /// Zero padding on each side.
        pad: usize,
        /// Filter or pooling window height or width.
        window: usize,
        /// Stride.
        stride: usize,
    },
    /// The window is larger than the padded input.
    #[error("{layer}: {axis} window {window} is larger than the padded input {size} + 2·{pad}")]
    WindowTooLarge {
        /// `"conv"` or `"max pool"`.
        layer: &'static str,
        /// `"height"` or `"width"`.
        axis: &'static str,
        /// Input height or width.
        size: usize,
        /// Zero padding on each side.
        pad: usize,
        /// Window height or width.
        window: usize,
    },
    /// A stride or window of zero.
    #[error("{layer}: {what} must be at least 1")]
    Zero {
        /// `"conv"` or `"max pool"`.
        layer: &'static str,
        /// `"stride"`, `"window height"`, ...
        what: &'static str,
    },
    /// The input's channels differ from the filters' depth.
    #[error(
        "conv: input x has {x_channels} channels but filters w (F, C, HH, WW) have C = {w_channels}"
    )]
    Channels {
        /// `C` of `x`.
        x_channels: usize,
        /// `C` of `w`.
        w_channels: usize,
    },
    /// Group normalisation needs the groups to split the channels evenly.
    #[error("group norm: {groups} groups do not divide {channels} channels evenly")]
    Groups {
        /// `C` of `x`.
        channels: usize,
        /// Requested number of groups.
        groups: usize,
    },
    /// One bias per filter is needed.
    #[error("conv: {biases} biases for {filters} filters")]
    Biases {
        /// Length of `b`.
        biases: usize,
        /// `F` of `w`.
        filters: usize,
    },
}

/// How the filters slide: `stride` pixels between neighbouring receptive fields,
/// `pad` zeros around each side of the input.
///
/// ```
/// let p = nn::conv::ConvParam::new(1, 3); // the "same" padding of a 7×7 filter
/// assert_eq!(p.output_size(32, 32, 7, 7).unwrap(), (32, 32));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvParam {
    /// Pixels between adjacent receptive fields, vertically and horizontally.
    pub stride: usize,
    /// Zeros added on every side of the input.
    pub pad: usize,
}

impl ConvParam {
    /// A convolution with this stride and zero padding.
    ///
    /// ```
    /// let p = nn::conv::ConvParam::new(2, 1);
    /// assert_eq!((p.stride, p.pad), (2, 1));
    /// ```
    pub fn new(stride: usize, pad: usize) -> Self {
        Self { stride, pad }
    }

    /// The output size `(H', W')` with `H' = (H + 2P − HH) / S + 1`, or an error when
    /// the windows do not tile the padded input exactly.
    ///
    /// ```
    /// let p = nn::conv::ConvParam::new(2, 1);
    /// assert_eq!(p.output_size(4, 4, 4, 4).unwrap(), (2, 2));
    /// assert!(p.output_size(5, 4, 4, 4).is_err());
    /// ```
    pub fn output_size(
        &self,
        h: usize,
        w: usize,
        hh: usize,
        ww: usize,
    ) -> Result<(usize, usize), ShapeError> {
        Ok((
            window_count("conv", "height", h, self.pad, hh, self.stride)?,
            window_count("conv", "width", w, self.pad, ww, self.stride)?,
        ))
    }
}

/// How many windows of size `window` fit along an axis of `size` padded by `pad`
/// with `stride`: `(size + 2·pad − window) / stride + 1`, which must be whole.
pub(crate) fn window_count(
    layer: &'static str,
    axis: &'static str,
    size: usize,
    pad: usize,
    window: usize,
    stride: usize,
) -> Result<usize, ShapeError> {
    if stride == 0 {
        return Err(ShapeError::Zero {
            layer,
            what: "stride",
        });
    }
    if window == 0 {
        return Err(ShapeError::Zero {
            layer,
            what: "window",
        });
    }
    let padded = size + 2 * pad;
    if window > padded {
        return Err(ShapeError::WindowTooLarge {
            layer,
            axis,
            size,
            pad,
            window,
        });
    }
    if (padded - window) % stride != 0 {
        return Err(ShapeError::NotWhole {
            layer,
            axis,
            size,
            pad,
            window,
            stride,
        });
    }
    Ok((padded - window) / stride + 1)
}

/// What a convolution's backward pass needs: the input, the filters and biases, and
/// the parameters (owned copies, so the caller may reuse its buffers).
///
/// ```
/// use ndarray::{Array1, Array4};
/// let x = Array4::<f32>::ones((1, 1, 3, 3));
/// let (out, cache) = nn::conv::conv_forward_fast(&x.view(), &Array4::ones((1, 1, 3, 3)).view(), &Array1::zeros(1).view(), nn::conv::ConvParam::new(1, 1))?;
/// let (dw, _) = nn::conv::conv_backward_fast_no_dx(&Array4::ones(out.dim()).view(), &cache);
/// assert_eq!(dw[[0, 0, 1, 1]], 9.0); // the centre tap sees every pixel once
/// # Ok::<(), nn::conv::ShapeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConvCache<T> {
    x: Array4<T>,
    w: Array4<T>,
    param: ConvParam,
}

impl<T: Float> ConvCache<T> {
    /// The layer's input `x` (N, C, H, W).
    ///
    /// ```
    /// use ndarray::{Array1, Array4};
    /// let x = Array4::<f64>::zeros((1, 2, 3, 3));
    /// let (_, cache) = nn::conv::conv_forward_naive(&x.view(), &Array4::zeros((1, 2, 3, 3)).view(), &Array1::zeros(1).view(), nn::conv::ConvParam::new(1, 0))?;
    /// assert_eq!(cache.x().dim(), (1, 2, 3, 3));
    /// # Ok::<(), nn::conv::ShapeError>(())
    /// ```
    pub fn x(&self) -> ArrayView4<'_, T> {
        self.x.view()
    }

    /// The filters `w` (F, C, HH, WW).
    ///
    /// ```
    /// use ndarray::{Array1, Array4};
    /// let x = Array4::<f64>::zeros((1, 2, 3, 3));
    /// let (_, cache) = nn::conv::conv_forward_naive(&x.view(), &Array4::zeros((4, 2, 3, 3)).view(), &Array1::zeros(4).view(), nn::conv::ConvParam::new(1, 0))?;
    /// assert_eq!(cache.w().dim(), (4, 2, 3, 3));
    /// # Ok::<(), nn::conv::ShapeError>(())
    /// ```
    pub fn w(&self) -> ArrayView4<'_, T> {
        self.w.view()
    }

    /// Stride and padding.
    ///
    /// ```
    /// use ndarray::{Array1, Array4};
    /// let x = Array4::<f64>::zeros((1, 1, 4, 4));
    /// let (_, cache) = nn::conv::conv_forward_naive(&x.view(), &Array4::zeros((1, 1, 2, 2)).view(), &Array1::zeros(1).view(), nn::conv::ConvParam::new(2, 0))?;
    /// assert_eq!(cache.param().stride, 2);
    /// # Ok::<(), nn::conv::ShapeError>(())
    /// ```
    pub fn param(&self) -> ConvParam {
        self.param
    }

    /// Output size (H', W') of the cached layer.
    fn out_hw(&self) -> (usize, usize) {
        let (_, _, h, w) = self.x.dim();
        let (_, _, hh, ww) = self.w.dim();
        self.param
            .output_size(h, w, hh, ww)
            .expect("checked by the forward pass")
    }
}

/// Checks x (N, C, H, W), w (F, C, HH, WW) and b (F,) against each other; returns (H', W').
fn check_shapes<T>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
) -> Result<(usize, usize), ShapeError> {
    let (_, c, h, wd) = x.dim();
    let (f, wc, hh, ww) = w.dim();
    if c != wc {
        return Err(ShapeError::Channels {
            x_channels: c,
            w_channels: wc,
        });
    }
    if b.len() != f {
        return Err(ShapeError::Biases {
            biases: b.len(),
            filters: f,
        });
    }
    param.output_size(h, wd, hh, ww)
}

fn check_dout<T>(dout: &ArrayView4<'_, T>, expected: (usize, usize, usize, usize)) {
    assert_eq!(
        dout.dim(),
        expected,
        "conv backward: dout is {:?} but the layer's output is {expected:?}",
        dout.dim()
    );
}

/// The course's naive convolution forward pass: loops over images, filters and
/// output positions, each a dot product of a filter with its receptive field.
///
/// Inputs: `x` (N, C, H, W), filters `w` (F, C, HH, WW), biases `b` (F,).
/// Returns `out` (N, F, H', W') with `H' = (H + 2·pad − HH) / stride + 1`, and the cache.
///
/// # Errors
/// [`ShapeError`] when the shapes disagree or the output size is not whole.
///
/// ```
/// use ndarray::{array, Array4};
/// use nn::conv::{ConvParam, conv_forward_naive};
/// // A 1×1 filter of weight 2 with bias 1 doubles and shifts every pixel.
/// let x = Array4::from_shape_vec((1, 1, 2, 2), vec![1.0_f64, 2.0, 3.0, 4.0]).unwrap();
/// let w = Array4::from_elem((1, 1, 1, 1), 2.0);
/// let (out, _) = conv_forward_naive(&x.view(), &w.view(), &array![1.0].view(), ConvParam::new(1, 0))?;
/// assert_eq!(out.into_raw_vec_and_offset().0, vec![3.0, 5.0, 7.0, 9.0]);
/// # Ok::<(), nn::conv::ShapeError>(())
/// ```
pub fn conv_forward_naive<T: Float>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
) -> Result<(Array4<T>, ConvCache<T>), ShapeError> {
    let (h_out, w_out) = check_shapes(x, w, b, param)?;
    let (n, c, _, _) = x.dim();
    let (f, _, hh, ww) = w.dim();
    let s = param.stride;
    let x_pad = pad_input(x, param.pad);
    let mut out = Array4::zeros((n, f, h_out, w_out));
    for i in 0..n {
        for k in 0..f {
            for oh in 0..h_out {
                for ow in 0..w_out {
                    let mut acc = b[k];
                    for ci in 0..c {
                        for p in 0..hh {
                            for q in 0..ww {
                                acc += x_pad[[i, ci, oh * s + p, ow * s + q]] * w[[k, ci, p, q]];
                            }
                        }
                    }
                    out[[i, k, oh, ow]] = acc;
                }
            }
        }
    }
    let cache = ConvCache {
        x: x.to_owned(),
        w: w.to_owned(),
        param,
    };
    Ok((out, cache))
}

/// `x` with `pad` zeros on each side of its two spatial axes.
fn pad_input<T: Float>(x: &ArrayView4<'_, T>, pad: usize) -> Array4<T> {
    let (n, c, h, w) = x.dim();
    let mut x_pad = Array4::zeros((n, c, h + 2 * pad, w + 2 * pad));
    x_pad
        .slice_mut(ndarray::s![.., .., pad..pad + h, pad..pad + w])
        .assign(x);
    x_pad
}

/// The course's naive convolution backward pass: each output's upstream gradient
/// flows back to the filter weights it was multiplied with (`dw`), to the pixels of
/// its receptive field (`dx`, summed where fields overlap), and to its bias (`db`).
///
/// Returns `(dx, dw, db)` shaped like `x`, `w` and `b`.
///
/// # Panics
/// If `dout` is not shaped like the forward pass's output (a bug in the caller's
/// wiring, not a data error).
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::conv::{ConvParam, conv_forward_naive, conv_backward_naive};
/// let x = Array4::<f64>::ones((1, 1, 3, 3));
/// let w = Array4::<f64>::ones((1, 1, 3, 3));
/// let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &Array1::zeros(1).view(), ConvParam::new(1, 0))?;
/// let (dx, dw, db) = conv_backward_naive(&Array4::ones(out.dim()).view(), &cache);
/// assert_eq!((dx[[0, 0, 1, 1]], dw[[0, 0, 0, 0]], db[0]), (1.0, 1.0, 1.0));
/// # Ok::<(), nn::conv::ShapeError>(())
/// ```
pub fn conv_backward_naive<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvCache<T>,
) -> (Array4<T>, Array4<T>, Array1<T>) {
    let (n, c, h, wd) = cache.x.dim();
    let (f, _, hh, ww) = cache.w.dim();
    let (h_out, w_out) = cache.out_hw();
    check_dout(dout, (n, f, h_out, w_out));
    let (s, pad) = (cache.param.stride, cache.param.pad);
    let x_pad = pad_input(&cache.x.view(), pad);
    let mut dx_pad = Array4::zeros(x_pad.dim());
    let mut dw = Array4::zeros(cache.w.dim());
    let mut db = Array1::zeros(f);
    for i in 0..n {
        for k in 0..f {
            for oh in 0..h_out {
                for ow in 0..w_out {
                    let d = dout[[i, k, oh, ow]];
                    db[k] += d;
                    for ci in 0..c {
                        for p in 0..hh {
                            for q in 0..ww {
                                let (y, xx) = (oh * s + p, ow * s + q);
                                dw[[k, ci, p, q]] += x_pad[[i, ci, y, xx]] * d;
                                dx_pad[[i, ci, y, xx]] += cache.w[[k, ci, p, q]] * d;
                            }
                        }
                    }
                }
            }
        }
    }
    let dx = dx_pad
        .slice(ndarray::s![.., .., pad..pad + h, pad..pad + wd])
        .to_owned();
    (dx, dw, db)
}

/// Geometry of one convolution, shared by im2col and col2im.
#[derive(Clone, Copy)]
struct Geometry {
    c: usize,
    h: usize,
    w: usize,
    hh: usize,
    ww: usize,
    stride: usize,
    pad: usize,
    h_out: usize,
    w_out: usize,
}

impl Geometry {
    fn of<T: Float>(cache: &ConvCache<T>) -> Self {
        let (_, c, h, w) = cache.x.dim();
        let (_, _, hh, ww) = cache.w.dim();
        let (h_out, w_out) = cache.out_hw();
        Self {
            c,
            h,
            w,
            hh,
            ww,
            stride: cache.param.stride,
            pad: cache.param.pad,
            h_out,
            w_out,
        }
    }

    /// Rows of the column matrix: one per filter weight, `C·HH·WW`.
    fn k(&self) -> usize {
        self.c * self.hh * self.ww
    }

    /// Columns of the column matrix: one per output position, `H'·W'`.
    fn positions(&self) -> usize {
        self.h_out * self.w_out
    }

    /// The output columns `[lo, hi)` whose input column `ow·S + j − P` lies inside the
    /// image, for filter column `j`. Outside that range the receptive field reads padding.
    fn valid_columns(&self, j: usize) -> (usize, usize) {
        let s = self.stride;
        let lo = if self.pad > j {
            (self.pad - j).div_ceil(s)
        } else {
            0
        }
        .min(self.w_out);
        let hi = (self.w + self.pad)
            .saturating_sub(j)
            .div_ceil(s)
            .min(self.w_out);
        (lo, hi.max(lo))
    }

    /// The input row read by output row `oh` at filter row `i`, if inside the image.
    fn input_row(&self, oh: usize, i: usize) -> Option<usize> {
        (oh * self.stride + i)
            .checked_sub(self.pad)
            .filter(|&y| y < self.h)
    }
}

/// im2col: lays every receptive field of one image `x` (C, H, W) out as a column of
/// `cols` (C·HH·WW, H'·W'), so that the whole convolution becomes one matrix product
/// `W (F, C·HH·WW) · cols`. Padding is never materialised: out-of-image reads are zeros.
fn im2col<T: Float>(x: &[T], g: &Geometry, cols: &mut [T]) {
    let npos = g.positions();
    for ci in 0..g.c {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for i in 0..g.hh {
            for j in 0..g.ww {
                let row = ((ci * g.hh + i) * g.ww + j) * npos;
                let dst = &mut cols[row..row + npos];
                let (lo, hi) = g.valid_columns(j);
                for oh in 0..g.h_out {
                    let d = &mut dst[oh * g.w_out..(oh + 1) * g.w_out];
                    let Some(y) = g.input_row(oh, i) else {
                        d.fill(T::zero());
                        continue;
                    };
                    let src = &plane[y * g.w..(y + 1) * g.w];
                    d[..lo].fill(T::zero());
                    d[hi..].fill(T::zero());
                    if g.stride == 1 {
                        let x0 = lo + j - g.pad;
                        d[lo..hi].copy_from_slice(&src[x0..x0 + (hi - lo)]);
                    } else {
                        for ow in lo..hi {
                            d[ow] = src[ow * g.stride + j - g.pad];
                        }
                    }
                }
            }
        }
    }
}

/// col2im: the adjoint of [`im2col`] — adds each column's gradient back onto the
/// pixels of its receptive field in `dx` (C, H, W), which must start zeroed.
fn col2im<T: Float>(dcols: &[T], g: &Geometry, dx: &mut [T]) {
    let npos = g.positions();
    for ci in 0..g.c {
        let plane = &mut dx[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for i in 0..g.hh {
            for j in 0..g.ww {
                let row = ((ci * g.hh + i) * g.ww + j) * npos;
                let src_row = &dcols[row..row + npos];
                let (lo, hi) = g.valid_columns(j);
                for oh in 0..g.h_out {
                    let Some(y) = g.input_row(oh, i) else {
                        continue;
                    };
                    let s = &src_row[oh * g.w_out..(oh + 1) * g.w_out];
                    let d = &mut plane[y * g.w..(y + 1) * g.w];
                    if g.stride == 1 {
                        let x0 = lo + j - g.pad;
                        for (dv, &sv) in d[x0..x0 + (hi - lo)].iter_mut().zip(&s[lo..hi]) {
                            *dv += sv;
                        }
                    } else {
                        for ow in lo..hi {
                            d[ow * g.stride + j - g.pad] += s[ow];
                        }
                    }
                }
            }
        }
    }
}

/// Fast convolution forward pass: per image, im2col then one GEMM
/// `out_n (F, H'·W') = W (F, C·HH·WW) · cols + b`, with images spread over the rayon
/// pool. Same inputs, output and cache as [`conv_forward_naive`], and the same
/// numbers to rounding (tested to 1e-10 in f64).
///
/// Why per image rather than one GEMM over the whole batch: the column matrix of one
/// image stays in the core's L2 cache between im2col and the GEMM, and the output lands
/// directly in (N, F, H', W') order without a transpose (see `benches/cnn.rs`).
///
/// # Errors
/// [`ShapeError`] when the shapes disagree or the output size is not whole.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::conv::{ConvParam, conv_forward_fast, conv_forward_naive};
/// let mut rng = numeric::rng(0);
/// let x: Array4<f64> = numeric::randn((2, 3, 7, 7), &mut rng);
/// let w: Array4<f64> = numeric::randn((4, 3, 3, 3), &mut rng);
/// let b: Array1<f64> = numeric::randn(4, &mut rng);
/// let p = ConvParam::new(2, 1);
/// let (fast, _) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p)?;
/// let (naive, _) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p)?;
/// assert!(backprop::gradcheck::rel_error(&fast.view(), &naive.view()) < 1e-10);
/// # Ok::<(), nn::conv::ShapeError>(())
/// ```
pub fn conv_forward_fast<T: Float>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
) -> Result<(Array4<T>, ConvCache<T>), ShapeError> {
    check_shapes(x, w, b, param)?;
    let cache = ConvCache {
        x: x.as_standard_layout().into_owned(),
        w: w.as_standard_layout().into_owned(),
        param,
    };
    let g = Geometry::of(&cache);
    let n = x.dim().0;
    let f = w.dim().0;
    let (k, npos) = (g.k(), g.positions());
    let w_mat = cache
        .w
        .view()
        .into_shape_with_order((f, k))
        .expect("standard layout");
    let x_flat = cache.x.as_slice().expect("standard layout");
    let image = g.c * g.h * g.w;
    let mut out = Array4::<T>::zeros((n, f, g.h_out, g.w_out));
    if npos > 0 {
        out.as_slice_mut()
            .expect("fresh array")
            .par_chunks_mut(f * npos)
            .enumerate()
            .for_each_init(
                || vec![T::zero(); k * npos],
                |cols, (i, out_i)| {
                    im2col(&x_flat[i * image..(i + 1) * image], &g, cols);
                    for (row, &bias) in out_i.chunks_mut(npos).zip(b.iter()) {
                        row.fill(bias);
                    }
                    let cols = ArrayView2::from_shape((k, npos), &cols[..]).expect("sized above");
                    let mut out_i =
                        ArrayViewMut2::from_shape((f, npos), out_i).expect("chunk of F·H'·W'");
                    numeric::gemm(T::one(), &w_mat, &cols, T::one(), &mut out_i);
                },
            );
    }
    Ok((out, cache))
}

/// Fast convolution backward pass (im2col/col2im + GEMM, parallel over images):
/// `dw = Σₙ dout_n · colsₙᵀ`, `db = Σ dout`, `dx_n = col2im(Wᵀ · dout_n)`.
/// Same results as [`conv_backward_naive`] to rounding.
///
/// # Panics
/// If `dout` is not shaped like the forward pass's output.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::conv::{ConvParam, conv_forward_naive, conv_backward_fast, conv_backward_naive};
/// let mut rng = numeric::rng(1);
/// let x: Array4<f64> = numeric::randn((2, 2, 5, 5), &mut rng);
/// let w: Array4<f64> = numeric::randn((3, 2, 3, 3), &mut rng);
/// let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &Array1::zeros(3).view(), ConvParam::new(1, 1))?;
/// let dout: Array4<f64> = numeric::randn(out.dim(), &mut rng);
/// let (dx, dw, _) = conv_backward_fast(&dout.view(), &cache);
/// let (dx_naive, dw_naive, _) = conv_backward_naive(&dout.view(), &cache);
/// assert!(backprop::gradcheck::rel_error(&dx.view(), &dx_naive.view()) < 1e-10);
/// assert!(backprop::gradcheck::rel_error(&dw.view(), &dw_naive.view()) < 1e-10);
/// # Ok::<(), nn::conv::ShapeError>(())
/// ```
pub fn conv_backward_fast<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvCache<T>,
) -> (Array4<T>, Array4<T>, Array1<T>) {
    let (dx, dw, db) = backward_fast(dout, cache, true);
    (dx.expect("asked for dx"), dw, db)
}

/// [`conv_backward_fast`] without the input gradient: returns `(dw, db)` only.
///
/// A network's first layer needs no `dx` (nobody trains the images), and computing
/// it is a third of the layer's backward work.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::conv::{ConvParam, conv_forward_fast, conv_backward_fast, conv_backward_fast_no_dx};
/// let mut rng = numeric::rng(2);
/// let x: Array4<f32> = numeric::randn((2, 3, 8, 8), &mut rng);
/// let w: Array4<f32> = numeric::randn((4, 3, 3, 3), &mut rng);
/// let (out, cache) = conv_forward_fast(&x.view(), &w.view(), &Array1::zeros(4).view(), ConvParam::new(1, 1))?;
/// let (dw, db) = conv_backward_fast_no_dx(&out.view(), &cache);
/// let (_, dw_full, db_full) = conv_backward_fast(&out.view(), &cache);
/// assert_eq!((dw, db), (dw_full, db_full));
/// # Ok::<(), nn::conv::ShapeError>(())
/// ```
pub fn conv_backward_fast_no_dx<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvCache<T>,
) -> (Array4<T>, Array1<T>) {
    let (_, dw, db) = backward_fast(dout, cache, false);
    (dw, db)
}

/// Per-task accumulators of the backward pass, summed over tasks at the end.
struct Partial<T> {
    /// dwᵀ (K, F): accumulated as `cols · doutᵀ` (see `backward_fast`).
    dw_t: Array2<T>,
    db: Array1<T>,
    cols: Vec<T>,
    dout_t: Vec<T>,
    dcols: Vec<T>,
}

fn backward_fast<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvCache<T>,
    need_dx: bool,
) -> (Option<Array4<T>>, Array4<T>, Array1<T>) {
    let g = Geometry::of(cache);
    let (n, _, _, _) = cache.x.dim();
    let (f, _, _, _) = cache.w.dim();
    check_dout(dout, (n, f, g.h_out, g.w_out));
    let (k, npos) = (g.k(), g.positions());
    let dout = dout.as_standard_layout();
    let dout_flat = dout.as_slice().expect("standard layout");
    let x_flat = cache.x.as_slice().expect("standard layout");
    let w_mat = cache
        .w
        .view()
        .into_shape_with_order((f, k))
        .expect("standard layout");
    let image = g.c * g.h * g.w;
    let new_partial = || Partial {
        dw_t: Array2::zeros((k, f)),
        db: Array1::zeros(f),
        cols: vec![T::zero(); k * npos],
        dout_t: vec![T::zero(); npos * f],
        dcols: if need_dx {
            vec![T::zero(); k * npos]
        } else {
            Vec::new()
        },
    };
    // One image's contribution: dw += dout_i · colsᵀ, db += Σ dout_i, dx_i = col2im(Wᵀ dout_i).
    let step = |mut acc: Partial<T>, (i, dx_i): (usize, Option<&mut [T]>)| {
        let dout_i =
            ArrayView2::from_shape((f, npos), &dout_flat[i * f * npos..(i + 1) * f * npos])
                .expect("chunk");
        // dwᵀ += cols · dout_iᵀ with both operands contiguous: GEMM packs a transposed
        // (strided) view of cols or dout about twice as slowly, and transposing dout_i
        // (F·H'·W' values) costs far less than a second layout of cols.
        im2col(&x_flat[i * image..(i + 1) * image], &g, &mut acc.cols);
        for (fi, row) in dout_i.rows().into_iter().enumerate() {
            for (p, &v) in row.iter().enumerate() {
                acc.dout_t[p * f + fi] = v;
            }
        }
        let cols = ArrayView2::from_shape((k, npos), &acc.cols[..]).expect("sized");
        let dout_t = ArrayView2::from_shape((npos, f), &acc.dout_t[..]).expect("sized");
        numeric::gemm(T::one(), &cols, &dout_t, T::one(), &mut acc.dw_t.view_mut());
        for (db, row) in acc.db.iter_mut().zip(dout_i.rows()) {
            *db += row.iter().copied().sum::<T>();
        }
        if let Some(dx_i) = dx_i {
            let mut dcols =
                ArrayViewMut2::from_shape((k, npos), &mut acc.dcols[..]).expect("sized");
            numeric::gemm(T::one(), &w_mat.t(), &dout_i, T::zero(), &mut dcols);
            col2im(&acc.dcols, &g, dx_i);
        }
        acc
    };
    let add = |mut a: Partial<T>, b: Partial<T>| {
        a.dw_t += &b.dw_t;
        a.db += &b.db;
        a
    };
    let (dx, total) = if need_dx {
        let mut dx = Array4::<T>::zeros(cache.x.dim());
        let total = dx
            .as_slice_mut()
            .expect("fresh array")
            .par_chunks_mut(image.max(1))
            .take(n)
            .enumerate()
            .map(|(i, dx_i)| (i, Some(dx_i)))
            .fold(new_partial, step)
            .reduce_with(add);
        (Some(dx), total)
    } else {
        let total = (0..n)
            .into_par_iter()
            .map(|i| (i, None))
            .fold(new_partial, step)
            .reduce_with(add);
        (None, total)
    };
    let total = total.unwrap_or_else(new_partial);
    let dw = total
        .dw_t
        .reversed_axes()
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(cache.w.dim())
        .expect("F·C·HH·WW elements");
    (dx, dw, total.db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{assert_rel_error_below, numerical_grads3};
    use backprop::gradcheck::rel_error;
    use ndarray::{Array, array};

    fn linspace(lo: f64, hi: f64, n: usize) -> Array1<f64> {
        Array::linspace(lo, hi, n)
    }

    /// The course's sanity check for conv_forward_naive (ConvolutionalNetworks.ipynb).
    #[test]
    fn naive_forward_matches_the_course() {
        let x = linspace(-0.1, 0.5, 2 * 3 * 4 * 4)
            .into_shape_with_order((2, 3, 4, 4))
            .unwrap();
        let w = linspace(-0.2, 0.3, 3 * 3 * 4 * 4)
            .into_shape_with_order((3, 3, 4, 4))
            .unwrap();
        let b = linspace(-0.1, 0.2, 3);
        let correct_out = array![
            [
                [[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]
            ],
            [
                [[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]
            ]
        ];
        let p = ConvParam::new(2, 1);
        let (out, _) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
        // The course prints 8 decimals: its own check is "around 2e-8".
        assert!(rel_error(&out.view(), &correct_out.view()) < 1e-7);
        let (fast, _) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
        assert!(rel_error(&fast.view(), &correct_out.view()) < 1e-7);
    }

    fn random_layer(
        seed: u64,
        x: (usize, usize, usize, usize),
        w: (usize, usize, usize, usize),
    ) -> (Array4<f64>, Array4<f64>, Array1<f64>) {
        let mut r = numeric::rng(seed);
        (
            numeric::randn(x, &mut r),
            numeric::randn(w, &mut r),
            numeric::randn(w.0, &mut r),
        )
    }

    type Forward = fn(
        &ArrayView4<'_, f64>,
        &ArrayView4<'_, f64>,
        &ArrayView1<'_, f64>,
        ConvParam,
    ) -> Result<(Array4<f64>, ConvCache<f64>), ShapeError>;
    type Backward =
        fn(&ArrayView4<'_, f64>, &ConvCache<f64>) -> (Array4<f64>, Array4<f64>, Array1<f64>);

    /// Checks `backward`'s dx, dw and db against centred differences of `forward`
    /// (relative error < 1e-7) on a random layer of the given shapes (seed `seed`)
    /// and a random upstream gradient (seed `dout_seed`).
    fn check_gradients(
        forward: Forward,
        backward: Backward,
        seed: u64,
        x_shape: (usize, usize, usize, usize),
        w_shape: (usize, usize, usize, usize),
        p: ConvParam,
        dout_seed: u64,
    ) {
        let (mut x, mut w, mut b) = random_layer(seed, x_shape, w_shape);
        let (out, cache) = forward(&x.view(), &w.view(), &b.view(), p).unwrap();
        let dout: Array4<f64> = numeric::randn(out.dim(), &mut numeric::rng(dout_seed));
        let (dx, dw, db) = backward(&dout.view(), &cache);
        let (dx_num, dw_num, db_num) = numerical_grads3(
            |x, w, b| forward(&x.view(), &w.view(), &b.view(), p).unwrap().0,
            &mut x,
            &mut w,
            &mut b,
            &dout.view(),
        );
        assert_rel_error_below("dx", &dx, &dx_num, 1e-7);
        assert_rel_error_below("dw", &dw, &dw_num, 1e-7);
        assert_rel_error_below("db", &db, &db_num, 1e-7);
    }

    /// The course's gradient check: x (4, 3, 5, 5), w (2, 3, 3, 3), stride 1, pad 1.
    #[test]
    fn naive_backward_matches_numerical_gradients() {
        check_gradients(
            conv_forward_naive,
            conv_backward_naive,
            231,
            (4, 3, 5, 5),
            (2, 3, 3, 3),
            ConvParam::new(1, 1),
            7,
        );
    }

    #[test]
    fn fast_backward_matches_numerical_gradients_with_stride_2() {
        check_gradients(
            conv_forward_fast,
            conv_backward_fast,
            5,
            (2, 3, 7, 7),
            (4, 3, 3, 3),
            ConvParam::new(2, 1),
            8,
        );
    }

    #[test]
    fn fast_agrees_with_naive_on_awkward_geometries() {
        // (x shape, w shape, stride, pad): padding wider than the filter's reach,
        // stride 3, 1×1 filters, non-square images and filters.
        let cases = [
            ((3, 2, 9, 7), (5, 2, 3, 1), 1, 0),
            ((2, 3, 7, 7), (2, 3, 3, 3), 3, 1),
            ((2, 1, 5, 6), (3, 1, 1, 1), 1, 2),
            ((1, 2, 4, 4), (2, 2, 4, 4), 2, 3),
            ((2, 4, 6, 6), (3, 4, 5, 5), 1, 2),
        ];
        for (seed, (xs, ws, s, pad)) in cases.into_iter().enumerate() {
            let (x, w, b) = random_layer(seed as u64, xs, ws);
            let p = ConvParam::new(s, pad);
            let (out_n, cache) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
            let (out_f, _) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
            assert!(
                rel_error(&out_f.view(), &out_n.view()) < 1e-10,
                "forward {xs:?} {ws:?}"
            );
            let dout: Array4<f64> = numeric::randn(out_n.dim(), &mut numeric::rng(99));
            let (dx_n, dw_n, db_n) = conv_backward_naive(&dout.view(), &cache);
            let (dx_f, dw_f, db_f) = conv_backward_fast(&dout.view(), &cache);
            assert!(
                rel_error(&dx_f.view(), &dx_n.view()) < 1e-10,
                "dx {xs:?} {ws:?}"
            );
            assert!(
                rel_error(&dw_f.view(), &dw_n.view()) < 1e-10,
                "dw {xs:?} {ws:?}"
            );
            assert!(
                rel_error(&db_f.view(), &db_n.view()) < 1e-10,
                "db {xs:?} {ws:?}"
            );
        }
    }

    #[test]
    fn fast_forward_accepts_non_standard_layouts() {
        let (x, w, b) = random_layer(3, (3, 2, 5, 5), (2, 2, 3, 3));
        let x_t = x.view().permuted_axes([0, 1, 3, 2]);
        let p = ConvParam::new(1, 1);
        let (a, _) = conv_forward_fast(&x_t, &w.view(), &b.view(), p).unwrap();
        let (e, _) = conv_forward_naive(&x_t, &w.view(), &b.view(), p).unwrap();
        assert!(rel_error(&a.view(), &e.view()) < 1e-10);
    }

    #[test]
    fn bad_shapes_are_typed_errors() {
        let x = Array4::<f64>::zeros((1, 3, 5, 5));
        let p = ConvParam::new(1, 0);
        let w = Array4::<f64>::zeros((2, 2, 3, 3));
        assert_eq!(
            conv_forward_fast(&x.view(), &w.view(), &Array1::zeros(2).view(), p).unwrap_err(),
            ShapeError::Channels {
                x_channels: 3,
                w_channels: 2
            }
        );
        let w = Array4::<f64>::zeros((2, 3, 3, 3));
        assert_eq!(
            conv_forward_naive(&x.view(), &w.view(), &Array1::zeros(3).view(), p).unwrap_err(),
            ShapeError::Biases {
                biases: 3,
                filters: 2
            }
        );
        let err = conv_forward_fast(
            &x.view(),
            &w.view(),
            &Array1::zeros(2).view(),
            ConvParam::new(0, 0),
        )
        .unwrap_err();
        assert_eq!(
            err,
            ShapeError::Zero {
                layer: "conv",
                what: "stride"
            }
        );
        let big = Array4::<f64>::zeros((2, 3, 7, 7));
        assert!(matches!(
            conv_forward_fast(&x.view(), &big.view(), &Array1::zeros(2).view(), p).unwrap_err(),
            ShapeError::WindowTooLarge {
                window: 7,
                size: 5,
                ..
            }
        ));
        assert!(matches!(
            conv_forward_fast(
                &x.view(),
                &w.view(),
                &Array1::zeros(2).view(),
                ConvParam::new(3, 0)
            )
            .unwrap_err(),
            ShapeError::NotWhole {
                size: 5,
                stride: 3,
                window: 3,
                ..
            }
        ));
    }

    #[test]
    fn an_empty_batch_gives_empty_outputs() {
        let x = Array4::<f32>::zeros((0, 3, 8, 8));
        let w = Array4::<f32>::ones((2, 3, 3, 3));
        let (out, cache) = conv_forward_fast(
            &x.view(),
            &w.view(),
            &Array1::zeros(2).view(),
            ConvParam::new(1, 1),
        )
        .unwrap();
        assert_eq!(out.dim(), (0, 2, 8, 8));
        let (dx, dw, db) = conv_backward_fast(&out.view(), &cache);
        assert_eq!(dx.dim(), (0, 3, 8, 8));
        assert!(dw.iter().all(|&v| v == 0.0) && db.iter().all(|&v| v == 0.0));
    }
}
