//! Gradient-check plumbing shared by the layer modules' unit tests.

use backprop::gradcheck::{eval_numerical_gradient_array, rel_error};
use ndarray::{Array, Array1, Array4, ArrayView, Dimension};

/// Standard normal images (N, C, H, W) drawn from the generator seeded with `seed`.
pub(crate) fn randn4(dim: (usize, usize, usize, usize), seed: u64) -> Array4<f64> {
    numeric::randn(dim, &mut numeric::rng(seed))
}

/// Centred-difference gradients (h = 1e-5) of a three-input layer `f(a, b, c)` with
/// upstream gradient `dout`, with respect to each input in turn, the other two held
/// at their values (the course's check for a layer with weights and a bias, or with
/// gamma and beta).
pub(crate) fn numerical_grads3<A, B, C, E>(
    f: impl Fn(&Array<f64, A>, &Array<f64, B>, &Array<f64, C>) -> Array<f64, E>,
    a: &mut Array<f64, A>,
    b: &mut Array<f64, B>,
    c: &mut Array<f64, C>,
    dout: &ArrayView<'_, f64, E>,
) -> (Array<f64, A>, Array<f64, B>, Array<f64, C>)
where
    A: Dimension,
    B: Dimension,
    C: Dimension,
    E: Dimension,
{
    let (b0, c0) = (b.clone(), c.clone());
    let da = eval_numerical_gradient_array(|a| f(a, &b0, &c0), a, dout, 1e-5);
    let a0 = a.clone();
    let db = eval_numerical_gradient_array(|b| f(&a0, b, &c0), b, dout, 1e-5);
    let dc = eval_numerical_gradient_array(|c| f(&a0, &b0, c), c, dout, 1e-5);
    (da, db, dc)
}

/// Asserts the relative error between an analytic and a numerical gradient is
/// below `tol`, naming the gradient and the error when it is not.
#[track_caller]
pub(crate) fn assert_rel_error_below<D: Dimension>(
    name: &str,
    analytic: &Array<f64, D>,
    numerical: &Array<f64, D>,
    tol: f64,
) {
    let err = rel_error(&analytic.view(), &numerical.view());
    assert!(err < tol, "{name} {err}");
}

/// The course's check of a layer with a scale `gamma` and a shift `beta`: its
/// analytic `(dx, dgamma, dbeta)` against centred differences of `forward` at `x`,
/// `gamma`, `beta` with upstream gradient `dout`; `dx` within `dx_tol`, the
/// parameters' gradients within 1e-7.
#[track_caller]
pub(crate) fn check_scale_shift_grads<D: Dimension>(
    forward: impl Fn(&Array<f64, D>, &Array1<f64>, &Array1<f64>) -> Array<f64, D>,
    (x, gamma, beta): (&mut Array<f64, D>, &mut Array1<f64>, &mut Array1<f64>),
    dout: &Array<f64, D>,
    (dx, dgamma, dbeta): (&Array<f64, D>, &Array1<f64>, &Array1<f64>),
    dx_tol: f64,
) {
    let (dx_num, dg_num, db_num) = numerical_grads3(forward, x, gamma, beta, &dout.view());
    assert_rel_error_below("dx", dx, &dx_num, dx_tol);
    assert_rel_error_below("dgamma", dgamma, &dg_num, 1e-7);
    assert_rel_error_below("dbeta", dbeta, &db_num, 1e-7);
}
