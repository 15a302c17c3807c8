//! The fast convolution, as the course's `fast_layers.py`: receptive fields laid out
//! as a matrix, so that the convolution is matrix products (GEMM). Three layouts share
//! the work, chosen by the layer's shape (docs/conv.md has the measurements):
//!
//! - 3×3 'same' layers at stride 1 with 24 channels or more in and out: Winograd's
//!   F(4×4, 3×3), 36 GEMMs on transformed 6×6 tiles with 2.25× to 3.75× fewer
//!   multiplications (`winograd.rs`);
//! - other large maps (15×15 and up) with few filters (up to 64), at stride 1: one
//!   GEMM per image on "wide" columns, each row of the column matrix one copy from the
//!   padded image (`im2col_wide.rs`);
//! - the rest (7×7 and 3×3 maps, 256 filters, strided layers): one GEMM per chunk of
//!   images, whose receptive fields are stacked into hundreds of rows
//!   (`conv_batched.rs`).
//!
//! Either way the products run on the rayon pool's threads, one image or chunk per
//! task (the GEMM inside stays on its task's thread, so the cores are never
//! oversubscribed), and `dW` is summed in a fixed order: the same thread count gives
//! the same bits.
//!
//! Same inputs, outputs and [`ConvCache`] as the naive loops of [`crate::conv_forward_naive`], and
//! the same numbers to rounding (Winograd: within 1e-5 of the output's scale in f32),
//! so either backward pass can follow either forward.
//!
//! ```
//! use ndarray::{Array1, Array4};
//! use nn::{ConvParam, conv_forward_fast, conv_backward_fast};
//! let x = Array4::<f32>::ones((2, 3, 8, 8));
//! let w = Array4::<f32>::ones((4, 3, 3, 3));
//! let b = Array1::<f32>::zeros(4);
//! let (out, cache) = conv_forward_fast(&x.view(), &w.view(), &b.view(), ConvParam::new(1, 1))?;
//! assert_eq!(out.shape(), &[2, 4, 8, 8]);
//! assert_eq!(out[[0, 0, 4, 4]], 27.0); // a 3×3×3 window of ones
//! let (dx, dw, db) = conv_backward_fast(&out.view(), &cache);
//! assert_eq!((dx.dim(), dw.dim(), db.len()), (x.dim(), w.dim(), 4));
//! # Ok::<(), nn::Error>(())
//! ```

use ndarray::{Array1, Array4, ArrayD, ArrayView1, ArrayView4, Ix1, Ix4};
use numeric::Float;

use crate::Params;
use crate::conv::{ConvCache, ConvParam, check_dout, check_shapes};
use crate::error::{Error, Result};
use crate::layer::{Cache, Init, Layer, Mode, ParamSpec, batch, cache_of, no_dx, view};
use crate::planes::{LANES, add_plane_sums};
use crate::{conv_batched, im2col_wide, winograd};

/// Fast convolution forward pass: `out = W · columns + b`, one GEMM per image or per
/// chunk of images (see the module's documentation). Same inputs, output and cache as
/// [`conv_forward_naive`](crate::conv_forward_naive), and the same numbers to rounding
/// (tested to 1e-10 in f64). Zero filters give an empty output.
///
/// # Errors
/// [`Error`](crate::Error) when the shapes disagree or the output size is not whole.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::{ConvParam, conv_forward_fast, conv_forward_naive};
/// let mut rng = numeric::rng(0);
/// let x: Array4<f64> = numeric::randn((2, 3, 7, 7), &mut rng);
/// let w: Array4<f64> = numeric::randn((4, 3, 3, 3), &mut rng);
/// let b: Array1<f64> = numeric::randn(4, &mut rng);
/// let p = ConvParam::new(2, 1);
/// let (fast, _) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p)?;
/// let (naive, _) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p)?;
/// assert!(backprop::gradcheck::rel_error(&fast.view(), &naive.view()) < 1e-10);
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_forward_fast<T: Float>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
) -> Result<(Array4<T>, ConvCache<T>)> {
    forward_on(x, w, b, param, None)
}

/// The ways the fast convolution can run (docs/conv.md compares them).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// One GEMM per image on wide columns, stride 1 only: `im2col_wide.rs`.
    Wide,
    /// One GEMM per chunk of images: `conv_batched.rs`.
    Chunked,
    /// Winograd F(4×4, 3×3), 3×3 filters at stride 1 and pad 1 only: `winograd.rs`.
    Winograd,
}

/// Wide columns need at least this many output positions per image: a 7×7 map's
/// per-image product has too few columns to run the GEMM near its peak, a 15×15
/// map's (255 wide columns) already does.
const WIDE_MIN_POSITIONS: usize = 128;

/// ... and at most this many filters: every row of the chunked path's matrix serves
/// `F` products, so its extra copies (channels-last images, 9× receptive fields,
/// transposed scores) pay off with many filters, and its deeper `dW` product makes
/// fewer passes over `dW` (F·K values). Measured: 64 filters run faster on wide
/// columns, 256 in chunks (docs/conv.md).
const WIDE_MAX_FILTERS: usize = 64;

/// The three passes of a layer: forward, backward-data, backward-weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Passes {
    forward: Path,
    data: Path,
    weights: Path,
}

impl Path {
    /// The GEMM path for a layer of this many output positions per image, filters and
    /// stride.
    fn of(positions: usize, filters: usize, stride: usize) -> Self {
        if stride == 1 && positions >= WIDE_MIN_POSITIONS && filters <= WIDE_MAX_FILTERS {
            Path::Wide
        } else {
            Path::Chunked
        }
    }

    /// `self` where it can run the layer of `cache`, else the GEMM path it falls
    /// back to: chunks where wide columns cannot run (stride > 1), the shapes' GEMM
    /// path where Winograd cannot (not a 3×3 'same' layer at stride 1).
    fn for_layer<T: Float>(self, cache: &ConvCache<T>) -> Self {
        match self {
            Path::Winograd if winograd::fits(cache) => Path::Winograd,
            Path::Winograd => gemm_path(cache).for_layer(cache),
            _ if cache.param.stride == 1 => self,
            _ => Path::Chunked,
        }
    }
}

/// The GEMM path the shapes of `cache` choose.
fn gemm_path<T: Float>(cache: &ConvCache<T>) -> Path {
    let (h_out, w_out) = cache.out_hw();
    Path::of(h_out * w_out, cache.w.dim().0, cache.param.stride)
}

/// Winograd runs a 3×3 'same' layer at stride 1 when both its channel counts reach
/// these, per pass. Its transforms cost per channel what the products cost per
/// channel *pair*, so they pay off with enough channels: measured (docs/conv.md) it
/// wins every pass of airbench94's 64→64, 64→256 and 256→256 layers (1.1× to 2×), and
/// of its 24→64 layer since the channels-last copies move 8 planes at a time (forward
/// 1.5×, backward-data 1.2×, backward-weights 1.5× faster than the GEMM paths; before,
/// its backward passes went from 1.1× faster to 1.45× slower between runs). Fewer
/// channels were not measured.
const WINOGRAD_MIN_CHANNELS_FORWARD: usize = 24;
/// ... for backward-data and backward-weights.
const WINOGRAD_MIN_CHANNELS_BACKWARD: usize = 24;

/// The path of each pass for the layer of `cache`: Winograd where it measured faster
/// than the GEMM paths, the shapes' GEMM path elsewhere.
fn passes<T: Float>(cache: &ConvCache<T>) -> Passes {
    let gemm = gemm_path(cache);
    let (_, c, _, _) = cache.x.dim();
    let channels = c.min(cache.w.dim().0);
    let pick = |least: usize| {
        if winograd::fits(cache) && channels >= least {
            Path::Winograd
        } else {
            gemm
        }
    };
    let backward = pick(WINOGRAD_MIN_CHANNELS_BACKWARD);
    Passes {
        forward: pick(WINOGRAD_MIN_CHANNELS_FORWARD),
        data: backward,
        weights: backward,
    }
}

/// Whether the layer of `cache` runs its forward and backward-weights passes on wide
/// columns, where `conv_relu_pool.rs` can fuse a following relu and 2×2 pool.
pub(crate) fn runs_wide<T: Float>(cache: &ConvCache<T>) -> bool {
    let p = passes(cache);
    p.forward.for_layer(cache) == Path::Wide && p.weights.for_layer(cache) == Path::Wide
}

/// [`conv_forward_fast`] on `path`, or on the one the shapes choose.
fn forward_on<T: Float>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
    path: Option<Path>,
) -> Result<(Array4<T>, ConvCache<T>)> {
    check_shapes(x, w, b, param)?;
    Ok(forward_checked(
        x.as_standard_layout().into_owned(),
        w,
        b,
        param,
        path,
    ))
}

/// [`forward_on`] of an input the caller gives away: the cache keeps `x` itself. A
/// layer's input is its own, and copying each conv's input into its cache took 2 % of
/// the training step, on one thread while the other waited.
fn forward_owned<T: Float>(
    x: Array4<T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
) -> Result<(Array4<T>, ConvCache<T>)> {
    check_shapes(&x.view(), w, b, param)?;
    let x = if x.is_standard_layout() {
        x
    } else {
        x.as_standard_layout().into_owned()
    };
    Ok(forward_checked(x, w, b, param, None))
}

/// The forward pass on checked shapes, `x` in standard layout; the cache keeps `x`.
fn forward_checked<T: Float>(
    x: Array4<T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
    path: Option<Path>,
) -> (Array4<T>, ConvCache<T>) {
    let cache = ConvCache {
        x,
        w: w.as_standard_layout().into_owned(),
        param,
    };
    let out = forward_cached(&cache, &b.to_vec(), path);
    (out, cache)
}

/// The forward pass of the layer of `cache` (shapes checked) on `path`, or on the one
/// the shapes choose.
pub(crate) fn forward_cached<T: Float>(
    cache: &ConvCache<T>,
    b: &[T],
    path: Option<Path>,
) -> Array4<T> {
    let path = path.unwrap_or_else(|| passes(cache).forward);
    match path.for_layer(cache) {
        Path::Wide => im2col_wide::forward(cache, b),
        Path::Chunked => conv_batched::forward(cache, b),
        Path::Winograd => winograd::forward(cache, b),
    }
}

/// Fast convolution backward pass, the GEMMs of the forward pass's layout:
/// `dW = Σ dout · columnsᵀ`, `db = Σ dout`, `dx = col2im(Wᵀ · dout)`.
/// Same results as [`conv_backward_naive`](crate::conv_backward_naive) to rounding.
///
/// # Panics
/// If `dout` is not shaped like the forward pass's output.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::{ConvParam, conv_forward_naive, conv_backward_fast, conv_backward_naive};
/// let mut rng = numeric::rng(1);
/// let x: Array4<f64> = numeric::randn((2, 2, 5, 5), &mut rng);
/// let w: Array4<f64> = numeric::randn((3, 2, 3, 3), &mut rng);
/// let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &Array1::zeros(3).view(), ConvParam::new(1, 1))?;
/// let dout: Array4<f64> = numeric::randn(out.dim(), &mut rng);
/// let (dx, dw, _) = conv_backward_fast(&dout.view(), &cache);
/// let (dx_naive, dw_naive, _) = conv_backward_naive(&dout.view(), &cache);
/// assert!(backprop::gradcheck::rel_error(&dx.view(), &dx_naive.view()) < 1e-10);
/// assert!(backprop::gradcheck::rel_error(&dw.view(), &dw_naive.view()) < 1e-10);
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_backward_fast<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvCache<T>,
) -> (Array4<T>, Array4<T>, Array1<T>) {
    let (dx, dw, db) = backward_fast(dout, cache, true, None);
    (dx.expect("asked for dx"), dw, db)
}

/// [`conv_backward_fast`] without the input gradient: returns `(dw, db)` only.
///
/// A network's first layer needs no `dx` (nobody trains the images), and computing
/// it is a third of the layer's backward work.
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::{ConvParam, conv_forward_fast, conv_backward_fast, conv_backward_fast_no_dx};
/// let mut rng = numeric::rng(2);
/// let x: Array4<f32> = numeric::randn((2, 3, 8, 8), &mut rng);
/// let w: Array4<f32> = numeric::randn((4, 3, 3, 3), &mut rng);
/// let (out, cache) = conv_forward_fast(&x.view(), &w.view(), &Array1::zeros(4).view(), ConvParam::new(1, 1))?;
/// let (dw, db) = conv_backward_fast_no_dx(&out.view(), &cache);
/// let (_, dw_full, db_full) = conv_backward_fast(&out.view(), &cache);
/// assert_eq!((dw, db), (dw_full, db_full));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_backward_fast_no_dx<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvCache<T>,
) -> (Array4<T>, Array1<T>) {
    let (_, dw, db) = backward_fast(dout, cache, false, None);
    (dw, db)
}

/// The backward pass on `path`, or on the one the shapes choose (the forward pass's).
fn backward_fast<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvCache<T>,
    need_dx: bool,
    path: Option<Path>,
) -> (Option<Array4<T>>, Array4<T>, Array1<T>) {
    check_dout(dout, out_dim(cache));
    let dout = dout.as_standard_layout();
    let dout = dout.as_slice().expect("standard layout");
    let chosen = passes(cache);
    let data = path.unwrap_or(chosen.data).for_layer(cache);
    let weights = path.unwrap_or(chosen.weights).for_layer(cache);
    if weights == Path::Wide {
        // Wide columns compute dx beside dW, from the same columns.
        let (dx, dw, db) = im2col_wide::backward(dout, cache, need_dx && data == Path::Wide);
        let dx = dx.or_else(|| need_dx.then(|| backward_data(dout, cache, data)));
        return (dx, dw, db);
    }
    let dx = need_dx.then(|| backward_data(dout, cache, data));
    let (dw, db) = match weights {
        Path::Winograd => winograd::backward_weights(dout, cache),
        _ => conv_batched::backward_weights(dout, cache),
    };
    (dx, dw, db)
}

/// The output's shape (N, F, H', W') for the layer of `cache`.
fn out_dim<T: Float>(cache: &ConvCache<T>) -> (usize, usize, usize, usize) {
    let (h_out, w_out) = cache.out_hw();
    (cache.x.dim().0, cache.w.dim().0, h_out, w_out)
}

/// The input gradient on `path`.
fn backward_data<T: Float>(dout: &[T], cache: &ConvCache<T>, path: Path) -> Array4<T> {
    match path {
        Path::Winograd => winograd::backward_data(dout, cache),
        Path::Chunked => conv_batched::backward_data(dout, cache),
        Path::Wide => im2col_wide::backward(dout, cache, true)
            .0
            .expect("asked for dx"),
    }
}

/// Both fast paths on demand, for the A/B runs of `benches/nn/conv_layers.rs`.
#[doc(hidden)]
pub mod ab {
    use super::*;

    pub use super::Path;

    /// [`conv_forward_fast`] on this path.
    pub fn forward<T: Float>(
        x: &ArrayView4<'_, T>,
        w: &ArrayView4<'_, T>,
        b: &ArrayView1<'_, T>,
        param: ConvParam,
        path: Path,
    ) -> Result<(Array4<T>, ConvCache<T>)> {
        forward_on(x, w, b, param, Some(path))
    }

    /// [`conv_backward_fast`] (or without dx) on this path.
    pub fn backward<T: Float>(
        dout: &ArrayView4<'_, T>,
        cache: &ConvCache<T>,
        need_dx: bool,
        path: Path,
    ) -> (Option<Array4<T>>, Array4<T>, Array1<T>) {
        backward_fast(dout, cache, need_dx, Some(path))
    }
}

/// A convolutional layer of a network (`conv{F}x{K}[s{S}]`): `F` filters of K×K over
/// `C` channels, zero padding (K−1)/2, on the fast path.
#[derive(Debug, Clone)]
pub struct Conv {
    w: String,
    b: String,
    channels: usize,
    filters: usize,
    size: usize,
    param: ConvParam,
    frozen_filters: bool,
}

impl Conv {
    /// `filters` filters of `size`×`size` over `channels` channels with this stride and
    /// "same" padding `(size − 1)/2`; parameters named `w` and `b` in the model.
    ///
    /// ```
    /// use nn::Layer;
    /// let conv = nn::Conv::new("W1", "b1", 3, 8, 3, 1);
    /// assert_eq!(Layer::<f32>::output_shape(&conv, &[3, 32, 32]).unwrap(), vec![8, 32, 32]);
    /// ```
    pub fn new(
        w: impl Into<String>,
        b: impl Into<String>,
        channels: usize,
        filters: usize,
        size: usize,
        stride: usize,
    ) -> Self {
        Self {
            w: w.into(),
            b: b.into(),
            channels,
            filters,
            size,
            param: ConvParam::new(stride, size.saturating_sub(1) / 2),
            frozen_filters: false,
        }
    }

    /// The same layer with filters that never train (`frozen`): its backward pass
    /// returns the bias gradient `db = Σ dout` alone, with no `dW`, which would be
    /// thrown away. airbench94's whitening conv is such a layer; as the first layer it
    /// needs no `dx` either, so its backward pass is one sum over `dout`.
    ///
    /// ```
    /// use ndarray::{ArrayD, IxDyn};
    /// use nn::{Conv, Layer, Mode, Params};
    /// let mut conv = Conv::new("W", "b", 3, 4, 2, 1).with_frozen_filters(true);
    /// let params = Params::from([
    ///     ("W".to_string(), ArrayD::<f64>::ones(IxDyn(&[4, 3, 2, 2]))),
    ///     ("b".to_string(), ArrayD::<f64>::zeros(IxDyn(&[4]))),
    /// ]);
    /// let x = ArrayD::<f64>::ones(IxDyn(&[2, 3, 5, 5]));
    /// let (out, cache) = conv.forward(x, &params, &mut Params::new(), Mode::Train);
    /// let (_, grads) = conv.backward(ArrayD::ones(out.raw_dim()), &cache, &params, false);
    /// assert!(!grads.contains_key("W"));
    /// assert_eq!(grads["b"], ArrayD::from_elem(IxDyn(&[4]), 2.0 * 4.0 * 4.0));
    /// ```
    pub fn with_frozen_filters(mut self, frozen: bool) -> Self {
        self.frozen_filters = frozen;
        self
    }
}

/// `db = Σ dout` over images and positions, per filter: each filter's sum in a fixed
/// order (image by image), blocks of filters in parallel.
fn bias_gradient<T: Float>(dout: &ArrayView4<'_, T>) -> Array1<T> {
    use rayon::prelude::*;
    let dout = dout.as_standard_layout();
    let (n, f, h, w) = dout.dim();
    let plane = h * w;
    let values = dout.as_slice().expect("standard layout");
    let mut sums = vec![T::zero(); f];
    sums.par_chunks_mut(LANES)
        .enumerate()
        .for_each(|(block, db)| {
            for i in 0..n {
                let first = (i * f + block * LANES) * plane;
                add_plane_sums(&values[first..][..db.len() * plane], plane, db);
            }
        });
    Array1::from(sums)
}

impl<T: Float> Layer<T> for Conv {
    fn name(&self) -> String {
        match self.param.stride {
            1 => format!("conv{}x{}", self.filters, self.size),
            s => format!("conv{}x{}s{s}", self.filters, self.size),
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
        if c != self.channels {
            return Err(Error::Channels {
                x_channels: c,
                w_channels: self.channels,
            });
        }
        let (ho, wo) = self.param.output_size(h, w, self.size, self.size)?;
        Ok(vec![self.filters, ho, wo])
    }

    fn params(&self) -> Vec<ParamSpec> {
        let (f, c, k) = (self.filters, self.channels, self.size);
        vec![
            ParamSpec::new(
                &self.w,
                vec![f, c, k, k],
                Init::Weights { fan_in: c * k * k },
            ),
            ParamSpec::new(&self.b, vec![f], Init::Zeros),
        ]
    }

    fn forward(
        &mut self,
        x: ArrayD<T>,
        params: &Params<T>,
        _: &mut Params<T>,
        _: Mode,
    ) -> (ArrayD<T>, Cache) {
        let x = batch::<T, Ix4>(x, "conv");
        let (out, cache) = forward_owned(
            x,
            &view::<T, Ix4>(params, &self.w),
            &view::<T, Ix1>(params, &self.b),
            self.param,
        )
        .expect("checked by output_shape");
        (out.into_dyn(), Box::new(cache))
    }

    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        need_dx: bool,
    ) -> (ArrayD<T>, Params<T>) {
        let cache: &ConvCache<T> = cache_of(cache, "conv");
        let dout = batch::<T, Ix4>(dout, "conv");
        if self.frozen_filters {
            check_dout(&dout.view(), out_dim(cache));
            let dx = if need_dx {
                conv_backward_fast(&dout.view(), cache).0.into_dyn()
            } else {
                no_dx()
            };
            let db = bias_gradient(&dout.view());
            return (dx, Params::from([(self.b.clone(), db.into_dyn())]));
        }
        let (dx, dw, db) = if need_dx {
            let (dx, dw, db) = conv_backward_fast(&dout.view(), cache);
            (dx.into_dyn(), dw, db)
        } else {
            let (dw, db) = conv_backward_fast_no_dx(&dout.view(), cache);
            (no_dx(), dw, db)
        };
        let grads = Params::from([
            (self.w.clone(), dw.into_dyn()),
            (self.b.clone(), db.into_dyn()),
        ]);
        (dx, grads)
    }
}

#[cfg(test)]
mod tests;
