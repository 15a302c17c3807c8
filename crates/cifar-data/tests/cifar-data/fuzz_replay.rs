//! Replays the committed fuzz inputs of the dataset readers on stable Rust: every seed
//! (`fuzz/seeds/TARGET/`) and every minimised crash (`fuzz/regressions/TARGET/`) goes
//! through the fuzz target's own body, so what fuzzing fixed stays fixed without
//! nightly. See docs/fuzz.md.

use std::path::Path;

#[allow(dead_code)]
#[path = "../../../../fuzz/src/data.rs"]
mod data;

#[allow(dead_code)]
#[path = "../../../../fuzz/src/corpus.rs"]
mod corpus;
use corpus::{inputs, replay};

#[test]
fn idx_raw_inputs() {
    replay("idx_raw", data::idx_raw);
}

#[test]
fn idx_gz_inputs() {
    replay("idx_gz", data::idx_gz);
}

#[test]
fn cifar_batch_inputs() {
    replay("cifar_batch", data::cifar_batch);
}

#[test]
fn unpack_inputs() {
    replay("unpack", data::unpack);
}

#[test]
fn the_replayed_bodies_check_something() {
    // A seed IDX file reads; a lying header does not; an archive with `..` is refused
    // without writing beside the target folder (the body asserts that).
    let labels = inputs("idx_raw")
        .into_iter()
        .find(|p| p.ends_with("labels-idx1-ubyte"))
        .unwrap();
    let bytes = std::fs::read(labels).unwrap();
    assert!(cifar_data::read_idx_from(&bytes[..], Path::new("l")).is_ok());
    let mut lying = bytes.clone();
    lying[7] = 200;
    assert!(cifar_data::read_idx_from(&lying[..], Path::new("l")).is_err());
    data::idx_gz(&bytes);
    data::unpack(&[0u8; 1024]);
}
