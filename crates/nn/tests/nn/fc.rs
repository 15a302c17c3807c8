//! The course's sanity checks for `TwoLayerNet` and `FullyConnectedNet`.

// reg = 3.14 is the course's test value, not an approximation of π.
#![allow(clippy::approx_constant)]

use backprop::gradcheck::{H, eval_numerical_gradient, rel_error};
use ndarray::{Array, Array1, Array2, ArrayD, array};
use nn::Model;
use nn::Normalization;
use nn::{FcConfig, FullyConnectedNet, TwoLayerConfig, TwoLayerNet};

/// Model gradients against centred differences, per parameter: the course's
/// elementwise relative error, and the largest absolute error.
///
/// Why both: a centred difference of a loss near 2 with h = 1e-5 carries round-off
/// of about 2e-16·2/1e-5 ≈ 4e-11, so a gradient entry of 1e-5 (common for small
/// weights) cannot show a relative error below ~1e-6 however exact the analytic
/// gradient is. [`assert_grads_match`] therefore asks for relative error < 1e-7 on
/// the entries above that noise floor and absolute error below the same tolerance times the largest entry (or 1) on all of them.
fn grad_errors<M: Model<f64>>(model: &mut M, x: &ArrayD<f64>, y: &Array1<usize>) -> Vec<GradError> {
    let (_, grads) = model.loss(&x.view(), &y.view());
    let names: Vec<String> = model.params().keys().cloned().collect();
    assert_eq!(
        grads.keys().cloned().collect::<Vec<_>>(),
        names,
        "one gradient per parameter"
    );
    let mut out = Vec::new();
    for name in names {
        let mut p = model.params()[&name].clone();
        let num = eval_numerical_gradient(
            |p| {
                model.params_mut().insert(name.clone(), p.clone());
                model.loss(&x.view(), &y.view()).0
            },
            &mut p,
            H,
        );
        model.params_mut().insert(name.clone(), p);
        let g = &grads[&name];
        let mut e = GradError {
            name: name.clone(),
            rel: rel_error(&g.view(), &num.view()),
            rel_above_noise: 0.0,
            abs: 0.0,
            max_grad: 0.0,
        };
        for (&a, &n) in g.iter().zip(num.iter()) {
            e.abs = e.abs.max((a - n).abs());
            e.max_grad = e.max_grad.max(a.abs()).max(n.abs());
            if a.abs() + n.abs() > 1e-3 {
                e.rel_above_noise = e.rel_above_noise.max((a - n).abs() / (a.abs() + n.abs()));
            }
        }
        out.push(e);
    }
    out
}

#[derive(Debug)]
struct GradError {
    name: String,
    /// The course's `rel_error` over all entries.
    rel: f64,
    /// Relative error over entries with |analytic| + |numerical| > 1e-3.
    rel_above_noise: f64,
    /// Largest absolute difference.
    abs: f64,
    /// Largest gradient entry (0 when the parameter has no effect).
    max_grad: f64,
}

fn assert_grads_match(errors: &[GradError], what: &str) {
    assert_grads_match_to(errors, what, 1e-7)
}

fn assert_grads_match_to(errors: &[GradError], what: &str, tol: f64) {
    for e in errors {
        assert!(
            e.rel_above_noise < tol && e.abs < tol * e.max_grad.max(1.0) && e.rel < 1e-4,
            "{what}: {e:?}"
        );
    }
}

fn course_two_layer() -> (TwoLayerNet<f64>, Array2<f64>) {
    let (n, d, h, c) = (3, 5, 50, 7);
    let cfg = TwoLayerConfig {
        input_dim: d,
        hidden_dim: h,
        num_classes: c,
        weight_scale: 1e-3,
        ..Default::default()
    };
    let mut model = TwoLayerNet::<f64>::new(cfg);
    let p = model.params_mut();
    p.insert(
        "W1".into(),
        Array::linspace(-0.7, 0.3, d * h)
            .into_shape_with_order((d, h))
            .unwrap()
            .into_dyn(),
    );
    p.insert("b1".into(), Array::linspace(-0.1, 0.9, h).into_dyn());
    p.insert(
        "W2".into(),
        Array::linspace(-0.3, 0.4, h * c)
            .into_shape_with_order((h, c))
            .unwrap()
            .into_dyn(),
    );
    p.insert("b2".into(), Array::linspace(-0.9, 0.1, c).into_dyn());
    // X = np.linspace(-5.5, 4.5, num=N*D).reshape(D, N).T
    let x = Array::linspace(-5.5, 4.5, n * d)
        .into_shape_with_order((d, n))
        .unwrap()
        .reversed_axes()
        .as_standard_layout()
        .to_owned();
    (model, x)
}

#[test]
fn two_layer_net_initialisation_follows_the_course() {
    let model = TwoLayerNet::<f64>::new(TwoLayerConfig {
        input_dim: 5,
        hidden_dim: 50,
        num_classes: 7,
        weight_scale: 1e-3,
        ..Default::default()
    });
    let p = model.params();
    let std = |a: &ArrayD<f64>| a.std(0.0);
    assert!(
        (std(&p["W1"]) - 1e-3).abs() < 1e-3 / 2.0,
        "W1 std {}",
        std(&p["W1"])
    );
    assert!((std(&p["W2"]) - 1e-3).abs() < 1e-3 / 2.0);
    assert!(p["b1"].iter().all(|&v| v == 0.0) && p["b2"].iter().all(|&v| v == 0.0));
}

#[test]
fn two_layer_net_scores_and_losses_match_the_course() {
    let (mut model, x) = course_two_layer();
    let scores = model.scores(&x.view().into_dyn());
    let correct = array![
        [
            11.53165108,
            12.2917344,
            13.05181771,
            13.81190102,
            14.57198434,
            15.33206765,
            16.09215096
        ],
        [
            12.05769098,
            12.74614105,
            13.43459113,
            14.1230412,
            14.81149128,
            15.49994135,
            16.18839143
        ],
        [
            12.58373087,
            13.20054771,
            13.81736455,
            14.43418138,
            15.05099822,
            15.66781506,
            16.2846319
        ]
    ];
    assert!(
        (&scores - &correct).iter().all(|d| d.abs() < 1e-6),
        "{scores}"
    );
    let y = array![0usize, 5, 1];
    let (loss, _) = model.loss(&x.view().into_dyn(), &y.view());
    assert!((loss - 3.4702243556).abs() < 1e-10, "{loss}");
    model.set_reg(1.0);
    let (loss, _) = model.loss(&x.view().into_dyn(), &y.view());
    assert!((loss - 26.5948426952).abs() < 1e-10, "{loss}");
}

#[test]
fn two_layer_net_gradients_match_numerical() {
    let mut r = numeric::rng(0);
    let x: ArrayD<f64> = numeric::randn((3, 5), &mut r).into_dyn();
    let y = array![0usize, 5, 1];
    for reg in [0.0, 0.7] {
        let mut model = TwoLayerNet::<f64>::new(TwoLayerConfig {
            input_dim: 5,
            hidden_dim: 50,
            num_classes: 7,
            weight_scale: 1e-2,
            reg,
            seed: 1,
        });
        assert_grads_match(&grad_errors(&mut model, &x, &y), &format!("reg {reg}"));
    }
}

fn fc(hidden: Vec<usize>, norm: Normalization, keep: f64, reg: f64) -> FullyConnectedNet<f64> {
    FullyConnectedNet::new(FcConfig {
        input_dim: 15,
        hidden_dims: hidden,
        num_classes: 10,
        dropout_keep: keep,
        normalization: norm,
        reg,
        weight_scale: Some(5e-2),
        seed: 231,
    })
}

#[test]
fn fully_connected_initial_loss_is_ln_c_with_small_weights() {
    let x: ArrayD<f64> = numeric::randn((50, 15), &mut numeric::rng(3)).into_dyn();
    let y: Array1<usize> = (0..50).map(|i| i % 10).collect();
    let mut model = FullyConnectedNet::<f64>::new(FcConfig {
        input_dim: 15,
        hidden_dims: vec![20, 30],
        weight_scale: Some(1e-3),
        ..Default::default()
    });
    let (loss, _) = model.loss(&x.view(), &y.view());
    assert!((loss - 10f64.ln()).abs() < 1e-3, "{loss}");
}

#[test]
fn fully_connected_gradients_match_numerical_for_reg_0_and_3_14() {
    // The course's check: N=2, D=15, hidden [20, 30], C=10, weight scale 5e-2.
    let x: ArrayD<f64> = numeric::randn((2, 15), &mut numeric::rng(4)).into_dyn();
    let y = array![3usize, 8];
    for reg in [0.0, 3.14] {
        let mut model = fc(vec![20, 30], Normalization::None, 1.0, reg);
        assert_grads_match(&grad_errors(&mut model, &x, &y), &format!("reg {reg}"));
    }
}

#[test]
fn normalised_and_dropout_networks_have_correct_gradients() {
    let x: ArrayD<f64> = numeric::randn((4, 15), &mut numeric::rng(5)).into_dyn();
    let y = array![3usize, 8, 0, 9];
    for (norm, keep) in [
        (Normalization::BatchNorm, 1.0),
        (Normalization::LayerNorm, 1.0),
        (Normalization::None, 0.5),
        (Normalization::BatchNorm, 0.75),
    ] {
        for reg in [0.0, 3.14] {
            let mut model = fc(vec![20, 30], norm, keep, reg);
            if norm != Normalization::None {
                // A normalised layer's loss depends on its weights' direction only, so
                // with weights of norm ~0.2 (scale 5e-2) the loss is sharply curved and
                // the centred difference's truncation error (∝ h², measured: 3e-7 at
                // h = 1e-5, 3e-9 at h = 1e-6) swamps the comparison. Unit-scale weights
                // (norm ~1) make the same check meaningful at the course's h.
                for l in 1..=3 {
                    let w = model.params()[&format!("W{l}")].mapv(|v| v * 5.0);
                    model.params_mut().insert(format!("W{l}"), w);
                }
            }
            model.set_fixed_dropout_seed(Some(123));
            let errors = grad_errors(&mut model, &x, &y);
            for e in &errors {
                // Batchnorm cancels the bias before it: b1, b2 have zero gradient, and
                // their relative error compares two round-off values.
                if norm == Normalization::BatchNorm && (e.name == "b1" || e.name == "b2") {
                    assert!(
                        e.max_grad < 1e-8,
                        "{norm:?}: {} should have zero gradient: {e:?}",
                        e.name
                    );
                } else {
                    // Normalised nets: 1e-6, the truncation error of the centred
                    // difference on their curved loss (see above); plain nets: 1e-7.
                    let tol = if norm == Normalization::None {
                        1e-7
                    } else {
                        1e-6
                    };
                    assert_grads_match_to(
                        std::slice::from_ref(e),
                        &format!("{norm:?} keep {keep} reg {reg}"),
                        tol,
                    );
                }
            }
        }
    }
}

#[test]
fn batchnorm_running_statistics_are_buffers_used_at_test_time() {
    let mut model = fc(vec![20], Normalization::BatchNorm, 1.0, 0.0);
    let x: ArrayD<f64> =
        (numeric::randn::<f64, _, _>((30, 15), &mut numeric::rng(6)) * 3.0 + 2.0).into_dyn();
    let y: Array1<usize> = (0..30).map(|i| i % 10).collect();
    let before = model.scores(&x.view());
    assert!(
        model.buffers().unwrap()["running_var1"]
            .iter()
            .all(|&v| v == 0.0)
    );
    model.loss(&x.view(), &y.view());
    assert!(
        model.buffers().unwrap()["running_var1"]
            .iter()
            .all(|&v| v > 0.0)
    );
    let after = model.scores(&x.view());
    assert!(
        rel_error(&before.view(), &after.view()) > 1e-3,
        "test mode must use the updated running statistics"
    );
    // Test mode is deterministic and does not update the statistics.
    let buffers = model.buffers().unwrap().clone();
    assert_eq!(model.scores(&x.view()), after);
    assert_eq!(model.buffers().unwrap(), &buffers);
}

#[test]
fn config_round_trips_through_json() {
    let model = fc(vec![20, 30], Normalization::LayerNorm, 0.5, 0.1);
    let v = model.config();
    assert_eq!(v["kind"], "FullyConnectedNet");
    assert_eq!(v["dtype"], "f64");
    let cfg: FcConfig = serde_json::from_value(v).unwrap();
    assert_eq!(&cfg, model.fc_config());
}
