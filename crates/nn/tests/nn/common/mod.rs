//! Helpers shared by the model tests: toy batches and whole-model gradient checks.

use backprop::gradcheck::{eval_numerical_gradient, rel_error};
use ndarray::{Array1, ArrayD, IxDyn};
use nn::Model;
use rand::Rng as _;

pub fn toy_batch(
    n: usize,
    shape: &[usize],
    classes: usize,
    seed: u64,
) -> (ArrayD<f64>, Array1<usize>) {
    let mut r = numeric::rng(seed);
    let mut dims = vec![n];
    dims.extend_from_slice(shape);
    let x = numeric::randn::<f64, _, _>(IxDyn(&dims), &mut r);
    let y = Array1::from_shape_fn(n, |_| r.random_range(0..classes));
    (x, y)
}

/// Whole-model gradient checks agree to ~1e-10 absolute, but the worst *relative*
/// error sits on gradient elements of ~1e-6, where the centred difference's
/// rounding floor (ε·loss/h ≈ 2e-11) alone is a few 1e-6. The layers themselves are
/// checked at 1e-7 in their modules.
pub const MODEL_TOLERANCE: f64 = 1e-5;

/// Checks every parameter's analytic gradient against centred differences; returns
/// the worst relative error per parameter.
pub fn gradient_errors<M: Model<f64>>(
    model: &mut M,
    x: &ArrayD<f64>,
    y: &Array1<usize>,
) -> Vec<(String, f64)> {
    let (_, grads) = model.loss(&x.view(), &y.view());
    let names: Vec<String> = model.params().keys().cloned().collect();
    names
        .into_iter()
        .map(|name| {
            let mut p = model.params()[&name].clone();
            let num = eval_numerical_gradient(
                |p| {
                    model.params_mut().insert(name.clone(), p.clone());
                    model.loss(&x.view(), &y.view()).0
                },
                &mut p,
                1e-5,
            );
            model.params_mut().insert(name.clone(), p);
            let analytic = &grads[&name];
            let largest = |a: &ArrayD<f64>| a.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            // A parameter whose gradient is zero in theory (a conv bias followed by
            // batchnorm, which subtracts it again): both must be zero to rounding,
            // where a relative error would only compare rounding noise.
            let e = if largest(analytic) < 1e-12 {
                largest(&num)
            } else {
                rel_error(&num.view(), &analytic.view())
            };
            (name, e)
        })
        .collect()
}
