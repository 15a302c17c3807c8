//! Conversions between pictures (the `image` crate) and the arrays the libraries use:
//! dataset bytes (C, H, W) to pictures, learned weights to pictures (min-max scaled,
//! as the notebooks' `visualize_grid`), and image files to the model's input shape.

use std::path::Path;

use image::{Rgb, RgbImage, imageops::FilterType};
use ndarray::{Array3, ArrayView3};

use crate::error::{CliError, Result};

/// One dataset image (C, H, W) of bytes as a picture; one channel is drawn grey.
pub fn chw_u8_to_rgb(x: ArrayView3<'_, u8>) -> RgbImage {
    let (c, h, w) = x.dim();
    RgbImage::from_fn(w as u32, h as u32, |j, i| {
        let (i, j) = (i as usize, j as usize);
        if c >= 3 {
            Rgb([x[[0, i, j]], x[[1, i, j]], x[[2, i, j]]])
        } else {
            let g = x[[0, i, j]];
            Rgb([g, g, g])
        }
    })
}

/// Learned weights (C, H, W) as a picture, scaled so their own min is black and max is
/// white (the course's template and filter pictures).
pub fn weights_to_rgb(w: ArrayView3<'_, f32>) -> RgbImage {
    let (lo, hi) = w
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let bytes = w.mapv(|v| {
        if v.is_finite() {
            (((v - lo) / span) * 255.0).round().clamp(0.0, 255.0) as u8
        } else {
            0
        }
    });
    chw_u8_to_rgb(bytes.view())
}

/// Reads a PNG/JPEG file and converts it to the model's input: `channels` (1 = grey,
/// 3 = RGB) x `height` x `width` bytes, resized with a smooth filter.
pub fn load_as_chw(
    path: &Path,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<Array3<u8>> {
    let img = image::ImageReader::open(path)
        .map_err(|e| CliError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| CliError::io(path, e))?
        .decode()
        .map_err(|e| CliError::Image {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let resized = img.resize_exact(width as u32, height as u32, FilterType::Triangle);
    let mut out = Array3::<u8>::zeros((channels, height, width));
    match channels {
        1 => {
            let g = resized.to_luma8();
            for (x, y, p) in g.enumerate_pixels() {
                out[[0, y as usize, x as usize]] = p.0[0];
            }
        }
        3 => {
            let rgb = resized.to_rgb8();
            for (x, y, p) in rgb.enumerate_pixels() {
                for c in 0..3 {
                    out[[c, y as usize, x as usize]] = p.0[c];
                }
            }
        }
        other => {
            return Err(CliError::Image {
                path: path.to_owned(),
                reason: format!(
                    "the model expects {other} channels; only 1 (grey) and 3 (RGB) are supported"
                ),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn rgb_round_trip_through_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let x = Array3::from_shape_fn((3, 4, 5), |(c, i, j)| (c * 60 + i * 10 + j) as u8);
        let path = dir.path().join("x.png");
        chw_u8_to_rgb(x.view()).save(&path).unwrap();
        assert_eq!(load_as_chw(&path, 3, 4, 5).unwrap(), x);
        // Grey conversion of an RGB file keeps the shape the model wants.
        assert_eq!(load_as_chw(&path, 1, 8, 8).unwrap().dim(), (1, 8, 8));
    }

    #[test]
    fn weights_are_min_max_scaled() {
        let w = Array3::from_shape_vec((1, 1, 3), vec![-2.0f32, 0.0, 2.0]).unwrap();
        let img = weights_to_rgb(w.view());
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(1, 0).0, [128, 128, 128]);
        assert_eq!(img.get_pixel(2, 0).0, [255, 255, 255]);
    }

    #[test]
    fn undecodable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        std::fs::write(&path, b"not an image").unwrap();
        let err = load_as_chw(&path, 3, 32, 32).unwrap_err();
        assert!(err.to_string().contains("bad.png"), "{err}");
    }
}
