//! Packing f32 operands into the bf16 pair layouts the kernel reads.
//!
//! `vdpbf16ps` multiplies *pairs*: lane `j` of a 32-bit element holds two bf16 values
//! (the low half at an even `k`, the high half at the next `k`), and adds both products
//! into one f32. So both operands are packed by pairs of `k`: a panel of A as
//! `[k/2][MR]` pairs, each broadcast to all 16 lanes, and a panel of B as `[k/2][NR]`
//! pairs, 16 columns per register. An odd `k` ends with a zero high half; rows and
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
/// # Safety
/// `rows` and `ks` lie inside the matrix `a` describes.
pub(crate) unsafe fn pack_a(
    a: Strided,
    rows: std::ops::Range<usize>,
    ks: std::ops::Range<usize>,
    out: &mut Vec<u32>,
) {
    let (mc, kc) = (rows.len(), ks.len());
    let kp = pairs(kc);
    let panels = mc.div_ceil(MR);
    out.clear();
    out.resize(panels * kp * MR, 0);
    for (panel, dst) in out.chunks_exact_mut(kp * MR).enumerate() {
        let r0 = panel * MR;
        let live = MR.min(mc - r0);
        for r in 0..live {
            let i = rows.start + r0 + r;
            for p in 0..kp {
                let k = ks.start + 2 * p;
                // SAFETY: i and k (and k + 1 when it is < ks.end) are inside A.
                let (lo, hi) = unsafe {
                    let hi = if k + 1 < ks.end { a.at(i, k + 1) } else { 0.0 };
                    (a.at(i, k), hi)
                };
                dst[p * MR + r] = pair(lo, hi);
            }
        }
    }
}

/// Packs rows `ks` and columns `cols` of B into panels of [`NR`] columns, each panel
/// `[pairs(ks.len())][NR]`, into `out` (resized to fit).
///
/// # Safety
/// `ks` and `cols` lie inside the matrix `b` describes.
pub(crate) unsafe fn pack_b(
    b: Strided,
    ks: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    out: &mut Vec<u32>,
) {
    let (kc, nc) = (ks.len(), cols.len());
    let kp = pairs(kc);
    let panels = nc.div_ceil(NR);
    out.clear();
    out.resize(panels * kp * NR, 0);
    for (panel, dst) in out.chunks_exact_mut(kp * NR).enumerate() {
        let c0 = panel * NR;
        let live = NR.min(nc - c0);
        for p in 0..kp {
            let k = ks.start + 2 * p;
            let row = &mut dst[p * NR..p * NR + live];
            let odd = k + 1 < ks.end;
            for (c, slot) in row.iter_mut().enumerate() {
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
}
