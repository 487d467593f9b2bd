"""Marks tests that need a real NVIDIA GPU: CUDA kernels cannot run in the CuPy stand-in.

    from gpu_only import requires_gpu

    @requires_gpu
    def test_fused_adam_matches_the_numpy_path(): ...
"""
import pytest

from minigrad import backend


def real_gpu():
    """True when CuPy is the real library and sees a GPU (not the test suite's stand-in)."""
    return backend.cuda_is_available() and not getattr(backend._cupy, "IS_STAND_IN", False)


requires_gpu = pytest.mark.skipif(
    not real_gpu(), reason="needs a real NVIDIA GPU with CuPy (kernels cannot run in the CuPy stand-in)")
