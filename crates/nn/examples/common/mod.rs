//! What the accuracy examples share: `key=value` options after the workload name,
//! and the data sets found from their environment variable or default directories.

use cifar_data::{DEFAULT_DATA_DIR, DataError, DataSource, Dataset, DatasetChoice};

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

/// Fashion-MNIST or CIFAR-10 as `cargo xtask fetch-data` installs them under `data/`
/// (run from the checkout), or from `FASHION_MNIST_DIR` / `CIFAR10_DIR`: `(train, test)`.
pub fn load_data(fashion: bool) -> Result<(Dataset, Dataset), DataError> {
    let (choice, var) = if fashion {
        (DatasetChoice::FashionMnist, "FASHION_MNIST_DIR")
    } else {
        (DatasetChoice::Cifar10, "CIFAR10_DIR")
    };
    DataSource::resolve_or_env(choice, DEFAULT_DATA_DIR, var)?.load()
}
