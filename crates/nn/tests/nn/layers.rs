//! Every layer's backward pass against centred differences, in f64 (rel error < 1e-7),
//! and the course's forward sanity checks.

use backprop::gradcheck::{H, eval_numerical_gradient, eval_numerical_gradient_array, rel_error};
use ndarray::{Array, Array1, Array2, Array4, Axis, array};
use nn::*;
use nn::{softmax_loss, svm_loss};

const TOL: f64 = 1e-7;

fn randn2(r: usize, c: usize, seed: u64) -> Array2<f64> {
    numeric::randn((r, c), &mut numeric::rng(seed))
}
fn randn1(n: usize, seed: u64) -> Array1<f64> {
    numeric::randn(n, &mut numeric::rng(seed))
}

#[test]
fn affine_backward_matches_numerical() {
    let mut x: Array4<f64> = numeric::randn((10, 2, 3, 1), &mut numeric::rng(1));
    let mut w = randn2(6, 5, 2);
    let mut b = randn1(5, 3);
    let dout = randn2(10, 5, 4);
    let (_, cache) = affine_forward(&x, &w, &b.view());
    let (dx, dw, db) = affine_backward(&dout.view(), &cache);
    let (w0, b0) = (w.clone(), b.clone());
    let dx_num = eval_numerical_gradient_array(
        |x| affine_forward(&x.view(), &w0.view(), &b0.view()).0,
        &mut x,
        &dout.view(),
        H,
    );
    let x0 = x.clone();
    let dw_num = eval_numerical_gradient_array(
        |w| affine_forward(&x0.view(), &w.view(), &b0.view()).0,
        &mut w,
        &dout.view(),
        H,
    );
    let db_num = eval_numerical_gradient_array(
        |b| affine_forward(&x0.view(), &w0.view(), &b.view()).0,
        &mut b,
        &dout.view(),
        H,
    );
    assert_eq!(dx.shape(), &[10, 2, 3, 1]);
    assert!(
        rel_error(&dx.view(), &dx_num.view()) < TOL,
        "dx {}",
        rel_error(&dx.view(), &dx_num.view())
    );
    assert!(rel_error(&dw.view(), &dw_num.view()) < TOL);
    assert!(rel_error(&db.view(), &db_num.view()) < TOL);
}

#[test]
fn relu_backward_matches_numerical() {
    let mut x = randn2(10, 10, 5);
    let dout = randn2(10, 10, 6);
    let (_, cache) = relu_forward(&x.view());
    let dx = relu_backward(&dout.view(), &cache);
    let dx_num =
        eval_numerical_gradient_array(|x| relu_forward(&x.view()).0, &mut x, &dout.view(), H);
    assert!(rel_error(&dx.view(), &dx_num.view()) < TOL);
}

#[test]
fn relu_forward_course_values() {
    let x = Array::linspace(-0.5, 0.5, 12)
        .into_shape_with_order((3, 4))
        .unwrap();
    let (out, _) = relu_forward(&x.view());
    let correct = array![
        [0., 0., 0., 0.],
        [0., 0., 0.04545455, 0.13636364],
        [0.22727273, 0.31818182, 0.40909091, 0.5]
    ];
    assert!(rel_error(&out.view(), &correct.view()) < 5e-8);
}

#[test]
fn leaky_relu_sigmoid_tanh_backward_match_numerical() {
    let mut x = randn2(8, 7, 7);
    let dout = randn2(8, 7, 8);
    let (_, c) = leaky_relu_forward(&x.view(), 0.01);
    let dx = leaky_relu_backward(&dout.view(), &c);
    let num = eval_numerical_gradient_array(
        |x| leaky_relu_forward(&x.view(), 0.01).0,
        &mut x,
        &dout.view(),
        H,
    );
    assert!(rel_error(&dx.view(), &num.view()) < TOL);

    let (_, c) = sigmoid_forward(&x.view());
    let dx = sigmoid_backward(&dout.view(), &c);
    let num =
        eval_numerical_gradient_array(|x| sigmoid_forward(&x.view()).0, &mut x, &dout.view(), H);
    assert!(rel_error(&dx.view(), &num.view()) < TOL);

    let (_, c) = tanh_forward(&x.view());
    let dx = tanh_backward(&dout.view(), &c);
    let num = eval_numerical_gradient_array(|x| tanh_forward(&x.view()).0, &mut x, &dout.view(), H);
    assert!(rel_error(&dx.view(), &num.view()) < TOL);
}

#[test]
fn sandwich_affine_relu_backward_matches_numerical() {
    let mut x = randn2(2, 12, 9);
    let mut w = randn2(12, 10, 10);
    let mut b = randn1(10, 11);
    let dout = randn2(2, 10, 12);
    let (_, cache) = affine_relu_forward(&x, &w, &b.view());
    let (dx, dw, db) = affine_relu_backward(&dout.view(), &cache);
    let (x0, w0, b0) = (x.clone(), w.clone(), b.clone());
    let dx_num = eval_numerical_gradient_array(
        |x| affine_relu_forward(&x.view(), &w0.view(), &b0.view()).0,
        &mut x,
        &dout.view(),
        H,
    );
    let dw_num = eval_numerical_gradient_array(
        |w| affine_relu_forward(&x0.view(), &w.view(), &b0.view()).0,
        &mut w,
        &dout.view(),
        H,
    );
    let db_num = eval_numerical_gradient_array(
        |b| affine_relu_forward(&x0.view(), &w0.view(), &b.view()).0,
        &mut b,
        &dout.view(),
        H,
    );
    assert!(rel_error(&dx.view(), &dx_num.view()) < TOL);
    assert!(rel_error(&dw.view(), &dw_num.view()) < TOL);
    assert!(rel_error(&db.view(), &db_num.view()) < TOL);
}

#[test]
fn losses_gradients_match_numerical() {
    // The course's check: 50 examples, 10 classes, scores of size 0.001.
    let mut x = randn2(50, 10, 13) * 0.001;
    let y: Array1<usize> = (0..50).map(|i| (i * 7) % 10).collect();
    let (_, dx) = svm_loss(&x.view(), &y.view());
    let num = eval_numerical_gradient(|x| svm_loss(&x.view(), &y.view()).0, &mut x, H);
    assert!(rel_error(&dx.view(), &num.view()) < 1e-7);
    let (loss, dx) = softmax_loss(&x.view(), &y.view());
    let num = eval_numerical_gradient(|x| softmax_loss(&x.view(), &y.view()).0, &mut x, H);
    assert!(rel_error(&dx.view(), &num.view()) < 1e-7);
    assert!((loss - 10f64.ln()).abs() < 1e-2);
}

#[test]
fn batchnorm_train_forward_normalises_and_scales() {
    // The course's check: after batchnorm, means ≈ beta and stds ≈ gamma per feature.
    let (n, d1, d2, d3) = (200, 50, 60, 3);
    let x = randn2(n, d1, 14);
    let w1 = randn2(d1, d2, 15);
    let w2 = randn2(d2, d3, 16);
    let mut a = numeric::matmul(&x.view(), &w1.view());
    a.mapv_inplace(|v| v.max(0.0));
    let a = numeric::matmul(&a.view(), &w2.view());
    let gamma = array![1.0, 2.0, 3.0];
    let beta = array![11.0, 12.0, 13.0];
    let (out, _) = batchnorm_forward(
        &a.view(),
        &gamma.view(),
        &beta.view(),
        &mut BatchNormParam::new(d3),
        Mode::Train,
    );
    let mean = out.mean_axis(Axis(0)).unwrap();
    let std = out.std_axis(Axis(0), 0.0);
    assert!(rel_error(&mean.view(), &beta.view()) < 1e-9, "{mean}");
    assert!(rel_error(&std.view(), &gamma.view()) < 1e-5, "{std}");
}

#[test]
fn batchnorm_test_mode_uses_running_statistics() {
    // The course's check: after many train passes, test-mode outputs have mean ≈ 0, std ≈ 1.
    let (n, d1, d2, d3) = (200, 50, 60, 3);
    let w1 = randn2(d1, d2, 17);
    let w2 = randn2(d2, d3, 18);
    let mut bn = BatchNormParam::new(d3);
    let (gamma, beta) = (Array1::ones(d3), Array1::zeros(d3));
    let batch = |seed| {
        let mut a = numeric::matmul(&randn2(n, d1, seed).view(), &w1.view());
        a.mapv_inplace(|v: f64| v.max(0.0));
        numeric::matmul(&a.view(), &w2.view())
    };
    for t in 0..50 {
        batchnorm_forward(
            &batch(100 + t).view(),
            &gamma.view(),
            &beta.view(),
            &mut bn,
            Mode::Train,
        );
    }
    let before = bn.clone();
    let (out, _) = batchnorm_forward(
        &batch(999).view(),
        &gamma.view(),
        &beta.view(),
        &mut bn,
        Mode::Test,
    );
    assert_eq!(
        bn, before,
        "test mode must not touch the running statistics"
    );
    let mean = out.mean_axis(Axis(0)).unwrap();
    let std = out.std_axis(Axis(0), 0.0);
    assert!(mean.iter().all(|m| m.abs() < 0.2), "{mean}");
    assert!(std.iter().all(|s| (s - 1.0).abs() < 0.2), "{std}");
}

#[test]
fn batchnorm_backward_matches_numerical_in_train_and_test_mode() {
    let (n, d) = (4, 5);
    let mut x = randn2(n, d, 19) * 5.0 + 12.0;
    let mut gamma = randn1(d, 20);
    let mut beta = randn1(d, 21);
    let dout = randn2(n, d, 22);
    for mode in [Mode::Train, Mode::Test] {
        let mut bn = BatchNormParam::new(d);
        bn.running_mean = randn1(d, 23);
        bn.running_var = randn1(d, 24).mapv(|v| v * v + 0.5);
        let fwd = |x: &Array2<f64>, g: &Array1<f64>, b: &Array1<f64>| {
            batchnorm_forward(&x.view(), &g.view(), &b.view(), &mut bn.clone(), mode).0
        };
        let (_, cache) = batchnorm_forward(
            &x.view(),
            &gamma.view(),
            &beta.view(),
            &mut bn.clone(),
            mode,
        );
        let (dx, dgamma, dbeta) = batchnorm_backward(&dout.view(), &cache);
        let (x0, g0, b0) = (x.clone(), gamma.clone(), beta.clone());
        let dx_num = eval_numerical_gradient_array(|x| fwd(x, &g0, &b0), &mut x, &dout.view(), H);
        let dg_num =
            eval_numerical_gradient_array(|g| fwd(&x0, g, &b0), &mut gamma, &dout.view(), H);
        let db_num =
            eval_numerical_gradient_array(|b| fwd(&x0, &g0, b), &mut beta, &dout.view(), H);
        assert!(
            rel_error(&dx.view(), &dx_num.view()) < TOL,
            "{mode:?} dx {}",
            rel_error(&dx.view(), &dx_num.view())
        );
        assert!(rel_error(&dgamma.view(), &dg_num.view()) < TOL);
        assert!(rel_error(&dbeta.view(), &db_num.view()) < TOL);
    }
}

#[test]
fn layernorm_forward_normalises_each_example_and_backward_matches() {
    let (n, d) = (4, 5);
    let mut x = randn2(n, d, 25) * 5.0 + 12.0;
    let mut gamma = randn1(d, 26);
    let mut beta = randn1(d, 27);
    let ones = Array1::ones(d);
    let zeros = Array1::zeros(d);
    let (out, _) = layernorm_forward(&x.view(), &ones.view(), &zeros.view(), 1e-5);
    for row in out.rows() {
        assert!(row.mean().unwrap().abs() < 1e-9);
        assert!((row.std(0.0) - 1.0).abs() < 1e-5);
    }
    let dout = randn2(n, d, 28);
    let (_, cache) = layernorm_forward(&x.view(), &gamma.view(), &beta.view(), 1e-5);
    let (dx, dgamma, dbeta) = layernorm_backward(&dout.view(), &cache);
    let fwd = |x: &Array2<f64>, g: &Array1<f64>, b: &Array1<f64>| {
        layernorm_forward(&x.view(), &g.view(), &b.view(), 1e-5).0
    };
    let (x0, g0, b0) = (x.clone(), gamma.clone(), beta.clone());
    let dx_num = eval_numerical_gradient_array(|x| fwd(x, &g0, &b0), &mut x, &dout.view(), H);
    let dg_num = eval_numerical_gradient_array(|g| fwd(&x0, g, &b0), &mut gamma, &dout.view(), H);
    let db_num = eval_numerical_gradient_array(|b| fwd(&x0, &g0, b), &mut beta, &dout.view(), H);
    assert!(
        rel_error(&dx.view(), &dx_num.view()) < TOL,
        "dx {}",
        rel_error(&dx.view(), &dx_num.view())
    );
    assert!(rel_error(&dgamma.view(), &dg_num.view()) < TOL);
    assert!(rel_error(&dbeta.view(), &db_num.view()) < TOL);
}

#[test]
fn affine_norm_relu_backward_matches_numerical() {
    for kind in [Normalization::BatchNorm, Normalization::LayerNorm] {
        let mut x = randn2(4, 6, 29);
        let mut w = randn2(6, 5, 30);
        let mut b = randn1(5, 31);
        let mut gamma = randn1(5, 32);
        let mut beta = randn1(5, 33);
        let dout = randn2(4, 5, 34);
        let bn = BatchNormParam::new(5);
        let fwd = |x: &Array2<f64>,
                   w: &Array2<f64>,
                   b: &Array1<f64>,
                   g: &Array1<f64>,
                   be: &Array1<f64>| {
            affine_norm_relu_forward(
                &x.view(),
                &w.view(),
                &b.view(),
                &g.view(),
                &be.view(),
                kind,
                &mut bn.clone(),
                Mode::Train,
            )
            .0
        };
        let (_, cache) = affine_norm_relu_forward(
            &x,
            &w,
            &b.view(),
            &gamma.view(),
            &beta.view(),
            kind,
            &mut bn.clone(),
            Mode::Train,
        );
        let (dx, dw, db, dg, dbe) = affine_norm_relu_backward(&dout.view(), &cache);
        let (x0, w0, b0, g0, be0) = (x.clone(), w.clone(), b.clone(), gamma.clone(), beta.clone());
        let dx_num =
            eval_numerical_gradient_array(|x| fwd(x, &w0, &b0, &g0, &be0), &mut x, &dout.view(), H);
        let dw_num =
            eval_numerical_gradient_array(|w| fwd(&x0, w, &b0, &g0, &be0), &mut w, &dout.view(), H);
        let db_num =
            eval_numerical_gradient_array(|b| fwd(&x0, &w0, b, &g0, &be0), &mut b, &dout.view(), H);
        let dg_num = eval_numerical_gradient_array(
            |g| fwd(&x0, &w0, &b0, g, &be0),
            &mut gamma,
            &dout.view(),
            H,
        );
        let dbe_num = eval_numerical_gradient_array(
            |be| fwd(&x0, &w0, &b0, &g0, be),
            &mut beta,
            &dout.view(),
            H,
        );
        for (a, n, name) in [(&dw, &dw_num, "dW"), (&dx, &dx_num, "dx")] {
            assert!(
                rel_error(&a.view(), &n.view()) < TOL,
                "{kind:?} {name} {}",
                rel_error(&a.view(), &n.view())
            );
        }
        if kind == Normalization::BatchNorm {
            // Batchnorm subtracts the batch mean, so the affine bias cancels: its true
            // gradient is 0 and a relative error between two round-off values means nothing.
            assert!(
                db.iter().chain(db_num.iter()).all(|v| v.abs() < 1e-8),
                "{db} {db_num}"
            );
        } else {
            assert!(rel_error(&db.view(), &db_num.view()) < TOL);
        }
        for (a, n, name) in [(&dg, &dg_num, "dgamma"), (&dbe, &dbe_num, "dbeta")] {
            assert!(
                rel_error(&a.view(), &n.view()) < TOL,
                "{kind:?} {name} {}",
                rel_error(&a.view(), &n.view())
            );
        }
    }
}

#[test]
fn dropout_keeps_the_mean_in_train_and_is_identity_in_test() {
    let x = randn2(500, 500, 35) + 10.0;
    for p in [0.25, 0.4, 0.7] {
        let (train, _) = dropout_forward(&x.view(), p, Mode::Train, &mut numeric::rng(123));
        let (test, _) = dropout_forward(&x.view(), p, Mode::Test, &mut numeric::rng(123));
        let zeros = train.iter().filter(|&&v| v == 0.0).count() as f64 / x.len() as f64;
        assert!((zeros - (1.0 - p)).abs() < 0.01, "p {p}: {zeros} zeroed");
        assert!((train.mean().unwrap() - x.mean().unwrap()).abs() < 0.1);
        assert_eq!(test, x);
    }
}

#[test]
fn dropout_backward_matches_numerical_with_a_fixed_mask() {
    let mut x = randn2(10, 10, 36) + 10.0;
    let dout = randn2(10, 10, 37);
    let (_, cache) = dropout_forward(&x.view(), 0.2, Mode::Train, &mut numeric::rng(123));
    let dx = dropout_backward(&dout.view(), &cache);
    // The same seed draws the same mask on every evaluation.
    let dx_num = eval_numerical_gradient_array(
        |x| dropout_forward(&x.view(), 0.2, Mode::Train, &mut numeric::rng(123)).0,
        &mut x,
        &dout.view(),
        H,
    );
    assert!(rel_error(&dx.view(), &dx_num.view()) < 1e-10);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn close(a: &Array2<f64>, b: &Array2<f64>) -> bool {
        let abs = (a - b).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        rel_error(&a.view(), &b.view()) < 1e-7 || abs < 1e-9
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Normalisation backward passes agree with centred differences on any shape
        /// and scale of input. With two examples (or two features) the normalised
        /// output is ±1 whatever the input and the true gradient is a round-off-sized
        /// eps effect, so the property starts at three; `close` still accepts an
        /// absolute difference below 1e-9 for coordinates whose gradient is ~0.
        #[test]
        fn norm_backward_matches_numerical_on_any_shape(n in 3usize..7, d in 1usize..6, scale in 0.5f64..20.0, seed in 0u64..1000) {
            let mut x = randn2(n, d, seed) * scale + 3.0;
            let gamma = randn1(d, seed + 1);
            let beta = randn1(d, seed + 2);
            let dout = randn2(n, d, seed + 3);
            let (_, c) = batchnorm_forward(&x.view(), &gamma.view(), &beta.view(), &mut BatchNormParam::new(d), Mode::Train);
            let (dx, _, _) = batchnorm_backward(&dout.view(), &c);
            let num = eval_numerical_gradient_array(
                |x| batchnorm_forward(&x.view(), &gamma.view(), &beta.view(), &mut BatchNormParam::new(d), Mode::Train).0,
                &mut x, &dout.view(), H);
            prop_assert!(close(&dx, &num), "batchnorm {}", rel_error(&dx.view(), &num.view()));
            if d > 2 {
                let (_, c) = layernorm_forward(&x.view(), &gamma.view(), &beta.view(), 1e-5);
                let (dx, _, _) = layernorm_backward(&dout.view(), &c);
                let num = eval_numerical_gradient_array(|x| layernorm_forward(&x.view(), &gamma.view(), &beta.view(), 1e-5).0, &mut x, &dout.view(), H);
                prop_assert!(close(&dx, &num), "layernorm {}", rel_error(&dx.view(), &num.view()));
            }
        }

        /// Test-mode dropout and keep probability 1 are the identity; train-mode
        /// outputs are either 0 or x/p.
        #[test]
        fn dropout_outputs_are_zero_or_scaled(p in 0.05f64..1.0, seed in 0u64..1000) {
            let x = randn2(6, 7, seed);
            let (out, _) = dropout_forward(&x.view(), p, Mode::Train, &mut numeric::rng(seed));
            for (&o, &v) in out.iter().zip(x.iter()) {
                prop_assert!(o == 0.0 || (o - v / p).abs() < 1e-12);
            }
            prop_assert_eq!(dropout_forward(&x.view(), p, Mode::Test, &mut numeric::rng(seed)).0, x.clone());
            prop_assert_eq!(dropout_forward(&x.view(), 1.0, Mode::Train, &mut numeric::rng(seed)).0, x);
        }
    }
}
