//! Where a micro-kernel's register tile lands in C, shared by the f32 and bf16
//! kernels: both write the live part of a tile through C's own strides.

/// Where a tile lands in C: `rows`×`cols` of it (the live part at an edge) at `c`,
/// with C's strides.
pub(crate) struct Target {
    pub c: *mut f32,
    pub rs: isize,
    pub cs: isize,
    pub rows: usize,
    pub cols: usize,
}

/// A and B for a product test: `m`×`k` and `k`×`n` standard normal matrices, each
/// built transposed and viewed back (`t_a`, `t_b`) so the kernels also read
/// k-contiguous operands.
#[cfg(test)]
pub(crate) fn test_operands(
    (m, k, n): (usize, usize, usize),
    t_a: bool,
    t_b: bool,
    r: &mut crate::Rng,
) -> (ndarray::Array2<f32>, ndarray::Array2<f32>) {
    let a = if t_a {
        crate::randn((k, m), r).reversed_axes()
    } else {
        crate::randn((m, k), r)
    };
    let b = if t_b {
        crate::randn((n, k), r).reversed_axes()
    } else {
        crate::randn((k, n), r)
    };
    (a, b)
}
