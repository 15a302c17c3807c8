//! Speed helpers of the tape: handing a gate its input values and `needs_grad`
//! flags from the stack instead of a fresh `Vec` per gate and pass.
//!
//! What they buy: a tape of cheap gates on small arrays (the lecture's circuits,
//! a chain of scalar ops) spends as much time on bookkeeping as on arithmetic, and
//! two heap allocations per gate were most of it. With them the tape stays within
//! 10% of hand-written code (`cargo run --release -p backprop --example tape_ab`).

use ndarray::ArrayD;

use crate::node::{Node, NodeId};

/// Calls `f` with the values of `inputs`, on the stack for up to four inputs.
pub(crate) fn with_values<T, R>(
    nodes: &[Node<T>],
    inputs: &[NodeId],
    f: impl FnOnce(&[&ArrayD<T>]) -> R,
) -> R {
    let v = |k: usize| &nodes[inputs[k].0].value;
    match inputs.len() {
        0 => f(&[]),
        1 => f(&[v(0)]),
        2 => f(&[v(0), v(1)]),
        3 => f(&[v(0), v(1), v(2)]),
        4 => f(&[v(0), v(1), v(2), v(3)]),
        _ => f(&inputs.iter().map(|i| &nodes[i.0].value).collect::<Vec<_>>()),
    }
}

/// Calls `f` with whether each input wants a gradient, on the stack for up to eight inputs.
pub(crate) fn with_needs_grad<T, R>(
    nodes: &[Node<T>],
    inputs: &[NodeId],
    f: impl FnOnce(&[bool]) -> R,
) -> R {
    let needs = |i: &NodeId| nodes[i.0].needs_grad;
    let mut buf = [false; 8];
    if inputs.len() <= buf.len() {
        for (slot, i) in buf.iter_mut().zip(inputs) {
            *slot = needs(i);
        }
        f(&buf[..inputs.len()])
    } else {
        f(&inputs.iter().map(needs).collect::<Vec<_>>())
    }
}
