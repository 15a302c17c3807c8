//! SequentialNet: gradients through every layer kind, agreement with the
//! ThreeLayerConvNet, batchnorm buffers.

use crate::common;

use backprop::gradcheck::rel_error;
use common::{MODEL_TOLERANCE, gradient_errors, toy_batch};
use nn::{Model, SequentialNet, SequentialNetConfig, ThreeLayerConvNet, ThreeLayerConvNetConfig};

#[test]
fn sequential_gradients_match_numerical_with_every_layer_kind() {
    let (x, y) = toy_batch(4, &[2, 10, 10], 5, 4);
    let mut config = SequentialNetConfig::new(
        "conv4x3-bn-relu-pool,conv4x3s2-gn2-relu,fc6-bn-relu,fc5",
        &[2, 10, 10],
    );
    config.reg = 0.1;
    config.seed = 5;
    let mut net = SequentialNet::<f64>::new(config).unwrap();
    for (name, e) in gradient_errors(&mut net, &x, &y) {
        assert!(e < MODEL_TOLERANCE, "{name}: {e}");
    }
}

#[test]
fn sequential_matches_three_layer_net_on_the_same_weights() {
    let (x, y) = toy_batch(3, &[3, 8, 8], 10, 6);
    let three = ThreeLayerConvNetConfig {
        input_dim: [3, 8, 8],
        num_filters: 4,
        filter_size: 3,
        hidden_dim: 6,
        weight_scale: 0.1,
        ..Default::default()
    };
    let mut a = ThreeLayerConvNet::<f64>::new(three).unwrap();
    let mut b = SequentialNet::<f64>::new(SequentialNetConfig::new(
        "conv4x3-relu-pool,fc6-relu,fc10",
        &[3, 8, 8],
    ))
    .unwrap();
    *b.params_mut() = a.params().clone();
    let (la, ga) = a.loss(&x.view(), &y.view());
    let (lb, gb) = b.loss(&x.view(), &y.view());
    assert!((la - lb).abs() < 1e-12);
    for (name, g) in &ga {
        assert!(rel_error(&g.view(), &gb[name].view()) < 1e-10, "{name}");
    }
}

#[test]
fn batchnorm_running_statistics_move_in_training_only() {
    let (x, y) = toy_batch(4, &[2, 4, 4], 3, 8);
    let mut net =
        SequentialNet::<f64>::new(SequentialNetConfig::new("conv2x3-bn-relu,fc3", &[2, 4, 4]))
            .unwrap();
    net.scores(&x.view());
    assert!(
        net.buffers().unwrap()["running_mean1"]
            .iter()
            .all(|&v| v == 0.0)
    );
    net.loss(&x.view(), &y.view());
    assert!(
        net.buffers().unwrap()["running_var1"]
            .iter()
            .all(|&v| v > 0.0)
    );
}
