//! The crate's one error type: everything that can be wrong with a layer's shapes, an
//! architecture spec, a model's configuration, training data or a model file.
//!
//! Every variant names what is at fault (the layer, the spec token, the file and
//! tensor, the sizes), so a message can be shown to a user as is.
//!
//! ```
//! let err = nn::parse_arch("conv32x3-relu,fc").unwrap_err();
//! assert!(matches!(err, nn::Error::Spec { .. }));
//! assert!(err.to_string().contains("\"fc\""));
//! ```

use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in `nn`. New variants may be added, so match with a wildcard.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- Shapes of convolution, pooling and group norm layers -------------------
    /// `(size + 2·pad − window)` is not a multiple of the stride, so the windows do
    /// not tile the padded input.
    #[error(
        "{layer}: {axis} output size (size + 2·pad − window) / stride + 1 = ({size} + 2·{pad} − {window}) / {stride} + 1 is not whole"
    )]
    NotWhole {
        /// `"conv"` or `"max pool"`.
        layer: &'static str,
        /// `"height"` or `"width"`.
        axis: &'static str,
        /// Input height or width.
        size: usize,
        /// Zero padding on each side.
        pad: usize,
        /// Filter or pooling window height or width.
        window: usize,
        /// Stride.
        stride: usize,
    },
    /// The window is larger than the padded input.
    #[error("{layer}: {axis} window {window} is larger than the padded input {size} + 2·{pad}")]
    WindowTooLarge {
        /// `"conv"` or `"max pool"`.
        layer: &'static str,
        /// `"height"` or `"width"`.
        axis: &'static str,
        /// Input height or width.
        size: usize,
        /// Zero padding on each side.
        pad: usize,
        /// Window height or width.
        window: usize,
    },
    /// A stride or window of zero.
    #[error("{layer}: {what} must be at least 1")]
    Zero {
        /// `"conv"` or `"max pool"`.
        layer: &'static str,
        /// `"stride"`, `"window"`, ...
        what: &'static str,
    },
    /// The input's channels differ from the filters' depth.
    #[error(
        "conv: input x has {x_channels} channels but filters w (F, C, HH, WW) have C = {w_channels}"
    )]
    Channels {
        /// `C` of `x`.
        x_channels: usize,
        /// `C` of `w`.
        w_channels: usize,
    },
    /// Group normalisation needs the groups to split the channels evenly.
    #[error("group norm: {groups} groups do not divide {channels} channels evenly")]
    Groups {
        /// `C` of `x`.
        channels: usize,
        /// Requested number of groups.
        groups: usize,
    },
    /// One bias per filter is needed.
    #[error("conv: {biases} biases for {filters} filters")]
    Biases {
        /// Length of `b`.
        biases: usize,
        /// `F` of `w`.
        filters: usize,
    },
    /// An input whose shape does not fit a layer (wrong rank or width).
    #[error("{layer}: input of shape {found:?}, expected {expected}")]
    Input {
        /// The layer.
        layer: String,
        /// What the layer takes, in words (`"(N, 120) rows"`).
        expected: String,
        /// The input's shape.
        found: Vec<usize>,
    },

    // --- Building models ------------------------------------------------------
    /// A layer of an architecture spec could not be understood or does not fit.
    #[error("architecture \"{arch}\": layer \"{layer}\": {reason}")]
    Spec {
        /// The whole spec string.
        arch: String,
        /// The offending layer token.
        layer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A hyper-parameter is out of range, or a stored configuration is malformed.
    #[error("{model} configuration: {reason}")]
    Config {
        /// The model kind (`"FullyConnectedNet"`, ...).
        model: String,
        /// What is wrong.
        reason: String,
    },
    /// A size from a spec, a configuration or a file asks for more than the stated
    /// limit (see [`crate::limits`]); nothing was allocated.
    #[error("{what} asks for {asked} {unit}, over the limit of {limit}")]
    TooLarge {
        /// What asked (`"architecture \"conv1000000x3,fc10\""`, ...).
        what: String,
        /// How many it asked for (`"more than 2^64"` when the count overflows).
        asked: String,
        /// `"parameters"`, `"activations per example"`, ...
        unit: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A name that is none of the known ones (update rule, normalisation, ...).
    #[error("unknown {what} {name:?} (expected {expected})")]
    UnknownName {
        /// `"update rule"`, `"normalisation"`, ...
        what: &'static str,
        /// The name given.
        name: String,
        /// The accepted names.
        expected: &'static str,
    },

    // --- Training data and the Solver --------------------------------------------
    /// Inputs whose per-example shape is not the model's.
    #[error("{what} has shape {found:?}, but the model takes (N, {expected:?})")]
    DataShape {
        /// `x_train` or `x_val`.
        what: &'static str,
        /// The model's per-example shape.
        expected: Vec<usize>,
        /// The data's shape.
        found: Vec<usize>,
    },
    /// Different numbers of examples and labels.
    #[error("{what}: {examples} examples but {labels} labels")]
    LabelCount {
        /// `train` or `val`.
        what: &'static str,
        /// Examples.
        examples: usize,
        /// Labels.
        labels: usize,
    },
    /// A label that is not a class of the model.
    #[error("{what} label {index} is {label}, but the model has {num_classes} classes")]
    Label {
        /// `y_train` or `y_val`.
        what: &'static str,
        /// Position of the label.
        index: usize,
        /// Its value.
        label: usize,
        /// Classes of the model.
        num_classes: usize,
    },
    /// A Solver setting that cannot work (empty data, zero batch size, ...).
    #[error("invalid solver setting: {0}")]
    Setting(String),
    /// The loss became NaN or infinite: training diverged.
    #[error(
        "the loss became {loss} at epoch {epoch}, iteration {iteration} (learning rate {learning_rate}); \
         training diverged: lower the learning rate or the weight scale"
    )]
    NonFiniteLoss {
        /// Epoch, from 1.
        epoch: usize,
        /// Iteration within the epoch, from 1.
        iteration: usize,
        /// The loss value.
        loss: f64,
        /// Learning rate in force.
        learning_rate: f64,
    },

    // --- Tensor files: model files and checkpoints -----------------------------
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file, or a tensor is malformed.
    #[error("{path}: not a valid safetensors file: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A safetensors file that is not ours, or lacks a metadata entry.
    #[error("{path}: metadata {key:?} is {problem}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: String,
        /// `"missing"` or what is wrong with it.
        problem: String,
    },
    /// A tensor's shape differs from the model's parameter of the same name.
    #[error("{path}: tensor {name:?} has shape {found:?} but the model expects {expected:?}")]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// The model has a tensor the file lacks, or the file one the model lacks.
    #[error("{path}: tensor {name:?} is {problem}")]
    TensorSet {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// `"missing from the file"`, `"not a parameter of the model"`, ...
        problem: &'static str,
    },
    /// A tensor is stored in a type other than F32/F64.
    #[error("{path}: tensor {name:?} has dtype {dtype}; only F32 and F64 are supported")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// The model stored in a file cannot be rebuilt (unknown kind, invalid or
    /// oversized configuration).
    #[error("{path}: cannot rebuild the model: {source}")]
    Model {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<Error>,
    },
}

impl Error {
    /// A [`Error::Config`] for `model`.
    pub(crate) fn config(model: &str, reason: impl Into<String>) -> Self {
        Error::Config {
            model: model.into(),
            reason: reason.into(),
        }
    }
}
