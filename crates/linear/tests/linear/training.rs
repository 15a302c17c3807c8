//! Training, prediction, search and the geometric helpers on small synthetic data.
#![allow(non_snake_case)] // the course's X, W

use linear::{
    LinearClassifier, LinearError, Loss, Sampling, SearchConfig, TrainOptions, class_regions,
    grid_search, random_search, toy_blobs,
};
use ndarray::{Array1, Array2, array, s};

fn blobs() -> (Array2<f64>, Array1<usize>) {
    toy_blobs(40, 3, 0.3, 5)
}

#[test]
fn sgd_separates_toy_blobs_with_both_losses_and_both_samplings() {
    let (X, y) = blobs();
    for loss in [Loss::Svm, Loss::Softmax] {
        for sampling in [Sampling::WithReplacement, Sampling::ShuffledEpochs] {
            let mut clf = LinearClassifier::new(loss, 3, 3, &mut numeric::rng(0));
            let opts = TrainOptions {
                sampling,
                seed: 1,
                learning_rate_decay: 0.99,
            };
            let hist = clf
                .train(&X.view(), &y.view(), 0.1, 1e-3, 500, 30, &opts)
                .unwrap();
            assert_eq!(hist.len(), 500);
            let (first, last) = (hist[0], hist[499]);
            assert!(
                last < 0.5 * first,
                "{loss} {sampling:?}: loss {first} -> {last}"
            );
            let acc = clf.accuracy(&X.view(), &y.view()).unwrap();
            assert!(acc > 0.95, "{loss} {sampling:?}: accuracy {acc}");
        }
    }
}

#[test]
fn training_is_reproducible_from_its_seeds() {
    let (X, y) = blobs();
    let run = |seed| {
        let mut clf = LinearClassifier::new(Loss::Softmax, 3, 3, &mut numeric::rng(7));
        let opts = TrainOptions {
            seed,
            ..TrainOptions::default()
        };
        let hist = clf
            .train(&X.view(), &y.view(), 0.05, 0.0, 50, 10, &opts)
            .unwrap();
        (clf.W, hist)
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3).1, run(4).1);
}

#[test]
fn column_major_data_train_exactly_as_row_major_data() {
    let (X, y) = blobs();
    let X_f = X.t().as_standard_layout().into_owned().reversed_axes(); // same values, column-major
    assert!(!X_f.is_standard_layout());
    let train = |X: &Array2<f64>| {
        let mut clf = LinearClassifier::new(Loss::Svm, 3, 3, &mut numeric::rng(0));
        clf.train(
            &X.view(),
            &y.view(),
            0.05,
            1e-3,
            40,
            16,
            &TrainOptions::default(),
        )
        .unwrap();
        clf.W
    };
    assert_eq!(train(&X), train(&X_f));
}

#[test]
fn initial_losses_are_the_sanity_values() {
    // W = 1e-4·randn: softmax starts at ln C, SVM at C − 1 (every margin ≈ Δ).
    let (X, y) = blobs();
    for (loss, expected) in [(Loss::Softmax, 3f64.ln()), (Loss::Svm, 2.0)] {
        let mut clf = LinearClassifier::new(loss, 3, 3, &mut numeric::rng(0));
        let hist = clf
            .train(
                &X.view(),
                &y.view(),
                0.0,
                0.0,
                1,
                120,
                &TrainOptions::default(),
            )
            .unwrap();
        assert!((hist[0] - expected).abs() < 1e-3, "{loss}: {}", hist[0]);
    }
}

#[test]
fn the_callback_sees_every_iteration_and_loss() {
    let (X, y) = blobs();
    let mut clf = LinearClassifier::new(Loss::Svm, 3, 3, &mut numeric::rng(0));
    let mut seen = Vec::new();
    let hist = clf
        .train_with(
            &X.view(),
            &y.view(),
            0.1,
            0.0,
            25,
            8,
            &TrainOptions::default(),
            |it, l| seen.push((it, l)),
        )
        .unwrap();
    assert_eq!(
        seen.iter().map(|p| p.0).collect::<Vec<_>>(),
        (0..25).collect::<Vec<_>>()
    );
    assert_eq!(seen.iter().map(|p| p.1).collect::<Vec<_>>(), hist);
}

#[test]
fn divergence_stops_training_early() {
    let (X, y) = blobs();
    let mut clf = LinearClassifier::new(Loss::Svm, 3, 3, &mut numeric::rng(0));
    // A rate of 1e300 throws W to ~1e300 on the first step; reg·ΣW² then overflows.
    let hist = clf
        .train(
            &X.view(),
            &y.view(),
            1e300,
            1.0,
            100,
            10,
            &TrainOptions::default(),
        )
        .unwrap();
    assert!(
        hist.len() < 100 && !hist.last().unwrap().is_finite(),
        "{hist:?}"
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (X, y) = blobs();
    let mut clf = LinearClassifier::new(Loss::Svm, 3, 3, &mut numeric::rng(0));
    let opts = TrainOptions::default();
    let bad_label = {
        let mut y = y.clone();
        y[17] = 3;
        y
    };
    assert_eq!(
        clf.train(&X.view(), &bad_label.view(), 0.1, 0.0, 1, 4, &opts),
        Err(LinearError::Label {
            index: 17,
            label: 3,
            num_classes: 3
        })
    );
    assert!(matches!(
        clf.train(&X.slice(s![.., ..2]), &y.view(), 0.1, 0.0, 1, 4, &opts),
        Err(LinearError::Shape(m)) if m.contains("bias trick")
    ));
    assert!(matches!(
        clf.train(&X.view(), &y.slice(s![..5]), 0.1, 0.0, 1, 4, &opts),
        Err(LinearError::Shape(_))
    ));
    assert!(matches!(
        clf.train(&X.view(), &y.view(), 0.1, 0.0, 1, 0, &opts),
        Err(LinearError::HyperParameter(_))
    ));
    assert!(matches!(
        clf.train(&X.view(), &y.view(), f64::NAN, 0.0, 1, 4, &opts),
        Err(LinearError::HyperParameter(_))
    ));
    assert!(matches!(
        clf.train(&X.view(), &y.view(), 0.1, -1.0, 1, 4, &opts),
        Err(LinearError::HyperParameter(_))
    ));
    let empty = Array2::<f64>::zeros((0, 3));
    assert!(matches!(
        clf.train(
            &empty.view(),
            &Array1::zeros(0).view(),
            0.1,
            0.0,
            1,
            4,
            &opts
        ),
        Err(LinearError::Empty(_))
    ));
    assert!(matches!(
        clf.predict(&X.slice(s![.., ..2])),
        Err(LinearError::Shape(_))
    ));
}

#[test]
fn grid_search_returns_every_trial_and_the_best_model() {
    let (X, y) = blobs();
    let (X_val, y_val) = toy_blobs(20, 3, 0.3, 6);
    let cfg = SearchConfig {
        num_iters: 200,
        batch_size: 20,
        ..SearchConfig::default()
    };
    // A rate of 1e-9 cannot move W from its random start in 200 steps: chance level.
    let out = grid_search(
        Loss::Softmax,
        &X.view(),
        &y.view(),
        &X_val.view(),
        &y_val.view(),
        &[1e-9, 0.1],
        &[0.0, 1e-2],
        &cfg,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(out.trials.len(), 4);
    assert_eq!(
        out.trials
            .iter()
            .map(|t| (t.learning_rate, t.reg))
            .collect::<Vec<_>>(),
        vec![(1e-9, 0.0), (1e-9, 1e-2), (0.1, 0.0), (0.1, 1e-2)]
    );
    let best = out.best_trial();
    assert!(
        best.learning_rate == 0.1 && best.val_accuracy > 0.9,
        "{best:?}"
    );
    assert!(
        out.trials
            .iter()
            .all(|t| t.val_accuracy <= best.val_accuracy)
    );
    assert_eq!(
        out.best.accuracy(&X_val.view(), &y_val.view()).unwrap(),
        best.val_accuracy
    );
    assert_eq!(out.best_loss_history.len(), 200);
}

#[test]
fn random_search_draws_log_uniformly_within_its_ranges() {
    let (X, y) = blobs();
    let cfg = SearchConfig {
        num_iters: 50,
        batch_size: 20,
        ..SearchConfig::default()
    };
    let mut calls = 0;
    let out = random_search(
        Loss::Svm,
        &X.view(),
        &y.view(),
        &X.view(),
        &y.view(),
        (1e-3, 1e-1),
        (1e-4, 1e-2),
        6,
        &cfg,
        |_, _| calls += 1,
    )
    .unwrap();
    assert_eq!((out.trials.len(), calls), (6, 6));
    assert!(
        out.trials
            .iter()
            .all(|t| (1e-3..=1e-1).contains(&t.learning_rate) && (1e-4..=1e-2).contains(&t.reg))
    );
    let pairs = linear::random_pairs((1e-8, 1e-4), (1.0, 1.0), 2000, 3).unwrap();
    // Log-uniform: about half the draws fall below the geometric midpoint 1e-6.
    let below = pairs.iter().filter(|p| p.0 < 1e-6).count();
    assert!((900..1100).contains(&below), "{below}");
    assert!(linear::random_pairs((0.0, 1.0), (1.0, 2.0), 1, 0).is_err());
}

#[test]
fn class_regions_follow_the_trained_classifier() {
    let (X, y) = blobs();
    let mut clf = LinearClassifier::new(Loss::Softmax, 3, 3, &mut numeric::rng(0));
    clf.train(
        &X.view(),
        &y.view(),
        0.1,
        0.0,
        300,
        30,
        &TrainOptions::default(),
    )
    .unwrap();
    let regions = class_regions(&clf, (-2.0, 2.0), (-2.0, 2.0), 40, 40).unwrap();
    // Every blob centre (on the unit circle) lies in its own class's region.
    for class in 0..3 {
        let angle = std::f64::consts::TAU * class as f64 / 3.0;
        let (cx, cy) = (angle.cos(), angle.sin());
        let (col, row) = (((cx + 2.0) / 0.1) as usize, ((2.0 - cy) / 0.1) as usize);
        assert_eq!(regions[[row, col]], class);
    }
    let wide = LinearClassifier::from_weights(Loss::Svm, array![[1.0_f64], [1.0]]);
    assert!(class_regions(&wide, (0.0, 1.0), (0.0, 1.0), 2, 2).is_err());
}
