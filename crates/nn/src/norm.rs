//! Batch normalisation and layer normalisation of rows (N, D), as the course's
//! `batchnorm_forward` / `batchnorm_backward` / `layernorm_forward` /
//! `layernorm_backward`. Batchnorm keeps running statistics for test time in
//! [`BatchNormParam`] (the course's `bn_param`).

use ndarray::{
    Array, Array1, Array2, ArrayD, ArrayView1, ArrayView2, Axis, Dimension, Ix1, Ix2, Zip,
};
use numeric::Float;

use crate::Params;
use crate::error::{Error, Result};
use crate::layer::{Cache, Init, Layer, Mode, ParamSpec, batch, cache_of, view};

/// Batchnorm's state that is not a parameter: the course's `bn_param`.
///
/// The running mean and variance are exponential moving averages of the batch
/// statistics seen in training (`running = momentum·running + (1 − momentum)·batch`),
/// used in place of the batch statistics at test time, when there may be a single
/// example.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormParam<T> {
    /// Moving average of the per-feature means.
    pub running_mean: Array1<T>,
    /// Moving average of the per-feature (biased) variances.
    pub running_var: Array1<T>,
    /// Weight of the old running value in each update (course default 0.9).
    pub momentum: f64,
    /// Added to the variance before the square root (course default 1e-5).
    pub eps: f64,
}

impl<T: Float> BatchNormParam<T> {
    /// Zero running mean and variance for `d` features, momentum 0.9, eps 1e-5 (the
    /// course's defaults).
    ///
    /// ```
    /// let bn = nn::BatchNormParam::<f32>::new(4);
    /// assert_eq!((bn.momentum, bn.eps, bn.running_var.len()), (0.9, 1e-5, 4));
    /// ```
    pub fn new(d: usize) -> Self {
        Self {
            running_mean: Array1::zeros(d),
            running_var: Array1::zeros(d),
            momentum: 0.9,
            eps: 1e-5,
        }
    }
}

/// What [`batchnorm_backward`] / [`layernorm_backward`] need: the normalised input,
/// the inverse standard deviations, `gamma`, and whether batch statistics were used.
#[derive(Debug, Clone)]
pub struct NormCache<T> {
    x_hat: Array2<T>,
    inv_std: Array1<T>,
    gamma: Array1<T>,
    batch_stats: bool,
}

/// Batch normalisation over the examples of `x` (N, D): each feature is normalised
/// to zero mean and unit variance, then scaled by `gamma` and shifted by `beta`.
///
/// In [`Mode::Train`] the batch's mean and (biased) variance are used and the running
/// statistics in `bn` are updated; in [`Mode::Test`] the running statistics are used
/// and `bn` is left alone.
///
/// ```
/// use ndarray::array;
/// use nn::{batchnorm_forward, BatchNormParam, Mode};
/// let x = array![[1.0_f64, 10.0], [3.0, 30.0]];
/// let mut bn = BatchNormParam::new(2);
/// let (out, _) = batchnorm_forward(&x.view(), &array![1.0, 2.0].view(), &array![0.0, 5.0].view(), &mut bn, Mode::Train);
/// // Each column becomes ±1 (times gamma, plus beta), up to eps.
/// assert!((out[[0, 0]] + 1.0).abs() < 1e-4 && (out[[1, 1]] - 7.0).abs() < 1e-4);
/// assert!((bn.running_mean[0] - 0.2).abs() < 1e-12); // 0.9·0 + 0.1·2
/// ```
pub fn batchnorm_forward<T: Float>(
    x: &ArrayView2<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    bn: &mut BatchNormParam<T>,
    mode: Mode,
) -> (Array2<T>, NormCache<T>) {
    let eps = T::cast(bn.eps);
    let (mean, var) = match mode {
        Mode::Train => {
            let (mean, var) = column_moments(x);
            let m = T::cast(bn.momentum);
            let one_m = T::one() - m;
            Zip::from(&mut bn.running_mean)
                .and(&mean)
                .for_each(|r, &v| *r = m * *r + one_m * v);
            Zip::from(&mut bn.running_var)
                .and(&var)
                .for_each(|r, &v| *r = m * *r + one_m * v);
            (mean, var)
        }
        Mode::Test => (bn.running_mean.clone(), bn.running_var.clone()),
    };
    let inv_std = var.mapv(|v| T::one() / (v + eps).sqrt());
    let mut x_hat = x.to_owned();
    Zip::from(x_hat.rows_mut()).for_each(|mut row| {
        Zip::from(&mut row)
            .and(&mean)
            .and(&inv_std)
            .for_each(|v, &mu, &s| *v = (*v - mu) * s);
    });
    let out = scale_shift(&x_hat, gamma, beta);
    let cache = NormCache {
        x_hat,
        inv_std,
        gamma: gamma.to_owned(),
        batch_stats: mode == Mode::Train,
    };
    (out, cache)
}

/// Backward pass of [`batchnorm_forward`]: `(dx, dgamma, dbeta)`.
///
/// The simplified single-expression form (derived on paper from the computational
/// graph, as the course's `batchnorm_backward_alt`): with `dx̂ = dout·γ`,
/// `dx = (1/σ)/N · (N·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂))`, sums over the batch. In test mode the
/// statistics are constants and `dx = dx̂/σ`.
///
/// ```
/// use ndarray::array;
/// use nn::{batchnorm_forward, batchnorm_backward, BatchNormParam, Mode};
/// let x = array![[1.0_f64], [3.0]];
/// let (_, cache) = batchnorm_forward(&x.view(), &array![1.0].view(), &array![0.0].view(), &mut BatchNormParam::new(1), Mode::Train);
/// // A constant upstream gradient is absorbed by the mean: dx = 0, dbeta = N.
/// let (dx, _, dbeta) = batchnorm_backward(&array![[1.0], [1.0]].view(), &cache);
/// assert!(dx.iter().all(|v| v.abs() < 1e-12));
/// assert_eq!(dbeta, array![2.0]);
/// ```
pub fn batchnorm_backward<T: Float>(
    dout: &ArrayView2<'_, T>,
    cache: &NormCache<T>,
) -> (Array2<T>, Array1<T>, Array1<T>) {
    let dbeta = dout.sum_axis(Axis(0));
    let dgamma = (dout * &cache.x_hat).sum_axis(Axis(0));
    let mut dx_hat = dout.to_owned();
    Zip::from(dx_hat.rows_mut()).for_each(|mut row| row *= &cache.gamma);
    if !cache.batch_stats {
        Zip::from(dx_hat.rows_mut()).for_each(|mut row| row *= &cache.inv_std);
        return (dx_hat, dgamma, dbeta);
    }
    let n = T::count(dout.nrows());
    let sum_dx_hat = dx_hat.sum_axis(Axis(0));
    let sum_dx_hat_x_hat = (&dx_hat * &cache.x_hat).sum_axis(Axis(0));
    let mut dx = dx_hat;
    Zip::from(dx.rows_mut())
        .and(cache.x_hat.rows())
        .for_each(|mut d, xh| {
            Zip::from(&mut d)
                .and(&xh)
                .and(&sum_dx_hat)
                .and(&sum_dx_hat_x_hat)
                .for_each(|d, &xh, &s1, &s2| *d = n * *d - s1 - xh * s2);
            Zip::from(&mut d)
                .and(&cache.inv_std)
                .for_each(|d, &s| *d = *d * s / n);
        });
    (dx, dgamma, dbeta)
}

/// Layer normalisation of `x` (N, D): each *example* is normalised over its features
/// (the transpose of batchnorm), then scaled by `gamma` and shifted by `beta` per
/// feature. It has no running statistics and behaves the same in train and test,
/// so it works with any batch size.
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 3.0], [10.0, 30.0]];
/// let (out, _) = nn::layernorm_forward(&x.view(), &array![1.0, 1.0].view(), &array![0.0, 0.0].view(), 1e-5);
/// assert!((out[[1, 0]] + 1.0).abs() < 1e-6 && (out[[0, 1]] - 1.0).abs() < 1e-5);
/// ```
pub fn layernorm_forward<T: Float>(
    x: &ArrayView2<'_, T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
    eps: f64,
) -> (Array2<T>, NormCache<T>) {
    let (mean, var) = column_moments(&x.t());
    let eps = T::cast(eps);
    let inv_std = var.mapv(|v| T::one() / (v + eps).sqrt());
    let mut x_hat = x.to_owned();
    Zip::from(x_hat.rows_mut())
        .and(&mean)
        .and(&inv_std)
        .for_each(|mut row, &mu, &s| {
            row.mapv_inplace(|v| (v - mu) * s);
        });
    let out = scale_shift(&x_hat, gamma, beta);
    (
        out,
        NormCache {
            x_hat,
            inv_std,
            gamma: gamma.to_owned(),
            batch_stats: true,
        },
    )
}

/// Backward pass of [`layernorm_forward`]: batchnorm's simplified expression with the
/// sums taken over each example's D features instead of over the batch.
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 3.0]];
/// let (_, c) = nn::layernorm_forward(&x.view(), &array![1.0, 1.0].view(), &array![0.0, 0.0].view(), 1e-5);
/// let (dx, dgamma, dbeta) = nn::layernorm_backward(&array![[1.0, 1.0]].view(), &c);
/// assert!(dx.iter().all(|v| v.abs() < 1e-12)); // shifting every feature changes nothing
/// assert_eq!(dbeta, array![1.0, 1.0]);
/// assert_eq!(dgamma.len(), 2);
/// ```
pub fn layernorm_backward<T: Float>(
    dout: &ArrayView2<'_, T>,
    cache: &NormCache<T>,
) -> (Array2<T>, Array1<T>, Array1<T>) {
    let dbeta = dout.sum_axis(Axis(0));
    let dgamma = (dout * &cache.x_hat).sum_axis(Axis(0));
    let d = T::count(dout.ncols());
    let mut dx = dout.to_owned();
    Zip::from(dx.rows_mut())
        .and(cache.x_hat.rows())
        .and(&cache.inv_std)
        .for_each(|mut row, xh, &s| {
            Zip::from(&mut row)
                .and(&cache.gamma)
                .for_each(|v, &g| *v *= g);
            let s1 = row.sum();
            let s2 = row.iter().zip(xh.iter()).map(|(&a, &b)| a * b).sum::<T>();
            Zip::from(&mut row)
                .and(&xh)
                .for_each(|v, &xh| *v = (d * *v - s1 - xh * s2) * s / d);
        });
    (dx, dgamma, dbeta)
}

/// Per-column mean and biased variance (numpy's `x.mean(0)`, `x.var(0)`), two-pass for
/// accuracy, accumulated row by row so memory is read in order.
fn column_moments<T: Float>(x: &ArrayView2<'_, T>) -> (Array1<T>, Array1<T>) {
    let n = T::count(x.nrows().max(1));
    let mean = x.sum_axis(Axis(0)) / n;
    let mut var = Array1::<T>::zeros(x.ncols());
    for row in x.rows() {
        Zip::from(&mut var)
            .and(&row)
            .and(&mean)
            .for_each(|v, &x, &m| {
                let c = x - m;
                *v += c * c;
            });
    }
    (mean, var / n)
}

/// `γ ⊙ x̂ + β`, row by row.
fn scale_shift<T: Float>(
    x_hat: &Array2<T>,
    gamma: &ArrayView1<'_, T>,
    beta: &ArrayView1<'_, T>,
) -> Array2<T> {
    let mut out = x_hat.clone();
    Zip::from(out.rows_mut()).for_each(|mut row| {
        Zip::from(&mut row)
            .and(gamma)
            .and(beta)
            .for_each(|v, &g, &b| *v = *v * g + b);
    });
    out
}

// ---------------------------------------------------------------------------------
// The normalisations as layers of a network
// ---------------------------------------------------------------------------------

/// The names a normalisation layer's tensors carry in the model: `gamma{k}`,
/// `beta{k}`, and for batchnorm `running_mean{k}`, `running_var{k}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormNames {
    /// Scale γ.
    pub gamma: String,
    /// Shift β.
    pub beta: String,
    /// Running mean (batchnorm only).
    pub running_mean: String,
    /// Running variance (batchnorm only).
    pub running_var: String,
}

impl NormNames {
    /// The names with `suffix` appended (`"1"` gives `gamma1`, `beta1`, ...).
    ///
    /// ```
    /// assert_eq!(nn::NormNames::numbered("2").running_var, "running_var2");
    /// ```
    pub fn numbered(suffix: &str) -> Self {
        Self {
            gamma: format!("gamma{suffix}"),
            beta: format!("beta{suffix}"),
            running_mean: format!("running_mean{suffix}"),
            running_var: format!("running_var{suffix}"),
        }
    }

    /// γ (ones) and β (zeros) of `c` features.
    pub(crate) fn scale_shift(&self, c: usize) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(&self.gamma, vec![c], Init::Ones),
            ParamSpec::new(&self.beta, vec![c], Init::Zeros),
        ]
    }

    /// The running statistics (zeros) of `c` features.
    pub(crate) fn running(&self, c: usize) -> Vec<ParamSpec> {
        vec![
            ParamSpec::new(&self.running_mean, vec![c], Init::Zeros),
            ParamSpec::new(&self.running_var, vec![c], Init::Zeros),
        ]
    }

    /// Moves the running statistics out of `buffers` into a [`BatchNormParam`] (no copy).
    fn take_running<T: Float>(&self, buffers: &mut Params<T>) -> BatchNormParam<T> {
        let mut take = |name: &str| {
            let a = buffers
                .get_mut(name)
                .unwrap_or_else(|| panic!("buffer {name} is missing"));
            std::mem::replace(a, ArrayD::zeros(vec![0]))
                .into_dimensionality::<Ix1>()
                .expect("1-d running statistics")
        };
        BatchNormParam {
            running_mean: take(&self.running_mean),
            running_var: take(&self.running_var),
            momentum: 0.9,
            eps: 1e-5,
        }
    }

    /// Puts the running statistics back into `buffers`.
    fn put_running<T: Float>(&self, buffers: &mut Params<T>, bn: BatchNormParam<T>) {
        buffers.insert(self.running_mean.clone(), bn.running_mean.into_dyn());
        buffers.insert(self.running_var.clone(), bn.running_var.into_dyn());
    }

    /// γ and β of `params`, as a layer's forward pass reads them.
    pub(crate) fn gamma_beta<'a, T: Float>(
        &self,
        params: &'a Params<T>,
    ) -> (ArrayView1<'a, T>, ArrayView1<'a, T>) {
        (view(params, &self.gamma), view(params, &self.beta))
    }

    /// Runs `f` on the running statistics of `buffers` with `momentum` and `eps`: moved
    /// out (no copy), updated by a train-mode pass, and put back.
    pub(crate) fn with_running<T: Float, R>(
        &self,
        buffers: &mut Params<T>,
        (momentum, eps): (f64, f64),
        f: impl FnOnce(&mut BatchNormParam<T>) -> R,
    ) -> R {
        let mut bn = self.take_running(buffers);
        (bn.momentum, bn.eps) = (momentum, eps);
        let r = f(&mut bn);
        self.put_running(buffers, bn);
        r
    }

    /// A normalisation layer's backward pass: `dout` as a batch of `D` axes, the
    /// cache as the layer's own type, `pass`'s `(dx, dgamma, dbeta)`, the two
    /// gradients by name.
    pub(crate) fn backward<T: Float, D: Dimension, C: 'static>(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        layer: &str,
        pass: impl FnOnce(Array<T, D>, &C) -> (Array<T, D>, Array1<T>, Array1<T>),
    ) -> (ArrayD<T>, Params<T>) {
        let cache: &C = cache_of(cache, layer);
        let (dx, dgamma, dbeta) = pass(batch::<T, D>(dout, layer), cache);
        (dx.into_dyn(), self.grads(dgamma, dbeta))
    }

    /// `(dgamma, dbeta)` as named gradients.
    pub(crate) fn grads<T: Float>(&self, dgamma: Array1<T>, dbeta: Array1<T>) -> Params<T> {
        Params::from([
            (self.gamma.clone(), dgamma.into_dyn()),
            (self.beta.clone(), dbeta.into_dyn()),
        ])
    }
}

/// Checks that `input` is `d` features, for the row normalisations.
fn check_features<T: Float>(layer: &dyn Layer<T>, input: &[usize], d: usize) -> Result<Vec<usize>> {
    if input != [d] {
        return Err(Error::Input {
            layer: layer.name(),
            expected: format!("rows of {d} features"),
            found: input.to_vec(),
        });
    }
    Ok(input.to_vec())
}

/// Batch normalisation of rows (N, D) as a [`Layer`] (`bn` after an fc layer).
#[derive(Debug, Clone)]
pub struct BatchNorm {
    names: NormNames,
    d: usize,
}

impl BatchNorm {
    /// Batchnorm of `d` features with tensors named by `names`.
    pub fn new(names: NormNames, d: usize) -> Self {
        Self { names, d }
    }
}

impl<T: Float> Layer<T> for BatchNorm {
    fn name(&self) -> String {
        "bn".into()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        check_features::<T>(self, input, self.d)
    }
    fn params(&self) -> Vec<ParamSpec> {
        self.names.scale_shift(self.d)
    }
    fn buffers(&self) -> Vec<ParamSpec> {
        self.names.running(self.d)
    }
    fn forward(
        &mut self,
        x: ArrayD<T>,
        params: &Params<T>,
        buffers: &mut Params<T>,
        mode: Mode,
    ) -> (ArrayD<T>, Cache) {
        let x = batch::<T, Ix2>(x, "bn");
        let (gamma, beta) = self.names.gamma_beta(params);
        let (out, cache) = self.names.with_running(buffers, (0.9, 1e-5), |bn| {
            batchnorm_forward(&x.view(), &gamma, &beta, bn, mode)
        });
        (out.into_dyn(), Box::new(cache))
    }
    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        _: bool,
    ) -> (ArrayD<T>, Params<T>) {
        self.names.backward(dout, cache, "bn", |d: Array2<T>, c| {
            batchnorm_backward(&d.view(), c)
        })
    }
}

/// Layer normalisation of rows (N, D) as a [`Layer`].
#[derive(Debug, Clone)]
pub struct LayerNorm {
    names: NormNames,
    d: usize,
}

impl LayerNorm {
    /// Layernorm of `d` features with γ, β named by `names`.
    pub fn new(names: NormNames, d: usize) -> Self {
        Self { names, d }
    }
}

impl<T: Float> Layer<T> for LayerNorm {
    fn name(&self) -> String {
        "ln".into()
    }
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        check_features::<T>(self, input, self.d)
    }
    fn params(&self) -> Vec<ParamSpec> {
        self.names.scale_shift(self.d)
    }
    fn forward(
        &mut self,
        x: ArrayD<T>,
        params: &Params<T>,
        _: &mut Params<T>,
        _: Mode,
    ) -> (ArrayD<T>, Cache) {
        let x = batch::<T, Ix2>(x, "ln");
        let (gamma, beta) = self.names.gamma_beta(params);
        let (out, cache) = layernorm_forward(&x.view(), &gamma, &beta, 1e-5);
        (out.into_dyn(), Box::new(cache))
    }
    fn backward(
        &self,
        dout: ArrayD<T>,
        cache: &Cache,
        _: &Params<T>,
        _: bool,
    ) -> (ArrayD<T>, Params<T>) {
        self.names.backward(dout, cache, "ln", |d: Array2<T>, c| {
            layernorm_backward(&d.view(), c)
        })
    }
}
