//! One training epoch of the issue's two fully connected workloads, through the
//! `Solver` exactly as `cs231n nn` runs them (minibatch gathering, forward, backward,
//! update, the end-of-epoch accuracy checks):
//!
//! - `two_layer_cifar_epoch`: TwoLayerNet 3072-100-10 on 49 000 rows (CIFAR-10's
//!   training split), batch 200, SGD, f32. Target ≤ 0.75 s.
//! - `fashion_mlp_epoch`: MLP 784-256-128-10 on 60 000 rows, batch 128, Adam, f32.
//!   Target ≤ 0.8 s.
//! - `two_layer_iteration`: one forward+backward of the first workload's minibatch,
//!   to split the epoch's time into model time and the rest.
//!
//! Random data of the real shapes: the work per epoch does not depend on the values.
//!
//! ```text
//! cargo bench -p nn --bench fc
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array1, ArrayD};
use nn::Model;
use nn::fc::{FcConfig, FullyConnectedNet, TwoLayerConfig, TwoLayerNet};
use nn::optim::UpdateRule;
use nn::solver::{Solver, SolverConfig, TrainData};

fn data(n: usize, d: usize, seed: u64) -> (ArrayD<f32>, Array1<usize>) {
    let x = numeric::randn::<f32, _, _>((n, d), &mut numeric::rng(seed)).into_dyn();
    let y = (0..n).map(|i| (i * 7) % 10).collect();
    (x, y)
}

fn epochs(c: &mut Criterion) {
    let mut group = c.benchmark_group("fc");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(12))
        .warm_up_time(Duration::from_secs(2));

    let (x, y) = data(49_000, 3072, 1);
    let (xv, yv) = data(1000, 3072, 2);
    group.throughput(Throughput::Elements(49_000));
    group.bench_function("two_layer_cifar_epoch", |b| {
        b.iter(|| {
            let model = TwoLayerNet::<f32>::new(TwoLayerConfig {
                hidden_dim: 100,
                ..Default::default()
            });
            let train = TrainData {
                x_train: x.view(),
                y_train: y.view(),
                x_val: xv.view(),
                y_val: yv.view(),
            };
            let config = SolverConfig {
                num_epochs: 1,
                batch_size: 200,
                ..SolverConfig::with_rule(UpdateRule::Sgd, 1e-4)
            };
            let mut solver = Solver::new(model, train, config).unwrap();
            black_box(solver.train().unwrap().loss.len())
        })
    });

    let mut model = TwoLayerNet::<f32>::new(TwoLayerConfig {
        hidden_dim: 100,
        ..Default::default()
    });
    let xb = x.slice_axis(ndarray::Axis(0), (0..200).into()).to_owned();
    let yb = y.slice_axis(ndarray::Axis(0), (0..200).into()).to_owned();
    group.throughput(Throughput::Elements(200));
    group.bench_function("two_layer_iteration", |b| {
        b.iter(|| black_box(model.loss(&xb.view(), &yb.view()).0))
    });
    drop((x, y, xv, yv));

    let (x, y) = data(60_000, 784, 3);
    let (xv, yv) = data(1000, 784, 4);
    group.throughput(Throughput::Elements(60_000));
    group.bench_function("fashion_mlp_epoch", |b| {
        b.iter(|| {
            let model = FullyConnectedNet::<f32>::new(FcConfig {
                input_dim: 784,
                hidden_dims: vec![256, 128],
                weight_scale: None,
                ..Default::default()
            });
            let train = TrainData {
                x_train: x.view(),
                y_train: y.view(),
                x_val: xv.view(),
                y_val: yv.view(),
            };
            let config = SolverConfig {
                num_epochs: 1,
                batch_size: 128,
                ..SolverConfig::with_rule(UpdateRule::Adam, 1e-3)
            };
            let mut solver = Solver::new(model, train, config).unwrap();
            black_box(solver.train().unwrap().loss.len())
        })
    });
    group.finish();
}

criterion_group!(benches, epochs);
criterion_main!(benches);
