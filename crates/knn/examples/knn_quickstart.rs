//! kNN with nothing but `knn` as a dependency: train on four points, compute the
//! distance matrix the course's way, vote.
//!
//! `cargo run -p knn --example knn_quickstart`

use knn::ndarray::array;
use knn::{KNearestNeighbor, KnnError, Metric};

fn main() -> Result<(), KnnError> {
    // Four "images" of two pixels: two dark ones (class 0), two bright ones (class 1).
    let x_train = array![[0.1_f32, 0.2], [0.2, 0.1], [0.9, 0.8], [0.8, 0.9]];
    let y_train = array![0, 0, 1, 1];
    let mut knn = KNearestNeighbor::new().with_metric(Metric::L1);
    knn.train(x_train.view(), y_train.view())?;

    let x_test = array![[0.15, 0.1], [0.7, 0.95]];
    let dists = knn.compute_distances_no_loops(x_test.view())?; // (test, train)
    let predicted = knn.predict_labels(dists.view(), 3)?;
    println!("L1 distances (rows: test, columns: train):\n{dists:.2}");
    println!("labels by a vote of the 3 nearest: {predicted}");
    assert_eq!(predicted, array![0, 1]);
    Ok(())
}
