//! `cs231n speedrun`: the fast-training recipe (airbench94, `nn::Recipe`) on the
//! dataset, with airbench94's settings by default: a progress bar per epoch (images,
//! img/s, the run's ETA), a line per epoch (train loss and accuracy, test accuracy
//! without TTA), the TTA accuracy on the test images at the end, `--runs N` as
//! mean ± std, the plots and a model file that `cs231n predict` reads.
//!
//! Timing follows airbench94: the timed seconds are the whitening init, the training
//! steps and the final TTA evaluation. Loading and preprocessing the data and the
//! per-epoch test evaluation are timed apart (`data_seconds`, `eval_seconds`).

use std::time::Instant;

use cifar_data::{Preprocess, SplitSizes, preprocess};
use ndarray::{Array1, Array4};
use nn::{Airbench94, Airbench94Config, Model, Recipe, RecipeConfig, RecipeRates};

use crate::args::SpeedrunArgs;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::model_file::ModelFile;
use crate::output::round;
use crate::plot::{self, Series};
use crate::progress;

/// Images per forward pass when evaluating: larger products and fewer passes made the
/// timed TTA about 3.5 s faster than 500 (of ~40 s), at the training's peak memory
/// (2.1 GB); 5000 gained 1 s more for 3.5 GB.
const EVAL_BATCH: usize = 2000;

/// The training and test images, normalised, as (N, C, H, W).
struct Data {
    x_train: Array4<f32>,
    y_train: Array1<usize>,
    x_test: Array4<f32>,
    y_test: Array1<usize>,
    sp: cifar_data::Splits<f32>,
    kind: cifar_data::DatasetKind,
}

/// One run's outcome.
struct RunResult {
    seed: u64,
    tta_accuracy: f64,
    accuracy: f64,
    timed_seconds: f64,
    eval_seconds: f64,
    train_loss: Vec<f64>,
    train_acc: Vec<f64>,
    test_acc: Vec<f64>,
    net: Airbench94<f32>,
}

/// `cs231n speedrun`.
pub fn run(ctx: &mut Ctx, args: &SpeedrunArgs) -> Result<()> {
    if !(args.epochs > 0.0 && args.epochs <= 1000.0) || args.batch == 0 {
        return Err(CliError::Usage(format!(
            "--epochs {} must be in (0, 1000] and --batch {} positive",
            args.epochs, args.batch
        )));
    }
    if !(0.0..=1.0).contains(&args.label_smoothing) {
        return Err(CliError::Usage(format!(
            "--label-smoothing {} must be in [0, 1]",
            args.label_smoothing
        )));
    }
    let started = Instant::now();
    let data = load(ctx, args)?;
    let data_seconds = started.elapsed().as_secs_f64();
    let (c, h, w) = data.sp.transform.image_shape;
    ctx.report.say(format!(
        "speedrun: airbench94 on {} train / {} test images ({c}×{h}×{w}), {} epoch(s) of batch {}, TTA level {}, {} run(s); data ready in {data_seconds:.1} s",
        data.y_train.len(),
        data.y_test.len(),
        args.epochs,
        args.batch,
        args.tta,
        args.runs
    ));
    let mut results = Vec::new();
    for r in 0..u64::from(args.runs) {
        results.push(train_once(ctx, args, &data, ctx.seed().wrapping_add(r))?);
    }
    summarise(ctx, args, &data, &results, data_seconds)?;
    Ok(())
}

/// Loads the dataset, standardises each channel (after subtracting the mean image,
/// as the other nets' files record it for `predict`), and shapes images.
fn load(ctx: &mut Ctx, args: &SpeedrunArgs) -> Result<Data> {
    let loaded = ctx.load()?;
    let prep = Preprocess {
        sizes: SplitSizes {
            num_training: args.num_train.of(loaded.train.len()),
            num_validation: 0,
            num_test: args.num_test.of(loaded.test.len()),
            num_dev: 0,
        },
        normalize_channels: true,
        seed: ctx.seed(),
        ..Preprocess::default()
    };
    let spin = progress::spinner("preprocessing", ctx.quiet());
    let mut sp = preprocess::<f32>(&loaded.train, &loaded.test, &prep)?;
    spin.finish_and_clear();
    let kind = loaded.source.kind;
    drop(loaded);
    // The rows are not needed once shaped as images: free them.
    let rows = std::mem::take(&mut sp.x_train);
    let x_train = sp.to_images(&rows)?;
    drop(rows);
    let rows = std::mem::take(&mut sp.x_test);
    let x_test = sp.to_images(&rows)?;
    drop(rows);
    Ok(Data {
        x_train,
        y_train: sp.y_train.clone(),
        x_test,
        y_test: sp.y_test.clone(),
        kind,
        sp,
    })
}

/// One seeded run: train with a bar per epoch, evaluate after each epoch (untimed),
/// then the final sync and the TTA evaluation (timed).
fn train_once(ctx: &Ctx, args: &SpeedrunArgs, data: &Data, seed: u64) -> Result<RunResult> {
    let (c, h, w) = data.sp.transform.image_shape;
    let net = Airbench94::<f32>::new(Airbench94Config {
        input_shape: vec![c, h, w],
        num_classes: data.sp.classes.len(),
        label_smoothing: args.label_smoothing,
        seed,
        whitening: !args.no_whitening,
        ..Airbench94Config::default()
    })
    .map_err(|e| CliError::library("speedrun", e))?;
    let config = RecipeConfig {
        epochs: args.epochs,
        batch_size: args.batch,
        translate: args.translate,
        flip: !args.no_flip,
        lookahead: !args.no_lookahead,
        schedule: !args.no_schedule,
        rates: RecipeRates {
            momentum: args.momentum,
            ..RecipeRates::default()
        },
        seed,
        ..RecipeConfig::default()
    };
    let mut timed = 0.0;
    let mut eval_seconds = 0.0;
    let t = Instant::now();
    let mut recipe = Recipe::new(net, data.x_train.view(), data.y_train.view(), config)
        .map_err(|e| CliError::library("speedrun", e))?;
    timed += t.elapsed().as_secs_f64();
    let (epochs, total) = (recipe.num_epochs(), recipe.total_steps());
    let (mut train_loss, mut train_acc, mut test_acc) = (Vec::new(), Vec::new(), Vec::new());
    for epoch in 1..=epochs {
        let steps_left = total - recipe.steps_done();
        let steps = steps_left.min(data.y_train.len() / args.batch);
        let bar = progress::bar(
            (steps * args.batch) as u64,
            &format!("epoch {epoch}/{epochs}"),
            "images",
            ctx.quiet(),
        );
        let t = Instant::now();
        let run_start = timed;
        let stats = recipe.run_epoch(|step, total| {
            bar.inc(args.batch as u64);
            let spent = run_start + t.elapsed().as_secs_f64();
            let eta = spent / step as f64 * (total - step) as f64;
            bar.set_message(format!("run eta {eta:.0} s"));
        });
        bar.finish_and_clear();
        let seconds = t.elapsed().as_secs_f64();
        timed += seconds;
        let t = Instant::now();
        let pred = recipe
            .net_mut()
            .predict(&data.x_test.view().into_dyn(), EVAL_BATCH);
        let acc = nn::accuracy(&pred, &data.y_test.view());
        eval_seconds += t.elapsed().as_secs_f64();
        ctx.report.say(format!(
            "epoch {epoch}/{epochs}: train loss {:.4}, train acc {:.4}, test acc {acc:.4} (no TTA), {seconds:.1} s ({})",
            stats.loss,
            stats.accuracy,
            progress::rate_text(stats.images as f64 / seconds.max(1e-9), "img")
        ));
        train_loss.push(stats.loss);
        train_acc.push(stats.accuracy);
        test_acc.push(acc);
    }
    let t = Instant::now();
    let mut net = recipe.finish();
    let scores = nn::tta_scores(
        &mut net,
        &data.x_test.view(),
        usize::from(args.tta),
        EVAL_BATCH,
    );
    let pred: Vec<usize> = scores
        .rows()
        .into_iter()
        .map(|r| nn::argmax(r.iter().copied()))
        .collect();
    let tta_accuracy = nn::accuracy(&pred, &data.y_test.view());
    timed += t.elapsed().as_secs_f64();
    let t = Instant::now();
    let plain = net.predict(&data.x_test.view().into_dyn(), EVAL_BATCH);
    let accuracy = nn::accuracy(&plain, &data.y_test.view());
    eval_seconds += t.elapsed().as_secs_f64();
    ctx.report.say(format!(
        "seed {seed}: test accuracy {tta_accuracy:.4} with TTA level {} ({accuracy:.4} without) on {} images; timed {timed:.1} s (whitening + training + TTA), per-epoch evaluation {eval_seconds:.1} s",
        args.tta,
        data.y_test.len()
    ));
    Ok(RunResult {
        seed,
        tta_accuracy,
        accuracy,
        timed_seconds: timed,
        eval_seconds,
        train_loss,
        train_acc,
        test_acc,
        net,
    })
}

/// Mean and (sample) standard deviation.
fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The summary line, the plots and model file of the last run, and the JSON summary.
fn summarise(
    ctx: &mut Ctx,
    args: &SpeedrunArgs,
    data: &Data,
    results: &[RunResult],
    data_seconds: f64,
) -> Result<()> {
    let tta: Vec<f64> = results.iter().map(|r| r.tta_accuracy).collect();
    let plain: Vec<f64> = results.iter().map(|r| r.accuracy).collect();
    let secs: Vec<f64> = results.iter().map(|r| r.timed_seconds).collect();
    let ((m, s), (pm, ps), (tm, ts)) = (mean_std(&tta), mean_std(&plain), mean_std(&secs));
    ctx.report.say(format!(
        "speedrun over {} run(s): TTA test accuracy {m:.4} ± {s:.4} (without TTA {pm:.4} ± {ps:.4}); timed {tm:.1} ± {ts:.1} s",
        results.len()
    ));
    let last = results.last().expect("at least one run");
    let name = data.kind.name();
    let path = ctx.out_file("speedrun_loss.png")?;
    plot::line_plot(
        &path,
        &format!("speedrun training loss ({name})"),
        "Epoch",
        "Loss",
        &[Series::indexed("train loss", &last.train_loss, true)],
    )?;
    ctx.wrote("loss curve", &path);
    let path = ctx.out_file("speedrun_accuracy.png")?;
    plot::line_plot(
        &path,
        &format!("speedrun accuracy ({name})"),
        "Epoch",
        "Accuracy",
        &[
            Series::indexed("train (augmented)", &last.train_acc, true),
            Series::indexed("test (no TTA)", &last.test_acc, true),
        ],
    )?;
    ctx.wrote("accuracy history", &path);
    let file = ModelFile {
        kind: "cnn".into(),
        config: last.net.config(),
        classes: data.sp.classes.clone(),
        dataset: name.into(),
        prep: data.sp.transform.clone(),
        params: last.net.params().clone(),
        buffers: last.net.buffers().cloned().unwrap_or_default(),
    };
    let path = ctx.out_file("speedrun.safetensors")?;
    file.save(&path)?;
    ctx.wrote("model", &path);

    let r = &mut ctx.report;
    r.set("model", last.net.config());
    r.set("epochs", args.epochs);
    r.set("batch_size", args.batch);
    r.set("tta_level", args.tta);
    r.set("label_smoothing", args.label_smoothing);
    r.set("translate", args.translate);
    r.set("flip", !args.no_flip);
    r.set("lookahead", !args.no_lookahead);
    r.set("momentum", args.momentum);
    r.set("schedule", !args.no_schedule);
    r.set("whitening", !args.no_whitening);
    r.set("num_train", data.y_train.len());
    r.set("num_test", data.y_test.len());
    r.set("runs", results.len());
    r.set("seeds", results.iter().map(|r| r.seed).collect::<Vec<_>>());
    r.set("tta_accuracy", tta.clone());
    r.set("accuracy", plain.clone());
    r.set("tta_accuracy_mean", round(m, 6));
    r.set("tta_accuracy_std", round(s, 6));
    r.set("accuracy_mean", round(pm, 6));
    r.set(
        "timed_seconds",
        secs.iter().map(|&s| round(s, 3)).collect::<Vec<_>>(),
    );
    r.set(
        "eval_seconds",
        results
            .iter()
            .map(|r| round(r.eval_seconds, 3))
            .collect::<Vec<_>>(),
    );
    r.set("data_seconds", round(data_seconds, 3));
    r.set("train_loss_history", last.train_loss.clone());
    r.set("train_acc_history", last.train_acc.clone());
    r.set("test_acc_history", last.test_acc.clone());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::mean_std;

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[0.5]), (0.5, 0.0));
        let (m, s) = mean_std(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-15 && (s - 1.0).abs() < 1e-15);
    }
}
