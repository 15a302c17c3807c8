//! Prints the lecture's three circuits: forward/backward tables and DOT pictures.
//!
//! `cargo run -p backprop --example lecture [DIR]` writes `<name>.dot` into DIR
//! (default: the current directory); `dot -Tpng add-mul.dot -o add-mul.png` draws one.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    for name in backprop::examples::NAMES {
        let ex = backprop::examples::by_name(name).expect("listed in NAMES")?;
        println!("{}\n\n{}", ex.title, ex.graph.table());
        let path = dir.join(format!("{name}.dot"));
        std::fs::write(&path, ex.graph.to_dot())?;
        println!("wrote {}\n", path.display());
    }
    Ok(())
}
