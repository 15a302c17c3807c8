//! A user-defined gate in a few lines, checked numerically.
//!
//! `cargo run -p backprop --example custom_gate`
//!
//! The gate is softplus, `f(x) = log(1 + eˣ)`, whose local gradient is the
//! sigmoid: `df/dx = σ(x)`. It joins a graph like any built-in gate, and its
//! backward pass is verified with `grad_check_sparse`, as the course checks every
//! gradient: the loss is recomputed on the same tape with nudged weights.

use backprop::gradcheck::{H, grad_check_sparse};
use backprop::{BackwardArgs, Gate, Graph, GraphError};
use ndarray::ArrayD;

/// softplus(x) = log(1 + eˣ), computed stably as max(x, 0) + log(1 + e^−|x|).
struct Softplus;

impl Gate<f64> for Softplus {
    fn name(&self) -> &str {
        "softplus"
    }

    fn forward(&mut self, inputs: &[&ArrayD<f64>]) -> Result<ArrayD<f64>, GraphError> {
        GraphError::check_arity("softplus", inputs, 1)?;
        Ok(inputs[0].mapv(|x| x.max(0.0) + (-x.abs()).exp().ln_1p()))
    }

    fn backward(
        &mut self,
        args: &BackwardArgs<'_, f64>,
    ) -> Result<Vec<Option<ArrayD<f64>>>, GraphError> {
        // local gradient σ(x), times the upstream gradient
        let sigma = args.inputs[0].mapv(|x| 1.0 / (1.0 + (-x).exp()));
        Ok(vec![Some(sigma * args.dout)])
    }
}

fn main() -> Result<(), GraphError> {
    let mut rng = numeric::rng(0);
    let mut g = Graph::new();
    let x = g.constant("X", numeric::randn::<f64, _, _>((5, 4), &mut rng));
    let w = g.parameter("W", numeric::randn::<f64, _, _>((4, 3), &mut rng));
    let scores = g.matmul(x, w)?;
    let h = g.apply(Softplus, &[scores])?;
    let loss = g.mean(h)?;
    g.backward(loss)?;
    println!("loss = {:.6}", g.scalar_value(loss)?);

    let dw = g.grad(w)?.clone();
    let mut w_value = g.value(w)?.clone();
    let checks = grad_check_sparse(
        |w_new: &ArrayD<f64>| {
            g.set_value(w, w_new.clone()).expect("W is a leaf");
            g.forward().expect("same shapes as before");
            g.scalar_value(loss).expect("the loss is a scalar")
        },
        &mut w_value,
        &dw.view(),
        8,
        H,
        &mut rng,
    );
    for c in &checks {
        println!(
            "dW[{:>2}]  numerical {:+.10}  analytic {:+.10}  relative error {:.2e}",
            c.index, c.numerical, c.analytic, c.rel_error
        );
    }
    let worst = checks.iter().map(|c| c.rel_error).fold(0.0, f64::max);
    println!("worst relative error {worst:.2e}");
    if worst >= 1e-7 {
        eprintln!("the softplus gate's backward pass is wrong");
        std::process::exit(1);
    }
    Ok(())
}
