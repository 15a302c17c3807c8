//! Passes over (N, C, H, W) activations plane by plane, without transposes.
//!
//! In standard layout the H·W values of one (image, channel) pair are contiguous:
//! a *plane*. Per-channel work (batchnorm's statistics) visits a channel's N planes
//! in image order; element-wise work runs over all N·C planes in parallel. Sums run
//! in [`LANES`] interleaved partial sums that are added in a fixed order, so they
//! vectorise and give the same bits whatever the thread count.

use ndarray::Array4;
use numeric::Float;
use rayon::prelude::*;

/// Partial sums per reduction: a vector register's worth of `f32`.
pub(crate) const LANES: usize = 8;

/// `Σ f(a[i], b[i])` over two slices of the same length, in [`LANES`] interleaved
/// partial sums added in order at the end.
#[inline]
pub(crate) fn lane_sum<T: Float>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    assert_eq!(
        a.len(),
        b.len(),
        "lane_sum over slices of different lengths"
    );
    let mut acc = [T::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let mut tail = T::zero();
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += f(x, y);
    }
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] += f(x[j], y[j]);
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// Adds each plane's sum to `sums`: `sums[k] += Σ planes[k·hw..][..hw]`, every plane
/// summed in order from its first value as `iter().sum()` does, so the same bits.
/// [`LANES`] planes run side by side: one serial sum waits on each addition, so the
/// bias gradient of the Winograd convolution spent 2 % of the training step there.
pub(crate) fn add_plane_sums<T: Float>(planes: &[T], hw: usize, sums: &mut [T]) {
    assert_eq!(
        planes.len(),
        sums.len() * hw,
        "one plane of hw values per sum"
    );
    let done = sums.len() - sums.len() % LANES;
    for (k, block) in sums[..done].chunks_exact_mut(LANES).enumerate() {
        let first = &planes[k * LANES * hw..][..LANES * hw];
        // `iter().sum()` of f32 starts from -0.0, which leaves every sum's bits as
        // they would be without it.
        let mut acc = [-T::zero(); LANES];
        for p in 0..hw {
            for (j, a) in acc.iter_mut().enumerate() {
                *a += first[j * hw + p];
            }
        }
        for (s, a) in block.iter_mut().zip(acc) {
            *s += a;
        }
    }
    for (k, s) in sums.iter_mut().enumerate().skip(done) {
        *s += planes[k * hw..][..hw].iter().copied().sum::<T>();
    }
}

/// The planes of channel `ch` (of `c`) in a standard-layout buffer with planes of
/// `hw` values, in image order.
pub(crate) fn channel_planes<T>(
    a: &[T],
    c: usize,
    hw: usize,
    ch: usize,
) -> impl Iterator<Item = &[T]> {
    a.chunks_exact(hw.max(1)).skip(ch).step_by(c.max(1))
}

/// One value per channel, channels in parallel: `per_channel(ch)` for `ch < c`, in
/// channel order.
pub(crate) fn per_channel<R: Send>(c: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    (0..c).into_par_iter().map(f).collect()
}

/// A new array of `dim` whose plane of channel `ch` is `map(ch)` applied to the same
/// plane of `x` (standard layout, `dim`), images in parallel: a task per image
/// rather than per plane, as the planes deep in a convnet hold only 9 or 49 values.
pub(crate) fn map_planes<T: Float, F: Fn(T) -> T>(
    x: &[T],
    dim: (usize, usize, usize, usize),
    map: impl Fn(usize) -> F + Sync + Send,
) -> Array4<T> {
    let (_, c, h, w) = dim;
    let (hw, img) = ((h * w).max(1), (c * h * w).max(1));
    let mut out = Array4::<T>::uninit(dim);
    out.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(img)
        .zip(x.par_chunks(img))
        .for_each(|(o, xi)| {
            for (ch, (o, xp)) in o.chunks_mut(hw).zip(xi.chunks(hw)).enumerate() {
                let f = map(ch);
                for (o, &v) in o.iter_mut().zip(xp) {
                    o.write(f(v));
                }
            }
        });
    // SAFETY: the images cover the whole array (x has its length) and the loop
    // above wrote every element of every image.
    unsafe { out.assume_init() }
}

/// Elements per task of the element-wise passes: enough to amortise the scheduling,
/// few enough that a batch splits over every thread.
const CHUNK: usize = 1 << 14;

/// `f` of every element of `x`, into a new vector; chunks in parallel, each a plain
/// loop over slices that the compiler vectorises.
pub(crate) fn map_slice<T: Float>(x: &[T], f: impl Fn(T) -> T + Sync + Send) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    out.spare_capacity_mut()[..x.len()]
        .par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(o, x)| {
            for (o, &v) in o.iter_mut().zip(x) {
                o.write(f(v));
            }
        });
    // SAFETY: the chunks cover the first x.len() elements, and the loop wrote each.
    unsafe { out.set_len(x.len()) };
    out
}

/// `d[i] = f(d[i], x[i])` for slices of the same length; chunks in parallel.
pub(crate) fn zip_in_place<T: Float>(d: &mut [T], x: &[T], f: impl Fn(T, T) -> T + Sync + Send) {
    assert_eq!(
        d.len(),
        x.len(),
        "element-wise pass over slices of different lengths"
    );
    d.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(d, x)| {
            for (d, &v) in d.iter_mut().zip(x) {
                *d = f(*d, v);
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Side by side or not, every plane's sum has the bits of a serial `sum()`, added
    /// to what `sums` held: plane counts below, at and past a block of [`LANES`], and
    /// planes of 1, 9 and 49 values.
    #[test]
    fn plane_sums_have_the_bits_of_serial_sums() {
        let mut rng = numeric::rng(3);
        for (planes, hw) in [(0, 9), (3, 49), (8, 9), (19, 1), (64, 49)] {
            let x: Vec<f32> = numeric::randn(planes * hw, &mut rng).to_vec();
            let start: Vec<f32> = numeric::randn(planes, &mut rng).to_vec();
            let mut sums = start.clone();
            add_plane_sums(&x, hw, &mut sums);
            for (k, (&got, &s)) in sums.iter().zip(&start).enumerate() {
                let want = s + x[k * hw..][..hw].iter().copied().sum::<f32>();
                assert_eq!(got.to_bits(), want.to_bits(), "plane {k} of {planes}");
            }
        }
    }

    #[test]
    fn lane_sums_add_every_element_once() {
        let a: Vec<f64> = (1..=21).map(f64::from).collect();
        assert_eq!(lane_sum(&a, &a, |x, _| x), 231.0);
        assert_eq!(lane_sum(&a[..3], &a[..3], |x, y| x * y), 14.0);
        assert_eq!(lane_sum::<f64>(&[], &[], |x, _| x), 0.0);
    }

    #[test]
    fn channel_planes_pick_one_channel_of_every_image() {
        // (N, C, H·W) = (2, 3, 2): plane p holds 10·p, 10·p + 1.
        let a: Vec<u32> = (0..6).flat_map(|p| [10 * p, 10 * p + 1]).collect();
        let got: Vec<&[u32]> = channel_planes(&a, 3, 2, 1).collect();
        assert_eq!(got, [&[10, 11][..], &[40, 41][..]]);
    }

    #[test]
    fn element_wise_passes_visit_every_element() {
        let x: Vec<f64> = (0..40_000).map(f64::from).collect();
        let doubled = map_slice(&x, |v| 2.0 * v);
        assert!(doubled.iter().zip(&x).all(|(&d, &v)| d == 2.0 * v));
        let mut d = vec![1.0; x.len()];
        zip_in_place(&mut d, &x, |d, v| d + v);
        assert!(d.iter().zip(&x).all(|(&d, &v)| d == 1.0 + v));
    }

    #[test]
    fn map_planes_applies_each_channels_map() {
        let x = Array4::<f64>::ones((2, 3, 2, 2));
        let out = map_planes(x.as_slice().unwrap(), x.dim(), |ch| move |v| v + ch as f64);
        for ((_, ch, _, _), &v) in out.indexed_iter() {
            assert_eq!(v, 1.0 + ch as f64);
        }
    }
}
