//! Times the two small models of the course's benchmarks on random data, for profiling
//! (`perf record`) and interleaved A/B runs of two builds: `loss` of ThreeLayerConvNet on
//! a batch of 50 images (or its forward pass alone, `scores`), and `loss` of TwoLayerNet
//! 3072-50-10 on a batch of 200 rows; or its first layer's forward pass alone
//! (`conv-relu-pool`: conv 7×7 3 → 32, relu, 2×2 max pool on 50 images).
//!
//! ```text
//! cargo bench -p benches --bench small_models -- [convnet|convnet-forward|conv-relu-pool|two-layer] [ROUNDS]
//! ```
//! Prints the best and median round, each round 10 calls, in wall time and in CPU time
//! per thread (the process's CPU time over the 2 threads: the cost on idle cores,
//! what an A/B comparison on a shared machine can trust).

use std::time::Instant;

use ndarray::{Array1, Array2, Array4};
use nn::{Model, ThreeLayerConvNet, TwoLayerConfig, TwoLayerNet};

use numeric::cpu_seconds;

fn main() {
    numeric::tune_allocator();
    numeric::set_threads(2);
    // `cargo bench` appends `--bench`: only the positional arguments count.
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let which = args.next().unwrap_or_else(|| "convnet".into());
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(9);
    let mut rng = numeric::rng(0);
    let mut round: Box<dyn FnMut()> = match which.as_str() {
        "convnet" | "convnet-forward" => {
            let x: Array4<f32> = numeric::randn((50, 3, 32, 32), &mut rng);
            let y = Array1::from_iter((0..50).map(|i| i % 10));
            let mut net = ThreeLayerConvNet::<f32>::new(Default::default()).expect("defaults");
            let forward_only = which == "convnet-forward";
            Box::new(move || {
                if forward_only {
                    std::hint::black_box(net.scores(&x.view().into_dyn()));
                } else {
                    std::hint::black_box(net.loss(&x.view().into_dyn(), &y.view()));
                }
            })
        }
        "conv-relu-pool" => {
            // The first layer alone, as the network runs it: conv 7×7 3 → 32, pad 3,
            // relu, 2×2 max pool, on a batch of 50 (0.48 GFLOP of products per call).
            let x: Array4<f32> = numeric::randn((50, 3, 32, 32), &mut rng);
            let w: Array4<f32> = numeric::randn((32, 3, 7, 7), &mut rng);
            let b = Array1::<f32>::zeros(32);
            let (conv, pool) = (nn::ConvParam::new(1, 3), nn::PoolParam::square(2, 2));
            Box::new(move || {
                std::hint::black_box(
                    nn::conv_relu_pool_forward(&x.view(), &w.view(), &b.view(), conv, pool)
                        .expect("valid shapes"),
                );
            })
        }
        _ => {
            let x: Array2<f32> = numeric::randn((200, 3072), &mut rng);
            let y = Array1::from_iter((0..200).map(|i| i % 10));
            let mut net = TwoLayerNet::<f32>::new(TwoLayerConfig {
                hidden_dim: 50,
                weight_scale: 1e-4,
                reg: 0.25,
                ..Default::default()
            });
            Box::new(move || {
                std::hint::black_box(net.loss(&x.view().into_dyn(), &y.view()));
            })
        }
    };
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..rounds)
        .map(|_| {
            let (t, c) = (Instant::now(), cpu_seconds());
            for _ in 0..10 {
                round();
            }
            (t.elapsed().as_secs_f64(), (cpu_seconds() - c) / 2.0)
        })
        .unzip();
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "{which}: best {:.2} ms, median {:.2} ms per 10 calls; CPU per thread best {:.2} ms, median {:.2} ms",
        wall[0] * 1e3,
        wall[rounds / 2] * 1e3,
        cpu[0] * 1e3,
        cpu[rounds / 2] * 1e3
    );
}
