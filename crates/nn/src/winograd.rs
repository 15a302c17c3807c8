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
use crate::winograd_planes;
use crate::winograd_tiles::{
    ALPHA, M, POINTS, Tiling, both_axes, dout_tiles, filter_tiles, gt, input_tiles,
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
            for (fi, db) in acc.db.iter_mut().enumerate() {
                *db += dout[(i * f + fi) * t.plane()..][..t.plane()]
                    .iter()
                    .copied()
                    .sum::<T>();
            }
        }
        acc
    };
    let add = |mut a: Partial<T>, b: Partial<T>| {
        a.dw.iter_mut().zip(&b.dw).for_each(|(a, &b)| *a += b);
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
    let mut dw = Array4::<T>::zeros((f, c, 3, 3));
    let Some(total) = total else {
        return (dw, Array1::zeros(f));
    };
    for fi in 0..f {
        for ci in 0..c {
            let mm: [[T; ALPHA]; ALPHA] = std::array::from_fn(|a| {
                std::array::from_fn(|b| total.dw[((a * ALPHA + b) * c + ci) * f + fi])
            });
            for (i, row) in both_axes(mm, gt).iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    dw[[fi, ci, i, j]] = v;
                }
            }
        }
    }
    (dw, Array1::from(total.db))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::ConvParam;
    use crate::{conv_backward_naive, conv_forward_naive};
    use backprop::gradcheck::rel_error;

    /// (N, C, H, W, F): odd and even sides, maps smaller than a tile, one channel,
    /// 70 images of 3×3 (several chunks, the last one short), and channel counts of a
    /// block of 8 and a remainder (the copies' two loops); the last three have 16
    /// tiles or more per image and 4 filters per channel or more, so their forward
    /// pass runs channels first (`winograd_planes.rs`), 20 images of them in several
    /// chunks.
    const SHAPES: [(usize, usize, usize, usize, usize); 11] = [
        (2, 3, 7, 7, 4),
        (3, 2, 5, 6, 3),
        (2, 4, 3, 3, 5),
        (1, 1, 1, 1, 2),
        (2, 3, 9, 13, 2),
        (2, 5, 8, 8, 3),
        (70, 2, 3, 3, 3),
        (2, 11, 6, 5, 10),
        (2, 2, 17, 15, 8),
        (3, 9, 16, 16, 41),
        (20, 2, 15, 15, 8),
    ];

    fn layer<T: Float>(
        seed: u64,
        (n, c, h, w, f): (usize, usize, usize, usize, usize),
    ) -> (Array4<T>, Array4<T>, Array1<T>, Array4<T>) {
        let mut rng = numeric::rng(seed);
        (
            numeric::randn((n, c, h, w), &mut rng),
            numeric::randn((f, c, 3, 3), &mut rng),
            numeric::randn(f, &mut rng),
            numeric::randn((n, f, h, w), &mut rng),
        )
    }

    fn cache_of<T: Float>(x: &Array4<T>, w: &Array4<T>) -> ConvCache<T> {
        ConvCache {
            x: x.clone(),
            w: w.clone(),
            param: ConvParam::new(1, 1),
        }
    }

    /// Forward, dx, dW and db equal the naive layer's to 1e-10 in f64.
    #[test]
    fn matches_the_naive_layer_in_f64() {
        for (seed, shape) in SHAPES.into_iter().enumerate() {
            let (x, w, b, dout) = layer::<f64>(seed as u64, shape);
            let p = ConvParam::new(1, 1);
            let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
            let (dx, dw, db) = conv_backward_naive(&dout.view(), &cache);
            let d = dout.as_slice().unwrap();
            let fast = forward(&cache, b.as_slice().unwrap());
            assert!(
                rel_error(&fast.view(), &out.view()) < 1e-10,
                "out {shape:?}"
            );
            let fast_dx = backward_data(d, &cache);
            assert!(
                rel_error(&fast_dx.view(), &dx.view()) < 1e-10,
                "dx {shape:?}"
            );
            let (fast_dw, fast_db) = backward_weights(d, &cache);
            assert!(
                rel_error(&fast_dw.view(), &dw.view()) < 1e-10,
                "dw {shape:?}"
            );
            assert!(
                rel_error(&fast_db.view(), &db.view()) < 1e-10,
                "db {shape:?}"
            );
        }
    }

    /// The largest error of `got` against `exact`, as a fraction of `exact`'s largest
    /// magnitude (the output's scale).
    fn scaled_error(got: &Array4<f32>, exact: &Array4<f64>) -> f64 {
        let scale = exact.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(exact)
            .fold(0.0_f64, |m, (&g, &e)| m.max((g as f64 - e).abs()));
        err / scale
    }

    /// f32 against the naive layer in f64, on airbench94's channel counts with the
    /// batch cut down: the largest error stays below 1e-5 of the output's scale for
    /// every pass (measured: at most 5e-6; docs/conv.md).
    #[test]
    fn f32_error_is_bounded_by_the_outputs_scale() {
        for shape in [
            (2, 24, 31, 31, 8),
            (2, 64, 15, 15, 16),
            (2, 256, 7, 7, 16),
            (4, 256, 3, 3, 8),
        ] {
            let (x, w, b, dout) = layer::<f64>(17, shape);
            let f32s = |a: &Array4<f64>| a.mapv(|v| v as f32);
            let (x32, w32, dout32) = (f32s(&x), f32s(&w), f32s(&dout));
            // The exact layer of the f32 inputs, so only the arithmetic differs.
            let (x, w, dout) = (
                x32.mapv(f64::from),
                w32.mapv(f64::from),
                dout32.mapv(f64::from),
            );
            let p = ConvParam::new(1, 1);
            let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
            let (dx, dw, _) = conv_backward_naive(&dout.view(), &cache);
            let cache32 = cache_of(&x32, &w32);
            let b32: Vec<f32> = b.iter().map(|&v| v as f32).collect();
            let d = dout32.as_slice().unwrap();
            let errors = [
                scaled_error(&forward(&cache32, &b32), &out),
                scaled_error(&backward_data(d, &cache32), &dx),
                scaled_error(&backward_weights(d, &cache32).0, &dw),
            ];
            println!(
                "{shape:?}: forward {:.1e}, dx {:.1e}, dW {:.1e}",
                errors[0], errors[1], errors[2]
            );
            assert!(errors.iter().all(|&e| e < 1e-5), "{shape:?} {errors:?}");
        }
    }

    /// The channels-first forward pass in f32 on airbench94's 64→256 layer (batch cut
    /// to 2): within the same 1e-5 of the output's scale (measured 6.6e-6).
    #[test]
    fn channels_first_forward_f32_error_is_bounded() {
        let (x, w, b, _) = layer::<f64>(17, (2, 64, 15, 15, 256));
        let (x32, w32) = (x.mapv(|v| v as f32), w.mapv(|v| v as f32));
        let (x, w) = (x32.mapv(f64::from), w32.mapv(f64::from));
        let p = ConvParam::new(1, 1);
        let (out, _) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
        let cache32 = cache_of(&x32, &w32);
        assert!(winograd_planes::wins(&Tiling::new(2, 64, 256, 15, 15)));
        let b32: Vec<f32> = b.iter().map(|&v| v as f32).collect();
        let error = scaled_error(&forward(&cache32, &b32), &out);
        println!("(2, 64, 15, 15, 256): forward {error:.1e}");
        assert!(error < 1e-5, "{error}");
    }

    /// With bf16 products, `U[ξ]` packed once per call gives the bits of `numeric::gemm`
    /// at bf16 (which packs it again in every chunk), forward and backward-data, on
    /// channel counts odd, small and airbench94's 256; the f32 route's bits differ, so
    /// bf16 did run. No process-wide setting is touched.
    #[test]
    fn packed_filters_give_the_bits_of_bf16_products() {
        if !numeric::cpu_has_bf16() {
            return eprintln!("no AVX512_BF16 on this CPU: bf16 products cannot run");
        }
        for (seed, shape) in [
            (70, 2, 3, 3, 3),
            (2, 11, 6, 5, 10),
            (3, 64, 15, 15, 16),
            (3, 256, 7, 7, 256),
        ]
        .into_iter()
        .enumerate()
        {
            let (x, w, b, dout) = layer::<f32>(seed as u64, shape);
            let (n, c, h, wd, f) = shape;
            let b = b.as_slice().unwrap();
            for (backward, t, input) in [
                (false, Tiling::new(n, c, f, h, wd), &x),
                (true, Tiling::new(n, f, c, h, wd), &dout),
            ] {
                let u = filter_tiles(&w, backward, false);
                let input = input.as_slice().unwrap();
                let bias = (!backward).then_some(b);
                let run = |filters: Filters<'_, f32>| {
                    let out = written(&t, |out| convolve(&t, input, &filters, bias, out));
                    out.mapv(f32::to_bits)
                };
                let packed: Vec<PackedB> = (0..POINTS)
                    .map(|xi| PackedB::new(&matrix(&u[xi * t.c * t.f..], t.c, t.f)).unwrap())
                    .collect();
                let want = run(Filters::Values(&u, MatmulPrecision::Bf16));
                assert_eq!(run(Filters::Packed(&packed)), want, "{shape:?} {backward}");
                let f32s = run(Filters::Values(&u, MatmulPrecision::F32));
                assert_ne!(f32s, want, "{shape:?} {backward}: bf16 as f32");
            }
        }
    }

    /// Buffers kept from call to call carry nothing over: each layer, run first on
    /// other values of its sizes a million times larger (so with the same kept
    /// buffers), then on its own, still matches the naive layer to 1e-10 in f64,
    /// forward and dx.
    #[test]
    fn kept_buffers_carry_nothing_between_calls() {
        for (seed, (n, c, h, w, f)) in SHAPES.into_iter().enumerate() {
            let (x, wt, b, dout) = layer::<f64>(seed as u64, (n, c, h, w, f));
            let (big_x, big_w, big_b, big_dout) = layer::<f64>(99, (n, c, h, w, f));
            let big = cache_of(&(big_x * 1e6), &(big_w * 1e6));
            forward(&big, (big_b * 1e6).as_slice().unwrap());
            backward_data((big_dout * 1e6).as_slice().unwrap(), &big);
            let p = ConvParam::new(1, 1);
            let (out, cache) = conv_forward_naive(&x.view(), &wt.view(), &b.view(), p).unwrap();
            let (dx, _, _) = conv_backward_naive(&dout.view(), &cache);
            let fast = forward(&cache, b.as_slice().unwrap());
            let fast_dx = backward_data(dout.as_slice().unwrap(), &cache);
            assert!(rel_error(&fast.view(), &out.view()) < 1e-10, "out {seed}");
            assert!(rel_error(&fast_dx.view(), &dx.view()) < 1e-10, "dx {seed}");
        }
    }

    /// No images, no channels or no filters: empty or zero results of the right
    /// shapes, and the biases where there is nothing to convolve.
    #[test]
    fn empty_dimensions_give_empty_or_zero_results() {
        for shape in [
            (0, 3, 5, 5, 2),
            (2, 0, 5, 5, 2),
            (2, 3, 5, 5, 0),
            (2, 3, 0, 4, 2),
        ] {
            let (n, c, h, w, f) = shape;
            let (x, wt, b, dout) = layer::<f64>(1, shape);
            let cache = cache_of(&x, &wt);
            let out = forward(&cache, b.as_slice().unwrap());
            assert_eq!(out.dim(), (n, f, h, w), "{shape:?}");
            for (fi, plane) in out.axis_iter(ndarray::Axis(1)).enumerate() {
                assert!(plane.iter().all(|&v| v == b[fi]), "{shape:?}");
            }
            let d = dout.as_slice().unwrap();
            let dx = backward_data(d, &cache);
            assert_eq!(dx.dim(), (n, c, h, w), "{shape:?}");
            assert!(dx.iter().all(|&v| v == 0.0), "{shape:?}");
            let (dw, db) = backward_weights(d, &cache);
            assert_eq!((dw.dim(), db.len()), ((f, c, 3, 3), f), "{shape:?}");
            assert!(dw.iter().all(|&v| v == 0.0), "{shape:?}");
            if n == 0 || h == 0 {
                assert!(db.iter().all(|&v| v == 0.0), "{shape:?}");
            }
        }
    }

    /// The same thread count gives the same bits: dW is summed over chunks in order,
    /// and the channels-first forward pass repeats itself too.
    #[test]
    fn same_inputs_give_the_same_bits() {
        let (x, w, _, dout) = layer::<f32>(5, (40, 3, 7, 7, 4));
        let cache = cache_of(&x, &w);
        let d = dout.as_slice().unwrap();
        let first = backward_weights(d, &cache);
        for _ in 0..3 {
            assert_eq!(backward_weights(d, &cache), first);
        }
        let (x, w, b, _) = layer::<f32>(6, (20, 3, 15, 15, 12));
        let cache = cache_of(&x, &w);
        let first = forward(&cache, b.as_slice().unwrap());
        for _ in 0..3 {
            assert_eq!(forward(&cache, b.as_slice().unwrap()), first);
        }
    }
}
