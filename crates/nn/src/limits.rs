//! The resource policy for sizes that come from outside: architecture specs, stored
//! configurations and model files. Every such size is multiplied with checked
//! arithmetic and compared with a limit below *before* anything is allocated, so a
//! hostile or mistyped size is a clear [`Error::TooLarge`], never an abort.
//!
//! ```
//! assert_eq!(nn::limits::product(&[3, 32, 32]), Some(3072));
//! assert_eq!(nn::limits::product(&[1 << 40, 1 << 40]), None); // overflows usize
//! ```

use crate::error::{Error, Result};

/// Most trainable parameters a model may have: 2²⁸ (1 GiB of `f32`), a hundred times
/// the largest network the course trains.
pub const MAX_PARAMETERS: usize = 1 << 28;

/// Most activations one example may produce at any layer: 2²⁸ values.
pub const MAX_ACTIVATIONS: usize = 1 << 28;

/// The product of `dims`, or `None` when it overflows `usize`.
pub fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// `count` if it is at most `limit`, else [`Error::TooLarge`] naming `what`.
///
/// ```
/// let err = nn::limits::check("a spec", None, "parameters", 10).unwrap_err();
/// assert!(err.to_string().contains("more than 2^64"));
/// ```
pub fn check(what: &str, count: Option<usize>, unit: &'static str, limit: usize) -> Result<usize> {
    match count {
        Some(n) if n <= limit => Ok(n),
        other => Err(Error::TooLarge {
            what: what.to_string(),
            asked: other.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string()),
            unit,
            limit,
        }),
    }
}
