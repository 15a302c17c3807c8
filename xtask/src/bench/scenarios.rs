//! The whole-pipeline scenarios: each is a small function calling the crates' public
//! API as a user would, timing only the work (not the data loading it needs first,
//! except in the loading scenarios), and saying how much work that was (images, FLOPs).
//!
//! `bench/peers/peer.py` implements the same scenarios under the same names with the
//! same sizes; keep the two in step.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cifar_data::{CIFAR10_CLASSES, CIFAR10_DIR, Dataset, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR};
use ndarray::{Array1, Array2, Array4, ArrayView2};

/// What a child process knows: the options that shape a scenario.
pub struct Ctx {
    /// Tiny sizes on synthetic data.
    pub quick: bool,
    /// Folder holding cifar-10-batches-bin/ and fashion-mnist/.
    pub data_dir: PathBuf,
    /// Threads for rayon and GEMM.
    pub threads: usize,
}

/// One timed run: how long, and how much work (0 where it does not apply).
pub struct Outcome {
    /// Wall-clock seconds of the timed part.
    pub seconds: f64,
    /// Images processed (forward, or forward and backward), for images/s.
    pub images: f64,
    /// Floating-point operations of the matrix products, for GFLOP/s.
    pub flops: f64,
}

/// Why a scenario did not produce an outcome.
pub enum Fail {
    /// It cannot run here (data absent); not an error.
    Skip(String),
    /// It broke.
    Error(Box<dyn Error>),
}

impl<E: Into<Box<dyn Error>>> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Error(e.into())
    }
}

/// A named scenario.
pub struct Scenario {
    /// Name on the command line (`--only`), in the table and in the peers.
    pub name: &'static str,
    /// What it measures, with the sizes of a full run.
    pub about: &'static str,
    /// Runs it once.
    pub run: fn(&Ctx) -> Result<Outcome, Fail>,
}

/// Every scenario whose API exists, in the course's order.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "load-cifar10",
        about: "read the 6 CIFAR-10 binary batches and convert to f32 rows (60 000 images)",
        run: load_cifar10,
    },
    Scenario {
        name: "load-fashion-mnist",
        about: "read Fashion-MNIST's gzipped IDX files and convert to f32 rows (70 000 images)",
        run: load_fashion_mnist,
    },
    Scenario {
        name: "gemm-knn-f32",
        about: "one f32 product X_test·X_trainᵀ, 500×3072 · 3072×5000 (kNN's distance core)",
        run: gemm_knn,
    },
    Scenario {
        name: "gemm-square-f32",
        about: "one f32 product 2048×2048 · 2048×2048 (the machine's peak)",
        run: gemm_square,
    },
    Scenario {
        name: "knn-cifar-5000x500",
        about: "kNN on the course's CIFAR-10 subset: compute_distances_no_loops (500 test × 5000 train) + predict_labels, k = 5",
        run: knn_cifar,
    },
    Scenario {
        name: "knn-fashion-full",
        about: "kNN on all of Fashion-MNIST: predict 10 000 test images against 60 000 (bounded memory), k = 5",
        run: knn_fashion,
    },
    Scenario {
        name: "svm-train",
        about: "linear SVM, the course's LinearClassifier.train: 1500 iterations, batch 200, lr 1e-7, reg 2.5e4, on 49 000 CIFAR-10 rows",
        run: svm_train,
    },
    Scenario {
        name: "softmax-train",
        about: "softmax classifier, same training as svm-train",
        run: softmax_train,
    },
    Scenario {
        name: "two-layer-epoch",
        about: "TwoLayerNet 3072-50-10 (reg 0.25) with the Solver: one epoch of SGD (lr 1e-4) over 49 000 CIFAR-10 rows, batch 200",
        run: two_layer_epoch,
    },
    Scenario {
        name: "convnet-batch",
        about: "ThreeLayerConvNet (32 7×7 filters, pool, hidden 100): loss and gradients on a batch of 50 CIFAR-10 images, 10 times",
        run: convnet_batch,
    },
    Scenario {
        name: "convnet-epoch",
        about: "ThreeLayerConvNet with the Solver (Adam, lr 1e-3, reg 1e-3): one epoch over 4 900 CIFAR-10 images (a tenth of the course's), batch 50",
        run: convnet_epoch,
    },
    Scenario {
        name: "airbench-step",
        about: "airbench94's network (whitening conv 2×2 3→24, GELU, conv-pool-BN-GELU-conv-BN-GELU blocks 24→64→256→256, max-pool 3, linear 256→10): loss, backward and an SGD update at batch 512, random f32 data",
        run: airbench_step,
    },
    Scenario {
        name: "airbench-step-bf16",
        about: "airbench-step with bf16 products and f32 sums (`--matmul-precision bf16`; CPUs with AVX512_BF16 only)",
        run: airbench_step_bf16,
    },
];

/// Child mode: runs `name` once and prints its outcome as one JSON line.
pub fn child(name: &str, ctx: &Ctx) -> Result<(), Box<dyn Error>> {
    // As the `cs231n` command does: the scenarios measure what a user's run gets.
    numeric::tune_allocator();
    numeric::set_threads(ctx.threads);
    let sc = ALL
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no scenario named {name}"))?;
    let line = match (sc.run)(ctx) {
        Ok(o) => serde_json::json!({
            "seconds": o.seconds,
            "images": o.images,
            "flops": o.flops,
            "peak_kib": peak_kib(),
        }),
        Err(Fail::Skip(why)) => serde_json::json!({ "skip": why }),
        Err(Fail::Error(e)) => return Err(e),
    };
    println!("{line}");
    Ok(())
}

/// This process's peak resident memory (VmHWM), in KiB; 0 where /proc is absent.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Times `f`.
fn timed<R>(f: impl FnOnce() -> R) -> (R, f64) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed().as_secs_f64())
}

fn need_dir(ctx: &Ctx, sub: &str, what: &str, fetch: &str) -> Result<PathBuf, Fail> {
    let dir = ctx.data_dir.join(sub);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(Fail::Skip(format!(
            "no {what} in {} (run `{fetch}` or pass --data-dir)",
            dir.display()
        )))
    }
}

/// CIFAR-10 (train, test) from the data folder, or a skip naming the fetch command.
pub fn cifar(ctx: &Ctx) -> Result<(Dataset, Dataset), Fail> {
    need_dir(ctx, CIFAR10_DIR, "CIFAR-10", "cargo xtask fetch-data")?;
    Ok(cifar_data::load_cifar10(&ctx.data_dir)?)
}

/// Fashion-MNIST (train, test) from the data folder, or a skip naming the fetch command.
pub fn fashion(ctx: &Ctx) -> Result<(Dataset, Dataset), Fail> {
    need_dir(
        ctx,
        FASHION_MNIST_DIR,
        "Fashion-MNIST",
        "cargo xtask fetch-data --dataset fashion-mnist",
    )?;
    Ok(cifar_data::load_fashion_mnist(
        ctx.data_dir.join(FASHION_MNIST_DIR),
    )?)
}

fn load_cifar10(ctx: &Ctx) -> Result<Outcome, Fail> {
    need_dir(ctx, CIFAR10_DIR, "CIFAR-10", "cargo xtask fetch-data")?;
    timed_load(|| cifar_data::load_cifar10(&ctx.data_dir))
}

fn load_fashion_mnist(ctx: &Ctx) -> Result<Outcome, Fail> {
    let dir = need_dir(
        ctx,
        FASHION_MNIST_DIR,
        "Fashion-MNIST",
        "cargo xtask fetch-data --dataset fashion-mnist",
    )?;
    timed_load(|| cifar_data::load_fashion_mnist(&dir))
}

/// Times `load` and the conversion of both splits to f32 rows, as a user's program
/// would start.
fn timed_load(
    load: impl FnOnce() -> Result<(Dataset, Dataset), cifar_data::DataError>,
) -> Result<Outcome, Fail> {
    let (rows, seconds) = timed(|| -> Result<_, Fail> {
        let (train, test) = load()?;
        Ok((train.to_rows::<f32>(), test.to_rows::<f32>()))
    });
    let (train, test) = rows?;
    Ok(Outcome {
        seconds,
        images: (train.nrows() + test.nrows()) as f64,
        flops: 0.0,
    })
}

/// One product `A (m×k) · Bᵀ` with `B` stored (n×k), as kNN and backward passes do.
fn gemm_case(m: usize, k: usize, n: usize, transpose_b: bool) -> Result<Outcome, Fail> {
    let mut rng = numeric::rng(0);
    let a: Array2<f32> = numeric::randn((m, k), &mut rng);
    let b: Array2<f32> = numeric::randn(if transpose_b { (n, k) } else { (k, n) }, &mut rng);
    let b = if transpose_b { b.t() } else { b.view() };
    // One untimed call first: page in the operands and the output, as the peers do.
    std::hint::black_box(numeric::matmul(&a.view(), &b));
    let (c, seconds) = timed(|| numeric::matmul(&a.view(), &b));
    std::hint::black_box(c);
    Ok(Outcome {
        seconds,
        images: 0.0,
        flops: 2.0 * (m * k * n) as f64,
    })
}

fn gemm_knn(ctx: &Ctx) -> Result<Outcome, Fail> {
    if ctx.quick {
        gemm_case(50, 3072, 500, true)
    } else {
        gemm_case(500, 3072, 5000, true)
    }
}

fn gemm_square(ctx: &Ctx) -> Result<Outcome, Fail> {
    let n = if ctx.quick { 256 } else { 2048 };
    gemm_case(n, n, n, false)
}

/// kNN's k in the scenarios.
const KNN_K: usize = 5;

/// Trains on the first `n_train` images and times `f(classifier, test rows)` on the first
/// `n_test` test images.
fn knn_case(
    (train, test): (Dataset, Dataset),
    n_train: usize,
    n_test: usize,
    f: impl FnOnce(
        &knn::KNearestNeighbor<f32>,
        ArrayView2<'_, f32>,
    ) -> Result<Array1<usize>, knn::KnnError>,
) -> Result<Outcome, Fail> {
    let (n_train, n_test) = (n_train.min(train.len()), n_test.min(test.len()));
    let x_train = train.slice(0..n_train)?.to_rows::<f32>();
    let y_train = train.slice(0..n_train)?.labels_usize();
    let x_test = test.slice(0..n_test)?.to_rows::<f32>();
    let mut clf = knn::KNearestNeighbor::new();
    clf.train_owned(x_train, y_train)?;
    let (pred, seconds) = timed(|| f(&clf, x_test.view()));
    std::hint::black_box(pred?);
    Ok(Outcome {
        seconds,
        images: n_test as f64,
        flops: 2.0 * (n_test * n_train * x_test.ncols()) as f64,
    })
}

fn knn_cifar(ctx: &Ctx) -> Result<Outcome, Fail> {
    let (n_train, n_test) = if ctx.quick { (400, 50) } else { (5000, 500) };
    knn_case(cifar(ctx)?, n_train, n_test, |clf, x| {
        let dists = clf.compute_distances_no_loops(x)?;
        clf.predict_labels(dists.view(), KNN_K)
    })
}

fn knn_fashion(ctx: &Ctx) -> Result<Outcome, Fail> {
    let (n_train, n_test) = if ctx.quick {
        (600, 100)
    } else {
        (60_000, 10_000)
    };
    knn_case(fashion(ctx)?, n_train, n_test, |clf, x| {
        clf.predict(x, KNN_K)
    })
}

/// The course's `get_CIFAR10_data` for the linear classifiers and nets: the first
/// `n` training images as f32 rows, mean image subtracted, bias column when `bias`.
fn cifar_rows(ctx: &Ctx, n: usize, bias: bool) -> Result<(Array2<f32>, Array1<usize>), Fail> {
    let (train, test) = cifar(ctx)?;
    let cfg = cifar_data::Preprocess {
        sizes: cifar_data::SplitSizes {
            num_training: n,
            num_validation: if ctx.quick { 50 } else { 1000 },
            num_test: if ctx.quick { 50 } else { 1000 },
            num_dev: 0,
        },
        bias,
        ..cifar_data::Preprocess::default()
    };
    let splits = cifar_data::preprocess::<f32>(&train, &test, &cfg)?;
    Ok((splits.x_train, splits.y_train))
}

/// Minibatch SGD of a linear classifier with the course's settings.
fn linear_train(ctx: &Ctx, loss: linear::Loss) -> Result<Outcome, Fail> {
    let (n, iters, batch) = if ctx.quick {
        (400, 20, 200)
    } else {
        (49_000, 1500, 200)
    };
    let (x, y) = cifar_rows(ctx, n, true)?;
    let mut clf = linear::LinearClassifier::<f32>::new(loss, x.ncols(), 10, &mut numeric::rng(0));
    let opts = linear::TrainOptions::default();
    let (hist, seconds) =
        timed(|| clf.train(&x.view(), &y.view(), 1e-7, 2.5e4, iters, batch, &opts));
    std::hint::black_box(hist?);
    let images = (iters * batch) as f64;
    Ok(Outcome {
        seconds,
        images,
        // scores = X·W forward, dW = Xᵀ·dscores backward.
        flops: 2.0 * 2.0 * images * (x.ncols() * 10) as f64,
    })
}

fn svm_train(ctx: &Ctx) -> Result<Outcome, Fail> {
    linear_train(ctx, linear::Loss::Svm)
}

fn softmax_train(ctx: &Ctx) -> Result<Outcome, Fail> {
    linear_train(ctx, linear::Loss::Softmax)
}

/// `cifar_rows` as (N, 3, 32, 32) images for the convnets.
fn cifar_images(ctx: &Ctx, n: usize) -> Result<(Array4<f32>, Array1<usize>), Fail> {
    let (x, y) = cifar_rows(ctx, n, false)?;
    let n = x.nrows();
    Ok((x.into_shape_with_order((n, 3, 32, 32))?, y))
}

/// One epoch of the Solver on `x`, with a token validation set (the Solver checks
/// accuracy before and after the epoch; the peers do not, so keep that cheap).
fn solver_epoch<M: nn::Model<f32>>(
    model: M,
    x: ndarray::ArrayViewD<'_, f32>,
    y: ndarray::ArrayView1<'_, usize>,
    mut config: nn::SolverConfig,
) -> Result<f64, Fail> {
    let val = 10.min(x.shape()[0]);
    let data = nn::TrainData {
        x_train: x.view(),
        y_train: y.view(),
        x_val: x.slice_axis(ndarray::Axis(0), (0..val).into()),
        y_val: y.slice(ndarray::s![0..val]),
    };
    config.num_epochs = 1;
    config.num_train_samples = Some(val);
    let mut solver = nn::Solver::new(model, data, config)?;
    let (history, seconds) = timed(|| solver.train().map(|h| h.loss.len()));
    std::hint::black_box(history?);
    Ok(seconds)
}

fn two_layer_epoch(ctx: &Ctx) -> Result<Outcome, Fail> {
    let n = if ctx.quick { 400 } else { 49_000 };
    let (x, y) = cifar_rows(ctx, n, false)?;
    let (d, h, c, batch) = (x.ncols(), 50, 10, 200);
    let net = nn::TwoLayerNet::<f32>::new(nn::TwoLayerConfig {
        input_dim: d,
        hidden_dim: h,
        num_classes: c,
        weight_scale: 1e-4,
        reg: 0.25,
        seed: 0,
    });
    let mut config = nn::SolverConfig::with_rule(nn::UpdateRule::Sgd, 1e-4);
    config.batch_size = batch;
    let seconds = solver_epoch(net, x.view().into_dyn(), y.view(), config)?;
    let images = ((x.nrows() / batch).max(1) * batch) as f64;
    Ok(Outcome {
        seconds,
        images,
        // Forward, then dx and dW backward: three products per layer.
        flops: 3.0 * 2.0 * images * (d * h + h * c) as f64,
    })
}

/// GEMM FLOPs of ThreeLayerConvNet's forward and backward passes per image (3× the
/// forward: the conv as im2col, and the two affine layers).
fn convnet_flops(images: f64) -> f64 {
    let conv = 2.0 * 32.0 * 147.0 * 32.0 * 32.0;
    let fc = 2.0 * (32.0 * 16.0 * 16.0) * 100.0 + 2.0 * 100.0 * 10.0;
    3.0 * (conv + fc) * images
}

fn convnet_batch(ctx: &Ctx) -> Result<Outcome, Fail> {
    let (batch, reps) = if ctx.quick { (10, 2) } else { (50, 10) };
    let (x, y) = cifar_images(ctx, batch)?;
    let mut net = nn::ThreeLayerConvNet::<f32>::new(nn::ThreeLayerConvNetConfig::default())?;
    let (x, y) = (x.view().into_dyn(), y.view());
    let (_, seconds) = timed(|| {
        for _ in 0..reps {
            std::hint::black_box(nn::Model::loss(&mut net, &x, &y));
        }
    });
    let images = (reps * x.shape()[0]) as f64;
    Ok(Outcome {
        seconds,
        images,
        flops: convnet_flops(images),
    })
}

fn convnet_epoch(ctx: &Ctx) -> Result<Outcome, Fail> {
    let (n, batch) = if ctx.quick { (100, 50) } else { (4900, 50) };
    let (x, y) = cifar_images(ctx, n)?;
    let net = nn::ThreeLayerConvNet::<f32>::new(nn::ThreeLayerConvNetConfig {
        reg: 1e-3,
        ..Default::default()
    })?;
    let mut config = nn::SolverConfig::with_rule(nn::UpdateRule::Adam, 1e-3);
    config.batch_size = batch;
    let seconds = solver_epoch(net, x.view().into_dyn(), y.view(), config)?;
    let images = ((x.shape()[0] / batch).max(1) * batch) as f64;
    Ok(Outcome {
        seconds,
        images,
        flops: convnet_flops(images),
    })
}

/// Training steps of airbench94's network (`nn::Airbench94`) at batch 512 (batch 16
/// with `--quick`) on random images: loss, backward and a plain SGD update (lr 0.01,
/// as the peer) of every trained tensor. As bench/peers/airbench.py times PyTorch:
/// one untimed step, then 2 timed steps (1 with `--quick`). The whitening filters
/// come from the batch itself, so no layer starts at zero. FLOPs: 3× the forward's
/// 236.3 M per image ([`airbench_flops`]).
fn airbench_step(ctx: &Ctx) -> Result<Outcome, Fail> {
    use nn::Model as _;
    let (batch, steps) = if ctx.quick { (16, 1) } else { (512, 2) };
    let mut rng = numeric::rng(0);
    let x: Array4<f32> = numeric::randn((batch, 3, 32, 32), &mut rng);
    let y = Array1::from_shape_fn(batch, |i| i % 10);
    let mut net = nn::Airbench94::<f32>::new(nn::Airbench94Config::default())?;
    net.init_whitening(&x.view(), 5e-4)?;
    let x = x.into_dyn();
    let mut step = || {
        let (loss, grads, _) = net.loss_and_scores(&x.view(), &y.view());
        // Gradients come for the trained tensors only (not the frozen whitening
        // filters, block conv biases and batchnorm scales).
        for (name, dw) in &grads {
            let w = net
                .params_mut()
                .get_mut(name)
                .expect("a gradient per parameter");
            w.scaled_add(-0.01, dw);
        }
        loss
    };
    std::hint::black_box(step());
    let (_, seconds) = timed(|| {
        for _ in 0..steps {
            std::hint::black_box(step());
        }
    });
    let images = (batch * steps) as f64;
    Ok(Outcome {
        seconds,
        images,
        flops: airbench_flops(images),
    })
}

/// [`airbench_step`] with every f32 product in bf16 (f32 sums, f32 everything else),
/// as `cs231n --matmul-precision bf16 speedrun` trains. Skipped where the CPU lacks
/// AVX512_BF16. Each scenario runs in its own process, so the precision set here
/// touches no other.
fn airbench_step_bf16(ctx: &Ctx) -> Result<Outcome, Fail> {
    use numeric::MatmulPrecision::Bf16;
    if numeric::set_matmul_precision(Bf16) != Bf16 {
        return Err(Fail::Skip("this CPU has no AVX512_BF16".into()));
    }
    airbench_step(ctx)
}

/// Multiply-add FLOPs of airbench94 training steps on `images` images: 3× the
/// forward (forward, backward-data, backward-weights) of its conv and linear layers,
/// as the peer's `airbench_flops` counts them.
fn airbench_flops(images: f64) -> f64 {
    let mut forward = 2.0 * 3.0 * 4.0 * 24.0 * 31.0 * 31.0; // whitening 2×2, 31×31 out
    let (mut side, mut c) = (31.0, 24.0);
    for w in [64.0, 256.0, 256.0] {
        forward += 2.0 * c * 9.0 * w * side * side;
        side = (side / 2.0_f64).floor();
        forward += 2.0 * w * 9.0 * w * side * side;
        c = w;
    }
    forward += 2.0 * c * 10.0;
    3.0 * forward * images
}

/// Writes small synthetic CIFAR-10 and Fashion-MNIST copies (random pixels) in the
/// official layouts into `dir`, for `--quick`: the same loaders and code paths as a full
/// run, on data that needs no download.
pub fn write_quick_data(dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut rng = numeric::rng(7);
    let mut synthetic =
        |n: usize, c: usize, side: usize, classes: &[&str]| -> Result<Dataset, Box<dyn Error>> {
            use rand::Rng as _;
            let images = Array4::from_shape_simple_fn((n, c, side, side), || rng.random::<u8>());
            let labels = Array1::from_shape_fn(n, |i| (i % classes.len()) as u8);
            Ok(Dataset::new(
                images,
                labels,
                classes.iter().map(|s| s.to_string()).collect(),
            )?)
        };
    let (train, test) = (
        synthetic(500, 3, 32, &CIFAR10_CLASSES)?,
        synthetic(100, 3, 32, &CIFAR10_CLASSES)?,
    );
    cifar_data::write_cifar10(dir, &train, &test)?;
    let (train, test) = (
        synthetic(600, 1, 28, &FASHION_MNIST_CLASSES)?,
        synthetic(100, 1, 28, &FASHION_MNIST_CLASSES)?,
    );
    cifar_data::write_mnist(dir.join(FASHION_MNIST_DIR), &train, &test, true)?;
    Ok(())
}
