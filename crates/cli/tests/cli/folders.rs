//! `--data-dir` and `--out` as a user gets them wrong: checked before any work, with a
//! message that says what is wrong and how to fix it.

use crate::common;

use std::path::Path;
use std::process::Command;

use cifar_data::CIFAR10_DIR;
use common::cli_run::*;
use common::s;
use serde_json::Value;

#[test]
fn missing_data_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = run(&[
        "info",
        "--data-dir",
        s(empty.path()),
        "--dataset",
        "cifar10",
        "--json",
    ]);
    let stderr = assert_fails_naming(&out, "cargo xtask fetch-data");
    assert!(stderr.contains(CIFAR10_DIR), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "no JSON on failure");
}

#[test]
fn a_data_dir_that_does_not_exist_is_an_error() {
    let gone = tempfile::tempdir().unwrap().path().join("nowhere");
    let out = run(&["knn", "--data-dir", s(&gone)]);
    let stderr = assert_fails_naming(&out, "does not exist");
    assert!(stderr.contains(s(&gone)), "{stderr}");
    assert!(!stderr.contains("using the bundled"), "{stderr}");
    // The environment variable is as explicit as the option.
    let out = Command::new(BIN)
        .args(["info", "--json"])
        .env(cifar_data::DATA_DIR_ENV, &gone)
        .output()
        .unwrap();
    assert_fails_naming(&out, "does not exist");
    // A file is no data folder either.
    let file = tempfile::NamedTempFile::new().unwrap();
    assert_fails_naming(
        &run(&["info", "--data-dir", s(file.path())]),
        "is not a folder",
    );
}

#[test]
fn the_default_data_dir_does_not_depend_on_the_current_directory() {
    // From a folder with no data/ of its own, the checkout's data/ is used.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["info", "--json"])
        .env_remove(cifar_data::DATA_DIR_ENV)
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = Path::new(v["data_dir"].as_str().unwrap());
    assert!(dir.starts_with(cifar_data::default_data_dir()), "{dir:?}");
}

#[test]
fn the_suggested_fetch_keeps_the_users_data_dir() {
    let empty = tempfile::tempdir().unwrap();
    let fix = format!("cargo xtask fetch-data --data-dir {}", s(empty.path()));
    // The fallback notice of `auto` ...
    let out = run(&["info", "--data-dir", s(empty.path())]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&fix), "{stderr}");
    // ... and the error of an explicit dataset.
    let out = run(&[
        "info",
        "--data-dir",
        s(empty.path()),
        "--dataset",
        "cifar10",
    ]);
    assert_fails_naming(&out, &fix);
}

#[test]
fn out_is_checked_before_any_work() {
    let d = Dirs::new();
    let file = d.out("a-file");
    std::fs::write(&file, b"x").unwrap();
    let inside = file.join("plots");
    let cases = [
        (s(&file), "is a file, not a folder"),
        (s(&inside), "is a file, so no folder can be made in it"),
    ];
    for (out_dir, problem) in cases {
        let args = [
            "svm",
            "--data-dir",
            s(d.data.path()),
            "--out",
            out_dir,
            "--search",
        ];
        let out = run(&args);
        let stderr = assert_fails_naming(&out, problem);
        assert!(stderr.contains(&format!("--out {out_dir}")), "{stderr}");
        // Nothing ran: no dataset notice, no search table.
        assert!(!stderr.contains("using CIFAR-10"), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // A command that writes nothing does not care.
    let out = run(&["info", "--data-dir", s(d.data.path()), "--out", s(&file)]);
    assert!(out.status.success());
}
