//! The numeric ground every cs231n-rs crate stands on, kept in one place so that no
//! crate re-spells it:
//!
//! - [`Float`]: the one bound for numeric code, implemented by `f32` (train) and
//!   `f64` (gradient checks).
//! - [`gemm()`] / [`matmul`]: the matrix product all heavy work goes through
//!   ([`gemm_f32_with`] names the f32 kernel, for measurements).
//! - [`set_threads`] / [`threads`]: the single knob for rayon *and* GEMM threads.
//! - [`set_matmul_precision`]: opt-in bf16 products (f32 sums) for f32 GEMM on CPUs
//!   with AVX512_BF16, twice the multiply rate; [`PackedB`] / [`gemm_packed`] pack a
//!   right operand once for many such products, [`PackedA`] / [`gemm_packed_a`] take
//!   the left one row by row, packed as it is made.
//! - [`rng`] / [`randn`]: seeded, reproducible random arrays.
//! - [`fold_chunks_in_order`]: parallel sums with a fixed grouping, so a seed and a
//!   thread count reproduce a run bit for bit; [`sum_of_squares`], a fast sum in a
//!   fixed grouping.
//! - [`tune_allocator`]: for programs, keeps large freed blocks for the next step.
//!
//! ```
//! use ndarray::array;
//! let a = array![[1.0_f64, 2.0], [3.0, 4.0]];
//! let b = array![[1.0_f64, 0.0], [0.0, 1.0]];
//! assert_eq!(numeric::matmul(&a.view(), &b.view()), a);
//! ```

// The opt-in `blas` feature routes ndarray's products to the system OpenBLAS; this
// reference is what makes the linker pull the library in.
#[cfg(feature = "blas")]
extern crate blas_src;

mod alloc;
mod bf16;
#[cfg(target_arch = "x86_64")]
mod c_tile;
mod cpu_time;
mod float;
mod fma;
mod gemm_impl;
mod random;
mod reduce;
mod threads;

pub use alloc::tune_allocator;
pub use bf16::{
    Bf16Tile, MatmulPrecision, PackedA, PackedB, cpu_has_bf16, gemm_packed, gemm_packed_a,
    matmul_precision, set_matmul_precision, with_bf16_tile,
};
pub use cpu_time::cpu_seconds;
pub use float::{Dtype, Float};
pub use fma::{F32Kernel, gemm_f32_with};
pub use gemm_impl::{gemm, gemm_with_precision, matmul};
pub use random::{Rng, randn, rng};
pub use reduce::{chunk_for_threads, fold_chunks_in_order, sum_of_squares};
pub use threads::{set_threads, threads};
