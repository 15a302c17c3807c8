//! Interleaved A/B rounds of the bf16 kernel's register tiles on Winograd's per-point
//! products `M (tiles × F) = V (tiles × C) · U (C × F)`, one core, every tile once per
//! round in a rotating order (see `gemm_ab`).
//!
//! ```text
//! cargo run --release -p numeric --example bf16_tiles -- [ROUNDS] [SHAPE-FILTER]
//! ```
//! Prints one line per shape: GFLOP/s, best (median) per tile.

#[path = "../../../benches/numeric/common/interleave.rs"]
mod interleave;

use ndarray::Array2;
use numeric::{Bf16Tile, MatmulPrecision};

/// m × k × n: 128 rows of tiles, k = C input channels, n = F filters, and the
/// backward products (dV = dM·Uᵀ: k = F, n = C).
const SHAPES: [(usize, usize, usize); 9] = [
    (128, 256, 256),
    (128, 64, 64),
    (128, 256, 64),
    (128, 64, 256),
    (128, 24, 64),
    (128, 64, 24),
    (128, 256, 24),
    (512, 256, 256),
    (2048, 2048, 2048),
];

const TILES: [Bf16Tile; 3] = [Bf16Tile::Tile8x48, Bf16Tile::Tile4x64, Bf16Tile::Tile8x32];

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(9);
    let filter = args.next().unwrap_or_default();
    if numeric::set_matmul_precision(MatmulPrecision::Bf16) != MatmulPrecision::Bf16 {
        return eprintln!("no AVX512_BF16 on this CPU: nothing to measure");
    }
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    let names: Vec<String> = TILES.iter().map(|t| format!("{t:?}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    println!("rounds: {rounds}, one core each");
    for (m, k, n) in SHAPES {
        let label = format!("{m}x{k}x{n}");
        if !label.contains(&filter) {
            continue;
        }
        let mut r = numeric::rng(1);
        let a: Array2<f32> = numeric::randn((m, k), &mut r);
        let b: Array2<f32> = numeric::randn((k, n), &mut r);
        let mut c = Array2::<f32>::zeros((m, n));
        let flops = 2.0 * (m * k * n) as f64;
        // Every round inside the pool's one task, as the products run inside a
        // convolution's parallel loop: no hand-over to the pool per call.
        let cells = serial.install(|| {
            let call = |i: usize| {
                numeric::with_bf16_tile(TILES[i], || {
                    numeric::gemm(1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut())
                })
            };
            interleave::gflops_cells(&names, rounds, 0.02, flops, call)
        });
        println!("{label}: {}", cells.join(", "));
    }
}
