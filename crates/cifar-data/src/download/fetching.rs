//! Getting the files into the staging folder: a download over HTTPS (hashed on
//! the way), or a copy of a local archive or folder given with `--from`.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::io_err;
use super::unpack::unpack_archive;
use super::verify::{ChecksumReport, Hashers, check_report, checksum_file};
use super::{FetchError, FetchOptions, Progress, RemoteFile};
use crate::{CIFAR10_DIR, CIFAR10_META_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES};

/// Gets the CIFAR-10 archive (download, local archive, or local folder) into `staged`.
pub(super) fn stage_cifar10(
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
pub(super) fn stage_fashion(
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

/// Copies a file, reporting progress.
pub(super) fn copy_with_progress(
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
pub(super) fn download(
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
