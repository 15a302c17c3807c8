//! Replays the committed fuzz inputs of the network and image parsers on stable Rust:
//! every seed (`fuzz/seeds/TARGET/`) and every minimised crash
//! (`fuzz/regressions/TARGET/`). Specs and model files go through the fuzz targets'
//! own bodies; images go through `cs231n predict` itself. See docs/fuzz.md.
//!
//! Inputs named `nn-*` reproduce defects the nn crate had (allocation from untrusted
//! sizes, shapes that overflow, a filter wider than its input): they replay with the
//! rest, so each stays an error instead of an abort.

use crate::common;

use std::path::{Path, PathBuf};

use common::{Spec, predict};

#[allow(dead_code)]
#[path = "../../../../fuzz/src/net.rs"]
mod net;

#[allow(dead_code)]
#[path = "../../../../fuzz/src/corpus.rs"]
mod corpus;
use corpus::{inputs, replay};

#[test]
fn spec_inputs() {
    replay("spec", net::spec);
}

#[test]
fn checkpoint_inputs() {
    replay("checkpoint", net::checkpoint);
}

#[test]
fn seeds_build_real_models() {
    // The bodies above ignore errors; the seeds themselves must build and load.
    let seeds = |target: &str| {
        inputs(target)
            .into_iter()
            .filter(|p| p.parent().unwrap().parent().unwrap().ends_with("seeds"))
            .collect::<Vec<_>>()
    };
    for path in seeds("spec") {
        let arch = std::fs::read_to_string(&path).unwrap();
        let built = [&[3usize, 8, 8][..], &[1, 5, 5], &[10]]
            .iter()
            .any(|shape| net::build_from_spec(&arch, shape).is_some());
        assert!(built, "{arch}");
    }
    let models = seeds("checkpoint");
    assert!(!models.is_empty());
    for path in models {
        assert!(net::load_from_file(&path).is_some(), "{}", path.display());
    }
}

#[test]
fn image_inputs_through_predict() {
    let files = inputs("image");
    assert!(!files.is_empty());
    let images: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let dir = tempfile::tempdir().unwrap();
    for shape in [[1, 8, 8], [3, 32, 32]] {
        let model = Spec::net_for(shape).write(&dir.path().join("m.safetensors"));
        let out = predict(&model, &images);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Success, or the clear per-image errors and status 1: never a panic.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{shape:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let answered = stdout.lines().count()
            + stderr
                .lines()
                .filter(|l| l.contains("cannot read the image"))
                .count();
        assert_eq!(
            answered,
            images.len(),
            "every image answered once:\n{stdout}\n{stderr}"
        );
    }
}
