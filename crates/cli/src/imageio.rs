//! Conversions between pictures (the `image` crate) and the arrays the libraries use:
//! dataset bytes (C, H, W) to pictures, learned weights to pictures (min-max scaled,
//! as the notebooks' `visualize_grid`), and image files to the model's input shape.

use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage, imageops::FilterType};
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

/// The largest picture `predict` decodes, in pixels: 16 Mi (4096 x 4096, or any phone
/// photo); a model's input is at most a few thousand pixels.
const MAX_PIXELS: u64 = 1 << 24;

/// Reads a PNG/JPEG file and converts it to the model's input: `channels` (1 = grey,
/// 3 = RGB) x `height` x `width` bytes, resized with a smooth filter.
///
/// The picture must already be what the model was trained on: a colour model refuses
/// a file stored as greyscale, and a grey model refuses a picture whose pixels carry
/// colour (an RGB file of grey pixels is fine), rather than convert silently.
pub fn load_as_chw(
    path: &Path,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<Array3<u8>> {
    let bytes = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
    decode_as_chw(&bytes, path, channels, height, width)
}

/// [`load_as_chw`] on bytes already read; `path` names them in errors (and its
/// extension is a hint only: the format is recognised from the content).
pub fn decode_as_chw(
    bytes: &[u8],
    path: &Path,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<Array3<u8>> {
    let bad = |reason: String| CliError::Image {
        path: path.to_owned(),
        reason,
    };
    if channels != 1 && channels != 3 {
        return Err(bad(format!(
            "the model expects {channels} channels; only 1 (grey) and 3 (RGB) are supported"
        )));
    }
    let (Ok(h32), Ok(w32)) = (u32::try_from(height), u32::try_from(width)) else {
        return Err(bad(format!(
            "the model's input size {height}x{width} is too large for a picture"
        )));
    };
    let format = image::guess_format(bytes)
        .map_err(|_| bad("not a PNG or JPEG image (its content is neither format)".into()))?;
    let name = match format {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        other => {
            return Err(bad(format!(
                "a {other:?} image; predict reads PNG and JPEG"
            )));
        }
    };
    let reader = || image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    // The header's size first: a few hundred bytes can declare a picture whose decoding
    // and resizing down to the model's input would take many seconds.
    let (pw, ph) = reader()
        .into_dimensions()
        .map_err(|e| bad(format!("a damaged {name} file ({e})")))?;
    if u64::from(pw) * u64::from(ph) > MAX_PIXELS {
        return Err(bad(format!(
            "a {pw}x{ph} picture; predict takes at most {} megapixels, resize it first",
            MAX_PIXELS >> 20
        )));
    }
    let mut reader = reader();
    // The decoder's default limits also bound what it may allocate.
    reader.limits(image::Limits::default());
    let img = reader.decode().map_err(|e| {
        bad(match e {
            image::ImageError::Limits(e) => format!("too large to decode ({e})"),
            e => format!("a damaged {name} file ({e})"),
        })
    })?;
    let grey_file = !img.color().has_color();
    if channels == 3 && grey_file {
        return Err(bad(
            "a greyscale picture, but the model takes colour (RGB) images; convert it to RGB if that is what you mean".into(),
        ));
    }
    let resized = img.resize_exact(w32, h32, FilterType::Triangle);
    let mut out = Array3::<u8>::zeros((channels, height, width));
    let rgb = resized.to_rgb8();
    if channels == 1
        && let Some((x, y, _)) = rgb.enumerate_pixels().find(|(_, _, p)| {
            let [r, g, b] = p.0;
            r != g || g != b
        })
    {
        return Err(bad(format!(
            "a colour picture (pixel ({x}, {y}) is not grey), but the model takes greyscale images; convert it to grey if that is what you mean"
        )));
    }
    for (x, y, p) in rgb.enumerate_pixels() {
        for c in 0..channels {
            out[[c, y as usize, x as usize]] = p.0[c];
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
        // A colour picture is not silently made grey for a grey model.
        let err = load_as_chw(&path, 1, 8, 8).unwrap_err().to_string();
        assert!(
            err.contains("colour picture") && err.contains("x.png"),
            "{err}"
        );
    }

    #[test]
    fn grey_pixels_in_an_rgb_file_suit_a_grey_model() {
        let dir = tempfile::tempdir().unwrap();
        let x = Array3::from_shape_fn((1, 4, 5), |(_, i, j)| (i * 10 + j) as u8);
        let path = dir.path().join("g.png");
        chw_u8_to_rgb(x.view()).save(&path).unwrap();
        assert_eq!(load_as_chw(&path, 1, 4, 5).unwrap(), x);
        assert_eq!(load_as_chw(&path, 1, 8, 8).unwrap().dim(), (1, 8, 8));
    }

    #[test]
    fn a_grey_file_is_refused_by_a_colour_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.png");
        image::GrayImage::from_pixel(3, 3, image::Luma([7]))
            .save(&path)
            .unwrap();
        let err = load_as_chw(&path, 3, 3, 3).unwrap_err().to_string();
        assert!(
            err.contains("greyscale picture") && err.contains("l.png"),
            "{err}"
        );
        assert_eq!(load_as_chw(&path, 1, 3, 3).unwrap().dim(), (1, 3, 3));
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
        let err = load_as_chw(&path, 3, 32, 32).unwrap_err().to_string();
        assert!(
            err.contains("bad.png") && err.contains("not a PNG or JPEG"),
            "{err}"
        );
        let txt = dir.path().join("notes.txt");
        std::fs::write(&txt, b"hello").unwrap();
        let err = load_as_chw(&txt, 3, 32, 32).unwrap_err().to_string();
        assert!(
            err.contains("notes.txt: cannot read the image: not a PNG or JPEG"),
            "{err}"
        );
        // A PNG signature followed by garbage is a damaged PNG.
        std::fs::write(&path, b"\x89PNG\r\n\x1a\nrubbish").unwrap();
        let err = load_as_chw(&path, 3, 32, 32).unwrap_err().to_string();
        assert!(err.contains("damaged PNG file"), "{err}");
        // A valid header declaring 20 000 x 20 000 pixels is refused before decoding.
        let mut png = Vec::new();
        image::GrayImage::new(1, 1)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png[16..24].copy_from_slice(&[0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20]);
        let crc = crc32(&png[12..29]); // the IHDR chunk's type and data
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        std::fs::write(&path, &png).unwrap();
        let err = load_as_chw(&path, 1, 28, 28).unwrap_err().to_string();
        assert!(err.contains("a 20000x20000 picture"), "{err}");
    }

    /// CRC-32 (IEEE) as PNG chunks use it.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
