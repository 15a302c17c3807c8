//! What the tape costs over calling the same computations directly.
//!
//! `cargo bench -p benches --bench tape` (the workloads are in `benches/backprop/common/`;
//! `cargo run --release -p backprop --example tape_ab` measures the same ratios
//! interleaved, which is steadier on a shared machine).
//!
//! - `two_layer/*`: forward + backward of affine – relu – affine – softmax loss on a
//!   200 × 3072 batch (hidden 100, 10 classes, f32): `direct` calls the kernels by
//!   hand, `tape_fused` runs the same kernels as fused gates through the graph
//!   (how nn uses it), `tape_elementary` builds the net from the elementary gates
//!   (matmul, broadcast add, relu, exp, sum_axis, log, gather, mean).
//! - `chain/*`: a deep chain of cheap gates (300 × relu, scale, add_scalar) on
//!   arrays of 16 and 4096 elements, where any per-node or per-element overhead of
//!   the engine (allocation, copies) would show.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::Array1;

mod common;
use common::*;

fn two_layer(c: &mut Criterion) {
    let d = data();
    // The three give the same loss and gradients (so the comparison is fair).
    let (loss, dw1, ..) = direct(&d);
    for (mut g, out, p) in [tape_fused(&d), tape_elementary(&d)] {
        g.forward().unwrap();
        g.backward(out).unwrap();
        assert!((g.scalar_value(out).unwrap() - loss).abs() < 1e-4);
        let err = (g.grad(p[0]).unwrap() - &dw1.view().into_dyn())
            .iter()
            .fold(0.0_f32, |m, v| m.max(v.abs()));
        assert!(err < 1e-5, "dW1 differs by {err}");
    }

    let mut group = c.benchmark_group("two_layer");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("direct", |b| b.iter(|| black_box(direct(&d))));
    let (mut fused, loss_fused, _) = tape_fused(&d);
    group.bench_function("tape_fused", |b| {
        b.iter(|| {
            fused.forward().unwrap();
            fused.backward(loss_fused).unwrap();
            black_box(fused.scalar_value(loss_fused).unwrap())
        })
    });
    let (mut elem, loss_elem, _) = tape_elementary(&d);
    group.bench_function("tape_elementary", |b| {
        b.iter(|| {
            elem.forward().unwrap();
            elem.backward(loss_elem).unwrap();
            black_box(elem.scalar_value(loss_elem).unwrap())
        })
    });
    group.finish();
}

fn chain(c: &mut Criterion) {
    let mut group = c.benchmark_group("chain");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for len in [16usize, 4096] {
        let x: Array1<f32> = numeric::randn(len, &mut numeric::rng(1));
        let (f, dx) = chain_direct(&x);
        let (mut g, xn, out) = chain_tape(&x);
        g.backward(out).unwrap();
        assert!((g.scalar_value(out).unwrap() - f).abs() <= 1e-3 * f.abs().max(1.0));
        let err = (g.grad(xn).unwrap() - &dx.view().into_dyn())
            .iter()
            .fold(0.0_f32, |m, v| m.max(v.abs()));
        assert!(err < 1e-5, "dx differs by {err}");
        group.bench_function(format!("direct/{len}"), |b| {
            b.iter(|| black_box(chain_direct(&x)))
        });
        group.bench_function(format!("tape/{len}"), |b| {
            b.iter(|| {
                g.forward().unwrap();
                g.backward(out).unwrap();
                black_box(g.grad(xn).unwrap()[[0]])
            })
        });
    }
    group.finish();
}

criterion_group!(benches, two_layer, chain);
criterion_main!(benches);
