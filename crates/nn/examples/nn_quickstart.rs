//! Train the course's two-layer net on the bundled sample in about ten lines.
//!
//! ```text
//! cargo run --release -p nn --example nn_quickstart
//! ```

use cifar_data::{DataSource, DatasetChoice, Preprocess, preprocess};
use nn::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (train, test) = DataSource::resolve(DatasetChoice::Sample, "data")?.load()?;
    let d = preprocess::<f32>(&train, &test, &Preprocess::default())?;
    let net = TwoLayerNet::<f32>::new(nn::defaults::two_layer(d.x_train.ncols(), 10));
    let data = TrainData::new(
        d.x_train.view(),
        d.y_train.view(),
        d.x_val.view(),
        d.y_val.view(),
    );
    let mut solver = Solver::new(net, data, nn::defaults::solver_config())?;
    solver.train()?;
    let test_acc = nn::accuracy(
        &solver.model.predict(&d.x_test.view().into_dyn(), 500),
        &d.y_test.view(),
    );
    println!(
        "best validation accuracy {:.3}, test accuracy {test_acc:.3}",
        solver.history.best_val_acc
    );
    Ok(())
}
