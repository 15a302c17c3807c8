//! The course's get_CIFAR10_data: splits, centring on the training mean, bias trick,
//! normalisation, clamping; and dataset resolution.

use cifar_data::{
    DataError, DataSource, Dataset, DatasetChoice, DatasetKind, Preprocess, SplitSizes, preprocess,
    write_cifar10,
};
use ndarray::{Array1, Array4, Axis, s};

/// 20 train images whose pixels encode their index, 6 test images, 3×2×2.
fn data() -> (Dataset, Dataset) {
    let classes: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    let img = |n, off| {
        Array4::from_shape_fn((n, 3, 2, 2), |(i, c, h, w)| {
            (off + i * 10 + c * 4 + h * 2 + w) as u8
        })
    };
    let train = Dataset::new(
        img(20, 0),
        Array1::from_iter((0..20).map(|i| (i % 10) as u8)),
        classes.clone(),
    )
    .unwrap();
    let test = Dataset::new(
        img(6, 50),
        Array1::from_iter((0..6).map(|i| i as u8)),
        classes,
    )
    .unwrap();
    (train, test)
}

fn sizes(tr: usize, va: usize, te: usize, dv: usize) -> SplitSizes {
    SplitSizes {
        num_training: tr,
        num_validation: va,
        num_test: te,
        num_dev: dv,
    }
}

#[test]
fn splits_follow_the_course_order_and_mean_is_from_train_only() {
    let (train, test) = data();
    let cfg = Preprocess {
        sizes: sizes(15, 3, 4, 0),
        stratify: false,
        ..Default::default()
    };
    let sp = preprocess::<f64>(&train, &test, &cfg).unwrap();
    assert_eq!(
        (sp.x_train.nrows(), sp.x_val.nrows(), sp.x_test.nrows()),
        (15, 3, 4)
    );
    assert_eq!(sp.y_val.to_vec(), vec![5, 6, 7]); // images 15..18
    assert_eq!(sp.y_test.to_vec(), vec![0, 1, 2, 3]);
    // Mean image of images 0..15 only: pixel d is 10·7 + d.
    let raw_train = train.to_rows::<f64>();
    let expected_mean = raw_train.slice(s![..15, ..]).mean_axis(Axis(0)).unwrap();
    assert_eq!(sp.transform.mean_image, expected_mean);
    assert_eq!(sp.transform.mean_image[0], 70.0);
    // Every split is centred on that same mean.
    let raw_val = raw_train.slice(s![15..18, ..]).to_owned() - &expected_mean;
    assert_eq!(sp.x_val, raw_val);
    let raw_test = test.to_rows::<f64>().slice(s![..4, ..]).to_owned() - &expected_mean;
    assert_eq!(sp.x_test, raw_test);
    // The training split is centred: its column means are zero.
    assert!(
        sp.x_train
            .mean_axis(Axis(0))
            .unwrap()
            .iter()
            .all(|m| m.abs() < 1e-12)
    );
    assert!(!sp.clamped);
}

#[test]
fn stratified_validation_takes_each_class_in_proportion() {
    // 40 images sorted by class (10 of each of 4 classes): the course's block split
    // would validate on class 3 alone.
    let classes: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
    let n = 40;
    let images = Array4::from_shape_fn((n, 1, 1, 1), |(i, ..)| i as u8);
    let labels = Array1::from_iter((0..n).map(|i| (i / 10) as u8));
    let train = Dataset::new(images, labels, classes).unwrap();
    let cfg = Preprocess {
        sizes: sizes(32, 8, 4, 0),
        subtract_mean: false,
        ..Default::default()
    };
    let sp = preprocess::<f64>(&train, &train, &cfg).unwrap();
    assert_eq!(sp.y_val.to_vec(), vec![0, 0, 1, 1, 2, 2, 3, 3]);
    // The last two images of each class, in the file's order.
    let val_pixels: Vec<f64> = sp.x_val.column(0).to_vec();
    assert_eq!(val_pixels, vec![8., 9., 18., 19., 28., 29., 38., 39.]);
    // Training keeps the rest, no image in both.
    assert_eq!(sp.x_train.nrows(), 32);
    assert!(sp.x_train.column(0).iter().all(|p| !val_pixels.contains(p)));
    let block = Preprocess {
        stratify: false,
        ..cfg
    };
    let sp = preprocess::<f64>(&train, &train, &block).unwrap();
    assert_eq!(sp.y_val.to_vec(), vec![3; 8]);
}

#[test]
fn uneven_classes_share_the_validation_split_by_largest_remainder() {
    // Counts 5, 3, 2 of 10 images; 4 for validation: quotas 2.0, 1.2, 0.8 -> 2, 1, 1.
    let labels = [0, 1, 0, 2, 0, 1, 0, 2, 0, 1];
    let (train, val) = cifar_data::split_indices(&labels, 4);
    assert_eq!(val, vec![6, 7, 8, 9]);
    assert_eq!(train, vec![0, 1, 2, 3, 4, 5]);
    let (train, val) = cifar_data::split_indices(&labels, 0);
    assert_eq!((train.len(), val.len()), (10, 0));
    let (train, val) = cifar_data::split_indices(&labels, 10);
    assert_eq!((train.len(), val.len()), (0, 10));
}

#[test]
fn the_bundled_samples_validation_split_is_balanced() {
    let src = DataSource::resolve(DatasetChoice::Sample, cifar_data::default_data_dir()).unwrap();
    let (train, test) = src.load().unwrap();
    let sp = preprocess::<f32>(&train, &test, &Preprocess::default()).unwrap();
    assert_eq!(sp.y_val.len(), 500);
    let mut counts = [0usize; 10];
    for &y in &sp.y_val {
        counts[y] += 1;
    }
    // 500 of each class in the sample: 50 of each in validation, 450 in training.
    assert_eq!(counts, [50; 10]);
    assert!(train.class_counts().iter().all(|&c| c == 500));
}

#[test]
fn bias_trick_appends_a_column_of_ones() {
    let (train, test) = data();
    let cfg = Preprocess {
        sizes: sizes(10, 2, 3, 0),
        bias: true,
        ..Default::default()
    };
    let sp = preprocess::<f32>(&train, &test, &cfg).unwrap();
    for x in [&sp.x_train, &sp.x_val, &sp.x_test] {
        assert_eq!(x.ncols(), 13);
        assert!(x.column(12).iter().all(|&v| v == 1.0));
    }
    assert_eq!(sp.transform.mean_image.len(), 12);
    assert!(sp.to_images(&sp.x_train).is_err());
}

#[test]
fn channel_normalisation_gives_unit_variance_on_train() {
    let (train, test) = data();
    let cfg = Preprocess {
        sizes: sizes(20, 0, 6, 0),
        normalize_channels: true,
        ..Default::default()
    };
    let sp = preprocess::<f64>(&train, &test, &cfg).unwrap();
    let (mu, sd) = sp.transform.channel_stats.clone().unwrap();
    assert_eq!(mu.len(), 3);
    assert!(sd.iter().all(|&v| v > 0.0));
    for ch in 0..3 {
        let block = sp.x_train.slice(s![.., ch * 4..(ch + 1) * 4]);
        let n = block.len() as f64;
        let mean = block.sum() / n;
        let var = block.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        assert!(
            mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-9,
            "channel {ch}: {mean} {var}"
        );
    }
}

#[test]
fn without_mean_subtraction_rows_are_raw_pixels() {
    let (train, test) = data();
    let cfg = Preprocess {
        sizes: sizes(5, 1, 1, 0),
        subtract_mean: false,
        stratify: false,
        ..Default::default()
    };
    let sp = preprocess::<f32>(&train, &test, &cfg).unwrap();
    assert_eq!(sp.x_train, train.slice(0..5).unwrap().to_rows::<f32>());
    assert!(sp.transform.mean_image.iter().all(|&m| m == 0.0));
}

#[test]
fn f32_and_f64_agree() {
    let (train, test) = data();
    let cfg = Preprocess {
        sizes: sizes(17, 3, 6, 0),
        normalize_channels: true,
        bias: true,
        ..Default::default()
    };
    let a = preprocess::<f32>(&train, &test, &cfg).unwrap();
    let b = preprocess::<f64>(&train, &test, &cfg).unwrap();
    let diff = (a.x_test.mapv(f64::from) - &b.x_test)
        .mapv(f64::abs)
        .fold(0.0f64, |m, &v| m.max(v));
    assert!(diff < 1e-5, "{diff}");
}

#[test]
fn dev_subset_is_seeded_rows_of_train() {
    let (train, test) = data();
    let cfg = Preprocess {
        sizes: sizes(15, 3, 4, 5),
        seed: 7,
        ..Default::default()
    };
    let a = preprocess::<f64>(&train, &test, &cfg).unwrap();
    let b = preprocess::<f64>(&train, &test, &cfg).unwrap();
    assert_eq!(a.x_dev.nrows(), 5);
    assert_eq!(a.x_dev, b.x_dev);
    for (row, &y) in a.x_dev.rows().into_iter().zip(&a.y_dev) {
        let i = a
            .x_train
            .rows()
            .into_iter()
            .position(|r| r == row)
            .expect("dev row is a train row");
        assert_eq!(a.y_train[i], y);
    }
    let c = preprocess::<f64>(&train, &test, &Preprocess { seed: 8, ..cfg }).unwrap();
    assert_ne!(a.x_dev, c.x_dev);
}

#[test]
fn defaults_are_clamped_for_small_data_and_errors_are_clear() {
    let (train, test) = data();
    let sp = preprocess::<f32>(&train, &test, &Preprocess::default()).unwrap();
    assert!(sp.clamped);
    assert_eq!(
        (
            sp.sizes.num_training,
            sp.sizes.num_validation,
            sp.sizes.num_test
        ),
        (18, 2, 6)
    );
    // Exact sizes that do not fit, without clamping: an error that says why.
    let cfg = Preprocess {
        clamp: false,
        ..Default::default()
    };
    let err = preprocess::<f32>(&train, &test, &cfg).unwrap_err();
    assert!(matches!(err, DataError::Split(_)));
    assert!(
        err.to_string().contains("training set has 20 images"),
        "{err}"
    );
    // Impossible even when clamping: one image cannot give a training and a validation split.
    let one = train.slice(0..1).unwrap();
    assert!(preprocess::<f32>(&one, &test, &Preprocess::default()).is_err());
    let none = test.slice(0..0).unwrap();
    assert!(preprocess::<f32>(&train, &none, &Preprocess::default()).is_err());
    // Shapes that disagree.
    let other = Dataset::new(
        Array4::zeros((3, 1, 2, 2)),
        Array1::zeros(3),
        train.classes.clone(),
    )
    .unwrap();
    assert!(matches!(
        preprocess::<f32>(&train, &other, &Preprocess::default()),
        Err(DataError::Invalid(_))
    ));
}

#[test]
fn auto_prefers_fetched_cifar10_over_the_sample() {
    let (train, test) = data();
    let dir = tempfile::tempdir().unwrap();
    let src = DataSource::resolve(DatasetChoice::Auto, dir.path()).unwrap();
    assert_eq!((src.kind, src.fell_back), (DatasetKind::Sample, true));
    assert!(src.notice().contains("cargo xtask fetch-data"));
    // Put a (tiny, 32×32) CIFAR-10 there.
    let img = |d: &Dataset| {
        Dataset::new(
            Array4::from_elem((d.len(), 3, 32, 32), 1),
            d.labels.clone(),
            d.classes.clone(),
        )
        .unwrap()
    };
    write_cifar10(dir.path(), &img(&train), &img(&test)).unwrap();
    let src = DataSource::resolve(DatasetChoice::Auto, dir.path()).unwrap();
    assert_eq!((src.kind, src.fell_back), (DatasetKind::Cifar10, false));
    let (a, b) = src.load().unwrap();
    assert_eq!((a.len(), b.len()), (20, 6));
    assert_eq!(
        DataSource::resolve(DatasetChoice::Cifar10, dir.path())
            .unwrap()
            .kind,
        DatasetKind::Cifar10
    );
    assert!(DataSource::resolve(DatasetChoice::FashionMnist, dir.path()).is_err());
}

#[test]
fn bundled_sample_is_balanced_fashion_mnist() {
    let src = DataSource::resolve(DatasetChoice::Sample, "/nonexistent").unwrap();
    let (train, test) = src.load().unwrap();
    assert_eq!(train.class_counts(), vec![500; 10]);
    assert_eq!(test.class_counts(), vec![100; 10]);
    assert_eq!(train.image_shape(), (1, 28, 28));
    assert_eq!(train.classes[9], "Ankle boot");
}

#[test]
fn the_fitted_transform_prepares_new_rows_as_the_splits_were() {
    let (train, test) = data();
    for (normalize_channels, bias) in [(false, false), (true, false), (true, true)] {
        let cfg = Preprocess {
            sizes: sizes(12, 3, 6, 0),
            normalize_channels,
            bias,
            stratify: false,
            ..Default::default()
        };
        let sp = preprocess::<f64>(&train, &test, &cfg).unwrap();
        let raw_test = test.slice(0..6).unwrap().to_rows::<f64>();
        let again = sp.transform.apply(raw_test).unwrap();
        assert_eq!(
            again, sp.x_test,
            "normalize {normalize_channels}, bias {bias}"
        );
        let raw_val = train.slice(12..15).unwrap().to_rows::<f64>();
        assert_eq!(sp.transform.apply(raw_val).unwrap(), sp.x_val);
    }
    // Rows of another width are refused with the widths named.
    let sp = preprocess::<f32>(&train, &test, &Preprocess::default()).unwrap();
    let err = sp
        .transform
        .apply(ndarray::Array2::zeros((1, 5)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("5 values") && err.contains("12"), "{err}");
}
