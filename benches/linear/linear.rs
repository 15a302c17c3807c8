//! Speed of the linear-classifier losses and of SGD training at the course's sizes.
//!
//! `cargo bench -p benches --bench linear` (all), or a filter such as
//! `cargo bench -p benches --bench linear -- full_batch`. Random data: speed does not
//! depend on the values. The project's targets: one vectorised softmax loss + gradient on
//! 49 000 × 3 073 f32 ≤ 96 ms; 1 500 SVM iterations with batch 200 ≤ 1.0 s.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use linear::{LinearClassifier, Loss, TrainOptions};
use ndarray::{Array1, Array2};

const N: usize = 49_000;
const D: usize = 3_073;
const C: usize = 10;

fn data(n: usize, seed: u64) -> (Array2<f32>, Array1<usize>) {
    let x = numeric::randn::<f32, _, _>((n, D), &mut numeric::rng(seed)) * 60.0;
    let y = Array1::from_shape_fn(n, |i| (i * 7) % C);
    (x, y)
}

fn small_w() -> Array2<f32> {
    numeric::randn::<f32, _, _>((D, C), &mut numeric::rng(1)) * 1e-4
}

/// The course's timing cell: naive vs vectorised on the 500-example dev set.
fn dev_set(c: &mut Criterion) {
    let (x, y) = data(500, 2);
    let w = small_w();
    let mut g = c.benchmark_group("dev_500x3073");
    g.sample_size(10);
    g.bench_function("svm_naive", |b| {
        b.iter(|| linear::svm_loss_naive(&w.view(), black_box(&x.view()), &y.view(), 5e-6))
    });
    g.bench_function("svm_vectorized", |b| {
        b.iter(|| linear::svm_loss_vectorized(&w.view(), black_box(&x.view()), &y.view(), 5e-6))
    });
    g.bench_function("softmax_naive", |b| {
        b.iter(|| linear::softmax_loss_naive(&w.view(), black_box(&x.view()), &y.view(), 5e-6))
    });
    g.bench_function("softmax_vectorized", |b| {
        b.iter(|| linear::softmax_loss_vectorized(&w.view(), black_box(&x.view()), &y.view(), 5e-6))
    });
    g.finish();
}

/// One full-batch loss + gradient on the whole training split (target ≤ 96 ms).
fn full_batch(c: &mut Criterion) {
    let (x, y) = data(N, 3);
    let w = small_w();
    let mut g = c.benchmark_group("full_batch_49000x3073_f32");
    g.sample_size(10);
    // Two GEMMs of 2·N·D·C flops each.
    g.throughput(Throughput::Elements((4 * N * D * C) as u64));
    g.bench_function("softmax_vectorized", |b| {
        b.iter(|| {
            linear::softmax_loss_vectorized(&w.view(), black_box(&x.view()), &y.view(), 2.5e4)
        })
    });
    g.bench_function("svm_vectorized", |b| {
        b.iter(|| linear::svm_loss_vectorized(&w.view(), black_box(&x.view()), &y.view(), 2.5e4))
    });
    g.finish();
}

/// The course's training run: 1 500 iterations, batch 200 (target ≤ 1.0 s for SVM).
fn train(c: &mut Criterion) {
    let (x, y) = data(N, 3);
    let mut g = c.benchmark_group("train_1500x200_49000x3073_f32");
    g.sample_size(10);
    for loss in [Loss::Svm, Loss::Softmax] {
        g.bench_function(loss.name(), |b| {
            b.iter(|| {
                let mut clf = LinearClassifier::<f32>::new(loss, D, C, &mut numeric::rng(0));
                clf.train(
                    black_box(&x.view()),
                    &y.view(),
                    1e-7,
                    2.5e4,
                    1500,
                    200,
                    &TrainOptions::default(),
                )
                .expect("valid data")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, dev_set, full_batch, train);
criterion_main!(benches);
