//! What the accuracy examples share: `key=value` options after the workload name,
//! and the data sets found from their environment variable or default directories.

use std::path::PathBuf;

use cifar_data::{DataError, Dataset, load_cifar10, load_fashion_mnist};

/// The `key=value` options after the workload name.
pub struct Opts(Vec<(String, String)>);

impl Opts {
    /// The workload (the first argument, `default` when absent) and the options
    /// after it (arguments without `=` are ignored).
    pub fn from_args(default: &str) -> (String, Opts) {
        // Keep the step's large temporaries between steps, as the `cs231n` binary does.
        numeric::tune_allocator();
        let mut args = std::env::args().skip(1);
        let workload = args.next().unwrap_or_else(|| default.into());
        let opts = Opts(
            args.filter_map(|a| {
                a.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect(),
        );
        (workload, opts)
    }

    /// The raw value given for `key`, if any.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `key` parsed, or `default` when absent; a value that does not parse panics
    /// (these are measurement runs: better stop than measure the wrong thing).
    pub fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        self.raw(key).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("cannot parse {key}={v}"))
        })
    }
}

/// `$env` if set, else the first of `candidates` that exists (else the first).
fn first_existing(env: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return p.into();
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| candidates[0].into())
}

/// Fashion-MNIST (`FASHION_MNIST_DIR`, default `/usr/share/datasets/fashion-mnist`,
/// then `data/fashion-mnist`) or CIFAR-10 (`CIFAR10_DIR`, default
/// `/work/cifar/cifar-10-batches-bin`, then `/work/main/data/cifar-10-batches-bin`):
/// `(train, test)`.
pub fn load_data(fashion: bool) -> Result<(Dataset, Dataset), DataError> {
    if fashion {
        load_fashion_mnist(first_existing(
            "FASHION_MNIST_DIR",
            &["/usr/share/datasets/fashion-mnist", "data/fashion-mnist"],
        ))
    } else {
        load_cifar10(first_existing(
            "CIFAR10_DIR",
            &[
                "/work/cifar/cifar-10-batches-bin",
                "/work/main/data/cifar-10-batches-bin",
            ],
        ))
    }
}
