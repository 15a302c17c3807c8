//! Invariants of the kNN classifier on random data (proptest).

use knn::{KNearestNeighbor, Metric, Vote};
use ndarray::{Array1, Array2, Axis};
use proptest::prelude::*;

/// ‖a − b‖_F / ‖b‖_F, the course's way of comparing distance matrices (made relative).
fn rel_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let num = (a - b).iter().map(|v| v * v).sum::<f64>().sqrt();
    let den = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    if den == 0.0 { num } else { num / den }
}

fn metric() -> impl Strategy<Value = Metric> {
    prop_oneof![Just(Metric::L1), Just(Metric::L2)]
}

fn three_paths<T: numeric::Float>(knn: &KNearestNeighbor<T>, x: &Array2<T>) -> [Array2<f64>; 3] {
    let v = x.view();
    [
        knn.compute_distances_two_loops(v).unwrap(),
        knn.compute_distances_one_loop(v).unwrap(),
        knn.compute_distances_no_loops(v).unwrap(),
    ]
    .map(|d| d.mapv(|e| e.as_f64()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn three_paths_agree_f64(n_test in 1usize..40, n_train in 1usize..60, d in 1usize..80,
                             metric in metric(), seed in 0u64..10_000) {
        let mut r = numeric::rng(seed);
        let x: Array2<f64> = numeric::randn((n_test, d), &mut r);
        let mut knn = KNearestNeighbor::new().with_metric(metric);
        knn.train_owned(numeric::randn((n_train, d), &mut r), Array1::zeros(n_train)).unwrap();
        let [two, one, none] = three_paths(&knn, &x);
        prop_assert!(rel_diff(&one, &two) < 1e-10, "one_loop vs two_loops {}", rel_diff(&one, &two));
        prop_assert!(rel_diff(&none, &two) < 1e-10, "no_loops vs two_loops {}", rel_diff(&none, &two));
    }

    #[test]
    fn three_paths_agree_f32(n_test in 1usize..40, n_train in 1usize..60, d in 1usize..80,
                             metric in metric(), seed in 0u64..10_000) {
        let mut r = numeric::rng(seed);
        let x: Array2<f32> = numeric::randn((n_test, d), &mut r);
        let mut knn = KNearestNeighbor::new().with_metric(metric);
        knn.train_owned(numeric::randn((n_train, d), &mut r), Array1::zeros(n_train)).unwrap();
        let [two, one, none] = three_paths(&knn, &x);
        prop_assert!(rel_diff(&one, &two) < 1e-4, "one_loop vs two_loops {}", rel_diff(&one, &two));
        prop_assert!(rel_diff(&none, &two) < 1e-4, "no_loops vs two_loops {}", rel_diff(&none, &two));
    }

    /// d(a, b) = d(b, a) and d(a, a) = 0. The loop paths compute each pair on its own,
    /// so they are exact; no_loops for L2 cancels ‖a‖² + ‖a‖² − 2a·a in floating point,
    /// where the error is relative to ‖a‖² (before the square root).
    #[test]
    fn symmetric_with_zero_diagonal(n in 1usize..40, d in 1usize..80, metric in metric(),
                                    seed in 0u64..10_000) {
        let x: Array2<f64> = numeric::randn((n, d), &mut numeric::rng(seed));
        let mut knn = KNearestNeighbor::new().with_metric(metric);
        knn.train(x.view(), Array1::zeros(n).view()).unwrap();
        let [two, one, none] = three_paths(&knn, &x);
        let scale = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        for (name, dists, tol) in [("two_loops", &two, 0.0), ("one_loop", &one, 0.0),
                                   ("no_loops", &none, 1e-6 * scale)] {
            let asym = (dists - &dists.t()).iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            let diag = dists.diag().iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            prop_assert!(asym <= tol, "{name}: asymmetry {asym}");
            prop_assert!(diag <= tol, "{name}: diagonal {diag}");
            prop_assert!(dists.iter().all(|v| *v >= 0.0), "{name}: negative distance");
        }
    }

    /// Permuting the training set changes indices, not predictions, whenever no two
    /// training examples are at exactly the same distance (random normal data).
    #[test]
    fn predictions_invariant_to_training_permutation(n_train in 2usize..80, d in 1usize..30,
                                                      k in 1usize..10, weighted: bool,
                                                      metric in metric(), seed in 0u64..10_000) {
        let k = k.min(n_train);
        let mut r = numeric::rng(seed);
        let x_train: Array2<f64> = numeric::randn((n_train, d), &mut r);
        let y_train = Array1::from_shape_fn(n_train, |i| (i * 7 + seed as usize) % 4);
        let x_test: Array2<f64> = numeric::randn((25, d), &mut r);
        let perm: Vec<usize> = {
            let keys: Array1<f64> = numeric::randn(n_train, &mut r);
            let mut p: Vec<usize> = (0..n_train).collect();
            p.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
            p
        };
        let vote = if weighted { Vote::Distance } else { Vote::Majority };
        let build = |x: Array2<f64>, y: Array1<usize>| {
            let mut knn = KNearestNeighbor::new().with_metric(metric).with_vote(vote);
            knn.train_owned(x, y).unwrap();
            knn
        };
        let a = build(x_train.clone(), y_train.clone());
        let b = build(x_train.select(Axis(0), &perm), y_train.select(Axis(0), &perm));
        let pa = a.predict(x_test.view(), k).unwrap();
        prop_assert_eq!(&pa, &b.predict(x_test.view(), k).unwrap());
        // The matrix route and the chunked route agree too.
        let dists = a.compute_distances_two_loops(x_test.view()).unwrap();
        prop_assert_eq!(&pa, &a.predict_labels(dists.view(), k).unwrap());
    }

    /// The bounded-memory search finds exactly the neighbours a full sort of the
    /// two-loops matrix finds, ties included (integer data has many).
    #[test]
    fn kneighbors_equal_full_sort(n_test in 1usize..30, n_train in 1usize..300, d in 1usize..12,
                                  k in 1usize..20, metric in metric(), seed in 0u64..10_000) {
        let k = k.min(n_train);
        let mut r = numeric::rng(seed);
        let x_train = numeric::randn::<f64, _, _>((n_train, d), &mut r).mapv(|v| v.round());
        let x_test = numeric::randn::<f64, _, _>((n_test, d), &mut r).mapv(|v| v.round());
        let mut knn = KNearestNeighbor::new().with_metric(metric);
        knn.train_owned(x_train, Array1::zeros(n_train)).unwrap();
        let nb = knn.kneighbors(x_test.view(), k).unwrap();
        let dists = knn.compute_distances_two_loops(x_test.view()).unwrap();
        for (i, row) in dists.outer_iter().enumerate() {
            let mut order: Vec<usize> = (0..n_train).collect();
            order.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
            prop_assert_eq!(nb.indices.row(i).to_vec(), order[..k].to_vec());
            for c in 0..k {
                prop_assert!((nb.distances[[i, c]] - row[order[c]]).abs() <= 1e-9 * (1.0 + row[order[c]]));
            }
        }
    }
}
