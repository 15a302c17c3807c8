//! airbench94's training step (loss and gradients, batch 512, random data) at bf16
//! products, one register tile against another in one process: each tile has a pool of
//! 2 threads that runs every product on it (`numeric::with_bf16_tile` around each
//! worker), and every round runs a step on each pool in a rotating order, so that both
//! see the same drift of a shared machine.
//!
//! ```text
//! cargo bench -p benches --bench bf16_tiles_step -- [ROUNDS]
//! ```
//! Prints the best and median step per tile, in wall time and in the process's CPU time
//! (only one pool works at a time: what an A/B comparison on shared cores can trust).

use std::time::Instant;

use ndarray::{Array1, Array4};
use numeric::{Bf16Tile, MatmulPrecision};

use numeric::cpu_seconds;

const TILES: [Bf16Tile; 2] = [Bf16Tile::Tile8x48, Bf16Tile::Auto];

fn main() {
    numeric::tune_allocator();
    if numeric::set_matmul_precision(MatmulPrecision::Bf16) != MatmulPrecision::Bf16 {
        return eprintln!("no AVX512_BF16 on this CPU: nothing to measure");
    }
    // `cargo bench` appends `--bench`: only the positional arguments count.
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    let pools: Vec<rayon::ThreadPool> = TILES
        .iter()
        .map(|&tile| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .spawn_handler(move |thread| {
                    std::thread::spawn(move || numeric::with_bf16_tile(tile, || thread.run()));
                    Ok(())
                })
                .build()
                .expect("a 2-thread pool")
        })
        .collect();
    let mut rng = numeric::rng(0);
    let x: Array4<f32> = numeric::randn((512, 3, 32, 32), &mut rng);
    let y = Array1::from_iter((0..512).map(|i| i % 10));
    let mut net = nn::Airbench94::<f32>::new(nn::Airbench94Config::default()).expect("defaults");
    net.init_whitening(&x.view(), 5e-4).expect("whitening");
    let x = x.into_dyn();
    let mut step = |i: usize| {
        pools[i].install(|| std::hint::black_box(net.loss_and_scores(&x.view(), &y.view())));
    };
    for i in 0..TILES.len() {
        step(i);
    }
    let (mut wall, mut cpu) = (vec![Vec::new(); TILES.len()], vec![Vec::new(); TILES.len()]);
    for r in 0..rounds {
        for j in 0..TILES.len() {
            let i = (j + r) % TILES.len();
            let (t, c) = (Instant::now(), cpu_seconds());
            step(i);
            wall[i].push(t.elapsed().as_secs_f64());
            cpu[i].push(cpu_seconds() - c);
        }
    }
    println!("rounds: {rounds}, batch 512, seconds per step: best (median)");
    for (i, tile) in TILES.iter().enumerate() {
        let show = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            format!("{:.3} ({:.3})", v[0], v[v.len() / 2])
        };
        println!(
            "{tile:?}: wall {}, cpu {}",
            show(&mut wall[i]),
            show(&mut cpu[i])
        );
    }
}
