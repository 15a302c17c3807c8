//! The affine (fully connected) layer, as the course's `affine_forward` /
//! `affine_backward`: `out = x·W + b` with each example flattened to a row.
//!
//! Underneath sit three kernels on views ([`affine`], [`affine_param_grads`],
//! [`affine_input_grad`]) that the course-named pair and the [`Affine`] layer share.

use ndarray::{
    Array, Array1, Array2, ArrayD, ArrayView1, ArrayView2, Axis, CowArray, Dimension, Ix2, IxDyn, s,
};
use numeric::Float;
use rayon::prelude::*;

use crate::Params;
use crate::error::{Error, Result};
use crate::layer::{Cache, Init, Layer, Mode, ParamSpec, batch, cache_of, no_dx, view};

/// `x·W + b` for rows `x` (N, D), weights `W` (D, M), bias `b` (M): the forward kernel.
///
/// The bias is broadcast into the output first and GEMM accumulates onto it
/// (β = 1), so bias addition costs no extra pass over the output.
///
/// ```
/// use ndarray::array;
/// let out = nn::affine(&array![[1.0_f32, 2.0]].view(), &array![[1.0_f32], [1.0]].view(), &array![0.5_f32].view());
/// assert_eq!(out, array![[3.5]]);
/// ```
pub fn affine<T: Float>(
    x: &ArrayView2<'_, T>,
    w: &ArrayView2<'_, T>,
    b: &ArrayView1<'_, T>,
) -> Array2<T> {
    // Inside a rayon task the product stays on its thread (numeric::gemm's rule).
    let parts = match rayon::current_thread_index() {
        Some(_) => 1,
        None => inner_parts(
            x.nrows(),
            x.ncols(),
            w.ncols(),
            rayon::current_num_threads(),
        ),
    };
    affine_in_parts(x, w, b, parts)
}

/// [`affine`] as `parts` products over ranges of the inner dimension, run on the rayon
/// pool; one product when `parts < 2`.
fn affine_in_parts<T: Float>(
    x: &ArrayView2<'_, T>,
    w: &ArrayView2<'_, T>,
    b: &ArrayView1<'_, T>,
    parts: usize,
) -> Array2<T> {
    let mut out = b
        .broadcast((x.nrows(), w.ncols()))
        .expect("bias length matches W's columns")
        .to_owned();
    if parts < 2 {
        numeric::gemm(T::one(), x, w, T::one(), &mut out.view_mut());
        return out;
    }
    // Fixed ranges of the inner dimension, each product on one thread of the pool,
    // the partial results added in range order: the same bits for the same threads.
    let d = x.ncols();
    let partials: Vec<Array2<T>> = (0..parts)
        .into_par_iter()
        .map(|i| {
            let r = i * d / parts..(i + 1) * d / parts;
            let mut part = Array2::zeros(out.dim());
            let (xr, wr) = (x.slice(s![.., r.clone()]), w.slice(s![r, ..]));
            numeric::gemm(T::one(), &xr, &wr, T::zero(), &mut part.view_mut());
            part
        })
        .collect();
    for part in &partials {
        out += part;
    }
    out
}

/// Ranges of the inner dimension `d` that [`affine`] splits `x·W` into: one per
/// thread when the output, `n × m`, is too small for `numeric::gemm` to split across
/// the pool (it wants a part of at least 64 rows or columns per thread) but the
/// product is long enough to be worth it (about 100 µs of work on one core, and at
/// least 256 values of `d` per part). ThreeLayerConvNet's hidden layer, 50 × 8192 ·
/// 8192 × 100, otherwise ran on one core while the other waited; else 1 (no split).
fn inner_parts(n: usize, d: usize, m: usize, threads: usize) -> usize {
    let narrow = n.max(m) < threads * 64;
    let long = n.saturating_mul(d).saturating_mul(m) >= 1 << 22;
    if threads < 2 || !narrow || !long {
        return 1;
    }
    threads.min(d / 256)
}

/// Parameter gradients of an affine layer: `dW = xᵀ·dout`, `db = Σ_rows dout`.
///
/// `xᵀ` is a transposed *view*: GEMM reads it with swapped strides, no copy.
///
/// ```
/// use ndarray::array;
/// let (dw, db) = nn::affine_param_grads(&array![[2.0_f64, 3.0]].view(), &array![[1.0_f64]].view());
/// assert_eq!(dw, array![[2.0], [3.0]]);
/// assert_eq!(db, array![1.0]);
/// ```
pub fn affine_param_grads<T: Float>(
    x: &ArrayView2<'_, T>,
    dout: &ArrayView2<'_, T>,
) -> (Array2<T>, Array1<T>) {
    let mut dw = Array2::zeros((x.ncols(), dout.ncols()));
    numeric::gemm(T::one(), &x.t(), dout, T::zero(), &mut dw.view_mut());
    (dw, dout.sum_axis(Axis(0)))
}

/// Input gradient of an affine layer: `dx = dout·Wᵀ` (transposed view, no copy).
///
/// ```
/// use ndarray::array;
/// let dx = nn::affine_input_grad(&array![[1.0_f64]].view(), &array![[2.0_f64], [3.0]].view());
/// assert_eq!(dx, array![[2.0, 3.0]]);
/// ```
pub fn affine_input_grad<T: Float>(dout: &ArrayView2<'_, T>, w: &ArrayView2<'_, T>) -> Array2<T> {
    numeric::matmul(dout, &w.t())
}

/// What [`affine_backward`] needs: the input as rows, the input's shape, and `W`.
///
/// As the course's `cache = (x, w, b)`, the cache refers to `x` and `W` rather than
/// copying them: each is a [`CowArray`], borrowed when [`affine_forward`] was given a
/// view or a reference, owned when it was given an array to keep (a model's hidden
/// activations move in). Only an input not in standard layout is copied, once, to
/// make its rows.
#[derive(Debug, Clone)]
pub struct AffineCache<'a, T, D = Ix2> {
    x: CowArray<'a, T, Ix2>,
    x_dim: D,
    w: CowArray<'a, T, Ix2>,
}

/// Affine (fully connected) layer: `out = x·W + b`, where each example of `x`
/// (shape (N, d₁, …, d_k), e.g. images) is flattened to a row of D = d₁⋯d_k values.
///
/// Returns `out` (N, M) and the cache for [`affine_backward`]. The cache keeps `x`
/// and `w` as given: pass a view or a reference (`&x`) to borrow them, an owned array
/// to move it in; nothing is copied for inputs in standard layout.
///
/// # Panics
/// If D differs from `W`'s rows or `b`'s length from `W`'s columns.
///
/// ```
/// use ndarray::{array, Array};
/// // The course's check: inputs (2, 4, 5, 6), 3 outputs, values from linspace.
/// let x = Array::linspace(-0.1, 0.5, 240).into_shape_with_order((2, 4, 5, 6)).unwrap();
/// let w = Array::linspace(-0.2, 0.3, 360).into_shape_with_order((120, 3)).unwrap();
/// let b = Array::linspace(-0.3, 0.1, 3);
/// let (out, _) = nn::affine_forward(&x, &w, &b.view());
/// let expected = array![[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]];
/// assert!(backprop::gradcheck::rel_error(&out.view(), &expected.view()) < 1e-7);
/// ```
pub fn affine_forward<'a, T: Float, D: Dimension>(
    x: impl Into<CowArray<'a, T, D>>,
    w: impl Into<CowArray<'a, T, Ix2>>,
    b: &ArrayView1<'_, T>,
) -> (Array2<T>, AffineCache<'a, T, D>) {
    let x = x.into();
    let x_dim = x.raw_dim();
    let x = flatten_rows(x);
    let w = w.into();
    let out = affine(&x.view(), &w.view(), b);
    (out, AffineCache { x, x_dim, w })
}

/// Backward pass of [`affine_forward`]: `(dx, dW, db)` with `dx` in the input's shape.
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 2.0]];
/// let w = array![[3.0], [4.0]];
/// let (_, cache) = nn::affine_forward(&x, &w, &array![0.0].view());
/// let (dx, dw, db) = nn::affine_backward(&array![[1.0]].view(), &cache);
/// assert_eq!((dx, dw, db), (array![[3.0, 4.0]], array![[1.0], [2.0]], array![1.0]));
/// ```
pub fn affine_backward<T: Float, D: Dimension>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineCache<'_, T, D>,
) -> (Array<T, D>, Array2<T>, Array1<T>) {
    let (dw, db) = affine_backward_no_dx(dout, cache);
    let dx = affine_input_grad(dout, &cache.w.view())
        .into_shape_with_order(cache.x_dim.clone())
        .expect("dx has as many elements as x");
    (dx, dw, db)
}

/// [`affine_backward`] without `dx`: `(dW, db)`, for a layer whose input is the data
/// (nobody needs the data's gradient, and `dout·Wᵀ` is a third of the layer's work).
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 2.0]];
/// let w = array![[3.0], [4.0]];
/// let (_, cache) = nn::affine_forward(&x, &w, &array![0.0].view());
/// let (dw, db) = nn::affine_backward_no_dx(&array![[1.0]].view(), &cache);
/// assert_eq!((dw, db), (array![[1.0], [2.0]], array![1.0]));
/// ```
pub fn affine_backward_no_dx<T: Float, D: Dimension>(
    dout: &ArrayView2<'_, T>,
    cache: &AffineCache<'_, T, D>,
) -> (Array2<T>, Array1<T>) {
    affine_param_grads(&cache.x.view(), dout)
}

/// `x` (N, d₁, …) as rows (N, d₁⋯d_k): a reshape, borrowed or owned as `x` was; a
/// copy only when `x` is not in standard layout.
fn flatten_rows<'a, T: Float, D: Dimension>(x: CowArray<'a, T, D>) -> CowArray<'a, T, Ix2> {
    let n = x.shape().first().copied().unwrap_or(1);
    let d: usize = x.shape().iter().skip(1).product();
    let x = if x.is_standard_layout() {
        x
    } else {
        CowArray::from(x.as_standard_layout().into_owned())
    };
    x.into_shape_with_order((n, d))
        .expect("a standard-layout array reshapes to N·D")
}

/// The affine layer of a network: `W` (D, M) and `b` (M) under the given names.
/// Any input (N, d₁, …) with d₁⋯d_k = D is flattened to rows, as the course does.
#[derive(Debug, Clone)]
pub struct Affine {
    w: String,
    b: String,
    d: usize,
    m: usize,
}

impl Affine {
    /// An affine layer from `d` inputs to `m` outputs whose parameters are named `w`
    /// and `b` in the model.
    ///
    /// ```
    /// use nn::Layer;
    /// let fc = nn::Affine::new("W1", "b1", 120, 10);
    /// assert_eq!(Layer::<f32>::output_shape(&fc, &[3, 5, 8]).unwrap(), vec![10]);
    /// assert!(Layer::<f32>::output_shape(&fc, &[7]).is_err());
    /// ```
    pub fn new(w: impl Into<String>, b: impl Into<String>, d: usize, m: usize) -> Self {
        Self {
            w: w.into(),
            b: b.into(),
            d,
            m,
        }
    }
}

/// What [`Affine`]'s backward pass needs: the input rows and the input's shape.
struct AffineLayerCache<T> {
    x: Array2<T>,
    x_dim: IxDyn,
}

impl<T: Float> Layer<T> for Affine {
    fn name(&self) -> String {
        format!("fc{}", self.m)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        if crate::limits::product(input) != Some(self.d) {
            return Err(Error::Input {
                layer: Layer::<T>::name(self),
                expected: format!("examples of {} values", self.d),
                found: input.to_vec(),
            });
        }
        Ok(vec![self.m])
    }

    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(
                &self.w,
                vec![self.d, self.m],
                Init::Weights { fan_in: self.d },
            ),
            ParamSpec::new(&self.b, vec![self.m], Init::Zeros),
        ]
    }

    fn forward(
        &mut self,
        x: ArrayD<T>,
        params: &Params<T>,
        _buffers: &mut Params<T>,
        _mode: Mode,
    ) -> (ArrayD<T>, Cache) {
        let x_dim = x.raw_dim();
        let n = x_dim[0];
        // An owned batch in standard layout (what layers pass on) is reshaped in place.
        let x = if x.is_standard_layout() {
            x
        } else {
            x.as_standard_layout().into_owned()
        };
        let rows = x.into_shape_with_order((n, self.d)).unwrap_or_else(|_| {
            panic!("fc{}: input {x_dim:?} is not N rows of {}", self.m, self.d)
        });
        let out = affine(&rows.view(), &view(params, &self.w), &view(params, &self.b));
        (
            out.into_dyn(),
            Box::new(AffineLayerCache { x: rows, x_dim }),
        )
    }

    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        params: &Params<T>,
        need_dx: bool,
    ) -> (ArrayD<T>, Params<T>) {
        let cache: &AffineLayerCache<T> = cache_of(cache, "fc");
        let dout = batch::<T, Ix2>(dout, "fc");
        let (dw, db) = affine_param_grads(&cache.x.view(), &dout.view());
        let dx = if need_dx {
            affine_input_grad(&dout.view(), &view(params, &self.w))
                .into_shape_with_order(cache.x_dim.clone())
                .expect("dx has as many elements as x")
        } else {
            no_dx()
        };
        let grads = Params::from([
            (self.w.clone(), dw.into_dyn()),
            (self.b.clone(), db.into_dyn()),
        ]);
        (dx, grads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backprop::gradcheck::rel_error;

    /// ThreeLayerConvNet's hidden layer split along the inner dimension, against
    /// ndarray's product.
    #[test]
    fn split_inner_products_match_one_product_in_f64() {
        assert_eq!(inner_parts(50, 8192, 100, 2), 2);
        let mut rng = numeric::rng(3);
        let x: Array2<f64> = numeric::randn((50, 8192), &mut rng);
        let w: Array2<f64> = numeric::randn((8192, 100), &mut rng);
        let b: Array1<f64> = numeric::randn(100, &mut rng);
        let expected = x.dot(&w) + &b;
        for parts in [1, 2, 3] {
            let out = affine_in_parts(&x.view(), &w.view(), &b.view(), parts);
            assert!(rel_error(&out.view(), &expected.view()) < 1e-10, "{parts}");
            // The same parts, the same bits.
            assert_eq!(out, affine_in_parts(&x.view(), &w.view(), &b.view(), parts));
        }
    }

    #[test]
    fn wide_or_short_products_are_not_split() {
        assert_eq!(inner_parts(200, 3072, 100, 2), 1); // numeric::gemm splits its rows
        assert_eq!(inner_parts(50, 100, 10, 2), 1); // too little work
        assert_eq!(inner_parts(50, 8192, 100, 1), 1); // one thread
    }
}
