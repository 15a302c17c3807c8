use super::*;
use crate::conv::ConvParam;
use crate::{conv_backward_naive, conv_forward_naive};
use backprop::gradcheck::rel_error;

/// (N, C, H, W, F): odd and even sides, maps smaller than a tile, one channel,
/// 70 images of 3×3 (several chunks, the last one short), and channel counts of a
/// block of 8 and a remainder (the copies' two loops); the last three have 16
/// tiles or more per image and 4 filters per channel or more, so their forward
/// pass runs channels first (`winograd_planes.rs`), 20 images of them in several
/// chunks.
const SHAPES: [(usize, usize, usize, usize, usize); 11] = [
    (2, 3, 7, 7, 4),
    (3, 2, 5, 6, 3),
    (2, 4, 3, 3, 5),
    (1, 1, 1, 1, 2),
    (2, 3, 9, 13, 2),
    (2, 5, 8, 8, 3),
    (70, 2, 3, 3, 3),
    (2, 11, 6, 5, 10),
    (2, 2, 17, 15, 8),
    (3, 9, 16, 16, 41),
    (20, 2, 15, 15, 8),
];

fn layer<T: Float>(
    seed: u64,
    (n, c, h, w, f): (usize, usize, usize, usize, usize),
) -> (Array4<T>, Array4<T>, Array1<T>, Array4<T>) {
    let mut rng = numeric::rng(seed);
    (
        numeric::randn((n, c, h, w), &mut rng),
        numeric::randn((f, c, 3, 3), &mut rng),
        numeric::randn(f, &mut rng),
        numeric::randn((n, f, h, w), &mut rng),
    )
}

fn cache_of<T: Float>(x: &Array4<T>, w: &Array4<T>) -> ConvCache<T> {
    ConvCache {
        x: x.clone(),
        w: w.clone(),
        param: ConvParam::new(1, 1),
    }
}

/// Forward, dx, dW and db equal the naive layer's to 1e-10 in f64.
#[test]
fn matches_the_naive_layer_in_f64() {
    for (seed, shape) in SHAPES.into_iter().enumerate() {
        let (x, w, b, dout) = layer::<f64>(seed as u64, shape);
        let p = ConvParam::new(1, 1);
        let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
        let (dx, dw, db) = conv_backward_naive(&dout.view(), &cache);
        let d = dout.as_slice().unwrap();
        let fast = forward(&cache, b.as_slice().unwrap());
        assert!(
            rel_error(&fast.view(), &out.view()) < 1e-10,
            "out {shape:?}"
        );
        let fast_dx = backward_data(d, &cache);
        assert!(
            rel_error(&fast_dx.view(), &dx.view()) < 1e-10,
            "dx {shape:?}"
        );
        let (fast_dw, fast_db) = backward_weights(d, &cache);
        assert!(
            rel_error(&fast_dw.view(), &dw.view()) < 1e-10,
            "dw {shape:?}"
        );
        assert!(
            rel_error(&fast_db.view(), &db.view()) < 1e-10,
            "db {shape:?}"
        );
    }
}

/// The largest error of `got` against `exact`, as a fraction of `exact`'s largest
/// magnitude (the output's scale).
fn scaled_error(got: &Array4<f32>, exact: &Array4<f64>) -> f64 {
    let scale = exact.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(exact)
        .fold(0.0_f64, |m, (&g, &e)| m.max((g as f64 - e).abs()));
    err / scale
}

/// f32 against the naive layer in f64, on airbench94's channel counts with the
/// batch cut down: the largest error stays below 1e-5 of the output's scale for
/// every pass (measured: at most 5e-6; docs/conv.md).
#[test]
fn f32_error_is_bounded_by_the_outputs_scale() {
    for shape in [
        (2, 24, 31, 31, 8),
        (2, 64, 15, 15, 16),
        (2, 256, 7, 7, 16),
        (4, 256, 3, 3, 8),
    ] {
        let (x, w, b, dout) = layer::<f64>(17, shape);
        let f32s = |a: &Array4<f64>| a.mapv(|v| v as f32);
        let (x32, w32, dout32) = (f32s(&x), f32s(&w), f32s(&dout));
        // The exact layer of the f32 inputs, so only the arithmetic differs.
        let (x, w, dout) = (
            x32.mapv(f64::from),
            w32.mapv(f64::from),
            dout32.mapv(f64::from),
        );
        let p = ConvParam::new(1, 1);
        let (out, cache) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
        let (dx, dw, _) = conv_backward_naive(&dout.view(), &cache);
        let cache32 = cache_of(&x32, &w32);
        let b32: Vec<f32> = b.iter().map(|&v| v as f32).collect();
        let d = dout32.as_slice().unwrap();
        let errors = [
            scaled_error(&forward(&cache32, &b32), &out),
            scaled_error(&backward_data(d, &cache32), &dx),
            scaled_error(&backward_weights(d, &cache32).0, &dw),
        ];
        println!(
            "{shape:?}: forward {:.1e}, dx {:.1e}, dW {:.1e}",
            errors[0], errors[1], errors[2]
        );
        assert!(errors.iter().all(|&e| e < 1e-5), "{shape:?} {errors:?}");
    }
}

/// The channels-first forward pass in f32 on airbench94's 64→256 layer (batch cut
/// to 2): within the same 1e-5 of the output's scale (measured 6.6e-6).
#[test]
fn channels_first_forward_f32_error_is_bounded() {
    let (x, w, b, _) = layer::<f64>(17, (2, 64, 15, 15, 256));
    let (x32, w32) = (x.mapv(|v| v as f32), w.mapv(|v| v as f32));
    let (x, w) = (x32.mapv(f64::from), w32.mapv(f64::from));
    let p = ConvParam::new(1, 1);
    let (out, _) = conv_forward_naive(&x.view(), &w.view(), &b.view(), p).unwrap();
    let cache32 = cache_of(&x32, &w32);
    assert!(winograd_planes::wins(&Tiling::new(2, 64, 256, 15, 15)));
    let b32: Vec<f32> = b.iter().map(|&v| v as f32).collect();
    let error = scaled_error(&forward(&cache32, &b32), &out);
    println!("(2, 64, 15, 15, 256): forward {error:.1e}");
    assert!(error < 1e-5, "{error}");
}

/// With bf16 products, `U[ξ]` packed once per call gives the bits of `numeric::gemm`
/// at bf16 (which packs it again in every chunk), forward and backward-data, on
/// channel counts odd, small and airbench94's 256; the f32 route's bits differ, so
/// bf16 did run. No process-wide setting is touched.
#[test]
fn packed_filters_give_the_bits_of_bf16_products() {
    if !numeric::cpu_has_bf16() {
        return eprintln!("no AVX512_BF16 on this CPU: bf16 products cannot run");
    }
    for (seed, shape) in [
        (70, 2, 3, 3, 3),
        (2, 11, 6, 5, 10),
        (3, 64, 15, 15, 16),
        (3, 256, 7, 7, 256),
    ]
    .into_iter()
    .enumerate()
    {
        let (x, w, b, dout) = layer::<f32>(seed as u64, shape);
        let (n, c, h, wd, f) = shape;
        let b = b.as_slice().unwrap();
        for (backward, t, input) in [
            (false, Tiling::new(n, c, f, h, wd), &x),
            (true, Tiling::new(n, f, c, h, wd), &dout),
        ] {
            let u = filter_tiles(&w, backward, false);
            let input = input.as_slice().unwrap();
            let bias = (!backward).then_some(b);
            let run = |filters: Filters<'_, f32>| {
                let out = written(&t, |out| convolve(&t, input, &filters, bias, out));
                out.mapv(f32::to_bits)
            };
            let packed: Vec<PackedB> = (0..POINTS)
                .map(|xi| PackedB::new(&matrix(&u[xi * t.c * t.f..], t.c, t.f)).unwrap())
                .collect();
            let want = run(Filters::Values(&u, MatmulPrecision::Bf16));
            assert_eq!(run(Filters::Packed(&packed)), want, "{shape:?} {backward}");
            let f32s = run(Filters::Values(&u, MatmulPrecision::F32));
            assert_ne!(f32s, want, "{shape:?} {backward}: bf16 as f32");
        }
    }
}

/// Buffers kept from call to call carry nothing over: each layer, run first on
/// other values of its sizes a million times larger (so with the same kept
/// buffers), then on its own, still matches the naive layer to 1e-10 in f64,
/// forward and dx.
#[test]
fn kept_buffers_carry_nothing_between_calls() {
    for (seed, (n, c, h, w, f)) in SHAPES.into_iter().enumerate() {
        let (x, wt, b, dout) = layer::<f64>(seed as u64, (n, c, h, w, f));
        let (big_x, big_w, big_b, big_dout) = layer::<f64>(99, (n, c, h, w, f));
        let big = cache_of(&(big_x * 1e6), &(big_w * 1e6));
        forward(&big, (big_b * 1e6).as_slice().unwrap());
        backward_data((big_dout * 1e6).as_slice().unwrap(), &big);
        let p = ConvParam::new(1, 1);
        let (out, cache) = conv_forward_naive(&x.view(), &wt.view(), &b.view(), p).unwrap();
        let (dx, _, _) = conv_backward_naive(&dout.view(), &cache);
        let fast = forward(&cache, b.as_slice().unwrap());
        let fast_dx = backward_data(dout.as_slice().unwrap(), &cache);
        assert!(rel_error(&fast.view(), &out.view()) < 1e-10, "out {seed}");
        assert!(rel_error(&fast_dx.view(), &dx.view()) < 1e-10, "dx {seed}");
    }
}

/// No images, no channels or no filters: empty or zero results of the right
/// shapes, and the biases where there is nothing to convolve.
#[test]
fn empty_dimensions_give_empty_or_zero_results() {
    for shape in [
        (0, 3, 5, 5, 2),
        (2, 0, 5, 5, 2),
        (2, 3, 5, 5, 0),
        (2, 3, 0, 4, 2),
    ] {
        let (n, c, h, w, f) = shape;
        let (x, wt, b, dout) = layer::<f64>(1, shape);
        let cache = cache_of(&x, &wt);
        let out = forward(&cache, b.as_slice().unwrap());
        assert_eq!(out.dim(), (n, f, h, w), "{shape:?}");
        for (fi, plane) in out.axis_iter(ndarray::Axis(1)).enumerate() {
            assert!(plane.iter().all(|&v| v == b[fi]), "{shape:?}");
        }
        let d = dout.as_slice().unwrap();
        let dx = backward_data(d, &cache);
        assert_eq!(dx.dim(), (n, c, h, w), "{shape:?}");
        assert!(dx.iter().all(|&v| v == 0.0), "{shape:?}");
        let (dw, db) = backward_weights(d, &cache);
        assert_eq!((dw.dim(), db.len()), ((f, c, 3, 3), f), "{shape:?}");
        assert!(dw.iter().all(|&v| v == 0.0), "{shape:?}");
        if n == 0 || h == 0 {
            assert!(db.iter().all(|&v| v == 0.0), "{shape:?}");
        }
    }
}

/// The same thread count gives the same bits: dW is summed over chunks in order,
/// and the channels-first forward pass repeats itself too.
#[test]
fn same_inputs_give_the_same_bits() {
    let (x, w, _, dout) = layer::<f32>(5, (40, 3, 7, 7, 4));
    let cache = cache_of(&x, &w);
    let d = dout.as_slice().unwrap();
    let first = backward_weights(d, &cache);
    for _ in 0..3 {
        assert_eq!(backward_weights(d, &cache), first);
    }
    let (x, w, b, _) = layer::<f32>(6, (20, 3, 15, 15, 12));
    let cache = cache_of(&x, &w);
    let first = forward(&cache, b.as_slice().unwrap());
    for _ in 0..3 {
        assert_eq!(forward(&cache, b.as_slice().unwrap()), first);
    }
}

/// The parallel, row-wise filter gradient gives each (filter, channel) pair's
/// `Gᵀ dW[ξ] G` to the bit, as one pair at a time would: odd channel and filter
/// counts, and a filter count past a vector's lanes with a remainder.
#[test]
fn filter_gradient_is_each_pairs_transform() {
    use crate::winograd_tiles::{both_axes, gt};
    for (c, f) in [(1, 1), (3, 5), (17, 33)] {
        let dw: Vec<f32> = numeric::randn(POINTS * c * f, &mut numeric::rng(7)).to_vec();
        let got = filter_gradient(&dw, c, f);
        assert_eq!(got.dim(), (f, c, 3, 3));
        for fi in 0..f {
            for ci in 0..c {
                let mm: [[f32; ALPHA]; ALPHA] = std::array::from_fn(|a| {
                    std::array::from_fn(|b| dw[((a * ALPHA + b) * c + ci) * f + fi])
                });
                for (i, row) in both_axes(mm, gt).iter().enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        assert_eq!(
                            got[[fi, ci, i, j]].to_bits(),
                            v.to_bits(),
                            "{fi} {ci} {i} {j}"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(filter_gradient::<f32>(&[], 0, 4).dim(), (4, 0, 3, 3));
}
