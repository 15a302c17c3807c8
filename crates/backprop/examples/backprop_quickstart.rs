//! Backpropagation with nothing but `backprop` as a dependency: the lecture's first
//! circuit f(x, y, z) = (x + y)·z, its gradients, and a check against centred
//! differences.
//!
//! `cargo run -p backprop --example backprop_quickstart`

use backprop::{Graph, GraphError};

fn main() -> Result<(), GraphError> {
    let mut g = Graph::<f64>::new();
    let (x, y, z) = (g.scalar("x", -2.0), g.scalar("y", 5.0), g.scalar("z", -4.0));
    let q = g.add(x, y)?; // the add gate distributes
    let f = g.mul(q, z)?; // the mul gate swaps
    g.backward(f)?;
    println!("{}", g.table()); // forward values and gradients, node by node

    let grads = [g.scalar_grad(x)?, g.scalar_grad(y)?, g.scalar_grad(z)?];
    assert_eq!(grads, [-4.0, -4.0, 3.0]);
    // ∂f/∂x by centred differences: (f(x + h) − f(x − h)) / 2h.
    let h = 1e-5;
    let numeric = ((-2.0 + h + 5.0) * -4.0 - (-2.0 - h + 5.0) * -4.0) / (2.0 * h);
    println!("df/dx: analytic {}, numerical {numeric:.6}", grads[0]);
    assert!((numeric - grads[0]).abs() < 1e-6);
    Ok(())
}
