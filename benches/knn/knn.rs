//! Speed of the three distance paths, of the full-size no-loops matrix, and of `predict`.
//!
//! `cargo bench -p benches --bench knn` (all), or e.g. `cargo bench -p benches --bench knn -- no_loops_500x5000x3072`.
//! Random data: speed does not depend on the values.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use knn::{KNearestNeighbor, Metric};
use ndarray::Array2;

fn data(n: usize, d: usize, seed: u64) -> Array2<f32> {
    numeric::randn((n, d), &mut numeric::rng(seed))
}

fn trained(n: usize, d: usize, metric: Metric) -> KNearestNeighbor<f32> {
    let mut knn = KNearestNeighbor::new().with_metric(metric);
    let y = ndarray::Array1::from_shape_fn(n, |i| i % 10);
    knn.train_owned(data(n, d, 1), y).expect("valid data");
    knn
}

/// The three paths at a size the slow ones finish: 50 test × 500 train × 3 072.
fn three_paths(c: &mut Criterion) {
    let x = data(50, 3072, 2);
    for metric in [Metric::L2, Metric::L1] {
        let knn = trained(500, 3072, metric);
        let mut g = c.benchmark_group(format!("distances_{metric}_50x500x3072"));
        g.sample_size(10);
        g.bench_function("two_loops", |b| {
            b.iter(|| knn.compute_distances_two_loops(black_box(x.view())))
        });
        g.bench_function("one_loop", |b| {
            b.iter(|| knn.compute_distances_one_loop(black_box(x.view())))
        });
        g.bench_function("no_loops", |b| {
            b.iter(|| knn.compute_distances_no_loops(black_box(x.view())))
        });
        g.finish();
    }
}

/// The course's CIFAR-10 sizes, f32; the project's target is ≤ 110 ms (numpy + OpenBLAS).
fn no_loops_full(c: &mut Criterion) {
    let x = data(500, 3072, 2);
    let mut g = c.benchmark_group("no_loops_500x5000x3072");
    g.sample_size(10);
    // GEMM flops 2·M·N·K: the figure to compare with the machine's peak.
    g.throughput(Throughput::Elements(2 * 500 * 5000 * 3072));
    // The bare GEMM of the same shape: the floor no_loops L2 is measured against.
    let x_train = data(5000, 3072, 1);
    let mut c = Array2::<f32>::zeros((500, 5000));
    g.bench_function("gemm_only", |b| {
        b.iter(|| numeric::gemm(-2.0, &x.view(), &x_train.t(), 0.0, &mut c.view_mut()))
    });
    for metric in [Metric::L2, Metric::L1] {
        let knn = trained(5000, 3072, metric);
        g.bench_function(metric.to_string(), |b| {
            b.iter(|| knn.compute_distances_no_loops(black_box(x.view())))
        });
    }
    g.finish();
}

/// `predict` in bounded memory: 2 000 test × 20 000 train × 784 (a third of
/// Fashion-MNIST's work per test row), k = 5.
fn predict(c: &mut Criterion) {
    let x = data(2000, 784, 2);
    let mut g = c.benchmark_group("predict_2000x20000x784_k5");
    g.sample_size(10);
    g.throughput(Throughput::Elements(2 * 2000 * 20000 * 784));
    for metric in [Metric::L2, Metric::L1] {
        let knn = trained(20000, 784, metric);
        g.bench_function(metric.to_string(), |b| {
            b.iter(|| knn.predict(black_box(x.view()), 5))
        });
    }
    g.finish();
}

criterion_group!(benches, three_paths, no_loops_full, predict);
criterion_main!(benches);
