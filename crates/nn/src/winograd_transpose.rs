//! Winograd's layout copies (`winograd.rs`): a chunk of (N, C, H, W) images into the
//! zero-padded channels-last buffer its tiles are transformed in, and the chunk's
//! channels-last outputs back into (N, F, H, W) planes with the biases, as 8×8 block
//! transposes: eight planes into eight pixels' runs of channels, and back.
//!
//! The copies between (N, C, H, W) images and the channels-last buffers the tiles are
//! transformed in are transposes. Value by value the compiler makes them one scalar
//! load and one scalar store per value, and they took about 12 % of a profile of the
//! 3×3 layers (to_channels_last 8.5 %, to_channels_first 3.2 %; docs/conv.md). With
//! AVX an 8×8 block is eight vector loads, 24 shuffles and eight vector stores. The
//! portable loop is the reference and the fallback (f64, other CPUs); both give the
//! same bits, since a copy, or one addition per value, rounds the same either way.

use std::any::TypeId;
use std::ops::Range;

use numeric::Float;

use crate::winograd_tiles::{M, Tiling};

/// Rows and columns of one block.
pub(crate) const BLOCK: usize = 8;

/// `dst[r·ds + k] = src[k·ss + r] + add[r]` for `r, k < 8`: the 8×8 block of `src`
/// (rows `ss` apart) transposed into `dst` (rows `ds` apart), plus `add[r]` on each
/// row of `dst` if given.
///
/// # Panics
/// If either block reaches past its slice.
#[inline]
pub(crate) fn transpose8<T: Float>(
    src: &[T],
    ss: usize,
    dst: &mut [T],
    ds: usize,
    add: Option<&[T; BLOCK]>,
) {
    assert!(
        src.len() >= (BLOCK - 1) * ss + BLOCK && dst.len() >= (BLOCK - 1) * ds + BLOCK,
        "8×8 block inside its slices"
    );
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f32>() && avx::detected() {
        // SAFETY: T is f32 (TypeId), so the casts keep lengths and alignment; the
        // assertion above keeps all 64 reads and writes inside the slices; AVX is
        // present (detected).
        unsafe {
            let src = std::slice::from_raw_parts(src.as_ptr().cast::<f32>(), src.len());
            let dst = std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<f32>(), dst.len());
            let add = add.map(|a| &*(a as *const [T; BLOCK]).cast::<[f32; BLOCK]>());
            avx::transpose8(src, ss, dst, ds, add);
        }
        return;
    }
    transpose8_portable(src, ss, dst, ds, add);
}

/// [`transpose8`] value by value: the reference.
#[inline]
pub(crate) fn transpose8_portable<T: Float>(
    src: &[T],
    ss: usize,
    dst: &mut [T],
    ds: usize,
    add: Option<&[T; BLOCK]>,
) {
    for r in 0..BLOCK {
        let row = &mut dst[r * ds..][..BLOCK];
        for (k, d) in row.iter_mut().enumerate() {
            let v = src[k * ss + r];
            *d = add.map_or(v, |a| v + a[r]);
        }
    }
}

/// Channels moved together by [`to_channels_last`] and [`to_channels_first`]: the
/// `LANES` planes are read (or written) in order, a few streams the prefetcher
/// follows, eight pixels at a time as one 8×8 block transpose ([`transpose8`]). One
/// value at a time, all channels of a pixel before the next pixel, these transposes
/// took 13 % of a profile of the training step (docs/conv.md).
const LANES: usize = BLOCK;

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
    let (blocked, full) = (c - c % LANES, w - w % BLOCK);
    for (j, i) in images.enumerate() {
        let image = &x[i * c * plane..][..c * plane];
        let pixels = |y: usize| ((j * hd + y + offset) * wd + offset) * c;
        for c0 in (0..blocked).step_by(LANES) {
            let planes = &image[c0 * plane..];
            for y in 0..h {
                let at = pixels(y);
                let row = &mut padded[at..at + w * c];
                for xx in (0..full).step_by(BLOCK) {
                    transpose8(
                        &planes[y * w + xx..],
                        plane,
                        &mut row[xx * c + c0..],
                        c,
                        None,
                    );
                }
                for xx in full..w {
                    for k in 0..LANES {
                        row[xx * c + c0 + k] = planes[k * plane + y * w + xx];
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

/// A chunk's outputs `y` (b, 4·tiles_h, 4·tiles_w, F) cropped to (H, W), transposed
/// into `out` (b, F, H, W), plus the biases; [`LANES`] planes at a time.
pub(crate) fn to_channels_first<T: Float>(t: &Tiling, y: &[T], bias: Option<&[T]>, out: &mut [T]) {
    let (f, w, w4, plane) = (t.f, t.w, t.tiles_w() * M, t.plane());
    if f == 0 || plane == 0 {
        return;
    }
    let y_image = t.tiles_h() * M * w4 * f;
    let bias_of = |fi: usize| bias.map_or(T::zero(), |b| b[fi]);
    let (blocked, full) = (f - f % LANES, w - w % BLOCK);
    for (j, out_j) in out.chunks_exact_mut(f * plane).enumerate() {
        let y_j = &y[j * y_image..][..y_image];
        let pixels = |row: usize| &y_j[row * w4 * f..][..w * f];
        for f0 in (0..blocked).step_by(LANES) {
            let bias: [T; LANES] = std::array::from_fn(|k| bias_of(f0 + k));
            for row in 0..t.h {
                let src = pixels(row);
                let at = f0 * plane + row * w;
                for xx in (0..full).step_by(BLOCK) {
                    let dst = &mut out_j[at + xx..];
                    transpose8(&src[xx * f + f0..], f, dst, plane, Some(&bias));
                }
                for xx in full..w {
                    for k in 0..LANES {
                        out_j[at + k * plane + xx] = src[xx * f + f0 + k] + bias[k];
                    }
                }
            }
        }
        for fi in blocked..f {
            let b = bias_of(fi);
            let dst = &mut out_j[fi * plane..][..plane];
            for (row, dst_row) in dst.chunks_exact_mut(w).enumerate() {
                for (d, pixel) in dst_row.iter_mut().zip(pixels(row).chunks_exact(f)) {
                    *d = pixel[fi] + b;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::BLOCK;

    /// Whether the CPU has AVX, asked once.
    #[inline]
    pub(super) fn detected() -> bool {
        static AVX: OnceLock<bool> = OnceLock::new();
        *AVX.get_or_init(|| is_x86_feature_detected!("avx"))
    }

    /// The 8×8 transpose in registers: pairs of rows interleaved (unpack), then
    /// pairs of pairs (shuffle), then the 128-bit halves (permute).
    ///
    /// # Safety
    /// AVX is present; `src` holds `7·ss + 8` values and `dst` `7·ds + 8`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn transpose8(
        src: &[f32],
        ss: usize,
        dst: &mut [f32],
        ds: usize,
        add: Option<&[f32; BLOCK]>,
    ) {
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        // SAFETY: the caller keeps every row's 8 values inside the slices.
        unsafe {
            let r: [__m256; BLOCK] = std::array::from_fn(|k| _mm256_loadu_ps(s.add(k * ss)));
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let mut o = [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ];
            if let Some(add) = add {
                for (o, &a) in o.iter_mut().zip(add) {
                    *o = _mm256_add_ps(*o, _mm256_set1_ps(a));
                }
            }
            for (r, o) in o.into_iter().enumerate() {
                _mm256_storeu_ps(d.add(r * ds), o);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    /// The fast block equals the reference bit for bit, with and without the row
    /// additions, on strides wider than a block and on f64 (the portable loop).
    #[test]
    fn fast_block_equals_the_reference() {
        let mut rng = numeric::rng(11);
        for (ss, ds) in [(8, 8), (13, 24), (961, 64), (9, 8)] {
            let src: Vec<f32> = numeric::randn::<f32, _, _>(7 * ss + 8, &mut rng).to_vec();
            let add: [f32; BLOCK] = std::array::from_fn(|i| i as f32 * 0.37 - 1.0);
            for add in [None, Some(&add)] {
                let mut fast = vec![f32::NAN; 7 * ds + 8];
                let mut reference = fast.clone();
                transpose8(&src, ss, &mut fast, ds, add);
                transpose8_portable(&src, ss, &mut reference, ds, add);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&reference), "strides {ss}, {ds}");
                for r in 0..BLOCK {
                    for k in 0..BLOCK {
                        let want = src[k * ss + r] + add.map_or(0.0, |a| a[r]);
                        assert_eq!(fast[r * ds + k], want, "({r}, {k})");
                    }
                }
            }
        }
        let src: Vec<f64> = (0..64).map(f64::from).collect();
        let mut dst = vec![0.0; 64];
        transpose8(&src, 8, &mut dst, 8, None);
        assert!((0..64).all(|i| dst[i] == src[(i % 8) * 8 + i / 8]));
    }

    /// The layout copies move every value to its place, f32 (the block transposes)
    /// and f64 (the portable loop): channel counts and widths with full blocks of 8
    /// and remainders.
    #[test]
    fn layout_copies_put_each_value_in_its_place() {
        fn check<T: Float>() {
            let (n, c, h, w) = (3, 19, 5, 21);
            let t = Tiling {
                batch: 2,
                ..Tiling::new(n, c, c, h, w)
            };
            let mut rng = numeric::rng(7);
            let x: Array4<T> = numeric::randn((n, c, h, w), &mut rng);
            let x = x.as_slice().unwrap();
            let (hp, wp) = t.padded();
            let mut padded = vec![T::zero(); 2 * hp * wp * c];
            to_channels_last(&t, x, 1..3, (hp, wp, 1), &mut padded);
            for (j, i) in (1..3).enumerate() {
                for (ci, y, xx) in cells(c, hp, wp) {
                    let inside = (1..=h).contains(&y) && (1..=w).contains(&xx);
                    let want = if inside {
                        x[((i * c + ci) * h + y - 1) * w + xx - 1]
                    } else {
                        T::zero()
                    };
                    assert_eq!(padded[((j * hp + y) * wp + xx) * c + ci], want);
                }
            }
            let (h4, w4) = (t.tiles_h() * M, t.tiles_w() * M);
            let y: Vec<T> = (0..2 * h4 * w4 * c).map(|v| T::cast(v as f64)).collect();
            let bias: Vec<T> = (0..c).map(|v| T::cast(0.5 - v as f64)).collect();
            let mut out = vec![T::zero(); 2 * c * h * w];
            to_channels_first(&t, &y, Some(&bias), &mut out);
            for j in 0..2 {
                for (ci, row, xx) in cells(c, h, w) {
                    let want = y[((j * h4 + row) * w4 + xx) * c + ci] + bias[ci];
                    assert_eq!(out[((j * c + ci) * h + row) * w + xx], want);
                }
            }
        }
        /// Every (channel, row, column) of a c × h × w block.
        fn cells(c: usize, h: usize, w: usize) -> Vec<(usize, usize, usize)> {
            (0..c)
                .flat_map(|ci| (0..h).flat_map(move |y| (0..w).map(move |x| (ci, y, x))))
                .collect()
        }
        check::<f32>();
        check::<f64>();
    }

    /// A block reaching past its slice is refused, not read.
    #[test]
    #[should_panic(expected = "8×8 block inside its slices")]
    fn short_slices_are_refused() {
        let src = vec![0.0_f32; 7 * 8 + 7];
        transpose8(&src, 8, &mut [0.0; 64], 8, None);
    }
}
