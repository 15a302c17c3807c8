//! The committed inputs of the fuzz targets, for the stable replay tests: every seed
//! (`seeds/TARGET/`) and every minimised crash (`regressions/TARGET/`), in name order.

use std::path::{Path, PathBuf};

/// The committed inputs of `target` under the fuzz folder `fuzz`, seeds first.
pub fn inputs(fuzz: &Path, target: &str) -> Vec<PathBuf> {
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
pub fn replay(fuzz: &Path, target: &str, body: fn(&[u8])) {
    let files = inputs(fuzz, target);
    assert!(!files.is_empty(), "no committed inputs for {target}");
    for path in files {
        eprintln!("replaying {}", path.display());
        body(&std::fs::read(&path).unwrap());
    }
}
