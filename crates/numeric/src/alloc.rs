/// Asks the C allocator to keep freed blocks, however large, for reuse instead of
/// handing them back to the operating system; returns whether the settings took.
///
/// Training allocates the same large temporaries every step (im2col columns,
/// activations, their gradients). glibc serves blocks above its mmap threshold
/// with fresh pages and returns them on free, so every step page-faults them in
/// again: a third of a Fashion-MNIST convnet step on our 2-core machines
/// (docs/cnn.md). Raising the threshold is not enough: it stops at 32 MiB, and
/// airbench94's activations at batch 512 are 30–130 MB each. So mmap is switched
/// off (`M_MMAP_MAX` 0: every block comes from the heap) and so is trimming
/// (`M_TRIM_THRESHOLD` −1: freed memory at the heap's top stays), and the heap
/// grows by 64 MiB at a time (`M_TOP_PAD`). The process keeps its high-water mark,
/// as a caching allocator does; memory stays flat across steps because each step
/// reuses the blocks the previous one freed.
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
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, -1) == 1
                && libc::mallopt(libc::M_TOP_PAD, 64 << 20) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
