//! The course's ThreeLayerConvNet checks: initial loss, gradients, overfitting.

use crate::common;

use common::{MODEL_TOLERANCE, gradient_errors, toy_batch};
use nn::{Model, ThreeLayerConvNet, ThreeLayerConvNetConfig};

/// The course's sanity check: with small weights and no regularisation the
/// initial loss is ln 10; regularisation makes it larger.
#[test]
fn three_layer_initial_loss_is_log_of_classes() {
    let (x, y) = toy_batch(50, &[3, 32, 32], 10, 1);
    let mut net = ThreeLayerConvNet::<f64>::new(ThreeLayerConvNetConfig::default()).unwrap();
    let (loss, _) = net.loss(&x.view(), &y.view());
    assert!((loss - 10f64.ln()).abs() < 1e-3, "loss {loss}");
    let mut reg = ThreeLayerConvNet::<f64>::new(ThreeLayerConvNetConfig {
        reg: 0.5,
        ..Default::default()
    })
    .unwrap();
    let (loss_reg, _) = reg.loss(&x.view(), &y.view());
    assert!(loss_reg > loss);
}

/// The course's gradient check of the small ThreeLayerConvNet: 2 images (3, 16, 16),
/// 3 filters of 3×3, hidden 7, weight scale 1e-2, f64.
#[test]
fn three_layer_gradients_match_numerical() {
    let (x, y) = toy_batch(2, &[3, 16, 16], 10, 2);
    for reg in [0.0, 0.5] {
        let config = ThreeLayerConvNetConfig {
            input_dim: [3, 16, 16],
            num_filters: 3,
            filter_size: 3,
            hidden_dim: 7,
            weight_scale: 1e-1,
            reg,
            seed: 3,
            ..Default::default()
        };
        let mut net = ThreeLayerConvNet::<f64>::new(config).unwrap();
        for (name, e) in gradient_errors(&mut net, &x, &y) {
            assert!(e < MODEL_TOLERANCE, "reg {reg} {name}: {e}");
        }
    }
}

/// The course's overfitting check: a small training set is learnt (almost) perfectly.
#[test]
fn three_layer_net_overfits_small_data() {
    let (x, y) = toy_batch(20, &[3, 8, 8], 10, 7);
    let x = x.mapv(|v| v as f32);
    let config = ThreeLayerConvNetConfig {
        input_dim: [3, 8, 8],
        num_filters: 8,
        filter_size: 3,
        hidden_dim: 50,
        weight_scale: 1e-1,
        ..Default::default()
    };
    let mut net = ThreeLayerConvNet::<f32>::new(config).unwrap();
    let (first, _) = net.loss(&x.view(), &y.view());
    for _ in 0..200 {
        let (_, grads) = net.loss(&x.view(), &y.view());
        for (name, g) in grads {
            net.params_mut()
                .get_mut(&name)
                .unwrap()
                .scaled_add(-0.05, &g);
        }
    }
    let (last, _) = net.loss(&x.view(), &y.view());
    let acc = nn::accuracy(&net.predict(&x.view(), 10), &y.view());
    assert!(
        last < 0.1 * first && acc == 1.0,
        "loss {first} -> {last}, train accuracy {acc}"
    );
}
