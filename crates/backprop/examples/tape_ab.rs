//! What the tape costs, measured interleaved: each round runs the direct version
//! and the tape versions back to back, and the ratio of the round's times is kept;
//! the median over rounds is printed. Interleaving makes the ratio steady even
//! when other processes load the machine (a lone criterion run drifts with them).
//!
//! `cargo run --release -p backprop --example tape_ab [ROUNDS]`
//!
//! The workloads are those of `benches/backprop/tape.rs` (shared in `benches/backprop/common/`).

use std::hint::black_box;
use std::time::Instant;

use ndarray::Array1;

#[path = "../../../benches/backprop/common/mod.rs"]
mod common;
use common::*;

fn time(mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let d = data();
    let (mut fused, loss_f, _) = tape_fused(&d);
    let (mut elem, loss_e, _) = tape_elementary(&d);
    let (mut fused_ratio, mut elem_ratio, mut direct_ms) = (vec![], vec![], vec![]);
    for _ in 0..rounds {
        let td = time(|| {
            black_box(direct(&d));
        });
        let tf = time(|| {
            fused.forward().unwrap();
            fused.backward(loss_f).unwrap();
        });
        let te = time(|| {
            elem.forward().unwrap();
            elem.backward(loss_e).unwrap();
        });
        direct_ms.push(td * 1e3);
        fused_ratio.push(tf / td);
        elem_ratio.push(te / td);
    }
    println!(
        "two_layer (200x3072 -> 100 -> 10, f32, {rounds} rounds): direct median {:.3} ms; \
         tape/direct median: fused gates {:.3}, elementary gates {:.3}",
        median(direct_ms),
        median(fused_ratio),
        median(elem_ratio)
    );
    for len in [16usize, 4096] {
        let x: Array1<f32> = numeric::randn(len, &mut numeric::rng(1));
        let (mut g, _, out) = chain_tape(&x);
        let (mut ratio, mut direct_us) = (vec![], vec![]);
        for _ in 0..rounds {
            let td = time(|| {
                black_box(chain_direct(&x));
            });
            let tt = time(|| {
                g.forward().unwrap();
                g.backward(out).unwrap();
            });
            direct_us.push(td * 1e6);
            ratio.push(tt / td);
        }
        println!(
            "chain of {} cheap gates on {len} elements: direct median {:.1} us; tape/direct median {:.3}",
            3 * DEPTH,
            median(direct_us),
            median(ratio)
        );
    }
}
