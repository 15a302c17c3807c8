#!/usr/bin/env python3
"""The reference implementations `cargo xtask bench --peers` compares against.

Each scenario of xtask/src/bench/scenarios.rs exists here under the same name, with
the same sizes, twice: in numpy, vectorised as the CS231n solutions are (the course's
`compute_distances_no_loops`, `svm_loss_vectorized`, `softmax_loss_vectorized`,
`TwoLayerNet.loss`, im2col convolution, reshape max-pool, Adam), and in PyTorch on the
CPU as a user would write it (tensor ops and autograd, `torch.nn` layers,
`torch.optim`). Everything is float32, as our side trains in f32.

The harness runs one scenario per process and reads the last line printed: a JSON
object with `seconds` (the timed part only), `images`, `flops` and `peak_kib` (peak
resident memory), optionally `note` (a choice the peer made, such as the faster memory
layout), or `{"skip": reason}`. Threads: the harness sets OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS and MKL_NUM_THREADS to `--threads`, and torch gets
`torch.set_num_threads`. It also removes OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, so
OpenBLAS picks its own (AVX-512) kernel; `--versions` reports the kernel it picked.

    python3 bench/peers/peer.py --impl numpy --scenario svm-train --data-dir data --threads 2
    python3 bench/peers/peer.py --versions

Install the peers with `pip install numpy torch threadpoolctl`.
"""

import argparse
import gzip
import json
import os
import resource
import sys
import time

import airbench  # bench/peers/airbench.py: the airbench-step scenario
from versions import versions  # bench/peers/versions.py: what `--versions` prints

CIFAR_DIR = "cifar-10-batches-bin"
FASHION_DIR = "fashion-mnist"


class Skip(Exception):
    """The scenario cannot run here (no data, or no version for this implementation)."""


# ----------------------------------------------------------------------------- data


def load_cifar10(data_dir):
    """(x_train, y_train, x_test, y_test) as uint8 rows (N, 3072) in the file's
    R, G, B plane order, and int64 labels, from the binary release."""
    import numpy as np

    d = os.path.join(data_dir, CIFAR_DIR)
    if not os.path.isdir(d):
        raise Skip(f"no CIFAR-10 in {d} (run `cargo xtask fetch-data` or pass --data-dir)")

    def batch(name):
        raw = np.fromfile(os.path.join(d, name), dtype=np.uint8).reshape(-1, 3073)
        return raw[:, 1:], raw[:, 0].astype(np.int64)

    parts = [batch(f"data_batch_{i}.bin") for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = batch("test_batch.bin")
    return x_train, y_train, x_test, y_test


def _idx(path):
    import numpy as np

    for p in (path, path + ".gz"):
        if os.path.exists(p):
            opener = gzip.open if p.endswith(".gz") else open
            with opener(p, "rb") as f:
                data = f.read()
            ndim = data[3]
            dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise Skip(f"no {path}[.gz]")


def load_fashion_mnist(data_dir):
    """(x_train, y_train, x_test, y_test): uint8 rows (N, 784) and int64 labels."""
    d = os.path.join(data_dir, FASHION_DIR)
    if not os.path.isdir(d):
        raise Skip(f"no Fashion-MNIST in {d} (run `cargo xtask fetch-data --dataset fashion-mnist`)")
    xtr = _idx(os.path.join(d, "train-images-idx3-ubyte"))
    ytr = _idx(os.path.join(d, "train-labels-idx1-ubyte"))
    xte = _idx(os.path.join(d, "t10k-images-idx3-ubyte"))
    yte = _idx(os.path.join(d, "t10k-labels-idx1-ubyte"))
    return (
        xtr.reshape(len(xtr), -1),
        ytr.astype("int64"),
        xte.reshape(len(xte), -1),
        yte.astype("int64"),
    )


def cifar_centred(ctx, num_training, bias):
    """The course's get_CIFAR10_data: the first `num_training` training images as
    float32 rows, minus the mean image, with a ones column when `bias` (untimed)."""
    import numpy as np

    x_train, y_train, _, _ = load_cifar10(ctx.data_dir)
    n = min(num_training, len(x_train))
    x = x_train[:n].astype(np.float32)
    x -= x.mean(axis=0)
    if bias:
        x = np.hstack([x, np.ones((n, 1), dtype=np.float32)])
    return x, y_train[:n]


def timed(f):
    t = time.perf_counter()
    r = f()
    return r, time.perf_counter() - t


# ------------------------------------------------------------------- sizes (= scenarios.rs)


def sizes(ctx):
    q = ctx.quick
    return dict(
        gemm_knn=(50, 3072, 500) if q else (500, 3072, 5000),
        gemm_square=256 if q else 2048,
        knn_cifar=(400, 50) if q else (5000, 500),
        knn_fashion=(600, 100) if q else (60000, 10000),
        knn_k=5,
        knn_chunk=1000,
        linear=dict(num_training=400 if q else 49000, iters=20 if q else 1500, batch=200, lr=1e-7, reg=2.5e4),
        two_layer=dict(num_training=400 if q else 49000, hidden=50, batch=200, lr=1e-4, reg=0.25),
        convnet_batch=dict(batch=10 if q else 50, reps=2 if q else 10),
        convnet_epoch=dict(num_training=100 if q else 4900, batch=50, lr=1e-3, reg=1e-3),
    )


def convnet_flops(images):
    """GEMM FLOPs of ThreeLayerConvNet forward + backward (3× forward)."""
    conv = 2 * 32 * 147 * 32 * 32
    fc = 2 * 32 * 16 * 16 * 100 + 2 * 100 * 10
    return 3.0 * (conv + fc) * images


# ---------------------------------------------------------------------------- numpy


class GemmScenarios:
    """The GEMM scenarios' sizes, shared by both peers; each peer supplies `_gemm`."""

    def gemm_knn(self):
        m, k, n = sizes(self.ctx)["gemm_knn"]
        return self._gemm(m, k, n, True)

    def gemm_square(self):
        n = sizes(self.ctx)["gemm_square"]
        return self._gemm(n, n, n, False)


class Numpy(GemmScenarios):
    name = "numpy"

    def __init__(self, ctx):
        import numpy as np

        self.np = np
        self.ctx = ctx
        self.rng = np.random.default_rng(0)

    # --- loading
    def _timed_load(self, load):
        """Times `load` and the conversion of both splits to float32 rows."""
        np = self.np

        def work():
            x_train, _, x_test, _ = load(self.ctx.data_dir)
            return x_train.astype(np.float32), x_test.astype(np.float32)

        (xtr, xte), s = timed(work)
        return dict(seconds=s, images=len(xtr) + len(xte), flops=0)

    def load_cifar10(self):
        return self._timed_load(load_cifar10)

    def load_fashion_mnist(self):
        return self._timed_load(load_fashion_mnist)

    # --- GEMM
    def _gemm(self, m, k, n, transpose_b):
        np = self.np
        a = self.rng.standard_normal((m, k), dtype=np.float32)
        b = self.rng.standard_normal((n, k) if transpose_b else (k, n), dtype=np.float32)
        b = b.T if transpose_b else b
        a @ b  # warm-up, as ours
        _, s = timed(lambda: a @ b)
        return dict(seconds=s, images=0, flops=2.0 * m * k * n)

    # --- kNN (the course's compute_distances_no_loops + predict_labels)
    def _knn(self, xtr, ytr, xte, k, chunk):
        np = self.np
        train_sq = np.sum(xtr**2, axis=1)
        pred = np.empty(len(xte), dtype=np.int64)
        for s in range(0, len(xte), chunk):
            x = xte[s : s + chunk]
            d2 = np.sum(x**2, axis=1)[:, None] + train_sq[None, :] - 2.0 * x.dot(xtr.T)
            dists = np.sqrt(np.maximum(d2, 0.0))
            # argpartition instead of the course's argsort: the same vote, faster.
            nearest = np.argpartition(dists, k, axis=1)[:, :k]
            closest_y = ytr[nearest]
            pred[s : s + chunk] = [np.bincount(c).argmax() for c in closest_y]
        return pred

    def _knn_scenario(self, data, n_train, n_test):
        np = self.np
        xtr, ytr, xte, _ = data
        xtr = xtr[:n_train].astype(np.float32)
        xte = xte[:n_test].astype(np.float32)
        k = sizes(self.ctx)["knn_k"]
        _, s = timed(lambda: self._knn(xtr, ytr[:n_train], xte, k, sizes(self.ctx)["knn_chunk"]))
        return dict(seconds=s, images=len(xte), flops=2.0 * len(xte) * len(xtr) * xtr.shape[1])

    def knn_cifar(self):
        n_train, n_test = sizes(self.ctx)["knn_cifar"]
        return self._knn_scenario(load_cifar10(self.ctx.data_dir), n_train, n_test)

    def knn_fashion(self):
        n_train, n_test = sizes(self.ctx)["knn_fashion"]
        return self._knn_scenario(load_fashion_mnist(self.ctx.data_dir), n_train, n_test)

    # --- linear classifiers (the course's vectorised losses and LinearClassifier.train)
    def svm_loss_vectorized(self, W, X, y, reg):
        np = self.np
        N = X.shape[0]
        scores = X.dot(W)
        correct = scores[np.arange(N), y][:, None]
        margins = np.maximum(0, scores - correct + 1)
        margins[np.arange(N), y] = 0
        loss = margins.sum() / N + reg * np.sum(W * W)
        binary = (margins > 0).astype(X.dtype)
        binary[np.arange(N), y] = -binary.sum(axis=1)
        dW = X.T.dot(binary) / N + 2 * reg * W
        return loss, dW

    def softmax_loss_vectorized(self, W, X, y, reg):
        np = self.np
        N = X.shape[0]
        scores = X.dot(W)
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        probs = exp / exp.sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).mean() + reg * np.sum(W * W)
        dscores = probs
        dscores[np.arange(N), y] -= 1
        dW = X.T.dot(dscores) / N + 2 * reg * W
        return loss, dW

    def _linear(self, loss_fn):
        np = self.np
        p = sizes(self.ctx)["linear"]
        X, y = cifar_centred(self.ctx, p["num_training"], bias=True)
        W = (0.001 * self.rng.standard_normal((X.shape[1], 10))).astype(np.float32)

        def train():
            nonlocal W
            for _ in range(p["iters"]):
                idx = self.rng.choice(len(X), p["batch"], replace=True)
                _, grad = loss_fn(W, X[idx], y[idx], p["reg"])
                W -= np.float32(p["lr"]) * grad.astype(np.float32)

        _, s = timed(train)
        n = p["iters"] * p["batch"]
        return dict(seconds=s, images=n, flops=2 * 2.0 * n * X.shape[1] * 10)

    def svm_train(self):
        return self._linear(self.svm_loss_vectorized)

    def softmax_train(self):
        return self._linear(self.softmax_loss_vectorized)

    # --- two-layer net (assignment 1's TwoLayerNet.loss, one epoch of SGD)
    def two_layer_epoch(self):
        np = self.np
        p = sizes(self.ctx)["two_layer"]
        X, y = cifar_centred(self.ctx, p["num_training"], bias=False)
        D, H, C = X.shape[1], p["hidden"], 10
        W1 = (1e-4 * self.rng.standard_normal((D, H))).astype(np.float32)
        b1 = np.zeros(H, np.float32)
        W2 = (1e-4 * self.rng.standard_normal((H, C))).astype(np.float32)
        b2 = np.zeros(C, np.float32)
        lr, reg = np.float32(p["lr"]), np.float32(p["reg"])
        iters = max(len(X) // p["batch"], 1)

        def epoch():
            for _ in range(iters):
                idx = self.rng.choice(len(X), p["batch"], replace=True)
                xb, yb = X[idx], y[idx]
                N = len(xb)
                h = np.maximum(0, xb.dot(W1) + b1)
                scores = h.dot(W2) + b2
                scores -= scores.max(axis=1, keepdims=True)
                probs = np.exp(scores)
                probs /= probs.sum(axis=1, keepdims=True)
                dscores = probs
                dscores[np.arange(N), yb] -= 1
                dscores /= N
                dW2 = h.T.dot(dscores) + 2 * reg * W2
                db2 = dscores.sum(axis=0)
                dh = dscores.dot(W2.T)
                dh[h <= 0] = 0
                dW1 = xb.T.dot(dh) + 2 * reg * W1
                db1 = dh.sum(axis=0)
                W1[...] -= lr * dW1
                b1[...] -= lr * db1
                W2[...] -= lr * dW2
                b2[...] -= lr * db2

        _, s = timed(epoch)
        n = iters * p["batch"]
        return dict(seconds=s, images=n, flops=3 * 2.0 * n * (D * H + H * C))

    # --- ThreeLayerConvNet: conv 7×7×32 pad 3 - relu - pool 2×2 - affine 100 - relu - affine 10
    def _im2col_indices(self, C, H, W, f, pad):
        np = self.np
        out_h, out_w = H + 2 * pad - f + 1, W + 2 * pad - f + 1
        i0 = np.tile(np.repeat(np.arange(f), f), C)
        i1 = np.repeat(np.arange(out_h), out_w)
        j0 = np.tile(np.arange(f), f * C)
        j1 = np.tile(np.arange(out_w), out_h)
        i = i0.reshape(-1, 1) + i1.reshape(1, -1)
        j = j0.reshape(-1, 1) + j1.reshape(1, -1)
        k = np.repeat(np.arange(C), f * f).reshape(-1, 1)
        return k, i, j

    def _convnet_params(self):
        np = self.np
        ws = 1e-3
        r = lambda *s: (ws * self.rng.standard_normal(s)).astype(np.float32)  # noqa: E731
        return dict(
            W1=r(32, 3, 7, 7), b1=np.zeros(32, np.float32),
            W2=r(32 * 16 * 16, 100), b2=np.zeros(100, np.float32),
            W3=r(100, 10), b3=np.zeros(10, np.float32),
        )

    def _convnet_loss(self, P, x, y, reg, idx):
        """Loss and gradients: the course's conv_forward_im2col / max_pool_forward_reshape /
        affine / relu / softmax_loss and their backward passes."""
        np = self.np
        N, C, H, W = x.shape
        F, f, pad = 32, 7, 3
        k, i, j = idx
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        cols = xp[:, k, i, j].transpose(1, 2, 0).reshape(C * f * f, -1)  # (147, H*W*N)
        w_flat = P["W1"].reshape(F, -1)
        conv = (w_flat.dot(cols) + P["b1"][:, None]).reshape(F, H, W, N).transpose(3, 0, 1, 2)
        a1 = np.maximum(conv, 0)
        r = a1.reshape(N, F, H // 2, 2, W // 2, 2)
        pooled = r.max(axis=3).max(axis=4)
        flat = pooled.reshape(N, -1)
        h2 = np.maximum(flat.dot(P["W2"]) + P["b2"], 0)
        scores = h2.dot(P["W3"]) + P["b3"]
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).mean()
        loss += 0.5 * reg * sum(np.sum(P[w] ** 2) for w in ("W1", "W2", "W3"))
        d = probs
        d[np.arange(N), y] -= 1
        d /= N
        g = {"W3": h2.T.dot(d) + reg * P["W3"], "b3": d.sum(axis=0)}
        dh2 = d.dot(P["W3"].T)
        dh2[h2 <= 0] = 0
        g["W2"] = flat.T.dot(dh2) + reg * P["W2"]
        g["b2"] = dh2.sum(axis=0)
        dpooled = dh2.dot(P["W2"].T).reshape(pooled.shape)
        # max_pool_backward_reshape: route the gradient to the maxima.
        mask = r == pooled[:, :, :, None, :, None]
        dr = mask * dpooled[:, :, :, None, :, None]
        dr /= mask.sum(axis=(3, 5), keepdims=True)
        da1 = dr.reshape(a1.shape)
        dconv = da1 * (conv > 0)
        dout = dconv.transpose(1, 2, 3, 0).reshape(F, -1)
        g["W1"] = dout.dot(cols.T).reshape(P["W1"].shape) + reg * P["W1"]
        g["b1"] = dout.sum(axis=1)
        dcols = w_flat.T.dot(dout)  # col2im
        dcols = dcols.reshape(C * f * f, -1, N).transpose(2, 0, 1)
        dxp = np.zeros_like(xp)
        np.add.at(dxp, (slice(None), k, i, j), dcols)
        return loss, g

    def _cifar_images(self, n):
        np = self.np
        x, y = cifar_centred(self.ctx, n, bias=False)
        return x.reshape(-1, 3, 32, 32), y

    def convnet_batch(self):
        p = sizes(self.ctx)["convnet_batch"]
        x, y = self._cifar_images(p["batch"])
        P = self._convnet_params()
        idx = self._im2col_indices(3, 32, 32, 7, 3)

        def work():
            for _ in range(p["reps"]):
                self._convnet_loss(P, x, y, 0.0, idx)

        _, s = timed(work)
        n = p["reps"] * len(x)
        return dict(seconds=s, images=n, flops=convnet_flops(n))

    def convnet_epoch(self):
        np = self.np
        p = sizes(self.ctx)["convnet_epoch"]
        x, y = self._cifar_images(p["num_training"])
        P = self._convnet_params()
        idx = self._im2col_indices(3, 32, 32, 7, 3)
        m = {key: np.zeros_like(v) for key, v in P.items()}
        v = {key: np.zeros_like(w) for key, w in P.items()}
        iters = max(len(x) // p["batch"], 1)
        b1, b2, eps = 0.9, 0.999, 1e-8

        def epoch():
            for t in range(1, iters + 1):
                sel = self.rng.choice(len(x), p["batch"], replace=False)
                _, g = self._convnet_loss(P, x[sel], y[sel], p["reg"], idx)
                for key in P:  # the course's adam
                    m[key] = b1 * m[key] + (1 - b1) * g[key]
                    v[key] = b2 * v[key] + (1 - b2) * g[key] ** 2
                    mt = m[key] / (1 - b1**t)
                    vt = v[key] / (1 - b2**t)
                    P[key] -= (p["lr"] * mt / (np.sqrt(vt) + eps)).astype(np.float32)

        _, s = timed(epoch)
        n = iters * p["batch"]
        return dict(seconds=s, images=n, flops=convnet_flops(n))

    def airbench_step(self):
        raise Skip("no numpy version: the airbench network's peer is PyTorch")

    def airbench_step_bf16(self):
        raise Skip("no numpy version: the airbench network's peer is PyTorch")


# ---------------------------------------------------------------------------- torch


class Torch(GemmScenarios):
    name = "torch"

    def __init__(self, ctx):
        import torch

        torch.set_num_threads(ctx.threads)
        torch.manual_seed(0)
        # Pay the library's one-time start-up (thread pool, autograd, kernels) before
        # any timing, as our side has none to pay.
        w = torch.randn(64, 64, requires_grad=True)
        torch.nn.functional.cross_entropy(w @ w, torch.zeros(64, dtype=torch.long)).backward()
        self.torch = torch
        self.ctx = ctx

    def load_cifar10(self):
        raise Skip("loading is numpy's reader in a PyTorch script too")

    load_fashion_mnist = load_cifar10

    def _gemm(self, m, k, n, transpose_b):
        torch = self.torch
        a = torch.randn(m, k)
        b = torch.randn(n, k).t() if transpose_b else torch.randn(k, n)
        a @ b
        _, s = timed(lambda: a @ b)
        return dict(seconds=s, images=0, flops=2.0 * m * k * n)

    def _knn_scenario(self, data, n_train, n_test):
        torch = self.torch
        xtr, ytr, xte, _ = data
        xtr = torch.from_numpy(xtr[:n_train].astype("float32"))
        ytr = torch.from_numpy(ytr[:n_train])
        xte = torch.from_numpy(xte[:n_test].astype("float32"))
        k, chunk = sizes(self.ctx)["knn_k"], sizes(self.ctx)["knn_chunk"]

        def work():
            with torch.no_grad():
                train_sq = (xtr**2).sum(dim=1)
                preds = []
                for s in range(0, len(xte), chunk):
                    x = xte[s : s + chunk]
                    d2 = (x**2).sum(dim=1)[:, None] + train_sq[None, :] - 2.0 * (x @ xtr.t())
                    dists = d2.clamp_min(0).sqrt()
                    nearest = dists.topk(k, dim=1, largest=False).indices
                    preds.append(ytr[nearest].mode(dim=1).values)
                return torch.cat(preds)

        _, s = timed(work)
        return dict(seconds=s, images=len(xte), flops=2.0 * len(xte) * len(xtr) * xtr.shape[1])

    def knn_cifar(self):
        n_train, n_test = sizes(self.ctx)["knn_cifar"]
        return self._knn_scenario(load_cifar10(self.ctx.data_dir), n_train, n_test)

    def knn_fashion(self):
        n_train, n_test = sizes(self.ctx)["knn_fashion"]
        return self._knn_scenario(load_fashion_mnist(self.ctx.data_dir), n_train, n_test)

    def _linear(self, kind):
        torch = self.torch
        p = sizes(self.ctx)["linear"]
        X, y = cifar_centred(self.ctx, p["num_training"], bias=True)
        X, y = torch.from_numpy(X), torch.from_numpy(y)
        W = (0.001 * torch.randn(X.shape[1], 10)).requires_grad_()

        def train():
            for _ in range(p["iters"]):
                idx = torch.randint(len(X), (p["batch"],))
                xb, yb = X[idx], y[idx]
                scores = xb @ W
                if kind == "svm":
                    loss = torch.nn.functional.multi_margin_loss(scores, yb, margin=1.0, reduction="sum")
                    loss = loss * scores.shape[1] / len(xb)
                else:
                    loss = torch.nn.functional.cross_entropy(scores, yb)
                loss = loss + p["reg"] * (W * W).sum()
                W.grad = None
                loss.backward()
                with torch.no_grad():
                    W.sub_(p["lr"] * W.grad)

        _, s = timed(train)
        n = p["iters"] * p["batch"]
        return dict(seconds=s, images=n, flops=2 * 2.0 * n * X.shape[1] * 10)

    def svm_train(self):
        return self._linear("svm")

    def softmax_train(self):
        return self._linear("softmax")

    def two_layer_epoch(self):
        torch = self.torch
        p = sizes(self.ctx)["two_layer"]
        X, y = cifar_centred(self.ctx, p["num_training"], bias=False)
        X, y = torch.from_numpy(X), torch.from_numpy(y)
        D, H, C = X.shape[1], p["hidden"], 10
        net = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, C))
        opt = torch.optim.SGD(net.parameters(), lr=p["lr"])
        iters = max(len(X) // p["batch"], 1)

        def epoch():
            for _ in range(iters):
                idx = torch.randint(len(X), (p["batch"],))
                loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
                loss = loss + p["reg"] * (net[0].weight.pow(2).sum() + net[2].weight.pow(2).sum())
                opt.zero_grad()
                loss.backward()
                opt.step()

        _, s = timed(epoch)
        n = iters * p["batch"]
        return dict(seconds=s, images=n, flops=3 * 2.0 * n * (D * H + H * C))

    def _convnet(self):
        nn = self.torch.nn
        return nn.Sequential(
            nn.Conv2d(3, 32, 7, padding=3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 16 * 16, 100), nn.ReLU(), nn.Linear(100, 10),
        )

    def _cifar_images(self, n):
        x, y = cifar_centred(self.ctx, n, bias=False)
        return self.torch.from_numpy(x.reshape(-1, 3, 32, 32)), self.torch.from_numpy(y)

    def convnet_batch(self):
        torch = self.torch
        p = sizes(self.ctx)["convnet_batch"]
        x, y = self._cifar_images(p["batch"])
        net = self._convnet()

        def work():
            for _ in range(p["reps"]):
                net.zero_grad()
                torch.nn.functional.cross_entropy(net(x), y).backward()

        _, s = timed(work)
        n = p["reps"] * len(x)
        return dict(seconds=s, images=n, flops=convnet_flops(n))

    def airbench_step(self):
        return airbench.airbench_step(self.torch, self.ctx, timed)

    def airbench_step_bf16(self):
        raise Skip("not timed under torch.autocast(bfloat16); compare with airbench-step")

    def convnet_epoch(self):
        torch = self.torch
        p = sizes(self.ctx)["convnet_epoch"]
        x, y = self._cifar_images(p["num_training"])
        net = self._convnet()
        opt = torch.optim.Adam(net.parameters(), lr=p["lr"])
        iters = max(len(x) // p["batch"], 1)

        def epoch():
            for _ in range(iters):
                sel = torch.randperm(len(x))[: p["batch"]]
                loss = torch.nn.functional.cross_entropy(net(x[sel]), y[sel])
                loss = loss + 0.5 * p["reg"] * sum(
                    m.weight.pow(2).sum() for m in net if hasattr(m, "weight")
                )
                opt.zero_grad()
                loss.backward()
                opt.step()

        _, s = timed(epoch)
        n = iters * p["batch"]
        return dict(seconds=s, images=n, flops=convnet_flops(n))


# ----------------------------------------------------------------------------- main

SCENARIOS = {
    "load-cifar10": "load_cifar10",
    "load-fashion-mnist": "load_fashion_mnist",
    "gemm-knn-f32": "gemm_knn",
    "gemm-square-f32": "gemm_square",
    "knn-cifar-5000x500": "knn_cifar",
    "knn-fashion-full": "knn_fashion",
    "svm-train": "svm_train",
    "softmax-train": "softmax_train",
    "two-layer-epoch": "two_layer_epoch",
    "convnet-batch": "convnet_batch",
    "convnet-epoch": "convnet_epoch",
    "airbench-step": "airbench_step",
    "airbench-step-bf16": "airbench_step_bf16",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", choices=["numpy", "torch"])
    ap.add_argument("--scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--versions", action="store_true", help="print the installed peers as JSON")
    ctx = ap.parse_args()
    if ctx.versions:
        print(json.dumps(versions()))
        return
    if not ctx.impl or not ctx.scenario:
        ap.error("--impl and --scenario are required")
    try:
        impl = (Numpy if ctx.impl == "numpy" else Torch)(ctx)
        result = getattr(impl, SCENARIOS[ctx.scenario])()
    except Skip as why:
        print(json.dumps({"skip": str(why)}))
        return
    except ImportError as e:
        print(json.dumps({"skip": f"{e.name} is not installed (pip install {e.name})"}))
        return
    result["peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


if __name__ == "__main__":
    main()
