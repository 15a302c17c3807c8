"""The course's numpy code on the shapes of benches/linear.rs, for ratios on a shared
machine: run it right before or after `cargo bench -p linear --bench linear`.

    python3 crates/linear/benches/numpy_reference.py

Times (best of 5 / of 3): the vectorised softmax loss + gradient on 49 000 x 3 073
float32, and the 1 500-iteration SVM training with batch 200 in float64 (the
notebook's dtype), both as linear_classifier.py / softmax.py write them.
"""
import time

import numpy as np

N, D, C = 49000, 3073, 10


def softmax_loss_vectorized(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(num_train), y]).sum() / num_train + reg * np.sum(W * W)
    probs[np.arange(num_train), y] -= 1
    dW = X.T.dot(probs) / num_train + 2 * reg * W
    return loss, dW


def svm_loss_vectorized(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    correct = scores[np.arange(num_train), y][:, None]
    margins = np.maximum(0, scores - correct + 1)
    margins[np.arange(num_train), y] = 0
    loss = margins.sum() / num_train + reg * np.sum(W * W)
    mask = (margins > 0).astype(X.dtype)
    mask[np.arange(num_train), y] = -mask.sum(axis=1)
    dW = X.T.dot(mask) / num_train + 2 * reg * W
    return loss, dW


def best(f, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((N, D), dtype=np.float32) * 60)
    y = (np.arange(N) * 7) % C
    W = (rng.standard_normal((D, C)) * 1e-4).astype(np.float32)
    t = best(lambda: softmax_loss_vectorized(W, X, y, 2.5e4), 5)
    print(f"numpy softmax loss+grad 49000x3073 f32: {t * 1e3:.1f} ms")

    X64 = X.astype(np.float64)

    def train():
        W = 0.001 * rng.standard_normal((D, C))
        for _ in range(1500):
            idx = rng.choice(N, 200, replace=True)
            _, dW = svm_loss_vectorized(W, X64[idx], y[idx], 2.5e4)
            W -= 1e-7 * dW

    t = best(train, 3)
    print(f"numpy SVM training 1500 x 200 f64: {t:.2f} s")


if __name__ == "__main__":
    main()
