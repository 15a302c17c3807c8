//! Where text goes: human lines on stdout (stderr under `--json`), notices on stderr,
//! and the one JSON summary object on stdout.

use std::io::Write;
use std::time::Instant;

use serde_json::{Map, Value};

/// The run's voice: prints human text where it belongs and collects the summary.
#[derive(Debug)]
pub struct Reporter {
    json: bool,
    started: Instant,
    summary: Map<String, Value>,
}

impl Reporter {
    /// Starts the clock of `total_seconds`.
    pub fn new(json: bool) -> Self {
        Reporter {
            json,
            started: Instant::now(),
            summary: Map::new(),
        }
    }

    /// One line of the run's human output (stdout, or stderr under `--json`), flushed
    /// at once so that a pipe sees each line when it is said, not at exit.
    pub fn say(&self, line: impl AsRef<str>) {
        if self.json {
            eprintln!("{}", line.as_ref());
        } else {
            let mut out = std::io::stdout().lock();
            // A closed stdout (`| head`) is not worth a panic.
            let _ = writeln!(out, "{}", line.as_ref());
            let _ = out.flush();
        }
    }

    /// A notice about the run itself (which dataset, a missing tool): always stderr.
    pub fn notice(&self, line: impl AsRef<str>) {
        eprintln!("{}", line.as_ref());
    }

    /// Adds (or replaces) a field of the JSON summary.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.summary.insert(key.to_owned(), value.into());
    }

    /// Appends a written file to the summary's `files` list.
    pub fn add_file(&mut self, path: String) {
        match self.summary.get_mut("files") {
            Some(Value::Array(files)) => files.push(path.into()),
            _ => {
                self.summary
                    .insert("files".into(), Value::Array(vec![path.into()]));
            }
        }
    }

    /// Seconds since the command started.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Finishes the run: under `--json`, prints the summary (with `total_seconds`) as
    /// one line on stdout. Returns the summary for tests.
    pub fn finish(mut self) -> Map<String, Value> {
        let total = self.elapsed();
        self.set("total_seconds", round(total, 4));
        if self.json {
            let mut out = std::io::stdout().lock();
            // A closed stdout (`| head`) is not worth a panic.
            let _ = writeln!(out, "{}", Value::Object(self.summary.clone()));
        }
        self.summary
    }
}

/// Rounds to `digits` decimals, so the JSON stays readable.
pub fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// A hyper-parameter in the course's scientific notation, with zero as plain `0`
/// (`1e-7`, `2.5e4`, `0`, not `0e0`).
pub fn sci(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        format!("{x:e}")
    }
}

/// Formats a fraction as a percentage with one decimal ("26.0%").
pub fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A simple text table: left-aligned first column, right-aligned others.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate().take(cols) {
            if i > 0 {
                s.push_str("  ");
            }
            if i == 0 {
                s.push_str(&format!("{cell:<w$}", w = width[i]));
            } else {
                s.push_str(&format!("{cell:>w$}", w = width[i]));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    out.push_str(&"-".repeat(width.iter().sum::<usize>() + 2 * (cols.saturating_sub(1))));
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_carries_total_seconds() {
        let mut r = Reporter::new(false);
        r.set("dataset", "sample");
        r.add_file("a.png".into());
        r.add_file("b.png".into());
        let s = r.finish();
        assert_eq!(s["files"], serde_json::json!(["a.png", "b.png"]));
        assert_eq!(s["dataset"], "sample");
        assert!(s["total_seconds"].as_f64().unwrap() >= 0.0);
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["k", "accuracy"],
            &[
                vec!["1".into(), "0.26".into()],
                vec!["100".into(), "0.2".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "k    accuracy");
        assert_eq!(lines[2], "1        0.26");
        assert_eq!(lines[3], "100       0.2");
    }

    #[test]
    fn rounding_and_percent() {
        assert_eq!(round(0.123456, 3), 0.123);
        assert_eq!(percent(0.26), "26.0%");
        assert_eq!(sci(0.0), "0");
        assert_eq!(sci(1e-7), "1e-7");
        assert_eq!(sci(2.5e4), "2.5e4");
    }
}
