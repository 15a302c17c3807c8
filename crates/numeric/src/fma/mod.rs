//! An f32 kernel of our own for AVX-512 CPUs: both operands packed, `vfmadd231ps`
//! with a broadcast element of A, a register tile of C written straight into C in
//! either orientation, on the bf16 kernel's frame (`crate::bf16`).
//!
//! The `gemm` crate's kernel packs only an operand that is not contiguous and
//! computes a column-major C; kNN's `X_test·X_trainᵀ` (both operands k-contiguous,
//! C row-major) had to go through a buffer of the other orientation and a copy back.
//! Packing both operands here costs one pass over each and lets every product write
//! C in place. docs/gemm.md has the measurements that decide where each kernel runs.

#[cfg(target_arch = "x86_64")]
mod kernel;
#[cfg(target_arch = "x86_64")]
mod pack;
#[cfg(target_arch = "x86_64")]
mod product;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::bf16::MatmulPrecision;
#[cfg(target_arch = "x86_64")]
use crate::gemm_impl::Product;

/// The f32 kernels behind [`crate::gemm`], by name, for measurements and tests:
/// [`gemm_f32_with`] runs a product on one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum F32Kernel {
    /// Chosen per product from its shape, as [`crate::gemm`] does.
    Auto,
    /// The `gemm` crate's kernels (a 64 × 6 tile on AVX-512), packing only what is not
    /// contiguous, into a column-major C.
    GemmCrate,
    /// Ours with an 8 × 48 register tile (24 accumulators); the `gemm` crate's kernels
    /// on CPUs without AVX-512F.
    Fma8x48,
    /// Ours with a 12 × 32 register tile (24 accumulators).
    Fma12x32,
    /// Ours with a 14 × 32 register tile (28 accumulators).
    Fma14x32,
}

/// `C ← α·A·B + β·C` in f32 on a given kernel, threaded as [`crate::gemm`].
///
/// For A/B measurements of the kernels and their tests; programs call
/// [`crate::gemm`], which picks the kernel. Every kernel gives the same bits on any
/// number of threads; different kernels may differ in the last bits (their sums run
/// in different orders).
///
/// # Panics
/// If the shapes do not agree, as [`crate::gemm`].
///
/// ```
/// use ndarray::array;
/// use numeric::F32Kernel;
/// let a = array![[1.0_f32, 2.0], [3.0, 4.0]];
/// let mut c = array![[0.0_f32, 0.0], [0.0, 0.0]];
/// numeric::gemm_f32_with(F32Kernel::Fma8x48, 1.0, &a.view(), &a.t(), 0.0, &mut c.view_mut());
/// assert_eq!(c, array![[5.0, 11.0], [11.0, 25.0]]);
/// ```
pub fn gemm_f32_with(
    kernel: F32Kernel,
    alpha: f32,
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    crate::gemm_impl::gemm_with(MatmulPrecision::F32, kernel, alpha, a, b, beta, c);
}

/// Whether this CPU runs our f32 kernel (AVX-512F).
pub(crate) fn cpu_has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // std caches the CPUID answer: later calls are a load.
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// C's rows from which a product may run on our kernel: below, packing both operands
/// is a large share of the product (the small models' products lose up to 3× on it).
const OURS_MIN_ROWS: usize = 256;
/// C's columns from which a product may run on our kernel: its 48-wide tiles then
/// waste under 5 % on a last partial tile (256 columns waste 11 %), and the products
/// measured are this wide (kNN's 5000, square 2048); the convolutions' 256 filters
/// stay on the `gemm` crate's kernel.
const OURS_MIN_COLUMNS: usize = 1024;
/// Inner dimension from which a product runs on our kernel: the short products of
/// Winograd's chunks (k = 64 … 1024) ran faster on the `gemm` crate's, the long kNN and
/// square products (k = 3072, 2048) faster on ours.
const OURS_MIN_K: usize = 2048;

/// The kernel [`F32Kernel::Auto`] picks for an f32 product of this shape: ours where
/// it measured faster (docs/gemm.md), on CPUs that run it. The choice depends on the
/// shape only, never on the threads, so a thread count never changes the bits.
pub(crate) fn choose(m: usize, k: usize, n: usize) -> F32Kernel {
    if cpu_has_avx512f() && m >= OURS_MIN_ROWS && n >= OURS_MIN_COLUMNS && k >= OURS_MIN_K {
        F32Kernel::Fma8x48
    } else {
        F32Kernel::GemmCrate
    }
}

impl F32Kernel {
    /// The kernel that runs on this CPU: ours needs AVX-512F, else the `gemm` crate's.
    pub(crate) fn in_force(self, m: usize, k: usize, n: usize) -> F32Kernel {
        match self {
            F32Kernel::Auto => choose(m, k, n),
            F32Kernel::GemmCrate => F32Kernel::GemmCrate,
            ours if cpu_has_avx512f() => ours,
            _ => F32Kernel::GemmCrate,
        }
    }

    /// Whether this is one of ours (packs both operands, needs no reoriented buffer).
    pub(crate) fn is_ours(self) -> bool {
        !matches!(self, F32Kernel::Auto | F32Kernel::GemmCrate)
    }

    /// The product of one of ours, in a given number of bands run by rayon.
    ///
    /// # Safety (of the pointer's calls)
    /// As `product::gemm_fma`: valid f32 matrices, a CPU with AVX-512F ([`Self::in_force`]).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn ours(self) -> unsafe fn(&Product, usize) {
        match self {
            F32Kernel::Fma12x32 => product::gemm_fma::<12, 2>,
            F32Kernel::Fma14x32 => product::gemm_fma::<14, 2>,
            _ => product::gemm_fma::<8, 3>,
        }
    }
}
