#![allow(non_snake_case)] // the course's X, W
//! Accuracy on the real data sets against the project's accuracy targets, and the pictures of docs/linear.md.
//!
//! ```text
//! cargo run --release -p linear --example linear_accuracy -- cifar [svm|softmax]   # grid search, course split
//! cargo run --release -p linear --example linear_accuracy -- fashion [svm|softmax] # timed default run + grid search
//! cargo run --release -p linear --example linear_accuracy -- regions [DIR]        # the geometric picture (toy 2-D data)
//! cargo run --release -p linear --example linear_accuracy -- templates [DIR]      # Fashion-MNIST weight templates
//! cargo run --release -p linear --example linear_accuracy -- speed                 # wall and CPU time of the speed targets
//! ```
//!
//! Data: `data/cifar-10-batches-bin` and `data/fashion-mnist` as `cargo xtask
//! fetch-data` installs them, or the folders in `CIFAR10_DIR` and `FASHION_MNIST_DIR`. Hyper-parameters come from
//! [`linear::defaults_for`]; `LRS`, `REGS` (comma-separated), `ITERS`, `BATCH`,
//! `SHUFFLE=1` and `DECAY` override them for exploration; `SEARCH=0` skips the search.
//!
//! The pictures go to DIR (default `out/`). A picture already there is not replaced
//! unless `--overwrite` follows DIR: `regions docs/img --overwrite` renews the one in
//! the docs.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cifar_data::{
    DEFAULT_DATA_DIR, DataSource, Dataset, DatasetChoice, Preprocess, SplitSizes, Splits,
};
use linear::{Defaults, LinearClassifier, Loss, Sampling, Trial, defaults_for};
use ndarray::{ArrayView1, Axis};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("cifar", String::as_str);
    let arg = args.get(1).map(String::as_str);
    let picture = |name: &str| -> Result<PathBuf, Error> {
        let dir = Path::new(arg.filter(|a| !a.starts_with("--")).unwrap_or("out"));
        let overwrite = args.iter().any(|a| a == "--overwrite");
        picture_path(dir, name, overwrite)
    };
    println!("threads: {}", numeric::threads());
    match what {
        "cifar" => run_dataset("cifar10", losses(arg)?),
        "fashion" => run_dataset("fashion-mnist", losses(arg)?),
        "regions" => regions(&picture("linear-regions.png")?),
        "templates" => templates(&picture("linear-templates-fashion.png")?),
        "speed" => speed(),
        other => Err(format!(
            "unknown command {other:?}: cifar, fashion, regions, templates or speed"
        )
        .into()),
    }
}

/// `dir/name`, after making `dir`; an existing picture is an error unless `overwrite`
/// (so that the pictures committed under docs/img change only on purpose).
fn picture_path(dir: &Path, name: &str, overwrite: bool) -> Result<PathBuf, Error> {
    let path = dir.join(name);
    if path.exists() && !overwrite {
        return Err(format!(
            "{} exists; add --overwrite to replace it, or give another folder",
            path.display()
        )
        .into());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(path)
}

fn losses(arg: Option<&str>) -> Result<Vec<Loss>, Error> {
    Ok(match arg {
        None | Some("both") => vec![Loss::Svm, Loss::Softmax],
        Some(name) => vec![name.parse()?],
    })
}

/// The dataset as `cargo xtask fetch-data` installs it under `data/` (run from the
/// checkout), or from the folder in `var`.
fn load_dataset(choice: DatasetChoice, var: &str) -> Result<(Dataset, Dataset), Error> {
    Ok(DataSource::resolve_or_env(choice, DEFAULT_DATA_DIR, var)?.load()?)
}

fn env_list(var: &str) -> Option<Vec<f64>> {
    let v = std::env::var(var).ok()?;
    Some(
        v.split(',')
            .map(|s| s.trim().parse().expect("a number"))
            .collect(),
    )
}

fn env_num<T: std::str::FromStr>(var: &str) -> Option<T> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

/// The course's preprocessing: split, mean image subtracted, bias column. CIFAR-10
/// gets the course's 49 000 / 1 000 / 1 000; Fashion-MNIST all of it: 59 000 / 1 000
/// / 10 000.
fn load(dataset: &str) -> Result<Splits<f32>, Error> {
    let t = Instant::now();
    let (train, test, sizes) = match dataset {
        "cifar10" => {
            let (train, test) = load_dataset(DatasetChoice::Cifar10, "CIFAR10_DIR")?;
            (train, test, SplitSizes::default())
        }
        _ => {
            let (train, test) = load_dataset(DatasetChoice::FashionMnist, "FASHION_MNIST_DIR")?;
            let sizes = SplitSizes {
                num_training: 59_000,
                num_validation: 1_000,
                num_test: 10_000,
                num_dev: 0,
            };
            (train, test, sizes)
        }
    };
    let cfg = Preprocess {
        sizes,
        clamp: false,
        bias: true,
        ..Preprocess::default()
    };
    let mut splits = cifar_data::preprocess::<f32>(&train, &test, &cfg)?;
    // Training gathers rows: give it row-major data up front, so that train_seconds
    // does not include the one-time copy `train` makes of column-major input.
    for x in [&mut splits.x_train, &mut splits.x_val, &mut splits.x_test] {
        if !x.is_standard_layout() {
            *x = x.as_standard_layout().into_owned();
        }
    }
    println!(
        "{dataset}: train {:?}, val {:?}, test {:?} (loaded and preprocessed in {:.1} s)",
        splits.x_train.dim(),
        splits.x_val.dim(),
        splits.x_test.dim(),
        t.elapsed().as_secs_f64()
    );
    Ok(splits)
}

/// The defaults, with the exploration overrides applied.
fn settings(dataset: &str, loss: Loss) -> Result<Defaults, Error> {
    let mut d = defaults_for(dataset, loss)?;
    if let Some(lrs) = env_list("LRS") {
        d.learning_rate = lrs[0];
        d.search_learning_rates = Vec::leak(lrs);
    }
    if let Some(regs) = env_list("REGS") {
        d.reg = regs[0];
        d.search_regs = Vec::leak(regs);
    }
    if let Some(iters) = env_num("ITERS") {
        d.num_iters = iters;
        d.search.num_iters = iters;
    }
    if let Some(batch) = env_num("BATCH") {
        d.batch_size = batch;
        d.search.batch_size = batch;
    }
    if let Some(decay) = env_num("DECAY") {
        d.options.learning_rate_decay = decay;
        d.search.options.learning_rate_decay = decay;
    }
    if let Some(shuffle) = env_num::<u8>("SHUFFLE") {
        let sampling = if shuffle == 1 {
            Sampling::ShuffledEpochs
        } else {
            Sampling::WithReplacement
        };
        d.options.sampling = sampling;
        d.search.options.sampling = sampling;
    }
    Ok(d)
}

fn run_dataset(dataset: &str, losses: Vec<Loss>) -> Result<(), Error> {
    let sp = load(dataset)?;
    for loss in losses {
        let d = settings(dataset, loss)?;
        println!(
            "\n## {dataset} {loss}: single run {} iterations, batch {}, {:?}, lr decay {} per epoch; search {} iterations, batch {}, {:?}, lr decay {}",
            d.num_iters,
            d.batch_size,
            d.options.sampling,
            d.options.learning_rate_decay,
            d.search.num_iters,
            d.search.batch_size,
            d.search.options.sampling,
            d.search.options.learning_rate_decay
        );

        // One timed run with the recommended learning rate and reg.
        let mut clf =
            LinearClassifier::<f32>::new(loss, sp.x_train.ncols(), 10, &mut numeric::rng(0));
        let (t, cpu) = (Instant::now(), numeric::cpu_seconds());
        let history = clf.train(
            &sp.x_train.view(),
            &sp.y_train.view(),
            d.learning_rate as f32,
            d.reg as f32,
            d.num_iters,
            d.batch_size,
            &d.options,
        )?;
        let train_seconds = t.elapsed().as_secs_f64();
        let train_cpu = numeric::cpu_seconds() - cpu;
        println!(
            "default lr {:e} reg {:e}: loss {:.3} -> {:.3}, train {:.3}, val {:.3}, test {:.4}, train_seconds {:.2} (process CPU {:.2} s)",
            d.learning_rate,
            d.reg,
            history[0],
            history[history.len() - 1],
            clf.accuracy(&sp.x_train.view(), &sp.y_train.view())?,
            clf.accuracy(&sp.x_val.view(), &sp.y_val.view())?,
            clf.accuracy(&sp.x_test.view(), &sp.y_test.view())?,
            train_seconds,
            train_cpu
        );

        if env_num::<u8>("SEARCH") == Some(0) {
            continue;
        }
        // The grid search, selected on validation.
        let t = Instant::now();
        println!("| learning rate | reg | train acc | val acc |\n|---|---|---|---|");
        let out = linear::grid_search(
            loss,
            &sp.x_train.view(),
            &sp.y_train.view(),
            &sp.x_val.view(),
            &sp.y_val.view(),
            d.search_learning_rates,
            d.search_regs,
            &d.search_config(),
            |_, t: &Trial| {
                println!(
                    "| {:e} | {:e} | {:.3} | {:.3} |",
                    t.learning_rate, t.reg, t.train_accuracy, t.val_accuracy
                )
            },
        )?;
        let best = out.best_trial();
        println!(
            "best: lr {:e} reg {:e} val {:.3} -> test {:.4} ({} trials in {:.1} s)",
            best.learning_rate,
            best.reg,
            best.val_accuracy,
            out.best.accuracy(&sp.x_test.view(), &sp.y_test.view())?,
            out.trials.len(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The two speed targets with wall *and* process CPU time, on random data of the
/// course's shapes: on a shared machine the CPU time bounds what the wall time would be
/// alone (criterion's figures are in benches/linear/linear.rs).
fn speed() -> Result<(), Error> {
    let (n, d) = (49_000, 3_073);
    let x = numeric::randn::<f32, _, _>((n, d), &mut numeric::rng(3)) * 60.0;
    let y = ndarray::Array1::from_shape_fn(n, |i| (i * 7) % 10);
    let w = numeric::randn::<f32, _, _>((d, 10), &mut numeric::rng(1)) * 1e-4;
    let reps = 10;
    let (t, cpu) = (Instant::now(), numeric::cpu_seconds());
    for _ in 0..reps {
        std::hint::black_box(linear::softmax_loss_vectorized(
            &w.view(),
            &x.view(),
            &y.view(),
            2.5e4,
        ));
    }
    println!(
        "softmax loss+grad 49000x3073 f32: {:.1} ms wall, {:.1} ms process CPU per call",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64,
        (numeric::cpu_seconds() - cpu) * 1e3 / reps as f64
    );
    for loss in [Loss::Svm, Loss::Softmax] {
        let mut clf = LinearClassifier::<f32>::new(loss, d, 10, &mut numeric::rng(0));
        let (t, cpu) = (Instant::now(), numeric::cpu_seconds());
        clf.train(
            &x.view(),
            &y.view(),
            1e-7,
            2.5e4,
            1500,
            200,
            &Default::default(),
        )?;
        println!(
            "{loss} training 1500 x 200 f32: {:.2} s wall, {:.2} s process CPU",
            t.elapsed().as_secs_f64(),
            numeric::cpu_seconds() - cpu
        );
    }
    Ok(())
}

/// RGB pixels → PNG.
fn write_png(path: &Path, width: usize, height: usize, rgb: &[u8]) -> Result<(), Error> {
    let mut enc = png::Encoder::new(
        BufWriter::new(File::create(path)?),
        width as u32,
        height as u32,
    );
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(rgb)?;
    println!("wrote {}", path.display());
    Ok(())
}

const REGION: [[u8; 3]; 3] = [[253, 216, 214], [209, 232, 204], [208, 222, 245]];
const POINT: [[u8; 3]; 3] = [[200, 40, 40], [40, 140, 40], [40, 80, 200]];
const LINE: [[u8; 3]; 3] = [[140, 20, 20], [20, 100, 20], [20, 50, 150]];

/// The geometric viewpoint: softmax and SVM classifiers on three 2-D blobs, side by
/// side; background = predicted class, dots = training points, dark lines = each
/// class's zero-score line with a short stroke along its weight vector (the
/// direction its score grows).
fn regions(path: &Path) -> Result<(), Error> {
    // Blobs around (0.6, 0.4) rather than the origin, so that the biases matter: the
    // score lines then do not all pass through the origin.
    let (mut X, y) = linear::toy_blobs(60, 3, 0.35, 1);
    X.column_mut(0).mapv_inplace(|v| v + 0.6);
    X.column_mut(1).mapv_inplace(|v| v + 0.4);
    let (side, gap) = (360usize, 12usize);
    let (lo, hi) = (-1.6, 2.6);
    // Margins: title and panel names above, tick labels to the left and below.
    let (left, top, bottom, right) = (44usize, 84usize, 48usize, 12usize);
    let width = left + 2 * side + gap + right;
    let height = top + side + bottom;
    let mut rgb = vec![255u8; width * height * 3];
    let mut labels = vec![
        Label::centred(
            "Softmax and SVM on three 2-D blobs: the geometric viewpoint",
            width / 2,
            8,
            20.0,
        ),
        Label::centred(
            "background: predicted class; dots: training points; dark lines: s_j = 0 and the direction in which s_j grows",
            width / 2,
            34,
            12.0,
        ),
    ];
    for (panel, loss) in [Loss::Softmax, Loss::Svm].into_iter().enumerate() {
        let mut clf = LinearClassifier::<f64>::new(loss, 3, 3, &mut numeric::rng(0));
        let hist = clf.train(
            &X.view(),
            &y.view(),
            0.1,
            1e-3,
            2000,
            60,
            &Default::default(),
        )?;
        println!(
            "regions {loss}: loss {:.3} -> {:.3}, training accuracy {:.3}",
            hist[0],
            hist[hist.len() - 1],
            clf.accuracy(&X.view(), &y.view())?
        );
        let cls = linear::class_regions(&clf, (lo, hi), (lo, hi), side, side)?;
        let lines = linear::score_lines(&clf)?;
        let px = (hi - lo) / side as f64;
        let to_xy = |r: usize, c: usize| (lo + (c as f64 + 0.5) * px, hi - (r as f64 + 0.5) * px);
        let x0 = left + panel * (side + gap);
        let name = if loss == Loss::Svm {
            "multiclass SVM"
        } else {
            "softmax"
        };
        labels.push(Label::centred(name, x0 + side / 2, top - 26, 16.0));
        // Axes: ticks at the integers, x₁ along the bottom, x₂ up the left side.
        for v in (lo.ceil() as i32)..=(hi.floor() as i32) {
            let at = ((f64::from(v) - lo) / px) as usize;
            labels.push(Label::centred(
                &v.to_string(),
                x0 + at,
                top + side + 4,
                12.0,
            ));
            if panel == 0 {
                labels.push(Label::centred(
                    &v.to_string(),
                    left - 14,
                    top + side - at - 7,
                    12.0,
                ));
            }
        }
        labels.push(Label::centred("x1", x0 + side / 2, top + side + 24, 13.0));
        if panel == 0 {
            labels.push(Label::centred("x2", 12, top + side / 2 - 8, 13.0));
        }
        let mut put = |r: usize, c: usize, color: [u8; 3]| {
            let i = ((top + r) * width + x0 + c) * 3;
            rgb[i..i + 3].copy_from_slice(&color);
        };
        for r in 0..side {
            for c in 0..side {
                let (x, yy) = to_xy(r, c);
                let mut color = REGION[cls[[r, c]]];
                for (j, &(a, b, bias)) in lines.iter().enumerate() {
                    let norm = (a * a + b * b).sqrt();
                    let dist = (a * x + b * yy + bias) / norm;
                    // The zero-score line, and a stroke from the line's point nearest the
                    // origin along (a, b), a third of the picture long.
                    let (fx, fy) = (-bias * a / (norm * norm), -bias * b / (norm * norm));
                    let t = ((x - fx) * a + (yy - fy) * b) / norm;
                    let across = ((x - fx) * b - (yy - fy) * a).abs() / norm;
                    if dist.abs() < 0.8 * px
                        || (across < 1.5 * px && (0.0..(hi - lo) / 3.0).contains(&t))
                    {
                        color = LINE[j];
                    }
                }
                // Axes through the origin, faint.
                if (x.abs() < 0.5 * px || yy.abs() < 0.5 * px) && color == REGION[cls[[r, c]]] {
                    color = color.map(|v| v.saturating_sub(40));
                }
                put(r, c, color);
            }
        }
        for (row, &label) in X.rows().into_iter().zip(&y) {
            let c = ((row[0] - lo) / px) as isize;
            let r = ((hi - row[1]) / px) as isize;
            for dr in -3..=3isize {
                for dc in -3..=3isize {
                    let (rr, cc) = (r + dr, c + dc);
                    if dr * dr + dc * dc <= 9
                        && (0..side as isize).contains(&rr)
                        && (0..side as isize).contains(&cc)
                    {
                        let edge = dr * dr + dc * dc >= 7;
                        put(
                            rr as usize,
                            cc as usize,
                            if edge { [255, 255, 255] } else { POINT[label] },
                        );
                    }
                }
            }
        }
    }
    annotate(&mut rgb, (width, height), &labels)?;
    write_png(path, width, height, &rgb)
}

/// The template viewpoint on Fashion-MNIST (CIFAR-derived pictures stay out of the
/// repository): softmax classifiers with the recommended settings, each class's
/// weight column (without the bias) rescaled to 0–255, ten 28×28 tiles enlarged ×4.
/// Top row: the recommended reg (1, best accuracy); bottom row: reg 1e4, whose
/// smoother templates show what regularisation does.
fn templates(path: &Path) -> Result<(), Error> {
    let sp = load("fashion-mnist")?;
    let d = defaults_for("fashion-mnist", Loss::Softmax)?;
    let (scale, side, pad) = (4usize, 28usize, 6usize);
    let tile = side * scale;
    // Above: the title and the class names; left: each row's regularisation.
    let (left, top) = (96usize, 64usize);
    let width = left + 10 * tile + 9 * pad;
    let regs = [d.reg, 1e4];
    let height = top + regs.len() * tile + (regs.len() - 1) * pad;
    let mut rgb = vec![255u8; width * height * 3];
    let mut labels = vec![Label::centred(
        "Fashion-MNIST: the weight templates of softmax classifiers (one column of W per class)",
        width / 2,
        8,
        18.0,
    )];
    for (k, class) in sp.classes.iter().enumerate() {
        labels.push(Label::centred(
            class,
            left + k * (tile + pad) + tile / 2,
            top - 22,
            13.0,
        ));
    }
    for (band, &reg) in regs.iter().enumerate() {
        let mut clf = LinearClassifier::<f32>::new(
            Loss::Softmax,
            sp.x_train.ncols(),
            10,
            &mut numeric::rng(0),
        );
        clf.train(
            &sp.x_train.view(),
            &sp.y_train.view(),
            d.learning_rate as f32,
            reg as f32,
            d.num_iters,
            d.batch_size,
            &d.options,
        )?;
        let accuracy = clf.accuracy(&sp.x_test.view(), &sp.y_test.view())?;
        println!("templates reg {reg:e}: test accuracy {accuracy:.4}");
        let y0 = top + band * (tile + pad) + tile / 2;
        labels.push(Label::centred(
            &format!("reg {reg:e}"),
            left / 2,
            y0 - 16,
            13.0,
        ));
        labels.push(Label::centred(
            &format!("test acc {accuracy:.3}"),
            left / 2,
            y0 + 2,
            11.0,
        ));
        let w = clf.W.slice(ndarray::s![..784, ..]).to_owned();
        for (k, col) in w.axis_iter(Axis(1)).enumerate() {
            let img = rescale(&col);
            for r in 0..tile {
                for c in 0..tile {
                    let v = img[(r / scale) * side + c / scale];
                    let i =
                        ((top + band * (tile + pad) + r) * width + left + k * (tile + pad) + c) * 3;
                    rgb[i..i + 3].copy_from_slice(&[v, v, v]);
                }
            }
        }
    }
    annotate(&mut rgb, (width, height), &labels)?;
    write_png(path, width, height, &rgb)
}

/// DejaVu Sans, as the `cs231n` command ships it: plotters' text rendering has no
/// system font lookup.
static FONT: &[u8] = include_bytes!("../../cli/assets/DejaVuSans.ttf");

/// A line of text centred on `x`, its top at `y`, `size` pixels high.
struct Label {
    text: String,
    x: usize,
    y: usize,
    size: f64,
}

impl Label {
    fn centred(text: &str, x: usize, y: usize, size: f64) -> Label {
        Label {
            text: text.to_string(),
            x,
            y,
            size,
        }
    }
}

/// Writes the labels onto an RGB picture of `(width, height)` pixels.
fn annotate(
    rgb: &mut [u8],
    (width, height): (usize, usize),
    labels: &[Label],
) -> Result<(), Error> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
        .map_err(|_| "the bundled font does not load")?;
    let root = BitMapBackend::with_buffer(rgb, (width as u32, height as u32)).into_drawing_area();
    for l in labels {
        let style = TextStyle::from(("sans-serif", l.size).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(l.text.as_str(), (l.x as i32, l.y as i32), style))?;
    }
    root.present()?;
    Ok(())
}

/// A weight column rescaled to 0–255 over its own range, as the notebook shows them.
fn rescale(col: &ArrayView1<f32>) -> Vec<u8> {
    let (lo, hi) = col
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    col.iter()
        .map(|&v| (255.0 * (v - lo) / (hi - lo).max(f32::MIN_POSITIVE)).round() as u8)
        .collect()
}
