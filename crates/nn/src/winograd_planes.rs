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
//! K² rows of tiles (the plane's rows copied once into a zero-padded row, so that the
//! overhanging tiles read zeros without a test), then transformed on both axes, a row
//! of tiles at a time ([`lanes`]). The output transform runs the same way backwards:
//! `Aᵀ M A` on rows of tiles, then each 4×4 block scattered into its plane.

use std::ops::Range;

use numeric::Float;

use crate::winograd_tiles::{ALPHA, M, Tiling, lanes, rows, rows_mut};

/// One thread's buffers for the transforms of a chunk, reused from chunk to chunk.
pub(crate) struct Planes<T> {
    /// A tile's K×K values, gathered: K² rows of the chunk's tiles.
    gathered: Vec<T>,
    /// The transform along one axis: 6·K (input) or 6·4 (output) rows of tiles.
    half: Vec<T>,
    /// The 4×4 outputs of every tile: 16 rows of tiles.
    blocks: Vec<T>,
    /// One row of a plane with zeros around it.
    row: Vec<T>,
}

impl<T: Float> Planes<T> {
    /// Buffers for chunks of `t.batch` images.
    pub(crate) fn new(t: &Tiling) -> Self {
        let cols = t.batch * t.tiles();
        Self {
            gathered: vec![T::zero(); ALPHA * ALPHA * cols],
            half: vec![T::zero(); ALPHA * ALPHA * cols],
            blocks: vec![T::zero(); M * M * cols],
            row: vec![T::zero(); t.tiles_w() * M + 2],
        }
    }
}

/// The K×K tiles (`M` apart, from `pad` rows and columns before the map's corner) of
/// images `images` of `x` (N, ch, H, W), transformed on both axes by `l` (K → 6) into
/// `out` as the 36 matrices (ch, tiles of the chunk): `Bᵀ d B` of the input tiles
/// (K = 6, pad 1) for V, or `A e Aᵀ` of the 4×4 `dout` tiles (K = 4, pad 0) for E.
#[allow(clippy::too_many_arguments)] // the transform's shape: sizes, source, padding, rule, buffers
pub(crate) fn transform_planes<T: Float, const K: usize>(
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
    let (g, half) = (&mut s.gathered, &mut s.half);
    for c in 0..ch {
        for (j, i) in images.clone().enumerate() {
            let map = &x[(i * ch + c) * plane..][..plane];
            gather::<T, K>(
                t,
                map,
                pad,
                &mut s.row,
                &mut g[..K * K * cols],
                cols,
                j * tiles,
            );
        }
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

/// One plane's K×K tiles into the K² rows of `g` (`cols` tiles long), at columns
/// `first..first + tiles`: `g[a·K + k][first + tile] = map[4·ty + a − pad][4·tx + k − pad]`,
/// zero outside the map.
fn gather<T: Float, const K: usize>(
    t: &Tiling,
    map: &[T],
    pad: usize,
    row: &mut [T],
    g: &mut [T],
    cols: usize,
    first: usize,
) {
    let (h, w, tw) = (t.h, t.w, t.tiles_w());
    for ty in 0..t.tiles_h() {
        for a in 0..K {
            let y = (ty * M + a).wrapping_sub(pad);
            if y < h {
                row[..pad].fill(T::zero());
                row[pad..pad + w].copy_from_slice(&map[y * w..][..w]);
                row[pad + w..].fill(T::zero());
            } else {
                row.fill(T::zero());
            }
            let at = first + ty * tw;
            for k in 0..K {
                let dst = &mut g[(a * K + k) * cols + at..][..tw];
                for (tx, d) in dst.iter_mut().enumerate() {
                    *d = row[tx * M + k];
                }
            }
        }
    }
}

/// The output transform (`Aᵀ M A`) of the 36 products M[ξ] (f, tiles of the chunk) in
/// `m`, cropped to (H, W) and written with the biases into `out` (b, f, H, W): the
/// chunk's images, channels first.
pub(crate) fn output_planes<T: Float>(
    t: &Tiling,
    m: &[T],
    f: usize,
    cols: usize,
    bias: Option<&[T]>,
    s: &mut Planes<T>,
    out: &mut [T],
) {
    let (tiles, plane) = (t.tiles(), t.plane());
    if f == 0 || cols == 0 {
        return;
    }
    let (half, blocks) = (&mut s.half, &mut s.blocks);
    for fi in 0..f {
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
        let bias = bias.map_or(T::zero(), |b| b[fi]);
        for (j, image) in out.chunks_exact_mut(f * plane).enumerate() {
            scatter(
                t,
                blocks,
                cols,
                j * tiles,
                bias,
                &mut image[fi * plane..][..plane],
            );
        }
    }
}

/// One plane's 4×4 output blocks from the 16 rows of `blocks` (`cols` tiles long,
/// this image's from column `first`), cropped to the map, plus `bias`.
fn scatter<T: Float>(t: &Tiling, blocks: &[T], cols: usize, first: usize, bias: T, map: &mut [T]) {
    let (w, tw) = (t.w, t.tiles_w());
    for (y, dst) in map.chunks_exact_mut(w).enumerate() {
        let (ty, a) = (y / M, y % M);
        let src: [&[T]; M] = rows(blocks, a * M * cols + first + ty * tw, cols, tw);
        for (x, d) in dst.iter_mut().enumerate() {
            *d = src[x % M][x / M] + bias;
        }
    }
}
