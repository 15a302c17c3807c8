//! The blocked product around the micro-kernel, after BLIS's loop nest: k in blocks
//! of [`KC`], rows of A in blocks of [`MC`] (packed once per k block, kept in L3),
//! columns of B in blocks of [`NC`] (packed into L2), then register tiles with A's
//! micro-panel outermost, so that it stays in L1 while B's panels stream from L2.
//!
//! Holding A's micro-panel in L1 (not B's, as BLIS does) lets KC be long: C is read
//! and written once per KC of k. With B's micro-panel in L1, KC stops at about 256
//! and those passes over C took a sixth of square 2048's time; packing A once per
//! k block rather than once per column block saved another sixth (docs/gemm.md).

use std::cell::RefCell;

use super::kernel::{self, MR, NR, Target};
use super::pack::{self, Strided, pairs};
use crate::gemm_impl::Product;

/// k per packed block, even so that only the last block can end on an odd k: an A
/// micro-panel is KC/2·MR·4 = 16 KiB, half of a 32 KiB L1.
const KC: usize = 1024;
/// Rows of A per packed block: MC·KC·2 bytes = 4 MiB, in L3.
const MC: usize = 2048;
/// Columns of B per packed block: KC·NC·2 bytes = 576 KiB, inside a 1 MiB L2.
const NC: usize = 288;

thread_local! {
    /// The packed A and B blocks, reused across calls on one thread (products inside
    /// rayon tasks are many and small; their allocation would show).
    static PACKED: RefCell<(Vec<u32>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `C ← α·A·B + β·C` for f32 operands with bf16 products, on one thread.
///
/// # Safety
/// `p` describes valid, non-empty f32 matrices (C not overlapping A or B, k ≥ 1), and
/// the CPU has AVX-512F and AVX512_BF16.
pub(crate) unsafe fn gemm_bf16(p: &Product) {
    // The kernel writes C by rows of 16 lanes: give it the orientation in which C's
    // rows are the contiguous way (Cᵀ = Bᵀ·Aᵀ for a column-major C).
    let (m, n, a, b, rsc, csc) = if p.csc.unsigned_abs() <= p.rsc.unsigned_abs() {
        let a = Strided {
            ptr: p.a as *const f32,
            rs: p.rsa,
            cs: p.csa,
        };
        let b = Strided {
            ptr: p.b as *const f32,
            rs: p.rsb,
            cs: p.csb,
        };
        (p.m, p.n, a, b, p.rsc, p.csc)
    } else {
        let a = Strided {
            ptr: p.b as *const f32,
            rs: p.csb,
            cs: p.rsb,
        };
        let b = Strided {
            ptr: p.a as *const f32,
            rs: p.csa,
            cs: p.rsa,
        };
        (p.n, p.m, a, b, p.csc, p.rsc)
    };
    let (alpha, beta) = (p.alpha as f32, p.beta as f32);
    let c = p.c as *mut f32;
    PACKED.with_borrow_mut(|(pa, pb)| {
        for pc in (0..p.k).step_by(KC) {
            let ks = pc..p.k.min(pc + KC);
            let kp = pairs(ks.len());
            // The first k block applies β; later ones add to what it wrote.
            let (beta, read_c) = if pc == 0 {
                (beta, beta != 0.0)
            } else {
                (1.0, true)
            };
            for ic in (0..m).step_by(MC) {
                let rows = ic..m.min(ic + MC);
                // SAFETY: the ranges are inside A (caller's contract).
                unsafe { pack::pack_a(a, rows.clone(), ks.clone(), pa) };
                for jc in (0..n).step_by(NC) {
                    let cols = jc..n.min(jc + NC);
                    // SAFETY: the ranges are inside B.
                    unsafe { pack::pack_b(b, ks.clone(), cols.clone(), pb) };
                    for (ip, a_panel) in pa.chunks_exact(kp * MR).enumerate() {
                        let i = rows.start + ip * MR;
                        for (jp, b_panel) in pb.chunks_exact(kp * NR).enumerate() {
                            let j = cols.start + jp * NR;
                            let t = Target {
                                // SAFETY: (i, j) is inside C: i < m, j < n.
                                c: unsafe { c.offset(i as isize * rsc + j as isize * csc) },
                                rs: rsc,
                                cs: csc,
                                rows: MR.min(m - i),
                                cols: NR.min(n - j),
                            };
                            // SAFETY: the panels hold kp·MR and kp·NR pairs (packing
                            // sizes); the CPU has the instructions (caller's contract);
                            // the target is the live part of this tile of C.
                            unsafe {
                                kernel::tile(
                                    kp,
                                    a_panel.as_ptr(),
                                    b_panel.as_ptr(),
                                    &t,
                                    alpha,
                                    beta,
                                    read_c,
                                );
                            }
                        }
                    }
                }
            }
        }
    });
}
