//! The process's CPU time, for measurements on shared cores: wall time charges the
//! neighbours' time slices to whatever runs, CPU time counts this process's work only
//! (divided by the threads, it is what the work takes on idle cores if it
//! parallelises fully).

/// CPU time of all this process's live threads so far, in seconds, from the
/// scheduler's nanosecond counters (`/proc/self/task/*/schedstat`, Linux); NaN
/// elsewhere, so that a difference of two readings is NaN rather than a wrong number.
/// Threads that have ended no longer count, so read it around work done by threads
/// that outlive the reading (the rayon pool's do).
///
/// ```
/// let before = numeric::cpu_seconds();
/// let mut x = 0u64;
/// for i in 0..10_000_000u64 {
///     x = x.wrapping_mul(31).wrapping_add(i);
/// }
/// std::hint::black_box(x);
/// let spent = numeric::cpu_seconds() - before;
/// assert!(spent > 0.0 || spent.is_nan());
/// ```
pub fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 * 1e-9
}
