//! Our f32 kernel against f64 references, through `gemm_f32_with` so that every tile
//! is tested whatever `numeric::gemm` routes to it.

use ndarray::{Array2, ArrayView2, ShapeBuilder, s};
use proptest::prelude::*;

use super::{F32Kernel, cpu_has_avx512f, gemm_f32_with};
use crate::gemm_impl::{Route, gemm_in_parts};

const TILES: [F32Kernel; 3] = [F32Kernel::Fma8x48, F32Kernel::Fma12x32, F32Kernel::Fma14x32];

/// Runs `C ← α·A·B + β·C` on `kernel` with A and B stored as asked (`t_a`, `t_b`:
/// transposed views) and C laid out as `c_layout` says (bit 0: column-major; bit 1:
/// every other column of a wider matrix, so that no stride is 1 for a column-major C
/// and the skipped columns show any stray write), and checks every element against the f64 product within the f32 sum's bound
/// `(k + 2)·2⁻²⁴·1.01·|α|·Σₚ|a_ip||b_pj| + 2⁻²³·|β·c_ij|` (Higham's γₖ; one rounding
/// per fused multiply-add), and that the skipped columns are untouched.
#[allow(clippy::too_many_arguments)]
fn check(
    kernel: F32Kernel,
    (m, k, n): (usize, usize, usize),
    t_a: bool,
    t_b: bool,
    c_layout: usize,
    alpha: f32,
    beta: f32,
    seed: u64,
) {
    let mut r = crate::rng(seed);
    let (a, b) = crate::c_tile::test_operands((m, k, n), t_a, t_b, &mut r);
    let step = if c_layout & 2 != 0 { 2 } else { 1 };
    let mut store = Array2::<f32>::zeros((m, step * n).set_f(c_layout & 1 != 0));
    store.assign(&crate::randn::<f32, _, _>((m, step * n), &mut r));
    let c0 = store.slice(s![.., ..;step]).to_owned();
    let odd = store.slice(s![.., 1..;2]).to_owned();
    gemm_f32_with(
        kernel,
        alpha,
        &a.view(),
        &b.view(),
        beta,
        &mut store.slice_mut(s![.., ..;step]),
    );
    let (a64, b64) = (a.mapv(f64::from), b.mapv(f64::from));
    let exact = a64.dot(&b64);
    let abs = a64.mapv(f64::abs).dot(&b64.mapv(f64::abs));
    let unit = (k + 2) as f64 * 2f64.powi(-24) * 1.01;
    for ((i, j), &got) in store.slice(s![.., ..;step]).indexed_iter() {
        let old = f64::from(c0[[i, j]]);
        let want = f64::from(alpha) * exact[[i, j]] + f64::from(beta) * old;
        let bound = unit * f64::from(alpha.abs()) * abs[[i, j]]
            + 2f64.powi(-23) * (f64::from(beta) * old).abs()
            + f64::MIN_POSITIVE;
        let err = (f64::from(got) - want).abs();
        assert!(
            err <= bound,
            "{kernel:?} {m}x{k}x{n} at ({i}, {j}): {got} against {want}, error {err} > {bound}"
        );
    }
    if step == 2 {
        assert_eq!(
            store.slice(s![.., 1..;2]),
            odd,
            "{kernel:?} {m}x{k}x{n}: columns outside C were written"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Edges of every tile (m, n not multiples of it), k = 1 and k across a KC block,
    /// transposed operands, both orientations of a strided C, α ≠ 1, β zero or not.
    #[test]
    fn within_the_f32_bound_on_any_shape_and_layout(
        tile in 0usize..3, m in 1usize..70, k in 1usize..600, n in 1usize..110,
        t_a: bool, t_b: bool, c_layout in 0usize..4, beta_on: bool, seed in 0u64..1000,
    ) {
        prop_assume!(cpu_has_avx512f());
        let beta = if beta_on { -0.75 } else { 0.0 };
        check(TILES[tile], (m, k, n), t_a, t_b, c_layout, 1.5, beta, seed);
    }
}

/// k = 1 (one multiply per element) and shapes of one row or column.
#[test]
fn thin_products() {
    if !cpu_has_avx512f() {
        return eprintln!("no AVX-512F on this CPU: our kernel cannot run");
    }
    for kernel in TILES {
        for (shape, t_a, t_b, c_layout, alpha, beta, seed) in [
            ((37, 1, 53), false, true, 0, 1.0, 0.0, 1),
            ((1, 300, 97), true, false, 3, 2.0, 0.5, 2),
            ((97, 300, 1), false, false, 2, -1.0, 1.0, 3),
        ] {
            check(kernel, shape, t_a, t_b, c_layout, alpha, beta, seed);
        }
    }
}

/// Blocks of every loop: k past KC (twice, so C is added to twice), columns past NC,
/// rows past a block of A (1100 × 2000 floats is more than A_BLOCK_BYTES); with B
/// k-contiguous, as kNN's product.
#[test]
fn across_blocks() {
    if !cpu_has_avx512f() {
        return eprintln!("no AVX-512F on this CPU: our kernel cannot run");
    }
    use F32Kernel::{Fma8x48, Fma12x32, Fma14x32};
    for (kernel, shape, t_a, t_b, c_layout, alpha, beta, seed) in [
        (Fma8x48, (2100, 40, 70), false, false, 0, 1.0, 0.0, 4),
        (Fma8x48, (90, 1100, 300), false, true, 0, 0.5, 0.25, 5),
        (Fma12x32, (70, 530, 700), true, true, 3, -2.0, 0.0, 6),
        (Fma14x32, (300, 517, 301), false, true, 1, 1.0, -1.0, 7),
        (Fma8x48, (1100, 2000, 50), true, true, 2, 1.0, 0.5, 8),
    ] {
        check(kernel, shape, t_a, t_b, c_layout, alpha, beta, seed);
    }
}

/// β = 0 writes C without reading it: NaN in C does not leak out, on whole and edge
/// tiles alike.
#[test]
fn beta_zero_ignores_nan_in_c() {
    for kernel in TILES {
        let a = Array2::<f32>::ones((100, 301));
        let b = Array2::<f32>::ones((301, 90));
        let mut c = Array2::<f32>::from_elem((100, 90), f32::NAN);
        gemm_f32_with(kernel, 1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
        assert!(c.iter().all(|&x| x == 301.0), "{kernel:?}");
    }
}

/// A product split into bands gives the same bits as on one thread (every element's
/// sum runs in the same order whatever band computes it): bands of columns sharing
/// A's packed block, in one and in two blocks of A's rows, and bands of rows, with B
/// transposed as kNN's, on pools of 1, 2 and 3 threads.
///
/// The bands are asked for directly: `numeric::gemm` called inside a pool's task runs
/// on that thread alone, so a pool of any size would only ever test the serial path.
#[test]
fn same_bits_in_any_number_of_bands() {
    if !cpu_has_avx512f() {
        return eprintln!("no AVX-512F on this CPU: our kernel cannot run");
    }
    let mut r = crate::rng(8);
    for (m, k, n) in [(300, 700, 1100), (1100, 600, 300), (1100, 2000, 400)] {
        let a: Array2<f32> = crate::randn((m, k), &mut r);
        let b: Array2<f32> = crate::randn((n, k), &mut r);
        for kernel in [F32Kernel::Fma8x48, F32Kernel::Fma14x32] {
            let run = |threads: usize, parts: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut c = Array2::<f32>::from_elem((m, n), f32::NAN);
                pool.install(|| {
                    gemm_in_parts(
                        Route::Fma(kernel),
                        1.0,
                        &a.view(),
                        &b.t(),
                        0.0,
                        &mut c.view_mut(),
                        parts,
                    )
                });
                c
            };
            let one = run(1, 1);
            assert!(one.iter().all(|x| x.is_finite()), "{kernel:?} {m}x{k}x{n}");
            for (threads, parts) in [(2, 2), (2, 4), (3, 3), (3, 6)] {
                assert_eq!(
                    one,
                    run(threads, parts),
                    "{kernel:?} {m}x{k}x{n} in {parts} bands on {threads} threads"
                );
            }
        }
    }
}

/// `numeric::gemm` runs a long f32 product with a k-contiguous operand on our kernel
/// where the CPU has it (the same bits as naming the kernel), and a short one, or one
/// the crate runs in place, on the `gemm` crate's.
#[test]
fn gemm_routes_large_products_to_our_kernel() {
    if !cpu_has_avx512f() {
        return eprintln!("no AVX-512F on this CPU: our kernel cannot run");
    }
    let mut r = crate::rng(9);
    let a: Array2<f32> = crate::randn((300, super::OURS_MIN_K), &mut r);
    let b: Array2<f32> = crate::randn((super::OURS_MIN_COLUMNS, super::OURS_MIN_K), &mut r);
    let mut ours = Array2::<f32>::zeros((300, super::OURS_MIN_COLUMNS));
    gemm_f32_with(
        F32Kernel::Fma8x48,
        1.0,
        &a.view(),
        &b.t(),
        0.0,
        &mut ours.view_mut(),
    );
    let via_gemm = crate::matmul(&a.view(), &b.t());
    assert_eq!(via_gemm, ours);
    // This call ran in bands on the global pool; one thread gives the same bits.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(pool.install(|| crate::matmul(&a.view(), &b.t())), ours);
    // A product the crate runs in place (no operand k-contiguous against C) stays on
    // it; kNN's orientation comes to ours. (Both kernels sum k in order, one fused
    // multiply-add at a time, so the route shows in the choice, not in the bits.)
    use crate::MatmulPrecision::F32;
    let b_rows: Array2<f32> = b.t().as_standard_layout().into_owned();
    let c = ours.view_mut();
    let route = |b: &ArrayView2<'_, f32>| Route::of_product(F32, F32Kernel::Auto, &a.view(), b, &c);
    assert_eq!(route(&b_rows.view()), Route::Crate);
    assert_eq!(route(&b.t()), Route::Fma(F32Kernel::Fma8x48));
    assert_eq!(super::choose(500, 3072, 5000), F32Kernel::Fma8x48);
    assert_eq!(super::choose(2048, 2048, 2048), F32Kernel::Fma8x48);
    assert_eq!(super::choose(1024, 2304, 256), F32Kernel::GemmCrate);
    assert_eq!(super::choose(1024, 256, 256), F32Kernel::GemmCrate);
    assert_eq!(super::choose(200, 3072, 50), F32Kernel::GemmCrate);
}
