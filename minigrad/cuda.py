"""`minigrad.cuda.is_available()`, like `torch.cuda.is_available()`: never raises.

Also the switch for the fused CUDA kernels (minigrad/kernels): on by default,
used only on CuPy arrays; the readable NumPy path is the reference. To compare
against it, run with MINIGRAD_FUSED_KERNELS=0, or:

    with minigrad.cuda.use_fused_kernels(False):
        ...

And the switch for checks that read values back to the host (is every
cross-entropy target a valid class?): always on for the CPU, where they are
free; on a GPU each would stall the queue of kernels, so they run only after
`set_value_checks(True)` or with MINIGRAD_DEVICE_CHECKS=1 (when a GPU run
gives a NaN loss, turn them on to get the exact error).
"""
from . import kernels
from .backend import cuda_device_count as device_count
from .backend import cuda_is_available as is_available
from .backend import set_device_value_checks as set_value_checks

__all__ = ["is_available", "device_count", "use_fused_kernels", "fused_kernels_enabled",
           "set_value_checks"]


def use_fused_kernels(flag):
    """Turn the fused CUDA kernels on (True) or off (False); as a context
    manager, only inside the `with` block."""
    return kernels.set_enabled(flag)


def fused_kernels_enabled():
    """True when GPU code may take the fused kernels instead of the NumPy path."""
    return kernels.enabled()
