//! `numeric::gemm` against the naive product on every layout, split and reoriented.

use super::*;
use proptest::prelude::*;

fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    for i in 0..a.nrows() {
        for j in 0..b.ncols() {
            c[[i, j]] = (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum();
        }
    }
    c
}

proptest! {
    #[test]
    fn matches_naive_product_on_any_layout(m in 1usize..80, k in 0usize..80, n in 1usize..80,
                                           transpose_a: bool, seed in 0u64..1000) {
        let mut r = crate::rng(seed);
        let a: Array2<f64> = if transpose_a {
            crate::randn((k, m), &mut r).reversed_axes()
        } else {
            crate::randn((m, k), &mut r)
        };
        let b: Array2<f64> = crate::randn((k, n), &mut r);
        let mut c: Array2<f64> = crate::randn((m, n), &mut r);
        let expected = naive(&a, &b) * 2.0 + &c * 0.5;
        gemm(2.0, &a.view(), &b.view(), 0.5, &mut c.view_mut());
        let err = (&c - &expected).iter().fold(0.0_f64, |e, x| e.max(x.abs()));
        prop_assert!(err < 1e-10, "max error {err}");
    }
}

/// Products cut into bands, on every layout the split must handle: transposed A,
/// B walked backwards (negative strides), C a strided window, β ≠ 0; split by
/// columns (wide C) and by rows (tall C), into even and uneven bands.
#[test]
fn split_products_match_naive() {
    use ndarray::s;
    for (m, k, n, parts) in [
        (150, 200, 700, 4),
        (700, 180, 90, 3),
        (40, 30, 500, 7),
        (90, 70, 20, 1),
    ] {
        let mut r = crate::rng(m as u64);
        let a: Array2<f64> = crate::randn((k, m), &mut r).reversed_axes();
        let b_store: Array2<f64> = crate::randn((k, n), &mut r);
        let b = b_store.slice(s![.., ..;-1]);
        let mut c_store: Array2<f64> = crate::randn((m, 2 * n), &mut r);
        let c0 = c_store.slice(s![.., ..;2]).to_owned();
        let expected = naive(&a, &b.to_owned()) * 1.5 - &c0 * 2.0;
        gemm_in_parts(
            Route::Crate,
            1.5,
            &a.view(),
            &b,
            -2.0,
            &mut c_store.slice_mut(s![.., ..;2]),
            parts,
        );
        let got = c_store.slice(s![.., ..;2]);
        let err = (&got - &expected)
            .iter()
            .fold(0.0_f64, |e, x| e.max(x.abs()));
        assert!(err < 1e-9, "{m}x{k}x{n} in {parts} parts: max error {err}");
        // The untouched odd columns stay as they were.
        assert!(c_store.slice(s![.., 1..;2]).iter().all(|x| x.is_finite()));
    }
}

/// Products that go through a buffer of the other orientation (B a transposed
/// view, k ≥ REORIENT_MIN_K, C much wider or taller than the other way) give the
/// plain product, on both orientations of C, with β zero and not, and through a
/// strided window of C.
#[test]
fn reoriented_products_match_naive() {
    use ndarray::{ShapeBuilder, s};
    for (m, k, n, seed) in [(8, 300, 90, 1), (70, 260, 9, 2), (3, 512, 200, 3)] {
        let mut r = crate::rng(seed);
        let a: Array2<f64> = crate::randn((m, k), &mut r);
        let b: Array2<f64> = crate::randn((n, k), &mut r).reversed_axes();
        let b_owned = b.to_owned();
        for (f_order, beta) in [(false, 0.0), (true, 0.0), (false, -0.5), (true, 0.5)] {
            let mut c_store = Array2::<f64>::zeros((m, 2 * n).set_f(f_order));
            c_store.assign(&crate::randn::<f64, _, _>((m, 2 * n), &mut r));
            let c0 = c_store.slice(s![.., ..;2]).to_owned();
            let odd = c_store.slice(s![.., 1..;2]).to_owned();
            let expected = naive(&a, &b_owned) * 1.5 + &c0 * beta;
            let mut c = c_store.slice_mut(s![.., ..;2]);
            let reoriented = needs_reorienting(&a.view(), &b.view(), &c);
            assert_eq!(
                reoriented,
                f_order == (m > n),
                "{m}x{k}x{n} F-order {f_order}"
            );
            gemm(1.5, &a.view(), &b.view(), beta, &mut c);
            let scale = expected.iter().fold(1.0_f64, |e, x| e.max(x.abs()));
            let err = (&c_store.slice(s![.., ..;2]) - &expected)
                .iter()
                .fold(0.0_f64, |e, x| e.max(x.abs()));
            assert!(err < 1e-12 * scale, "{m}x{k}x{n} β {beta}: max error {err}");
            assert_eq!(
                c_store.slice(s![.., 1..;2]),
                odd,
                "odd columns were touched"
            );
        }
    }
}

/// A left operand reused for many columns is packed in place: kNN's distance block
/// (test rows × training tile, B a transposed view) stays in C's own orientation.
#[test]
fn many_columns_stay_in_place() {
    let a = Array2::<f32>::zeros((300, 256));
    let b_rows = Array2::<f32>::zeros((700, 256));
    let mut c = Array2::<f32>::zeros((300, 700));
    assert!(!needs_reorienting(&a.view(), &b_rows.t(), &c.view_mut()));
    // The same product with few test rows still goes through the buffer.
    let a_few = Array2::<f32>::zeros((64, 256));
    let mut c_few = Array2::<f32>::zeros((64, 700));
    assert!(needs_reorienting(
        &a_few.view(),
        &b_rows.t(),
        &c_few.view_mut()
    ));
}

/// A long inner dimension sends a wide product with both operands k-contiguous
/// (kNN's `X_test·X_trainᵀ`) through the buffer whatever its width, and the buffer
/// is added back to C in parallel bands, β included.
#[test]
fn long_products_go_through_the_buffer() {
    let (m, k, n) = (260, REORIENT_LONG_K, 600);
    let mut r = crate::rng(9);
    let a: Array2<f64> = crate::randn((m, k), &mut r);
    let b_rows: Array2<f64> = crate::randn((n, k), &mut r);
    let mut c: Array2<f64> = crate::randn((m, n), &mut r);
    assert!(needs_reorienting(&a.view(), &b_rows.t(), &c.view_mut()));
    let short = a.slice(ndarray::s![.., ..k / 2]);
    let b_short = b_rows.slice(ndarray::s![.., ..k / 2]);
    assert!(!needs_reorienting(&short, &b_short.t(), &c.view_mut()));
    let mut expected = c.clone();
    ndarray::linalg::general_mat_mul(1.5, &a, &b_rows.t(), 0.5, &mut expected);
    gemm(1.5, &a.view(), &b_rows.t(), 0.5, &mut c.view_mut());
    let err = (&c - &expected).iter().fold(0.0_f64, |e, x| e.max(x.abs()));
    assert!(err < 1e-9, "max error {err}");
}

/// With β = 0, C is written without being read: NaN in it must not leak out.
#[test]
fn beta_zero_ignores_nan_in_c() {
    let a = Array2::<f32>::ones((300, 100));
    let b = Array2::<f32>::ones((100, 300));
    let mut c = Array2::<f32>::from_elem((300, 300), f32::NAN);
    gemm(1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
    assert!(c.iter().all(|&x| x == 100.0));
}

/// Inside a rayon task the product runs serially and gives the same result.
#[test]
fn same_result_inside_rayon_task() {
    let mut r = crate::rng(3);
    let a: Array2<f32> = crate::randn((256, 300), &mut r);
    let b: Array2<f32> = crate::randn((300, 400), &mut r);
    let outside = matmul(&a.view(), &b.view());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let inside = pool.install(|| matmul(&a.view(), &b.view()));
    let err = (&outside - &inside)
        .iter()
        .fold(0.0_f32, |e, x| e.max(x.abs()));
    assert!(err < 1e-3, "max difference {err}");
}

#[test]
fn f32_agrees_with_f64() {
    let mut r = crate::rng(1);
    let a: Array2<f64> = crate::randn((70, 300), &mut r);
    let b: Array2<f64> = crate::randn((300, 90), &mut r);
    let c64 = matmul(&a.view(), &b.view());
    let c32 = matmul(&a.mapv(|x| x as f32).view(), &b.mapv(|x| x as f32).view());
    let err = (&c32.mapv(f64::from) - &c64)
        .iter()
        .fold(0.0_f64, |e, x| e.max(x.abs()));
    assert!(err < 1e-3, "max error {err}");
}

/// `matmul` writes every element of its unzeroed C: k = 0 gives zeros, and every
/// layout and kernel gives the product.
#[test]
fn matmul_initialises_every_element() {
    let a = Array2::<f32>::zeros((5, 0));
    let b = Array2::<f32>::zeros((0, 7));
    assert_eq!(matmul(&a.view(), &b.view()), Array2::<f32>::zeros((5, 7)));
    let mut r = crate::rng(11);
    for (m, k, n) in [(3, 4, 5), (300, 2048, 260), (130, 300, 700)] {
        let a: Array2<f64> = crate::randn((m, k), &mut r);
        let b: Array2<f64> = crate::randn((n, k), &mut r);
        let want = naive(&a, &b.t().to_owned());
        let got = matmul(&a.mapv(|x| x as f32).view(), &b.mapv(|x| x as f32).t());
        let err = (&got.mapv(f64::from) - &want)
            .iter()
            .fold(0.0_f64, |e, x| e.max(x.abs()));
        assert!(err < 1e-3, "{m}x{k}x{n}: max error {err}");
    }
}
