"""Shared fixtures: one suite for every device.

`device` runs a test on "cpu" and on "cuda": on a real GPU when CuPy sees one,
else on the strict CuPy stand-in (tests/cupy_stand_in.py), which enforces
CuPy's rules on NumPy so the GPU path is checked on every machine.
MINIGRAD_CUPY_STAND_IN=0 turns the stand-in off (the cuda cases then skip)."""
import cupy_stand_in  # before minigrad: without a GPU, `import cupy` finds the strict stand-in
import numpy as np
import pytest

cupy_stand_in.install()

import minigrad  # noqa: E402

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
