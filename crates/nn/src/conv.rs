//! Convolutional layers, as lecture 5 draws them: each of `F` filters of shape
//! `(C, HH, WW)` slides over the zero-padded input with a stride, and every
//! position's dot product (plus the filter's bias) is one output activation.
//!
//! This file holds the course's naive loops ([`conv_forward_naive`] /
//! [`conv_backward_naive`]), for teaching and as the reference the fast path is
//! tested against. What both paths share, [`ConvParam`] and [`ConvCache`], is in
//! `conv_param.rs`; the fast path ([`crate::conv_forward_fast`]) is in `im2col.rs`.
//! Both forward passes return the same cache, so either backward can follow either
//! forward.
//!
//! ```
//! use ndarray::{Array1, Array4};
//! use nn::{ConvParam, conv_forward_naive, conv_backward_naive};
//! let x = Array4::<f64>::ones((2, 3, 8, 8));
//! let w = Array4::<f64>::ones((4, 3, 3, 3));
//! let b = Array1::<f64>::zeros(4);
//! let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &b.view(), ConvParam::new(1, 1))?;
//! assert_eq!(out.shape(), &[2, 4, 8, 8]);
//! assert_eq!(out[[0, 0, 4, 4]], 27.0); // a 3×3×3 window of ones
//! let (dx, dw, db) = conv_backward_naive(&out.view(), &cache);
//! assert_eq!((dx.dim(), dw.dim(), db.len()), (x.dim(), w.dim(), 4));
//! # Ok::<(), nn::Error>(())
//! ```

use ndarray::{Array1, Array4, ArrayView1, ArrayView4};
use numeric::Float;

pub use crate::conv_param::{ConvCache, ConvParam};
pub(crate) use crate::conv_param::{check_dout, check_shapes, window_count};
use crate::error::Result;

/// The course's naive convolution forward pass: loops over images, filters and
/// output positions, each a dot product of a filter with its receptive field.
///
/// Inputs: `x` (N, C, H, W), filters `w` (F, C, HH, WW), biases `b` (F,).
/// Returns `out` (N, F, H', W') with `H' = (H + 2·pad − HH) / stride + 1`, and the cache.
///
/// # Errors
/// [`Error`](crate::Error) when the shapes disagree or the output size is not whole.
///
/// ```
/// use ndarray::{array, Array4};
/// use nn::{ConvParam, conv_forward_naive};
/// // A 1×1 filter of weight 2 with bias 1 doubles and shifts every pixel.
/// let x = Array4::from_shape_vec((1, 1, 2, 2), vec![1.0_f64, 2.0, 3.0, 4.0]).unwrap();
/// let w = Array4::from_elem((1, 1, 1, 1), 2.0);
/// let (out, _) = conv_forward_naive(&x.view(), &w.view(), &array![1.0].view(), ConvParam::new(1, 0))?;
/// assert_eq!(out.into_raw_vec_and_offset().0, vec![3.0, 5.0, 7.0, 9.0]);
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_forward_naive<T: Float>(
    x: &ArrayView4<'_, T>,
    w: &ArrayView4<'_, T>,
    b: &ArrayView1<'_, T>,
    param: ConvParam,
) -> Result<(Array4<T>, ConvCache<T>)> {
    let (h_out, w_out) = check_shapes(x, w, b, param)?;
    let (n, c, _, _) = x.dim();
    let (f, _, hh, ww) = w.dim();
    let s = param.stride;
    let x_pad = pad_input(x, param.pad);
    let mut out = Array4::zeros((n, f, h_out, w_out));
    for i in 0..n {
        for k in 0..f {
            for oh in 0..h_out {
                for ow in 0..w_out {
                    let mut acc = b[k];
                    for ci in 0..c {
                        for p in 0..hh {
                            for q in 0..ww {
                                acc += x_pad[[i, ci, oh * s + p, ow * s + q]] * w[[k, ci, p, q]];
                            }
                        }
                    }
                    out[[i, k, oh, ow]] = acc;
                }
            }
        }
    }
    let cache = ConvCache {
        x: x.to_owned(),
        w: w.to_owned(),
        param,
    };
    Ok((out, cache))
}

/// `x` with `pad` zeros on each side of its two spatial axes.
fn pad_input<T: Float>(x: &ArrayView4<'_, T>, pad: usize) -> Array4<T> {
    let (n, c, h, w) = x.dim();
    let mut x_pad = Array4::zeros((n, c, h + 2 * pad, w + 2 * pad));
    x_pad
        .slice_mut(ndarray::s![.., .., pad..pad + h, pad..pad + w])
        .assign(x);
    x_pad
}

/// The course's naive convolution backward pass: each output's upstream gradient
/// flows back to the filter weights it was multiplied with (`dw`), to the pixels of
/// its receptive field (`dx`, summed where fields overlap), and to its bias (`db`).
///
/// Returns `(dx, dw, db)` shaped like `x`, `w` and `b`.
///
/// # Panics
/// If `dout` is not shaped like the forward pass's output (a bug in the caller's
/// wiring, not a data error).
///
/// ```
/// use ndarray::{Array1, Array4};
/// use nn::{ConvParam, conv_forward_naive, conv_backward_naive};
/// let x = Array4::<f64>::ones((1, 1, 3, 3));
/// let w = Array4::<f64>::ones((1, 1, 3, 3));
/// let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &Array1::zeros(1).view(), ConvParam::new(1, 0))?;
/// let (dx, dw, db) = conv_backward_naive(&Array4::ones(out.dim()).view(), &cache);
/// assert_eq!((dx[[0, 0, 1, 1]], dw[[0, 0, 0, 0]], db[0]), (1.0, 1.0, 1.0));
/// # Ok::<(), nn::Error>(())
/// ```
pub fn conv_backward_naive<T: Float>(
    dout: &ArrayView4<'_, T>,
    cache: &ConvCache<T>,
) -> (Array4<T>, Array4<T>, Array1<T>) {
    let (n, c, h, wd) = cache.x.dim();
    let (f, _, hh, ww) = cache.w.dim();
    let (h_out, w_out) = cache.out_hw();
    check_dout(dout, (n, f, h_out, w_out));
    let (s, pad) = (cache.param.stride, cache.param.pad);
    let x_pad = pad_input(&cache.x.view(), pad);
    let mut dx_pad = Array4::zeros(x_pad.dim());
    let mut dw = Array4::zeros(cache.w.dim());
    let mut db = Array1::zeros(f);
    for i in 0..n {
        for k in 0..f {
            for oh in 0..h_out {
                for ow in 0..w_out {
                    let d = dout[[i, k, oh, ow]];
                    db[k] += d;
                    for ci in 0..c {
                        for p in 0..hh {
                            for q in 0..ww {
                                let (y, xx) = (oh * s + p, ow * s + q);
                                dw[[k, ci, p, q]] += x_pad[[i, ci, y, xx]] * d;
                                dx_pad[[i, ci, y, xx]] += cache.w[[k, ci, p, q]] * d;
                            }
                        }
                    }
                }
            }
        }
    }
    let dx = dx_pad
        .slice(ndarray::s![.., .., pad..pad + h, pad..pad + wd])
        .to_owned();
    (dx, dw, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::im2col::{conv_backward_fast, conv_forward_fast};
    use crate::test_util::{assert_rel_error_below, numerical_grads3};
    use backprop::gradcheck::rel_error;
    use ndarray::{Array, array};

    fn linspace(lo: f64, hi: f64, n: usize) -> Array1<f64> {
        Array::linspace(lo, hi, n)
    }

    /// The course's sanity check for conv_forward_naive (ConvolutionalNetworks.ipynb).
    #[test]
    fn naive_forward_matches_the_course() {
        let x = linspace(-0.1, 0.5, 2 * 3 * 4 * 4)
            .into_shape_with_order((2, 3, 4, 4))
            .unwrap();
        let w = linspace(-0.2, 0.3, 3 * 3 * 4 * 4)
            .into_shape_with_order((3, 3, 4, 4))
            .unwrap();
        let b = linspace(-0.1, 0.2, 3);
        let correct_out = array![
            [
                [[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]
            ],
            [
                [[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]
            ]
        ];
        let p = ConvParam::new(2, 1);
        let (out, _) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
        // The course prints 8 decimals: its own check is "around 2e-8".
        assert!(rel_error(&out.view(), &correct_out.view()) < 1e-7);
        let (fast, _) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
        assert!(rel_error(&fast.view(), &correct_out.view()) < 1e-7);
    }

    fn random_layer(
        seed: u64,
        x: (usize, usize, usize, usize),
        w: (usize, usize, usize, usize),
    ) -> (Array4<f64>, Array4<f64>, Array1<f64>) {
        let mut r = numeric::rng(seed);
        (
            numeric::randn(x, &mut r),
            numeric::randn(w, &mut r),
            numeric::randn(w.0, &mut r),
        )
    }

    type Forward = fn(
        &ArrayView4<'_, f64>,
        &ArrayView4<'_, f64>,
        &ArrayView1<'_, f64>,
        ConvParam,
    ) -> crate::Result<(Array4<f64>, ConvCache<f64>)>;
    type Backward =
        fn(&ArrayView4<'_, f64>, &ConvCache<f64>) -> (Array4<f64>, Array4<f64>, Array1<f64>);

    /// Checks `backward`'s dx, dw and db against centred differences of `forward`
    /// (relative error < 1e-7) on a random layer of the given shapes (seed `seed`)
    /// and a random upstream gradient (seed `dout_seed`).
    fn check_gradients(
        forward: Forward,
        backward: Backward,
        seed: u64,
        x_shape: (usize, usize, usize, usize),
        w_shape: (usize, usize, usize, usize),
        p: ConvParam,
        dout_seed: u64,
    ) {
        let (mut x, mut w, mut b) = random_layer(seed, x_shape, w_shape);
        let (out, cache) = forward(&x.view(), &w.view(), &b.view(), p).unwrap();
        let dout: Array4<f64> = numeric::randn(out.dim(), &mut numeric::rng(dout_seed));
        let (dx, dw, db) = backward(&dout.view(), &cache);
        let (dx_num, dw_num, db_num) = numerical_grads3(
            |x, w, b| forward(&x.view(), &w.view(), &b.view(), p).unwrap().0,
            &mut x,
            &mut w,
            &mut b,
            &dout.view(),
        );
        assert_rel_error_below("dx", &dx, &dx_num, 1e-7);
        assert_rel_error_below("dw", &dw, &dw_num, 1e-7);
        assert_rel_error_below("db", &db, &db_num, 1e-7);
    }

    /// The course's gradient check: x (4, 3, 5, 5), w (2, 3, 3, 3), stride 1, pad 1.
    #[test]
    fn naive_backward_matches_numerical_gradients() {
        check_gradients(
            conv_forward_naive,
            conv_backward_naive,
            231,
            (4, 3, 5, 5),
            (2, 3, 3, 3),
            ConvParam::new(1, 1),
            7,
        );
    }

    #[test]
    fn fast_backward_matches_numerical_gradients_with_stride_2() {
        check_gradients(
            conv_forward_fast,
            conv_backward_fast,
            5,
            (2, 3, 7, 7),
            (4, 3, 3, 3),
            ConvParam::new(2, 1),
            8,
        );
    }

    /// Both layouts of the fast path: a 5×5 map runs in chunks of images, a 12×12 map
    /// (144 positions) on wide columns, one image at a time.
    #[test]
    fn fast_backward_matches_numerical_gradients_on_both_layouts() {
        for (seed, x_shape) in [(6, (3, 3, 5, 5)), (7, (2, 2, 12, 12))] {
            check_gradients(
                conv_forward_fast,
                conv_backward_fast,
                seed,
                x_shape,
                (3, x_shape.1, 3, 3),
                ConvParam::new(1, 1),
                9,
            );
        }
    }

    fn winograd_forward(
        x: &ArrayView4<'_, f64>,
        w: &ArrayView4<'_, f64>,
        b: &ArrayView1<'_, f64>,
        p: ConvParam,
    ) -> crate::Result<(Array4<f64>, ConvCache<f64>)> {
        crate::ab::forward(x, w, b, p, crate::ab::Path::Winograd)
    }

    fn winograd_backward(
        dout: &ArrayView4<'_, f64>,
        cache: &ConvCache<f64>,
    ) -> (Array4<f64>, Array4<f64>, Array1<f64>) {
        let (dx, dw, db) = crate::ab::backward(dout, cache, true, crate::ab::Path::Winograd);
        (dx.expect("asked for dx"), dw, db)
    }

    /// The Winograd path (which the fast functions choose for 3×3 'same' layers of 64
    /// channels and more), forced on small layers: 7×5 and 9×9 maps cut into
    /// overhanging tiles, several images, both passes through the Winograd code.
    ///
    /// The step is 1e-3, not the course's 1e-5: the layer is linear in each of x, w
    /// and b, so centred differences carry no truncation error at any step, while
    /// their rounding error shrinks with the step. Winograd's f64 forward pass rounds
    /// about ten times more than the direct sum (the sixths and twenty-fourths of its
    /// filter transform), which at 1e-5 put the differences' own noise at 2e-7.
    #[test]
    fn winograd_backward_matches_numerical_gradients() {
        use backprop::gradcheck::eval_numerical_gradient_array;
        let p = ConvParam::new(1, 1);
        for (seed, x_shape, filters) in [(8, (3, 2, 7, 5), 3), (11, (2, 3, 9, 9), 2)] {
            let (mut x, mut w, mut b) = random_layer(seed, x_shape, (filters, x_shape.1, 3, 3));
            let (out, cache) = winograd_forward(&x.view(), &w.view(), &b.view(), p).unwrap();
            let dout: Array4<f64> = numeric::randn(out.dim(), &mut numeric::rng(seed + 1));
            let (dx, dw, db) = winograd_backward(&dout.view(), &cache);
            let (x0, w0, b0) = (x.clone(), w.clone(), b.clone());
            let f = |x: &Array4<f64>, w: &Array4<f64>, b: &Array1<f64>| {
                winograd_forward(&x.view(), &w.view(), &b.view(), p)
                    .unwrap()
                    .0
            };
            let h = 1e-3;
            let dx_num = eval_numerical_gradient_array(|x| f(x, &w0, &b0), &mut x, &dout.view(), h);
            let dw_num = eval_numerical_gradient_array(|w| f(&x0, w, &b0), &mut w, &dout.view(), h);
            let db_num = eval_numerical_gradient_array(|b| f(&x0, &w0, b), &mut b, &dout.view(), h);
            assert_rel_error_below("dx", &dx, &dx_num, 1e-7);
            assert_rel_error_below("dw", &dw, &dw_num, 1e-7);
            assert_rel_error_below("db", &db, &db_num, 1e-7);
        }
    }

    #[test]
    fn fast_agrees_with_naive_on_awkward_geometries() {
        // (x shape, w shape, stride, pad): padding wider than the filter's reach,
        // stride 3, 1×1 filters, non-square images and filters.
        let cases = [
            ((3, 2, 9, 7), (5, 2, 3, 1), 1, 0),
            ((2, 3, 7, 7), (2, 3, 3, 3), 3, 1),
            ((2, 1, 5, 6), (3, 1, 1, 1), 1, 2),
            ((1, 2, 4, 4), (2, 2, 4, 4), 2, 3),
            ((2, 4, 6, 6), (3, 4, 5, 5), 1, 2),
        ];
        for (seed, (xs, ws, s, pad)) in cases.into_iter().enumerate() {
            let (x, w, b) = random_layer(seed as u64, xs, ws);
            let p = ConvParam::new(s, pad);
            let (out_n, cache) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
            let (out_f, _) = conv_forward_fast(&x.view(), &w.view(), &b.view(), p).unwrap();
            assert!(
                rel_error(&out_f.view(), &out_n.view()) < 1e-10,
                "forward {xs:?} {ws:?}"
            );
            let dout: Array4<f64> = numeric::randn(out_n.dim(), &mut numeric::rng(99));
            let (dx_n, dw_n, db_n) = conv_backward_naive(&dout.view(), &cache);
            let (dx_f, dw_f, db_f) = conv_backward_fast(&dout.view(), &cache);
            assert!(
                rel_error(&dx_f.view(), &dx_n.view()) < 1e-10,
                "dx {xs:?} {ws:?}"
            );
            assert!(
                rel_error(&dw_f.view(), &dw_n.view()) < 1e-10,
                "dw {xs:?} {ws:?}"
            );
            assert!(
                rel_error(&db_f.view(), &db_n.view()) < 1e-10,
                "db {xs:?} {ws:?}"
            );
        }
    }

    #[test]
    fn fast_forward_accepts_non_standard_layouts() {
        let (x, w, b) = random_layer(3, (3, 2, 5, 5), (2, 2, 3, 3));
        let x_t = x.view().permuted_axes([0, 1, 3, 2]);
        let p = ConvParam::new(1, 1);
        let (a, _) = conv_forward_fast(&x_t, &w.view(), &b.view(), p).unwrap();
        let (e, _) = conv_forward_naive(&x_t, &w.view(), &b.view(), p).unwrap();
        assert!(rel_error(&a.view(), &e.view()) < 1e-10);
    }

    #[test]
    fn bad_shapes_are_typed_errors() {
        let x = Array4::<f64>::zeros((1, 3, 5, 5));
        let p = ConvParam::new(1, 0);
        let w = Array4::<f64>::zeros((2, 2, 3, 3));
        assert!(matches!(
            conv_forward_fast(&x.view(), &w.view(), &Array1::zeros(2).view(), p).unwrap_err(),
            Error::Channels {
                x_channels: 3,
                w_channels: 2
            }
        ));
        let w = Array4::<f64>::zeros((2, 3, 3, 3));
        assert!(matches!(
            conv_forward_naive(&x.view(), &w.view(), &Array1::zeros(3).view(), p).unwrap_err(),
            Error::Biases {
                biases: 3,
                filters: 2
            }
        ));
        let err = conv_forward_fast(
            &x.view(),
            &w.view(),
            &Array1::zeros(2).view(),
            ConvParam::new(0, 0),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::Zero {
                layer: "conv",
                what: "stride"
            }
        ));
        let big = Array4::<f64>::zeros((2, 3, 7, 7));
        assert!(matches!(
            conv_forward_fast(&x.view(), &big.view(), &Array1::zeros(2).view(), p).unwrap_err(),
            Error::WindowTooLarge {
                window: 7,
                size: 5,
                ..
            }
        ));
        assert!(matches!(
            conv_forward_fast(
                &x.view(),
                &w.view(),
                &Array1::zeros(2).view(),
                ConvParam::new(3, 0)
            )
            .unwrap_err(),
            Error::NotWhole {
                size: 5,
                stride: 3,
                window: 3,
                ..
            }
        ));
    }

    #[test]
    fn an_empty_batch_gives_empty_outputs() {
        let x = Array4::<f32>::zeros((0, 3, 8, 8));
        let w = Array4::<f32>::ones((2, 3, 3, 3));
        let (out, cache) = conv_forward_fast(
            &x.view(),
            &w.view(),
            &Array1::zeros(2).view(),
            ConvParam::new(1, 1),
        )
        .unwrap();
        assert_eq!(out.dim(), (0, 2, 8, 8));
        let (dx, dw, db) = conv_backward_fast(&out.view(), &cache);
        assert_eq!(dx.dim(), (0, 3, 8, 8));
        assert!(dw.iter().all(|&v| v == 0.0) && db.iter().all(|&v| v == 0.0));
    }
}
