/// Asks the C allocator to keep large freed blocks for reuse instead of handing
/// them back to the operating system; returns whether the setting took.
///
/// Training allocates the same large temporaries every step (im2col columns,
/// activations, their gradients). glibc serves blocks above its mmap threshold
/// with fresh pages and returns them on free, so every step page-faults them in
/// again: a third of a Fashion-MNIST convnet step on our 2-core machines
/// (docs/cnn.md). Raising the mmap threshold to its maximum (32 MiB) and the trim
/// threshold to 256 MiB keeps them in the heap; memory stays flat, because the
/// next step reuses the same blocks.
///
/// For programs (the `cs231n` command and the benchmarks call it first thing):
/// a library should not change process-wide settings behind its user's back.
/// Does nothing, and returns `false`, off glibc.
///
/// ```
/// let took = numeric::tune_allocator();
/// assert_eq!(took, cfg!(all(target_os = "linux", target_env = "gnu")));
/// ```
pub fn tune_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes malloc's tuning parameters; it is safe to call
        // at any time, from any thread.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
