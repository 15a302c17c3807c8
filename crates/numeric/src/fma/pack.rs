//! Packing f32 operands into the panels the kernel reads: A as `[kc][MR]` (one
//! broadcast per row and k), B as `[kc][NR]` (16 columns per register). Rows and
//! columns past the matrix's edge are zero, so the kernel always runs whole tiles.
//!
//! Both operands are packed whatever their layout, so C can be written in its own
//! orientation: a k-contiguous B (kNN's `X_trainᵀ`) is transposed here, 16 × 16 in
//! registers, instead of computing into a buffer of the other orientation.

use std::arch::x86_64::*;

use crate::bf16::Strided;

/// Packs rows `rows` and columns `ks` of `a` into panels of `mr` rows, each panel
/// `[ks.len()][mr]`, into `dst`, which holds exactly those panels (so that threads can
/// pack the parts of one block side by side).
///
/// # Safety
/// `rows` and `ks` lie inside the matrix `a` describes; the CPU has
/// AVX-512F; `dst.len()` is `⌈rows.len() / mr⌉·ks.len()·mr`.
pub(crate) unsafe fn pack_a_panels(
    a: Strided,
    mr: usize,
    rows: std::ops::Range<usize>,
    ks: std::ops::Range<usize>,
    dst: &mut [f32],
) {
    // SAFETY: forwarded from the caller (ks are Aᵀ's rows, rows its columns).
    unsafe { pack_b_panels(transposed(a), mr, ks, rows, dst) };
}

/// Aᵀ: A's rows are its panels' "columns", so A packs as B does with the roles of the
/// strides swapped.
fn transposed(a: Strided) -> Strided {
    Strided {
        ptr: a.ptr,
        rs: a.cs,
        cs: a.rs,
    }
}

/// Packs rows `ks` and columns `cols` of `b` into panels of `nr` columns, each panel
/// `[ks.len()][nr]`, into `out` (resized to fit).
///
/// A row of B contiguous along its columns is copied as it is; B contiguous along k
/// (a transposed view, or A's k-contiguous rows) goes through 16 × 16 transposes.
///
/// # Safety
/// `ks` and `cols` lie inside the matrix `b` describes; the CPU has
/// AVX-512F.
pub(crate) unsafe fn pack_b(
    b: Strided,
    nr: usize,
    ks: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    out: &mut Vec<f32>,
) {
    out.resize(cols.len().div_ceil(nr) * ks.len() * nr, 0.0);
    // SAFETY: forwarded from the caller; `out` holds every panel.
    unsafe { pack_b_panels(b, nr, ks, cols, out) };
}

/// [`pack_b`] into `dst`, which holds exactly the panels of `cols` (so that threads
/// can pack the panels of one block side by side).
///
/// # Safety
/// As [`pack_b`]; `dst.len()` is `⌈cols.len() / nr⌉·ks.len()·nr`.
pub(crate) unsafe fn pack_b_panels(
    b: Strided,
    nr: usize,
    ks: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    dst: &mut [f32],
) {
    let kc = ks.len();
    debug_assert_eq!(dst.len(), cols.len().div_ceil(nr) * kc * nr);
    // Every slot of a live column is written below; only the padding is zeroed.
    for (panel, dst) in dst.chunks_exact_mut(kc * nr).enumerate() {
        let j0 = cols.start + panel * nr;
        let live = nr.min(cols.end - j0);
        if live < nr {
            for row in dst.chunks_exact_mut(nr) {
                row[live..].fill(0.0);
            }
        }
        if b.rs == 1 && b.cs != 1 {
            // SAFETY: the live columns from j0 and the rows ks are in B, contiguous
            // along k (rs = 1); `dst` is a panel of kc·nr floats.
            unsafe { pack_k_contiguous(b, nr, ks.start, kc, j0, live, dst) };
        } else {
            for (p, row) in dst.chunks_exact_mut(nr).enumerate() {
                // SAFETY: row ks.start + p, columns j0..j0 + live are in B.
                let src = unsafe {
                    b.ptr
                        .offset((ks.start + p) as isize * b.rs + j0 as isize * b.cs)
                };
                if b.cs == 1 {
                    // SAFETY: the live columns are contiguous (cs = 1).
                    row[..live].copy_from_slice(unsafe { std::slice::from_raw_parts(src, live) });
                } else {
                    for (c, x) in row[..live].iter_mut().enumerate() {
                        // SAFETY: column j0 + c < cols.end of row ks.start + p.
                        *x = unsafe { *src.offset(c as isize * b.cs) };
                    }
                }
            }
        }
    }
}

/// One panel's live columns of a B contiguous along k: up to 16 columns × 16 k at a
/// time through a register transpose (a narrower group's missing rows are zero and its
/// stores masked), then the k past the last whole block element by element.
///
/// # Safety
/// Columns `j0..j0 + live` and rows `k0..k0 + kc` are in B with `b.rs == 1`; `dst`
/// holds `kc·nr` floats; the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn pack_k_contiguous(
    b: Strided,
    nr: usize,
    k0: usize,
    kc: usize,
    j0: usize,
    live: usize,
    dst: &mut [f32],
) {
    let column = |c: usize| {
        // SAFETY: column j0 + c (c < live) from row k0 is in B (caller's contract).
        unsafe { b.ptr.offset((j0 + c) as isize * b.cs + k0 as isize) }
    };
    let blocks = kc / 16;
    for g in 0..live.div_ceil(16) {
        let width = (live - 16 * g).min(16);
        let mask: __mmask16 = if width == 16 { !0 } else { (1 << width) - 1 };
        for blk in 0..blocks {
            // SAFETY: columns 16g..16g + width ≤ live hold k0 + 16·blk .. + 16 ≤ k0 + kc
            // contiguously; the 16 rows of dst written are < kc, at the columns
            // 16g..16g + width ≤ nr that the mask lets through.
            unsafe {
                let rows = std::array::from_fn(|i| {
                    if i < width {
                        _mm512_loadu_ps(column(16 * g + i).add(16 * blk))
                    } else {
                        _mm512_setzero_ps()
                    }
                });
                for (i, v) in transpose16(rows).into_iter().enumerate() {
                    let at = dst.as_mut_ptr().add((16 * blk + i) * nr + 16 * g);
                    _mm512_mask_storeu_ps(at, mask, v);
                }
            }
        }
    }
    for c in 0..live {
        let src = column(c);
        for p in 16 * blocks..kc {
            // SAFETY: k0 + p < k0 + kc of column j0 + c.
            dst[p * nr + c] = unsafe { *src.add(p) };
        }
    }
}

/// The transpose of a 16 × 16 block held as 16 rows: row i of the result is column i.
///
/// Three rounds of shuffles: pairs within 128-bit lanes (unpack), quads within them
/// (`shufps`), then 128-bit lanes across registers, twice (`vshuff32x4`).
#[target_feature(enable = "avx512f")]
pub(crate) fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    // t[2i] = (a0 b0 a1 b1 | a4 b4 a5 b5 | …), t[2i + 1] = (a2 b2 a3 b3 | …), for the
    // rows a = r[2i], b = r[2i + 1].
    let t: [__m512; 16] = std::array::from_fn(|j| {
        let (x, y) = (r[j & !1], r[j | 1]);
        if j % 2 == 0 {
            _mm512_unpacklo_ps(x, y)
        } else {
            _mm512_unpackhi_ps(x, y)
        }
    });
    // u[4i + q] holds column q + 4L of rows 4i..4i + 4 in its 128-bit lane L.
    let u: [__m512; 16] = std::array::from_fn(|j| {
        let (i, q) = (j / 4, j % 4);
        let (x, y) = (t[4 * i + q / 2], t[4 * i + 2 + q / 2]);
        if q % 2 == 0 {
            _mm512_shuffle_ps::<0x44>(x, y)
        } else {
            _mm512_shuffle_ps::<0xEE>(x, y)
        }
    });
    // A 4 × 4 transpose of 128-bit lanes across u[q], u[4 + q], u[8 + q], u[12 + q]
    // gives columns q, q + 4, q + 8, q + 12.
    let mut out = [_mm512_setzero_ps(); 16];
    for q in 0..4 {
        let v0 = _mm512_shuffle_f32x4::<0x88>(u[q], u[4 + q]);
        let v1 = _mm512_shuffle_f32x4::<0xDD>(u[q], u[4 + q]);
        let v2 = _mm512_shuffle_f32x4::<0x88>(u[8 + q], u[12 + q]);
        let v3 = _mm512_shuffle_f32x4::<0xDD>(u[8 + q], u[12 + q]);
        out[q] = _mm512_shuffle_f32x4::<0x88>(v0, v2);
        out[q + 4] = _mm512_shuffle_f32x4::<0x88>(v1, v3);
        out[q + 8] = _mm512_shuffle_f32x4::<0xDD>(v0, v2);
        out[q + 12] = _mm512_shuffle_f32x4::<0xDD>(v1, v3);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The register transpose is the transpose.
    #[test]
    fn transpose16_transposes() {
        if !crate::fma::cpu_has_avx512f() {
            return eprintln!("no AVX-512F on this CPU");
        }
        let m: Vec<f32> = (0..256).map(|x| x as f32).collect();
        let mut out = vec![0.0_f32; 256];
        // SAFETY: the CPU has AVX-512F (checked); 16 rows of 16 floats in and out.
        unsafe {
            let rows = std::array::from_fn(|i| _mm512_loadu_ps(m.as_ptr().add(16 * i)));
            for (i, v) in transpose16(rows).into_iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * i), v);
            }
        }
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(out[16 * i + j], m[16 * j + i], "({i}, {j})");
            }
        }
    }

    /// The transposing path (B contiguous along k), the copying path (contiguous
    /// along its columns) and the element-by-element one (neither) pack the same
    /// panels, edges and padding included, into buffers left dirty by a larger packing.
    #[test]
    fn every_layout_packs_the_same_panels() {
        if !crate::fma::cpu_has_avx512f() {
            return eprintln!("no AVX-512F on this CPU");
        }
        let (k, n) = (53, 61);
        let value = |p: usize, j: usize| ((p * 37 + j * 11) % 101) as f32 - 50.0;
        let (mut row_major, mut col_major, mut spread) =
            (vec![0.0; k * n], vec![0.0; k * n], vec![0.0; 2 * k * n]);
        for p in 0..k {
            for j in 0..n {
                row_major[p * n + j] = value(p, j);
                col_major[j * k + p] = value(p, j);
                spread[2 * (j * k + p)] = value(p, j);
            }
        }
        let layouts = [
            Strided {
                ptr: row_major.as_ptr(),
                rs: n as isize,
                cs: 1,
            },
            Strided {
                ptr: col_major.as_ptr(),
                rs: 1,
                cs: k as isize,
            },
            Strided {
                ptr: spread.as_ptr(),
                rs: 2,
                cs: 2 * k as isize,
            },
        ];
        for nr in [48, 32, 14, 8] {
            for (ks, cols) in [(0..53, 0..61), (3..50, 17..60), (16..48, 5..21)] {
                let packed: Vec<Vec<f32>> = layouts
                    .iter()
                    .map(|&b| {
                        let mut out = vec![f32::NAN; 9000];
                        // SAFETY: the ranges are inside the k×n matrix in every layout.
                        unsafe { pack_b(b, nr, ks.clone(), cols.clone(), &mut out) };
                        out
                    })
                    .collect();
                let label = format!("nr {nr}, k {ks:?}, columns {cols:?}");
                assert_eq!(
                    packed[0].len(),
                    cols.len().div_ceil(nr) * ks.len() * nr,
                    "{label}"
                );
                for (panel, chunk) in packed[0].chunks_exact(ks.len() * nr).enumerate() {
                    for (p, row) in chunk.chunks_exact(nr).enumerate() {
                        for (c, &x) in row.iter().enumerate() {
                            let j = cols.start + panel * nr + c;
                            let want = if j < cols.end {
                                value(ks.start + p, j)
                            } else {
                                0.0
                            };
                            assert_eq!(x, want, "{label}: panel {panel}, k {p}, column {c}");
                        }
                    }
                }
                assert_eq!(packed[1], packed[0], "k-contiguous, {label}");
                assert_eq!(packed[2], packed[0], "strided, {label}");
            }
        }
    }
}
