//! Rebuilds the bundled sample `data/sample/`: the first 500 training and the first 100
//! test images of each Fashion-MNIST class, in file order, as the four standard IDX
//! `.gz` files. Deterministic: the same source files give byte-identical output.
//!
//! ```text
//! cargo xtask fetch-data --dataset fashion-mnist
//! cargo run -p cifar-data --example make_sample -- [SOURCE_DIR] [OUT_DIR]
//! ```
//! SOURCE_DIR defaults to `data/fashion-mnist` (where `fetch-data` puts the four
//! official files; any folder holding them works), OUT_DIR to `data/sample`.

use cifar_data::{load_fashion_mnist, write_mnist};

/// Training images kept per class.
const TRAIN_PER_CLASS: usize = 500;
/// Test images kept per class.
const TEST_PER_CLASS: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let src = args.next().unwrap_or_else(|| "data/fashion-mnist".into());
    let out = args.next().unwrap_or_else(|| "data/sample".into());
    let (train, test) = load_fashion_mnist(&src)?;
    let train = train.first_per_class(TRAIN_PER_CLASS);
    let test = test.first_per_class(TEST_PER_CLASS);
    write_mnist(&out, &train, &test, true)?;
    println!(
        "wrote {out}: {} training images ({:?} per class), {} test images ({:?} per class)",
        train.len(),
        train.class_counts(),
        test.len(),
        test.class_counts()
    );
    Ok(())
}
