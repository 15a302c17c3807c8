//! 8×8 block transposes for Winograd's layout copies (`winograd_tiles.rs`): eight
//! planes into eight pixels' runs of channels, and back.
//!
//! The copies between (N, C, H, W) images and the channels-last buffers the tiles are
//! transformed in are transposes. Value by value the compiler makes them one scalar
//! load and one scalar store per value, and they took about 12 % of a profile of the
//! 3×3 layers (to_channels_last 8.5 %, to_channels_first 3.2 %; docs/conv.md). With
//! AVX an 8×8 block is eight vector loads, 24 shuffles and eight vector stores. The
//! portable loop is the reference and the fallback (f64, other CPUs); both give the
//! same bits, since a copy, or one addition per value, rounds the same either way.

use std::any::TypeId;

use numeric::Float;

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

    /// A block reaching past its slice is refused, not read.
    #[test]
    #[should_panic(expected = "8×8 block inside its slices")]
    fn short_slices_are_refused() {
        let src = vec![0.0_f32; 7 * 8 + 7];
        transpose8(&src, 8, &mut [0.0; 64], 8, None);
    }
}
