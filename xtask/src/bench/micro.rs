//! The criterion micro-benchmarks: `cargo bench -p benches --bench NAME` for the
//! targets of each crate's folder in `benches/`, then the medians read back from
//! criterion's JSON estimates. The benches that are not criterion's print their own
//! tables; the per-layer convolution table is also written as JSON for [`super::conv`].

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// One criterion benchmark's result.
pub struct MicroResult {
    /// The crate measured (its folder in `benches/`).
    pub krate: String,
    /// Criterion's id, `group/function[/value]`.
    pub id: String,
    /// Median time per iteration, seconds.
    pub median_s: f64,
    /// Throughput at the median, when the benchmark declares one.
    pub throughput: Option<String>,
}

/// The micro-benchmarks of one crate: the bench targets of the `benches` package
/// kept in `benches/<crate>/` (one target per `.rs` file there, named after it).
pub struct CrateBenches {
    /// The measured crate (the folder's name).
    pub krate: String,
    /// Its bench targets, for `cargo bench -p benches --bench NAME`.
    pub targets: Vec<String>,
}

/// Every folder of `benches/` with benchmark sources, in name order.
pub fn crates_with_benches(root: &Path) -> Vec<CrateBenches> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(root.join("benches")) else {
        return out;
    };
    let mut dirs: Vec<PathBuf> = dirs
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|d| d.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let Some(krate) = dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let mut targets: Vec<String> = std::fs::read_dir(&dir)
            .map(|it| {
                it.filter_map(Result::ok)
                    .map(|f| f.path())
                    .filter(|f| f.extension().is_some_and(|e| e == "rs"))
                    .filter_map(|f| Some(f.file_stem()?.to_str()?.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        targets.sort();
        if !targets.is_empty() {
            out.push(CrateBenches {
                krate: krate.to_string(),
                targets,
            });
        }
    }
    out
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
    for CrateBenches { krate, targets } in crates_with_benches(root) {
        let mut args = vec!["bench".to_string(), "-p".into(), "benches".into()];
        for t in &targets {
            args.extend(["--bench".to_string(), t.clone()]);
        }
        let command = format!("cargo {}", args.join(" "));
        eprintln!("micro-benchmarks of {krate}: {command}");
        let since = SystemTime::now();
        let status = Command::new(&cargo)
            .current_dir(root)
            .args(&args)
            .envs(super::conv::bench_env(&conv_json))
            .status()?;
        if !status.success() {
            return Err(format!("`{command}` failed ({status})").into());
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
            // the products (benches/numeric/gemm.rs), an image for the loaders.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo xtask bench` finds every micro-benchmark, and each is a target of the
    /// `benches` package (its manifest names the file as `path`).
    #[test]
    fn every_bench_file_is_found_and_declared() {
        let root = crate::bench::root();
        let found = crates_with_benches(&root);
        let krates: Vec<&str> = found.iter().map(|c| c.krate.as_str()).collect();
        assert_eq!(
            krates,
            ["backprop", "cifar-data", "knn", "linear", "nn", "numeric"]
        );
        let nn = found
            .iter()
            .find(|c| c.krate == "nn")
            .expect("nn's benches");
        assert_eq!(
            nn.targets,
            [
                "bf16_tiles_step",
                "cnn",
                "conv_layers",
                "fc",
                "small_models"
            ]
        );
        let manifest = std::fs::read_to_string(root.join("benches/Cargo.toml")).unwrap();
        for CrateBenches { krate, targets } in &found {
            for t in targets {
                let declared = format!("name = \"{t}\"\npath = \"{krate}/{t}.rs\"");
                assert!(manifest.contains(&declared), "benches/Cargo.toml lacks {t}");
            }
        }
    }
}
