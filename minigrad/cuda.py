"""`minigrad.cuda.is_available()`, like `torch.cuda.is_available()`: never raises.

Also the switch for the fused CUDA kernels (minigrad/kernels): on by default,
used only on CuPy arrays; the readable NumPy path is the reference. To compare
against it, run with MINIGRAD_FUSED_KERNELS=0, or:

    with minigrad.cuda.use_fused_kernels(False):
        ...
"""
from . import kernels
from .backend import cuda_device_count as device_count
from .backend import cuda_is_available as is_available

__all__ = ["is_available", "device_count", "use_fused_kernels", "fused_kernels_enabled"]


def use_fused_kernels(flag):
    """Turn the fused CUDA kernels on (True) or off (False); as a context
    manager, only inside the `with` block."""
    return kernels.set_enabled(flag)


def fused_kernels_enabled():
    """True when GPU code may take the fused kernels instead of the NumPy path."""
    return kernels.enabled()
