"""The parts of assignment 1's classifiers that a notebook waits for: kNN's distance
matrix and vote (``k_nearest_neighbor.py``) and the vectorised SVM and softmax losses
(``linear_svm.py``, ``softmax.py``), same signatures as the course's."""

from . import _native

__all__ = [
    "KNearestNeighbor",
    "compute_distances_no_loops",
    "predict_labels",
    "svm_loss_vectorized",
    "softmax_loss_vectorized",
]


def compute_distances_no_loops(X_train, X_test):
    """L2 distances dists[i, j] between test row i and training row j, (num_test, num_train)."""
    return _native.compute_distances_no_loops(X_train, X_test)


def predict_labels(dists, y_train, k=1):
    """For each test row of dists, the most common label among its k nearest training
    examples (ties to the smaller label, as the course's argmax of bincount). int64."""
    return _native.predict_labels(dists, y_train, k)


def svm_loss_vectorized(W, X, y, reg):
    """(loss, dW) of the multiclass SVM loss with L2 regularisation reg * sum(W * W)."""
    return _native.svm_loss_vectorized(W, X, y, reg)


def softmax_loss_vectorized(W, X, y, reg):
    """(loss, dW) of the softmax loss with L2 regularisation reg * sum(W * W)."""
    return _native.softmax_loss_vectorized(W, X, y, reg)


class KNearestNeighbor:
    """The course's kNN classifier with L2 distance. ``num_loops`` is accepted for the
    course's signature; all three ways give the same distances, computed here one way."""

    def train(self, X, y):
        """Remembers the training data X (num_train, D) and labels y (num_train,)."""
        self.X_train = X
        self.y_train = y

    def predict(self, X, k=1, num_loops=0):
        """Labels of the test rows X (num_test, D)."""
        if num_loops not in (0, 1, 2):
            raise ValueError("Invalid value %d for num_loops" % num_loops)
        return self.predict_labels(self.compute_distances_no_loops(X), k=k)

    def compute_distances_no_loops(self, X):
        """dists (num_test, num_train) between X and the training rows."""
        return compute_distances_no_loops(self.X_train, X)

    def predict_labels(self, dists, k=1):
        """The majority label among the k nearest training rows of each test row."""
        return predict_labels(dists, self.y_train, k)
