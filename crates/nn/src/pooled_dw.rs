//! `dW` and `db` of `conv → relu → 2×2 max pool` from the pooled gradient's nonzeros,
//! with no column matrix.
//!
//! The dense product `dW = dout · colsᵀ` (`im2col_wide.rs`) multiplies every output
//! position of the convolution, yet after the pool only one position in four of each
//! filter's plane gets a gradient, and after the relu only those whose maximum was
//! positive: about one in eight for the course's first layer. Here each filter's
//! nonzero terms are gathered into a short list of hits (where in the padded image,
//! what gradient), and every row `(c, i)` of that filter's kernel is the sum over the
//! hits of `g · padded[c, y + i, x .. x + WW]`: one short vector load and one
//! multiply-add per hit and kernel row, straight from the padded image.
//!
//! Each kernel row is [`LANES`] values wide (the last `LANES − WW` are computed and
//! dropped), so a row is one SIMD register: 8 f32 for AVX, 8 f64 for AVX-512.
//! [`ROWS`] kernel rows are accumulated at once in registers, independent chains that
//! hide the latency of the additions; in f32 they are fused multiply-adds on
//! unchecked loads (`fma::accumulate`): the plain loop's bounds checks and separate
//! multiply and add made it a third of the step's profile. Sums run in a fixed order (hits in row-major
//! order, images in the fixed chunks of `numeric::fold_chunks_in_order`), so the same
//! threads give the same bits. Dropping the zero terms changes nothing for finite
//! inputs.

use std::any::TypeId;

use ndarray::{Array1, Array4};
use numeric::Float;
use rayon::prelude::*;

use crate::conv::ConvCache;
use crate::im2col_wide::Wide;
use crate::pool::FastPoolCache;

/// Values of one kernel row in one vector: the course's 7-tap rows plus one dropped.
const LANES: usize = 8;

/// Kernel rows summed at once, each in its own register: one channel of a 7×7 kernel.
const ROWS: usize = 7;

/// Whether this kernel's rows fit one vector of [`LANES`] values.
pub(crate) fn fits(g: &Wide) -> bool {
    g.ww <= LANES
}

/// One run of images' buffers.
struct Partial<T> {
    /// `dW` as (F, C·HH, LANES): the last `LANES − WW` values of each row dropped.
    dw: Vec<T>,
    db: Vec<T>,
    /// One image zero-padded, plus `LANES` zeros that the last row's load runs into.
    padded: Vec<T>,
    /// One filter's nonzero terms: (top-left corner in the padded plane, gradient);
    /// room for every pooled position, written by index (no `push`, whose growth
    /// path kept the running `db` sum out of registers).
    hits: Vec<(usize, T)>,
}

/// `(dW, db)` of the fused layer on checked shapes ([`fits`], stride 1), from the
/// gradient `dout` of the pooled output `out` (both (N, F, H'/2, W'/2), standard
/// layout) and the pool's `argmax`.
pub(crate) fn backward<T: Float>(
    dout: &[T],
    out: &[T],
    pool: &FastPoolCache,
    cache: &ConvCache<T>,
) -> (Array4<T>, Array1<T>) {
    let g = Wide::of(cache);
    debug_assert!(fits(&g));
    let (_, f, _, w_out) = pool.input_dim();
    let (_, _, hp, wp) = pool.output_dim();
    let (per_filter, rows, image) = (hp * wp, g.c * g.hh, g.image());
    // Where kernel row (c, i) starts in the padded image, relative to a hit's corner.
    let row_offsets: Vec<usize> = (0..g.c)
        .flat_map(|ci| (0..g.hh).map(move |i| ci * g.plane() + i * g.wp()))
        .collect();
    let x = cache.x.as_slice().expect("standard layout");
    let argmax = pool.argmax();
    let new_partial = || Partial {
        dw: vec![T::zero(); f * rows * LANES],
        db: vec![T::zero(); f],
        padded: vec![T::zero(); g.c * g.plane() + LANES],
        hits: vec![(0, T::zero()); per_filter],
    };
    let step = |mut acc: Partial<T>, i: usize| {
        g.pad_image(&x[i * image..(i + 1) * image], &mut acc.padded);
        for fi in 0..f {
            let plane = (i * f + fi) * per_filter..(i * f + fi + 1) * per_filter;
            let (hits, sum) = gather(
                &argmax[plane.clone()],
                &dout[plane.clone()],
                &out[plane],
                (w_out, g.wp()),
                &mut acc.hits,
            );
            acc.db[fi] += sum;
            let dw_f = &mut acc.dw[fi * rows * LANES..(fi + 1) * rows * LANES];
            accumulate(&acc.hits[..hits], &acc.padded, &row_offsets, dw_f);
        }
        acc
    };
    let add = |mut a: Partial<T>, b: Partial<T>| {
        a.dw.iter_mut().zip(&b.dw).for_each(|(s, &v)| *s += v);
        a.db.iter_mut().zip(&b.db).for_each(|(s, &v)| *s += v);
        a
    };
    let chunk = numeric::chunk_for_threads(g.n);
    let total =
        numeric::fold_chunks_in_order((0..g.n).into_par_iter(), chunk, new_partial, step, add);
    let mut dw = Array4::<T>::zeros(cache.w.dim());
    let mut db = Array1::<T>::zeros(f);
    if let Some(total) = total {
        let dw_out = dw.as_slice_mut().expect("fresh array");
        for (row, kernel_row) in dw_out
            .chunks_exact_mut(g.ww)
            .zip(total.dw.chunks_exact(LANES))
        {
            row.copy_from_slice(&kernel_row[..g.ww]);
        }
        db.as_slice_mut()
            .expect("fresh array")
            .copy_from_slice(&total.db);
    }
    (dw, db)
}

/// Partial sums of `db`, interleaved over a pooled row: independent additions.
const SUMS: usize = 4;

/// One filter's pooled plane (switches `argmax` into the (H', W') plane, gradient
/// `dout`, output `out`) as hits: the nonzero terms' corners in a padded plane of
/// `wp` columns and their gradients, at the start of `hits` (their count returned),
/// and the sum of every term, for `db`.
///
/// Branch-free: every term is written and the count moves past the nonzero ones only
/// (a branch on the relu's test, taken about every other time on random data, was
/// mispredicted as often), and the corner comes from the pooled position and the
/// switch's place in its 2×2 window, without a division.
fn gather<T: Float>(
    argmax: &[u32],
    dout: &[T],
    out: &[T],
    (w_out, wp): (usize, usize),
    hits: &mut [(usize, T)],
) -> (usize, T) {
    let pooled = w_out / 2;
    let (mut n, mut sums) = (0, [T::zero(); SUMS]);
    let rows = argmax
        .chunks_exact(pooled)
        .zip(dout.chunks_exact(pooled))
        .zip(out.chunks_exact(pooled));
    for (ph, ((argmax, dout), out)) in rows.enumerate() {
        let top = 2 * ph * w_out;
        for (pw, ((&at, &d), &o)) in argmax.iter().zip(dout).zip(out).enumerate() {
            // relu_backward_from_output's test: no gradient where out ≤ 0.
            let grad = if o <= T::zero() { T::zero() } else { d };
            // 0, 1, W' or W' + 1: where the maximum sits in its window.
            let offset = (at as usize).wrapping_sub(top + 2 * pw);
            let down = usize::from(offset >= w_out);
            let corner = (2 * ph + down) * wp + 2 * pw + offset - down * w_out;
            hits[n] = (corner, grad);
            n += usize::from(grad != T::zero());
            sums[pw % SUMS] += grad;
        }
    }
    (n, sums.into_iter().fold(T::zero(), |a, s| a + s))
}

/// Adds `Σ g · padded[at + offset ..][..LANES]` over the `hits` to each kernel row of
/// one filter's `dw` (C·HH rows of `LANES`), [`ROWS`] rows at a time: in f32 with FMA
/// where the CPU has it ([`fma::accumulate`]), else in plain Rust.
fn accumulate<T: Float>(hits: &[(usize, T)], padded: &[T], row_offsets: &[usize], dw: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f32>() && fma::available() {
        let retype = |v: &[T]| {
            // SAFETY: T is f32 (TypeId above): the same slice retyped.
            unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<f32>(), v.len()) }
        };
        // SAFETY: as above; (usize, T) and (usize, f32) are the same type.
        let hits = unsafe { std::slice::from_raw_parts(hits.as_ptr().cast(), hits.len()) };
        // SAFETY: as above.
        let dw = unsafe { std::slice::from_raw_parts_mut(dw.as_mut_ptr().cast(), dw.len()) };
        fma::accumulate(hits, retype(padded), row_offsets, dw);
        return;
    }
    accumulate_portable(hits, padded, row_offsets, dw);
}

/// [`accumulate`] in plain Rust, for any float type.
fn accumulate_portable<T: Float>(
    hits: &[(usize, T)],
    padded: &[T],
    row_offsets: &[usize],
    dw: &mut [T],
) {
    for (offsets, dw_rows) in row_offsets.chunks(ROWS).zip(dw.chunks_mut(ROWS * LANES)) {
        // A short last block repeats row 0's offset; its sums are not stored.
        let mut offs = [0usize; ROWS];
        offs[..offsets.len()].copy_from_slice(offsets);
        let mut acc = [[T::zero(); LANES]; ROWS];
        for (a, d) in acc.iter_mut().zip(dw_rows.chunks_exact(LANES)) {
            a.copy_from_slice(d);
        }
        for &(at, grad) in hits {
            for (a, &off) in acc.iter_mut().zip(&offs) {
                let src: &[T; LANES] = padded[at + off..at + off + LANES]
                    .try_into()
                    .expect("LANES values");
                for (s, &v) in a.iter_mut().zip(src) {
                    *s += grad * v;
                }
            }
        }
        for (a, d) in acc.iter().zip(dw_rows.chunks_exact_mut(LANES)) {
            d.copy_from_slice(a);
        }
    }
}

/// [`accumulate`] in f32 with 8-wide fused multiply-adds and unchecked loads: the
/// plain version's bounds checks and separate multiply and add took most of its time.
#[cfg(target_arch = "x86_64")]
mod fma {
    use std::arch::x86_64::*;

    use super::{LANES, ROWS};

    /// Whether this CPU has AVX2 and FMA.
    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    /// [`super::accumulate`] for f32 on a CPU with AVX2 and FMA (checked here).
    pub(super) fn accumulate(
        hits: &[(usize, f32)],
        padded: &[f32],
        offsets: &[usize],
        dw: &mut [f32],
    ) {
        assert!(available() && dw.len() == offsets.len() * LANES);
        let reach = hits.iter().map(|h| h.0).max().unwrap_or(0)
            + offsets.iter().max().copied().unwrap_or(0);
        assert!(
            hits.is_empty() || reach + LANES <= padded.len(),
            "kernel rows inside the padded image"
        );
        // SAFETY: AVX2 and FMA are here; every load `padded[at + offset ..][..LANES]`
        // ends at most at `reach + LANES` (checked); `dw` holds a row per offset.
        unsafe { rows(hits, padded, offsets, dw) }
    }

    /// # Safety
    /// AVX2 and FMA; as checked in [`accumulate`].
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows(hits: &[(usize, f32)], padded: &[f32], offsets: &[usize], dw: &mut [f32]) {
        let p = padded.as_ptr();
        for (offsets, dw_rows) in offsets.chunks(ROWS).zip(dw.chunks_mut(ROWS * LANES)) {
            // A short last block repeats row 0's offset; its sums are not stored.
            let mut offs = [offsets[0]; ROWS];
            offs[..offsets.len()].copy_from_slice(offsets);
            let mut acc = [_mm256_setzero_ps(); ROWS];
            for (a, d) in acc.iter_mut().zip(dw_rows.chunks_exact(LANES)) {
                // SAFETY: LANES values of `dw`.
                *a = unsafe { _mm256_loadu_ps(d.as_ptr()) };
            }
            for &(at, grad) in hits {
                let g = _mm256_set1_ps(grad);
                for (a, &off) in acc.iter_mut().zip(&offs) {
                    // SAFETY: inside `padded` (the caller's contract).
                    let x = unsafe { _mm256_loadu_ps(p.add(at + off)) };
                    *a = _mm256_fmadd_ps(g, x, *a);
                }
            }
            for (a, d) in acc.iter().zip(dw_rows.chunks_exact_mut(LANES)) {
                // SAFETY: LANES values of `dw`.
                unsafe { _mm256_storeu_ps(d.as_mut_ptr(), *a) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::ConvParam;
    use crate::conv_relu_pool;

    /// The course's first layer (3 channels, 7×7, pad 3) in f32: two runs give the same
    /// bits, and the sums match the dense products' within f32 rounding. The f64
    /// checks against the naive layers are in `conv_relu_pool.rs`.
    #[test]
    fn repeats_bit_for_bit_and_matches_the_dense_products_in_f32() {
        let mut rng = numeric::rng(5);
        let cache = ConvCache {
            x: numeric::randn((5, 3, 32, 32), &mut rng),
            w: numeric::randn((8, 3, 7, 7), &mut rng),
            param: ConvParam::new(1, 3),
        };
        let b: Array1<f32> = numeric::randn(8, &mut rng);
        let (out, pool) = conv_relu_pool::forward(&cache, b.as_slice().unwrap());
        let dout: Array4<f32> = numeric::randn(out.dim(), &mut rng);
        let (dout, out) = (dout.as_slice().unwrap(), out.as_slice().unwrap());
        let (dw, db) = backward(dout, out, &pool, &cache);
        let again = backward(dout, out, &pool, &cache);
        assert_eq!((&dw, &db), (&again.0, &again.1), "the same bits");
        let (_, dw_dense, db_dense) = conv_relu_pool::backward(dout, out, &pool, &cache, true);
        let worst = |a: &[f32], b: &[f32]| {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            diff / scale
        };
        assert!(dw.iter().any(|&v| v != 0.0), "a gradient to compare");
        assert!(worst(dw.as_slice().unwrap(), dw_dense.as_slice().unwrap()) < 1e-5);
        assert!(worst(db.as_slice().unwrap(), db_dense.as_slice().unwrap()) < 1e-5);
    }

    /// The f32 kernel rows of `fma::accumulate` against the plain loop, on 10 rows (a
    /// short last block of 3) and hits up to the last value a row may read.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn fused_rows_match_the_plain_loop() {
        if !fma::available() {
            eprintln!("no AVX2/FMA: the fused rows do not run on this CPU");
            return;
        }
        let mut rng = numeric::rng(9);
        let padded: ndarray::Array1<f32> = numeric::randn(400, &mut rng);
        let offsets: Vec<usize> = (0..10).map(|r| r * 31).collect();
        let last = padded.len() - LANES - offsets[9];
        let hits: Vec<(usize, f32)> = (0..40)
            .map(|h| ((h * 37) % last, (h as f32 * 0.37).sin()))
            .chain([(last, 0.5)])
            .collect();
        let start: Vec<f32> = (0..10 * LANES).map(|v| v as f32 * 0.01).collect();
        let (mut fused, mut plain) = (start.clone(), start);
        let padded = padded.as_slice().unwrap();
        fma::accumulate(&hits, padded, &offsets, &mut fused);
        accumulate_portable(&hits, padded, &offsets, &mut plain);
        let worst = fused
            .iter()
            .zip(&plain)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst < 1e-5, "{worst}");
    }
}
