//! The blocked product around the f32 micro-kernel, on the bf16 kernel's frame: k in
//! blocks of [`KC`], rows of A in blocks of [`MC`] (packed once per k block, kept in
//! L3), columns of B in blocks of [`NC`] (packed into L2), then register tiles with A's
//! micro-panel outermost, so that it stays in L1 while B's panels stream from L2.
//!
//! On several threads, a wide C is cut into bands of columns that share one packed
//! block of A (packed by all threads side by side, once per k block): no thread packs
//! what another already has. A tall, narrow C is cut into bands of rows instead, each
//! packing its own rows of A and the whole (narrow) B.

use std::cell::RefCell;
use std::ops::Range;

use rayon::prelude::*;

use super::kernel::{self, Target};
use super::pack;
use crate::bf16::Strided;
use crate::gemm_impl::Product;

/// k per packed block: an 8-row A micro-panel is KC·8·4 = 16 KiB, half of L1, and C
/// is read and written once per KC of k.
pub(crate) const KC: usize = 512;
/// Rows of A per packed block (rounded down to whole tiles): MC·KC·4 = 4 MiB, in L3.
const MC: usize = 2048;
/// Columns of B per packed block (rounded down to whole tiles): KC·NC·4 = 576 KiB,
/// inside a 1 MiB L2.
const NC: usize = 288;

thread_local! {
    /// The packed A and B blocks, reused across calls on one thread (products inside
    /// rayon tasks are many and small; their allocation would show).
    static PACKED: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// A product as the kernel sees it: C's rows are its contiguous way (Cᵀ = Bᵀ·Aᵀ for a
/// column-major C), α and β in f32.
struct Oriented {
    m: usize,
    n: usize,
    k: usize,
    a: Strided,
    b: Strided,
    c: *mut f32,
    rsc: isize,
    csc: isize,
    alpha: f32,
    beta: f32,
}

// SAFETY: the pointers are only dereferenced under the contract of `gemm_fma`, whose
// bands write disjoint parts of C and only read A and B.
unsafe impl Sync for Oriented {}

impl Oriented {
    fn new(p: &Product) -> Oriented {
        let strided = |ptr: usize, rs, cs| Strided {
            ptr: ptr as *const f32,
            rs,
            cs,
        };
        let (m, n, a, b, rsc, csc) = if p.csc.unsigned_abs() <= p.rsc.unsigned_abs() {
            let (a, b) = (strided(p.a, p.rsa, p.csa), strided(p.b, p.rsb, p.csb));
            (p.m, p.n, a, b, p.rsc, p.csc)
        } else {
            let (a, b) = (strided(p.b, p.csb, p.rsb), strided(p.a, p.csa, p.rsa));
            (p.n, p.m, a, b, p.csc, p.rsc)
        };
        Oriented {
            m,
            n,
            k: p.k,
            a,
            b,
            c: p.c as *mut f32,
            rsc,
            csc,
            alpha: p.alpha as f32,
            beta: p.beta as f32,
        }
    }

    /// β and whether C is read, for the k block starting at `pc`: the first applies β,
    /// later ones add to what it wrote.
    fn beta_at(&self, pc: usize) -> (f32, bool) {
        if pc == 0 {
            (self.beta, self.beta != 0.0)
        } else {
            (1.0, true)
        }
    }

    /// Every tile of C's `rows` × `cols` over the k block `ks`, from A's packed panels
    /// of those rows and B's of those columns.
    ///
    /// # Safety
    /// The panels hold the packed rows and columns (`pack_a`, `pack_b` with MR and
    /// 16·NV); the CPU has AVX-512F; nothing else touches these elements of C.
    unsafe fn tiles<const MR: usize, const NV: usize>(
        &self,
        ks: Range<usize>,
        rows: Range<usize>,
        cols: Range<usize>,
        pa: &[f32],
        pb: &[f32],
    ) {
        let (nr, kc) = (16 * NV, ks.len());
        let (beta, read_c) = self.beta_at(ks.start);
        for (ip, a_panel) in pa.chunks_exact(kc * MR).enumerate() {
            let i = rows.start + ip * MR;
            for (jp, b_panel) in pb.chunks_exact(kc * nr).enumerate() {
                let j = cols.start + jp * nr;
                let t = Target {
                    // SAFETY: (i, j) is inside C: i < rows.end ≤ m, j < cols.end ≤ n.
                    c: unsafe { self.c.offset(i as isize * self.rsc + j as isize * self.csc) },
                    rs: self.rsc,
                    cs: self.csc,
                    rows: MR.min(rows.end - i),
                    cols: nr.min(cols.end - j),
                };
                // SAFETY: the panels hold kc·MR and kc·nr floats (packing sizes); the
                // rest is the caller's contract.
                unsafe {
                    kernel::tile::<MR, NV>(
                        kc,
                        a_panel.as_ptr(),
                        b_panel.as_ptr(),
                        &t,
                        self.alpha,
                        beta,
                        read_c,
                    );
                }
            }
        }
    }

    /// C's `rows` × `cols` over all of k on this thread, packing both operands into
    /// this thread's buffers.
    ///
    /// # Safety
    /// The ranges are inside C; the CPU has AVX-512F; nothing else touches these
    /// elements of C.
    unsafe fn block<const MR: usize, const NV: usize>(
        &self,
        rows: Range<usize>,
        cols: Range<usize>,
    ) {
        let nr = 16 * NV;
        let (mc, nc) = (MC / MR * MR, NC / nr * nr);
        PACKED.with_borrow_mut(|(pa, pb)| {
            for pc in (0..self.k).step_by(KC) {
                let ks = pc..self.k.min(pc + KC);
                for ic in rows.clone().step_by(mc) {
                    let rows = ic..rows.end.min(ic + mc);
                    // SAFETY: the ranges are inside A (caller's contract).
                    unsafe { pack::pack_a(self.a, MR, rows.clone(), ks.clone(), pa) };
                    for jc in cols.clone().step_by(nc) {
                        let cols = jc..cols.end.min(jc + nc);
                        // SAFETY: the ranges are inside B; nr ≤ 64.
                        unsafe { pack::pack_b(self.b, nr, ks.clone(), cols.clone(), pb) };
                        // SAFETY: just packed; the rest is the caller's contract.
                        unsafe { self.tiles::<MR, NV>(ks.clone(), rows.clone(), cols, pa, pb) };
                    }
                }
            }
        });
    }
}

/// `C ← α·A·B + β·C` for f32 with an `MR`×`16·NV` register tile, on `parts` bands run
/// by rayon (one: on the calling thread).
///
/// Every element's sum runs in the same order (k blocks in order, k in order within
/// one, one fused multiply-add each) whatever band computes it: the same bits on any
/// number of threads.
///
/// # Safety
/// `p` describes valid, non-empty f32 matrices (C not overlapping A or B, k ≥ 1), and
/// the CPU has AVX-512F.
pub(crate) unsafe fn gemm_fma<const MR: usize, const NV: usize>(p: &Product, parts: usize) {
    let o = Oriented::new(p);
    let nr = 16 * NV;
    let panels = o.n.div_ceil(nr);
    if parts <= 1 {
        // SAFETY: the whole of C (caller's contract).
        unsafe { o.block::<MR, NV>(0..o.m, 0..o.n) };
    } else if panels >= 2 * parts {
        // SAFETY: as above.
        unsafe { shared_a::<MR, NV>(&o, parts) };
    } else {
        // Bands of rows, on whole tiles; each packs its rows of A and all of B.
        let tiles = o.m.div_ceil(MR);
        let parts = parts.min(tiles);
        (0..parts).into_par_iter().for_each(|q| {
            let edge = |q: usize| (tiles * q / parts * MR).min(o.m);
            // SAFETY: disjoint bands of C's rows, one per task.
            unsafe { o.block::<MR, NV>(edge(q)..edge(q + 1), 0..o.n) };
        });
    }
}

/// Bands of C's columns (whole panels, as even as they come) sharing A's packed block.
///
/// # Safety
/// As [`gemm_fma`].
unsafe fn shared_a<const MR: usize, const NV: usize>(o: &Oriented, parts: usize) {
    let nr = 16 * NV;
    let (mc, nc) = (MC / MR * MR, NC / nr * nr);
    let panels = o.n.div_ceil(nr);
    let edge = |q: usize| (panels * q / parts * nr).min(o.n);
    let mut pa = Vec::new();
    for pc in (0..o.k).step_by(KC) {
        let ks = pc..o.k.min(pc + KC);
        let kc = ks.len();
        for ic in (0..o.m).step_by(mc) {
            let rows = ic..o.m.min(ic + mc);
            pa.resize(rows.len().div_ceil(MR) * kc * MR, 0.0);
            // A's panels in as many slices as bands, packed side by side.
            let per = rows.len().div_ceil(MR).div_ceil(parts) * kc * MR;
            pa.par_chunks_mut(per).enumerate().for_each(|(q, dst)| {
                let start = rows.start + q * per / kc;
                let end = rows.end.min(start + dst.len() / kc);
                // SAFETY: rows start..end of this block and ks are inside A; `dst` is
                // exactly their panels.
                unsafe { pack::pack_a_panels(o.a, MR, start..end, ks.clone(), dst) };
            });
            let pa = &pa;
            (0..parts).into_par_iter().for_each(|q| {
                let band = edge(q)..edge(q + 1);
                PACKED.with_borrow_mut(|(_, pb)| {
                    for jc in band.clone().step_by(nc) {
                        let cols = jc..band.end.min(jc + nc);
                        // SAFETY: the ranges are inside B; nr ≤ 64.
                        unsafe { pack::pack_b(o.b, nr, ks.clone(), cols.clone(), pb) };
                        // SAFETY: A's block and this B block are packed; the bands'
                        // columns are disjoint (caller's contract for the rest).
                        unsafe { o.tiles::<MR, NV>(ks.clone(), rows.clone(), cols, pa, pb) };
                    }
                });
            });
        }
    }
}
