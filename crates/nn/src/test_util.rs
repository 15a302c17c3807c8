//! Gradient-check plumbing shared by the layer modules' unit tests.

use backprop::gradcheck::{eval_numerical_gradient_array, rel_error};
use ndarray::{Array, ArrayView, Dimension};

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
