//! IDX files (MNIST, Fashion-MNIST), raw or gzip-compressed.
//!
//! An IDX file is a 4-byte magic `00 00 TT ND` (TT = element type, 0x08 for unsigned
//! bytes; ND = number of dimensions), ND big-endian `u32` dimensions, then the data in
//! row-major order. Images files are `[N, H, W]` (magic 0x803), labels files `[N]` (0x801).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ndarray::{Array1, ArrayD, ArrayViewD, IxDyn};

use crate::cifar::missing_or_io;
use crate::{DataError, Dataset};

/// The element type byte of unsigned-byte data, the only one the datasets use.
const IDX_UBYTE: u8 = 0x08;

/// The standard file names of the MNIST family: train images, train labels, test
/// images, test labels (each may also be present with a `.gz` suffix).
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];
/// Fashion-MNIST's classes, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];
/// Folder name of Fashion-MNIST inside the data folder.
pub const FASHION_MNIST_DIR: &str = "fashion-mnist";
/// Folder name of MNIST inside the data folder.
pub const MNIST_DIR: &str = "mnist";

pub(crate) const FETCH_FASHION: &str = "cargo xtask fetch-data --dataset fashion-mnist";

/// Reads an IDX file of unsigned bytes (raw, or gzip-compressed whatever its name) into
/// an array of its dimensions.
///
/// # Example
/// ```
/// use cifar_data::{read_idx, write_idx};
/// use ndarray::{ArrayD, IxDyn};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x-idx3-ubyte.gz");
/// let a = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| (i[0] * 12 + i[1] * 4 + i[2]) as u8);
/// write_idx(&path, &a.view()).unwrap();
/// assert_eq!(read_idx(&path).unwrap(), a);
/// ```
pub fn read_idx(path: impl AsRef<Path>) -> Result<ArrayD<u8>, DataError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    read_idx_from(file, path)
}

/// Reads IDX bytes (raw, or gzip-compressed) from any reader; `path` names the source
/// in errors.
///
/// The header is read first and the data read up to the size it declares, no further:
/// a small `.gz` that inflates to gigabytes after a one-label header costs one label,
/// not gigabytes. Memory grows with the bytes actually present, never with the size a
/// header claims.
///
/// # Example
/// ```
/// use cifar_data::{read_idx_from, DataError};
/// let labels = [0u8, 0, 8, 1, 0, 0, 0, 2, 7, 9];
/// assert_eq!(read_idx_from(&labels[..], "y".as_ref()).unwrap().into_raw_vec_and_offset().0, [7, 9]);
/// // A header that promises 2³² labels over 2 bytes is an error, not a 4 GB allocation.
/// let lying = [0u8, 0, 8, 1, 255, 255, 255, 255, 7, 9];
/// let err = read_idx_from(&lying[..], "y".as_ref()).unwrap_err();
/// assert!(matches!(err, DataError::Truncated { .. }));
/// ```
pub fn read_idx_from(reader: impl Read, path: &Path) -> Result<ArrayD<u8>, DataError> {
    read_idx_stream(reader, path, None)
}

/// Wraps a reader in a gzip decoder when it starts with the gzip magic.
fn maybe_gz<'a>(mut reader: impl Read + 'a, path: &Path) -> Result<Box<dyn Read + 'a>, DataError> {
    let mut head = [0u8; 2];
    let got = read_full(&mut reader, &mut head).map_err(|e| DataError::io(path, e))?;
    let stream = std::io::Cursor::new(head[..got].to_vec()).chain(reader);
    if head[..got] == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::new(stream),
        )))
    } else {
        Ok(Box::new(stream))
    }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// How many bytes past the declared data are counted before giving up: enough to
/// report a small excess exactly, small enough that a bomb is not inflated.
const TRAILING_COUNT_LIMIT: u64 = 1 << 16;

/// Reads an IDX stream; `magic` (type and dimension count, e.g. 0x803) is required
/// when given.
fn read_idx_stream(
    reader: impl Read,
    path: &Path,
    magic: Option<u32>,
) -> Result<ArrayD<u8>, DataError> {
    let mut r = maybe_gz(reader, path)?;
    let io = |e: std::io::Error| {
        DataError::io(
            path,
            if e.kind() == std::io::ErrorKind::InvalidInput
                || e.kind() == std::io::ErrorKind::InvalidData
                || e.kind() == std::io::ErrorKind::UnexpectedEof
            {
                std::io::Error::new(e.kind(), format!("corrupt gzip data: {e}"))
            } else {
                e
            },
        )
    };
    let truncated = |offset: u64, needed: u64, len: u64, what| DataError::Truncated {
        path: path.to_path_buf(),
        offset,
        needed,
        len,
        what,
    };
    let mut head = [0u8; 4];
    let got = read_full(&mut r, &mut head).map_err(io)?;
    if got < 4 {
        return Err(truncated(0, 4, got as u64, "the IDX magic number"));
    }
    let found = u32::from_be_bytes(head);
    let kind = match magic {
        Some(0x801) => "labels",
        Some(0x803) => "images",
        _ => "ubyte",
    };
    let bad_magic = |expected: String| DataError::BadMagic {
        path: path.to_path_buf(),
        found,
        expected,
        kind,
    };
    match magic {
        Some(m) if found != m => return Err(bad_magic(format!("{m:#010x}"))),
        None if head[0] != 0 || head[1] != 0 || head[2] != IDX_UBYTE => {
            return Err(bad_magic(
                "0x000008NN (unsigned bytes, NN dimensions)".into(),
            ));
        }
        _ => {}
    }
    let nd = head[3] as usize;
    let header = 4 + 4 * nd as u64;
    let mut dim_bytes = vec![0u8; 4 * nd]; // at most 1020 bytes
    let got = read_full(&mut r, &mut dim_bytes).map_err(io)?;
    if got < dim_bytes.len() {
        return Err(truncated(
            4,
            4 * nd as u64,
            4 + got as u64,
            "the IDX dimensions",
        ));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| {
            DataError::Invalid(format!(
                "{}: IDX dimensions {dims:?} overflow",
                path.display()
            ))
        })?;
    // Grow with the bytes that arrive: a lying header reserves at most 1 MiB.
    let mut data = Vec::with_capacity(count.min(1 << 20) as usize);
    (&mut r).take(count).read_to_end(&mut data).map_err(io)?;
    let got = data.len() as u64;
    if got < count {
        return Err(truncated(header, count, header + got, "the IDX data"));
    }
    let extra = std::io::copy(
        &mut (&mut r).take(TRAILING_COUNT_LIMIT),
        &mut std::io::sink(),
    )
    .map_err(io)?;
    if extra == TRAILING_COUNT_LIMIT {
        return Err(DataError::TrailingData {
            path: path.to_path_buf(),
            offset: header + count,
            counted: extra,
        });
    }
    if extra > 0 {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            offset: header + count,
            extra,
        });
    }
    // ndarray also refuses shapes whose non-zero lengths overflow isize (e.g. [0, 2³²-1, 2³²-1]).
    ArrayD::from_shape_vec(IxDyn(&dims), data).map_err(|e| {
        DataError::Invalid(format!(
            "{}: IDX dimensions {dims:?} are not a valid shape: {e}",
            path.display()
        ))
    })
}

/// Writes an array of unsigned bytes as an IDX file (any number of dimensions, at most
/// 255, each below 2³²), gzip-compressed when the name ends in `.gz`.
///
/// # Example
/// ```
/// use cifar_data::{read_idx, write_idx};
/// use ndarray::{ArrayD, IxDyn};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("labels-idx1-ubyte");
/// let a = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1u8, 2, 3]).unwrap();
/// write_idx(&path, &a.view()).unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), [0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]);
/// ```
pub fn write_idx(path: impl AsRef<Path>, array: &ArrayViewD<u8>) -> Result<(), DataError> {
    let path = path.as_ref();
    let nd = array.ndim();
    if nd > 255 || array.shape().iter().any(|&d| d > u32::MAX as usize) {
        return Err(DataError::Invalid(format!(
            "shape {:?} does not fit the IDX header",
            array.shape()
        )));
    }
    let mut out = Vec::with_capacity(4 + 4 * nd + array.len());
    out.extend([0, 0, IDX_UBYTE, nd as u8]);
    for &d in array.shape() {
        out.extend((d as u32).to_be_bytes());
    }
    out.extend(array.iter());
    let file = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    let result = if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        gz.write_all(&out).and_then(|_| gz.finish().map(drop))
    } else {
        let mut file = file;
        file.write_all(&out)
    };
    result.map_err(|e| DataError::io(path, e))
}

/// Loads Fashion-MNIST (60 000 train / 10 000 test images, 1×28×28) with its class
/// names, from the four standard IDX files (raw or `.gz`) in `dir` or in
/// `dir/fashion-mnist`.
///
/// # Example
/// ```
/// use cifar_data::{load_fashion_mnist, write_mnist, Dataset, FASHION_MNIST_CLASSES};
/// use ndarray::{Array1, Array4};
/// let classes: Vec<String> = FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect();
/// let ds = Dataset::new(Array4::zeros((3, 1, 28, 28)), Array1::from(vec![0u8, 9, 9]), classes).unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// write_mnist(dir.path(), &ds, &ds, true).unwrap();
/// let (train, test) = load_fashion_mnist(dir.path()).unwrap();
/// assert_eq!(train, ds);
/// assert_eq!(test.classes[9], "Ankle boot");
/// ```
pub fn load_fashion_mnist(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset), DataError> {
    let classes = FASHION_MNIST_CLASSES.map(String::from).to_vec();
    load_idx_dir(
        dir.as_ref(),
        FASHION_MNIST_DIR,
        classes,
        "Fashion-MNIST folder",
        FETCH_FASHION,
        crate::error::fetch_hint(FETCH_FASHION),
    )
}

/// Loads MNIST (handwritten digits, classes "0".."9") from the four standard IDX files
/// (raw or `.gz`) in `dir` or in `dir/mnist`.
///
/// # Example
/// ```
/// use cifar_data::{load_mnist, write_mnist, Dataset};
/// use ndarray::{Array1, Array4};
/// let classes: Vec<String> = (0..10).map(|d| d.to_string()).collect();
/// let ds = Dataset::new(Array4::zeros((2, 1, 28, 28)), Array1::from(vec![4u8, 2]), classes).unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// write_mnist(dir.path(), &ds, &ds, false).unwrap();
/// assert_eq!(load_mnist(dir.path()).unwrap().0.labels.to_vec(), vec![4, 2]);
/// ```
pub fn load_mnist(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset), DataError> {
    let classes = (0..10).map(|d| d.to_string()).collect();
    // No fetch task for MNIST itself: say which files to put there.
    load_idx_dir(
        dir.as_ref(),
        MNIST_DIR,
        classes,
        "MNIST folder",
        "",
        format!(
            "put the four MNIST files there ({}, raw or .gz)",
            MNIST_FILES.join(", ")
        ),
    )
}

/// Finds the folder holding the IDX files (at `dir` or `dir/sub`) and reads both splits.
fn load_idx_dir(
    dir: &Path,
    sub: &str,
    classes: Vec<String>,
    what: &'static str,
    fetch: &'static str,
    hint: String,
) -> Result<(Dataset, Dataset), DataError> {
    let has_files = |d: &Path| {
        MNIST_FILES
            .iter()
            .any(|f| d.join(f).is_file() || d.join(format!("{f}.gz")).is_file())
    };
    let dir = if has_files(dir) {
        dir.to_path_buf()
    } else if dir.join(sub).is_dir() {
        dir.join(sub)
    } else {
        return Err(DataError::MissingDir {
            path: if dir.is_dir() {
                dir.join(sub)
            } else {
                dir.to_path_buf()
            },
            what,
            hint,
        });
    };
    let find = |name: &str| -> Result<PathBuf, DataError> {
        let gz = dir.join(format!("{name}.gz"));
        let raw = dir.join(name);
        if gz.is_file() {
            Ok(gz)
        } else if raw.is_file() {
            Ok(raw)
        } else {
            Err(DataError::MissingFile {
                path: gz,
                hint: crate::error::refetch_hint(fetch),
            })
        }
    };
    let train = read_idx_pair(
        &find(MNIST_FILES[0])?,
        &find(MNIST_FILES[1])?,
        &classes,
        fetch,
    )?;
    let test = read_idx_pair(
        &find(MNIST_FILES[2])?,
        &find(MNIST_FILES[3])?,
        &classes,
        fetch,
    )?;
    Ok((train, test))
}

/// Reads an images file and its labels file into a dataset of (N, 1, H, W) images.
///
/// # Example
/// ```
/// use cifar_data::{read_idx_pair, write_idx};
/// use ndarray::{ArrayD, IxDyn};
/// let dir = tempfile::tempdir().unwrap();
/// let (xi, yi) = (dir.path().join("x"), dir.path().join("y"));
/// write_idx(&xi, &ArrayD::zeros(IxDyn(&[2, 5, 5])).view()).unwrap();
/// write_idx(&yi, &ArrayD::zeros(IxDyn(&[3])).view()).unwrap();
/// let err = read_idx_pair(&xi, &yi, &["a".to_string()], "").unwrap_err();
/// assert!(err.to_string().contains("2 images but"));
/// ```
pub fn read_idx_pair(
    images_path: &Path,
    labels_path: &Path,
    classes: &[String],
    fetch: &'static str,
) -> Result<Dataset, DataError> {
    let open = |path: &Path| {
        std::fs::File::open(path).map_err(|e| {
            if fetch.is_empty() {
                DataError::io(path, e)
            } else {
                missing_or_io(path, e, fetch)
            }
        })
    };
    let images = read_idx_stream(open(images_path)?, images_path, Some(0x803))?;
    let labels = read_idx_stream(open(labels_path)?, labels_path, Some(0x801))?;
    let (n, h, w) = (images.shape()[0], images.shape()[1], images.shape()[2]);
    if labels.len() != n {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            labels_path: labels_path.to_path_buf(),
            images: n,
            labels: labels.len(),
        });
    }
    if let Some((i, &label)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| l as usize >= classes.len())
    {
        return Err(DataError::LabelOutOfRange {
            path: labels_path.to_path_buf(),
            offset: 8 + i as u64,
            label,
            classes: classes.len(),
        });
    }
    let images = images
        .into_shape_with_order((n, 1, h, w))
        .expect("3-d IDX images");
    let labels: Array1<u8> = labels.into_dimensionality().expect("1-d IDX labels");
    Ok(Dataset {
        images,
        labels,
        classes: classes.to_vec(),
    })
}

/// Writes a train/test pair of single-channel datasets as the four standard IDX files
/// in `dir` (`.gz` when `gzip`): for tests and for the bundled sample.
///
/// # Example
/// ```
/// use cifar_data::{write_mnist, Dataset};
/// use ndarray::{Array1, Array4};
/// let ds = Dataset::new(Array4::zeros((1, 1, 2, 2)), Array1::zeros(1), vec!["a".into()]).unwrap();
/// let dir = tempfile::tempdir().unwrap();
/// write_mnist(dir.path(), &ds, &ds, true).unwrap();
/// assert!(dir.path().join("t10k-labels-idx1-ubyte.gz").is_file());
/// ```
pub fn write_mnist(
    dir: impl AsRef<Path>,
    train: &Dataset,
    test: &Dataset,
    gzip: bool,
) -> Result<(), DataError> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let ext = if gzip { ".gz" } else { "" };
    for (k, ds) in [train, test].into_iter().enumerate() {
        let (n, c, h, w) = ds.images.dim();
        if c != 1 {
            return Err(DataError::Invalid(format!(
                "IDX images are single-channel, got {c} channels"
            )));
        }
        let images = ds.images.as_standard_layout();
        let images = images
            .view()
            .into_shape_with_order((n, h, w))
            .map_err(|e| DataError::Invalid(e.to_string()))?;
        write_idx(
            dir.join(format!("{}{ext}", MNIST_FILES[2 * k])),
            &images.into_dyn(),
        )?;
        write_idx(
            dir.join(format!("{}{ext}", MNIST_FILES[2 * k + 1])),
            &ds.labels.view().into_dyn(),
        )?;
    }
    Ok(())
}
