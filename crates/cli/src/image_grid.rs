//! Image grids: the examples of each class, class templates, first-layer weights and
//! filters ([`first_layer`]), each cell upscaled without blurring, under a title and column titles.

use std::path::Path;

use image::{Rgb, RgbImage, imageops};
use ndarray::{Axis, Ix2, Ix4};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::Result;
use crate::imageio::weights_to_rgb;
use crate::plot::{ensure_font, plot_err, save};

/// A grid of images with optional column titles (class names) and an optional title.
#[derive(Debug, Clone, Default)]
pub struct ImageGrid {
    /// Rows of cells; `None` leaves a cell blank.
    pub cells: Vec<Vec<Option<RgbImage>>>,
    /// One title per column (may be empty).
    pub column_titles: Vec<String>,
    /// Figure title (may be empty).
    pub title: String,
    /// Integer upscaling of each cell (nearest neighbour, so pixels stay sharp).
    pub scale: u32,
}

impl ImageGrid {
    /// Lays `images` out in rows of `cols`.
    pub fn tiled(images: Vec<RgbImage>, cols: usize, scale: u32, title: &str) -> Self {
        let cols = cols.max(1);
        let mut cells = Vec::new();
        let mut it = images.into_iter().peekable();
        while it.peek().is_some() {
            let mut row: Vec<Option<RgbImage>> = it.by_ref().take(cols).map(Some).collect();
            row.resize(cols, None);
            cells.push(row);
        }
        ImageGrid {
            cells,
            column_titles: Vec::new(),
            title: title.to_owned(),
            scale,
        }
    }

    /// Writes the grid as a PNG.
    pub fn save(&self, path: &Path) -> Result<()> {
        ensure_font();
        let scale = self.scale.max(1);
        let cols = self
            .cells
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(self.column_titles.len());
        let (cw, ch) = self
            .cells
            .iter()
            .flatten()
            .flatten()
            .fold((1, 1), |(w, h), im| (w.max(im.width()), h.max(im.height())));
        let (cw, ch) = (cw * scale, ch * scale);
        let gap = 4u32;
        let title_h = if self.title.is_empty() { 0 } else { 34 };
        let col_title_h = if self.column_titles.is_empty() { 0 } else { 22 };
        // Wide enough for the column titles too.
        let cell_w = cw.max(if self.column_titles.is_empty() { 0 } else { 70 });
        // Wide enough for the title too (about 12 px a character at 22 px), the grid
        // centred under it.
        let grid_w = cols as u32 * (cell_w + gap) + gap;
        let title_w = self.title.chars().count() as u32 * 12 + 2 * gap;
        let w = grid_w.max(title_w).max(240);
        let left = (w - grid_w) / 2;
        let h = title_h + col_title_h + self.cells.len() as u32 * (ch + gap) + gap;
        let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
        {
            let root = BitMapBackend::with_buffer(&mut img, (w, h)).into_drawing_area();
            let style = |size: u32| {
                ("sans-serif", size)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Top))
            };
            if !self.title.is_empty() {
                root.draw(&Text::new(self.title.clone(), (w as i32 / 2, 6), style(22)))
                    .map_err(|e| plot_err(path, e))?;
            }
            for (c, t) in self.column_titles.iter().enumerate() {
                let x = left + gap + c as u32 * (cell_w + gap) + cell_w / 2;
                root.draw(&Text::new(
                    t.clone(),
                    (x as i32, title_h as i32 + 3),
                    style(14),
                ))
                .map_err(|e| plot_err(path, e))?;
            }
            root.present().map_err(|e| plot_err(path, e))?;
        }
        let top = title_h + col_title_h + gap;
        for (r, row) in self.cells.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let Some(cell) = cell else { continue };
                let big = imageops::resize(
                    cell,
                    cell.width() * scale,
                    cell.height() * scale,
                    imageops::FilterType::Nearest,
                );
                let x = left + gap + c as u32 * (cell_w + gap) + (cell_w - big.width()) / 2;
                let y = top + r as u32 * (ch + gap);
                imageops::replace(&mut img, &big, x as i64, y as i64);
            }
        }
        save(path, &img)
    }
}

/// The first layer's weights as pictures: an affine layer's columns reshaped to
/// images (the notebook's `W1` grid), or a conv layer's filters.
///
/// `what` says which model on which data, for the title.
pub fn first_layer(
    params: &nn::Params<f32>,
    (c, h, w): (usize, usize, usize),
    what: &str,
) -> Option<ImageGrid> {
    let w1 = params.get("W1")?;
    let images: Vec<_> = if let Ok(f) = w1.view().into_dimensionality::<Ix4>() {
        // (F, C, HH, WW): one picture per filter, in colour when C = 3.
        f.outer_iter().map(|k| weights_to_rgb(k)).collect()
    } else if let Ok(m) = w1.view().into_dimensionality::<Ix2>() {
        if m.nrows() != c * h * w {
            return None;
        }
        m.axis_iter(Axis(1))
            .take(256)
            .map(|col| {
                let img = col
                    .to_owned()
                    .into_shape_with_order((c, h, w))
                    .expect("D = C*H*W");
                weights_to_rgb(img.view())
            })
            .collect()
    } else {
        return None;
    };
    let n = images.len();
    let cols = (n as f64).sqrt().ceil() as usize;
    let side = images.first().map_or(1, |i| i.width());
    let scale = (96 / side.max(1)).clamp(1, 16);
    let title = match w1.ndim() {
        4 => format!(
            "First-layer filters ({}x{}): {what}",
            w1.shape()[2],
            w1.shape()[3]
        ),
        _ => format!("First-layer weights: {what}"),
    };
    Some(ImageGrid::tiled(images, cols, scale, &title))
}
