use std::sync::OnceLock;

static CONFIGURED: OnceLock<usize> = OnceLock::new();

/// Sets how many threads cs231n-rs uses, for rayon loops and GEMM together.
///
/// Call it once, early (the CLI's `--threads` does). Without a call, rayon's own
/// convention applies: `RAYON_NUM_THREADS`, else one thread per core. GEMM called
/// from inside a rayon loop runs single-threaded (see [`crate::gemm`]), so the
/// total never exceeds this number.
///
/// Returns the number in force, which is the first one set if called twice.
///
/// ```
/// let n = numeric::set_threads(2);
/// assert_eq!(n, numeric::threads());
/// ```
pub fn set_threads(n: usize) -> usize {
    *CONFIGURED.get_or_init(|| {
        let n = n.max(1);
        // Fails only if the global pool already exists; then that pool's size stands.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
        rayon::current_num_threads()
    })
}

/// The number of threads in use (rayon's pool size).
pub fn threads() -> usize {
    CONFIGURED
        .get()
        .copied()
        .unwrap_or_else(rayon::current_num_threads)
}
