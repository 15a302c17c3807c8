"""cs231n_rs.classifiers against the numpy references: kNN distances and vote, and the
vectorised SVM and softmax losses (values, analytic and numerical gradients)."""

import subprocess
import sys

import numpy as np
import pytest

import reference as ref
from cs231n_rs import set_threads, threads
from cs231n_rs.classifiers import (
    KNearestNeighbor,
    compute_distances_no_loops,
    predict_labels,
    softmax_loss_vectorized,
    svm_loss_vectorized,
)
from reference import eval_numerical_gradient, rel_error


def data(seed=0, n=40, d=12, c=5):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((d, c)) * 0.01, rng.standard_normal((n, d)), rng.integers(c, size=n)


def test_knn_distances_and_vote():
    rng = np.random.default_rng(1)
    X_train, X_test = rng.standard_normal((30, 8)), rng.standard_normal((7, 8))
    y_train = rng.integers(4, size=30)
    dists = compute_distances_no_loops(X_train, X_test)
    expected = ref.knn_distances(X_train, X_test)
    assert dists.shape == (7, 30) and rel_error(dists, expected) < 1e-8
    for k in (1, 3, 5, 30):
        assert np.array_equal(predict_labels(dists, y_train, k), ref.knn_vote(dists, y_train, k))
    clf = KNearestNeighbor()
    clf.train(X_train, y_train)
    assert np.array_equal(clf.predict(X_test, k=3), ref.knn_vote(expected, y_train, 3))


def test_knn_vote_ties_go_to_the_smaller_label():
    dists = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert predict_labels(dists, np.array([3, 1, 1, 3]), k=4).tolist() == [1]


def test_knn_float32():
    rng = np.random.default_rng(2)
    X_train, X_test = rng.standard_normal((20, 6)).astype(np.float32), rng.standard_normal((5, 6)).astype(np.float32)
    dists = compute_distances_no_loops(X_train, X_test)
    assert dists.dtype == np.float32
    assert np.allclose(dists, ref.knn_distances(X_train.astype(np.float64), X_test.astype(np.float64)), atol=1e-4)


@pytest.mark.parametrize("ours, score_loss", [(svm_loss_vectorized, ref.svm_loss), (softmax_loss_vectorized, ref.softmax_loss)])
def test_linear_losses(ours, score_loss):
    W, X, y = data()
    for reg in (0.0, 0.1):
        loss, dW = ours(W, X, y, reg)
        eloss, edW = ref.linear_loss(score_loss, W, X, y, reg)
        assert rel_error(loss, eloss) < 1e-8 and rel_error(dW, edW) < 1e-8
        num = eval_numerical_gradient(lambda w: ours(w, X, y, reg)[0], W)
        assert rel_error(dW, num) < ref.FD_TOL  # dW has entries near 1e-3
    loss32, dW32 = ours(W.astype(np.float32), X.astype(np.float32), y, 0.1)
    assert dW32.dtype == np.float32 and abs(loss32 - eloss) < 1e-4 * abs(eloss)


@pytest.mark.parametrize(
    "call",
    [
        lambda: compute_distances_no_loops(np.zeros((3, 4)), np.zeros((2, 5))),
        lambda: compute_distances_no_loops(np.zeros((0, 4)), np.zeros((2, 4))),
        lambda: compute_distances_no_loops(np.full((3, 4), np.nan), np.zeros((2, 4))),
        lambda: predict_labels(np.zeros((2, 3)), np.array([0, 1]), 1),
        lambda: predict_labels(np.zeros((2, 3)), np.array([0, 1, 2]), 0),
        lambda: predict_labels(np.zeros((2, 3)), np.array([0, 1, 2]), 4),
        lambda: predict_labels(np.zeros((2, 3)), np.array([0, -1, 2]), 1),
        lambda: svm_loss_vectorized(*data()[:2], np.zeros(39, int), 0.0),
        lambda: svm_loss_vectorized(data()[0], data()[1][:, :5], data()[2], 0.0),
        lambda: softmax_loss_vectorized(*data()[:2], np.full(40, 5), 0.0),
        lambda: softmax_loss_vectorized(data()[0].astype(np.float32), *data()[1:], 0.0),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_threads_knob():
    # The first call, before any computation, sets the pool; later calls report it.
    code = "import cs231n_rs as c; print(c.set_threads(1), c.set_threads(2), c.threads())"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["1", "1", "1"]
    assert set_threads(3) == threads() >= 1
    with pytest.raises(ValueError):
        set_threads(-1)
