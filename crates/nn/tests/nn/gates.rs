//! The layers as gates on backprop's tape give the same loss and gradients as the
//! direct (fused) path of the models.

use backprop::Graph;
use backprop::gradcheck::{H, eval_numerical_gradient_array, rel_error};
use ndarray::{Array1, ArrayD, array};
use nn::Model;
use nn::{
    Affine, BatchNorm, Layer, LayerGate, LayerNorm, LeakyRelu, LossGate, Mode, NormNames,
    Normalization, Relu, Sigmoid, Tanh,
};
use nn::{FcConfig, FullyConnectedNet};

#[test]
fn a_network_on_the_tape_matches_the_model() {
    for norm in [
        Normalization::BatchNorm,
        Normalization::LayerNorm,
        Normalization::None,
    ] {
        let reg = 0.7;
        let mut model = FullyConnectedNet::<f64>::new(FcConfig {
            input_dim: 7,
            hidden_dims: vec![6, 5],
            num_classes: 4,
            normalization: norm,
            reg,
            weight_scale: Some(0.3),
            seed: 3,
            ..Default::default()
        });
        let x: ArrayD<f64> = numeric::randn((5, 7), &mut numeric::rng(1)).into_dyn();
        let y: Array1<usize> = array![0, 3, 1, 2, 3];
        let params = model.params().clone();
        let (loss, grads) = model.loss(&x.view(), &y.view());

        let mut g = Graph::<f64>::new();
        let xn = g.constant("X", x.clone());
        let mut ids = std::collections::BTreeMap::new();
        for (name, value) in &params {
            ids.insert(name.clone(), g.parameter(name, value.clone()));
        }
        let dims = [7, 6, 5, 4];
        let mut h = xn;
        for l in 1..=3 {
            let fc = Affine::new(format!("W{l}"), format!("b{l}"), dims[l - 1], dims[l]);
            h = g
                .apply(
                    LayerGate::new(fc, Mode::Train),
                    &[h, ids[&format!("W{l}")], ids[&format!("b{l}")]],
                )
                .unwrap();
            if l == 3 {
                break;
            }
            let (gamma, beta) = (ids.get(&format!("gamma{l}")), ids.get(&format!("beta{l}")));
            h = match norm {
                Normalization::BatchNorm => {
                    let bn = BatchNorm::new(NormNames::numbered(&l.to_string()), dims[l]);
                    g.apply(
                        LayerGate::new(bn, Mode::Train),
                        &[h, *gamma.unwrap(), *beta.unwrap()],
                    )
                    .unwrap()
                }
                Normalization::LayerNorm => {
                    let ln = LayerNorm::new(NormNames::numbered(&l.to_string()), dims[l]);
                    g.apply(
                        LayerGate::new(ln, Mode::Train),
                        &[h, *gamma.unwrap(), *beta.unwrap()],
                    )
                    .unwrap()
                }
                Normalization::None => h,
            };
            h = g.apply(LayerGate::new(Relu, Mode::Train), &[h]).unwrap();
        }
        let data_loss = g
            .apply(LossGate::new(nn::Loss::Softmax, y.to_vec()), &[h])
            .unwrap();
        // 0.5·reg·Σ W², from the tape's elementary gates.
        let mut total = data_loss;
        for l in 1..=3 {
            let w = ids[&format!("W{l}")];
            let sq = g.mul(w, w).unwrap();
            let s = g.sum(sq).unwrap();
            let r = g.scale(s, 0.5 * reg).unwrap();
            total = g.add(total, r).unwrap();
        }
        g.backward(total).unwrap();
        assert!(
            (g.scalar_value(total).unwrap() - loss).abs() < 1e-12,
            "{norm:?}"
        );
        for (name, id) in &ids {
            let e = rel_error(&g.grad(*id).unwrap().view(), &grads[name].view());
            let abs = (g.grad(*id).unwrap() - &grads[name])
                .iter()
                .fold(0.0_f64, |m, v| m.max(v.abs()));
            assert!(e < 1e-9 || abs < 1e-14, "{norm:?} {name}: {e}");
        }
    }
}

/// A fresh gate of activation `kind` (0 leaky relu, 1 sigmoid, 2 tanh).
fn activation(kind: usize) -> Box<dyn backprop::Gate<f64>> {
    match kind {
        0 => Box::new(LayerGate::new(LeakyRelu { alpha: 0.1 }, Mode::Train)),
        1 => Box::new(LayerGate::new(Sigmoid, Mode::Train)),
        _ => Box::new(LayerGate::new(Tanh, Mode::Train)),
    }
}

#[test]
fn activation_gates_backward_match_numerical_on_the_tape() {
    for kind in 0..3 {
        let mut x: ArrayD<f64> = numeric::randn((4, 3), &mut numeric::rng(2)).into_dyn();
        let dout: ArrayD<f64> = numeric::randn((4, 3), &mut numeric::rng(3)).into_dyn();
        let mut g = Graph::<f64>::new();
        let xn = g.input("x", x.clone());
        let out = g.apply_boxed(activation(kind), &[xn]).unwrap();
        g.backward_with(out, dout.clone()).unwrap();
        let dx = g.grad(xn).unwrap().clone();
        let num = eval_numerical_gradient_array(
            |x| {
                let mut g = Graph::<f64>::new();
                let xn = g.input("x", x.clone());
                let out = g.apply_boxed(activation(kind), &[xn]).unwrap();
                g.value(out).unwrap().clone()
            },
            &mut x,
            &dout.view(),
            H,
        );
        assert!(rel_error(&dx.view(), &num.view()) < 1e-7, "{kind}");
    }
}

#[test]
fn gates_report_bad_shapes_as_graph_errors() {
    let mut g = Graph::<f64>::new();
    let x = g.constant("X", ndarray::Array2::<f64>::zeros((2, 3)));
    let w = g.parameter("W", ndarray::Array2::<f64>::zeros((4, 2)));
    let b = g.parameter("b", ndarray::Array1::<f64>::zeros(2));
    let fc = Affine::new("W", "b", 4, 2);
    assert_eq!(Layer::<f64>::name(&fc), "fc2");
    let err = g
        .apply(LayerGate::new(fc, Mode::Train), &[x, w, b])
        .unwrap_err();
    assert!(err.to_string().contains("fc2"), "{err}");
    let scores = g.constant("s", ndarray::Array2::<f64>::zeros((2, 3)));
    assert!(
        g.apply(LossGate::new(nn::Loss::Softmax, vec![0, 5]), &[scores])
            .is_err()
    );
}
