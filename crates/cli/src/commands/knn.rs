//! `cs231n knn`: lecture 2's nearest-neighbour classifier on raw pixels, as the
//! notebook runs it (first 5 000 training / 500 test images, k = 1, L2), with
//! cross-validation over k and the distance-matrix picture.

use std::time::Instant;

use knn::{KNearestNeighbor, Metric, Vote};
use ndarray::{Array1, Array2, s};
use serde_json::json;

use crate::args::KnnArgs;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::output::{percent, round, table};
use crate::plot;
use crate::progress;

/// The distance-matrix picture is drawn from at most this many entries (the notebook's
/// 500 x 5 000): larger runs plot their first rows and columns.
const MAX_PLOTTED: (usize, usize) = (500, 5000);

/// Runs the classifier (or the cross-validation, then the test with the best k).
pub fn run(ctx: &mut Ctx, args: &KnnArgs) -> Result<()> {
    let data = ctx.load()?;
    let num_train = args.num_train.of(data.train.len());
    let num_test = args.num_test.of(data.test.len());
    // Raw pixels as floats, as the notebook (no centring for kNN).
    let x_train: Array2<f32> = data.train.slice(0..num_train)?.to_rows();
    let y_train: Array1<usize> = data.train.labels_usize().slice(s![..num_train]).to_owned();
    let x_test: Array2<f32> = data.test.slice(0..num_test)?.to_rows();
    let y_test: Array1<usize> = data.test.labels_usize().slice(s![..num_test]).to_owned();
    let vote = if args.weighted {
        Vote::Distance
    } else {
        Vote::Majority
    };
    let quiet = ctx.quiet();

    ctx.report.say(format!(
        "kNN on {num_train} training and {num_test} test images ({} values each), metric {}, {} vote",
        x_train.ncols(),
        args.metric,
        if args.weighted { "distance-weighted" } else { "majority" }
    ));
    let mut k = args.k;

    if args.cross_validate {
        let cv_started = Instant::now();
        let clf = KNearestNeighbor::<f32>::new()
            .with_metric(args.metric)
            .with_vote(vote);
        let pb = progress::bar(num_train as u64, "cross-val", "images", quiet);
        let cv = clf.cross_validate_with_progress(
            x_train.view(),
            y_train.view(),
            args.folds,
            &args.k_choices,
            |done, _| pb.set_position(done as u64),
        )?;
        pb.finish_and_clear();
        let rows: Vec<Vec<String>> = cv
            .per_k
            .iter()
            .map(|a| {
                vec![
                    a.k.to_string(),
                    format!("{:.4}", a.mean),
                    format!("{:.4}", a.std),
                    a.fold_accuracies
                        .iter()
                        .map(|x| format!("{x:.3}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect();
        ctx.report.say(format!(
            "{}-fold cross-validation on the {num_train} training images:",
            cv.num_folds
        ));
        ctx.report
            .say(table(&["k", "mean", "std", "accuracy per fold"], &rows));
        let best = cv.best();
        k = best.k;
        ctx.report.say(format!(
            "best k = {} (mean accuracy {:.4} ± {:.4})",
            best.k, best.mean, best.std
        ));
        let points: Vec<(f64, Vec<f64>)> = cv
            .per_k
            .iter()
            .map(|a| (a.k as f64, a.fold_accuracies.clone()))
            .collect();
        let path = ctx.out_file("knn_cross_validation.png")?;
        plot::error_bars(
            &path,
            &format!(
                "Cross-validation on k ({}, {})",
                data.source.kind.title(),
                args.metric
            ),
            "k",
            "Cross-validation accuracy",
            &points,
            Some((best.k as f64, &format!("best k = {}", best.k))),
        )?;
        ctx.wrote("cross-validation plot", &path);
        ctx.report.set(
            "cross_validation",
            cv.per_k
                .iter()
                .map(
                    |a| json!({"k": a.k, "mean": a.mean, "std": a.std, "folds": a.fold_accuracies}),
                )
                .collect::<Vec<_>>(),
        );
        ctx.report.set("num_folds", cv.num_folds);
        ctx.report.set("best_k", best.k);
        ctx.report.set(
            "cross_validation_seconds",
            round(cv_started.elapsed().as_secs_f64(), 4),
        );
    }

    if k == 0 || k > num_train {
        return Err(CliError::Usage(format!(
            "--k {k} needs between 1 and {num_train} training images"
        )));
    }
    let mut clf = KNearestNeighbor::<f32>::new()
        .with_metric(args.metric)
        .with_vote(vote);
    let started = Instant::now();
    clf.train(x_train.view(), y_train.view())?;
    let train_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let pb = progress::bar(num_test as u64, "predict", "images", quiet);
    let y_pred =
        clf.predict_with_progress(x_test.view(), k, |done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    let predict_seconds = started.elapsed().as_secs_f64();
    let test_accuracy = knn::accuracy(y_pred.view(), y_test.view())?;
    let correct = y_pred.iter().zip(&y_test).filter(|(a, b)| a == b).count();
    ctx.report.say(format!(
        "k = {k}: got {correct} / {num_test} correct => test accuracy {:.4} ({}) in {predict_seconds:.2} s",
        test_accuracy,
        percent(test_accuracy)
    ));

    if args.plot_dists {
        plot_distances(ctx, &clf, &x_train, &x_test, args.metric)?;
    }

    let r = &mut ctx.report;
    r.set("k", k);
    r.set("metric", args.metric.to_string());
    r.set("weighted", args.weighted);
    r.set("num_train", num_train);
    r.set("num_test", num_test);
    r.set("test_accuracy", test_accuracy);
    r.set("train_seconds", round(train_seconds, 4));
    r.set("predict_seconds", round(predict_seconds, 4));
    Ok(())
}

/// The notebook's `plt.imshow(dists)`: test rows down, training columns across,
/// white = far. Uses the course's no-loops distances on at most [`MAX_PLOTTED`].
fn plot_distances(
    ctx: &mut Ctx,
    clf: &KNearestNeighbor<f32>,
    x_train: &Array2<f32>,
    x_test: &Array2<f32>,
    metric: Metric,
) -> Result<()> {
    let rows = x_test.nrows().min(MAX_PLOTTED.0);
    let cols = x_train.nrows().min(MAX_PLOTTED.1);
    let dists = if cols == x_train.nrows() {
        clf.compute_distances_no_loops(x_test.slice(s![..rows, ..]))?
    } else {
        ctx.report.notice(format!(
            "plotting the distances of the first {rows} test x {cols} training images"
        ));
        let mut sub = KNearestNeighbor::<f32>::new().with_metric(metric);
        let y = Array1::<usize>::zeros(cols);
        sub.train(x_train.slice(s![..cols, ..]), y.view())?;
        sub.compute_distances_no_loops(x_test.slice(s![..rows, ..]))?
    };
    let path = ctx.out_file("knn_dists.png")?;
    plot::heatmap(
        &path,
        &format!(
            "{} distances: {rows} test x {cols} training images",
            metric.to_string().to_uppercase()
        ),
        "training image",
        "test image",
        dists.view(),
    )?;
    ctx.wrote("distance matrix", &path);
    Ok(())
}
