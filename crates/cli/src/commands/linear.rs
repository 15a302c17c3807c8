//! `cs231n svm` / `cs231n softmax`: lecture 2-3's linear classifiers on mean-centred
//! pixels with the bias trick, trained by minibatch SGD, optionally after a grid search
//! over learning rate x regularisation on the validation split.

use std::collections::BTreeMap;
use std::time::Instant;

use cifar_data::Preprocess;
use linear::{LinearClassifier, Loss, TrainOptions};
use ndarray::{Array2, s};
use serde_json::json;

use crate::args::LinearArgs;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::imageio::weights_to_rgb;
use crate::model_file::ModelFile;
use crate::output::{percent, round, sci, table};
use crate::plot::ImageGrid;
use crate::progress;

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// Learning rate.
    pub lr: f64,
    /// Regularisation strength.
    pub reg: f64,
    /// SGD iterations.
    pub iters: usize,
    /// Minibatch size.
    pub batch_size: usize,
}

/// Trains (or searches), evaluates and writes the plots and the model.
pub fn run(ctx: &mut Ctx, args: &LinearArgs, loss: Loss) -> Result<()> {
    let (sp, kind) = ctx.load_splits(
        &args.splits,
        Preprocess {
            bias: true,
            ..Preprocess::default()
        },
    )?;
    // The linear crate's measured defaults for this dataset (the course's on CIFAR-10).
    let d = linear::defaults_for(kind.name(), loss)
        .map_err(|e| CliError::library("linear defaults", e))?;
    let mut hyper = Hyper {
        lr: args.lr.unwrap_or(d.learning_rate),
        reg: args.reg.unwrap_or(d.reg),
        iters: args.iters.unwrap_or(d.num_iters),
        batch_size: args.batch_size.unwrap_or(d.batch_size),
    };
    let opts = TrainOptions {
        seed: ctx.seed(),
        ..d.options
    };
    let num_classes = sp.classes.len();
    let quiet = ctx.quiet();
    let name = loss.name();

    let (clf, history, train_seconds) = if args.search {
        // The defaults' grid; an axis given on the command line is fixed to that value.
        let lrs = args
            .lr
            .map_or(d.search_learning_rates.to_vec(), |lr| vec![lr]);
        let regs = args.reg.map_or(d.search_regs.to_vec(), |reg| vec![reg]);
        // The search's own budget (longer, with lr decay on CIFAR-10); only what the
        // user gave on the command line overrides it.
        let base = d.search_config();
        let config = linear::SearchConfig {
            num_iters: args.iters.unwrap_or(base.num_iters),
            batch_size: args.batch_size.unwrap_or(base.batch_size),
            options: TrainOptions {
                seed: ctx.seed(),
                ..base.options
            },
            init_seed: ctx.seed(),
        };
        hyper.iters = config.num_iters;
        hyper.batch_size = config.batch_size;
        ctx.report.say(format!(
            "{name} search: {} learning rates x {} regularisation strengths, {} iterations of {} each, on {} train / {} val rows of {} features",
            lrs.len(),
            regs.len(),
            hyper.iters,
            hyper.batch_size,
            sp.x_train.nrows(),
            sp.x_val.nrows(),
            sp.x_train.ncols()
        ));
        let pb = progress::bar((lrs.len() * regs.len()) as u64, "search", "trials", quiet);
        let started = Instant::now();
        // Trials run one after another: each one's time is the gap since the last.
        let mut trial_seconds = Vec::with_capacity(lrs.len() * regs.len());
        let mut last = started;
        let out = linear::grid_search(
            loss,
            &sp.x_train.view(),
            &sp.y_train.view(),
            &sp.x_val.view(),
            &sp.y_val.view(),
            &lrs,
            &regs,
            &config,
            |i, t| {
                let now = Instant::now();
                trial_seconds.push((now - last).as_secs_f64());
                last = now;
                pb.set_position(i as u64 + 1);
                pb.set_message(format!(
                    "lr {} reg {}: val {:.3}",
                    sci(t.learning_rate),
                    sci(t.reg),
                    t.val_accuracy
                ));
            },
        )
        .map_err(|e| CliError::library("linear search", e))?;
        let search_seconds = started.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let rows: Vec<Vec<String>> = out
            .trials
            .iter()
            .enumerate()
            .map(|(i, t)| {
                vec![
                    sci(t.learning_rate),
                    sci(t.reg),
                    format!("{:.4}", t.train_accuracy),
                    format!("{:.4}", t.val_accuracy),
                    format!("{:.2}", trial_seconds[i]),
                    if i == out.best_index {
                        "best".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        ctx.report.say(table(
            &["lr", "reg", "train acc", "val acc", "seconds", ""],
            &rows,
        ));
        ctx.report.say(format!(
            "search: {} runs in {search_seconds:.2} s; the best run below is lr {}, reg {}",
            out.trials.len(),
            sci(out.best_trial().learning_rate),
            sci(out.best_trial().reg)
        ));
        let best = out.best_trial();
        hyper.lr = best.learning_rate;
        hyper.reg = best.reg;
        ctx.report.set(
            "search",
            out.trials
                .iter()
                .zip(&trial_seconds)
                .map(|(t, &seconds)| {
                    json!({"lr": t.learning_rate, "reg": t.reg,
                           "train_accuracy": t.train_accuracy, "val_accuracy": t.val_accuracy,
                           "final_loss": t.final_loss, "seconds": round(seconds, 4)})
                })
                .collect::<Vec<_>>(),
        );
        ctx.report.set("search_seconds", round(search_seconds, 4));
        let best_seconds = trial_seconds[out.best_index];
        (out.best, out.best_loss_history, best_seconds)
    } else {
        ctx.report.say(format!(
            "{name}: {} train / {} val / {} test rows of {} features; lr {}, reg {}, {} iterations of {}",
            sp.x_train.nrows(),
            sp.x_val.nrows(),
            sp.x_test.nrows(),
            sp.x_train.ncols(),
            sci(hyper.lr),
            sci(hyper.reg),
            hyper.iters,
            hyper.batch_size
        ));
        let mut rng = numeric::rng(ctx.seed());
        let mut clf = LinearClassifier::<f32>::new(loss, sp.x_train.ncols(), num_classes, &mut rng);
        let pb = progress::bar(hyper.iters as u64, name, "iters", quiet);
        let started = Instant::now();
        let history = clf
            .train_with(
                &sp.x_train.view(),
                &sp.y_train.view(),
                hyper.lr as f32,
                hyper.reg as f32,
                hyper.iters,
                hyper.batch_size,
                &opts,
                |it, l| {
                    pb.set_position(it as u64 + 1);
                    if it % 10 == 0 {
                        pb.set_message(format!("loss {l:.4}"));
                    }
                },
            )
            .map_err(|e| CliError::library("linear training", e))?;
        let seconds = started.elapsed().as_secs_f64();
        pb.finish_and_clear();
        (clf, history, seconds)
    };
    hyper.iters = history.len();
    let history: Vec<f64> = history.iter().map(|&l| l as f64).collect();
    let final_loss = history.last().copied().unwrap_or(f64::NAN);
    if !final_loss.is_finite() {
        return Err(CliError::Usage(format!(
            "the loss diverged at iteration {} (loss {final_loss}); lower --lr",
            history.len()
        )));
    }
    let acc = |x: &Array2<f32>, y: &ndarray::Array1<usize>| {
        clf.accuracy(&x.view(), &y.view())
            .map_err(|e| CliError::library("linear evaluation", e))
    };
    let train_accuracy = acc(&sp.x_train, &sp.y_train)?;
    let val_accuracy = acc(&sp.x_val, &sp.y_val)?;
    let test_accuracy = acc(&sp.x_test, &sp.y_test)?;
    ctx.report.say(format!(
        "loss {:.4} -> {final_loss:.4} in {train_seconds:.2} s; accuracy train {} / val {} / test {}",
        history.first().copied().unwrap_or(f64::NAN),
        percent(train_accuracy),
        percent(val_accuracy),
        percent(test_accuracy)
    ));

    // Outputs: loss curve, class templates, the model.
    super::write_loss_curve(
        ctx,
        name,
        kind.name(),
        ("Iteration number", "Loss value"),
        &history,
    )?;
    let path = ctx.out_file(&format!("{name}_templates.png"))?;
    let title = format!("Linear {name}: learned class templates ({})", kind.title());
    templates(&clf.W, sp.transform.image_shape, &sp.classes, &title).save(&path)?;
    ctx.wrote("class templates", &path);
    let model = ModelFile {
        kind: "linear".into(),
        config: json!({"loss": name}),
        classes: sp.classes.clone(),
        dataset: kind.name().into(),
        prep: sp.transform.clone(),
        params: BTreeMap::from([("W".to_string(), clf.W.clone().into_dyn())]),
        buffers: BTreeMap::new(),
    };
    let path = ctx.out_file(&format!("{name}.safetensors"))?;
    model.save(&path)?;
    ctx.wrote("model", &path);

    let r = &mut ctx.report;
    r.set("loss", name);
    r.set("lr", hyper.lr);
    r.set("reg", hyper.reg);
    r.set("iters", hyper.iters);
    r.set("batch_size", hyper.batch_size);
    r.set("num_train", sp.x_train.nrows());
    r.set("num_val", sp.x_val.nrows());
    r.set("num_test", sp.x_test.nrows());
    r.set("final_loss", final_loss);
    r.set("train_accuracy", train_accuracy);
    r.set("val_accuracy", val_accuracy);
    r.set("test_accuracy", test_accuracy);
    r.set("train_seconds", round(train_seconds, 4));
    Ok(())
}

/// The notebook's weight picture: each class's column of W (bias row dropped) as an
/// image, min-max scaled per class, under `title` (which model, which data).
pub fn templates(
    w: &Array2<f32>,
    (c, h, wd): (usize, usize, usize),
    classes: &[String],
    title: &str,
) -> ImageGrid {
    let d = c * h * wd;
    let images = (0..w.ncols())
        .map(|j| {
            let col = w.slice(s![..d, j]).to_owned();
            let img = col.into_shape_with_order((c, h, wd)).expect("D = C*H*W");
            Some(weights_to_rgb(img.view()))
        })
        .collect();
    ImageGrid {
        cells: vec![images],
        column_titles: classes.to_vec(),
        title: title.to_owned(),
        scale: if h <= 32 { 3 } else { 1 },
    }
}
