//! The fuzz targets' bodies: one function per parser, taking the fuzzer's bytes.
//!
//! Each function feeds the bytes to the project's own entry point and asserts what
//! must hold for *any* input: an error or a value, never a panic, and a value that is
//! consistent with the bytes it came from. The same functions replay the committed
//! corpora on stable Rust (`crates/cifar-data/tests/cifar-data/fuzz_replay.rs`,
//! `crates/cli/tests/cli/fuzz_replay.rs`), so a fixed crash stays fixed without nightly.

pub mod data;
pub mod image;
pub mod net;

// `cs231n` is a binary: its image decoding is compiled here from its own file.
#[allow(dead_code)]
#[path = "../../crates/cli/src/error.rs"]
mod error;
