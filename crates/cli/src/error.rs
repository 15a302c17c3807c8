//! The command's one error type: every failure the user can cause or meet, with a
//! message that says what to do about it.

use std::path::PathBuf;

/// Everything that can make a `cs231n` command fail.
///
/// Library errors are wrapped as they are (their messages already name the file,
/// shape or value at fault); the command adds the file or option it was working on.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Reading or preparing a dataset failed (missing folder, corrupt file, bad split).
    #[error(transparent)]
    Data(#[from] cifar_data::DataError),
    /// The k-nearest-neighbour classifier refused its input.
    #[error("knn: {0}")]
    Knn(#[from] knn::KnnError),
    /// The data folder given by `--data-dir` (or its environment variable) is unusable.
    #[error(
        "--data-dir {}: {problem} (give an existing folder, or leave --data-dir and {} unset for the checkout's data/)",
        path.display(),
        cifar_data::DATA_DIR_ENV
    )]
    DataDir {
        /// The folder given.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The output folder given by `--out` cannot take the run's files.
    #[error("--out {}: {problem}", path.display())]
    Out {
        /// The folder given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// Drawing a plot failed.
    #[error("cannot draw {}: {reason}", path.display())]
    Plot {
        /// The PNG being written.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An image given to `predict` could not be decoded.
    #[error("{}: cannot read the image: {reason}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's reason.
        reason: String,
    },
    /// Some of `predict`'s images could not be read; the others were classified, and
    /// the JSON summary still lists them (and the unreadable ones).
    #[error("{unreadable} of {total} images could not be read (see above)")]
    Unreadable {
        /// Images that could not be read.
        unreadable: usize,
        /// Images given.
        total: usize,
    },
    /// A model file that is not one this command wrote, or is damaged.
    #[error("{}: not a usable cs231n model file: {reason}", path.display())]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An option value (or combination) that cannot work on this data.
    #[error("{0}")]
    Usage(String),
    /// A library refused its input or failed while training (message from the library).
    #[error("{what}: {message}")]
    Library {
        /// Which step ("svm training", "nn solver", ...).
        what: &'static str,
        /// The library's message.
        message: String,
    },
}

impl CliError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether the run's JSON summary is still worth printing: the command did part
    /// of its work (some images classified) before failing.
    pub fn keeps_summary(&self) -> bool {
        matches!(self, CliError::Unreadable { .. })
    }

    /// Wraps an error of a library without a dedicated variant.
    pub fn library(what: &'static str, err: impl std::fmt::Display) -> Self {
        CliError::Library {
            what,
            message: err.to_string(),
        }
    }
}

/// The command's result type.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
