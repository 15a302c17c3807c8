//! `cargo xtask fuzz`: runs every cargo-fuzz target in `fuzz/` for N seconds each, one
//! after the other with one job (the machine is shared), and prints per target the
//! executions, executions per second and whether libFuzzer found a crash, an OOM or a
//! timeout. `--seeds` rewrites the committed seed corpora with the project's writers.
//!
//! ```text
//! cargo xtask fuzz --seconds 60                 # all targets, 60 s each
//! cargo xtask fuzz --seconds 600 --target spec  # one target
//! cargo xtask fuzz --seeds                      # regenerate fuzz/seeds/
//! ```
//! Needs the nightly toolchain and `cargo install cargo-fuzz`; see docs/fuzz.md.

mod seeds;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The targets, in the order they run (fast parsers first).
pub const TARGETS: [&str; 7] = [
    "idx_raw",
    "idx_gz",
    "cifar_batch",
    "unpack",
    "image",
    "checkpoint",
    "spec",
];

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds of fuzzing per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Run only this target (repeatable); all by default.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    target: Vec<String>,
    /// Keep fuzzing past crashes and OOMs (libFuzzer's fork mode), collecting them all
    /// in fuzz/artifacts/TARGET/.
    #[arg(long)]
    keep_going: bool,
    /// Regenerate the seed corpora in fuzz/seeds/ instead of fuzzing.
    #[arg(long)]
    seeds: bool,
}

/// The repository's `fuzz/` folder.
fn fuzz_dir() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).join("fuzz")
}

/// What one run reported.
struct Outcome {
    target: String,
    runs: u64,
    seconds: f64,
    verdict: String,
}

/// Runs the task.
pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let dir = fuzz_dir();
    if args.seeds {
        let written = seeds::write_all(&dir.join("seeds"))?;
        eprintln!(
            "wrote {written} seed files under {}",
            dir.join("seeds").display()
        );
        return Ok(());
    }
    let targets: Vec<String> = if args.target.is_empty() {
        TARGETS.map(String::from).to_vec()
    } else {
        args.target.clone()
    };
    let mut outcomes = Vec::new();
    for target in &targets {
        eprintln!("fuzzing {target} for {} s", args.seconds);
        outcomes.push(fuzz_one(&dir, target, args.seconds, args.keep_going)?);
    }
    println!(
        "{:<12} {:>12} {:>10}  result",
        "target", "executions", "exec/s"
    );
    for o in &outcomes {
        println!(
            "{:<12} {:>12} {:>10.0}  {}",
            o.target,
            o.runs,
            o.runs as f64 / o.seconds.max(1e-9),
            o.verdict
        );
    }
    if outcomes.iter().any(|o| o.verdict != "ok") {
        return Err("a fuzz target found a crash, OOM or timeout: see fuzz/artifacts/".into());
    }
    Ok(())
}

/// Fuzzes one target with its committed seeds (and the growing local corpus).
fn fuzz_one(
    dir: &Path,
    target: &str,
    seconds: u64,
    keep_going: bool,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let corpus = dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)?;
    let mut cmd = Command::new("cargo");
    cmd.current_dir(dir)
        .args(["+nightly", "fuzz", "run", "-O", target])
        .arg(&corpus)
        .arg(dir.join("seeds").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        // Bounded memory is part of what is tested: a 1 GB allocation is a finding.
        .args(["-rss_limit_mb=2048", "-malloc_limit_mb=1024", "-timeout=10"])
        .arg("-print_final_stats=1");
    if keep_going {
        cmd.args([
            "-fork=1",
            "-ignore_crashes=1",
            "-ignore_ooms=1",
            "-ignore_timeouts=1",
        ]);
    }
    let dict = dir.join(format!("{target}.dict"));
    if dict.is_file() {
        cmd.arg(format!("-dict={}", dict.display()));
    }
    let started = std::time::Instant::now();
    let out = cmd.output()?;
    let seconds = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr);
    std::fs::write(
        dir.join("corpus").join(format!("{target}.log")),
        log.as_bytes(),
    )?;
    let stat = |name: &str| {
        log.lines()
            .filter_map(|l| l.strip_prefix(name))
            .filter_map(|v| v.trim_start_matches(':').trim().parse::<u64>().ok())
            .sum::<u64>()
    };
    // Fork mode prints no final stats: its last status line "#N: ... oom/timeout/crash:
    // a/b/c ..." has the executions and the findings.
    let last_status = log
        .lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains("oom/timeout/crash:"));
    let runs = match stat("stat::number_of_executed_units") {
        0 => last_status
            .and_then(|l| l[1..].split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        n => n,
    };
    let forked: u64 = last_status
        .and_then(|l| l.split("oom/timeout/crash:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(|abc| abc.split('/').filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    // libFuzzer and the sanitizer announce a finding with "ERROR: libFuzzer: what"
    // (deadly signal, out-of-memory, malloc limit, timeout) or "ERROR: AddressSanitizer".
    let findings: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once("ERROR: ").map(|(_, what)| what))
        .collect();
    let verdict = if let Some(first) = findings.first() {
        format!(
            "FOUND {} ({first}); log in fuzz/corpus/{target}.log",
            findings.len()
        )
    } else if forked > 0 {
        format!("FOUND {forked} (oom/timeout/crash in fork mode); see fuzz/artifacts/{target}/")
    } else if out.status.success() {
        "ok".into()
    } else {
        format!("failed ({}); log in fuzz/corpus/{target}.log", out.status)
    };
    Ok(Outcome {
        target: target.into(),
        runs,
        seconds,
        verdict,
    })
}
