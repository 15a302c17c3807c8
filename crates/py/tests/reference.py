"""The course's gradient-check helpers and plain numpy references, written here so
that every function of cs231n_rs is compared with code that does not share its
implementation."""

import numpy as np


# Centred differences with h = 1e-5 are themselves off by ~1e-10 in absolute terms, so
# on a gradient entry near 1e-3 their relative error alone approaches 1e-7. Checks
# against the numpy references hold to 1e-8 everywhere; checks against finite
# differences do where the conditioning allows, and use this, the course's bar for
# gradient checks, where it does not (noted at each use).
FD_TOL = 1e-7


def rel_error(x, y):
    """The course's relative error."""
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """The course's centred-difference gradient of array function f at x, against df."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        pos = f(x).copy()
        x[ix] = oldval - h
        neg = f(x).copy()
        x[ix] = oldval
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def eval_numerical_gradient(f, x, h=1e-5):
    """The course's centred-difference gradient of scalar function f at x."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = f(x)
        x[ix] = oldval - h
        fxmh = f(x)
        x[ix] = oldval
        grad[ix] = (fxph - fxmh) / (2 * h)
        it.iternext()
    return grad


# --- convolution and pooling --------------------------------------------------------


def conv_forward(x, w, b, stride, pad):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            field = xp[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
            out[:, :, i, j] = np.tensordot(field, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def conv_backward(dout, x, w, stride, pad):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    _, _, Ho, Wo = dout.shape
    for i in range(Ho):
        for j in range(Wo):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            d = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(d, xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(d, w, axes=([1], [0]))
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, pad : pad + H, pad : pad + W], dw, db


def max_pool_forward(x, ph, pw, stride):
    N, C, H, W = x.shape
    Ho, Wo = (H - ph) // stride + 1, (W - pw) // stride + 1
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw].max(axis=(2, 3))
    return out


def max_pool_backward(dout, x, ph, pw, stride):
    """Each window's gradient to its first maximum (numpy's argmax)."""
    N, C, _, _ = x.shape
    dx = np.zeros_like(x)
    _, _, Ho, Wo = dout.shape
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw].reshape(N, C, -1)
            at = window.argmax(axis=2)
            r, q = at // pw + i * stride, at % pw + j * stride
            n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
            np.add.at(dx, (n, c, r, q), dout[:, :, i, j])
    return dx


def im2col_cython(x, fh, fw, pad, stride):
    """The loops of the course's im2col_cython.pyx."""
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.zeros((C * fh * fw, N * Ho * Wo), dtype=x.dtype)
    for c in range(C):
        for yy in range(Ho):
            for xx in range(Wo):
                for ii in range(fh):
                    for jj in range(fw):
                        row = c * fw * fh + ii * fw + jj
                        for i in range(N):
                            cols[row, yy * Wo * N + xx * N + i] = xp[i, c, stride * yy + ii, stride * xx + jj]
    return cols


# --- layers -------------------------------------------------------------------------


def batchnorm_forward(x, gamma, beta, eps):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, mu, var


def batchnorm_backward(dout, x, gamma, eps):
    """The step-by-step graph of the course's batchnorm_backward."""
    N = x.shape[0]
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc**2).mean(axis=0)
    std = np.sqrt(var + eps)
    xhat = xc / std
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dxc = dxhat / std
    dstd = -np.sum(dxhat * xc / std**2, axis=0)
    dvar = 0.5 * dstd / std
    dxc += 2.0 * xc * dvar / N
    dmu = -dxc.sum(axis=0)
    return dxc + dmu / N, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps):
    xhat = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    return gamma * xhat + beta


def layernorm_backward(dout, x, gamma, eps):
    dx_t, _, _ = batchnorm_backward((dout * gamma).T, x.T, np.ones(x.shape[0]), eps)
    xhat = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    return dx_t.T, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def groupnorm_forward(x, gamma, beta, G, eps):
    N, C, H, W = x.shape
    xg = x.reshape(N, G, -1)
    xhat = ((xg - xg.mean(axis=2, keepdims=True)) / np.sqrt(xg.var(axis=2, keepdims=True) + eps)).reshape(x.shape)
    return gamma * xhat + beta, xhat


def groupnorm_backward(dout, x, gamma, G, eps):
    N, C, H, W = x.shape
    _, xhat = groupnorm_forward(x, gamma, np.zeros_like(gamma), G, eps)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dxhat = (dout * gamma).reshape(N * G, -1)
    dx_t, _, _ = batchnorm_backward(dxhat.T, x.reshape(N * G, -1).T, np.ones((N * G,)), eps)
    return dx_t.T.reshape(x.shape), dgamma, dbeta


# --- losses and kNN -------------------------------------------------------------------


def svm_loss(scores, y):
    N = scores.shape[0]
    correct = scores[np.arange(N), y][:, None]
    margins = np.maximum(0, scores - correct + 1.0)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N
    dscores = (margins > 0).astype(scores.dtype)
    dscores[np.arange(N), y] = -dscores.sum(axis=1)
    return loss, dscores / N


def softmax_loss(scores, y):
    N = scores.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    return loss, dscores / N


def linear_loss(score_loss, W, X, y, reg):
    loss, dscores = score_loss(X @ W, y)
    return loss + reg * np.sum(W * W), X.T @ dscores + 2 * reg * W


def knn_distances(X_train, X_test):
    dists = np.zeros((X_test.shape[0], X_train.shape[0]))
    for i in range(X_test.shape[0]):
        for j in range(X_train.shape[0]):
            dists[i, j] = np.sqrt(np.sum((X_test[i] - X_train[j]) ** 2))
    return dists


def knn_vote(dists, y_train, k):
    y_pred = np.zeros(dists.shape[0], dtype=np.int64)
    for i in range(dists.shape[0]):
        closest_y = y_train[np.argsort(dists[i], kind="stable")[:k]]
        y_pred[i] = np.argmax(np.bincount(closest_y))
    return y_pred
