//! The layers as gates on backprop's tape give the same loss and gradients as the
//! direct (fused) path of the models.

use std::sync::{Arc, Mutex};

use backprop::Graph;
use backprop::gradcheck::{H, eval_numerical_gradient_array, rel_error};
use ndarray::{Array1, ArrayD, array};
use nn::Model;
use nn::fc::{FcConfig, FullyConnectedNet};
use nn::gates::{
    ActivationGate, AffineGate, BatchNormGate, LayerNormGate, ReluGate, SoftmaxLossGate,
};
use nn::layers::{BatchNormParam, Mode, Normalization};

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
        let mut h = xn;
        for l in 1..=3 {
            h = g
                .apply(
                    AffineGate,
                    &[h, ids[&format!("W{l}")], ids[&format!("b{l}")]],
                )
                .unwrap();
            if l == 3 {
                break;
            }
            let (gamma, beta) = (ids.get(&format!("gamma{l}")), ids.get(&format!("beta{l}")));
            h = match norm {
                Normalization::BatchNorm => {
                    let bn = Arc::new(Mutex::new(BatchNormParam::new(if l == 1 { 6 } else { 5 })));
                    g.apply(
                        BatchNormGate::new(bn, Mode::Train),
                        &[h, *gamma.unwrap(), *beta.unwrap()],
                    )
                    .unwrap()
                }
                Normalization::LayerNorm => g
                    .apply(
                        LayerNormGate::new(1e-5),
                        &[h, *gamma.unwrap(), *beta.unwrap()],
                    )
                    .unwrap(),
                Normalization::None => h,
            };
            h = g.apply(ReluGate, &[h]).unwrap();
        }
        let data_loss = g.apply(SoftmaxLossGate::new(y.to_vec()), &[h]).unwrap();
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

#[test]
fn activation_gates_backward_match_numerical_on_the_tape() {
    for gate in [
        ActivationGate::LeakyRelu(0.1),
        ActivationGate::Sigmoid,
        ActivationGate::Tanh,
    ] {
        let mut x: ArrayD<f64> = numeric::randn((4, 3), &mut numeric::rng(2)).into_dyn();
        let dout: ArrayD<f64> = numeric::randn((4, 3), &mut numeric::rng(3)).into_dyn();
        let mut g = Graph::<f64>::new();
        let xn = g.input("x", x.clone());
        let out = g.apply(gate, &[xn]).unwrap();
        g.backward_with(out, dout.clone()).unwrap();
        let dx = g.grad(xn).unwrap().clone();
        let num = eval_numerical_gradient_array(
            |x| {
                let mut g = Graph::<f64>::new();
                let xn = g.input("x", x.clone());
                let out = g.apply(gate, &[xn]).unwrap();
                g.value(out).unwrap().clone()
            },
            &mut x,
            &dout.view(),
            H,
        );
        assert!(rel_error(&dx.view(), &num.view()) < 1e-7, "{gate:?}");
    }
}

#[test]
fn gates_report_bad_shapes_as_graph_errors() {
    let mut g = Graph::<f64>::new();
    let x = g.constant("X", ndarray::Array2::<f64>::zeros((2, 3)));
    let w = g.parameter("W", ndarray::Array2::<f64>::zeros((4, 2)));
    let b = g.parameter("b", ndarray::Array1::<f64>::zeros(2));
    let err = g.apply(AffineGate, &[x, w, b]).unwrap_err();
    assert!(err.to_string().contains("affine"), "{err}");
    let scores = g.constant("s", ndarray::Array2::<f64>::zeros((2, 3)));
    assert!(
        g.apply(SoftmaxLossGate::new(vec![0, 5]), &[scores])
            .is_err()
    );
}
