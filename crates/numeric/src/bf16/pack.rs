//! Packing f32 operands into the bf16 pair layouts the kernel reads.
//!
//! `vdpbf16ps` multiplies *pairs*: lane `j` of a 32-bit element holds two bf16 values
//! (the low half at an even `k`, the high half at the next `k`), and adds both products
//! into one f32. So both operands are packed by pairs of `k`: a panel of A as
//! `[k/2][MR]` pairs, each broadcast to all 16 lanes, and a panel of B as `[k/2][NR]`
//! pairs (or as wide as the product's tile, [`pack_b_nr`]), 16 columns per register. An odd `k` ends with a zero high half; rows and
//! columns past the matrix's edge are zero, so the kernel always runs full tiles.

use super::kernel::{MR, NR};

/// `x` rounded to bf16 (round to nearest, ties to even), as its 16 bits.
///
/// bf16 keeps f32's 8 exponent bits and the top 7 fraction bits (8 significant bits
/// with the implicit one), so the relative rounding error is at most 2⁻⁸. NaN stays NaN (a quiet one); ±∞ stays ±∞; values
/// rounding past the largest bf16 become ±∞ as IEEE rounding does.
#[inline(always)]
pub(crate) fn bf16_bits(x: f32) -> u32 {
    let u = x.to_bits();
    if x.is_nan() {
        (u >> 16) | 0x40
    } else {
        u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16
    }
}

/// `x` rounded to bf16 and widened back to f32: the value the kernel multiplies.
#[cfg(test)]
pub(crate) fn round_to_bf16(x: f32) -> f32 {
    f32::from_bits(bf16_bits(x) << 16)
}

/// One bf16 pair: `lo` at the even `k`, `hi` at the odd one.
#[inline(always)]
fn pair(lo: f32, hi: f32) -> u32 {
    bf16_bits(lo) | (bf16_bits(hi) << 16)
}

/// A strided f32 matrix: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct Strided {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl Strided {
    /// # Safety
    /// (i, j) is inside the matrix the pointer and strides describe.
    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> f32 {
        // SAFETY: forwarded from the caller.
        unsafe { *self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }
    }
}

/// Pairs per packed `k` range: ⌈kc/2⌉.
pub(crate) fn pairs(kc: usize) -> usize {
    kc.div_ceil(2)
}

/// Packs rows `rows` and columns `ks` of A into panels of [`MR`] rows, each panel
/// `[pairs(ks.len())][MR]`, into `out` (resized to fit).
///
/// Each row is read along k once (contiguously for a row-major A) and its pairs are
/// written MR apart: the panel's MR rows share the written cache lines.
///
/// # Safety
/// `rows` and `ks` lie inside the matrix `a` describes.
pub(crate) unsafe fn pack_a(
    a: Strided,
    rows: std::ops::Range<usize>,
    ks: std::ops::Range<usize>,
    out: &mut Vec<u32>,
) {
    let (mc, kc) = (rows.len(), ks.len());
    let (kp, full) = (pairs(kc), kc / 2);
    let panels = mc.div_ceil(MR);
    // Every slot of a live row is written below; only the rows past the edge are
    // zeroed, not the whole buffer.
    out.resize(panels * kp * MR, 0);
    for (panel, dst) in out.chunks_exact_mut(kp * MR).enumerate() {
        let r0 = panel * MR;
        let live = MR.min(mc - r0);
        let mut done = 0;
        if live == MR && a.cs == 1 {
            // SAFETY: the MR rows from rows.start + r0 and the columns ks are in A,
            // contiguous along k (cs = 1); the CPU has AVX512_BF16 (the caller's, as
            // the kernel's).
            done = unsafe { pack_a_rows16(a, rows.start + r0, ks.start, kc, dst) };
        } else if live == MR && a.rs == 1 {
            // SAFETY: as above, with the MR rows contiguous at each k (rs = 1).
            done = unsafe { pack_a_columns(a, rows.start + r0, ks.start, kc, dst) };
        }
        for r in 0..live {
            let i = rows.start + r0 + r;
            // SAFETY: (i, ks.start) is inside A.
            let row = unsafe { a.ptr.offset(i as isize * a.rs + ks.start as isize * a.cs) };
            for (p, slot) in dst[r..]
                .iter_mut()
                .step_by(MR)
                .enumerate()
                .take(full)
                .skip(done)
            {
                // SAFETY: 2p + 1 < kc: both elements are in the row.
                *slot = unsafe {
                    let at = row.offset(2 * p as isize * a.cs);
                    pair(*at, *at.offset(a.cs))
                };
            }
            if kc % 2 == 1 {
                // SAFETY: kc − 1 is the row's last element.
                dst[full * MR + r] = pair(unsafe { *row.offset((kc - 1) as isize * a.cs) }, 0.0);
            }
        }
        for r in live..MR {
            dst[r..].iter_mut().step_by(MR).for_each(|x| *x = 0);
        }
    }
}

/// Packs the pairs of [`MR`] = 8 whole rows of a k-contiguous A, 16 k (8 pairs) at a
/// time: each row's 16 values are rounded by `vcvtneps2bf16` and the 8×8 block of
/// pairs is transposed in registers into 8 pairs × 8 rows, four times faster than
/// pair by pair. Returns the pairs done; the caller packs the rest.
///
/// The instruction rounds as [`bf16_bits`] does, except that values below f32's
/// normal range become zero, as `vdpbf16ps` reads them anyway.
///
/// # Safety
/// Rows `i0..i0 + 8` and columns `k0..k0 + kc` are in A, with `a.cs == 1`; `dst` is
/// a panel of at least `kc / 2 · MR` pairs; the CPU has AVX-512F and AVX512_BF16.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pack_a_rows16(a: Strided, i0: usize, k0: usize, kc: usize, dst: &mut [u32]) -> usize {
    use std::arch::x86_64::*;
    const { assert!(MR == 8) };
    // Z_j holds rows 2j and 2j + 1: lane 8·(r % 2) + p for pair p of row r.
    // U (V) gathers rows 0–3 (4–7) of pairs 4h..4h + 4: lane 4·(p % 4) + r % 4.
    let u_idx = |h: i32| {
        let l: [i32; 16] = std::array::from_fn(|l| {
            let (p, r) = (4 * h + l as i32 / 4, l as i32 % 4);
            (r / 2) * 16 + (r % 2) * 8 + p
        });
        // SAFETY: [i32; 16] and __m512i have the same size.
        unsafe { std::mem::transmute::<[i32; 16], __m512i>(l) }
    };
    // O_q holds pairs 2q and 2q + 1 of all 8 rows: lane 8·(p % 2) + r.
    let o_idx = |q: i32| {
        let l: [i32; 16] = std::array::from_fn(|l| {
            let (p, r) = ((2 * q + l as i32 / 8) % 4, l as i32 % 8);
            if r < 4 { 4 * p + r } else { 16 + 4 * p + r - 4 }
        });
        // SAFETY: as above.
        unsafe { std::mem::transmute::<[i32; 16], __m512i>(l) }
    };
    let (u0, u1) = (u_idx(0), u_idx(1));
    let o = [o_idx(0), o_idx(1), o_idx(2), o_idx(3)];
    let blocks = kc / 16;
    for blk in 0..blocks {
        let k = k0 + 16 * blk;
        // SAFETY: rows i0..i0 + 8 hold k..k + 16 < k0 + kc contiguously (caller).
        let z: [__m512i; 4] = std::array::from_fn(|j| unsafe {
            let row = |r: usize| {
                let at = a.ptr.offset((i0 + r) as isize * a.rs + k as isize);
                std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(at)))
            };
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(row(2 * j)), row(2 * j + 1))
        });
        let u = [
            _mm512_permutex2var_epi32(z[0], u0, z[1]),
            _mm512_permutex2var_epi32(z[0], u1, z[1]),
        ];
        let v = [
            _mm512_permutex2var_epi32(z[2], u0, z[3]),
            _mm512_permutex2var_epi32(z[2], u1, z[3]),
        ];
        for (q, idx) in o.iter().enumerate() {
            let out = _mm512_permutex2var_epi32(u[q / 2], *idx, v[q / 2]);
            // SAFETY: pairs 8·blk + 2q, + 1 of the panel: (8·blk + 2q + 2)·MR ≤ kc/2·MR.
            unsafe {
                _mm512_storeu_si512(dst.as_mut_ptr().add((8 * blk + 2 * q) * MR).cast(), out)
            };
        }
    }
    8 * blocks
}

/// Packs the pairs of [`MR`] = 8 whole rows of an A contiguous along its rows (a
/// transposed view, as `Xᵀ·dout` passes), a pair at a time: the 8 rows at k and at
/// k + 1 are rounded together by `vcvtneps2bf16` and interleaved into 8 pairs.
/// Returns the pairs done (all whole ones); rounding as in [`pack_a_rows16`].
///
/// # Safety
/// Rows `i0..i0 + 8` and columns `k0..k0 + kc` are in A, with `a.rs == 1`; `dst` is
/// a panel of at least `kc / 2 · MR` pairs; the CPU has AVX-512F, AVX-512BW/VL and
/// AVX512_BF16.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
unsafe fn pack_a_columns(a: Strided, i0: usize, k0: usize, kc: usize, dst: &mut [u32]) -> usize {
    use std::arch::x86_64::*;
    const { assert!(MR == 8) };
    // After rounding, bf16 lanes 0–7 are the rows at k and 8–15 the rows at k + 1:
    // pair r takes lanes r and 8 + r.
    let order: [i16; 16] = std::array::from_fn(|l| (l / 2 + 8 * (l % 2)) as i16);
    // SAFETY: [i16; 16] and __m256i have the same size.
    let order = unsafe { std::mem::transmute::<[i16; 16], __m256i>(order) };
    let full = kc / 2;
    for p in 0..full {
        // SAFETY: rows i0..i0 + 8 at k and k + 1 (< k0 + kc) are in A, contiguous
        // (rs = 1); pair p's MR slots end at (p + 1)·MR ≤ kc/2·MR.
        unsafe {
            let k = (k0 + 2 * p) as isize;
            let at = a.ptr.offset(i0 as isize + k * a.cs);
            let lo = _mm256_loadu_ps(at);
            let hi = _mm256_loadu_ps(at.offset(a.cs));
            let both = _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castpd256_pd512(_mm256_castps_pd(lo)),
                _mm256_castps_pd(hi),
            ));
            let bf: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(both));
            let pairs = _mm256_permutexvar_epi16(order, bf);
            _mm256_storeu_si256(dst.as_mut_ptr().add(p * MR).cast(), pairs);
        }
    }
    full
}

/// Packs rows `ks` and columns `cols` of B into panels of [`NR`] columns, each panel
/// `[pairs(ks.len())][NR]`, into `out` (resized to fit): what [`super::kernel::tile`]
/// reads, for a B packed once ahead of many products.
///
/// # Safety
/// `ks` and `cols` lie inside the matrix `b` describes.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) unsafe fn pack_b(
    b: Strided,
    ks: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    out: &mut Vec<u32>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { pack_b_nr(b, ks, cols, NR, out) }
}

/// [`pack_b`] into panels of `nr` columns (a multiple of 16, the width of the tile
/// that reads them), each `[pairs(ks.len())][nr]`.
///
/// # Safety
/// `ks` and `cols` lie inside the matrix `b` describes.
pub(crate) unsafe fn pack_b_nr(
    b: Strided,
    ks: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    nr: usize,
    out: &mut Vec<u32>,
) {
    let (kc, nc) = (ks.len(), cols.len());
    let kp = pairs(kc);
    let panels = nc.div_ceil(nr);
    out.resize(panels * kp * nr, 0);
    for (panel, dst) in out.chunks_exact_mut(kp * nr).enumerate() {
        let c0 = panel * nr;
        let live = nr.min(nc - c0);
        for p in 0..kp {
            let k = ks.start + 2 * p;
            // Columns past the edge are zero; the live ones are all written below.
            dst[p * nr + live..(p + 1) * nr].fill(0);
            let row = &mut dst[p * nr..p * nr + live];
            let odd = k + 1 < ks.end;
            let mut done = 0;
            if odd && b.cs == 1 {
                // SAFETY: rows k and k + 1 < ks.end hold the live columns from
                // cols.start + c0 contiguously (cs = 1); the CPU has the instructions
                // (the caller's, as the kernel's).
                done = unsafe { pack_b_pairs16(b, k, cols.start + c0, row) };
            }
            for (c, slot) in row.iter_mut().enumerate().skip(done) {
                let j = cols.start + c0 + c;
                // SAFETY: k and j (and k + 1 when it is < ks.end) are inside B.
                let (lo, hi) = unsafe {
                    let hi = if odd { b.at(k + 1, j) } else { 0.0 };
                    (b.at(k, j), hi)
                };
                *slot = pair(lo, hi);
            }
        }
    }
}

/// Packs the pairs of rows k and k + 1 of a B with unit column stride, 16 columns at
/// a time: both rows rounded by one `vcvtne2ps2bf16` and interleaved into 16 pairs.
/// Returns the columns done; rounding as in [`pack_a_rows16`].
///
/// # Safety
/// Rows `k`, `k + 1` and columns `j0..j0 + row.len()` are in B, with `b.cs == 1`; the
/// CPU has AVX-512F, AVX-512BW and AVX512_BF16.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_b_pairs16(b: Strided, k: usize, j0: usize, row: &mut [u32]) -> usize {
    use std::arch::x86_64::*;
    // bf16 lanes 0–15 are row k's, 16–31 row k + 1's: pair c takes lanes c and 16 + c.
    let order: [i16; 32] = std::array::from_fn(|l| (l / 2 + 16 * (l % 2)) as i16);
    // SAFETY: [i16; 32] and __m512i have the same size.
    let order = unsafe { std::mem::transmute::<[i16; 32], __m512i>(order) };
    let blocks = row.len() / 16;
    for blk in 0..blocks {
        // SAFETY: columns j0 + 16·blk .. + 16 of rows k and k + 1 are in B,
        // contiguous; slots 16·blk .. + 16 are in `row`.
        unsafe {
            let at = b.ptr.offset(k as isize * b.rs + (j0 + 16 * blk) as isize);
            let lo = _mm512_loadu_ps(at);
            let hi = _mm512_loadu_ps(at.offset(b.rs));
            let bf: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
            let pairs = _mm512_permutexvar_epi16(order, bf);
            _mm512_storeu_si512(row.as_mut_ptr().add(16 * blk).cast(), pairs);
        }
    }
    16 * blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_nearest_even() {
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties go to the even (1).
        assert_eq!(round_to_bf16(1.0 + 2f32.powi(-8)), 1.0);
        // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶: ties go to 1 + 2⁻⁶.
        assert_eq!(
            round_to_bf16(1.0 + 3.0 * 2f32.powi(-8)),
            1.0 + 2f32.powi(-6)
        );
        assert_eq!(
            round_to_bf16(1.0 + 2f32.powi(-8) + 2f32.powi(-20)),
            1.0 + 2f32.powi(-7)
        );
        assert_eq!(round_to_bf16(-3.0), -3.0);
        assert_eq!(round_to_bf16(f32::INFINITY), f32::INFINITY);
        assert_eq!(round_to_bf16(f32::MAX), f32::INFINITY);
        assert!(round_to_bf16(f32::NAN).is_nan());
        for x in [0.1_f32, -7.3, 1e-30, 3e30, 123.456] {
            let r = round_to_bf16(x);
            assert!(((r - x) / x).abs() <= 2f32.powi(-8), "{x} → {r}");
        }
    }

    #[test]
    fn packing_pads_odd_k_and_edges_with_zeros() {
        // A 3×3 matrix of 1..9 (row-major), packed whole.
        let m: Vec<f32> = (1..=9).map(|x| x as f32).collect();
        let s = Strided {
            ptr: m.as_ptr(),
            rs: 3,
            cs: 1,
        };
        let mut out = Vec::new();
        // SAFETY: the ranges are inside the 3×3 matrix.
        unsafe { pack_a(s, 0..3, 0..3, &mut out) };
        assert_eq!(out.len(), 2 * MR);
        assert_eq!(out[0], pair(1.0, 2.0));
        assert_eq!(out[1], pair(4.0, 5.0));
        assert_eq!(out[MR], pair(3.0, 0.0));
        assert!(out[3..MR].iter().all(|&x| x == 0));
        // SAFETY: as above.
        unsafe { pack_b(s, 0..3, 0..3, &mut out) };
        assert_eq!(out.len(), 2 * NR);
        assert_eq!(out[0], pair(1.0, 4.0));
        assert_eq!(out[2], pair(3.0, 6.0));
        assert_eq!(out[NR + 1], pair(8.0, 0.0));
        assert!(out[3..NR].iter().all(|&x| x == 0));
    }

    /// The vector paths for whole panels (k-contiguous rows, 16 k at a time, and
    /// row-contiguous columns, a pair at a time) pack what the pair-by-pair path packs
    /// from the same matrix stored with neither stride 1, into buffers left dirty by a
    /// larger packing (their padding must still come out zero).
    #[test]
    fn whole_panels_pack_as_pair_by_pair() {
        if !super::super::cpu_has_bf16() {
            return eprintln!("no AVX512_BF16 on this CPU: the vector paths cannot run");
        }
        let (m, k) = (21, 53);
        let row_major: Vec<f32> = (0..m * k)
            .map(|x| ((x * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        // Column-major, and column-major with every other element skipped.
        let (mut col_major, mut spread) = (vec![0.0; m * k], vec![0.0; 2 * m * k]);
        for i in 0..m {
            for j in 0..k {
                col_major[j * m + i] = row_major[i * k + j];
                spread[2 * (j * m + i)] = row_major[i * k + j];
            }
        }
        let rm = Strided {
            ptr: row_major.as_ptr(),
            rs: k as isize,
            cs: 1,
        };
        let cm = Strided {
            ptr: col_major.as_ptr(),
            rs: 1,
            cs: m as isize,
        };
        let sp = Strided {
            ptr: spread.as_ptr(),
            rs: 2,
            cs: 2 * m as isize,
        };
        for (rows, ks) in [(0..21, 0..53), (3..19, 17..50), (5..13, 0..32)] {
            let mut fast = vec![u32::MAX; 5000];
            let (mut columns, mut slow) = (fast.clone(), fast.clone());
            // SAFETY: the ranges are inside the m×k matrix, in all three layouts.
            unsafe {
                pack_a(rm, rows.clone(), ks.clone(), &mut fast);
                pack_a(cm, rows.clone(), ks.clone(), &mut columns);
                pack_a(sp, rows.clone(), ks.clone(), &mut slow);
            }
            assert_eq!(fast, slow, "rows {rows:?}, k {ks:?}");
            assert_eq!(columns, slow, "rows {rows:?}, k {ks:?}");
            assert_eq!(fast.len(), rows.len().div_ceil(MR) * pairs(ks.len()) * MR);
            assert_eq!(fast, slow, "rows {rows:?}, k {ks:?}");
            // B is the matrix's rows `rows` (as k) and columns `ks`: the 16-wide path
            // (row-major) packs what the pair-by-pair one does (spread), and its
            // last panel's columns past the edge are zero in every pair.
            // SAFETY: as above.
            unsafe { pack_b(sp, rows.clone(), ks.clone(), &mut slow) };
            // SAFETY: as above.
            unsafe { pack_b(rm, rows.clone(), ks.clone(), &mut fast) };
            assert_eq!(fast, slow, "B: k {rows:?}, columns {ks:?}");
            let (kp, live) = (pairs(rows.len()), ks.len() % NR);
            let last = &fast[ks.len() / NR * kp * NR..];
            for p in 0..kp {
                assert!(
                    last[p * NR + live..(p + 1) * NR].iter().all(|&x| x == 0),
                    "B's padding"
                );
            }
        }
    }
}
