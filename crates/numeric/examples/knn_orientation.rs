//! Interleaved A/B runs of kNN's product `X_test·X_trainᵀ` (500 × 3072 · 3072 × 5000,
//! f32, both operands with contiguous rows) in the orientations and splits that
//! `numeric::gemm` chooses between (docs/gemm.md, "The orientation of C"):
//!
//! - `numeric`: `numeric::gemm` as it is;
//! - `row-major C, N col bands`: the kernel computes Cᵀ = X_train·X_testᵀ, packing all
//!   5 000 training rows, in N bands of C's columns on rayon's threads;
//! - `col-major C, 2 row/col bands`: the product into a column-major buffer (the kernel
//!   packs the 500 test rows), then copied into the row-major C;
//! - `gemm-crate`: the `gemm` crate's own rayon mode, row-major C.
//!
//! ```text
//! cargo run --release -p numeric --example knn_orientation -- [ROUNDS]
//! ```
//! Every round runs each variant once, in a rotating order; prints the best and median
//! round per variant.

use std::time::Instant;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, ShapeBuilder, s};
use rayon::prelude::*;

/// One single-threaded product `C = A·B` by the `gemm` crate, on any strides.
fn serial(a: &ArrayView2<f32>, b: &ArrayView2<f32>, c: &mut ArrayViewMut2<f32>) {
    product(a, b, c, gemm::Parallelism::None);
}

/// `C = A·B` by the `gemm` crate with its own `parallelism`, on any strides.
fn product(
    a: &ArrayView2<f32>,
    b: &ArrayView2<f32>,
    c: &mut ArrayViewMut2<f32>,
    parallelism: gemm::Parallelism,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    // SAFETY: the views are live, their shapes agree, and C does not overlap A or B.
    unsafe {
        gemm::gemm::<f32>(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c.strides()[1],
            c.strides()[0],
            false,
            a.as_ptr(),
            a.strides()[1],
            a.strides()[0],
            b.as_ptr(),
            b.strides()[1],
            b.strides()[0],
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `C = A·B` in `parts` bands of C's columns (`by_cols`) or rows, on rayon's threads.
fn bands(
    a: &ArrayView2<f32>,
    b: &ArrayView2<f32>,
    c: &mut ArrayViewMut2<f32>,
    parts: usize,
    by_cols: bool,
) {
    let (axis, len) = if by_cols {
        (Axis(1), b.ncols())
    } else {
        (Axis(0), a.nrows())
    };
    let edge = |i: usize| {
        if i == parts {
            len
        } else {
            (len * i / parts) & !15
        }
    };
    let mut pieces = Vec::new();
    let mut rest = c.view_mut();
    for p in 0..parts {
        let (piece, tail) = rest.split_at(axis, edge(p + 1) - edge(p));
        pieces.push(piece);
        rest = tail;
    }
    pieces
        .into_par_iter()
        .enumerate()
        .for_each(|(p, mut piece)| {
            let r = edge(p)..edge(p + 1);
            if by_cols {
                serial(a, &b.slice(s![.., r]), &mut piece);
            } else {
                serial(&a.slice(s![r, ..]), b, &mut piece);
            }
        });
}

fn main() {
    numeric::tune_allocator();
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    let (m, k, n) = (500, 3072, 5000);
    let mut rng = numeric::rng(0);
    let x_test: Array2<f32> = numeric::randn((m, k), &mut rng);
    let x_train: Array2<f32> = numeric::randn((n, k), &mut rng);
    let (a, b) = (x_test.view(), x_train.t());
    let mut c = Array2::<f32>::zeros((m, n));
    let mut c_f = Array2::<f32>::zeros((m, n).f());
    let names = [
        "numeric",
        "row-major C, 4 col bands",
        "row-major C, 2 col bands",
        "col-major C, 2 row bands",
        "col-major C, 2 col bands",
        "gemm-crate",
    ];
    let mut times = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        for j in 0..names.len() {
            let i = (j + round) % names.len();
            let t = Instant::now();
            match i {
                0 => numeric::gemm(1.0, &a, &b, 0.0, &mut c.view_mut()),
                1 => bands(&a, &b, &mut c.view_mut(), 4, true),
                2 => bands(&a, &b, &mut c.view_mut(), 2, true),
                3 | 4 => {
                    bands(&a, &b, &mut c_f.view_mut(), 2, i == 4);
                    c.assign(&c_f);
                }
                _ => crate_rayon(&a, &b, &mut c.view_mut()),
            }
            times[i].push(t.elapsed().as_secs_f64());
            std::hint::black_box(&c);
        }
    }
    let flops = 2.0 * (m * k * n) as f64;
    println!(
        "{m}x{k}x{n} f32, {rounds} rounds, {} rayon threads",
        rayon::current_num_threads()
    );
    for (name, t) in names.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        let (best, median) = (t[0], t[t.len() / 2]);
        println!(
            "{name:>26}: best {:.1} ms ({:.0} GFLOP/s), median {:.1} ms ({:.0} GFLOP/s)",
            best * 1e3,
            flops / best / 1e9,
            median * 1e3,
            flops / median / 1e9
        );
    }
}

/// The `gemm` crate's own rayon mode on the whole product.
fn crate_rayon(a: &ArrayView2<f32>, b: &ArrayView2<f32>, c: &mut ArrayViewMut2<f32>) {
    product(
        a,
        b,
        c,
        gemm::Parallelism::Rayon(rayon::current_num_threads()),
    );
}
