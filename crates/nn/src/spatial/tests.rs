//! Spatial batchnorm against the course's checks, the row-transpose reference and
//! numerical gradients.

use super::*;
use crate::spatial_naive::{spatial_batchnorm_backward_naive, spatial_batchnorm_forward_naive};
use crate::test_util::{check_scale_shift_grads, randn4};

/// The course's train-time check: after spatial batchnorm with gamma, beta, the
/// per-channel means are beta and the standard deviations gamma.
#[test]
fn train_forward_gives_channel_means_beta_and_stds_gamma() {
    let x = randn4((10, 3, 4, 5), 231) * 4.0 + 10.0;
    let gamma = ndarray::array![3.0, 4.0, 5.0];
    let beta = ndarray::array![6.0, 7.0, 8.0];
    let mut bn = BatchNormParam::new(3);
    let (out, _) =
        spatial_batchnorm_forward(&x.view(), &gamma.view(), &beta.view(), &mut bn, Mode::Train);
    for ch in 0..3 {
        let plane = out.index_axis(ndarray::Axis(1), ch);
        let mean = plane.mean().unwrap();
        let std = plane
            .mapv(|v| (v - mean) * (v - mean))
            .mean()
            .unwrap()
            .sqrt();
        assert!((mean - beta[ch]).abs() < 1e-10);
        assert!((std - gamma[ch]).abs() < 1e-4);
    }
}

/// The course's test-time check: after many training batches, running statistics
/// normalise fresh data to roughly zero mean and unit variance per channel.
#[test]
fn test_mode_uses_running_statistics() {
    let mut bn = BatchNormParam::new(3);
    let (gamma, beta) = (Array1::ones(3), Array1::zeros(3));
    for seed in 0..50 {
        let x = randn4((10, 3, 4, 5), seed) * 2.3 + 13.0;
        spatial_batchnorm_forward(&x.view(), &gamma.view(), &beta.view(), &mut bn, Mode::Train);
    }
    let x = randn4((10, 3, 4, 5), 1000) * 2.3 + 13.0;
    let (out, _) =
        spatial_batchnorm_forward(&x.view(), &gamma.view(), &beta.view(), &mut bn, Mode::Test);
    let mean = out.mean().unwrap();
    let var = out.mapv(|v| (v - mean) * (v - mean)).mean().unwrap();
    assert!(
        mean.abs() < 0.15 && (var - 1.0).abs() < 0.2,
        "mean {mean} var {var}"
    );
}

/// The NCHW pass gives the row-transpose reference's numbers, in both modes,
/// with the same running statistics, forward and backward.
#[test]
fn fast_matches_naive() {
    let x = randn4((3, 5, 7, 6), 11) * 3.0 - 2.0;
    let dout = randn4((3, 5, 7, 6), 12);
    let gamma: Array1<f64> = numeric::randn(5, &mut numeric::rng(13));
    let beta: Array1<f64> = numeric::randn(5, &mut numeric::rng(14));
    let (mut bn_fast, mut bn_naive) = (BatchNormParam::new(5), BatchNormParam::new(5));
    for mode in [Mode::Train, Mode::Test] {
        let (out, cache) =
            spatial_batchnorm_forward(&x.view(), &gamma.view(), &beta.view(), &mut bn_fast, mode);
        let (out_naive, cache_naive) = spatial_batchnorm_forward_naive(
            &x.view(),
            &gamma.view(),
            &beta.view(),
            &mut bn_naive,
            mode,
        );
        let close = |a: &Array4<f64>, b: &Array4<f64>| (a - b).iter().all(|d| d.abs() < 1e-10);
        assert!(close(&out, &out_naive), "{mode:?} forward");
        assert!(
            (&bn_fast.running_mean - &bn_naive.running_mean)
                .iter()
                .all(|d| d.abs() < 1e-12)
        );
        assert!(
            (&bn_fast.running_var - &bn_naive.running_var)
                .iter()
                .all(|d| d.abs() < 1e-12)
        );
        let (dx, dgamma, dbeta) = spatial_batchnorm_backward(&dout.view(), &cache);
        let (dx_n, dgamma_n, dbeta_n) =
            spatial_batchnorm_backward_naive(&dout.view(), &cache_naive);
        assert!(close(&dx, &dx_n), "{mode:?} dx");
        assert!(
            (dgamma - dgamma_n).iter().all(|d| d.abs() < 1e-10),
            "{mode:?} dgamma"
        );
        assert!(
            (dbeta - dbeta_n).iter().all(|d| d.abs() < 1e-10),
            "{mode:?} dbeta"
        );
    }
}

/// The course's tolerance, 1e-7, on a well-scaled layer (γ away from zero, x of
/// unit scale), for the NCHW pass.
#[test]
fn fast_backward_passes_the_course_tolerance() {
    let mut x = randn4((4, 3, 5, 5), 21);
    let mut gamma = ndarray::array![1.5, -0.8, 2.0];
    let mut beta = ndarray::array![0.1, 0.2, -0.3];
    let dout = randn4((4, 3, 5, 5), 22);
    let fwd = |x: &Array4<f64>, g: &Array1<f64>, b: &Array1<f64>| {
        spatial_batchnorm_forward(
            &x.view(),
            &g.view(),
            &b.view(),
            &mut BatchNormParam::new(3),
            Mode::Train,
        )
        .0
    };
    let (_, cache) = spatial_batchnorm_forward(
        &x.view(),
        &gamma.view(),
        &beta.view(),
        &mut BatchNormParam::new(3),
        Mode::Train,
    );
    let (dx, dgamma, dbeta) = spatial_batchnorm_backward(&dout.view(), &cache);
    let inputs = (&mut x, &mut gamma, &mut beta);
    check_scale_shift_grads(fwd, inputs, &dout, (&dx, &dgamma, &dbeta), 1e-7);
}

/// The same bits whatever the thread count: the sums' grouping is fixed.
#[test]
fn same_bits_on_one_thread_and_on_four() {
    let x: Array4<f32> = numeric::randn((8, 16, 9, 9), &mut numeric::rng(31));
    let dout: Array4<f32> = numeric::randn((8, 16, 9, 9), &mut numeric::rng(32));
    let (g, b) = (Array1::<f32>::ones(16), Array1::<f32>::zeros(16));
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let (out, cache) = spatial_batchnorm_forward(
                    &x.view(),
                    &g.view(),
                    &b.view(),
                    &mut BatchNormParam::new(16),
                    Mode::Train,
                );
                (out, spatial_batchnorm_backward(&dout.view(), &cache))
            })
    };
    assert_eq!(run(1), run(4));
}

#[test]
fn the_layer_gives_the_functions_numbers() {
    let x = randn4((2, 3, 4, 4), 41);
    let dout = randn4((2, 3, 4, 4), 42);
    let mut layer = SpatialBatchNorm::new(NormNames::numbered("1"), 3).with_stats(0.4, 1e-12);
    let params = Params::from([
        ("gamma1".into(), ndarray::array![1.0, 2.0, 3.0].into_dyn()),
        ("beta1".into(), ndarray::array![0.0, 1.0, -1.0].into_dyn()),
    ]);
    let mut buffers = Params::from([
        ("running_mean1".into(), Array1::<f64>::zeros(3).into_dyn()),
        ("running_var1".into(), Array1::<f64>::ones(3).into_dyn()),
    ]);
    let (out, cache) = layer.forward(x.clone().into_dyn(), &params, &mut buffers, Mode::Train);
    let (dx, grads) = layer.backward(dout.clone().into_dyn(), &cache, &params, true);
    let mut bn = BatchNormParam {
        running_mean: Array1::zeros(3),
        running_var: Array1::ones(3),
        momentum: 0.4,
        eps: 1e-12,
    };
    let g = params["gamma1"].view().into_dimensionality().unwrap();
    let b = params["beta1"].view().into_dimensionality().unwrap();
    let (out_n, cache_n) = spatial_batchnorm_forward_naive(&x.view(), &g, &b, &mut bn, Mode::Train);
    let (dx_n, dgamma_n, _) = spatial_batchnorm_backward_naive(&dout.view(), &cache_n);
    assert!((out - out_n.into_dyn()).iter().all(|d| d.abs() < 1e-10));
    assert!((dx - dx_n.into_dyn()).iter().all(|d| d.abs() < 1e-10));
    assert!(
        (&grads["gamma1"] - &dgamma_n.into_dyn())
            .iter()
            .all(|d| d.abs() < 1e-10)
    );
    assert!(
        (&buffers["running_var1"] - &bn.running_var.into_dyn())
            .iter()
            .all(|d| d.abs() < 1e-15)
    );
}
