//! The fast convolution against the naive loops, pass by pass and path by path.

use super::*;

/// A conv with frozen filters (the whitening layer) gives the bias gradient the
/// full backward pass gives, and the naive layer's, without `dW`; with `dx` asked
/// for, the same `dx` too.
#[test]
fn frozen_filters_keep_the_bias_gradient_and_skip_dw() {
    use crate::{conv_backward_naive, conv_forward_naive};
    use backprop::gradcheck::rel_error;
    use ndarray::IxDyn;
    let mut rng = numeric::rng(11);
    let (c, f) = (3, 24);
    let x: Array4<f64> = numeric::randn((5, c, 9, 8), &mut rng);
    let w: Array4<f64> = numeric::randn((f, c, 2, 2), &mut rng);
    let b: Array1<f64> = numeric::randn(f, &mut rng);
    let params = Params::from([
        ("W1".to_string(), w.clone().into_dyn()),
        ("b1".to_string(), b.clone().into_dyn()),
    ]);
    let mut full = Conv::new("W1", "b1", c, f, 2, 1);
    let mut frozen = full.clone().with_frozen_filters(true);
    let (out, cache) = full.forward(
        x.clone().into_dyn(),
        &params,
        &mut Params::new(),
        Mode::Train,
    );
    let (out_frozen, cache_frozen) = frozen.forward(
        x.clone().into_dyn(),
        &params,
        &mut Params::new(),
        Mode::Train,
    );
    assert_eq!(out, out_frozen);
    let dout: ArrayD<f64> = numeric::randn(IxDyn(out.shape()), &mut rng);
    let (_, naive_cache) =
        conv_forward_naive(&x.view(), &w.view(), &b.view(), ConvParam::new(1, 0)).unwrap();
    let dout4 = dout.view().into_dimensionality::<Ix4>().unwrap();
    let (dx_naive, _, db_naive) = conv_backward_naive(&dout4, &naive_cache);
    for need_dx in [false, true] {
        let (dx, grads) = full.backward(dout.clone(), &cache, &params, need_dx);
        let (dx_frozen, grads_frozen) =
            frozen.backward(dout.clone(), &cache_frozen, &params, need_dx);
        assert!(grads.contains_key("W1") && !grads_frozen.contains_key("W1"));
        assert_eq!(grads_frozen.len(), 1);
        let db = grads_frozen["b1"]
            .view()
            .into_dimensionality::<Ix1>()
            .unwrap();
        assert!(rel_error(&db, &db_naive.view()) < 1e-12);
        assert!(rel_error(&grads["b1"].view(), &grads_frozen["b1"].view()) < 1e-12);
        assert_eq!(dx, dx_frozen);
        if need_dx {
            let dx = dx_frozen.view().into_dimensionality::<Ix4>().unwrap();
            assert!(rel_error(&dx, &dx_naive.view()) < 1e-10);
        }
    }
}

/// The layer's cache keeps the input it was given (no copy), and an input in another
/// memory order (here channels last, a permuted view made owned) gives the outputs and
/// gradients of the standard layout.
#[test]
fn the_layer_keeps_its_input_in_any_layout() {
    let mut rng = numeric::rng(12);
    let (c, f) = (4, 6);
    let x: Array4<f64> = numeric::randn((3, c, 7, 7), &mut rng);
    let params = Params::from([
        (
            "W".to_string(),
            numeric::randn((f, c, 3, 3), &mut rng).into_dyn(),
        ),
        ("b".to_string(), numeric::randn(f, &mut rng).into_dyn()),
    ]);
    let mut conv = Conv::new("W", "b", c, f, 3, 1);
    let given = x.clone().into_dyn();
    let at = given.as_ptr();
    let (out, cache) = conv.forward(given, &params, &mut Params::new(), Mode::Train);
    let kept: &ConvCache<f64> = cache_of(&cache, "conv");
    assert_eq!(kept.x.as_ptr(), at, "the cache holds the given array");
    let channels_last = x
        .clone()
        .permuted_axes([0, 2, 3, 1])
        .as_standard_layout()
        .into_owned();
    let other_order = channels_last.permuted_axes([0, 3, 1, 2]);
    assert!(!other_order.is_standard_layout());
    let (out2, cache2) = conv.forward(
        other_order.into_dyn(),
        &params,
        &mut Params::new(),
        Mode::Train,
    );
    assert_eq!(out, out2);
    let dout =
        ArrayD::from_shape_vec(out.shape(), (0..out.len()).map(|i| i as f64).collect()).unwrap();
    let (dx, grads) = conv.backward(dout.clone(), &cache, &params, true);
    let (dx2, grads2) = conv.backward(dout, &cache2, &params, true);
    assert_eq!(dx, dx2);
    assert_eq!(grads["W"], grads2["W"]);
}

/// Zero filters make an empty output and empty parameter gradients, on both the
/// wide path (32×32 maps) and the chunked one (4×4 maps); dx is all zeros.
#[test]
fn zero_filters_give_empty_outputs() {
    for side in [32, 4] {
        let x = Array4::<f64>::ones((3, 2, side, side));
        let w = Array4::<f64>::zeros((0, 2, 3, 3));
        let b = Array1::<f64>::zeros(0);
        let (out, cache) =
            conv_forward_fast(&x.view(), &w.view(), &b.view(), ConvParam::new(1, 1)).unwrap();
        assert_eq!(out.dim(), (3, 0, side, side));
        let (dx, dw, db) = conv_backward_fast(&out.view(), &cache);
        assert_eq!(dx.dim(), x.dim());
        assert!(dx.iter().all(|&v| v == 0.0));
        assert_eq!((dw.dim(), db.len()), ((0, 2, 3, 3), 0));
    }
}

/// Winograd runs every pass of 3×3 'same' layers with 24 channels or more in and
/// out; a GEMM path runs the rest (the forward pass's cache serves either), and
/// the public functions agree with the naive layer either way.
#[test]
fn winograd_runs_the_layers_it_wins() {
    use crate::{conv_backward_naive, conv_forward_naive};
    use backprop::gradcheck::rel_error;
    let cases = [
        (
            (2, 64, 7, 7),
            (64, 64, 3, 3),
            1,
            1,
            (Path::Winograd, Path::Winograd),
        ),
        (
            (2, 64, 3, 3),
            (72, 64, 3, 3),
            1,
            1,
            (Path::Winograd, Path::Winograd),
        ),
        (
            (2, 24, 12, 12),
            (64, 24, 3, 3),
            1,
            1,
            (Path::Winograd, Path::Winograd),
        ),
        (
            (2, 16, 12, 12),
            (64, 16, 3, 3),
            1,
            1,
            (Path::Wide, Path::Wide),
        ),
        (
            (2, 64, 7, 7),
            (64, 64, 3, 3),
            2,
            1,
            (Path::Chunked, Path::Chunked),
        ),
        (
            (2, 64, 5, 5),
            (64, 64, 5, 5),
            1,
            2,
            (Path::Chunked, Path::Chunked),
        ),
    ];
    let mut rng = numeric::rng(12);
    for (xs, ws, s, pad, path) in cases {
        let x: Array4<f64> = numeric::randn(xs, &mut rng);
        let w: Array4<f64> = numeric::randn(ws, &mut rng);
        let b: Array1<f64> = numeric::randn(ws.0, &mut rng);
        let p = ConvParam::new(s, pad);
        let (out, cache) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
        let expected = Passes {
            forward: path.0,
            data: path.1,
            weights: path.1,
        };
        assert_eq!(passes(&cache), expected, "{xs:?} {ws:?} stride {s}");
        let (naive, _) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
        assert!(rel_error(&out.view(), &naive.view()) < 1e-10, "{xs:?}");
        let dout: Array4<f64> = numeric::randn(out.dim(), &mut rng);
        let (dx, dw, db) = conv_backward_fast(&dout.view(), &cache);
        let (dx_n, dw_n, db_n) = conv_backward_naive(&dout.view(), &cache);
        assert!(rel_error(&dx.view(), &dx_n.view()) < 1e-10, "dx {xs:?}");
        assert!(rel_error(&dw.view(), &dw_n.view()) < 1e-10, "dw {xs:?}");
        assert!(rel_error(&db.view(), &db_n.view()) < 1e-10, "db {xs:?}");
    }
}

/// Every path matches the naive layer to 1e-10 in f64, forward and backward,
/// on 'same', even-sized, strided and wider-than-image filters.
#[test]
fn every_path_matches_the_naive_layer() {
    use crate::{conv_backward_naive, conv_forward_naive};
    use backprop::gradcheck::rel_error;
    let cases = [
        ((3, 3, 9, 9), (4, 3, 3, 3), 1, 1),
        ((2, 3, 8, 8), (3, 3, 2, 2), 1, 0),
        ((2, 2, 7, 6), (3, 2, 7, 7), 1, 3),
        ((2, 2, 9, 9), (2, 2, 3, 3), 2, 1),
        ((2, 1, 4, 4), (2, 1, 5, 5), 1, 2),
    ];
    let mut rng = numeric::rng(11);
    for (xs, ws, s, pad) in cases {
        let x: Array4<f64> = numeric::randn(xs, &mut rng);
        let w: Array4<f64> = numeric::randn(ws, &mut rng);
        let b: Array1<f64> = numeric::randn(ws.0, &mut rng);
        let p = ConvParam::new(s, pad);
        let (expected, cache) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
        let dout: Array4<f64> = numeric::randn(expected.dim(), &mut rng);
        let (dx, dw, db) = conv_backward_naive(&dout.view(), &cache);
        for path in [ab::Path::Wide, ab::Path::Chunked, ab::Path::Winograd] {
            let (out, cache) = ab::forward(&x.view(), &w.view(), &b.view(), p, path).unwrap();
            assert!(
                rel_error(&out.view(), &expected.view()) < 1e-10,
                "{path:?} {xs:?} {ws:?}"
            );
            let (got_dx, got_dw, got_db) = ab::backward(&dout.view(), &cache, true, path);
            assert!(
                rel_error(&got_dx.unwrap().view(), &dx.view()) < 1e-10,
                "{path:?} dx {xs:?}"
            );
            assert!(
                rel_error(&got_dw.view(), &dw.view()) < 1e-10,
                "{path:?} dw {xs:?}"
            );
            assert!(
                rel_error(&got_db.view(), &db.view()) < 1e-10,
                "{path:?} db {xs:?}"
            );
        }
    }
}
