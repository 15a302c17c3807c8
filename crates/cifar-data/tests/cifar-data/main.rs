//! The `cifar-data` crate's integration tests as one test binary: one module per idea,
//! linked against the crate and its dependencies once rather than once per file.

mod bad_input;
mod download;
mod fuzz_replay;
mod gzip_bomb;
mod http_server;
mod preprocess;
mod roundtrip;
