//! `cs231n nn` and `cs231n cnn`: networks trained by `nn`'s Solver, with a progress
//! bar and a line per epoch, plots of the loss and accuracies, a picture of the first
//! layer, a model file for `predict` and a checkpoint that `--resume` continues from.
//! `nn --compare-updates` is in `compare_updates.rs`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cifar_data::Preprocess;
use indicatif::ProgressBar;
use ndarray::ArrayD;
use nn::{Checkpoint, Model, Progress, Solver, SolverConfig, TrainData, UpdateRule};

use super::build_net::{build, describe};
use crate::args::{CnnArgs, NnArgs, TrainArgs};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::image_grid::first_layer;
use crate::model_file::ModelFile;
use crate::output::{percent, round, sci};
use crate::plot::{self, Series};
use crate::progress;

/// Which network family, with its own options.
pub(super) enum Net<'a> {
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

    pub(super) fn train_args(&self) -> &TrainArgs {
        match self {
            Net::Fc(a) => &a.train,
            Net::Conv(a) => &a.train,
        }
    }
}

/// Training settings not given on the command line.
#[derive(Debug, Clone, Copy)]
pub(super) struct Defaults {
    pub(super) lr: f64,
    pub(super) lr_decay: f64,
    pub(super) reg: f64,
    pub(super) epochs: usize,
    pub(super) batch_size: usize,
    /// Standardise each channel after centring (`Preprocess::normalize_channels`).
    pub(super) normalize_channels: bool,
}

/// Fully connected nets: `nn::defaults` (measured by the nn crate; He initialisation,
/// standardised channels, Adam 1e-3), with the course's learning rate for another rule.
/// Convnets: `nn::defaults::convnet`.
pub(super) fn defaults(net: &Net<'_>, update: UpdateRule) -> Defaults {
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
            lr: nn::defaults::convnet::LEARNING_RATE,
            lr_decay: nn::defaults::LR_DECAY,
            reg: nn::defaults::convnet::REG,
            epochs: nn::defaults::convnet::EPOCHS,
            batch_size: nn::defaults::convnet::BATCH_SIZE,
            normalize_channels: nn::defaults::convnet::NORMALIZE_CHANNELS,
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
        return super::compare_updates::run(ctx, args);
    }
    run(ctx, Net::Fc(args))
}

/// `cs231n cnn`.
pub fn run_cnn(ctx: &mut Ctx, args: &CnnArgs) -> Result<()> {
    run(ctx, Net::Conv(args))
}

/// The preprocessed splits, as the network's input (rows, or images for a convnet).
pub(super) struct Prepared {
    pub(super) sp: cifar_data::Splits<f32>,
    pub(super) x_train: ArrayD<f32>,
    pub(super) x_val: ArrayD<f32>,
    pub(super) x_test: ArrayD<f32>,
    pub(super) kind: cifar_data::DatasetKind,
}

/// Loads the dataset, makes the course's splits and shapes them as the net's input.
pub(super) fn prepare(ctx: &mut Ctx, net: &Net<'_>, d: &Defaults) -> Result<Prepared> {
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

impl Prepared {
    /// The training and validation splits as the Solver takes them.
    pub(super) fn train_data(&self) -> TrainData<'_, f32> {
        TrainData {
            x_train: self.x_train.view(),
            y_train: self.sp.y_train.view(),
            x_val: self.x_val.view(),
            y_val: self.sp.y_val.view(),
        }
    }
}

/// The Solver of the command's networks.
type NetSolver<'d> = Solver<'d, f32, Box<dyn Model<f32>>>;

/// `nn` / `cnn` in four steps: set up the Solver, train it (a progress bar and one
/// line per epoch), evaluate the best weights on the test split, write the plots and
/// files, and record the JSON summary.
fn run(ctx: &mut Ctx, net: Net<'_>) -> Result<()> {
    let t = net.train_args().clone();
    let d = defaults(&net, t.update);
    let data = prepare(ctx, &net, &d)?;
    let setup = Setup::resolve(ctx, &t, &d, net.prefix())?;
    let mut solver = new_solver(ctx, &net, &t, &setup, &data)?;
    let num_params: usize = solver.model.params().values().map(|p| p.len()).sum();
    ctx.report.say(format!(
        "{}: {} ({num_params} parameters) on {} train / {} val / {} test images; {} lr {} (decay {}), reg {}, {} epoch(s) of batch {}",
        net.prefix(),
        describe(&solver.model.config()),
        data.sp.y_train.len(),
        data.sp.y_val.len(),
        data.sp.y_test.len(),
        t.update.name(),
        sci(setup.lr),
        setup.lr_decay,
        sci(setup.reg),
        setup.epochs,
        setup.batch_size
    ));
    let trained = train(ctx, &mut solver, setup.epochs)?;
    let mut model = solver.model;
    let eval = evaluate(ctx, model.as_mut(), &data, &trained);
    write_artifacts(
        ctx,
        &net,
        model.as_ref(),
        &data,
        &trained,
        &setup.checkpoint,
    )?;
    record(
        ctx,
        &net,
        &t,
        &d,
        &setup,
        model.as_ref(),
        num_params,
        &data,
        &trained,
        &eval,
    );
    Ok(())
}

/// The training settings of a run: the options, else the defaults.
struct Setup {
    lr: f64,
    lr_decay: f64,
    reg: f64,
    epochs: usize,
    batch_size: usize,
    /// Where the Solver writes its checkpoint after every epoch.
    checkpoint: PathBuf,
}

impl Setup {
    fn resolve(ctx: &Ctx, t: &TrainArgs, d: &Defaults, prefix: &str) -> Result<Self> {
        Ok(Setup {
            lr: t.lr.unwrap_or(d.lr),
            lr_decay: t.lr_decay.unwrap_or(d.lr_decay),
            reg: t.reg.unwrap_or(d.reg),
            epochs: t.epochs.unwrap_or(d.epochs),
            batch_size: t.batch_size.unwrap_or(d.batch_size),
            checkpoint: ctx.out_file(&format!("{prefix}_checkpoint.safetensors"))?,
        })
    }
}

/// A Solver over the prepared splits: a new model, or the one `--resume` names (whose
/// architecture comes from the checkpoint, so a resumed run cannot silently change
/// shape); with augmentation when asked.
fn new_solver<'d>(
    ctx: &mut Ctx,
    net: &Net<'_>,
    t: &TrainArgs,
    setup: &Setup,
    data: &'d Prepared,
) -> Result<NetSolver<'d>> {
    let config = SolverConfig {
        lr_decay: setup.lr_decay,
        batch_size: setup.batch_size,
        num_epochs: setup.epochs,
        checkpoint: Some(setup.checkpoint.clone()),
        seed: ctx.seed(),
        ..SolverConfig::with_rule(t.update, setup.lr)
    };
    let train_data = data.train_data();
    let mut solver = match &t.resume {
        Some(path) => {
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
            let num_classes = data.sp.classes.len();
            let shape = data.sp.transform.image_shape;
            let model = build(net, shape, num_classes, setup.reg, ctx.seed())?;
            Solver::new(model, train_data, config).map_err(solver_err)?
        }
    };
    if let Net::Conv(a) = net
        && a.augment
    {
        solver.set_batch_transform(nn::defaults::convnet::AUGMENT.into_transform());
    }
    Ok(solver)
}

/// What training produced.
struct Trained {
    history: nn::History,
    seconds: f64,
    /// Epochs run by this command (fewer than the total when resuming).
    epochs_run: usize,
    /// The epoch the Solver stopped at (the total, counting a resumed run's).
    last_epoch: usize,
}

/// Trains with one progress bar per epoch (images, loss, images/s) and prints each
/// epoch's line as that epoch ends, after clearing its bar, so a long run shows its
/// accuracies as it goes, on a terminal and in a pipe alike.
fn train(ctx: &Ctx, solver: &mut NetSolver<'_>, epochs: usize) -> Result<Trained> {
    let quiet = ctx.quiet();
    let report = &ctx.report;
    let mut bar: Option<ProgressBar> = None;
    let started = Instant::now();
    let start_epoch = solver.epoch;
    let result = solver.train_with(|p| match p {
        Progress::Iteration {
            epoch,
            iteration_in_epoch,
            iterations_per_epoch,
            loss,
            batch_size,
            report: show_loss,
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
            if *show_loss {
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
            report.say(format!(
                "epoch {epoch}/{num_epochs}: train acc {train_acc:.4}, val acc {val_acc:.4}{}, lr {learning_rate:.3e}, {seconds:.1} s ({})",
                if *improved { " (best)" } else { "" },
                progress::rate_text(images as f64 / seconds.max(1e-9), "images")
            ));
        }
    });
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    let history = result.map_err(solver_err)?.clone();
    Ok(Trained {
        history,
        seconds: started.elapsed().as_secs_f64(),
        epochs_run: solver.epoch - start_epoch,
        last_epoch: solver.epoch,
    })
}

/// Accuracies of the best weights (the Solver leaves them in the model).
struct Evaluation {
    train: f64,
    val: f64,
    test: f64,
}

/// Scores the test split with the best weights and says how the run went.
fn evaluate(
    ctx: &Ctx,
    model: &mut dyn Model<f32>,
    data: &Prepared,
    trained: &Trained,
) -> Evaluation {
    let h = &trained.history;
    let pred = model.predict(&data.x_test.view(), 1000);
    let eval = Evaluation {
        train: h.train_acc.get(h.best_epoch).copied().unwrap_or(f64::NAN),
        val: h.best_val_acc,
        test: nn::accuracy(&pred, &data.sp.y_test.view()),
    };
    ctx.report.say(format!(
        "best epoch {}: val {}; test accuracy {:.4} ({}) ; trained in {:.1} s",
        h.best_epoch,
        percent(eval.val),
        eval.test,
        percent(eval.test),
        trained.seconds
    ));
    eval
}

/// The loss and accuracy plots, the first layer's picture, the model file for
/// `predict`, and (written by the Solver each epoch) the checkpoint for `--resume`.
fn write_artifacts(
    ctx: &mut Ctx,
    net: &Net<'_>,
    model: &dyn Model<f32>,
    data: &Prepared,
    trained: &Trained,
    checkpoint: &Path,
) -> Result<()> {
    let (prefix, kind, h) = (net.prefix(), data.kind, &trained.history);
    super::write_loss_curve(ctx, prefix, kind.name(), ("Iteration", "Loss"), &h.loss)?;
    let path = ctx.out_file(&format!("{prefix}_accuracy.png"))?;
    plot::line_plot(
        &path,
        &format!("{prefix} classification accuracy ({})", kind.name()),
        "Epoch",
        "Accuracy",
        &[
            Series::indexed("train", &h.train_acc, false),
            Series::indexed("val", &h.val_acc, false),
        ],
    )?;
    ctx.wrote("accuracy history", &path);
    let config = model.config();
    let what = format!(
        "{} on {}",
        config["kind"].as_str().unwrap_or(prefix),
        kind.title()
    );
    if let Some(grid) = first_layer(model.params(), data.sp.transform.image_shape, &what) {
        let name = if matches!(net, Net::Conv(_)) {
            "filters"
        } else {
            "weights"
        };
        let path = ctx.out_file(&format!("{prefix}_{name}.png"))?;
        grid.save(&path)?;
        ctx.wrote(&format!("first-layer {name}"), &path);
    }
    let file = ModelFile {
        kind: prefix.into(),
        config: model.config(),
        classes: data.sp.classes.clone(),
        dataset: kind.name().into(),
        prep: data.sp.transform.clone(),
        params: model.params().clone(),
        buffers: model.buffers().cloned().unwrap_or_default(),
    };
    let path = ctx.out_file(&format!("{prefix}.safetensors"))?;
    file.save(&path)?;
    ctx.wrote("model", &path);
    if checkpoint.is_file() {
        ctx.wrote("checkpoint (for --resume)", checkpoint);
    }
    Ok(())
}

/// The run's JSON summary (docs/cli.md lists the fields).
fn record(
    ctx: &mut Ctx,
    net: &Net<'_>,
    t: &TrainArgs,
    d: &Defaults,
    setup: &Setup,
    model: &dyn Model<f32>,
    num_params: usize,
    data: &Prepared,
    trained: &Trained,
    eval: &Evaluation,
) {
    let (h, n) = (&trained.history, |y: &ndarray::Array1<usize>| y.len());
    let images_per_second =
        (trained.epochs_run * n(&data.sp.y_train)) as f64 / trained.seconds.max(1e-9);
    let r = &mut ctx.report;
    r.set("model", model.config());
    r.set("num_params", num_params);
    match net {
        Net::Fc(a) => {
            r.set("hidden", a.hidden.clone());
            r.set("norm", format!("{:?}", a.norm).to_lowercase());
            r.set("dropout", a.dropout);
        }
        Net::Conv(a) => {
            r.set("arch", a.arch.clone());
            r.set("augment", a.augment);
        }
    }
    r.set("update", t.update.name());
    r.set("lr", setup.lr);
    r.set("lr_decay", setup.lr_decay);
    r.set("normalize_channels", d.normalize_channels);
    r.set("reg", setup.reg);
    r.set("batch_size", setup.batch_size);
    r.set("epochs", trained.last_epoch);
    r.set("epochs_this_run", trained.epochs_run);
    r.set("best_epoch", h.best_epoch);
    r.set("num_train", n(&data.sp.y_train));
    r.set("num_val", n(&data.sp.y_val));
    r.set("num_test", n(&data.sp.y_test));
    r.set("train_accuracy", eval.train);
    r.set("val_accuracy", eval.val);
    r.set("test_accuracy", eval.test);
    r.set("train_history", h.train_acc.clone());
    r.set("val_history", h.val_acc.clone());
    r.set("final_loss", h.loss.last().copied());
    r.set("train_seconds", round(trained.seconds, 4));
    r.set("images_per_second", round(images_per_second, 1));
}

fn solver_err(e: nn::Error) -> CliError {
    CliError::library("training", e)
}
