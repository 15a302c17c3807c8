//! The Gaussian error linear unit (Hendrycks & Gimpel, 2016): `GELU(x) = x·Φ(x)`,
//! with Φ the standard normal CDF. A smooth relu: it lets small negative values
//! through with a small weight, so no unit is ever dead (lecture 7's case against
//! saturating and dead units), and modern convnets train faster with it.
//!
//! Two forms, as PyTorch's `nn.GELU(approximate=...)`:
//! - [`GeluApprox::Exact`]: `Φ(x) = ½(1 + erf(x/√2))`, with `erf` from `libm`. The
//!   fast-training recipe (airbench94) uses this one, as PyTorch's default.
//! - [`GeluApprox::Tanh`]: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`, the approximation
//!   of the original paper, which avoids `erf`.
//!
//! airbench94 uses the exact form because its reference code calls PyTorch's
//! `nn.GELU()`, whose default is the erf form; the two differ by up to 5e-4, enough
//! to change a trained net's last digits.
//!
//! [`gelu_naive`] / [`gelu_grad_naive`] are the scalar definitions the array
//! functions are tested against. The array functions ([`gelu_forward`],
//! [`gelu_backward`]) run in parallel and, in `f32`, replace libm's `erf` (a
//! branchy scalar call, most of the layer's time) by [`erf_f32`], a rational
//! approximation that vectorises, and `exp` by [`exp_f32`]: GELU and its derivative
//! stay within 1e-6 of the definition (tested on a dense grid). In `f64` they *are*
//! the definition, evaluated in parallel, so gradient checks see the exact function.
//!
//! ```
//! use ndarray::array;
//! use nn::{GeluApprox, gelu_forward, gelu_backward};
//! let x = array![-1.0_f64, 0.0, 1.0];
//! let (out, cache) = gelu_forward(&x.view(), GeluApprox::Exact);
//! assert!((out[2] - 0.841_344_746_068_542_9).abs() < 1e-15); // 1·Φ(1)
//! assert!((out[0] + 0.158_655_253_931_457_05).abs() < 1e-15);
//! let dx = gelu_backward(&array![1.0, 1.0, 1.0].view(), &cache);
//! assert_eq!(dx[1], 0.5); // Φ(0) + 0·φ(0)
//! ```

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use ndarray::{Array, ArrayD, ArrayView, ArrayViewMut, Dimension, IxDyn, Zip};
use numeric::{Dtype, Float};

use crate::layer::{Mode, Parameterless};
use crate::planes::{map_slice, zip_in_place};

/// Which GELU: the exact erf form or the tanh approximation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeluApprox {
    /// `x·½(1 + erf(x/√2))` (PyTorch's default; the recipe's).
    #[default]
    Exact,
    /// `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    Tanh,
}

/// `√(2/π)`, the tanh form's slope at 0.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh form.
const CUBIC: f64 = 0.044_715;

/// GELU of one number, from its definition (the reference of [`gelu_forward`]).
///
/// ```
/// use nn::{GeluApprox, gelu_naive};
/// assert_eq!(gelu_naive(0.0, GeluApprox::Exact), 0.0);
/// // The two forms agree to about 1e-3.
/// assert!((gelu_naive(1.5, GeluApprox::Exact) - gelu_naive(1.5, GeluApprox::Tanh)).abs() < 1e-3);
/// ```
pub fn gelu_naive(x: f64, approx: GeluApprox) -> f64 {
    match approx {
        GeluApprox::Exact => x * 0.5 * (1.0 + libm::erf(x * FRAC_1_SQRT_2)),
        GeluApprox::Tanh => 0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + CUBIC * x * x * x)).tanh()),
    }
}

/// The derivative of GELU at `x`: `Φ(x) + x·φ(x)` for the exact form (φ the normal
/// density), and the chain rule through tanh for the approximation.
///
/// ```
/// use nn::{GeluApprox, gelu_grad_naive};
/// assert_eq!(gelu_grad_naive(0.0, GeluApprox::Tanh), 0.5);
/// assert!((gelu_grad_naive(10.0, GeluApprox::Exact) - 1.0).abs() < 1e-12); // relu far right
/// ```
pub fn gelu_grad_naive(x: f64, approx: GeluApprox) -> f64 {
    match approx {
        GeluApprox::Exact => {
            let cdf = 0.5 * (1.0 + libm::erf(x * FRAC_1_SQRT_2));
            let pdf = (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
            cdf + x * pdf
        }
        GeluApprox::Tanh => {
            let t = (SQRT_2_OVER_PI * (x + CUBIC * x * x * x)).tanh();
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x * x);
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
        }
    }
}

/// `erf(x)` in single precision without libm: Eigen's rational approximation
/// `x·P(x²)/Q(x²)` (degrees 13 over 8) on [−4, 4], ±1 outside, where `erf` rounds
/// to ±1 in `f32` anyway. Branch-free, so a loop of it vectorises. Within 4e-7 of
/// the true `erf` (tested).
///
/// ```
/// assert!((nn::erf_f32(0.5) - 0.520_499_9).abs() < 4e-7);
/// assert!((nn::erf_f32(7.0) - 1.0).abs() < 4e-7);
/// ```
#[inline]
pub fn erf_f32(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2.mul_add(-2.726_142_3e-10, 2.770_681_4e-8);
    p = x2.mul_add(p, -2.101_024e-6);
    p = x2.mul_add(p, -5.692_506_4e-5);
    p = x2.mul_add(p, -7.349_906_3e-4);
    p = x2.mul_add(p, -2.954_600_2e-3);
    p = x2.mul_add(p, -1.609_603_3e-2);
    let mut q = x2.mul_add(-1.456_607_2e-5, -2.133_740_5e-4);
    q = x2.mul_add(q, -1.682_827e-3);
    q = x2.mul_add(q, -7.373_329_2e-3);
    q = x2.mul_add(q, -1.426_474e-2);
    (x * p / q).clamp(-1.0, 1.0)
}

/// `eˣ` in single precision without libm (Cephes' `expf`): `x = n·ln 2 + r`, a
/// degree-6 polynomial for `eʳ`, and `2ⁿ` put into the exponent bits. Branch-free;
/// relative error about 2e-7; inputs are clamped to [−87, 88], so tiny results are
/// about 1.6e-38, not 0.
///
/// ```
/// assert!((nn::exp_f32(1.0) - std::f32::consts::E).abs() < 1e-6);
/// ```
#[inline]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // n = round(x·log₂e) by the magic-number trick: adding 1.5·2²³ leaves n in the
    // low mantissa bits (|n| < 2²²), which also give 2ⁿ's exponent field below.
    // Plain float arithmetic and bit moves, where `round` and `as i32` would not
    // vectorise.
    const MAGIC: f32 = 12_582_912.0;
    let t = x.mul_add(std::f32::consts::LOG2_E, MAGIC);
    let n = t - MAGIC;
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = r.mul_add(1.987_569_1e-4, 1.398_199_9e-3);
    p = r.mul_add(p, 8.333_452e-3);
    p = r.mul_add(p, 4.166_579_6e-2);
    p = r.mul_add(p, 0.166_666_65);
    p = r.mul_add(p, 0.5);
    p = (r * r).mul_add(p, r) + 1.0;
    p * f32::from_bits(t.to_bits().wrapping_add(127) << 23)
}

/// `1/√(2π)`, the normal density's peak.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// GELU and its derivative at `x` (exact form), in `f32` with [`erf_f32`] and
/// [`exp_f32`].
#[inline]
fn gelu_and_grad_f32(x: f32) -> (f32, f32) {
    let cdf = 0.5 * (1.0 + erf_f32(x * std::f32::consts::FRAC_1_SQRT_2));
    let pdf = FRAC_1_SQRT_2PI * exp_f32(-0.5 * x * x);
    (x * cdf, x.mul_add(pdf, cdf))
}

/// Whether the array functions take the fast `f32` path (module docs).
pub(crate) fn fast_path<T: Float>(approx: GeluApprox) -> bool {
    T::DTYPE == Dtype::F32 && approx == GeluApprox::Exact
}

/// GELU of `x` in `f32` through the fast path, for any `T` that is `f32`.
#[inline]
pub(crate) fn fast_value<T: Float>(x: T) -> T {
    T::cast(f64::from(gelu_and_grad_f32(x.as_f64() as f32).0))
}

/// GELU's derivative at `x` through the fast path.
#[inline]
pub(crate) fn fast_grad<T: Float>(x: T) -> T {
    T::cast(f64::from(gelu_and_grad_f32(x.as_f64() as f32).1))
}

/// `f` of every element, in parallel. The callers choose the form outside, so the
/// loop is one straight-line body that vectorises.
fn map_elements<T: Float, D: Dimension>(
    x: &Array<T, D>,
    f: impl Fn(T) -> T + Sync + Send,
) -> Array<T, D> {
    match x.as_slice() {
        Some(xs) => Array::from_shape_vec(x.raw_dim(), map_slice(xs, f)).expect("x's shape"),
        None => Zip::from(x).par_map_collect(|&v| f(v)),
    }
}

/// `d ← d·g(x)` element by element, in parallel.
fn scale_elements<T: Float, D: Dimension>(
    d: &mut ArrayViewMut<'_, T, D>,
    x: &Array<T, D>,
    g: impl Fn(T) -> T + Sync + Send,
) {
    if let (Some(ds), Some(xs)) = (d.as_slice_mut(), x.as_slice()) {
        zip_in_place(ds, xs, |d, x| d * g(x));
        return;
    }
    Zip::from(d).and(x).par_for_each(|d, &x| *d *= g(x));
}

/// What [`gelu_backward`] needs: the input and the form.
#[derive(Debug, Clone)]
pub struct GeluCache<T, D: Dimension> {
    x: Array<T, D>,
    approx: GeluApprox,
}

/// GELU of every element of `x` (any shape), in parallel; in `f32` with the fast
/// `erf` (module docs), within 1e-6 of [`gelu_naive`].
///
/// ```
/// use ndarray::array;
/// use nn::{GeluApprox, gelu_forward, gelu_naive};
/// let (out, _) = gelu_forward(&array![-1.5_f32, 0.3, 2.0].view(), GeluApprox::Exact);
/// assert!((out[0] as f64 - gelu_naive(-1.5, GeluApprox::Exact)).abs() < 1e-6);
/// ```
pub fn gelu_forward<T: Float, D: Dimension>(
    x: &ArrayView<'_, T, D>,
    approx: GeluApprox,
) -> (Array<T, D>, GeluCache<T, D>) {
    gelu_forward_owned(x.to_owned(), approx)
}

/// [`gelu_forward`] keeping `x` itself in the cache.
pub(crate) fn gelu_forward_owned<T: Float, D: Dimension>(
    x: Array<T, D>,
    approx: GeluApprox,
) -> (Array<T, D>, GeluCache<T, D>) {
    let out = if fast_path::<T>(approx) {
        map_elements(&x, fast_value)
    } else {
        map_elements(&x, |v| T::cast(gelu_naive(v.as_f64(), approx)))
    };
    (out, GeluCache { x, approx })
}

/// Backward pass of [`gelu_forward`]: `dx = dout · GELU'(x)`.
///
/// ```
/// use ndarray::array;
/// use nn::{GeluApprox, gelu_forward, gelu_backward};
/// let (_, cache) = gelu_forward(&array![0.0_f64, 40.0].view(), GeluApprox::Exact);
/// assert_eq!(gelu_backward(&array![2.0, 2.0].view(), &cache), array![1.0, 2.0]);
/// ```
pub fn gelu_backward<T: Float, D: Dimension>(
    dout: &ArrayView<'_, T, D>,
    cache: &GeluCache<T, D>,
) -> Array<T, D> {
    let mut dx = dout.to_owned();
    gelu_backward_in_place(&mut dx.view_mut(), cache);
    dx
}

/// [`gelu_backward`] turning `dout` into `dx` where it is.
pub(crate) fn gelu_backward_in_place<T: Float, D: Dimension>(
    dout: &mut ArrayViewMut<'_, T, D>,
    cache: &GeluCache<T, D>,
) {
    let approx = cache.approx;
    if fast_path::<T>(approx) {
        scale_elements(dout, &cache.x, fast_grad);
    } else {
        scale_elements(dout, &cache.x, |x| {
            T::cast(gelu_grad_naive(x.as_f64(), approx))
        });
    }
}

/// GELU as a [`Layer`](crate::Layer) (spec token `gelu`, the exact form; `gelu_tanh` for the
/// approximation). No parameters, any shape.
///
/// ```
/// use nn::{Gelu, Layer, Mode, Params};
/// let x = ndarray::array![[2.0_f32, -2.0]].into_dyn();
/// let (out, _) = Gelu::default().forward(x, &Params::new(), &mut Params::new(), Mode::Test);
/// assert!((out[[0, 0]] - 1.9545).abs() < 1e-4 && (out[[0, 1]] + 0.0455).abs() < 1e-4);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Gelu {
    /// Which form.
    pub approx: GeluApprox,
}

impl Parameterless for Gelu {
    type Cache<T: Float> = GeluCache<T, IxDyn>;
    fn token(&self) -> String {
        match self.approx {
            GeluApprox::Exact => "gelu".into(),
            GeluApprox::Tanh => "gelu_tanh".into(),
        }
    }
    fn forward_x<T: Float>(&mut self, x: ArrayD<T>, _: Mode) -> (ArrayD<T>, Self::Cache<T>) {
        gelu_forward_owned(x, self.approx)
    }
    fn backward_dx<T: Float>(&self, mut dout: ArrayD<T>, cache: &Self::Cache<T>) -> ArrayD<T> {
        gelu_backward_in_place(&mut dout.view_mut(), cache);
        dout
    }
}

#[cfg(test)]
mod tests {
    use backprop::gradcheck::eval_numerical_gradient_array;
    use ndarray::Array4;

    use super::*;
    use crate::test_util::assert_rel_error_below;
    use crate::{Layer, Params};

    #[test]
    fn gradients_match_numerical_ones_in_both_forms() {
        for approx in [GeluApprox::Exact, GeluApprox::Tanh] {
            let mut x: Array4<f64> = numeric::randn((2, 3, 4, 4), &mut numeric::rng(3)) * 2.0;
            let dout: Array4<f64> = numeric::randn((2, 3, 4, 4), &mut numeric::rng(4));
            let (_, cache) = gelu_forward(&x.view(), approx);
            let dx = gelu_backward(&dout.view(), &cache);
            let dx_num = eval_numerical_gradient_array(
                |x| gelu_forward(&x.view(), approx).0,
                &mut x,
                &dout.view(),
                1e-5,
            );
            assert_rel_error_below(&format!("{approx:?} dx"), &dx, &dx_num, 1e-7);
        }
    }

    #[test]
    fn known_values_of_the_exact_form() {
        // x·Φ(x) with Φ from tables: Φ(1) = 0.8413447460685429, Φ(−2) = 0.022750131948179195.
        assert!((gelu_naive(1.0, GeluApprox::Exact) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((gelu_naive(-2.0, GeluApprox::Exact) + 0.045_500_263_896_358_39).abs() < 1e-15);
        // Far left it vanishes, far right it is the identity: relu's limits.
        assert_eq!(gelu_naive(-40.0, GeluApprox::Exact), -0.0);
        assert_eq!(gelu_naive(40.0, GeluApprox::Exact), 40.0);
    }

    #[test]
    fn the_tanh_form_stays_close_to_the_exact_one() {
        let worst = (-600..=600)
            .map(|i| f64::from(i) / 100.0)
            .map(|x| (gelu_naive(x, GeluApprox::Exact) - gelu_naive(x, GeluApprox::Tanh)).abs())
            .fold(0.0, f64::max);
        assert!(worst > 1e-6 && worst < 1e-3, "{worst}");
    }

    #[test]
    fn the_array_functions_are_the_definition_in_f64() {
        let x: Array4<f64> = numeric::randn((2, 2, 3, 3), &mut numeric::rng(5)) * 3.0;
        for approx in [GeluApprox::Exact, GeluApprox::Tanh] {
            let (out, cache) = gelu_forward(&x.view(), approx);
            let dx = gelu_backward(&Array4::ones(x.dim()).view(), &cache);
            for ((&x, &o), &d) in x.iter().zip(&out).zip(&dx) {
                assert!((o - gelu_naive(x, approx)).abs() <= 1e-10);
                assert!((d - gelu_grad_naive(x, approx)).abs() <= 1e-10);
            }
        }
    }

    /// The bound the module docs state: the `f32` exact form within 1e-6 of the
    /// definition, value and derivative, on a grid of step 1e-3 over [−12, 12] and
    /// at the extremes.
    #[test]
    fn the_f32_fast_form_is_within_1e6_of_the_definition() {
        let mut grid: Vec<f32> = (-12_000..=12_000).map(|i| i as f32 * 1e-3).collect();
        grid.extend([-1e30, -100.0, -20.0, 20.0, 100.0, 1e30, f32::MIN_POSITIVE]);
        let x = ndarray::Array1::from(grid);
        let (out, cache) = gelu_forward(&x.view(), GeluApprox::Exact);
        let dx = gelu_backward(&ndarray::Array1::ones(x.len()).view(), &cache);
        let (mut worst_value, mut worst_grad) = (0.0_f64, 0.0_f64);
        for ((&x, &o), &d) in x.iter().zip(&out).zip(&dx) {
            let x = f64::from(x);
            let value = (f64::from(o) - gelu_naive(x, GeluApprox::Exact)).abs();
            let grad = (f64::from(d) - gelu_grad_naive(x, GeluApprox::Exact)).abs();
            // Above 2²⁴ f32 rounds x itself by more than 1e-6: compare relatively.
            worst_value = worst_value.max(value / x.abs().max(1.0));
            worst_grad = worst_grad.max(grad);
        }
        assert!(worst_value <= 1e-6, "GELU off by {worst_value:e}");
        assert!(worst_grad <= 1e-6, "GELU' off by {worst_grad:e}");
    }

    #[test]
    fn erf_f32_and_exp_f32_hold_their_bounds() {
        let worst_erf = (-60_000..=60_000)
            .map(|i| f64::from(i) * 1e-4)
            .map(|x| (f64::from(erf_f32(x as f32)) - libm::erf(f64::from(x as f32))).abs())
            .fold(0.0, f64::max);
        assert!(worst_erf < 4e-7, "{worst_erf:e}");
        let worst_exp = (-8_000..=8_000)
            .map(|i| f64::from(i) * 1e-2)
            .map(|x| {
                let x = f64::from(x as f32);
                (f64::from(exp_f32(x as f32)) - x.exp()).abs() / x.exp()
            })
            .fold(0.0, f64::max);
        assert!(worst_exp < 5e-7, "{worst_exp:e}");
    }

    #[test]
    fn the_spec_token_builds_the_exact_form() {
        let layers = crate::build_layers::<f32>("conv4x3-gelu,fc10", &[3, 8, 8], 0).unwrap();
        assert_eq!(layers[1].name(), "gelu");
        let spec = crate::parse_arch("conv4x3-gelu,fc10").unwrap();
        assert_eq!(spec[1], crate::LayerSpec::Gelu);
        assert_eq!(spec[1].to_string(), "gelu");
    }

    #[test]
    fn the_layer_backward_is_the_function_backward() {
        let x: ArrayD<f64> = numeric::randn((3, 5), &mut numeric::rng(6)).into_dyn();
        let dout: ArrayD<f64> = numeric::randn((3, 5), &mut numeric::rng(7)).into_dyn();
        let mut layer = Gelu {
            approx: GeluApprox::Tanh,
        };
        let (out, cache) =
            layer.forward(x.clone(), &Params::new(), &mut Params::new(), Mode::Train);
        let (dx, grads) = layer.backward(dout.clone(), &cache, &Params::new(), true);
        let (out2, cache2) = gelu_forward(&x.view(), GeluApprox::Tanh);
        assert_eq!(out, out2);
        assert_eq!(dx, gelu_backward(&dout.view(), &cache2));
        assert!(grads.is_empty());
        assert_eq!(Layer::<f64>::name(&layer), "gelu_tanh");
    }
}
