//! Fetching against a small HTTP server on 127.0.0.1 that serves archives built here:
//! good, truncated, wrong checksum, hostile paths, HTTP errors. After every failure the
//! data folder holds no dataset folder and no leftover temporary folder.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use cifar_data::download::{
    FetchDataset, FetchError, FetchOptions, FetchOutcome, Progress, RemoteFile, unpack_archive,
};
use cifar_data::{
    CIFAR10_CLASSES, DataError, Dataset, FASHION_MNIST_CLASSES, load_cifar10, write_cifar10,
    write_mnist,
};
use ndarray::{Array1, Array4};

use crate::http_server::{Reply, Server, md5_hex, serve};

fn cifar_classes() -> Vec<String> {
    CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect()
}

/// A tiny CIFAR-10 folder (6 train, 2 test) written under `root`.
fn tiny_cifar_dir(root: &Path) -> PathBuf {
    let img = |n| Array4::from_shape_fn((n, 3, 32, 32), |(i, c, h, w)| (i + c + h * w) as u8);
    let train = Dataset::new(
        img(6),
        Array1::from(vec![0u8, 1, 2, 3, 4, 9]),
        cifar_classes(),
    )
    .unwrap();
    let test = Dataset::new(img(2), Array1::from(vec![5u8, 6]), cifar_classes()).unwrap();
    write_cifar10(root, &train, &test).unwrap();
    root.join("cifar-10-batches-bin")
}

/// A hostile entry to append.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    DotDot,
    Absolute,
    Symlink,
    HardLink,
    Fifo,
}

/// tar.gz bytes of a tiny CIFAR-10 folder, plus an optional hostile entry after it.
fn cifar_archive(hostile: Option<(Hostile, &Path)>) -> Vec<u8> {
    let src = tempfile::tempdir().unwrap();
    let bin = tiny_cifar_dir(src.path());
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    b.append_dir_all("cifar-10-batches-bin", &bin).unwrap();
    if let Some((kind, outside)) = hostile {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(0);
        let raw_name = |h: &mut tar::Header, name: &str| {
            let n = &mut h.as_old_mut().name;
            n.fill(0);
            n[..name.len()].copy_from_slice(name.as_bytes());
        };
        let evil = outside.join("evil.txt");
        let body: &[u8] = b"pwned";
        match kind {
            Hostile::DotDot => {
                raw_name(&mut h, "cifar-10-batches-bin/../../evil.txt");
                h.set_size(body.len() as u64);
            }
            Hostile::Absolute => {
                raw_name(&mut h, evil.to_str().unwrap());
                h.set_size(body.len() as u64);
            }
            Hostile::Symlink => {
                h.set_entry_type(tar::EntryType::Symlink);
                raw_name(&mut h, "cifar-10-batches-bin/link");
                h.set_link_name(&evil).unwrap();
            }
            Hostile::HardLink => {
                h.set_entry_type(tar::EntryType::Link);
                raw_name(&mut h, "cifar-10-batches-bin/hard");
                h.set_link_name("cifar-10-batches-bin/test_batch.bin")
                    .unwrap();
            }
            Hostile::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                raw_name(&mut h, "cifar-10-batches-bin/pipe");
            }
        }
        h.set_cksum();
        let data: &[u8] = if h.size().unwrap() > 0 { body } else { &[] };
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// Records what the library reports.
#[derive(Default)]
struct Recorder {
    bytes: u64,
    totals: Vec<Option<u64>>,
    notes: Vec<String>,
}

impl Progress for Recorder {
    fn begin(&mut self, _what: &str, total: Option<u64>) {
        self.totals.push(total);
    }
    fn advance(&mut self, bytes: u64) {
        self.bytes += bytes;
    }
    fn note(&mut self, message: &str) {
        self.notes.push(message.to_string());
    }
}

fn cifar_opts(server: &Server, data: &Path, md5: String) -> FetchOptions {
    let mut opts = FetchOptions::new(FetchDataset::Cifar10, data);
    opts.remote.base_url = server.base.clone();
    opts.remote.files = vec![RemoteFile {
        name: "cifar-10-binary.tar.gz".into(),
        md5,
    }];
    opts
}

/// The data folder is empty: no dataset folder, no `.fetch-*` leftover.
fn assert_clean(data: &Path) {
    let left: Vec<_> = std::fs::read_dir(data)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn good_archive_installs_and_a_second_run_does_nothing() {
    let archive = cifar_archive(None);
    let server = serve(HashMap::from([(
        "cifar-10-binary.tar.gz".into(),
        Reply::Body(archive.clone()),
    )]));
    let data = tempfile::tempdir().unwrap();
    let opts = cifar_opts(&server, data.path(), md5_hex(&archive));
    let mut rec = Recorder::default();
    let outcome = cifar_data::download::fetch(&opts, &mut rec).unwrap();
    let FetchOutcome::Installed {
        dir,
        files,
        checksums,
        counts,
    } = outcome
    else {
        panic!("expected Installed");
    };
    assert_eq!(dir, data.path().join("cifar-10-batches-bin"));
    assert_eq!(counts, (6, 2));
    assert!(checksums[0].matches());
    assert_eq!(rec.bytes, archive.len() as u64);
    assert_eq!(rec.totals, vec![Some(archive.len() as u64)]);
    assert!(
        rec.notes
            .iter()
            .any(|n| n.contains("matches the official checksum")),
        "{:?}",
        rec.notes
    );
    let test_file = files.iter().find(|f| f.name == "test_batch.bin").unwrap();
    assert_eq!((test_file.bytes, test_file.records), (2 * 3073, 2));
    let (train, test) = load_cifar10(data.path()).unwrap();
    assert_eq!((train.len(), test.len()), (6, 2));
    // Only the dataset folder is left in the data folder.
    let names: Vec<_> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["cifar-10-batches-bin"]);
    // Second run: nothing downloaded.
    let hits = server.hits.load(Ordering::SeqCst);
    let again = cifar_data::download::fetch(&opts, &mut ()).unwrap();
    assert!(matches!(again, FetchOutcome::AlreadyPresent { .. }));
    assert_eq!(server.hits.load(Ordering::SeqCst), hits);
}

#[test]
fn wrong_checksum_is_refused_unless_allowed() {
    let archive = cifar_archive(None);
    let server = serve(HashMap::from([(
        "cifar-10-binary.tar.gz".into(),
        Reply::Body(archive.clone()),
    )]));
    let data = tempfile::tempdir().unwrap();
    let mut opts = cifar_opts(
        &server,
        data.path(),
        cifar_data::download::CIFAR10_MD5.into(),
    );
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    match &err {
        FetchError::ChecksumMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, cifar_data::download::CIFAR10_MD5);
            assert_eq!(actual, &md5_hex(&archive));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("--allow-checksum-mismatch"));
    assert_clean(data.path());
    opts.allow_checksum_mismatch = true;
    let mut rec = Recorder::default();
    let outcome = cifar_data::download::fetch(&opts, &mut rec).unwrap();
    assert!(matches!(
        outcome,
        FetchOutcome::Installed { counts: (6, 2), .. }
    ));
    assert!(
        rec.notes
            .iter()
            .any(|n| n.contains("differs from the official"))
    );
}

#[test]
fn truncated_transfer_is_an_error_and_leaves_nothing() {
    let archive = cifar_archive(None);
    let half = archive[..archive.len() / 2].to_vec();
    let server = serve(HashMap::from([(
        "cifar-10-binary.tar.gz".into(),
        Reply::Short {
            body: half,
            declared: archive.len(),
        },
    )]));
    let data = tempfile::tempdir().unwrap();
    let opts = cifar_opts(&server, data.path(), md5_hex(&archive));
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    assert!(
        matches!(err, FetchError::Truncated { expected, received, .. } if expected == archive.len() as u64 && received < expected)
            || matches!(err, FetchError::Network { .. }),
        "{err:?}"
    );
    assert_clean(data.path());
}

#[test]
fn truncated_archive_with_matching_checksum_fails_to_unpack() {
    let archive = cifar_archive(None);
    let cut = archive[..archive.len() * 2 / 3].to_vec();
    let server = serve(HashMap::from([(
        "cifar-10-binary.tar.gz".into(),
        Reply::Body(cut.clone()),
    )]));
    let data = tempfile::tempdir().unwrap();
    let opts = cifar_opts(&server, data.path(), md5_hex(&cut));
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    assert!(matches!(err, FetchError::Archive { .. }), "{err:?}");
    assert_clean(data.path());
}

#[test]
fn hostile_archives_are_rejected_and_write_nothing_outside() {
    for kind in [
        Hostile::DotDot,
        Hostile::Absolute,
        Hostile::Symlink,
        Hostile::HardLink,
        Hostile::Fifo,
    ] {
        let outside = tempfile::tempdir().unwrap();
        let archive = cifar_archive(Some((kind, outside.path())));
        let server = serve(HashMap::from([(
            "cifar-10-binary.tar.gz".into(),
            Reply::Body(archive.clone()),
        )]));
        // The data folder sits two levels down in `outside`, so `../../evil.txt` from
        // inside the archive's folder would land in `outside` (or above).
        let data = outside.path().join("a").join("data");
        let opts = cifar_opts(&server, &data, md5_hex(&archive));
        let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
        let FetchError::UnsafeEntry { reason, .. } = &err else {
            panic!("{kind:?}: unexpected {err:?}");
        };
        let want = match kind {
            Hostile::DotDot => "'..'",
            Hostile::Absolute => "absolute",
            Hostile::Symlink => "symbolic link",
            Hostile::HardLink => "hard link",
            Hostile::Fifo => "regular files",
        };
        assert!(reason.contains(want), "{kind:?}: {reason}");
        assert!(
            !outside.path().join("evil.txt").exists(),
            "{kind:?} escaped"
        );
        assert!(
            !outside.path().join("a").join("evil.txt").exists(),
            "{kind:?} escaped"
        );
        assert_clean(&data);
    }
}

#[test]
fn http_errors_are_reported_with_status() {
    for status in [404u16, 500] {
        let server = serve(HashMap::from([(
            "cifar-10-binary.tar.gz".into(),
            Reply::Status(status),
        )]));
        let data = tempfile::tempdir().unwrap();
        let opts = cifar_opts(&server, data.path(), "0".repeat(32));
        let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
        assert!(
            matches!(&err, FetchError::Http { status: s, url } if *s == status && url.ends_with("cifar-10-binary.tar.gz")),
            "{err:?}"
        );
        assert!(err.to_string().contains(&format!("HTTP {status}")));
        assert_clean(data.path());
    }
}

#[test]
fn unreachable_server_is_a_network_error() {
    // Bind then drop: nothing listens on that port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tempfile::tempdir().unwrap();
    let mut opts = FetchOptions::new(FetchDataset::Cifar10, data.path());
    opts.remote.base_url = format!("http://127.0.0.1:{port}/");
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    assert!(matches!(err, FetchError::Network { .. }), "{err:?}");
    assert_clean(data.path());
}

#[test]
fn archive_without_the_dataset_or_with_bad_records_is_rejected() {
    // An archive of some other folder.
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("other")).unwrap();
    std::fs::write(src.path().join("other/readme.txt"), "hello").unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all("other", src.path().join("other")).unwrap();
    let plain_tar = b.into_inner().unwrap();
    // An archive whose test batch is cut mid-record.
    let bad = tempfile::tempdir().unwrap();
    let bin = tiny_cifar_dir(bad.path());
    let bytes = std::fs::read(bin.join("test_batch.bin")).unwrap();
    std::fs::write(bin.join("test_batch.bin"), &bytes[..4000]).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all("cifar-10-batches-bin", &bin).unwrap();
    let bad_tar = b.into_inner().unwrap();
    let server = serve(HashMap::from([
        ("other.tar".into(), Reply::Body(plain_tar.clone())),
        ("bad.tar".into(), Reply::Body(bad_tar.clone())),
    ]));
    let data = tempfile::tempdir().unwrap();
    let mut opts = cifar_opts(&server, data.path(), md5_hex(&plain_tar));
    opts.remote.files[0].name = "other.tar".into();
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    assert!(matches!(err, FetchError::Layout { .. }), "{err:?}");
    assert_clean(data.path());
    opts.remote.files = vec![RemoteFile {
        name: "bad.tar".into(),
        md5: md5_hex(&bad_tar),
    }];
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Invalid(DataError::RecordSize { len: 4000, .. })
        ),
        "{err:?}"
    );
    assert_clean(data.path());
}

/// A tiny Fashion-MNIST written as the four `.gz` files, returned as (name, bytes).
fn fashion_files() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let classes: Vec<String> = FASHION_MNIST_CLASSES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let ds = Dataset::new(
        Array4::from_shape_fn((5, 1, 28, 28), |(i, _, h, w)| (i * h + w) as u8),
        Array1::from(vec![0u8, 1, 2, 8, 9]),
        classes,
    )
    .unwrap();
    write_mnist(dir.path(), &ds, &ds.slice(0..3).unwrap(), true).unwrap();
    cifar_data::MNIST_FILES
        .iter()
        .map(|n| {
            let name = format!("{n}.gz");
            let bytes = std::fs::read(dir.path().join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

#[test]
fn fashion_mnist_downloads_four_verified_files() {
    let files = fashion_files();
    let server = serve(
        files
            .iter()
            .map(|(n, b)| (n.clone(), Reply::Body(b.clone())))
            .collect(),
    );
    let data = tempfile::tempdir().unwrap();
    let mut opts = FetchOptions::new(FetchDataset::FashionMnist, data.path());
    opts.remote.base_url = server.base.clone();
    // The official checksums do not match our tiny files: refused at the first file.
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    assert!(
        matches!(&err, FetchError::ChecksumMismatch { file, .. } if file == "train-images-idx3-ubyte.gz"),
        "{err:?}"
    );
    assert_clean(data.path());
    opts.remote.files = files
        .iter()
        .map(|(n, b)| RemoteFile {
            name: n.clone(),
            md5: md5_hex(b),
        })
        .collect();
    let mut rec = Recorder::default();
    let outcome = cifar_data::download::fetch(&opts, &mut rec).unwrap();
    let FetchOutcome::Installed {
        counts,
        checksums,
        files: installed,
        ..
    } = outcome
    else {
        panic!()
    };
    assert_eq!(counts, (5, 3));
    assert_eq!(checksums.len(), 4);
    assert!(checksums.iter().all(|c| c.matches()));
    assert_eq!(installed.len(), 4);
    assert_eq!(
        rec.bytes,
        files.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
    );
    let (train, _) = cifar_data::load_fashion_mnist(data.path()).unwrap();
    assert_eq!(train.labels.to_vec(), vec![0, 1, 2, 8, 9]);
}

#[test]
fn fashion_mnist_missing_file_on_server_leaves_nothing() {
    let files = fashion_files();
    let mut routes: HashMap<String, Reply> = files
        .iter()
        .map(|(n, b)| (n.clone(), Reply::Body(b.clone())))
        .collect();
    routes.remove("t10k-labels-idx1-ubyte.gz");
    let server = serve(routes);
    let data = tempfile::tempdir().unwrap();
    let mut opts = FetchOptions::new(FetchDataset::FashionMnist, data.path());
    opts.remote.base_url = server.base.clone();
    opts.remote.files = files
        .iter()
        .map(|(n, b)| RemoteFile {
            name: n.clone(),
            md5: md5_hex(b),
        })
        .collect();
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    assert!(
        matches!(err, FetchError::Http { status: 404, .. }),
        "{err:?}"
    );
    assert_clean(data.path());
}

#[test]
fn from_local_archive_checks_the_official_checksum() {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("cifar-10-binary.tar.gz");
    std::fs::write(&archive, cifar_archive(None)).unwrap();
    let data = work.path().join("data");
    let mut opts = FetchOptions::new(FetchDataset::Cifar10, &data);
    opts.from = Some(archive.clone());
    let mut rec = Recorder::default();
    let err = cifar_data::download::fetch(&opts, &mut rec).unwrap_err();
    assert!(
        matches!(err, FetchError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert_clean(&data);
    opts.allow_checksum_mismatch = true;
    let outcome = cifar_data::download::fetch(&opts, &mut ()).unwrap();
    assert!(matches!(
        outcome,
        FetchOutcome::Installed { counts: (6, 2), .. }
    ));
    assert!(archive.exists(), "the source archive is left alone");
}

#[test]
fn from_local_folder_needs_the_flag_and_copies() {
    let work = tempfile::tempdir().unwrap();
    let bin = tiny_cifar_dir(&work.path().join("src"));
    let data = work.path().join("data");
    let mut opts = FetchOptions::new(FetchDataset::Cifar10, &data);
    opts.from = Some(work.path().join("src")); // the parent works too
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    assert!(matches!(err, FetchError::Unverifiable { .. }), "{err:?}");
    opts.allow_checksum_mismatch = true;
    let outcome = cifar_data::download::fetch(&opts, &mut ()).unwrap();
    assert!(matches!(
        outcome,
        FetchOutcome::Installed { counts: (6, 2), .. }
    ));
    assert!(
        bin.join("test_batch.bin").exists(),
        "the source folder is left alone"
    );
}

#[test]
fn existing_broken_folder_is_reported_not_overwritten() {
    let data = tempfile::tempdir().unwrap();
    let target = data.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("test_batch.bin"), b"x").unwrap();
    let opts = FetchOptions::new(FetchDataset::Cifar10, data.path());
    let err = cifar_data::download::fetch(&opts, &mut ()).unwrap_err();
    assert!(matches!(err, FetchError::Existing { .. }), "{err:?}");
    assert_eq!(std::fs::read(target.join("test_batch.bin")).unwrap(), b"x");
}

#[test]
fn unpack_rejects_dotdot_in_plain_tar() {
    let work = tempfile::tempdir().unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    let name = b"a/../../x";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"y"[..]).unwrap();
    let path = work.path().join("t.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    let dest = work.path().join("deep").join("out");
    assert!(matches!(
        unpack_archive(&path, &dest),
        Err(FetchError::UnsafeEntry { .. })
    ));
    assert!(!work.path().join("x").exists() && !work.path().join("deep/x").exists());
}

#[test]
fn a_new_fetch_removes_only_stale_staging_folders() {
    let data = tempfile::tempdir().unwrap();
    let stale = data.path().join(".fetch-killed");
    let live = data.path().join(".fetch-running");
    for dir in [&stale, &live] {
        std::fs::create_dir(dir).unwrap();
        std::fs::write(dir.join("part"), b"partial download").unwrap();
    }
    // Back-date the killed run's folder past the stale age.
    let old = std::time::SystemTime::now()
        - cifar_data::download::STALE_STAGING_AGE
        - Duration::from_secs(60);
    std::fs::File::open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let removed = cifar_data::download::remove_stale_staging(
        data.path(),
        cifar_data::download::STALE_STAGING_AGE,
        &mut (),
    );
    assert_eq!(removed, 1);
    assert!(!stale.exists(), "the killed run's folder is gone");
    assert!(live.join("part").exists(), "a recent folder is left alone");
}
