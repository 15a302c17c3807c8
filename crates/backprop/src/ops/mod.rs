//! The elementary gates of lecture 4, one type per operation. Each file holds a
//! family: the gate's forward pass, its backward pass (local gradient × upstream
//! gradient, vectorised) right below it, and the [`crate::Graph`] method that
//! records it on the tape.
//!
//! | file         | gates                                    | the lecture's pattern            |
//! |--------------|------------------------------------------|----------------------------------|
//! | `add.rs`     | `add`, `sub`, `add_scalar`               | the add gate *distributes*       |
//! | `mul.rs`     | `mul`, `div`, `scale`, `neg`, `recip`    | the mul gate *swaps*             |
//! | `max.rs`     | `max`, `min`, `relu`                     | the max gate *routes*            |
//! | `sigmoid.rs` | `sigmoid`, `tanh`                        | a fused gate from its output     |
//! | `exp.rs`     | `exp`, `log`, `sqrt`, `pow`              | calculus' table of derivatives   |
//! | `matmul.rs`  | `matmul`, `transpose`, `reshape`         | gradients whose shapes must fit  |
//! | `reduce.rs`  | `sum`, `mean`, `sum_axis`, `mean_axis`   | one input, many uses: broadcast  |
//! | `gather.rs`  | `gather`                                 | a loss's correct-class score     |
//!
//! Values come from the graph ([`crate::BackwardArgs`]), so no gate copies its
//! inputs; `broadcast.rs` has numpy's broadcasting, shared by the elementwise gates.

mod add;
mod broadcast;
mod exp;
mod gather;
mod matmul;
mod max;
mod mul;
mod reduce;
mod sigmoid;

use ndarray::ArrayD;

use crate::GraphError;

/// What a gate's backward pass returns: one gradient per input (`None`: not wanted).
type Grads<T> = Result<Vec<Option<ArrayD<T>>>, GraphError>;

/// The single input of a unary gate, after checking there is exactly one.
fn one<'a, T>(op: &str, inputs: &[&'a ArrayD<T>]) -> Result<&'a ArrayD<T>, GraphError> {
    GraphError::check_arity(op, inputs, 1)?;
    Ok(inputs[0])
}
