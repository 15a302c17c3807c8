//! Shapes and GEMM backends shared by benches/numeric/gemm.rs (criterion) and
//! crates/numeric/examples/gemm_ab.rs (interleaved A/B runs for a shared machine).

#![allow(dead_code)] // each includer uses its own part

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use numeric::Float;

/// One product `C (m×n) = A (m×k) · B (k×n)`; `ta`/`tb` make the operand a
/// transposed view of a row-major array, as backward passes do.
pub struct Shape {
    pub name: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub ta: bool,
    pub tb: bool,
}

pub const SHAPES: &[Shape] = &[
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
    // Winograd F(4×4, 3×3) products of the airbench network, per chunk of images: the
    // transformed tiles (tiles × c) · the transformed filters (c × f), and the filters'
    // gradient Vᵀ·E. They run one per rayon task, so their serial speed is what counts.
    Shape {
        name: "wino-fwd-1024x64x256",
        m: 1024,
        k: 64,
        n: 256,
        ta: false,
        tb: false,
    },
    Shape {
        name: "wino-fwd-1024x256x256",
        m: 1024,
        k: 256,
        n: 256,
        ta: false,
        tb: false,
    },
    Shape {
        name: "wino-dW-256x1024x256",
        m: 256,
        k: 1024,
        n: 256,
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
pub fn operands<T: Float>(s: &Shape) -> (Array2<T>, Array2<T>) {
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
pub trait Backends: Float {
    /// matrixmultiply (threaded when the feature is on), whatever the `blas` feature
    /// says about ndarray.
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
