//! Architecture specs: the small language a [`SequentialNet`](crate::SequentialNet)(crate::SequentialNet)
//! is written in, e.g. `"conv32x3-bn-relu-pool,conv64x3-bn-relu-pool,fc256-relu-drop0.5,fc10"`,
//! and the one place that maps each token to its [`Layer`].
//!
//! Adding a kind of layer is one new file implementing [`Layer`] and one line in
//! [`build`]. Every size a spec asks for is checked with checked arithmetic against
//! [`crate::limits`] before any weight is allocated.
//!
//! ```
//! let layers = nn::build_layers::<f32>("conv8x3-relu-pool,fc10", &[3, 32, 32], 0)?;
//! assert_eq!(layers.len(), 4);
//! assert!(nn::build_layers::<f32>("bn,fc10", &[3, 32, 32], 0).is_err()); // no weights to normalise
//! # Ok::<(), nn::Error>(())
//! ```

use numeric::Float;

use crate::error::{Error, Result};
use crate::group_norm::GroupNorm;
use crate::layer::Layer;
use crate::limits::{self, MAX_ACTIVATIONS, MAX_PARAMETERS};
use crate::norm::{BatchNorm, NormNames};
use crate::pool::{MaxPool, PoolParam};
use crate::spatial::SpatialBatchNorm;
use crate::{Affine, Conv, Dropout, Relu};

/// One layer of a [`SequentialNet`](crate::SequentialNet), as written in an architecture spec.
///
/// ```
/// use nn::{LayerSpec, parse_arch};
/// assert_eq!(parse_arch("conv16x5s2,pool,gn4,drop0.8,fc10")?, vec![
///     LayerSpec::Conv { filters: 16, size: 5, stride: 2 },
///     LayerSpec::Pool { size: 2 },
///     LayerSpec::GroupNorm { groups: 4 },
///     LayerSpec::Dropout { keep: 0.8 },
///     LayerSpec::Fc { units: 10 },
/// ]);
/// # Ok::<(), nn::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum LayerSpec {
    /// `conv{F}x{K}` (or `conv{F}x{K}s{S}`): F filters of K×K, stride S (default 1),
    /// zero padding (K−1)/2 — "same" size for odd K at stride 1.
    Conv {
        /// Number of filters.
        filters: usize,
        /// Filter side.
        size: usize,
        /// Stride.
        stride: usize,
    },
    /// `pool` (2×2, stride 2) or `pool{K}` (K×K, stride K): max pooling.
    Pool {
        /// Window side and stride.
        size: usize,
    },
    /// `bn`: batch normalisation (spatial after a conv layer, per feature after fc).
    BatchNorm,
    /// `gn{G}`: group normalisation with G groups (conv layers only).
    GroupNorm {
        /// Number of groups; must divide the channels.
        groups: usize,
    },
    /// `relu`.
    Relu,
    /// `gelu`: the exact (erf) GELU, see [`crate::Gelu`].
    Gelu,
    /// `fc{M}`: affine layer with M outputs (the input is flattened first).
    Fc {
        /// Output units.
        units: usize,
    },
    /// `drop{p}`: inverted dropout keeping each unit with probability p, as in the course.
    Dropout {
        /// Probability of keeping a unit, in (0, 1].
        keep: f64,
    },
}

/// Parses an architecture spec: layers separated by `,` or `-` (commas conventionally
/// end a block), each one of `conv{F}x{K}[s{S}]`, `pool[{K}]`, `bn`, `gn{G}`, `relu`, `gelu`,
/// `fc{M}`, `drop{p}` (see [`LayerSpec`]). The last layer must be `fc{classes}`.
///
/// # Errors
/// [`Error::Spec`] naming the token that is not understood.
///
/// ```
/// let layers = nn::parse_arch("conv32x3-bn-relu-pool,conv64x3-bn-relu-pool,fc256-relu-drop0.5,fc10")?;
/// assert_eq!(layers.len(), 12);
/// assert!(nn::parse_arch("conv32x3-relu").is_err()); // no scores layer
/// # Ok::<(), nn::Error>(())
/// ```
pub fn parse_arch(arch: &str) -> Result<Vec<LayerSpec>> {
    let err = |layer: &str, reason: &str| Error::Spec {
        arch: arch.into(),
        layer: layer.into(),
        reason: reason.into(),
    };
    let number = |tok: &str, digits: &str| -> Result<usize> {
        // Digits only: `usize::parse` would also take "+10".
        Some(digits)
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<usize>().ok())
            .filter(|&v| v > 0)
            .ok_or_else(|| err(tok, &format!("\"{digits}\" is not a positive whole number")))
    };
    let mut layers = Vec::new();
    for tok in arch.split([',', '-']).map(str::trim) {
        let layer = if let Some(rest) = tok.strip_prefix("conv") {
            let (f, rest) = rest
                .split_once('x')
                .ok_or_else(|| err(tok, "expected conv{filters}x{size}, e.g. conv32x3"))?;
            let (k, s) = rest.split_once('s').unwrap_or((rest, "1"));
            LayerSpec::Conv {
                filters: number(tok, f)?,
                size: number(tok, k)?,
                stride: number(tok, s)?,
            }
        } else if let Some(rest) = tok.strip_prefix("pool") {
            LayerSpec::Pool {
                size: if rest.is_empty() {
                    2
                } else {
                    number(tok, rest)?
                },
            }
        } else if tok == "bn" {
            LayerSpec::BatchNorm
        } else if let Some(rest) = tok.strip_prefix("gn") {
            LayerSpec::GroupNorm {
                groups: number(tok, rest)?,
            }
        } else if tok == "relu" {
            LayerSpec::Relu
        } else if tok == "gelu" {
            LayerSpec::Gelu
        } else if let Some(rest) = tok.strip_prefix("fc") {
            LayerSpec::Fc {
                units: number(tok, rest)?,
            }
        } else if let Some(rest) = tok.strip_prefix("drop") {
            let keep = Some(rest)
                .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
                .and_then(|r| r.parse::<f64>().ok())
                .filter(|p| *p > 0.0 && *p <= 1.0)
                .ok_or_else(|| {
                    err(
                        tok,
                        "expected drop{p} with keep probability p in (0, 1], e.g. drop0.5",
                    )
                })?;
            LayerSpec::Dropout { keep }
        } else {
            return Err(err(
                tok,
                "unknown layer (expected convFxK, pool, bn, gnG, relu, gelu, fcM, dropP)",
            ));
        };
        layers.push(layer);
    }
    match layers.last() {
        Some(LayerSpec::Fc { .. }) => Ok(layers),
        _ => Err(err(
            arch.rsplit([',', '-']).next().unwrap_or(""),
            "the last layer must be fc{classes}, the scores",
        )),
    }
}

impl std::fmt::Display for LayerSpec {
    /// The spec token this layer parses from.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerSpec::Conv {
                filters,
                size,
                stride: 1,
            } => write!(f, "conv{filters}x{size}"),
            LayerSpec::Conv {
                filters,
                size,
                stride,
            } => write!(f, "conv{filters}x{size}s{stride}"),
            LayerSpec::Pool { size: 2 } => write!(f, "pool"),
            LayerSpec::Pool { size } => write!(f, "pool{size}"),
            LayerSpec::BatchNorm => write!(f, "bn"),
            LayerSpec::GroupNorm { groups } => write!(f, "gn{groups}"),
            LayerSpec::Relu => write!(f, "relu"),
            LayerSpec::Gelu => write!(f, "gelu"),
            LayerSpec::Fc { units } => write!(f, "fc{units}"),
            LayerSpec::Dropout { keep } => write!(f, "drop{keep}"),
        }
    }
}

/// Builds the layers of `arch` for examples of shape `input_shape` ((C, H, W) images
/// or (D,) rows): parameters are named after the weight layer they belong to,
/// counting conv and fc layers from 1 (`W1`, `b1`, then `gamma1`, `beta1` of its
/// norm, ...); dropout layer `i` draws its masks from seed `seed + i`.
///
/// Nothing is allocated but the layer descriptions: the caller allocates the
/// parameters the layers list, after this has checked their count.
///
/// # Errors
/// [`Error::Spec`] for a malformed spec or a layer that does not fit its input (a
/// conv after an fc layer, a filter wider than the image, a norm with no weight layer
/// before it, ...); [`Error::TooLarge`] when the parameters or the activations of one
/// example exceed [`MAX_PARAMETERS`] or [`MAX_ACTIVATIONS`].
///
/// ```
/// let err = nn::build_layers::<f32>("conv100000000x3,fc10", &[3, 32, 32], 0).unwrap_err();
/// assert!(matches!(err, nn::Error::TooLarge { .. }), "{err}");
/// ```
pub fn build<T: Float>(
    arch: &str,
    input_shape: &[usize],
    seed: u64,
) -> Result<Vec<Box<dyn Layer<T>>>> {
    let what = format!("architecture \"{arch}\"");
    let spec_err = |layer: String, reason: String| Error::Spec {
        arch: arch.into(),
        layer,
        reason,
    };
    if !(input_shape.len() == 3 || input_shape.len() == 1) || input_shape.contains(&0) {
        return Err(spec_err(
            String::new(),
            format!("the input must be images (C, H, W) or rows (D,), got {input_shape:?}"),
        ));
    }
    limits::check(
        &what,
        limits::product(input_shape),
        "activations per example",
        MAX_ACTIVATIONS,
    )?;
    let mut shape = input_shape.to_vec();
    let mut layers: Vec<Box<dyn Layer<T>>> = Vec::new();
    let mut k = 0; // weight layers so far
    let mut normalised = 0; // the weight layer whose output already has a norm
    let mut parameters = Some(0usize);
    for (i, spec) in parse_arch(arch)?.into_iter().enumerate() {
        let tok = spec.to_string();
        let mut norm_names = || {
            if k == 0 {
                return Err(spec_err(
                    tok.clone(),
                    "a normalisation needs a conv or fc layer before it".into(),
                ));
            }
            if normalised == k {
                return Err(spec_err(
                    tok.clone(),
                    format!("layer {k} already has a normalisation"),
                ));
            }
            normalised = k;
            Ok(NormNames::numbered(&k.to_string()))
        };
        let layer: Box<dyn Layer<T>> = match spec {
            LayerSpec::Conv {
                filters,
                size,
                stride,
            } => {
                let &[c, h, w] = &shape[..] else {
                    return Err(spec_err(
                        tok,
                        "a conv layer needs images (C, H, W), not flattened rows".into(),
                    ));
                };
                if size > h || size > w {
                    return Err(spec_err(
                        tok,
                        format!("the {size}×{size} filter is wider than the {h}×{w} input"),
                    ));
                }
                k += 1;
                Box::new(Conv::new(
                    format!("W{k}"),
                    format!("b{k}"),
                    c,
                    filters,
                    size,
                    stride,
                ))
            }
            LayerSpec::Pool { size } => Box::new(MaxPool {
                param: PoolParam::square(size, size),
            }),
            LayerSpec::BatchNorm if shape.len() == 3 => {
                Box::new(SpatialBatchNorm::new(norm_names()?, shape[0]))
            }
            LayerSpec::BatchNorm => Box::new(BatchNorm::new(norm_names()?, shape[0])),
            LayerSpec::GroupNorm { groups } => {
                Box::new(GroupNorm::new(norm_names()?, shape[0], groups))
            }
            LayerSpec::Relu => Box::new(Relu),
            LayerSpec::Gelu => Box::new(crate::Gelu::default()),
            LayerSpec::Fc { units } => {
                k += 1;
                let d = limits::product(&shape).expect("checked as the previous output");
                Box::new(Affine::new(format!("W{k}"), format!("b{k}"), d, units))
            }
            LayerSpec::Dropout { keep } => {
                Box::new(Dropout::new(keep, seed.wrapping_add(i as u64)))
            }
        };
        for p in layer.params() {
            parameters = parameters.and_then(|n| n.checked_add(limits::product(&p.shape)?));
        }
        limits::check(&what, parameters, "parameters", MAX_PARAMETERS)?;
        shape = layer
            .output_shape(&shape)
            .map_err(|e| spec_err(tok.clone(), e.to_string()))?;
        limits::check(
            &format!("{what}, layer \"{tok}\""),
            limits::product(&shape),
            "activations per example",
            MAX_ACTIVATIONS,
        )?;
        layers.push(layer);
    }
    Ok(layers)
}
