//! The bf16 kernel against f64 references, through `gemm_at` so that no test sets the
//! process-wide precision (tests run in parallel threads).

use ndarray::{Array2, ArrayView2, ShapeBuilder, s};
use proptest::prelude::*;

use super::pack::round_to_bf16;
use super::{Bf16Tile, MatmulPrecision, cpu_has_bf16, precision_in_force, with_bf16_tile};
use crate::gemm_impl::{Route, gemm_at, gemm_in_parts};

const BF16: MatmulPrecision = MatmulPrecision::Bf16;

/// `Σₚ |a_ip|·|b_pj|` and `Σₚ a_ip·b_pj` in f64, of the inputs mapped by `round`.
fn reference(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    round: fn(f32) -> f32,
) -> (Array2<f64>, Array2<f64>) {
    let a = a.mapv(|x| f64::from(round(x)));
    let b = b.mapv(|x| f64::from(round(x)));
    (a.dot(&b), a.mapv(f64::abs).dot(&b.mapv(f64::abs)))
}

/// The largest ratio of |C − C_ref| to the bound `unit·|α|·Σ|a||b| + 2⁻²³·|β·c₀|`
/// (β·c₀ is rounded once, and once more in the sum with α·Σ).
#[allow(clippy::too_many_arguments)]
fn worst_ratio(
    c: &ArrayView2<'_, f32>,
    c0: &Array2<f32>,
    exact: &Array2<f64>,
    abs: &Array2<f64>,
    alpha: f32,
    beta: f32,
    unit: f64,
) -> f64 {
    let mut worst = 0.0_f64;
    for ((i, j), &got) in c.indexed_iter() {
        let want = f64::from(alpha) * exact[[i, j]] + f64::from(beta) * f64::from(c0[[i, j]]);
        let bound = unit * f64::from(alpha.abs()) * abs[[i, j]]
            + 2f64.powi(-23) * f64::from((beta * c0[[i, j]]).abs())
            + f64::MIN_POSITIVE;
        worst = worst.max((f64::from(got) - want).abs() / bound);
    }
    worst
}

/// The sum's share of the bound: k additions, α and β, each 2⁻²⁴ relative, and a
/// little for the products of those factors.
fn sum_unit(k: usize) -> f64 {
    (k + 2) as f64 * 2f64.powi(-24) * 1.01
}

/// The inputs' rounding: (1 + 2⁻⁸)² − 1 = 2⁻⁷ + 2⁻¹⁶.
const ROUNDING_UNIT: f64 = 1.0 / 128.0 + 1.0 / 65_536.0;

/// Runs the product at bf16 on a C of the given layout and checks both bounds: against
/// the exact product (inputs' rounding + f32 sums), and against the exact product of
/// the bf16-rounded inputs (f32 sums alone).
#[allow(clippy::too_many_arguments)]
fn check(
    m: usize,
    k: usize,
    n: usize,
    t_a: bool,
    t_b: bool,
    c_f: bool,
    alpha: f32,
    beta: f32,
    seed: u64,
) {
    let mut r = crate::rng(seed);
    let (a, b) = crate::c_tile::test_operands((m, k, n), t_a, t_b, &mut r);
    // C is every other column of a wider matrix, so that neither stride is 1 for a
    // column-major store and the skipped columns show any stray write.
    let mut store = Array2::<f32>::zeros((m, 2 * n).set_f(c_f));
    store.assign(&crate::randn::<f32, _, _>((m, 2 * n), &mut r));
    let c0 = store.slice(s![.., ..;2]).to_owned();
    let odd = store.slice(s![.., 1..;2]).to_owned();
    gemm_at(
        BF16,
        alpha,
        &a.view(),
        &b.view(),
        beta,
        &mut store.slice_mut(s![.., ..;2]),
    );
    let c = store.slice(s![.., ..;2]);
    let (exact, abs) = reference(&a.view(), &b.view(), |x| x);
    let whole = worst_ratio(
        &c,
        &c0,
        &exact,
        &abs,
        alpha,
        beta,
        ROUNDING_UNIT + sum_unit(k),
    );
    assert!(whole <= 1.0, "{m}x{k}x{n}: error {whole} × the bound");
    let (exact, abs) = reference(&a.view(), &b.view(), round_to_bf16);
    let sums = worst_ratio(&c, &c0, &exact, &abs, alpha, beta, sum_unit(k));
    assert!(
        sums <= 1.0,
        "{m}x{k}x{n}: error {sums} × the f32 sums' bound"
    );
    assert_eq!(
        store.slice(s![.., 1..;2]),
        odd,
        "columns outside C were written"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn within_the_bound_on_any_shape_and_layout(
        m in 1usize..70, k in 0usize..600, n in 1usize..110,
        t_a: bool, t_b: bool, c_f: bool, beta_on: bool, seed in 0u64..1000,
    ) {
        prop_assume!(cpu_has_bf16());
        let beta = if beta_on { -0.75 } else { 0.0 };
        check(m, k, n, t_a, t_b, c_f, 1.5, beta, seed);
    }
}

/// Blocks of every loop: rows past MC, k past KC (odd), columns past NC.
#[test]
fn within_the_bound_across_blocks() {
    if !cpu_has_bf16() {
        return eprintln!("no AVX512_BF16 on this CPU: the bf16 kernel cannot run");
    }
    check(300, 517, 130, false, false, false, 1.0, 0.0, 1);
    check(70, 33, 3100, true, false, false, -2.0, 0.5, 2);
    check(260, 300, 50, false, true, true, 0.25, 1.0, 3);
}

/// Empty products and k = 0 follow the f32 contract: C ← β·C, not read when β = 0.
#[test]
fn empty_products() {
    let a = Array2::<f32>::zeros((3, 0));
    let b = Array2::<f32>::zeros((0, 4));
    let mut c = Array2::<f32>::from_elem((3, 4), f32::NAN);
    gemm_at(BF16, 1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
    assert!(c.iter().all(|&x| x == 0.0));
    let mut c = Array2::<f32>::from_elem((3, 4), 2.0);
    gemm_at(BF16, 1.0, &a.view(), &b.view(), 0.5, &mut c.view_mut());
    assert!(c.iter().all(|&x| x == 1.0));
    let mut none = Array2::<f32>::zeros((0, 4));
    gemm_at(
        BF16,
        1.0,
        &Array2::zeros((0, 5)).view(),
        &Array2::zeros((5, 4)).view(),
        0.0,
        &mut none.view_mut(),
    );
}

/// β = 0 writes C without reading it: NaN in C does not leak out.
#[test]
fn beta_zero_ignores_nan_in_c() {
    if !cpu_has_bf16() {
        return eprintln!("no AVX512_BF16 on this CPU: the bf16 kernel cannot run");
    }
    let a = Array2::<f32>::ones((100, 301));
    let b = Array2::<f32>::ones((301, 90));
    let mut c = Array2::<f32>::from_elem((100, 90), f32::NAN);
    gemm_at(BF16, 1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
    assert!(c.iter().all(|&x| x == 301.0));
}

/// A product split into bands across threads gives the same bits as on one thread:
/// every element's sum runs in the same order whatever band it falls in. The bands
/// are asked for directly: inside a pool's task `gemm` runs on that thread alone.
#[test]
fn same_bits_on_any_thread_count() {
    if !cpu_has_bf16() {
        return eprintln!("no AVX512_BF16 on this CPU: the bf16 kernel cannot run");
    }
    let mut r = crate::rng(4);
    let a: Array2<f32> = crate::randn((600, 700), &mut r);
    let b: Array2<f32> = crate::randn((700, 500), &mut r);
    let run = |threads: usize, parts: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut c = Array2::<f32>::zeros((600, 500));
        pool.install(|| {
            gemm_in_parts(
                Route::Bf16,
                1.0,
                &a.view(),
                &b.view(),
                0.0,
                &mut c.view_mut(),
                parts,
            )
        });
        c
    };
    let one = run(1, 1);
    assert_eq!(one, run(2, 2));
    assert_eq!(one, run(2, 4));
    assert_eq!(one, run(3, 3));
}

/// Every register tile gives the 8 × 48 tile's bits: each element's pairs are summed
/// in the same order whatever tile holds it. Odd k, k past a block, edges of every
/// tile's rows and columns, transposed operands, either C layout, β = 0 (over a C of
/// NaN, never read) and β = 1. One-thread pool: its task runs the whole product on the
/// thread that names the tile.
#[test]
fn every_tile_gives_the_same_bits() {
    if !cpu_has_bf16() {
        return eprintln!("no AVX512_BF16 on this CPU: the bf16 kernel cannot run");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut r = crate::rng(7);
    let shapes = [
        (1, 1, 1),
        (5, 3, 7),
        (13, 63, 64),
        (128, 24, 24),
        (128, 64, 64),
        (131, 257, 65),
        (9, 1025, 200),
        (70, 256, 256),
        (12, 33, 129),
    ];
    for (case, &(m, k, n)) in shapes.iter().enumerate() {
        let (t_a, t_b, c_f) = (case % 2 == 1, case % 3 == 1, case % 4 >= 2);
        let (a, b) = crate::c_tile::test_operands((m, k, n), t_a, t_b, &mut r);
        let c0: Array2<f32> = crate::randn((m, n), &mut r);
        for beta in [0.0, 1.0] {
            let run = |tile: Bf16Tile| {
                let mut c = Array2::<f32>::from_elem((m, n).set_f(c_f), f32::NAN);
                if beta != 0.0 {
                    c.assign(&c0);
                }
                pool.install(|| {
                    with_bf16_tile(tile, || {
                        gemm_at(BF16, 0.5, &a.view(), &b.view(), beta, &mut c.view_mut())
                    })
                });
                c.mapv(f32::to_bits)
            };
            let base = run(Bf16Tile::Tile8x48);
            for tile in [Bf16Tile::Tile4x64, Bf16Tile::Tile8x32, Bf16Tile::Auto] {
                assert_eq!(
                    run(tile),
                    base,
                    "{tile:?} on {m}x{k}x{n}, t_a {t_a}, t_b {t_b}, c_f {c_f}, beta {beta}"
                );
            }
            assert!(
                base.iter().all(|&x| !f32::from_bits(x).is_nan()),
                "{m}x{k}x{n}: C was read at beta 0"
            );
        }
    }
}

/// The tile padding C least: 64 or 256 columns in 64-wide panels (not 48-wide ones
/// that pad them by 50 % or 12.5 %), 24 in one 32-wide panel (not 48), 96 or 2048×2064
/// in 48-wide ones; on a tie 8 × 48 first, then 4 × 64.
#[test]
fn the_tile_pads_least() {
    assert_eq!(Bf16Tile::for_shape(128, 64), Bf16Tile::Tile4x64);
    assert_eq!(Bf16Tile::for_shape(128, 256), Bf16Tile::Tile4x64);
    assert_eq!(Bf16Tile::for_shape(128, 24), Bf16Tile::Tile8x32);
    assert_eq!(Bf16Tile::for_shape(128, 96), Bf16Tile::Tile8x48);
    assert_eq!(Bf16Tile::for_shape(2048, 2064), Bf16Tile::Tile8x48);
    assert_eq!(Bf16Tile::for_shape(128, 192), Bf16Tile::Tile8x48);
    // 4 rows pad less than 8: 20 × 64 = 1280 against 24 × 48 = 1152 for 8 × 48.
    assert_eq!(Bf16Tile::for_shape(20, 48), Bf16Tile::Tile8x48);
    assert_eq!(Bf16Tile::for_shape(20, 64), Bf16Tile::Tile4x64);
}

/// Without the instructions a bf16 request gets f32, and f32 products at that
/// precision are the plain f32 kernel's, bit for bit.
#[test]
fn falls_back_to_f32_without_the_instructions() {
    assert_eq!(precision_in_force(BF16, false), MatmulPrecision::F32);
    assert_eq!(
        precision_in_force(MatmulPrecision::F32, true),
        MatmulPrecision::F32
    );
    assert_eq!(precision_in_force(BF16, true), BF16);
    let mut r = crate::rng(5);
    let a: Array2<f32> = crate::randn((40, 90), &mut r);
    let b: Array2<f32> = crate::randn((90, 30), &mut r);
    let mut fallback = Array2::<f32>::zeros((40, 30));
    let in_force = precision_in_force(BF16, false);
    gemm_at(
        in_force,
        1.0,
        &a.view(),
        &b.view(),
        0.0,
        &mut fallback.view_mut(),
    );
    let (exact, _) = reference(&a.view(), &b.view(), |x| x);
    let err = (&fallback.mapv(f64::from) - &exact)
        .iter()
        .fold(0.0_f64, |e, x| e.max(x.abs()));
    // f32 inputs: far inside bf16's error (about 1e-2 here).
    assert!(err < 1e-4, "fallback max error {err}");
}

/// f64 products ignore the precision: gradient checks stay exact.
#[test]
fn f64_is_never_rounded() {
    let mut r = crate::rng(6);
    let a: Array2<f64> = crate::randn((50, 70), &mut r);
    let b: Array2<f64> = crate::randn((70, 60), &mut r);
    let mut c = Array2::<f64>::zeros((50, 60));
    gemm_at(BF16, 1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
    let err = (&c - &a.dot(&b))
        .iter()
        .fold(0.0_f64, |e, x| e.max(x.abs()));
    assert!(err < 1e-12, "max error {err}");
}

/// The knob's strings, as the command line spells them.
#[test]
fn precision_names_round_trip() {
    for p in [MatmulPrecision::F32, BF16] {
        assert_eq!(p.name().parse::<MatmulPrecision>(), Ok(p));
    }
    assert!(
        "fp16"
            .parse::<MatmulPrecision>()
            .unwrap_err()
            .contains("fp16")
    );
}
