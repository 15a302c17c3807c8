//! The one error type of the readers and of the preprocessing.

use std::path::PathBuf;

/// Everything that can go wrong while reading or preparing a dataset.
///
/// Each variant names the file at fault and, where it applies, the byte offset (in the
/// decompressed stream for `.gz` files), so a corrupt download can be located; messages
/// end with what to do about it.
///
/// # Example
/// ```
/// use cifar_data::{load_cifar10, DataError};
/// let err = load_cifar10("/no/such/folder").unwrap_err();
/// assert!(matches!(err, DataError::MissingDir { .. }));
/// assert!(err.to_string().contains("cargo xtask fetch-data"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The dataset folder does not exist.
    #[error("{}: {what} not found; {hint}", path.display())]
    MissingDir {
        /// The folder that was looked for.
        path: PathBuf,
        /// What should have been there ("CIFAR-10 folder", ...).
        what: &'static str,
        /// What to do: the command that installs it.
        hint: String,
    },
    /// A file of the dataset is missing from its folder.
    #[error("{}: file not found; the dataset folder is incomplete: {hint}", path.display())]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },
    /// An operating-system error while reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being read or written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file ends before the data its header (or the format) promises.
    #[error("{}: truncated at byte offset {len}: {what} needs {needed} bytes from offset {offset}; the file is incomplete; remove the folder and run `cargo xtask fetch-data` (with the dataset's `--dataset`) again", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the missing data starts.
        offset: u64,
        /// How many bytes were needed from `offset`.
        needed: u64,
        /// The file's (decompressed) length.
        len: u64,
        /// What was being read.
        what: &'static str,
    },
    /// A CIFAR batch whose length is not a whole number of records.
    #[error("{}: {len} bytes is not a multiple of the {record}-byte record (1 label + 3072 pixels); the last record, at byte offset {offset}, is cut short: the file is truncated or not a CIFAR-10 batch; remove the folder and run `cargo xtask fetch-data` again", path.display())]
    RecordSize {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The record size (3073).
        record: u64,
        /// Where the incomplete record starts.
        offset: u64,
    },
    /// A label byte that is not a class index.
    #[error("{}: label {label} at byte offset {offset} is not below the number of classes ({classes}); the file is corrupt, remove the folder and fetch it again", path.display())]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Where the label byte is.
        offset: u64,
        /// The label read.
        label: u8,
        /// The number of classes.
        classes: usize,
    },
    /// An IDX file whose magic number is not the one expected.
    #[error("{}: wrong IDX magic number {found:#010x} at byte offset 0, expected {expected}; this is not an IDX {kind} file (or a corrupt one)", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The four bytes read, big-endian.
        found: u32,
        /// The magic(s) accepted, as text.
        expected: String,
        /// "images" / "labels" / "ubyte".
        kind: &'static str,
    },
    /// An IDX file with bytes after the data its header declares.
    #[error("{}: {extra} unexpected bytes after the data, from byte offset {offset}; the header's dimensions do not match the file", path.display())]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Where the data should have ended.
        offset: u64,
        /// How many bytes follow.
        extra: u64,
    },
    /// An IDX file (usually a `.gz`) that goes on far past the data its header
    /// declares; reading stopped after `counted` extra bytes rather than inflate it all.
    #[error("{}: more than {counted} unexpected bytes after the data, from byte offset {offset} (of the decompressed stream); the header's dimensions do not match the file, reading stopped there", path.display())]
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Where the data should have ended.
        offset: u64,
        /// How many extra bytes were read before stopping.
        counted: u64,
    },
    /// An images file and its labels file disagree on the number of examples.
    #[error("{} holds {images} images but {} holds {labels} labels; the pair does not belong together", images_path.display(), labels_path.display())]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// The labels file.
        labels_path: PathBuf,
        /// Images in it.
        images: usize,
        /// Labels in it.
        labels: usize,
    },
    /// A class-name file (`batches.meta.txt`) that does not list enough classes.
    #[error("{}: {reason}", path.display())]
    BadMeta {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Arrays that do not fit together (shapes, counts, indices), e.g. when building or
    /// writing a dataset in memory.
    #[error("invalid dataset: {0}")]
    Invalid(String),
    /// Split sizes the data cannot provide.
    #[error("cannot split: {0}")]
    Split(String),
}

/// The usual hint: the fetch command, and its offline form.
pub(crate) fn fetch_hint(fetch: &str) -> String {
    format!(
        "run `{fetch}` to download it (or `{fetch} --from <archive or folder>` to install a local copy)"
    )
}

/// The hint for an incomplete folder: fetch it again.
pub(crate) fn refetch_hint(fetch: &str) -> String {
    if fetch.is_empty() {
        "put the missing file there".into()
    } else {
        format!("remove the folder and run `{fetch}` again")
    }
}

impl DataError {
    /// Wraps an I/O error with the file it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
