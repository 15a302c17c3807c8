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
    /// Each k block's `⌈n / NR⌉` panels of `[pairs][NR]`, block after block.
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
        let mut packed = Self {
            k,
            n,
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
            unsafe { pack::pack_b(strided, pc..k.min(pc + KC), 0..n, &mut block) };
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
    if m == 0 || b.n == 0 {
        return;
    }
    if k == 0 {
        c.map_inplace(|x| *x = if beta == 0.0 { 0.0 } else { *x * beta });
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the shapes agree (checked above) and are non-empty; a PackedB exists only
    // where bf16 products were in force, so the CPU has AVX-512F and AVX512_BF16.
    unsafe {
        product(a, b, beta, c)
    };
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// The packed A, reused across calls on one thread.
    static PACKED_A: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The loop nest of the general product (`product.rs`) without B's packing: per k
/// block, A's rows in blocks of [`MC`], then each A micro-panel against every packed
/// B panel.
///
/// # Safety
/// Shapes agree and are non-empty (k ≥ 1); the CPU has AVX-512F and AVX512_BF16.
#[cfg(target_arch = "x86_64")]
unsafe fn product(a: &ArrayView2<'_, f32>, b: &PackedB, beta: f32, c: &mut ArrayViewMut2<'_, f32>) {
    use super::kernel::{self, MR, NR, Target};
    use super::pack::{self, Strided, pairs};
    let (m, k, n) = (a.nrows(), b.k, b.n);
    let a = Strided {
        ptr: a.as_ptr(),
        rs: a.strides()[0],
        cs: a.strides()[1],
    };
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    let c = c.as_mut_ptr();
    let b_panels = n.div_ceil(NR);
    let mut offset = 0;
    PACKED_A.with_borrow_mut(|pa| {
        for pc in (0..k).step_by(KC) {
            let ks = pc..k.min(pc + KC);
            let kp = pairs(ks.len());
            let pb = &b.panels[offset..offset + b_panels * kp * NR];
            offset += pb.len();
            let (beta, read_c) = if pc == 0 {
                (beta, beta != 0.0)
            } else {
                (1.0, true)
            };
            for ic in (0..m).step_by(MC) {
                let rows = ic..m.min(ic + MC);
                // SAFETY: the ranges are inside A (shapes checked by the caller).
                unsafe { pack::pack_a(a, rows.clone(), ks.clone(), pa) };
                for (ip, a_panel) in pa.chunks_exact(kp * MR).enumerate() {
                    let i = rows.start + ip * MR;
                    for (jp, b_panel) in pb.chunks_exact(kp * NR).enumerate() {
                        let j = jp * NR;
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
                        // the target is the live part of this tile of C, which the
                        // exclusive view lends us.
                        unsafe {
                            kernel::tile(
                                kp,
                                a_panel.as_ptr(),
                                b_panel.as_ptr(),
                                &t,
                                1.0,
                                beta,
                                read_c,
                            );
                        }
                    }
                }
            }
        }
    });
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use ndarray::{Array2, ShapeBuilder, s};

    use super::*;
    use crate::gemm_impl::gemm_at;

    /// The packed product gives `gemm`'s bf16 bits: odd k, k past one block, edge rows
    /// and columns, β = 0 over a C of NaN (never read) and β = 1, transposed operands,
    /// and a C of every other column of a wider, column-major store.
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
                let mut got = want.clone();
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
