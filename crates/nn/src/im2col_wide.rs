//! Stride-1 convolution of large images, one GEMM per image, on "wide" columns.
//!
//! The classic im2col copies every row of every receptive-field plane separately:
//! `C·HH·WW·H'` runs of `W'` values (31 for a 31×31 map), and those short copies cost
//! as much as the product itself for a 3×3 conv on 24 channels. With stride 1, the
//! image zero-padded once into (C, Hp, Wp) holds every row of the column matrix as
//! one run: row (c, i, j) is the padded plane `c` read from offset `i·Wp + j`, for
//! `L = H'·Wp` values. The product then has `Wp` columns per output row instead of
//! `W'`; the `Wp − W'` extra columns (2 of 33 for a 3×3 'same' conv on 31×31) see the
//! next row's border and are dropped. In the backward pass `dout` is widened with
//! zeros in those columns, so they add nothing to `dx` or `dW`.
//!
//! Images are spread over the rayon pool; each image's GEMM runs on its task's thread.

use std::ops::Deref;

use ndarray::{Array1, Array2, Array4, ArrayView2, ArrayViewMut2};
use numeric::Float;
use rayon::prelude::*;

use crate::conv::ConvCache;
use crate::conv_param::Geometry;
use crate::planes::add_plane_sums;

/// One stride-1 convolution's geometry, read as wide columns.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wide(Geometry);

impl Deref for Wide {
    type Target = Geometry;

    fn deref(&self) -> &Geometry {
        &self.0
    }
}

impl Wide {
    pub(crate) fn of<T: Float>(cache: &ConvCache<T>) -> Self {
        assert_eq!(cache.param.stride, 1, "wide columns need stride 1");
        Self(Geometry::of(cache))
    }

    /// Values of one padded plane.
    pub(crate) fn plane(&self) -> usize {
        self.hp() * self.wp()
    }

    /// Values of the padded image, plus `WW` zeros so that the last row of the column
    /// matrix (which runs `WW − 1` values past the last plane) stays inside.
    fn padded(&self) -> usize {
        self.c * self.plane() + self.ww
    }

    /// Columns of the product: `H'` output rows of `Wp` values.
    pub(crate) fn l(&self) -> usize {
        self.h_out * self.wp()
    }

    /// Image `x` (C, H, W) into `padded`, whose border stays zero.
    pub(crate) fn pad_image<T: Float>(&self, x: &[T], padded: &mut [T]) {
        let (plane, wp) = (self.plane(), self.wp());
        for ci in 0..self.c {
            for y in 0..self.h {
                let at = ci * plane + (y + self.pad) * wp + self.pad;
                padded[at..at + self.w].copy_from_slice(&x[(ci * self.h + y) * self.w..][..self.w]);
            }
        }
    }

    /// The wide column matrix (K, L) of a padded image: row (c, i, j) is plane `c`
    /// from offset `i·Wp + j`.
    fn columns<T: Float>(&self, padded: &[T], cols: &mut [T]) {
        let (plane, wp, l) = (self.plane(), self.wp(), self.l());
        let rows = cols.chunks_exact_mut(l);
        let offsets = (0..self.c)
            .flat_map(|ci| (0..self.hh).flat_map(move |i| (0..self.ww).map(move |j| (ci, i, j))));
        for (row, (ci, i, j)) in rows.zip(offsets) {
            let at = ci * plane + i * wp + j;
            row.copy_from_slice(&padded[at..at + l]);
        }
    }

    /// The adjoint of [`Wide::columns`]: adds every row back onto its plane and offset
    /// in `padded`, which must start zeroed.
    fn add_columns<T: Float>(&self, cols: &[T], padded: &mut [T]) {
        let (plane, wp, l) = (self.plane(), self.wp(), self.l());
        let mut rows = cols.chunks_exact(l);
        for ci in 0..self.c {
            for i in 0..self.hh {
                for j in 0..self.ww {
                    let row = rows.next().expect("K rows");
                    let at = ci * plane + i * wp + j;
                    for (d, &s) in padded[at..at + l].iter_mut().zip(row) {
                        *d += s;
                    }
                }
            }
        }
    }

    /// The interior of `padded` back into the image `x` (C, H, W).
    fn unpad_image<T: Float>(&self, padded: &[T], x: &mut [T]) {
        let (plane, wp) = (self.plane(), self.wp());
        for ci in 0..self.c {
            for y in 0..self.h {
                let at = ci * plane + (y + self.pad) * wp + self.pad;
                x[(ci * self.h + y) * self.w..][..self.w].copy_from_slice(&padded[at..at + self.w]);
            }
        }
    }
}

/// The forward pass on checked shapes, stride 1: `out` (N, F, H', W').
pub(crate) fn forward<T: Float>(cache: &ConvCache<T>, b: &[T]) -> Array4<T> {
    let g = Wide::of(cache);
    let mut out = Array4::<T>::zeros((g.n, g.f, g.h_out, g.w_out));
    if out.is_empty() {
        return out;
    }
    let per_image = g.f * g.positions();
    let images = out
        .as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(per_image)
        .enumerate();
    forward_with(cache, images, |wide, out_i| {
        for (fi, &bias) in b.iter().enumerate() {
            for oh in 0..g.h_out {
                let src = &wide.row(fi, oh)[..g.w_out];
                let dst = &mut out_i[(fi * g.h_out + oh) * g.w_out..][..g.w_out];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = v + bias;
                }
            }
        }
    });
    out
}

/// One image's product `W · columns` (F, L): `H'` rows of `Wp` values per filter, the
/// last `Wp − W'` of each row dropped.
pub(crate) struct WideScores<'a, T> {
    values: &'a [T],
    l: usize,
    wp: usize,
}

impl<T> WideScores<'_, T> {
    /// Output row `oh` of filter `fi`: `Wp` values, the first `W'` of them kept.
    pub(crate) fn row(&self, fi: usize, oh: usize) -> &[T] {
        &self.values[fi * self.l + oh * self.wp..][..self.wp]
    }
}

/// The forward products, one image per item of `images` (index, what the epilogue
/// writes to): each image's wide scores (no bias) are handed to `epilogue` while they
/// are in cache, so a following layer (the pool of `conv_relu_pool.rs`) can read them
/// there instead of from a full-size output.
pub(crate) fn forward_with<T, E, I, F>(cache: &ConvCache<T>, images: I, epilogue: F)
where
    T: Float,
    E: Send,
    I: IndexedParallelIterator<Item = (usize, E)>,
    F: Fn(WideScores<'_, T>, E) + Sync + Send,
{
    let g = Wide::of(cache);
    let (k, l, wp) = (g.k(), g.l(), g.wp());
    let w_mat = cache
        .w
        .view()
        .into_shape_with_order((g.f, k))
        .expect("standard layout");
    let x = cache.x.as_slice().expect("standard layout");
    let image = g.image();
    // At most two runs of images per thread: each run zeroes its own buffers (900 KB
    // for the ThreeLayerConvNet's layer), which finer splits would repeat.
    let run = g.n.div_ceil(2 * rayon::current_num_threads()).max(1);
    images.with_min_len(run).for_each_init(
        || {
            (
                vec![T::zero(); g.padded()],
                vec![T::zero(); k * l],
                vec![T::zero(); g.f * l],
            )
        },
        |(padded, cols, wide), (i, out_i)| {
            g.pad_image(&x[i * image..(i + 1) * image], padded);
            g.columns(padded, cols);
            let cols = ArrayView2::from_shape((k, l), &cols[..]).expect("sized");
            let mut wide_out = ArrayViewMut2::from_shape((g.f, l), &mut wide[..]).expect("sized");
            numeric::gemm(T::one(), &w_mat, &cols, T::zero(), &mut wide_out);
            epilogue(
                WideScores {
                    values: wide,
                    l,
                    wp,
                },
                out_i,
            );
        },
    );
}

/// One thread's buffers for the backward pass.
struct Partial<T> {
    /// dWᵀ (K, F), accumulated as `cols · dout_wideᵀ` (K·F values, summed once per
    /// thread at the end).
    dw_t: Array2<T>,
    db: Array1<T>,
    padded: Vec<T>,
    cols: Vec<T>,
    /// `dout` of one image widened to (F, L), zeros in the dropped columns.
    dout_wide: Vec<T>,
}

/// The backward pass on checked shapes, stride 1: `(dx if need_dx, dW, db)`.
pub(crate) fn backward<T: Float>(
    dout: &[T],
    cache: &ConvCache<T>,
    need_dx: bool,
) -> (Option<Array4<T>>, Array4<T>, Array1<T>) {
    let g = Wide::of(cache);
    let (l, wp, f, npos) = (g.l(), g.wp(), g.f, g.positions());
    backward_with(cache, need_dx, |i, dout_wide, db| {
        let dout_i = &dout[i * f * npos..(i + 1) * f * npos];
        for fi in 0..f {
            for oh in 0..g.h_out {
                let src = &dout_i[(fi * g.h_out + oh) * g.w_out..][..g.w_out];
                dout_wide[fi * l + oh * wp..][..g.w_out].copy_from_slice(src);
            }
        }
        add_plane_sums(dout_i, npos, db.as_slice_mut().expect("contiguous"));
    })
}

/// The backward pass on checked shapes, stride 1, with image `i`'s `dout` written by
/// `fill(i, dout_wide, db)`: into `dout_wide` (F, L) in the wide layout (the buffer
/// holds zeros in the dropped columns and the previous image's values elsewhere), its
/// sum per filter added to `db`. `conv_relu_pool.rs` scatters the pooled gradient
/// there directly, with no full-size `dout` in between.
pub(crate) fn backward_with<T, F>(
    cache: &ConvCache<T>,
    need_dx: bool,
    fill: F,
) -> (Option<Array4<T>>, Array4<T>, Array1<T>)
where
    T: Float,
    F: Fn(usize, &mut [T], &mut Array1<T>) + Sync + Send,
{
    let g = Wide::of(cache);
    let (k, l, f, image) = (g.k(), g.l(), g.f, g.image());
    let x = cache.x.as_slice().expect("standard layout");
    let w_mat = cache
        .w
        .view()
        .into_shape_with_order((f, k))
        .expect("standard layout");
    let new_partial = || Partial {
        dw_t: Array2::zeros((k, f)),
        db: Array1::zeros(f),
        padded: vec![T::zero(); g.padded()],
        cols: vec![T::zero(); k * l],
        dout_wide: vec![T::zero(); f * l],
    };
    let step = |mut acc: Partial<T>, (i, dx_i): (usize, Option<&mut [T]>)| {
        fill(i, &mut acc.dout_wide, &mut acc.db);
        // dWᵀ += cols · dout_wideᵀ. Through a transposed view: a transposed copy of
        // `dout` measured no faster, 8 % slower for 256 filters (docs/conv.md).
        g.pad_image(&x[i * image..(i + 1) * image], &mut acc.padded);
        g.columns(&acc.padded, &mut acc.cols);
        let cols = ArrayView2::from_shape((k, l), &acc.cols[..]).expect("sized");
        let dout_w = ArrayView2::from_shape((f, l), &acc.dout_wide[..]).expect("sized");
        numeric::gemm(
            T::one(),
            &cols,
            &dout_w.t(),
            T::one(),
            &mut acc.dw_t.view_mut(),
        );
        if let Some(dx_i) = dx_i {
            let mut dcols = ArrayViewMut2::from_shape((k, l), &mut acc.cols[..]).expect("sized");
            numeric::gemm(T::one(), &w_mat.t(), &dout_w, T::zero(), &mut dcols);
            acc.padded.fill(T::zero());
            g.add_columns(&acc.cols, &mut acc.padded);
            g.unpad_image(&acc.padded, dx_i);
            // The forward layout of `padded` relies on a zero border.
            acc.padded.fill(T::zero());
        }
        acc
    };
    let add = |mut a: Partial<T>, b: Partial<T>| {
        a.dw_t += &b.dw_t;
        a.db += &b.db;
        a
    };
    let chunk = numeric::chunk_for_threads(g.n);
    let (dx, total) = if need_dx {
        let mut dx = Array4::<T>::zeros(cache.x.dim());
        let images = dx
            .as_slice_mut()
            .expect("fresh array")
            .par_chunks_mut(image.max(1))
            .take(g.n)
            .enumerate()
            .map(|(i, dx_i)| (i, Some(dx_i)));
        let total = numeric::fold_chunks_in_order(images, chunk, new_partial, step, add);
        (Some(dx), total)
    } else {
        let images = (0..g.n).into_par_iter().map(|i| (i, None));
        let total = numeric::fold_chunks_in_order(images, chunk, new_partial, step, add);
        (None, total)
    };
    let (dw_t, db) = match total {
        Some(t) => (t.dw_t, t.db),
        None => (Array2::zeros((k, f)), Array1::zeros(f)),
    };
    let dw = dw_t
        .reversed_axes()
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(cache.w.dim())
        .expect("F·C·HH·WW values");
    (dx, dw, db)
}
