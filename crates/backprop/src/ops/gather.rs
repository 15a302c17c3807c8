//! The gather gate: `out[i] = scores[i, labels[i]]`, the correct-class score a
//! loss compares the others with. Backward routes each row's upstream gradient
//! back to the one score it read.

use ndarray::{ArrayD, Axis, Zip};
use numeric::Float;

use super::Grads;
use crate::gate::{BackwardArgs, Gate};
use crate::{Graph, GraphError, NodeId};

/// `out[i] = scores[i, labels[i]]`: one entry per row (the correct-class score
/// of a loss). The labels get no gradient.
pub(crate) struct Gather;

fn check_labels<T: Float>(scores: &ArrayD<T>, labels: &ArrayD<T>) -> Result<(), GraphError> {
    if scores.ndim() != 2 || labels.ndim() != 1 || labels.len() != scores.shape()[0] {
        return Err(GraphError::shape_mismatch(
            "gather",
            scores.shape(),
            labels.shape(),
        ));
    }
    let classes = scores.shape()[1];
    for (i, &y) in labels.iter().enumerate() {
        if !(y >= T::zero() && y.fract() == T::zero() && y.as_f64() < classes as f64) {
            return Err(GraphError::invalid(
                "gather",
                format!("label {y} of row {i} is not a class index below {classes}"),
            ));
        }
    }
    Ok(())
}

impl<T: Float> Gate<T> for Gather {
    fn name(&self) -> &str {
        "gather"
    }

    fn forward(&mut self, inputs: &[&ArrayD<T>]) -> Result<ArrayD<T>, GraphError> {
        GraphError::check_arity("gather", inputs, 2)?;
        let (scores, labels) = (inputs[0], inputs[1]);
        check_labels(scores, labels)?;
        Ok(Zip::from(scores.lanes(Axis(1)))
            .and(labels)
            .map_collect(|row, &y| row[y.as_f64() as usize]))
    }

    fn backward(&mut self, args: &BackwardArgs<'_, T>) -> Grads<T> {
        let (scores, labels) = (args.inputs[0], args.inputs[1]);
        if !args.needs_grad(0) {
            return Ok(vec![]);
        }
        let mut dscores = ArrayD::zeros(scores.raw_dim());
        Zip::from(dscores.lanes_mut(Axis(1)))
            .and(labels)
            .and(args.dout)
            .for_each(|mut row, &y, &d| row[y.as_f64() as usize] = d);
        Ok(vec![Some(dscores)])
    }
}

impl<T: Float> Graph<T> {
    /// `out[i] = scores[i, labels[i]]`: the correct-class score of each row, for
    /// losses. `labels` is a node made by [`Graph::labels`]; it gets no gradient.
    ///
    /// # Errors
    /// [`GraphError::ShapeMismatch`] unless scores is (N, C) and labels (N);
    /// [`GraphError::InvalidInput`] naming the row of a label that is not a class
    /// index below C.
    ///
    /// # Example
    /// ```
    /// use ndarray::array;
    /// let mut g = backprop::Graph::<f64>::new();
    /// let scores = g.input("scores", array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    /// let y = g.labels("y", &[2, 0]);
    /// let correct = g.gather(scores, y)?;
    /// assert_eq!(g.value(correct)?, &array![3.0, 4.0].into_dyn());
    /// let bad = g.labels("bad", &[0, 3]);
    /// assert!(g.gather(scores, bad).unwrap_err().to_string().contains("label 3 of row 1"));
    /// # Ok::<(), backprop::GraphError>(())
    /// ```
    pub fn gather(&mut self, scores: NodeId, labels: NodeId) -> Result<NodeId, GraphError> {
        self.apply(Gather, &[scores, labels])
    }
}
