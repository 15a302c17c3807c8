//! Datasets for cs231n-rs: CIFAR-10 (the official binary release), MNIST and
//! Fashion-MNIST (IDX, raw or `.gz`), the course's preprocessing, and (feature
//! `download`) verified fetching and unpacking of the official archives.
//!
//! - [`Dataset`] keeps pixels as bytes in (N, C, H, W) and converts to `f32`/`f64` rows
//!   or images per use.
//! - [`load_cifar10`], [`load_fashion_mnist`], [`load_mnist`] read the official files;
//!   [`write_cifar10`], [`write_cifar_batch`], [`write_idx`], [`write_mnist`] write them
//!   (tests, the bundled sample).
//! - [`DataSource::resolve`] turns `--dataset auto|cifar10|fashion-mnist|sample` and
//!   `--data-dir` into a folder and a loader.
//! - [`preprocess`] is the course's `get_CIFAR10_data`.
//! - Every malformed input is a [`DataError`] naming the file and byte offset.
//!
//! ```
//! use cifar_data::{preprocess, DataSource, DatasetChoice, Preprocess};
//! let src = DataSource::resolve(DatasetChoice::Sample, "data").unwrap();
//! let (train, test) = src.load().unwrap();
//! assert_eq!(train.class_counts(), vec![500; 10]);
//! let splits = preprocess::<f32>(&train, &test, &Preprocess::default()).unwrap();
//! assert_eq!(splits.x_train.dim(), (4500, 784));
//! ```

mod cifar;
mod dataset;
mod error;
mod idx;
mod preprocess;
mod source;

#[cfg(feature = "download")]
pub mod download;

pub use cifar::{
    CIFAR_CHANNELS, CIFAR_PIXELS, CIFAR_RECORD, CIFAR_SIDE, CIFAR10_CLASSES, CIFAR10_DIR,
    CIFAR10_META_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, load_cifar10, read_cifar_batch,
    write_cifar_batch, write_cifar10,
};
pub use dataset::Dataset;
pub use error::DataError;
pub use idx::{
    FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, MNIST_DIR, MNIST_FILES, load_fashion_mnist,
    load_mnist, read_idx, read_idx_from, read_idx_pair, write_idx, write_mnist,
};
pub use preprocess::{Preprocess, SplitSizes, Splits, Transform, preprocess, split_indices};
pub use source::{
    DATA_DIR_ENV, DEFAULT_DATA_DIR, DataSource, DatasetChoice, DatasetKind, SAMPLE_DIR,
    default_data_dir, fetch_command,
};
