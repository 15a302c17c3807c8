//! Accuracy on the real data sets against the project's accuracy targets, with time and peak memory.
//!
//! ```text
//! cargo run --release -p knn --example knn_accuracy -- cifar     # course set-up + cross-validation
//! cargo run --release -p knn --example knn_accuracy -- fashion   # full Fashion-MNIST, L2 and L1
//! ```
//!
//! Data: `data/cifar-10-batches-bin` and `data/fashion-mnist` as `cargo xtask
//! fetch-data` installs them, or the folders in `CIFAR10_DIR` and `FASHION_MNIST_DIR`.
//! Peak memory is the process's VmHWM, so run one data set per process.

use std::time::Instant;

use cifar_data::{DEFAULT_DATA_DIR, DataSource, Dataset, DatasetChoice};
use knn::{COURSE_K_CHOICES, COURSE_NUM_FOLDS, KNearestNeighbor, Metric, Vote, accuracy};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "cifar".into());
    println!("threads: {}", numeric::threads());
    match which.as_str() {
        "cifar" => cifar(),
        "fashion" => fashion(),
        other => Err(format!("unknown data set {other:?}: expected cifar or fashion").into()),
    }
}

/// The dataset as `cargo xtask fetch-data` installs it under `data/` (run from the
/// checkout), or from the folder in `var`.
fn load_dataset(choice: DatasetChoice, var: &str) -> Result<(Dataset, Dataset), Error> {
    Ok(DataSource::resolve_or_env(choice, DEFAULT_DATA_DIR, var)?.load()?)
}

/// Peak resident memory of this process so far, in MiB (Linux's VmHWM).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// The course's notebook: first 5 000 training and 500 test images, raw pixels as
/// float64 (as `load_CIFAR10` returns them), L2.
fn cifar() -> Result<(), Error> {
    let t0 = Instant::now();
    let (train, test) = load_dataset(DatasetChoice::Cifar10, "CIFAR10_DIR")?;
    let (train, test) = (train.slice(0..5000)?, test.slice(0..500)?);
    let (x_train, y_train) = (train.to_rows::<f64>(), train.labels_usize());
    let (x_test, y_test) = (test.to_rows::<f64>(), test.labels_usize());
    println!(
        "cifar10: loaded 5000/500 in {:.2} s",
        t0.elapsed().as_secs_f64()
    );

    let mut knn = KNearestNeighbor::new();
    knn.train(x_train.view(), y_train.view())?;
    let t = Instant::now();
    let dists = knn.compute_distances_no_loops(x_test.view())?;
    println!(
        "cifar10: no_loops 500x5000 (f64) in {:.3} s",
        t.elapsed().as_secs_f64()
    );
    for k in [1, 10] {
        let t = Instant::now();
        let y_pred = knn.predict_labels(dists.view(), k)?;
        let by_matrix = accuracy(y_pred.view(), y_test.view())?;
        let y_pred = knn.predict(x_test.view(), k)?;
        let by_predict = accuracy(y_pred.view(), y_test.view())?;
        println!(
            "cifar10 L2 k={k}: accuracy {by_matrix:.3} (predict_labels), {by_predict:.3} (predict), {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }

    let t = Instant::now();
    let cv = knn.cross_validate(
        x_train.view(),
        y_train.view(),
        COURSE_NUM_FOLDS,
        &COURSE_K_CHOICES,
    )?;
    println!(
        "cifar10 L2 {}-fold cross-validation in {:.2} s:",
        cv.num_folds,
        t.elapsed().as_secs_f64()
    );
    println!("  k    mean    std     folds");
    for a in &cv.per_k {
        let folds: Vec<String> = a
            .fold_accuracies
            .iter()
            .map(|v| format!("{v:.3}"))
            .collect();
        println!(
            "  {:<4} {:.4}  {:.4}  {}",
            a.k,
            a.mean,
            a.std,
            folds.join(" ")
        );
    }
    println!("  best k = {}", cv.best().k);
    println!(
        "cifar10: total {:.2} s, peak RSS {:.0} MiB",
        t0.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    Ok(())
}

/// Full Fashion-MNIST, 60 000 × 10 000, f32: L2 majority k = 5, then L1 weighted k = 5.
fn fashion() -> Result<(), Error> {
    let t0 = Instant::now();
    let (train, test) = load_dataset(DatasetChoice::FashionMnist, "FASHION_MNIST_DIR")?;
    let (x_test, y_test) = (test.to_rows::<f32>(), test.labels_usize());
    let mut knn = KNearestNeighbor::new();
    knn.train_owned(train.to_rows::<f32>(), train.labels_usize())?;
    drop((train, test));
    println!(
        "fashion-mnist: {} train / {} test loaded in {:.2} s",
        knn.num_train(),
        x_test.nrows(),
        t0.elapsed().as_secs_f64()
    );
    for (metric, vote) in [(Metric::L2, Vote::Majority), (Metric::L1, Vote::Distance)] {
        knn = knn.with_metric(metric).with_vote(vote);
        let t = Instant::now();
        let y_pred = knn.predict(x_test.view(), 5)?;
        let secs = t.elapsed().as_secs_f64();
        let acc = accuracy(y_pred.view(), y_test.view())?;
        println!(
            "fashion-mnist {metric} {vote:?} k=5: accuracy {acc:.4}, predict {secs:.2} s, peak RSS {:.0} MiB",
            peak_rss_mib()
        );
    }
    println!("fashion-mnist: total {:.2} s", t0.elapsed().as_secs_f64());
    Ok(())
}
