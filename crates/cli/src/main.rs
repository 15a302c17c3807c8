//! The `cs231n` command.
fn main() {}
