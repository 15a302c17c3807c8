//! Rebuilding models from files that lie about themselves: every case ends in one
//! typed error naming the file, before the model's weights are allocated.

use ndarray::ArrayD;
use nn::{Checkpoint, Error, Params, TensorFile, TwoLayerConfig, TwoLayerNet, load_model};

/// Writes a checkpoint whose `model` metadata is `config` and whose tensors are `params`.
fn forged(
    dir: &std::path::Path,
    config: serde_json::Value,
    params: Params<f32>,
) -> std::path::PathBuf {
    let path = dir.join("forged.safetensors");
    let net = TwoLayerNet::<f32>::new(TwoLayerConfig {
        input_dim: 2,
        hidden_dim: 2,
        num_classes: 2,
        ..Default::default()
    });
    let mut ckpt = Checkpoint::of_model(&net);
    ckpt.model = config;
    ckpt.params = params;
    ckpt.save(&path).unwrap();
    path
}

fn small_params() -> Params<f32> {
    Params::from([("W1".to_string(), ArrayD::zeros(vec![4, 5]))])
}

/// A small file whose config asks for 10¹⁴ parameters used to abort on allocation.
#[test]
fn a_config_asking_for_terabytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({"kind": "TwoLayerNet", "input_dim": 10_000_000, "hidden_dim": 10_000_000, "num_classes": 10});
    let path = forged(dir.path(), cfg, small_params());
    let err = load_model::<f32>(&path).err().expect("refused");
    assert!(matches!(err, Error::Model { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("forged.safetensors"), "{text}");
    assert!(
        text.contains(
            "config asks for 100000110000010 parameters (over the limit of 268435456) but holds 20"
        ),
        "{text}"
    );
}

/// Within the limit, the config must still describe the tensors the file holds.
#[test]
fn a_config_that_does_not_match_the_tensors_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({"kind": "FullyConnectedNet", "input_dim": 3000, "hidden_dims": [3000], "num_classes": 10});
    let path = forged(dir.path(), cfg, small_params());
    let err = load_model::<f32>(&path).err().expect("refused");
    assert!(
        err.to_string()
            .contains("the model file's config asks for 9033010 parameters but holds 20"),
        "{err}"
    );
}

/// Overflowing dimensions (2⁴⁰ × 2⁴⁰) used to panic inside ndarray.
#[test]
fn overflowing_dimensions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for cfg in [
        serde_json::json!({"kind": "FullyConnectedNet", "input_dim": 1u64 << 40, "hidden_dims": [1u64 << 40], "num_classes": 2}),
        serde_json::json!({"kind": "SequentialNet", "arch": "conv1x4294967297,fc10", "input_shape": [1, 28, 28]}),
        serde_json::json!({"kind": "SequentialNet", "arch": "fc10", "input_shape": [1u64 << 40, 1u64 << 40]}),
        serde_json::json!({"kind": "ThreeLayerConvNet", "input_dim": [1, 1u64 << 40, 1u64 << 40]}),
    ] {
        let path = forged(dir.path(), cfg.clone(), small_params());
        let err = load_model::<f32>(&path).err().expect("refused");
        assert!(matches!(err, Error::Model { .. }), "{cfg}: {err}");
    }
}

/// A convnet checkpoint on inputs smaller than its filters used to panic in `scores`.
#[test]
fn a_filter_wider_than_the_stored_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({"kind": "SequentialNet", "arch": "conv1x5,fc2", "input_shape": [1, 1, 1]});
    let path = forged(dir.path(), cfg, small_params());
    let err = load_model::<f32>(&path).err().expect("refused");
    assert!(err.to_string().contains("wider than"), "{err}");
}

/// Tensors under a name prefix no checkpoint uses say which tensor is foreign.
#[test]
fn unknown_tensor_groups_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.safetensors");
    let net = TwoLayerNet::<f32>::new(TwoLayerConfig {
        input_dim: 2,
        hidden_dim: 2,
        num_classes: 2,
        ..Default::default()
    });
    Checkpoint::of_model(&net).save(&path).unwrap();
    let mut file = TensorFile::<f32>::read(&path).unwrap();
    file.tensors
        .insert("param.W1".into(), ArrayD::zeros(vec![2, 2]));
    file.write(&path).unwrap();
    let err = load_model::<f32>(&path).err().expect("refused");
    assert!(
        matches!(err, Error::TensorSet { ref name, .. } if name == "param.W1"),
        "{err}"
    );
}
