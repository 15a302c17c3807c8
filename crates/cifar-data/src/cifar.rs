//! The CIFAR-10 binary release: `data_batch_1..5.bin`, `test_batch.bin`, `batches.meta.txt`.
//!
//! Each batch is a run of 3073-byte records: one label byte, then 3072 pixel bytes
//! (1024 red, 1024 green, 1024 blue, each a row-major 32×32 plane). That is exactly
//! (C, H, W) order, so a record's pixels are copied as they are.

use std::io::Write;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array4};

use crate::{DataError, Dataset};

/// Channels of a CIFAR image.
pub const CIFAR_CHANNELS: usize = 3;
/// Height and width of a CIFAR image.
pub const CIFAR_SIDE: usize = 32;
/// Pixel bytes of one image (3 × 32 × 32).
pub const CIFAR_PIXELS: usize = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE;
/// Bytes of one record: the label, then the pixels.
pub const CIFAR_RECORD: usize = 1 + CIFAR_PIXELS;
/// Name of the folder the official archive unpacks to.
pub const CIFAR10_DIR: &str = "cifar-10-batches-bin";
/// The five training batches, in order.
pub const CIFAR10_TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch.
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";
/// The class names file (one name a line).
pub const CIFAR10_META_FILE: &str = "batches.meta.txt";
/// CIFAR-10's classes, as `batches.meta.txt` lists them.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

pub(crate) const FETCH_CIFAR: &str = "cargo xtask fetch-data";

/// Loads CIFAR-10: the five training batches (50 000 images) and the test batch
/// (10 000), with the class names of `batches.meta.txt`.
///
/// `dir` is the `cifar-10-batches-bin` folder or the folder that contains it (so both
/// `data/` and `data/cifar-10-batches-bin` work).
///
/// # Example
/// ```
/// use cifar_data::{load_cifar10, write_cifar_batch, CIFAR10_CLASSES};
/// use ndarray::{Array1, Array4};
/// let dir = tempfile::tempdir().unwrap();
/// let bin = dir.path().join("cifar-10-batches-bin");
/// std::fs::create_dir(&bin).unwrap();
/// let images = Array4::<u8>::from_elem((2, 3, 32, 32), 9);
/// let labels = Array1::from(vec![3u8, 7]);
/// for f in ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
///           "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"] {
///     write_cifar_batch(bin.join(f), &images.view(), &labels.view()).unwrap();
/// }
/// std::fs::write(bin.join("batches.meta.txt"), CIFAR10_CLASSES.join("\n")).unwrap();
/// let (train, test) = load_cifar10(dir.path()).unwrap();
/// assert_eq!((train.len(), test.len()), (10, 2));
/// assert_eq!(train.classes[3], "cat");
/// ```
pub fn load_cifar10(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset), DataError> {
    let dir = cifar10_dir(dir.as_ref())?;
    let classes = read_cifar_meta(&dir.join(CIFAR10_META_FILE), 10)?;
    let train: Vec<PathBuf> = CIFAR10_TRAIN_FILES.iter().map(|f| dir.join(f)).collect();
    let train = read_batches(&train, &classes)?;
    let test = read_batches(&[dir.join(CIFAR10_TEST_FILE)], &classes)?;
    Ok((train, test))
}

/// Finds the `cifar-10-batches-bin` folder at `dir` or inside it.
fn cifar10_dir(dir: &Path) -> Result<PathBuf, DataError> {
    let inner = dir.join(CIFAR10_DIR);
    if inner.is_dir() {
        return Ok(inner);
    }
    if dir.join(CIFAR10_META_FILE).is_file() || dir.join(CIFAR10_TEST_FILE).is_file() {
        return Ok(dir.to_path_buf());
    }
    let path = if dir.is_dir() {
        inner
    } else {
        dir.to_path_buf()
    };
    Err(DataError::MissingDir {
        path,
        what: "CIFAR-10 folder (cifar-10-batches-bin)",
        hint: crate::error::fetch_hint(FETCH_CIFAR),
    })
}

/// Reads class names, one a line (empty lines ignored), requiring at least `min`.
fn read_cifar_meta(path: &Path, min: usize) -> Result<Vec<String>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| missing_or_io(path, e, FETCH_CIFAR))?;
    let text = String::from_utf8_lossy(&bytes);
    let classes: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if classes.len() < min {
        return Err(DataError::BadMeta {
            path: path.to_path_buf(),
            reason: format!(
                "lists {} class names, expected {min} (one a line); the folder is not the CIFAR-10 binary release",
                classes.len()
            ),
        });
    }
    if classes.len() > 256 {
        return Err(DataError::BadMeta {
            path: path.to_path_buf(),
            reason: format!(
                "lists {} class names, more than a label byte can index",
                classes.len()
            ),
        });
    }
    Ok(classes)
}

pub(crate) fn missing_or_io(path: &Path, e: std::io::Error, fetch: &'static str) -> DataError {
    if e.kind() == std::io::ErrorKind::NotFound {
        DataError::MissingFile {
            path: path.to_path_buf(),
            hint: crate::error::refetch_hint(fetch),
        }
    } else {
        DataError::io(path, e)
    }
}

/// Appends the whole file to `buf` (one read, sized from the metadata).
fn read_file_into(path: &Path, buf: &mut Vec<u8>) -> Result<(), DataError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| missing_or_io(path, e, FETCH_CIFAR))?;
    if let Ok(m) = f.metadata() {
        buf.reserve(m.len() as usize);
    }
    f.read_to_end(buf).map_err(|e| DataError::io(path, e))?;
    Ok(())
}

/// Reads one CIFAR batch file of any number of records, with the given class names
/// (labels must be below `classes.len()`).
///
/// # Example
/// ```
/// use cifar_data::{read_cifar_batch, write_cifar_batch};
/// use ndarray::{Array1, Array4};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("b.bin");
/// let images = Array4::<u8>::from_shape_fn((2, 3, 32, 32), |(n, c, h, w)| (n + c + h + w) as u8);
/// let labels = Array1::from(vec![1u8, 0]);
/// write_cifar_batch(&path, &images.view(), &labels.view()).unwrap();
/// let ds = read_cifar_batch(&path, vec!["a".into(), "b".into()]).unwrap();
/// assert_eq!(ds.images, images);
/// ```
pub fn read_cifar_batch(
    path: impl AsRef<Path>,
    classes: Vec<String>,
) -> Result<Dataset, DataError> {
    read_batches(&[path.as_ref().to_path_buf()], &classes)
}

/// Reads batch files one after the other into one dataset. Each file is read whole into
/// a reused buffer and its records are split into the output arrays at once, so the
/// peak memory is the dataset plus one file (not twice the dataset).
fn read_batches(paths: &[PathBuf], classes: &[String]) -> Result<Dataset, DataError> {
    let mut buf = Vec::new();
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in paths {
        buf.clear();
        read_file_into(path, &mut buf)?;
        let len = buf.len();
        if len == 0 {
            return Err(DataError::Truncated {
                path: path.clone(),
                offset: 0,
                needed: CIFAR_RECORD as u64,
                len: 0,
                what: "a CIFAR record",
            });
        }
        if len % CIFAR_RECORD != 0 {
            return Err(DataError::RecordSize {
                path: path.clone(),
                len: len as u64,
                record: CIFAR_RECORD as u64,
                offset: (len - len % CIFAR_RECORD) as u64,
            });
        }
        let n = len / CIFAR_RECORD;
        if pixels.capacity() == 0 {
            // Batches of a release have the same size: reserve for all of them.
            pixels.reserve_exact(n * CIFAR_PIXELS * paths.len());
            labels.reserve_exact(n * paths.len());
        }
        for (i, rec) in buf.chunks_exact(CIFAR_RECORD).enumerate() {
            let label = rec[0];
            if label as usize >= classes.len() {
                return Err(DataError::LabelOutOfRange {
                    path: path.clone(),
                    offset: (i * CIFAR_RECORD) as u64,
                    label,
                    classes: classes.len(),
                });
            }
            labels.push(label);
            pixels.extend_from_slice(&rec[1..]);
        }
    }
    let n = labels.len();
    let images = Array4::from_shape_vec((n, CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE), pixels)
        .expect("n whole images");
    Ok(Dataset {
        images,
        labels: Array1::from(labels),
        classes: classes.to_vec(),
    })
}

/// Writes images (N, 3, 32, 32) and labels as a CIFAR batch file: what the tests, the
/// round-trip properties and the JPEG-to-binary tools use to make real-format files.
///
/// # Example
/// ```
/// use cifar_data::write_cifar_batch;
/// use ndarray::{Array1, Array4};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("b.bin");
/// write_cifar_batch(&path, &Array4::<u8>::zeros((2, 3, 32, 32)).view(), &Array1::zeros(2).view()).unwrap();
/// assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * 3073);
/// ```
pub fn write_cifar_batch(
    path: impl AsRef<Path>,
    images: &ndarray::ArrayView4<u8>,
    labels: &ndarray::ArrayView1<u8>,
) -> Result<(), DataError> {
    let path = path.as_ref();
    let (n, c, h, w) = images.dim();
    if (c, h, w) != (CIFAR_CHANNELS, CIFAR_SIDE, CIFAR_SIDE) {
        return Err(DataError::Invalid(format!(
            "CIFAR images are 3×32×32, got {c}×{h}×{w}"
        )));
    }
    if labels.len() != n {
        return Err(DataError::Invalid(format!(
            "{n} images but {} labels",
            labels.len()
        )));
    }
    let mut out = Vec::with_capacity(n * CIFAR_RECORD);
    for (i, &label) in labels.iter().enumerate() {
        out.push(label);
        out.extend(images.index_axis(ndarray::Axis(0), i).iter());
    }
    let mut f = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    f.write_all(&out).map_err(|e| DataError::io(path, e))?;
    Ok(())
}

/// Writes a whole dataset pair in the official layout: `dir/cifar-10-batches-bin/`
/// with the training set split over five batches, the test batch and the class names.
///
/// # Example
/// ```
/// use cifar_data::{load_cifar10, write_cifar10, Dataset};
/// use ndarray::{Array1, Array4};
/// let names: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
/// let train = Dataset::new(Array4::zeros((7, 3, 32, 32)), Array1::zeros(7), names.clone()).unwrap();
/// let test = Dataset::new(Array4::zeros((2, 3, 32, 32)), Array1::zeros(2), names).unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// write_cifar10(dir.path(), &train, &test).unwrap();
/// assert_eq!(load_cifar10(dir.path()).unwrap(), (train, test));
/// ```
pub fn write_cifar10(
    dir: impl AsRef<Path>,
    train: &Dataset,
    test: &Dataset,
) -> Result<(), DataError> {
    let bin = dir.as_ref().join(CIFAR10_DIR);
    std::fs::create_dir_all(&bin).map_err(|e| DataError::io(&bin, e))?;
    if train.len() < CIFAR10_TRAIN_FILES.len() || test.is_empty() {
        return Err(DataError::Invalid(format!(
            "the layout needs at least 5 training images and 1 test image, got {} and {}",
            train.len(),
            test.len()
        )));
    }
    if train.classes.len() != CIFAR10_CLASSES.len() {
        return Err(DataError::Invalid(format!(
            "CIFAR-10 has 10 classes, the dataset has {}",
            train.classes.len()
        )));
    }
    // Batch k holds [k·n/5, (k+1)·n/5): never empty when n >= 5.
    let (n, k_max) = (train.len(), CIFAR10_TRAIN_FILES.len());
    for (k, f) in CIFAR10_TRAIN_FILES.iter().enumerate() {
        let part = train.slice(k * n / k_max..(k + 1) * n / k_max)?;
        write_cifar_batch(bin.join(f), &part.images.view(), &part.labels.view())?;
    }
    write_cifar_batch(
        bin.join(CIFAR10_TEST_FILE),
        &test.images.view(),
        &test.labels.view(),
    )?;
    let meta = bin.join(CIFAR10_META_FILE);
    let mut text = train.classes.join("\n");
    text.push_str("\n\n");
    std::fs::write(&meta, text).map_err(|e| DataError::io(&meta, e))?;
    Ok(())
}
