"""cs231n_rs.layers against the numpy references: values, gradients (analytic and
numerical), running statistics, float32, and ValueError on bad input."""

import numpy as np
import pytest

import reference as ref
from cs231n_rs import layers as L
from reference import eval_numerical_gradient, eval_numerical_gradient_array, rel_error


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_affine_course_values_and_gradients():
    # The course's affine_forward check.
    x = np.linspace(-0.1, 0.5, num=2 * 120).reshape(2, 4, 5, 6)
    w = np.linspace(-0.2, 0.3, num=120 * 3).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    out, _ = L.affine_forward(x, w, b)
    correct = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(out, correct) < 1e-7
    x, w, b = randn(10, 2, 3), randn(6, 5, seed=1), randn(5, seed=2)
    out, cache = L.affine_forward(x, w, b)
    assert rel_error(out, x.reshape(10, -1) @ w + b) < 1e-8
    dout = randn(10, 5, seed=3)
    dx, dw, db = L.affine_backward(dout, cache)
    assert dx.shape == x.shape
    assert rel_error(dx, (dout @ w.T).reshape(x.shape)) < 1e-8
    assert rel_error(dw, x.reshape(10, -1).T @ dout) < 1e-8
    assert rel_error(db, dout.sum(axis=0)) < 1e-8
    for arg, grad in ((x, dx), (w, dw), (b, db)):
        num = eval_numerical_gradient_array(lambda _: L.affine_forward(x, w, b)[0], arg, dout)
        assert rel_error(grad, num) < 1e-8


def test_relu():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = L.relu_forward(x)
    assert rel_error(out, np.maximum(0, x)) < 1e-8
    x = randn(4, 3, 2) + 0.05  # nothing close enough to 0 for the difference to cross it
    x[np.abs(x) < 1e-3] = 0.5
    out, cache = L.relu_forward(x)
    dout = randn(4, 3, 2, seed=1)
    dx = L.relu_backward(dout, cache)
    assert rel_error(dx, dout * (x > 0)) < 1e-8
    assert rel_error(dx, eval_numerical_gradient_array(lambda _: L.relu_forward(x)[0], x, dout)) < 1e-8


@pytest.mark.parametrize("name", ["svm_loss", "softmax_loss"])
def test_score_losses(name):
    x, y = 0.001 * randn(50, 10), np.random.default_rng(1).integers(10, size=50)
    loss, dx = getattr(L, name)(x, y)
    eloss, edx = getattr(ref, name)(x, y)
    assert rel_error(loss, eloss) < 1e-8 and rel_error(dx, edx) < 1e-8
    num = eval_numerical_gradient(lambda xx: getattr(L, name)(xx, y)[0], x)
    assert rel_error(dx, num) < 1e-8
    if name == "softmax_loss":
        assert abs(loss - np.log(10)) < 0.01  # the course's sanity check: ~2.3


def test_batchnorm_train_test_and_running_stats():
    x = 5 * randn(20, 4) + 3
    gamma, beta = randn(4, seed=1), randn(4, seed=2)
    bn_param = {"mode": "train", "momentum": 0.8}
    out, cache = L.batchnorm_forward(x, gamma, beta, bn_param)
    expected, mu, var = ref.batchnorm_forward(x, gamma, beta, 1e-5)
    assert rel_error(out, expected) < 1e-8
    assert rel_error(bn_param["running_mean"], 0.2 * mu) < 1e-8
    assert rel_error(bn_param["running_var"], 0.2 * var) < 1e-8
    dout = randn(20, 4, seed=3)
    dx, dgamma, dbeta = L.batchnorm_backward(dout, cache)
    edx, edgamma, edbeta = ref.batchnorm_backward(dout, x, gamma, 1e-5)
    assert max(rel_error(dx, edx), rel_error(dgamma, edgamma), rel_error(dbeta, edbeta)) < 1e-8
    assert L.batchnorm_backward_alt is L.batchnorm_backward
    fresh = lambda _: L.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]  # noqa: E731
    for arg, grad in ((x, dx), (gamma, dgamma), (beta, dbeta)):
        assert rel_error(grad, eval_numerical_gradient_array(fresh, arg, dout)) < ref.FD_TOL  # dx ~ 1e-3
    # Test mode uses the running statistics and leaves them alone.
    bn_param["mode"] = "test"
    mean, var = bn_param["running_mean"].copy(), bn_param["running_var"].copy()
    out, cache = L.batchnorm_forward(x, gamma, beta, bn_param)
    assert rel_error(out, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta) < 1e-8
    assert np.array_equal(bn_param["running_mean"], mean)
    dx, _, _ = L.batchnorm_backward(dout, cache)
    assert rel_error(dx, dout * gamma / np.sqrt(var + 1e-5)) < 1e-8


def test_layernorm():
    x = 3 * randn(6, 8) - 1
    gamma, beta = randn(8, seed=1), randn(8, seed=2)
    out, cache = L.layernorm_forward(x, gamma, beta, {})
    assert rel_error(out, ref.layernorm_forward(x, gamma, beta, 1e-5)) < 1e-8
    dout = randn(6, 8, seed=3)
    dx, dgamma, dbeta = L.layernorm_backward(dout, cache)
    edx, edgamma, edbeta = ref.layernorm_backward(dout, x, gamma, 1e-5)
    assert max(rel_error(dx, edx), rel_error(dgamma, edgamma), rel_error(dbeta, edbeta)) < 1e-8
    f = lambda _: L.layernorm_forward(x, gamma, beta, {"eps": 1e-5})[0]  # noqa: E731
    for arg, grad in ((x, dx), (gamma, dgamma), (beta, dbeta)):
        assert rel_error(grad, eval_numerical_gradient_array(f, arg, dout)) < 1e-8


def test_dropout():
    x = randn(500, 500) + 10
    for p in (0.25, 0.4, 0.7):
        out, cache = L.dropout_forward(x, {"mode": "train", "p": p, "seed": 123})
        kept = out != 0
        assert abs(kept.mean() - p) < 0.01
        assert rel_error(out[kept], x[kept] / p) < 1e-8
        again, _ = L.dropout_forward(x, {"mode": "train", "p": p, "seed": 123})
        assert np.array_equal(out, again)  # same seed, same mask
        dout = randn(500, 500, seed=1)
        dx = L.dropout_backward(dout, cache)
        assert rel_error(dx, np.where(kept, dout / p, 0.0)) < 1e-8
        out, cache = L.dropout_forward(x, {"mode": "test", "p": p})
        assert np.array_equal(out, x) and np.array_equal(L.dropout_backward(dout, cache), dout)
    # The numerical gradient through a fixed mask (same seed each call).
    xs, dout = randn(10, 10), randn(10, 10, seed=2)
    out, cache = L.dropout_forward(xs, {"mode": "train", "p": 0.2, "seed": 7})
    f = lambda _: L.dropout_forward(xs, {"mode": "train", "p": 0.2, "seed": 7})[0]  # noqa: E731
    assert rel_error(L.dropout_backward(dout, cache), eval_numerical_gradient_array(f, xs, dout)) < 1e-8


def test_dropout_without_seed_follows_np_random():
    x = np.ones((50, 50))
    np.random.seed(231)
    a, _ = L.dropout_forward(x, {"mode": "train", "p": 0.5})
    np.random.seed(231)
    b, _ = L.dropout_forward(x, {"mode": "train", "p": 0.5})
    assert np.array_equal(a, b)


def test_spatial_batchnorm():
    x = 4 * randn(3, 4, 5, 6) + 2
    gamma, beta = randn(4, seed=1), randn(4, seed=2)
    bn_param = {"mode": "train"}
    out, cache = L.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, 4)
    expected, mu, var = ref.batchnorm_forward(rows, gamma, beta, 1e-5)
    assert rel_error(out, expected.reshape(3, 5, 6, 4).transpose(0, 3, 1, 2)) < 1e-8
    assert rel_error(bn_param["running_mean"], 0.1 * mu) < 1e-8
    dout = randn(3, 4, 5, 6, seed=3)
    dx, dgamma, dbeta = L.spatial_batchnorm_backward(dout, cache)
    edx, edgamma, edbeta = ref.batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, 4), rows, gamma, 1e-5)
    assert rel_error(dx, edx.reshape(3, 5, 6, 4).transpose(0, 3, 1, 2)) < 1e-8
    assert max(rel_error(dgamma, edgamma), rel_error(dbeta, edbeta)) < 1e-8
    xs, ds = x[:2, :, :3, :3].copy(), dout[:2, :, :3, :3].copy()
    _, c = L.spatial_batchnorm_forward(xs, gamma, beta, {"mode": "train"})
    dx, dgamma, _ = L.spatial_batchnorm_backward(ds, c)
    f = lambda _: L.spatial_batchnorm_forward(xs, gamma, beta, {"mode": "train"})[0]  # noqa: E731
    assert rel_error(dx, eval_numerical_gradient_array(f, xs, ds)) < 1e-8
    assert rel_error(dgamma, eval_numerical_gradient_array(f, gamma, ds)) < 1e-8


def test_spatial_groupnorm():
    N, C, H, W, G = 2, 6, 4, 5, 2
    x = 4 * randn(N, C, H, W) + 10
    gamma, beta = randn(1, C, 1, 1, seed=1), randn(1, C, 1, 1, seed=2)
    out, cache = L.spatial_groupnorm_forward(x, gamma, beta, G, {"eps": 1e-5})
    expected, _ = ref.groupnorm_forward(x, gamma, beta, G, 1e-5)
    assert rel_error(out, expected) < 1e-8
    dout = randn(N, C, H, W, seed=3)
    dx, dgamma, dbeta = L.spatial_groupnorm_backward(dout, cache)
    assert dgamma.shape == dbeta.shape == (1, C, 1, 1)
    edx, edgamma, edbeta = ref.groupnorm_backward(dout, x, gamma, G, 1e-5)
    assert max(rel_error(dx, edx), rel_error(dgamma, edgamma), rel_error(dbeta, edbeta)) < 1e-8
    f = lambda _: L.spatial_groupnorm_forward(x, gamma, beta, G, {})[0]  # noqa: E731
    for arg, grad in ((x, dx), (gamma, dgamma), (beta, dbeta)):
        assert rel_error(grad, eval_numerical_gradient_array(f, arg, dout)) < ref.FD_TOL  # dx ~ 1e-3


def test_float32_layers():
    x = randn(8, 5).astype(np.float32)
    g, b = np.ones(5, np.float32), np.zeros(5, np.float32)
    w = randn(5, 3, seed=1).astype(np.float32)
    out, cache = L.affine_forward(x, w, np.zeros(3, np.float32))
    assert out.dtype == np.float32 and np.allclose(out, x.astype(np.float64) @ w, atol=1e-5)
    assert all(a.dtype == np.float32 for a in L.affine_backward(np.ones_like(out), cache))
    bn_param = {"mode": "train"}
    out, cache = L.batchnorm_forward(x, g, b, bn_param)
    assert out.dtype == bn_param["running_mean"].dtype == np.float32
    expected, _, _ = ref.batchnorm_forward(x.astype(np.float64), g, b, 1e-5)
    assert np.allclose(out, expected, atol=1e-4)
    assert L.relu_forward(x)[0].dtype == np.float32
    loss, dx = L.softmax_loss(x, np.arange(8) % 5)
    assert dx.dtype == np.float32 and isinstance(loss, float)


def conv_inputs():
    return np.zeros((2, 3, 4, 4)), np.ones(3), np.zeros(3)


@pytest.mark.parametrize(
    "call",
    [
        lambda: L.affine_forward(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(5)),
        lambda: L.affine_forward(np.zeros((2, 4)), np.zeros((4, 5)), np.zeros(4)),
        lambda: L.affine_forward(np.zeros((2, 4), np.float32), np.zeros((4, 5)), np.zeros(5)),
        lambda: L.affine_backward(np.zeros((3, 5)), L.affine_forward(np.zeros((2, 4)), np.zeros((4, 5)), np.zeros(5))[1]),
        lambda: L.relu_backward(np.zeros(3), L.relu_forward(np.zeros(4))[1]),
        lambda: L.batchnorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), {"mode": "val"}),
        lambda: L.batchnorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), {}),
        lambda: L.batchnorm_forward(np.zeros((2, 3)), np.ones(4), np.zeros(3), {"mode": "train"}),
        lambda: L.batchnorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), {"mode": "train", "running_mean": np.zeros(2)}),
        lambda: L.batchnorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), {"mode": "train", "eps": -1.0}),
        lambda: L.batchnorm_forward(np.zeros((2, 3, 1)), np.ones(3), np.zeros(3), {"mode": "train"}),
        lambda: L.batchnorm_backward(np.zeros((2, 3)), L.relu_forward(np.zeros((2, 3)))[1]),
        lambda: L.layernorm_forward(np.zeros((2, 3)), np.ones(2), np.zeros(3), {}),
        lambda: L.dropout_forward(np.zeros(3), {"mode": "train", "p": 0.0}),
        lambda: L.dropout_forward(np.zeros(3), {"mode": "train", "p": 1.5}),
        lambda: L.dropout_forward(np.zeros(3), {"mode": "train"}),
        lambda: L.dropout_forward(np.zeros(3), {"mode": "train", "p": 0.5, "seed": -1}),
        lambda: L.spatial_batchnorm_forward(*conv_inputs()[:1], np.ones(2), np.zeros(3), {"mode": "train"}),
        lambda: L.spatial_groupnorm_forward(np.zeros((2, 6, 2, 2)), np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1)), 4, {}),
        lambda: L.spatial_groupnorm_forward(np.zeros((2, 6, 2, 2)), np.ones((1, 6, 1, 1)), np.zeros((1, 6, 1, 1)), 0, {}),
        lambda: L.spatial_groupnorm_forward(np.zeros((2, 6, 2, 2)), np.ones((1, 5, 1, 1)), np.zeros((1, 6, 1, 1)), 2, {}),
        lambda: L.svm_loss(np.zeros((3, 4)), np.array([0, 1, 4])),
        lambda: L.svm_loss(np.zeros((3, 4)), np.array([0, 1])),
        lambda: L.softmax_loss(np.zeros((3, 4)), np.array([0, -1, 2])),
        lambda: L.softmax_loss(np.zeros((3, 4)), np.array([0.0, 1.0, 2.0])),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_batchnorm_mode_error_uses_the_course_wording():
    with pytest.raises(ValueError, match='Invalid forward batchnorm mode "val"'):
        L.batchnorm_forward(np.zeros((2, 3)), np.ones(3), np.zeros(3), {"mode": "val"})
