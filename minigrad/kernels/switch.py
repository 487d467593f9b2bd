"""The on/off switch for the fused kernels, and the test each call site asks.

On by default; the environment variable MINIGRAD_FUSED_KERNELS=0 turns them
off for a whole run (to compare a GPU result with the readable NumPy path,
the reference), and `set_enabled` switches them at run time.
"""
import os

import numpy as np

from .. import backend

_enabled = os.environ.get("MINIGRAD_FUSED_KERNELS", "1").strip().lower() not in ("0", "false", "off", "no")

# The floating dtypes the kernels are compiled for (integer arrays, such as
# class targets, are index arguments and may come along).
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def enabled():
    """True when call sites may use the fused kernels (on CuPy arrays)."""
    return _enabled


class set_enabled:
    """Turn the fused kernels on or off; also a context manager that restores
    the previous setting on exit:

        minigrad.kernels.set_enabled(False)          # from now on
        with minigrad.kernels.set_enabled(False):    # only inside the block
            ...
    """

    def __init__(self, flag):
        global _enabled
        self.previous, _enabled = _enabled, bool(flag)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        global _enabled
        _enabled = self.previous
        return False


def use_for(*arrays):
    """True when the fused kernels are enabled and every array is a CuPy array
    whose floating dtype (if any) is one the kernels cover, float32 or float64,
    the same for all of them. Anything else takes the readable NumPy path.
    None entries (optional state buffers) are skipped. Never True on the test
    suite's CuPy stand-in (IS_STAND_IN), a NumPy imitation that cannot run kernels."""
    if not _enabled or backend._cupy is None or getattr(backend._cupy, "IS_STAND_IN", False):
        return False
    dtypes = set()
    for a in arrays:
        if a is None:
            continue
        if backend.is_host_array(a) or not backend.is_array(a):
            return False
        if a.dtype.kind == "f":
            dtypes.add(a.dtype)
    return len(dtypes) <= 1 and dtypes <= set(FLOAT_DTYPES)
