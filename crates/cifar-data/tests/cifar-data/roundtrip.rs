//! Any dataset written in either format reads back identical.

use cifar_data::{
    Dataset, FASHION_MNIST_CLASSES, load_cifar10, load_fashion_mnist, read_cifar_batch, read_idx,
    write_cifar_batch, write_cifar10, write_idx, write_mnist,
};
use ndarray::{Array1, Array4, ArrayD, Dimension, IxDyn};
use proptest::prelude::*;

fn classes(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// `n` images of shape (c, h, w) with arbitrary pixels and labels below `k`.
fn dataset(
    n: std::ops::Range<usize>,
    c: usize,
    h: usize,
    w: usize,
    k: u8,
) -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    n.prop_flat_map(move |n| {
        (
            proptest::collection::vec(any::<u8>(), n * c * h * w),
            proptest::collection::vec(0..k, n),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn cifar_batch_round_trip((pixels, labels) in dataset(0..6, 3, 32, 32, 10)) {
        let n = labels.len();
        let images = Array4::from_shape_vec((n, 3, 32, 32), pixels).unwrap();
        let labels = Array1::from(labels);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.bin");
        write_cifar_batch(&path, &images.view(), &labels.view()).unwrap();
        prop_assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, n * 3073);
        if n > 0 {
            let ds = read_cifar_batch(&path, (0..10).map(|i| i.to_string()).collect()).unwrap();
            prop_assert_eq!(ds.images, images);
            prop_assert_eq!(ds.labels, labels);
        }
    }

    #[test]
    fn cifar10_folder_round_trip(
        (tp, tl) in dataset(5..12, 3, 32, 32, 10),
        (sp, sl) in dataset(1..4, 3, 32, 32, 10),
    ) {
        let names = classes(&cifar_data::CIFAR10_CLASSES);
        let train = Dataset::new(Array4::from_shape_vec((tl.len(), 3, 32, 32), tp).unwrap(), Array1::from(tl), names.clone()).unwrap();
        let test = Dataset::new(Array4::from_shape_vec((sl.len(), 3, 32, 32), sp).unwrap(), Array1::from(sl), names).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_cifar10(dir.path(), &train, &test).unwrap();
        let (a, b) = load_cifar10(dir.path()).unwrap();
        prop_assert_eq!(a, train);
        prop_assert_eq!(b, test);
    }

    #[test]
    fn mnist_round_trip(
        (tp, tl) in dataset(0..5, 1, 7, 5, 10),
        (sp, sl) in dataset(0..5, 1, 7, 5, 10),
        gzip in any::<bool>(),
    ) {
        let names = classes(&FASHION_MNIST_CLASSES);
        let train = Dataset::new(Array4::from_shape_vec((tl.len(), 1, 7, 5), tp).unwrap(), Array1::from(tl), names.clone()).unwrap();
        let test = Dataset::new(Array4::from_shape_vec((sl.len(), 1, 7, 5), sp).unwrap(), Array1::from(sl), names).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_mnist(dir.path(), &train, &test, gzip).unwrap();
        let (a, b) = load_fashion_mnist(dir.path()).unwrap();
        prop_assert_eq!(a, train);
        prop_assert_eq!(b, test);
    }

    #[test]
    fn idx_round_trip_any_rank(
        shape in proptest::collection::vec(0usize..5, 0..4),
        seed in any::<u8>(),
        gzip in any::<bool>(),
    ) {
        let a = ArrayD::from_shape_fn(IxDyn(&shape), |i| {
            i.slice().iter().fold(seed, |acc, &x| acc.wrapping_mul(31).wrapping_add(x as u8))
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if gzip { "a.gz" } else { "a" });
        write_idx(&path, &a.view()).unwrap();
        prop_assert_eq!(read_idx(&path).unwrap(), a);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary bytes are an error or a dataset, never a panic, in either reader.
    #[test]
    fn arbitrary_bytes_never_panic(
        head in proptest::collection::vec(any::<u8>(), 0..24),
        tail in proptest::collection::vec(any::<u8>(), 0..4000),
        idx_like in any::<bool>(),
    ) {
        let mut bytes = if idx_like { vec![0u8, 0, 8] } else { Vec::new() };
        bytes.extend(head);
        bytes.extend(tail);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &bytes).unwrap();
        let _ = read_idx(&path);
        let cifar = read_cifar_batch(&path, (0..10).map(|i| i.to_string()).collect());
        if bytes.is_empty() || bytes.len() % 3073 != 0 {
            prop_assert!(cifar.is_err());
        }
    }
}
