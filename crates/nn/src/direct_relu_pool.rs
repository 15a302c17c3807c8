//! `conv → relu → 2×2 max pool` as a direct convolution: f32 on AVX-512, for layers with
//! few input channels on wide images (the ThreeLayerConvNet's 7×7, 3 → 32 layer).
//!
//! On wide columns (`im2col_wide.rs`) that layer builds a 715 KB column matrix per image
//! and multiplies it by the 32 × 147 filter matrix: 32 filters are 5 × 6 + 2 columns of
//! the GEMM kernel's tile, and the product ran at two thirds of the GEMM peak. Here the
//! image is zero-padded once (17 KB, in L1 with a block of filters) and each output
//! value is summed straight from it: one vector holds 16 neighbouring output positions
//! of one row, and for every tap `(c, i, j)` of the receptive field the padded row
//! `c, y + i` is read from column `x + j` and multiplied by that tap of [`FILTERS`]
//! filters, broadcast. Two output rows at a time (the pool's pair of rows) make
//! 2 × [`FILTERS`] accumulators: 16 of the 32 registers, and per tap 16 multiply-adds
//! for 2 loads and 8 broadcasts. The 2×2 pool, its switches and the relu are taken on
//! the accumulators before anything is stored; no column matrix and no full-size
//! output exist.
//!
//! Same operations as `conv_relu_pool::pool_scores` after the product: bias added to
//! each score, then the comparisons in its order (ties to the first position in
//! row-major order, a NaN kept as the relu keeps it). The products are summed in
//! another order than the GEMM's (tap by tap, one fused multiply-add each), so the
//! values differ from the wide path's in the last bits of f32; each image's bits
//! depend on nothing but its inputs, whatever the threads. f64 and CPUs without
//! AVX-512 take the wide path.

use std::any::TypeId;

use numeric::Float;
use rayon::prelude::*;

use crate::conv::ConvCache;
use crate::conv_param::Geometry;

/// Filters summed at once: with two output rows, 16 accumulator registers.
const FILTERS: usize = 8;

/// Output positions in one vector: 16 f32 in a 512-bit register.
const LANES: usize = 16;

/// Whether the direct kernel should take this layer: stride 1 (checked by the caller),
/// few input channels (the kernel reads the whole padded image per block of filters, so
/// it stays in L1 only for a few planes) and output rows of at least one full vector.
pub(crate) fn suits(g: &Geometry) -> bool {
    g.stride == 1 && g.c <= 4 && g.w_out >= LANES
}

/// Whether this CPU runs the kernel (AVX-512F).
fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // std caches the CPUID answer: later calls are a load.
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The fused forward pass of `cache` (stride 1, even `H'` and `W'`) with biases `b`
/// into `out` (N, F, H'/2, W'/2, standard layout) and the pool's switches `argmax`
/// (positions in each (H', W') plane), for any shape; `false`, with nothing written,
/// when `T` is not f32 or the CPU lacks AVX-512.
pub(crate) fn forward<T: Float>(
    cache: &ConvCache<T>,
    b: &[T],
    out: &mut [T],
    argmax: &mut [u32],
) -> bool {
    if TypeId::of::<T>() != TypeId::of::<f32>() || !available() {
        return false;
    }
    // SAFETY: T is f32 (TypeId above), so these are the same slices retyped.
    let (x, w, b, out) = unsafe {
        let x = cache.x.as_slice().expect("standard layout");
        let w = cache.w.as_slice().expect("standard layout");
        (
            std::slice::from_raw_parts(x.as_ptr().cast::<f32>(), x.len()),
            std::slice::from_raw_parts(w.as_ptr().cast::<f32>(), w.len()),
            std::slice::from_raw_parts(b.as_ptr().cast::<f32>(), b.len()),
            std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f32>(), out.len()),
        )
    };
    let plan = Plan::new(Geometry::of(cache), w, b);
    plan.run(x, out, argmax);
    true
}

/// One layer's sizes and its filters rearranged for the kernel.
struct Plan {
    g: Geometry,
    /// Values between rows of the padded image: at least `W + 2P`, and enough for the
    /// last vector of a row to read `WW − 1` values past it without leaving the row.
    row: usize,
    /// Values of one padded plane, `(H + 2P) · row`.
    plane: usize,
    /// Vectors per output row, the last one partly dropped when `W'` is not a multiple
    /// of [`LANES`].
    blocks: usize,
    /// Where tap `(c, i, j)` starts in the padded image, relative to an output
    /// position's corner: `c·plane + i·row + j`.
    taps: Vec<usize>,
    /// The filters as (F / FILTERS blocks, taps, FILTERS): each tap's values of one
    /// block side by side, zero for the filters past F.
    w: Vec<f32>,
    /// The biases, zero past F.
    b: Vec<f32>,
}

impl Plan {
    fn new(g: Geometry, w: &[f32], b: &[f32]) -> Self {
        let blocks = g.w_out.div_ceil(LANES);
        let row = (g.w + 2 * g.pad).max(blocks * LANES + g.ww - 1);
        let plane = (g.h + 2 * g.pad) * row;
        let taps: Vec<usize> = (0..g.c)
            .flat_map(|ci| (0..g.hh).flat_map(move |i| (0..g.ww).map(move |j| (ci, i, j))))
            .map(|(ci, i, j)| ci * plane + i * row + j)
            .collect();
        let (k, f_blocks) = (taps.len(), g.f.div_ceil(FILTERS));
        let mut w_t = vec![0f32; f_blocks * k * FILTERS];
        for (fi, filter) in w.chunks_exact(k).enumerate() {
            let (block, lane) = (fi / FILTERS, fi % FILTERS);
            for (t, &v) in filter.iter().enumerate() {
                w_t[(block * k + t) * FILTERS + lane] = v;
            }
        }
        let mut b_padded = vec![0f32; f_blocks * FILTERS];
        b_padded[..g.f].copy_from_slice(b);
        Self {
            g,
            row,
            plane,
            blocks,
            taps,
            w: w_t,
            b: b_padded,
        }
    }

    /// Every image of `x`, spread over the rayon pool, each with its thread's padded
    /// buffer (zeroed once; only the interior is rewritten, so the border stays zero).
    fn run(&self, x: &[f32], out: &mut [f32], argmax: &mut [u32]) {
        let g = &self.g;
        let per_image = g.f * (g.h_out / 2) * (g.w_out / 2);
        let image = g.c * g.h * g.w;
        if per_image == 0 {
            return;
        }
        out.par_chunks_mut(per_image)
            .zip(argmax.par_chunks_mut(per_image))
            .enumerate()
            .for_each_init(
                || vec![0f32; g.c * self.plane],
                |padded, (i, (out_i, arg_i))| {
                    self.pad_image(&x[i * image..(i + 1) * image], padded);
                    self.image(padded, out_i, arg_i);
                },
            );
    }

    /// Image `x` (C, H, W) into the interior of `padded`.
    fn pad_image(&self, x: &[f32], padded: &mut [f32]) {
        let g = &self.g;
        for ci in 0..g.c {
            for y in 0..g.h {
                let at = ci * self.plane + (y + g.pad) * self.row + g.pad;
                padded[at..at + g.w].copy_from_slice(&x[(ci * g.h + y) * g.w..][..g.w]);
            }
        }
    }

    /// One padded image's pooled output and switches.
    fn image(&self, padded: &[f32], out: &mut [f32], arg: &mut [u32]) {
        debug_assert_eq!(padded.len(), self.g.c * self.plane);
        debug_assert_eq!(
            out.len(),
            self.g.f * (self.g.h_out / 2) * (self.g.w_out / 2)
        );
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `forward` checked AVX-512F; the buffers have the sizes asserted
            // above and `Plan::new` gave them, which is what `avx512::image` reads and
            // writes.
            unsafe { avx512::image(self, padded, out, arg) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("declined in forward: no AVX-512 here ({padded:p} {out:p} {arg:p})");
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{FILTERS, LANES, Plan};

    /// The pooled output (F, H'/2, W'/2) and switches of one padded image.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `padded` holds `C·plane` values and `out`, `arg` hold
    /// `F·(H'/2)·(W'/2)` each, for the sizes of `plan`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn image(plan: &Plan, padded: &[f32], out: &mut [f32], arg: &mut [u32]) {
        let g = &plan.g;
        let k = plan.taps.len();
        let hp = g.h_out / 2;
        for (block, (w_block, b_block)) in plan
            .w
            .chunks_exact(k * FILTERS)
            .zip(plan.b.chunks_exact(FILTERS))
            .enumerate()
        {
            let filters = (g.f - block * FILTERS).min(FILTERS);
            for ph in 0..hp {
                for xb in 0..plan.blocks {
                    let x0 = xb * LANES;
                    let corner = 2 * ph * plan.row + x0;
                    // SAFETY: the loads reach at most column x0 + WW − 1 + 15 <
                    // `row` of padded rows 2·ph + HH ≤ H + 2P of plane C − 1
                    // (`Plan::new`), inside `padded`.
                    let (top, bottom) = unsafe { sums(plan, padded, corner, w_block) };
                    let kept = ((g.w_out - x0) / 2).min(LANES / 2);
                    for f in 0..filters {
                        let at = ((block * FILTERS + f) * hp + ph) * (g.w_out / 2) + x0 / 2;
                        // SAFETY: `kept` pooled values from `at` are in the image's
                        // plane of filter block·FILTERS + f, row ph.
                        unsafe {
                            pool(
                                top[f],
                                bottom[f],
                                b_block[f],
                                (2 * ph * g.w_out + x0) as i32,
                                g.w_out as i32,
                                kept,
                                out.as_mut_ptr().add(at),
                                arg.as_mut_ptr().add(at),
                            )
                        };
                    }
                }
            }
        }
    }

    /// The scores (no bias) of [`FILTERS`] filters at 16 positions of two output rows
    /// whose top-left corner is `padded[corner]`: `Σ_taps w[tap] · padded[corner + tap]`
    /// and the same one row down, taps in order, one fused multiply-add each.
    ///
    /// # Safety
    /// AVX-512F; every `padded[corner + tap + row + 15]` exists; `w` holds
    /// `taps·FILTERS` values.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn sums(
        plan: &Plan,
        padded: &[f32],
        corner: usize,
        w: &[f32],
    ) -> ([__m512; FILTERS], [__m512; FILTERS]) {
        let mut top = [_mm512_setzero_ps(); FILTERS];
        let mut bottom = [_mm512_setzero_ps(); FILTERS];
        let (p, row) = (padded.as_ptr(), plan.row);
        for (&tap, w_tap) in plan.taps.iter().zip(w.chunks_exact(FILTERS)) {
            // SAFETY: the caller's contract.
            let (t, b) = unsafe {
                (
                    _mm512_loadu_ps(p.add(corner + tap)),
                    _mm512_loadu_ps(p.add(corner + tap + row)),
                )
            };
            for f in 0..FILTERS {
                let wf = _mm512_set1_ps(w_tap[f]);
                top[f] = _mm512_fmadd_ps(t, wf, top[f]);
                bottom[f] = _mm512_fmadd_ps(b, wf, bottom[f]);
            }
        }
        (top, bottom)
    }

    /// 2×2 max pool, then relu, of one filter's scores `top` and `bottom` (two output
    /// rows, 16 positions) plus `bias`: `kept` (≤ 8) pooled values to `out` and their
    /// positions `base + 2·lane + (0, 1, W', W' + 1)` to `arg`, with
    /// `conv_relu_pool::pool_scores`'s comparisons in its order.
    ///
    /// # Safety
    /// AVX-512F; `out` and `arg` have `kept` values.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn pool(
        top: __m512,
        bottom: __m512,
        bias: f32,
        base: i32,
        w_out: i32,
        kept: usize,
        out: *mut f32,
        arg: *mut u32,
    ) {
        let bias = _mm512_set1_ps(bias);
        let (top, bottom) = (_mm512_add_ps(top, bias), _mm512_add_ps(bottom, bias));
        // Lanes 0..8: the top row's pairs, lanes 8..16: the bottom row's.
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        let a = _mm512_permutex2var_ps(top, even, bottom);
        let b = _mm512_permutex2var_ps(top, odd, bottom);
        // `if b > a { b } else { a }`, false for a NaN: ordered, non-signalling.
        let right = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(b, a);
        let m_row = _mm512_mask_blend_ps(right, a, b);
        let row_start = _mm512_setr_epi32(
            0, 0, 0, 0, 0, 0, 0, 0, w_out, w_out, w_out, w_out, w_out, w_out, w_out, w_out,
        );
        let at_row = _mm512_mask_add_epi32(row_start, right, row_start, _mm512_set1_epi32(1));
        // The bottom row's maxima into lanes 0..8: swap the 256-bit halves.
        let m_bottom = _mm512_shuffle_f32x4::<0x4E>(m_row, m_row);
        let at_bottom = _mm512_shuffle_i32x4::<0x4E>(at_row, at_row);
        let down = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(m_bottom, m_row);
        let m = _mm512_mask_blend_ps(down, m_row, m_bottom);
        let at = _mm512_mask_blend_epi32(down, at_row, at_bottom);
        // relu_inplace's `if m < 0 { 0 } else { m }`: a NaN passes through.
        let negative = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(m, _mm512_setzero_ps());
        let m = _mm512_mask_blend_ps(negative, m, _mm512_setzero_ps());
        let pairs = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
        let at = _mm512_add_epi32(_mm512_add_epi32(at, pairs), _mm512_set1_epi32(base));
        let mask: __mmask16 = (1u16 << kept) - 1;
        // SAFETY: only the first `kept` lanes are written (the caller's contract).
        unsafe {
            _mm512_mask_storeu_ps(out, mask, m);
            _mm512_mask_storeu_epi32(arg.cast::<i32>(), mask, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::ConvParam;
    use crate::{conv_forward_naive, conv_relu_pool};
    use ndarray::{Array1, Array4};

    /// A layer of random f32 images and filters: (N, C, H, W), F filters of HH × WW, pad.
    fn layer(
        (n, c, h, w): (usize, usize, usize, usize),
        (f, hh, ww): (usize, usize, usize),
        pad: usize,
        seed: u64,
    ) -> (ConvCache<f32>, Array1<f32>) {
        let mut rng = numeric::rng(seed);
        let cache = ConvCache {
            x: numeric::randn((n, c, h, w), &mut rng),
            w: numeric::randn((f, c, hh, ww), &mut rng),
            param: ConvParam::new(1, pad),
        };
        (cache, numeric::randn(f, &mut rng))
    }

    /// The kernel's pooled output and switches, `None` where it declines (no AVX-512).
    fn direct(cache: &ConvCache<f32>, b: &Array1<f32>) -> Option<(Vec<f32>, Vec<u32>)> {
        let (n, f) = (cache.x.dim().0, cache.w.dim().0);
        let (h_out, w_out) = cache.out_hw();
        let len = n * f * (h_out / 2) * (w_out / 2);
        let (mut out, mut arg) = (vec![f32::NAN; len], vec![u32::MAX; len]);
        forward(cache, b.as_slice().unwrap(), &mut out, &mut arg).then_some((out, arg))
    }

    /// On shapes the kernel must cover (vectors cut short, filters past a block of
    /// eight, kernels wider than eight, non-square kernels, 1×1, a kernel wider than
    /// the image) each pooled value is the relu of its window's maximum in the naive
    /// f64 layer, within f32 rounding, and each switch points at that maximum: exactly
    /// the naive layer's first maximum wherever the runner-up is not within rounding.
    #[test]
    fn matches_the_naive_layer_on_odd_shapes() {
        if !available() {
            eprintln!("no AVX-512F: the direct kernel does not run on this CPU");
            return;
        }
        for (dims, filters, pad) in [
            ((2, 3, 32, 32), (32, 7, 7), 3),
            ((2, 1, 6, 16), (3, 3, 3), 1),
            ((1, 2, 12, 36), (9, 5, 5), 2),
            ((2, 3, 10, 12), (5, 3, 5), 1),
            ((1, 4, 8, 40), (17, 9, 9), 4),
            ((1, 1, 4, 4), (1, 1, 1), 0),
            ((1, 3, 6, 6), (2, 7, 7), 3),
            ((1, 2, 9, 21), (3, 4, 6), 1),
        ] {
            let (cache, b) = layer(dims, filters, pad, dims.3 as u64);
            let (out, arg) = direct(&cache, &b).expect("AVX-512F is here");
            let wide = |a: &Array4<f32>| a.mapv(f64::from);
            let (a, _) = conv_forward_naive(
                &wide(&cache.x).view(),
                &wide(&cache.w).view(),
                &b.mapv(f64::from).view(),
                cache.param,
            )
            .unwrap();
            let (n, f, h_out, w_out) = a.dim();
            let (hp, wp) = (h_out / 2, w_out / 2);
            assert_eq!(out.len(), n * f * hp * wp, "{dims:?} {filters:?}");
            let scale = a.iter().fold(0f64, |m, v| m.max(v.abs()));
            let tol = 1e-5 * scale;
            let (mut separated, mut same_switch) = (0, 0);
            for (p, (&o, &at)) in out.iter().zip(&arg).enumerate() {
                let (plane, ph, pw) = (p / (hp * wp), p / wp % hp, p % wp);
                let a_plane = &a.as_slice().unwrap()[plane * h_out * w_out..][..h_out * w_out];
                let window = [0, 1, w_out, w_out + 1].map(|d| 2 * ph * w_out + 2 * pw + d);
                let values = window.map(|q| a_plane[q]);
                let first_max = (0..4).fold(0, |m, q| if values[q] > values[m] { q } else { m });
                let max = values[first_max];
                let at = at as usize;
                assert!(
                    window.contains(&at),
                    "{dims:?} {filters:?}: switch {at} outside"
                );
                assert!(
                    max - a_plane[at] <= tol,
                    "{dims:?} {filters:?}: not a maximum"
                );
                assert!(
                    (f64::from(o) - max.max(0.0)).abs() <= tol,
                    "{dims:?} {filters:?}"
                );
                let runner_up = (0..4)
                    .filter(|&q| q != first_max)
                    .map(|q| values[q])
                    .fold(f64::NEG_INFINITY, f64::max);
                if max - runner_up > 2.0 * tol {
                    separated += 1;
                    same_switch += usize::from(at == window[first_max]);
                }
            }
            assert!(separated > out.len() * 9 / 10, "{dims:?} {filters:?}");
            assert_eq!(same_switch, separated, "{dims:?} {filters:?}");
        }
    }

    /// Ties and NaNs as the wide path takes them: with zero filters every score is its
    /// bias exactly (a tie in every window: the first position wins), and NaN where a
    /// NaN pixel enters the window (0·NaN); the f64 layer, which runs on wide columns,
    /// gives the same switches and values.
    #[test]
    fn breaks_ties_and_passes_nans_as_the_wide_path() {
        if !available() {
            eprintln!("no AVX-512F: the direct kernel does not run on this CPU");
            return;
        }
        let (mut cache, _) = layer((2, 3, 8, 34), (10, 3, 3), 1, 7);
        cache.w.fill(0.0);
        for (i, at) in [(0, [0, 0, 0]), (0, [1, 5, 17]), (1, [2, 7, 33])] {
            cache.x[[i, at[0], at[1], at[2]]] = f32::NAN;
        }
        let b = Array1::from_iter((0..10).map(|f| f as f32 - 4.5));
        let (out, arg) = direct(&cache, &b).expect("AVX-512F is here");
        let cache64 = ConvCache {
            x: cache.x.mapv(f64::from),
            w: cache.w.mapv(f64::from),
            param: cache.param,
        };
        let (out64, pool64) =
            conv_relu_pool::forward(&cache64, b.mapv(f64::from).as_slice().unwrap());
        assert_eq!(arg, pool64.argmax());
        assert!(out.iter().any(|v| v.is_nan()) && out.iter().any(|&v| v > 0.0));
        for (&o, &o64) in out.iter().zip(out64.iter()) {
            assert!(o == o64 as f32 || (o.is_nan() && o64.is_nan()), "{o} {o64}");
        }
    }

    /// The same bits on every run and on one thread or two.
    #[test]
    fn repeats_bit_for_bit_across_thread_counts() {
        if !available() {
            eprintln!("no AVX-512F: the direct kernel does not run on this CPU");
            return;
        }
        let (cache, b) = layer((5, 3, 32, 32), (32, 7, 7), 3, 11);
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| direct(&cache, &b).expect("AVX-512F is here"))
        };
        let one = on(1);
        let bits = |(o, a): &(Vec<f32>, Vec<u32>)| {
            (o.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), a.clone())
        };
        assert_eq!(bits(&one), bits(&on(2)));
        assert_eq!(bits(&one), bits(&on(2)));
        assert!(one.0.iter().any(|&v| v > 0.0));
    }

    /// f64 declines (it takes the wide path, checked to 1e-10 against the naive layers).
    #[test]
    fn declines_f64() {
        let cache = ConvCache {
            x: Array4::<f64>::ones((1, 1, 16, 16)),
            w: Array4::ones((1, 1, 3, 3)),
            param: ConvParam::new(1, 1),
        };
        let (mut out, mut arg) = (vec![0.0; 64], vec![0; 64]);
        assert!(!forward(&cache, &[0.0], &mut out, &mut arg));
        assert!(out.iter().all(|&v| v == 0.0));
    }
}
