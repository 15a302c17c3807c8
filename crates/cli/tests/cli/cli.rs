//! End-to-end tests of the `cs231n` binary on small datasets written in the real
//! formats (CIFAR-10 binary batches, Fashion-MNIST IDX) into a temporary folder.

use crate::common;

use std::process::Command;

use cifar_data::{CIFAR10_CLASSES, CIFAR10_DIR, write_mnist};
use common::cli_run::*;
use common::s;

#[test]
fn info_json_reports_splits_and_counts() {
    let dir = cifar_dir(60, 20);
    let v = run_json(&["info", "--data-dir", s(dir.path()), "--dataset", "cifar10"]);
    assert_eq!(v["dataset"], "cifar10");
    assert_eq!(v["train"], 60);
    assert_eq!(v["test"], 20);
    assert_eq!(v["classes"].as_array().unwrap().len(), 10);
    assert_eq!(v["classes"][0], "airplane");
    assert_eq!(v["per_class_train"], serde_json::json!(vec![6; 10]));
    assert_eq!(v["per_class_test"], serde_json::json!(vec![2; 10]));
    // `auto` takes CIFAR-10 when it is there, and says so on stderr.
    let out = run(&["info", "--data-dir", s(dir.path())]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("using CIFAR-10"));
}

#[test]
fn fashion_mnist_idx_is_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let classes: Vec<&str> = cifar_data::FASHION_MNIST_CLASSES.to_vec();
    write_mnist(
        dir.path().join("fashion-mnist"),
        &toy(30, 1, 28, &classes, 0),
        &toy(10, 1, 28, &classes, 1),
        true,
    )
    .unwrap();
    let v = run_json(&[
        "info",
        "--data-dir",
        s(dir.path()),
        "--dataset",
        "fashion-mnist",
    ]);
    assert_eq!(v["dataset"], "fashion-mnist");
    assert_eq!(v["image_shape"], serde_json::json!([1, 28, 28]));
    assert_eq!(v["train"], 30);
}

#[test]
fn knn_json_accuracy_is_a_fraction() {
    let d = Dirs::new();
    let v = run_json(&d.args(
        "knn",
        &[
            "--k",
            "3",
            "--metric",
            "l1",
            "--num-train",
            "all",
            "--plot-dists",
        ],
    ));
    assert_eq!(v["dataset"], "cifar10");
    assert_eq!(
        (v["k"].as_u64(), v["metric"].as_str()),
        (Some(3), Some("l1"))
    );
    assert_eq!(
        (v["num_train"].as_u64(), v["num_test"].as_u64()),
        (Some(60), Some(20))
    );
    let acc = v["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{acc}");
    // The toy classes are separable by brightness: kNN gets them right.
    assert!(acc > 0.5, "{acc}");
    assert!(d.out("knn_dists.png").is_file());
}

#[test]
fn knn_cross_validation_table_and_plot() {
    let d = Dirs::new();
    let v = run_json(&d.args(
        "knn",
        &["--cross-validate", "--folds", "3", "--k-choices", "1,3,5"],
    ));
    let cv = v["cross_validation"].as_array().unwrap();
    assert_eq!(cv.len(), 3);
    assert_eq!(cv[0]["folds"].as_array().unwrap().len(), 3);
    let best = v["best_k"].as_u64().unwrap();
    assert!([1, 3, 5].contains(&best));
    assert_eq!(v["k"].as_u64(), Some(best));
    assert!(d.out("knn_cross_validation.png").is_file());
}

#[test]
fn search_times_each_run_and_reg_zero_reads_zero() {
    let d = Dirs::new();
    let extra = [
        "--search",
        "--lr",
        "1e-7",
        "--reg",
        "0",
        "--iters",
        "5",
        "--batch-size",
        "10",
        "--num-train",
        "50",
    ];
    let v = run_json(&d.args("svm", &extra));
    let trials = v["search"].as_array().unwrap();
    assert_eq!(trials.len(), 1);
    let run_seconds = trials[0]["seconds"].as_f64().unwrap();
    assert_eq!(v["train_seconds"].as_f64(), Some(run_seconds));
    assert!(v["search_seconds"].as_f64().unwrap() >= run_seconds);
    // The human text: `reg 0`, never `0e0`.
    let out = run(&d.args(
        "softmax",
        &["--reg", "0", "--iters", "5", "--num-train", "50"],
    ));
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("reg 0,"), "{stdout}");
    assert!(!stdout.contains("0e0"), "{stdout}");
}

#[test]
fn epoch_lines_reach_a_pipe_as_each_epoch_ends() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Instant;
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .args([
            "cnn",
            "--dataset",
            "sample",
            "--epochs",
            "3",
            "--num-train",
            "400",
        ])
        .args(["--num-filters", "8", "--hidden", "20", "--batch-size", "20"])
        .args(["--num-test", "50", "--out", s(out.path())])
        .env_remove(cifar_data::DATA_DIR_ENV)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Each line with the time it arrived.
    let lines: Vec<(String, f64)> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| (l.unwrap(), started.elapsed().as_secs_f64()))
        .collect();
    assert!(child.wait().unwrap().success());
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|(l, _)| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?} in {lines:?}"))
    };
    let (e1, e2, e3, best) = (
        at("epoch 1/3"),
        at("epoch 2/3"),
        at("epoch 3/3"),
        at("best epoch"),
    );
    assert!(e1 < e2 && e2 < e3 && e3 < best, "{lines:?}");
    assert!(
        lines[best..]
            .iter()
            .any(|(l, _)| l.starts_with("wrote model"))
    );
    // Printed as each epoch ends, not in one burst after training: two epochs of
    // training lie between the first line and the last.
    let (t1, t3) = (lines[e1].1, lines[e3].1);
    assert!(
        t3 - t1 > 0.2 * t3,
        "epoch lines came {:.3} s apart, {t3:.3} s into the run",
        t3 - t1
    );
}

#[test]
fn corrupt_batch_is_a_clear_error() {
    let dir = cifar_dir(60, 20);
    let batch = dir.path().join(CIFAR10_DIR).join("data_batch_3.bin");
    let bytes = std::fs::read(&batch).unwrap();
    std::fs::write(&batch, &bytes[..bytes.len() - 100]).unwrap();
    let out = run(&["knn", "--data-dir", s(dir.path()), "--dataset", "cifar10"]);
    let stderr = assert_fails_naming(&out, "data_batch_3.bin");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_options_fail_without_panicking() {
    let dir = cifar_dir(60, 20);
    for args in [
        vec!["knn", "--k", "0"],
        vec!["knn", "--k", "1000"],
        vec!["knn", "--metric", "l3"],
        vec!["knn", "--num-test", "zero"],
        vec!["--dataset", "imagenet", "info"],
    ] {
        let mut all = args.clone();
        all.extend(["--data-dir", s(dir.path())]);
        let out = run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn softmax_model_round_trips_through_predict() {
    let d = Dirs::new();
    let v = run_json(&d.args(
        "softmax",
        &[
            "--iters",
            "30",
            "--batch-size",
            "20",
            "--lr",
            "1e-6",
            "--reg",
            "1",
            "--num-test",
            "all",
        ],
    ));
    assert_eq!(v["num_test"], 20, "--num-test all takes the whole test set");
    for key in ["train_accuracy", "val_accuracy", "test_accuracy"] {
        let a = v[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{key} = {a}");
    }
    assert!(v["train_seconds"].as_f64().unwrap() <= v["total_seconds"].as_f64().unwrap());
    let model = d.out("softmax.safetensors");
    assert!(model.is_file());
    assert!(d.out("softmax_loss.png").is_file());
    assert!(d.out("softmax_templates.png").is_file());

    // Two test images as PNG files: predict reads, resizes and classifies them.
    let (a, b) = (d.test_png(0, "a.png"), d.test_png(1, "b.png"));
    let p = run_json(&["predict", "--model", s(&model), s(&a), s(&b)]);
    assert_eq!(p["dataset"], "cifar10");
    let preds = p["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    for pred in preds {
        let probs: Vec<f64> = pred["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(probs.len(), 10);
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-6);
        let label = pred["label"].as_u64().unwrap() as usize;
        assert_eq!(pred["class"], CIFAR10_CLASSES[label]);
        assert!(probs.iter().all(|&q| q <= probs[label]));
    }

    // Not a model file, and not an image: clear errors.
    assert_fails_naming(&run(&["predict", "--model", s(&a), s(&a)]), "a.png");
    let junk = d.out("junk.png");
    std::fs::write(&junk, b"not a png").unwrap();
    assert_fails_naming(
        &run(&["predict", "--model", s(&model), s(&junk)]),
        "junk.png",
    );
}

#[test]
fn backprop_prints_the_lectures_numbers() {
    let out = tempfile::tempdir().unwrap();
    let v = run_json(&["backprop", "--example", "add-mul", "--out", s(out.path())]);
    assert_eq!(v["f"], -12.0);
    assert_eq!(v["gradients"]["x"], -4.0);
    assert_eq!(v["gradients"]["y"], -4.0);
    assert_eq!(v["gradients"]["z"], 3.0);
    assert!(out.path().join("backprop_add-mul.dot").is_file());
}

#[test]
fn show_writes_the_examples_grid() {
    let d = Dirs::new();
    run_json(&d.args("show", &["--per-class", "3"]));
    let img = image::open(d.out("examples.png")).unwrap();
    assert!(img.width() > 10 * 64 && img.height() > 3 * 64);
}

#[test]
fn nn_trains_resumes_and_predicts() {
    let d = Dirs::new();
    let v = run_json(&d.args(
        "nn",
        &[
            "--hidden",
            "16,8",
            "--norm",
            "batch",
            "--dropout",
            "0.9",
            "--epochs",
            "1",
            "--batch-size",
            "10",
        ],
    ));
    assert_eq!(v["dataset"], "cifar10");
    assert_eq!(v["epochs"], 1);
    for key in ["train_accuracy", "val_accuracy", "test_accuracy"] {
        let a = v[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&a), "{key} = {a}");
    }
    assert_eq!(v["val_history"].as_array().unwrap().len(), 2);
    for f in [
        "nn_loss.png",
        "nn_accuracy.png",
        "nn_weights.png",
        "nn.safetensors",
    ] {
        assert!(d.out(f).is_file(), "{f}");
    }
    // A second run continues the first from its checkpoint, whatever --hidden says.
    let ckpt = d.out("nn_checkpoint.safetensors");
    let v = run_json(&d.args(
        "nn",
        &["--epochs", "2", "--resume", s(&ckpt), "--batch-size", "10"],
    ));
    assert_eq!(
        (v["epochs"].as_u64(), v["epochs_this_run"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(v["val_history"].as_array().unwrap().len(), 3);
    assert_eq!(v["model"]["hidden_dims"], serde_json::json!([16, 8]));

    let img = d.test_png(0, "x.png");
    let model = d.out("nn.safetensors");
    let p = run_json(&["predict", "--model", s(&model), s(&img)]);
    assert_eq!(p["kind"], "nn");
    assert_eq!(
        p["predictions"][0]["probabilities"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    // A checkpoint of another architecture cannot be resumed silently into this data.
    assert_fails_naming(&run(&d.args("nn", &["--resume", s(&img)])), "x.png");
}

#[test]
fn nn_compare_updates_plots_and_reports_every_rule() {
    let d = Dirs::new();
    let v = run_json(&d.args(
        "nn",
        &[
            "--compare-updates",
            "--hidden",
            "16,8",
            "--epochs",
            "2",
            "--batch-size",
            "10",
        ],
    ));
    let rows = v["compare_updates"].as_array().unwrap();
    let rules: Vec<&str> = rows.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["sgd", "sgd_momentum", "rmsprop", "adam"]);
    let lrs: Vec<f64> = rows.iter().map(|r| r["lr"].as_f64().unwrap()).collect();
    assert_eq!(lrs, [1e-2, 1e-2, 1e-4, 1e-3]);
    for r in rows {
        let loss = r["final_loss"].as_f64().unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{r}");
        for key in ["train_accuracy", "val_accuracy"] {
            let a = r[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{key} = {a}");
        }
    }
    // Same init and minibatches: the first loss is shared, the rules then part ways.
    let finals: Vec<f64> = rows
        .iter()
        .map(|r| r["final_loss"].as_f64().unwrap())
        .collect();
    assert!(finals.iter().any(|&l| l != finals[0]), "{finals:?}");
    let img = image::open(d.out("update_rules.png")).unwrap();
    assert!(img.width() >= 800 && img.height() > 1000);
    assert!(!d.out("nn.safetensors").exists());

    // One rule and --compare-updates contradict each other.
    assert_fails_naming(
        &run(&d.args("nn", &["--compare-updates", "--update", "sgd"])),
        "--update",
    );
}

#[test]
fn cnn_with_an_arch_spec_trains_and_predicts() {
    let d = Dirs::new();
    let v = run_json(&d.args(
        "cnn",
        &[
            "--arch",
            "conv4x3-relu-pool,fc10",
            "--batch-size",
            "20",
            "--augment",
            "--num-test",
            "7",
        ],
    ));
    assert_eq!(v["epochs"], 1);
    assert_eq!(v["num_test"], 7);
    let a = v["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&a));
    assert!(d.out("cnn_filters.png").is_file());
    let img = d.test_png(0, "x.png");
    let p = run_json(&["predict", "--model", s(&d.out("cnn.safetensors")), s(&img)]);
    assert_eq!(p["kind"], "cnn");
    // An arch whose scores do not match the classes is refused with a clear message.
    assert_fails_naming(&run(&d.args("cnn", &["--arch", "fc3"])), "fc10");
}

/// The same seed and thread count give the same bytes: two 2-thread runs of a convnet
/// with batchnorm, dropout and augmentation write identical model files, and another
/// seed does not.
#[test]
fn a_seed_and_a_thread_count_reproduce_a_run_bit_for_bit() {
    let d = Dirs::new();
    let train = |seed: &str, out: &str| {
        let out = d.out(out);
        let args = [
            "cnn",
            "--data-dir",
            s(d.data.path()),
            "--out",
            s(&out),
            "--threads",
            "2",
            "--seed",
            seed,
            "--arch",
            "conv8x3-bn-relu-pool,fc16-relu-drop0.5,fc10",
            "--batch-size",
            "20",
            "--augment",
            "--num-test",
            "7",
        ];
        let v = run_json(&args);
        let model = std::fs::read(out.join("cnn.safetensors")).unwrap();
        (v["test_accuracy"].clone(), model)
    };
    let (acc_a, model_a) = train("5", "a");
    let (acc_b, model_b) = train("5", "b");
    assert_eq!(acc_a, acc_b);
    assert!(
        model_a == model_b,
        "two runs with seed 5 wrote different model files"
    );
    let (_, model_c) = train("6", "c");
    assert!(
        model_a != model_c,
        "seed 6 wrote the same model file as seed 5"
    );
}
