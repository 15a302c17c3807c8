//! Progress bars (indicatif) on stderr, hidden under `--json` and when stderr is not a
//! terminal, so logs and scripts see only the final lines.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A bar of `len` steps labelled `what`, with the given unit shown after the counts and
/// in the rate (e.g. "images", "trials"). Hidden when `quiet`.
///
/// The rate is rounded for reading (`4,088 images/s`, `0.43 trials/s`) and the time
/// left appears once a step has been timed (no `eta 0s` at 0%).
pub fn bar(len: u64, what: &str, unit: &str, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(len), target(quiet));
    let template = format!(
        "{{prefix:>10.bold}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{percent:>3}}% {{rate}} {{left}} {{msg}}"
    );
    let unit = unit.to_owned();
    let style = ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                if s.pos() > 0 {
                    let _ = w.write_str(&rate_text(s.per_sec(), &unit));
                }
            },
        )
        .with_key("left", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&left_text(s.pos(), s.eta()));
        })
        .progress_chars("=> ");
    pb.set_style(style);
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

/// A rate as a person reads it: whole numbers with thousands separators from 100 up,
/// one decimal from 10, two below (`4,088 images/s`, `12.5 iters/s`, `0.43 trials/s`).
pub fn rate_text(per_sec: f64, unit: &str) -> String {
    let number = if !per_sec.is_finite() {
        "-".to_owned()
    } else if per_sec >= 99.5 {
        thousands(per_sec.round() as u64)
    } else if per_sec >= 9.95 {
        format!("{per_sec:.1}")
    } else {
        format!("{per_sec:.2}")
    };
    format!("{number} {unit}/s")
}

/// The time left, once `pos` steps have been timed (indicatif's estimate is 0 before).
fn left_text(pos: u64, eta: Duration) -> String {
    if pos == 0 {
        String::new()
    } else {
        format!("eta {:#}", HumanDuration(eta))
    }
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn target(quiet: bool) -> ProgressDrawTarget {
    if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_rounded_for_reading() {
        assert_eq!(rate_text(4087.9478, "images"), "4,088 images/s");
        assert_eq!(rate_text(1_234_567.0, "images"), "1,234,567 images/s");
        assert_eq!(rate_text(99.96, "iters"), "100 iters/s");
        assert_eq!(rate_text(12.46, "iters"), "12.5 iters/s");
        assert_eq!(rate_text(0.4326, "trials"), "0.43 trials/s");
        assert_eq!(rate_text(f64::INFINITY, "trials"), "- trials/s");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }

    #[test]
    fn no_eta_before_the_first_step() {
        assert_eq!(left_text(0, Duration::ZERO), "");
        assert_eq!(left_text(3, Duration::from_secs(75)), "eta 75s");
        assert_eq!(left_text(3, Duration::from_secs(4)), "eta 4s");
    }
}
