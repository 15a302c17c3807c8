"""The course's numpy code on the shapes of benches/linear/linear.rs, for ratios on a shared
machine: run it right before or after `cargo bench -p benches --bench linear`.

    python3 benches/linear/numpy_reference.py

Times (best of 5 / of 3): the vectorised softmax loss + gradient on 49 000 x 3 073
float32, and the 1 500-iteration SVM training with batch 200 in float64 (the
notebook's dtype). The losses are `bench/peers/peer.py`'s, the numpy side of
`cargo xtask bench --peers`, written as the course's softmax.py / linear_svm.py.
"""
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "bench" / "peers"))
from peer import Numpy  # noqa: E402

N, D, C = 49000, 3073, 10


def best(f, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    course = Numpy(ctx=None)  # the loss functions need no data directory
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D), dtype=np.float32) * 60
    y = (np.arange(N) * 7) % C
    W = (rng.standard_normal((D, C)) * 1e-4).astype(np.float32)
    t = best(lambda: course.softmax_loss_vectorized(W, X, y, 2.5e4), 5)
    print(f"numpy softmax loss+grad 49000x3073 f32: {t * 1e3:.1f} ms")

    X64 = X.astype(np.float64)

    def train():
        W = 0.001 * rng.standard_normal((D, C))
        for _ in range(1500):
            idx = rng.choice(N, 200, replace=True)
            _, dW = course.svm_loss_vectorized(W, X64[idx], y[idx], 2.5e4)
            W -= 1e-7 * dW

    t = best(train, 3)
    print(f"numpy SVM training 1500 x 200 f64: {t:.2f} s")


if __name__ == "__main__":
    main()
