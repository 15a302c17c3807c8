//! The criterion micro-benchmarks: `cargo bench -p <crate>` for every crate with a
//! `benches/` folder, then the medians read back from criterion's JSON estimates. The
//! benches that are not criterion's print their own tables; the per-layer convolution
//! table is also written as JSON for [`super::conv`].

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// One criterion benchmark's result.
pub struct MicroResult {
    /// The crate whose `cargo bench` produced it.
    pub krate: String,
    /// Criterion's id, `group/function[/value]`.
    pub id: String,
    /// Median time per iteration, seconds.
    pub median_s: f64,
    /// Throughput at the median, when the benchmark declares one.
    pub throughput: Option<String>,
}

/// Crates (package names) under `crates/` that have benchmark sources.
pub fn crates_with_benches(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(root.join("crates")) else {
        return out;
    };
    let mut dirs: Vec<PathBuf> = dirs.filter_map(|d| d.ok().map(|d| d.path())).collect();
    dirs.sort();
    for dir in dirs {
        let has_rs = std::fs::read_dir(dir.join("benches"))
            .map(|it| {
                it.filter_map(Result::ok)
                    .any(|f| f.path().extension().is_some_and(|e| e == "rs"))
            })
            .unwrap_or(false);
        if has_rs && let Some(name) = package_name(&dir.join("Cargo.toml")) {
            out.push(name);
        }
    }
    out
}

/// `name = "..."` of a manifest's [package] (the first `name` key is the package's).
pub fn package_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    text.lines().find_map(|l| {
        let rest = l
            .trim()
            .strip_prefix("name")?
            .trim_start()
            .strip_prefix('=')?;
        Some(rest.trim().trim_matches('"').to_string())
    })
}

/// Runs every crate's micro-benchmarks (output passes through) and collects the medians.
pub fn run_all(root: &Path) -> Result<Vec<MicroResult>, Box<dyn Error>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let conv_json = super::conv::json_path(&target);
    if let Some(dir) = conv_json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut results = Vec::new();
    for krate in crates_with_benches(root) {
        eprintln!("micro-benchmarks: cargo bench -p {krate}");
        let since = SystemTime::now();
        let status = Command::new(&cargo)
            .current_dir(root)
            .args(["bench", "-p", &krate])
            .envs(super::conv::bench_env(&conv_json))
            .status()?;
        if !status.success() {
            return Err(format!("`cargo bench -p {krate}` failed ({status})").into());
        }
        let mut found = Vec::new();
        collect(&target.join("criterion"), since, &krate, &mut found);
        found.sort_by(|a, b| a.id.cmp(&b.id));
        results.extend(found);
    }
    Ok(results)
}

/// Walks criterion's output folder for `new/estimates.json` written after `since`.
fn collect(dir: &Path, since: SystemTime, krate: &str, out: &mut Vec<MicroResult>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        if p.file_name().is_some_and(|n| n == "new") {
            if let Some(r) = read_result(&p, since, krate) {
                out.push(r);
            }
        } else if p.file_name().is_none_or(|n| n != "base" && n != "report") {
            collect(&p, since, krate, out);
        }
    }
}

fn read_result(new: &Path, since: SystemTime, krate: &str) -> Option<MicroResult> {
    let est = new.join("estimates.json");
    if std::fs::metadata(&est).ok()?.modified().ok()? < since {
        return None;
    }
    let est: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(est).ok()?).ok()?;
    let bench: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(new.join("benchmark.json")).ok()?).ok()?;
    let median_ns = est.pointer("/median/point_estimate")?.as_f64()?;
    let median_s = median_ns * 1e-9;
    let throughput = bench.get("throughput").and_then(|t| {
        let (kind, n) = t.as_object()?.iter().next()?;
        let per_s = n.as_f64()? / median_s;
        Some(match kind.as_str() {
            "Bytes" | "BytesDecimal" => format!("{:.1} MB/s", per_s / 1e6),
            // An element is whatever the benchmark counts: a floating-point operation for
            // the products (crates/numeric/benches/gemm.rs), an image for the loaders.
            _ => format!("{} elem/s", si(per_s)),
        })
    });
    Some(MicroResult {
        krate: krate.to_string(),
        id: bench.get("full_id")?.as_str()?.to_string(),
        median_s,
        throughput,
    })
}

/// `1.23 G`, `45.6 M`, `789 k`.
fn si(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2} G", x / 1e9),
        x if x >= 1e6 => format!("{:.2} M", x / 1e6),
        x if x >= 1e3 => format!("{:.2} k", x / 1e3),
        x => format!("{x:.1} "),
    }
}
