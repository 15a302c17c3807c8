//! Winograd's minimal filtering, F(4×4, 3×3), for 3×3 'same' convolutions at stride 1
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016).
//!
//! A convolution is many small dot products, and neighbouring outputs' dot products
//! read overlapping pixels. Winograd shares that work: a 4×4 block of outputs of one
//! filter over one channel needs 16·9 = 144 multiplications done directly, but only
//! 36 after its 6×6 input tile `d` and the 3×3 filter `g` are each transformed into
//! 36 numbers ("points"). In one dimension, with the points 0, ±1, ±2 and ∞,
//!
//! ```text
//! y = Aᵀ [(G g) ⊙ (Bᵀ d)]    (4 outputs from 6 inputs and 3 taps)
//! ```
//!
//! and in two, `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Summed over input channels, the 36
//! point-wise products of every (tile, filter) pair become 36 independent matrix
//! products — one per point ξ:
//!
//! ```text
//! M[ξ] (tiles, F) = V[ξ] (tiles, C) · U[ξ] (C, F),   V = Bᵀ d B,  U = G g Gᵀ
//! ```
//!
//! so the multiplications still run in the GEMM, 2.25× (3×3 maps) to 3.75× (31×31)
//! fewer of them than the direct convolution, with the tiles that overhang the map
//! (odd sides 31, 15, 7, 3) reading zeros and their extra outputs dropped. The tiles'
//! transforms and copies are in `winograd_tiles.rs`.
//!
//! - **forward**: transform the filters once (`U`), then per chunk of images the input
//!   tiles (`V`), 36 GEMMs, and the output transform `Aᵀ M A` plus the bias; with
//!   four filters per channel or more on maps of 16 tiles or more, the tiles are read
//!   from and written to the planes directly (`winograd_planes.rs`), otherwise through
//!   channels-last copies;
//! - **backward-data** is the same routine on `dout`, with each filter turned by 180°
//!   and the roles of `C` and `F` swapped (a 'same' 3×3 convolution's adjoint);
//! - **backward-weights** is F(3×3, 4×4), the same identity read the other way: the
//!   6×6 transforms of the input tiles (`Bᵀ d B`) and of the `dout` tiles (`A e Aᵀ`,
//!   4×4 → 6×6), 36 products `dW[ξ] += V[ξ]ᵀ · E[ξ]` reduced over every tile, then the
//!   3×3 output transform `Gᵀ dW[ξ] G`.
//!
//! The transforms are exact in real arithmetic; in floating point `G` holds sixths
//! and twenty-fourths and `A` powers of 2 up to 8, so f32 results carry a few 1e-6 of
//! the output's scale (docs/conv.md gives the measured bounds; the tests check them).
//! Chunks of images are spread over the rayon pool with each GEMM on its task's
//! thread, and `dW` is summed over chunks in a fixed order: the same thread count
//! gives the same bits.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::Range;

use ndarray::{Array1, Array4, ArrayView2, ArrayViewMut2};
use numeric::{Float, MatmulPrecision, PackedA, PackedB};
use rayon::prelude::*;

use crate::conv::ConvCache;
use crate::planes::add_plane_sums;
use crate::winograd_planes;
use crate::winograd_tiles::{
    ALPHA, M, POINTS, Tiling, dout_tiles, filter_gradient, filter_tiles, input_tiles,
    input_tiles_bf16, output_tiles, to_channels_first, to_channels_last,
};

/// Whether Winograd F(4×4, 3×3) computes this layer: 3×3 filters, stride 1, pad 1.
pub(crate) fn fits<T: Float>(cache: &ConvCache<T>) -> bool {
    let (_, _, hh, ww) = cache.w.dim();
    (hh, ww) == (3, 3) && cache.param.stride == 1 && cache.param.pad == 1
}

/// The first `rows × cols` values of `v` as a matrix.
pub(crate) fn matrix<T>(v: &[T], rows: usize, cols: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((rows, cols), &v[..rows * cols]).expect("buffer sized by the tiling")
}

/// The first `rows × cols` values of `v` as a mutable matrix.
pub(crate) fn matrix_mut<T>(v: &mut [T], rows: usize, cols: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((rows, cols), &mut v[..rows * cols])
        .expect("buffer sized by the tiling")
}

/// Buffers a thread keeps for the layers it has run, at most: airbench94's network
/// has about a dozen Winograd routines of distinct sizes (forward and backward-data
/// of each conv, in each buffer type).
const KEPT: usize = 16;

/// The sizes a thread's kept buffers are made for: (C, F, H, W, images per chunk).
type Sizes = (usize, usize, usize, usize, usize);

thread_local! {
    /// Each thread's buffers per tiling and buffer type, kept from call to call: made
    /// (and zeroed) once, they need no zeroing later, as every chunk writes what it
    /// reads and the padding's borders stay zero. Allocating and zeroing ~12 MB per
    /// rayon split took 2 % of the bf16 training step.
    static KEPT_BUFFERS: RefCell<Vec<(Sizes, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's buffers of type `S` for tiling `t`, made by `new` on the
/// first use with these sizes (the oldest kept ones dropped past [`KEPT`]). `f` must
/// not run Winograd routines itself (the buffers are borrowed meanwhile).
pub(crate) fn with_kept<S: 'static, R>(
    t: &Tiling,
    new: impl FnOnce() -> S,
    f: impl FnOnce(&mut S) -> R,
) -> R {
    let sizes = (t.c, t.f, t.h, t.w, t.batch);
    KEPT_BUFFERS.with_borrow_mut(|kept| {
        let found = kept.iter().position(|(k, s)| *k == sizes && s.is::<S>());
        let at = found.unwrap_or_else(|| {
            if kept.len() == KEPT {
                kept.remove(0);
            }
            kept.push((sizes, Box::new(new())));
            kept.len() - 1
        });
        f(kept[at].1.downcast_mut().expect("of type S"))
    })
}

/// One thread's buffers, reused from chunk to chunk (and for `convolve` from call to
/// call, [`with_kept`]).
struct Scratch<T> {
    /// The chunk's images, zero-padded, channels last ([`Tiling::padded`]).
    padded: Vec<T>,
    /// One tile's half-transformed values.
    tmp: Vec<T>,
    /// The transformed input tiles V[ξ] (sized on first use).
    v: Vec<T>,
    /// The products M[ξ], or the transformed `dout` tiles E[ξ].
    m: Vec<T>,
    /// The chunk's outputs (b, 4·tiles_h, 4·tiles_w, F), or its `dout` there.
    y: Vec<T>,
    /// Under bf16 products, V[ξ] packed by the transform (made on first use) ...
    packed_v: Vec<PackedA>,
    /// ... from one row of a tile's transformed values at a time (6·C).
    row: Vec<T>,
}

impl<T: Float> Scratch<T> {
    fn new(t: &Tiling) -> Self {
        let (hp, wp) = t.padded();
        let tiles = t.batch * t.tiles();
        Self {
            padded: vec![T::zero(); t.batch * hp * wp * t.c],
            tmp: vec![T::zero(); POINTS * t.c.max(t.f)],
            v: Vec::new(),
            m: vec![T::zero(); POINTS * tiles * t.f],
            y: vec![T::zero(); tiles * M * M * t.f],
            packed_v: Vec::new(),
            row: Vec::new(),
        }
    }

    /// `V` of the chunk `images` of `x` (N, t.c, H, W).
    fn transform_input(&mut self, t: &Tiling, x: &[T], images: Range<usize>) {
        let (hp, wp) = t.padded();
        let b = images.len();
        self.v.resize(POINTS * t.batch * t.tiles() * t.c, T::zero());
        to_channels_last(t, x, images, (hp, wp, 1), &mut self.padded);
        input_tiles(t, &self.padded, b, &mut self.tmp, &mut self.v);
    }

    /// `M[ξ] = V[ξ]·U[ξ]` for the 36 points of the chunk `images` of `x`: under
    /// packed filters with `V[ξ]` written in bf16 by the transform, so that it is
    /// neither stored in f32 nor packed by the product.
    fn products(&mut self, t: &Tiling, x: &[T], images: Range<usize>, filters: &Filters<'_, T>) {
        let (b, cols) = (images.len(), images.len() * t.tiles());
        match filters {
            Filters::Values(u, precision) => {
                self.transform_input(t, x, images);
                for xi in 0..POINTS {
                    let v = matrix(&self.v[xi * cols * t.c..], cols, t.c);
                    let u = matrix(&u[xi * t.c * t.f..], t.c, t.f);
                    let mut m = matrix_mut(&mut self.m[xi * cols * t.f..], cols, t.f);
                    numeric::gemm_with_precision(*precision, T::one(), &v, &u, T::zero(), &mut m);
                }
            }
            Filters::Packed(u) => {
                let (hp, wp) = t.padded();
                to_channels_last(t, x, images, (hp, wp, 1), &mut self.padded);
                if self.packed_v.is_empty() {
                    self.packed_v = (0..POINTS)
                        .map(|_| PackedA::new().expect("packed filters: the CPU has bf16"))
                        .collect();
                }
                self.row.resize(ALPHA * t.c, T::zero());
                // Packed filters exist only for f32 (`packed_filters`).
                let f32s = as_f32(&self.padded).zip(as_f32_mut(&mut self.tmp));
                let (padded, tmp) = f32s.expect("f32 tiles");
                let f32s = as_f32_mut(&mut self.row).zip(as_f32_mut(&mut self.m));
                let (row, m) = f32s.expect("f32 tiles");
                input_tiles_bf16(t, padded, b, tmp, row, &mut self.packed_v);
                for (xi, (v, u)) in self.packed_v.iter().zip(u.iter()).enumerate() {
                    let mut m = matrix_mut(&mut m[xi * cols * t.f..], cols, t.f);
                    numeric::gemm_packed_a(v, u, 0.0, &mut m);
                }
            }
        }
    }
}

/// The right operands `U[ξ]` (C, F) of one layer call's 36 products.
enum Filters<'a, T> {
    /// As values, each product through `numeric::gemm` at this precision.
    Values(&'a [T], MatmulPrecision),
    /// Rounded to bf16 and packed once, shared read-only by every chunk's thread; the
    /// transform writes each chunk's `V[ξ]` packed too (same bits as `numeric::gemm`).
    Packed(&'a [PackedB]),
}

/// `s` as the f32 values it holds, when `T` is f32.
fn as_f32<T: 'static>(s: &[T]) -> Option<&[f32]> {
    // SAFETY: T is f32 (the same TypeId): the same layout, and the same length.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) })
}

/// [`as_f32`] of a mutable slice.
fn as_f32_mut<T: 'static>(s: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: as in `as_f32`; the borrow of `s` passes to the result.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) })
}

/// The 36 `U[ξ]` (`u` as [`filter_tiles`] gives them, (C, F) each) packed for bf16
/// products, when `T` is f32, bf16 products are in force, and the CPU runs them.
fn packed_filters<T: Float>(t: &Tiling, u: &[T]) -> Option<Vec<PackedB>> {
    if numeric::matmul_precision() != MatmulPrecision::Bf16 {
        return None;
    }
    let u = as_f32(u)?;
    (0..POINTS)
        .into_par_iter()
        .map(|xi| PackedB::new(&matrix(&u[xi * t.c * t.f..], t.c, t.f)))
        .collect()
}

/// The 'same' 3×3 convolution of `x` (N, t.c, H, W) by the transformed filters
/// (36 × (t.c, t.f)), plus `bias`, into `out` (N, t.f, H, W), every element of which
/// is written ([`to_channels_first`]).
fn convolve<T: Float>(
    t: &Tiling,
    x: &[T],
    filters: &Filters<'_, T>,
    bias: Option<&[T]>,
    out: &mut [MaybeUninit<T>],
) {
    out.par_chunks_mut(t.batch * t.f * t.plane())
        .enumerate()
        .for_each(|(chunk, out_c)| {
            with_kept(
                t,
                || Scratch::new(t),
                |s| {
                    let images = t.images(chunk);
                    let b = images.len();
                    s.products(t, x, images, filters);
                    output_tiles(t, &s.m, b, &mut s.tmp, &mut s.y);
                    to_channels_first(t, &s.y, bias, out_c);
                },
            )
        });
}

/// A new (N, t.f, H, W) array: a Winograd routine's output, written by `write`, which
/// must write every element of the slice it is given.
fn written<T: Float>(t: &Tiling, write: impl FnOnce(&mut [MaybeUninit<T>])) -> Array4<T> {
    let mut out = Array4::<T>::uninit((t.n, t.f, t.h, t.w));
    write(out.as_slice_mut().expect("fresh array"));
    // SAFETY: `write` is `convolve` (either layout), which writes every element: the
    // chunks of images cover the N images, and each chunk's output transform writes
    // all F planes of H×W pixels of each of its images (with the bias).
    unsafe { out.assume_init() }
}

/// [`convolve`] by the filter tiles `u` into a new array, with the filters packed once
/// for the call under bf16 products.
fn convolve_by<T: Float>(t: &Tiling, x: &[T], u: &[T], bias: Option<&[T]>) -> Array4<T> {
    let packed = packed_filters(t, u);
    let filters = match &packed {
        Some(p) => Filters::Packed(p),
        None => Filters::Values(u, numeric::matmul_precision()),
    };
    written(t, |out| convolve(t, x, &filters, bias, out))
}

/// The forward pass on checked shapes ([`fits`]): `out` (N, F, H, W) of `cache.x`,
/// `cache.w`, `b`.
pub(crate) fn forward<T: Float>(cache: &ConvCache<T>, b: &[T]) -> Array4<T> {
    let (n, c, h, w) = cache.x.dim();
    let f = cache.w.dim().0;
    if n * f * h * w == 0 {
        return Array4::zeros((n, f, h, w));
    }
    let t = Tiling::new(n, c, f, h, w);
    let x = cache.x.as_slice().expect("standard layout");
    if winograd_planes::wins(&t) {
        let u = filter_tiles(&cache.w, false, true);
        written(&t, |out| winograd_planes::convolve(&t, x, &u, Some(b), out))
    } else {
        let u = filter_tiles(&cache.w, false, false);
        convolve_by(&t, x, &u, Some(b))
    }
}

/// The input gradient `dx` (N, C, H, W) of `dout` (N, F, H, W) on checked shapes:
/// the forward routine on `dout` with the filters turned by 180° and C, F swapped.
pub(crate) fn backward_data<T: Float>(dout: &[T], cache: &ConvCache<T>) -> Array4<T> {
    let (n, c, h, w) = cache.x.dim();
    let f = cache.w.dim().0;
    if n * c * h * w == 0 {
        return Array4::zeros((n, c, h, w));
    }
    let t = Tiling::new(n, f, c, h, w);
    let u = filter_tiles(&cache.w, true, false);
    convolve_by(&t, dout, &u, None)
}

/// The parameter gradients `(dW, db)` of `dout` (N, F, H, W) on checked shapes, by
/// F(3×3, 4×4): `dW[ξ] = Σ V[ξ]ᵀ · E[ξ]` over every tile, then `Gᵀ dW[ξ] G`.
pub(crate) fn backward_weights<T: Float>(
    dout: &[T],
    cache: &ConvCache<T>,
) -> (Array4<T>, Array1<T>) {
    let (n, c, h, w) = cache.x.dim();
    let f = cache.w.dim().0;
    let t = Tiling::new(n, c, f, h, w);
    let x = cache.x.as_slice().expect("standard layout");
    // `dout` read as the input of a convolution with F channels.
    let t_dout = Tiling { c: f, ..t };
    let (h4, w4) = (t.tiles_h() * M, t.tiles_w() * M);
    struct Partial<T> {
        /// The 36 matrices (C, F) of the transformed `dW`.
        dw: Vec<T>,
        db: Vec<T>,
        scratch: Scratch<T>,
    }
    let new_partial = || Partial {
        dw: vec![T::zero(); POINTS * c * f],
        db: vec![T::zero(); f],
        scratch: Scratch::new(&t),
    };
    let step = |mut acc: Partial<T>, chunk: usize| {
        let images = t.images(chunk);
        let b = images.len();
        let cols = b * t.tiles();
        let s = &mut acc.scratch;
        s.transform_input(&t, x, images.clone());
        to_channels_last(&t_dout, dout, images.clone(), (h4, w4, 0), &mut s.y);
        dout_tiles(&t, &s.y, b, &mut s.tmp, &mut s.m);
        for xi in 0..POINTS {
            let v = matrix(&s.v[xi * cols * c..], cols, c);
            let e = matrix(&s.m[xi * cols * f..], cols, f);
            let mut dw = matrix_mut(&mut acc.dw[xi * c * f..], c, f);
            numeric::gemm(T::one(), &v.t(), &e, T::one(), &mut dw);
        }
        for i in images {
            add_plane_sums(
                &dout[i * f * t.plane()..][..f * t.plane()],
                t.plane(),
                &mut acc.db,
            );
        }
        acc
    };
    let add = |mut a: Partial<T>, b: Partial<T>| {
        // In parallel: a partial `dw` holds 36·C·F values (9.4 MB at 256→256).
        a.dw.par_iter_mut()
            .zip(&b.dw)
            .with_min_len(1 << 14)
            .for_each(|(a, &b)| *a += b);
        a.db.iter_mut().zip(&b.db).for_each(|(a, &b)| *a += b);
        a
    };
    let chunks = if t.n == 0 || t.plane() == 0 {
        0
    } else {
        t.chunks()
    };
    let total = numeric::fold_chunks_in_order(
        (0..chunks).into_par_iter(),
        numeric::chunk_for_threads(chunks),
        new_partial,
        step,
        add,
    );
    match total {
        Some(total) => (filter_gradient(&total.dw, c, f), Array1::from(total.db)),
        None => (Array4::zeros((f, c, 3, 3)), Array1::zeros(f)),
    }
}

#[cfg(test)]
mod tests;
