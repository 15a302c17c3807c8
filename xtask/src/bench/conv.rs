//! The per-layer convolution report: forward, backward-data and backward-weights of
//! every conv layer of airbench94 and ThreeLayerConvNet, as a share of the GEMM peak
//! measured in the same run. The measuring is `nn`'s `conv_layers` bench (one table,
//! one place); this module runs it with `CONV_TIME=cpu` and `CONV_JSON`, reads the JSON
//! back and renders it. A full `cargo xtask bench` gets the table from the
//! micro-benchmarks' `cargo bench` of that crate (the variables of [`bench_env`] are set
//! on it); `cargo xtask bench --conv` runs the bench alone.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;

/// The bench that measures the layers: `benches/nn/conv_layers.rs`.
const BENCH: &str = "conv_layers";

/// The share of the GEMM peak every 3×3 conv pass should reach.
pub const TARGET_SHARE: f64 = 0.70;

/// One layer's medians, seconds per pass (`None`: the pass is not measured, e.g. the
/// frozen whitening conv's backward).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvLayer {
    pub name: String,
    pub kernel: usize,
    /// Floating-point operations of the direct convolution, per pass.
    pub flops: f64,
    pub forward_s: f64,
    pub backward_data_s: Option<f64>,
    pub backward_weights_s: Option<f64>,
}

/// The bench's table, as it wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvReport {
    /// "cpu" (CPU time ÷ threads) or "wall".
    pub time: String,
    pub threads: usize,
    pub rounds: usize,
    pub peak_gflops: f64,
    pub load_before: String,
    pub load_after: String,
    pub layers: Vec<ConvLayer>,
}

impl ConvReport {
    /// The report in the bench's JSON, or `None` if a field is missing.
    pub fn parse(v: &Value) -> Option<Self> {
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let count = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).map(|n| n as usize);
        let layers = v
            .get("layers")?
            .as_array()?
            .iter()
            .map(|l| {
                let secs = |k: &str| l.get(k).and_then(Value::as_f64);
                Some(ConvLayer {
                    name: l.get("name")?.as_str()?.to_string(),
                    kernel: count(l, "kernel")?,
                    flops: secs("flops")?,
                    forward_s: secs("forward_s")?,
                    backward_data_s: secs("backward_data_s"),
                    backward_weights_s: secs("backward_weights_s"),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            time: text("time")?,
            threads: count(v, "threads")?,
            rounds: count(v, "rounds")?,
            peak_gflops: v.get("peak_gflops")?.as_f64()?,
            load_before: text("load_before")?,
            load_after: text("load_after")?,
            layers,
        })
    }

    /// A pass's share of the peak.
    fn share(&self, l: &ConvLayer, seconds: f64) -> f64 {
        l.flops / seconds / 1e9 / self.peak_gflops
    }

    /// The 3×3 passes under [`TARGET_SHARE`]: (layer, pass, share).
    pub fn short_3x3(&self) -> Vec<(&str, &'static str, f64)> {
        let mut out = Vec::new();
        for l in self.layers.iter().filter(|l| l.kernel == 3) {
            let passes = [
                ("forward", Some(l.forward_s)),
                ("backward-data", l.backward_data_s),
                ("backward-weights", l.backward_weights_s),
            ];
            for (pass, s) in passes {
                if let Some(s) = s {
                    let share = self.share(l, s);
                    if share < TARGET_SHARE {
                        out.push((l.name.as_str(), pass, share));
                    }
                }
            }
        }
        out
    }

    /// The table and its verdict, as a section body of docs/benchmarks.md.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let w = &mut s;
        let _ = writeln!(
            w,
            "{} time{}, {} thread(s), median of {} rounds; f32 GEMM peak (a 2048³ product, best of 5) \
             {:.0} GFLOP/s in the same process; load {} before, {} after. A pass's share counts the direct \
             convolution's FLOPs (2·N·F·C·K²·H'·W'), so Winograd's fewer multiplications can pass 100 %.\n",
            if self.time == "cpu" { "CPU" } else { "Wall" },
            if self.time == "cpu" {
                " ÷ threads (the process's own work, whatever the neighbours do)"
            } else {
                ""
            },
            self.threads,
            self.rounds,
            self.peak_gflops,
            load_average(&self.load_before),
            load_average(&self.load_after)
        );
        let _ = writeln!(
            w,
            "| layer | forward ms | of peak | backward-data ms | of peak | backward-weights ms | of peak |\n\
             |---|---:|---:|---:|---:|---:|---:|"
        );
        for l in &self.layers {
            let cells = |s: Option<f64>| match s {
                Some(s) => format!("{:.2} | {:.0} %", s * 1e3, 100.0 * self.share(l, s)),
                None => "— | —".to_string(),
            };
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} |",
                l.name,
                cells(Some(l.forward_s)),
                cells(l.backward_data_s),
                cells(l.backward_weights_s)
            );
        }
        let short = self.short_3x3();
        let target = 100.0 * TARGET_SHARE;
        if short.is_empty() {
            let _ = writeln!(
                w,
                "\nEvery pass of every 3×3 conv reached {target:.0} % of the peak in this run."
            );
        } else {
            let list: Vec<String> = short
                .iter()
                .map(|(l, pass, share)| format!("{l} {pass} ({:.0} %)", 100.0 * share))
                .collect();
            let _ = writeln!(
                w,
                "\n3×3 passes under {target:.0} % of the peak in this run: {}.",
                list.join("; ")
            );
        }
        s
    }
}

/// The 1-, 5- and 15-minute load averages of a `/proc/loadavg` line.
fn load_average(line: &str) -> String {
    line.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The environment that makes the bench write its JSON to `json` in CPU time.
pub fn bench_env(json: &Path) -> [(&'static str, &std::ffi::OsStr); 2] {
    [
        ("CONV_TIME", "cpu".as_ref()),
        ("CONV_JSON", json.as_os_str()),
    ]
}

/// Where the bench writes its JSON under the target folder `target`.
pub fn json_path(target: &Path) -> PathBuf {
    target.join("xtask-bench/conv_layers.json")
}

/// The report at `json` if it was written after `since` (a stale file from an earlier
/// run is not this run's table).
pub fn read(json: &Path, since: SystemTime) -> Option<ConvReport> {
    let modified = std::fs::metadata(json).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(json).ok()?).ok()?;
    ConvReport::parse(&v)
}

/// Runs the bench alone (`cargo bench -p benches --bench conv_layers`, output passing
/// through) and reads its table.
pub fn run(root: &Path, target: &Path) -> Result<ConvReport, Box<dyn Error>> {
    let file = root.join("benches").join("nn").join(format!("{BENCH}.rs"));
    if !file.is_file() {
        return Err(format!("{} is missing", file.display()).into());
    }
    let json = json_path(target);
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("conv layers: cargo bench -p benches --bench {BENCH}");
    let since = SystemTime::now();
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["bench", "-p", "benches", "--bench", BENCH])
        .envs(bench_env(&json))
        .status()?;
    if !status.success() {
        return Err(format!("`cargo bench -p benches --bench {BENCH}` failed ({status})").into());
    }
    read(&json, since)
        .ok_or_else(|| format!("{} was not written or is malformed", json.display()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::json!({
            "time": "cpu", "threads": 2, "rounds": 7, "peak_gflops": 200.0,
            "load_before": "1.00 0.90 0.80 1/100 42", "load_after": "1.10",
            "layers": [
                {"name": "whiten 2x2", "kernel": 2, "flops": 1e9, "forward_s": 0.02,
                 "backward_data_s": null, "backward_weights_s": null},
                {"name": "b1 3x3", "kernel": 3, "flops": 20e9, "forward_s": 0.1,
                 "backward_data_s": 0.1, "backward_weights_s": 0.2},
            ]
        })
    }

    #[test]
    fn a_3x3_pass_under_the_target_is_named() {
        let r = ConvReport::parse(&sample()).expect("well-formed");
        // 20 GFLOP in 0.2 s is 100 GFLOP/s, half the 200 of the peak; the 2×2 conv's
        // 50 GFLOP/s does not count.
        assert_eq!(r.short_3x3(), vec![("b1 3x3", "backward-weights", 0.5)]);
        let md = r.markdown();
        assert!(
            md.contains("| b1 3x3 | 100.00 | 100 % | 100.00 | 100 % | 200.00 | 50 % |"),
            "{md}"
        );
        assert!(
            md.contains("| whiten 2x2 | 20.00 | 25 % | — | — | — | — |"),
            "{md}"
        );
        assert!(md.contains("under 70 % of the peak in this run: b1 3x3 backward-weights (50 %)"));
        assert!(
            md.contains("load 1.00 0.90 0.80 before, 1.10 after"),
            "{md}"
        );
    }

    #[test]
    fn every_pass_at_the_target_says_so() {
        let mut v = sample();
        v["layers"][1]["backward_weights_s"] = serde_json::json!(0.1);
        let r = ConvReport::parse(&v).expect("well-formed");
        assert!(r.short_3x3().is_empty());
        assert!(
            r.markdown()
                .contains("Every pass of every 3×3 conv reached 70 %")
        );
    }

    #[test]
    fn a_missing_field_is_no_report() {
        let mut v = sample();
        v.as_object_mut().unwrap().remove("peak_gflops");
        assert_eq!(ConvReport::parse(&v), None);
    }
}
