//! One training epoch of the two fully connected workloads of docs/benchmarks.md, through the
//! `Solver` exactly as `cs231n nn` runs them (minibatch gathering, forward, backward,
//! update, the end-of-epoch accuracy checks):
//!
//! - `two_layer_cifar_epoch`: TwoLayerNet 3072-100-10 on 49 000 rows (CIFAR-10's
//!   training split), batch 200, SGD, f32. Target ≤ 0.75 s.
//! - `fashion_mlp_epoch`: MLP 784-256-128-10 on 60 000 rows, batch 128, Adam, f32.
//!   Target ≤ 0.8 s.
//! - `two_layer_iteration`: one forward+backward of the first workload's minibatch,
//!   to split the epoch's time into model time and the rest.
//! - `two_layer_gemm_floor` / `fashion_gemm_floor`: only the matrix products of one
//!   iteration (same shapes and layouts, through `numeric::gemm`). An epoch cannot
//!   beat iterations × floor; on this shared machine the absolute times swing with
//!   the load, so compare `epoch / (iterations × floor)` (245 and 468 iterations).
//!
//! Random data of the real shapes: the work per epoch does not depend on the values.
//!
//! ```text
//! cargo bench -p benches --bench fc
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{Array1, ArrayD};
use nn::Model;
use nn::UpdateRule;
use nn::{FcConfig, FullyConnectedNet, TwoLayerConfig, TwoLayerNet};
use nn::{Solver, SolverConfig, TrainData};

fn data(n: usize, d: usize, seed: u64) -> (ArrayD<f32>, Array1<usize>) {
    let x = numeric::randn::<f32, _, _>((n, d), &mut numeric::rng(seed)).into_dyn();
    let y = (0..n).map(|i| (i * 7) % 10).collect();
    (x, y)
}

type Split<'a> = (&'a ArrayD<f32>, &'a Array1<usize>);

/// One epoch of `model` through the `Solver` on `train`, validated on `val`;
/// returns the number of iterations (the loss history's length).
fn one_epoch<M: Model<f32>>(
    model: M,
    train: Split<'_>,
    val: Split<'_>,
    batch_size: usize,
    rule: UpdateRule,
    learning_rate: f64,
) -> usize {
    let data = TrainData {
        x_train: train.0.view(),
        y_train: train.1.view(),
        x_val: val.0.view(),
        y_val: val.1.view(),
    };
    let config = SolverConfig {
        num_epochs: 1,
        batch_size,
        ..SolverConfig::with_rule(rule, learning_rate)
    };
    let mut solver = Solver::new(model, data, config).unwrap();
    solver.train().unwrap().loss.len()
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
            black_box(one_epoch(
                model,
                (&x, &y),
                (&xv, &yv),
                200,
                UpdateRule::Sgd,
                1e-4,
            ))
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
    // The two products of a two-layer iteration that matter: X·W1 forward and
    // Xᵀ·dH backward (the first layer's dX is never computed).
    let w1 = numeric::randn::<f32, _, _>((3072, 100), &mut numeric::rng(5));
    let xb2 = xb
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .to_owned();
    let mut h = ndarray::Array2::<f32>::zeros((200, 100));
    let mut dw = ndarray::Array2::<f32>::zeros((3072, 100));
    group.bench_function("two_layer_gemm_floor", |b| {
        b.iter(|| {
            numeric::gemm(1.0, &xb2.view(), &w1.view(), 0.0, &mut h.view_mut());
            numeric::gemm(1.0, &xb2.t(), &h.view(), 0.0, &mut dw.view_mut());
            black_box(dw[[0, 0]])
        })
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
            black_box(one_epoch(
                model,
                (&x, &y),
                (&xv, &yv),
                128,
                UpdateRule::Adam,
                1e-3,
            ))
        })
    });

    // Every product of one MLP iteration: three forward, three dW, two dX.
    let dims = [784usize, 256, 128, 10];
    let ws: Vec<ndarray::Array2<f32>> = dims
        .windows(2)
        .map(|p| numeric::randn((p[0], p[1]), &mut numeric::rng(6)))
        .collect();
    let acts: Vec<ndarray::Array2<f32>> = dims
        .iter()
        .map(|&d| numeric::randn((128, d), &mut numeric::rng(7)))
        .collect();
    let mut outs: Vec<ndarray::Array2<f32>> = dims
        .iter()
        .map(|&d| ndarray::Array2::zeros((128, d)))
        .collect();
    let mut dws: Vec<ndarray::Array2<f32>> = ws
        .iter()
        .map(|w| ndarray::Array2::zeros(w.raw_dim()))
        .collect();
    group.throughput(Throughput::Elements(128));
    group.bench_function("fashion_gemm_floor", |b| {
        b.iter(|| {
            for l in 0..3 {
                numeric::gemm(
                    1.0,
                    &acts[l].view(),
                    &ws[l].view(),
                    0.0,
                    &mut outs[l + 1].view_mut(),
                );
            }
            for l in (0..3).rev() {
                numeric::gemm(
                    1.0,
                    &acts[l].t(),
                    &acts[l + 1].view(),
                    0.0,
                    &mut dws[l].view_mut(),
                );
                if l > 0 {
                    numeric::gemm(
                        1.0,
                        &acts[l + 1].view(),
                        &ws[l].t(),
                        0.0,
                        &mut outs[l].view_mut(),
                    );
                }
            }
            black_box(dws[0][[0, 0]])
        })
    });
    group.finish();
}

criterion_group!(benches, epochs);
criterion_main!(benches);
