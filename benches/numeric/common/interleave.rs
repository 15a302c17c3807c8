//! Interleaved timing of several variants of one product: every round runs each variant
//! once, starting one further along each round, so that all of them see the same drift of
//! a shared machine's speed. Shared by `narrow_ab` and numeric's `gemm_ab` example.

use std::time::Instant;

/// Times `call(i)` for each of the `names`' variants over `rounds` rounds, each timing
/// repeating the call until it lasts about `min_seconds`, and gives one cell per variant,
/// "NAME BEST (MEDIAN)" in GFLOP/s for a product of `flops` floating-point operations.
pub fn gflops_cells(
    names: &[&str],
    rounds: usize,
    min_seconds: f64,
    flops: f64,
    mut call: impl FnMut(usize),
) -> Vec<String> {
    let t = Instant::now();
    call(0);
    let reps = ((min_seconds / t.elapsed().as_secs_f64()).ceil() as usize).clamp(1, 1000);
    let mut times = vec![Vec::new(); names.len()];
    for r in 0..rounds {
        for j in 0..names.len() {
            let i = (j + r) % names.len();
            let t = Instant::now();
            for _ in 0..reps {
                call(i);
            }
            times[i].push(t.elapsed().as_secs_f64() / reps as f64);
        }
    }
    names
        .iter()
        .zip(&mut times)
        .map(|(n, t)| {
            t.sort_by(f64::total_cmp);
            format!(
                "{n} {:.0} ({:.0})",
                flops / t[0] / 1e9,
                flops / t[t.len() / 2] / 1e9
            )
        })
        .collect()
}
