//! Running `cs231n` on small datasets written in the real formats (CIFAR-10 binary
//! batches, Fashion-MNIST IDX) into a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cifar_data::{CIFAR10_CLASSES, Dataset, write_cifar10};
use ndarray::{Array1, Array4};
use serde_json::Value;

use super::s;

pub const BIN: &str = env!("CARGO_BIN_EXE_cs231n");

/// A learnable toy dataset: each class has its own mean brightness per channel plus a
/// little deterministic noise, so nearest neighbours and linear models beat chance.
pub fn toy(n: usize, channels: usize, side: usize, classes: &[&str], offset: usize) -> Dataset {
    let k = classes.len();
    let labels = Array1::from_shape_fn(n, |i| ((i + offset) % k) as u8);
    let images = Array4::from_shape_fn((n, channels, side, side), |(i, c, y, x)| {
        let class = (i + offset) % k;
        let base = 20 + class * 200 / k + c * 7;
        let noise = (i * 31 + y * 17 + x * 13 + c * 5) % 23;
        (base + noise).min(255) as u8
    });
    Dataset::new(
        images,
        labels,
        classes.iter().map(|s| s.to_string()).collect(),
    )
    .unwrap()
}

pub fn cifar_dir(train: usize, test: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(
        dir.path(),
        &toy(train, 3, 32, &CIFAR10_CLASSES, 0),
        &toy(test, 3, 32, &CIFAR10_CLASSES, 3),
    )
    .unwrap();
    dir
}

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove(cifar_data::DATA_DIR_ENV)
        .output()
        .expect("the binary runs")
}

/// Runs with `--json` and parses stdout, which must be exactly one JSON object.
pub fn run_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = run(&all);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed:\n{stderr}");
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout holds one JSON line: {stdout}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(v.is_object());
    assert!(v["total_seconds"].as_f64().unwrap() >= 0.0);
    v
}

/// A toy CIFAR-10 folder (60 training and 20 test images) and an output folder.
pub struct Dirs {
    pub data: tempfile::TempDir,
    pub out: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Self {
        Dirs {
            data: cifar_dir(60, 20),
            out: tempfile::tempdir().unwrap(),
        }
    }

    /// `command --data-dir <data> --out <out>` followed by `extra`.
    pub fn args<'a>(&'a self, command: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec![
            command,
            "--data-dir",
            s(self.data.path()),
            "--out",
            s(self.out.path()),
        ];
        all.extend_from_slice(extra);
        all
    }

    /// A file in the output folder.
    pub fn out(&self, name: &str) -> PathBuf {
        self.out.path().join(name)
    }

    /// Test image `i` of the toy CIFAR-10 test set, written as `name` (PNG) into the
    /// output folder.
    pub fn test_png(&self, i: usize, name: &str) -> PathBuf {
        let path = self.out(name);
        write_png(&toy(20, 3, 32, &CIFAR10_CLASSES, 3), i, &path);
        path
    }
}

/// Asserts the run failed and its stderr names `needle`; returns that stderr.
#[track_caller]
pub fn assert_fails_naming(out: &Output, needle: &str) -> String {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains(needle), "{stderr}");
    stderr
}

pub fn write_png(ds: &Dataset, i: usize, path: &Path) {
    let (_, _, h, w) = ds.images.dim();
    let img = image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let px = |c| ds.images[[i, c, y as usize, x as usize]];
        image::Rgb([px(0), px(1), px(2)])
    });
    img.save(path).unwrap();
}
