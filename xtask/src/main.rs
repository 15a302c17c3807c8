//! `cargo xtask <task>`: the project's chores, in Rust so they run wherever cargo does.
//!
//! - `cargo xtask fetch-data` — download (or install `--from` a local copy), verify and
//!   unpack CIFAR-10 or Fashion-MNIST into `data/`.
//! - `cargo xtask bench` — micro-benchmarks and whole-pipeline scenarios, optionally
//!   side by side with numpy / PyTorch (`--peers`); rewrites `docs/benchmarks.md`.
//! - `cargo xtask fuzz --seconds N` — every fuzz target in `fuzz/` for N seconds
//!   (nightly, cargo-fuzz); `--seeds` regenerates the seed corpora.

mod bench;
mod fetch;
mod fuzz;
// A test of the docs, kept inside the binary: with no tests/ folder, `cargo test`
// builds xtask once (its test harness) rather than twice.
#[cfg(test)]
mod links;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "cs231n-rs project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Download or install a dataset, verified, into the data folder.
    FetchData(fetch::Args),
    /// Run the benchmarks and write docs/benchmarks.md.
    Bench(bench::Args),
    /// Run the fuzz targets N seconds each (nightly + cargo-fuzz), or write their seeds.
    Fuzz(fuzz::Args),
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().task {
        Task::FetchData(args) => fetch::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Fuzz(args) => fuzz::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
