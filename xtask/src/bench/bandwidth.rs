//! The machine's memory bandwidth, measured as STREAM does (McCalpin): a copy
//! `a = b` and a triad `a = b + s·c` over arrays far larger than the last-level
//! cache, split across the run's threads. It is the roof of the memory-bound
//! layers (batchnorm, GELU, pooling), as the square GEMM is the roof of the products.

use std::time::Instant;

/// Elements per array: 16 Mi f32 = 64 MiB, twice a 32 MiB L3, so every pass streams
/// from memory; three arrays and five passes of each kernel stay well under a second.
const LEN: usize = 16 << 20;
/// Passes of each kernel; the best counts (STREAM's convention), the first pays page faults.
const PASSES: usize = 5;

/// Best copy and triad rates, GB/s (10⁹ bytes: reads and writes counted once each, no
/// write-allocate traffic, as STREAM reports).
#[derive(Clone, Copy, Debug)]
pub struct Bandwidth {
    /// `a = b`: 2 × 4 bytes per element.
    pub copy_gbs: f64,
    /// `a = b + s·c`: 3 × 4 bytes per element.
    pub triad_gbs: f64,
}

/// Measures both kernels with `threads` threads, each owning one contiguous slice.
pub fn measure(threads: usize) -> Bandwidth {
    measure_len(LEN, threads.max(1))
}

fn measure_len(len: usize, threads: usize) -> Bandwidth {
    let mut a = vec![0.0f32; len];
    let b = vec![1.0f32; len];
    let c = vec![2.0f32; len];
    let chunk = len.div_ceil(threads);
    let best = |a: &mut [f32], kernel: &(dyn Fn(&mut [f32], &[f32], &[f32]) + Sync)| {
        (0..PASSES)
            .map(|_| {
                let t = Instant::now();
                std::thread::scope(|s| {
                    for ((a, b), c) in a
                        .chunks_mut(chunk)
                        .zip(b.chunks(chunk))
                        .zip(c.chunks(chunk))
                    {
                        s.spawn(move || kernel(a, b, c));
                    }
                });
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let copy = best(&mut a, &|a, b, _| a.copy_from_slice(b));
    let triad = best(&mut a, &triad_kernel);
    std::hint::black_box(&a);
    let bytes = (len * std::mem::size_of::<f32>()) as f64;
    Bandwidth {
        copy_gbs: 2.0 * bytes / copy / 1e9,
        triad_gbs: 3.0 * bytes / triad / 1e9,
    }
}

/// STREAM's triad with its scalar 3.
fn triad_kernel(a: &mut [f32], b: &[f32], c: &[f32]) {
    for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
        *a = b + 3.0 * c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_finite_and_positive() {
        // A small array (cache-resident): checks the arithmetic, not the machine.
        let bw = measure_len(1 << 16, 2);
        assert!(bw.copy_gbs.is_finite() && bw.copy_gbs > 0.0, "{bw:?}");
        assert!(bw.triad_gbs.is_finite() && bw.triad_gbs > 0.0, "{bw:?}");
    }

    #[test]
    fn triad_computes_b_plus_3c() {
        let mut a = [0.0f32; 3];
        triad_kernel(&mut a, &[1.0, 2.0, -1.0], &[2.0, 0.5, 1.0]);
        assert_eq!(a, [7.0, 3.5, 2.0]);
    }
}
