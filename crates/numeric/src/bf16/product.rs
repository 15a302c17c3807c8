//! The blocked product around the micro-kernel, after BLIS's loop nest: k in blocks
//! of [`KC`], rows of A in blocks of [`MC`] (packed once per k block, kept in L3),
//! columns of B in blocks of [`NC`] (packed into L2), then register tiles with A's
//! micro-panel outermost, so that it stays in L1 while B's panels stream from L2.
//!
//! Holding A's micro-panel in L1 (not B's, as BLIS does) lets KC be long: C is read
//! and written once per KC of k. With B's micro-panel in L1, KC stops at about 256
//! and those passes over C took a sixth of square 2048's time; packing A once per
//! k block rather than once per column block saved another sixth (docs/gemm.md).

use std::cell::{Cell, RefCell};

use super::Bf16Tile;
use super::kernel::{self, MR, NR, Target};
use super::pack::{self, Strided, pairs};
use crate::gemm_impl::Product;

/// k per packed block, even so that only the last block can end on an odd k: an A
/// micro-panel is KC/2·MR·4 = 16 KiB, half of a 32 KiB L1.
const KC: usize = 1024;
/// Rows of A per packed block: MC·KC·2 bytes = 4 MiB, in L3.
const MC: usize = 2048;
/// Columns of B per packed block: KC·NC·2 bytes = 576 KiB, inside a 1 MiB L2 (the
/// largest multiple of the tile's width up to this, for a tile other than 48 wide).
const NC: usize = 288;

thread_local! {
    /// The packed A and B blocks, reused across calls on one thread (products inside
    /// rayon tasks are many and small; their allocation would show).
    static PACKED: RefCell<(Vec<u32>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// The tile this thread's products use: [`Bf16Tile::Auto`] but for measurements
    /// (`super::with_bf16_tile`).
    pub(super) static TILE: Cell<Bf16Tile> = const { Cell::new(Bf16Tile::Auto) };
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
    let tile = match TILE.get() {
        Bf16Tile::Auto => Bf16Tile::for_shape(m, n),
        named => named,
    };
    let (alpha, beta) = (p.alpha as f32, p.beta as f32);
    let c = p.c as *mut f32;
    let nr = tile.cols();
    let nc = NC / nr * nr;
    PACKED.with_borrow_mut(|(pa, pb)| {
        for pc in (0..p.k).step_by(KC) {
            let ks = pc..p.k.min(pc + KC);
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
                for jc in (0..n).step_by(nc) {
                    let cols = jc..n.min(jc + nc);
                    // SAFETY: the ranges are inside B.
                    unsafe { pack::pack_b_nr(b, ks.clone(), cols.clone(), nr, pb) };
                    let block = Block {
                        pa,
                        pb,
                        kp: pairs(ks.len()),
                        rows: rows.clone(),
                        cols,
                        c,
                        rsc,
                        csc,
                        m,
                        n,
                    };
                    // SAFETY: the CPU has the instructions (caller's contract); the
                    // block's panels were packed just above for its rows and columns.
                    unsafe { block.run_tile(tile, alpha, beta, read_c) }
                }
            }
        }
    });
}

/// One packed block of A's rows and B's columns, and where its tiles land in C.
pub(super) struct Block<'p> {
    pub(super) pa: &'p [u32],
    pub(super) pb: &'p [u32],
    pub(super) kp: usize,
    pub(super) rows: std::ops::Range<usize>,
    pub(super) cols: std::ops::Range<usize>,
    pub(super) c: *mut f32,
    pub(super) rsc: isize,
    pub(super) csc: isize,
    pub(super) m: usize,
    pub(super) n: usize,
}

impl Block<'_> {
    /// Every ROWS × 16·NVEC tile of the block, A's rows outermost (one micro-panel of A
    /// in L1 while B's panels stream from L2).
    ///
    /// # Safety
    /// The CPU has AVX-512F and AVX512_BF16; `pa` holds the block's rows packed by
    /// [`pack::pack_a`] and `pb` its columns by [`pack::pack_b_nr`] at 16·NVEC; `c`,
    /// `rsc` and `csc` describe a live m × n C.
    #[inline(always)]
    pub(super) unsafe fn run<const ROWS: usize, const NVEC: usize>(
        &self,
        alpha: f32,
        beta: f32,
        read_c: bool,
    ) {
        let (kp, nr, mc) = (self.kp, 16 * NVEC, self.rows.len());
        for i0 in (0..mc).step_by(ROWS) {
            // Row i0 of the block is slot i0 % MR of panel i0 / MR; a tile of fewer rows
            // than MR starts inside a panel (MR is a multiple of ROWS).
            let a = self.pa[(i0 / MR) * kp * MR + i0 % MR..].as_ptr();
            let i = self.rows.start + i0;
            for (jp, b_panel) in self.pb.chunks_exact(kp * nr).enumerate() {
                let j = self.cols.start + jp * nr;
                let t = Target {
                    // SAFETY: (i, j) is inside C: i < m, j < n.
                    c: unsafe { self.c.offset(i as isize * self.rsc + j as isize * self.csc) },
                    rs: self.rsc,
                    cs: self.csc,
                    rows: ROWS.min(self.m - i),
                    cols: nr.min(self.n - j),
                };
                // SAFETY: the tile's ROWS rows of the A panel hold kp pairs each, MR
                // apart (packed rows are padded to a multiple of MR), and the B panel
                // kp·nr pairs; the target is the live part of this tile of C; the CPU
                // is the caller's.
                unsafe {
                    if ROWS == MR && nr == NR {
                        kernel::tile(kp, a, b_panel.as_ptr(), &t, alpha, beta, read_c)
                    } else {
                        kernel::tile_mn::<ROWS, NVEC>(
                            kp,
                            a,
                            b_panel.as_ptr(),
                            &t,
                            alpha,
                            beta,
                            read_c,
                        )
                    }
                }
            }
        }
    }
}

impl Block<'_> {
    /// [`Block::run`] with the register tile `tile`.
    ///
    /// # Safety
    /// As [`Block::run`], with `pb` packed at `tile.cols()`.
    pub(super) unsafe fn run_tile(&self, tile: Bf16Tile, alpha: f32, beta: f32, read_c: bool) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match tile {
                Bf16Tile::Auto | Bf16Tile::Tile8x48 => self.run::<8, 3>(alpha, beta, read_c),
                Bf16Tile::Tile4x64 => self.run::<4, 4>(alpha, beta, read_c),
                Bf16Tile::Tile8x32 => self.run::<8, 2>(alpha, beta, read_c),
            }
        }
    }
}

impl Bf16Tile {
    /// Rows of the register tile.
    pub(crate) fn rows(self) -> usize {
        match self {
            Bf16Tile::Auto | Bf16Tile::Tile8x48 | Bf16Tile::Tile8x32 => 8,
            Bf16Tile::Tile4x64 => 4,
        }
    }

    /// Columns of the register tile.
    pub(crate) fn cols(self) -> usize {
        match self {
            Bf16Tile::Auto | Bf16Tile::Tile8x48 => 48,
            Bf16Tile::Tile4x64 => 64,
            Bf16Tile::Tile8x32 => 32,
        }
    }

    /// The tile for an m × n C (in the kernel's orientation): the one that computes
    /// the fewest padded elements, the earlier of 8 × 48, 4 × 64, 8 × 32 on a tie.
    /// The three run at the same rate on whole tiles (docs/gemm.md), so padding is
    /// what tells them apart.
    pub(crate) fn for_shape(m: usize, n: usize) -> Bf16Tile {
        let padded = |t: Bf16Tile| m.next_multiple_of(t.rows()) * n.next_multiple_of(t.cols());
        [Bf16Tile::Tile8x48, Bf16Tile::Tile4x64, Bf16Tile::Tile8x32]
            .into_iter()
            .min_by_key(|&t| padded(t))
            .unwrap_or(Bf16Tile::Tile8x48)
    }
}
