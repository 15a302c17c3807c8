//! The bf16 micro-kernel: a register tile of C from packed pair panels, with
//! `vdpbf16ps` (two bf16 products added into each f32 lane per instruction, twice the
//! multiply rate of `vfmadd231ps`), and the update of C from that tile.
//!
//! The tile's shape is a choice per product ([`super::Bf16Tile`]): 8×48 ([`MR`]×[`NR`]),
//! 4×64 or 8×32, whichever pads C least (a 64-wide C in one 64-wide panel, not two of
//! 48). The other two hold 16 accumulators, not 24, and measured as fast as 8×48 on
//! whole tiles (docs/gemm.md). Every shape sums each element's pairs in the same
//! order, so the choice never changes a bit.

pub(crate) use crate::c_tile::Target;
use std::arch::x86_64::*;

/// Rows of the register tile: each row's packed pair is broadcast to all 16 lanes.
pub(crate) const MR: usize = 8;
/// Columns of the register tile: three zmm registers of 16 f32 each.
pub(crate) const NR: usize = 48;
/// zmm registers per tile row.
const NV: usize = NR / 16;
/// Room in the spill buffer: no tile holds more elements than this.
const CELLS: usize = 8 * 64;

/// `C ← α·A_panel·B_panel + β·C` on one [`MR`]×[`NR`] tile of C, over `kp` pairs of
/// k in f32 accumulation, from panels as [`super::pack::pack_a`] and
/// [`super::pack::pack_b`] lay them out.
///
/// The 24 accumulators, three B registers and one broadcast fill 28 of the 32 zmm
/// registers. The summation order is fixed (pairs in order, within a pair the
/// instruction's own order), so a product's bits depend on nothing but its operands.
/// A whole tile of a C with unit column stride is updated from the registers; an
/// edge tile or another layout goes through `spill`.
///
/// # Safety
/// The CPU has AVX-512F and AVX512_BF16; `a` holds `kp·MR` and `b` `kp·NR` pairs;
/// `t` is as [`update`] requires.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(crate) unsafe fn tile(
    kp: usize,
    a: *const u32,
    b: *const u32,
    t: &Target,
    alpha: f32,
    beta: f32,
    read_c: bool,
) {
    // SAFETY: forwarded from the caller.
    unsafe { tile_mn::<MR, NV>(kp, a, b, t, alpha, beta, read_c) }
}

/// [`tile`] for a ROWS × 16·NVEC tile: ROWS of the [`MR`] rows of an A panel from `a`
/// (pair `p` of row `r` at `a + p·MR + r`, so a 4-row tile reads half a panel and
/// needs no packing of its own), and a B panel of `[kp][16·NVEC]` pairs.
///
/// # Safety
/// The CPU has AVX-512F and AVX512_BF16; `a + p·MR + r` for `p < kp`, `r < ROWS` and
/// the `kp·16·NVEC` pairs at `b` are live packed pairs; `t` is as [`update`]
/// requires, at most ROWS × 16·NVEC.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(crate) unsafe fn tile_mn<const ROWS: usize, const NVEC: usize>(
    kp: usize,
    a: *const u32,
    b: *const u32,
    t: &Target,
    alpha: f32,
    beta: f32,
    read_c: bool,
) {
    let nr = 16 * NVEC;
    const { assert!(ROWS * NVEC * 16 <= CELLS && MR.is_multiple_of(ROWS)) };
    let mut acc = [[_mm512_setzero_ps(); NVEC]; ROWS];
    for p in 0..kp {
        // SAFETY: p < kp, so the nr pairs at b + p·nr and the ROWS at a + p·MR are
        // inside the panels (caller's contract); unaligned loads need no alignment.
        unsafe {
            let bp = b.add(p * nr);
            let bv: [__m512bh; NVEC] = std::array::from_fn(|v| {
                std::mem::transmute(_mm512_loadu_si512(bp.add(16 * v).cast()))
            });
            let ap = a.add(p * MR);
            for (r, row) in acc.iter_mut().enumerate() {
                let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*ap.add(r) as i32));
                for (v, c) in row.iter_mut().enumerate() {
                    *c = _mm512_dpbf16_ps(*c, av, bv[v]);
                }
            }
        }
    }
    if t.cs == 1 && t.rows == ROWS && t.cols == nr {
        let (va, vb) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
        for (r, row) in acc.iter().enumerate() {
            for (v, c) in row.iter().enumerate() {
                // SAFETY: element (r, 16v..16v + 16) of the whole tile, contiguous
                // (cs = 1), is live C (caller's contract).
                unsafe {
                    let dst = t.c.offset(r as isize * t.rs).add(16 * v);
                    let mut x = _mm512_mul_ps(va, *c);
                    if read_c {
                        x = _mm512_add_ps(x, _mm512_mul_ps(vb, _mm512_loadu_ps(dst)));
                    }
                    _mm512_storeu_ps(dst, x);
                }
            }
        }
    } else {
        let mut spill = [0.0_f32; CELLS];
        for (r, row) in acc.iter().enumerate() {
            for (v, c) in row.iter().enumerate() {
                // SAFETY: r·nr + 16·v + 16 ≤ ROWS·nr ≤ CELLS: inside `spill`.
                unsafe { _mm512_storeu_ps(spill.as_mut_ptr().add(r * nr + 16 * v), *c) };
            }
        }
        // SAFETY: forwarded from the caller.
        unsafe { update(t, &spill, nr, alpha, beta, read_c) };
    }
}

/// `C ← α·tile + β·C` on the live part of the tile; with `read_c` false C is only
/// written (β = 0 must not read a C that may hold NaN). Row r of the tile starts at
/// `tile[r·nr]`.
///
/// # Safety
/// `t` describes elements of a live f32 matrix that nothing else touches meanwhile.
#[target_feature(enable = "avx512f")]
unsafe fn update(t: &Target, tile: &[f32; CELLS], nr: usize, alpha: f32, beta: f32, read_c: bool) {
    for r in 0..t.rows {
        let src = &tile[r * nr..r * nr + t.cols];
        // SAFETY: row r < t.rows of the target (caller's contract).
        let row = unsafe { t.c.offset(r as isize * t.rs) };
        if t.cs == 1 {
            // SAFETY: the row's t.cols elements are contiguous (cs = 1) and live.
            let dst = unsafe { std::slice::from_raw_parts_mut(row, t.cols) };
            if read_c {
                dst.iter_mut()
                    .zip(src)
                    .for_each(|(c, &x)| *c = alpha * x + beta * *c);
            } else {
                dst.iter_mut().zip(src).for_each(|(c, &x)| *c = alpha * x);
            }
        } else {
            for (j, &x) in src.iter().enumerate() {
                // SAFETY: element (r, j) of the target, j < t.cols.
                unsafe {
                    let c = row.offset(j as isize * t.cs);
                    *c = if read_c {
                        alpha * x + beta * *c
                    } else {
                        alpha * x
                    };
                }
            }
        }
    }
}
