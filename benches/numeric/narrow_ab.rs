//! Interleaved A/B runs of the small models' products in both orientations of C, one
//! thread: which dimension the `gemm` crate's 64 × 6 register tile (f32, AVX-512) runs
//! along decides how much of it a narrow product (50 or 32 wide) fills.
//!
//! - `row C`: C row-major, as the models hold it (the kernel computes Cᵀ = Bᵀ·Aᵀ);
//! - `col C`: C column-major;
//! - `col C + copy`: column-major, then copied into a row-major C;
//! - `row C split`: row-major, C's columns cut at a multiple of 16 into two products.
//!
//! ```text
//! cargo bench -p benches --bench narrow_ab -- [ROUNDS]
//! ```
//! Prints the best and median round per variant, in GFLOP/s.

#[path = "common/interleave.rs"]
mod interleave;

use ndarray::{Array2, ArrayView2, Axis, ShapeBuilder, s};

/// One product `A·B`, with A and B given as (rows, cols, transposed storage).
struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    a_t: bool,
    b_t: bool,
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "two-layer fwd X·W1 200x3072x50",
        m: 200,
        k: 3072,
        n: 50,
        a_t: false,
        b_t: false,
    },
    Shape {
        name: "two-layer dW1 Xt·dh 3072x200x50",
        m: 3072,
        k: 200,
        n: 50,
        a_t: true,
        b_t: false,
    },
    Shape {
        name: "convnet fc fwd 50x8192x100",
        m: 50,
        k: 8192,
        n: 100,
        a_t: false,
        b_t: false,
    },
    Shape {
        name: "convnet fc dW2 8192x50x100",
        m: 8192,
        k: 50,
        n: 100,
        a_t: true,
        b_t: false,
    },
    Shape {
        name: "convnet fc dx 50x100x8192",
        m: 50,
        k: 100,
        n: 8192,
        a_t: false,
        b_t: true,
    },
    Shape {
        name: "conv fwd W·cols 32x147x1216",
        m: 32,
        k: 147,
        n: 1216,
        a_t: false,
        b_t: false,
    },
    Shape {
        name: "conv dWt cols·doutT 147x1216x32",
        m: 147,
        k: 1216,
        n: 32,
        a_t: false,
        b_t: true,
    },
];

fn operand(rows: usize, cols: usize, transposed: bool, seed: u64) -> Array2<f32> {
    let mut r = numeric::rng(seed);
    if transposed {
        numeric::randn((cols, rows), &mut r)
    } else {
        numeric::randn((rows, cols), &mut r)
    }
}

fn view(a: &Array2<f32>, transposed: bool) -> ArrayView2<'_, f32> {
    if transposed { a.t() } else { a.view() }
}

fn main() {
    // `cargo bench` appends `--bench`: only the positional arguments count.
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    let names = ["row C", "col C", "col C + copy", "row C split"];
    for s in SHAPES {
        let a_store = operand(s.m, s.k, s.a_t, 1);
        let b_store = operand(s.k, s.n, s.b_t, 2);
        let (a, b) = (view(&a_store, s.a_t), view(&b_store, s.b_t));
        let mut row_c = Array2::<f32>::zeros((s.m, s.n));
        let mut col_c = Array2::<f32>::zeros((s.m, s.n).f());
        let mut call = |i: usize| {
            pool.install(|| match i {
                0 => numeric::gemm(1.0, &a, &b, 0.0, &mut row_c.view_mut()),
                1 => numeric::gemm(1.0, &a, &b, 0.0, &mut col_c.view_mut()),
                2 => {
                    numeric::gemm(1.0, &a, &b, 0.0, &mut col_c.view_mut());
                    row_c.assign(&col_c);
                }
                _ => {
                    // The kernel's rows are C's columns: a whole number of 16-wide
                    // vectors first, then the rest.
                    let cut = s.n / 16 * 16;
                    if cut == 0 || cut == s.n {
                        numeric::gemm(1.0, &a, &b, 0.0, &mut row_c.view_mut());
                    } else {
                        let (mut left, mut right) = row_c.view_mut().split_at(Axis(1), cut);
                        numeric::gemm(1.0, &a, &b.slice(s![.., ..cut]), 0.0, &mut left);
                        numeric::gemm(1.0, &a, &b.slice(s![.., cut..]), 0.0, &mut right);
                    }
                }
            })
        };
        let flops = 2.0 * (s.m * s.k * s.n) as f64;
        let cells = interleave::gflops_cells(&names, rounds, 0.01, flops, &mut call);
        println!("{}: {}", s.name, cells.join(", "));
    }
}
