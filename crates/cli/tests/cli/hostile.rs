//! `cs231n predict` given model files that contradict themselves and images that are
//! not what the model takes: each ends in a clear error naming the file, exit status 1,
//! never a panic. Model files are written here the way `cs231n` writes them (the
//! safetensors layout of docs/cli.md), then spoiled one field at a time.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Spec, predict, predict_with};

/// Asserts a run failed with status 1 and exactly one stderr line, `error: ...`
/// naming `file` and containing `needle`; returns that line.
#[track_caller]
fn one_error_line(out: &Output, file: &Path, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(name),
        "{stderr}"
    );
    assert!(lines[0].contains(needle), "{stderr}");
    stderr
}

fn grey_png(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    image::GrayImage::from_fn(2, 2, |x, y| image::Luma([(x * 90 + y * 40) as u8]))
        .save(&path)
        .unwrap();
    path
}

fn colour_png(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    image::RgbImage::from_pixel(2, 2, image::Rgb([200, 10, 10]))
        .save(&path)
        .unwrap();
    path
}

#[test]
fn a_consistent_file_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let model = Spec::net().write(&dir.path().join("m.safetensors"));
    let img = grey_png(dir.path(), "g.png");
    let out = predict(&model, &[&img]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("{}: ", img.display())),
        "{stdout}"
    );
}

#[test]
fn classes_that_do_not_match_the_outputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = grey_png(dir.path(), "g.png");
    for (classes, needle) in [
        (
            r#"["a","b"]"#,
            "3 scores per image but metadata `classes` names 2",
        ),
        (
            r#"["a","b","c","d"]"#,
            "3 scores per image but metadata `classes` names 4",
        ),
        ("[]", "lists no classes"),
    ] {
        let model = Spec::net()
            .set("classes", classes)
            .write(&dir.path().join("m.safetensors"));
        one_error_line(&predict(&model, &[&img]), &model, needle);
    }
}

#[test]
fn an_input_shape_that_overflows_or_disagrees_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = grey_png(dir.path(), "g.png");
    let model = dir.path().join("m.safetensors");
    let cases = [
        ("[1,4294967296,4294967296]", "overflows"),
        ("[4294967296,4294967296,4294967296]", "overflows"),
        (
            "[3,2,2]",
            "asks for 12 values per image but prep.mean_image holds 4",
        ),
        ("[1,0,4]", "non-zero sizes"),
        ("[1,2]", "not [C, H, W]"),
        ("[-1,2,2]", "not a list of sizes"),
    ];
    for (shape, needle) in cases {
        Spec::net().set("input_shape", shape).write(&model);
        one_error_line(&predict(&model, &[&img]), &model, needle);
    }
}

#[test]
fn non_finite_numbers_and_a_zero_std_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = grey_png(dir.path(), "g.png");
    let model = dir.path().join("m.safetensors");
    Spec::net()
        .tensor("param.W1", |w| w[3] = f32::NAN)
        .write(&model);
    one_error_line(&predict(&model, &[&img]), &model, "param.W1[3] is NaN");
    Spec::net()
        .tensor("prep.mean_image", |m| m[0] = f32::INFINITY)
        .write(&model);
    one_error_line(
        &predict(&model, &[&img]),
        &model,
        "prep.mean_image[0] is inf",
    );
    Spec::net()
        .tensor("prep.channel_std", |sd| sd[0] = 0.0)
        .write(&model);
    one_error_line(
        &predict(&model, &[&img]),
        &model,
        "prep.channel_std[0] is 0",
    );
    // Finite weights whose scores still overflow.
    Spec::net()
        .tensor("param.b1", |b| b.fill(10.0))
        .tensor("param.W2", |w| w.fill(3e38))
        .write(&model);
    one_error_line(&predict(&model, &[&img]), &model, "scores overflow");
}

#[test]
fn a_training_checkpoint_names_the_model_file_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let net = nn::TwoLayerNet::<f32>::new(nn::TwoLayerConfig {
        input_dim: 4,
        hidden_dim: 5,
        num_classes: 3,
        ..Default::default()
    });
    let ckpt = dir.path().join("nn_checkpoint.safetensors");
    nn::save_model(&ckpt, &net).unwrap();
    let img = grey_png(dir.path(), "g.png");
    let line = one_error_line(&predict(&ckpt, &[&img]), &ckpt, "training checkpoint");
    let beside = dir.path().join("nn.safetensors");
    assert!(
        line.contains(&format!("use {}", beside.display())),
        "{line}"
    );
}

#[test]
fn unreadable_images_are_reported_and_the_rest_classified() {
    let dir = tempfile::tempdir().unwrap();
    let model = Spec::net().write(&dir.path().join("m.safetensors"));
    let good = grey_png(dir.path(), "good.png");
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "hello").unwrap();
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, b"\x89PNG\r\n\x1a\n and then nothing").unwrap();
    let missing = dir.path().join("missing.png");
    let out = predict(&model, &[&txt, &good, &fake, &missing]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("good.png: "), "{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    assert!(
        lines[0].contains("notes.txt: cannot read the image: not a PNG or JPEG"),
        "{stderr}"
    );
    assert!(
        lines[1].contains("fake.png: cannot read the image: a damaged PNG file"),
        "{stderr}"
    );
    assert!(lines[2].contains("missing.png"), "{stderr}");
    assert_eq!(
        lines[3],
        "error: 3 of 4 images could not be read (see above)"
    );
    assert!(!stderr.contains("not recognized") && !stderr.contains("Invalid PNG signature"));
}

#[test]
fn the_json_summary_lists_classified_and_unreadable_images_alike() {
    let dir = tempfile::tempdir().unwrap();
    let model = Spec::net().write(&dir.path().join("m.safetensors"));
    let good = grey_png(dir.path(), "good.png");
    let missing = dir.path().join("missing.png");
    let out = predict_with(&["--json"], &model, &[&good, &missing]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.ends_with("error: 1 of 2 images could not be read (see above)\n"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    let predictions = summary["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 1, "{summary}");
    assert!(
        predictions[0]["image"]
            .as_str()
            .unwrap()
            .ends_with("good.png")
    );
    let unreadable = summary["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{summary}");
    assert!(
        unreadable[0]["image"]
            .as_str()
            .unwrap()
            .ends_with("missing.png")
    );
    assert!(
        unreadable[0]["error"]
            .as_str()
            .unwrap()
            .contains("missing.png")
    );

    // Nothing readable: still a summary, with no predictions.
    let out = predict_with(&["--json"], &model, &[&missing]);
    assert_eq!(out.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(summary["predictions"], serde_json::json!([]));
    assert_eq!(summary["unreadable"].as_array().unwrap().len(), 1);

    // All readable: an empty list, so the summary has one shape.
    let out = predict_with(&["--json"], &model, &[&good]);
    assert!(out.status.success());
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["unreadable"], serde_json::json!([]));
}

#[test]
fn colour_and_grey_mismatches_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let grey_model = Spec::net().write(&dir.path().join("grey.safetensors"));
    let colour = colour_png(dir.path(), "red.png");
    let out = predict(&grey_model, &[&colour]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("red.png") && stderr.contains("takes greyscale images"),
        "{stderr}"
    );

    // The same network over 3×2×2 colour input, given a grey file.
    let colour_model = Spec::net_for([3, 2, 2]).write(&dir.path().join("colour.safetensors"));
    assert!(predict(&colour_model, &[&colour]).status.success());
    let grey = grey_png(dir.path(), "g.png");
    let out = predict(&colour_model, &[&grey]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("g.png") && stderr.contains("greyscale picture"),
        "{stderr}"
    );
}
