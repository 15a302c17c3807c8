use super::*;
use backprop::gradcheck::{eval_numerical_gradient_array, rel_error};
use ndarray::{Array, array};

/// The course's sanity check for max_pool_forward_naive (ConvolutionalNetworks.ipynb).
#[test]
fn forward_matches_the_course() {
    let x = Array::linspace(-0.3, 0.4, 2 * 3 * 4 * 4)
        .into_shape_with_order((2, 3, 4, 4))
        .unwrap();
    let correct_out = array![
        [
            [[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
            [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
            [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]
        ],
        [
            [[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
            [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
            [[0.32631579, 0.34105263], [0.38526316, 0.4]]
        ]
    ];
    let p = PoolParam::square(2, 2);
    let (out, _) = max_pool_forward_naive(&x.view(), p).unwrap();
    // The course prints 8 decimals; its own check is "around 1e-8".
    assert!(rel_error(&out.view(), &correct_out.view()) < 1e-7);
    let (fast, _) = max_pool_forward_fast(&x.view(), p).unwrap();
    assert_eq!(fast, out);
}

/// Asserts `dx` is the centred-difference gradient of the naive forward pass
/// (relative error < 1e-7).
#[track_caller]
fn assert_matches_numerical(
    dx: &Array4<f64>,
    x: &mut Array4<f64>,
    dout: &Array4<f64>,
    p: PoolParam,
) {
    let dx_num = eval_numerical_gradient_array(
        |x| max_pool_forward_naive(&x.view(), p).unwrap().0,
        x,
        &dout.view(),
        1e-5,
    );
    assert!(rel_error(&dx.view(), &dx_num.view()) < 1e-7);
}

/// The course's gradient check: x (3, 2, 8, 8), 2×2 stride 2.
#[test]
fn backward_matches_numerical_gradient() {
    let mut x: Array4<f64> = numeric::randn((3, 2, 8, 8), &mut numeric::rng(231));
    let dout: Array4<f64> = numeric::randn((3, 2, 4, 4), &mut numeric::rng(1));
    let p = PoolParam::square(2, 2);
    let (_, cache) = max_pool_forward_naive(&x.view(), p).unwrap();
    let (_, fast_cache) = max_pool_forward_fast(&x.view(), p).unwrap();
    let dx = max_pool_backward_naive(&dout.view(), &cache);
    let dx_fast = max_pool_backward_fast(&dout.view(), &fast_cache);
    assert_matches_numerical(&dx, &mut x, &dout, p);
    assert_eq!(dx, dx_fast);
}

#[test]
fn overlapping_windows_agree_with_naive_and_numerical() {
    let mut x: Array4<f64> = numeric::randn((2, 2, 7, 7), &mut numeric::rng(3));
    let p = PoolParam::square(3, 2);
    let (out, cache) = max_pool_forward_naive(&x.view(), p).unwrap();
    let (fast, fast_cache) = max_pool_forward_fast(&x.view(), p).unwrap();
    assert_eq!(out, fast);
    let dout: Array4<f64> = numeric::randn(out.dim(), &mut numeric::rng(4));
    let dx = max_pool_backward_naive(&dout.view(), &cache);
    assert_eq!(dx, max_pool_backward_fast(&dout.view(), &fast_cache));
    assert_matches_numerical(&dx, &mut x, &dout, p);
}

/// Small planes go to the scatter many to a task, the last task short: the same
/// dx as the naive pass, in one block or in several.
#[test]
fn blocks_of_small_planes_match_naive() {
    for (dim, p) in [
        ((5, 7, 3, 3), PoolParam::square(3, 3)),
        ((3, 50, 6, 6), PoolParam::square(2, 2)),
        ((2, 3, 40, 40), PoolParam::square(2, 2)),
    ] {
        let x: Array4<f64> = numeric::randn(dim, &mut numeric::rng(8));
        let (out, cache) = max_pool_forward_naive(&x.view(), p).unwrap();
        let (_, fast_cache) = max_pool_forward_fast(&x.view(), p).unwrap();
        let dout: Array4<f64> = numeric::randn(out.dim(), &mut numeric::rng(9));
        let dx = max_pool_backward_naive(&dout.view(), &cache);
        assert_eq!(
            dx,
            max_pool_backward_fast(&dout.view(), &fast_cache),
            "{dim:?}"
        );
    }
}

#[test]
fn gradient_goes_to_the_first_maximum_only() {
    let x = Array4::from_shape_vec(
        (1, 1, 2, 4),
        vec![1.0_f64, 1.0, 0.0, 2.0, 1.0, 0.0, 2.0, 2.0],
    )
    .unwrap();
    let dout = Array4::from_shape_vec((1, 1, 1, 2), vec![3.0, 4.0]).unwrap();
    let p = PoolParam::square(2, 2);
    let (_, cache) = max_pool_forward_naive(&x.view(), p).unwrap();
    let (_, fast) = max_pool_forward_fast(&x.view(), p).unwrap();
    let expected = vec![3.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0];
    assert_eq!(
        max_pool_backward_naive(&dout.view(), &cache)
            .into_raw_vec_and_offset()
            .0,
        expected
    );
    assert_eq!(
        max_pool_backward_fast(&dout.view(), &fast)
            .into_raw_vec_and_offset()
            .0,
        expected
    );
}

#[test]
fn windows_that_do_not_tile_are_an_error() {
    let x = Array4::<f32>::zeros((1, 1, 5, 4));
    let err = max_pool_forward_fast(&x.view(), PoolParam::square(2, 2)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotWhole {
                layer: "max pool",
                axis: "height",
                size: 5,
                ..
            }
        ),
        "{err}"
    );
    let err = max_pool_forward_naive(&x.view(), PoolParam::square(6, 1)).unwrap_err();
    assert!(matches!(err, Error::WindowTooLarge { .. }));
}
