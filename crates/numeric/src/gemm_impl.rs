use std::any::TypeId;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, ShapeBuilder};
use rayon::prelude::*;

use crate::Float;
use crate::bf16::{MatmulPrecision, matmul_precision};
use crate::fma::F32Kernel;

/// Below this many multiply-adds (m·k·n) a product runs on one thread: splitting it
/// costs more than it saves (about 100 µs of work on one core).
const PARALLEL_MIN_MADDS: usize = 1 << 22;
/// A part of a split product keeps at least this many rows or columns of C, so that
/// every part still fills the 16-wide AVX-512 micro-kernels many times over.
const MIN_PART: usize = 64;
/// The same for the kernels that pack both operands (bf16's and our f32 one), whose
/// tiles are 48 columns wide and which pack the whole operand shared by the parts once
/// per part.
const MIN_PART_PACKED: usize = 128;

/// General matrix product `C ← α·A·B + β·C`, on any strides (transposed views too).
///
/// The kernel is the `gemm` crate's (AVX-512 where the CPU has it), single-threaded;
/// large products are cut into bands of rows or columns of `C` that rayon runs in
/// parallel, coarse enough that a core taken by another process delays one band, not
/// every step of the product. Wide, long f32 products (kNN's distances, C at least
/// 256 × 1024 with k ≥ 2048) run on a kernel of our own on AVX-512 CPUs instead, which
/// packs both operands and writes C in place ([`crate::gemm_f32_with`] names one).
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

/// [`gemm()`] at `precision` for f32 products instead of the process-wide one, as far as
/// the CPU runs it (bf16 only with AVX512_BF16, as [`crate::set_matmul_precision`]
/// grants): for comparisons of the two that must not change what other threads use.
///
/// ```
/// use ndarray::{Array2, array};
/// use numeric::MatmulPrecision;
/// let a = array![[1.0_f32, 1.0 + 1.0 / 1024.0]];
/// let b = array![[1.0_f32], [1.0]];
/// let mut c = Array2::<f32>::zeros((1, 1));
/// numeric::gemm_with_precision(MatmulPrecision::F32, 1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
/// assert_eq!(c[[0, 0]], 2.0 + 1.0 / 1024.0);
/// numeric::gemm_with_precision(MatmulPrecision::Bf16, 1.0, &a.view(), &b.view(), 0.0, &mut c.view_mut());
/// // bf16 keeps 8 significant bits: 1 + 2⁻¹⁰ rounds to 1 where the CPU has it.
/// assert!(c[[0, 0]] == 2.0 || !numeric::cpu_has_bf16());
/// ```
pub fn gemm_with_precision<T: Float>(
    precision: MatmulPrecision,
    alpha: T,
    a: &ArrayView2<'_, T>,
    b: &ArrayView2<'_, T>,
    beta: T,
    c: &mut ArrayViewMut2<'_, T>,
) {
    let precision = crate::bf16::precision_in_force(precision, crate::cpu_has_bf16());
    gemm_at(precision, alpha, a, b, beta, c);
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
    gemm_with(precision, F32Kernel::Auto, alpha, a, b, beta, c);
}

/// [`gemm_at`] with the f32 kernel named (at f32 precision; f64 products ignore it).
pub(crate) fn gemm_with<T: Float>(
    precision: MatmulPrecision,
    kernel: F32Kernel,
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
    let route = Route::of_product(precision, kernel, a, b, c);
    if route == Route::Crate && needs_reorienting(a, b, c) {
        // Computed into a buffer of the other orientation, then added to C: the
        // product's cost dwarfs the extra pass over C (k ≥ REORIENT_MIN_K).
        let row_major = c.strides()[1].unsigned_abs() < c.strides()[0].unsigned_abs();
        let mut t = Array2::<T>::zeros((m, n).set_f(row_major));
        gemm_with(
            precision,
            F32Kernel::GemmCrate,
            alpha,
            a,
            b,
            T::zero(),
            &mut t.view_mut(),
        );
        add_buffer(c, &t, beta);
        return;
    }
    let threads = rayon::current_num_threads();
    let parts =
        if rayon::current_thread_index().is_some() || threads < 2 || m * n * k < PARALLEL_MIN_MADDS
        {
            1
        } else if let Route::Fma(_) = route {
            // Its bands share one packed A (wide C; a tall one is cut into bands of
            // rows): two per thread for work stealing cost no extra packing.
            if m.max(n) / MIN_PART_PACKED >= 2 * threads {
                2 * threads
            } else {
                1
            }
        } else {
            // Two parts per thread let work stealing even out a core that is busy
            // elsewhere; a whole multiple of the threads keeps a free machine balanced
            // (3 bands on 2 threads would take two rounds).
            let min_part = if route == Route::Bf16 {
                MIN_PART_PACKED
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
    gemm_in_parts(route, alpha, a, b, beta, c, parts);
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

/// Which kernel runs a product, and with it how the product is split into bands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The `gemm` crate's kernels: every f64 product, and f32 where ours loses.
    Crate,
    /// f32 at [`MatmulPrecision::Bf16`]: the bf16 kernel (which packs both operands
    /// whatever their layout, so it never needs a reoriented buffer).
    Bf16,
    /// f32 on our own kernel (`crate::fma`), one of its tiles.
    Fma(F32Kernel),
}

impl Route {
    /// The route of a product of element type `T` at a precision in force.
    fn of<T: 'static>(
        precision: MatmulPrecision,
        kernel: F32Kernel,
        m: usize,
        k: usize,
        n: usize,
    ) -> Route {
        if TypeId::of::<T>() != TypeId::of::<f32>() {
            Route::Crate
        } else if precision == MatmulPrecision::Bf16 {
            Route::Bf16
        } else {
            match kernel.in_force(m, k, n) {
                ours if ours.is_ours() => Route::Fma(ours),
                _ => Route::Crate,
            }
        }
    }

    /// The route of `C ← α·A·B + β·C`: [`Route::of`] its shape, except that
    /// [`F32Kernel::Auto`] keeps a product on the crate's kernel where that runs in
    /// place. Ours wins by writing C in place where the crate's kernel would reorient
    /// through a buffer (kNN's k-contiguous operands, 17 % on a quiet machine); where
    /// the crate runs in place (the square 2048³) ours measured 3 % slower.
    pub(crate) fn of_product<T: 'static>(
        precision: MatmulPrecision,
        kernel: F32Kernel,
        a: &ArrayView2<'_, T>,
        b: &ArrayView2<'_, T>,
        c: &ArrayViewMut2<'_, T>,
    ) -> Route {
        let route = Route::of::<T>(precision, kernel, a.nrows(), a.ncols(), b.ncols());
        if kernel == F32Kernel::Auto
            && matches!(route, Route::Fma(_))
            && !needs_reorienting(a, b, c)
        {
            Route::Crate
        } else {
            route
        }
    }

    /// The single-threaded kernel for f32 products that [`Product::part`] splits.
    fn f32_kernel(self) -> unsafe fn(&Product) {
        match self {
            // SAFETY (of the pointer's later calls): Bf16 is in force only where the
            // CPU has AVX-512F and AVX512_BF16, the kernel's one extra requirement.
            #[cfg(target_arch = "x86_64")]
            Route::Bf16 => crate::bf16::gemm_bf16,
            _ => Product::run::<f32>,
        }
    }
}

/// [`gemm`] on checked, non-empty shapes, cut into `parts` bands of C run by rayon.
pub(crate) fn gemm_in_parts<T: Float>(
    route: Route,
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
    #[cfg(target_arch = "x86_64")]
    if let Route::Fma(ours) = route {
        // SAFETY: `op` describes the live views passed in, whose shapes the caller
        // checked, T is f32 (Route::of), and the CPU has AVX-512F (F32Kernel::in_force).
        // Our kernel cuts its bands itself, sharing one packed operand between them.
        return unsafe { ours.ours()(&op, parts) };
    }
    let kernel: unsafe fn(&Product) = if TypeId::of::<T>() == TypeId::of::<f32>() {
        route.f32_kernel()
    } else if TypeId::of::<T>() == TypeId::of::<f64>() {
        Product::run::<f64>
    } else {
        // Float is implemented for f32 and f64 only; stay correct for any other anyway.
        return ndarray::linalg::general_mat_mul(alpha, a, b, beta, c);
    };
    let by_cols = n >= m;
    let align = if route == Route::Bf16 { 48 } else { 16 };
    let len = if by_cols { n } else { m };
    let parts = parts.clamp(1, (len / align).max(1));
    if parts == 1 {
        // SAFETY: `op` describes the live views passed in, whose shapes the caller
        // checked; T is the kernel's element type (TypeId).
        unsafe { kernel(&op) };
    } else {
        (0..parts).into_par_iter().for_each(|p| {
            let part = op.part(p, parts, by_cols, align);
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

    /// Block `p` of `parts`: a band of C's columns (`by_cols`) or of its rows, with band
    /// edges on multiples of `align` (the kernel's width).
    fn part(&self, p: usize, parts: usize, by_cols: bool, align: usize) -> Product {
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
/// C is allocated without being zeroed: the product writes every element once, so a
/// zeroing pass over it (10 MB for kNN's 500 × 5000 distances) would be wasted, as
/// numpy's `a @ b` wastes none.
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0_f64, 2.0, 3.0]];
/// let w = array![[1.0_f64], [1.0], [1.0]];
/// assert_eq!(numeric::matmul(&x.view(), &w.view()), array![[6.0]]);
/// ```
pub fn matmul<T: Float>(a: &ArrayView2<'_, T>, b: &ArrayView2<'_, T>) -> Array2<T> {
    let (m, n) = (a.nrows(), b.ncols());
    let mut c = Array2::<T>::uninit((m, n));
    // SAFETY: the view covers exactly the (m, n) standard-layout allocation of `c`.
    // `gemm` with β = 0 writes every element of C and reads none (k = 0 included:
    // C ← 0), the contract tested with C full of NaN, so `c` is initialised after it;
    // a panic on mismatched shapes drops `c` still uninitialised, which is sound.
    unsafe {
        let mut view = ArrayViewMut2::from_shape_ptr((m, n), c.as_mut_ptr().cast::<T>());
        gemm(T::one(), a, b, T::zero(), &mut view);
        c.assume_init()
    }
}

#[cfg(test)]
#[path = "gemm_tests.rs"]
mod tests;
