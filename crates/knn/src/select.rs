//! Top-k selection by partial selection, and the vote among the selected neighbours.

use std::cmp::Ordering;

use numeric::Float;

use crate::Vote;

/// Orders candidates by distance, then by training index: the nearest first, and of
/// two equally near the earlier training example first. NaN ranks as +∞.
#[inline]
fn by_distance_then_index<T: Float>(a: &(T, usize), b: &(T, usize)) -> Ordering {
    let key = |d: T| if d.is_nan() { T::infinity() } else { d };
    key(a.0)
        .partial_cmp(&key(b.0))
        .unwrap_or(Ordering::Equal)
        .then(a.1.cmp(&b.1))
}

/// The k smallest of a stream of (distance, index) pairs seen in increasing index
/// order, in O(n) time and O(k) memory.
///
/// Candidates collect in a buffer of a few times k; when it fills, a partial selection
/// (`select_nth_unstable_by`) keeps the k best and their worst distance becomes the
/// threshold. Almost every later distance fails the one comparison with the threshold,
/// so the pass costs about as much as reading the distances. Because indices arrive in
/// increasing order, a later candidate equal to the threshold always loses the tie,
/// which is why a strict `<` is exact.
pub(crate) struct TopK<T> {
    k: usize,
    cap: usize,
    buf: Vec<(T, usize)>,
    threshold: T,
    compacted: bool,
}

impl<T: Float> TopK<T> {
    pub(crate) fn new(k: usize) -> Self {
        assert!(k > 0, "top-k needs k ≥ 1");
        let cap = (4 * k).max(k + 64);
        Self {
            k,
            cap,
            buf: Vec::with_capacity(cap),
            threshold: T::infinity(),
            compacted: false,
        }
    }

    /// Offers `row[j]` as the distance to training example `offset + j`.
    #[inline]
    pub(crate) fn push_row(&mut self, row: &[T], offset: usize) {
        self.push_iter(row.iter().copied(), offset);
    }

    /// Offers the `j`-th distance of `distances` as that to training example
    /// `offset + j`: distances finished on the fly are never written back.
    #[inline]
    pub(crate) fn push_iter(&mut self, distances: impl Iterator<Item = T>, offset: usize) {
        for (j, d) in distances.enumerate() {
            if !self.compacted || d < self.threshold {
                self.buf.push((d, offset + j));
                if self.buf.len() == self.cap {
                    self.compact();
                }
            }
        }
    }

    fn compact(&mut self) {
        self.buf
            .select_nth_unstable_by(self.k - 1, by_distance_then_index);
        self.buf.truncate(self.k);
        self.threshold = self.buf[self.k - 1].0;
        self.compacted = true;
    }

    /// The min(k, seen) nearest, sorted by distance then index.
    pub(crate) fn finish(&mut self) -> Vec<(T, usize)> {
        let mut buf = std::mem::take(&mut self.buf);
        if buf.len() > self.k {
            buf.select_nth_unstable_by(self.k - 1, by_distance_then_index);
            buf.truncate(self.k);
        }
        buf.sort_unstable_by(by_distance_then_index);
        buf
    }
}

/// The label voted for by `neighbours` (sorted nearest first).
///
/// Majority: the most frequent label, ties to the smaller label, which is what the
/// course's `np.argmax(np.bincount(closest_y))` returns. Distance-weighted: each
/// neighbour votes 1/d; if some neighbours are at distance 0 only they vote, equally
/// (scikit-learn's `weights='distance'`). Ties again go to the smaller label.
pub(crate) fn vote<T: Float>(neighbours: &[(T, usize)], y_train: &[usize], rule: Vote) -> usize {
    let mut ballots: Vec<(usize, f64)> = match rule {
        Vote::Majority => neighbours.iter().map(|&(_, j)| (y_train[j], 1.0)).collect(),
        Vote::Distance => {
            let exact = neighbours.iter().any(|&(d, _)| d == T::zero());
            neighbours
                .iter()
                .map(|&(d, j)| {
                    let w = if exact {
                        if d == T::zero() { 1.0 } else { 0.0 }
                    } else {
                        1.0 / d.as_f64()
                    };
                    (y_train[j], w)
                })
                .collect()
        }
    };
    ballots.sort_unstable_by_key(|&(label, _)| label);
    let (mut best, mut best_score) = (ballots[0].0, f64::NEG_INFINITY);
    let mut i = 0;
    while i < ballots.len() {
        let label = ballots[i].0;
        let mut score = 0.0;
        while i < ballots.len() && ballots[i].0 == label {
            score += ballots[i].1;
            i += 1;
        }
        // Strictly greater: of equal scores the first, i.e. smaller, label stays.
        if score > best_score {
            best = label;
            best_score = score;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(row: &[f64], k: usize) -> Vec<(f64, usize)> {
        let mut all: Vec<(f64, usize)> = row.iter().copied().zip(0..).collect();
        all.sort_by(by_distance_then_index);
        all.truncate(k);
        all
    }

    #[test]
    fn topk_equals_sorting_with_ties_and_tiles() {
        let mut rng = numeric::rng(5);
        for k in [1, 2, 7, 50] {
            // Few distinct values, so exact ties are everywhere.
            let row: Vec<f64> = numeric::randn::<f64, _, _>(1000, &mut rng)
                .iter()
                .map(|v| (v * 3.0).round())
                .collect();
            let mut top = TopK::new(k);
            for (t, chunk) in row.chunks(97).enumerate() {
                top.push_row(chunk, t * 97);
            }
            assert_eq!(top.finish(), brute(&row, k), "k = {k}");
        }
    }

    #[test]
    fn topk_with_fewer_values_than_k_returns_all_sorted() {
        let mut top = TopK::new(5);
        top.push_row(&[3.0, 1.0, 2.0], 0);
        assert_eq!(top.finish(), vec![(1.0, 1), (2.0, 2), (3.0, 0)]);
    }

    #[test]
    fn majority_tie_goes_to_smaller_label() {
        let y = [4, 2, 4, 2, 9];
        let n: Vec<(f64, usize)> = (0..5).map(|j| (j as f64, j)).collect();
        // Labels 4, 2, 4, 2: two votes each, 2 wins.
        assert_eq!(vote(&n[..4], &y, Vote::Majority), 2);
        // k = 1 is the nearest's label.
        assert_eq!(vote(&n[..1], &y, Vote::Majority), 4);
        assert_eq!(vote(&n[..3], &y, Vote::Majority), 4);
    }

    #[test]
    fn weighted_vote_prefers_near_neighbours_and_exact_matches() {
        let y = [0, 1, 1];
        // One neighbour at 1 against two at 3: 1 > 2/3.
        assert_eq!(vote(&[(1.0, 0), (3.0, 1), (3.0, 2)], &y, Vote::Distance), 0);
        assert_eq!(vote(&[(1.0, 0), (3.0, 1), (3.0, 2)], &y, Vote::Majority), 1);
        // Two at 1.5 beat one at 1: 4/3 > 1.
        assert_eq!(vote(&[(1.0, 0), (1.5, 1), (1.5, 2)], &y, Vote::Distance), 1);
        // A duplicate of the query decides alone.
        assert_eq!(
            vote(&[(0.0_f32, 0), (0.1, 1), (0.1, 2)], &y, Vote::Distance),
            0
        );
    }
}
