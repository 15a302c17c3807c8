//! `cs231n speedrun` end to end on a toy CIFAR-10 folder: one short epoch per run,
//! the JSON summary, the plots, a model file that `predict` reads, and clear errors.

use crate::common;

use common::cli_run::*;
use common::s;

#[test]
fn speedrun_trains_reports_runs_and_predicts() {
    let d = Dirs::new();
    let v = run_json(&d.args(
        "speedrun",
        &[
            "--epochs", "1", "--batch", "16", "--runs", "2", "--seed", "3",
        ],
    ));
    assert_eq!(v["runs"], 2);
    assert_eq!(v["seeds"], serde_json::json!([3, 4]));
    assert_eq!(
        (v["num_train"].as_u64(), v["num_test"].as_u64()),
        (Some(60), Some(20))
    );
    assert_eq!(v["model"]["kind"], "Airbench94");
    assert_eq!(v["tta_level"], 2);
    assert_eq!(
        (v["momentum"].as_f64(), v["schedule"].as_bool()),
        (Some(0.85), Some(true))
    );
    let tta = v["tta_accuracy"].as_array().unwrap();
    assert_eq!(tta.len(), 2);
    for a in tta.iter().chain(v["accuracy"].as_array().unwrap()) {
        assert!((0.0..=1.0).contains(&a.as_f64().unwrap()), "{a}");
    }
    let mean = v["tta_accuracy_mean"].as_f64().unwrap();
    let expected = (tta[0].as_f64().unwrap() + tta[1].as_f64().unwrap()) / 2.0;
    assert!((mean - expected).abs() < 1e-6);
    // One epoch of 60 images at batch 16: three steps, one line of history.
    assert_eq!(v["train_loss_history"].as_array().unwrap().len(), 1);
    assert!(v["timed_seconds"][0].as_f64().unwrap() > 0.0);
    assert!(v["data_seconds"].as_f64().unwrap() >= 0.0);
    for f in [
        "speedrun_loss.png",
        "speedrun_accuracy.png",
        "speedrun.safetensors",
    ] {
        assert!(d.out(f).is_file(), "{f} missing");
    }
    let img = d.test_png(0, "x.png");
    let p = run_json(&[
        "predict",
        "--model",
        s(&d.out("speedrun.safetensors")),
        s(&img),
    ]);
    assert_eq!(p["kind"], "cnn");
}

/// `--matmul-precision bf16` trains, the report records the precision in force (bf16
/// on a CPU with AVX512_BF16, else f32), and a second run with the same seed and
/// threads writes the same model file, byte for byte.
#[test]
fn bf16_products_train_reproducibly_and_are_recorded() {
    let d = Dirs::new();
    let args = [
        "--matmul-precision",
        "bf16",
        "--threads",
        "2",
        "--epochs",
        "1",
        "--batch",
        "16",
    ];
    let v = run_json(&d.args("speedrun", &args));
    assert_eq!(v["matmul_precision"], bf16_where_the_cpu_has_it());
    let tta = v["tta_accuracy"][0].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&tta), "{tta}");
    assert!(v["train_loss_history"][0].as_f64().unwrap().is_finite());
    let first = std::fs::read(d.out("speedrun.safetensors")).unwrap();
    let again = run_json(&d.args("speedrun", &args));
    assert_eq!(again["train_loss_history"], v["train_loss_history"]);
    let second = std::fs::read(d.out("speedrun.safetensors")).unwrap();
    assert!(first == second, "model files differ");
}

/// The precision a bf16 request gets on this CPU.
fn bf16_where_the_cpu_has_it() -> &'static str {
    if numeric::cpu_has_bf16() {
        "bf16"
    } else {
        "f32"
    }
}

/// Without `--matmul-precision` the recipe runs its products in bf16 where the CPU
/// has AVX512_BF16 (airbench94 trains in half precision), and `f32` still asks for f32.
#[test]
fn the_recipe_defaults_to_bf16_products() {
    let d = Dirs::new();
    let args = ["--epochs", "0.5", "--batch", "16", "--tta", "0"];
    let v = run_json(&d.args("speedrun", &args));
    assert_eq!(v["matmul_precision"], bf16_where_the_cpu_has_it());
    let f32_args = [&args[..], &["--matmul-precision", "f32"]].concat();
    assert_eq!(
        run_json(&d.args("speedrun", &f32_args))["matmul_precision"],
        "f32"
    );
}

#[test]
fn per_epoch_lines_and_the_final_accuracy_are_printed() {
    let d = Dirs::new();
    let out = run(&d.args(
        "speedrun",
        &["--epochs", "1.5", "--batch", "20", "--tta", "1"],
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("epoch 1/2: train loss"), "{stdout}");
    assert!(stdout.contains("epoch 2/2: train loss"), "{stdout}");
    assert!(stdout.contains("with TTA level 1"), "{stdout}");
    assert!(
        stdout.contains("speedrun over 1 run(s): TTA test accuracy"),
        "{stdout}"
    );
}

#[test]
fn bad_settings_fail_with_a_clear_message() {
    let d = Dirs::new();
    assert_fails_naming(
        &run(&d.args("speedrun", &["--batch", "100"])),
        "one batch of 100",
    );
    assert_fails_naming(&run(&d.args("speedrun", &["--epochs", "0"])), "--epochs");
    assert_fails_naming(
        &run(&d.args("speedrun", &["--label-smoothing", "2"])),
        "--label-smoothing",
    );
    assert!(!run(&d.args("speedrun", &["--tta", "3"])).status.success());
    assert_fails_naming(
        &run(&d.args("speedrun", &["--momentum", "1"])),
        "momentum 1 must be in [0, 1)",
    );
}
