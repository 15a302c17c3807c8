//! The `cs231n` command: the CS231n pipeline from the shell, one subcommand per
//! classifier (`knn`, `svm`, `softmax`, `nn`, `cnn`), plus `info`, `show`, `backprop`
//! and `predict`. See docs/cli.md.

mod args;
mod commands;
mod ctx;
mod error;
mod image_grid;
mod imageio;
mod model_check;
mod model_file;
mod output;
mod plot;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::ctx::Ctx;
use crate::error::Result;

fn main() -> ExitCode {
    numeric::tune_allocator();
    let cli = Cli::parse();
    let mut ctx = Ctx::new(cli.global.clone(), cli.command.default_precision());
    match dispatch(&mut ctx, &cli.command) {
        Ok(()) => {
            ctx.report.finish();
            ExitCode::SUCCESS
        }
        Err(e) => {
            if e.keeps_summary() {
                ctx.report.finish();
            }
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(ctx: &mut Ctx, command: &Command) -> Result<()> {
    if command.writes_files() {
        ctx.check_out()?;
    }
    match command {
        Command::Info => commands::info::run(ctx),
        Command::Show(a) => commands::show::run(ctx, a),
        Command::Knn(a) => commands::knn::run(ctx, a),
        Command::Svm(a) => commands::linear::run(ctx, a, linear::Loss::Svm),
        Command::Softmax(a) => commands::linear::run(ctx, a, linear::Loss::Softmax),
        Command::Predict(a) => commands::predict::run(ctx, a),
        Command::Backprop(a) => commands::backprop::run(ctx, a),
        Command::Nn(a) => commands::net::run_nn(ctx, a),
        Command::Cnn(a) => commands::net::run_cnn(ctx, a),
        Command::Speedrun(a) => commands::speedrun::run(ctx, a),
    }
}
