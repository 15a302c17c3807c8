//! The one error of a fetch, naming the URL, file or archive entry at fault.

use std::path::{Path, PathBuf};

use crate::DataError;

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

/// Wraps an I/O error with the path it happened on.
pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}
