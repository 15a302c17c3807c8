//! What every convolution path shares: how the filters slide ([`ConvParam`]), the
//! output size it gives (checked, as a typed error), and what a backward pass needs
//! ([`ConvCache`]). Both the naive loops of `conv.rs` and the fast paths of
//! `im2col.rs` produce and consume these, so either backward can follow either
//! forward.

use ndarray::{Array4, ArrayView1, ArrayView4};
use numeric::Float;

use crate::error::{Error, Result};

/// How the filters slide: `stride` pixels between neighbouring receptive fields,
/// `pad` zeros around each side of the input.
///
/// ```
/// let p = nn::ConvParam::new(1, 3); // the "same" padding of a 7×7 filter
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
    /// let p = nn::ConvParam::new(2, 1);
    /// assert_eq!((p.stride, p.pad), (2, 1));
    /// ```
    pub fn new(stride: usize, pad: usize) -> Self {
        Self { stride, pad }
    }

    /// The output size `(H', W')` with `H' = (H + 2P − HH) / S + 1`, or an error when
    /// the windows do not tile the padded input exactly.
    ///
    /// ```
    /// let p = nn::ConvParam::new(2, 1);
    /// assert_eq!(p.output_size(4, 4, 4, 4).unwrap(), (2, 2));
    /// assert!(p.output_size(5, 4, 4, 4).is_err());
    /// ```
    pub fn output_size(&self, h: usize, w: usize, hh: usize, ww: usize) -> Result<(usize, usize)> {
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
) -> Result<usize> {
    if stride == 0 {
        return Err(Error::Zero {
            layer,
            what: "stride",
        });
    }
    if window == 0 {
        return Err(Error::Zero {
            layer,
            what: "window",
        });
    }
    let Some(padded) = pad.checked_mul(2).and_then(|p| p.checked_add(size)) else {
        return Err(Error::TooLarge {
            what: format!("{layer}: {axis} {size} with padding {pad}"),
            asked: "more than 2^64".into(),
            unit: "pixels",
            limit: usize::MAX,
        });
    };
    if window > padded {
        return Err(Error::WindowTooLarge {
            layer,
            axis,
            size,
            pad,
            window,
        });
    }
    if !(padded - window).is_multiple_of(stride) {
        return Err(Error::NotWhole {
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
/// let (out, cache) = nn::conv_forward_fast(&x.view(), &Array4::ones((1, 1, 3, 3)).view(), &Array1::zeros(1).view(), nn::ConvParam::new(1, 1))?;
/// let (dw, _) = nn::conv_backward_fast_no_dx(&Array4::ones(out.dim()).view(), &cache);
/// assert_eq!(dw[[0, 0, 1, 1]], 9.0); // the centre tap sees every pixel once
/// # Ok::<(), nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConvCache<T> {
    pub(crate) x: Array4<T>,
    pub(crate) w: Array4<T>,
    pub(crate) param: ConvParam,
}

impl<T: Float> ConvCache<T> {
    /// The layer's input `x` (N, C, H, W).
    ///
    /// ```
    /// use ndarray::{Array1, Array4};
    /// let x = Array4::<f64>::zeros((1, 2, 3, 3));
    /// let (_, cache) = nn::conv_forward_naive(&x.view(), &Array4::zeros((1, 2, 3, 3)).view(), &Array1::zeros(1).view(), nn::ConvParam::new(1, 0))?;
    /// assert_eq!(cache.x().dim(), (1, 2, 3, 3));
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn x(&self) -> ArrayView4<'_, T> {
        self.x.view()
    }

    /// The filters `w` (F, C, HH, WW).
    ///
    /// ```
    /// use ndarray::{Array1, Array4};
    /// let x = Array4::<f64>::zeros((1, 2, 3, 3));
    /// let (_, cache) = nn::conv_forward_naive(&x.view(), &Array4::zeros((4, 2, 3, 3)).view(), &Array1::zeros(4).view(), nn::ConvParam::new(1, 0))?;
    /// assert_eq!(cache.w().dim(), (4, 2, 3, 3));
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn w(&self) -> ArrayView4<'_, T> {
        self.w.view()
    }

    /// Stride and padding.
    ///
    /// ```
    /// use ndarray::{Array1, Array4};
    /// let x = Array4::<f64>::zeros((1, 1, 4, 4));
    /// let (_, cache) = nn::conv_forward_naive(&x.view(), &Array4::zeros((1, 1, 2, 2)).view(), &Array1::zeros(1).view(), nn::ConvParam::new(2, 0))?;
    /// assert_eq!(cache.param().stride, 2);
    /// # Ok::<(), nn::Error>(())
    /// ```
    pub fn param(&self) -> ConvParam {
        self.param
    }

    /// Output size (H', W') of the cached layer.
    pub(crate) fn out_hw(&self) -> (usize, usize) {
        let (_, _, h, w) = self.x.dim();
        let (_, _, hh, ww) = self.w.dim();
        self.param
            .output_size(h, w, hh, ww)
            .expect("checked by the forward pass")
    }
}

/// Checks x (N, C, H, W), w (F, C, HH, WW) and b (F,) against each other; returns (H', W').
pub(crate) fn check_shapes<T>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
) -> Result<(usize, usize)> {
    let (_, c, h, wd) = x.dim();
    let (f, wc, hh, ww) = w.dim();
    if c != wc {
        return Err(Error::Channels {
            x_channels: c,
            w_channels: wc,
        });
    }
    if b.len() != f {
        return Err(Error::Biases {
            biases: b.len(),
            filters: f,
        });
    }
    param.output_size(h, wd, hh, ww)
}

pub(crate) fn check_dout<T>(dout: &ArrayView4<'_, T>, expected: (usize, usize, usize, usize)) {
    assert_eq!(
        dout.dim(),
        expected,
        "conv backward: dout is {:?} but the layer's output is {expected:?}",
        dout.dim()
    );
}

/// The sizes of one convolution as the fast paths read them from its cache: input
/// (N, C, H, W), filters (F, C, HH, WW), stride, padding and output (H', W').
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) f: usize,
    pub(crate) hh: usize,
    pub(crate) ww: usize,
    pub(crate) stride: usize,
    pub(crate) pad: usize,
    pub(crate) h_out: usize,
    pub(crate) w_out: usize,
}

impl Geometry {
    /// The geometry of the layer of `cache`.
    pub(crate) fn of<T: Float>(cache: &ConvCache<T>) -> Self {
        let (n, c, h, w) = cache.x.dim();
        let (f, _, hh, ww) = cache.w.dim();
        let (h_out, w_out) = cache.out_hw();
        Self {
            n,
            c,
            h,
            w,
            f,
            hh,
            ww,
            stride: cache.param.stride,
            pad: cache.param.pad,
            h_out,
            w_out,
        }
    }

    /// Output positions of one image, `H'·W'`.
    pub(crate) fn positions(&self) -> usize {
        self.h_out * self.w_out
    }

    /// Length of a receptive field, `C·HH·WW`.
    pub(crate) fn k(&self) -> usize {
        self.c * self.hh * self.ww
    }

    /// Rows of a zero-padded image.
    pub(crate) fn hp(&self) -> usize {
        self.h + 2 * self.pad
    }

    /// Columns of a zero-padded image.
    pub(crate) fn wp(&self) -> usize {
        self.w + 2 * self.pad
    }

    /// Values of one input image, `C·H·W`.
    pub(crate) fn image(&self) -> usize {
        self.c * self.h * self.w
    }
}
