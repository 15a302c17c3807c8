//! Prints the lecture's three circuits: forward/backward tables and DOT pictures.
//!
//! `cargo run -p backprop --example lecture [DIR]` writes `<name>.dot` into DIR
//! (default: the current directory; it must exist); `dot -Tpng add-mul.dot -o
//! add-mul.png` draws one.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    if !dir.is_dir() {
        eprintln!(
            "error: {} is not a folder; create it or give another (lecture [DIR])",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    for name in backprop::examples::NAMES {
        let ex = match backprop::examples::by_name(name).expect("listed in NAMES") {
            Ok(ex) => ex,
            Err(e) => {
                eprintln!("error: building the {name} circuit: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("{}\n\n{}", ex.title, ex.graph.table());
        let path = dir.join(format!("{name}.dot"));
        if let Err(e) = std::fs::write(&path, ex.graph.to_dot()) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {}\n", path.display());
    }
    ExitCode::SUCCESS
}
