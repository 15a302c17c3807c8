//! What every subcommand starts from: the global options turned into a dataset, an
//! output folder, a seed and a reporter.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cifar_data::{DataSource, Dataset};

use crate::args::Global;
use crate::error::{CliError, Result};
use crate::output::{Reporter, round};

/// The run's context.
#[derive(Debug)]
pub struct Ctx {
    /// The global options as given.
    pub global: Global,
    /// Human text and the JSON summary.
    pub report: Reporter,
}

/// A loaded dataset with where it came from.
#[derive(Debug)]
pub struct Loaded {
    /// Which dataset and folder.
    pub source: DataSource,
    /// The training images as published.
    pub train: Dataset,
    /// The test images as published.
    pub test: Dataset,
}

impl Ctx {
    /// Sets the thread count (before any parallel work) and starts the clock.
    pub fn new(global: Global) -> Self {
        if let Some(n) = global.threads {
            numeric::set_threads(n);
        }
        let mut report = Reporter::new(global.json);
        report.set("threads", numeric::threads());
        Ctx { global, report }
    }

    /// True when progress bars must stay hidden.
    pub fn quiet(&self) -> bool {
        self.global.json
    }

    /// The seed of the run.
    pub fn seed(&self) -> u64 {
        self.global.seed
    }

    /// Resolves `--dataset`/`--data-dir`, says which dataset is used (one line on
    /// stderr), loads it and records `dataset` in the summary.
    pub fn load(&mut self) -> Result<Loaded> {
        let source = DataSource::resolve(self.global.dataset, &self.global.data_dir)?;
        self.report.notice(source.notice());
        self.report.set("dataset", source.kind.name());
        let t = Instant::now();
        let (train, test) = source.load()?;
        self.report
            .set("load_seconds", round(t.elapsed().as_secs_f64(), 4));
        Ok(Loaded {
            source,
            train,
            test,
        })
    }

    /// The output folder, created if needed.
    pub fn out_dir(&self) -> Result<PathBuf> {
        let dir = self.global.out.clone();
        std::fs::create_dir_all(&dir).map_err(|e| CliError::io(&dir, e))?;
        Ok(dir)
    }

    /// Path of `name` in the output folder (created).
    pub fn out_file(&self, name: &str) -> Result<PathBuf> {
        Ok(self.out_dir()?.join(name))
    }

    /// Records a written file in the summary (`files`) and tells the user.
    pub fn wrote(&mut self, what: &str, path: &Path) {
        self.report.say(format!("wrote {what}: {}", path.display()));
        self.report.add_file(path.display().to_string());
    }
}
