//! `cargo xtask bench`.

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the task.
pub fn run(_args: Args) -> Result<(), Box<dyn std::error::Error>> {
    Err("not implemented yet".into())
}
