//! A right operand packed once for many bf16 products.
//!
//! `gemm` packs both operands on every call. A product whose right operand stays the
//! same over many calls — Winograd's transformed filters `U[ξ]`, multiplied by one
//! chunk of tiles after another — packs it again each time; for 256 → 256 layers `U[ξ]`
//! is twice the size of the chunk's `V[ξ]`. [`PackedB`] holds it in the kernel's pair
//! panels once, and [`gemm_packed`] multiplies any left operand by it, packing only
//! that one.
//!
//! The bits are those of [`crate::gemm`] at [`MatmulPrecision::Bf16`] for the same
//! operands: the same rounding of each input, the same kernel over the same k blocks
//! in the same order, and β applied by the first block.

use ndarray::{ArrayView2, ArrayViewMut2};

#[cfg(doc)]
use super::MatmulPrecision;

/// k per block, as the general product's (`product.rs`): its first block applies β and
/// later ones add to it, so matching its bits means matching its blocks
/// (`same_bits_as_gemm` checks a k past one block).
#[cfg(target_arch = "x86_64")]
const KC: usize = 1024;
/// Rows of A packed at a time, as the general product's: a bound on the buffer.
#[cfg(target_arch = "x86_64")]
const MC: usize = 2048;

/// A `k × n` f32 matrix rounded to bf16 and packed once into the bf16 kernel's pair
/// panels, for many products `A·B` ([`gemm_packed`]).
///
/// bf16 products only, whatever precision [`crate::gemm`] is set to: [`PackedB::new`]
/// gives `None` on CPUs without AVX512_BF16 ([`crate::cpu_has_bf16`]), where callers
/// use [`crate::gemm`] instead. Callers that follow [`crate::matmul_precision`] pack
/// only when it is [`MatmulPrecision::Bf16`].
///
/// ```
/// use ndarray::{Array2, array};
/// let b = array![[1.0_f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
/// match numeric::PackedB::new(&b.view()) {
///     Some(packed) => {
///         let a = array![[1.0_f32, 1.0], [0.5, -1.0]];
///         let mut c = Array2::<f32>::zeros((2, 3));
///         numeric::gemm_packed(&a.view(), &packed, 0.0, &mut c.view_mut());
///         // These values are exact in bf16, so the product is exact too.
///         assert_eq!(c, array![[5.0, 7.0, 9.0], [-3.5, -4.0, -4.5]]);
///     }
///     None => assert!(!numeric::cpu_has_bf16()),
/// }
/// ```
#[derive(Clone, Debug)]
pub struct PackedB {
    k: usize,
    n: usize,
    /// The register tile its panels are cut for: the one that pads n least
    /// (`Bf16Tile::for_shape`), as `numeric::gemm` would pick for it.
    tile: super::Bf16Tile,
    /// Each k block's `⌈n / w⌉` panels of `[pairs][w]` (w = the tile's width), block
    /// after block.
    panels: Vec<u32>,
}

impl PackedB {
    /// `b` (k × n, any strides) rounded to bf16 and packed, or `None` on a CPU without
    /// the bf16 instructions.
    pub fn new(b: &ArrayView2<'_, f32>) -> Option<Self> {
        if !super::cpu_has_bf16() {
            return None;
        }
        Self::pack(b)
    }

    #[cfg(target_arch = "x86_64")]
    fn pack(b: &ArrayView2<'_, f32>) -> Option<Self> {
        use super::pack::{self, Strided};
        let (k, n) = b.dim();
        // Rows are padded to a multiple of 8 by the A panels anyway, so only n tells
        // the tiles apart.
        let tile = super::Bf16Tile::for_shape(super::kernel::MR, n);
        let mut packed = Self {
            k,
            n,
            tile,
            panels: Vec::new(),
        };
        if n == 0 {
            return Some(packed);
        }
        let strided = Strided {
            ptr: b.as_ptr(),
            rs: b.strides()[0],
            cs: b.strides()[1],
        };
        let mut block = Vec::new();
        for pc in (0..k).step_by(KC) {
            // SAFETY: rows pc..min(k, pc + KC) and columns 0..n lie inside `b`, which
            // the view describes.
            unsafe { pack::pack_b_nr(strided, pc..k.min(pc + KC), 0..n, tile.cols(), &mut block) };
            packed.panels.extend_from_slice(&block);
        }
        Some(packed)
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn pack(_: &ArrayView2<'_, f32>) -> Option<Self> {
        None
    }

    /// Rows (the products' inner dimension k).
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns (n, C's columns).
    pub fn cols(&self) -> usize {
        self.n
    }
}

/// An `m × k` left operand written row by row straight into the bf16 kernel's A panels
/// (pairs of k, the kernel's 8 rows a panel), for [`gemm_packed_a`]: a producer
/// that makes A one row at a time (Winograd's input transform, one tile a row) skips
/// writing it in f32 and packing it again, and A's memory traffic halves.
///
/// Each value is rounded as `gemm` rounds it, so the product's bits are those of
/// [`gemm_packed`] on the same f32 rows (values below f32's normal range aside, which
/// the kernel reads as zero either way). Made by [`PackedA::new`], which gives `None`
/// on CPUs without AVX512_BF16.
///
/// ```
/// use ndarray::{Array2, array};
/// let b = array![[1.0_f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
/// if let (Some(pb), Some(mut pa)) = (numeric::PackedB::new(&b.view()), numeric::PackedA::new()) {
///     pa.reset(2, 3);
///     pa.set_row(1, &[0.0, 0.0, 1.0]);
///     pa.set_row(0, &[1.0, 1.0, 1.0]);
///     let mut c = Array2::<f32>::zeros((2, 2));
///     numeric::gemm_packed_a(&pa, &pb, 0.0, &mut c.view_mut());
///     assert_eq!(c, array![[9.0, 12.0], [5.0, 6.0]]);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct PackedA {
    m: usize,
    k: usize,
    /// Each k block's `⌈m / MR⌉` panels of `[pairs][MR]`, block after block.
    panels: Vec<u32>,
}

impl PackedA {
    /// An empty operand (0 × 0), or `None` on a CPU without the bf16 instructions.
    pub fn new() -> Option<Self> {
        super::cpu_has_bf16().then(|| Self {
            m: 0,
            k: 0,
            panels: Vec::new(),
        })
    }

    /// Makes room for `m × k`, keeping the allocation: the rows past `m` in the last
    /// panel are zeroed, the others hold stale values until [`PackedA::set_row`]
    /// writes them (every row `< m` must be set before a product).
    pub fn reset(&mut self, m: usize, k: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use super::kernel::MR;
            (self.m, self.k) = (m, k);
            let panels = m.div_ceil(MR);
            self.panels.resize(panels * k.div_ceil(2) * MR, 0);
            for i in m..panels * MR {
                self.row_slots(i, |pair, _| *pair = 0);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (m, k);
    }

    /// `f(slot, kk)` on each pair slot of row `i`, with the k of the pair's first
    /// value: per k block of `KC`, the row's panel holds its pairs `MR` apart.
    #[cfg(target_arch = "x86_64")]
    fn row_slots(&mut self, i: usize, mut f: impl FnMut(&mut u32, usize)) {
        use super::kernel::MR;
        let (k, panels) = (self.k, self.m.div_ceil(MR));
        for (block, pc) in (0..k).step_by(KC).enumerate() {
            let kp = KC.min(k - pc).div_ceil(2);
            let base = block * panels * (KC / 2) * MR + (i / MR) * kp * MR + i % MR;
            for (p, slot) in self.panels[base..]
                .iter_mut()
                .step_by(MR)
                .take(kp)
                .enumerate()
            {
                f(slot, pc + 2 * p);
            }
        }
    }

    /// Row `i` (< m) of A: its `k` values rounded to bf16 and written by pairs into
    /// its panel.
    ///
    /// # Panics
    /// If `i ≥ m` or `row` does not hold `k` values.
    pub fn set_row(&mut self, i: usize, row: &[f32]) {
        assert!(
            i < self.m && row.len() == self.k,
            "PackedA::set_row: row {i} of {} values, for {}x{}",
            row.len(),
            self.m,
            self.k
        );
        #[cfg(target_arch = "x86_64")]
        {
            use super::kernel::MR;
            use super::pack::bf16_bits;
            let (k, panels) = (self.k, self.m.div_ceil(MR));
            for (block, pc) in (0..k).step_by(KC).enumerate() {
                let values = &row[pc..k.min(pc + KC)];
                let kp = values.len().div_ceil(2);
                let base = block * panels * (KC / 2) * MR + (i / MR) * kp * MR + i % MR;
                let dst = &mut self.panels[base..];
                let whole = values.len() / 32;
                for g in 0..whole {
                    // SAFETY: values 32·g .. 32·g + 32 are in the row; a PackedA exists
                    // only on CPUs with AVX-512F and AVX512_BF16 (`PackedA::new`).
                    let pairs = unsafe { pairs16(values[32 * g..].as_ptr()) };
                    for (j, pair) in pairs.into_iter().enumerate() {
                        dst[(16 * g + j) * MR] = pair;
                    }
                }
                for p in 16 * whole..kp {
                    let hi = values.get(2 * p + 1).copied().unwrap_or(0.0);
                    dst[p * MR] = bf16_bits(values[2 * p]) | (bf16_bits(hi) << 16);
                }
            }
        }
    }

    /// Rows (m).
    pub fn rows(&self) -> usize {
        self.m
    }

    /// Columns (the inner dimension k).
    pub fn cols(&self) -> usize {
        self.k
    }
}

/// 32 consecutive values as 16 bf16 pairs, rounded by one `vcvtne2ps2bf16` (as the
/// product's packing rounds whole panels): in memory order the 32 bf16 values are
/// already the 16 pairs.
///
/// # Safety
/// `src` points at 32 readable f32; the CPU has AVX-512F and AVX512_BF16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn pairs16(src: *const f32) -> [u32; 16] {
    use std::arch::x86_64::*;
    // SAFETY: 32 readable values (caller); __m512bh and [u32; 16] have the same size.
    unsafe {
        let (lo, hi) = (_mm512_loadu_ps(src), _mm512_loadu_ps(src.add(16)));
        std::mem::transmute::<__m512bh, [u32; 16]>(_mm512_cvtne2ps_pbh(hi, lo))
    }
}

/// `C ← A·B + β·C` with `B` packed ([`PackedB`]) and bf16 products, on the calling
/// thread (whatever precision [`crate::gemm`] is set to); `A` is packed here as
/// `gemm` packs it. The bits equal `gemm`'s at [`MatmulPrecision::Bf16`] for the same
/// operands. When β is zero, C is only written.
///
/// # Panics
/// If the shapes do not agree: `A` is (m, k), `B` (k, n), `C` (m, n), as [`crate::gemm`].
pub fn gemm_packed(
    a: &ArrayView2<'_, f32>,
    b: &PackedB,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    let (m, k) = a.dim();
    if checked_empty(m, k, b, beta, c) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let a = super::pack::Strided {
            ptr: a.as_ptr(),
            rs: a.strides()[0],
            cs: a.strides()[1],
        };
        // SAFETY: the shapes agree and are non-empty (checked); a PackedB with k ≥ 1
        // exists only on CPUs with AVX-512F and AVX512_BF16 (`PackedB::new`).
        unsafe { product(Left::Strided(a), m, b, beta, c) };
    }
}

/// [`gemm_packed`] with `A` packed too ([`PackedA`], every row set): the same bits as
/// [`gemm_packed`] of the same f32 rows.
///
/// # Panics
/// If the shapes do not agree: `A` is (m, k), `B` (k, n), `C` (m, n).
pub fn gemm_packed_a(a: &PackedA, b: &PackedB, beta: f32, c: &mut ArrayViewMut2<'_, f32>) {
    if checked_empty(a.m, a.k, b, beta, c) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `gemm_packed`; the PackedA was sized for (m, k) by `reset`.
    unsafe {
        product(Left::Packed(&a.panels), a.m, b, beta, c)
    };
}

/// Checks that `A` (m × k), `B` and `C` agree (panics otherwise) and does an empty
/// product's work (`C ← β·C` for k = 0): whether nothing is left to multiply.
fn checked_empty(
    m: usize,
    k: usize,
    b: &PackedB,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) -> bool {
    assert_eq!(
        k, b.k,
        "gemm_packed: inner dimensions differ: A is {m}x{k}, B is {}x{}",
        b.k, b.n
    );
    assert_eq!(
        c.dim(),
        (m, b.n),
        "gemm_packed: C is {:?}, expected ({m}, {})",
        c.dim(),
        b.n
    );
    if k == 0 {
        c.map_inplace(|x| *x = if beta == 0.0 { 0.0 } else { *x * beta });
    }
    m == 0 || b.n == 0 || k == 0
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// The packed A, reused across calls on one thread.
    static PACKED_A: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The left operand of [`product`]: f32 to pack per block, or packed already.
#[cfg(target_arch = "x86_64")]
enum Left<'a> {
    Strided(super::pack::Strided),
    /// [`PackedA`]'s panels.
    Packed(&'a [u32]),
}

/// The loop nest of the general product (`product.rs`) without B's packing: per k
/// block, A's rows in blocks of [`MC`] (packed here, or read from a [`PackedA`]),
/// then each A micro-panel against every packed B panel.
///
/// # Safety
/// `m`, B and C agree and are non-empty (k ≥ 1), A is (m, k); the CPU has AVX-512F
/// and AVX512_BF16.
#[cfg(target_arch = "x86_64")]
unsafe fn product(a: Left<'_>, m: usize, b: &PackedB, beta: f32, c: &mut ArrayViewMut2<'_, f32>) {
    use super::kernel::MR;
    use super::pack::{self, pairs};
    use super::product::Block;
    let (k, n, tile) = (b.k, b.n, b.tile);
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    let c = c.as_mut_ptr();
    let (a_panels, b_panels) = (m.div_ceil(MR), n.div_ceil(tile.cols()));
    let mut b_offset = 0;
    for (block, pc) in (0..k).step_by(KC).enumerate() {
        let ks = pc..k.min(pc + KC);
        let kp = pairs(ks.len());
        let pb = &b.panels[b_offset..b_offset + b_panels * kp * tile.cols()];
        b_offset += pb.len();
        // The first k block applies β; later ones add to what it wrote.
        let (beta, read_c) = if pc == 0 {
            (beta, beta != 0.0)
        } else {
            (1.0, true)
        };
        // A's micro-panels of `rows` against every B panel of this k block.
        let run = |pa: &[u32], rows: std::ops::Range<usize>| {
            let block = Block {
                pa,
                pb,
                kp,
                rows,
                cols: 0..n,
                c,
                rsc,
                csc,
                m,
                n,
            };
            // SAFETY: the panels hold the block's rows (packed by rows of MR) and all n
            // columns at the tile's width; the CPU has the instructions (caller's
            // contract); C is the live m × n view the exclusive borrow lends us.
            unsafe { block.run_tile(tile, 1.0, beta, read_c) };
        };
        match a {
            Left::Strided(a) => PACKED_A.with_borrow_mut(|pa| {
                for ic in (0..m).step_by(MC) {
                    let rows = ic..m.min(ic + MC);
                    // SAFETY: the ranges are inside A (caller's contract).
                    unsafe { pack::pack_a(a, rows.clone(), ks.clone(), pa) };
                    run(pa, rows);
                }
            }),
            Left::Packed(pa) => {
                let at = block * a_panels * (KC / 2) * MR;
                run(&pa[at..at + a_panels * kp * MR], 0..m);
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use ndarray::{Array2, ShapeBuilder, s};

    use super::*;
    use crate::gemm_impl::gemm_at;

    /// The packed product gives `gemm`'s bf16 bits, with A packed by the product or
    /// row by row (`PackedA`, reused from a larger operand): odd k, k past one block,
    /// edge rows and columns, β = 0 over a C of NaN (never read) and β = 1, transposed
    /// operands, and a C of every other column of a wider, column-major store.
    #[test]
    fn same_bits_as_gemm() {
        if !super::super::cpu_has_bf16() {
            return eprintln!("no AVX512_BF16 on this CPU: the bf16 kernel cannot run");
        }
        let mut r = crate::rng(7);
        for (shape, t_a, t_b, c_f) in [
            ((128, 255, 256), false, false, false),
            ((13, 63, 50), true, false, false),
            ((9, 1031, 97), false, true, true),
            ((1, 1, 1), false, false, false),
            ((70, 2100, 20), true, true, false),
        ] {
            let (m, _, n) = shape;
            let (a, b) = crate::c_tile::test_operands(shape, t_a, t_b, &mut r);
            let p = PackedB::new(&b.view()).expect("the CPU has AVX512_BF16");
            let mut pa = PackedA::new().expect("the CPU has AVX512_BF16");
            assert_eq!((p.rows(), p.cols()), (b.nrows(), n));
            for beta in [0.0_f32, 1.0] {
                let fill = |r: &mut crate::Rng| {
                    let mut c = Array2::<f32>::zeros((m, 2 * n).set_f(c_f));
                    if beta == 0.0 {
                        c.fill(f32::NAN);
                    } else {
                        c.assign(&crate::randn::<f32, _, _>((m, 2 * n), r));
                    }
                    c
                };
                let mut want = fill(&mut r);
                let (mut got, c0) = (want.clone(), want.clone());
                let cols = s![.., ..;2];
                gemm_at(
                    crate::MatmulPrecision::Bf16,
                    1.0,
                    &a.view(),
                    &b.view(),
                    beta,
                    &mut want.slice_mut(cols),
                );
                gemm_packed(&a.view(), &p, beta, &mut got.slice_mut(cols));
                let bits = |c: &Array2<f32>| c.mapv(f32::to_bits);
                assert_eq!(bits(&got), bits(&want), "{shape:?} β = {beta}");
                // A written row by row, last row first, over a larger operand's values.
                pa.reset(m + 9, shape.1 + 3);
                for i in 0..m + 9 {
                    pa.set_row(i, &vec![f32::MAX; shape.1 + 3]);
                }
                pa.reset(m, shape.1);
                for i in (0..m).rev() {
                    pa.set_row(i, &a.row(i).to_vec());
                }
                let mut both = want.clone();
                both.slice_mut(cols).fill(f32::NAN);
                if beta != 0.0 {
                    both.assign(&c0);
                }
                gemm_packed_a(&pa, &p, beta, &mut both.slice_mut(cols));
                assert_eq!(bits(&both), bits(&want), "{shape:?} β = {beta}, A packed");
                assert!(got.slice(cols).iter().all(|x| x.is_finite()));
            }
        }
    }

    /// k = 0 gives β·C (zeros for β = 0, whatever C held); mismatched shapes panic.
    #[test]
    fn empty_inner_dimension_and_shapes() {
        let b = Array2::<f32>::zeros((0, 3));
        // No k, nothing packed: no bf16 instruction runs, on any x86_64 CPU.
        let p = PackedB::pack(&b.view()).expect("x86_64");
        let a = Array2::<f32>::zeros((2, 0));
        let mut c = Array2::from_elem((2, 3), f32::NAN);
        gemm_packed(&a.view(), &p, 0.0, &mut c.view_mut());
        assert!(c.iter().all(|&x| x == 0.0));
        let mut c = Array2::from_elem((2, 3), 2.0_f32);
        gemm_packed(&a.view(), &p, 0.5, &mut c.view_mut());
        assert!(c.iter().all(|&x| x == 1.0));
        let wrong = std::panic::catch_unwind(|| {
            let a = Array2::<f32>::zeros((2, 1));
            gemm_packed(&a.view(), &p, 0.0, &mut Array2::zeros((2, 3)).view_mut());
        });
        assert!(wrong.is_err(), "A's k differs from B's");
    }
}
