//! A softmax classifier with nothing but `linear` as a dependency: three blobs of
//! 2-D points (bias trick applied), trained by minibatch SGD.
//!
//! `cargo run -p linear --example linear_quickstart`

#![allow(non_snake_case)] // the course's X, W

use linear::{LinearClassifier, LinearError, Loss, TrainOptions};

fn main() -> Result<(), LinearError> {
    // 100 points per class around three centres, as rows [x, y, 1].
    let (X, y) = linear::toy_blobs(100, 3, 0.3, 0);
    let mut clf = LinearClassifier::<f64>::new(Loss::Softmax, 3, 3, &mut linear::rng(0));
    let (lr, reg, iters, batch) = (0.5, 1e-3, 300, 50);
    let history = clf.train(
        &X.view(),
        &y.view(),
        lr,
        reg,
        iters,
        batch,
        &TrainOptions::default(),
    )?;

    let accuracy = clf.accuracy(&X.view(), &y.view())?;
    println!(
        "loss {:.3} -> {:.3} in {iters} steps",
        history[0],
        history[iters - 1]
    );
    println!(
        "training accuracy {accuracy:.2}; W (rows: x, y, bias):\n{:.2}",
        clf.W
    );
    assert!(accuracy > 0.9);
    Ok(())
}
