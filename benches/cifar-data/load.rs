//! Loading speed: all of CIFAR-10 (60 000 images, 184 MB) and the bundled sample.
//!
//! ```text
//! cargo bench -p benches --bench load
//! CIFAR10_DIR=/path/to/cifar-10-batches-bin cargo bench -p benches --bench load
//! ```
//! CIFAR-10 is read from `$CIFAR10_DIR`, else the checkout's `data/cifar-10-batches-bin`;
//! when neither exists that case is skipped with a message.

use std::path::PathBuf;
use std::time::Duration;

use cifar_data::{DataSource, DatasetChoice, load_cifar10, load_fashion_mnist};
use criterion::{Criterion, criterion_group, criterion_main};

/// CIFAR-10 from `$CIFAR10_DIR`, else the checkout's `data/` (benches run in the
/// `benches/` folder, so it is found from there).
fn cifar_dir() -> Option<PathBuf> {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data");
    DataSource::resolve_or_env(DatasetChoice::Cifar10, data, "CIFAR10_DIR")
        .ok()
        .map(|src| src.dir)
        .filter(|d| d.join("test_batch.bin").is_file())
}

fn bench_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    match cifar_dir() {
        Some(dir) => {
            group.bench_function("cifar10_60000", |b| {
                b.iter(|| {
                    let (train, test) = load_cifar10(&dir).expect("CIFAR-10 loads");
                    assert_eq!(train.len() + test.len(), 60_000);
                    (train, test)
                })
            });
            let (train, _) = load_cifar10(&dir).expect("CIFAR-10 loads");
            group.bench_function("cifar10_train_to_rows_f32", |b| {
                b.iter(|| train.to_rows::<f32>())
            });
        }
        None => eprintln!(
            "skipping cifar10 benches: no CIFAR-10 folder (set CIFAR10_DIR or run `cargo xtask fetch-data`)"
        ),
    }
    match DataSource::resolve(DatasetChoice::Sample, "data") {
        Ok(src) => {
            group.bench_function("sample_6000_gz", |b| {
                b.iter(|| load_fashion_mnist(&src.dir).expect("sample loads"))
            });
        }
        Err(e) => eprintln!("skipping sample bench: {e}"),
    }
    group.finish();
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
