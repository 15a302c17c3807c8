//! `cargo xtask bench`: criterion micro-benchmarks of every crate that has them, then
//! whole-pipeline scenarios, each run in a child process (so its peak memory is its
//! own), optionally alternated with the numpy / PyTorch peers of `bench/peers/`; the
//! results are printed and written to `docs/benchmarks.md`.
//!
//! The child is this same binary, `cargo xtask bench --scenario NAME`, which runs one
//! scenario once and prints one JSON line (see [`scenarios::Outcome`]); the Python peers
//! print the same line, so every implementation is measured the same way.

mod bandwidth;
mod conv;
mod layers;
mod machine;
mod micro;
mod render;
mod scenarios;
mod stats;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use machine::{Machine, Peers};
use scenarios::Ctx;
use stats::{Impl, Row, Sample};

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Tiny synthetic data and sizes: a sub-minute check that the harness works (CI).
    /// Skips the micro-benchmarks and writes target/xtask-bench/quick.md instead of the docs.
    #[arg(long)]
    quick: bool,
    /// Also run each scenario in numpy and PyTorch (bench/peers/, needs python3 with
    /// numpy and/or torch: `pip install numpy torch threadpoolctl`), alternating runs
    /// with ours. The peers run without `OPENBLAS_CORETYPE` / `OPENBLAS_L2_SIZE`.
    #[arg(long)]
    peers: bool,
    /// With --peers, only these peers (`numpy`, `torch`; repeatable) [default: both].
    #[arg(long, value_name = "PEER")]
    peer: Vec<String>,
    /// Folder holding cifar-10-batches-bin/ and fashion-mnist/ (see `cargo xtask fetch-data`).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Threads for us and the peers alike [default: RAYON_NUM_THREADS, else every core].
    #[arg(long)]
    threads: Option<usize>,
    /// Timed runs per scenario and implementation [default: 3, or 1 with --quick].
    #[arg(long)]
    runs: Option<usize>,
    /// Run only the scenarios whose name contains one of these (repeatable); a
    /// filtered run skips the micro-benchmarks and leaves docs/benchmarks.md alone.
    #[arg(long)]
    only: Vec<String>,
    /// The same filter, positional: `cargo xtask bench knn` runs the kNN scenarios.
    #[arg(value_name = "SCENARIO")]
    names: Vec<String>,
    /// Skip the criterion micro-benchmarks.
    #[arg(long)]
    no_micro: bool,
    /// Instead of the scenarios: the memory-bound layers' report (batchnorm, max-pool at
    /// airbench94's shapes, batch 512; 8 with --quick) in GB/s against the measured
    /// memory bandwidth, printed and written to target/xtask-bench/layers.md.
    #[arg(long)]
    layers: bool,
    /// Instead of the scenarios: the per-layer convolution report (nn's `conv_layers`
    /// bench in CPU time: forward, backward-data and backward-weights of every conv of
    /// airbench94 and ThreeLayerConvNet against the GEMM peak of the same run), printed
    /// and written to target/xtask-bench/conv.md. A full run puts it in its report.
    #[arg(long)]
    conv: bool,
    /// Where the report goes [default: docs/benchmarks.md; target/xtask-bench/quick.md
    /// with --quick, target/xtask-bench/only.md for a filtered run].
    #[arg(long)]
    output: Option<PathBuf>,
    /// Child mode: run this one scenario once and print its JSON outcome.
    #[arg(long, hide = true)]
    scenario: Option<String>,
}

/// The checkout's root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Runs the task.
pub fn run(mut args: Args) -> Result<(), Box<dyn std::error::Error>> {
    args.only.append(&mut args.names);
    let filtered = !args.only.is_empty();
    let threads = args.threads.unwrap_or_else(default_threads).max(1);
    if let Some(name) = &args.scenario {
        let ctx = Ctx {
            quick: args.quick,
            data_dir: args.data_dir.clone(),
            threads,
        };
        return scenarios::child(name, &ctx);
    }
    if args.layers {
        let report = layers::report(if args.quick { 8 } else { 512 }, threads)?;
        return write_side_report(&report, args.output, "layers.md");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    if args.conv {
        let report = conv::run(&root(), &target)?.markdown();
        return write_side_report(&report, args.output, "conv.md");
    }
    let started = Instant::now();
    let started_at = SystemTime::now();
    let load_at_start = machine::load_average();
    let root = root();
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let data_dir = if args.quick {
        let dir = root.join("target/xtask-bench/quick-data");
        scenarios::write_quick_data(&dir)?;
        dir
    } else {
        absolute(&args.data_dir)
    };

    let micro = if args.quick || args.no_micro || filtered {
        eprintln!(
            "micro-benchmarks: skipped ({})",
            if args.quick {
                "--quick"
            } else if filtered {
                "a filtered run"
            } else {
                "--no-micro"
            }
        );
        Vec::new()
    } else {
        micro::run_all(&root)?
    };
    // The micro-benchmarks' run of the conv_layers bench left its table here.
    let conv = conv::read(&conv::json_path(&target), started_at);
    if !micro.is_empty() && conv.is_none() {
        eprintln!("conv layers: no table from the micro-benchmarks' run");
    }

    let mut peers = if args.peers {
        Peers::detect(&root)
    } else {
        Peers::none()
    };
    peers.keep_only(&args.peer);
    if !peers.versions.is_empty() {
        eprintln!("peers: {}", peers.versions);
    }
    for note in &peers.notes {
        eprintln!("peers: {note}");
    }

    let mut rows = Vec::new();
    for sc in scenarios::ALL {
        if !args.only.is_empty() && !args.only.iter().any(|o| sc.name.contains(o.as_str())) {
            continue;
        }
        eprintln!("scenario {} — {}", sc.name, sc.about);
        let mut row = Row::new(sc.name, sc.about);
        // Alternate implementations within each round, rotating who goes first, so slow
        // drift of the shared machine's load hits everybody alike.
        let mut impls: Vec<Impl> = vec![Impl::Ours];
        impls.extend(peers.available.iter().copied());
        for r in 0..runs {
            for i in 0..impls.len() {
                let imp = impls[(i + r) % impls.len()];
                if row.skipped(imp) {
                    continue;
                }
                let out = run_child(imp, sc.name, &data_dir, threads, args.quick, &root);
                match &out {
                    Sample::Ok(o) => {
                        eprintln!("  {:<6} run {}: {:.3} s", imp.name(), r + 1, o.seconds)
                    }
                    Sample::Skip(why) => eprintln!("  {:<6} skipped: {why}", imp.name()),
                    Sample::Failed(why) => eprintln!("  {:<6} FAILED: {why}", imp.name()),
                }
                row.push(imp, out);
            }
        }
        rows.push(row);
    }
    let machine = Machine::detect(threads, &peers, load_at_start);
    eprintln!(
        "memory bandwidth: copy {:.1} GB/s, triad {:.1} GB/s",
        machine.bandwidth.copy_gbs, machine.bandwidth.triad_gbs
    );
    let command = command_line();
    let table = render::render(
        &machine,
        &command,
        &rows,
        &micro,
        conv.as_ref(),
        &peers,
        args.quick,
    );
    println!("{}", render::console_table(&rows, &peers));
    let output = args.output.clone().unwrap_or_else(|| {
        if args.quick {
            root.join("target/xtask-bench/quick.md")
        } else if filtered {
            // A partial table must not replace the full one in the docs.
            root.join("target/xtask-bench/only.md")
        } else {
            root.join("docs/benchmarks.md")
        }
    });
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&output, table)?;
    eprintln!(
        "wrote {} in {:.0} s",
        output.display(),
        started.elapsed().as_secs_f64()
    );
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.any_failed())
        .map(|r| r.name)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("scenarios failed: {}", failed.join(", ")).into())
    }
}

/// Prints a report that stands beside the scenarios (`--layers`, `--conv`) and writes
/// it to `output`, by default `target/xtask-bench/<default_name>`.
fn write_side_report(
    report: &str,
    output: Option<PathBuf>,
    default_name: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    println!("{report}");
    let output = output.unwrap_or_else(|| root().join("target/xtask-bench").join(default_name));
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&output, report)?;
    eprintln!("wrote {}", output.display());
    Ok(())
}

/// `RAYON_NUM_THREADS` when set (the project's convention), else every core.
fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// How the user invoked us, as they would type it again.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

/// Runs one scenario once in a child process and parses its JSON line.
fn run_child(
    imp: Impl,
    name: &str,
    data_dir: &Path,
    threads: usize,
    quick: bool,
    root: &Path,
) -> Sample {
    let mut cmd = match imp {
        Impl::Ours => {
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => return Sample::Failed(format!("cannot find our own executable: {e}")),
            };
            let mut c = Command::new(exe);
            c.arg("bench")
                .arg("--scenario")
                .arg(name)
                .arg("--threads")
                .arg(threads.to_string());
            c.arg("--data-dir").arg(data_dir);
            c
        }
        Impl::Numpy | Impl::Torch => {
            let mut c = machine::peer_command(root);
            c.arg("--impl")
                .arg(imp.name())
                .arg("--scenario")
                .arg(name)
                .arg("--threads")
                .arg(threads.to_string())
                .arg("--data-dir")
                .arg(data_dir);
            c
        }
    };
    if quick {
        cmd.arg("--quick");
    }
    // One knob for every library's pool: rayon (ours), OpenBLAS/MKL/OpenMP (numpy, torch).
    for var in [
        "RAYON_NUM_THREADS",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    ] {
        cmd.env(var, threads.to_string());
    }
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => return Sample::Failed(format!("cannot start {}: {e}", imp.name())),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    match (out.status.success(), line) {
        (true, Some(line)) => Sample::parse(line),
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            Sample::Failed(format!(
                "exit {}: {}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ))
        }
    }
}

/// Seconds since the Unix epoch, for the report's date.
fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
