//! Every PNG the command writes: line plots (loss curves, accuracy histories), accuracy
//! vs k with error bars, a heatmap (kNN distance matrix) and image grids (examples,
//! class templates, first-layer weights and filters).
//!
//! Everything is drawn into an RGB buffer (plotters for axes and text, direct pixel
//! copies for images) and saved with the `image` crate, so there is one way to fail.

use std::path::Path;
use std::sync::Once;

use image::{Rgb, RgbImage};
use ndarray::ArrayView2;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{CliError, Result};
pub use crate::image_grid::ImageGrid;

/// DejaVu Sans (Bitstream Vera licence, see assets/DejaVuSans-LICENSE.txt): plotters'
/// `ab_glyph` text rendering has no system font lookup, so the font ships inside the binary.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

pub(crate) fn ensure_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The bytes are a valid TTF compiled in; a failure would show as missing text.
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

/// The colours of successive series (matplotlib's first ones, as the notebooks show).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

pub(crate) fn plot_err(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::Plot {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

pub(crate) fn save(path: &Path, img: &RgbImage) -> Result<()> {
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| plot_err(path, e))
}

/// One curve of a line plot.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points in order of x.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A curve over 0, 1, 2, ... (iterations) or 1, 2, ... when `from_one` (epochs).
    pub fn indexed(name: &str, ys: &[f64], from_one: bool) -> Self {
        let start = if from_one { 1.0 } else { 0.0 };
        Series {
            name: name.to_owned(),
            points: ys
                .iter()
                .enumerate()
                .map(|(i, &y)| (i as f64 + start, y))
                .collect(),
        }
    }
}

fn bounds(points: impl Iterator<Item = (f64, f64)>) -> Option<((f64, f64), (f64, f64))> {
    let mut b: Option<((f64, f64), (f64, f64))> = None;
    for (x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        b = Some(match b {
            None => ((x, x), (y, y)),
            Some(((x0, x1), (y0, y1))) => ((x0.min(x), x1.max(x)), (y0.min(y), y1.max(y))),
        });
    }
    b
}

/// Pads a range so a flat or single-point series still gets axes.
fn padded((lo, hi): (f64, f64), frac: f64) -> (f64, f64) {
    let span = hi - lo;
    if span <= f64::EPSILON * lo.abs().max(1.0) {
        let d = lo.abs().max(1.0) * 0.05;
        (lo - d, hi + d)
    } else {
        (lo - frac * span, hi + frac * span)
    }
}

/// A chart of the line plots' and error bars' shape, drawn into `root`.
type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The size of a single chart.
const CHART_SIZE: (u32, u32) = (800, 500);

/// A `w`×`h` white PNG at `path`, its contents drawn by `draw`.
fn draw_png(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    ensure_font();
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    {
        let root = BitMapBackend::with_buffer(&mut img, (w, h)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    save(path, &img)
}

/// Titled axes over `x × y`, with room for the tick labels.
fn axes<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    path: &Path,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, 'b>> {
    ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)
        .map_err(|e| plot_err(path, e))
}

/// The series' legend in a framed, translucent box at `position`.
fn legend<'b: 'a, 'a>(
    chart: &mut Chart<'a, 'b>,
    path: &Path,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(|e| plot_err(path, e))
}

/// A line plot of one or more series, with a legend when there are several.
/// Non-finite points (a diverged loss) are left out.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    draw_png(path, CHART_SIZE, |root| {
        draw_lines(root, path, title, x_label, y_label, series)
    })
}

/// One chart of a figure of [`line_plots`].
#[derive(Debug, Clone)]
pub struct Panel {
    /// Chart title.
    pub title: String,
    /// Horizontal axis label.
    pub x_label: String,
    /// Vertical axis label.
    pub y_label: String,
    /// The curves, one legend entry each.
    pub series: Vec<Series>,
}

/// Line plots stacked vertically in one PNG, as the notebooks' `plt.subplot(n, 1, i)`
/// figures (loss, then accuracies, sharing the series' colours).
pub fn line_plots(path: &Path, panels: &[Panel]) -> Result<()> {
    let (w, h) = CHART_SIZE;
    let n = panels.len().max(1);
    draw_png(path, (w, h * n as u32 * 4 / 5), |root| {
        for (area, p) in root.split_evenly((n, 1)).iter().zip(panels) {
            draw_lines(area, path, &p.title, &p.x_label, &p.y_label, &p.series)?;
        }
        Ok(())
    })
}

/// Where a legend on the right covers the fewest points of the curves: the upper,
/// middle or lower third of the right-hand 30% of the axes.
fn legend_spot(
    series: &[Series],
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> SeriesLabelPosition {
    let mut counts = [0usize; 3];
    let (xs, ys) = (
        (x1 - x0).max(f64::MIN_POSITIVE),
        (y1 - y0).max(f64::MIN_POSITIVE),
    );
    for &(x, y) in series.iter().flat_map(|s| s.points.iter()) {
        if !(x.is_finite() && y.is_finite()) || (x - x0) / xs < 0.7 {
            continue;
        }
        let band = ((y - y0) / ys * 3.0).clamp(0.0, 2.0) as usize;
        counts[band] += 1;
    }
    // On a tie the corners win, the top first (a loss's start is left, its end low).
    match [2, 0, 1]
        .into_iter()
        .min_by_key(|&i| counts[i])
        .unwrap_or(2)
    {
        0 => SeriesLabelPosition::LowerRight,
        1 => SeriesLabelPosition::MiddleRight,
        _ => SeriesLabelPosition::UpperRight,
    }
}

/// Draws [`line_plot`]'s chart into `root`.
fn draw_lines(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    let ((x0, x1), (y0, y1)) = bounds(series.iter().flat_map(|s| s.points.iter().copied()))
        .unwrap_or(((0.0, 1.0), (0.0, 1.0)));
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        padded((x0, x1), 0.0)
    };
    let (y0, y1) = padded((y0, y1), 0.05);
    let mut chart = axes(root, path, title, x0..x1, y0..y1)?;
    // Iterations and epochs are whole numbers: no "200.0" on the axis, and a few
    // epochs get one tick each (not "0, 0, 1, 2, 2" from half-epoch ticks).
    let integral = series
        .iter()
        .flat_map(|s| s.points.iter())
        .all(|p| p.0.fract() == 0.0);
    let span = x1 - x0;
    let x_ticks = if integral && span <= 10.0 {
        span as usize + 1
    } else {
        10
    };
    let whole = integral || span >= 5.0;
    let x_fmt = move |x: &f64| {
        if whole {
            format!("{x:.0}")
        } else {
            format!("{x:.2}")
        }
    };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels(x_ticks)
        .x_label_formatter(&x_fmt)
        .light_line_style(RGBColor(245, 245, 245))
        .draw()
        .map_err(|e| plot_err(path, e))?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        // Thin strokes for long, noisy curves (a loss per iteration) stay legible.
        let width = if pts.len() > 200 { 1 } else { 2 };
        let drawn = chart
            .draw_series(LineSeries::new(
                pts.iter().copied(),
                color.stroke_width(width),
            ))
            .map_err(|e| plot_err(path, e))?;
        drawn.label(s.name.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
        });
        // Short series (epochs) get markers, as the notebooks' '-o' style.
        if pts.len() <= 60 {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| plot_err(path, e))?;
        }
    }
    if series.len() > 1 {
        let position = legend_spot(series, (x0, x1), (y0, y1));
        legend(&mut chart, path, position)?;
    }
    Ok(())
}

/// The colour that marks the chosen point of a figure (the best k).
const BEST: RGBColor = PALETTE[3];

/// Accuracy vs k as the course's cross-validation figure: every fold's accuracy as a
/// dot, and the mean with ±1 standard deviation error bars. `best` (x and its legend
/// text, e.g. "best k = 10") is marked on the mean curve and by a vertical line, so
/// the figure shows the choice, not only the data.
pub fn error_bars(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    per_x: &[(f64, Vec<f64>)],
    best: Option<(f64, &str)>,
) -> Result<()> {
    draw_png(path, CHART_SIZE, |root| {
        let stats: Vec<(f64, f64, f64)> = per_x
            .iter()
            .map(|(x, ys)| {
                let (m, s) = mean_std(ys);
                (*x, m, s)
            })
            .collect();
        let ((x0, x1), (y0, y1)) = bounds(
            per_x
                .iter()
                .flat_map(|(x, ys)| ys.iter().map(move |&y| (*x, y)))
                .chain(stats.iter().flat_map(|&(x, m, s)| [(x, m - s), (x, m + s)])),
        )
        .unwrap_or(((0.0, 1.0), (0.0, 1.0)));
        let (x0, x1) = padded((x0, x1), 0.04);
        let (y0, y1) = padded((y0, y1), 0.08);
        let mut chart = axes(root, path, title, x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let dots = PALETTE[0];
        chart
            .draw_series(per_x.iter().flat_map(|(x, ys)| {
                ys.iter()
                    .map(move |&y| Circle::new((*x, y), 3, dots.filled()))
            }))
            .map_err(|e| plot_err(path, e))?
            .label("each fold")
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, dots.filled()));
        let bar = PALETTE[1];
        chart
            .draw_series(LineSeries::new(
                stats.iter().map(|&(x, m, _)| (x, m)),
                bar.stroke_width(2),
            ))
            .map_err(|e| plot_err(path, e))?
            .label("mean ± std")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], bar.stroke_width(2)));
        let cap = (x1 - x0) * 0.006;
        for &(x, m, s) in &stats {
            for seg in [
                vec![(x, m - s), (x, m + s)],
                vec![(x - cap, m - s), (x + cap, m - s)],
                vec![(x - cap, m + s), (x + cap, m + s)],
            ] {
                chart
                    .draw_series(std::iter::once(PathElement::new(seg, bar.stroke_width(2))))
                    .map_err(|e| plot_err(path, e))?;
            }
        }
        if let Some((bx, label)) = best
            && let Some(&(_, m, _)) = stats.iter().find(|&&(x, _, _)| x == bx)
        {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(bx, y0), (bx, y1)],
                    BEST.mix(0.5).stroke_width(1),
                )))
                .map_err(|e| plot_err(path, e))?;
            chart
                .draw_series(std::iter::once(Circle::new((bx, m), 7, BEST.filled())))
                .map_err(|e| plot_err(path, e))?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 6, BEST.filled()));
        }
        legend(&mut chart, path, SeriesLabelPosition::UpperRight)
    })
}

/// Mean and population standard deviation (numpy's `np.std`, as the notebook uses).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, v.sqrt())
}

/// A grey-scale picture of a matrix (rows down, columns across; white = large), the
/// notebook's `plt.imshow(dists)`. Large matrices are averaged down to at most
/// `max_w` x `max_h` pixels.
pub fn heatmap(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    m: ArrayView2<'_, f32>,
) -> Result<()> {
    ensure_font();
    let (rows, cols) = m.dim();
    if rows == 0 || cols == 0 {
        return Err(plot_err(path, "empty matrix"));
    }
    let (max_w, max_h) = (1000usize, 600usize);
    // Pixels per entry (>1 for small matrices) or entries per pixel (averaged).
    let pw = cols.min(max_w).max(cols.min(200));
    let ph = rows.min(max_h).max(rows.min(120));
    let (left, right, top, bottom) = (80u32, 20u32, 50u32, 50u32);
    let (w, h) = (pw as u32 + left + right + 8, ph as u32 + top + bottom);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let area;
    {
        let root = BitMapBackend::with_buffer(&mut img, (w, h)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin_left(8)
            .margin_right(right)
            .margin_top(10)
            .x_label_area_size(bottom - 10)
            .y_label_area_size(left)
            .build_cartesian_2d(0..cols, rows..0)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .draw()
            .map_err(|e| plot_err(path, e))?;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        area = (
            xr.start.max(0) as u32,
            xr.end.max(0) as u32,
            yr.start.max(0) as u32,
            yr.end.max(0) as u32,
        );
        root.present().map_err(|e| plot_err(path, e))?;
    }
    // Entries are painted after the chart's borrow of the buffer ends, into its plotting area.
    let (ax0, ax1, ay0, ay1) = area;
    let (lo, hi) = m
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (aw, ah) = (
        (ax1.saturating_sub(ax0)) as usize,
        (ay1.saturating_sub(ay0)) as usize,
    );
    for py in 0..ah {
        let r0 = py * rows / ah;
        let r1 = ((py + 1) * rows / ah).max(r0 + 1).min(rows);
        for px in 0..aw {
            let c0 = px * cols / aw;
            let c1 = ((px + 1) * cols / aw).max(c0 + 1).min(cols);
            let block = m.slice(ndarray::s![r0..r1, c0..c1]);
            let mean = block.iter().map(|&v| v as f64).sum::<f64>() / block.len() as f64;
            let g = (((mean as f32 - lo) / span).clamp(0.0, 1.0) * 255.0).round() as u8;
            img.put_pixel(ax0 + px as u32, ay0 + py as u32, Rgb([g, g, g]));
        }
    }
    save(path, &img)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spot(ys: &[&[f64]]) -> SeriesLabelPosition {
        let series: Vec<Series> = ys.iter().map(|y| Series::indexed("s", y, false)).collect();
        let pts = series.iter().flat_map(|s| s.points.iter().copied());
        let ((x0, x1), (y0, y1)) = bounds(pts).unwrap();
        legend_spot(&series, (x0, x1), (y0, y1))
    }

    #[test]
    fn legend_goes_where_the_curves_are_not() {
        let falling: Vec<f64> = (0..50).map(|i| 2.3 - i as f64 * 0.04).collect();
        let rising: Vec<f64> = (0..50).map(|i| 0.1 + i as f64 * 0.015).collect();
        let flat_top = vec![2.3; 50];
        assert!(matches!(spot(&[&falling]), SeriesLabelPosition::UpperRight));
        assert!(matches!(spot(&[&rising]), SeriesLabelPosition::LowerRight));
        // A loss stuck at the top and one that fell: the middle is free.
        assert!(matches!(
            spot(&[&flat_top, &falling]),
            SeriesLabelPosition::MiddleRight
        ));
    }

    #[test]
    fn the_cross_validation_figure_marks_the_best_k() {
        let dir = tempfile::tempdir().unwrap();
        let per_k = vec![
            (1.0, vec![0.25, 0.27, 0.26]),
            (5.0, vec![0.28, 0.29, 0.27]),
            (10.0, vec![0.24, 0.25, 0.26]),
        ];
        let marked_pixels = |best| {
            let path = dir.path().join("cv.png");
            error_bars(&path, "cv", "k", "accuracy", &per_k, best).unwrap();
            let img = image::open(&path).unwrap().to_rgb8();
            let best_rgb = Rgb([BEST.0, BEST.1, BEST.2]);
            img.pixels().filter(|&&p| p == best_rgb).count()
        };
        assert_eq!(marked_pixels(None), 0);
        // The marker (a disc of radius 7, and its legend entry) is drawn in its colour.
        assert!(marked_pixels(Some((5.0, "best k = 5"))) > 100);
    }
}
