//! `cargo xtask fetch-data`: download (or install `--from` a local copy), verify and
//! unpack CIFAR-10 or Fashion-MNIST into the data folder.
//!
//! ```text
//! cargo xtask fetch-data                                  # CIFAR-10 from its official URL
//! cargo xtask fetch-data --dataset fashion-mnist          # the four Fashion-MNIST files
//! cargo xtask fetch-data --from ~/cifar-10-binary.tar.gz  # offline, from a local archive
//! cargo xtask fetch-data --from ~/cifar-10-batches-bin --allow-checksum-mismatch
//! ```
//! All the work (checksums, safe unpacking, validation, rename into place) is
//! `cifar_data::download::fetch`; this file adds the progress bar and the messages.

use std::path::PathBuf;

use cifar_data::download::{FetchDataset, FetchOptions, FetchOutcome, Progress, fetch};
use indicatif::{ProgressBar, ProgressStyle};

/// Options of `cargo xtask fetch-data`.
#[derive(clap::Args)]
pub struct Args {
    /// Dataset to install: cifar10 or fashion-mnist.
    #[arg(long, default_value = "cifar10")]
    dataset: FetchDataset,
    /// Data folder; the dataset goes into a sub-folder of it [default: the checkout's
    /// data/, whatever the current directory].
    #[arg(long, value_name = "DIR", env = cifar_data::DATA_DIR_ENV)]
    data_dir: Option<PathBuf>,
    /// Install from a local archive (.tar.gz / .tar) or folder instead of downloading.
    #[arg(long, value_name = "PATH")]
    from: Option<PathBuf>,
    /// Install even when the checksum differs from the official one (or a folder has none).
    #[arg(long)]
    allow_checksum_mismatch: bool,
    /// Download from this URL folder (a mirror) instead of the official one; the
    /// official checksums still apply.
    #[arg(long, env = "CS231N_DATA_BASE_URL", value_name = "URL")]
    base_url: Option<String>,
}

/// Runs the task.
pub fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = args.data_dir.unwrap_or_else(cifar_data::default_data_dir);
    let mut opts = FetchOptions::new(args.dataset, data_dir);
    opts.from = args.from;
    opts.allow_checksum_mismatch = args.allow_checksum_mismatch;
    if let Some(url) = args.base_url {
        opts.remote.base_url = url;
    }
    let what = match args.dataset {
        FetchDataset::Cifar10 => "CIFAR-10",
        FetchDataset::FashionMnist => "Fashion-MNIST",
    };
    match &opts.from {
        Some(p) => eprintln!(
            "installing {what} from {} into {}",
            p.display(),
            opts.data_dir.display()
        ),
        None => eprintln!(
            "fetching {what} from {} into {}",
            opts.remote.base_url,
            opts.data_dir.display()
        ),
    }
    let mut bar = Bar::default();
    let outcome = fetch(&opts, &mut bar);
    bar.end();
    match outcome? {
        FetchOutcome::AlreadyPresent { dir } => {
            eprintln!("{} already holds {what}: nothing to do", dir.display());
        }
        FetchOutcome::Installed {
            dir, files, counts, ..
        } => {
            eprintln!(
                "installed {what} into {}: {} training and {} test images",
                dir.display(),
                counts.0,
                counts.1
            );
            for f in files {
                eprintln!(
                    "  {:<28} {:>12} bytes  {:>6} records",
                    f.name, f.bytes, f.records
                );
            }
        }
    }
    Ok(())
}

/// An indicatif bar per transfer (bytes, rate, ETA); notes print above it.
#[derive(Default)]
struct Bar {
    bar: Option<ProgressBar>,
}

impl Progress for Bar {
    fn begin(&mut self, what: &str, total: Option<u64>) {
        self.end();
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template(
                    "{msg:<36} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg:<36} {bytes} {bytes_per_sec}")
                    .expect("valid template"),
            ),
        };
        bar.set_message(what.to_string());
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn end(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }

    fn note(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }
}
