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

/// Squared L2 distances of a block: `block ← ‖a‖² − 2·x·x_trainᵀ + ‖b‖²`, clamped at 0.
/// Called inside rayon tasks, where the GEMM runs on the calling thread only.
pub(crate) fn l2_sq_block<T: Float>(
    x: ArrayView2<'_, T>,
    x_sq: ArrayView1<'_, T>,
    x_train: ArrayView2<'_, T>,
    train_sq: ArrayView1<'_, T>,
    mut block: ArrayViewMut2<'_, T>,
) {
    numeric::gemm(T::cast(-2.0), &x, &x_train.t(), T::zero(), &mut block);
    Zip::from(block.rows_mut()).and(&x_sq).for_each(|row, &a| {
        Zip::from(row)
            .and(&train_sq)
            .for_each(|d, &b| *d = clamp_sq(*d + a + b));
    });
}

/// Lanes of one accumulator: 16 `f32` fill an AVX-512 register (two AVX2 ones).
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
        let mut i = 0;
        while i + MICRO_ROWS <= n {
            let a: [&[T]; MICRO_ROWS] = std::array::from_fn(|r| &xs[(i + r) * d..(i + r + 1) * d]);
            for j in j0..j1 {
                let s = l1_micro(&a, &ts[j * d..(j + 1) * d]);
                for r in 0..MICRO_ROWS {
                    block[[i + r, j]] = s[r];
                }
            }
            i += MICRO_ROWS;
        }
        for i in i..n {
            let a = [&xs[i * d..(i + 1) * d]];
            for j in j0..j1 {
                block[[i, j]] = l1_micro(&a, &ts[j * d..(j + 1) * d])[0];
            }
        }
    }
}

/// `Σ|a_r − b|` for R rows `a_r` against one row `b`, with `LANES` partial sums each.
#[inline(always)]
fn l1_micro<T: Float, const R: usize>(a: &[&[T]; R], b: &[T]) -> [T; R] {
    let mut acc = [[T::zero(); LANES]; R];
    let full = b.len() / LANES * LANES;
    for c in (0..full).step_by(LANES) {
        let bc: &[T; LANES] = b[c..c + LANES].try_into().expect("LANES");
        for r in 0..R {
            let ac: &[T; LANES] = a[r][c..c + LANES].try_into().expect("LANES");
            for l in 0..LANES {
                acc[r][l] += (ac[l] - bc[l]).abs();
            }
        }
    }
    std::array::from_fn(|r| {
        let mut s = acc[r].iter().copied().sum::<T>();
        for c in full..b.len() {
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

    #[test]
    fn clamp_turns_rounding_negatives_into_zero() {
        assert_eq!(clamp_sq(-1e-12_f64), 0.0);
        assert_eq!(clamp_sq(4.0_f32), 4.0);
    }
}
