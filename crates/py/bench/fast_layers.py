"""Times cs231n_rs's fast layers against a vectorised numpy im2col implementation
written here in the course's style, at the assignment's shapes, and prints the ratios.

    python crates/py/bench/fast_layers.py [--repeats 15] [--course-dir PATH]

With --course-dir pointing at an assignment folder (the one holding cs231n/, or
cs231n/ itself), the course's own fast_layers are timed too. If its Cython extension
is not built, the benchmark builds it in place (as the notebook's
`python setup.py build_ext --inplace` would) from a virtual environment of its own with
`Cython<3`, which still compiles im2col_cython.pyx.

Timings alternate between the implementations, one call of each per round, and the
medians are reported, so that load from other processes hits all of them alike.
"""

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import cs231n_rs
from cs231n_rs import fast_layers as ours

# --- the numpy baseline: im2col by strides, one GEMM, col2im by filter taps ------------


def np_conv_forward(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    x_padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    Hp, Wp = H + 2 * pad, W + 2 * pad
    out_h, out_w = (Hp - HH) // stride + 1, (Wp - WW) // stride + 1
    shape = (C, HH, WW, N, out_h, out_w)
    strides = x.itemsize * np.array((Hp * Wp, Wp, 1, C * Hp * Wp, stride * Wp, stride))
    x_cols = np.ascontiguousarray(np.lib.stride_tricks.as_strided(x_padded, shape, strides))
    x_cols.shape = (C * HH * WW, N * out_h * out_w)
    res = w.reshape(F, -1).dot(x_cols) + b.reshape(-1, 1)
    res.shape = (F, N, out_h, out_w)
    out = np.ascontiguousarray(res.transpose(1, 0, 2, 3))
    return out, (x, w, b, conv_param, x_cols)


def np_conv_backward(dout, cache):
    x, w, b, conv_param, x_cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, out_h, out_w = dout.shape
    db = np.sum(dout, axis=(0, 2, 3))
    dout_reshaped = dout.transpose(1, 0, 2, 3).reshape(F, -1)
    dw = dout_reshaped.dot(x_cols.T).reshape(w.shape)
    dx_cols = w.reshape(F, -1).T.dot(dout_reshaped).reshape(C, HH, WW, N, out_h, out_w)
    dx_padded = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    for i in range(HH):  # one vectorised strided add per filter tap
        for j in range(WW):
            dx_padded[:, :, i : i + stride * out_h : stride, j : j + stride * out_w : stride] += dx_cols[
                :, i, j
            ].transpose(1, 0, 2, 3)
    return dx_padded[:, :, pad : pad + H, pad : pad + W], dw, db


def np_pool_forward(x, pool_param):
    """The course's reshape method (square windows that tile the input)."""
    N, C, H, W = x.shape
    p = pool_param["pool_height"]
    x_reshaped = x.reshape(N, C, H // p, p, W // p, p)
    out = x_reshaped.max(axis=3).max(axis=4)
    return out, (x, x_reshaped, out)


def np_pool_backward(dout, cache):
    x, x_reshaped, out = cache
    dx_reshaped = np.zeros_like(x_reshaped)
    mask = x_reshaped == out[:, :, :, None, :, None]
    dout_broadcast, _ = np.broadcast_arrays(dout[:, :, :, None, :, None], dx_reshaped)
    dx_reshaped[mask] = dout_broadcast[mask]
    dx_reshaped /= np.sum(mask, axis=(3, 5), keepdims=True)
    return dx_reshaped.reshape(x.shape)


# --- the course's own fast_layers, when pointed at -------------------------------------


def course_fast_layers(path):
    """Imports cs231n.fast_layers from the assignment folder at `path`, building its
    Cython extension first when it is missing."""
    path = Path(path).resolve()
    package = path / "cs231n" if (path / "cs231n" / "fast_layers.py").exists() else path
    if not (package / "fast_layers.py").exists():
        sys.exit(f"--course-dir: no fast_layers.py in {path} or {path / 'cs231n'}")
    sys.path.insert(0, str(package.parent))
    module = importlib.import_module(f"{package.name}.fast_layers")
    if not hasattr(module, "im2col_cython"):
        build_cython(package)
        for name in [m for m in sys.modules if m.startswith(package.name)]:
            del sys.modules[name]
        module = importlib.import_module(f"{package.name}.fast_layers")
        if not hasattr(module, "im2col_cython"):
            sys.exit(f"the course's Cython extension in {package} still does not import")
    return module


def build_cython(package):
    """`python setup.py build_ext --inplace` in `package`, from a venv with Cython<3 and
    this interpreter's numpy version (so the extension matches the numpy it runs with)."""
    venv = Path(tempfile.mkdtemp(prefix="cs231n-cython-"))
    print(f"building the course's Cython extension in {package} (Cython<3, venv {venv})")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pins = ["Cython<3", f"numpy=={np.__version__}", "setuptools"]
    subprocess.run([str(py), "-m", "pip", "install", "-q", *pins], check=True)
    subprocess.run([str(py), "setup.py", "build_ext", "--inplace"], cwd=package, check=True)


# --- timing --------------------------------------------------------------------------


def conv_step(forward, backward):
    def step(x, w, b, conv_param, dout):
        out, cache = forward(x, w, b, conv_param)
        return backward(dout, cache)

    return step


def pool_step(forward, backward):
    def step(x, pool_param, dout):
        out, cache = forward(x, pool_param)
        return backward(dout, cache)

    return step


def alternate(impls, args, repeats):
    """Median seconds per call of each implementation, calls interleaved round by round."""
    times = {name: [] for name in impls}
    for f in impls.values():  # warm-up: page in, build thread pools
        f(*args)
    for _ in range(repeats):
        for name, f in impls.items():
            t = time.perf_counter()
            f(*args)
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def report(title, medians):
    base = next(iter(medians.values()))  # the numpy baseline comes first
    print(f"\n{title}")
    for name, t in medians.items():
        print(f"  {name:<20} {t * 1e3:9.2f} ms   {base / t:6.2f}x the numpy speed")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per case (default 15)")
    parser.add_argument("--course-dir", help="assignment folder whose cs231n/fast_layers.py to time too")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = parser.parse_args()

    course = course_fast_layers(args.course_dir) if args.course_dir else None
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    print(f"cs231n_rs {cs231n_rs.threads()} threads; numpy {np.__version__}; {dtype}; "
          f"medians of {args.repeats} alternating rounds; load {os.getloadavg()[0]:.2f}")

    conv_cases = [
        ("conv fwd+bwd: x (100, 3, 31, 31), w (25, 3, 3, 3), stride 2, pad 1",
         (100, 3, 31, 31), (25, 3, 3, 3), {"stride": 2, "pad": 1}),
        ("conv fwd+bwd, ThreeLayerConvNet: x (50, 3, 32, 32), w (32, 3, 7, 7), stride 1, pad 3",
         (50, 3, 32, 32), (32, 3, 7, 7), {"stride": 1, "pad": 3}),
    ]
    for title, xs, ws, conv_param in conv_cases:
        x = rng.standard_normal(xs).astype(dtype)
        w = rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[0]).astype(dtype)
        out, _ = ours.conv_forward_fast(x, w, b, conv_param)
        dout = rng.standard_normal(out.shape).astype(dtype)
        impls = {
            "numpy im2col": conv_step(np_conv_forward, np_conv_backward),
            "cs231n_rs": conv_step(ours.conv_forward_fast, ours.conv_backward_fast),
        }
        if course:
            impls["course fast_layers"] = conv_step(course.conv_forward_fast, course.conv_backward_fast)
        # The three agree before any is timed.
        ref = impls["numpy im2col"](x, w, b, conv_param, dout)
        for name, f in impls.items():
            err = max(np.max(np.abs(a - r)) / max(1e-8, np.max(np.abs(r))) for a, r in zip(f(x, w, b, conv_param, dout), ref))
            assert err < (1e-10 if dtype == np.float64 else 1e-4), f"{name} disagrees: {err}"
        report(title, alternate(impls, (x, w, b, conv_param, dout), args.repeats))

    x = rng.standard_normal((50, 32, 32, 32)).astype(dtype)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = rng.standard_normal((50, 32, 16, 16)).astype(dtype)
    impls = {
        "numpy reshape": pool_step(np_pool_forward, np_pool_backward),
        "cs231n_rs": pool_step(ours.max_pool_forward_fast, ours.max_pool_backward_fast),
    }
    if course:
        impls["course fast_layers"] = pool_step(course.max_pool_forward_fast, course.max_pool_backward_fast)
    report("max pool fwd+bwd, ThreeLayerConvNet: x (50, 32, 32, 32), 2x2 stride 2",
           alternate(impls, (x, pool_param, dout), args.repeats))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
