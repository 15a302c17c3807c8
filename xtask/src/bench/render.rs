//! The two renderings of the results: the console table printed at the end of a
//! run, and the generated `docs/benchmarks.md`.

use std::fmt::Write as _;

use super::conv::ConvReport;
use super::machine::{Machine, Peers};
use super::micro::MicroResult;
use super::stats::{Impl, Row, Stats};

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

/// The peer's median and our ratio to it; where we have no figure, the peer's
/// throughput and share of the peak instead.
fn peer_cell(row: &Row, imp: Impl, peak: Option<f64>) -> String {
    let ours = row.of(Impl::Ours).stats();
    match (ours, row.of(imp).stats(), row.of(imp).missing()) {
        (Some(o), Some(t), _) => format!("{} → **{:.2}×**", secs(t.median), o.median / t.median),
        (None, Some(t), _) => {
            let note = t
                .note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            format!("{}{note}, {}", secs(t.median), rate_cell(&t, peak))
        }
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
            cells.push(peer_cell(row, imp, peak_gflops(rows)).replace("**", ""));
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
    conv: Option<&ConvReport>,
    peers: &Peers,
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
    let _ = writeln!(
        w,
        "- Memory bandwidth ({} thread(s), STREAM-style over 64 MiB arrays, best of 5): \
         copy {:.1} GB/s, triad {:.1} GB/s, the roof of memory-bound layers",
        m.threads, m.bandwidth.copy_gbs, m.bandwidth.triad_gbs
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
                    peer_cell(row, imp, peak_gflops(rows))
                } else if peers.not_chosen.contains(&imp) {
                    "— (not run: `--peer`)".into()
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
    if peers.asked {
        let _ = writeln!(
            w,
            "\nThe peers (bench/peers/peer.py) compute the same scenarios with the same sizes, in float32 \
             like our side: **numpy** as the course's vectorised solutions write them (`compute_distances_no_loops`, \
             `svm_loss_vectorized`, im2col convolution, ...), **PyTorch** as a user would (tensor ops, autograd, \
             `torch.nn`, `torch.optim`). Peak memory of a PyTorch process includes the library itself (~0.5 GB). \
             The peers run at their best: the harness removes `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE` from \
             their environment only (so OpenBLAS picks its kernel for this CPU), and the BLAS library, version \
             and kernel each peer ran on (threadpoolctl; PyTorch's own build report) are listed under Peers above. \
             Where our side has no version of a scenario yet, the peer's cell gives its throughput and share of \
             the GEMM peak instead of a ratio."
        );
    }
    if !peers.notes.is_empty() {
        let _ = writeln!(w, "\nPeers: {}", peers.notes.join("; "));
    }
    let _ = writeln!(w, "\n## Micro-benchmarks (criterion)\n");
    if micro.is_empty() {
        let _ = writeln!(
            w,
            "Not run in this invocation (`--quick` or `--no-micro`). Run `cargo bench -p benches --bench NAME` for one target."
        );
    } else {
        let _ = writeln!(
            w,
            "Median of criterion's samples, from `cargo bench -p benches` (criterion's full reports are in \
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
    let _ = writeln!(w, "\n## Convolution layers\n");
    match conv {
        Some(c) => {
            let _ = writeln!(
                w,
                "Every conv layer of airbench94 (batch 512) and ThreeLayerConvNet (batch 50), f32, from \
                 nn's `conv_layers` bench, run by the micro-benchmarks above (`cargo xtask bench --conv` \
                 runs it alone); docs/conv.md says which layout runs each pass and why.\n"
            );
            let _ = write!(w, "{}", c.markdown());
        }
        None => {
            let _ = writeln!(
                w,
                "Not run in this invocation (it comes with the micro-benchmarks). \
                 `cargo xtask bench --conv` runs it alone."
            );
        }
    }
    let _ = writeln!(
        w,
        "\n## Reproduce\n\n```sh\ncargo xtask bench            # micro-benchmarks + scenarios, rewrites this file\n\
         cargo xtask bench --peers    # + numpy / PyTorch side by side (pip install numpy torch threadpoolctl)\n\
         cargo xtask bench --quick    # sub-minute smoke run on synthetic data (CI)\n\
         cargo xtask bench knn        # only the scenarios named *knn* (table in target/xtask-bench/only.md)\n\
         cargo xtask bench --peers --peer numpy knn   # one peer only\n\
         cargo xtask bench --layers   # memory-bound layers in GB/s (target/xtask-bench/layers.md)\n\
         cargo xtask bench --conv     # conv layers against the GEMM peak (target/xtask-bench/conv.md)\n```\n\n\
         Data: `cargo xtask fetch-data` (CIFAR-10) and `cargo xtask fetch-data --dataset fashion-mnist` \
         put the datasets in `data/`; `--data-dir` points elsewhere. `--threads N` (or `RAYON_NUM_THREADS`) \
         sets the threads of every implementation. The GEMM choice behind these figures: [gemm.md](gemm.md).\n\n\
         ## Memory-bound layers\n\n\
         `cargo xtask bench --layers` times batchnorm (spatial, training mode) and max-pooling (2×2 and 3×3 \
         windows), forward and backward, at the shapes of airbench94's network at batch 512 (`--quick`: batch 8), \
         in this process, and reads each as GB/s against the machine's streaming copy bandwidth, measured in \
         the same run (STREAM-style copy and triad, as in the header above): the roof of a layer that does a \
         few operations per element, as the square GEMM is the roof of the products. The bytes of a pass are \
         every tensor it must read or write, once (batchnorm: x and out forward, x, dout and dx backward; \
         max-pool: x, out and the u32 index of each maximum forward, dout, indices and dx backward); a pass \
         that reads a tensor twice or copies it to another layout shows it as a lower share of the roof. \
         The 2×2 pools of the network run on odd sizes in floor mode (31×31 → 15×15); nn's pool wants \
         windows that tile the input, so the report gives it the part the windows cover (30×30), all a \
         floor-mode pool reads. Tensors that fit in the last-level cache (the 256×3×3 cases: 4.7 MB at batch \
         512) are not streamed from memory and can exceed the roof. The cases are one table in \
         xtask/src/bench/layers.rs: a layer's pass, its shape, its bytes and the call; another layer (GELU, \
         say) is one more entry."
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

    use crate::bench::stats::Sample;

    #[test]
    fn a_peer_alone_gets_its_rate_against_the_peak() {
        let mut row = Row::new("airbench-step", "");
        row.push(Impl::Ours, Sample::Skip("not yet".into()));
        row.push(
            Impl::Torch,
            Sample::parse(
                r#"{"seconds":2.0,"images":1024,"flops":4e11,"peak_kib":0,"note":"nchw"}"#,
            ),
        );
        assert_eq!(
            peer_cell(&row, Impl::Torch, Some(400.0)),
            "2.00 s (nchw), 512 img/s, 200.0 GFLOP/s (50% of peak)"
        );
        assert_eq!(ours_cells(&row, Some(400.0))[0], "— (not yet)");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(utc_date(0), "1970-01-01 00:00");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_date(1_798_761_599), "2026-12-31 23:59");
    }
}
