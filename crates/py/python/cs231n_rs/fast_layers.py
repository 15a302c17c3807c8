"""Stand-in for the course's ``cs231n/fast_layers.py``, with its names, signatures and
``(out, cache)`` convention, and no Cython extension to build::

    from cs231n_rs.fast_layers import *

The course offers its fast convolution three ways (``_strides``, which ``_fast``
names, and ``_im2col``); here all three run the same im2col + GEMM code, and their
caches are interchangeable, as the course's are. Caches are opaque: pass them back to
a backward function unchanged.

Max pooling: the backward pass sends each window's gradient to its *first* maximum
(numpy's ``argmax``), as the course's im2col path does. The course's reshape path
(which its ``max_pool_forward_fast`` picks for square windows that tile the input,
such as 2x2 stride 2) splits it evenly among tied maxima. Results differ only on exact
ties; after a ReLU those are zeros, whose gradient the ReLU discards anyway.

``im2col_cython`` / ``col2im_cython`` take the Cython functions' arguments and give
their column layout (columns ordered by output row, output column, then image).
"""

from . import _native, _params

__all__ = [
    "conv_forward_fast",
    "conv_backward_fast",
    "conv_forward_im2col",
    "conv_backward_im2col",
    "conv_forward_strides",
    "conv_backward_strides",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
    "max_pool_forward_im2col",
    "max_pool_backward_im2col",
    "max_pool_forward_reshape",
    "max_pool_backward_reshape",
    "im2col_cython",
    "col2im_cython",
]


def conv_forward_fast(x, w, b, conv_param):
    """Convolution forward pass.

    x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {'stride', 'pad'}.
    Returns out (N, F, H', W') with H' = 1 + (H + 2 * pad - HH) // stride, and a cache.
    """
    return _native.conv_forward_fast(x, w, b, *_params.conv(conv_param))


def conv_backward_fast(dout, cache):
    """Convolution backward pass: (dx, dw, db) for upstream gradient dout."""
    return _native.conv_backward_fast(dout, cache)


conv_forward_im2col = conv_forward_fast
conv_backward_im2col = conv_backward_fast
conv_forward_strides = conv_forward_fast
conv_backward_strides = conv_backward_fast


def max_pool_forward_fast(x, pool_param):
    """Max-pool forward pass.

    x (N, C, H, W), pool_param {'pool_height', 'pool_width', 'stride'}.
    Returns out (N, C, H', W') with H' = 1 + (H - pool_height) // stride, and a cache.
    """
    return _native.max_pool_forward_fast(x, *_params.pool(pool_param))


def max_pool_backward_fast(dout, cache):
    """Max-pool backward pass: dx, the gradient routed to each window's maximum."""
    return _native.max_pool_backward_fast(dout, cache)


max_pool_forward_im2col = max_pool_forward_fast
max_pool_backward_im2col = max_pool_backward_fast
max_pool_forward_reshape = max_pool_forward_fast
max_pool_backward_reshape = max_pool_backward_fast


def im2col_cython(x, field_height, field_width, padding, stride):
    """Receptive fields of x (N, C, H, W) as columns: (C * HH * WW, H' * W' * N)."""
    return _native.im2col_cython(x, field_height, field_width, padding, stride)


def col2im_cython(cols, N, C, H, W, field_height, field_width, padding, stride):
    """The adjoint of ``im2col_cython``: sums the columns back into (N, C, H, W)."""
    return _native.col2im_cython(cols, N, C, H, W, field_height, field_width, padding, stride)
