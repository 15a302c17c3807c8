//! The committed inputs of the fuzz targets, for the stable replay tests
//! (`crates/cifar-data/tests/cifar-data/fuzz_replay.rs`,
//! `crates/cli/tests/cli/fuzz_replay.rs`), which include this file: every seed
//! (`seeds/TARGET/`) and every minimised crash (`regressions/TARGET/`), in name order.

use std::path::{Path, PathBuf};

/// The committed inputs of `target`, seeds first. The path is resolved from the
/// including test's crate, two folders below the workspace root.
pub fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut all = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
        files.sort();
        all.extend(files);
    }
    all
}

/// Runs `body` on every input of `target`; a failure names the file.
pub fn replay(target: &str, body: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no committed inputs for {target}");
    for path in files {
        eprintln!("replaying {}", path.display());
        body(&std::fs::read(&path).unwrap());
    }
}
