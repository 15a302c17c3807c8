//! `cs231n nn --compare-updates`: the course notebook's comparison of the update rules
//! (`FullyConnectedNets.ipynb`), the same net trained once per rule and drawn on
//! shared axes.

use std::time::Instant;

use nn::{Progress, Solver, SolverConfig, UpdateRule};

use super::build_net::{build, describe};
use super::net::{Net, defaults, prepare};
use crate::args::NnArgs;
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::output::{round, sci};
use crate::plot::{self, Series};
use crate::progress;

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
pub fn run(ctx: &mut Ctx, args: &NnArgs) -> Result<()> {
    let net = Net::Fc(args);
    let t = &args.train;
    let d = defaults(&net, nn::defaults::UPDATE_RULE);
    let data = prepare(ctx, &net, &d)?;
    let (sp, kind) = (&data.sp, data.kind);
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
        let train_data = data.train_data();
        let model = build(&net, sp.transform.image_shape, num_classes, reg, ctx.seed())?;
        if runs.is_empty() {
            ctx.report.say(format!(
                "nn --compare-updates: {} on {} train / {} val images; reg {}, lr decay {lr_decay}, {epochs} epoch(s) of batch {batch_size}",
                describe(&model.config()),
                sci(reg),
                sp.y_train.len(),
                sp.y_val.len(),
            ));
        }
        let mut solver = Solver::new(model, train_data, config).map_err(solver_err)?;
        // Sized by the Solver's own count at the first update.
        let bar = progress::bar(
            0,
            &format!("{} lr {}", rule.name(), sci(lr)),
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
            "{:<13} lr {:<7} final loss {:.4}, train acc {:.4}, val acc {:.4} ({seconds:.1} s)",
            rule.name(),
            sci(lr),
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
