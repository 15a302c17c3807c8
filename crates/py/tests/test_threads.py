"""The engine releases the GIL while it computes: another Python thread keeps running
during a long call."""

import threading
import time

import numpy as np

from cs231n_rs.classifiers import compute_distances_no_loops


def test_python_threads_run_during_a_long_call():
    rng = np.random.default_rng(0)
    X_train, X_test = rng.standard_normal((6000, 400)), rng.standard_normal((1500, 400))
    done = threading.Event()
    spans = []

    def work():
        t = time.perf_counter()
        for _ in range(3):
            compute_distances_no_loops(X_train, X_test)
        spans.append(time.perf_counter() - t)
        done.set()

    ticks = []
    worker = threading.Thread(target=work)
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    longest_gap = max(np.diff(ticks)) if len(ticks) > 1 else spans[0]
    # Holding the GIL would stall this loop for a whole call (a third of the span).
    assert spans[0] > 0.1 and longest_gap < spans[0] / 6, (spans[0], longest_gap)
