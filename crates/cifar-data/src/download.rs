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

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use md5::{Digest, Md5};
use sha2::Sha256;

use crate::{
    CIFAR10_DIR, CIFAR10_META_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, DataError, Dataset,
    FASHION_MNIST_DIR, MNIST_FILES, load_cifar10, load_fashion_mnist,
};

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

/// A checksum verdict for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumReport {
    /// File name.
    pub file: String,
    /// The MD5 expected (official unless the remote was replaced).
    pub expected_md5: String,
    /// The MD5 computed.
    pub md5: String,
    /// The SHA-256 computed, for the record.
    pub sha256: String,
}

impl ChecksumReport {
    /// True when the MD5 is the expected one.
    pub fn matches(&self) -> bool {
        self.md5.eq_ignore_ascii_case(&self.expected_md5)
    }
}

/// One installed file: name, size, and how many records (images or labels) it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledFile {
    /// File name inside the dataset folder.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Examples it holds.
    pub records: usize,
}

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

/// Everything that can stop a fetch. Whatever the error, the data folder holds no new
/// dataset folder afterwards.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The server answered with an HTTP error.
    #[error(
        "{url}: HTTP {status}; check the URL or try again later (or install a local copy with --from)"
    )]
    Http {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The connection failed or broke off.
    #[error("{url}: {message}; check the network (or install a local copy with --from)")]
    Network {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server sent fewer bytes than it announced.
    #[error("{url}: download truncated, {received} of {expected} bytes received; try again")]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// The file is not the one expected.
    #[error(
        "{file}: MD5 {actual} differs from the official {expected}; the file is corrupt or not the official release (pass --allow-checksum-mismatch to install it anyway)"
    )]
    ChecksumMismatch {
        /// The file.
        file: String,
        /// Expected MD5.
        expected: String,
        /// Computed MD5.
        actual: String,
    },
    /// A local folder has no official checksum to compare with.
    #[error("{}: a folder of files has no official checksum to verify; pass --allow-checksum-mismatch to install it after layout checks", path.display())]
    Unverifiable {
        /// The folder.
        path: PathBuf,
    },
    /// The archive contains an entry that could write outside its folder or is not a
    /// plain file or folder.
    #[error("{}: refusing to unpack entry '{entry}': {reason}; the archive is rejected and nothing was installed", archive.display())]
    UnsafeEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's path as stored.
        entry: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The archive is not a readable (gzip-compressed) tar file.
    #[error("{}: not a readable tar(.gz) archive: {source}; it is truncated or corrupt, fetch it again", path.display())]
    Archive {
        /// The archive.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The files do not have the dataset's layout.
    #[error("{}: {reason}", path.display())]
    Layout {
        /// Where they were looked for.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The files are there but do not load (bad record sizes, labels, magic numbers...).
    #[error("the fetched files do not load: {0}")]
    Invalid(#[from] DataError),
    /// A dataset folder already exists but does not load.
    #[error("{}: already exists but does not load ({reason}); remove it and run again", path.display())]
    Existing {
        /// The folder.
        path: PathBuf,
        /// The load error.
        reason: String,
    },
    /// An operating-system error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
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

/// Gets the CIFAR-10 archive (download, local archive, or local folder) into `staged`.
fn stage_cifar10(
    opts: &FetchOptions,
    staging: &Path,
    staged: &Path,
    progress: &mut dyn Progress,
) -> Result<Vec<ChecksumReport>, FetchError> {
    let file = opts
        .remote
        .files
        .first()
        .ok_or_else(|| FetchError::Layout {
            path: PathBuf::from(&opts.remote.base_url),
            reason: "the remote lists no file".into(),
        })?;
    let (archive, report) = match &opts.from {
        Some(from) if from.is_dir() => {
            let src =
                find_dir_with(from, CIFAR10_TEST_FILE, 2).ok_or_else(|| FetchError::Layout {
                    path: from.clone(),
                    reason: format!(
                        "no {CIFAR10_DIR} folder (with {CIFAR10_TEST_FILE}) found in it"
                    ),
                })?;
            progress.note(&format!(
                "{}: a folder has no official checksum; checking its layout and records instead",
                src.display()
            ));
            if !opts.allow_checksum_mismatch {
                return Err(FetchError::Unverifiable { path: src });
            }
            std::fs::create_dir_all(staged).map_err(io_err(staged))?;
            let names = CIFAR10_TRAIN_FILES
                .iter()
                .chain([&CIFAR10_TEST_FILE, &CIFAR10_META_FILE]);
            for name in names {
                copy_with_progress(&src.join(name), &staged.join(name), progress)?;
            }
            return Ok(Vec::new());
        }
        Some(from) => {
            let report = checksum_file(from, &file.md5, progress)?;
            (from.clone(), report)
        }
        None => {
            let dest = staging.join(&file.name);
            let report = download(&opts.remote.url(&file.name), &dest, file, progress)?;
            (dest, report)
        }
    };
    check_report(&report, opts.allow_checksum_mismatch, progress)?;
    let unpacked = staging.join("unpacked");
    unpack_archive(&archive, &unpacked)?;
    let src = find_dir_with(&unpacked, CIFAR10_TEST_FILE, 3).ok_or_else(|| FetchError::Layout {
        path: archive.clone(),
        reason: format!("the archive holds no {CIFAR10_DIR} folder with {CIFAR10_TEST_FILE}"),
    })?;
    std::fs::rename(&src, staged).map_err(io_err(staged))?;
    Ok(vec![report])
}

/// Gets the four Fashion-MNIST files (download, local folder, or local archive).
fn stage_fashion(
    opts: &FetchOptions,
    staging: &Path,
    staged: &Path,
    progress: &mut dyn Progress,
) -> Result<Vec<ChecksumReport>, FetchError> {
    std::fs::create_dir_all(staged).map_err(io_err(staged))?;
    let src_dir = match &opts.from {
        None => None,
        Some(from) if from.is_dir() => Some(from.clone()),
        Some(from) => {
            let unpacked = staging.join("unpacked");
            unpack_archive(from, &unpacked)?;
            Some(unpacked)
        }
    };
    let src_dir = match src_dir {
        Some(d) => {
            let first = &opts.remote.files[0].name;
            Some(
                find_dir_with(&d, first, 3).ok_or_else(|| FetchError::Layout {
                    path: opts.from.clone().unwrap_or(d),
                    reason: format!("no folder holding {first} found"),
                })?,
            )
        }
        None => None,
    };
    let mut reports = Vec::new();
    for file in &opts.remote.files {
        let dest = staged.join(&file.name);
        let report = match &src_dir {
            Some(d) => {
                let src = d.join(&file.name);
                let report = checksum_file(&src, &file.md5, progress)?;
                check_report(&report, opts.allow_checksum_mismatch, progress)?;
                copy_with_progress(&src, &dest, progress)?;
                report
            }
            None => {
                let report = download(&opts.remote.url(&file.name), &dest, file, progress)?;
                check_report(&report, opts.allow_checksum_mismatch, progress)?;
                report
            }
        };
        reports.push(report);
    }
    Ok(reports)
}

/// Says whether the checksum matches, and stops on a mismatch unless allowed.
fn check_report(
    report: &ChecksumReport,
    allow: bool,
    progress: &mut dyn Progress,
) -> Result<(), FetchError> {
    if report.matches() {
        progress.note(&format!(
            "{}: MD5 {} matches the official checksum",
            report.file, report.md5
        ));
        Ok(())
    } else if allow {
        progress.note(&format!(
            "{}: MD5 {} differs from the official {} (SHA-256 {}); continuing because of --allow-checksum-mismatch",
            report.file, report.md5, report.expected_md5, report.sha256
        ));
        Ok(())
    } else {
        Err(FetchError::ChecksumMismatch {
            file: report.file.clone(),
            expected: report.expected_md5.clone(),
            actual: report.md5.clone(),
        })
    }
}

/// Loads the staged (or existing) folder and lists its files with sizes and counts.
fn validate(
    dataset: FetchDataset,
    dir: &Path,
) -> Result<(Vec<InstalledFile>, (usize, usize)), FetchError> {
    let size = |name: &str| -> Result<u64, FetchError> {
        let p = dir.join(name);
        Ok(std::fs::metadata(&p).map_err(io_err(&p))?.len())
    };
    let file = |name: &str, records| -> Result<InstalledFile, FetchError> {
        Ok(InstalledFile {
            name: name.into(),
            bytes: size(name)?,
            records,
        })
    };
    let (train, test): (Dataset, Dataset);
    let mut files = Vec::new();
    match dataset {
        FetchDataset::Cifar10 => {
            if !dir.join(CIFAR10_TEST_FILE).is_file() {
                return Err(FetchError::Layout {
                    path: dir.to_path_buf(),
                    reason: format!("{CIFAR10_TEST_FILE} is missing"),
                });
            }
            (train, test) = load_cifar10(dir)?;
            for name in CIFAR10_TRAIN_FILES.iter().chain([&CIFAR10_TEST_FILE]) {
                let bytes = size(name)?;
                files.push(InstalledFile {
                    name: name.to_string(),
                    bytes,
                    records: (bytes / crate::CIFAR_RECORD as u64) as usize,
                });
            }
            files.push(file(CIFAR10_META_FILE, train.classes.len())?);
        }
        FetchDataset::FashionMnist => {
            (train, test) = load_fashion_mnist(dir)?;
            for (k, name) in MNIST_FILES.iter().enumerate() {
                let n = if k < 2 { train.len() } else { test.len() };
                let gz = format!("{name}.gz");
                let name = if dir.join(&gz).is_file() {
                    gz
                } else {
                    name.to_string()
                };
                files.push(file(&name, n)?);
            }
        }
    }
    Ok((files, (train.len(), test.len())))
}

/// The first folder (breadth-first, at most `depth` levels below `root`, `root`
/// included) that holds a file called `name`.
fn find_dir_with(root: &Path, name: &str, depth: usize) -> Option<PathBuf> {
    let mut level = vec![root.to_path_buf()];
    for _ in 0..=depth {
        let mut next = Vec::new();
        for dir in level {
            if dir.join(name).is_file() {
                return Some(dir);
            }
            if let Ok(rd) = std::fs::read_dir(&dir) {
                let mut subs: Vec<PathBuf> = rd
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect();
                subs.sort();
                next.extend(subs);
            }
        }
        level = next;
    }
    None
}

/// Streams a file through MD5 and SHA-256.
fn checksum_file(
    path: &Path,
    expected_md5: &str,
    progress: &mut dyn Progress,
) -> Result<ChecksumReport, FetchError> {
    let f = File::open(path).map_err(io_err(path))?;
    let total = f.metadata().ok().map(|m| m.len());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    progress.begin(&format!("checking {name}"), total);
    let mut hasher = Hashers::default();
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        progress.advance(n as u64);
    }
    progress.end();
    Ok(hasher.report(&path.display().to_string(), expected_md5))
}

#[derive(Default)]
struct Hashers {
    md5: Md5,
    sha256: Sha256,
}

impl Hashers {
    fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.sha256.update(bytes);
    }
    fn report(self, file: &str, expected_md5: &str) -> ChecksumReport {
        ChecksumReport {
            file: file.into(),
            expected_md5: expected_md5.to_ascii_lowercase(),
            md5: hex(&self.md5.finalize()),
            sha256: hex(&self.sha256.finalize()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies a file, reporting progress.
fn copy_with_progress(
    src: &Path,
    dest: &Path,
    progress: &mut dyn Progress,
) -> Result<(), FetchError> {
    let mut input = File::open(src).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            FetchError::Layout {
                path: src.to_path_buf(),
                reason: "file not found".into(),
            }
        } else {
            FetchError::Io {
                path: src.to_path_buf(),
                source: e,
            }
        }
    })?;
    let total = input.metadata().ok().map(|m| m.len());
    let name = src.file_name().unwrap_or_default().to_string_lossy();
    progress.begin(&format!("copying {name}"), total);
    let mut out = File::create(dest).map_err(io_err(dest))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).map_err(io_err(src))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(io_err(dest))?;
        progress.advance(n as u64);
    }
    progress.end();
    Ok(())
}

/// Downloads `url` to `dest`, hashing on the way.
fn download(
    url: &str,
    dest: &Path,
    file: &RemoteFile,
    progress: &mut dyn Progress,
) -> Result<ChecksumReport, FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .build()
        .into();
    let network = |e: &dyn fmt::Display| FetchError::Network {
        url: url.into(),
        message: e.to_string(),
    };
    let mut response = agent.get(url).call().map_err(|e| network(&e))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(FetchError::Http {
            url: url.into(),
            status,
        });
    }
    let expected = response.body().content_length();
    progress.begin(&format!("downloading {}", file.name), expected);
    let mut out = File::create(dest).map_err(io_err(dest))?;
    let mut reader = response.body_mut().as_reader();
    let mut hasher = Hashers::default();
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                progress.end();
                return Err(match expected {
                    Some(expected) if received < expected => FetchError::Truncated {
                        url: url.into(),
                        expected,
                        received,
                    },
                    _ => network(&e),
                });
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err(dest))?;
        received += n as u64;
        progress.advance(n as u64);
    }
    progress.end();
    if let Some(expected) = expected.filter(|&e| e != received) {
        return Err(FetchError::Truncated {
            url: url.into(),
            expected,
            received,
        });
    }
    out.sync_all().map_err(io_err(dest))?;
    Ok(hasher.report(&file.name, &file.md5))
}

/// Unpacks a tar or tar.gz archive into `dest` (created), accepting only regular files
/// and folders whose paths are relative and free of `..`. Returns the files written.
///
/// # Example
/// ```
/// use cifar_data::download::unpack_archive;
/// let dir = tempfile::tempdir().unwrap();
/// let archive = dir.path().join("a.tar");
/// let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
/// let mut h = tar::Header::new_gnu();
/// h.set_size(2);
/// h.set_mode(0o644);
/// h.set_cksum();
/// b.append_data(&mut h, "folder/file.txt", &b"hi"[..]).unwrap();
/// b.finish().unwrap();
/// drop(b);
/// let out = dir.path().join("out");
/// unpack_archive(&archive, &out).unwrap();
/// assert_eq!(std::fs::read(out.join("folder/file.txt")).unwrap(), b"hi");
/// ```
pub fn unpack_archive(archive: &Path, dest: &Path) -> Result<Vec<PathBuf>, FetchError> {
    let archive_err = |source| FetchError::Archive {
        path: archive.to_path_buf(),
        source,
    };
    let mut f = File::open(archive).map_err(io_err(archive))?;
    let mut magic = [0u8; 2];
    let gz = f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    drop(f);
    let f = BufReader::with_capacity(1 << 20, File::open(archive).map_err(io_err(archive))?);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    std::fs::create_dir_all(dest).map_err(io_err(dest))?;
    let mut tar = tar::Archive::new(reader);
    let mut written = Vec::new();
    for entry in tar.entries().map_err(archive_err)? {
        let mut entry = entry.map_err(archive_err)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let unsafe_entry = |reason| FetchError::UnsafeEntry {
            archive: archive.to_path_buf(),
            entry: raw.clone(),
            reason,
        };
        let kind = entry.header().entry_type();
        use tar::EntryType as E;
        match kind {
            E::Symlink => return Err(unsafe_entry("symbolic links are not allowed")),
            E::Link => return Err(unsafe_entry("hard links are not allowed")),
            E::XGlobalHeader => continue,
            E::Regular | E::Continuous | E::Directory => {}
            _ => return Err(unsafe_entry("only regular files and folders are allowed")),
        }
        let path = entry.path().map_err(archive_err)?.into_owned();
        let mut rel = PathBuf::new();
        for c in path.components() {
            match c {
                Component::Normal(part) => rel.push(part),
                Component::CurDir => {}
                Component::ParentDir => return Err(unsafe_entry("'..' leaves the target folder")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(unsafe_entry("absolute paths are not allowed"));
                }
            }
        }
        if rel.as_os_str().is_empty() {
            continue; // "./" itself
        }
        let out = dest.join(&rel);
        if kind == E::Directory {
            std::fs::create_dir_all(&out).map_err(io_err(&out))?;
            continue;
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mut file = File::create(&out).map_err(io_err(&out))?;
        std::io::copy(&mut entry, &mut file).map_err(archive_err)?;
        written.push(rel);
    }
    Ok(written)
}
