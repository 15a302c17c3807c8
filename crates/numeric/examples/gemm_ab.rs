//! Interleaved A/B runs of the GEMM backends: on a shared machine, criterion's
//! back-to-back groups compare a backend measured under one load with another measured
//! under the next. Here every round runs each backend once, in a rotating order, so
//! all of them see the same drift; the best and median round are reported.
//!
//! ```text
//! cargo run --release -p numeric --example gemm_ab -- [ROUNDS] [SHAPE-FILTER]
//! ```
//! Prints one line per shape and element type: GFLOP/s, best (median) per backend.
//! On a CPU with AVX512_BF16 the f32 lines add `numeric` at bf16 products
//! (`numeric::set_matmul_precision`), threaded and serial.

#[path = "../../../benches/numeric/common/backends.rs"]
mod backends;
#[path = "../../../benches/numeric/common/interleave.rs"]
mod interleave;

use backends::{Backends, SHAPES, operands};
use ndarray::Array2;

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(9);
    let filter = args.next().unwrap_or_default();
    println!(
        "rounds: {rounds}, rayon threads: {}",
        rayon::current_num_threads()
    );
    run::<f32>(rounds, &filter);
    run::<f64>(rounds, &filter);
}

fn run<T: Backends>(rounds: usize, filter: &str) {
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    let threads = rayon::current_num_threads();
    let mut names = vec!["numeric", "numeric-serial", "gemm-crate", "matrixmultiply"];
    if T::NAME == "f32" && numeric::cpu_has_bf16() {
        names.extend(["numeric-bf16", "numeric-bf16-serial"]);
    }
    for s in SHAPES.iter().filter(|s| s.name.contains(filter)) {
        let (a, b) = operands::<T>(s);
        let mut c = Array2::<T>::zeros((s.m, s.n));
        let (a, b) = (a.view(), b.view());
        let mut call = |i: usize| match i {
            0 => numeric::gemm(T::one(), &a, &b, T::zero(), &mut c.view_mut()),
            1 => serial.install(|| numeric::gemm(T::one(), &a, &b, T::zero(), &mut c.view_mut())),
            2 => T::gemm_crate(&a, &b, &mut c.view_mut(), gemm::Parallelism::Rayon(threads)),
            3 => T::matrixmultiply(&a, &b, &mut c.view_mut()),
            _ => {
                // The knob is process-wide: on for this call only.
                numeric::set_matmul_precision(numeric::MatmulPrecision::Bf16);
                let mut product = || numeric::gemm(T::one(), &a, &b, T::zero(), &mut c.view_mut());
                if i == 4 {
                    product()
                } else {
                    serial.install(product)
                }
                numeric::set_matmul_precision(numeric::MatmulPrecision::F32);
            }
        };
        let flops = 2.0 * (s.m * s.k * s.n) as f64;
        // Enough calls per timing to last ~20 ms.
        let cells = interleave::gflops_cells(&names, rounds, 0.02, flops, &mut call);
        println!("{}-{}: {}", s.name, T::NAME, cells.join(", "));
    }
}
