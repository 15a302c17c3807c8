//! Every `Layer` implementation against centred differences, in f64 (rel error
//! < 1e-7): the trait's forward/backward pair, through the same code the models run.

use backprop::gradcheck::{H, eval_numerical_gradient_array, rel_error};
use ndarray::{ArrayD, IxDyn};
use nn::{
    Affine, BatchNorm, Conv, Dropout, Flatten, GroupNorm, Layer, LayerNorm, LeakyRelu, MaxPool,
    Mode, NormNames, Params, PoolParam, Relu, Sigmoid, SpatialBatchNorm, Tanh,
};

const TOL: f64 = 1e-7;

fn randn(shape: &[usize], seed: u64) -> ArrayD<f64> {
    numeric::randn(IxDyn(shape), &mut numeric::rng(seed))
}

/// Checks `dx` and every parameter gradient of the layer `make()` builds, on a random
/// batch of shape `x_shape` in train mode. `make` builds a fresh layer per evaluation
/// so that a dropout layer draws the same mask every time.
fn check(what: &str, make: impl Fn() -> Box<dyn Layer<f64>>, x_shape: &[usize]) {
    let mut layer = make();
    let out_shape = layer.output_shape(&x_shape[1..]).unwrap();
    let mut params: Params<f64> = Params::new();
    for (i, p) in layer.params().into_iter().enumerate() {
        params.insert(p.name, randn(&p.shape, 10 + i as u64));
    }
    let buffers: Params<f64> = layer
        .buffers()
        .into_iter()
        .map(|b| (b.name, ArrayD::zeros(IxDyn(&b.shape))))
        .collect();
    let mut x = randn(x_shape, 1);
    let mut dout_shape = vec![x_shape[0]];
    dout_shape.extend(out_shape);
    let dout = randn(&dout_shape, 2);
    let (_, cache) = layer.forward(x.clone(), &params, &mut buffers.clone(), Mode::Train);
    let (dx, grads) = layer.backward(dout.clone(), &cache, &params, true);
    let forward = |x: &ArrayD<f64>, params: &Params<f64>| {
        make()
            .forward(x.clone(), params, &mut buffers.clone(), Mode::Train)
            .0
    };
    let dx_num = eval_numerical_gradient_array(|x| forward(x, &params), &mut x, &dout.view(), H);
    let e = rel_error(&dx.view(), &dx_num.view());
    assert!(e < TOL, "{what} dx: {e}");
    for name in params.keys().cloned().collect::<Vec<_>>() {
        let mut p = params[&name].clone();
        let num = eval_numerical_gradient_array(
            |v| {
                let mut q = params.clone();
                q.insert(name.clone(), v.clone());
                forward(&x, &q)
            },
            &mut p,
            &dout.view(),
            H,
        );
        let e = rel_error(&grads[&name].view(), &num.view());
        assert!(e < TOL, "{what} d{name}: {e}");
    }
    assert_eq!(
        grads.len(),
        params.len(),
        "{what}: one gradient per parameter"
    );
}

#[test]
fn row_layers_match_numerical_gradients() {
    check(
        "affine",
        || Box::new(Affine::new("W", "b", 12, 5)),
        &[4, 3, 2, 2],
    );
    check("relu", || Box::new(Relu), &[4, 6]);
    check("leaky relu", || Box::new(LeakyRelu { alpha: 0.1 }), &[4, 6]);
    check("sigmoid", || Box::new(Sigmoid), &[4, 6]);
    check("tanh", || Box::new(Tanh), &[4, 6]);
    check(
        "batchnorm",
        || Box::new(BatchNorm::new(NormNames::numbered("1"), 6)),
        &[5, 6],
    );
    check(
        "layernorm",
        || Box::new(LayerNorm::new(NormNames::numbered("1"), 6)),
        &[5, 6],
    );
    check("dropout", || Box::new(Dropout::new(0.6, 3)), &[5, 6]);
    check("flatten", || Box::new(Flatten), &[2, 3, 2, 2]);
}

#[test]
fn image_layers_match_numerical_gradients() {
    check(
        "conv",
        || Box::new(Conv::new("W", "b", 3, 4, 3, 1)),
        &[2, 3, 6, 6],
    );
    check(
        "conv stride 2",
        || Box::new(Conv::new("W", "b", 2, 3, 3, 2)),
        &[2, 2, 7, 7],
    );
    check(
        "max pool",
        || {
            Box::new(MaxPool {
                param: PoolParam::square(2, 2),
            })
        },
        &[2, 3, 4, 4],
    );
    check(
        "spatial batchnorm",
        || Box::new(SpatialBatchNorm::new(NormNames::numbered("1"), 3)),
        &[2, 3, 4, 4],
    );
    check(
        "group norm",
        || Box::new(GroupNorm::new(NormNames::numbered("1"), 4, 2)),
        &[2, 4, 3, 3],
    );
}

/// Layers say which of their parameters regularisation decays: weights, not biases
/// or the normalisations' γ and β.
#[test]
fn only_weights_are_decayed() {
    let layers: Vec<Box<dyn Layer<f32>>> = vec![
        Box::new(Affine::new("W1", "b1", 4, 3)),
        Box::new(Conv::new("W2", "b2", 1, 2, 3, 1)),
        Box::new(BatchNorm::new(NormNames::numbered("1"), 3)),
    ];
    let decayed: Vec<String> = layers
        .iter()
        .flat_map(|l| l.params())
        .filter(|p| p.decay)
        .map(|p| p.name)
        .collect();
    assert_eq!(decayed, ["W1", "W2"]);
}
