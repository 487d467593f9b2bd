"""Shared fixtures: one suite for every device.

`device` runs a test on "cpu" and, when CuPy sees a GPU, on "cuda" too; on a
machine without one the cuda case is skipped, never copied per device."""
import numpy as np
import pytest

import minigrad

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not minigrad.cuda.is_available(), reason="CuPy with a CUDA GPU is not available"))]


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    minigrad.manual_seed(0)
    np.random.seed(0)
