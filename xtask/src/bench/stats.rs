//! What the runs of a scenario measured, and their statistics: the median and the
//! spread of each implementation's runs.

/// Who ran a scenario.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Impl {
    /// This project.
    Ours,
    /// The course's numpy code (bench/peers/).
    Numpy,
    /// PyTorch on the CPU (bench/peers/).
    Torch,
}

impl Impl {
    /// Name in tables and on the peers' command line.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Ours => "ours",
            Impl::Numpy => "numpy",
            Impl::Torch => "torch",
        }
    }
}

/// One run's result.
pub enum Sample {
    /// Timed.
    Ok(Measured),
    /// Not applicable here (no data, no peer version).
    Skip(String),
    /// The run broke.
    Failed(String),
}

/// One timed run, as a child reports it.
#[derive(Clone, Copy)]
pub struct Measured {
    /// Seconds of the timed part.
    pub seconds: f64,
    /// Images processed (0: not applicable).
    pub images: f64,
    /// FLOPs of the products (0: not applicable).
    pub flops: f64,
    /// Peak resident memory of the process, KiB.
    pub peak_kib: f64,
}

impl Sample {
    /// Parses a child's JSON line.
    pub fn parse(line: &str) -> Sample {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return Sample::Failed(format!("unreadable result {line:?}: {e}")),
        };
        if let Some(why) = v.get("skip") {
            return Sample::Skip(why.as_str().unwrap_or("skipped").to_string());
        }
        let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
        match num("seconds") {
            Some(seconds) => Sample::Ok(Measured {
                seconds,
                images: num("images").unwrap_or(0.0),
                flops: num("flops").unwrap_or(0.0),
                peak_kib: num("peak_kib").unwrap_or(0.0),
            }),
            None => Sample::Failed(format!("result without seconds: {line}")),
        }
    }
}

/// All runs of one implementation on one scenario.
#[derive(Default)]
pub struct Runs {
    ok: Vec<Measured>,
    skip: Option<String>,
    failed: Option<String>,
}

/// Median, spread and per-run work of a set of runs.
pub struct Stats {
    /// Median seconds.
    pub median: f64,
    /// Fastest run.
    pub min: f64,
    /// Slowest run.
    pub max: f64,
    /// Runs.
    pub n: usize,
    /// Images per run.
    pub images: f64,
    /// FLOPs per run.
    pub flops: f64,
    /// Largest peak memory over the runs, KiB.
    pub peak_kib: f64,
}

impl Runs {
    /// Statistics, when at least one run was timed.
    pub fn stats(&self) -> Option<Stats> {
        if self.ok.is_empty() {
            return None;
        }
        let mut t: Vec<f64> = self.ok.iter().map(|m| m.seconds).collect();
        t.sort_by(f64::total_cmp);
        let n = t.len();
        let median = if n % 2 == 1 {
            t[n / 2]
        } else {
            0.5 * (t[n / 2 - 1] + t[n / 2])
        };
        Some(Stats {
            median,
            min: t[0],
            max: t[n - 1],
            n,
            images: self.ok[0].images,
            flops: self.ok[0].flops,
            peak_kib: self.ok.iter().map(|m| m.peak_kib).fold(0.0, f64::max),
        })
    }

    /// Why there is no figure, if there is none.
    pub fn missing(&self) -> Option<&str> {
        if !self.ok.is_empty() {
            return None;
        }
        self.failed.as_deref().or(self.skip.as_deref())
    }
}

/// One scenario's results for every implementation.
pub struct Row {
    /// Scenario name.
    pub name: &'static str,
    /// What it measures.
    pub about: &'static str,
    /// Ours, numpy, torch.
    pub runs: [Runs; 3],
}

fn slot(imp: Impl) -> usize {
    match imp {
        Impl::Ours => 0,
        Impl::Numpy => 1,
        Impl::Torch => 2,
    }
}

impl Row {
    /// An empty row.
    pub fn new(name: &'static str, about: &'static str) -> Row {
        Row {
            name,
            about,
            runs: Default::default(),
        }
    }

    /// Records one run.
    pub fn push(&mut self, imp: Impl, s: Sample) {
        let r = &mut self.runs[slot(imp)];
        match s {
            Sample::Ok(m) => r.ok.push(m),
            Sample::Skip(why) => r.skip = Some(why),
            Sample::Failed(why) => r.failed = Some(why),
        }
    }

    /// Whether `imp` said it cannot run this scenario (no need to ask again).
    pub fn skipped(&self, imp: Impl) -> bool {
        self.runs[slot(imp)].skip.is_some()
    }

    /// Whether any implementation failed (as opposed to skipping).
    pub fn any_failed(&self) -> bool {
        self.runs.iter().any(|r| r.failed.is_some())
    }

    /// The runs of `imp`.
    pub fn of(&self, imp: Impl) -> &Runs {
        &self.runs[slot(imp)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let mut r = Runs::default();
        for s in [3.0, 1.0, 2.0, 10.0] {
            r.ok.push(Measured {
                seconds: s,
                images: 5.0,
                flops: 0.0,
                peak_kib: s,
            });
        }
        let st = r.stats().unwrap();
        assert_eq!(
            (st.median, st.min, st.max, st.peak_kib),
            (2.5, 1.0, 10.0, 10.0)
        );
    }

    #[test]
    fn parses_child_lines() {
        assert!(
            matches!(Sample::parse(r#"{"skip":"no data"}"#), Sample::Skip(s) if s == "no data")
        );
        assert!(matches!(Sample::parse("{\"images\":1}"), Sample::Failed(_)));
        match Sample::parse(r#"{"seconds":0.5,"images":10,"flops":0,"peak_kib":2048}"#) {
            Sample::Ok(m) => assert_eq!((m.seconds, m.images, m.peak_kib), (0.5, 10.0, 2048.0)),
            _ => panic!("expected a measurement"),
        }
    }
}
