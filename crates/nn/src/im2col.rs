//! The fast convolution, as the course's `fast_layers.py` and `im2col.py`: every
//! receptive field of an image is laid out as a column ([`im2col`]), so the whole
//! convolution is one GEMM per image; the backward pass is GEMMs and the adjoint
//! `col2im`. Images are spread over the rayon pool (the GEMM inside then runs on its
//! task's thread only, so the cores are never oversubscribed).
//!
//! Same inputs, outputs and [`ConvCache`] as the naive loops of [`crate::conv_forward_naive`], and
//! the same numbers to rounding, so either backward pass can follow either forward.
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

use ndarray::{
    Array1, Array2, Array4, ArrayD, ArrayView1, ArrayView2, ArrayView4, ArrayViewMut2, Ix1, Ix4,
};
use numeric::Float;
use rayon::prelude::*;

use crate::Params;
use crate::conv::{ConvCache, ConvParam, check_dout, check_shapes};
use crate::conv_batched;
use crate::error::{Error, Result};
use crate::layer::{Cache, Init, Layer, Mode, ParamSpec, batch, cache_of, no_dx, view};

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
                    if lo == hi {
                        // Filter column j reads only padding on this row (a filter
                        // wider than the image).
                    } else if g.stride == 1 {
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
                    if lo == hi {
                        // Only padding under filter column j: nothing to add back.
                    } else if g.stride == 1 {
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
/// pool. Same inputs, output and cache as [`conv_forward_naive`](crate::conv_forward_naive), and the same
/// numbers to rounding (tested to 1e-10 in f64).
///
/// Why per image rather than one GEMM over the whole batch: the column matrix of one
/// image stays in the core's L2 cache between im2col and the GEMM, and the output lands
/// directly in (N, F, H', W') order without a transpose (see `benches/cnn.rs`).
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

/// [`conv_forward_fast`] on the path `chunked` asks for, or on the one the shapes
/// choose (see [`conv_batched::chunked`]).
fn forward_on<T: Float>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
    chunked: Option<bool>,
) -> Result<(Array4<T>, ConvCache<T>)> {
    check_shapes(x, w, b, param)?;
    let cache = ConvCache {
        x: x.as_standard_layout().into_owned(),
        w: w.as_standard_layout().into_owned(),
        param,
    };
    let g = Geometry::of(&cache);
    let out = if chunked.unwrap_or_else(|| conv_batched::chunked(g.positions())) {
        conv_batched::forward(&cache, &b.to_vec())
    } else {
        forward_per_image(&cache, b, &g)
    };
    Ok((out, cache))
}

/// The forward pass one image at a time: im2col, then one GEMM per image.
fn forward_per_image<T: Float>(
    cache: &ConvCache<T>,
    b: &ArrayView1<'_, T>,
    g: &Geometry,
) -> Array4<T> {
    let n = cache.x.dim().0;
    let f = cache.w.dim().0;
    let (k, npos) = (g.k(), g.positions());
    let w_mat = cache
        .w
        .view()
        .into_shape_with_order((f, k))
        .expect("standard layout");
    let x_flat = cache.x.as_slice().expect("standard layout");
    let image = g.c * g.h * g.w;
    let mut out = Array4::<T>::zeros((n, f, g.h_out, g.w_out));
    if out.is_empty() {
        return out;
    }
    out.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(f * npos)
        .enumerate()
        .for_each_init(
            || vec![T::zero(); k * npos],
            |cols, (i, out_i)| {
                im2col(&x_flat[i * image..(i + 1) * image], g, cols);
                for (row, &bias) in out_i.chunks_mut(npos).zip(b.iter()) {
                    row.fill(bias);
                }
                let cols = ArrayView2::from_shape((k, npos), &cols[..]).expect("sized above");
                let mut out_i =
                    ArrayViewMut2::from_shape((f, npos), out_i).expect("chunk of F·H'·W'");
                numeric::gemm(T::one(), &w_mat, &cols, T::one(), &mut out_i);
            },
        );
    out
}

/// Fast convolution backward pass (im2col/col2im + GEMM, parallel over images):
/// `dw = Σₙ dout_n · colsₙᵀ`, `db = Σ dout`, `dx_n = col2im(Wᵀ · dout_n)`.
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

/// Per-task accumulators of the backward pass, summed over tasks at the end.
struct Partial<T> {
    /// dwᵀ (K, F): accumulated as `cols · doutᵀ` (see `backward_fast`).
    dw_t: Array2<T>,
    db: Array1<T>,
    cols: Vec<T>,
    dout_t: Vec<T>,
    dcols: Vec<T>,
}

/// The backward pass on the path `chunked` asks for, or on the one the shapes choose
/// (the forward pass's choice).
fn backward_fast<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvCache<T>,
    need_dx: bool,
    chunked: Option<bool>,
) -> (Option<Array4<T>>, Array4<T>, Array1<T>) {
    let g = Geometry::of(cache);
    let (n, _, _, _) = cache.x.dim();
    let (f, _, _, _) = cache.w.dim();
    check_dout(dout, (n, f, g.h_out, g.w_out));
    let dout = dout.as_standard_layout();
    let dout_flat = dout.as_slice().expect("standard layout");
    if chunked.unwrap_or_else(|| conv_batched::chunked(g.positions())) {
        let dx = need_dx.then(|| conv_batched::backward_data(dout_flat, cache));
        let (dw, db) = conv_batched::backward_weights(dout_flat, cache);
        return (dx, dw, db);
    }
    backward_per_image(dout_flat, cache, &g, need_dx)
}

/// The backward pass one image at a time (see [`forward_per_image`]).
fn backward_per_image<T: Float>(
    dout_flat: &[T],
    cache: &ConvCache<T>,
    g: &Geometry,
    need_dx: bool,
) -> (Option<Array4<T>>, Array4<T>, Array1<T>) {
    let g = *g;
    let (n, _, _, _) = cache.x.dim();
    let (f, _, _, _) = cache.w.dim();
    let (k, npos) = (g.k(), g.positions());
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
    // Images are summed in fixed chunks, one per thread, and the chunks' dW added in
    // order: the same seed and thread count give the same bits (a `fold` would group
    // images by work stealing).
    let chunk = numeric::chunk_for_threads(n);
    let (dx, total) = if need_dx {
        let mut dx = Array4::<T>::zeros(cache.x.dim());
        let images = dx
            .as_slice_mut()
            .expect("fresh array")
            .par_chunks_mut(image.max(1))
            .take(n)
            .enumerate()
            .map(|(i, dx_i)| (i, Some(dx_i)));
        let total = numeric::fold_chunks_in_order(images, chunk, new_partial, step, add);
        (Some(dx), total)
    } else {
        let images = (0..n).into_par_iter().map(|i| (i, None));
        let total = numeric::fold_chunks_in_order(images, chunk, new_partial, step, add);
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

/// Both fast paths on demand, for the A/B runs of `benches/conv_layers.rs`.
#[doc(hidden)]
pub mod ab {
    use super::*;

    /// [`conv_forward_fast`] on the chunked path (`true`) or per image (`false`).
    pub fn forward<T: Float>(
        x: &ArrayView4<'_, T>,
        w: &ArrayView4<'_, T>,
        b: &ArrayView1<'_, T>,
        param: ConvParam,
        chunked: bool,
    ) -> Result<(Array4<T>, ConvCache<T>)> {
        forward_on(x, w, b, param, Some(chunked))
    }

    /// [`conv_backward_fast`] (or without dx) on the chunked path or per image.
    pub fn backward<T: Float>(
        dout: &ArrayView4<'_, T>,
        cache: &ConvCache<T>,
        need_dx: bool,
        chunked: bool,
    ) -> (Option<Array4<T>>, Array4<T>, Array1<T>) {
        backward_fast(dout, cache, need_dx, Some(chunked))
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
        }
    }
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
        let (out, cache) = conv_forward_fast(
            &x.view(),
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
mod tests {
    use super::*;

    /// Zero filters make an empty output and empty parameter gradients, on both the
    /// per-image path (32×32 maps) and the chunked one (4×4 maps); dx is all zeros.
    #[test]
    fn zero_filters_give_empty_outputs() {
        for side in [32, 4] {
            let x = Array4::<f64>::ones((3, 2, side, side));
            let w = Array4::<f64>::zeros((0, 2, 3, 3));
            let b = Array1::<f64>::zeros(0);
            let (out, cache) =
                conv_forward_fast(&x.view(), &w.view(), &b.view(), ConvParam::new(1, 1)).unwrap();
            assert_eq!(out.dim(), (3, 0, side, side));
            let (dx, dw, db) = conv_backward_fast(&out.view(), &cache);
            assert_eq!(dx.dim(), x.dim());
            assert!(dx.iter().all(|&v| v == 0.0));
            assert_eq!((dw.dim(), db.len()), ((0, 2, 3, 3), 0));
        }
    }
}
