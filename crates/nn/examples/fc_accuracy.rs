//! Test accuracy of the fully connected networks on the real data sets, with the
//! defaults the CLI uses (`nn::defaults`). Short runs, for docs/nn.md:
//!
//! ```text
//! cargo run --release -p nn --example fc_accuracy -- two-layer    # TwoLayerNet, CIFAR-10
//! cargo run --release -p nn --example fc_accuracy -- deep         # 5 layers, batchnorm + dropout, CIFAR-10
//! cargo run --release -p nn --example fc_accuracy -- fashion      # MLP 784-256-128-10, Fashion-MNIST
//! cargo run --release -p nn --example fc_accuracy -- rules        # update rules compared (loss curves, CSV)
//! ```
//!
//! Options after the workload: `epochs=N lr=X reg=X decay=X batch=N keep=X hidden=a,b,c
//! rule=adam|sgd|momentum|rmsprop seed=N`. Data: `data/cifar-10-batches-bin` and
//! `data/fashion-mnist` as `cargo xtask fetch-data` installs them (run from the
//! checkout), or the folders in `CIFAR10_DIR` and `FASHION_MNIST_DIR`.

mod common;

use std::time::Instant;

use cifar_data::{Preprocess, SplitSizes, preprocess};
use common::{Opts, load_data};
use nn::Model;
use nn::Normalization;
use nn::defaults;
use nn::{FcConfig, FullyConnectedNet, TwoLayerConfig, TwoLayerNet};
use nn::{OptimConfig, UpdateRule};
use nn::{Progress, Solver, SolverConfig, TrainData};

/// `hidden=a,b,c` as layer widths, or `default`.
fn hidden(opts: &Opts, default: &[usize]) -> Vec<usize> {
    opts.raw("hidden").map_or(default.to_vec(), |v| {
        v.split(',')
            .map(|s| s.parse().expect("hidden=a,b,c"))
            .collect()
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (workload, opts) = Opts::from_args("two-layer");
    numeric::set_threads(opts.get("threads", 2));

    // The update-rule comparison runs on Fashion-MNIST (fast, and free to publish).
    let fashion = workload == "fashion" || workload == "rules";
    let (train, test) = load_data(fashion)?;
    let sizes = if fashion {
        SplitSizes {
            num_training: 59_000,
            num_validation: 1_000,
            num_test: 10_000,
            num_dev: 0,
        }
    } else {
        SplitSizes {
            num_training: 49_000,
            num_validation: 1_000,
            num_test: 10_000,
            num_dev: 0,
        }
    };
    let prep = Preprocess {
        sizes,
        normalize_channels: defaults::NORMALIZE_CHANNELS,
        ..Preprocess::default()
    };
    let splits = preprocess::<f32>(&train, &test, &prep)?;
    let input_dim = splits.x_train.ncols();
    let x_train = splits.x_train.view().into_dyn();
    let x_val = splits.x_val.view().into_dyn();
    let data = TrainData {
        x_train,
        y_train: splits.y_train.view(),
        x_val,
        y_val: splits.y_val.view(),
    };

    let rule: UpdateRule = opts.get("rule", defaults::UPDATE_RULE);
    let base = defaults::solver_config();
    let solver_config = |lr_default: f64, epochs_default: usize| SolverConfig {
        update_rule: rule,
        optim_config: OptimConfig {
            learning_rate: opts.get("lr", lr_default),
            ..OptimConfig::default_for(rule)
        },
        lr_decay: opts.get("decay", base.lr_decay),
        batch_size: opts.get("batch", base.batch_size),
        num_epochs: opts.get("epochs", epochs_default),
        seed: opts.get("seed", 0),
        ..base.clone()
    };
    let seed = opts.get("seed", 0u64);

    let model: Box<dyn Model<f32>> = match workload.as_str() {
        "two-layer" => Box::new(TwoLayerNet::<f32>::new(TwoLayerConfig {
            input_dim,
            hidden_dim: opts.get("hidden", 100),
            num_classes: 10,
            weight_scale: opts.get("scale", defaults::two_layer(input_dim, 10).weight_scale),
            reg: opts.get("reg", defaults::REG),
            seed,
        })),
        "deep" => Box::new(FullyConnectedNet::<f32>::new(FcConfig {
            input_dim,
            hidden_dims: hidden(&opts, &[512, 256, 256, 128]),
            num_classes: 10,
            dropout_keep: opts.get("keep", 0.8),
            normalization: Normalization::BatchNorm,
            reg: opts.get("reg", defaults::REG),
            weight_scale: None,
            seed,
        })),
        "fashion" => Box::new(FullyConnectedNet::<f32>::new(FcConfig {
            input_dim,
            hidden_dims: hidden(&opts, &[256, 128]),
            num_classes: 10,
            dropout_keep: opts.get("keep", 1.0),
            reg: opts.get("reg", defaults::REG),
            weight_scale: None,
            seed,
            ..FcConfig::default()
        })),
        "rules" => return compare_rules(&data, input_dim, &opts),
        other => {
            return Err(
                format!("unknown workload {other} (two-layer, deep, fashion, rules)").into(),
            );
        }
    };
    let config = solver_config(defaults::LEARNING_RATE, defaults::EPOCHS);
    println!(
        "{workload}: {} on {} training rows, {:?}",
        model.config(),
        splits.x_train.nrows(),
        config
    );
    let start = Instant::now();
    let mut solver = Solver::new(model, data, config)?;
    solver.train_with(|p| {
        if let Progress::Epoch {
            epoch,
            num_epochs,
            train_acc,
            val_acc,
            seconds,
            ..
        } = p
        {
            println!(
                "epoch {epoch}/{num_epochs}: train {train_acc:.3} val {val_acc:.3} ({seconds:.2} s)"
            );
        }
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let best_val = solver.history.best_val_acc;
    let predicted = solver.model.predict(&splits.x_test.view().into_dyn(), 1000);
    let test_acc = nn::accuracy(&predicted, &splits.y_test.view());
    println!(
        "{workload}: best val {best_val:.4}, test {test_acc:.4} on {} images, {seconds:.1} s training",
        splits.y_test.len()
    );
    Ok(())
}

/// The lecture's comparison of update rules (the course's setup: a 5-layer net of
/// 100 units, weight scale 5e-2, 4000 training examples, 5 epochs of batch 100, lr
/// 1e-2 for sgd and momentum, 1e-4 for rmsprop, 1e-3 for adam), from the same
/// initialisation. Prints the per-epoch mean loss as CSV and all four loss curves on
/// one text plot (for docs/nn.md).
fn compare_rules(
    data: &TrainData<'_, f32>,
    input_dim: usize,
    opts: &Opts,
) -> Result<(), Box<dyn std::error::Error>> {
    let epochs = opts.get("epochs", 5);
    let n = opts.get("n", 4000usize);
    let sub = TrainData {
        x_train: data.x_train.slice_axis(ndarray::Axis(0), (0..n).into()),
        y_train: data.y_train.slice_axis(ndarray::Axis(0), (0..n).into()),
        ..data.clone()
    };
    let mut curves = Vec::new();
    for rule in UpdateRule::ALL {
        let lr = match rule {
            UpdateRule::Sgd | UpdateRule::SgdMomentum => 1e-2,
            UpdateRule::RmsProp => 1e-4,
            UpdateRule::Adam => 1e-3,
        };
        let model = FullyConnectedNet::<f32>::new(FcConfig {
            input_dim,
            hidden_dims: vec![100; 5],
            weight_scale: Some(5e-2),
            ..FcConfig::default()
        });
        let config = SolverConfig {
            num_epochs: epochs,
            batch_size: 100,
            ..SolverConfig::with_rule(rule, lr)
        };
        let mut solver = Solver::new(model, sub.clone(), config)?;
        let history = solver.train()?.clone();
        println!(
            "{rule}: final train {:.3} val {:.3}",
            history.train_acc.last().unwrap(),
            history.val_acc.last().unwrap()
        );
        curves.push((rule, history.loss));
    }
    println!(
        "epoch,{}",
        curves
            .iter()
            .map(|(r, _)| r.name())
            .collect::<Vec<_>>()
            .join(",")
    );
    let per_epoch = curves[0].1.len() / epochs;
    for e in 0..epochs {
        let means: Vec<String> = curves
            .iter()
            .map(|(_, c)| {
                format!(
                    "{:.4}",
                    c[e * per_epoch..(e + 1) * per_epoch].iter().sum::<f64>() / per_epoch as f64
                )
            })
            .collect();
        println!("{},{}", e + 1, means.join(","));
    }
    text_plot(&curves);
    Ok(())
}

/// Loss curves (averaged over buckets of iterations) as characters on a grid:
/// `s` sgd, `m` momentum, `r` rmsprop, `a` adam.
fn text_plot(curves: &[(UpdateRule, Vec<f64>)]) {
    let (width, height) = (64usize, 16usize);
    let len = curves[0].1.len();
    let bucket = len.div_ceil(width);
    let smoothed: Vec<Vec<f64>> = curves
        .iter()
        .map(|(_, c)| {
            c.chunks(bucket)
                .map(|b| b.iter().sum::<f64>() / b.len() as f64)
                .collect()
        })
        .collect();
    let (lo, hi) = smoothed
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let mut grid = vec![vec![' '; width]; height];
    for (k, c) in smoothed.iter().enumerate() {
        let mark = ['s', 'm', 'r', 'a'][k];
        for (x, &v) in c.iter().enumerate() {
            let y = ((hi - v) / (hi - lo).max(1e-12) * (height - 1) as f64).round() as usize;
            grid[y][x] = mark;
        }
    }
    println!(
        "training loss, iterations 1..{len} left to right (s sgd, m sgd_momentum, r rmsprop, a adam)"
    );
    for (i, row) in grid.iter().enumerate() {
        let label = if i == 0 {
            format!("{hi:6.3}")
        } else if i == height - 1 {
            format!("{lo:6.3}")
        } else {
            " ".repeat(6)
        };
        println!("{label} |{}", row.iter().collect::<String>());
    }
}
