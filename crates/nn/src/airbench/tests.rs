//! Airbench94's network on a tiny configuration: gradients against numerical ones,
//! the frozen whitening bias, the Dirac initialisation, the stored configuration.

use backprop::gradcheck::eval_numerical_gradient;
use ndarray::Array4;

use super::*;
use crate::test_util::assert_rel_error_below;

fn tiny() -> Airbench94Config {
    Airbench94Config {
        input_shape: vec![1, 25, 25],
        widths: [2, 3, 2],
        num_classes: 3,
        bn_eps: 1e-5,
        ..Airbench94Config::default()
    }
}

/// With the whitening bias frozen the backward pass stops at the first block conv,
/// and every other gradient keeps its bits.
#[test]
fn a_frozen_whitening_bias_drops_only_its_gradient() {
    let mut net = Airbench94::<f32>::new(tiny()).unwrap();
    let x: Array4<f32> = numeric::randn((3, 1, 25, 25), &mut numeric::rng(4));
    net.init_whitening(&x.view(), 5e-4).unwrap();
    let (x, y) = (x.into_dyn(), ndarray::array![0, 2, 1]);
    let buffers = net.buffers.clone();
    let (loss, mut all, scores) = net.loss_and_scores_with(&x.view(), &y.view(), true);
    net.buffers = buffers;
    let frozen = net.loss_and_scores_with(&x.view(), &y.view(), false);
    assert!(all.remove("b1").is_some());
    assert_eq!(frozen, (loss, all, scores));
}

#[test]
fn gradients_match_numerical_ones() {
    let mut net = Airbench94::<f64>::new(tiny()).unwrap();
    let x: Array4<f64> = numeric::randn((3, 1, 25, 25), &mut numeric::rng(1));
    net.init_whitening(&x.view(), 5e-4).unwrap();
    // Generic weights instead of the near-identity init, whose gradients are so
    // small (1e-8) that the centred differences' rounding (1e-11) shows; h = 1e-4
    // for the same reason (a deep net's loss rounds at about 1e-15).
    let mut rng = numeric::rng(2);
    for (name, p) in net.params.iter_mut() {
        if name.starts_with('W') && name != "W1" || name.starts_with("beta") || name == "b1" {
            *p = numeric::randn::<f64, _, _>(p.raw_dim(), &mut rng);
        }
    }
    let y = ndarray::array![0, 2, 1];
    let x = x.into_dyn();
    let buffers = net.buffers.clone();
    let (_, grads, _) = net.loss_and_scores(&x.view(), &y.view());
    assert_eq!(
        grads.keys().cloned().collect::<Vec<_>>(),
        [
            "W2", "W3", "W4", "W5", "W6", "W7", "W8", "b1", "beta2", "beta3", "beta4", "beta5",
            "beta6", "beta7"
        ]
    );
    for name in ["W2", "W5", "W8", "b1", "beta3", "beta7"] {
        let mut p = net.params[name].clone();
        let num = eval_numerical_gradient(
            |p| {
                net.params.insert(name.into(), p.clone());
                net.buffers = buffers.clone();
                net.loss(&x.view(), &y.view()).0
            },
            &mut p,
            1e-4,
        );
        net.params.insert(name.into(), p);
        assert_rel_error_below(name, &grads[name], &num, 1e-7);
    }
}

#[test]
fn dirac_init_passes_the_first_channels_through() {
    let net = Airbench94::<f32>::new(Airbench94Config::default()).unwrap();
    let w = &net.params["W2"]; // 64 filters over 24 channels
    assert_eq!(w[[5, 5, 1, 1]], 1.0);
    assert_eq!(w.index_axis(ndarray::Axis(0), 5).sum(), 1.0);
    assert!(
        w.index_axis(ndarray::Axis(0), 30)
            .iter()
            .all(|v| v.abs() <= 1.0 / 216f32.sqrt())
    );
    assert_ne!(w[[30, 0, 0, 0]], 0.0);
}

#[test]
fn config_round_trips_and_counts_its_parameters() {
    let net = Airbench94::<f32>::new(Airbench94Config::default()).unwrap();
    let copy = Airbench94::<f32>::from_config(&net.config()).unwrap();
    assert_eq!(copy.settings(), net.settings());
    let count: usize = net.params.values().map(|v| v.len()).sum();
    assert_eq!(net.settings().parameter_count(), Some(count));
    let small = Airbench94Config {
        input_shape: vec![3, 24, 24],
        ..Airbench94Config::default()
    };
    assert!(Airbench94::<f32>::new(small).is_err());
    // Files from before the whitening switch have no such key: they whiten.
    let mut old = net.config();
    assert!(old.as_object_mut().unwrap().remove("whitening").is_some());
    assert!(
        Airbench94::<f32>::from_config(&old)
            .unwrap()
            .settings()
            .whitening
    );
    let mut plain = Airbench94::<f32>::new(Airbench94Config {
        whitening: false,
        ..Airbench94Config::default()
    })
    .unwrap();
    assert!(
        plain
            .init_whitening(&ndarray::Array4::zeros((2, 3, 32, 32)).view(), 5e-4)
            .is_err()
    );
}

#[test]
fn scores_have_one_row_per_image() {
    let mut net = Airbench94::<f32>::new(tiny()).unwrap();
    let x = Array4::<f32>::ones((4, 1, 25, 25)).into_dyn();
    assert_eq!(net.scores(&x.view()).dim(), (4, 3));
}
