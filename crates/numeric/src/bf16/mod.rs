//! bf16 products with f32 accumulation, the opt-in precision of f32 GEMM on CPUs with
//! AVX512_BF16, after `torch.set_float32_matmul_precision("medium")`.
//!
//! `vdpbf16ps` multiplies at twice the rate of `vfmadd231ps` on such CPUs. Its
//! inputs are bf16 (f32's exponent, 8 significant bits), its sums f32, so a product
//! keeps f32's range and loses precision only in its inputs: each is rounded with a
//! relative error of at most 2⁻⁸ (half the spacing 2⁻⁷ of 8-bit significands). For
//! `C ← α·A·B + β·C` the error is bounded by
//!
//! ```text
//! |C − C_exact| ≤ (2⁻⁷ + 2⁻¹⁶ + (k + 2)·2⁻²⁴·1.01) · |α| · Σₚ |a_ip|·|b_pj|  +  2⁻²⁴·|β·c_ij|
//! ```
//!
//! The first term is the two inputs' rounding ((1 + 2⁻⁸)² − 1); the product of two
//! bf16 values is exact in f32 (8 + 8 significant bits ≤ 24), and the rest is the f32
//! sum's bound of k additions plus α and β (Higham's γₖ; β·c is rounded twice), with
//! k counted over the whole inner dimension. Inputs below f32's normal range (|x| < 2⁻¹²⁶) count as zero
//! in the instruction, an absolute error below 2⁻¹²⁶·|b| per term. f64 products never
//! take this path, so gradient checks stay exact. docs/gemm.md has the speeds.

#[cfg(target_arch = "x86_64")]
mod kernel;
#[cfg(target_arch = "x86_64")]
mod pack;
mod prepacked;
#[cfg(target_arch = "x86_64")]
mod product;
#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

#[cfg(target_arch = "x86_64")]
pub(crate) use pack::Strided;
pub use prepacked::{PackedA, PackedB, gemm_packed, gemm_packed_a};
#[cfg(target_arch = "x86_64")]
pub(crate) use product::gemm_bf16;

use std::sync::atomic::{AtomicU8, Ordering};

/// The precision of the multiplications inside `numeric::gemm::<f32>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulPrecision {
    /// f32 inputs, f32 products and sums: the default.
    F32,
    /// Inputs rounded to bf16 (relative error ≤ 2⁻⁸), products summed in f32 (AVX512_BF16 CPUs only).
    Bf16,
}

impl MatmulPrecision {
    /// The name used on command lines and in reports: `f32` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            MatmulPrecision::F32 => "f32",
            MatmulPrecision::Bf16 => "bf16",
        }
    }
}

impl std::fmt::Display for MatmulPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for MatmulPrecision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(MatmulPrecision::F32),
            "bf16" => Ok(MatmulPrecision::Bf16),
            other => Err(format!(
                "unknown matmul precision {other:?}: expected f32 or bf16"
            )),
        }
    }
}

/// The register tile of the bf16 kernel: its rows × columns of C.
///
/// Each shape sums every element's pairs of k in the same order, so the tile changes
/// the speed, never the bits. [`Bf16Tile::Auto`] picks per product the shape that pads
/// C's width least (a 64-wide C in one 64-wide panel rather than two 48-wide ones);
/// the others are for measurements, through [`with_bf16_tile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bf16Tile {
    /// Chosen per product by the padding of its shape: the default.
    Auto,
    /// 8 × 48: 24 accumulators, 3 B registers and one broadcast.
    Tile8x48,
    /// 4 × 64: 16 accumulators, 4 B registers and one broadcast.
    Tile4x64,
    /// 8 × 32: 16 accumulators, 2 B registers and one broadcast.
    Tile8x32,
}

/// Runs `f` with the bf16 products *on this thread* on the `tile` named, and gives
/// back its result; for A/B measurements of the tiles and their tests.
///
/// Products a pool splits into bands run their bands on the pool's threads, which keep
/// [`Bf16Tile::Auto`]: name the tile inside a one-thread pool's task to cover them all.
/// The tile never changes the bits of a product.
///
/// ```
/// use ndarray::array;
/// use numeric::{Bf16Tile, MatmulPrecision};
/// let a = array![[1.0_f32, 2.0], [3.0, 4.0]];
/// let mut c = array![[0.0_f32, 0.0], [0.0, 0.0]];
/// numeric::set_matmul_precision(MatmulPrecision::Bf16);
/// numeric::with_bf16_tile(Bf16Tile::Tile4x64, || {
///     numeric::gemm(1.0, &a.view(), &a.t(), 0.0, &mut c.view_mut())
/// });
/// numeric::set_matmul_precision(MatmulPrecision::F32);
/// assert_eq!(c, array![[5.0, 11.0], [11.0, 25.0]]);
/// ```
pub fn with_bf16_tile<R>(tile: Bf16Tile, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        let before = product::TILE.replace(tile);
        let out = f();
        product::TILE.set(before);
        out
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = tile;
        f()
    }
}

/// 0 = F32, 1 = Bf16; only ever set to what [`precision_in_force`] allows.
static PRECISION: AtomicU8 = AtomicU8::new(0);

/// Sets the precision of every later f32 [`crate::gemm`] and returns the one now in
/// force: `Bf16` only where the CPU has AVX-512F and AVX512_BF16 (checked at run time),
/// else `F32`. f64 products are always exact f64.
///
/// Process-wide, like [`crate::set_threads`]: call it once, early (the CLI's
/// `--matmul-precision` does). Same operands give the same bits in either precision.
///
/// ```
/// use numeric::MatmulPrecision;
/// let got = numeric::set_matmul_precision(MatmulPrecision::Bf16);
/// assert_eq!(got, numeric::matmul_precision());
/// assert!(got == MatmulPrecision::Bf16 || !numeric::cpu_has_bf16());
/// assert_eq!(numeric::set_matmul_precision(MatmulPrecision::F32), MatmulPrecision::F32);
/// ```
pub fn set_matmul_precision(requested: MatmulPrecision) -> MatmulPrecision {
    let p = precision_in_force(requested, cpu_has_bf16());
    PRECISION.store(p as u8, Ordering::Relaxed);
    p
}

/// The precision in force for f32 products (see [`set_matmul_precision`]).
pub fn matmul_precision() -> MatmulPrecision {
    if PRECISION.load(Ordering::Relaxed) == MatmulPrecision::Bf16 as u8 {
        MatmulPrecision::Bf16
    } else {
        MatmulPrecision::F32
    }
}

/// Whether this CPU runs the bf16 kernel (AVX-512F, BW, VL and AVX512_BF16; every CPU
/// with the last has the others).
pub fn cpu_has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // std caches the CPUID answer: later calls are a load.
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The precision a request gets on a CPU with or without the bf16 instructions.
pub(crate) fn precision_in_force(
    requested: MatmulPrecision,
    cpu_has_bf16: bool,
) -> MatmulPrecision {
    match requested {
        MatmulPrecision::Bf16 if cpu_has_bf16 => MatmulPrecision::Bf16,
        _ => MatmulPrecision::F32,
    }
}
