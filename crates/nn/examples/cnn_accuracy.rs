//! Test accuracy of the convolutional networks on the real data sets, for docs/cnn.md.
//!
//! ```text
//! cargo run --release -p nn --example cnn_accuracy -- three-layer   # ThreeLayerConvNet, CIFAR-10, 1 epoch Adam 1e-3
//! cargo run --release -p nn --example cnn_accuracy -- arch epochs=20 decay=0.85 # deeper spec net + crops/flips, CIFAR-10
//! cargo run --release -p nn --example cnn_accuracy -- fashion       # 2-conv net, Fashion-MNIST
//! ```
//!
//! Options after the workload: `epochs=N lr=X reg=X batch=N hidden=N decay=X seed=N
//! arch=SPEC crop=PAD flip=0|1 train=N normalize=0|1` (`train` caps the training images).
//! Test accuracy
//! is on the whole test set (10 000 images). Data: `data/cifar-10-batches-bin` and
//! `data/fashion-mnist` as `cargo xtask fetch-data` installs them (run from the
//! checkout), or the folders in `CIFAR10_DIR` and `FASHION_MNIST_DIR`. Preprocessing: the training mean image is
//! subtracted (the course) and each channel divided by its standard deviation (as the
//! CLI does; `normalize=0` for the course's mean subtraction only).

mod common;

use std::time::Instant;

use cifar_data::{Preprocess, SplitSizes, preprocess};
use common::{Opts, load_data};
use nn::Model;
use nn::{Augment, SequentialNet, SequentialNetConfig, ThreeLayerConvNet, ThreeLayerConvNetConfig};
use nn::{OptimConfig, UpdateRule};
use nn::{Progress, Solver, SolverConfig, TrainData};

/// The deeper CIFAR-10 net of the `arch` workload.
const DEEP_ARCH: &str = "conv32x3-bn-relu-conv32x3-bn-relu-pool,conv64x3-bn-relu-conv64x3-bn-relu-pool,conv128x3-bn-relu-pool,fc256-relu-drop0.7,fc10";
/// The published Fashion-MNIST 2-conv net.
const FASHION_ARCH: &str = "conv32x5-relu-pool,conv64x5-relu-pool,fc1024-relu,fc10";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (workload, opts) = Opts::from_args("three-layer");
    numeric::set_threads(opts.get("threads", 2));

    let fashion = workload == "fashion";
    let (train, test) = load_data(fashion)?;
    let num_training = opts.get("train", if fashion { 59_000 } else { 49_000 });
    let sizes = SplitSizes {
        num_training,
        num_validation: 1_000,
        num_test: 10_000,
        num_dev: 0,
    };
    // Mean image subtracted (the course), then each channel divided by its standard
    // deviation (`normalize=0` to skip), as the CLI does.
    let normalize_channels = opts.get("normalize", 1u8) == 1;
    let splits = preprocess::<f32>(
        &train,
        &test,
        &Preprocess {
            sizes,
            normalize_channels,
            ..Preprocess::default()
        },
    )?;
    let (x_train, x_val, x_test) = (
        splits.to_images(&splits.x_train)?,
        splits.to_images(&splits.x_val)?,
        splits.to_images(&splits.x_test)?,
    );
    let (c, h, w) = splits.transform.image_shape;
    let data = TrainData {
        x_train: x_train.view().into_dyn(),
        y_train: splits.y_train.view(),
        x_val: x_val.view().into_dyn(),
        y_val: splits.y_val.view(),
    };
    let seed = opts.get("seed", 0u64);
    let (model, default_epochs, default_batch, augment): (
        Box<dyn Model<f32>>,
        usize,
        usize,
        Augment,
    ) = match workload.as_str() {
        "three-layer" => {
            let config = ThreeLayerConvNetConfig {
                input_dim: [c, h, w],
                hidden_dim: opts.get("hidden", 100),
                reg: opts.get("reg", 0.0),
                seed,
                ..Default::default()
            };
            (
                Box::new(ThreeLayerConvNet::<f32>::new(config)?),
                1,
                50,
                Augment::default(),
            )
        }
        "arch" | "fashion" => {
            let arch: String = opts.get(
                "arch",
                if fashion { FASHION_ARCH } else { DEEP_ARCH }.to_string(),
            );
            let mut config = SequentialNetConfig::new(&arch, &[c, h, w]);
            config.reg = opts.get("reg", if fashion { 0.0 } else { 5e-4 });
            config.seed = seed;
            let augment = Augment {
                crop_pad: opts.get("crop", if fashion { 0 } else { 4 }),
                flip: opts.get("flip", u8::from(!fashion)) == 1,
            };
            (
                Box::new(SequentialNet::<f32>::new(config)?),
                if fashion { 10 } else { 100 },
                64,
                augment,
            )
        }
        other => {
            return Err(format!("unknown workload {other} (three-layer, arch, fashion)").into());
        }
    };
    let rule = UpdateRule::Adam;
    let config = SolverConfig {
        update_rule: rule,
        optim_config: OptimConfig {
            learning_rate: opts.get("lr", 1e-3),
            ..OptimConfig::default_for(rule)
        },
        lr_decay: opts.get("decay", 1.0),
        batch_size: opts.get("batch", default_batch),
        num_epochs: 0,
        num_train_samples: Some(1000),
        seed,
        ..SolverConfig::default()
    };
    let epochs = opts.get("epochs", default_epochs);
    println!(
        "{workload}: {} on {} training images, augment {augment:?}, {config:?}",
        model.config(),
        data.y_train.len()
    );
    let mut solver = Solver::new(model, data, config)?;
    if augment.is_active() {
        solver.set_batch_transform(augment.into_transform());
    }
    let start = Instant::now();
    let report = |p: &Progress| {
        if let Progress::Epoch {
            epoch,
            train_acc,
            val_acc,
            seconds,
            ..
        } = p
        {
            println!("epoch {epoch}: train {train_acc:.3} val {val_acc:.3} ({seconds:.1} s)");
        }
    };
    solver.config.num_epochs = epochs;
    solver.train_with(report)?;
    let seconds = start.elapsed().as_secs_f64();
    let predicted = solver.model.predict(&x_test.view().into_dyn(), 500);
    let test_acc = nn::accuracy(&predicted, &splits.y_test.view());
    println!(
        "{workload}: {} epochs, best val {:.4}, test {test_acc:.4} on {} images, {seconds:.1} s training",
        solver.epoch,
        solver.history.best_val_acc,
        splits.y_test.len()
    );
    Ok(())
}
