//! Winograd's tiles read straight from (N, C, H, W) planes and written straight back
//! (`winograd.rs`), with no channels-last copy of the images in between.
//!
//! The products' matrices are stored channels first: V[ξ] (C, tiles) and M[ξ]
//! (F, tiles), so a row is one channel's tiles of a whole chunk of images. The
//! transforms then run along a row, across tiles of several rows and images at once
//! (a chunk holds about 128 tiles: two 31×31 images, or 128 3×3 ones), and the
//! transposition between tiles and channels is left to the GEMM's packing, which
//! copies its operands anyway and reads any strides.
//!
//! Per channel of a chunk, a tile's K×K values are first gathered from the plane into
//! K² rows of tiles, through a table of positions computed once per chunk (the
//! overhanging tiles' values read as zeros), then transformed on both axes, a row of
//! tiles at a time ([`lanes`]). The output transform runs the same way backwards:
//! `Aᵀ M A` on rows of tiles, then each pixel of the plane read from its 4×4 block
//! through a second table.
//!
//! The gather's 36 scalar reads per tile cost more than the channels-last copy it
//! replaces, while the output side costs less, so only the forward pass where filters
//! outnumber input channels runs here ([`wins`]); the rest stays channels last
//! (`winograd_tiles.rs`). docs/conv.md, §8, has the measurements.

use std::mem::MaybeUninit;
use std::ops::Range;

use numeric::Float;
use rayon::prelude::*;

use crate::winograd::{matrix, matrix_mut, with_kept};
use crate::winograd_tiles::{ALPHA, M, POINTS, Tiling, bt, lanes, rows, rows_mut};

/// Tiles per image from which the forward pass may run channels first: the gather
/// costs 36 table lookups per tile and channel, which on 7×7 and 3×3 maps (4 and 1
/// tiles per image) lost to the channels-last copy (docs/conv.md, §8).
const MIN_TILES: usize = 16;

/// Filters per input channel from which the forward pass runs channels first: the
/// layout wins on the output side (each pixel written once, straight into its plane)
/// and loses on the input side (the gather), so it pays where outputs outnumber
/// inputs. 64→256 on 15×15 won in every run; 24→64 and 64→64 tied (§8).
const MIN_FILTERS_PER_CHANNEL: usize = 4;

/// Whether the forward pass of tiling `t` runs channels first.
pub(crate) fn wins(t: &Tiling) -> bool {
    t.tiles() >= MIN_TILES && t.f >= MIN_FILTERS_PER_CHANNEL * t.c.max(1)
}

/// One thread's buffers for [`convolve`], reused from chunk to chunk and from call to
/// call ([`with_kept`]).
struct Products<T> {
    /// The transformed input tiles V[ξ] (t.c, tiles of the chunk).
    v: Vec<T>,
    /// The products M[ξ] (t.f, tiles of the chunk).
    m: Vec<T>,
    planes: Planes<T>,
}

/// The 'same' 3×3 convolution of `x` (N, t.c, H, W) by the transformed filters `u`
/// (36 × (t.f, t.c)), plus `bias`, into `out` (N, t.f, H, W), every element of which
/// is written: per chunk of images the input tiles read from the planes, 36 products
/// `M[ξ] = U[ξ] · V[ξ]`, and the output tiles written into the planes.
pub(crate) fn convolve<T: Float>(
    t: &Tiling,
    x: &[T],
    u: &[T],
    bias: Option<&[T]>,
    out: &mut [MaybeUninit<T>],
) {
    let (c, f) = (t.c, t.f);
    let tiles = t.batch * t.tiles();
    let new = || Products {
        v: vec![T::zero(); POINTS * c * tiles],
        m: vec![T::zero(); POINTS * f * tiles],
        planes: Planes::new(t),
    };
    out.par_chunks_mut(t.batch * f * t.plane())
        .enumerate()
        .for_each(|(chunk, out_c)| {
            with_kept(t, new, |s| {
                let images = t.images(chunk);
                let cols = images.len() * t.tiles();
                transform_planes::<T, ALPHA>(t, x, c, images, 1, bt, &mut s.planes, &mut s.v);
                for xi in 0..POINTS {
                    let u = matrix(&u[xi * f * c..], f, c);
                    let v = matrix(&s.v[xi * c * cols..], c, cols);
                    let mut m = matrix_mut(&mut s.m[xi * f * cols..], f, cols);
                    numeric::gemm(T::one(), &u, &v, T::zero(), &mut m);
                }
                output_planes(t, &s.m, f, cols, bias, &mut s.planes, out_c);
            })
        });
}

/// Channels gathered (or filters scattered) together, image by image: their planes
/// are consecutive in (N, C, H, W), so each image's reads (or writes) are one run of
/// `BLOCK` planes instead of one plane a whole image apart from the next.
const BLOCK: usize = 8;

/// One thread's buffers for the transforms of a chunk, reused from chunk to chunk.
pub(crate) struct Planes<T> {
    /// The tiles' K×K values of [`BLOCK`] channels, gathered: K² rows of the chunk's
    /// tiles per channel.
    gathered: Vec<T>,
    /// The transform along one axis: 6·K (input) or 6·4 (output) rows of tiles.
    half: Vec<T>,
    /// The 4×4 outputs of every tile of [`BLOCK`] filters: 16 rows of tiles each.
    blocks: Vec<T>,
    /// Where each gathered value comes from in its plane ([`gather_table`]).
    table: Vec<usize>,
    /// Where each pixel of a plane comes from in `blocks` ([`scatter_table`]).
    pixels: Vec<usize>,
}

impl<T: Float> Planes<T> {
    /// Buffers for chunks of `t.batch` images.
    pub(crate) fn new(t: &Tiling) -> Self {
        let cols = t.batch * t.tiles();
        Self {
            gathered: vec![T::zero(); BLOCK * ALPHA * ALPHA * cols],
            half: vec![T::zero(); ALPHA * ALPHA * cols],
            blocks: vec![T::zero(); BLOCK * M * M * cols],
            table: Vec::new(),
            pixels: Vec::new(),
        }
    }
}

/// The offset in an (H, W) plane of value (a, k) of every K×K tile (`M` apart, from
/// `pad` rows and columns before the corner), at `(a·K + k)·tiles + tile`; a tile's
/// values outside the map get `usize::MAX` and read as zero. One table serves every
/// plane of the layer, so the gather does no arithmetic on positions.
fn gather_table<const K: usize>(t: &Tiling, pad: usize, table: &mut Vec<usize>) {
    let (h, w, tiles, tw) = (t.h, t.w, t.tiles(), t.tiles_w());
    table.clear();
    table.resize(K * K * tiles, usize::MAX);
    for a in 0..K {
        for k in 0..K {
            let row = &mut table[(a * K + k) * tiles..][..tiles];
            for (tile, at) in row.iter_mut().enumerate() {
                let y = ((tile / tw) * M + a).wrapping_sub(pad);
                let x = ((tile % tw) * M + k).wrapping_sub(pad);
                if y < h && x < w {
                    *at = y * w + x;
                }
            }
        }
    }
}

/// The K×K tiles (`M` apart, from `pad` rows and columns before the map's corner) of
/// images `images` of `x` (N, ch, H, W), transformed on both axes by `l` (K → 6) into
/// `out` as the 36 matrices (ch, tiles of the chunk): `Bᵀ d B` of the input tiles
/// (K = 6, pad 1). (The 4×4 `dout` tiles of backward-weights fit it too, K = 4 and
/// pad 0, but that pass measured slower channels first and stays channels last.)
#[allow(clippy::too_many_arguments)] // the transform's shape: sizes, source, padding, rule, buffers
fn transform_planes<T: Float, const K: usize>(
    t: &Tiling,
    x: &[T],
    ch: usize,
    images: Range<usize>,
    pad: usize,
    l: impl Fn([T; K]) -> [T; ALPHA] + Copy,
    s: &mut Planes<T>,
    out: &mut [T],
) {
    let (tiles, plane) = (t.tiles(), t.plane());
    let cols = images.len() * tiles;
    if ch == 0 || cols == 0 {
        return;
    }
    gather_table::<K>(t, pad, &mut s.table);
    let (g, half, table) = (&mut s.gathered, &mut s.half, &s.table);
    let per_channel = K * K * cols;
    for c0 in (0..ch).step_by(BLOCK) {
        let block = c0..(c0 + BLOCK).min(ch);
        // Image by image, the block's planes are one contiguous run of the input.
        for (j, i) in images.clone().enumerate() {
            for (cb, c) in block.clone().enumerate() {
                let map = &x[(i * ch + c) * plane..][..plane];
                let g = &mut g[cb * per_channel..][..per_channel];
                for (r, from) in table.chunks_exact(tiles).enumerate() {
                    let to = &mut g[r * cols + j * tiles..][..tiles];
                    for (v, &at) in to.iter_mut().zip(from) {
                        *v = map.get(at).copied().unwrap_or(T::zero());
                    }
                }
            }
        }
        for (cb, c) in block.enumerate() {
            let g = &g[cb * per_channel..][..per_channel];
            // Down the columns: half[a'·K + k] = l(g[·K + k])[a'].
            for k in 0..K {
                lanes(
                    rows::<T, K>(g, k * cols, K * cols, cols),
                    rows_mut::<T, ALPHA>(half, k * cols, K * cols, cols),
                    l,
                );
            }
            // Along the rows: out[ξ = a'·6 + b'][c] = l(half[a'·K + ·])[b'].
            for a in 0..ALPHA {
                lanes(
                    rows::<T, K>(half, a * K * cols, cols, cols),
                    rows_mut::<T, ALPHA>(out, (a * ALPHA * ch + c) * cols, ch * cols, cols),
                    l,
                );
            }
        }
    }
}

/// The output transform (`Aᵀ M A`) of the 36 products M[ξ] (f, tiles of the chunk) in
/// `m`, cropped to (H, W) and written with the biases into `out` (b, f, H, W): the
/// chunk's images, channels first, every element written.
fn output_planes<T: Float>(
    t: &Tiling,
    m: &[T],
    f: usize,
    cols: usize,
    bias: Option<&[T]>,
    s: &mut Planes<T>,
    out: &mut [MaybeUninit<T>],
) {
    let (tiles, plane) = (t.tiles(), t.plane());
    if f == 0 || cols == 0 {
        return;
    }
    scatter_table(t, cols, &mut s.pixels);
    let (half, blocks, pixels) = (&mut s.half, &mut s.blocks, &s.pixels);
    let per_filter = M * M * cols;
    for f0 in (0..f).step_by(BLOCK) {
        let block = f0..(f0 + BLOCK).min(f);
        for (fb, fi) in block.clone().enumerate() {
            let blocks = &mut blocks[fb * per_filter..][..per_filter];
            // Along the rows: half[a·4 + b'] = Aᵀ(M[a·6 + ·])[b'].
            for a in 0..ALPHA {
                lanes(
                    rows::<T, ALPHA>(m, (a * ALPHA * f + fi) * cols, f * cols, cols),
                    rows_mut::<T, M>(half, a * M * cols, cols, cols),
                    crate::winograd_tiles::at,
                );
            }
            // Down the columns: blocks[a'·4 + b'] = Aᵀ(half[·4 + b'])[a'].
            for b in 0..M {
                lanes(
                    rows::<T, ALPHA>(half, b * cols, M * cols, cols),
                    rows_mut::<T, M>(blocks, b * cols, M * cols, cols),
                    crate::winograd_tiles::at,
                );
            }
        }
        // Image by image, the block's planes are one contiguous run of the output.
        for (j, image) in out.chunks_exact_mut(f * plane).enumerate() {
            for (fb, fi) in block.clone().enumerate() {
                let blocks = &blocks[fb * per_filter + j * tiles..];
                let bias = bias.map_or(T::zero(), |b| b[fi]);
                for (v, &at) in image[fi * plane..][..plane].iter_mut().zip(pixels) {
                    v.write(blocks[at] + bias);
                }
            }
        }
    }
}

/// The position in `blocks` (16 rows of `cols` tiles, an image's tiles from column 0)
/// of every pixel (y, x) of an (H, W) plane: row `(y mod 4)·4 + x mod 4`, tile
/// `(y / 4, x / 4)`.
fn scatter_table(t: &Tiling, cols: usize, pixels: &mut Vec<usize>) {
    let tw = t.tiles_w();
    pixels.clear();
    pixels.extend(
        (0..t.h)
            .flat_map(|y| (0..t.w).map(move |x| (y, x)))
            .map(|(y, x)| ((y % M) * M + x % M) * cols + (y / M) * tw + x / M),
    );
}
