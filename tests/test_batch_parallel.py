"""The batch-parallel CPU paths (minigrad.threads.run_split over slices of the batch) give
the results of the whole-batch computation: convolution, batch norm, ReLU's backward and
max pooling, forward and backward, split into one-image slices on two threads."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import threads
from minigrad.ops import conv, elementwise, im2col, max_pool, normalization

pytest.importorskip("threadpoolctl")


def step(seed):
    """A small conv-BN-ReLU-pool forward and backward; returns the output and gradients."""
    rng = np.random.default_rng(seed)
    x = minigrad.tensor(rng.standard_normal((6, 3, 9, 9)), requires_grad=True)
    w = minigrad.tensor(rng.standard_normal((4, 3, 3, 3)) * 0.3, requires_grad=True)
    gamma = minigrad.tensor(rng.uniform(0.5, 1.5, 4), requires_grad=True)
    beta = minigrad.tensor(rng.standard_normal(4), requires_grad=True)
    h = F.conv2d(x, w, padding=1)
    h = F.batch_norm(h, None, None, gamma, beta, training=True)
    y = F.max_pool2d(F.relu(h), 2)  # 9 -> 4: the last row and column get no window
    (y * minigrad.tensor(rng.standard_normal(y.shape))).sum().backward()
    return [y.numpy()] + [t.grad.numpy() for t in (x, w, gamma, beta)]


def split_into_one_image_slices(monkeypatch):
    """Every batch-parallel op split into slices of one image (and conv chunks of one);
    returns {module name: the most parts one run_split call of it got}."""
    def tiny(array, part_bytes=0):
        return threads.batch_slices(array, part_bytes=1)
    most_parts = {}

    def recording(module):
        def run_split(work, parts):
            parts = list(parts)
            name = module.__name__.rsplit(".", 1)[1]
            most_parts[name] = max(most_parts.get(name, 0), len(parts))
            return threads.run_split(work, parts)
        return run_split
    for module in (elementwise, max_pool, normalization):
        monkeypatch.setattr(module, "batch_slices", tiny)
    for module in (conv, elementwise, max_pool, normalization):
        monkeypatch.setattr(module, "run_split", recording(module))
    monkeypatch.setattr(im2col, "CHUNK_BYTES", 1)
    return most_parts


def test_one_image_slices_on_two_threads_give_the_whole_batch_result(monkeypatch):
    if not minigrad.blas_info():
        pytest.skip("no BLAS library found by threadpoolctl: nothing runs in parallel")
    before = minigrad.get_num_threads()
    try:
        minigrad.set_num_threads(2)
        whole = step(0)  # the test's batch is far below a slice's size: one part each
        most_parts = split_into_one_image_slices(monkeypatch)
        split = step(0)
    finally:
        minigrad.set_num_threads(before)
    assert most_parts == dict.fromkeys(["conv", "elementwise", "max_pool", "normalization"], 6)
    for a, b in zip(split, whole):
        # float64; the slices only change the order of the sums over the batch
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
