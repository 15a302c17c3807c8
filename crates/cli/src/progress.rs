//! Progress bars (indicatif) on stderr, hidden under `--json` and when stderr is not a
//! terminal, so logs and scripts see only the final lines.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps labelled `what`, with the given unit shown after the counts
/// (e.g. "images", "iters"). Hidden when `quiet`.
pub fn bar(len: u64, what: &str, unit: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), target(quiet));
    let template = format!(
        "{{prefix:>10.bold}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{percent:>3}}% {{per_sec}} eta {{eta}} {{msg}}"
    );
    pb.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_owned());
    pb.enable_steady_tick(Duration::from_millis(250));
    pb
}

/// A spinner for steps of unknown length (loading, searching).
pub fn spinner(what: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, target(quiet));
    pb.set_style(
        ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_prefix(what.to_owned());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn target(quiet: bool) -> ProgressDrawTarget {
    if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}
