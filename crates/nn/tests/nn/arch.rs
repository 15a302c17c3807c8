//! Architecture specs: parse errors name the token; specs print back as parsed;
//! hostile sizes are refused before anything is allocated.

use nn::{Error, SequentialNet, SequentialNetConfig, ThreeLayerConvNet, parse_arch};

#[test]
fn spec_errors_name_the_layer() {
    for (arch, bad) in [
        ("conv32-relu,fc10", "conv32"),
        ("convx3,fc10", "convx3"),
        ("pool0,fc10", "pool0"),
        ("drop1.5,fc10", "drop1.5"),
        ("softmax,fc10", "softmax"),
    ] {
        match parse_arch(arch).unwrap_err() {
            Error::Spec { layer, .. } => assert_eq!(layer, bad),
            e => panic!("{e}"),
        }
    }
    let e = SequentialNet::<f32>::new(SequentialNetConfig::new("conv4x3-gn3,fc10", &[3, 8, 8]))
        .unwrap_err();
    assert!(
        matches!(e, Error::Spec { ref layer, .. } if layer == "gn3"),
        "{e}"
    );
    let e =
        SequentialNet::<f32>::new(SequentialNetConfig::new("pool,fc10", &[3, 7, 8])).unwrap_err();
    assert!(
        matches!(e, Error::Spec { ref layer, ref reason, .. } if layer == "pool" && reason.contains("(7 + 2·0 − 2) / 2")),
        "{e}"
    );
    assert!(
        ThreeLayerConvNet::<f32>::from_config(&serde_json::json!({"kind": "SequentialNet"}))
            .is_err()
    );
}

#[test]
fn specs_print_back_to_what_they_parse_from() {
    let arch = "conv32x3-bn-relu-pool-conv64x3s2-gn4-relu-pool3-fc256-relu-drop0.5-fc10";
    let printed: Vec<String> = parse_arch(arch)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(printed.join("-"), arch);
}

/// `usize::parse` takes a leading `+`; the spec grammar does not.
#[test]
fn signs_and_exponents_are_not_numbers_of_a_spec() {
    for (arch, bad) in [
        ("fc+10", "fc+10"),
        ("conv+8x3,fc10", "conv+8x3"),
        ("drop+0.5,fc10", "drop+0.5"),
        ("drop5e-1,fc10", "drop5e"), // `-` separates layers
        ("drop0.5,fc-10", "fc"),
    ] {
        match parse_arch(arch) {
            Err(Error::Spec { layer, .. }) => assert_eq!(layer, bad, "{arch}"),
            other => panic!("{arch}: {other:?}"),
        }
    }
}

/// A normalisation normalises the output of a weight layer: before any, it is an error.
#[test]
fn a_norm_needs_a_weight_layer_before_it() {
    for (arch, shape) in [
        ("bn,fc10", vec![784]),
        ("relu-gn2,conv4x3,fc10", vec![4, 8, 8]),
    ] {
        let e = SequentialNet::<f32>::new(SequentialNetConfig::new(arch, &shape)).unwrap_err();
        assert!(
            matches!(e, Error::Spec { ref reason, .. } if reason.contains("needs a conv or fc layer before it")),
            "{arch}: {e}"
        );
    }
    let e =
        SequentialNet::<f32>::new(SequentialNetConfig::new("fc10-bn-bn,fc2", &[4])).unwrap_err();
    assert!(e.to_string().contains("already has a normalisation"), "{e}");
}

/// Sizes that would need terabytes, or overflow `usize`, are refused from the spec
/// alone, before any weight is allocated.
#[test]
fn hostile_sizes_are_refused_before_allocating() {
    for (arch, shape) in [
        ("conv100000000x3,fc10", vec![3, 32, 32]),
        ("conv1x4294967297,fc10", vec![1, 28, 28]),
        ("fc18446744073709551615,fc10", vec![3072]),
        ("fc10", vec![1 << 40, 1 << 40, 1]),
    ] {
        let e = SequentialNet::<f32>::new(SequentialNetConfig::new(arch, &shape)).unwrap_err();
        assert!(
            matches!(e, Error::TooLarge { .. } | Error::Spec { .. }),
            "{arch} {shape:?}: {e}"
        );
    }
    let e = SequentialNet::<f32>::new(SequentialNetConfig::new(
        "conv100000000x3,fc10",
        &[3, 32, 32],
    ))
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::TooLarge {
                unit: "parameters",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("2800000000"), "{e}");
}

/// A filter wider than the image used to pass the spec check and then index out of
/// bounds in im2col; it is now a spec error naming the layer.
#[test]
fn filters_wider_than_the_input_are_spec_errors() {
    for (arch, shape) in [
        ("conv1x59,fc10", vec![1, 28, 28]),
        ("conv32x99,fc10", vec![1, 28, 28]),
        ("conv1x5,fc2", vec![1, 1, 1]),
    ] {
        let e = SequentialNet::<f32>::new(SequentialNetConfig::new(arch, &shape)).unwrap_err();
        assert!(
            matches!(e, Error::Spec { ref reason, .. } if reason.contains("wider than")),
            "{arch}: {e}"
        );
    }
}

/// Even built directly (no spec check), the fast convolution treats a filter column
/// that sees only padding as zeros instead of indexing out of bounds, and agrees with
/// the naive loops.
#[test]
fn im2col_handles_filters_wider_than_the_image() {
    use ndarray::{Array1, Array4};
    let mut rng = numeric::rng(4);
    let x: Array4<f64> = numeric::randn((2, 1, 3, 3), &mut rng);
    let w: Array4<f64> = numeric::randn((2, 1, 9, 9), &mut rng);
    let b = Array1::<f64>::zeros(2);
    let p = nn::ConvParam::new(1, 4);
    let (fast, cache) = nn::conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
    let (naive, _) = nn::conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
    assert!(backprop::gradcheck::rel_error(&fast.view(), &naive.view()) < 1e-12);
    let (dx, dw, _) = nn::conv_backward_fast(&fast.view(), &cache);
    let (dx_naive, dw_naive, _) = nn::conv_backward_naive(&fast.view(), &cache);
    assert!(backprop::gradcheck::rel_error(&dx.view(), &dx_naive.view()) < 1e-12);
    assert!(backprop::gradcheck::rel_error(&dw.view(), &dw_naive.view()) < 1e-12);
}
