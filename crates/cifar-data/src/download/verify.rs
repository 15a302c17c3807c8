//! Checking what was fetched: the MD5 against the official checksum (SHA-256
//! reported beside it), then a full load of the staged folder, so that nothing that
//! fails to load is ever installed.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use md5::{Digest, Md5};
use sha2::Sha256;

use super::error::io_err;
use super::{FetchDataset, FetchError, Progress};
use crate::{
    CIFAR10_META_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, Dataset, MNIST_FILES, load_cifar10,
    load_fashion_mnist,
};

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

/// Says whether the checksum matches, and stops on a mismatch unless allowed.
pub(super) fn check_report(
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
pub(super) fn validate(
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

/// Streams a file through MD5 and SHA-256.
pub(super) fn checksum_file(
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

/// MD5 and SHA-256 fed side by side, so a file is read (or downloaded) once.
#[derive(Default)]
pub(super) struct Hashers {
    md5: Md5,
    sha256: Sha256,
}

impl Hashers {
    pub(super) fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.sha256.update(bytes);
    }
    pub(super) fn report(self, file: &str, expected_md5: &str) -> ChecksumReport {
        ChecksumReport {
            file: file.into(),
            expected_md5: expected_md5.to_ascii_lowercase(),
            md5: hex(&self.md5.finalize()),
            sha256: hex(&self.sha256.finalize()),
        }
    }
}

/// Lower-case hex, as checksums are published.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
