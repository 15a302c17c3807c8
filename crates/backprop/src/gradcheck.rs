//! Numerical gradient checking, exactly as the course defines it.
//!
//! Every analytic gradient in cs231n-rs is tested against these centred
//! differences, in `f64`, where the course asks for a relative error below 1e-7.
//!
//! ```
//! use backprop::gradcheck::{eval_numerical_gradient, rel_error};
//! use ndarray::array;
//! // f(x) = Σ x², so ∇f = 2x.
//! let mut x = array![1.0_f64, -2.0, 3.0];
//! let num = eval_numerical_gradient(|x| x.iter().map(|v| v * v).sum(), &mut x, 1e-5);
//! assert!(rel_error(&num.view(), &(&x * 2.0).view()) < 1e-9);
//! ```

use ndarray::{Array, ArrayView, Dimension};
use numeric::{Float, Rng};
use rand::Rng as _;

/// The step the course uses for centred differences.
pub const H: f64 = 1e-5;

/// The course's relative error: `max |x − y| / max(1e-8, |x| + |y|)`, elementwise.
///
/// Scale-free, so one threshold (1e-7 for layers) fits gradients of any size.
///
/// # Panics
/// If the shapes differ (comparing gradients of different shapes is a bug in the test).
///
/// ```
/// use ndarray::array;
/// let e = backprop::gradcheck::rel_error(&array![1.0_f64, 2.0].view(), &array![1.0, 2.000002].view());
/// assert!((e - 5e-7).abs() < 1e-9);
/// ```
pub fn rel_error<T: Float, D: Dimension>(x: &ArrayView<'_, T, D>, y: &ArrayView<'_, T, D>) -> f64 {
    assert_eq!(x.shape(), y.shape(), "rel_error: shapes differ");
    x.iter().zip(y.iter()).fold(0.0_f64, |worst, (&a, &b)| {
        let (a, b) = (a.as_f64(), b.as_f64());
        worst.max((a - b).abs() / (a.abs() + b.abs()).max(1e-8))
    })
}

/// Centred-difference gradient of a scalar function `f` at `x`:
/// `(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h` for every coordinate `i`.
///
/// `x` is nudged in place and restored, as in the course, so `f` may close over
/// other state (a model whose parameter `x` is).
///
/// ```
/// use ndarray::array;
/// let mut w = array![[1.0_f64, 2.0]];
/// let g = backprop::gradcheck::eval_numerical_gradient(|w| w.sum() * 3.0, &mut w, 1e-5);
/// assert!((g[[0, 1]] - 3.0).abs() < 1e-8);
/// ```
pub fn eval_numerical_gradient<T, D, F>(mut f: F, x: &mut Array<T, D>, h: f64) -> Array<T, D>
where
    T: Float,
    D: Dimension,
    F: FnMut(&Array<T, D>) -> T,
{
    eval_by_coordinate(
        x,
        h,
        |x| f(x).as_f64(),
        |plus, minus| (plus - minus) / (2.0 * h),
    )
}

/// Centred-difference gradient of an array-valued `f` at `x`, contracted with the
/// upstream gradient `df`: `Σ (f(x + h·eᵢ) − f(x − h·eᵢ)) ⊙ df / 2h`.
///
/// This is how a layer's backward pass is checked: `df` plays the role of `dout`.
///
/// ```
/// use ndarray::array;
/// // f(x) = 2x elementwise, upstream gradient df: dx = 2·df.
/// let mut x = array![1.0_f64, 2.0];
/// let df = array![0.5_f64, -1.0];
/// let dx = backprop::gradcheck::eval_numerical_gradient_array(|x| x * 2.0, &mut x, &df.view(), 1e-5);
/// assert!((dx[1] + 2.0).abs() < 1e-8);
/// ```
pub fn eval_numerical_gradient_array<T, D, E, F>(
    mut f: F,
    x: &mut Array<T, D>,
    df: &ArrayView<'_, T, E>,
    h: f64,
) -> Array<T, D>
where
    T: Float,
    D: Dimension,
    E: Dimension,
    F: FnMut(&Array<T, D>) -> Array<T, E>,
{
    eval_by_coordinate(
        x,
        h,
        |x| f(x),
        |plus, minus| {
            assert_eq!(
                plus.shape(),
                df.shape(),
                "upstream gradient shape differs from f(x)"
            );
            let dot: f64 = plus
                .iter()
                .zip(minus.iter())
                .zip(df.iter())
                .map(|((p, m), d)| (p.as_f64() - m.as_f64()) * d.as_f64())
                .sum();
            dot / (2.0 * h)
        },
    )
}

/// Nudges each coordinate of `x` by ±h, evaluates, restores, and combines the two
/// evaluations into that coordinate's derivative.
fn eval_by_coordinate<T, D, V>(
    x: &mut Array<T, D>,
    h: f64,
    mut eval: impl FnMut(&Array<T, D>) -> V,
    combine: impl Fn(V, V) -> f64,
) -> Array<T, D>
where
    T: Float,
    D: Dimension,
{
    make_contiguous(x);
    let mut grad = x.clone(); // same memory layout as x, so flat positions agree
    let n = x.len();
    for i in 0..n {
        let old = memory_slice(x)[i];
        memory_slice(x)[i] = T::cast(old.as_f64() + h);
        let plus = eval(x);
        memory_slice(x)[i] = T::cast(old.as_f64() - h);
        let minus = eval(x);
        memory_slice(x)[i] = old;
        memory_slice(&mut grad)[i] = T::cast(combine(plus, minus));
    }
    grad
}

/// Re-lays `x` out in standard order if it is not contiguous (an owned array
/// sliced in place with a step), keeping its values: the nudging loops walk the
/// memory as one slice.
fn make_contiguous<T: Clone, D: Dimension>(x: &mut Array<T, D>) {
    if x.as_slice_memory_order().is_none() {
        *x = x.as_standard_layout().into_owned();
    }
}

/// An owned array's elements in memory order (made contiguous beforehand).
fn memory_slice<T, D: Dimension>(x: &mut Array<T, D>) -> &mut [T] {
    x.as_slice_memory_order_mut()
        .expect("made contiguous by make_contiguous")
}

/// One coordinate of a sparse gradient check.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseCheck {
    /// Position of the coordinate in `x`'s memory order (its logical order when `x`
    /// is in standard layout, as arrays built by ndarray are).
    pub index: usize,
    /// Centred-difference estimate.
    pub numerical: f64,
    /// The analytic gradient's value there.
    pub analytic: f64,
    /// `|numerical − analytic| / (|numerical| + |analytic|)` (0 when both are 0).
    pub rel_error: f64,
}

/// The course's `grad_check_sparse`: compares `analytic_grad` with centred
/// differences at `num_checks` random coordinates of `x` — cheap enough for a
/// loss over all of CIFAR-10, where the full numerical gradient is not.
///
/// ```
/// use ndarray::array;
/// use backprop::gradcheck::grad_check_sparse;
/// let mut w = array![[0.5_f64, -1.5], [2.0, 0.25]];
/// let dw = &w * 2.0; // gradient of Σ w²
/// let checks = grad_check_sparse(|w| w.iter().map(|v| v * v).sum(), &mut w, &dw.view(), 5, 1e-5, &mut numeric::rng(0));
/// assert!(checks.iter().all(|c| c.rel_error < 1e-7));
/// ```
pub fn grad_check_sparse<T, D, F>(
    mut f: F,
    x: &mut Array<T, D>,
    analytic_grad: &ArrayView<'_, T, D>,
    num_checks: usize,
    h: f64,
    rng: &mut Rng,
) -> Vec<SparseCheck>
where
    T: Float,
    D: Dimension,
    F: FnMut(&Array<T, D>) -> T,
{
    assert_eq!(
        x.shape(),
        analytic_grad.shape(),
        "grad_check_sparse: shapes differ"
    );
    make_contiguous(x);
    let n = x.len();
    if n == 0 {
        return Vec::new();
    }
    (0..num_checks)
        .map(|_| {
            let index = rng.random_range(0..n);
            let old = memory_slice(x)[index];
            memory_slice(x)[index] = T::cast(old.as_f64() + h);
            let plus = f(x).as_f64();
            memory_slice(x)[index] = T::cast(old.as_f64() - h);
            let minus = f(x).as_f64();
            memory_slice(x)[index] = old;
            let numerical = (plus - minus) / (2.0 * h);
            let analytic = analytic_at_memory_index(x, analytic_grad, index);
            let denom = numerical.abs() + analytic.abs();
            let rel_error = if denom == 0.0 {
                0.0
            } else {
                (numerical - analytic).abs() / denom
            };
            SparseCheck {
                index,
                numerical,
                analytic,
                rel_error,
            }
        })
        .collect()
}

/// The analytic gradient at the element stored at `index` of `x`'s memory, found by
/// walking both arrays in logical order (they may be laid out differently).
fn analytic_at_memory_index<T: Float, D: Dimension>(
    x: &Array<T, D>,
    analytic_grad: &ArrayView<'_, T, D>,
    index: usize,
) -> f64 {
    let target = x.as_slice_memory_order().expect("contiguous")[index..].as_ptr();
    x.iter()
        .zip(analytic_grad.iter())
        .find(|(elem, _)| std::ptr::eq(*elem, target))
        .map(|(_, g)| g.as_f64())
        .expect("index is within x")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn numerical_gradient_of_a_quadratic_form_is_exact_to_rounding() {
        // f(W) = Σ (W x)², ∇W = 2 (W x) xᵀ — the lecture's vectorised example.
        let x = array![0.2_f64, 0.4];
        let mut w = array![[0.1_f64, 0.5], [-0.3, 0.8]];
        let f = |w: &Array2<f64>| w.dot(&x).mapv(|q| q * q).sum();
        let q = w.dot(&x);
        let analytic = Array2::from_shape_fn((2, 2), |(i, j)| 2.0 * q[i] * x[j]);
        let numerical = eval_numerical_gradient(f, &mut w, H);
        assert!(rel_error(&numerical.view(), &analytic.view()) < 1e-9);
        // x is restored after the nudges.
        assert_eq!(w, array![[0.1, 0.5], [-0.3, 0.8]]);
    }

    #[test]
    fn sparse_check_flags_a_wrong_gradient_and_passes_a_right_one() {
        let mut w = numeric::randn::<f64, _, _>((4, 3), &mut numeric::rng(3));
        let f = |w: &Array2<f64>| w.mapv(|v| v.powi(3)).sum();
        let right = w.mapv(|v| 3.0 * v * v);
        let wrong = w.mapv(|v| 2.0 * v * v);
        let mut r = numeric::rng(9);
        assert!(
            grad_check_sparse(f, &mut w, &right.view(), 10, H, &mut r)
                .iter()
                .all(|c| c.rel_error < 1e-7)
        );
        assert!(
            grad_check_sparse(f, &mut w, &wrong.view(), 10, H, &mut r)
                .iter()
                .all(|c| c.rel_error > 0.1)
        );
    }

    #[test]
    fn sparse_check_reads_the_analytic_gradient_at_the_same_element_for_transposed_x() {
        // x laid out column-major: memory order differs from logical order.
        let mut w = numeric::randn::<f64, _, _>((3, 5), &mut numeric::rng(4)).reversed_axes();
        let w_std = w.as_standard_layout().to_owned();
        let f = |w: &Array2<f64>| w.iter().zip(0..).map(|(v, i)| v * i as f64).sum();
        let dw = Array2::from_shape_fn(w.dim(), |(i, j)| (i * w_std.ncols() + j) as f64);
        let checks = grad_check_sparse(f, &mut w, &dw.view(), 15, H, &mut numeric::rng(5));
        assert!(checks.iter().all(|c| c.rel_error < 1e-7), "{checks:?}");
    }

    #[test]
    fn a_strided_owned_array_is_checked_without_panicking() {
        // An owned array sliced in place with a step is not contiguous.
        let mut w = Array2::from_shape_fn((4, 6), |(i, j)| (i * 6 + j) as f64 * 0.1);
        w.slice_collapse(ndarray::s![.., ..;2]);
        assert!(w.as_slice_memory_order().is_none());
        let expected = w.mapv(|v| 2.0 * v);
        let numerical =
            eval_numerical_gradient(|w| w.iter().map(|v| v * v).sum(), &mut w.clone(), H);
        assert!(rel_error(&numerical.view(), &expected.view()) < 1e-9);
        let checks = grad_check_sparse(
            |w| w.iter().map(|v| v * v).sum(),
            &mut w,
            &expected.view(),
            6,
            H,
            &mut numeric::rng(2),
        );
        assert!(checks.iter().all(|c| c.rel_error < 1e-7), "{checks:?}");
    }

    #[test]
    fn array_gradient_uses_the_upstream_gradient() {
        let mut x = array![[1.0_f64, -2.0], [0.5, 3.0]];
        let dout = array![[1.0_f64, 2.0], [3.0, 4.0]];
        // f(x) = x², so dx = 2x ⊙ dout.
        let dx = eval_numerical_gradient_array(|x| x.mapv(|v| v * v), &mut x, &dout.view(), H);
        let expected = &x * 2.0 * &dout;
        assert!(rel_error(&dx.view(), &expected.view()) < 1e-9);
    }

    #[test]
    fn rel_error_is_the_worst_element() {
        let a = array![1.0_f64, 0.0, 5.0];
        let b = array![1.0_f64, 0.0, 4.0];
        assert!((rel_error(&a.view(), &b.view()) - 1.0 / 9.0).abs() < 1e-15);
    }
}
