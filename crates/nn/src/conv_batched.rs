//! Convolution as a few large GEMMs: images are taken in chunks, each chunk is laid
//! out as one matrix of receptive fields, and one product per chunk does the work.
//!
//! Per image, a 3×3 convolution on a 7×7 or 3×3 map is a product with only 49 or 9
//! receptive fields, too few for the GEMM to run near its peak (one GEMM per image
//! ran at half the speed on the 3×3 map). Stacking the receptive fields of a chunk
//! of images gives it hundreds instead (docs/conv.md has the measurements).
//!
//! The receptive fields are rows ("im2row"), read from a zero-padded channels-last
//! copy of each image (`Hp, Wp, C`): a filter row of a field is then `WW·C`
//! consecutive values, one `copy_from_slice`, where the channel-first im2col copies
//! runs of `W'` values (3 for a 3×3 map). The copy is per chunk and stays in cache;
//! activations stay (N, C, H, W) for the rest of the network. For a chunk of `b`
//! images with `P = H'·W'` positions and `K = HH·WW·C`:
//!
//! - forward: `scores (b·P, F) = rows · Wᵀ`, with `Wᵀ` (K, F) stored contiguously;
//!   each image's (P, F) block is then transposed into its place in (N, F, H', W'),
//!   bias added;
//! - backward-data: `drows (b·P, K) = doutᵀ · W`, then each row is added back onto
//!   its receptive field (the adjoint of im2row) and the image returned to (C, H, W);
//! - backward-weights: `dW (F, K) += dout (F, b·P) · rows`, summed over chunks in a
//!   fixed order, so the same thread count gives the same bits.
//!
//! Filters are used as (F, HH, WW, C), the order of a row; they are permuted on the
//! way in and `dW` on the way out (F·K values, nothing next to the products).
//! Chunks are spread over the rayon pool and each chunk's GEMM runs on its task's
//! thread, so the cores are never oversubscribed.

use std::ops::{Deref, Range};

use ndarray::{Array1, Array2, Array4, ArrayView2, ArrayViewMut2};
use numeric::Float;
use rayon::prelude::*;

use crate::conv::ConvCache;
use crate::conv_param::Geometry;

/// Receptive fields (rows) a chunk's product aims for: enough that the filters,
/// packed once per product, are reused many times.
const COLUMNS: usize = 512;

/// One convolution's geometry and how its batch is cut into chunks.
#[derive(Clone, Copy, Debug)]
struct Plan {
    geometry: Geometry,
    /// Images per chunk (per GEMM).
    batch: usize,
}

impl Deref for Plan {
    type Target = Geometry;

    fn deref(&self) -> &Geometry {
        &self.geometry
    }
}

impl Plan {
    fn of<T: Float>(cache: &ConvCache<T>) -> Self {
        let geometry = Geometry::of(cache);
        let batch = images_per_chunk(
            geometry.n,
            geometry.positions(),
            COLUMNS,
            rayon::current_num_threads(),
        );
        Self { geometry, batch }
    }

    /// Values of one zero-padded channels-last image.
    fn padded(&self) -> usize {
        self.hp() * self.wp() * self.c
    }

    fn chunks(&self) -> usize {
        self.n.div_ceil(self.batch)
    }

    /// The images of chunk `i`.
    fn images(&self, i: usize) -> Range<usize> {
        i * self.batch..((i + 1) * self.batch).min(self.n)
    }
}

/// Images per chunk: enough for `columns` columns per product (receptive fields here,
/// [`COLUMNS`]; tiles in `winograd.rs`) at `per_image` per image, with the number of
/// chunks a multiple of the thread count so that a free machine ends every thread's
/// share together.
pub(crate) fn images_per_chunk(
    n: usize,
    per_image: usize,
    columns: usize,
    threads: usize,
) -> usize {
    if n == 0 || per_image == 0 {
        return 1;
    }
    let threads = threads.max(1);
    let wanted = columns.div_ceil(per_image);
    let chunks = n.div_ceil(wanted).div_ceil(threads) * threads;
    n.div_ceil(chunks).max(1)
}

/// One thread's buffers, reused from chunk to chunk.
struct Scratch<T> {
    /// Zero-padded channels-last images (b, Hp, Wp, C); borders stay zero.
    padded: Vec<T>,
    /// Receptive fields (b·P, K), or their gradients.
    rows: Vec<T>,
    /// Scores or their gradients in product order (F, b·P).
    product: Vec<T>,
}

impl<T: Float> Scratch<T> {
    fn new(p: &Plan) -> Self {
        Self {
            padded: vec![T::zero(); p.batch * p.padded()],
            rows: vec![T::zero(); p.batch * p.positions() * p.k()],
            product: vec![T::zero(); p.batch * p.positions() * p.f],
        }
    }

    /// Fills `rows` with the receptive fields of `images` of `x` (N, C, H, W), as a
    /// (b·P, K) matrix.
    fn fill_rows(&mut self, p: &Plan, x: &[T], images: Range<usize>) {
        let len = p.positions() * p.k();
        for (j, i) in images.enumerate() {
            let padded = &mut self.padded[j * p.padded()..(j + 1) * p.padded()];
            to_padded_hwc(p, &x[i * p.image()..(i + 1) * p.image()], padded);
            im2row(p, padded, &mut self.rows[j * len..(j + 1) * len]);
        }
    }

    /// Copies `images` of `dout` (N, F, P) into `product` as one (F, b·P) matrix.
    fn fill_dout(&mut self, p: &Plan, dout: &[T], images: Range<usize>) {
        let (f, npos, b) = (p.f, p.positions(), images.len());
        for (j, i) in images.enumerate() {
            for fi in 0..f {
                let src = &dout[(i * f + fi) * npos..(i * f + fi + 1) * npos];
                self.product[(fi * b + j) * npos..(fi * b + j + 1) * npos].copy_from_slice(src);
            }
        }
    }
}

/// The first `rows × cols` values of `v` as a matrix.
fn matrix<T>(v: &[T], rows: usize, cols: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((rows, cols), &v[..rows * cols]).expect("buffer sized by the plan")
}

/// The first `rows × cols` values of `v` as a mutable matrix.
fn matrix_mut<T>(v: &mut [T], rows: usize, cols: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((rows, cols), &mut v[..rows * cols])
        .expect("buffer sized by the plan")
}

/// Image `x` (C, H, W) into `padded` (Hp, Wp, C), leaving the zero border alone.
fn to_padded_hwc<T: Float>(p: &Plan, x: &[T], padded: &mut [T]) {
    let (c, h, w, wp) = (p.c, p.h, p.w, p.wp());
    for y in 0..h {
        for xx in 0..w {
            let at = ((y + p.pad) * wp + xx + p.pad) * c;
            for (ci, v) in padded[at..at + c].iter_mut().enumerate() {
                *v = x[(ci * h + y) * w + xx];
            }
        }
    }
}

/// The interior of `padded` (Hp, Wp, C) back into `x` (C, H, W).
fn from_padded_hwc<T: Float>(p: &Plan, padded: &[T], x: &mut [T]) {
    let (c, h, w, wp) = (p.c, p.h, p.w, p.wp());
    for y in 0..h {
        for xx in 0..w {
            let at = ((y + p.pad) * wp + xx + p.pad) * c;
            for (ci, &v) in padded[at..at + c].iter().enumerate() {
                x[(ci * h + y) * w + xx] = v;
            }
        }
    }
}

/// The receptive field of each output position of one padded image, as the rows of
/// `rows` (P, K) in (HH, WW, C) order: `HH` copies of `WW·C` consecutive values.
fn im2row<T: Float>(p: &Plan, padded: &[T], rows: &mut [T]) {
    let (run, wp, c, k) = (p.ww * p.c, p.wp(), p.c, p.k());
    for oh in 0..p.h_out {
        for ow in 0..p.w_out {
            let row = &mut rows[(oh * p.w_out + ow) * k..][..k];
            for i in 0..p.hh {
                let at = ((oh * p.stride + i) * wp + ow * p.stride) * c;
                row[i * run..(i + 1) * run].copy_from_slice(&padded[at..at + run]);
            }
        }
    }
}

/// The adjoint of [`im2row`]: adds each row back onto its receptive field in
/// `padded` (Hp, Wp, C), which must start zeroed.
fn row2im<T: Float>(p: &Plan, rows: &[T], padded: &mut [T]) {
    let (run, wp, c, k) = (p.ww * p.c, p.wp(), p.c, p.k());
    for oh in 0..p.h_out {
        for ow in 0..p.w_out {
            let row = &rows[(oh * p.w_out + ow) * k..][..k];
            for i in 0..p.hh {
                let at = ((oh * p.stride + i) * wp + ow * p.stride) * c;
                for (d, &s) in padded[at..at + run]
                    .iter_mut()
                    .zip(&row[i * run..(i + 1) * run])
                {
                    *d += s;
                }
            }
        }
    }
}

/// One image's scores (P, F) transposed into `out` (F, P), plus the biases.
fn scores_to_nchw<T: Float>(scores: &[T], b: &[T], out: &mut [T]) {
    let f = b.len();
    let npos = out.len() / f.max(1);
    // Blocks of positions keep the reads of `scores` within a few cache lines per filter.
    const BLOCK: usize = 16;
    for p0 in (0..npos).step_by(BLOCK) {
        let p1 = (p0 + BLOCK).min(npos);
        for (fi, &bias) in b.iter().enumerate() {
            let dst = &mut out[fi * npos + p0..fi * npos + p1];
            for (d, pos) in dst.iter_mut().zip(p0..p1) {
                *d = scores[pos * f + fi] + bias;
            }
        }
    }
}

/// Filters (F, C, HH, WW) as the matrix (F, HH·WW·C) that multiplies the rows.
fn filters_by_row<T: Float>(w: &Array4<T>) -> Array2<T> {
    let (f, c, hh, ww) = w.dim();
    w.view()
        .permuted_axes([0, 2, 3, 1])
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((f, hh * ww * c))
        .expect("standard layout")
}

/// The forward pass on checked shapes: `out` (N, F, H', W') of `cache.x`, `cache.w`, `b`.
pub(crate) fn forward<T: Float>(cache: &ConvCache<T>, b: &[T]) -> Array4<T> {
    let p = Plan::of(cache);
    let (npos, k) = (p.positions(), p.k());
    let mut out = Array4::<T>::zeros((p.n, p.f, p.h_out, p.w_out));
    if out.is_empty() {
        return out;
    }
    // (K, F) in memory, so that the product `rows · w_rows_t` reads both operands
    // along their rows.
    let w_rows_t = filters_by_row(&cache.w)
        .reversed_axes()
        .as_standard_layout()
        .into_owned();
    let w_rows_t = w_rows_t.view();
    let x = cache.x.as_slice().expect("standard layout");
    let per_image = p.f * npos;
    out.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(p.batch * per_image)
        .enumerate()
        .for_each_init(
            || Scratch::new(&p),
            |s, (chunk, out_c)| {
                let images = p.images(chunk);
                let cols = images.len() * npos;
                s.fill_rows(&p, x, images.clone());
                let rows = matrix(&s.rows, cols, k);
                let mut scores = matrix_mut(&mut s.product, cols, p.f);
                numeric::gemm(T::one(), &rows, &w_rows_t, T::zero(), &mut scores);
                for j in 0..images.len() {
                    scores_to_nchw(
                        &s.product[j * npos * p.f..(j + 1) * npos * p.f],
                        b,
                        &mut out_c[j * per_image..(j + 1) * per_image],
                    );
                }
            },
        );
    out
}

/// The input gradient `dx` (N, C, H, W) of `dout` (N, F, H', W') on checked shapes.
pub(crate) fn backward_data<T: Float>(dout: &[T], cache: &ConvCache<T>) -> Array4<T> {
    let p = Plan::of(cache);
    let (npos, k, image) = (p.positions(), p.k(), p.image());
    let mut dx = Array4::<T>::zeros(cache.x.dim());
    if dx.is_empty() {
        return dx;
    }
    let w_rows = filters_by_row(&cache.w);
    dx.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(p.batch * image)
        .enumerate()
        .for_each_init(
            || Scratch::new(&p),
            |s, (chunk, dx_c)| {
                let images = p.images(chunk);
                let cols = images.len() * npos;
                s.fill_dout(&p, dout, images.clone());
                let dout_c = matrix(&s.product, p.f, cols);
                let mut drows = matrix_mut(&mut s.rows, cols, k);
                numeric::gemm(T::one(), &dout_c.t(), &w_rows.view(), T::zero(), &mut drows);
                for j in 0..images.len() {
                    let padded = &mut s.padded[j * p.padded()..(j + 1) * p.padded()];
                    padded.fill(T::zero());
                    row2im(&p, &s.rows[j * npos * k..(j + 1) * npos * k], padded);
                    from_padded_hwc(&p, padded, &mut dx_c[j * image..(j + 1) * image]);
                }
            },
        );
    dx
}

/// The parameter gradients `(dW, db)` of `dout` (N, F, H', W') on checked shapes.
pub(crate) fn backward_weights<T: Float>(
    dout: &[T],
    cache: &ConvCache<T>,
) -> (Array4<T>, Array1<T>) {
    let p = Plan::of(cache);
    let (npos, k) = (p.positions(), p.k());
    let x = cache.x.as_slice().expect("standard layout");
    struct Partial<T> {
        dw: Array2<T>,
        db: Array1<T>,
        scratch: Scratch<T>,
    }
    let new_partial = || Partial {
        dw: Array2::zeros((p.f, k)),
        db: Array1::zeros(p.f),
        scratch: Scratch::new(&p),
    };
    let step = |mut acc: Partial<T>, chunk: usize| {
        let images = p.images(chunk);
        let cols = images.len() * npos;
        acc.scratch.fill_rows(&p, x, images.clone());
        acc.scratch.fill_dout(&p, dout, images);
        let dout_c = matrix(&acc.scratch.product, p.f, cols);
        let rows = matrix(&acc.scratch.rows, cols, k);
        numeric::gemm(T::one(), &dout_c, &rows, T::one(), &mut acc.dw.view_mut());
        for (db, row) in acc.db.iter_mut().zip(dout_c.rows()) {
            *db += row.iter().copied().sum::<T>();
        }
        acc
    };
    let add = |mut a: Partial<T>, b: Partial<T>| {
        a.dw += &b.dw;
        a.db += &b.db;
        a
    };
    let chunks = p.chunks();
    let total = numeric::fold_chunks_in_order(
        (0..chunks).into_par_iter(),
        numeric::chunk_for_threads(chunks),
        new_partial,
        step,
        add,
    );
    let (dw, db) = match total {
        Some(t) => (t.dw, t.db),
        None => (Array2::zeros((p.f, k)), Array1::zeros(p.f)),
    };
    let dw = dw
        .into_shape_with_order((p.f, p.hh, p.ww, p.c))
        .expect("F·HH·WW·C values")
        .permuted_axes([0, 3, 1, 2])
        .as_standard_layout()
        .into_owned();
    (dw, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::ConvParam;
    use crate::{conv_backward_naive, conv_forward_naive};
    use backprop::gradcheck::rel_error;

    /// (N, C, H, W, F, HH, WW, stride, pad): 'same' 3×3, strided, even and wider-than-image kernels.
    const SHAPES: [(
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
    ); 7] = [
        (5, 3, 7, 7, 4, 3, 3, 1, 1),
        (3, 2, 8, 6, 3, 2, 2, 1, 0),
        (4, 3, 9, 9, 2, 3, 3, 2, 1),
        (2, 4, 5, 5, 3, 5, 5, 1, 2),
        (3, 2, 3, 3, 5, 3, 3, 1, 1),
        (2, 1, 4, 4, 2, 7, 7, 1, 3),
        (70, 2, 3, 3, 3, 3, 3, 1, 1),
    ];

    #[test]
    fn matches_the_naive_layer_in_f64() {
        let mut rng = numeric::rng(7);
        for (n, c, h, w, f, hh, ww, s, pad) in SHAPES {
            let x: Array4<f64> = numeric::randn((n, c, h, w), &mut rng);
            let wt: Array4<f64> = numeric::randn((f, c, hh, ww), &mut rng);
            let b: Array1<f64> = numeric::randn(f, &mut rng);
            let param = ConvParam::new(s, pad);
            let (naive, cache) =
                conv_forward_naive(&x.view(), &wt.view(), &b.view(), param).unwrap();
            let fast = forward(&cache, b.as_slice().unwrap());
            assert!(
                rel_error(&fast.view(), &naive.view()) < 1e-10,
                "forward {:?}",
                (n, c, h, w, f, hh, s, pad)
            );
            let dout: Array4<f64> = numeric::randn(naive.dim(), &mut rng);
            let (dx, dw, db) = conv_backward_naive(&dout.view(), &cache);
            let d = dout.as_slice().unwrap();
            let fast_dx = backward_data(d, &cache);
            let (fast_dw, fast_db) = backward_weights(d, &cache);
            assert!(
                rel_error(&fast_dx.view(), &dx.view()) < 1e-10,
                "dx {:?}",
                (n, c, h, w, f, hh, s, pad)
            );
            assert!(
                rel_error(&fast_dw.view(), &dw.view()) < 1e-10,
                "dw {:?}",
                (n, c, h, w, f, hh, s, pad)
            );
            assert!(rel_error(&fast_db.view(), &db.view()) < 1e-10);
        }
    }
}
