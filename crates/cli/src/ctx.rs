//! What every subcommand starts from: the global options turned into a dataset, an
//! output folder, a seed and a reporter.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cifar_data::{DataSource, Dataset, DatasetKind, Preprocess, Splits, preprocess};

use crate::args::{Global, SplitArgs};
use crate::error::{CliError, Result};
use crate::output::{Reporter, round};
use crate::progress;

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
    /// Sets the thread count (before any parallel work) and the precision of f32
    /// products (`--matmul-precision`, else the command's `default_precision`), and
    /// starts the clock.
    pub fn new(global: Global, default_precision: numeric::MatmulPrecision) -> Self {
        if let Some(n) = global.threads {
            numeric::set_threads(n);
        }
        let requested = global.matmul_precision.unwrap_or(default_precision);
        let precision = numeric::set_matmul_precision(requested);
        let mut report = Reporter::new(global.json);
        report.set("threads", numeric::threads());
        // The precision in force, which is f32 on a CPU without AVX512_BF16.
        report.set("matmul_precision", precision.name());
        // Only a precision asked for on the command line is worth a notice.
        if global.matmul_precision.is_some() && precision != requested {
            report.notice(format!(
                "--matmul-precision {requested}: this CPU has no AVX512_BF16, products stay {precision}"
            ));
        }
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
        let source = DataSource::resolve(self.global.dataset, self.data_dir()?)?;
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

    /// Loads the dataset ([`load`](Self::load)) and makes the course's splits of the
    /// sizes `splits` asks for, prepared as `prep` says (its sizes and seed are set
    /// here); says so when the splits had to shrink to the data.
    pub fn load_splits(
        &mut self,
        splits: &SplitArgs,
        prep: Preprocess,
    ) -> Result<(Splits<f32>, DatasetKind)> {
        let data = self.load()?;
        let cfg = Preprocess {
            sizes: splits.sizes(data.test.len()),
            seed: self.seed(),
            ..prep
        };
        let spin = progress::spinner("preprocessing", self.quiet());
        let sp = preprocess::<f32>(&data.train, &data.test, &cfg)?;
        spin.finish_and_clear();
        if sp.clamped {
            self.report.notice(format!(
                "splits shrunk to the data: {} train / {} val / {} test",
                sp.sizes.num_training, sp.sizes.num_validation, sp.sizes.num_test
            ));
        }
        Ok((sp, data.source.kind))
    }

    /// The data folder: `--data-dir` (or its environment variable), which must exist,
    /// else the checkout's `data/` ([`cifar_data::default_data_dir`]).
    pub fn data_dir(&self) -> Result<PathBuf> {
        match &self.global.data_dir {
            None => Ok(cifar_data::default_data_dir()),
            Some(dir) if dir.is_dir() => Ok(dir.clone()),
            Some(dir) => Err(CliError::DataDir {
                path: dir.clone(),
                problem: if dir.exists() {
                    "is not a folder"
                } else {
                    "does not exist"
                },
            }),
        }
    }

    /// Checks that `--out` can take files before any work is done: it is a folder (or
    /// one can be created there) and a file can be written in it. Creates it.
    pub fn check_out(&self) -> Result<()> {
        let dir = &self.global.out;
        let out_err = |problem: String| CliError::Out {
            path: dir.clone(),
            problem,
        };
        // The nearest part of the path that exists says what is wrong with it.
        if let Some(file) = dir.ancestors().find(|p| p.exists() && !p.is_dir()) {
            return Err(out_err(if file == dir.as_path() {
                "is a file, not a folder".into()
            } else {
                format!(
                    "{} is a file, so no folder can be made in it",
                    file.display()
                )
            }));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| out_err(format!("cannot create this folder ({e})")))?;
        let probe = dir.join(format!(".cs231n-write-check-{}", std::process::id()));
        std::fs::write(&probe, b"")
            .map_err(|e| out_err(format!("cannot write files in this folder ({e})")))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
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
