//! Every malformed input is a typed error naming the file (and offset), never a panic.

use std::path::{Path, PathBuf};

use cifar_data::{
    CIFAR10_CLASSES, DataError, Dataset, load_cifar10, load_fashion_mnist, read_cifar_batch,
    read_idx, write_cifar10, write_idx, write_mnist,
};
use ndarray::{Array1, Array4, ArrayD, IxDyn};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("c{i}")).collect()
}

/// A valid tiny CIFAR-10 folder (7 train, 3 test images) under a temp dir.
fn tiny_cifar() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let classes: Vec<String> = CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
    let img =
        |n| Array4::from_shape_fn((n, 3, 32, 32), |(i, c, h, w)| (i * 7 + c * 3 + h + w) as u8);
    let train = Dataset::new(
        img(7),
        Array1::from_iter((0..7).map(|i| i as u8)),
        classes.clone(),
    )
    .unwrap();
    let test = Dataset::new(img(3), Array1::from(vec![9u8, 0, 5]), classes).unwrap();
    write_cifar10(dir.path(), &train, &test).unwrap();
    let bin = dir.path().join("cifar-10-batches-bin");
    (dir, bin)
}

fn tiny_mnist(gzip: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ds = Dataset::new(
        Array4::from_shape_fn((4, 1, 28, 28), |(i, _, h, w)| (i + h * w) as u8),
        Array1::from(vec![0u8, 3, 9, 1]),
        names(10),
    )
    .unwrap();
    write_mnist(dir.path(), &ds, &ds, gzip).unwrap();
    dir
}

fn path_in(err: &DataError) -> String {
    err.to_string()
}

#[test]
fn valid_tiny_cifar_loads_from_folder_or_parent() {
    let (dir, bin) = tiny_cifar();
    let (a, b) = load_cifar10(dir.path()).unwrap();
    let (c, d) = load_cifar10(&bin).unwrap();
    assert_eq!((a.len(), b.len()), (7, 3));
    assert_eq!((&a, &b), (&c, &d));
    assert_eq!(b.labels.to_vec(), vec![9, 0, 5]);
    assert_eq!(a.classes[0], "airplane");
}

#[test]
fn missing_folder_says_to_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_cifar10(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::MissingDir { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("cifar-10-batches-bin") && msg.contains("cargo xtask fetch-data"),
        "{msg}"
    );
    let err = load_fashion_mnist(dir.path()).unwrap_err();
    assert!(err.to_string().contains("--dataset fashion-mnist"), "{err}");
}

#[test]
fn missing_batch_file_is_named() {
    let (_dir, bin) = tiny_cifar();
    std::fs::remove_file(bin.join("data_batch_3.bin")).unwrap();
    let err = load_cifar10(&bin).unwrap_err();
    assert!(
        matches!(&err, DataError::MissingFile { path, .. } if path.ends_with("data_batch_3.bin")),
        "{err:?}"
    );
}

#[test]
fn truncated_batch_names_file_and_offset() {
    let (_dir, bin) = tiny_cifar();
    let f = bin.join("data_batch_2.bin");
    let bytes = std::fs::read(&f).unwrap();
    assert_eq!(bytes.len(), 3073); // batch 2 of 7 images holds one
    std::fs::write(&f, &bytes[..3000]).unwrap();
    let err = load_cifar10(&bin).unwrap_err();
    match &err {
        DataError::RecordSize {
            path, len, offset, ..
        } => {
            assert!(path.ends_with("data_batch_2.bin"));
            assert_eq!((*len, *offset), (3000, 0));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string().contains("data_batch_2.bin") && err.to_string().contains("byte offset 0")
    );
}

#[test]
fn length_not_multiple_of_record_names_partial_record_offset() {
    let (_dir, bin) = tiny_cifar();
    let f = bin.join("test_batch.bin");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.extend([1, 2, 3]);
    std::fs::write(&f, &bytes).unwrap();
    let err = read_cifar_batch(&f, names(10)).unwrap_err();
    assert!(
        matches!(err, DataError::RecordSize { len, offset, record: 3073, .. } if len == 3 * 3073 + 3 && offset == 3 * 3073),
        "{err:?}"
    );
}

#[test]
fn empty_batch_is_truncated() {
    let (_dir, bin) = tiny_cifar();
    std::fs::write(bin.join("data_batch_5.bin"), b"").unwrap();
    let err = load_cifar10(&bin).unwrap_err();
    assert!(
        matches!(&err, DataError::Truncated { path, len: 0, .. } if path.ends_with("data_batch_5.bin")),
        "{err:?}"
    );
}

#[test]
fn label_out_of_range_names_offset_in_its_own_file() {
    let (_dir, bin) = tiny_cifar();
    let f = bin.join("data_batch_3.bin");
    let mut bytes = std::fs::read(&f).unwrap();
    assert_eq!(bytes.len(), 2 * 3073);
    bytes[3073] = 10; // second record's label
    std::fs::write(&f, &bytes).unwrap();
    let err = load_cifar10(&bin).unwrap_err();
    assert!(
        matches!(&err, DataError::LabelOutOfRange { path, offset: 3073, label: 10, classes: 10 } if path.ends_with("data_batch_3.bin")),
        "{err:?}"
    );
}

#[test]
fn short_meta_file_is_rejected() {
    let (_dir, bin) = tiny_cifar();
    std::fs::write(bin.join("batches.meta.txt"), "cat\ndog\n").unwrap();
    let err = load_cifar10(&bin).unwrap_err();
    assert!(matches!(err, DataError::BadMeta { .. }), "{err:?}");
}

#[test]
fn idx_loads_raw_and_gz() {
    for gz in [false, true] {
        let dir = tiny_mnist(gz);
        let (train, test) = load_fashion_mnist(dir.path()).unwrap();
        assert_eq!((train.len(), test.len()), (4, 4));
        assert_eq!(train.image_shape(), (1, 28, 28));
        assert_eq!(train.classes[0], "T-shirt/top");
    }
}

fn idx_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.gz"))
}

#[test]
fn wrong_idx_magic_is_named() {
    let dir = tiny_mnist(true);
    // A labels file where the images file should be.
    let labels = idx_file(dir.path(), "train-labels-idx1-ubyte");
    let images = idx_file(dir.path(), "train-images-idx3-ubyte");
    std::fs::copy(&labels, &images).unwrap();
    let err = load_fashion_mnist(dir.path()).unwrap_err();
    match &err {
        DataError::BadMagic { path, found, .. } => {
            assert!(path.ends_with("train-images-idx3-ubyte.gz"));
            assert_eq!(*found, 0x801);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(path_in(&err).contains("byte offset 0"));
    // Garbage that is no IDX at all.
    let raw = dir.path().join("junk");
    std::fs::write(&raw, b"\x7fELF....").unwrap();
    assert!(matches!(
        read_idx(&raw).unwrap_err(),
        DataError::BadMagic { .. }
    ));
}

#[test]
fn count_mismatch_names_both_files() {
    let dir = tiny_mnist(false);
    let labels = dir.path().join("t10k-labels-idx1-ubyte");
    write_idx(&labels, &ArrayD::from_elem(IxDyn(&[3]), 1u8).view()).unwrap();
    let err = load_fashion_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 4,
                labels: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("t10k-labels-idx1-ubyte"),
        "{msg}"
    );
}

#[test]
fn truncated_and_oversized_idx_are_errors() {
    let dir = tiny_mnist(false);
    let f = dir.path().join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 10]).unwrap();
    let err = load_fashion_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(err, DataError::Truncated { offset: 16, needed, .. } if needed == 4 * 28 * 28),
        "{err:?}"
    );
    let mut longer = bytes.clone();
    longer.extend([0; 5]);
    std::fs::write(&f, &longer).unwrap();
    let err = load_fashion_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(err, DataError::TrailingBytes { extra: 5, .. }),
        "{err:?}"
    );
    // A header cut inside the dimensions, and a file shorter than a magic number.
    std::fs::write(&f, &bytes[..9]).unwrap();
    assert!(matches!(
        read_idx(&f).unwrap_err(),
        DataError::Truncated { offset: 4, .. }
    ));
    std::fs::write(&f, &bytes[..2]).unwrap();
    assert!(matches!(
        read_idx(&f).unwrap_err(),
        DataError::Truncated { offset: 0, .. }
    ));
}

#[test]
fn idx_label_out_of_range_names_offset() {
    let dir = tiny_mnist(false);
    let f = dir.path().join("train-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[8 + 2] = 200;
    std::fs::write(&f, &bytes).unwrap();
    let err = load_fashion_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                offset: 10,
                label: 200,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn corrupt_gzip_is_an_error() {
    let dir = tiny_mnist(true);
    let f = idx_file(dir.path(), "t10k-images-idx3-ubyte");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_fashion_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::Io { path, .. } if path.ends_with("t10k-images-idx3-ubyte.gz")),
        "{err:?}"
    );
}

#[test]
fn dimension_overflow_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x");
    let mut bytes = vec![0, 0, 8, 3];
    for _ in 0..3 {
        bytes.extend(u32::MAX.to_be_bytes());
    }
    std::fs::write(&f, &bytes).unwrap();
    assert!(read_idx(&f).is_err());
    // Zero items, but lengths whose product overflows: still an error, not a panic.
    let mut bytes = vec![0, 0, 8, 3, 0, 0, 0, 0];
    bytes.extend(u32::MAX.to_be_bytes());
    bytes.extend(u32::MAX.to_be_bytes());
    std::fs::write(&f, &bytes).unwrap();
    assert!(matches!(read_idx(&f).unwrap_err(), DataError::Invalid(_)));
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap fuzz: every prefix of a valid file, and every single-byte corruption of
    // its header, gives Ok or Err, never a panic.
    let dir = tiny_mnist(false);
    let f = dir.path().join("train-labels-idx1-ubyte");
    let good = std::fs::read(&f).unwrap();
    let probe = dir.path().join("probe");
    for len in 0..good.len() {
        std::fs::write(&probe, &good[..len]).unwrap();
        assert!(read_idx(&probe).is_err(), "prefix of {len} bytes accepted");
    }
    for i in 0..8 {
        for v in [0u8, 1, 3, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] = v;
            std::fs::write(&probe, &b).unwrap();
            let _ = read_idx(&probe);
        }
    }
}

#[test]
fn dataset_rejects_inconsistent_arrays() {
    assert!(Dataset::new(Array4::zeros((2, 1, 1, 1)), Array1::zeros(3), names(1)).is_err());
    let ds = Dataset::new(Array4::zeros((2, 1, 1, 1)), Array1::zeros(2), names(1)).unwrap();
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 1..0;
    assert!(ds.slice(reversed).is_err());
    assert!(ds.select(&[0, 2]).is_err());
    assert!(write_cifar10(tempfile::tempdir().unwrap().path(), &ds, &ds).is_err());
}
