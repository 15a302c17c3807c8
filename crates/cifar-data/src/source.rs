//! Which dataset a command runs on: `--dataset auto|cifar10|fashion-mnist|sample` with
//! `--data-dir`, resolved to a folder and a loader.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::cifar::{CIFAR10_DIR, FETCH_CIFAR};
use crate::error::fetch_hint;
use crate::idx::{FASHION_MNIST_DIR, FETCH_FASHION};
use crate::{DataError, Dataset, load_cifar10, load_fashion_mnist};

/// Name of the data folder inside the checkout (and the last-resort default, `./data`).
pub const DEFAULT_DATA_DIR: &str = "data";
/// Name of the bundled sample's folder inside the data folder.
pub const SAMPLE_DIR: &str = "sample";
/// The environment variable the commands read as `--data-dir` when that is not given.
pub const DATA_DIR_ENV: &str = "CS231N_DATA_DIR";

/// The data folder used when neither `--data-dir` nor [`DATA_DIR_ENV`] is given: the
/// `data` folder of the checkout these crates were built from, so `cs231n` and
/// `cargo xtask fetch-data` agree from any directory of the checkout; `./data` when
/// that checkout is gone (a binary copied elsewhere).
///
/// # Example
/// ```
/// let dir = cifar_data::default_data_dir();
/// assert!(dir.ends_with("data"));
/// // In a checkout it is absolute, whatever the current directory.
/// assert!(dir.is_absolute());
/// assert!(dir.join("sample").is_dir());
/// ```
pub fn default_data_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match root.canonicalize() {
        Ok(root) if root.join("Cargo.toml").is_file() => root.join(DEFAULT_DATA_DIR),
        _ => PathBuf::from(DEFAULT_DATA_DIR),
    }
}

/// The command that installs a dataset into `data_dir`: `base` as it is for the
/// default folder, with `--data-dir` added for any other, so the suggested command
/// fills the folder the user named.
///
/// # Example
/// ```
/// use cifar_data::{default_data_dir, fetch_command};
/// let base = "cargo xtask fetch-data";
/// assert_eq!(fetch_command(base, default_data_dir()), base);
/// assert_eq!(
///     fetch_command(base, "/srv/datasets"),
///     "cargo xtask fetch-data --data-dir /srv/datasets"
/// );
/// ```
pub fn fetch_command(base: &str, data_dir: impl AsRef<Path>) -> String {
    let data_dir = data_dir.as_ref();
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if same(data_dir, &default_data_dir()) {
        return base.to_owned();
    }
    let shown = data_dir.display().to_string();
    if shown.contains(char::is_whitespace) {
        format!("{base} --data-dir '{shown}'")
    } else {
        format!("{base} --data-dir {shown}")
    }
}

/// What the user asked for (`--dataset`).
///
/// # Example
/// ```
/// use cifar_data::DatasetChoice;
/// let c: DatasetChoice = "fashion-mnist".parse().unwrap();
/// assert_eq!(c, DatasetChoice::FashionMnist);
/// assert_eq!(c.to_string(), "fashion-mnist");
/// assert!("imagenet".parse::<DatasetChoice>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DatasetChoice {
    /// CIFAR-10 when it has been fetched, else the bundled sample.
    #[default]
    Auto,
    /// CIFAR-10 from `DATA_DIR/cifar-10-batches-bin`.
    Cifar10,
    /// Fashion-MNIST from `DATA_DIR/fashion-mnist`.
    FashionMnist,
    /// The bundled Fashion-MNIST sample (`data/sample`).
    Sample,
}

impl DatasetChoice {
    /// The accepted spellings, for help texts.
    pub const NAMES: [&'static str; 4] = ["auto", "cifar10", "fashion-mnist", "sample"];
}

impl FromStr for DatasetChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DatasetChoice::Auto),
            "cifar10" | "cifar-10" => Ok(DatasetChoice::Cifar10),
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" => Ok(DatasetChoice::FashionMnist),
            "sample" => Ok(DatasetChoice::Sample),
            _ => Err(format!(
                "unknown dataset '{s}' (expected one of: {})",
                Self::NAMES.join(", ")
            )),
        }
    }
}

impl fmt::Display for DatasetChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DatasetChoice::Auto => "auto",
            DatasetChoice::Cifar10 => "cifar10",
            DatasetChoice::FashionMnist => "fashion-mnist",
            DatasetChoice::Sample => "sample",
        })
    }
}

/// A concrete dataset on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// The CIFAR-10 binary release.
    Cifar10,
    /// Full Fashion-MNIST.
    FashionMnist,
    /// The bundled Fashion-MNIST sample.
    Sample,
}

impl DatasetKind {
    /// The name used in `--dataset` and in JSON summaries (`"cifar10"`, ...).
    ///
    /// # Example
    /// ```
    /// assert_eq!(cifar_data::DatasetKind::Sample.name(), "sample");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Sample => "sample",
        }
    }
}

impl DatasetKind {
    /// The name people read in figure titles and notices (`"CIFAR-10"`, ...).
    ///
    /// # Example
    /// ```
    /// assert_eq!(cifar_data::DatasetKind::Sample.title(), "Fashion-MNIST sample");
    /// ```
    pub fn title(self) -> &'static str {
        match self {
            DatasetKind::Cifar10 => "CIFAR-10",
            DatasetKind::FashionMnist => "Fashion-MNIST",
            DatasetKind::Sample => "Fashion-MNIST sample",
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The dataset a command will use: its kind, its folder, and whether `auto` fell back
/// to the sample (so the command can say so in one line).
///
/// # Example
/// ```
/// use cifar_data::{DataSource, DatasetChoice, DatasetKind};
/// let empty = tempfile::tempdir().unwrap();
/// // No CIFAR-10 fetched here: `auto` falls back to the bundled sample.
/// let src = DataSource::resolve(DatasetChoice::Auto, empty.path()).unwrap();
/// assert_eq!(src.kind, DatasetKind::Sample);
/// assert!(src.fell_back);
/// let (train, test) = src.load().unwrap();
/// assert_eq!((train.len(), test.len()), (5000, 1000));
/// // Asking for CIFAR-10 explicitly is an error that says how to get it, into that folder.
/// let err = DataSource::resolve(DatasetChoice::Cifar10, empty.path()).unwrap_err();
/// let fix = format!("cargo xtask fetch-data --data-dir {}", empty.path().display());
/// assert!(err.to_string().contains(&fix));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    /// Which dataset.
    pub kind: DatasetKind,
    /// The folder its files are in.
    pub dir: PathBuf,
    /// True when `auto` was asked and CIFAR-10 was not there.
    pub fell_back: bool,
    /// The data folder it was resolved in (named by the fetch command of the notice).
    pub data_dir: PathBuf,
}

impl DataSource {
    /// Resolves `--dataset` against `--data-dir`.
    ///
    /// - `auto`: CIFAR-10 when `data_dir/cifar-10-batches-bin` exists, else the sample.
    /// - `cifar10` / `fashion-mnist`: their folder in `data_dir`, or
    ///   [`DataError::MissingDir`] naming the fetch command.
    /// - `sample`: `data_dir/sample`, else the checkout's `data/sample`
    ///   ([`default_data_dir`]).
    ///
    /// Whether `data_dir` itself must exist is the caller's choice (the commands
    /// refuse a `--data-dir` that does not).
    pub fn resolve(choice: DatasetChoice, data_dir: impl AsRef<Path>) -> Result<Self, DataError> {
        let data_dir = data_dir.as_ref();
        let source = |kind, dir, fell_back| DataSource {
            kind,
            dir,
            fell_back,
            data_dir: data_dir.to_path_buf(),
        };
        match choice {
            DatasetChoice::Auto => {
                let cifar = data_dir.join(CIFAR10_DIR);
                if cifar.is_dir() {
                    Ok(source(DatasetKind::Cifar10, cifar, false))
                } else {
                    Ok(source(DatasetKind::Sample, find_sample(data_dir)?, true))
                }
            }
            DatasetChoice::Cifar10 => {
                let dir = data_dir.join(CIFAR10_DIR);
                if dir.is_dir() {
                    Ok(source(DatasetKind::Cifar10, dir, false))
                } else {
                    Err(DataError::MissingDir {
                        path: dir,
                        what: "CIFAR-10 folder (cifar-10-batches-bin)",
                        hint: fetch_hint(&fetch_command(FETCH_CIFAR, data_dir)),
                    })
                }
            }
            DatasetChoice::FashionMnist => {
                let dir = data_dir.join(FASHION_MNIST_DIR);
                if dir.is_dir() {
                    Ok(source(DatasetKind::FashionMnist, dir, false))
                } else {
                    Err(DataError::MissingDir {
                        path: dir,
                        what: "Fashion-MNIST folder",
                        hint: fetch_hint(&fetch_command(FETCH_FASHION, data_dir)),
                    })
                }
            }
            DatasetChoice::Sample => Ok(source(DatasetKind::Sample, find_sample(data_dir)?, false)),
        }
    }

    /// As [`resolve`](Self::resolve), unless the environment variable `var` names the
    /// dataset's folder: how the examples and benchmarks find data kept outside
    /// `data/` (e.g. `CIFAR10_DIR=/data/cifar-10-batches-bin`).
    ///
    /// # Example
    /// ```
    /// use cifar_data::{DataSource, DatasetChoice, DatasetKind};
    /// let src = DataSource::resolve_or_env(DatasetChoice::Sample, "data", "NO_SUCH_VARIABLE").unwrap();
    /// assert_eq!(src.kind, DatasetKind::Sample);
    /// ```
    pub fn resolve_or_env(
        choice: DatasetChoice,
        data_dir: impl AsRef<Path>,
        var: &str,
    ) -> Result<Self, DataError> {
        let Some(dir) = std::env::var_os(var) else {
            return DataSource::resolve(choice, data_dir);
        };
        let kind = match choice {
            DatasetChoice::Cifar10 | DatasetChoice::Auto => DatasetKind::Cifar10,
            DatasetChoice::FashionMnist => DatasetKind::FashionMnist,
            DatasetChoice::Sample => DatasetKind::Sample,
        };
        Ok(DataSource {
            kind,
            dir: dir.into(),
            fell_back: false,
            data_dir: data_dir.as_ref().to_path_buf(),
        })
    }

    /// Loads (train, test).
    pub fn load(&self) -> Result<(Dataset, Dataset), DataError> {
        match self.kind {
            DatasetKind::Cifar10 => load_cifar10(&self.dir),
            DatasetKind::FashionMnist | DatasetKind::Sample => load_fashion_mnist(&self.dir),
        }
    }

    /// A one-line notice saying which data is used (and, after a fallback, how to get
    /// CIFAR-10).
    ///
    /// # Example
    /// ```
    /// use cifar_data::{DataSource, DatasetChoice};
    /// let src = DataSource::resolve(DatasetChoice::Sample, "data").unwrap();
    /// assert!(src.notice().starts_with("using the bundled Fashion-MNIST sample"));
    /// ```
    pub fn notice(&self) -> String {
        let dir = self.dir.display();
        match (self.kind, self.fell_back) {
            (DatasetKind::Sample, true) => format!(
                "using the bundled Fashion-MNIST sample ({dir}): CIFAR-10 is not in the data folder; run `{}` to get it",
                fetch_command(FETCH_CIFAR, &self.data_dir)
            ),
            (DatasetKind::Sample, false) => {
                format!("using the bundled Fashion-MNIST sample ({dir})")
            }
            (DatasetKind::Cifar10, _) => format!("using CIFAR-10 ({dir})"),
            (DatasetKind::FashionMnist, _) => format!("using Fashion-MNIST ({dir})"),
        }
    }
}

/// The bundled sample: in the data folder, else in the checkout.
fn find_sample(data_dir: &Path) -> Result<PathBuf, DataError> {
    let candidates = [
        data_dir.join(SAMPLE_DIR),
        default_data_dir().join(SAMPLE_DIR),
    ];
    match candidates.iter().find(|d| d.is_dir()) {
        Some(dir) => Ok(dir.clone()),
        None => Err(DataError::MissingDir {
            path: candidates[0].clone(),
            what: "bundled sample folder (data/sample, part of the repository)",
            hint: "it is part of the repository: restore it with `git checkout -- data/sample`, or rebuild it with `cargo run -p cifar-data --example make_sample`".into(),
        }),
    }
}
