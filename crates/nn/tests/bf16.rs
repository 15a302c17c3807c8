//! The fast convolutions with bf16 products (`numeric::set_matmul_precision`) against
//! the naive layer in f64: forward, dx and dw, on the im2col paths and on Winograd
//! F(4×4, 3×3).
//!
//! The precision is process-wide, so these checks live in their own test binary and
//! every test in it sets the same precision.
//!
//! The error of each output is measured against what the naive sum of magnitudes
//! allows: for the forward pass `S = conv(|x|, |w|)`, for dx and dw the naive backward
//! pass of |dout| through |x| and |w|. A bf16 product errs by at most about
//! 2⁻⁷·S (docs/gemm.md); the im2col paths are that product, Winograd transforms its
//! inputs first and the rounding of the transformed tiles grows with them.

use ndarray::{Array1, Array4, ArrayView4};
use nn::ab::{self, Path};
use nn::{ConvParam, conv_backward_naive, conv_forward_naive};
use numeric::MatmulPrecision;

/// `max |got − want| / S` over the elements, with `S` the sum of magnitudes, and the
/// relative RMS error `‖got − want‖ / ‖want‖`.
fn ratio(got: &ArrayView4<'_, f32>, want: &Array4<f64>, magnitude: &Array4<f64>) -> [f64; 2] {
    let (mut worst, mut err2, mut want2) = (0.0_f64, 0.0, 0.0);
    for ((g, w), s) in got.iter().zip(want).zip(magnitude) {
        let e = f64::from(*g) - w;
        worst = worst.max(e.abs() / s.max(f64::MIN_POSITIVE));
        err2 += e * e;
        want2 += w * w;
    }
    [worst, (err2 / want2).sqrt()]
}

/// The forward, dx and dw errors ([`ratio`]) of `path` on a layer of `filters` 3×3
/// filters over `x_shape`, with bf16 products; printed for docs/gemm.md.
fn errors(path: Path, x_shape: (usize, usize, usize, usize), filters: usize) -> [[f64; 2]; 3] {
    let p = ConvParam::new(1, 1);
    let mut r = numeric::rng(x_shape.1 as u64 + filters as u64);
    let x: Array4<f64> = numeric::randn(x_shape, &mut r);
    let w: Array4<f64> = numeric::randn((filters, x_shape.1, 3, 3), &mut r);
    let b: Array1<f64> = numeric::randn(filters, &mut r);
    let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
    let dout: Array4<f64> = numeric::randn(out.dim(), &mut r);
    let (dx, dw, _) = conv_backward_naive(&dout.view(), &cache);
    // Sums of magnitudes: the same layer on |x|, |w| and |dout|, without bias.
    let zero = Array1::<f64>::zeros(filters);
    let (s_out, s_cache) = conv_forward_naive(
        &x.mapv(f64::abs).view(),
        &w.mapv(f64::abs).view(),
        &zero.view(),
        p,
    )
    .unwrap();
    let (s_dx, s_dw, _) = conv_backward_naive(&dout.mapv(f64::abs).view(), &s_cache);

    let f32s = |a: &Array4<f64>| a.mapv(|v| v as f32);
    let b32 = b.mapv(|v| v as f32);
    let (out32, cache32) =
        ab::forward(&f32s(&x).view(), &f32s(&w).view(), &b32.view(), p, path).unwrap();
    let (dx32, dw32, _) = ab::backward(&f32s(&dout).view(), &cache32, true, path);
    // The bias passes through exactly; measure the products alone.
    let out_no_bias = &out - &b.view().into_shape_with_order((1, filters, 1, 1)).unwrap();
    let out32_no_bias = &out32
        - &b32
            .view()
            .into_shape_with_order((1, filters, 1, 1))
            .unwrap();
    let e = [
        ratio(&out32_no_bias.view(), &out_no_bias, &s_out),
        ratio(&dx32.expect("asked for dx").view(), &dx, &s_dx),
        ratio(&dw32.view(), &dw, &s_dw),
    ];
    for (name, [max, rms]) in ["forward", "dx", "dw"].iter().zip(e) {
        eprintln!(
            "{path:?} {x_shape:?}×{filters} {name}: max {max:.2e} of S, relative RMS {rms:.2e}"
        );
    }
    e
}

/// Whether bf16 products are in force; prints why not otherwise.
fn bf16_in_force() -> bool {
    let on = numeric::set_matmul_precision(MatmulPrecision::Bf16) == MatmulPrecision::Bf16;
    if !on {
        eprintln!("no AVX512_BF16 on this CPU: the bf16 products cannot run");
    }
    on
}

/// The im2col paths are one bf16 product each: within the product's bound 2⁻⁷·S
/// (plus the f32 sums', negligible at these depths). Measured relative RMS error:
/// 2.3–2.4e-3, about 2⁻⁹ (each input's rounding, ≤ 2⁻⁸, averages to less).
#[test]
fn im2col_paths_stay_within_the_products_bound() {
    if !bf16_in_force() {
        return;
    }
    for (path, x_shape, filters) in [
        (Path::Wide, (2, 16, 15, 15), 32),
        (Path::Chunked, (3, 64, 7, 7), 96),
    ] {
        for [max, rms] in errors(path, x_shape, filters) {
            assert!(max <= 2f64.powi(-7) * 1.01, "{path:?}: {max:.3e} × S");
            assert!(rms <= 2f64.powi(-8), "{path:?}: relative RMS {rms:.3e}");
            // A bound that cannot fail would prove nothing: bf16 does round.
            assert!(
                rms > 2f64.powi(-16),
                "{path:?}: relative RMS {rms:.3e}, as if in f32"
            );
        }
    }
}

/// Winograd F(4×4, 3×3) with bf16 products: its transforms (sums of up to 36 input
/// values with weights up to 8) enlarge the products' operands, and their rounding
/// to bf16 costs about 11× the direct product's error. Measured: relative RMS error
/// 2.6–2.8e-2 (against 2.4e-3 for im2col), worst element 1.9–5.8e-2 of S; asserted
/// below 4e-2 and 1/8.
#[test]
fn winograd_stays_within_its_bound() {
    if !bf16_in_force() {
        return;
    }
    for (x_shape, filters) in [((2, 64, 16, 16), 64), ((2, 128, 8, 8), 128)] {
        for [max, rms] in errors(Path::Winograd, x_shape, filters) {
            assert!(max <= 0.125, "Winograd: {max:.3e} × S");
            assert!(rms <= 0.04, "Winograd: relative RMS {rms:.3e}");
            assert!(
                rms > 2f64.powi(-9),
                "Winograd: relative RMS {rms:.3e}, below bf16's own"
            );
        }
    }
}
