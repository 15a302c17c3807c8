//! The three ways the course computes a distance matrix, and the fast kernels behind
//! the last one. Rows of `dists` are test examples, columns training examples.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, Zip};
use numeric::Float;

use crate::Metric;

/// Two nested loops over (test, train) pairs: the definition, written out.
pub(crate) fn two_loops<T: Float>(
    x: ArrayView2<'_, T>,
    x_train: ArrayView2<'_, T>,
    metric: Metric,
) -> Array2<T> {
    let (num_test, num_train) = (x.nrows(), x_train.nrows());
    let mut dists = Array2::zeros((num_test, num_train));
    for i in 0..num_test {
        for j in 0..num_train {
            let pairs = x.row(i).into_iter().zip(x_train.row(j));
            dists[[i, j]] = match metric {
                Metric::L2 => pairs.map(|(&a, &b)| (a - b) * (a - b)).sum::<T>().sqrt(),
                Metric::L1 => pairs.map(|(&a, &b)| (a - b).abs()).sum::<T>(),
            };
        }
    }
    dists
}

/// One loop over test rows; each row against the whole training set by broadcasting,
/// as `np.sqrt(np.sum(np.square(self.X_train - X[i]), axis=1))` does.
pub(crate) fn one_loop<T: Float>(
    x: ArrayView2<'_, T>,
    x_train: ArrayView2<'_, T>,
    metric: Metric,
) -> Array2<T> {
    let mut dists = Array2::zeros((x.nrows(), x_train.nrows()));
    for (i, mut row) in dists.outer_iter_mut().enumerate() {
        let diff = &x_train - &x.row(i);
        match metric {
            Metric::L2 => row.assign(&diff.mapv(|v| v * v).sum_axis(Axis(1)).mapv(T::sqrt)),
            Metric::L1 => row.assign(&diff.mapv(T::abs).sum_axis(Axis(1))),
        }
    }
    dists
}

/// Squared L2 norm of every row, ‖a‖².
pub(crate) fn sq_norms<T: Float>(x: ArrayView2<'_, T>) -> Array1<T> {
    x.map_axis(Axis(1), |row| row.iter().map(|&v| v * v).sum())
}

/// No loops: the full matrix at once. L2 expands ‖a − b‖² = ‖a‖² − 2a·b + ‖b‖², so
/// the only O(N·M·D) work is one GEMM; L1 has no such identity and runs the blocked
/// kernel over row blocks in parallel.
pub(crate) fn no_loops<T: Float>(
    x: ArrayView2<'_, T>,
    x_train: ArrayView2<'_, T>,
    train_sq: ArrayView1<'_, T>,
    metric: Metric,
) -> Array2<T> {
    let mut dists = Array2::zeros((x.nrows(), x_train.nrows()));
    match metric {
        Metric::L2 => {
            let test_sq = sq_norms(x);
            // Called outside any rayon task, so the one GEMM uses every core.
            numeric::gemm(
                T::cast(-2.0),
                &x,
                &x_train.t(),
                T::zero(),
                &mut dists.view_mut(),
            );
            Zip::from(dists.rows_mut())
                .and(&test_sq)
                .par_for_each(|row, &a| {
                    Zip::from(row).and(&train_sq).for_each(|d, &b| {
                        *d = clamp_sq(*d + a + b).sqrt();
                    })
                });
        }
        Metric::L1 => {
            let x = x.as_standard_layout();
            let x_train = x_train.as_standard_layout();
            let rows = L1_PAR_ROWS;
            dists
                .axis_chunks_iter_mut(Axis(0), rows)
                .into_par_iter()
                .enumerate()
                .for_each(|(c, block)| {
                    let xs = x.slice(ndarray::s![c * rows..c * rows + block.nrows(), ..]);
                    l1_block(xs, x_train.view(), block);
                });
        }
    }
    dists
}

use rayon::prelude::*;

/// Test rows per parallel task of the full L1 matrix.
const L1_PAR_ROWS: usize = 16;

/// Rounding can make ‖a‖² − 2a·b + ‖b‖² slightly negative when a ≈ b; a squared
/// distance is never negative, and the square root of a negative number is NaN.
#[inline(always)]
pub(crate) fn clamp_sq<T: Float>(d2: T) -> T {
    if d2 > T::zero() { d2 } else { T::zero() }
}

/// Lanes of one accumulator of the portable kernel.
const LANES: usize = 16;
/// Training rows per cache tile: 64 rows of 3 072 `f32` are 768 KiB, inside L2.
const TRAIN_TILE: usize = 64;
/// Test rows sharing each load of a training row.
const MICRO_ROWS: usize = 4;

/// L1 distances of a block of test rows against a block of training rows.
///
/// Blocked for the cache: a tile of training rows stays in L2 while every test row
/// of the block passes over it, and each training value loaded is used by
/// [`MICRO_ROWS`] test rows at once. The inner loop keeps `LANES` independent
/// partial sums per row, which the compiler turns into SIMD registers.
pub(crate) fn l1_block<T: Float>(
    x: ArrayView2<'_, T>,
    x_train: ArrayView2<'_, T>,
    mut block: ArrayViewMut2<'_, T>,
) {
    let x = x.as_standard_layout();
    let x_train = x_train.as_standard_layout();
    let d = x.ncols();
    let (n, m) = (x.nrows(), x_train.nrows());
    let xs = x.as_slice().expect("standard layout");
    let ts = x_train.as_slice().expect("standard layout");
    if d == 0 {
        block.fill(T::zero());
        return;
    }
    for j0 in (0..m).step_by(TRAIN_TILE) {
        let j1 = (j0 + TRAIN_TILE).min(m);
        for i in (0..n).step_by(MICRO_ROWS) {
            // A last, partial micro block repeats its final row (results discarded).
            let a: [&[T]; MICRO_ROWS] = std::array::from_fn(|r| {
                let i = (i + r).min(n - 1);
                &xs[i * d..(i + 1) * d]
            });
            let rows = MICRO_ROWS.min(n - i);
            for j in j0..j1 {
                let s = l1_rows4(a, &ts[j * d..(j + 1) * d]);
                for r in 0..rows {
                    block[[i + r, j]] = s[r];
                }
            }
        }
    }
}

/// `Σ|a_r − b|` of four rows against one: explicit AVX2 for `f32`/`f64` when the CPU
/// has it (checked at run time, so a portable build stays correct), else portable code.
#[inline]
fn l1_rows4<T: Float>(a: [&[T]; MICRO_ROWS], b: &[T]) -> [T; MICRO_ROWS] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        if let Some(b) = same_type_slice::<T, f32>(b) {
            let a = a.map(|r| same_type_slice::<T, f32>(r).expect("T is f32, as for b"));
            // SAFETY: AVX2 is present; every row has b's length (rows of one matrix).
            let s = unsafe { avx2::l1_rows4_f32(a, b) };
            return s.map(|v| T::cast(f64::from(v)));
        }
        if let Some(b) = same_type_slice::<T, f64>(b) {
            let a = a.map(|r| same_type_slice::<T, f64>(r).expect("T is f64, as for b"));
            // SAFETY: as above.
            let s = unsafe { avx2::l1_rows4_f64(a, b) };
            return s.map(T::cast);
        }
    }
    l1_micro(&a, b)
}

/// `x` as a `&[U]` when `T` *is* `U`, else `None`: how generic code reaches a
/// kernel written for one concrete type. The type check is inside, so no caller
/// can misuse it (a cast of `&[f64]` to `&[f32]` would read garbage).
#[cfg(target_arch = "x86_64")]
fn same_type_slice<T: 'static, U: 'static>(x: &[T]) -> Option<&[U]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>()).then(|| {
        // SAFETY: T and U are the same type (equal TypeIds), so the pointer, length,
        // alignment and every element's validity carry over unchanged.
        unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<U>(), x.len()) }
    })
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    macro_rules! kernel {
        ($name:ident, $t:ty, $lanes:expr, $set1:ident, $zero:ident, $load:ident, $sub:ident,
         $andnot:ident, $add:ident, $store:ident) => {
            /// Four rows against one, two registers per row: eight independent sums
            /// keep both vector adders busy; |x| clears the sign bit.
            ///
            /// # Safety
            /// The CPU has AVX2 and every `a[r]` is at least as long as `b`.
            #[target_feature(enable = "avx2")]
            pub(super) unsafe fn $name(a: [&[$t]; 4], b: &[$t]) -> [$t; 4] {
                const L: usize = $lanes;
                let n = b.len();
                debug_assert!(a.iter().all(|r| r.len() >= n));
                let sign = $set1(-0.0);
                let mut acc = [$zero(); 8];
                let mut c = 0;
                while c + 2 * L <= n {
                    // SAFETY: c + 2L ≤ n ≤ every row's length.
                    unsafe {
                        let b0 = $load(b.as_ptr().add(c));
                        let b1 = $load(b.as_ptr().add(c + L));
                        for r in 0..4 {
                            let a0 = $load(a[r].as_ptr().add(c));
                            let a1 = $load(a[r].as_ptr().add(c + L));
                            acc[2 * r] = $add(acc[2 * r], $andnot(sign, $sub(a0, b0)));
                            acc[2 * r + 1] = $add(acc[2 * r + 1], $andnot(sign, $sub(a1, b1)));
                        }
                    }
                    c += 2 * L;
                }
                std::array::from_fn(|r| {
                    let mut lanes = [0.0 as $t; L];
                    // SAFETY: `lanes` holds L values.
                    unsafe { $store(lanes.as_mut_ptr(), $add(acc[2 * r], acc[2 * r + 1])) };
                    let mut s: $t = lanes.iter().sum();
                    for k in c..n {
                        s += (a[r][k] - b[k]).abs();
                    }
                    s
                })
            }
        };
    }

    kernel!(
        l1_rows4_f32,
        f32,
        8,
        _mm256_set1_ps,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_sub_ps,
        _mm256_andnot_ps,
        _mm256_add_ps,
        _mm256_storeu_ps
    );
    kernel!(
        l1_rows4_f64,
        f64,
        4,
        _mm256_set1_pd,
        _mm256_setzero_pd,
        _mm256_loadu_pd,
        _mm256_sub_pd,
        _mm256_andnot_pd,
        _mm256_add_pd,
        _mm256_storeu_pd
    );
}

/// `Σ|a_r − b|` for R rows `a_r` against one row `b`, with `LANES` partial sums each.
///
/// Written with `chunks_exact` and fixed-size lane arrays so that no bounds check or
/// float reassociation stands between the compiler and SIMD registers.
#[inline(always)]
fn l1_micro<T: Float, const R: usize>(a: &[&[T]; R], b: &[T]) -> [T; R] {
    let n = b.len();
    let mut acc = [[T::zero(); LANES]; R];
    let mut a_chunks: [_; R] = std::array::from_fn(|r| a[r][..n].chunks_exact(LANES));
    for bc in b.chunks_exact(LANES) {
        let bc: &[T; LANES] = bc.try_into().expect("LANES");
        for (acc_r, a_r) in acc.iter_mut().zip(a_chunks.iter_mut()) {
            let ac: &[T; LANES] = a_r.next().expect("as long as b").try_into().expect("LANES");
            for l in 0..LANES {
                acc_r[l] += (ac[l] - bc[l]).abs();
            }
        }
    }
    let full = n / LANES * LANES;
    std::array::from_fn(|r| {
        let mut s = acc[r].iter().copied().sum::<T>();
        for c in full..n {
            s += (a[r][c] - b[c]).abs();
        }
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_block_matches_definition_on_odd_sizes() {
        let mut r = numeric::rng(3);
        // 7 test rows (a micro block and a remainder), 70 train rows (two tiles), D = 37.
        let x: Array2<f64> = numeric::randn((7, 37), &mut r);
        let t: Array2<f64> = numeric::randn((70, 37), &mut r);
        let mut block = Array2::zeros((7, 70));
        l1_block(x.view(), t.view(), block.view_mut());
        let expected = two_loops(x.view(), t.view(), Metric::L1);
        let err = (&block - &expected)
            .iter()
            .fold(0.0_f64, |e, v| e.max(v.abs()));
        assert!(err < 1e-12, "max error {err}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn same_type_slice_casts_only_to_the_same_type() {
        let x = [1.0_f32, 2.0];
        assert_eq!(same_type_slice::<f32, f32>(&x), Some(&x[..]));
        assert_eq!(same_type_slice::<f32, f64>(&x), None);
        assert_eq!(same_type_slice::<f64, f32>(&[1.0_f64]), None);
    }

    #[test]
    fn l1_block_matches_definition_in_f32() {
        let mut r = numeric::rng(4);
        let x: Array2<f32> = numeric::randn((5, 41), &mut r);
        let t: Array2<f32> = numeric::randn((9, 41), &mut r);
        let mut block = Array2::zeros((5, 9));
        l1_block(x.view(), t.view(), block.view_mut());
        let expected = two_loops(x.view(), t.view(), Metric::L1);
        let err = (&block - &expected)
            .iter()
            .fold(0.0_f32, |e, v| e.max(v.abs()));
        assert!(err < 1e-4, "max error {err}");
    }

    #[test]
    fn clamp_turns_rounding_negatives_into_zero() {
        assert_eq!(clamp_sq(-1e-12_f64), 0.0);
        assert_eq!(clamp_sq(4.0_f32), 4.0);
    }
}
