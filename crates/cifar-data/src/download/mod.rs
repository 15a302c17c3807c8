//! Fetch, verify and unpack the official datasets (feature `download`).
//!
//! The one rule: nothing that looks like a dataset folder appears in the data folder
//! until it has been downloaded (or copied), checksummed, unpacked, and loaded
//! successfully. All work happens in a temporary `.fetch-*` folder *inside* the data
//! folder (same file system), and the finished folder is renamed into place — an
//! interrupted or corrupt download leaves at most that hidden temporary folder.
//!
//! Unpacking accepts only regular files and folders with relative paths free of `..`:
//! symlinks, hard links, devices, absolute paths and `..` reject the whole archive.

//!
//! The three steps live in their own files: `fetching.rs` gets the files (download,
//! local copy), `verify.rs` checks them (checksums, then a full load), `unpack.rs`
//! opens the archive. This file holds the public types and [`fetch`], which runs
//! the steps in order.

mod error;
mod fetching;
mod unpack;
mod verify;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use error::FetchError;
pub use unpack::unpack_archive;
pub use verify::{ChecksumReport, InstalledFile};

use error::io_err;
use fetching::{stage_cifar10, stage_fashion};
use verify::validate;

use crate::{CIFAR10_DIR, FASHION_MNIST_DIR};

/// Official location of the CIFAR-10 binary release (folder; the archive name is appended).
pub const CIFAR10_BASE_URL: &str = "https://www.cs.toronto.edu/~kriz/";
/// Name of the official CIFAR-10 binary archive.
pub const CIFAR10_ARCHIVE: &str = "cifar-10-binary.tar.gz";
/// The official MD5 of [`CIFAR10_ARCHIVE`], as published on the CIFAR page.
pub const CIFAR10_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
/// Official location of the Fashion-MNIST files (Zalando's bucket).
pub const FASHION_MNIST_BASE_URL: &str =
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
/// The four Fashion-MNIST files and their official MD5s, as published in its README.
pub const FASHION_MNIST_MD5: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "25c81989df183df01b3e8a0aad5dffbe",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "bef4ecab320f06d8554ea6380940ec79",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
];

/// A dataset that can be fetched.
///
/// # Example
/// ```
/// use cifar_data::download::FetchDataset;
/// assert_eq!("fashion-mnist".parse::<FetchDataset>().unwrap(), FetchDataset::FashionMnist);
/// assert_eq!(FetchDataset::Cifar10.dir_name(), "cifar-10-batches-bin");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FetchDataset {
    /// CIFAR-10, binary release (one `.tar.gz`).
    #[default]
    Cifar10,
    /// Fashion-MNIST (four `.gz` IDX files).
    FashionMnist,
}

impl FetchDataset {
    /// The folder it is installed to inside the data folder.
    pub fn dir_name(self) -> &'static str {
        match self {
            FetchDataset::Cifar10 => CIFAR10_DIR,
            FetchDataset::FashionMnist => FASHION_MNIST_DIR,
        }
    }

    /// The official URL and checksums.
    ///
    /// # Example
    /// ```
    /// use cifar_data::download::FetchDataset;
    /// let r = FetchDataset::Cifar10.official();
    /// assert_eq!(r.url(&r.files[0].name), "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");
    /// ```
    pub fn official(self) -> Remote {
        let file = |name: &str, md5: &str| RemoteFile {
            name: name.into(),
            md5: md5.into(),
        };
        match self {
            FetchDataset::Cifar10 => Remote {
                base_url: CIFAR10_BASE_URL.into(),
                files: vec![file(CIFAR10_ARCHIVE, CIFAR10_MD5)],
            },
            FetchDataset::FashionMnist => Remote {
                base_url: FASHION_MNIST_BASE_URL.into(),
                files: FASHION_MNIST_MD5.iter().map(|(n, m)| file(n, m)).collect(),
            },
        }
    }
}

impl FromStr for FetchDataset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cifar10" | "cifar-10" => Ok(FetchDataset::Cifar10),
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" => Ok(FetchDataset::FashionMnist),
            _ => Err(format!(
                "unknown dataset '{s}' (expected cifar10 or fashion-mnist)"
            )),
        }
    }
}

impl fmt::Display for FetchDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FetchDataset::Cifar10 => "cifar10",
            FetchDataset::FashionMnist => "fashion-mnist",
        })
    }
}

/// One file to fetch and its expected MD5 (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name, appended to the base URL.
    pub name: String,
    /// Expected MD5.
    pub md5: String,
}

/// Where a dataset's files live and their checksums: the official ones by default,
/// replaceable for a mirror or a test server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// URL of the folder holding the files (a trailing `/` is added when missing).
    pub base_url: String,
    /// The files.
    pub files: Vec<RemoteFile>,
}

impl Remote {
    /// The URL of one file.
    pub fn url(&self, name: &str) -> String {
        if self.base_url.ends_with('/') {
            format!("{}{name}", self.base_url)
        } else {
            format!("{}/{name}", self.base_url)
        }
    }
}

/// What [`fetch`] does.
///
/// # Example
/// ```
/// use cifar_data::download::{FetchDataset, FetchOptions};
/// let opts = FetchOptions::new(FetchDataset::Cifar10, "data");
/// assert!(opts.from.is_none() && !opts.allow_checksum_mismatch);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Which dataset.
    pub dataset: FetchDataset,
    /// The data folder (the dataset goes into a sub-folder of it).
    pub data_dir: PathBuf,
    /// Where to download from (official by default).
    pub remote: Remote,
    /// Install from a local archive or folder instead of downloading.
    pub from: Option<PathBuf>,
    /// Install even when the checksum differs from `remote`'s (or cannot be checked).
    pub allow_checksum_mismatch: bool,
}

impl FetchOptions {
    /// Official source, no local copy, checksums enforced.
    pub fn new(dataset: FetchDataset, data_dir: impl Into<PathBuf>) -> Self {
        FetchOptions {
            dataset,
            data_dir: data_dir.into(),
            remote: dataset.official(),
            from: None,
            allow_checksum_mismatch: false,
        }
    }
}

/// Receives progress: byte counts for the bar, and one-line notes for the user.
/// Every method has a do-nothing default; `()` is the silent implementation.
pub trait Progress {
    /// A transfer (download, copy or checksum pass) of `total` bytes (when known) starts.
    fn begin(&mut self, _what: &str, _total: Option<u64>) {}
    /// `bytes` more bytes went through.
    fn advance(&mut self, _bytes: u64) {}
    /// The transfer ended.
    fn end(&mut self) {}
    /// Something the user should read (checksum verdicts, what was installed).
    fn note(&mut self, _message: &str) {}
}

impl Progress for () {}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The dataset was already there and loads: nothing was done.
    AlreadyPresent {
        /// Its folder.
        dir: PathBuf,
    },
    /// The dataset was installed.
    Installed {
        /// Its folder.
        dir: PathBuf,
        /// The files, validated.
        files: Vec<InstalledFile>,
        /// Checksum verdicts (empty for a folder of files without official checksums).
        checksums: Vec<ChecksumReport>,
        /// Training / test examples.
        counts: (usize, usize),
    },
}

/// Installs a dataset into `opts.data_dir`: downloads it (or takes `opts.from`),
/// verifies checksums, unpacks safely, checks that it loads, and renames it into place.
/// Does nothing when the dataset is already there and loads.
///
/// # Example
/// ```
/// use cifar_data::download::{fetch, FetchDataset, FetchOptions, FetchOutcome};
/// use cifar_data::{load_fashion_mnist, write_mnist, DataSource, DatasetChoice};
/// // Install Fashion-MNIST offline from a folder (here: the bundled sample).
/// let sample = DataSource::resolve(DatasetChoice::Sample, "data").unwrap().dir;
/// let data = tempfile::tempdir().unwrap();
/// let mut opts = FetchOptions::new(FetchDataset::FashionMnist, data.path());
/// opts.from = Some(sample);
/// // The sample's files are not the official ones: refused unless allowed.
/// assert!(fetch(&opts, &mut ()).is_err());
/// opts.allow_checksum_mismatch = true;
/// let outcome = fetch(&opts, &mut ()).unwrap();
/// assert!(matches!(outcome, FetchOutcome::Installed { counts: (5000, 1000), .. }));
/// assert!(matches!(fetch(&opts, &mut ()).unwrap(), FetchOutcome::AlreadyPresent { .. }));
/// ```
pub fn fetch(opts: &FetchOptions, progress: &mut dyn Progress) -> Result<FetchOutcome, FetchError> {
    let target = opts.data_dir.join(opts.dataset.dir_name());
    if target.exists() {
        return match validate(opts.dataset, &target) {
            Ok(_) => Ok(FetchOutcome::AlreadyPresent { dir: target }),
            Err(e) => Err(FetchError::Existing {
                path: target,
                reason: e.to_string(),
            }),
        };
    }
    std::fs::create_dir_all(&opts.data_dir).map_err(io_err(&opts.data_dir))?;
    remove_stale_staging(&opts.data_dir, STALE_STAGING_AGE, progress);
    let staging = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&opts.data_dir)
        .map_err(io_err(&opts.data_dir))?;
    let staged = staging.path().join(opts.dataset.dir_name());
    let checksums = match opts.dataset {
        FetchDataset::Cifar10 => stage_cifar10(opts, staging.path(), &staged, progress)?,
        FetchDataset::FashionMnist => stage_fashion(opts, staging.path(), &staged, progress)?,
    };
    let (files, counts) = validate(opts.dataset, &staged)?;
    if target.exists() {
        return Err(FetchError::Layout {
            path: target,
            reason: "appeared while fetching (another fetch running?); nothing was changed".into(),
        });
    }
    std::fs::rename(&staged, &target).map_err(io_err(&target))?;
    drop(staging);
    Ok(FetchOutcome::Installed {
        dir: target,
        files,
        checksums,
        counts,
    })
}

/// How old a `.fetch-*` folder must be before a new fetch deletes it as the leftover
/// of a killed run. A fetch takes minutes, so a second fetch started beside a live
/// one does not take its folder away.
pub const STALE_STAGING_AGE: Duration = Duration::from_secs(6 * 60 * 60);

/// Deletes `.fetch-*` folders in `data_dir` untouched for longer than `max_age`:
/// what a fetch killed mid-way (power cut, `kill -9`) leaves behind, since its own
/// clean-up never ran. Returns how many were removed; failures are only noted, as
/// they cannot harm the fetch that follows.
///
/// # Example
/// ```
/// use std::time::Duration;
/// let data = tempfile::tempdir().unwrap();
/// std::fs::create_dir(data.path().join(".fetch-abc123")).unwrap();
/// std::fs::create_dir(data.path().join("cifar-10-batches-bin")).unwrap();
/// let removed = cifar_data::download::remove_stale_staging(data.path(), Duration::ZERO, &mut ());
/// assert_eq!(removed, 1);
/// assert!(data.path().join("cifar-10-batches-bin").exists());
/// ```
pub fn remove_stale_staging(
    data_dir: &Path,
    max_age: Duration,
    progress: &mut dyn Progress,
) -> usize {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_staging = entry.file_name().to_string_lossy().starts_with(".fetch-")
            && entry.file_type().is_ok_and(|t| t.is_dir());
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if !is_staging || age.is_none_or(|age| age < max_age) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {
                removed += 1;
                progress.note(&format!(
                    "removed {} (left by an interrupted fetch)",
                    path.display()
                ));
            }
            Err(e) => progress.note(&format!("could not remove {}: {e}", path.display())),
        }
    }
    removed
}
