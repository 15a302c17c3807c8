//! The course's `im2col_cython` / `col2im_cython`, with the same argument order and the
//! same column layout, so code written against the Cython extension runs unchanged.
//!
//! `cols` has one row per filter tap `(c, i, j)` (row `(c·HH + i)·WW + j`) and one column
//! per output position and image, images fastest: column `(y·W' + x)·N + n`. (The
//! Cython code numbers rows `c·HH·WW + i·HH + j`, which is the same for the square
//! filters the course uses.) The engine's convolution does not go through these: it
//! lays out one image at a time (see `nn`'s fast convolution).

use ndarray::{Array2, Array4, ArrayView4, Axis, Ix2, Ix4};
use numpy::IntoPyArray;
use pyo3::prelude::*;
use rayon::prelude::*;

use crate::arrays::{Dtype, array, by_dtype, check_pad, count, kind_of, value_error};

/// Sizes of one im2col layout.
#[derive(Clone, Copy)]
struct Layout {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    fh: usize,
    fw: usize,
    pad: usize,
    stride: usize,
    h_out: usize,
    w_out: usize,
    rows: usize,
    cols: usize,
}

impl Layout {
    /// Output sizes as the Cython code computes them (floor division), after checking
    /// that a window fits and that every window overlaps the image (`pad` below the
    /// field size), in checked arithmetic: the sizes come from the caller, not from an
    /// array.
    fn new(dims: [usize; 4], fh: usize, fw: usize, pad: usize, stride: usize) -> PyResult<Self> {
        let [n, c, h, w] = dims;
        if stride == 0 || fh == 0 || fw == 0 {
            return Err(value_error(format!(
                "stride, field_height and field_width must be at least 1, got {stride}, {fh}, {fw}"
            )));
        }
        check_pad(pad, fh, fw)?;
        let too_large = || value_error("these sizes overflow the address space");
        let out = |size: usize, field: usize, axis: &str| {
            let padded = pad
                .checked_mul(2)
                .and_then(|p| p.checked_add(size))
                .ok_or_else(too_large)?;
            padded
                .checked_sub(field)
                .map(|free| free / stride + 1)
                .ok_or_else(|| {
                    value_error(format!(
                        "field {axis} {field} is larger than the padded input {size} + 2·{pad}"
                    ))
                })
        };
        let (h_out, w_out) = (out(h, fh, "height")?, out(w, fw, "width")?);
        let product = |sizes: &[usize]| {
            sizes
                .iter()
                .try_fold(1usize, |acc, &s| acc.checked_mul(s))
                .ok_or_else(too_large)
        };
        Ok(Self {
            n,
            c,
            h,
            w,
            fh,
            fw,
            pad,
            stride,
            h_out,
            w_out,
            rows: product(&[c, fh, fw])?,
            cols: product(&[h_out, w_out, n])?,
        })
    }

    /// The input pixel `(row, column)` that tap `(i, j)` reads at output `(y, x)`, if
    /// it is inside the image rather than in the padding.
    fn source(&self, y: usize, x: usize, i: usize, j: usize) -> Option<(usize, usize)> {
        let r = (y * self.stride + i).checked_sub(self.pad)?;
        let q = (x * self.stride + j).checked_sub(self.pad)?;
        (r < self.h && q < self.w).then_some((r, q))
    }
}

/// `im2col_cython(x, field_height, field_width, padding, stride) -> cols`.
#[pyfunction]
#[pyo3(name = "im2col_cython")]
pub fn im2col_cython<'py>(
    x: &Bound<'py, PyAny>,
    field_height: i64,
    field_width: i64,
    padding: i64,
    stride: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let (fh, fw) = (
        count(field_height, "field_height")?,
        count(field_width, "field_width")?,
    );
    let (pad, stride) = (count(padding, "padding")?, count(stride, "stride")?);
    by_dtype!(kind_of(x, "x")?, im2col_t(x, fh, fw, pad, stride))
}

fn im2col_t<'py, T: Dtype>(
    x: &Bound<'py, PyAny>,
    fh: usize,
    fw: usize,
    pad: usize,
    stride: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x.py();
    let x = array::<T, Ix4>(x, "x")?;
    let x = x.as_array();
    let (n, c, h, w) = x.dim();
    let g = Layout::new([n, c, h, w], fh, fw, pad, stride)?;
    let buffer = zeros::<T>(g.rows * g.cols, "cols")?;
    let cols = py.detach(|| im2col(&x, &g, buffer));
    Ok(cols.into_pyarray(py).into_any())
}

/// `len` zeros, or a `ValueError` when the memory cannot be had (the sizes come from
/// the caller: a failed allocation must not abort the interpreter).
fn zeros<T: Dtype>(len: usize, what: &str) -> PyResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| value_error(format!("cannot allocate {len} values for {what}")))?;
    v.resize(len, T::zero());
    Ok(v)
}

/// One row per tap, filled in parallel (rows are independent).
fn im2col<T: Dtype>(x: &ArrayView4<'_, T>, g: &Layout, buffer: Vec<T>) -> Array2<T> {
    let mut cols = Array2::from_shape_vec((g.rows, g.cols), buffer).expect("sized by the caller");
    cols.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(row, mut dst)| {
            let (ch, i, j) = (row / (g.fh * g.fw), row / g.fw % g.fh, row % g.fw);
            for y in 0..g.h_out {
                for xx in 0..g.w_out {
                    if let Some((r, q)) = g.source(y, xx, i, j) {
                        let base = (y * g.w_out + xx) * g.n;
                        for n in 0..g.n {
                            dst[base + n] = x[[n, ch, r, q]];
                        }
                    }
                }
            }
        });
    cols
}

/// `col2im_cython(cols, N, C, H, W, field_height, field_width, padding, stride) -> x`:
/// the adjoint of `im2col_cython`, adding every column back onto its receptive field.
#[pyfunction]
#[pyo3(name = "col2im_cython")]
#[allow(non_snake_case)]
pub fn col2im_cython<'py>(
    cols: &Bound<'py, PyAny>,
    N: i64,
    C: i64,
    H: i64,
    W: i64,
    field_height: i64,
    field_width: i64,
    padding: i64,
    stride: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let dims = [
        count(N, "N")?,
        count(C, "C")?,
        count(H, "H")?,
        count(W, "W")?,
    ];
    let (fh, fw) = (
        count(field_height, "field_height")?,
        count(field_width, "field_width")?,
    );
    let g = Layout::new(
        dims,
        fh,
        fw,
        count(padding, "padding")?,
        count(stride, "stride")?,
    )?;
    by_dtype!(kind_of(cols, "cols")?, col2im_t(cols, g))
}

fn col2im_t<'py, T: Dtype>(cols: &Bound<'py, PyAny>, g: Layout) -> PyResult<Bound<'py, PyAny>> {
    let py = cols.py();
    let cols = array::<T, Ix2>(cols, "cols")?;
    let cols = cols.as_array();
    if cols.dim() != (g.rows, g.cols) {
        return Err(value_error(format!(
            "cols has shape {:?} but these sizes need ({}, {})",
            cols.shape(),
            g.rows,
            g.cols
        )));
    }
    // rows · cols matched an existing array, so N·C·H·W is the only new size to check.
    let len = [g.n, g.c, g.h]
        .iter()
        .try_fold(g.w, |acc, &s| acc.checked_mul(s))
        .ok_or_else(|| value_error("N·C·H·W overflows the address space"))?;
    let buffer = zeros::<T>(len, "x")?;
    let x = py.detach(|| {
        // Channel-major while accumulating, so that each channel is one thread's own block.
        let mut x_cn = Array4::from_shape_vec((g.c, g.n, g.h, g.w), buffer).expect("sized above");
        x_cn.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(ch, mut plane)| {
                for i in 0..g.fh {
                    for j in 0..g.fw {
                        let src = cols.row((ch * g.fh + i) * g.fw + j);
                        for y in 0..g.h_out {
                            for xx in 0..g.w_out {
                                if let Some((r, q)) = g.source(y, xx, i, j) {
                                    let base = (y * g.w_out + xx) * g.n;
                                    for n in 0..g.n {
                                        plane[[n, r, q]] += src[base + n];
                                    }
                                }
                            }
                        }
                    }
                }
            });
        x_cn.permuted_axes([1, 0, 2, 3])
            .as_standard_layout()
            .into_owned()
    });
    Ok(x.into_pyarray(py).into_any())
}
