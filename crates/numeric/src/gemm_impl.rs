use std::any::TypeId;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, ShapeBuilder};
use rayon::prelude::*;

use crate::Float;
use crate::bf16::{MatmulPrecision, matmul_precision};

/// Below this many multiply-adds (m·k·n) a product runs on one thread: splitting it
/// costs more than it saves (about 100 µs of work on one core).
const PARALLEL_MIN_MADDS: usize = 1 << 22;
/// A part of a split product keeps at least this many rows or columns of C, so that
/// every part still fills the 16-wide AVX-512 micro-kernels many times over.
const MIN_PART: usize = 64;
/// The same for the bf16 kernel, whose tiles are 48 columns wide and which packs the
/// whole of the operand shared by the parts once per part.
const MIN_PART_BF16: usize = 128;

/// General matrix product `C ← α·A·B + β·C`, on any strides (transposed views too).
///
/// The kernel is the `gemm` crate's (AVX-512 where the CPU has it), single-threaded;
/// large products are cut into bands of rows or columns of `C` that rayon runs in
/// parallel, coarse enough that a core taken by another process delays one band, not
/// every step of the product.
/// Called from inside a rayon task (a parallel loop over images or row chunks) it runs
/// on the calling thread only, so GEMM threads × rayon threads never exceed the pool:
/// [`crate::set_threads`] is the one knob. docs/gemm.md has the measurements behind
/// this choice.
///
/// When β is zero, `C` is only written, never read (it may hold NaN).
///
/// # Panics
/// If the shapes do not agree: `A` is (m, k), `B` is (k, n), `C` is (m, n). Shapes
/// are the caller's invariant, as for `ndarray::linalg::general_mat_mul`.
///
/// ```
/// use ndarray::{array, Array2};
/// let a = array![[1.0_f32, 2.0], [3.0, 4.0]];
/// let mut c = Array2::<f32>::ones((2, 2));
/// numeric::gemm(1.0, &a.view(), &a.t(), 1.0, &mut c.view_mut());
/// assert_eq!(c, array![[6.0, 12.0], [12.0, 26.0]]);
/// ```
pub fn gemm<T: Float>(
    alpha: T,
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    beta: T,
    c: &mut ArrayViewMut2<'_, T>,
) {
    gemm_at(matmul_precision(), alpha, a, b, beta, c);
}

/// [`gemm`] at a given precision for f32 products (one that the CPU runs: see
/// [`crate::set_matmul_precision`]), so that tests need not set the global.
pub(crate) fn gemm_at<T: Float>(
    precision: MatmulPrecision,
    alpha: T,
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    beta: T,
    c: &mut ArrayViewMut2<'_, T>,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(
        k, k2,
        "gemm: inner dimensions differ: A is {m}x{k}, B is {k2}x{n}"
    );
    assert_eq!(
        c.dim(),
        (m, n),
        "gemm: C is {:?}, expected ({m}, {n})",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.map_inplace(|x| {
            *x = if beta == T::zero() {
                T::zero()
            } else {
                *x * beta
            }
        });
        return;
    }
    if !uses_bf16::<T>(precision) && needs_reorienting(a, b, c) {
        // Computed into a buffer of the other orientation, then added to C: the
        // product's cost dwarfs the extra pass over C (k ≥ REORIENT_MIN_K).
        let row_major = c.strides()[1].unsigned_abs() < c.strides()[0].unsigned_abs();
        let mut t = Array2::<T>::zeros((m, n).set_f(row_major));
        gemm_at(precision, alpha, a, b, T::zero(), &mut t.view_mut());
        add_buffer(c, &t, beta);
        return;
    }
    let threads = rayon::current_num_threads();
    let parts =
        if rayon::current_thread_index().is_some() || threads < 2 || m * n * k < PARALLEL_MIN_MADDS
        {
            1
        } else {
            // Two parts per thread let work stealing even out a core that is busy
            // elsewhere; a whole multiple of the threads keeps a free machine balanced
            // (3 bands on 2 threads would take two rounds).
            let min_part = if uses_bf16::<T>(precision) {
                MIN_PART_BF16
            } else {
                MIN_PART
            };
            let fit = m.max(n) / min_part;
            if fit >= 2 * threads {
                2 * threads
            } else if fit >= threads {
                threads
            } else {
                fit.max(1)
            }
        };
    gemm_in_parts(precision, alpha, a, b, beta, c, parts);
}

/// Inner dimension from which [`needs_reorienting`] may send a product through a
/// buffer: below it the extra pass over C costs more than the slow layout.
const REORIENT_MIN_K: usize = 256;

/// Columns of C (as the kernel sees them) up to which a packed left operand counts as
/// "reused for only a few columns": beyond it packing is a small share of the product
/// and the buffer's transposing pass over C costs more (kNN's 1 024 × 8 192 distance
/// blocks spent 30 % of their time in that pass).
const REORIENT_MAX_COLUMNS: usize = 256;

/// Inner dimension from which a product goes through the buffer whatever its width:
/// the kernel's transposing pack of the large operand costs more than the pass over C.
/// kNN's 500 × 3072 · 3072 × 5000 (both operands k-contiguous) runs about 20 % faster
/// into a column-major buffer than packing all 5 000 training rows (docs/gemm.md).
const REORIENT_LONG_K: usize = 2048;

/// Rows of C per task when a buffer is added to C in parallel: 16 f32 rows of a
/// column-major buffer are one cache line per column, so a band's reads stay in cache
/// while its rows of C are written in order.
const BUFFER_BAND_ROWS: usize = 16;

/// `C ← β·C + T` for a buffer `T` of C's shape and the other orientation: in bands of
/// rows in parallel when the product itself would be split (outside a rayon task).
fn add_buffer<T: Float>(c: &mut ArrayViewMut2<'_, T>, t: &Array2<T>, beta: T) {
    let band = |mut c: ArrayViewMut2<'_, T>, t: ArrayView2<'_, T>| {
        if beta == T::zero() {
            c.assign(&t);
        } else {
            c.zip_mut_with(&t, |x, &y| *x = *x * beta + y);
        }
    };
    let parallel = rayon::current_thread_index().is_none()
        && rayon::current_num_threads() > 1
        && c.len() * std::mem::size_of::<T>() >= 1 << 20;
    if parallel {
        c.axis_chunks_iter_mut(Axis(0), BUFFER_BAND_ROWS)
            .into_par_iter()
            .zip(t.axis_chunks_iter(Axis(0), BUFFER_BAND_ROWS))
            .for_each(|(c, t)| band(c, t));
    } else {
        band(c.view_mut(), t.view());
    }
}

/// Whether C's orientation makes the kernel slow enough to be worth a buffer of the
/// other orientation.
///
/// The `gemm` crate always computes a column-major C (for a row-major C it computes
/// Cᵀ = Bᵀ·Aᵀ, which is why handing it a transposed view of C changes nothing), and it
/// packs its left operand (A, or Bᵀ for a row-major C) when that operand's rows are not
/// contiguous. Packing a large left operand that is only reused for a few columns is
/// the slow case: e.g. `dout·Wᵀ` of an affine layer, (64×1024)·(1024×3136) into a
/// row-major C, packs all of W for 64 columns and runs at a third of the speed of the
/// same product into a column-major C, which packs the 64 rows of `dout` instead.
/// docs/gemm.md has the measurements.
fn needs_reorienting<T>(
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    c: &ArrayViewMut2<'_, T>,
) -> bool {
    let ((m, k), n) = (a.dim(), b.ncols());
    let (rsc, csc) = (c.strides()[0].unsigned_abs(), c.strides()[1].unsigned_abs());
    if k < REORIENT_MIN_K || m < 2 || n < 2 || rsc == csc {
        return false;
    }
    // The left operand's row stride and row count as the kernel sees them, for C's
    // own orientation and for the other one.
    let (rs_a, rs_bt) = (a.strides()[0].unsigned_abs(), b.strides()[1].unsigned_abs());
    let ((own_rs, own_m), (other_rs, other_m)) = if csc < rsc {
        ((rs_bt, n), (rs_a, m))
    } else {
        ((rs_a, m), (rs_bt, n))
    };
    own_rs != 1
        && other_rs != 1
        && own_m >= 2 * other_m
        && (other_m <= REORIENT_MAX_COLUMNS || k >= REORIENT_LONG_K)
}

/// Whether a product runs on the bf16 kernel: f32 at [`MatmulPrecision::Bf16`]. It
/// packs both operands whatever their layout, so it never needs a reoriented buffer.
fn uses_bf16<T: 'static>(precision: MatmulPrecision) -> bool {
    TypeId::of::<T>() == TypeId::of::<f32>() && precision == MatmulPrecision::Bf16
}

/// The kernel for f32 products at a precision in force.
fn f32_kernel(precision: MatmulPrecision) -> unsafe fn(&Product) {
    match precision {
        // SAFETY (of the pointer's later calls): Bf16 is in force only where the CPU
        // has AVX-512F and AVX512_BF16, the kernel's one extra requirement.
        #[cfg(target_arch = "x86_64")]
        MatmulPrecision::Bf16 => crate::bf16::gemm_bf16,
        _ => Product::run::<f32>,
    }
}

/// [`gemm`] on checked, non-empty shapes, cut into `parts` bands of C run by rayon.
fn gemm_in_parts<T: Float>(
    precision: MatmulPrecision,
    alpha: T,
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    beta: T,
    c: &mut ArrayViewMut2<'_, T>,
    parts: usize,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let op = Product {
        m,
        k,
        n,
        a: a.as_ptr() as usize,
        rsa: a.strides()[0],
        csa: a.strides()[1],
        b: b.as_ptr() as usize,
        rsb: b.strides()[0],
        csb: b.strides()[1],
        c: c.as_mut_ptr() as usize,
        rsc: c.strides()[0],
        csc: c.strides()[1],
        alpha: alpha.as_f64(),
        beta: beta.as_f64(),
        size: std::mem::size_of::<T>(),
    };
    let kernel: unsafe fn(&Product) = if TypeId::of::<T>() == TypeId::of::<f32>() {
        f32_kernel(precision)
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        Product::run::<f64>
    } else {
        // Float is implemented for f32 and f64 only; stay correct for any other anyway.
        return ndarray::linalg::general_mat_mul(alpha, a, b, beta, c);
    };
    // Band edges on whole tiles: 16 wide for the f32 kernel, 48 for bf16's.
    let align = if uses_bf16::<T>(precision) { 48 } else { 16 };
    let parts = parts.clamp(1, (m.max(n) / align).max(1));
    if parts == 1 {
        // SAFETY: `op` describes the live views passed in, whose shapes the caller
        // checked; T is the kernel's element type (TypeId).
        unsafe { kernel(&op) };
    } else {
        (0..parts).into_par_iter().for_each(|p| {
            let part = op.part(p, parts, align);
            // SAFETY: as above; the parts write disjoint bands of C and only read A, B.
            unsafe { kernel(&part) };
        });
    }
}

/// One product on raw parts, so that blocks of it can cross to rayon's threads.
/// Pointers are kept as addresses (`usize`): plain data, `Send` and `Sync`.
#[derive(Clone, Copy)]
pub(crate) struct Product {
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) n: usize,
    pub(crate) a: usize,
    pub(crate) rsa: isize,
    pub(crate) csa: isize,
    pub(crate) b: usize,
    pub(crate) rsb: isize,
    pub(crate) csb: isize,
    pub(crate) c: usize,
    pub(crate) rsc: isize,
    pub(crate) csc: isize,
    pub(crate) alpha: f64,
    pub(crate) beta: f64,
    /// Bytes per element.
    size: usize,
}

/// The element types the `gemm` crate has kernels for.
trait Kernel: Copy {
    /// # Safety
    /// The pointers and strides describe valid m×k, k×n and m×n matrices (C not
    /// overlapping A or B), and C is not read when β is zero.
    unsafe fn gemm(p: &Product);
}

macro_rules! kernel {
    ($t:ty) => {
        impl Kernel for $t {
            unsafe fn gemm(p: &Product) {
                // SAFETY: forwarded from the caller. The gemm crate computes
                // dst ← alpha·dst + beta·lhs·rhs (our β is its alpha, our α its beta),
                // takes column strides first, and reads dst only when asked to.
                unsafe {
                    gemm::gemm::<$t>(
                        p.m,
                        p.n,
                        p.k,
                        p.c as *mut $t,
                        p.csc,
                        p.rsc,
                        p.beta != 0.0,
                        p.a as *const $t,
                        p.csa,
                        p.rsa,
                        p.b as *const $t,
                        p.csb,
                        p.rsb,
                        p.beta as $t,
                        p.alpha as $t,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            }
        }
    };
}
kernel!(f32);
kernel!(f64);

impl Product {
    /// # Safety
    /// `self` describes valid matrices of element type `K`.
    unsafe fn run<K: Kernel>(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { K::gemm(self) }
    }

    /// Block `p` of `parts`: a band of C's columns when C is wider than tall, else a
    /// band of its rows, with band edges on multiples of `align` (the kernel's width).
    fn part(&self, p: usize, parts: usize, align: usize) -> Product {
        let by_cols = self.n >= self.m;
        let len = if by_cols { self.n } else { self.m };
        let edge = |i: usize| {
            if i == parts {
                len
            } else {
                len * i / parts / align * align
            }
        };
        let (start, end) = (edge(p), edge(p + 1));
        // Address of element `start` along a stride (which may be negative).
        let at = |base: usize, stride: isize| {
            base.wrapping_add_signed(stride * start as isize * self.size as isize)
        };
        let mut q = *self;
        if by_cols {
            q.n = end - start;
            q.b = at(self.b, self.csb);
            q.c = at(self.c, self.csc);
        } else {
            q.m = end - start;
            q.a = at(self.a, self.rsa);
            q.c = at(self.c, self.rsc);
        }
        q
    }
}

/// `A·B` as a new array (see [`gemm()`] for threading).
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 2.0, 3.0]];
/// let w = array![[1.0_f64], [1.0], [1.0]];
/// assert_eq!(numeric::matmul(&x.view(), &w.view()), array![[6.0]]);
/// ```
pub fn matmul<T: Float>(a: &ArrayView2<'_, T>, b: &ArrayView2<'_, T>) -> Array2<T> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    gemm(T::one(), a, b, T::zero(), &mut c.view_mut());
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        let mut c = Array2::zeros((a.nrows(), b.ncols()));
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                c[[i, j]] = (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum();
            }
        }
        c
    }

    proptest! {
        #[test]
        fn matches_naive_product_on_any_layout(m in 1usize..80, k in 0usize..80, n in 1usize..80,
                                               transpose_a: bool, seed in 0u64..1000) {
            let mut r = crate::rng(seed);
            let a: Array2<f64> = if transpose_a {
                crate::randn((k, m), &mut r).reversed_axes()
            } else {
                crate::randn((m, k), &mut r)
            };
            let b: Array2<f64> = crate::randn((k, n), &mut r);
            let mut c: Array2<f64> = crate::randn((m, n), &mut r);
            let expected = naive(&a, &b) * 2.0 + &c * 0.5;
            gemm(2.0, &a.view(), &b.view(), 0.5, &mut c.view_mut());
            let err = (&c - &expected).iter().fold(0.0_f64, |e, x| e.max(x.abs()));
            prop_assert!(err < 1e-10, "max error {err}");
        }
    }

    /// Products cut into bands, on every layout the split must handle: transposed A,
    /// B walked backwards (negative strides), C a strided window, β ≠ 0; split by
    /// columns (wide C) and by rows (tall C), into even and uneven bands.
    #[test]
    fn split_products_match_naive() {
        use ndarray::s;
        for (m, k, n, parts) in [
            (150, 200, 700, 4),
            (700, 180, 90, 3),
            (40, 30, 500, 7),
            (90, 70, 20, 1),
        ] {
            let mut r = crate::rng(m as u64);
            let a: Array2<f64> = crate::randn((k, m), &mut r).reversed_axes();
            let b_store: Array2<f64> = crate::randn((k, n), &mut r);
            let b = b_store.slice(s![.., ..;-1]);
            let mut c_store: Array2<f64> = crate::randn((m, 2 * n), &mut r);
            let c0 = c_store.slice(s![.., ..;2]).to_owned();
            let expected = naive(&a, &b.to_owned()) * 1.5 - &c0 * 2.0;
            gemm_in_parts(
                MatmulPrecision::F32,
                1.5,
                &a.view(),
                &b,
                -2.0,
                &mut c_store.slice_mut(s![.., ..;2]),
                parts,
            );
            let got = c_store.slice(s![.., ..;2]);
            let err = (&got - &expected)
                .iter()
                .fold(0.0_f64, |e, x| e.max(x.abs()));
            assert!(err < 1e-9, "{m}x{k}x{n} in {parts} parts: max error {err}");
            // The untouched odd columns stay as they were.
            assert!(c_store.slice(s![.., 1..;2]).iter().all(|x| x.is_finite()));
        }
    }

    /// Products that go through a buffer of the other orientation (B a transposed
    /// view, k ≥ REORIENT_MIN_K, C much wider or taller than the other way) give the
    /// plain product, on both orientations of C, with β zero and not, and through a
    /// strided window of C.
    #[test]
    fn reoriented_products_match_naive() {
        use ndarray::{ShapeBuilder, s};
        for (m, k, n, seed) in [(8, 300, 90, 1), (70, 260, 9, 2), (3, 512, 200, 3)] {
            let mut r = crate::rng(seed);
            let a: Array2<f64> = crate::randn((m, k), &mut r);
            let b: Array2<f64> = crate::randn((n, k), &mut r).reversed_axes();
            let b_owned = b.to_owned();
            for (f_order, beta) in [(false, 0.0), (true, 0.0), (false, -0.5), (true, 0.5)] {
                let mut c_store = Array2::<f64>::zeros((m, 2 * n).set_f(f_order));
                c_store.assign(&crate::randn::<f64, _, _>((m, 2 * n), &mut r));
                let c0 = c_store.slice(s![.., ..;2]).to_owned();
                let odd = c_store.slice(s![.., 1..;2]).to_owned();
                let expected = naive(&a, &b_owned) * 1.5 + &c0 * beta;
                let mut c = c_store.slice_mut(s![.., ..;2]);
                let reoriented = needs_reorienting(&a.view(), &b.view(), &c);
                assert_eq!(
                    reoriented,
                    f_order == (m > n),
                    "{m}x{k}x{n} F-order {f_order}"
                );
                gemm(1.5, &a.view(), &b.view(), beta, &mut c);
                let scale = expected.iter().fold(1.0_f64, |e, x| e.max(x.abs()));
                let err = (&c_store.slice(s![.., ..;2]) - &expected)
                    .iter()
                    .fold(0.0_f64, |e, x| e.max(x.abs()));
                assert!(err < 1e-12 * scale, "{m}x{k}x{n} β {beta}: max error {err}");
                assert_eq!(
                    c_store.slice(s![.., 1..;2]),
                    odd,
                    "odd columns were touched"
                );
            }
        }
    }

    /// A left operand reused for many columns is packed in place: kNN's distance block
    /// (test rows × training tile, B a transposed view) stays in C's own orientation.
    #[test]
    fn many_columns_stay_in_place() {
        let a = Array2::<f32>::zeros((300, 256));
        let b_rows = Array2::<f32>::zeros((700, 256));
        let mut c = Array2::<f32>::zeros((300, 700));
        assert!(!needs_reorienting(&a.view(), &b_rows.t(), &c.view_mut()));
        // The same product with few test rows still goes through the buffer.
        let a_few = Array2::<f32>::zeros((64, 256));
        let mut c_few = Array2::<f32>::zeros((64, 700));
        assert!(needs_reorienting(
            &a_few.view(),
            &b_rows.t(),
            &c_few.view_mut()
        ));
    }

    /// A long inner dimension sends a wide product with both operands k-contiguous
    /// (kNN's `X_test·X_trainᵀ`) through the buffer whatever its width, and the buffer
    /// is added back to C in parallel bands, β included.
    #[test]
    fn long_products_go_through_the_buffer() {
        let (m, k, n) = (260, REORIENT_LONG_K, 600);
        let mut r = crate::rng(9);
        let a: Array2<f64> = crate::randn((m, k), &mut r);
        let b_rows: Array2<f64> = crate::randn((n, k), &mut r);
        let mut c: Array2<f64> = crate::randn((m, n), &mut r);
        assert!(needs_reorienting(&a.view(), &b_rows.t(), &c.view_mut()));
        let short = a.slice(ndarray::s![.., ..k / 2]);
        let b_short = b_rows.slice(ndarray::s![.., ..k / 2]);
        assert!(!needs_reorienting(&short, &b_short.t(), &c.view_mut()));
        let mut expected = c.clone();
        ndarray::linalg::general_mat_mul(1.5, &a, &b_rows.t(), 0.5, &mut expected);
        gemm(1.5, &a.view(), &b_rows.t(), 0.5, &mut c.view_mut());
        let err = (&c - &expected).iter().fold(0.0_f64, |e, x| e.max(x.abs()));
        assert!(err < 1e-9, "max error {err}");
    }

    /// With β = 0, C is written without being read: NaN in it must not leak out.
    #[test]
    fn beta_zero_ignores_nan_in_c() {
        let a = Array2::<f32>::ones((300, 100));
        let b = Array2::<f32>::ones((100, 300));
        let mut c = Array2::<f32>::from_elem((300, 300), f32::NAN);
        gemm(1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
        assert!(c.iter().all(|&x| x == 100.0));
    }

    /// Inside a rayon task the product runs serially and gives the same result.
    #[test]
    fn same_result_inside_rayon_task() {
        let mut r = crate::rng(3);
        let a: Array2<f32> = crate::randn((256, 300), &mut r);
        let b: Array2<f32> = crate::randn((300, 400), &mut r);
        let outside = matmul(&a.view(), &b.view());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let inside = pool.install(|| matmul(&a.view(), &b.view()));
        let err = (&outside - &inside)
            .iter()
            .fold(0.0_f32, |e, x| e.max(x.abs()));
        assert!(err < 1e-3, "max difference {err}");
    }

    #[test]
    fn f32_agrees_with_f64() {
        let mut r = crate::rng(1);
        let a: Array2<f64> = crate::randn((70, 300), &mut r);
        let b: Array2<f64> = crate::randn((300, 90), &mut r);
        let c64 = matmul(&a.view(), &b.view());
        let c32 = matmul(&a.mapv(|x| x as f32).view(), &b.mapv(|x| x as f32).view());
        let err = (&c32.mapv(f64::from) - &c64)
            .iter()
            .fold(0.0_f64, |e, x| e.max(x.abs()));
        assert!(err < 1e-3, "max error {err}");
    }
}
