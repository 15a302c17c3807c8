//! Command-line grammar (clap derive): the global options and one struct per
//! subcommand. Defaults that depend on the dataset are `Option`s resolved by the
//! subcommand, so `--help` shows what the user typed, not a guess.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use cifar_data::DatasetChoice;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The Stanford CS231n image-classification pipeline: kNN, linear classifiers,
/// backpropagation, fully connected and convolutional networks.
#[derive(Debug, Parser)]
#[command(name = "cs231n", version, propagate_version = true)]
#[command(
    after_help = "Without fetched data every command runs on the bundled Fashion-MNIST sample (data/sample). \
Run `cargo xtask fetch-data` for CIFAR-10, `cargo xtask fetch-data --dataset fashion-mnist` for Fashion-MNIST."
)]
pub struct Cli {
    /// Options every subcommand takes.
    #[command(flatten)]
    pub global: Global,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by all subcommands (accepted before or after the subcommand), listed
/// under their own heading in every `--help`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Folder holding the datasets, as installed by `cargo xtask fetch-data`; must exist
    /// [default: the checkout's data/, whatever the current directory].
    #[arg(long, global = true, value_name = "DIR", env = cifar_data::DATA_DIR_ENV)]
    pub data_dir: Option<PathBuf>,
    /// Dataset: auto (CIFAR-10 when fetched, else the bundled sample), cifar10,
    /// fashion-mnist or sample.
    #[arg(long, global = true, value_name = "NAME", default_value = "auto", value_parser = parse_dataset)]
    pub dataset: DatasetChoice,
    /// Seed of every random choice (initialisation, minibatches, dropout, splits).
    #[arg(long, global = true, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: rayon's convention, RAYON_NUM_THREADS or one per core).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// Precision of f32 matrix products: f32, or bf16 (inputs rounded to bf16, sums in
    /// f32; twice the multiply rate on CPUs with AVX512_BF16, f32 elsewhere)
    /// [default: bf16 for `speedrun`, which airbench94 trains in half precision; f32 for
    /// the other commands].
    #[arg(long, global = true, value_name = "P", value_parser = parse_precision)]
    pub matmul_precision: Option<numeric::MatmulPrecision>,
    /// Folder for plots and models.
    #[arg(long, global = true, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Print one JSON object summarising the run on stdout (human text goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,
}

fn parse_dataset(s: &str) -> Result<DatasetChoice, String> {
    s.parse()
}

fn parse_precision(s: &str) -> Result<numeric::MatmulPrecision, String> {
    s.parse()
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the dataset's splits and per-class counts.
    Info,
    /// Write a PNG grid of example images of each class.
    Show(ShowArgs),
    /// k-nearest-neighbour classifier (lecture 2).
    Knn(KnnArgs),
    /// Linear classifier with the multiclass SVM (hinge) loss (lectures 2-3).
    Svm(LinearArgs),
    /// Linear classifier with the softmax (cross-entropy) loss (lectures 2-3).
    Softmax(LinearArgs),
    /// Fully connected network trained by backpropagation (lectures 4-7).
    Nn(NnArgs),
    /// Convolutional network (lecture 5).
    Cnn(CnnArgs),
    /// The fast-training recipe (airbench94): CIFAR-10 to ~90% in ten epochs (docs/speedrun.md).
    Speedrun(SpeedrunArgs),
    /// The lecture's backpropagation examples: forward and backward tables and the graph.
    Backprop(BackpropArgs),
    /// Classify PNG/JPEG images with a model written by svm, softmax, nn or cnn.
    Predict(PredictArgs),
}

impl Command {
    /// The precision of f32 products without `--matmul-precision`: bf16 for the
    /// fast-training recipe (airbench94 runs its network in half precision, and its
    /// accuracy holds with bf16 products: docs/speedrun.md), f32 for the course's
    /// commands, whose sanity values are f32's.
    pub fn default_precision(&self) -> numeric::MatmulPrecision {
        match self {
            Command::Speedrun(_) => numeric::MatmulPrecision::Bf16,
            _ => numeric::MatmulPrecision::F32,
        }
    }

    /// True when the command writes into `--out` (so the folder is checked first).
    pub fn writes_files(&self) -> bool {
        match self {
            Command::Info | Command::Predict(_) => false,
            Command::Knn(a) => a.cross_validate || a.plot_dists,
            _ => true,
        }
    }
}

/// `cs231n show`.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// Images per class (the course's figure shows 7).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub per_class: u16,
    /// Which split to draw from.
    #[arg(long, value_enum, default_value_t = Split::Train)]
    pub split: Split,
}

/// A split of the dataset as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Split {
    /// The training images.
    Train,
    /// The test images.
    Test,
}

/// A number of examples, or `all` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Every example.
    All,
    /// The first N.
    N(usize),
}

impl Count {
    /// How many of `available` to take (never more than there are).
    pub fn of(self, available: usize) -> usize {
        match self {
            Count::All => available,
            Count::N(n) => n.min(available),
        }
    }
}

impl FromStr for Count {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Count::All);
        }
        match s.parse::<usize>() {
            Ok(0) => Err("must be at least 1 (or `all`)".into()),
            Ok(n) => Ok(Count::N(n)),
            Err(_) => Err(format!("expected a number or `all`, got '{s}'")),
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Count::All => f.write_str("all"),
            Count::N(n) => write!(f, "{n}"),
        }
    }
}

/// `cs231n knn`: the course's set-up by default (first 5 000 train / 500 test, k = 1, L2).
#[derive(Debug, Clone, Args)]
pub struct KnnArgs {
    /// Number of neighbours that vote.
    #[arg(long, default_value_t = 1)]
    pub k: usize,
    /// Distance: l1 or l2.
    #[arg(long, default_value = "l2", value_parser = parse_metric)]
    pub metric: knn::Metric,
    /// Training images used (the first N), or `all`.
    #[arg(long, default_value = "5000", value_name = "N|all")]
    pub num_train: Count,
    /// Test images classified (the first N), or `all`.
    #[arg(long, default_value = "500", value_name = "N|all")]
    pub num_test: Count,
    /// Distance-weighted vote (each neighbour votes 1/distance) instead of the majority.
    #[arg(long)]
    pub weighted: bool,
    /// k-fold cross-validation over --k-choices on the training images (table + PNG plot).
    #[arg(long)]
    pub cross_validate: bool,
    /// Folds of the cross-validation.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// The k tried by the cross-validation.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,3,5,8,10,12,15,20,50,100"
    )]
    pub k_choices: Vec<usize>,
    /// Write the test x train distance matrix as a PNG (knn_dists.png).
    #[arg(long)]
    pub plot_dists: bool,
}

fn parse_metric(s: &str) -> Result<knn::Metric, String> {
    s.parse().map_err(|e: knn::KnnError| e.to_string())
}

/// `cs231n svm` / `cs231n softmax`. Unset values take the course's defaults on CIFAR-10
/// and tuned defaults on Fashion-MNIST (see docs/cli.md).
#[derive(Debug, Clone, Args)]
pub struct LinearArgs {
    /// Grid search over learning rate x regularisation, selected on the validation split.
    #[arg(long)]
    pub search: bool,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Regularisation strength (loss term reg * sum W^2).
    #[arg(long)]
    pub reg: Option<f64>,
    /// SGD iterations.
    #[arg(long)]
    pub iters: Option<usize>,
    /// Minibatch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// The split sizes.
    #[command(flatten)]
    pub splits: SplitArgs,
}

/// The course's splits of `svm`, `softmax`, `nn` and `cnn`: training, the 1 000
/// validation images right after it, and the first test images.
#[derive(Debug, Clone, Args)]
pub struct SplitArgs {
    /// Training split size (the validation split follows it; default: the course's 49 000, or what the data has).
    #[arg(long)]
    pub num_train: Option<usize>,
    /// Test images evaluated (the first N of the test set), or `all` [default: the course's 1 000].
    #[arg(long, value_name = "N|all")]
    pub num_test: Option<Count>,
}

impl SplitArgs {
    /// The sizes asked for, for a test set of `test_len` images (larger requests are
    /// shrunk to the data by `preprocess`, with a notice).
    pub fn sizes(&self, test_len: usize) -> cifar_data::SplitSizes {
        let course = cifar_data::SplitSizes::default();
        cifar_data::SplitSizes {
            num_training: self.num_train.unwrap_or(course.num_training),
            num_test: self.num_test.map_or(course.num_test, |n| n.of(test_len)),
            ..course
        }
    }
}

/// Options common to `nn` and `cnn`: the Solver's.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Update rule.
    /// One of sgd, momentum (sgd_momentum), rmsprop, adam.
    #[arg(long, default_value_t = nn::UpdateRule::Adam)]
    pub update: nn::UpdateRule,
    /// Learning rate [default: nn 1e-3 with Adam (the course's 1e-2 otherwise), cnn 1e-3].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate decay applied after each epoch [default: 0.95].
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// L2 regularisation strength (loss term 0.5 * reg * sum W^2) [default: nn 0, cnn 1e-3].
    #[arg(long)]
    pub reg: Option<f64>,
    /// Epochs, in total when resuming [default: nn 10, cnn 1].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Minibatch size [default: nn 200, cnn 50].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Initial weight scale (standard deviation of the Gaussian initialisation)
    /// [default: He init, sqrt(2 / fan_in); ThreeLayerConvNet 1e-3].
    #[arg(long)]
    pub weight_scale: Option<f64>,
    /// The split sizes.
    #[command(flatten)]
    pub splits: SplitArgs,
    /// Resume from a checkpoint written by an earlier run (OUT/nn_checkpoint.safetensors);
    /// the architecture, weights, optimiser state and epoch come from it.
    #[arg(long, value_name = "CKPT")]
    pub resume: Option<PathBuf>,
}

/// `cs231n nn`.
#[derive(Debug, Clone, Args)]
pub struct NnArgs {
    /// Hidden layer sizes: `100` (the two-layer net) or `100,100,100`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100",
        value_name = "SIZES"
    )]
    pub hidden: Vec<usize>,
    /// Normalisation after each hidden affine layer.
    /// One of none, batch (batchnorm), layer (layernorm).
    #[arg(long, default_value_t = nn::Normalization::None)]
    pub norm: nn::Normalization,
    /// Dropout keep probability p (the course's convention); none when unset.
    #[arg(long, value_name = "P")]
    pub dropout: Option<f64>,
    /// Train the same net (same seed, initialisation and data) once per update rule, each
    /// at the course notebook's learning rate (sgd 1e-2, sgd_momentum 1e-2, rmsprop 1e-4,
    /// adam 1e-3; `--lr` sets one for all), and plot them together in OUT/update_rules.png.
    #[arg(long, conflicts_with_all = ["update", "resume"])]
    pub compare_updates: bool,
    /// The Solver's options.
    #[command(flatten)]
    pub train: TrainArgs,
}

/// `cs231n cnn`.
#[derive(Debug, Clone, Args)]
pub struct CnnArgs {
    /// Layer spec, e.g. "conv32x3-bn-relu-pool,conv64x3-bn-relu-pool,fc256-relu-drop0.5,fc10";
    /// default: the course's ThreeLayerConvNet.
    #[arg(long)]
    pub arch: Option<String>,
    /// ThreeLayerConvNet: hidden affine size.
    #[arg(long, default_value_t = 100)]
    pub hidden: usize,
    /// ThreeLayerConvNet: number of filters.
    #[arg(long, default_value_t = 32)]
    pub num_filters: usize,
    /// ThreeLayerConvNet: filter size.
    #[arg(long, default_value_t = 7)]
    pub filter_size: usize,
    /// Data augmentation (random crops and flips) for training.
    #[arg(long)]
    pub augment: bool,
    /// The Solver's options.
    #[command(flatten)]
    pub train: TrainArgs,
}

/// `cs231n speedrun`: airbench94's settings unless told otherwise.
#[derive(Debug, Clone, Args)]
pub struct SpeedrunArgs {
    /// Epochs, fractional: the last one stops part-way.
    #[arg(long, default_value_t = 9.9)]
    pub epochs: f64,
    /// Images per step (the rates are per 1024 images, so they follow).
    #[arg(long, default_value_t = 1024)]
    pub batch: usize,
    /// Independent runs (seeds --seed, --seed + 1, ...), reported as mean ± std.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Training images (the first N), or `all`.
    #[arg(long, default_value = "all", value_name = "N|all")]
    pub num_train: Count,
    /// Test images evaluated (the first N), or `all`.
    #[arg(long, default_value = "all", value_name = "N|all")]
    pub num_test: Count,
    /// Test-time augmentation level: 0 none, 1 mirror, 2 mirror and ±1 px shifts.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub tta: u8,
    /// Label smoothing of the loss.
    #[arg(long, default_value_t = 0.2)]
    pub label_smoothing: f64,
    /// Random translation in pixels (0: none).
    #[arg(long, default_value_t = 2)]
    pub translate: usize,
    /// No alternating flips.
    #[arg(long)]
    pub no_flip: bool,
    /// No lookahead.
    #[arg(long)]
    pub no_lookahead: bool,
    /// Nesterov momentum (0: plain SGD; the per-1024 rates keep the step size).
    #[arg(long, default_value_t = 0.85, value_parser = momentum)]
    pub momentum: f64,
    /// No learning-rate schedule: every step at the full rate, no warm-up or decay.
    #[arg(long)]
    pub no_schedule: bool,
    /// No whitening: the first conv is trained from random filters like the others.
    #[arg(long)]
    pub no_whitening: bool,
}

/// A momentum in [0, 1).
fn momentum(s: &str) -> Result<f64, String> {
    let m: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..1.0).contains(&m) {
        Ok(m)
    } else {
        Err(format!("momentum {m} must be in [0, 1)"))
    }
}

/// `cs231n backprop`.
#[derive(Debug, Clone, Args)]
pub struct BackpropArgs {
    /// Which of the lecture's examples.
    #[arg(long, value_enum, default_value_t = Example::Sigmoid)]
    pub example: Example,
}

/// The lecture's computational graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Example {
    /// The sigmoid neuron f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))), elementary gates.
    Sigmoid,
    /// The same neuron with one fused sigmoid gate (local gradient sigma (1 - sigma)).
    SigmoidFused,
    /// f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4.
    AddMul,
    /// f(x, W) = ||W x||^2 at x = [0.2, 0.4], W = [[0.1, 0.5], [-0.3, 0.8]].
    Vector,
}

/// `cs231n predict`.
#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// Model file written by svm, softmax, nn or cnn (OUT/*.safetensors).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// How many classes to list per image, most probable first.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    /// PNG or JPEG images (resized and converted to the model's input shape).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
}

impl Example {
    /// The name `backprop::examples::by_name` takes (the same as on the command line).
    pub fn name(self) -> &'static str {
        match self {
            Example::Sigmoid => "sigmoid",
            Example::SigmoidFused => "sigmoid-fused",
            Example::AddMul => "add-mul",
            Example::Vector => "vector",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_global_options_under_their_own_heading() {
        let err = Cli::try_parse_from(["cs231n", "knn", "--help"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = err.render().to_string();
        let heading = help.find("Global options:").expect(&help);
        let own = help.find("--k <K>").expect(&help);
        let global = help.find("--data-dir <DIR>").expect(&help);
        assert!(own < heading && heading < global, "{help}");
        assert!(help[heading..].contains("--seed"), "{help}");
        assert!(!help[heading..].contains("--k-choices"), "{help}");
    }

    #[test]
    fn matmul_precision_defaults_by_command_and_parses_bf16() {
        use numeric::MatmulPrecision;
        let parse =
            |extra: &[&str]| Cli::try_parse_from(["cs231n", "speedrun"].iter().chain(extra));
        let plain = parse(&[]).unwrap();
        assert_eq!(plain.global.matmul_precision, None);
        assert_eq!(plain.command.default_precision(), MatmulPrecision::Bf16);
        let knn = Cli::try_parse_from(["cs231n", "knn"]).unwrap();
        assert_eq!(knn.command.default_precision(), MatmulPrecision::F32);
        let bf16 = parse(&["--matmul-precision", "bf16"]).unwrap();
        assert_eq!(bf16.global.matmul_precision, Some(MatmulPrecision::Bf16));
        let f32 = parse(&["--matmul-precision", "f32"]).unwrap();
        assert_eq!(f32.global.matmul_precision, Some(MatmulPrecision::F32));
        let err = parse(&["--matmul-precision", "fp16"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("fp16") && err.contains("f32 or bf16"), "{err}");
    }

    #[test]
    fn count_parses_all_and_numbers() {
        assert_eq!("all".parse::<Count>().unwrap(), Count::All);
        assert_eq!("ALL".parse::<Count>().unwrap().of(7), 7);
        assert_eq!("5".parse::<Count>().unwrap().of(3), 3);
        assert!("0".parse::<Count>().is_err());
        assert!("five".parse::<Count>().is_err());
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = Cli::try_parse_from(["cs231n", "knn", "--json", "--k", "3", "--num-test", "all"])
            .unwrap();
        assert!(cli.global.json);
        match cli.command {
            Command::Knn(a) => {
                assert_eq!(a.k, 3);
                assert_eq!(a.num_test, Count::All);
                assert_eq!(a.num_train, Count::N(5000));
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn split_sizes_default_to_the_course_and_take_all_of_the_test_set() {
        let parse = |extra: &[&str]| {
            let cli = Cli::try_parse_from(["cs231n", "cnn"].iter().chain(extra)).unwrap();
            match cli.command {
                Command::Cnn(a) => a.train.splits.sizes(10_000),
                other => panic!("parsed as {other:?}"),
            }
        };
        let course = parse(&[]);
        assert_eq!(
            (course.num_training, course.num_validation, course.num_test),
            (49_000, 1_000, 1_000)
        );
        let all = parse(&["--num-test", "all", "--num-train", "59000"]);
        assert_eq!((all.num_training, all.num_test), (59_000, 10_000));
        assert_eq!(parse(&["--num-test", "20000"]).num_test, 10_000);
        assert!(Cli::try_parse_from(["cs231n", "svm", "--num-test", "0"]).is_err());
    }
}
