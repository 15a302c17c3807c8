//! [`Dataset`]: images kept as bytes, converted to floats per use.

use std::ops::Range;

use ndarray::{Array1, Array2, Array4, Axis};
use numeric::Float;

use crate::DataError;

/// A labelled image set: pixels as `u8` in (N, C, H, W), one label per image, class names.
///
/// Bytes, not floats: CIFAR-10 is 180 MB as `u8` and 720 MB as `f32`, and every
/// algorithm wants its own element type anyway, so conversion happens per use
/// ([`to_rows`](Self::to_rows), [`to_images`](Self::to_images)).
///
/// # Example
/// ```
/// use cifar_data::Dataset;
/// use ndarray::{Array1, Array4};
/// let images = Array4::<u8>::from_elem((3, 1, 2, 2), 7);
/// let labels = Array1::from(vec![0u8, 1, 1]);
/// let ds = Dataset::new(images, labels, vec!["a".into(), "b".into()]).unwrap();
/// assert_eq!(ds.len(), 3);
/// assert_eq!(ds.class_counts(), vec![1, 2]);
/// let rows = ds.to_rows::<f32>();
/// assert_eq!(rows.dim(), (3, 4));
/// assert_eq!(rows[[0, 0]], 7.0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Pixels, (N, C, H, W), values 0..=255.
    pub images: Array4<u8>,
    /// Class index of each image, each `< classes.len()`.
    pub labels: Array1<u8>,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
}

impl Dataset {
    /// Builds a dataset, checking that there is one label per image and every label
    /// names a class.
    ///
    /// # Example
    /// ```
    /// use cifar_data::Dataset;
    /// use ndarray::{Array1, Array4};
    /// let bad = Dataset::new(Array4::zeros((1, 1, 1, 1)), Array1::from(vec![3u8]), vec!["a".into()]);
    /// assert!(bad.is_err());
    /// ```
    pub fn new(
        images: Array4<u8>,
        labels: Array1<u8>,
        classes: Vec<String>,
    ) -> Result<Self, DataError> {
        if images.len_of(Axis(0)) != labels.len() {
            return Err(DataError::Invalid(format!(
                "{} images but {} labels",
                images.len_of(Axis(0)),
                labels.len()
            )));
        }
        if let Some((i, &l)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| l as usize >= classes.len())
        {
            return Err(DataError::Invalid(format!(
                "label {l} of image {i} is not below the number of classes ({})",
                classes.len()
            )));
        }
        Ok(Dataset {
            images,
            labels,
            classes,
        })
    }

    /// Number of images.
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((2, 1, 1, 1)), Array1::zeros(2), vec!["a".into()]).unwrap();
    /// assert_eq!(ds.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the dataset holds no image.
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((0, 1, 1, 1)), Array1::zeros(0), vec![]).unwrap();
    /// assert!(ds.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one image, (C, H, W).
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((2, 3, 32, 32)), Array1::zeros(2), vec!["a".into()]).unwrap();
    /// assert_eq!(ds.image_shape(), (3, 32, 32));
    /// ```
    pub fn image_shape(&self) -> (usize, usize, usize) {
        let (_, c, h, w) = self.images.dim();
        (c, h, w)
    }

    /// Number of values per image, D = C·H·W (the width of [`to_rows`](Self::to_rows)).
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((2, 3, 32, 32)), Array1::zeros(2), vec!["a".into()]).unwrap();
    /// assert_eq!(ds.dim(), 3072);
    /// ```
    pub fn dim(&self) -> usize {
        let (c, h, w) = self.image_shape();
        c * h * w
    }

    /// The images as rows (N, D) of floats 0.0..=255.0, in (C, H, W) order: for
    /// CIFAR-10 the 1024 red values come first, then green, then blue (the course's
    /// numpy code flattens (H, W, C) instead; only weight pictures care).
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::from_elem((2, 1, 2, 2), 255), Array1::zeros(2), vec!["a".into()]).unwrap();
    /// assert_eq!(ds.to_rows::<f64>().sum(), 8.0 * 255.0);
    /// ```
    pub fn to_rows<T: Float>(&self) -> Array2<T> {
        let n = self.len();
        let d = self.dim();
        // A 256-entry table: one load per pixel instead of a conversion.
        let lut: Vec<T> = (0..=255u8).map(|p| T::cast(p as f64)).collect();
        let data: Vec<T> = match self.images.as_slice() {
            Some(bytes) => bytes.iter().map(|&p| lut[p as usize]).collect(),
            None => self.images.iter().map(|&p| lut[p as usize]).collect(),
        };
        Array2::from_shape_vec((n, d), data).expect("N·D values in standard order")
    }

    /// The images as floats 0.0..=255.0 in (N, C, H, W), for convolutional networks.
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::from_elem((2, 3, 4, 4), 1), Array1::zeros(2), vec!["a".into()]).unwrap();
    /// assert_eq!(ds.to_images::<f32>().dim(), (2, 3, 4, 4));
    /// ```
    pub fn to_images<T: Float>(&self) -> Array4<T> {
        self.images.mapv(|p| T::cast(p as f64))
    }

    /// The labels as `usize`, the label type of the algorithm crates.
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((2, 1, 1, 1)), Array1::from(vec![1u8, 0]), vec!["a".into(), "b".into()]).unwrap();
    /// assert_eq!(ds.labels_usize().to_vec(), vec![1usize, 0]);
    /// ```
    pub fn labels_usize(&self) -> Array1<usize> {
        self.labels.mapv(|l| l as usize)
    }

    /// The images at `indices` (in that order, repeats allowed), e.g. a random minibatch
    /// or the first few of each class.
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((3, 1, 1, 1)), Array1::from(vec![0u8, 1, 2]), vec!["a".into(), "b".into(), "c".into()]).unwrap();
    /// assert_eq!(ds.select(&[2, 0]).unwrap().labels.to_vec(), vec![2, 0]);
    /// assert!(ds.select(&[3]).is_err());
    /// ```
    pub fn select(&self, indices: &[usize]) -> Result<Dataset, DataError> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(DataError::Invalid(format!(
                "index {bad} is out of range for {} images",
                self.len()
            )));
        }
        Ok(Dataset {
            images: self.images.select(Axis(0), indices),
            labels: self.labels.select(Axis(0), indices),
            classes: self.classes.clone(),
        })
    }

    /// The images in `range`, e.g. the course's `X_train[:num_training]`.
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((3, 1, 1, 1)), Array1::from(vec![0u8, 1, 2]), vec!["a".into(), "b".into(), "c".into()]).unwrap();
    /// assert_eq!(ds.slice(1..3).unwrap().labels.to_vec(), vec![1, 2]);
    /// assert!(ds.slice(2..5).is_err());
    /// ```
    pub fn slice(&self, range: Range<usize>) -> Result<Dataset, DataError> {
        if range.start > range.end || range.end > self.len() {
            return Err(DataError::Invalid(format!(
                "range {range:?} is out of bounds for {} images",
                self.len()
            )));
        }
        let r = ndarray::Slice::from(range.clone());
        Ok(Dataset {
            images: self.images.slice_axis(Axis(0), r).to_owned(),
            labels: self.labels.slice_axis(Axis(0), r).to_owned(),
            classes: self.classes.clone(),
        })
    }

    /// How many images each class has (`len() == classes.len()`).
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((3, 1, 1, 1)), Array1::from(vec![1u8, 1, 0]), vec!["a".into(), "b".into(), "c".into()]).unwrap();
    /// assert_eq!(ds.class_counts(), vec![1, 2, 0]);
    /// ```
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// The first `per_class` images of each class, in the dataset's order (fewer where a
    /// class has fewer): a deterministic balanced subsample.
    ///
    /// # Example
    /// ```
    /// # use cifar_data::Dataset; use ndarray::{Array1, Array4};
    /// let ds = Dataset::new(Array4::zeros((4, 1, 1, 1)), Array1::from(vec![0u8, 0, 0, 1]), vec!["a".into(), "b".into()]).unwrap();
    /// assert_eq!(ds.first_per_class(2).labels.to_vec(), vec![0, 0, 1]);
    /// ```
    pub fn first_per_class(&self, per_class: usize) -> Dataset {
        let mut taken = vec![0usize; self.classes.len()];
        let indices: Vec<usize> = self
            .labels
            .iter()
            .enumerate()
            .filter_map(|(i, &l)| {
                let t = taken.get_mut(l as usize)?;
                (*t < per_class).then(|| {
                    *t += 1;
                    i
                })
            })
            .collect();
        self.select(&indices)
            .expect("indices come from the dataset")
    }
}
