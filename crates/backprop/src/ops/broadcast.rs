//! numpy's broadcasting for the elementwise gates: forward, operands of different
//! shapes are viewed at one common shape; backward, the gradient of a broadcast
//! copy is the sum over the copies (a bias row's gradient sums over the batch).

use ndarray::{ArrayD, ArrayViewD, Axis};
use numeric::Float;

use crate::GraphError;
use crate::gate::BackwardArgs;

/// numpy's broadcast of two shapes, or `None` if they are incompatible.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    // Dimension k of a shape aligned on the right, 1 where the shape is shorter.
    let dim = |s: &[usize], k: usize| {
        if k + s.len() >= n {
            s[k + s.len() - n]
        } else {
            1
        }
    };
    (0..n)
        .map(|k| match (dim(a, k), dim(b, k)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// The two inputs of an elementwise gate as views of one shape.
///
/// # Errors
/// [`GraphError::Arity`] unless there are two inputs, [`GraphError::ShapeMismatch`]
/// naming `op` and both shapes if they do not broadcast.
pub(super) fn broadcast_pair<'a, T>(
    op: &str,
    inputs: &[&'a ArrayD<T>],
) -> Result<(ArrayViewD<'a, T>, ArrayViewD<'a, T>), GraphError> {
    GraphError::check_arity(op, inputs, 2)?;
    let (a, b) = (inputs[0], inputs[1]);
    if a.shape() == b.shape() {
        return Ok((a.view(), b.view()));
    }
    let shape = broadcast_shape(a.shape(), b.shape())
        .ok_or_else(|| GraphError::shape_mismatch(op, a.shape(), b.shape()))?;
    let view = |x: &'a ArrayD<T>| x.broadcast(shape.clone()).expect("broadcastable");
    Ok((view(a), view(b)))
}

/// Input `k` viewed at the upstream gradient's (broadcast) shape: how an operand
/// meets `dout` in a backward pass.
pub(super) fn input_at_dout<'a, T>(
    op: &str,
    args: &BackwardArgs<'a, T>,
    k: usize,
) -> Result<ArrayViewD<'a, T>, GraphError> {
    let (x, shape) = (args.inputs[k], args.dout.shape());
    x.broadcast(shape)
        .ok_or_else(|| GraphError::shape_mismatch(op, x.shape(), shape))
}

/// Sums a gradient of the broadcast shape down to an operand's `shape`: the
/// gradient of a broadcast copy is the sum over the copies.
pub(super) fn sum_to_shape<T: Float>(mut g: ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
    if g.shape() == shape {
        return g;
    }
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for ax in 0..shape.len() {
        if shape[ax] == 1 && g.shape()[ax] != 1 {
            g = g.sum_axis(Axis(ax)).insert_axis(Axis(ax));
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_as_numpy_does() {
        assert_eq!(broadcast_shape(&[3, 2], &[2]), Some(vec![3, 2]));
        assert_eq!(broadcast_shape(&[3, 1], &[1, 4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shape(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_shape(&[3, 2], &[3]), None);
    }

    #[test]
    fn a_broadcast_gradient_sums_over_the_copies() {
        let g = ndarray::Array2::<f64>::ones((3, 2)).into_dyn();
        assert_eq!(
            sum_to_shape(g.clone(), &[2]),
            ndarray::array![3.0, 3.0].into_dyn()
        );
        assert_eq!(
            sum_to_shape(g, &[3, 1]),
            ndarray::array![[2.0], [2.0], [2.0]].into_dyn()
        );
    }
}
