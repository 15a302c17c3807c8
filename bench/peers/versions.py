"""What `peer.py --versions` prints: the peers installed and the BLAS each one runs on.

The harness asks in the peers' own environment (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
removed), so the kernel reported is the one their timed runs get.
"""

import sys


def blas_kernels():
    """The BLAS libraries loaded in this process, as threadpoolctl sees them:
    [(library, version, kernel)], e.g. ("openblas", "0.3.31", "SkylakeX")."""
    from threadpoolctl import threadpool_info

    return [
        (i.get("internal_api", "?"), i.get("version") or "?", i.get("architecture") or "?")
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]


def torch_backends(torch):
    """PyTorch's CPU libraries (MKL and oneDNN are linked in, out of threadpoolctl's
    sight) and the widest vector kernels it dispatches to, e.g. "AVX512"."""
    import re

    cfg = torch.__config__.show()
    parts = []
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", cfg)
    if mkl:
        parts.append(f"MKL {mkl.group(1)}")
    dnn = re.search(r"MKL-DNN (v[\w.]+)", cfg)
    if dnn:
        parts.append(f"oneDNN {dnn.group(1)}")
    parts.append(f"{torch.backends.cpu.get_cpu_capability()} kernels")
    return ", ".join(parts)


def versions():
    """The peers installed, with the BLAS each runs on (the harness calls this in the
    peers' own environment, so the kernel is the one their runs get)."""
    out = {"python": sys.version.split()[0]}
    try:
        import numpy

        out["numpy"] = numpy.__version__
        try:
            kernels = blas_kernels()
            out["numpy_blas"] = "; ".join(f"{lib} {ver}, {arch} kernel" for lib, ver, arch in kernels)
            out["numpy_kernel"] = ", ".join(arch for _, _, arch in kernels)
        except ImportError:  # no threadpoolctl: the build's BLAS, kernel unknown
            try:
                blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
                out["numpy_blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}, kernel unknown"
            except Exception:  # older numpy: no dict mode
                out["numpy_blas"] = "BLAS unknown"
    except ImportError:
        pass
    try:
        import torch

        out["torch"] = torch.__version__
        out["torch_blas"] = f"CPU: {torch_backends(torch)}"
    except ImportError:
        pass
    return out
