//! The tiles of Winograd's F(4×4, 3×3) (`winograd.rs`): the one-axis transforms
//! `Bᵀ`, `Aᵀ`, `G` and their transposes, applied on both axes of a tile, and the
//! copies that put a chunk of images into the 36 matrices of the products and back.
//!
//! Tiles are transformed channels last: a tile's 36 values of every channel are read
//! as 36 runs of C values, and one loop over the channels applies a transform to all
//! of them (the compiler vectorises it). Rows of the products' matrices are tiles,
//! their columns channels, so each product is (tiles, C) · (C, F). The channels-first
//! layout of `winograd_planes.rs` runs the same one-axis transforms through [`lanes`]
//! along rows of tiles instead.

use std::mem::MaybeUninit;
use std::ops::Range;

use ndarray::Array4;
use numeric::{Float, PackedA};
use rayon::prelude::*;

/// Outputs per tile side (`m` of F(m×m, r×r)).
pub(crate) const M: usize = 4;
/// Inputs per tile side, `α = m + r − 1`.
pub(crate) const ALPHA: usize = 6;
/// Points per tile, `α²`: the number of GEMMs.
pub(crate) const POINTS: usize = ALPHA * ALPHA;
/// Tiles a chunk's products aim for: wide enough for the GEMM's kernels, small enough
/// that a chunk's transformed tiles (36 · C · tiles values) stay near the core.
pub(crate) const TILES: usize = 128;

/// One 'same' 3×3 convolution's sizes, and how its batch is cut into chunks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tiling {
    pub(crate) n: usize,
    /// Channels read (C forward, F backward-data).
    pub(crate) c: usize,
    /// Channels written.
    pub(crate) f: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    /// Images per chunk.
    pub(crate) batch: usize,
}

impl Tiling {
    /// The tiling of a layer of `n` images of `c` channels into `f`, on `h`×`w` maps,
    /// in chunks of about [`TILES`] tiles, a multiple of the pool's thread count.
    pub(crate) fn new(n: usize, c: usize, f: usize, h: usize, w: usize) -> Self {
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

    /// Tiles down a map.
    pub(crate) fn tiles_h(&self) -> usize {
        self.h.div_ceil(M)
    }

    /// Tiles across a map.
    pub(crate) fn tiles_w(&self) -> usize {
        self.w.div_ceil(M)
    }

    /// Tiles of one image.
    pub(crate) fn tiles(&self) -> usize {
        self.tiles_h() * self.tiles_w()
    }

    /// Rows and columns of a zero-padded image that every tile fits in: one row and
    /// column of zeros before, the tiles' overhang and one more after.
    pub(crate) fn padded(&self) -> (usize, usize) {
        (self.tiles_h() * M + 2, self.tiles_w() * M + 2)
    }

    /// Values of one image's map.
    pub(crate) fn plane(&self) -> usize {
        self.h * self.w
    }

    /// Chunks of the batch.
    pub(crate) fn chunks(&self) -> usize {
        self.n.div_ceil(self.batch)
    }

    /// The images of chunk `i`.
    pub(crate) fn images(&self, i: usize) -> Range<usize> {
        i * self.batch..((i + 1) * self.batch).min(self.n)
    }
}

/// `Bᵀ d` on six values: the input transform along one axis.
#[inline(always)]
pub(crate) fn bt<T: Float>(d: [T; 6]) -> [T; 6] {
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
pub(crate) fn at<T: Float>(m: [T; 6]) -> [T; 4] {
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
pub(crate) fn a<T: Float>(e: [T; 4]) -> [T; 6] {
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
pub(crate) fn gt<T: Float>(m: [T; 6]) -> [T; 3] {
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
pub(crate) fn both_axes<T: Float, const K: usize, const J: usize>(
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
pub(crate) fn rows<T, const K: usize>(
    buf: &[T],
    first: usize,
    stride: usize,
    len: usize,
) -> [&[T]; K] {
    std::array::from_fn(|k| &buf[first + k * stride..][..len])
}

/// `J` destinations of `len` (> 0) values, `stride` (≥ `len`) apart from `first` in
/// `buf`.
#[inline(always)]
pub(crate) fn rows_mut<T, const J: usize>(
    buf: &mut [T],
    first: usize,
    stride: usize,
    len: usize,
) -> [&mut [T]; J] {
    let mut parts = buf[first..].chunks_mut(stride);
    std::array::from_fn(|_| &mut parts.next().expect("rows inside the buffer")[..len])
}

/// A one-axis transform `l` (K → J values) on every lane of `src` at once:
/// `dst[i][c] = (l(src[·][c]))[i]`. The lanes are channels (or, channels first,
/// tiles), so the loop runs on contiguous values and the compiler vectorises it.
#[inline(always)]
pub(crate) fn lanes<T: Float, const K: usize, const J: usize>(
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

/// Channels moved together by [`to_channels_last`] and [`to_channels_first`]: each
/// pixel's run of `LANES` channels is one short contiguous write (or read), while the
/// `LANES` planes are read (or written) in order, a few streams the prefetcher
/// follows. One value at a time, all channels of a pixel before the next pixel, these
/// transposes took 13 % of a profile of the training step (docs/conv.md).
const LANES: usize = 8;

/// Images `images` of `x` (N, C, H, W) into `padded` (b, Hd, Wd, C), channels last,
/// at `offset` rows and columns from each image's corner; the rest of `padded` is
/// left alone (zero).
pub(crate) fn to_channels_last<T: Float>(
    t: &Tiling,
    x: &[T],
    images: Range<usize>,
    (hd, wd, offset): (usize, usize, usize),
    padded: &mut [T],
) {
    let (c, h, w) = (t.c, t.h, t.w);
    let plane = h * w;
    if c == 0 || plane == 0 {
        return;
    }
    let blocked = c - c % LANES;
    for (j, i) in images.enumerate() {
        let image = &x[i * c * plane..][..c * plane];
        let pixels = |y: usize| ((j * hd + y + offset) * wd + offset) * c;
        for c0 in (0..blocked).step_by(LANES) {
            let src: [&[T]; LANES] = std::array::from_fn(|k| &image[(c0 + k) * plane..][..plane]);
            for y in 0..h {
                let at = pixels(y);
                for (xx, pixel) in padded[at..at + w * c].chunks_exact_mut(c).enumerate() {
                    let run: &mut [T; LANES] = (&mut pixel[c0..c0 + LANES])
                        .try_into()
                        .expect("LANES values");
                    for (v, s) in run.iter_mut().zip(&src) {
                        *v = s[y * w + xx];
                    }
                }
            }
        }
        for ci in blocked..c {
            let src = &image[ci * plane..][..plane];
            for (y, row) in src.chunks_exact(w).enumerate() {
                let at = pixels(y);
                for (pixel, &s) in padded[at..at + w * c].chunks_exact_mut(c).zip(row) {
                    pixel[ci] = s;
                }
            }
        }
    }
}

/// The input tiles of a chunk of `images` images, from `padded` (b, Hp, Wp, C) of
/// [`Tiling::padded`], transformed (`Bᵀ d B`) into `v` as the 36 matrices
/// V[ξ] (tiles of the chunk, C). `tmp` holds 36·C values.
pub(crate) fn input_tiles<T: Float>(
    t: &Tiling,
    padded: &[T],
    images: usize,
    tmp: &mut [T],
    v: &mut [T],
) {
    let (ch, cols) = (t.c, images * t.tiles());
    transform_tiles::<T, ALPHA>(t, padded, t.padded(), ch, images, tmp, bt, |p, r, src| {
        lanes(
            src,
            rows_mut(v, (r * ALPHA * cols + p) * ch, cols * ch, ch),
            bt,
        );
    });
}

/// [`input_tiles`] for bf16 products: each tile's values written straight into the
/// 36 operands `v[ξ]` (tiles of the chunk, C), rounded to bf16 and packed, instead of
/// into f32 matrices that the product would pack. `row` holds 6·C values.
pub(crate) fn input_tiles_bf16(
    t: &Tiling,
    padded: &[f32],
    images: usize,
    tmp: &mut [f32],
    row: &mut [f32],
    v: &mut [PackedA],
) {
    let (ch, cols) = (t.c, images * t.tiles());
    for v in v.iter_mut() {
        v.reset(cols, ch);
    }
    transform_tiles::<f32, ALPHA>(t, padded, t.padded(), ch, images, tmp, bt, |p, r, src| {
        lanes(src, rows_mut(row, 0, ch, ch), bt);
        for (b, values) in row.chunks_exact(ch).enumerate() {
            v[r * ALPHA + b].set_row(p, values);
        }
    });
}

/// The `dout` tiles of a chunk of `images` images, from `padded` (b, 4·tiles_h,
/// 4·tiles_w, F), 4×4 each, transformed (`A e Aᵀ`) into `e` as the 36 matrices
/// E[ξ] (tiles of the chunk, F). `tmp` holds 36·F values.
pub(crate) fn dout_tiles<T: Float>(
    t: &Tiling,
    padded: &[T],
    images: usize,
    tmp: &mut [T],
    e: &mut [T],
) {
    let plane = (t.tiles_h() * M, t.tiles_w() * M);
    let (ch, cols) = (t.f, images * t.tiles());
    transform_tiles::<T, M>(t, padded, plane, ch, images, tmp, a, |p, r, src| {
        lanes(
            src,
            rows_mut(e, (r * ALPHA * cols + p) * ch, cols * ch, ch),
            a,
        );
    });
}

/// The 2-D transform `l · tile · lᵀ` of every K×K tile (M apart) of `padded` (b, ph,
/// pw, ch), in two one-axis passes: down the columns into `tmp` (K·6·ch values),
/// `tmp[b][a'] = l(tile[·][b])[a']`, then along the rows by `along_rows(p, a', src)`
/// for tile p, which transforms its K sources `src[b] = tmp[b][a']` by `l` into the 6
/// points (a', b') of the tile (ξ = a'·6 + b') and stores them.
#[inline(always)]
fn transform_tiles<T: Float, const K: usize>(
    t: &Tiling,
    padded: &[T],
    (ph, pw): (usize, usize),
    ch: usize,
    images: usize,
    tmp: &mut [T],
    l: impl Fn([T; K]) -> [T; ALPHA] + Copy,
    mut along_rows: impl FnMut(usize, usize, [&[T]; K]),
) {
    let cols = images * t.tiles();
    if ch == 0 {
        return;
    }
    for p in 0..cols {
        let (j, ty, tx) = (p / t.tiles(), p % t.tiles() / t.tiles_w(), p % t.tiles_w());
        let corner = ((j * ph + ty * M) * pw + tx * M) * ch;
        for b in 0..K {
            let src = rows(padded, corner + b * ch, pw * ch, ch);
            lanes(src, rows_mut(tmp, b * ALPHA * ch, ch, ch), l);
        }
        for r in 0..ALPHA {
            along_rows(p, r, rows(tmp, r * ch, ALPHA * ch, ch));
        }
    }
}

/// The output transform (`Aᵀ M A`) of the 36 products M[ξ] (tiles of the chunk, F)
/// into `y` (b, 4·tiles_h, 4·tiles_w, F), channels last. `tmp` holds 36·F values.
pub(crate) fn output_tiles<T: Float>(
    t: &Tiling,
    m: &[T],
    images: usize,
    tmp: &mut [T],
    y: &mut [T],
) {
    let (f, cols) = (t.f, images * t.tiles());
    let (h4, w4) = (t.tiles_h() * M, t.tiles_w() * M);
    if f == 0 {
        return;
    }
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
/// into `out` (b, F, H, W), plus the biases; [`LANES`] planes at a time. Every element
/// of `out` is written (never read), so it may start uninitialised.
pub(crate) fn to_channels_first<T: Float>(
    t: &Tiling,
    y: &[T],
    bias: Option<&[T]>,
    out: &mut [MaybeUninit<T>],
) {
    let (f, w, w4, plane) = (t.f, t.w, t.tiles_w() * M, t.plane());
    if f == 0 || plane == 0 {
        return;
    }
    let y_image = t.tiles_h() * M * w4 * f;
    let bias_of = |fi: usize| bias.map_or(T::zero(), |b| b[fi]);
    let blocked = f - f % LANES;
    for (j, out_j) in out.chunks_exact_mut(f * plane).enumerate() {
        let y_j = &y[j * y_image..][..y_image];
        let pixels = |row: usize| &y_j[row * w4 * f..][..w * f];
        for f0 in (0..blocked).step_by(LANES) {
            let bias: [T; LANES] = std::array::from_fn(|k| bias_of(f0 + k));
            let mut dst = rows_mut::<_, LANES>(out_j, f0 * plane, plane, plane);
            for row in 0..t.h {
                for (xx, pixel) in pixels(row).chunks_exact(f).enumerate() {
                    let run: &[T; LANES] = pixel[f0..f0 + LANES].try_into().expect("LANES values");
                    for ((d, &v), &b) in dst.iter_mut().zip(run).zip(&bias) {
                        d[row * w + xx].write(v + b);
                    }
                }
            }
        }
        for fi in blocked..f {
            let b = bias_of(fi);
            let dst = &mut out_j[fi * plane..][..plane];
            for (row, dst_row) in dst.chunks_exact_mut(w).enumerate() {
                for (d, pixel) in dst_row.iter_mut().zip(pixels(row).chunks_exact(f)) {
                    d.write(pixel[fi] + b);
                }
            }
        }
    }
}

/// The filters `w` (F, C, 3, 3) transformed (`G g Gᵀ`), as the 36 matrices U[ξ]
/// (C, F) of the channels-last products `M[ξ] = V[ξ] · U[ξ]`, or with `flipped` (F, C)
/// of the filters turned by 180°: the filters of backward-data. With `transposed`,
/// each matrix the other way round, for the channels-first products
/// `M[ξ] = U[ξ] · V[ξ]` (`winograd_planes.rs`).
pub(crate) fn filter_tiles<T: Float>(w: &Array4<T>, flipped: bool, transposed: bool) -> Vec<T> {
    let (f, c, _, _) = w.dim();
    let w = w.as_slice().expect("standard layout");
    // Rows of U[ξ] are the channels read, unless transposed.
    let (rows, cols) = if flipped ^ transposed { (f, c) } else { (c, f) };
    let mut u = vec![T::zero(); POINTS * f * c];
    let out = Shared(u.as_mut_ptr());
    // A task per row r of the 36 matrices: it alone writes their rows r, each along
    // the row (a filter's 36 values land in 36 matrices, so one filter at a time
    // would scatter them). Twice per layer and step, once per core it was 3 % of the
    // bf16 training step.
    (0..rows).into_par_iter().for_each(|r| {
        for col in 0..cols {
            let (fi, ci) = if flipped ^ transposed {
                (r, col)
            } else {
                (col, r)
            };
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
            for (xi, &v) in both_axes(taps, g).iter().flatten().enumerate() {
                // SAFETY: (xi·rows + r)·cols + col < 36·rows·cols = u.len(), and only
                // this task writes row r of any matrix; u outlives the tasks.
                unsafe { out.at((xi * rows + r) * cols + col).write(v) };
            }
        }
    });
    u
}

/// The filter gradient `dW` (F, C, 3, 3) from its 36 transformed matrices `dw`
/// (C, F each, as backward-weights sums them): `Gᵀ dW[ξ] G` for every (filter,
/// channel) pair, [`filter_tiles`] the other way round. A task per channel ci reads
/// row ci of the 36 matrices, each contiguous over the filters, so the transform runs
/// along rows of F lanes ([`lanes`]) and only the writes are scattered. One pair at a
/// time on one thread, with 36 reads a matrix apart per pair, it took 2.5 % of the
/// bf16 training step while the other thread waited.
pub(crate) fn filter_gradient<T: Float>(dw: &[T], c: usize, f: usize) -> Array4<T> {
    let mut out = vec![T::zero(); f * c * 9];
    if out.is_empty() {
        return Array4::zeros((f, c, 3, 3));
    }
    let shared = Shared(out.as_mut_ptr());
    (0..c).into_par_iter().for_each_init(
        || vec![T::zero(); (ALPHA + 3) * 3 * f],
        |buf, ci| {
            let (rows_of, done) = buf.split_at_mut(ALPHA * 3 * f);
            // rows_of[a][j]: the transform along b of row a of each filter's 6×6.
            for a in 0..ALPHA {
                lanes(
                    rows(dw, (a * ALPHA * c + ci) * f, c * f, f),
                    rows_mut(rows_of, a * 3 * f, f, f),
                    gt,
                );
            }
            // done[i][j]: then along a, as `both_axes` does.
            for j in 0..3 {
                lanes(
                    rows(rows_of, j * f, 3 * f, f),
                    rows_mut(done, j * f, 3 * f, f),
                    gt,
                );
            }
            for fi in 0..f {
                for k in 0..9 {
                    // SAFETY: (fi·c + ci)·9 + k < F·C·9 = out.len(); only this task
                    // writes channel ci's taps; `out` outlives the tasks.
                    unsafe { shared.at((fi * c + ci) * 9 + k).write(done[k * f + fi]) };
                }
            }
        },
    );
    Array4::from_shape_vec((f, c, 3, 3), out).expect("F·C·9 values")
}

/// A buffer the tasks of [`filter_tiles`] and [`filter_gradient`] write at disjoint
/// places.
struct Shared<T>(*mut T);

// SAFETY: the tasks write disjoint elements (see `filter_tiles`), and T is Send.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Element `i` of the buffer.
    ///
    /// # Safety
    /// `i` is inside the buffer.
    unsafe fn at(&self, i: usize) -> *mut T {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.add(i) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tile, one channel, one filter: Winograd's 4×4 outputs are the 16 dot
    /// products of the filter with the 3×3 windows of the 6×6 tile.
    #[test]
    fn one_tile_equals_sixteen_dot_products() {
        let mut rng = numeric::rng(3);
        let d: Array4<f64> = numeric::randn::<f64, _, _>((1, 1, 6, 6), &mut rng);
        let k: Array4<f64> = numeric::randn::<f64, _, _>((1, 1, 3, 3), &mut rng);
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
}
