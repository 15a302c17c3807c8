//! The blocked product around the f32 micro-kernel, on the bf16 kernel's frame with
//! one change of loop order: a block of A's rows is packed over *all* of k (at most
//! [`A_BLOCK_BYTES`], in L3), then for each block of [`NC`] columns of C the k blocks
//! of [`KC`] run one after another, B's block packed into L2 and A's micro-panel held
//! in L1 while B's panels stream past it. A block of C is thus finished while it is
//! still in cache: with k outermost (the bf16 kernel's order) every KC of k took one
//! more pass over the whole of C in memory, 6 passes over kNN's 10 MB of distances.
//!
//! On several threads, a wide C is cut into bands of columns that share A's packed
//! block (packed by all threads side by side): no thread packs what another already
//! has. A tall, narrow C is cut into bands of rows instead, each packing its own rows
//! of A and the whole (narrow) B.

use std::cell::RefCell;
use std::ops::Range;

use rayon::prelude::*;

use super::kernel::{self, Target};
use super::pack;
use crate::bf16::Strided;
use crate::gemm_impl::Product;

/// k per packed block: an 8-row A micro-panel is KC·8·4 = 16 KiB, half of L1.
pub(crate) const KC: usize = 512;
/// Bytes of A packed at once (its rows over all of k): kNN's 500 × 3072 test rows
/// (6 MiB) in one block; fits in L3 beside the B block and C's block.
const A_BLOCK_BYTES: usize = 8 << 20;
/// Columns of B per packed block (rounded down to whole tiles): KC·NC·4 = 576 KiB,
/// inside a 1 MiB L2.
const NC: usize = 288;

thread_local! {
    /// The packed A block, reused across calls on one thread (products inside rayon
    /// tasks are many and small; their allocation would show).
    static PACKED_A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The packed B block, likewise: apart from A's, so that a thread that packed a
    /// shared A block can also run a band of it.
    static PACKED_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
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

    /// Rows of A per packed block: whole tiles, at most [`A_BLOCK_BYTES`] over all of k.
    fn block_rows<const MR: usize>(&self) -> usize {
        (A_BLOCK_BYTES / (4 * self.k) / MR * MR).max(MR)
    }

    /// The k blocks of one packed A block of `rows`: each k range with its part of
    /// the block (`⌈rows/MR⌉·kc·MR` floats, one after another).
    fn a_parts<const MR: usize>(
        &self,
        rows: usize,
    ) -> impl Iterator<Item = (Range<usize>, Range<usize>)> {
        let per_k = rows.div_ceil(MR) * MR;
        (0..self.k).step_by(KC).map(move |pc| {
            let ks = pc..self.k.min(pc + KC);
            (ks.clone(), per_k * ks.start..per_k * ks.end)
        })
    }

    /// Packs A's `rows` over all of k into `pa` (resized to fit), one k block after
    /// another, on `parts` rayon tasks (one: on this thread).
    ///
    /// # Safety
    /// `rows` is inside A; the CPU has AVX-512F.
    unsafe fn pack_a_block<const MR: usize>(
        &self,
        rows: Range<usize>,
        pa: &mut Vec<f32>,
        parts: usize,
    ) {
        pa.resize(rows.len().div_ceil(MR) * MR * self.k, 0.0);
        let mut pieces = Vec::new();
        let mut rest = &mut pa[..];
        for (ks, at) in self.a_parts::<MR>(rows.len()) {
            let (piece, tail) = rest.split_at_mut(at.len());
            pieces.push((ks, piece));
            rest = tail;
        }
        let pack = |(ks, dst): (Range<usize>, &mut [f32])| {
            // SAFETY: rows and ks are inside A; `dst` is exactly their panels.
            unsafe { pack::pack_a_panels(self.a, MR, rows.clone(), ks, dst) }
        };
        if parts > 1 {
            pieces.into_par_iter().for_each(pack);
        } else {
            pieces.into_iter().for_each(pack);
        }
    }

    /// C's `rows` × `cols` over all of k, from A's block of those rows packed in `pa`,
    /// packing B's blocks into this thread's buffer: each block of C's columns
    /// runs all its k blocks while it is in cache.
    ///
    /// # Safety
    /// `pa` holds A's `rows` as [`Self::pack_a_block`] packs them; the ranges are
    /// inside C; the CPU has AVX-512F; nothing else touches these elements of C.
    unsafe fn columns<const MR: usize, const NV: usize>(
        &self,
        rows: Range<usize>,
        cols: Range<usize>,
        pa: &[f32],
    ) {
        let nr = 16 * NV;
        let nc = NC / nr * nr;
        PACKED_B.with_borrow_mut(|pb| {
            for jc in cols.clone().step_by(nc) {
                let cols = jc..cols.end.min(jc + nc);
                for (ks, at) in self.a_parts::<MR>(rows.len()) {
                    // SAFETY: the ranges are inside B (caller's contract).
                    unsafe { pack::pack_b(self.b, nr, ks.clone(), cols.clone(), pb) };
                    // SAFETY: A's part for ks and B's block are packed; the rest is
                    // the caller's contract.
                    unsafe { self.tiles::<MR, NV>(ks, rows.clone(), cols.clone(), &pa[at], pb) };
                }
            }
        });
    }

    /// C's `rows` × `cols` over all of k on this thread.
    ///
    /// # Safety
    /// The ranges are inside C; the CPU has AVX-512F; nothing else touches these
    /// elements of C.
    unsafe fn block<const MR: usize, const NV: usize>(
        &self,
        rows: Range<usize>,
        cols: Range<usize>,
    ) {
        let mc = self.block_rows::<MR>();
        PACKED_A.with_borrow_mut(|pa| {
            for ic in rows.clone().step_by(mc) {
                let rows = ic..rows.end.min(ic + mc);
                // SAFETY: the rows are inside A (caller's contract).
                unsafe { self.pack_a_block::<MR>(rows.clone(), pa, 1) };
                // SAFETY: just packed; the rest is the caller's contract.
                unsafe { self.columns::<MR, NV>(rows, cols.clone(), pa) };
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
    let panels = o.n.div_ceil(nr);
    let edge = |q: usize| (panels * q / parts * nr).min(o.n);
    let mc = o.block_rows::<MR>();
    PACKED_A.with_borrow_mut(|pa| {
        for ic in (0..o.m).step_by(mc) {
            let rows = ic..o.m.min(ic + mc);
            // SAFETY: the rows are inside A (caller's contract).
            unsafe { o.pack_a_block::<MR>(rows.clone(), pa, parts) };
            let pa = &pa[..];
            (0..parts).into_par_iter().for_each(|q| {
                // SAFETY: A's block is packed; the bands' columns are disjoint.
                unsafe { o.columns::<MR, NV>(rows.clone(), edge(q)..edge(q + 1), pa) };
            });
        }
    });
}
