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
//! M[ξ] (F, tiles) = U[ξ] (F, C) · V[ξ] (C, tiles),   U = G g Gᵀ,  V = Bᵀ d B
//! ```
//!
//! so the multiplications still run in the GEMM, 2.25× (3×3 maps) to 3.75× (31×31)
//! fewer of them than the direct convolution, with the tiles that overhang the map
//! (odd sides 31, 15, 7, 3) read and written as zeros.
//!
//! - **forward**: transform the filters once (`U`), then per chunk of images the input
//!   tiles (`V`), 36 GEMMs, and the output transform `Aᵀ M A` plus the bias;
//! - **backward-data** is the same routine on `dout`, with each filter turned by 180°
//!   and the roles of `C` and `F` swapped (a 'same' 3×3 convolution's adjoint);
//! - **backward-weights** is F(3×3, 4×4), the same identity read the other way: the
//!   6×6 transforms of the input tiles (`Bᵀ d B`) and of the `dout` tiles (`A e Aᵀ`,
//!   4×4 → 6×6), 36 products `dW[ξ] += E[ξ] · V[ξ]ᵀ` reduced over every tile, then the
//!   3×3 output transform `Gᵀ dW[ξ] G`.
//!
//! The transforms are exact in real arithmetic; in floating point `G` holds sixths
//! and twenty-fourths and `A` powers of 2 up to 8, so f32 results carry a few 1e-6 of
//! the output's scale (docs/conv.md gives the measured bounds; the tests check them).
//! Chunks of images are spread over the rayon pool with each GEMM on its task's
//! thread, and `dW` is summed over chunks in a fixed order: the same thread count
//! gives the same bits.

use std::ops::Range;

use ndarray::{Array1, Array4, ArrayView2, ArrayViewMut2};
use numeric::Float;
use rayon::prelude::*;

use crate::conv::ConvCache;

/// Outputs per tile side (`m` of F(m×m, r×r)).
const M: usize = 4;
/// Inputs per tile side, `α = m + r − 1`.
const ALPHA: usize = 6;
/// Points per tile, `α²`: the number of GEMMs.
const POINTS: usize = ALPHA * ALPHA;
/// Tiles a chunk's products aim for: wide enough for the GEMM's kernels, small enough
/// that a chunk's transformed tiles (36 · C · tiles values) stay near the core.
const TILES: usize = 128;

/// Whether Winograd F(4×4, 3×3) computes this layer: 3×3 filters, stride 1, pad 1.
pub(crate) fn fits<T: Float>(cache: &ConvCache<T>) -> bool {
    let (_, _, hh, ww) = cache.w.dim();
    (hh, ww) == (3, 3) && cache.param.stride == 1 && cache.param.pad == 1
}

/// One 'same' 3×3 convolution's sizes, and how its batch is cut into chunks.
#[derive(Clone, Copy, Debug)]
struct Tiling {
    n: usize,
    /// Channels read (C forward, F backward-data).
    c: usize,
    /// Channels written.
    f: usize,
    h: usize,
    w: usize,
    /// Images per chunk.
    batch: usize,
}

impl Tiling {
    fn new(n: usize, c: usize, f: usize, h: usize, w: usize) -> Self {
        let mut t = Self {
            n,
            c,
            f,
            h,
            w,
            batch: 1,
        };
        t.batch = crate::conv_batched::images_per_chunk(
            n,
            t.tiles(),
            TILES,
            rayon::current_num_threads(),
        );
        t
    }

    fn tiles_h(&self) -> usize {
        self.h.div_ceil(M)
    }

    fn tiles_w(&self) -> usize {
        self.w.div_ceil(M)
    }

    /// Tiles of one image.
    fn tiles(&self) -> usize {
        self.tiles_h() * self.tiles_w()
    }

    /// Rows and columns of a zero-padded image that every tile fits in: one row and
    /// column of zeros before, the tiles' overhang and one more after.
    fn padded(&self) -> (usize, usize) {
        (self.tiles_h() * M + 2, self.tiles_w() * M + 2)
    }

    /// Values of one image's map.
    fn plane(&self) -> usize {
        self.h * self.w
    }

    fn chunks(&self) -> usize {
        self.n.div_ceil(self.batch)
    }

    /// The images of chunk `i`.
    fn images(&self, i: usize) -> Range<usize> {
        i * self.batch..((i + 1) * self.batch).min(self.n)
    }
}

/// `Bᵀ d` on six values: the input transform along one axis.
#[inline(always)]
fn bt<T: Float>(d: [T; 6]) -> [T; 6] {
    let (two, four, five) = (T::cast(2.0), T::cast(4.0), T::cast(5.0));
    [
        four * d[0] - five * d[2] + d[4],
        -four * (d[1] + d[2]) + d[3] + d[4],
        four * (d[1] - d[2]) - d[3] + d[4],
        two * (d[3] - d[1]) - d[2] + d[4],
        two * (d[1] - d[3]) - d[2] + d[4],
        four * d[1] - five * d[3] + d[5],
    ]
}

/// `Aᵀ m` on six values: the output transform along one axis (6 → 4).
#[inline(always)]
fn at<T: Float>(m: [T; 6]) -> [T; 4] {
    let (two, four, eight) = (T::cast(2.0), T::cast(4.0), T::cast(8.0));
    let (s12, d12, s34, d34) = (m[1] + m[2], m[1] - m[2], m[3] + m[4], m[3] - m[4]);
    [
        m[0] + s12 + s34,
        d12 + two * d34,
        s12 + four * s34,
        d12 + eight * d34 + m[5],
    ]
}

/// `A e` on four values: `dout`'s transform along one axis for `dW` (4 → 6).
#[inline(always)]
fn a<T: Float>(e: [T; 4]) -> [T; 6] {
    let (two, four, eight) = (T::cast(2.0), T::cast(4.0), T::cast(8.0));
    let (even, odd) = (e[0] + e[2], e[1] + e[3]);
    let (even2, odd2) = (e[0] + four * e[2], two * e[1] + eight * e[3]);
    [
        e[0],
        even + odd,
        even - odd,
        even2 + odd2,
        even2 - odd2,
        e[3],
    ]
}

/// `G g` on three values: the filter transform along one axis (3 → 6).
#[inline(always)]
fn g<T: Float>(g: [T; 3]) -> [T; 6] {
    let (quarter, sixth, twelfth, v24) = (
        T::cast(0.25),
        T::cast(1.0 / 6.0),
        T::cast(1.0 / 12.0),
        T::cast(1.0 / 24.0),
    );
    let outer = g[0] + g[2];
    [
        quarter * g[0],
        -sixth * (outer + g[1]),
        -sixth * (outer - g[1]),
        v24 * g[0] + twelfth * g[1] + sixth * g[2],
        v24 * g[0] - twelfth * g[1] + sixth * g[2],
        g[2],
    ]
}

/// `Gᵀ m` on six values: `dW`'s output transform along one axis (6 → 3).
#[inline(always)]
fn gt<T: Float>(m: [T; 6]) -> [T; 3] {
    let (quarter, sixth, twelfth, v24) = (
        T::cast(0.25),
        T::cast(1.0 / 6.0),
        T::cast(1.0 / 12.0),
        T::cast(1.0 / 24.0),
    );
    let (s12, d12, s34, d34) = (m[1] + m[2], m[2] - m[1], m[3] + m[4], m[3] - m[4]);
    [
        quarter * m[0] - sixth * s12 + v24 * s34,
        sixth * d12 + twelfth * d34,
        sixth * (s34 - s12) + m[5],
    ]
}

/// `L x Lᵀ` of a K×K tile `x` by a one-axis transform `L` (K → J): rows, then columns.
#[inline(always)]
fn both_axes<T: Float, const K: usize, const J: usize>(
    x: [[T; K]; K],
    l: impl Fn([T; K]) -> [T; J],
) -> [[T; J]; J] {
    let rows: [[T; J]; K] = std::array::from_fn(|i| l(x[i]));
    let cols: [[T; J]; J] = std::array::from_fn(|j| l(std::array::from_fn(|i| rows[i][j])));
    // cols[j][i] = (L x Lᵀ)[i][j]
    std::array::from_fn(|i| std::array::from_fn(|j| cols[j][i]))
}

/// `K` sources of `len` values, `stride` apart from `first` in `buf`.
#[inline(always)]
fn rows<T, const K: usize>(buf: &[T], first: usize, stride: usize, len: usize) -> [&[T]; K] {
    std::array::from_fn(|k| &buf[first + k * stride..][..len])
}

/// `J` destinations of `len` values, `stride` (≥ `len`) apart from `first` in `buf`.
#[inline(always)]
fn rows_mut<T, const J: usize>(
    buf: &mut [T],
    first: usize,
    stride: usize,
    len: usize,
) -> [&mut [T]; J] {
    let mut parts = buf[first..].chunks_mut(stride);
    std::array::from_fn(|_| &mut parts.next().expect("rows inside the buffer")[..len])
}

/// A one-axis transform `l` (K → J values) on every lane of `src` at once:
/// `dst[i][c] = (l(src[·][c]))[i]`. The lanes are channels, so the loop runs on
/// contiguous values and the compiler vectorises it.
#[inline(always)]
fn lanes<T: Float, const K: usize, const J: usize>(
    src: [&[T]; K],
    mut dst: [&mut [T]; J],
    l: impl Fn([T; K]) -> [T; J],
) {
    let n = dst[0].len();
    let src = src.map(|s| &s[..n]);
    for d in dst.iter_mut() {
        assert_eq!(d.len(), n, "lanes of one length");
    }
    for c in 0..n {
        let y = l(std::array::from_fn(|k| src[k][c]));
        for (d, y) in dst.iter_mut().zip(y) {
            d[c] = y;
        }
    }
}

/// Images `images` of `x` (N, C, H, W) into `padded` (b, Hd, Wd, C), channels last,
/// at `offset` rows and columns from each image's corner; the rest of `padded` is
/// left alone (zero).
fn to_channels_last<T: Float>(
    t: &Tiling,
    x: &[T],
    images: Range<usize>,
    (hd, wd, offset): (usize, usize, usize),
    padded: &mut [T],
) {
    let (c, h, w) = (t.c, t.h, t.w);
    for (j, i) in images.enumerate() {
        let image = &x[i * c * h * w..][..c * h * w];
        for y in 0..h {
            for xx in 0..w {
                let at = ((j * hd + y + offset) * wd + xx + offset) * c;
                for (ci, v) in padded[at..at + c].iter_mut().enumerate() {
                    *v = image[(ci * h + y) * w + xx];
                }
            }
        }
    }
}

/// The input tiles of a chunk of `images` images, from `padded` (b, Hp, Wp, C) of
/// [`Tiling::padded`], transformed (`Bᵀ d B`) into `v` as the 36 matrices
/// V[ξ] (tiles of the chunk, C). `tmp` holds 36·C values.
fn input_tiles<T: Float>(t: &Tiling, padded: &[T], images: usize, tmp: &mut [T], v: &mut [T]) {
    let (c, cols) = (t.c, images * t.tiles());
    let (hp, wp) = t.padded();
    for p in 0..cols {
        let (j, ty, tx) = (p / t.tiles(), p % t.tiles() / t.tiles_w(), p % t.tiles_w());
        let corner = ((j * hp + ty * M) * wp + tx * M) * c;
        // Down the columns: tmp[b][a'] = Σ_k Bᵀ[a'][k] d[k][b].
        for b in 0..ALPHA {
            let src = rows(padded, corner + b * c, wp * c, c);
            lanes(src, rows_mut(tmp, b * ALPHA * c, c, c), bt);
        }
        // Along the rows: V[a'·6 + b'][p] = Σ_k Bᵀ[b'][k] tmp[k][a'].
        for a in 0..ALPHA {
            let src = rows(tmp, a * c, ALPHA * c, c);
            lanes(
                src,
                rows_mut(v, (a * ALPHA * cols + p) * c, cols * c, c),
                bt,
            );
        }
    }
}

/// The `dout` tiles of a chunk of `images` images, from `padded` (b, 4·tiles_h,
/// 4·tiles_w, F), 4×4 each, transformed (`A e Aᵀ`) into `e` as the 36 matrices
/// E[ξ] (tiles of the chunk, F). `tmp` holds 36·F values.
fn dout_tiles<T: Float>(t: &Tiling, padded: &[T], images: usize, tmp: &mut [T], e: &mut [T]) {
    let (f, cols) = (t.f, images * t.tiles());
    let (h4, w4) = (t.tiles_h() * M, t.tiles_w() * M);
    for p in 0..cols {
        let (j, ty, tx) = (p / t.tiles(), p % t.tiles() / t.tiles_w(), p % t.tiles_w());
        let corner = ((j * h4 + ty * M) * w4 + tx * M) * f;
        for b in 0..M {
            let src = rows(padded, corner + b * f, w4 * f, f);
            lanes(src, rows_mut(tmp, b * ALPHA * f, f, f), a);
        }
        for r in 0..ALPHA {
            let src = rows(tmp, r * f, ALPHA * f, f);
            lanes(src, rows_mut(e, (r * ALPHA * cols + p) * f, cols * f, f), a);
        }
    }
}

/// The output transform (`Aᵀ M A`) of the 36 products M[ξ] (tiles of the chunk, F)
/// into `y` (b, 4·tiles_h, 4·tiles_w, F), channels last. `tmp` holds 36·F values.
fn output_tiles<T: Float>(t: &Tiling, m: &[T], images: usize, tmp: &mut [T], y: &mut [T]) {
    let (f, cols) = (t.f, images * t.tiles());
    let (h4, w4) = (t.tiles_h() * M, t.tiles_w() * M);
    for p in 0..cols {
        let (j, ty, tx) = (p / t.tiles(), p % t.tiles() / t.tiles_w(), p % t.tiles_w());
        // Along the rows: tmp[b'][a] = Σ_k Aᵀ[b'][k] M[a·6 + k].
        for r in 0..ALPHA {
            let src = rows(m, (r * ALPHA * cols + p) * f, cols * f, f);
            lanes(src, rows_mut(tmp, r * f, ALPHA * f, f), at);
        }
        // Down the columns: y[a'][b'] = Σ_k Aᵀ[a'][k] tmp[b'][k].
        let corner = ((j * h4 + ty * M) * w4 + tx * M) * f;
        for b in 0..M {
            let src = rows(tmp, b * ALPHA * f, f, f);
            lanes(src, rows_mut(y, corner + b * f, w4 * f, f), at);
        }
    }
}

/// A chunk's outputs `y` (b, 4·tiles_h, 4·tiles_w, F) cropped to (H, W), transposed
/// into `out` (b, F, H, W), plus the biases.
fn to_channels_first<T: Float>(t: &Tiling, y: &[T], bias: Option<&[T]>, out: &mut [T]) {
    let (f, w4) = (t.f, t.tiles_w() * M);
    let y_image = t.tiles_h() * M * w4 * f;
    for (j, out_j) in out.chunks_exact_mut(f * t.plane()).enumerate() {
        let y_j = &y[j * y_image..][..y_image];
        for (fi, plane) in out_j.chunks_exact_mut(t.plane()).enumerate() {
            let bias = bias.map_or(T::zero(), |b| b[fi]);
            for (row, out_row) in plane.chunks_exact_mut(t.w).enumerate() {
                for (x, o) in out_row.iter_mut().enumerate() {
                    *o = y_j[(row * w4 + x) * f + fi] + bias;
                }
            }
        }
    }
}

/// The first `rows × cols` values of `v` as a matrix.
fn matrix<T>(v: &[T], rows: usize, cols: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((rows, cols), &v[..rows * cols]).expect("buffer sized by the tiling")
}

/// The first `rows × cols` values of `v` as a mutable matrix.
fn matrix_mut<T>(v: &mut [T], rows: usize, cols: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((rows, cols), &mut v[..rows * cols])
        .expect("buffer sized by the tiling")
}

/// The filters `w` (F, C, 3, 3) transformed (`G g Gᵀ`), as the 36 matrices U[ξ]
/// (C, F) of the products, or with `flipped` (F, C) of the filters turned by 180°:
/// the filters of backward-data.
fn filter_tiles<T: Float>(w: &Array4<T>, flipped: bool) -> Vec<T> {
    let (f, c, _, _) = w.dim();
    let w = w.as_slice().expect("standard layout");
    let (rows, cols) = if flipped { (f, c) } else { (c, f) };
    let mut u = vec![T::zero(); POINTS * f * c];
    for fi in 0..f {
        for ci in 0..c {
            let k = &w[(fi * c + ci) * 9..][..9];
            let taps: [[T; 3]; 3] = std::array::from_fn(|i| {
                std::array::from_fn(|j| {
                    if flipped {
                        k[(2 - i) * 3 + 2 - j]
                    } else {
                        k[i * 3 + j]
                    }
                })
            });
            let (r, col) = if flipped { (fi, ci) } else { (ci, fi) };
            for (xi, &v) in both_axes(taps, g).iter().flatten().enumerate() {
                u[(xi * rows + r) * cols + col] = v;
            }
        }
    }
    u
}

/// One thread's buffers, reused from chunk to chunk.
struct Scratch<T> {
    /// The chunk's images, zero-padded, channels last ([`Tiling::padded`]).
    padded: Vec<T>,
    /// One tile's half-transformed values.
    tmp: Vec<T>,
    /// The transformed input tiles V[ξ].
    v: Vec<T>,
    /// The products M[ξ], or the transformed `dout` tiles E[ξ].
    m: Vec<T>,
    /// The chunk's outputs (b, 4·tiles_h, 4·tiles_w, F), or its `dout` there.
    y: Vec<T>,
}

impl<T: Float> Scratch<T> {
    fn new(t: &Tiling) -> Self {
        let (hp, wp) = t.padded();
        let tiles = t.batch * t.tiles();
        Self {
            padded: vec![T::zero(); t.batch * hp * wp * t.c],
            tmp: vec![T::zero(); POINTS * t.c.max(t.f)],
            v: vec![T::zero(); POINTS * tiles * t.c],
            m: vec![T::zero(); POINTS * tiles * t.f],
            y: vec![T::zero(); tiles * M * M * t.f],
        }
    }

    /// `V` of the chunk `images` of `x` (N, t.c, H, W).
    fn transform_input(&mut self, t: &Tiling, x: &[T], images: Range<usize>) {
        let (hp, wp) = t.padded();
        let b = images.len();
        to_channels_last(t, x, images, (hp, wp, 1), &mut self.padded);
        input_tiles(t, &self.padded, b, &mut self.tmp, &mut self.v);
    }
}

/// The 'same' 3×3 convolution of `x` (N, t.c, H, W) by the transformed filters `u`
/// (36 × (t.c, t.f)), plus `bias`, into `out` (N, t.f, H, W).
fn convolve<T: Float>(t: &Tiling, x: &[T], u: &[T], bias: Option<&[T]>, out: &mut [T]) {
    out.par_chunks_mut(t.batch * t.f * t.plane())
        .enumerate()
        .for_each_init(
            || Scratch::new(t),
            |s, (chunk, out_c)| {
                let images = t.images(chunk);
                let b = images.len();
                let cols = b * t.tiles();
                s.transform_input(t, x, images);
                for xi in 0..POINTS {
                    let v = matrix(&s.v[xi * cols * t.c..], cols, t.c);
                    let u = matrix(&u[xi * t.c * t.f..], t.c, t.f);
                    let mut m = matrix_mut(&mut s.m[xi * cols * t.f..], cols, t.f);
                    numeric::gemm(T::one(), &v, &u, T::zero(), &mut m);
                }
                output_tiles(t, &s.m, b, &mut s.tmp, &mut s.y);
                to_channels_first(t, &s.y, bias, out_c);
            },
        );
}

/// The forward pass on checked shapes ([`fits`]): `out` (N, F, H, W) of `cache.x`,
/// `cache.w`, `b`.
pub(crate) fn forward<T: Float>(cache: &ConvCache<T>, b: &[T]) -> Array4<T> {
    let (n, c, h, w) = cache.x.dim();
    let f = cache.w.dim().0;
    let mut out = Array4::<T>::zeros((n, f, h, w));
    if out.is_empty() {
        return out;
    }
    let t = Tiling::new(n, c, f, h, w);
    let u = filter_tiles(&cache.w, false);
    let x = cache.x.as_slice().expect("standard layout");
    convolve(&t, x, &u, Some(b), out.as_slice_mut().expect("fresh array"));
    out
}

/// The input gradient `dx` (N, C, H, W) of `dout` (N, F, H, W) on checked shapes:
/// the forward routine on `dout` with the filters turned by 180° and C, F swapped.
pub(crate) fn backward_data<T: Float>(dout: &[T], cache: &ConvCache<T>) -> Array4<T> {
    let (n, c, h, w) = cache.x.dim();
    let f = cache.w.dim().0;
    let mut dx = Array4::<T>::zeros((n, c, h, w));
    if dx.is_empty() {
        return dx;
    }
    let t = Tiling::new(n, f, c, h, w);
    let u = filter_tiles(&cache.w, true);
    convolve(&t, dout, &u, None, dx.as_slice_mut().expect("fresh array"));
    dx
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
    /// and 70 images of 3×3 (several chunks, the last one short).
    const SHAPES: [(usize, usize, usize, usize, usize); 7] = [
        (2, 3, 7, 7, 4),
        (3, 2, 5, 6, 3),
        (2, 4, 3, 3, 5),
        (1, 1, 1, 1, 2),
        (2, 3, 9, 13, 2),
        (2, 5, 8, 8, 3),
        (70, 2, 3, 3, 3),
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

    /// One tile, one channel, one filter: Winograd's 4×4 outputs are the 16 dot
    /// products of the filter with the 3×3 windows of the 6×6 tile.
    #[test]
    fn one_tile_equals_sixteen_dot_products() {
        let mut rng = numeric::rng(3);
        let d: Array4<f64> = numeric::randn((1, 1, 6, 6), &mut rng);
        let k: Array4<f64> = numeric::randn((1, 1, 3, 3), &mut rng);
        let tile = std::array::from_fn(|a| std::array::from_fn(|b| d[[0, 0, a, b]]));
        let taps = std::array::from_fn(|i| std::array::from_fn(|j| k[[0, 0, i, j]]));
        let (v, u) = (both_axes(tile, bt), both_axes(taps, g));
        let m = std::array::from_fn(|a| std::array::from_fn(|b| v[a][b] * u[a][b]));
        let y = both_axes(m, at);
        for (oy, row) in y.iter().enumerate() {
            for (ox, &got) in row.iter().enumerate() {
                let direct: f64 = (0..3)
                    .flat_map(|i| (0..3).map(move |j| (i, j)))
                    .map(|(i, j)| k[[0, 0, i, j]] * d[[0, 0, oy + i, ox + j]])
                    .sum();
                assert!((got - direct).abs() < 1e-12, "({oy}, {ox}): {got} {direct}");
            }
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

    /// The same thread count gives the same bits: dW is summed over chunks in order.
    #[test]
    fn same_inputs_give_the_same_bits() {
        let (x, w, _, dout) = layer::<f32>(5, (40, 3, 7, 7, 4));
        let cache = cache_of(&x, &w);
        let d = dout.as_slice().unwrap();
        let first = backward_weights(d, &cache);
        for _ in 0..3 {
            assert_eq!(backward_weights(d, &cache), first);
        }
    }
}
