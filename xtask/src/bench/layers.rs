//! The memory-bound layers' report (`cargo xtask bench --layers`): batchnorm, GELU
//! and max-pooling at the shapes of airbench94's network, timed in this process and read
//! as GB/s against the machine's streaming bandwidth ([`super::bandwidth`]), the roof
//! of a layer that does a few operations per element, as the square GEMM is the roof
//! of the products.
//!
//! The report is a table of [`Case`]s: a layer's pass, its input shape, the bytes it
//! must move and the call. Another layer is one more line in [`cases`].

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use ndarray::{Array1, Array4, ArrayD};
use nn::{
    BatchNormGelu, BatchNormParam, GeluApprox, Layer, Mode, NormNames, Params, PoolParam,
    SpatialBatchNorm,
};

use super::bandwidth::{self, Bandwidth};

/// An input shape (N, C, H, W).
type Shape = (usize, usize, usize, usize);

/// The timed call, with its inputs prepared and owned.
type Call = Box<dyn FnMut()>;

/// One pass of one layer at one shape.
pub struct Case {
    /// Layer and pass, e.g. "batchnorm backward".
    pub name: &'static str,
    /// Input (N, C, H, W) of the layer.
    pub shape: Shape,
    /// What the shape stands for in the network, when it differs (a cropped input).
    pub note: &'static str,
    /// Bytes the pass must move at least: every tensor it reads or writes, once.
    pub bytes: f64,
    /// Prepares the inputs (untimed) and returns the timed call.
    setup: fn(Shape) -> Result<Call, nn::Error>,
}

/// Bytes of `count` f32 tensors of `shape`.
fn tensors(shape: Shape, count: f64) -> f64 {
    let (n, c, h, w) = shape;
    count * (n * c * h * w * size_of::<f32>()) as f64
}

/// The network's memory-bound layers at batch `n` (airbench94: whitening conv to
/// 24×31×31, then blocks 24→64 at 31×31, 64→256 at 15×15, 256→256 at 7×7, each
/// conv → pool 2 → batchnorm → GELU → conv → batchnorm → GELU, then max-pool 3).
pub fn cases(n: usize) -> Vec<Case> {
    let mut v = Vec::new();
    // Batchnorm follows each block's pool and its second conv: at the pooled size.
    for (c, hw) in [(64, 15), (256, 7), (256, 3)] {
        let shape = (n, c, hw, hw);
        v.push(Case {
            name: "batchnorm forward",
            shape,
            note: "",
            // Reads x, writes out.
            bytes: tensors(shape, 2.0),
            setup: batchnorm_forward,
        });
        v.push(Case {
            name: "batchnorm backward",
            shape,
            note: "",
            // Reads dout and x (or its normalised copy), writes dx.
            bytes: tensors(shape, 3.0),
            setup: batchnorm_backward,
        });
    }
    // The network runs each batchnorm and its GELU as one fused layer.
    for (c, hw) in [(64, 15), (256, 7), (256, 3)] {
        let shape = (n, c, hw, hw);
        v.push(Case {
            name: "batchnorm+GELU forward",
            shape,
            note: "fused",
            // Reads x, writes out.
            bytes: tensors(shape, 2.0),
            setup: bn_gelu_forward,
        });
        v.push(Case {
            name: "batchnorm+GELU backward",
            shape,
            note: "fused",
            // Reads dout and x, writes dx.
            bytes: tensors(shape, 3.0),
            setup: bn_gelu_backward,
        });
    }
    // GELU follows the whitening conv (24×31×31) and each batchnorm.
    for (c, hw) in [(24, 31), (64, 15), (256, 7), (256, 3)] {
        let shape = (n, c, hw, hw);
        v.push(Case {
            name: "GELU forward",
            shape,
            note: "",
            // Reads x, writes out.
            bytes: tensors(shape, 2.0),
            setup: gelu_forward,
        });
        v.push(Case {
            name: "GELU backward",
            shape,
            note: "",
            // Reads dout and x, writes dx.
            bytes: tensors(shape, 3.0),
            setup: gelu_backward,
        });
    }
    // Each block's pool: 2×2 windows on odd sizes, whose last row and column PyTorch's
    // floor mode drops; nn's pool wants windows that tile the input, so it is given the
    // part the windows cover (31×31 → 30×30), which is all a floor-mode pool reads.
    for (c, hw, note) in [
        (64, 31, "31×31, floor mode"),
        (256, 15, "15×15, floor mode"),
        (256, 7, "7×7, floor mode"),
    ] {
        let shape = (n, c, hw - 1, hw - 1);
        v.push(Case {
            name: "max-pool 2×2 forward",
            shape,
            note,
            // Reads x, writes out and the u32 index of each maximum (¼ of x each).
            bytes: tensors(shape, 1.5),
            setup: pool2_forward,
        });
        v.push(Case {
            name: "max-pool 2×2 backward",
            shape,
            note,
            // Reads dout and the indices (¼ of x each), writes dx.
            bytes: tensors(shape, 1.5),
            setup: pool2_backward,
        });
    }
    let shape = (n, 256, 3, 3);
    v.push(Case {
        name: "max-pool 3×3 forward",
        shape,
        note: "",
        bytes: tensors(shape, 1.0 + 2.0 / 9.0),
        setup: pool3_forward,
    });
    v.push(Case {
        name: "max-pool 3×3 backward",
        shape,
        note: "",
        bytes: tensors(shape, 1.0 + 2.0 / 9.0),
        setup: pool3_backward,
    });
    v
}

fn random(shape: Shape, seed: u64) -> Array4<f32> {
    numeric::randn(shape, &mut numeric::rng(seed))
}

fn batchnorm_forward(shape: Shape) -> Result<Call, nn::Error> {
    let x = random(shape, 1);
    let (gamma, beta) = (Array1::ones(shape.1), Array1::zeros(shape.1));
    let mut bn = BatchNormParam::new(shape.1);
    Ok(Box::new(move || {
        black_box(nn::spatial_batchnorm_forward(
            &x.view(),
            &gamma.view(),
            &beta.view(),
            &mut bn,
            Mode::Train,
        ));
    }))
}

fn batchnorm_backward(shape: Shape) -> Result<Call, nn::Error> {
    let (x, dout) = (random(shape, 1), random(shape, 2));
    let (gamma, beta) = (Array1::ones(shape.1), Array1::zeros(shape.1));
    let mut bn = BatchNormParam::new(shape.1);
    let (_, cache) =
        nn::spatial_batchnorm_forward(&x.view(), &gamma.view(), &beta.view(), &mut bn, Mode::Train);
    Ok(Box::new(move || {
        black_box(nn::spatial_batchnorm_backward(&dout.view(), &cache));
    }))
}

/// The fused layer with airbench94's settings, its tensors, and an input.
fn bn_gelu(shape: Shape) -> (BatchNormGelu, Params<f32>, Params<f32>, ArrayD<f32>) {
    let c = shape.1;
    let bn = SpatialBatchNorm::new(NormNames::numbered("1"), c).with_stats(0.4, 1e-12);
    let params = Params::from([
        ("gamma1".into(), Array1::<f32>::ones(c).into_dyn()),
        ("beta1".into(), Array1::<f32>::zeros(c).into_dyn()),
    ]);
    let buffers = Params::from([
        ("running_mean1".into(), Array1::<f32>::zeros(c).into_dyn()),
        ("running_var1".into(), Array1::<f32>::ones(c).into_dyn()),
    ]);
    (
        BatchNormGelu::new(bn),
        params,
        buffers,
        random(shape, 1).into_dyn(),
    )
}

fn bn_gelu_forward(shape: Shape) -> Result<Call, nn::Error> {
    let (mut layer, params, mut buffers, x) = bn_gelu(shape);
    Ok(Box::new(move || {
        black_box(layer.forward(x.clone(), &params, &mut buffers, Mode::Train));
    }))
}

fn bn_gelu_backward(shape: Shape) -> Result<Call, nn::Error> {
    let (mut layer, params, mut buffers, x) = bn_gelu(shape);
    let (_, cache) = layer.forward(x, &params, &mut buffers, Mode::Train);
    let dout = random(shape, 2).into_dyn();
    Ok(Box::new(move || {
        black_box(layer.backward(dout.clone(), &cache, &params, true));
    }))
}

fn gelu_forward(shape: Shape) -> Result<Call, nn::Error> {
    let x = random(shape, 1);
    Ok(Box::new(move || {
        black_box(nn::gelu_forward(&x.view(), GeluApprox::Exact));
    }))
}

fn gelu_backward(shape: Shape) -> Result<Call, nn::Error> {
    let (x, dout) = (random(shape, 1), random(shape, 2));
    let (_, cache) = nn::gelu_forward(&x.view(), GeluApprox::Exact);
    Ok(Box::new(move || {
        black_box(nn::gelu_backward(&dout.view(), &cache));
    }))
}

fn pool_forward(shape: Shape, size: usize) -> Result<Call, nn::Error> {
    let x = random(shape, 1);
    let param = PoolParam::square(size, size);
    param.output_size(shape.2, shape.3)?;
    Ok(Box::new(move || {
        let _ = black_box(nn::max_pool_forward_fast(&x.view(), param));
    }))
}

fn pool_backward(shape: Shape, size: usize) -> Result<Call, nn::Error> {
    let x = random(shape, 1);
    let (out, cache) = nn::max_pool_forward_fast(&x.view(), PoolParam::square(size, size))?;
    let dout = random(out.dim(), 2);
    drop(x);
    Ok(Box::new(move || {
        black_box(nn::max_pool_backward_fast(&dout.view(), &cache));
    }))
}

fn pool2_forward(shape: Shape) -> Result<Call, nn::Error> {
    pool_forward(shape, 2)
}

fn pool2_backward(shape: Shape) -> Result<Call, nn::Error> {
    pool_backward(shape, 2)
}

fn pool3_forward(shape: Shape) -> Result<Call, nn::Error> {
    pool_forward(shape, 3)
}

fn pool3_backward(shape: Shape) -> Result<Call, nn::Error> {
    pool_backward(shape, 3)
}

/// Timed calls per case: at least [`MIN_REPS`], and more until [`MIN_SECONDS`] passed
/// (50 ticks of the CPU clock, which counts in hundredths of a second).
const MIN_REPS: usize = 5;
const MIN_SECONDS: f64 = 0.5;
/// At most this many calls, for the smallest cases.
const MAX_REPS: usize = 1000;

/// A case's measured times.
pub struct Measured {
    /// Median seconds per call.
    pub median: f64,
    /// Fastest call.
    pub best: f64,
    /// CPU seconds per call (all threads) ÷ threads: what the wall time would be on
    /// a quiet machine, the fair figure when others share the cores.
    pub cpu: f64,
}

impl Measured {
    /// GB/s (10⁹ bytes) at the median.
    fn gbs(&self, bytes: f64) -> f64 {
        bytes / self.median / 1e9
    }
}

/// Times `call`: one untimed call first (pages in its outputs), then the calls.
fn measure(call: &mut Call, threads: usize) -> Measured {
    call();
    let cpu_started = numeric::cpu_seconds();
    let started = Instant::now();
    let mut times = Vec::new();
    while times.len() < MIN_REPS
        || (started.elapsed().as_secs_f64() < MIN_SECONDS && times.len() < MAX_REPS)
    {
        let t = Instant::now();
        call();
        times.push(t.elapsed().as_secs_f64());
    }
    let cpu = (numeric::cpu_seconds() - cpu_started) / (times.len() * threads.max(1)) as f64;
    times.sort_by(f64::total_cmp);
    Measured {
        median: times[times.len() / 2],
        best: times[0],
        cpu,
    }
}

/// Runs every case at batch `n` on `threads` threads and returns the report (Markdown).
pub fn report(n: usize, threads: usize) -> Result<String, Box<dyn Error>> {
    numeric::tune_allocator();
    numeric::set_threads(threads);
    let bw = bandwidth::measure(threads);
    eprintln!(
        "memory bandwidth: copy {:.1} GB/s, triad {:.1} GB/s",
        bw.copy_gbs, bw.triad_gbs
    );
    let mut rows = Vec::new();
    for case in cases(n) {
        let mut call = (case.setup)(case.shape)?;
        let m = measure(&mut call, threads);
        drop(call);
        let row = render_row(&case, &m, bw);
        eprintln!("{row}");
        rows.push(row);
    }
    Ok(render(n, threads, bw, &rows))
}

fn render_row(case: &Case, m: &Measured, bw: Bandwidth) -> String {
    let (_, c, h, w) = case.shape;
    let shape = if case.note.is_empty() {
        format!("{c}×{h}×{w}")
    } else {
        format!("{c}×{h}×{w} ({})", case.note)
    };
    let gbs = m.gbs(case.bytes);
    format!(
        "| {} | {shape} | {:.1} MB | {} ({}) | {} | {gbs:.1} | {:.0}% |",
        case.name,
        case.bytes / 1e6,
        time(m.median),
        time(m.best),
        time(m.cpu),
        100.0 * gbs / bw.copy_gbs,
    )
}

fn time(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn render(n: usize, threads: usize, bw: Bandwidth, rows: &[String]) -> String {
    let mut out = format!(
        "# Memory-bound layers\n\n\
         Batch {n}, f32, {threads} thread(s); memory bandwidth (STREAM-style, best of 5): \
         copy {:.1} GB/s, triad {:.1} GB/s. Bytes: every tensor the pass must read or \
         write, once; GB/s at the median time; the last column is that rate against the \
         copy bandwidth. CPU: the process's CPU time per call ÷ threads, the figure to \
         compare on a shared machine.\n\n\
         | layer | input C×H×W | bytes | median (best) | CPU | GB/s | of copy |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
        bw.copy_gbs, bw.triad_gbs
    );
    for r in rows {
        out.push_str(r);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case sets up and runs at a tiny batch, and counts its bytes from its shape.
    #[test]
    fn every_case_runs_at_batch_two() {
        let cases = cases(2);
        assert_eq!(cases.len(), 28);
        for case in cases {
            let mut call =
                (case.setup)(case.shape).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            call();
            let (n, c, h, w) = case.shape;
            let input = (n * c * h * w * 4) as f64;
            assert!(
                case.bytes > input && case.bytes <= 3.0 * input,
                "{}: {} bytes for a {input}-byte input",
                case.name,
                case.bytes
            );
        }
    }

    #[test]
    fn a_row_reads_its_rate_against_the_copy_bandwidth() {
        let case = &cases(2)[0];
        let m = Measured {
            median: case.bytes / 10e9,
            best: case.bytes / 20e9,
            cpu: 0.002,
        };
        let bw = Bandwidth {
            copy_gbs: 20.0,
            triad_gbs: 25.0,
        };
        let row = render_row(case, &m, bw);
        assert!(row.contains("| 2.00 ms | 10.0 | 50% |"), "{row}");
        assert!(row.starts_with("| batchnorm forward | 64×15×15 |"), "{row}");
    }
}
