//! Per-layer speed of the fast convolution against the machine's GEMM peak (f32).
//!
//! ```text
//! cargo bench -p benches --bench conv_layers              # the per-layer table
//! cargo bench -p benches --bench conv_layers -- 7x7       # only layers whose name contains "7x7"
//! cargo bench -p benches --bench conv_layers -- ab        # wide columns, chunks, Winograd, interleaved
//! CONV_TIME=cpu cargo bench -p benches --bench conv_layers # CPU time: the cost on idle cores
//! CONV_ROUNDS=11 cargo bench -p benches --bench conv_layers  # more rounds (default 7)
//! CONV_JSON=t.json cargo bench -p benches --bench conv_layers # the table also as JSON
//! CONV_PRECISION=bf16 cargo bench -p benches --bench conv_layers # bf16 products (and peak)
//! ```
//!
//! `cargo xtask bench` runs this table (with `CONV_TIME=cpu` and `CONV_JSON`) and folds
//! it into docs/benchmarks.md; `cargo xtask bench --conv` runs it alone.
//!
//! The layers are the convolutions of airbench94's network at batch 512 (the frozen
//! 2×2 whitening conv, forward only, then the six 3×3 'same' convs of its three
//! blocks; block 2's second conv and block 3's first have the same shape and are
//! measured once) and ThreeLayerConvNet's 7×7 conv at batch 50.
//!
//! Every pass counts `2·N·F·C·HH·WW·H'·W'` floating-point operations; the peak is a
//! 2048³ f32 GEMM on the whole pool, measured in the same run (the best of 5). Times
//! are medians of rounds in which every pass runs once, so a busy neighbour slows all
//! of them alike. Backward-data is the full backward pass less backward-weights, both
//! timed in the same round.
//!
//! On a shared machine, wall time charges the neighbours' time slices to whatever
//! runs; `CONV_TIME=cpu` times the process's CPU time divided by the thread count
//! instead (its own work only, the peak measured the same way).

use std::hint::black_box;
use std::time::Instant;

use ndarray::{Array1, Array2, Array4};
use nn::{ConvParam, conv_backward_fast, conv_backward_fast_no_dx, conv_forward_fast};

use numeric::cpu_seconds;

/// One convolution: name, batch, channels, input side, filters, kernel side, pad, and
/// whether it needs a backward pass.
struct Layer {
    name: &'static str,
    n: usize,
    c: usize,
    h: usize,
    f: usize,
    k: usize,
    pad: usize,
    backward: bool,
}

const LAYERS: [Layer; 7] = [
    Layer {
        name: "airbench whiten 2x2 3->24 32x32",
        n: 512,
        c: 3,
        h: 32,
        f: 24,
        k: 2,
        pad: 0,
        backward: false,
    },
    Layer {
        name: "airbench b1.conv1 3x3 24->64 31x31",
        n: 512,
        c: 24,
        h: 31,
        f: 64,
        k: 3,
        pad: 1,
        backward: true,
    },
    Layer {
        name: "airbench b1.conv2 3x3 64->64 15x15",
        n: 512,
        c: 64,
        h: 15,
        f: 64,
        k: 3,
        pad: 1,
        backward: true,
    },
    Layer {
        name: "airbench b2.conv1 3x3 64->256 15x15",
        n: 512,
        c: 64,
        h: 15,
        f: 256,
        k: 3,
        pad: 1,
        backward: true,
    },
    Layer {
        name: "airbench b2.conv2/b3.conv1 3x3 256->256 7x7",
        n: 512,
        c: 256,
        h: 7,
        f: 256,
        k: 3,
        pad: 1,
        backward: true,
    },
    Layer {
        name: "airbench b3.conv2 3x3 256->256 3x3",
        n: 512,
        c: 256,
        h: 3,
        f: 256,
        k: 3,
        pad: 1,
        backward: true,
    },
    Layer {
        name: "three-layer conv 7x7 3->32 32x32 (batch 50)",
        n: 50,
        c: 3,
        h: 32,
        f: 32,
        k: 7,
        pad: 3,
        backward: true,
    },
];

/// Whether times are CPU time per thread (`CONV_TIME=cpu`) rather than wall time.
fn cpu_mode() -> bool {
    std::env::var("CONV_TIME").is_ok_and(|v| v == "cpu")
}

/// Seconds taken by `f`: wall time, or with `CONV_TIME=cpu` the process's CPU time
/// divided by the thread count — what `f` takes on idle cores when the machine is
/// shared (it charges neither the neighbours' time nor the waits for them).
fn seconds(f: impl FnOnce()) -> f64 {
    let (cpu0, start) = (cpu_seconds(), Instant::now());
    f();
    if cpu_mode() {
        (cpu_seconds() - cpu0) / numeric::threads() as f64
    } else {
        start.elapsed().as_secs_f64()
    }
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// The f32 GEMM peak in GFLOP/s: best of `rounds` 2048³ products on the whole pool.
fn gemm_peak(rounds: usize) -> f64 {
    let n = 2048;
    let a: Array2<f32> = numeric::randn((n, n), &mut numeric::rng(1));
    let mut c = Array2::<f32>::zeros((n, n));
    numeric::gemm(1.0, &a.view(), &a.view(), 0.0, &mut c.view_mut());
    let best = (0..rounds)
        .map(|_| seconds(|| numeric::gemm(1.0, &a.view(), &a.view(), 0.0, &mut c.view_mut())))
        .fold(f64::INFINITY, f64::min);
    2.0 * (n as f64).powi(3) / best / 1e9
}

/// The inputs of a layer: x, w, b and a dout shaped like its output.
fn inputs(
    l: &Layer,
) -> (
    Array4<f32>,
    Array4<f32>,
    Array1<f32>,
    Array4<f32>,
    ConvParam,
) {
    let mut rng = numeric::rng(l.h as u64 * 1000 + l.c as u64);
    let x = numeric::randn((l.n, l.c, l.h, l.h), &mut rng);
    let w = numeric::randn((l.f, l.c, l.k, l.k), &mut rng);
    let b = numeric::randn(l.f, &mut rng);
    let p = ConvParam::new(1, l.pad);
    let side = l.h + 2 * l.pad + 1 - l.k;
    let dout = numeric::randn((l.n, l.f, side, side), &mut rng);
    (x, w, b, dout, p)
}

fn flops(l: &Layer) -> f64 {
    let side = (l.h + 2 * l.pad + 1 - l.k) as f64;
    2.0 * (l.n * l.f * l.c * l.k * l.k) as f64 * side * side
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The per-layer table of the fast path.
fn report(filter: &[String], rounds: usize) {
    let load_before = uptime();
    let peak = gemm_peak(5);
    println!(
        "f32 GEMM peak (2048³, {} threads): {peak:.0} GFLOP/s; {} time; load {}",
        numeric::threads(),
        if cpu_mode() { "CPU" } else { "wall" },
        load_before
    );
    println!(
        "{:<46} {:>8} {:>9} {:>7}   {:>8} {:>9} {:>7}   {:>8} {:>9} {:>7}",
        "layer",
        "fwd ms",
        "GFLOP/s",
        "peak",
        "bwd-d ms",
        "GFLOP/s",
        "peak",
        "bwd-w ms",
        "GFLOP/s",
        "peak"
    );
    let mut rows = Vec::new();
    for l in LAYERS.iter().filter(|l| selected(l, filter)) {
        let (x, w, b, dout, p) = inputs(l);
        let (_, cache) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..rounds {
            times[0].push(seconds(|| {
                black_box(conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap());
            }));
            if l.backward {
                // Backward-data alone is the full backward less backward-weights,
                // taken from the same round.
                let full = seconds(|| {
                    black_box(conv_backward_fast(&dout.view(), &cache));
                });
                let weights = seconds(|| {
                    black_box(conv_backward_fast_no_dx(&dout.view(), &cache));
                });
                times[1].push(full - weights);
                times[2].push(weights);
            }
        }
        let cell = |t: &Vec<f64>| {
            if t.is_empty() {
                return format!("{:>8} {:>9} {:>7}", "-", "-", "-");
            }
            let m = median(t.clone());
            let g = flops(l) / m / 1e9;
            format!("{:>8.2} {:>9.0} {:>6.0}%", m * 1e3, g, 100.0 * g / peak)
        };
        println!(
            "{:<46} {}   {}   {}",
            l.name,
            cell(&times[0]),
            cell(&times[1]),
            cell(&times[2])
        );
        let seconds = |t: &Vec<f64>| (!t.is_empty()).then(|| median(t.clone()));
        rows.push(serde_json::json!({
            "name": l.name,
            "kernel": l.k,
            "flops": flops(l),
            "forward_s": seconds(&times[0]),
            "backward_data_s": seconds(&times[1]),
            "backward_weights_s": seconds(&times[2]),
        }));
    }
    let load_after = uptime();
    println!("load after: {load_after}");
    if let Some(path) = std::env::var_os("CONV_JSON").map(std::path::PathBuf::from) {
        let table = serde_json::json!({
            "time": if cpu_mode() { "cpu" } else { "wall" },
            "threads": numeric::threads(),
            "rounds": rounds,
            "peak_gflops": peak,
            "load_before": load_before,
            "load_after": load_after,
            "layers": rows,
        });
        if let Err(e) = std::fs::write(&path, format!("{table:#}\n")) {
            eprintln!("conv_layers: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}

/// A/B/C: wide columns, chunks of images and Winograd, every pass of every round
/// running all three back to back, in rotating order. Effective GFLOP/s count the
/// direct convolution's FLOPs; "peak" is the GEMM peak measured in the same run.
fn ab(filter: &[String], rounds: usize) {
    use nn::ab::Path;
    let peak = gemm_peak(5);
    println!(
        "A/B/C, {rounds} rounds, {} time, GEMM peak {peak:.0} GFLOP/s, load {}",
        if cpu_mode() { "CPU" } else { "wall" },
        uptime()
    );
    let paths = [Path::Wide, Path::Chunked, Path::Winograd];
    for l in LAYERS.iter().filter(|l| selected(l, filter)) {
        let (x, w, b, dout, p) = inputs(l);
        let (_, cache) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
        // [pass][path]: forward, full backward, backward-weights; on each path.
        let mut t = vec![[Vec::new(), Vec::new(), Vec::new()]; 3];
        for r in 0..rounds {
            for (pass, times) in t.iter_mut().enumerate() {
                if pass > 0 && !l.backward {
                    continue;
                }
                for k in 0..paths.len() {
                    let which = (r + k) % paths.len();
                    let path = paths[which];
                    let s = seconds(|| match pass {
                        0 => {
                            black_box(
                                nn::ab::forward(&x.view(), &w.view(), &b.view(), p, path).unwrap(),
                            );
                        }
                        _ => {
                            black_box(nn::ab::backward(&dout.view(), &cache, pass == 1, path));
                        }
                    });
                    times[which].push(s);
                }
            }
        }
        println!("{}", l.name);
        let m: Vec<Vec<f64>> = t
            .iter()
            .map(|p| {
                p.iter()
                    .filter(|v| !v.is_empty())
                    .map(|v| median(v.clone()))
                    .collect()
            })
            .collect();
        // Backward-data is the full backward less backward-weights (medians).
        let data: Vec<f64> = m[1].iter().zip(&m[2]).map(|(f, w)| f - w).collect();
        for (name, times) in [
            ("forward", &m[0]),
            ("backward-data", &data),
            ("backward-weights", &m[2]),
        ] {
            if times.is_empty() {
                continue;
            }
            let cells: Vec<String> = paths
                .iter()
                .zip(times)
                .map(|(path, &s)| {
                    let g = flops(l) / s / 1e9;
                    format!("{path:?} {:>8.2} ms {:>4.0}%", s * 1e3, 100.0 * g / peak)
                })
                .collect();
            println!("  {name:<17} {}", cells.join("   "));
        }
    }
    println!("load after: {}", uptime());
}

fn selected(l: &Layer, filter: &[String]) -> bool {
    filter.is_empty() || filter.iter().any(|f| l.name.contains(f.as_str()))
}

fn main() {
    numeric::tune_allocator();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds = std::env::var("CONV_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    if let Ok(name) = std::env::var("CONV_PRECISION") {
        match name.parse::<numeric::MatmulPrecision>() {
            // The peak is measured at the same precision as the layers.
            Ok(p) => println!("products: {}", numeric::set_matmul_precision(p).name()),
            Err(e) => {
                eprintln!("CONV_PRECISION: {e}");
                std::process::exit(2);
            }
        }
    }
    if args.first().is_some_and(|a| a == "ab") {
        ab(&args[1..], rounds);
    } else {
        report(&args, rounds);
    }
}
