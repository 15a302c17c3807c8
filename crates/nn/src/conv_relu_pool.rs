//! `conv → relu → 2×2 max pool` in one pass per image, for the layers that run on
//! wide columns (`im2col_wide.rs`): the first layer of the course's ThreeLayerConvNet.
//!
//! Run one after the other, the three layers move the convolution's output through
//! memory four times: zeroed, written by the GEMM, read by the pool, and in the
//! backward pass a zeroed full-size `dx` of the pool that the convolution copies into
//! its own layout. That output is the largest array of the network (32 filters on
//! 32×32 at batch 50: 6.5 MB, beyond the cores' L2). Here each image's product is
//! pooled while it is in cache and only the pooled maxima and their positions are
//! kept; backward, the pooled gradient is scattered straight into the convolution's
//! wide `dout` of that image.
//!
//! Same numbers as `conv_forward_fast` → `max_pool_forward_fast` → relu: the product,
//! the bias addition, the comparisons (ties go to the first position in row-major
//! order) and the relu are the same operations in the same order; `db` sums the
//! same nonzero terms in another order (tested to 1e-10 in f64).
//!
//! In f32 on a CPU with AVX-512, a layer with few input channels on wide images skips
//! the column matrix too: `direct_relu_pool.rs` sums each output from the padded image
//! and pools in registers, with the same comparisons and the same switches.

use ndarray::{Array1, Array4};
use numeric::Float;
use rayon::prelude::*;

use crate::conv::ConvCache;
use crate::conv_param::Geometry;
use crate::direct_relu_pool;
use crate::im2col_wide::{self, WideScores};
use crate::pool::FastPoolCache;
use crate::pooled_dw;

/// The fused forward pass on checked shapes (stride 1, even `H'` and `W'`): the
/// pooled, relu'd output (N, F, H'/2, W'/2) and the pool's cache over the
/// convolution's output (N, F, H', W').
pub(crate) fn forward<T: Float>(cache: &ConvCache<T>, b: &[T]) -> (Array4<T>, FastPoolCache) {
    let (n, f) = (cache.x.dim().0, cache.w.dim().0);
    let (h_out, w_out) = cache.out_hw();
    let (hp, wp) = (h_out / 2, w_out / 2);
    let mut out = Array4::<T>::zeros((n, f, hp, wp));
    let mut argmax = vec![0u32; out.len()];
    let pool_cache = |argmax| FastPoolCache::new(argmax, (n, f, h_out, w_out), (n, f, hp, wp));
    let per_image = f * hp * wp;
    if per_image == 0 {
        return (out, pool_cache(argmax));
    }
    let out_all = out.as_slice_mut().expect("fresh array");
    if direct_relu_pool::suits(&Geometry::of(cache))
        && direct_relu_pool::forward(cache, b, out_all, &mut argmax)
    {
        return (out, pool_cache(argmax));
    }
    let images = out
        .as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(per_image)
        .zip(argmax.par_chunks_mut(per_image))
        .enumerate();
    im2col_wide::forward_with(cache, images, |scores, (out_i, arg_i)| {
        for (fi, &bias) in b.iter().enumerate() {
            let plane = fi * hp * wp..(fi + 1) * hp * wp;
            pool_scores(
                &scores,
                fi,
                bias,
                w_out,
                &mut out_i[plane.clone()],
                &mut arg_i[plane],
            );
        }
    });
    (out, pool_cache(argmax))
}

/// 2×2 max pooling, then relu, of filter `fi`'s scores plus `bias`, into one pooled
/// plane and the positions of its maxima in the (H', W') plane, as
/// `pool::pool_plane_2x2` and `relu_inplace` compute them.
fn pool_scores<T: Float>(
    scores: &WideScores<'_, T>,
    fi: usize,
    bias: T,
    w_out: usize,
    out: &mut [T],
    arg: &mut [u32],
) {
    let wp = w_out / 2;
    for (oh, (out_row, arg_row)) in out.chunks_mut(wp).zip(arg.chunks_mut(wp)).enumerate() {
        let (top, bottom) = (scores.row(fi, 2 * oh), scores.row(fi, 2 * oh + 1));
        let base = (2 * oh * w_out) as u32;
        for ow in 0..wp {
            let (a, b, c, d) = (
                top[2 * ow] + bias,
                top[2 * ow + 1] + bias,
                bottom[2 * ow] + bias,
                bottom[2 * ow + 1] + bias,
            );
            // Strict comparisons keep the earlier position (row-major) on ties.
            let (m_top, i_top) = if b > a { (b, 1) } else { (a, 0) };
            let (m_bot, i_bot) = if d > c {
                (d, w_out as u32 + 1)
            } else {
                (c, w_out as u32)
            };
            let (m, at) = if m_bot > m_top {
                (m_bot, i_bot)
            } else {
                (m_top, i_top)
            };
            // relu_inplace's test: a NaN passes through.
            out_row[ow] = if m < T::zero() { T::zero() } else { m };
            arg_row[ow] = base + 2 * ow as u32 + at;
        }
    }
}

/// The fused backward pass: `(dx if need_dx, dW, db)` from the gradient `dout` of the
/// pooled output `out` (both (N, F, H'/2, W'/2), standard layout). Without `dx`,
/// `dW` sums only the pooled gradient's nonzeros (`pooled_dw.rs`, kernels up to 8
/// wide); otherwise the relu's mask (`out > 0`) and the pool's scatter write each
/// image's `dout` into the convolution's wide layout for the dense products.
pub(crate) fn backward<T: Float>(
    dout: &[T],
    out: &[T],
    pool: &FastPoolCache,
    cache: &ConvCache<T>,
    need_dx: bool,
) -> (Option<Array4<T>>, Array4<T>, Array1<T>) {
    let wide_geometry = im2col_wide::Wide::of(cache);
    if !need_dx && pooled_dw::fits(&wide_geometry) {
        let (dw, db) = pooled_dw::backward(dout, out, pool, cache);
        return (None, dw, db);
    }
    let (_, f, _, w_out) = pool.input_dim();
    let (_, _, hp, wp) = pool.output_dim();
    // Values per filter in the wide layout, and between its output rows.
    let (per_filter, l, stride) = (hp * wp, wide_geometry.l(), wide_geometry.wp());
    let argmax = pool.argmax();
    im2col_wide::backward_with(cache, need_dx, |i, dout_wide, db| {
        dout_wide.fill(T::zero());
        for fi in 0..f {
            let plane = (i * f + fi) * per_filter..(i * f + fi + 1) * per_filter;
            let wide = &mut dout_wide[fi * l..(fi + 1) * l];
            let mut sum = T::zero();
            for ((&at, &d), &o) in argmax[plane.clone()]
                .iter()
                .zip(&dout[plane.clone()])
                .zip(&out[plane])
            {
                // relu_backward_from_output's test: no gradient where out ≤ 0.
                let g = if o <= T::zero() { T::zero() } else { d };
                let at = at as usize;
                wide[at / w_out * stride + at % w_out] += g;
                sum += g;
            }
            db[fi] += sum;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::ConvParam;
    use crate::pool::PoolParam;
    use crate::{
        conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive,
    };
    use backprop::gradcheck::rel_error;
    use ndarray::Array4;

    /// The naive layers in a row: conv, relu, pool, and their backward passes.
    #[allow(clippy::type_complexity)]
    fn naive(
        x: &Array4<f64>,
        w: &Array4<f64>,
        b: &Array1<f64>,
        pad: usize,
        dout: &Array4<f64>,
    ) -> (Array4<f64>, Array4<f64>, Array4<f64>, Array1<f64>) {
        let (a, conv_cache) =
            conv_forward_naive(&x.view(), &w.view(), &b.view(), ConvParam::new(1, pad)).unwrap();
        let r = a.mapv(|v| v.max(0.0));
        let (out, pool_cache) = max_pool_forward_naive(&r.view(), PoolParam::square(2, 2)).unwrap();
        let dr = max_pool_backward_naive(&dout.view(), &pool_cache);
        let da = ndarray::Zip::from(&dr)
            .and(&a)
            .map_collect(|&d, &v| if v > 0.0 { d } else { 0.0 });
        let (dx, dw, db) = conv_backward_naive(&da.view(), &conv_cache);
        (out, dx, dw, db)
    }

    #[test]
    fn matches_the_naive_layers_in_f64() {
        // (N, C, H, W, F, K, pad): the course's first layer, a 3×3 'same' layer, a
        // non-square map and a layer without padding.
        for (n, c, h, w, f, k, pad) in [
            (3, 3, 32, 32, 4, 7, 3),
            (2, 2, 16, 16, 3, 3, 1),
            (2, 1, 12, 20, 2, 5, 2),
            (1, 2, 10, 10, 2, 3, 0),
        ] {
            let mut rng = numeric::rng(n as u64 * 31 + k as u64);
            let x: Array4<f64> = numeric::randn((n, c, h, w), &mut rng);
            let wt: Array4<f64> = numeric::randn((f, c, k, k), &mut rng);
            let b: Array1<f64> = numeric::randn(f, &mut rng);
            let cache = ConvCache {
                x: x.clone(),
                w: wt.clone(),
                param: ConvParam::new(1, pad),
            };
            let (out, pool) = forward(&cache, b.as_slice().unwrap());
            let dout: Array4<f64> = numeric::randn(out.dim(), &mut rng);
            let (out_naive, dx_naive, dw_naive, db_naive) = naive(&x, &wt, &b, pad, &dout);
            assert!(rel_error(&out.view(), &out_naive.view()) < 1e-10);
            let flat = |a: &Array4<f64>| a.as_slice().unwrap().to_vec();
            let (dx, dw, db) = backward(&flat(&dout), &flat(&out), &pool, &cache, true);
            let (no_dx, dw2, db2) = backward(&flat(&dout), &flat(&out), &pool, &cache, false);
            assert!(no_dx.is_none());
            let shape = (n, c, h, w, f, k);
            // Without dx, dW sums only the nonzero terms (pooled_dw.rs).
            assert!(rel_error(&dw2.view(), &dw.view()) < 1e-12, "{shape:?}");
            assert!(rel_error(&db2.view(), &db.view()) < 1e-12, "{shape:?}");
            assert!(
                rel_error(&dw2.view(), &dw_naive.view()) < 1e-10,
                "{shape:?}"
            );
            assert!(
                rel_error(&dx.unwrap().view(), &dx_naive.view()) < 1e-10,
                "{shape:?}"
            );
            assert!(rel_error(&dw.view(), &dw_naive.view()) < 1e-10, "{shape:?}");
            assert!(rel_error(&db.view(), &db_naive.view()) < 1e-10, "{shape:?}");
        }
    }
}
