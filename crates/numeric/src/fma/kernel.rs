//! The f32 micro-kernel: an `MR`×`16·NV` tile of C from packed panels, one
//! `vfmadd231ps` per accumulator and k (a broadcast element of A times 16 columns of
//! B), and the update of C from that tile.

use std::arch::x86_64::*;

pub(crate) use crate::c_tile::Target;

/// `C ← α·A_panel·B_panel + β·C` on one tile of C, over `kc` values of k.
///
/// `MR·NV` accumulators stay in zmm registers for the whole panel, with `NV` for B's
/// row and one for the broadcast (8 × 3 + 4 = 28 of 32 for the 8 × 48 tile). Each
/// accumulator sums its k in order, one rounding per fused multiply-add, so an
/// element's bits depend only on its operands, never on the tile or thread computing
/// it. A whole tile of a C with unit column stride is updated from the registers; an
/// edge tile or another layout goes through a buffer, with the same operations.
///
/// # Safety
/// The CPU has AVX-512F; `a` holds `kc·MR` and `b` `kc·16·NV` floats; `t` describes
/// live elements of an f32 matrix that nothing else touches meanwhile.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tile<const MR: usize, const NV: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    t: &Target,
    alpha: f32,
    beta: f32,
    read_c: bool,
) {
    if read_c && t.cs == 1 {
        // C's tile is read once, after the whole panel: fetched meanwhile, its misses
        // (C lives in L3 or memory between k blocks) do not stall the update.
        for r in 0..t.rows {
            for v in 0..NV {
                // SAFETY: a prefetch never faults; the address is inside C's row r.
                unsafe {
                    let at = t.c.offset(r as isize * t.rs).add(16 * v);
                    _mm_prefetch::<_MM_HINT_T0>(at.cast());
                }
            }
        }
    }
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    for p in 0..kc {
        // SAFETY: p < kc, so the 16·NV floats at b + p·16·NV and the MR at a + p·MR
        // are inside the panels (caller's contract); unaligned loads need no alignment.
        unsafe {
            let bp = b.add(p * 16 * NV);
            let bv: [__m512; NV] = std::array::from_fn(|v| _mm512_loadu_ps(bp.add(16 * v)));
            let ap = a.add(p * MR);
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ap.add(r));
                for (v, c) in row.iter_mut().enumerate() {
                    *c = _mm512_fmadd_ps(av, bv[v], *c);
                }
            }
        }
    }
    let (va, vb) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
    if t.cs == 1 && t.rows == MR && t.cols == 16 * NV {
        for (r, row) in acc.iter().enumerate() {
            for (v, c) in row.iter().enumerate() {
                // SAFETY: element (r, 16v..16v + 16) of the whole tile, contiguous
                // (cs = 1), is live C (caller's contract).
                unsafe {
                    let dst = t.c.offset(r as isize * t.rs).add(16 * v);
                    _mm512_storeu_ps(dst, scale(*c, _mm512_loadu_ps(dst), va, vb, read_c));
                }
            }
        }
    } else {
        for (r, row) in acc.iter().enumerate().take(t.rows) {
            // SAFETY: row r < t.rows of the target (caller's contract).
            let dst = unsafe { t.c.offset(r as isize * t.rs) };
            for (v, c) in row.iter().enumerate() {
                let live = t.cols.saturating_sub(16 * v).min(16);
                if live == 0 {
                    break;
                }
                let mut old = [0.0_f32; 16];
                if read_c {
                    for (j, o) in old.iter_mut().enumerate().take(live) {
                        // SAFETY: element (r, 16v + j) of the target, 16v + j < t.cols.
                        *o = unsafe { *dst.offset((16 * v + j) as isize * t.cs) };
                    }
                }
                let mut new = [0.0_f32; 16];
                // SAFETY: `old` and `new` hold 16 floats each.
                unsafe {
                    let x = scale(*c, _mm512_loadu_ps(old.as_ptr()), va, vb, read_c);
                    _mm512_storeu_ps(new.as_mut_ptr(), x);
                }
                for (j, x) in new.iter().enumerate().take(live) {
                    // SAFETY: as above.
                    unsafe { *dst.offset((16 * v + j) as isize * t.cs) = *x };
                }
            }
        }
    }
}

/// `α·acc + β·old`, or `α·acc` alone when C is not to be read (β = 0 must not read a
/// C that may hold NaN). The same operations on every tile, whole or at an edge.
#[target_feature(enable = "avx512f")]
fn scale(acc: __m512, old: __m512, va: __m512, vb: __m512, read_c: bool) -> __m512 {
    let x = _mm512_mul_ps(va, acc);
    if read_c {
        _mm512_add_ps(x, _mm512_mul_ps(vb, old))
    } else {
        x
    }
}
