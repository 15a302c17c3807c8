//! The models' loss, every gradient, the test-time scores and batchnorm's running
//! statistics against reference values in `fixtures/models_reference.json`, on small
//! nets of every kind (plain, batch/layer norm, dropout with a fixed or a streamed
//! mask, regularised, softmax regression, the convnet), several seeds each.
//!
//! The reference values were written by the earlier fused implementation of the same
//! models; the sandwich-layer code must reproduce them to 1e-12 (relative) in f64.

use std::collections::BTreeMap;

use ndarray::{Array1, ArrayD};
use nn::{FcConfig, FullyConnectedNet, Model, Normalization};
use nn::{ThreeLayerConvNet, ThreeLayerConvNetConfig, TwoLayerConfig, TwoLayerNet};
use serde_json::{Value, json};

/// One reference run: a model, a batch, and what it produced.
struct Case {
    name: String,
    model: Box<dyn Model<f64>>,
    x: ArrayD<f64>,
    y: Array1<usize>,
}

fn batch(n: usize, shape: &[usize], classes: usize, seed: u64) -> (ArrayD<f64>, Array1<usize>) {
    let mut dims = vec![n];
    dims.extend_from_slice(shape);
    let x = numeric::randn::<f64, _, _>(ndarray::IxDyn(&dims), &mut numeric::rng(seed));
    let y = (0..n).map(|i| (i * 3 + seed as usize) % classes).collect();
    (x, y)
}

/// Every model of the comparison, built afresh (the runs mutate them).
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for seed in [0u64, 1] {
        for hidden in [vec![6, 5], vec![4], vec![]] {
            for (norm, keep, fixed) in [
                (Normalization::None, 1.0, true),
                (Normalization::BatchNorm, 1.0, true),
                (Normalization::LayerNorm, 1.0, true),
                (Normalization::None, 0.6, true),
                (Normalization::BatchNorm, 0.7, false),
            ] {
                if hidden.is_empty() && (norm != Normalization::None || keep < 1.0) {
                    continue;
                }
                for reg in [0.0, 0.7] {
                    let mut net = FullyConnectedNet::<f64>::new(FcConfig {
                        input_dim: 7,
                        hidden_dims: hidden.clone(),
                        num_classes: 4,
                        dropout_keep: keep,
                        normalization: norm,
                        reg,
                        weight_scale: Some(0.4),
                        seed: seed + 10,
                    });
                    if fixed {
                        net.set_fixed_dropout_seed(Some(seed + 20));
                    }
                    let (x, y) = batch(5, &[7], 4, seed);
                    cases.push(Case {
                        name: format!(
                            "fc {hidden:?} {norm} keep {keep} fixed {fixed} reg {reg} seed {seed}"
                        ),
                        model: Box::new(net),
                        x,
                        y,
                    });
                }
            }
        }
        for reg in [0.0, 0.5] {
            let net = TwoLayerNet::<f64>::new(TwoLayerConfig {
                input_dim: 12,
                hidden_dim: 9,
                num_classes: 3,
                weight_scale: 0.3,
                reg,
                seed,
            });
            // Images (N, 3, 2, 2): the net flattens each to a row of 12.
            let (x, y) = batch(6, &[3, 2, 2], 3, seed + 5);
            cases.push(Case {
                name: format!("two-layer reg {reg} seed {seed}"),
                model: Box::new(net),
                x,
                y,
            });
            let net = ThreeLayerConvNet::<f64>::new(ThreeLayerConvNetConfig {
                input_dim: [2, 6, 6],
                num_filters: 3,
                filter_size: 3,
                hidden_dim: 5,
                num_classes: 4,
                weight_scale: 0.3,
                reg,
                seed,
            })
            .expect("valid configuration");
            let (x, y) = batch(3, &[2, 6, 6], 4, seed + 7);
            cases.push(Case {
                name: format!("convnet reg {reg} seed {seed}"),
                model: Box::new(net),
                x,
                y,
            });
        }
    }
    cases
}

fn flat(a: &ArrayD<f64>) -> Value {
    json!({ "shape": a.shape(), "values": a.iter().copied().collect::<Vec<_>>() })
}

fn flat_all(p: &BTreeMap<String, ArrayD<f64>>) -> Value {
    Value::Object(p.iter().map(|(k, v)| (k.clone(), flat(v))).collect())
}

/// Two training-mode losses (the second sees the first's dropout stream and running
/// statistics), then test-mode scores and the buffers.
fn run(case: &mut Case) -> Value {
    let (x, y) = (case.x.view(), case.y.view());
    let (loss1, grads1) = case.model.loss(&x, &y);
    let (loss2, grads2) = case.model.loss(&x, &y);
    let scores = case.model.scores(&x).into_dyn();
    let buffers = case.model.buffers().cloned().unwrap_or_default();
    json!({
        "loss": [loss1, loss2],
        "grads": [flat_all(&grads1), flat_all(&grads2)],
        "scores": flat(&scores),
        "buffers": flat_all(&buffers),
    })
}

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/models_reference.json"
);

/// Walks two JSON trees together: same keys and shapes, numbers within `tol` relative.
fn compare(path: &str, got: &Value, want: &Value, tol: f64, worst: &mut f64) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let (gk, wk): (Vec<_>, Vec<_>) = (g.keys().collect(), w.keys().collect());
            assert_eq!(gk, wk, "{path}: keys");
            for k in wk {
                compare(&format!("{path}.{k}"), &g[k], &w[k], tol, worst);
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}: length");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                compare(&format!("{path}[{i}]"), g, w, tol, worst);
            }
        }
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            let err = (g - w).abs() / w.abs().max(1e-3);
            *worst = worst.max(err);
            assert!(err <= tol, "{path}: {g} vs reference {w} (error {err:e})");
        }
        _ => assert_eq!(got, want, "{path}"),
    }
}

#[test]
fn models_reproduce_the_reference_losses_gradients_scores_and_buffers() {
    let text = std::fs::read_to_string(FIXTURE).expect("reference file");
    let reference: BTreeMap<String, Value> = serde_json::from_str(&text).expect("reference JSON");
    let mut cases = cases();
    assert_eq!(cases.len(), reference.len(), "one reference per case");
    let mut worst = 0.0_f64;
    for case in &mut cases {
        let want = reference
            .get(&case.name)
            .unwrap_or_else(|| panic!("no reference for {}", case.name));
        let got = run(case);
        compare(&case.name, &got, want, 1e-12, &mut worst);
    }
    println!(
        "{} models, worst relative difference {worst:e}",
        cases.len()
    );
    // A comparison that saw no numbers would pass vacuously.
    assert!(cases.len() >= 40 && worst.is_finite());
}
