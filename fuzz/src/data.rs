//! Dataset readers: IDX (raw and gzip), CIFAR batches, and archive unpacking.

use std::path::Path;

use cifar_data::{read_cifar_batch, read_idx_from};

/// IDX bytes as they come (gzip is recognised from the content).
pub fn idx_raw(data: &[u8]) {
    if let Ok(a) = read_idx_from(data, Path::new("fuzz-idx")) {
        // Every element comes from a byte of the input.
        assert!(a.len() <= data.len());
    }
}

/// The same bytes gzip-compressed: the compressed stream must read exactly as the raw one.
pub fn idx_gz(data: &[u8]) {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("writing to a Vec");
    let compressed = gz.finish().expect("writing to a Vec");
    let path = Path::new("fuzz-idx.gz");
    let raw = read_idx_from(data, path);
    let unzipped = read_idx_from(&compressed[..], path);
    // A raw stream that itself starts with the gzip magic is decompressed once more in
    // the raw reading only; everything else must agree exactly.
    if !data.starts_with(&[0x1f, 0x8b]) {
        assert_eq!(format!("{raw:?}"), format!("{unzipped:?}"));
    }
}

/// A CIFAR batch file of any length, with the ten CIFAR-10 classes.
pub fn cifar_batch(data: &[u8]) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("data_batch_1.bin");
    std::fs::write(&path, data).expect("writing the batch");
    let classes = cifar_data::CIFAR10_CLASSES.map(String::from).to_vec();
    if let Ok(ds) = read_cifar_batch(&path, classes) {
        assert_eq!(ds.len() * cifar_data::CIFAR_RECORD, data.len());
        assert!(ds.labels.iter().all(|&l| l < 10));
    }
}

/// An archive (tar or tar.gz) unpacked into a fresh folder: whatever it holds, nothing
/// may be written outside the target folder and no link may be created.
pub fn unpack(data: &[u8]) {
    let root = tempfile::tempdir().expect("a temporary folder");
    let archive = root.path().join("archive.tar.gz");
    std::fs::write(&archive, data).expect("writing the archive");
    let dest = root.path().join("out");
    let _ = cifar_data::download::unpack_archive(&archive, &dest);
    for entry in std::fs::read_dir(root.path()).expect("listing the folder") {
        let name = entry.expect("an entry").file_name();
        assert!(
            name == "archive.tar.gz" || name == "out",
            "unpacking wrote {name:?} beside the target folder"
        );
    }
    assert_no_links(&dest);
}

/// Walks `dir` and asserts it holds only plain files and folders, none hard-linked.
fn assert_no_links(dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("an entry").path();
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        assert!(
            !meta.file_type().is_symlink(),
            "{} is a link",
            path.display()
        );
        if meta.is_dir() {
            assert_no_links(&path);
        } else {
            assert!(meta.is_file(), "{} is not a plain file", path.display());
            assert_eq!(meta.nlink(), 1, "{} is hard-linked", path.display());
        }
    }
}
