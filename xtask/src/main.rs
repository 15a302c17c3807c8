//! `cargo xtask <task>`: the project's chores, in Rust so they run wherever cargo does.
fn main() {}
