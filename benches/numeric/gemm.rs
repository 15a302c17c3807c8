//! GEMM backends on the products the course's pipeline actually computes.
//!
//! Every shape below is one the algorithm crates multiply, with the same layouts
//! (a transposed operand is a transposed *view*, as in backward passes), in f32 and
//! f64. Backends, by benchmark name:
//!
//! - `numeric`: [`numeric::gemm`] called from outside rayon: the `gemm` crate's
//!   single-threaded kernel (AVX-512, its `x86-v4` feature) on bands of C spread over
//!   the rayon pool (the project's backend).
//! - `numeric-serial`: the same call from inside a rayon task, where it runs on the
//!   calling thread only (what a parallel loop over images gets).
//! - `gemm-crate`: the `gemm` crate (0.19, same kernels) with its own
//!   `Parallelism::Rayon` over the whole pool.
//! - `matrixmultiply`: ndarray's default backend (0.3, with its AVX-512 kernels),
//!   single-threaded; with `--features matrixmultiply-threading` it runs on its own
//!   thread pool (`MATMUL_NUM_THREADS`, at most 4) and is named
//!   `matrixmultiply-threaded`.
//! - `openblas` (with `--features blas`): ndarray's `general_mat_mul` on the system
//!   OpenBLAS (`OPENBLAS_NUM_THREADS` threads).
//!
//! The `nested-*` group runs many small products inside a rayon loop: the
//! oversubscription trap of docs/gemm.md. On a shared machine, prefer
//! examples/gemm_ab.rs, which interleaves the backends round by round.
//!
//! ```text
//! cargo bench -p benches --bench gemm
//! cargo bench -p benches --bench gemm --features matrixmultiply-threading -- matrixmultiply-threaded
//! cargo bench -p benches --bench gemm --features blas -- openblas
//! ```
//! Throughput is printed in elements/s where one element is one floating-point
//! operation: read `Gelem/s` as GFLOP/s.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
#[path = "common/backends.rs"]
mod backends;

use backends::{Backends, SHAPES, operands};
use ndarray::{Array2, Axis};
use rayon::prelude::*;

const MM_NAME: &str = if cfg!(feature = "matrixmultiply-threading") {
    "matrixmultiply-threaded"
} else {
    "matrixmultiply"
};

fn shapes_for<T: Backends>(c: &mut Criterion, serial_pool: &rayon::ThreadPool) {
    let threads = rayon::current_num_threads();
    for s in SHAPES {
        let (a, b) = operands::<T>(s);
        let mut out = Array2::<T>::zeros((s.m, s.n));
        let mut g = c.benchmark_group(format!("{}-{}", s.name, T::NAME));
        g.throughput(Throughput::Elements(2 * (s.m * s.k * s.n) as u64));
        let product = |out: &mut Array2<T>| {
            numeric::gemm(
                T::one(),
                &a.view(),
                &b.view(),
                T::zero(),
                &mut out.view_mut(),
            )
        };
        g.bench_function("numeric", |bench| bench.iter(|| product(&mut out)));
        g.bench_function("numeric-serial", |bench| {
            bench.iter(|| serial_pool.install(|| product(&mut out)))
        });
        g.bench_function("gemm-crate", |bench| {
            bench.iter(|| {
                T::gemm_crate(
                    &a.view(),
                    &b.view(),
                    &mut out.view_mut(),
                    gemm::Parallelism::Rayon(threads),
                )
            })
        });
        g.bench_function(MM_NAME, |bench| {
            bench.iter(|| T::matrixmultiply(&a.view(), &b.view(), &mut out.view_mut()))
        });
        #[cfg(feature = "blas")]
        g.bench_function("openblas", |bench| {
            bench.iter(|| {
                ndarray::linalg::general_mat_mul(
                    T::one(),
                    &a.view(),
                    &b.view(),
                    T::zero(),
                    &mut out.view_mut(),
                )
            })
        });
        g.finish();
        black_box(&out);
    }
}

/// The trap: a rayon loop over 64 images, each doing its own conv-forward product
/// (32×147 · 147×1024). `numeric::gemm` goes serial inside the loop; a threaded
/// backend (matrixmultiply-threaded, OpenBLAS) starts its own threads on top of rayon's.
fn nested<T: Backends>(c: &mut Criterion) {
    let images = 64;
    let w: Array2<T> = numeric::randn((32, 147), &mut numeric::rng(1));
    let cols: Vec<Array2<T>> = (0..images)
        .map(|i| numeric::randn((147, 1024), &mut numeric::rng(2 + i as u64)))
        .collect();
    let mut outs: Vec<Array2<T>> = (0..images).map(|_| Array2::zeros((32, 1024))).collect();
    let mut g = c.benchmark_group(format!("nested-conv-64x(32x147x1024)-{}", T::NAME));
    g.throughput(Throughput::Elements((2 * 32 * 147 * 1024 * images) as u64));
    g.bench_function(BenchmarkId::new("numeric", "in-rayon-loop"), |bench| {
        bench.iter(|| {
            outs.par_iter_mut().zip(&cols).for_each(|(o, x)| {
                numeric::gemm(T::one(), &w.view(), &x.view(), T::zero(), &mut o.view_mut())
            })
        })
    });
    g.bench_function(BenchmarkId::new(MM_NAME, "in-rayon-loop"), |bench| {
        bench.iter(|| {
            outs.par_iter_mut()
                .zip(&cols)
                .for_each(|(o, x)| T::matrixmultiply(&w.view(), &x.view(), &mut o.view_mut()))
        })
    });
    #[cfg(feature = "blas")]
    g.bench_function(BenchmarkId::new("openblas", "in-rayon-loop"), |bench| {
        bench.iter(|| {
            outs.par_iter_mut().zip(&cols).for_each(|(o, x)| {
                ndarray::linalg::general_mat_mul(
                    T::one(),
                    &w.view(),
                    &x.view(),
                    T::zero(),
                    &mut o.view_mut(),
                )
            })
        })
    });
    g.finish();
    black_box(outs.first().map(|o| o.sum_axis(Axis(0))));
}

fn benches(c: &mut Criterion) {
    let serial_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    shapes_for::<f32>(c, &serial_pool);
    shapes_for::<f64>(c, &serial_pool);
    nested::<f32>(c);
    nested::<f64>(c);
}

criterion_group! {
    name = gemm;
    // Few, short samples: the large shapes take 0.1–1 s each, and the machine is shared.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(gemm);
