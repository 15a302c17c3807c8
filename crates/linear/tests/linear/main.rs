//! The `linear` crate's integration tests as one test binary: one module per idea,
//! linked against the crate and its dependencies once rather than once per file.

mod losses;
mod training;
