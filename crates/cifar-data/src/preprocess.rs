//! The course's `get_CIFAR10_data`: split, subsample, centre, (normalise), bias trick.

use ndarray::{Array1, Array2, Array4, Axis, s};
use numeric::Float;

use crate::{DataError, Dataset};

/// How many examples each split gets.
///
/// As in the course: training and validation come from the first `num_training +
/// num_validation` training images (validation = the last ones, per class when
/// [`Preprocess::stratify`] is on), test = the first `num_test` test images, and dev =
/// a random `num_dev` of the training split (for quick gradient checks).
///
/// # Example
/// ```
/// use cifar_data::SplitSizes;
/// // The course's defaults do not fit the 5 000-image sample: fit() shrinks them.
/// let fit = SplitSizes::default().fit(5000, 1000).unwrap();
/// assert_eq!((fit.num_training, fit.num_validation, fit.num_test), (4500, 500, 1000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitSizes {
    /// Training examples (course: 49 000).
    pub num_training: usize,
    /// Validation examples, taken right after the training ones (course: 1 000).
    pub num_validation: usize,
    /// Test examples (course: 1 000).
    pub num_test: usize,
    /// Random subset of the training split (course: 500 in the linear notebooks; 0 = none).
    pub num_dev: usize,
}

impl Default for SplitSizes {
    fn default() -> Self {
        SplitSizes {
            num_training: 49_000,
            num_validation: 1_000,
            num_test: 1_000,
            num_dev: 0,
        }
    }
}

impl SplitSizes {
    /// Shrinks the sizes to what `train_len` / `test_len` images can provide: when
    /// training + validation do not fit, validation keeps at most a tenth of the data
    /// (at least one image if any was asked) and training gets the rest; test and dev
    /// are capped. Errors when a requested split would end up empty.
    ///
    /// # Example
    /// ```
    /// use cifar_data::SplitSizes;
    /// let want = SplitSizes { num_training: 100, num_validation: 10, num_test: 10, num_dev: 0 };
    /// assert_eq!(want.fit(1000, 1000).unwrap(), want); // fits: unchanged
    /// assert!(want.fit(1, 10).is_err()); // one image cannot be both train and validation
    /// ```
    pub fn fit(&self, train_len: usize, test_len: usize) -> Result<SplitSizes, DataError> {
        let mut out = *self;
        if out.num_training + out.num_validation > train_len {
            let tenth = (train_len / 10).max(usize::from(train_len >= 2));
            out.num_validation = out.num_validation.min(tenth);
            out.num_training = out.num_training.min(train_len - out.num_validation);
        }
        out.num_test = out.num_test.min(test_len);
        out.num_dev = out.num_dev.min(out.num_training);
        for (name, asked, have) in [
            ("training", self.num_training, out.num_training),
            ("validation", self.num_validation, out.num_validation),
            ("test", self.num_test, out.num_test),
        ] {
            if asked > 0 && have == 0 {
                return Err(DataError::Split(format!(
                    "{asked} {name} examples asked but the data leaves none ({train_len} training and {test_len} test images available)"
                )));
            }
        }
        Ok(out)
    }

    /// Checks that the sizes fit exactly, without shrinking.
    fn check(&self, train_len: usize, test_len: usize) -> Result<(), DataError> {
        if self.num_training + self.num_validation > train_len {
            return Err(DataError::Split(format!(
                "{} training + {} validation examples asked but the training set has {train_len} images",
                self.num_training, self.num_validation
            )));
        }
        if self.num_test > test_len {
            return Err(DataError::Split(format!(
                "{} test examples asked but the test set has {test_len} images",
                self.num_test
            )));
        }
        if self.num_dev > self.num_training {
            return Err(DataError::Split(format!(
                "{} dev examples asked but the training split has {}",
                self.num_dev, self.num_training
            )));
        }
        Ok(())
    }
}

/// What [`preprocess`] does.
///
/// # Example
/// ```
/// use cifar_data::Preprocess;
/// let p = Preprocess { bias: true, ..Preprocess::default() };
/// assert!(p.subtract_mean && p.clamp && !p.normalize_channels);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// Split sizes.
    pub sizes: SplitSizes,
    /// Shrink `sizes` to the data ([`SplitSizes::fit`]) instead of failing.
    pub clamp: bool,
    /// Subtract the training split's mean image from every split (course: yes).
    pub subtract_mean: bool,
    /// Then divide each channel by its standard deviation over the training split
    /// (after centring it on its training mean).
    pub normalize_channels: bool,
    /// Append a column of ones, so the bias lives in `W`'s last row (the bias trick).
    pub bias: bool,
    /// Seed for the random dev subset.
    pub seed: u64,
    /// Take the validation split per class (see [`split_indices`]) rather than as the
    /// course's one block after the training images, so every class is in it in
    /// proportion to the data, whatever order the file keeps its images in (the
    /// bundled sample's last 500 images hold 89 T-shirts and 3 trousers).
    pub stratify: bool,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess {
            sizes: SplitSizes::default(),
            clamp: true,
            subtract_mean: true,
            normalize_channels: false,
            bias: false,
            seed: 0,
            stratify: true,
        }
    }
}

/// The prepared splits: row matrices (N, D) (D + 1 with the bias column) and labels.
#[derive(Debug, Clone)]
pub struct Splits<T> {
    /// Training rows.
    pub x_train: Array2<T>,
    /// Training labels.
    pub y_train: Array1<usize>,
    /// Validation rows.
    pub x_val: Array2<T>,
    /// Validation labels.
    pub y_val: Array1<usize>,
    /// Test rows.
    pub x_test: Array2<T>,
    /// Test labels.
    pub y_test: Array1<usize>,
    /// Dev rows (a random subset of the training rows, already preprocessed).
    pub x_dev: Array2<T>,
    /// Dev labels.
    pub y_dev: Array1<usize>,
    /// What was fitted on the training split and applied to every split: apply it to
    /// new images (a user's photo) to prepare them the same way.
    pub transform: Transform<T>,
    /// The sizes actually used.
    pub sizes: SplitSizes,
    /// True when `sizes` were shrunk to fit the data.
    pub clamped: bool,
    /// Class names.
    pub classes: Vec<String>,
}

/// The preprocessing [`preprocess`] fitted on the training split: raw pixel rows
/// (0..255) in, model input rows out. Keeping it (a model file does) prepares any
/// later image exactly as the training data was, which a classifier needs: its
/// weights only make sense for inputs centred on the same mean image.
///
/// # Example
/// ```
/// use cifar_data::Transform;
/// use ndarray::array;
/// let t = Transform {
///     image_shape: (1, 1, 2),
///     mean_image: array![10.0f32, 20.0],
///     channel_stats: None,
///     bias: true,
/// };
/// assert_eq!(t.apply(array![[11.0, 18.0]]).unwrap(), array![[1.0, -2.0, 1.0]]);
/// assert!(t.apply(array![[1.0, 2.0, 3.0]]).is_err()); // not 2 pixels per row
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Transform<T> {
    /// Shape of one image, (C, H, W).
    pub image_shape: (usize, usize, usize),
    /// The training split's mean image (D values, (C, H, W) order, 0..255 scale),
    /// subtracted first; zeros when `subtract_mean` is off. Add it back to show an image.
    pub mean_image: Array1<T>,
    /// Per-channel (mean, std) of the centred training split, divided out when
    /// `normalize_channels` is on.
    pub channel_stats: Option<(Array1<T>, Array1<T>)>,
    /// Whether a column of ones is appended (the bias trick).
    pub bias: bool,
}

impl<T: Float> Transform<T> {
    /// Pixel rows (N, C·H·W) to model input rows: centred on the mean image, channels
    /// normalised, then the bias column appended. Rows of another width are an error.
    pub fn apply(&self, mut x: Array2<T>) -> Result<Array2<T>, DataError> {
        let d = self.mean_image.len();
        if x.ncols() != d {
            return Err(DataError::Invalid(format!(
                "rows of {} values given to a preprocessing fitted on {d} ({:?} images)",
                x.ncols(),
                self.image_shape
            )));
        }
        self.centre(&mut x);
        self.normalize(&mut x);
        Ok(self.with_bias(x))
    }

    fn centre(&self, x: &mut Array2<T>) {
        *x -= &self.mean_image;
    }

    fn normalize(&self, x: &mut Array2<T>) {
        let Some((mu, sd)) = &self.channel_stats else {
            return;
        };
        let (c, h, w) = self.image_shape;
        for ch in 0..c {
            x.slice_mut(s![.., ch * h * w..(ch + 1) * h * w])
                .mapv_inplace(|v| (v - mu[ch]) / sd[ch]);
        }
    }

    fn with_bias(&self, x: Array2<T>) -> Array2<T> {
        if !self.bias {
            return x;
        }
        // Built row-major (as concatenate along axis 1 is not): minibatch gathers then
        // read whole rows, one cache line after another.
        let d = x.ncols();
        let mut with_bias = Array2::<T>::ones((x.nrows(), d + 1));
        with_bias.slice_mut(s![.., ..d]).assign(&x);
        with_bias
    }
}

impl<T: Float> Splits<T> {
    /// Reshapes rows (N, D) back to images (N, C, H, W), e.g. for a convolutional net;
    /// fails when the bias column was appended.
    ///
    /// # Example
    /// ```
    /// use cifar_data::{preprocess, Dataset, Preprocess, SplitSizes};
    /// use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((6, 3, 2, 2)), Array1::zeros(6), vec!["a".into()]).unwrap();
    /// let cfg = Preprocess { sizes: SplitSizes { num_training: 4, num_validation: 1, num_test: 2, num_dev: 0 }, ..Default::default() };
    /// let sp = preprocess::<f32>(&ds, &ds, &cfg).unwrap();
    /// assert_eq!(sp.to_images(&sp.x_train).unwrap().dim(), (4, 3, 2, 2));
    /// ```
    pub fn to_images(&self, x: &Array2<T>) -> Result<Array4<T>, DataError> {
        let (c, h, w) = self.transform.image_shape;
        if self.transform.bias || x.ncols() != c * h * w {
            return Err(DataError::Invalid(format!(
                "rows of width {} are not {c}×{h}×{w} images{}",
                x.ncols(),
                if self.transform.bias {
                    " (the bias column is appended)"
                } else {
                    ""
                }
            )));
        }
        Ok(x.as_standard_layout()
            .into_owned()
            .into_shape_with_order((x.nrows(), c, h, w))
            .expect("width checked"))
    }
}

/// Prepares the data as the course's `get_CIFAR10_data` does: split, subsample,
/// subtract the training mean image from all splits, optionally normalise channels and
/// append the bias column.
///
/// # Example
/// ```
/// use cifar_data::{preprocess, Dataset, Preprocess, SplitSizes};
/// use ndarray::{Array1, Array4};
/// let images = Array4::from_shape_fn((10, 1, 2, 2), |(n, _, _, _)| n as u8);
/// let ds = Dataset::new(images, Array1::zeros(10), vec!["a".into()]).unwrap();
/// let cfg = Preprocess {
///     sizes: SplitSizes { num_training: 8, num_validation: 2, num_test: 3, num_dev: 0 },
///     bias: true,
///     ..Default::default()
/// };
/// let sp = preprocess::<f64>(&ds, &ds, &cfg).unwrap();
/// assert_eq!(sp.x_train.dim(), (8, 5));               // 4 pixels + bias
/// assert_eq!(sp.transform.mean_image[0], 3.5);        // mean of 0..8, training only
/// assert_eq!(sp.x_val[[0, 0]], 8.0 - 3.5);            // validation centred on it
/// assert_eq!(sp.x_test[[0, 4]], 1.0);                 // bias column
/// ```
pub fn preprocess<T: Float>(
    train: &Dataset,
    test: &Dataset,
    cfg: &Preprocess,
) -> Result<Splits<T>, DataError> {
    if train.image_shape() != test.image_shape() {
        return Err(DataError::Invalid(format!(
            "training images are {:?} but test images are {:?}",
            train.image_shape(),
            test.image_shape()
        )));
    }
    let sizes = if cfg.clamp {
        cfg.sizes.fit(train.len(), test.len())?
    } else {
        cfg.sizes.check(train.len(), test.len())?;
        cfg.sizes
    };
    let SplitSizes {
        num_training: tr,
        num_validation: va,
        num_test: te,
        num_dev: dv,
    } = sizes;
    let (train_idx, val_idx) = if cfg.stratify {
        let pool: Vec<u8> = train.labels.iter().take(tr + va).copied().collect();
        split_indices(&pool, va)
    } else {
        ((0..tr).collect(), (tr..tr + va).collect())
    };
    let train_part = train.select(&train_idx)?;
    let val_part = train.select(&val_idx)?;
    let mut x_train = train_part.to_rows::<T>();
    let x_val = val_part.to_rows::<T>();
    let x_test = test.slice(0..te)?.to_rows::<T>();
    let y_train = train_part.labels_usize();
    let y_val = val_part.labels_usize();
    let y_test = test.labels.slice(s![..te]).mapv(|l| l as usize);

    // Statistics come from the training split only (the validation and test images
    // stay unseen), the mean first, then the channels of the centred images.
    let image_shape = train.image_shape();
    let (c, h, w) = image_shape;
    let mut transform = Transform {
        image_shape,
        mean_image: if cfg.subtract_mean {
            column_means(&x_train)
        } else {
            Array1::zeros(train.dim())
        },
        channel_stats: None,
        bias: false,
    };
    transform.centre(&mut x_train);
    if cfg.normalize_channels {
        transform.channel_stats = Some(channel_stats(&x_train, c, h * w));
        transform.normalize(&mut x_train);
    }
    transform.bias = cfg.bias;
    let x_train = transform.with_bias(x_train);
    let x_val = transform.apply(x_val)?;
    let x_test = transform.apply(x_test)?;

    let dev_idx: Vec<usize> = if dv > 0 {
        let mut rng = numeric::rng(cfg.seed);
        rand::seq::index::sample(&mut rng, tr, dv).into_vec()
    } else {
        Vec::new()
    };
    let x_dev = x_train.select(Axis(0), &dev_idx);
    let y_dev = y_train.select(Axis(0), &dev_idx);

    Ok(Splits {
        x_train,
        y_train,
        x_val,
        y_val,
        x_test,
        y_test,
        x_dev,
        y_dev,
        transform,
        sizes,
        clamped: sizes != cfg.sizes,
        classes: train.classes.clone(),
    })
}

/// Splits the images labelled `labels` into (training, validation) index lists, with
/// `num_validation` validation images chosen per class: each class gets its share of
/// the validation split in proportion to its count (largest remainders, ties to the
/// smaller label), taken from its last images. Both lists keep the file's order, and
/// nothing random is involved, so the split is the same on every run.
///
/// # Example
/// ```
/// use cifar_data::split_indices;
/// // Sorted by class: the course's "last 2 images" would both be class 1.
/// let labels = [0, 0, 0, 0, 1, 1, 1, 1];
/// let (train, val) = split_indices(&labels, 2);
/// assert_eq!(val, vec![3, 7]); // the last image of each class
/// assert_eq!(train, vec![0, 1, 2, 4, 5, 6]);
/// ```
pub fn split_indices(labels: &[u8], num_validation: usize) -> (Vec<usize>, Vec<usize>) {
    let n = labels.len();
    let va = num_validation.min(n);
    let mut counts = [0usize; 256];
    for &l in labels {
        counts[l as usize] += 1;
    }
    // Hamilton's method: floors first, then one more for the largest remainders.
    let mut quota: Vec<usize> = counts.iter().map(|&c| c * va / n.max(1)).collect();
    let mut order: Vec<usize> = (0..256).filter(|&c| counts[c] > 0).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(counts[c] * va % n.max(1)), c));
    let short = va - quota.iter().sum::<usize>();
    for &c in order.iter().take(short) {
        quota[c] += 1;
    }
    // Walk backwards so each class gives up its last images.
    let mut is_val = vec![false; n];
    for i in (0..n).rev() {
        let c = labels[i] as usize;
        if quota[c] > 0 {
            quota[c] -= 1;
            is_val[i] = true;
        }
    }
    (0..n).partition(|&i| !is_val[i])
}

/// Mean of each column, accumulated in `f64` so 49 000 `f32` rows lose nothing.
fn column_means<T: Float>(x: &Array2<T>) -> Array1<T> {
    let n = x.nrows().max(1) as f64;
    let mut acc = vec![0.0f64; x.ncols()];
    for row in x.rows() {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v.as_f64();
        }
    }
    acc.into_iter().map(|a| T::cast(a / n)).collect()
}

/// Mean and standard deviation of each channel block of `hw` columns (a zero standard
/// deviation becomes 1, so a constant channel stays finite).
fn channel_stats<T: Float>(x: &Array2<T>, c: usize, hw: usize) -> (Array1<T>, Array1<T>) {
    let count = (x.nrows() * hw).max(1) as f64;
    let mut mu = Array1::zeros(c);
    let mut sd = Array1::zeros(c);
    for ch in 0..c {
        let block = x.slice(s![.., ch * hw..(ch + 1) * hw]);
        let m = block.iter().map(|v| v.as_f64()).sum::<f64>() / count;
        let var = block.iter().map(|v| (v.as_f64() - m).powi(2)).sum::<f64>() / count;
        mu[ch] = T::cast(m);
        sd[ch] = T::cast(if var > 0.0 { var.sqrt() } else { 1.0 });
    }
    (mu, sd)
}
