use std::any::TypeId;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::Float;

/// General matrix product `C ← α·A·B + β·C`, on any strides (transposed views too).
///
/// Runs on the `gemm` crate, which splits large products over the rayon pool; when
/// called from inside a rayon task (a parallel loop over images or row chunks) it
/// runs on the calling thread only, so the two never oversubscribe the cores.
///
/// # Panics
/// If the shapes do not agree: `A` is (m, k), `B` is (k, n), `C` is (m, n). Shapes
/// are the caller's invariant, as for `ndarray::linalg::general_mat_mul`.
///
/// ```
/// use ndarray::{array, Array2};
/// let a = array![[1.0_f32, 2.0], [3.0, 4.0]];
/// let mut c = Array2::<f32>::ones((2, 2));
/// numeric::gemm(1.0, &a.view(), &a.t(), 1.0, &mut c.view_mut());
/// assert_eq!(c, array![[6.0, 12.0], [12.0, 26.0]]);
/// ```
pub fn gemm<T: Float>(
    alpha: T,
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    beta: T,
    c: &mut ArrayViewMut2<'_, T>,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(
        k, k2,
        "gemm: inner dimensions differ: A is {m}x{k}, B is {k2}x{n}"
    );
    assert_eq!(
        c.dim(),
        (m, n),
        "gemm: C is {:?}, expected ({m}, {n})",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.map_inplace(|x| {
            *x = if beta == T::zero() {
                T::zero()
            } else {
                *x * beta
            }
        });
        return;
    }
    let parallelism = if rayon::current_thread_index().is_some() || m * n * k < 64 * 64 * 64 {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    };
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // The gemm crate's convention is dst ← alpha·dst + beta·lhs·rhs: our β is its alpha.
    macro_rules! call {
        ($t:ty) => {{
            // SAFETY: T is $t (checked by TypeId below), the pointers come from live
            // views whose shapes were checked above, and strides are the views' own.
            unsafe {
                gemm::gemm::<$t>(
                    m,
                    n,
                    k,
                    c.as_mut_ptr() as *mut $t,
                    c_cs,
                    c_rs,
                    beta != T::zero(),
                    a.as_ptr() as *const $t,
                    a_cs,
                    a_rs,
                    b.as_ptr() as *const $t,
                    b_cs,
                    b_rs,
                    beta.as_f64() as $t,
                    alpha.as_f64() as $t,
                    false,
                    false,
                    false,
                    parallelism,
                )
            }
        }};
    }
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        call!(f32)
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        call!(f64)
    } else {
        ndarray::linalg::general_mat_mul(alpha, a, b, beta, c)
    }
}

/// `A·B` as a new array (see [`gemm`] for threading).
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 2.0, 3.0]];
/// let w = array![[1.0_f64], [1.0], [1.0]];
/// assert_eq!(numeric::matmul(&x.view(), &w.view()), array![[6.0]]);
/// ```
pub fn matmul<T: Float>(a: &ArrayView2<'_, T>, b: &ArrayView2<'_, T>) -> Array2<T> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    gemm(T::one(), a, b, T::zero(), &mut c.view_mut());
    c
}

#[cfg(test)]
mod tests {
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
}
