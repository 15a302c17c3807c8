"""cs231n_rs.fast_layers against the numpy references: values, gradients (analytic and
numerical), float32, and ValueError on bad input."""

import numpy as np
import pytest

import reference as ref
from cs231n_rs import layers
from cs231n_rs.fast_layers import *  # noqa: F403 (the one-line switch a notebook makes)
from cs231n_rs.fast_layers import __all__ as fast_names
from reference import eval_numerical_gradient_array, rel_error

CONV_CASES = [
    # x shape, w shape, stride, pad
    ((2, 3, 7, 7), (4, 3, 3, 3), 2, 1),  # the notebook's check, smaller
    ((2, 3, 6, 6), (2, 3, 3, 3), 1, 1),
    ((1, 2, 5, 7), (3, 2, 1, 3), 2, 0),
    ((3, 1, 4, 4), (2, 1, 4, 4), 1, 0),
]
CONV_PAIRS = [
    (conv_forward_fast, conv_backward_fast),  # noqa: F405
    (conv_forward_im2col, conv_backward_im2col),  # noqa: F405
    (conv_forward_strides, conv_backward_strides),  # noqa: F405
    (layers.conv_forward_naive, layers.conv_backward_naive),
]


def conv_data(xs, ws, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return x, w, b


def test_star_import_gives_the_course_names():
    expected = {
        "conv_forward_fast", "conv_backward_fast", "conv_forward_im2col", "conv_backward_im2col",
        "conv_forward_strides", "conv_backward_strides", "max_pool_forward_fast",
        "max_pool_backward_fast", "max_pool_forward_im2col", "max_pool_backward_im2col",
        "max_pool_forward_reshape", "max_pool_backward_reshape", "im2col_cython", "col2im_cython",
    }
    assert set(fast_names) == expected
    assert all(callable(globals()[name]) for name in expected)


@pytest.mark.parametrize("xs, ws, stride, pad", CONV_CASES)
@pytest.mark.parametrize("forward, backward", CONV_PAIRS)
def test_conv_matches_numpy_reference(xs, ws, stride, pad, forward, backward):
    x, w, b = conv_data(xs, ws)
    out, cache = forward(x, w, b, {"stride": stride, "pad": pad})
    expected = ref.conv_forward(x, w, b, stride, pad)
    assert out.shape == expected.shape and out.dtype == np.float64
    assert rel_error(out, expected) < 1e-8
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)
    edx, edw, edb = ref.conv_backward(dout, x, w, stride, pad)
    assert rel_error(dx, edx) < 1e-8
    assert rel_error(dw, edw) < 1e-8
    assert rel_error(db, edb) < 1e-8


def test_conv_course_sanity_value():
    # The course's conv_forward_naive check: x (2, 3, 4, 4), w (3, 3, 4, 4), stride 2, pad 1.
    x = np.linspace(-0.1, 0.5, num=2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=3 * 3 * 4 * 4).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    correct_out = np.array(
        [[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
          [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
          [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
         [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
          [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
          [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]]
    )
    for forward in (conv_forward_fast, layers.conv_forward_naive):  # noqa: F405
        out, _ = forward(x, w, b, {"stride": 2, "pad": 1})
        assert rel_error(out, correct_out) < 1e-7


@pytest.mark.parametrize("xs, ws, stride, pad", CONV_CASES[:2])
def test_conv_backward_numerical_gradient(xs, ws, stride, pad):
    x, w, b = conv_data(xs, ws, seed=2)
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_fast(x, w, b, conv_param)  # noqa: F405
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx, dw, db = conv_backward_fast(dout, cache)  # noqa: F405
    # The fast path is the naive one to rounding ...
    _, naive_cache = layers.conv_forward_naive(x, w, b, conv_param)  # noqa: F405
    for fast, naive in zip((dx, dw, db), layers.conv_backward_naive(dout, naive_cache)):  # noqa: F405
        assert rel_error(fast, naive) < 1e-10
    # ... and both match centred differences as closely as those can tell: "around
    # 1e-8 or less", as the course's notebook says (the naive layer itself gives
    # 1.3e-8 on the first case).
    f = lambda _: conv_forward_fast(x, w, b, conv_param)[0]  # noqa: E731, F405
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-7
    assert rel_error(dw, eval_numerical_gradient_array(f, w, dout)) < 1e-7
    assert rel_error(db, eval_numerical_gradient_array(f, b, dout)) < 1e-7


def test_conv_caches_are_interchangeable():
    x, w, b = conv_data((2, 3, 6, 6), (2, 3, 3, 3))
    out, cache = layers.conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})
    dout = np.ones_like(out)
    for backward in (conv_backward_fast, conv_backward_strides, layers.conv_backward_naive):  # noqa: F405
        dx, dw, db = backward(dout, cache)
        edx, edw, edb = ref.conv_backward(dout, x, w, 1, 1)
        assert max(rel_error(dx, edx), rel_error(dw, edw), rel_error(db, edb)) < 1e-8


def test_conv_float32():
    x, w, b = conv_data((2, 3, 8, 8), (4, 3, 3, 3), dtype=np.float32)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})  # noqa: F405
    assert out.dtype == np.float32
    expected = ref.conv_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1, 1)
    assert np.allclose(out, expected, rtol=1e-4, atol=1e-4)
    dx, dw, db = conv_backward_fast(np.ones_like(out), cache)  # noqa: F405
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    edx, edw, edb = ref.conv_backward(np.ones(out.shape), x.astype(np.float64), w.astype(np.float64), 1, 1)
    assert np.allclose(dx, edx, rtol=1e-4, atol=1e-4) and np.allclose(dw, edw, rtol=1e-4, atol=1e-3)


def test_conv_accepts_non_contiguous_inputs():
    x, w, b = conv_data((3, 4, 6, 6), (2, 3, 3, 3))
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2))[:, ::-1][:, 1:]  # strided, reversed channels
    out, _ = conv_forward_fast(xt, w, b, {"stride": 1, "pad": 0})  # noqa: F405
    assert rel_error(out, ref.conv_forward(np.ascontiguousarray(xt), w, b, 1, 0)) < 1e-8


POOL_CASES = [((2, 3, 8, 8), 2, 2, 2), ((2, 2, 7, 5), 3, 1, 2), ((1, 2, 6, 6), 3, 3, 1)]
POOL_PAIRS = [
    (max_pool_forward_fast, max_pool_backward_fast),  # noqa: F405
    (max_pool_forward_reshape, max_pool_backward_reshape),  # noqa: F405
    (max_pool_forward_im2col, max_pool_backward_im2col),  # noqa: F405
    (layers.max_pool_forward_naive, layers.max_pool_backward_naive),
]


@pytest.mark.parametrize("xs, ph, pw, stride", POOL_CASES)
@pytest.mark.parametrize("forward, backward", POOL_PAIRS)
def test_max_pool_matches_numpy_reference(xs, ph, pw, stride, forward, backward):
    x = np.random.default_rng(4).standard_normal(xs)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = forward(x, pool_param)
    assert rel_error(out, ref.max_pool_forward(x, ph, pw, stride)) < 1e-8
    dout = np.random.default_rng(5).standard_normal(out.shape)
    dx = backward(dout, cache)
    assert rel_error(dx, ref.max_pool_backward(dout, x, ph, pw, stride)) < 1e-8
    f = lambda _: forward(x, pool_param)[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(f, x, dout)) < 1e-8


def test_conv_relu_pool_sandwich_as_layer_utils_builds_it():
    x, w, b = conv_data((2, 3, 8, 8), (3, 3, 3, 3), seed=8)
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}

    def forward(x, w, b):
        a, conv_cache = conv_forward_fast(x, w, b, conv_param)  # noqa: F405
        s, relu_cache = layers.relu_forward(a)
        out, pool_cache = max_pool_forward_fast(s, pool_param)  # noqa: F405
        return out, (conv_cache, relu_cache, pool_cache)

    out, (conv_cache, relu_cache, pool_cache) = forward(x, w, b)
    dout = np.random.default_rng(9).standard_normal(out.shape)
    ds = max_pool_backward_fast(dout, pool_cache)  # noqa: F405
    dx, dw, db = conv_backward_fast(layers.relu_backward(ds, relu_cache), conv_cache)  # noqa: F405
    f = lambda _: forward(x, w, b)[0]  # noqa: E731
    for arg, grad in ((x, dx), (w, dw), (b, db)):
        assert rel_error(grad, eval_numerical_gradient_array(f, arg, dout)) < 1e-8


def test_max_pool_ties_go_to_the_first_maximum():
    x = np.zeros((1, 1, 2, 2))
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})  # noqa: F405
    dx = max_pool_backward_fast(np.ones_like(out), cache)  # noqa: F405
    assert dx.ravel().tolist() == [1.0, 0.0, 0.0, 0.0]


def test_max_pool_float32():
    x = np.random.default_rng(6).standard_normal((2, 3, 4, 4)).astype(np.float32)
    out, cache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})  # noqa: F405
    assert out.dtype == np.float32 and np.array_equal(out, ref.max_pool_forward(x, 2, 2, 2))
    assert max_pool_backward_fast(np.ones_like(out), cache).dtype == np.float32  # noqa: F405


@pytest.mark.parametrize("xs, fh, fw, pad, stride", [((2, 3, 5, 5), 3, 3, 1, 2), ((3, 2, 4, 6), 2, 2, 0, 1), ((1, 1, 5, 5), 3, 3, 2, 3)])
def test_im2col_cython_layout_and_col2im_adjoint(xs, fh, fw, pad, stride):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(xs)
    cols = im2col_cython(x, fh, fw, pad, stride)  # noqa: F405
    expected = ref.im2col_cython(x, fh, fw, pad, stride)
    assert cols.shape == expected.shape and rel_error(cols, expected) < 1e-12
    # col2im is im2col's adjoint: <im2col(x), c> = <x, col2im(c)>.
    c = rng.standard_normal(cols.shape)
    back = col2im_cython(c, *xs, fh, fw, pad, stride)  # noqa: F405
    assert back.shape == xs
    assert abs(np.sum(cols * c) - np.sum(x * back)) < 1e-9 * np.sum(np.abs(cols * c))


@pytest.mark.parametrize(
    "call",
    [
        # The course's assertion wording.
        lambda: conv_forward_fast(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 2, 2)), np.zeros(1), {"stride": 2, "pad": 0}),  # noqa: F405
        # Channels of x and w differ.
        lambda: conv_forward_fast(np.zeros((1, 3, 5, 5)), np.zeros((1, 2, 3, 3)), np.zeros(1), {"stride": 1, "pad": 1}),  # noqa: F405
        # One bias per filter.
        lambda: conv_forward_fast(np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 3)), np.zeros(3), {"stride": 1, "pad": 1}),  # noqa: F405
        # Mixed dtypes.
        lambda: conv_forward_fast(np.zeros((1, 2, 5, 5)), np.zeros((1, 2, 3, 3), np.float32), np.zeros(1), {"stride": 1, "pad": 1}),  # noqa: F405
        # Integer arrays, wrong number of axes, a list.
        lambda: conv_forward_fast(np.zeros((1, 2, 5, 5), int), np.zeros((1, 2, 3, 3)), np.zeros(1), {"stride": 1, "pad": 1}),  # noqa: F405
        lambda: conv_forward_fast(np.zeros((2, 5, 5)), np.zeros((1, 2, 3, 3)), np.zeros(1), {"stride": 1, "pad": 1}),  # noqa: F405
        lambda: conv_forward_fast([[1.0]], np.zeros((1, 2, 3, 3)), np.zeros(1), {"stride": 1, "pad": 1}),  # noqa: F405
        # Zero or negative stride, negative pad, missing or fractional keys.
        lambda: conv_forward_fast(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 0, "pad": 1}),  # noqa: F405
        lambda: conv_forward_fast(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": -1, "pad": 1}),  # noqa: F405
        lambda: conv_forward_fast(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 1, "pad": -1}),  # noqa: F405
        lambda: conv_forward_fast(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 1}),  # noqa: F405
        lambda: conv_forward_fast(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 1.5, "pad": 0}),  # noqa: F405
        # Filter larger than the padded input.
        lambda: conv_forward_fast(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 5, 5)), np.zeros(1), {"stride": 1, "pad": 0}),  # noqa: F405
        # Pool windows that do not tile, zero window.
        lambda: max_pool_forward_fast(np.zeros((1, 1, 5, 5)), {"pool_height": 2, "pool_width": 2, "stride": 2}),  # noqa: F405
        lambda: max_pool_forward_fast(np.zeros((1, 1, 4, 4)), {"pool_height": 0, "pool_width": 2, "stride": 2}),  # noqa: F405
        lambda: im2col_cython(np.zeros((1, 1, 3, 3)), 5, 5, 0, 1),  # noqa: F405
        lambda: im2col_cython(np.zeros((1, 1, 3, 3)), 3, 3, 0, 0),  # noqa: F405
        lambda: col2im_cython(np.zeros((9, 5)), 1, 1, 3, 3, 3, 3, 1, 1),  # noqa: F405
        # Padding as wide as the filter: outputs that see only zeros, sizes without bound.
        lambda: conv_forward_fast(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 1, "pad": 3}),  # noqa: F405
        lambda: im2col_cython(np.zeros((1, 1, 3, 3)), 3, 3, 10**9, 1),  # noqa: F405
        # No filters at all; a stride too large for any integer type; a bool for an int.
        lambda: conv_forward_fast(np.zeros((1, 3, 5, 5)), np.zeros((0, 3, 3, 3)), np.zeros(0), {"stride": 1, "pad": 1}),  # noqa: F405
        lambda: conv_forward_fast(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 10**30, "pad": 1}),  # noqa: F405
        lambda: im2col_cython(np.zeros((1, 1, 3, 3)), True, 3, 0, 1),  # noqa: F405
        # Sizes written by the caller that overflow, or that no memory can hold.
        lambda: col2im_cython(np.zeros((9, 1)), 1, 1, 10**12, 10**12, 3, 3, 1, 10**12),  # noqa: F405
        lambda: col2im_cython(np.zeros((9, 1)), 1, 1, 10**6, 10**6, 3, 3, 1, 10**6),  # noqa: F405
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_conv_error_uses_the_course_wording():
    with pytest.raises(ValueError, match="width does not work"):
        conv_forward_fast(np.zeros((1, 1, 4, 5)), np.zeros((1, 1, 2, 2)), np.zeros(1), {"stride": 2, "pad": 0})  # noqa: F405
    with pytest.raises(ValueError, match="Invalid height"):
        max_pool_forward_fast(np.zeros((1, 1, 5, 4)), {"pool_height": 2, "pool_width": 2, "stride": 2})  # noqa: F405


def test_backward_checks_dout_and_cache():
    x, w, b = conv_data((1, 1, 4, 4), (1, 1, 3, 3))
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})  # noqa: F405
    pout, pcache = max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})  # noqa: F405
    with pytest.raises(ValueError, match="dout has shape"):
        conv_backward_fast(np.zeros((1, 1, 3, 3)), cache)  # noqa: F405
    with pytest.raises(ValueError):
        conv_backward_fast(out.astype(np.float32), cache)  # noqa: F405
    with pytest.raises(ValueError, match="cache made by max_pool_forward_fast"):
        conv_backward_fast(out, pcache)  # noqa: F405
    with pytest.raises(ValueError):
        max_pool_backward_fast(pout, (x, {"stride": 2}))  # noqa: F405
    with pytest.raises(ValueError):
        layers.max_pool_backward_naive(pout, pcache)
