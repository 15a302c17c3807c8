//! The two workloads measured by `benches/backprop/tape.rs` and
//! `crates/backprop/examples/tape_ab.rs`: the same computations by hand ("direct") and
//! through the tape.

#![allow(dead_code)] // each user takes what it needs

use backprop::{BackwardArgs, Gate, Graph, GraphError, NodeId};
use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, Axis, Ix1, Ix2, Zip};
use rand::Rng as _;

pub const N: usize = 200;
pub const D: usize = 3072;
pub const H: usize = 100;
pub const C: usize = 10;

// ---- the kernels, shared by the direct version and the fused gates ----

pub fn affine_forward(
    x: &ArrayView2<'_, f32>,
    w: &ArrayView2<'_, f32>,
    b: &ArrayView1<'_, f32>,
) -> Array2<f32> {
    let mut out = Array2::zeros((x.nrows(), w.ncols()));
    out.assign(b); // bias rows, then out ← x·w + out in one GEMM
    numeric::gemm(1.0, x, w, 1.0, &mut out.view_mut());
    out
}

/// (dx if wanted, dw, db)
pub fn affine_backward(
    dout: &ArrayView2<'_, f32>,
    x: &ArrayView2<'_, f32>,
    w: &ArrayView2<'_, f32>,
    want_dx: bool,
) -> (Option<Array2<f32>>, Array2<f32>, Array1<f32>) {
    let dx = want_dx.then(|| numeric::matmul(dout, &w.t()));
    (dx, numeric::matmul(&x.t(), dout), dout.sum_axis(Axis(0)))
}

pub fn relu_backward(dout: &ArrayView2<'_, f32>, out: &ArrayView2<'_, f32>) -> Array2<f32> {
    Zip::from(dout)
        .and(out)
        .map_collect(|&d, &o| if o > 0.0 { d } else { 0.0 })
}

/// Softmax loss averaged over the batch, and dscores (the course's vectorised form).
pub fn softmax_loss(scores: &ArrayView2<'_, f32>, y: &[usize]) -> (f32, Array2<f32>) {
    let n = scores.nrows() as f32;
    let mut probs = scores.to_owned();
    let mut loss = 0.0;
    for (mut row, &label) in probs.rows_mut().into_iter().zip(y) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row /= sum;
        loss -= row[label].ln();
        row[label] -= 1.0;
    }
    probs /= n;
    (loss / n, probs)
}

pub struct Data {
    pub x: Array2<f32>,
    pub y: Vec<usize>,
    pub w1: Array2<f32>,
    pub b1: Array1<f32>,
    pub w2: Array2<f32>,
    pub b2: Array1<f32>,
}

pub fn data() -> Data {
    let mut r = numeric::rng(0);
    let y = (0..N).map(|_| r.random_range(0..C)).collect();
    Data {
        x: numeric::randn((N, D), &mut r),
        y,
        w1: numeric::randn::<f32, _, _>((D, H), &mut r) * 1e-2,
        b1: numeric::randn::<f32, _, _>(H, &mut r) * 1e-2,
        w2: numeric::randn::<f32, _, _>((H, C), &mut r) * 1e-2,
        b2: numeric::randn::<f32, _, _>(C, &mut r) * 1e-2,
    }
}

/// The two-layer net by hand: returns (loss, dW1, db1, dW2, db2).
pub fn direct(d: &Data) -> (f32, Array2<f32>, Array1<f32>, Array2<f32>, Array1<f32>) {
    let h_pre = affine_forward(&d.x.view(), &d.w1.view(), &d.b1.view());
    let h = h_pre.mapv(|v| v.max(0.0));
    let scores = affine_forward(&h.view(), &d.w2.view(), &d.b2.view());
    let (loss, dscores) = softmax_loss(&scores.view(), &d.y);
    let (dh, dw2, db2) = affine_backward(&dscores.view(), &h.view(), &d.w2.view(), true);
    let dh_pre = relu_backward(&dh.expect("wanted").view(), &h.view());
    let (_, dw1, db1) = affine_backward(&dh_pre.view(), &d.x.view(), &d.w1.view(), false);
    (loss, dw1, db1, dw2, db2)
}

// ---- the same kernels as fused gates ----

pub fn m2(a: &ArrayD<f32>) -> ArrayView2<'_, f32> {
    a.view().into_dimensionality::<Ix2>().expect("2-d")
}

pub struct Affine;

impl Gate<f32> for Affine {
    fn name(&self) -> &str {
        "affine"
    }
    fn forward(&mut self, i: &[&ArrayD<f32>]) -> Result<ArrayD<f32>, GraphError> {
        let b = i[2].view().into_dimensionality::<Ix1>().expect("1-d");
        Ok(affine_forward(&m2(i[0]), &m2(i[1]), &b).into_dyn())
    }
    fn backward(
        &mut self,
        a: &BackwardArgs<'_, f32>,
    ) -> Result<Vec<Option<ArrayD<f32>>>, GraphError> {
        let (dx, dw, db) = affine_backward(
            &m2(a.dout),
            &m2(a.inputs[0]),
            &m2(a.inputs[1]),
            a.needs_grad(0),
        );
        Ok(vec![
            dx.map(|d| d.into_dyn()),
            Some(dw.into_dyn()),
            Some(db.into_dyn()),
        ])
    }
}

pub struct Relu;

impl Gate<f32> for Relu {
    fn name(&self) -> &str {
        "relu"
    }
    fn forward(&mut self, i: &[&ArrayD<f32>]) -> Result<ArrayD<f32>, GraphError> {
        Ok(i[0].mapv(|v| v.max(0.0)))
    }
    fn backward(
        &mut self,
        a: &BackwardArgs<'_, f32>,
    ) -> Result<Vec<Option<ArrayD<f32>>>, GraphError> {
        Ok(vec![Some(
            relu_backward(&m2(a.dout), &m2(a.output)).into_dyn(),
        )])
    }
}

pub struct SoftmaxLoss {
    y: Vec<usize>,
    dscores: Option<Array2<f32>>,
}

impl Gate<f32> for SoftmaxLoss {
    fn name(&self) -> &str {
        "softmax_loss"
    }
    fn forward(&mut self, i: &[&ArrayD<f32>]) -> Result<ArrayD<f32>, GraphError> {
        let (loss, dscores) = softmax_loss(&m2(i[0]), &self.y);
        self.dscores = Some(dscores); // cached for backward, as the course's cache
        Ok(ndarray::arr0(loss).into_dyn())
    }
    fn backward(
        &mut self,
        a: &BackwardArgs<'_, f32>,
    ) -> Result<Vec<Option<ArrayD<f32>>>, GraphError> {
        let dout = a.dout[[]];
        let dscores = self
            .dscores
            .take()
            .expect("forward ran")
            .mapv_into(|v| v * dout);
        Ok(vec![Some(dscores.into_dyn())])
    }
}

pub fn tape_fused(d: &Data) -> (Graph<f32>, NodeId, [NodeId; 4]) {
    let mut g = Graph::new();
    let x = g.constant("X", d.x.clone());
    let w1 = g.parameter("W1", d.w1.clone());
    let b1 = g.parameter("b1", d.b1.clone());
    let w2 = g.parameter("W2", d.w2.clone());
    let b2 = g.parameter("b2", d.b2.clone());
    let h1 = g.apply(Affine, &[x, w1, b1]).unwrap();
    let h = g.apply(Relu, &[h1]).unwrap();
    let scores = g.apply(Affine, &[h, w2, b2]).unwrap();
    let loss = g
        .apply(
            SoftmaxLoss {
                y: d.y.clone(),
                dscores: None,
            },
            &[scores],
        )
        .unwrap();
    (g, loss, [w1, b1, w2, b2])
}

pub fn tape_elementary(d: &Data) -> (Graph<f32>, NodeId, [NodeId; 4]) {
    let mut g = Graph::new();
    let x = g.constant("X", d.x.clone());
    let y = g.labels("y", &d.y);
    let w1 = g.parameter("W1", d.w1.clone());
    let b1 = g.parameter("b1", d.b1.clone());
    let w2 = g.parameter("W2", d.w2.clone());
    let b2 = g.parameter("b2", d.b2.clone());
    let xw = g.matmul(x, w1).unwrap();
    let h1 = g.add(xw, b1).unwrap();
    let h = g.relu(h1).unwrap();
    let hw = g.matmul(h, w2).unwrap();
    let scores = g.add(hw, b2).unwrap();
    // loss = mean(log Σ exp(scores) − scores[y]) (no max shift: scores are small here)
    let e = g.exp(scores).unwrap();
    let z = g.sum_axis(e, 1).unwrap();
    let logz = g.log(z).unwrap();
    let correct = g.gather(scores, y).unwrap();
    let per_row = g.sub(logz, correct).unwrap();
    let loss = g.mean(per_row).unwrap();
    (g, loss, [w1, b1, w2, b2])
}

pub const DEPTH: usize = 300;

/// y = x; DEPTH times: t = relu(y), s = 0.9·t, y = s + 0.1; f = Σ y. By hand, one
/// array per step and direction like any unfused code: forward keeps the relu
/// outputs, backward walks them in reverse through the three local gradients.
pub fn chain_direct(x: &Array1<f32>) -> (f32, Array1<f32>) {
    let mut acts: Vec<Array1<f32>> = Vec::with_capacity(DEPTH);
    let mut y = x.clone();
    for _ in 0..DEPTH {
        let t = y.mapv(|v| v.max(0.0));
        let s = t.mapv(|v| v * 0.9);
        y = s.mapv(|v| v + 0.1);
        acts.push(t);
    }
    let f = y.sum();
    let mut dy = Array1::<f32>::ones(x.len());
    for t in acts.iter().rev() {
        let ds = dy.clone(); // + 0.1 passes the gradient through
        let dt = ds.mapv(|d| d * 0.9);
        dy = Zip::from(&dt)
            .and(t)
            .map_collect(|&d, &t| d * (1.0 - t * t));
    }
    (f, dy)
}

pub fn chain_tape(x: &Array1<f32>) -> (Graph<f32>, NodeId, NodeId) {
    let mut g = Graph::new();
    let xn = g.input("x", x.clone());
    let mut y = xn;
    for _ in 0..DEPTH {
        let t = g.relu(y).unwrap();
        let s = g.scale(t, 0.9).unwrap();
        y = g.add_scalar(s, 0.1).unwrap();
    }
    let f = g.sum(y).unwrap();
    (g, xn, f)
}
