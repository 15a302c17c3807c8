"""cs231n_rs: the CS231n course's fast layers, layers and classifiers, computed by
cs231n-rs (Rust) on numpy arrays.

A notebook switches with one import line::

    from cs231n_rs.fast_layers import *      # instead of: from cs231n.fast_layers import *

Modules, named and called as the course's files:

- ``cs231n_rs.fast_layers``: ``conv_forward_fast`` / ``conv_backward_fast``,
  ``max_pool_forward_fast`` / ``max_pool_backward_fast``, the ``_im2col`` and
  ``_strides`` variants, ``im2col_cython`` / ``col2im_cython``.
- ``cs231n_rs.layers``: the functions of ``layers.py`` (affine, relu, batchnorm,
  layernorm, dropout, naive conv and pool, spatial batchnorm, group norm, losses).
- ``cs231n_rs.classifiers``: kNN distances and vote, vectorised SVM and softmax losses.

Arrays are float64 or float32 (the first array of a call sets the type the others
must share); results come back in that type. Bad shapes, dtypes or parameters raise
``ValueError``. ``set_threads(n)`` sets how many threads the engine uses.
"""

from . import _native
from ._native import set_threads, threads
from . import classifiers, fast_layers, layers

__all__ = ["classifiers", "fast_layers", "layers", "set_threads", "threads"]
