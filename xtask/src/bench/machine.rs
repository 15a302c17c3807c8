//! The machine the figures come from: CPU, cores, memory bandwidth, load, toolchain,
//! and which Python peers (numpy, PyTorch) can run beside this project, on which BLAS
//! kernels.

use std::path::Path;
use std::process::Command;

use super::bandwidth::{self, Bandwidth};
use super::stats::Impl;

/// Variables that pin OpenBLAS to a kernel older than the CPU (this machine's
/// environment sets `OPENBLAS_CORETYPE=Haswell`, an AVX2 kernel, on an AVX-512 CPU).
/// They are removed from the peers' environment only, so numpy runs at its best.
pub const PEER_UNSET_ENV: [&str; 2] = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

/// `python3 bench/peers/peer.py` in the peers' environment: [`PEER_UNSET_ENV`] removed.
pub fn peer_command(root: &Path) -> Command {
    let mut c = Command::new("python3");
    c.arg(root.join("bench/peers/peer.py"));
    for var in PEER_UNSET_ENV {
        c.env_remove(var);
    }
    c
}

/// Which Python peers can run, and what the user should know about the others.
pub struct Peers {
    /// Peers that import.
    pub available: Vec<Impl>,
    /// Versions found (for the report).
    pub versions: String,
    /// Messages (missing python3 / numpy / torch and how to install them).
    pub notes: Vec<String>,
    /// Whether `--peers` was asked.
    pub asked: bool,
    /// Peers that import but were left out by `--peer`.
    pub not_chosen: Vec<Impl>,
}

impl Peers {
    /// No peers (without `--peers`).
    pub fn none() -> Peers {
        Peers {
            available: Vec::new(),
            versions: String::new(),
            notes: Vec::new(),
            asked: false,
            not_chosen: Vec::new(),
        }
    }

    /// Keeps the available peers named in `names` (`numpy`, `torch`); all of them when
    /// `names` is empty.
    pub fn keep_only(&mut self, names: &[String]) {
        if !names.is_empty() {
            let (kept, left): (Vec<Impl>, Vec<Impl>) = self
                .available
                .iter()
                .partition(|p| names.iter().any(|name| name == p.name()));
            self.available = kept;
            self.not_chosen.extend(left);
        }
    }

    /// Asks python3 which of numpy / torch import.
    pub fn detect(root: &Path) -> Peers {
        let mut p = Peers {
            asked: true,
            ..Peers::none()
        };
        let out = peer_command(root).arg("--versions").output();
        let text = match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            Ok(o) => {
                p.notes.push(format!(
                    "python3 could not run bench/peers/peer.py: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                return p;
            }
            Err(e) => {
                p.notes.push(format!("no python3 ({e}): peers skipped; install Python 3 and `pip install numpy torch`"));
                return p;
            }
        };
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_default();
        let get = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let mut versions = vec![format!("Python {}", get("python").unwrap_or_default())];
        match get("numpy") {
            Some(ver) => {
                p.available.push(Impl::Numpy);
                let blas = get("numpy_blas").unwrap_or_default();
                versions.push(format!("numpy {ver} ({blas})"));
                if get("numpy_kernel").is_none() {
                    p.notes.push(
                        "threadpoolctl not found: numpy's BLAS kernel not recorded (`pip install threadpoolctl`)"
                            .into(),
                    );
                }
            }
            None => p
                .notes
                .push("numpy not found: numpy peer skipped (`pip install numpy`)".into()),
        }
        match get("torch") {
            Some(ver) => {
                p.available.push(Impl::Torch);
                let blas = get("torch_blas").unwrap_or_else(|| "CPU".into());
                versions.push(format!("PyTorch {ver} ({blas})"));
            }
            None => p.notes.push(
                "torch not found: PyTorch peer skipped (`pip install torch`, or the smaller CPU-only wheel from PyTorch's own index)"
                    .into(),
            ),
        }
        p.versions = versions.join(", ");
        p
    }
}

/// The machine and toolchain the figures come from.
pub struct Machine {
    /// CPU model from /proc/cpuinfo.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Threads given to every implementation.
    pub threads: usize,
    /// `rustc -V`.
    pub rustc: String,
    /// Peers' versions.
    pub peers: String,
    /// 1-minute load average when the run started and when it ended.
    pub load: (String, String),
    /// Streaming copy and triad rates, the roof of memory-bound layers.
    pub bandwidth: Bandwidth,
}

impl Machine {
    /// Reads /proc/cpuinfo and `rustc -V`, and measures the memory bandwidth with
    /// `threads` threads (under a second).
    pub fn detect(threads: usize, peers: &Peers, load_at_start: String) -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let flags = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("flags"))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let simd = ["avx512f", "avx2", "fma"]
            .into_iter()
            .filter(|f| flags.split_whitespace().any(|x| x == *f))
            .collect::<Vec<_>>()
            .join(", ");
        let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("-V")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Machine {
            cpu: if simd.is_empty() {
                cpu
            } else {
                format!("{cpu} ({simd})")
            },
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads,
            rustc,
            peers: peers.versions.clone(),
            load: (load_at_start, load_average()),
            bandwidth: bandwidth::measure(threads),
        }
    }
}

/// The 1-minute load average (/proc/loadavg), or "?" where there is none.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_only_filters_the_available_peers() {
        let mut peers = Peers {
            available: vec![Impl::Numpy, Impl::Torch],
            ..Peers::none()
        };
        peers.keep_only(&[]);
        assert_eq!(peers.available, vec![Impl::Numpy, Impl::Torch]);
        peers.keep_only(&["numpy".to_string()]);
        assert_eq!(peers.available, vec![Impl::Numpy]);
        assert_eq!(peers.not_chosen, vec![Impl::Torch]);
        peers.keep_only(&["torch".to_string()]);
        assert!(peers.available.is_empty());
        assert_eq!(peers.not_chosen, vec![Impl::Torch, Impl::Numpy]);
    }

    #[test]
    fn peers_run_without_the_kernel_pins() {
        let cmd = peer_command(Path::new("/nowhere"));
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(removed, PEER_UNSET_ENV);
    }
}
