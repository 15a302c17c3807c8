"""The functions of the course's ``cs231n/layers.py``, same names and signatures,
computed by cs231n-rs. Each ``*_forward`` returns ``(out, cache)``; pass the cache,
unchanged, to the matching ``*_backward``.

Where the course keeps state in a parameter dict, so does this module: batchnorm
writes ``bn_param['running_mean']`` and ``bn_param['running_var']`` back.

Dropout keeps each unit with probability ``dropout_param['p']``, as the course's
current assignment does. Its mask is drawn by the engine's generator, seeded with
``dropout_param['seed']`` when given, otherwise with a number drawn from
``np.random`` (so ``np.random.seed`` makes runs repeatable); the masks are not the
ones numpy's generator would draw.
"""

import numpy as np

from . import _native, _params

__all__ = [
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
    "svm_loss",
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "layernorm_forward",
    "layernorm_backward",
    "dropout_forward",
    "dropout_backward",
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
    "spatial_batchnorm_forward",
    "spatial_batchnorm_backward",
    "spatial_groupnorm_forward",
    "spatial_groupnorm_backward",
]


def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b for x (N, d_1, ..., d_k), w (D, M), b (M,)."""
    return _native.affine_forward(x, w, b)


def affine_backward(dout, cache):
    """(dx, dw, db), dx in the shape of the forward pass's x."""
    return _native.affine_backward(dout, cache)


def relu_forward(x):
    """out = max(0, x), elementwise, any shape."""
    return _native.relu_forward(x)


def relu_backward(dout, cache):
    """dx = dout where x > 0, else 0."""
    return _native.relu_backward(dout, cache)


def softmax_loss(x, y):
    """(loss, dx) of the softmax (cross-entropy) loss on scores x (N, C), labels y (N,)."""
    return _native.softmax_loss(x, y)


def svm_loss(x, y):
    """(loss, dx) of the multiclass SVM (hinge) loss on scores x (N, C), labels y (N,)."""
    return _native.svm_loss(x, y)


def _running(bn_param, key, x, axis):
    """bn_param[key], zeros of x's feature count on the first call, in x's dtype."""
    dtype = getattr(x, "dtype", np.float64)
    shape = getattr(x, "shape", ())
    d = shape[axis] if len(shape) > axis else 0
    value = _params.get(bn_param, key, "bn_param", None, required=False)
    if value is None:
        return np.zeros(d, dtype=dtype)
    if isinstance(value, np.ndarray) and value.dtype != dtype and dtype in (np.float32, np.float64):
        return value.astype(dtype)
    return value


def _batchnorm(native, x, gamma, beta, bn_param, axis, layer):
    train = _params.mode(bn_param, "bn_param", layer)
    eps = _params.real(bn_param, "eps", "bn_param", 1e-5, required=False)
    momentum = _params.real(bn_param, "momentum", "bn_param", 0.9, required=False)
    mean = _running(bn_param, "running_mean", x, axis)
    var = _running(bn_param, "running_var", x, axis)
    out, cache, mean, var = native(x, gamma, beta, mean, var, momentum, eps, train)
    bn_param["running_mean"] = mean
    bn_param["running_var"] = var
    return out, cache


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of x (N, D) with scale gamma (D,) and shift beta (D,).

    bn_param: 'mode' ('train' or 'test', required), 'eps' (1e-5), 'momentum' (0.9),
    'running_mean' and 'running_var' (zeros at first; updated in place in train mode).
    """
    return _batchnorm(_native.batchnorm_forward, x, gamma, beta, bn_param, 1, "batchnorm")


def batchnorm_backward(dout, cache):
    """(dx, dgamma, dbeta) of batchnorm_forward."""
    return _native.batchnorm_backward(dout, cache)


# The engine's backward pass is already the simplified one-expression form.
batchnorm_backward_alt = batchnorm_backward


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation of each row of x (N, D); ln_param: 'eps' (1e-5)."""
    eps = _params.real(ln_param, "eps", "ln_param", 1e-5, required=False)
    return _native.layernorm_forward(x, gamma, beta, eps)


def layernorm_backward(dout, cache):
    """(dx, dgamma, dbeta) of layernorm_forward."""
    return _native.layernorm_backward(dout, cache)


def dropout_forward(x, dropout_param):
    """Inverted dropout on x of any shape.

    dropout_param: 'p' (probability of keeping a unit), 'mode' ('train' or 'test'),
    'seed' (optional).
    """
    p = _params.real(dropout_param, "p", "dropout_param")
    train = _params.mode(dropout_param, "dropout_param", "dropout")
    seed = _params.get(dropout_param, "seed", "dropout_param", None, required=False)
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1)) if train else 0
    else:
        seed = _params.whole(dropout_param, "seed", "dropout_param")
        if seed < 0:
            raise ValueError(f"dropout_param['seed'] must be >= 0, got {seed}")
    return _native.dropout_forward(x, p, train, seed)


def dropout_backward(dout, cache):
    """dx: dout through the kept units, scaled by 1/p (unchanged in test mode)."""
    return _native.dropout_backward(dout, cache)


def conv_forward_naive(x, w, b, conv_param):
    """The course's looped convolution: x (N, C, H, W), w (F, C, HH, WW), b (F,)."""
    return _native.conv_forward_naive(x, w, b, *_params.conv(conv_param))


def conv_backward_naive(dout, cache):
    """(dx, dw, db) of conv_forward_naive (or of any fast conv forward)."""
    return _native.conv_backward_naive(dout, cache)


def max_pool_forward_naive(x, pool_param):
    """The course's looped max pooling: x (N, C, H, W)."""
    return _native.max_pool_forward_naive(x, *_params.pool(pool_param))


def max_pool_backward_naive(dout, cache):
    """dx of max_pool_forward_naive: each window's gradient to its first maximum."""
    return _native.max_pool_backward_naive(dout, cache)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation per channel of x (N, C, H, W); gamma, beta (C,); bn_param
    as batchnorm_forward's."""
    return _batchnorm(
        _native.spatial_batchnorm_forward, x, gamma, beta, bn_param, 1, "batchnorm"
    )


def spatial_batchnorm_backward(dout, cache):
    """(dx, dgamma, dbeta) of spatial_batchnorm_forward."""
    return _native.spatial_batchnorm_backward(dout, cache)


def _channels(a):
    """gamma or beta of shape (1, C, 1, 1), as the course gives them, flattened to (C,)."""
    if isinstance(a, np.ndarray) and a.ndim == 4 and a.shape[0] == a.shape[2] == a.shape[3] == 1:
        return a.reshape(-1)
    return a


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalisation of x (N, C, H, W) in G groups of channels; gamma and beta
    (1, C, 1, 1); gn_param: 'eps' (1e-5)."""
    eps = _params.real(gn_param, "eps", "gn_param", 1e-5, required=False)
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)):
        raise ValueError(f"G must be a whole number of groups, got {G!r}")
    return _native.spatial_groupnorm_forward(x, _channels(gamma), _channels(beta), int(G), eps)


def spatial_groupnorm_backward(dout, cache):
    """(dx, dgamma, dbeta) of spatial_groupnorm_forward, dgamma and dbeta (1, C, 1, 1)."""
    dx, dgamma, dbeta = _native.spatial_groupnorm_backward(dout, cache)
    return dx, dgamma.reshape(1, -1, 1, 1), dbeta.reshape(1, -1, 1, 1)
