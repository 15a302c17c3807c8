//! Samples, statistics, and the two renderings of the results: the console table and
//! the generated `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use super::micro::MicroResult;

/// Who ran a scenario.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Impl {
    /// This project.
    Ours,
    /// The course's numpy code (bench/peers/).
    Numpy,
    /// PyTorch on the CPU (bench/peers/).
    Torch,
}

impl Impl {
    /// Name in tables and on the peers' command line.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::Numpy => "numpy",
            Impl::Torch => "torch",
        }
    }
}

/// One run's result.
pub enum Sample {
    /// Timed.
    Ok(Measured),
    /// Not applicable here (no data, no peer version).
    Skip(String),
    /// The run broke.
    Failed(String),
}

/// One timed run, as a child reports it.
#[derive(Clone, Copy)]
pub struct Measured {
    /// Seconds of the timed part.
    pub seconds: f64,
    /// Images processed (0: not applicable).
    pub images: f64,
    /// FLOPs of the products (0: not applicable).
    pub flops: f64,
    /// Peak resident memory of the process, KiB.
    pub peak_kib: f64,
}

impl Sample {
    /// Parses a child's JSON line.
    pub fn parse(line: &str) -> Sample {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return Sample::Failed(format!("unreadable result {line:?}: {e}")),
        };
        if let Some(why) = v.get("skip") {
            return Sample::Skip(why.as_str().unwrap_or("skipped").to_string());
        }
        let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
        match num("seconds") {
            Some(seconds) => Sample::Ok(Measured {
                seconds,
                images: num("images").unwrap_or(0.0),
                flops: num("flops").unwrap_or(0.0),
                peak_kib: num("peak_kib").unwrap_or(0.0),
            }),
            None => Sample::Failed(format!("result without seconds: {line}")),
        }
    }
}

/// All runs of one implementation on one scenario.
#[derive(Default)]
pub struct Runs {
    ok: Vec<Measured>,
    skip: Option<String>,
    failed: Option<String>,
}

/// Median, spread and per-run work of a set of runs.
pub struct Stats {
    /// Median seconds.
    pub median: f64,
    /// Fastest run.
    pub min: f64,
    /// Slowest run.
    pub max: f64,
    /// Runs.
    pub n: usize,
    /// Images per run.
    pub images: f64,
    /// FLOPs per run.
    pub flops: f64,
    /// Largest peak memory over the runs, KiB.
    pub peak_kib: f64,
}

impl Runs {
    /// Statistics, when at least one run was timed.
    pub fn stats(&self) -> Option<Stats> {
        if self.ok.is_empty() {
            return None;
        }
        let mut t: Vec<f64> = self.ok.iter().map(|m| m.seconds).collect();
        t.sort_by(f64::total_cmp);
        let n = t.len();
        let median = if n % 2 == 1 {
            t[n / 2]
        } else {
            0.5 * (t[n / 2 - 1] + t[n / 2])
        };
        Some(Stats {
            median,
            min: t[0],
            max: t[n - 1],
            n,
            images: self.ok[0].images,
            flops: self.ok[0].flops,
            peak_kib: self.ok.iter().map(|m| m.peak_kib).fold(0.0, f64::max),
        })
    }

    /// Why there is no figure, if there is none.
    pub fn missing(&self) -> Option<&str> {
        if !self.ok.is_empty() {
            return None;
        }
        self.failed.as_deref().or(self.skip.as_deref())
    }
}

/// One scenario's results for every implementation.
pub struct Row {
    /// Scenario name.
    pub name: &'static str,
    /// What it measures.
    pub about: &'static str,
    /// Ours, numpy, torch.
    pub runs: [Runs; 3],
}

fn slot(imp: Impl) -> usize {
    match imp {
        Impl::Ours => 0,
        Impl::Numpy => 1,
        Impl::Torch => 2,
    }
}

impl Row {
    /// An empty row.
    pub fn new(name: &'static str, about: &'static str) -> Row {
        Row {
            name,
            about,
            runs: Default::default(),
        }
    }

    /// Records one run.
    pub fn push(&mut self, imp: Impl, s: Sample) {
        let r = &mut self.runs[slot(imp)];
        match s {
            Sample::Ok(m) => r.ok.push(m),
            Sample::Skip(why) => r.skip = Some(why),
            Sample::Failed(why) => r.failed = Some(why),
        }
    }

    /// Whether `imp` said it cannot run this scenario (no need to ask again).
    pub fn skipped(&self, imp: Impl) -> bool {
        self.runs[slot(imp)].skip.is_some()
    }

    /// Whether any implementation failed (as opposed to skipping).
    pub fn any_failed(&self) -> bool {
        self.runs.iter().any(|r| r.failed.is_some())
    }

    /// The runs of `imp`.
    pub fn of(&self, imp: Impl) -> &Runs {
        &self.runs[slot(imp)]
    }
}

/// Which Python peers can run, and what the user should know about the others.
pub struct Peers {
    /// Peers that import.
    pub available: Vec<Impl>,
    /// Versions found (for the report).
    pub versions: String,
    /// Messages (missing python3 / numpy / torch and how to install them).
    pub notes: Vec<String>,
    /// Whether `--peers` was asked.
    pub asked: bool,
}

impl Peers {
    /// No peers (without `--peers`).
    pub fn none() -> Peers {
        Peers {
            available: Vec::new(),
            versions: String::new(),
            notes: Vec::new(),
            asked: false,
        }
    }

    /// Asks python3 which of numpy / torch import.
    pub fn detect(root: &Path) -> Peers {
        let mut p = Peers {
            asked: true,
            ..Peers::none()
        };
        let out = Command::new("python3")
            .arg(root.join("bench/peers/peer.py"))
            .arg("--versions")
            .output();
        let text = match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            Ok(o) => {
                p.notes.push(format!(
                    "python3 could not run bench/peers/peer.py: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                return p;
            }
            Err(e) => {
                p.notes.push(format!("no python3 ({e}): peers skipped; install Python 3 and `pip install numpy torch`"));
                return p;
            }
        };
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_default();
        let get = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let mut versions = vec![format!("Python {}", get("python").unwrap_or_default())];
        match get("numpy") {
            Some(ver) => {
                p.available.push(Impl::Numpy);
                let blas = get("numpy_blas").unwrap_or_default();
                versions.push(format!("numpy {ver} ({blas})"));
            }
            None => p
                .notes
                .push("numpy not found: numpy peer skipped (`pip install numpy`)".into()),
        }
        match get("torch") {
            Some(ver) => {
                p.available.push(Impl::Torch);
                versions.push(format!("PyTorch {ver} (CPU)"));
            }
            None => p.notes.push(
                "torch not found: PyTorch peer skipped (`pip install torch`, or the smaller CPU-only wheel from PyTorch's own index)"
                    .into(),
            ),
        }
        p.versions = versions.join(", ");
        p
    }
}

/// The machine and toolchain the figures come from.
pub struct Machine {
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Threads given to every implementation.
    pub threads: usize,
    /// `rustc -V`.
    pub rustc: String,
    /// Peers' versions.
    pub peers: String,
    /// 1-minute load average when the run started and when it ended.
    pub load: (String, String),
}

impl Machine {
    /// Reads /proc/cpuinfo and `rustc -V`.
    pub fn detect(threads: usize, peers: &Peers, load_at_start: String) -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let flags = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("flags"))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let simd = ["avx512f", "avx2", "fma"]
            .into_iter()
            .filter(|f| flags.split_whitespace().any(|x| x == *f))
            .collect::<Vec<_>>()
            .join(", ");
        let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-V")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Machine {
            cpu: if simd.is_empty() {
                cpu
            } else {
                format!("{cpu} ({simd})")
            },
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads,
            rustc,
            peers: peers.versions.clone(),
            load: (load_at_start, load_average()),
        }
    }
}

/// The 1-minute load average (/proc/loadavg), or "?" where there is none.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// `0.123 s`, `45.6 ms`, `789 µs`.
pub fn secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn time_cell(st: &Stats) -> String {
    if st.n == 1 {
        secs(st.median)
    } else {
        format!("{} ({}–{})", secs(st.median), secs(st.min), secs(st.max))
    }
}

/// The machine's measured f32 peak: the best run of the large square product, or
/// the best GEMM rate of any scenario if one beat it (on a loaded machine the one
/// large product can draw a busy moment), so that no fraction exceeds 100 %.
pub fn peak_gflops(rows: &[Row]) -> Option<f64> {
    let best = |r: &Row| {
        r.of(Impl::Ours)
            .stats()
            .filter(|st| st.flops > 0.0)
            .map(|st| st.flops / st.min / 1e9)
    };
    let square = best(rows.iter().find(|r| r.name == PEAK_SCENARIO)?)?;
    Some(rows.iter().filter_map(best).fold(square, f64::max))
}

/// The scenario whose best run defines the peak.
pub const PEAK_SCENARIO: &str = "gemm-square-f32";

fn rate_cell(st: &Stats, peak: Option<f64>) -> String {
    let mut parts = Vec::new();
    if st.images > 0.0 {
        parts.push(format!("{:.0} img/s", st.images / st.median));
    }
    if st.flops > 0.0 {
        let gflops = st.flops / st.median / 1e9;
        match peak {
            Some(p) => parts.push(format!(
                "{gflops:.1} GFLOP/s ({:.0}% of peak)",
                100.0 * gflops / p
            )),
            None => parts.push(format!("{gflops:.1} GFLOP/s")),
        }
    }
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(", ")
    }
}

fn mem_cell(st: &Stats) -> String {
    format!("{:.0} MiB", st.peak_kib / 1024.0)
}

fn peer_cell(row: &Row, imp: Impl) -> String {
    let ours = row.of(Impl::Ours).stats();
    match (ours, row.of(imp).stats(), row.of(imp).missing()) {
        (Some(o), Some(t), _) => format!("{} → **{:.2}×**", secs(t.median), o.median / t.median),
        (None, Some(t), _) => secs(t.median),
        (_, None, Some(why)) => format!("— ({})", short(why)),
        _ => "—".into(),
    }
}

fn short(s: &str) -> String {
    let s = s.replace('|', "/");
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn ours_cells(row: &Row, peak: Option<f64>) -> [String; 3] {
    let r = row.of(Impl::Ours);
    match r.stats() {
        Some(st) => [time_cell(&st), rate_cell(&st, peak), mem_cell(&st)],
        None => [
            format!("— ({})", short(r.missing().unwrap_or("not run"))),
            "—".into(),
            "—".into(),
        ],
    }
}

/// The table printed at the end of a run.
pub fn console_table(rows: &[Row], peers: &Peers) -> String {
    let mut header = vec![
        "scenario".to_string(),
        "ours median (min–max)".into(),
        "throughput".into(),
        "peak mem".into(),
    ];
    for imp in &peers.available {
        header.push(format!("{} (ours/{0})", imp.name()));
    }
    let mut table = vec![header];
    for row in rows {
        let mut cells = vec![row.name.to_string()];
        cells.extend(ours_cells(row, peak_gflops(rows)));
        for &imp in &peers.available {
            cells.push(peer_cell(row, imp).replace("**", ""));
        }
        table.push(cells);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, r) in table.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        if i == 0 {
            let _ = writeln!(
                out,
                "{}",
                widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
        }
    }
    out
}

/// The whole of docs/benchmarks.md.
pub fn render(
    m: &Machine,
    command: &str,
    rows: &[Row],
    micro: &[MicroResult],
    peers: &Peers,
    pending: &[(&str, &str)],
    quick: bool,
) -> String {
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "<!-- Generated by `cargo xtask bench` (xtask/src/bench.rs). Do not edit by hand: rerun it. -->"
    );
    let _ = writeln!(w, "# Benchmarks\n");
    if quick {
        let _ = writeln!(
            w,
            "> **Smoke run (`--quick`)**: tiny synthetic data; these figures check the harness, not speed.\n"
        );
    }
    let _ = writeln!(w, "- Command: `{command}`");
    let _ = writeln!(w, "- Date: {} UTC", utc_date(super::now_unix()));
    let _ = writeln!(
        w,
        "- Machine: {}, {} logical cores; every implementation ran with {} thread(s); \
         load average (1 min) {} at the start, {} at the end",
        m.cpu, m.cores, m.threads, m.load.0, m.load.1
    );
    let profile = if cfg!(debug_assertions) {
        "dev profile (dependencies optimised)"
    } else {
        "`--release`"
    };
    let _ = writeln!(
        w,
        "- Toolchain: {}, {profile}, `target-cpu=native` (.cargo/config.toml)",
        m.rustc
    );
    if !m.peers.is_empty() {
        let _ = writeln!(w, "- Peers: {}", m.peers);
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "## Whole-pipeline scenarios\n");
    let _ = writeln!(
        w,
        "Each run is a fresh process (so peak memory is the scenario's own); times are the timed part only \
         (data loading excluded except in `load-*`), median with the fastest and slowest run in brackets. \
         The machine may be shared: prefer the ratios, measured in the same invocation with implementations \
         alternating run by run. A ratio below 1 means this project is faster."
    );
    if let Some(p) = peak_gflops(rows) {
        let _ = writeln!(
            w,
            "\nGFLOP/s count the matrix products only; \"of peak\" is relative to the machine's measured f32 \
             peak in this run, {p:.0} GFLOP/s: the best `{PEAK_SCENARIO}` run, or a scenario's best run if one \
             went faster (see [gemm.md](gemm.md))."
        );
    }
    let _ = writeln!(w);
    let mut header = "| scenario | ours: median (min–max) | throughput | peak memory |".to_string();
    let mut rule = "|---|---|---|---|".to_string();
    if peers.asked {
        for name in ["numpy", "PyTorch"] {
            let _ = write!(header, " {name}: median → ours/{name} |");
            rule.push_str("---|");
        }
    }
    let _ = writeln!(w, "{header}\n{rule}");
    for row in rows {
        let [t, r, mem] = ours_cells(row, peak_gflops(rows));
        let _ = write!(w, "| `{}` | {t} | {r} | {mem} |", row.name);
        if peers.asked {
            for imp in [Impl::Numpy, Impl::Torch] {
                let cell = if peers.available.contains(&imp) {
                    peer_cell(row, imp)
                } else {
                    "— (not installed)".into()
                };
                let _ = write!(w, " {cell} |");
            }
        }
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "\nWhat each scenario does:\n");
    for row in rows {
        let _ = writeln!(w, "- `{}`: {}", row.name, row.about);
    }
    if !pending.is_empty() {
        let _ = writeln!(
            w,
            "\nPending (the crate API they call has not landed yet):\n"
        );
        for (name, what) in pending {
            let _ = writeln!(w, "- `{name}`: {what}");
        }
    }
    if peers.asked {
        let _ = writeln!(
            w,
            "\nThe peers (bench/peers/peer.py) compute the same scenarios with the same sizes, in float32 \
             like our side: **numpy** as the course's vectorised solutions write them (`compute_distances_no_loops`, \
             `svm_loss_vectorized`, im2col convolution, ...), **PyTorch** as a user would (tensor ops, autograd, \
             `torch.nn`, `torch.optim`). Peak memory of a PyTorch process includes the library itself (~0.5 GB)."
        );
    }
    if !peers.notes.is_empty() {
        let _ = writeln!(w, "\nPeers: {}", peers.notes.join("; "));
    }
    let _ = writeln!(w, "\n## Micro-benchmarks (criterion)\n");
    if micro.is_empty() {
        let _ = writeln!(
            w,
            "Not run in this invocation (`--quick` or `--no-micro`). Run `cargo bench -p <crate>` for one crate."
        );
    } else {
        let _ = writeln!(
            w,
            "Median of criterion's samples, from `cargo bench -p <crate>` (criterion's full reports are in \
             target/criterion/). For numeric's GEMM benchmarks an element is one floating-point operation \
             (elem/s = FLOP/s); docs/gemm.md reads them.\n"
        );
        let _ = writeln!(
            w,
            "| crate | benchmark | median | throughput |\n|---|---|---|---|"
        );
        for r in micro {
            let _ = writeln!(
                w,
                "| {} | `{}` | {} | {} |",
                r.krate,
                r.id,
                secs(r.median_s),
                r.throughput.as_deref().unwrap_or("—")
            );
        }
    }
    let _ = writeln!(
        w,
        "\n## Reproduce\n\n```sh\ncargo xtask bench            # micro-benchmarks + scenarios, rewrites this file\n\
         cargo xtask bench --peers    # + numpy / PyTorch side by side (pip install numpy torch)\n\
         cargo xtask bench --quick    # sub-minute smoke run on synthetic data (CI)\n\
         cargo xtask bench knn        # only the scenarios named *knn* (table in target/xtask-bench/only.md)\n```\n\n\
         Data: `cargo xtask fetch-data` (CIFAR-10) and `cargo xtask fetch-data --dataset fashion-mnist` \
         put the datasets in `data/`; `--data-dir` points elsewhere. `--threads N` (or `RAYON_NUM_THREADS`) \
         sets the threads of every implementation. The GEMM choice behind these figures: [gemm.md](gemm.md)."
    );
    s
}

/// `YYYY-MM-DD HH:MM` from Unix seconds (civil-from-days, proleptic Gregorian).
pub fn utc_date(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let rem = t % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_date(1_798_761_599), "2026-12-31 23:59");
    }

    #[test]
    fn median_and_spread() {
        let mut r = Runs::default();
        for s in [3.0, 1.0, 2.0, 10.0] {
            r.ok.push(Measured {
                seconds: s,
                images: 5.0,
                flops: 0.0,
                peak_kib: s,
            });
        }
        let st = r.stats().unwrap();
        assert_eq!(
            (st.median, st.min, st.max, st.peak_kib),
            (2.5, 1.0, 10.0, 10.0)
        );
    }

    #[test]
    fn parses_child_lines() {
        assert!(
            matches!(Sample::parse(r#"{"skip":"no data"}"#), Sample::Skip(s) if s == "no data")
        );
        assert!(matches!(Sample::parse("{\"images\":1}"), Sample::Failed(_)));
        match Sample::parse(r#"{"seconds":0.5,"images":10,"flops":0,"peak_kib":2048}"#) {
            Sample::Ok(m) => assert_eq!((m.seconds, m.images, m.peak_kib), (0.5, 10.0, 2048.0)),
            _ => panic!("expected a measurement"),
        }
    }
}
