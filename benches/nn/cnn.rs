//! Speed of the convolutional layers and networks (f32, batch sizes as trained).
//!
//! ```text
//! cargo bench -p benches --bench cnn                      # everything
//! cargo bench -p benches --bench cnn -- three-layer       # one group
//! CNN_SUMMARY_ONLY=1 cargo bench -p benches --bench cnn   # only the per-layer table
//! ```
//!
//! Groups:
//! - `three-layer-convnet`: forward+backward of the course's ThreeLayerConvNet on a
//!   batch of 50 CIFAR-sized images (target ≤ 12 ms), and forward only.
//! - `fashion-2conv`: forward+backward of the Fashion-MNIST 2-conv net
//!   (conv5×5×32–pool–conv5×5×64–pool–fc1024–fc10) on a batch of 64; one epoch is
//!   60 000 / 64 = 938 such steps (target ≤ 35 s per epoch).
//! - `conv-naive-vs-fast`: the teaching loops against im2col + GEMM on the same layer
//!   (8 images, 32 filters of 7×7×3 on 32×32); throughput in FLOP/s.
//! - `conv-gemm-strategy`: the decision behind the fast conv: one big GEMM over the
//!   whole batch `W (F×K) · cols (K×N·P)` versus one GEMM per image, images spread
//!   over the rayon pool (GEMM serial inside each task).
//!
//! Before the criterion groups, a table prints images/s, GFLOP/s and the fraction of
//! the machine's measured GEMM peak for every layer of both networks (median of
//! repeated runs), then both networks' step time in wall-clock and in CPU time (the
//! latter is what the step costs on idle cores: the machine is shared). Throughputs in criterion's output are in elements/s where one
//! element is one image (network groups) or one floating-point operation (layer
//! groups): read `Gelem/s` as GFLOP/s there.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ndarray::{Array1, Array2, Array4, ArrayView2, ArrayViewMut2};
use nn::Model;
use nn::{
    ConvParam, conv_backward_fast, conv_backward_fast_no_dx, conv_backward_naive,
    conv_forward_fast, conv_forward_naive,
};
use nn::{PoolParam, max_pool_backward_fast, max_pool_forward_fast};
use nn::{SequentialNet, SequentialNetConfig, ThreeLayerConvNet, ThreeLayerConvNetConfig};
use nn::{affine, affine_input_grad, affine_param_grads};
use rayon::prelude::*;

const FASHION_ARCH: &str = "conv32x5-relu-pool,conv64x5-relu-pool,fc1024-relu,fc10";

fn images(n: usize, c: usize, h: usize, w: usize, seed: u64) -> Array4<f32> {
    numeric::randn((n, c, h, w), &mut numeric::rng(seed))
}

fn labels(n: usize) -> Array1<usize> {
    Array1::from_shape_fn(n, |i| i % 10)
}

fn three_layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("three-layer-convnet");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(6));
    let mut net = ThreeLayerConvNet::<f32>::new(ThreeLayerConvNetConfig::default()).unwrap();
    let x = images(50, 3, 32, 32, 0).into_dyn();
    let y = labels(50);
    group.throughput(Throughput::Elements(50));
    group.bench_function("fwd+bwd-batch50", |b| {
        b.iter(|| black_box(net.loss(&x.view(), &y.view())))
    });
    group.bench_function("fwd-batch50", |b| {
        b.iter(|| black_box(net.scores(&x.view())))
    });
    group.finish();
}

fn fashion(c: &mut Criterion) {
    let mut group = c.benchmark_group("fashion-2conv");
    group
        .sample_size(15)
        .measurement_time(Duration::from_secs(8));
    let mut net =
        SequentialNet::<f32>::new(SequentialNetConfig::new(FASHION_ARCH, &[1, 28, 28])).unwrap();
    let x = images(64, 1, 28, 28, 1).into_dyn();
    let y = labels(64);
    group.throughput(Throughput::Elements(64));
    group.bench_function("fwd+bwd-batch64", |b| {
        b.iter(|| black_box(net.loss(&x.view(), &y.view())))
    });
    group.finish();
}

fn naive_vs_fast(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv-naive-vs-fast");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    let x = images(8, 3, 32, 32, 2);
    let w = images(32, 3, 7, 7, 3);
    let b = Array1::<f32>::zeros(32);
    let p = ConvParam::new(1, 3);
    let flops = 2 * 8 * 32 * 1024 * 147;
    group.throughput(Throughput::Elements(flops as u64));
    group.bench_function("forward/naive", |bn| {
        bn.iter(|| black_box(conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap()))
    });
    group.bench_function("forward/fast", |bn| {
        bn.iter(|| black_box(conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap()))
    });
    let (out, cache) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
    group.throughput(Throughput::Elements(2 * flops as u64));
    group.bench_function("backward/naive", |bn| {
        bn.iter(|| black_box(conv_backward_naive(&out.view(), &cache)))
    });
    group.bench_function("backward/fast", |bn| {
        bn.iter(|| black_box(conv_backward_fast(&out.view(), &cache)))
    });
    group.finish();
}

fn gemm_strategy(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv-gemm-strategy");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    // ThreeLayerConvNet's conv on a batch of 50: F = 32, K = 3·7·7, P = 32·32.
    let (n, f, k, p) = (50, 32, 147, 1024);
    let w: Array2<f32> = numeric::randn((f, k), &mut numeric::rng(4));
    let cols: Array2<f32> = numeric::randn((k, n * p), &mut numeric::rng(5));
    let mut out = Array2::<f32>::zeros((f, n * p));
    group.throughput(Throughput::Elements((2 * n * f * p * k) as u64));
    group.bench_function("one-gemm-whole-batch", |b| {
        b.iter(|| numeric::gemm(1.0, &w.view(), &cols.view(), 0.0, &mut out.view_mut()))
    });
    let mut outs = vec![0.0_f32; n * f * p];
    group.bench_function("per-image-gemm-parallel", |b| {
        b.iter(|| {
            outs.par_chunks_mut(f * p).enumerate().for_each(|(i, o)| {
                let c: ArrayView2<f32> = cols.slice(ndarray::s![.., i * p..(i + 1) * p]);
                let mut o = ArrayViewMut2::from_shape((f, p), o).unwrap();
                numeric::gemm(1.0, &w.view(), &c, 0.0, &mut o);
            })
        })
    });
    group.finish();
}

/// Median wall time of `f` over `reps` runs after one warm-up.
fn median_time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

/// Mean wall and CPU seconds of `f` over `reps` runs (after one warm-up).
fn wall_and_cpu(reps: usize, mut f: impl FnMut()) -> (f64, Option<f64>) {
    f();
    let cpu0 = numeric::cpu_seconds();
    let start = Instant::now();
    for _ in 0..reps {
        f();
    }
    let wall = start.elapsed().as_secs_f64() / reps as f64;
    let cpu = (numeric::cpu_seconds() - cpu0) / reps as f64;
    let cpu = cpu.is_finite().then_some(cpu);
    (wall, cpu)
}

/// Measured f32 GEMM throughput on a large square product using the whole pool: the
/// ceiling every GEMM-bound layer is compared with.
fn gemm_peak() -> f64 {
    let a: Array2<f32> = numeric::randn((1024, 1024), &mut numeric::rng(6));
    let mut c = Array2::<f32>::zeros((1024, 1024));
    let t = median_time(7, || {
        numeric::gemm(1.0, &a.view(), &a.view(), 0.0, &mut c.view_mut())
    });
    2.0 * 1024f64.powi(3) / t / 1e9
}

struct Row {
    name: String,
    images: usize,
    flops: f64,
    seconds: f64,
}

/// Times every layer of a conv → pool → (conv → pool)… → fc stack as the models run
/// it: `convs` are (C, H, F, K) with same padding, each followed by a 2×2 pool; then
/// `fcs` are (D, M) affine layers. The first conv skips dx.
fn layer_rows(
    label: &str,
    n: usize,
    convs: &[(usize, usize, usize, usize)],
    fcs: &[(usize, usize)],
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |name: String, flops: f64, seconds: f64| {
        rows.push(Row {
            name: format!("{label} {name}"),
            images: n,
            flops,
            seconds,
        })
    };
    for (i, &(c, h, f, k)) in convs.iter().enumerate() {
        let x = images(n, c, h, h, 10 + i as u64);
        let w = images(f, c, k, k, 20 + i as u64);
        let b = Array1::<f32>::zeros(f);
        let p = ConvParam::new(1, (k - 1) / 2);
        let gemm_flops = 2.0 * (n * f * h * h * c * k * k) as f64;
        let t = median_time(9, || {
            black_box(conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap());
        });
        push(format!("conv{}x{k}x{f} forward", i + 1), gemm_flops, t);
        let (out, cache) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
        if i == 0 {
            let t = median_time(9, || {
                black_box(conv_backward_fast_no_dx(&out.view(), &cache));
            });
            push(
                format!("conv{} backward (dw, db; no dx)", i + 1),
                gemm_flops,
                t,
            );
        } else {
            let t = median_time(9, || {
                black_box(conv_backward_fast(&out.view(), &cache));
            });
            push(
                format!("conv{} backward (dx, dw, db)", i + 1),
                2.0 * gemm_flops,
                t,
            );
        }
        let pp = PoolParam::square(2, 2);
        let t = median_time(9, || {
            black_box(max_pool_forward_fast(&out.view(), pp).unwrap());
        });
        push(format!("pool{} forward", i + 1), 0.0, t);
        let (pooled, pcache) = max_pool_forward_fast(&out.view(), pp).unwrap();
        let t = median_time(9, || {
            black_box(max_pool_backward_fast(&pooled.view(), &pcache));
        });
        push(format!("pool{} backward", i + 1), 0.0, t);
    }
    for (i, &(d, m)) in fcs.iter().enumerate() {
        let x: Array2<f32> = numeric::randn((n, d), &mut numeric::rng(30 + i as u64));
        let w: Array2<f32> = numeric::randn((d, m), &mut numeric::rng(40 + i as u64));
        let b = Array1::<f32>::zeros(m);
        let flops = 2.0 * (n * d * m) as f64;
        let t = median_time(15, || {
            black_box(affine(&x.view(), &w.view(), &b.view()));
        });
        push(format!("fc{m} forward"), flops, t);
        let dout: Array2<f32> = numeric::randn((n, m), &mut numeric::rng(50));
        let t = median_time(15, || {
            black_box(affine_param_grads(&x.view(), &dout.view()));
            black_box(affine_input_grad(&dout.view(), &w.view()));
        });
        push(format!("fc{m} backward"), 2.0 * flops, t);
    }
    rows
}

/// The per-layer table: images/s, GFLOP/s and fraction of GEMM peak.
fn summary() {
    let peak = gemm_peak();
    println!(
        "\nf32 GEMM peak (1024³, {} threads): {peak:.1} GFLOP/s",
        numeric::threads()
    );
    let mut rows = layer_rows(
        "cifar3",
        50,
        &[(3, 32, 32, 7)],
        &[(32 * 16 * 16, 100), (100, 10)],
    );
    rows.extend(layer_rows(
        "fashion",
        64,
        &[(1, 28, 32, 5), (32, 14, 64, 5)],
        &[(64 * 7 * 7, 1024), (1024, 10)],
    ));
    println!(
        "{:<44} {:>10} {:>12} {:>9} {:>8}",
        "layer (batch)", "ms", "images/s", "GFLOP/s", "of peak"
    );
    for r in &rows {
        let gflops = r.flops / r.seconds / 1e9;
        let (g, frac) = if r.flops > 0.0 {
            (
                format!("{gflops:.1}"),
                format!("{:.0}%", 100.0 * gflops / peak),
            )
        } else {
            ("-".into(), "-".into())
        };
        println!(
            "{:<44} {:>10.3} {:>12.0} {:>9} {:>8}",
            format!("{} ({})", r.name, r.images),
            r.seconds * 1e3,
            r.images as f64 / r.seconds,
            g,
            frac
        );
    }
    let threads = numeric::threads() as f64;
    let report = |name: &str, batch: usize, epoch_steps: f64, (wall, cpu): (f64, Option<f64>)| {
        println!(
            "{name}, batch {batch}: {:.2} ms wall ({:.0} images/s, {:.1} s per epoch of {epoch_steps} steps)",
            wall * 1e3,
            batch as f64 / wall,
            wall * epoch_steps
        );
        if let Some(cpu) = cpu {
            println!(
                "    CPU {:.2} ms per step: {:.2} ms on {threads} idle cores, {:.1} s per epoch",
                cpu * 1e3,
                cpu / threads * 1e3,
                cpu / threads * epoch_steps
            );
        }
    };
    let mut net = ThreeLayerConvNet::<f32>::new(ThreeLayerConvNetConfig::default()).unwrap();
    let (x, y) = (images(50, 3, 32, 32, 0).into_dyn(), labels(50));
    let t = wall_and_cpu(100, || {
        black_box(net.loss(&x.view(), &y.view()));
    });
    report("ThreeLayerConvNet forward+backward", 50, 980.0, t);
    let mut net =
        SequentialNet::<f32>::new(SequentialNetConfig::new(FASHION_ARCH, &[1, 28, 28])).unwrap();
    let (x, y) = (images(64, 1, 28, 28, 1).into_dyn(), labels(64));
    let t = wall_and_cpu(40, || {
        black_box(net.loss(&x.view(), &y.view()));
    });
    report("Fashion 2-conv net forward+backward", 64, 937.0, t);
    println!();
}

fn main() {
    // The allocator setting of the programs that train (`cs231n`, the examples, the
    // `cargo xtask bench` scenarios): without it a third of a step is page faults.
    numeric::tune_allocator();
    summary();
    if std::env::var_os("CNN_SUMMARY_ONLY").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    three_layer(&mut c);
    fashion(&mut c);
    naive_vs_fast(&mut c);
    gemm_strategy(&mut c);
    c.final_summary();
}
