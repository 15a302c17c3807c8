//! The three circuits of lecture 4, built, run forward and backward, with named
//! nodes — what `cs231n backprop --example ...` prints and draws.
//!
//! ```
//! let ex = backprop::examples::by_name("sigmoid").expect("a known example")?;
//! println!("{}\n{}", ex.title, ex.graph.table());
//! std::fs::write(std::env::temp_dir().join("sigmoid.dot"), ex.graph.to_dot()).unwrap();
//! # Ok::<(), backprop::GraphError>(())
//! ```

use ndarray::array;

use crate::{Graph, GraphError, NodeId};

/// A lecture circuit after its forward and backward passes.
///
/// # Example
/// ```
/// let ex = backprop::examples::add_mul()?;
/// assert_eq!(ex.graph.scalar_value(ex.output)?, -12.0);
/// # Ok::<(), backprop::GraphError>(())
/// ```
#[derive(Debug)]
pub struct LectureExample {
    /// The name the CLI takes (`add-mul`, `sigmoid`, `sigmoid-fused`, `vector`).
    pub name: &'static str,
    /// A one-line description with the formula and the point it was evaluated at.
    pub title: &'static str,
    /// The graph, its values and gradients filled in.
    pub graph: Graph<f64>,
    /// The inputs, in the formula's order (their gradients are the answer).
    pub inputs: Vec<NodeId>,
    /// The output f.
    pub output: NodeId,
}

/// The names accepted by [`by_name`].
pub const NAMES: [&str; 4] = ["add-mul", "sigmoid", "sigmoid-fused", "vector"];

/// The example called `name` (one of [`NAMES`]), or `None` for another name.
///
/// # Example
/// ```
/// assert!(backprop::examples::by_name("vector").is_some());
/// assert!(backprop::examples::by_name("conv").is_none());
/// ```
pub fn by_name(name: &str) -> Option<Result<LectureExample, GraphError>> {
    match name {
        "add-mul" => Some(add_mul()),
        "sigmoid" => Some(sigmoid_neuron()),
        "sigmoid-fused" => Some(sigmoid_neuron_fused()),
        "vector" => Some(vector_norm()),
        _ => None,
    }
}

/// f(x, y, z) = (x + y)·z at x = −2, y = 5, z = −4: q = 3, f = −12;
/// ∂f/∂x = ∂f/∂y = z = −4 (the add gate distributes), ∂f/∂z = q = 3 (the mul
/// gate swaps).
///
/// # Example
/// ```
/// let ex = backprop::examples::add_mul()?;
/// let g: Vec<f64> = ex.inputs.iter().map(|&i| ex.graph.scalar_grad(i)).collect::<Result<_, _>>()?;
/// assert_eq!(g, [-4.0, -4.0, 3.0]);
/// # Ok::<(), backprop::GraphError>(())
/// ```
pub fn add_mul() -> Result<LectureExample, GraphError> {
    let mut g = Graph::new();
    g.set_precision(2);
    let x = g.scalar("x", -2.0);
    let y = g.scalar("y", 5.0);
    let z = g.scalar("z", -4.0);
    let q = g.add(x, y)?;
    g.set_name(q, "q")?;
    let f = g.mul(q, z)?;
    g.set_name(f, "f")?;
    g.backward(f)?;
    Ok(LectureExample {
        name: "add-mul",
        title: "f(x, y, z) = (x + y) * z  at x = -2, y = 5, z = -4",
        graph: g,
        inputs: vec![x, y, z],
        output: f,
    })
}

/// The sigmoid neuron f(w, x) = 1 / (1 + e^−(w0·x0 + w1·x1 + w2)) at
/// w = [2, −3, −3], x = [−1, −2], staged exactly as the slide: two `*`, two `+`,
/// then the four elementary gates `*-1`, `exp`, `+1`, `1/x`.
/// f ≈ 0.73, ∂f/∂w ≈ [−0.20, −0.39, 0.20], ∂f/∂x ≈ [0.39, −0.59].
///
/// Inputs are returned in the order w0, x0, w1, x1, w2.
///
/// # Example
/// ```
/// let ex = backprop::examples::sigmoid_neuron()?;
/// assert!((ex.graph.scalar_value(ex.output)? - 0.73).abs() < 0.005);
/// assert!((ex.graph.scalar_grad(ex.inputs[0])? + 0.20).abs() < 0.005); // ∂f/∂w0
/// # Ok::<(), backprop::GraphError>(())
/// ```
pub fn sigmoid_neuron() -> Result<LectureExample, GraphError> {
    sigmoid_neuron_with(false)
}

/// The same neuron with one fused sigmoid gate in place of the last four: same
/// numbers, and the gate's backward is simply σ(1 − σ) times the upstream gradient.
///
/// # Example
/// ```
/// let fused = backprop::examples::sigmoid_neuron_fused()?;
/// let staged = backprop::examples::sigmoid_neuron()?;
/// assert!(fused.graph.len() < staged.graph.len());
/// let (a, b) = (fused.graph.scalar_grad(fused.inputs[1])?, staged.graph.scalar_grad(staged.inputs[1])?);
/// assert!((a - b).abs() < 1e-15);
/// # Ok::<(), backprop::GraphError>(())
/// ```
pub fn sigmoid_neuron_fused() -> Result<LectureExample, GraphError> {
    sigmoid_neuron_with(true)
}

fn sigmoid_neuron_with(fused: bool) -> Result<LectureExample, GraphError> {
    let mut g = Graph::new();
    g.set_precision(2);
    let w0 = g.scalar("w0", 2.0);
    let x0 = g.scalar("x0", -1.0);
    let w1 = g.scalar("w1", -3.0);
    let x1 = g.scalar("x1", -2.0);
    let w2 = g.scalar("w2", -3.0);
    let a = g.mul(w0, x0)?;
    let b = g.mul(w1, x1)?;
    let s = g.add(a, b)?;
    let z = g.add(s, w2)?;
    g.set_name(z, "w·x + b")?;
    let f = if fused {
        g.sigmoid(z)?
    } else {
        let neg = g.scale(z, -1.0)?;
        let e = g.exp(neg)?;
        let denom = g.add_scalar(e, 1.0)?;
        g.recip(denom)?
    };
    g.set_name(f, "f")?;
    g.backward(f)?;
    Ok(LectureExample {
        name: if fused { "sigmoid-fused" } else { "sigmoid" },
        title: if fused {
            "f(w, x) = sigmoid(w0*x0 + w1*x1 + w2)  at w = [2, -3, -3], x = [-1, -2]  (one fused sigmoid gate)"
        } else {
            "f(w, x) = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))  at w = [2, -3, -3], x = [-1, -2]"
        },
        graph: g,
        inputs: vec![w0, x0, w1, x1, w2],
        output: f,
    })
}

/// The vectorised example f(x, W) = ‖W·x‖² = Σ qᵢ² with q = W·x, at
/// x = [0.2, 0.4], W = [[0.1, 0.5], [−0.3, 0.8]]: q = [0.22, 0.26], f = 0.116,
/// ∇q = 2q, ∇W = 2q·xᵀ = [[0.088, 0.176], [0.104, 0.208]],
/// ∇x = 2Wᵀq = [−0.112, 0.636]. Inputs are returned as W, x.
///
/// # Example
/// ```
/// let ex = backprop::examples::vector_norm()?;
/// let dx = ex.graph.grad(ex.inputs[1])?;
/// assert!((dx[[0]] + 0.112).abs() < 1e-12 && (dx[[1]] - 0.636).abs() < 1e-12);
/// # Ok::<(), backprop::GraphError>(())
/// ```
pub fn vector_norm() -> Result<LectureExample, GraphError> {
    let mut g = Graph::new();
    g.set_precision(3);
    let w = g.input("W", array![[0.1, 0.5], [-0.3, 0.8]]);
    let x = g.input("x", array![0.2, 0.4]);
    let q = g.matmul(w, x)?;
    g.set_name(q, "q")?;
    let sq = g.pow(q, 2.0)?;
    let f = g.sum(sq)?;
    g.set_name(f, "f")?;
    g.backward(f)?;
    Ok(LectureExample {
        name: "vector",
        title: "f(x, W) = ||W x||^2  at x = [0.2, 0.4], W = [[0.1, 0.5], [-0.3, 0.8]]",
        graph: g,
        inputs: vec![w, x],
        output: f,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::rel_error;
    use ndarray::Array2;

    fn grads(ex: &LectureExample) -> Vec<f64> {
        ex.inputs
            .iter()
            .map(|&i| ex.graph.scalar_grad(i).unwrap())
            .collect()
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn add_mul_gives_the_lecture_numbers_exactly() {
        let ex = add_mul().unwrap();
        let q = ex.graph.nodes().find(|n| n.name == "q").unwrap();
        assert_eq!(q.value[[]], 3.0);
        assert_eq!(q.grad.unwrap()[[]], -4.0); // ∂f/∂q = z
        assert_eq!(ex.graph.scalar_value(ex.output).unwrap(), -12.0);
        assert_eq!(grads(&ex), [-4.0, -4.0, 3.0]);
    }

    /// The slide's numbers, to its two decimals: f = 0.73; w0, x0, w1, x1, w2 get
    /// −0.20, 0.39, −0.39, −0.59, 0.20.
    fn assert_sigmoid_numbers(ex: &LectureExample) {
        let f = ex.graph.scalar_value(ex.output).unwrap();
        assert!(close(f, 0.73, 0.005), "f = {f}");
        let expected = [-0.20, 0.39, -0.39, -0.59, 0.20];
        let got = grads(ex);
        for (g, e) in got.iter().zip(expected) {
            assert!(close(*g, e, 0.005), "{got:?} vs {expected:?}");
        }
        // And exactly: ∂f/∂z = σ(1)(1 − σ(1)) with z = 1, times the local gradients
        // (x0, w0, x1, w1, 1 for w0, x0, w1, x1, w2).
        let s = 1.0 / (1.0 + (-1.0_f64).exp());
        let dz = s * (1.0 - s);
        let exact = [-dz, 2.0 * dz, -2.0 * dz, -3.0 * dz, dz];
        for (g, e) in got.iter().zip(exact) {
            assert!(close(*g, e, 1e-15), "{got:?} vs {exact:?}");
        }
    }

    #[test]
    fn sigmoid_neuron_from_elementary_gates_gives_the_lecture_numbers() {
        let ex = sigmoid_neuron().unwrap();
        assert_sigmoid_numbers(&ex);
        // The staged values of the slide: 1/x receives 1.37, its gradient −0.53.
        let ops: Vec<&str> = ex.graph.nodes().map(|n| n.op).collect();
        assert_eq!(
            &ops[5..],
            ["mul", "mul", "add", "add", "*-1", "exp", "+1", "1/x"]
        );
        let plus_one = ex.graph.nodes().find(|n| n.op == "+1").unwrap();
        assert!(close(plus_one.value[[]], 1.37, 0.005));
        assert!(close(plus_one.grad.unwrap()[[]], -0.53, 0.005));
    }

    #[test]
    fn sigmoid_neuron_from_the_fused_gate_gives_the_same_numbers() {
        let fused = sigmoid_neuron_fused().unwrap();
        assert_sigmoid_numbers(&fused);
        assert_eq!(fused.graph.len(), 10); // 5 leaves, 4 gates for w·x + b, 1 sigmoid
    }

    #[test]
    fn vector_example_gradients_follow_from_the_dimensions() {
        let ex = vector_norm().unwrap();
        let (w, x) = (array![[0.1, 0.5], [-0.3, 0.8]], array![0.2, 0.4]);
        let q = w.dot(&x);
        assert!(close(
            ex.graph.scalar_value(ex.output).unwrap(),
            0.116,
            1e-15
        ));
        // ∇W = 2 q xᵀ, ∇x = 2 Wᵀ q
        let dw = Array2::from_shape_fn((2, 2), |(i, j)| 2.0 * q[i] * x[j]);
        let dx = w.t().dot(&q) * 2.0;
        let gw = ex
            .graph
            .grad(ex.inputs[0])
            .unwrap()
            .clone()
            .into_dimensionality()
            .unwrap();
        let gx = ex
            .graph
            .grad(ex.inputs[1])
            .unwrap()
            .clone()
            .into_dimensionality()
            .unwrap();
        assert!(rel_error(&gw.view(), &dw.view()) < 1e-15, "{gw}");
        assert!(rel_error(&gx.view(), &dx.view()) < 1e-15, "{gx}");
        // The slide's numbers.
        let slide_dw = array![[0.088, 0.176], [0.104, 0.208]];
        assert!(
            gw.iter().zip(&slide_dw).all(|(a, b)| close(*a, *b, 1e-12)),
            "{gw}"
        );
        let slide_dx = array![-0.112, 0.636];
        assert!(
            gx.iter().zip(&slide_dx).all(|(a, b)| close(*a, *b, 1e-12)),
            "{gx}"
        );
    }

    #[test]
    fn every_name_builds_and_unknown_names_do_not() {
        for name in NAMES {
            let ex = by_name(name).unwrap().unwrap();
            assert_eq!(ex.name, name);
            assert!(ex.graph.grad(ex.output).is_ok());
        }
        assert!(by_name("nope").is_none());
    }
}
