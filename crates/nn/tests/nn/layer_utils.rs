//! The convolutional sandwich layers against centred differences (f64, < 1e-7).

use backprop::gradcheck::{H, eval_numerical_gradient_array, rel_error};
use ndarray::{Array1, Array4};
use nn::{BatchNormParam, ConvParam, Mode, PoolParam};

const TOL: f64 = 1e-7;

fn setup() -> (Array4<f64>, Array4<f64>, Array1<f64>, ConvParam) {
    let mut r = numeric::rng(7);
    (
        numeric::randn((2, 3, 8, 8), &mut r),
        numeric::randn((3, 3, 3, 3), &mut r),
        numeric::randn(3, &mut r),
        ConvParam::new(1, 1),
    )
}

/// dx, dw and db of `f(x, w, b)` against centred differences, for upstream `dout`.
fn check_xwb(
    f: impl Fn(&Array4<f64>, &Array4<f64>, &Array1<f64>) -> Array4<f64>,
    (x, w, b): (&mut Array4<f64>, &mut Array4<f64>, &mut Array1<f64>),
    dout: &Array4<f64>,
    (dx, dw, db): (&Array4<f64>, &Array4<f64>, &Array1<f64>),
) {
    let (x0, w0, b0) = (x.clone(), w.clone(), b.clone());
    let dx_num = eval_numerical_gradient_array(|x| f(x, &w0, &b0), x, &dout.view(), H);
    let dw_num = eval_numerical_gradient_array(|w| f(&x0, w, &b0), w, &dout.view(), H);
    let db_num = eval_numerical_gradient_array(|b| f(&x0, &w0, b), b, &dout.view(), H);
    assert!(rel_error(&dx.view(), &dx_num.view()) < TOL);
    assert!(rel_error(&dw.view(), &dw_num.view()) < TOL);
    assert!(rel_error(&db.view(), &db_num.view()) < TOL);
}

#[test]
fn conv_relu_pool_backward_matches_numerical() {
    let (mut x, mut w, mut b, cp) = setup();
    let pp = PoolParam::square(2, 2);
    let (out, cache) = nn::conv_relu_pool_forward(&x.view(), &w.view(), &b.view(), cp, pp).unwrap();
    let dout: Array4<f64> = numeric::randn(out.dim(), &mut numeric::rng(8));
    let (dx, dw, db) = nn::conv_relu_pool_backward(&dout.view(), &cache);
    let f = |x: &Array4<f64>, w: &Array4<f64>, b: &Array1<f64>| {
        nn::conv_relu_pool_forward(&x.view(), &w.view(), &b.view(), cp, pp)
            .unwrap()
            .0
    };
    let (x0, w0, b0) = (x.clone(), w.clone(), b.clone());
    check_xwb(f, (&mut x, &mut w, &mut b), &dout, (&dx, &dw, &db));
    // conv_relu is the same without the pool.
    let (out, cache) = nn::conv_relu_forward(&x0.view(), &w0.view(), &b0.view(), cp).unwrap();
    let dout: Array4<f64> = numeric::randn(out.dim(), &mut numeric::rng(9));
    let (dx, _, _) = nn::conv_relu_backward(&dout.view(), &cache);
    let mut x = x0.clone();
    let dx_num = eval_numerical_gradient_array(
        |x| {
            nn::conv_relu_forward(&x.view(), &w0.view(), &b0.view(), cp)
                .unwrap()
                .0
        },
        &mut x,
        &dout.view(),
        H,
    );
    assert!(rel_error(&dx.view(), &dx_num.view()) < TOL);
}

/// On a 16×16 map (256 positions, 2 filters) the convolution runs on wide columns
/// and the three layers run fused: the same check, with and without `dx`.
#[test]
fn fused_conv_relu_pool_backward_matches_numerical() {
    let mut r = numeric::rng(17);
    let mut x: Array4<f64> = numeric::randn((2, 2, 16, 16), &mut r);
    let mut w: Array4<f64> = numeric::randn((2, 2, 3, 3), &mut r);
    let mut b: Array1<f64> = numeric::randn(2, &mut r);
    let (cp, pp) = (ConvParam::new(1, 1), PoolParam::square(2, 2));
    let (out, cache) = nn::conv_relu_pool_forward(&x.view(), &w.view(), &b.view(), cp, pp).unwrap();
    let dout: Array4<f64> = numeric::randn(out.dim(), &mut r);
    let (dx, dw, db) = nn::conv_relu_pool_backward(&dout.view(), &cache);
    let (dw_no_dx, db_no_dx) = nn::conv_relu_pool_backward_no_dx(&dout.view(), &cache);
    // Without dx, dW sums only the pooled gradient's nonzeros: the same terms.
    assert!(rel_error(&dw.view(), &dw_no_dx.view()) < 1e-12);
    assert!(rel_error(&db.view(), &db_no_dx.view()) < 1e-12);
    let f = |x: &Array4<f64>, w: &Array4<f64>, b: &Array1<f64>| {
        nn::conv_relu_pool_forward(&x.view(), &w.view(), &b.view(), cp, pp)
            .unwrap()
            .0
    };
    check_xwb(f, (&mut x, &mut w, &mut b), &dout, (&dx, &dw, &db));
}

#[test]
fn conv_bn_relu_backward_matches_numerical() {
    let (x, w, b, cp) = setup();
    // A 4×4 corner: fewer terms in each batch mean keep the centred difference's
    // rounding floor well under the tolerance.
    let mut x = x.slice(ndarray::s![.., .., ..4, ..4]).to_owned();
    let mut r = numeric::rng(11);
    let mut gamma: Array1<f64> = numeric::randn(3, &mut r);
    let beta: Array1<f64> = numeric::randn(3, &mut r);
    let f = |x: &Array4<f64>, gamma: &Array1<f64>| {
        let mut bn = BatchNormParam::new(3);
        nn::conv_bn_relu_forward(
            &x.view(),
            &w.view(),
            &b.view(),
            &gamma.view(),
            &beta.view(),
            cp,
            &mut bn,
            Mode::Train,
        )
        .unwrap()
        .0
    };
    let mut bn = BatchNormParam::new(3);
    let (out, cache) = nn::conv_bn_relu_forward(
        &x.view(),
        &w.view(),
        &b.view(),
        &gamma.view(),
        &beta.view(),
        cp,
        &mut bn,
        Mode::Train,
    )
    .unwrap();
    let dout: Array4<f64> = numeric::randn(out.dim(), &mut numeric::rng(12));
    let (dx, _, db, dgamma, _) = nn::conv_bn_relu_backward(&dout.view(), &cache);
    let (g0, x0) = (gamma.clone(), x.clone());
    let dx_num = eval_numerical_gradient_array(|x| f(x, &g0), &mut x, &dout.view(), H);
    let dgamma_num = eval_numerical_gradient_array(|g| f(&x0, g), &mut gamma, &dout.view(), H);
    let e = rel_error(&dx.view(), &dx_num.view());
    assert!(e < TOL, "dx {e}");
    let e = rel_error(&dgamma.view(), &dgamma_num.view());
    assert!(e < TOL, "dgamma {e}");
    // The conv bias is cancelled by batchnorm's mean: its gradient is zero.
    assert!(db.iter().all(|v| v.abs() < 1e-10), "{db}");
}
