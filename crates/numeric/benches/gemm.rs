//! GEMM backends on the products the course's pipeline actually computes.
//!
//! Every shape below is one the algorithm crates multiply, with the same layouts
//! (a transposed operand is a transposed *view*, as in backward passes), in f32 and
//! f64. Backends, by benchmark name:
//!
//! - `numeric`: [`numeric::gemm`] called from outside rayon: matrixmultiply's
//!   single-threaded kernel on bands of C spread over the rayon pool (the project's
//!   backend).
//! - `numeric-serial`: the same call from inside a rayon task, where it runs on the
//!   calling thread only (what a parallel loop over images gets); this is plain
//!   single-threaded matrixmultiply, i.e. ndarray's `.dot`.
//! - `gemm-crate` / `gemm-crate-serial`: the `gemm` crate (0.19) with
//!   `Parallelism::Rayon` over the whole pool / `Parallelism::None`; its AVX-512
//!   kernels need `--features gemm-avx512` (the crate's `x86-v4`), without which it
//!   runs its AVX2 kernels.
//! - `matrixmultiply-threaded` (with `--features matrixmultiply-threading`):
//!   matrixmultiply on its own thread pool (`MATMUL_NUM_THREADS`, at most 4).
//! - `openblas` (with `--features blas`): ndarray's `general_mat_mul` on the system
//!   OpenBLAS (`OPENBLAS_NUM_THREADS` threads).
//!
//! The `nested-*` group runs many small products inside a rayon loop: the
//! oversubscription trap of docs/gemm.md.
//!
//! ```text
//! cargo bench -p numeric --bench gemm
//! cargo bench -p numeric --bench gemm --features matrixmultiply-threading -- matrixmultiply-threaded
//! cargo bench -p numeric --bench gemm --features blas -- openblas
//! cargo bench -p numeric --bench gemm --features gemm-avx512 -- gemm-crate
//! ```
//! (With either feature on, the other backends' figures are not the project's: the
//! feature changes every matrixmultiply call in the process, so filter as shown.)
//! Throughput is printed in elements/s where one element is one floating-point
//! operation: read `Gelem/s` as GFLOP/s.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use numeric::Float;
use rayon::prelude::*;

/// One product `C (m×n) = A (m×k) · B (k×n)`; `ta`/`tb` make the operand a
/// transposed view of a row-major array, as backward passes do.
struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
}

const SHAPES: &[Shape] = &[
    // kNN no-loops distances: X_test (500×3072) · X_trainᵀ (3072×5000).
    Shape {
        name: "knn-500x3072x5000",
        m: 500,
        k: 3072,
        n: 5000,
        ta: false,
        tb: true,
    },
    // Linear classifier scores on a batch of 200 with the bias trick, and its dW = Xᵀ·dscores.
    Shape {
        name: "svm-fwd-200x3073x10",
        m: 200,
        k: 3073,
        n: 10,
        ta: false,
        tb: false,
    },
    Shape {
        name: "svm-dW-3073x200x10",
        m: 3073,
        k: 200,
        n: 10,
        ta: true,
        tb: false,
    },
    // Two-layer net's first affine layer (hidden 100): forward, dx = dout·Wᵀ, dW = xᵀ·dout.
    Shape {
        name: "affine-fwd-200x3072x100",
        m: 200,
        k: 3072,
        n: 100,
        ta: false,
        tb: false,
    },
    Shape {
        name: "affine-dx-200x100x3072",
        m: 200,
        k: 100,
        n: 3072,
        ta: false,
        tb: true,
    },
    Shape {
        name: "affine-dW-3072x200x100",
        m: 3072,
        k: 200,
        n: 100,
        ta: true,
        tb: false,
    },
    // ThreeLayerConvNet conv (32 filters 7×7×3, pad 3) on 50 images of 32×32 by im2col:
    // forward W (32×147) · cols (147×51200), dW = dout·colsᵀ, dcols = Wᵀ·dout.
    Shape {
        name: "conv-fwd-32x147x51200",
        m: 32,
        k: 147,
        n: 51200,
        ta: false,
        tb: false,
    },
    Shape {
        name: "conv-dW-32x51200x147",
        m: 32,
        k: 51200,
        n: 147,
        ta: false,
        tb: true,
    },
    Shape {
        name: "conv-dcols-147x32x51200",
        m: 147,
        k: 32,
        n: 51200,
        ta: true,
        tb: false,
    },
    // The machine's peak: a large square product.
    Shape {
        name: "square-2048",
        m: 2048,
        k: 2048,
        n: 2048,
        ta: false,
        tb: false,
    },
];

/// Operands laid out as the shape says.
fn operands<T: Float>(s: &Shape) -> (Array2<T>, Array2<T>) {
    let mut rng = numeric::rng(0);
    let a: Array2<T> = if s.ta {
        numeric::randn((s.k, s.m), &mut rng).reversed_axes()
    } else {
        numeric::randn((s.m, s.k), &mut rng)
    };
    let b: Array2<T> = if s.tb {
        numeric::randn((s.n, s.k), &mut rng).reversed_axes()
    } else {
        numeric::randn((s.k, s.n), &mut rng)
    };
    (a, b)
}

/// The other backends, called directly on a product.
trait Backends: Float {
    /// matrixmultiply (threaded when the feature is on), whatever the `blas` feature
    /// says about ndarray.
    #[cfg_attr(not(feature = "matrixmultiply-threading"), allow(dead_code))]
    fn matrixmultiply(
        a: &ArrayView2<'_, Self>,
        b: &ArrayView2<'_, Self>,
        c: &mut ArrayViewMut2<'_, Self>,
    );
    /// The `gemm` crate, with the given parallelism.
    fn gemm_crate(
        a: &ArrayView2<'_, Self>,
        b: &ArrayView2<'_, Self>,
        c: &mut ArrayViewMut2<'_, Self>,
        par: gemm::Parallelism,
    );
}

macro_rules! backends {
    ($t:ty, $mm:path) => {
        impl Backends for $t {
            fn matrixmultiply(
                a: &ArrayView2<'_, $t>,
                b: &ArrayView2<'_, $t>,
                c: &mut ArrayViewMut2<'_, $t>,
            ) {
                let (m, k) = a.dim();
                let n = b.ncols();
                let (sa, sb) = (a.strides(), b.strides());
                let sc = [c.strides()[0], c.strides()[1]];
                // SAFETY: shapes agree by construction; the strides are the views' own.
                unsafe {
                    $mm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        sa[0],
                        sa[1],
                        b.as_ptr(),
                        sb[0],
                        sb[1],
                        0.0,
                        c.as_mut_ptr(),
                        sc[0],
                        sc[1],
                    )
                }
            }

            fn gemm_crate(
                a: &ArrayView2<'_, $t>,
                b: &ArrayView2<'_, $t>,
                c: &mut ArrayViewMut2<'_, $t>,
                par: gemm::Parallelism,
            ) {
                let (m, k) = a.dim();
                let n = b.ncols();
                let (sa, sb) = (a.strides(), b.strides());
                let sc = [c.strides()[0], c.strides()[1]];
                // SAFETY: as above. The gemm crate computes dst ← α·dst + β·lhs·rhs and
                // takes column strides first.
                unsafe {
                    gemm::gemm::<$t>(
                        m,
                        n,
                        k,
                        c.as_mut_ptr(),
                        sc[1],
                        sc[0],
                        false,
                        a.as_ptr(),
                        sa[1],
                        sa[0],
                        b.as_ptr(),
                        sb[1],
                        sb[0],
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        par,
                    )
                }
            }
        }
    };
}
backends!(f32, matrixmultiply::sgemm);
backends!(f64, matrixmultiply::dgemm);

fn shapes_for<T: Backends>(c: &mut Criterion, serial_pool: &rayon::ThreadPool) {
    let threads = rayon::current_num_threads();
    for s in SHAPES {
        let (a, b) = operands::<T>(s);
        let mut out = Array2::<T>::zeros((s.m, s.n));
        let mut g = c.benchmark_group(format!("{}-{}", s.name, T::NAME));
        g.throughput(Throughput::Elements(2 * (s.m * s.k * s.n) as u64));
        g.bench_function("numeric", |bench| {
            bench.iter(|| {
                numeric::gemm(
                    T::one(),
                    &a.view(),
                    &b.view(),
                    T::zero(),
                    &mut out.view_mut(),
                )
            })
        });
        g.bench_function("numeric-serial", |bench| {
            bench.iter(|| {
                serial_pool.install(|| {
                    numeric::gemm(
                        T::one(),
                        &a.view(),
                        &b.view(),
                        T::zero(),
                        &mut out.view_mut(),
                    )
                })
            })
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
        g.bench_function("gemm-crate-serial", |bench| {
            bench.iter(|| {
                T::gemm_crate(
                    &a.view(),
                    &b.view(),
                    &mut out.view_mut(),
                    gemm::Parallelism::None,
                )
            })
        });
        #[cfg(feature = "matrixmultiply-threading")]
        g.bench_function("matrixmultiply-threaded", |bench| {
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
/// (32×147 · 147×1024). `numeric::gemm` and the `gemm` crate (as numeric used it) go
/// serial inside the loop; a threaded backend starts its own threads on top of rayon's.
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
    g.bench_function(BenchmarkId::new("gemm-crate", "in-rayon-loop"), |bench| {
        bench.iter(|| {
            outs.par_iter_mut().zip(&cols).for_each(|(o, x)| {
                T::gemm_crate(
                    &w.view(),
                    &x.view(),
                    &mut o.view_mut(),
                    gemm::Parallelism::None,
                )
            })
        })
    });
    #[cfg(feature = "matrixmultiply-threading")]
    g.bench_function(
        BenchmarkId::new("matrixmultiply-threaded", "in-rayon-loop"),
        |bench| {
            bench.iter(|| {
                outs.par_iter_mut()
                    .zip(&cols)
                    .for_each(|(o, x)| T::matrixmultiply(&w.view(), &x.view(), &mut o.view_mut()))
            })
        },
    );
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
