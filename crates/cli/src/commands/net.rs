//! `cs231n nn` and `cs231n cnn`: networks trained by `nn`'s Solver, with a progress
//! bar per epoch, plots of the loss and accuracies, a picture of the first layer, a
//! model file for `predict` and a checkpoint that `--resume` continues from.

use std::time::Instant;

use cifar_data::Preprocess;
use indicatif::ProgressBar;
use ndarray::{ArrayD, Axis, Ix2, Ix4};
use nn::Checkpoint;
use nn::Model;
use nn::Normalization;
use nn::UpdateRule;
use nn::{Augment, SequentialNet, SequentialNetConfig, ThreeLayerConvNet, ThreeLayerConvNetConfig};
use nn::{FcConfig, FullyConnectedNet, TwoLayerConfig, TwoLayerNet};
use nn::{Progress, Solver, SolverConfig, TrainData};

use crate::args::{CnnArgs, NnArgs, Norm, TrainArgs, Update};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::imageio::weights_to_rgb;
use crate::model_file::ModelFile;
use crate::output::{percent, round};
use crate::plot::{self, ImageGrid, Series};
use crate::progress;

/// Which network family, with its own options.
enum Net<'a> {
    Fc(&'a NnArgs),
    Conv(&'a CnnArgs),
}

impl Net<'_> {
    /// File prefix and model-file kind: `nn` or `cnn`.
    fn prefix(&self) -> &'static str {
        match self {
            Net::Fc(_) => "nn",
            Net::Conv(_) => "cnn",
        }
    }

    fn train_args(&self) -> &TrainArgs {
        match self {
            Net::Fc(a) => &a.train,
            Net::Conv(a) => &a.train,
        }
    }
}

/// Training settings not given on the command line.
#[derive(Debug, Clone, Copy)]
struct Defaults {
    lr: f64,
    lr_decay: f64,
    reg: f64,
    epochs: usize,
    batch_size: usize,
    /// Standardise each channel after centring (`Preprocess::normalize_channels`).
    normalize_channels: bool,
}

/// Fully connected nets: `nn::defaults` (measured by the nn crate; He initialisation,
/// standardised channels, Adam 1e-3), with the course's learning rate for another rule.
/// Convnets: the course's ThreeLayerConvNet run (Adam 1e-3, reg 1e-3, one epoch of
/// batch 50) on standardised channels, which measured on CIFAR-10 lifts its test
/// accuracy after one epoch from 0.42 (centred pixels only) to 0.53.
fn defaults(net: &Net<'_>, update: UpdateRule) -> Defaults {
    match net {
        Net::Fc(_) => Defaults {
            lr: if update == nn::defaults::UPDATE_RULE {
                nn::defaults::LEARNING_RATE
            } else {
                nn::OptimConfig::default_for(update).learning_rate
            },
            lr_decay: nn::defaults::LR_DECAY,
            reg: nn::defaults::REG,
            epochs: nn::defaults::EPOCHS,
            batch_size: nn::defaults::BATCH_SIZE,
            normalize_channels: nn::defaults::NORMALIZE_CHANNELS,
        },
        Net::Conv(_) => Defaults {
            lr: 1e-3,
            lr_decay: nn::defaults::LR_DECAY,
            reg: 1e-3,
            epochs: 1,
            batch_size: 50,
            normalize_channels: true,
        },
    }
}

fn rule(u: Update) -> UpdateRule {
    match u {
        Update::Sgd => UpdateRule::Sgd,
        Update::Momentum => UpdateRule::SgdMomentum,
        Update::Rmsprop => UpdateRule::RmsProp,
        Update::Adam => UpdateRule::Adam,
    }
}

fn lib(what: &'static str) -> impl Fn(String) -> CliError {
    move |e| CliError::library(what, e)
}

/// Builds the network the options describe for inputs of `input_shape`.
fn build(
    net: &Net<'_>,
    input_shape: (usize, usize, usize),
    num_classes: usize,
    reg: f64,
    seed: u64,
) -> Result<Box<dyn Model<f32>>> {
    let (c, h, w) = input_shape;
    let ws = net.train_args().weight_scale;
    match net {
        Net::Fc(a) => {
            if a.hidden.is_empty() || a.hidden.contains(&0) {
                return Err(CliError::Usage(
                    "--hidden needs positive sizes, e.g. 100 or 100,100".into(),
                ));
            }
            let keep = a.dropout.unwrap_or(1.0);
            if a.hidden.len() == 1 && a.norm == Norm::None && keep == 1.0 {
                // The course's TwoLayerNet (files say so), He-initialised unless told.
                let he = nn::defaults::two_layer(c * h * w, num_classes);
                let cfg = TwoLayerConfig {
                    hidden_dim: a.hidden[0],
                    weight_scale: ws.unwrap_or(he.weight_scale),
                    reg,
                    seed,
                    ..he
                };
                return Ok(Box::new(
                    TwoLayerNet::<f32>::try_new(cfg).map_err(|e| lib("nn")(e.to_string()))?,
                ));
            }
            let cfg = FcConfig {
                input_dim: c * h * w,
                hidden_dims: a.hidden.clone(),
                num_classes,
                dropout_keep: keep,
                normalization: match a.norm {
                    Norm::None => Normalization::None,
                    Norm::Batch => Normalization::BatchNorm,
                    Norm::Layer => Normalization::LayerNorm,
                },
                reg,
                // He initialisation unless a scale is given: deep relu nets need it.
                weight_scale: ws,
                seed,
            };
            Ok(Box::new(
                FullyConnectedNet::<f32>::try_new(cfg).map_err(|e| lib("nn")(e.to_string()))?,
            ))
        }
        Net::Conv(a) => match &a.arch {
            None => {
                let cfg = ThreeLayerConvNetConfig {
                    input_dim: [c, h, w],
                    num_filters: a.num_filters,
                    filter_size: a.filter_size,
                    hidden_dim: a.hidden,
                    num_classes,
                    weight_scale: ws.unwrap_or(1e-3),
                    reg,
                    seed,
                };
                Ok(Box::new(
                    ThreeLayerConvNet::<f32>::new(cfg).map_err(|e| lib("cnn")(e.to_string()))?,
                ))
            }
            Some(arch) => {
                let cfg = SequentialNetConfig {
                    reg,
                    weight_scale: ws,
                    seed,
                    ..SequentialNetConfig::new(arch, &[c, h, w])
                };
                let model =
                    SequentialNet::<f32>::new(cfg).map_err(|e| lib("cnn")(e.to_string()))?;
                let probe = ArrayD::<f32>::zeros(vec![1, c, h, w]);
                let mut m: Box<dyn Model<f32>> = Box::new(model);
                let classes = m.scores(&probe.view()).ncols();
                if classes != num_classes {
                    return Err(CliError::Usage(format!(
                        "--arch ends with fc{classes} but the dataset has {num_classes} classes: end it with fc{num_classes}"
                    )));
                }
                Ok(m)
            }
        },
    }
}

/// `cs231n nn`.
pub fn run_nn(ctx: &mut Ctx, args: &NnArgs) -> Result<()> {
    if let Some(p) = args.dropout
        && !(p > 0.0 && p <= 1.0)
    {
        return Err(CliError::Usage(format!(
            "--dropout {p}: the keep probability must be in (0, 1]"
        )));
    }
    if args.compare_updates {
        return compare_updates(ctx, args);
    }
    run(ctx, Net::Fc(args))
}

/// `cs231n cnn`.
pub fn run_cnn(ctx: &mut Ctx, args: &CnnArgs) -> Result<()> {
    run(ctx, Net::Conv(args))
}

/// The preprocessed splits, as the network's input (rows, or images for a convnet).
struct Prepared {
    sp: cifar_data::Splits<f32>,
    x_train: ArrayD<f32>,
    x_val: ArrayD<f32>,
    x_test: ArrayD<f32>,
    kind: cifar_data::DatasetKind,
}

/// Loads the dataset, makes the course's splits and shapes them as the net's input.
fn prepare(ctx: &mut Ctx, net: &Net<'_>, d: &Defaults) -> Result<Prepared> {
    let (sp, kind) = ctx.load_splits(
        &net.train_args().splits,
        Preprocess {
            normalize_channels: d.normalize_channels,
            ..Preprocess::default()
        },
    )?;
    let images = matches!(net, Net::Conv(_));
    let to_input = |x: &ndarray::Array2<f32>| -> Result<ArrayD<f32>> {
        Ok(if images {
            sp.to_images(x)?.into_dyn()
        } else {
            x.clone().into_dyn()
        })
    };
    let (x_train, x_val, x_test) = (
        to_input(&sp.x_train)?,
        to_input(&sp.x_val)?,
        to_input(&sp.x_test)?,
    );
    Ok(Prepared {
        sp,
        x_train,
        x_val,
        x_test,
        kind,
    })
}

fn run(ctx: &mut Ctx, net: Net<'_>) -> Result<()> {
    let t = net.train_args().clone();
    let prefix = net.prefix();
    let d = defaults(&net, rule(t.update));
    let Prepared {
        sp,
        x_train,
        x_val,
        x_test,
        kind,
    } = prepare(ctx, &net, &d)?;
    let images = matches!(net, Net::Conv(_));
    let num_classes = sp.classes.len();

    let lr = t.lr.unwrap_or(d.lr);
    let lr_decay = t.lr_decay.unwrap_or(d.lr_decay);
    let reg = t.reg.unwrap_or(d.reg);
    let epochs = t.epochs.unwrap_or(d.epochs);
    let batch_size = t.batch_size.unwrap_or(d.batch_size);
    let out_dir = ctx.out_dir()?;
    let checkpoint = out_dir.join(format!("{prefix}_checkpoint.safetensors"));
    let config = SolverConfig {
        lr_decay,
        batch_size,
        num_epochs: epochs,
        checkpoint: Some(checkpoint.clone()),
        seed: ctx.seed(),
        ..SolverConfig::with_rule(rule(t.update), lr)
    };
    let train_data = TrainData {
        x_train: x_train.view(),
        y_train: sp.y_train.view(),
        x_val: x_val.view(),
        y_val: sp.y_val.view(),
    };
    let solver_err = |e: nn::Error| CliError::library("training", e);
    let mut solver = match &t.resume {
        Some(path) => {
            // The architecture comes from the checkpoint, so a resumed run cannot
            // silently change shape.
            let ckpt = Checkpoint::<f32>::load(path).map_err(|e| CliError::library("resume", e))?;
            let model = nn::rebuild_model::<f32>(&ckpt.model, ckpt.params, ckpt.buffers, path)
                .map_err(|e| CliError::library("resume", e))?;
            let s = Solver::resume(model, train_data, config, path).map_err(solver_err)?;
            ctx.report.say(format!(
                "resuming {} from {} after epoch {} (best val accuracy {:.4})",
                s.model.config()["kind"].as_str().unwrap_or("model"),
                path.display(),
                s.epoch,
                s.history.best_val_acc
            ));
            s
        }
        None => {
            let model = build(&net, sp.transform.image_shape, num_classes, reg, ctx.seed())?;
            Solver::new(model, train_data, config).map_err(solver_err)?
        }
    };
    if let Net::Conv(a) = &net
        && a.augment
    {
        solver.set_batch_transform(
            Augment {
                crop_pad: 4,
                flip: true,
            }
            .into_transform(),
        );
    }
    let model_cfg = solver.model.config();
    let num_params: usize = solver.model.params().values().map(|p| p.len()).sum();
    ctx.report.say(format!(
        "{prefix}: {} ({num_params} parameters) on {} train / {} val / {} test images; {} lr {lr:e} (decay {}), reg {reg:e}, {epochs} epoch(s) of batch {batch_size}",
        describe(&model_cfg),
        sp.y_train.len(),
        sp.y_val.len(),
        sp.y_test.len(),
        t.update_name(),
        lr_decay
    ));

    // Training, with one progress bar per epoch (images, loss, images/s).
    let quiet = ctx.quiet();
    let mut bar: Option<ProgressBar> = None;
    let mut lines: Vec<String> = Vec::new();
    let started = Instant::now();
    let start_epoch = solver.epoch;
    let result = solver.train_with(|p| match p {
        Progress::Iteration {
            epoch,
            iteration_in_epoch,
            iterations_per_epoch,
            loss,
            batch_size,
            report,
            ..
        } => {
            let pb = bar.get_or_insert_with(|| {
                let pb = progress::bar(
                    (*iterations_per_epoch * *batch_size) as u64,
                    &format!("epoch {epoch}/{epochs}"),
                    "images",
                    quiet,
                );
                pb.reset_elapsed();
                pb
            });
            pb.set_position((*iteration_in_epoch * *batch_size) as u64);
            if *report {
                pb.set_message(format!("loss {loss:.4}"));
            }
        }
        Progress::Epoch {
            epoch,
            num_epochs,
            train_acc,
            val_acc,
            learning_rate,
            improved,
            seconds,
        } => {
            let images = bar.as_ref().and_then(|b| b.length()).unwrap_or(0);
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            let line = format!(
                "epoch {epoch}/{num_epochs}: train acc {train_acc:.4}, val acc {val_acc:.4}{}, lr {learning_rate:.3e}, {seconds:.1} s ({:.0} images/s)",
                if *improved { " (best)" } else { "" },
                images as f64 / seconds.max(1e-9)
            );
            lines.push(line);
        }
    });
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    for l in &lines {
        ctx.report.say(l);
    }
    let history = result.map_err(solver_err)?.clone();
    let train_seconds = started.elapsed().as_secs_f64();
    let epochs_run = solver.epoch - start_epoch;
    let images_per_second = (epochs_run * sp.y_train.len()) as f64 / train_seconds.max(1e-9);

    // The Solver leaves the best weights (by validation accuracy) in the model.
    let mut model = solver.model;
    let pred = model.predict(&x_test.view(), 1000);
    let test_accuracy = nn::accuracy(&pred, &sp.y_test.view());
    let val_accuracy = history.best_val_acc;
    let train_accuracy = history
        .train_acc
        .get(history.best_epoch)
        .copied()
        .unwrap_or(f64::NAN);
    ctx.report.say(format!(
        "best epoch {}: val {}; test accuracy {:.4} ({}) ; trained in {train_seconds:.1} s",
        history.best_epoch,
        percent(val_accuracy),
        test_accuracy,
        percent(test_accuracy)
    ));

    // Plots.
    super::write_loss_curve(
        ctx,
        prefix,
        kind.name(),
        ("Iteration", "Loss"),
        &history.loss,
    )?;
    let path = ctx.out_file(&format!("{prefix}_accuracy.png"))?;
    plot::line_plot(
        &path,
        &format!("{prefix} classification accuracy ({})", kind.name()),
        "Epoch",
        "Accuracy",
        &[
            Series::indexed("train", &history.train_acc, false),
            Series::indexed("val", &history.val_acc, false),
        ],
    )?;
    ctx.wrote("accuracy history", &path);
    if let Some(grid) = first_layer(model.params(), sp.transform.image_shape) {
        let name = if images { "filters" } else { "weights" };
        let path = ctx.out_file(&format!("{prefix}_{name}.png"))?;
        grid.save(&path)?;
        ctx.wrote(&format!("first-layer {name}"), &path);
    }

    // The model for `predict` (the checkpoint is written by the Solver every epoch).
    let file = ModelFile {
        kind: prefix.into(),
        config: model.config(),
        classes: sp.classes.clone(),
        dataset: kind.name().into(),
        prep: sp.transform.clone(),
        params: model.params().clone(),
        buffers: model.buffers().cloned().unwrap_or_default(),
    };
    let path = ctx.out_file(&format!("{prefix}.safetensors"))?;
    file.save(&path)?;
    ctx.wrote("model", &path);
    if checkpoint.is_file() {
        ctx.wrote("checkpoint (for --resume)", &checkpoint);
    }

    let r = &mut ctx.report;
    r.set("model", model.config());
    r.set("num_params", num_params);
    if let Net::Fc(a) = &net {
        r.set("hidden", a.hidden.clone());
        r.set("norm", format!("{:?}", a.norm).to_lowercase());
        r.set("dropout", a.dropout);
    }
    if let Net::Conv(a) = &net {
        r.set("arch", a.arch.clone());
        r.set("augment", a.augment);
    }
    r.set("update", t.update_name());
    r.set("lr", lr);
    r.set("lr_decay", lr_decay);
    r.set("normalize_channels", d.normalize_channels);
    r.set("reg", reg);
    r.set("batch_size", batch_size);
    r.set("epochs", solver.epoch);
    r.set("epochs_this_run", epochs_run);
    r.set("best_epoch", history.best_epoch);
    r.set("num_train", sp.y_train.len());
    r.set("num_val", sp.y_val.len());
    r.set("num_test", sp.y_test.len());
    r.set("train_accuracy", train_accuracy);
    r.set("val_accuracy", val_accuracy);
    r.set("test_accuracy", test_accuracy);
    r.set("train_history", history.train_acc.clone());
    r.set("val_history", history.val_acc.clone());
    r.set("final_loss", history.loss.last().copied());
    r.set("train_seconds", round(train_seconds, 4));
    r.set("images_per_second", round(images_per_second, 1));
    Ok(())
}

/// The learning rate the course's notebook gives each rule when it compares them
/// (`FullyConnectedNets.ipynb`): the rules' defaults (`OptimConfig::default_for`: 1e-2,
/// Adam 1e-3), except RMSProp, which the notebook runs at 1e-4.
fn notebook_lr(rule: UpdateRule) -> f64 {
    match rule {
        UpdateRule::RmsProp => 1e-4,
        r => nn::OptimConfig::default_for(r).learning_rate,
    }
}

/// One rule's run in `--compare-updates`.
struct RuleRun {
    rule: UpdateRule,
    lr: f64,
    history: nn::History,
    seconds: f64,
}

/// `cs231n nn --compare-updates`: the notebook's comparison of the update rules, the
/// same net (seed, initialisation, minibatch order, data) trained once per rule, the
/// losses and accuracies drawn on shared axes in one figure.
fn compare_updates(ctx: &mut Ctx, args: &NnArgs) -> Result<()> {
    let net = Net::Fc(args);
    let t = &args.train;
    let d = defaults(&net, nn::defaults::UPDATE_RULE);
    let Prepared {
        sp,
        x_train,
        x_val,
        kind,
        ..
    } = prepare(ctx, &net, &d)?;
    let num_classes = sp.classes.len();
    let lr_decay = t.lr_decay.unwrap_or(d.lr_decay);
    let reg = t.reg.unwrap_or(d.reg);
    let epochs = t.epochs.unwrap_or(d.epochs);
    let batch_size = t.batch_size.unwrap_or(d.batch_size);
    let solver_err = |e: nn::Error| CliError::library("training", e);
    let quiet = ctx.quiet();

    let mut runs: Vec<RuleRun> = Vec::new();
    for rule in UpdateRule::ALL {
        let lr = t.lr.unwrap_or_else(|| notebook_lr(rule));
        let config = SolverConfig {
            lr_decay,
            batch_size,
            num_epochs: epochs,
            seed: ctx.seed(),
            ..SolverConfig::with_rule(rule, lr)
        };
        let train_data = TrainData {
            x_train: x_train.view(),
            y_train: sp.y_train.view(),
            x_val: x_val.view(),
            y_val: sp.y_val.view(),
        };
        let model = build(&net, sp.transform.image_shape, num_classes, reg, ctx.seed())?;
        if runs.is_empty() {
            ctx.report.say(format!(
                "nn --compare-updates: {} on {} train / {} val images; reg {reg:e}, lr decay {lr_decay}, {epochs} epoch(s) of batch {batch_size}",
                describe(&model.config()),
                sp.y_train.len(),
                sp.y_val.len(),
            ));
        }
        let mut solver = Solver::new(model, train_data, config).map_err(solver_err)?;
        // Sized by the Solver's own count at the first update.
        let bar = progress::bar(
            0,
            &format!("{} lr {lr:e}", rule.name()),
            "iterations",
            quiet,
        );
        let started = Instant::now();
        let result = solver.train_with(|p| {
            if let Progress::Iteration {
                iteration,
                num_iterations,
                loss,
                ..
            } = p
            {
                bar.set_length(*num_iterations as u64);
                bar.set_position(*iteration as u64);
                bar.set_message(format!("loss {loss:.4}"));
            }
        });
        bar.finish_and_clear();
        let history = result.map_err(solver_err)?.clone();
        let seconds = started.elapsed().as_secs_f64();
        ctx.report.say(format!(
            "{:<13} lr {lr:<7e} final loss {:.4}, train acc {:.4}, val acc {:.4} ({seconds:.1} s)",
            rule.name(),
            history.loss.last().copied().unwrap_or(f64::NAN),
            history.train_acc.last().copied().unwrap_or(f64::NAN),
            history.val_acc.last().copied().unwrap_or(f64::NAN),
        ));
        runs.push(RuleRun {
            rule,
            lr,
            history,
            seconds,
        });
    }

    // The summary table, on stderr so that it sits next to the progress bars
    // whatever `--json` does with stdout.
    let mut table = vec![format!(
        "{:<13} {:>8} {:>10} {:>9} {:>9} {:>8}",
        "rule", "lr", "final loss", "train acc", "val acc", "seconds"
    )];
    for r in &runs {
        table.push(format!(
            "{:<13} {:>8.0e} {:>10.4} {:>9.4} {:>9.4} {:>8.1}",
            r.rule.name(),
            r.lr,
            r.history.loss.last().copied().unwrap_or(f64::NAN),
            r.history.train_acc.last().copied().unwrap_or(f64::NAN),
            r.history.val_acc.last().copied().unwrap_or(f64::NAN),
            r.seconds
        ));
    }
    for line in &table {
        ctx.report.notice(line);
    }

    let label = |r: &RuleRun| format!("{} ({:.0e})", r.rule.name(), r.lr);
    let panel = |title: &str, x: &str, y: &str, series: Vec<Series>| plot::Panel {
        title: format!("{title} ({})", kind.name()),
        x_label: x.into(),
        y_label: y.into(),
        series,
    };
    let path = ctx.out_file("update_rules.png")?;
    plot::line_plots(
        &path,
        &[
            panel(
                "Training loss",
                "Iteration",
                "Loss",
                runs.iter()
                    .map(|r| Series::indexed(&label(r), &r.history.loss, false))
                    .collect(),
            ),
            panel(
                "Training accuracy",
                "Epoch",
                "Accuracy",
                runs.iter()
                    .map(|r| Series::indexed(&label(r), &r.history.train_acc, false))
                    .collect(),
            ),
            panel(
                "Validation accuracy",
                "Epoch",
                "Accuracy",
                runs.iter()
                    .map(|r| Series::indexed(&label(r), &r.history.val_acc, false))
                    .collect(),
            ),
        ],
    )?;
    ctx.wrote("update-rule comparison", &path);

    let rows: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| {
            serde_json::json!({
                "rule": r.rule.name(),
                "lr": r.lr,
                "final_loss": r.history.loss.last().copied(),
                "train_accuracy": r.history.train_acc.last().copied(),
                "val_accuracy": r.history.val_acc.last().copied(),
                "best_val_accuracy": r.history.best_val_acc,
                "train_seconds": round(r.seconds, 4),
            })
        })
        .collect();
    let r = &mut ctx.report;
    r.set("compare_updates", rows);
    r.set("hidden", args.hidden.clone());
    r.set("norm", format!("{:?}", args.norm).to_lowercase());
    r.set("dropout", args.dropout);
    r.set("lr_decay", lr_decay);
    r.set("reg", reg);
    r.set("batch_size", batch_size);
    r.set("epochs", epochs);
    r.set("num_train", sp.y_train.len());
    r.set("num_val", sp.y_val.len());
    Ok(())
}

impl TrainArgs {
    fn update_name(&self) -> &'static str {
        match self.update {
            Update::Sgd => "sgd",
            Update::Momentum => "sgd_momentum",
            Update::Rmsprop => "rmsprop",
            Update::Adam => "adam",
        }
    }
}

/// One line for the model: its kind and shape.
fn describe(cfg: &serde_json::Value) -> String {
    let kind = cfg["kind"].as_str().unwrap_or("model");
    let mut parts = Vec::new();
    for key in [
        "hidden_dim",
        "hidden_dims",
        "normalization",
        "dropout_keep",
        "arch",
        "num_filters",
        "filter_size",
    ] {
        if let Some(v) = cfg.get(key) {
            parts.push(format!("{key} {v}"));
        }
    }
    if parts.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} ({})", parts.join(", "))
    }
}

/// The first layer's weights as pictures: an affine layer's columns reshaped to
/// images (the notebook's `W1` grid), or a conv layer's filters.
fn first_layer(params: &nn::Params<f32>, (c, h, w): (usize, usize, usize)) -> Option<ImageGrid> {
    let w1 = params.get("W1")?;
    let images: Vec<_> = if let Ok(f) = w1.view().into_dimensionality::<Ix4>() {
        // (F, C, HH, WW): one picture per filter, in colour when C = 3.
        f.outer_iter().map(|k| weights_to_rgb(k)).collect()
    } else if let Ok(m) = w1.view().into_dimensionality::<Ix2>() {
        if m.nrows() != c * h * w {
            return None;
        }
        m.axis_iter(Axis(1))
            .take(256)
            .map(|col| {
                let img = col
                    .to_owned()
                    .into_shape_with_order((c, h, w))
                    .expect("D = C*H*W");
                weights_to_rgb(img.view())
            })
            .collect()
    } else {
        return None;
    };
    let n = images.len();
    let cols = (n as f64).sqrt().ceil() as usize;
    let side = images.first().map_or(1, |i| i.width());
    let scale = (96 / side.max(1)).clamp(1, 16);
    let title = match w1.ndim() {
        4 => format!("First-layer filters ({}x{})", w1.shape()[2], w1.shape()[3]),
        _ => "First-layer weights".to_owned(),
    };
    Some(ImageGrid::tiled(images, cols, scale, &title))
}
