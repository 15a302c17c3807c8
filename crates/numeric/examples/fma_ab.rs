//! Interleaved A/B rounds of the f32 kernels behind `numeric::gemm`: the `gemm` crate's
//! path (with its reoriented buffer where it takes one) against our own AVX-512 kernel
//! in its three register tiles, threaded as `numeric::gemm` threads them, and the two
//! main ones on one thread. Every round runs each variant once, in a rotating order.
//!
//! ```text
//! cargo run --release -p numeric --example fma_ab -- [ROUNDS] [SHAPE-FILTER] [serial]
//! ```
//! Prints one line per shape: GFLOP/s, best (median) round per variant. With `serial`
//! every variant runs on one thread: on a machine busy with other work, the figures
//! closest to each kernel's own speed.

#[path = "../../../benches/numeric/common/backends.rs"]
mod backends;
#[path = "../../../benches/numeric/common/interleave.rs"]
mod interleave;

use backends::{SHAPES, Shape, operands};
use ndarray::Array2;
use numeric::F32Kernel;

/// The two-layer net's products (hidden 50, batch 200), and a batched 3×3 convolution
/// of 256 channels on 4 images of 16×16 (rows · Wᵀ), besides the shared shapes.
const MORE: &[Shape] = &[
    Shape {
        name: "conv3x3-1024x2304x256",
        m: 1024,
        k: 2304,
        n: 256,
        ta: false,
        tb: true,
    },
    Shape {
        name: "two-layer-fwd-200x3072x50",
        m: 200,
        k: 3072,
        n: 50,
        ta: false,
        tb: false,
    },
    Shape {
        name: "two-layer-dW1-3072x200x50",
        m: 3072,
        k: 200,
        n: 50,
        ta: true,
        tb: false,
    },
    Shape {
        name: "two-layer-dx-200x50x3072",
        m: 200,
        k: 50,
        n: 3072,
        ta: false,
        tb: true,
    },
];

fn main() {
    // As `cargo xtask bench` does: freed blocks stay in the heap for the next call.
    numeric::tune_allocator();
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(9);
    let filter = args.next().unwrap_or_default();
    let all_serial = args.next().as_deref() == Some("serial");
    println!(
        "rounds: {rounds}, rayon threads: {}",
        rayon::current_num_threads()
    );
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    // `numeric::matmul` allocates a fresh C per call, as `cargo xtask bench`'s GEMM
    // scenarios and numpy's `a @ b` do: its page faults and zeroing, against `gemm`
    // into a C allocated once (`auto`).
    let variants = [
        ("auto-fresh-c", F32Kernel::Auto, false),
        ("auto", F32Kernel::Auto, false),
        ("crate", F32Kernel::GemmCrate, false),
        ("fma8x48", F32Kernel::Fma8x48, false),
        ("fma12x32", F32Kernel::Fma12x32, false),
        ("fma14x32", F32Kernel::Fma14x32, false),
        ("crate-serial", F32Kernel::GemmCrate, true),
        ("fma8x48-serial", F32Kernel::Fma8x48, true),
    ];
    let names: Vec<&str> = variants.iter().map(|v| v.0).collect();
    for s in SHAPES
        .iter()
        .chain(MORE)
        .filter(|s| s.name.contains(&filter))
    {
        let (a, b) = operands::<f32>(s);
        let mut c = Array2::<f32>::zeros((s.m, s.n));
        let (a, b) = (a.view(), b.view());
        let mut call = |i: usize| {
            let (_, kernel, one_thread) = variants[i];
            let mut product = || {
                if i == 0 {
                    std::hint::black_box(numeric::matmul(&a, &b));
                } else {
                    numeric::gemm_f32_with(kernel, 1.0, &a, &b, 0.0, &mut c.view_mut())
                }
            };
            if one_thread || all_serial {
                serial.install(product)
            } else {
                product()
            }
        };
        let flops = 2.0 * (s.m * s.k * s.n) as f64;
        // Enough calls per timing to last ~20 ms.
        let cells = interleave::gflops_cells(&names, rounds, 0.02, flops, &mut call);
        println!("{}: {}", s.name, cells.join(", "));
    }
}
