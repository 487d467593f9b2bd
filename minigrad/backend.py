"""The only file that knows CuPy exists.

Every array in minigrad is either a NumPy array (device "cpu") or a CuPy array
(device "cuda:N"). Code elsewhere asks this module for the array library of a
device (`xp`), moves arrays between devices, and calls the few named helpers
where NumPy and CuPy differ. Importing minigrad never fails for lack of CuPy.
"""
import math
import os

import numpy as np

try:  # CuPy is an optional extra: `pip install minigrad[cuda12]`.
    import cupy as _cupy
    import cupyx as _cupyx
except Exception:  # ImportError, or a broken CUDA install: either way, no GPU.
    _cupy = None
    _cupyx = None


def cuda_is_available():
    """True when CuPy is importable and sees at least one GPU. Never raises."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def cuda_device_count():
    return _cupy.cuda.runtime.getDeviceCount() if cuda_is_available() else 0


def normalize_device(device):
    """'cpu' | 'cuda' | 'cuda:N' (or an int N) -> 'cpu' or 'cuda:N'."""
    if device is None:
        return "cpu"
    if isinstance(device, int):
        device = f"cuda:{device}"
    device = str(device).strip().lower()
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        device = "cuda:0"
    if device.startswith("cuda:") and device[5:].isdigit():
        if not cuda_is_available():
            raise RuntimeError(
                f"device {device!r} was requested but CUDA is not available: install CuPy "
                "(pip install 'minigrad[cuda12]' or '[cuda13]') on a machine with an NVIDIA GPU, "
                "or use device='cpu'")
        index = int(device[5:])
        if index >= cuda_device_count():
            raise RuntimeError(f"device {device!r} does not exist: this machine has "
                               f"{cuda_device_count()} GPU(s)")
        return device
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def xp_of_device(device):
    """The array library (numpy or cupy) for a normalized device string."""
    return np if device == "cpu" else _cupy


def device_of_array(array):
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return f"cuda:{array.device.id}"
    return "cpu"


def is_array(obj):
    return isinstance(obj, np.ndarray) or (_cupy is not None and isinstance(obj, _cupy.ndarray))


def is_host_array(array):
    """True for a NumPy array (host memory), False for a CuPy array (GPU memory).

    For code that tunes itself to where its data lives rather than to what it
    computes: on the CPU, cache-sized chunks and reused scratch buffers pay off;
    on the GPU, CuPy pools memory itself and one big kernel beats many small ones."""
    return isinstance(array, np.ndarray)


# Checks that read values back to the host (is every target a valid class
# index?) cost nothing on the CPU, but on a GPU each one waits until all queued
# work is done, stalling the pipeline of kernels. On a GPU they run only when
# asked for: minigrad.cuda.set_value_checks(True) or MINIGRAD_DEVICE_CHECKS=1.
_device_value_checks = os.environ.get("MINIGRAD_DEVICE_CHECKS", "0") == "1"


def set_device_value_checks(flag):
    global _device_value_checks
    _device_value_checks = bool(flag)


def checks_values(array):
    """Should a check that reads `array`'s values on the host run? Always on the
    CPU; on a GPU only when device value checks are on (see above)."""
    return is_host_array(array) or _device_value_checks


def to_device(array, device):
    """Copy `array` to `device` (no copy if it is already there)."""
    source = device_of_array(array)
    if source == device:
        return array
    if device == "cpu":
        return _cupy.asnumpy(array)
    with _cupy.cuda.Device(int(device[5:])):
        return _cupy.asarray(array)


def to_numpy(array):
    return array if isinstance(array, np.ndarray) else _cupy.asnumpy(array)


def device_scope(device):
    """A context manager that makes `device` current for CuPy allocations."""
    if device == "cpu":
        import contextlib
        return contextlib.nullcontext()
    return _cupy.cuda.Device(int(device[5:]))


# ---------------------------------------------------------------- randomness
# One generator per library, so `minigrad.manual_seed` makes every random draw
# of the library (init, dropout, data shuffling defaults) reproducible.
_numpy_rng = np.random.default_rng()


def manual_seed(seed):
    global _numpy_rng
    _numpy_rng = np.random.default_rng(seed)
    if cuda_is_available():
        _cupy.random.seed(seed)


def rng(device="cpu"):
    """The library's random generator for `device` (NumPy Generator or cupy.random)."""
    if device == "cpu":
        return _numpy_rng
    return _cupy.random


# ---------------------------------------------- where NumPy and CuPy differ
def add_at(target, indices, values):
    """target[indices] += values, adding repeated indices (unbuffered)."""
    if isinstance(target, np.ndarray):
        np.add.at(target, indices, values)
    else:
        _cupyx.scatter_add(target, indices, values)
    return target


def extreme_at(target, indices, values, largest):
    """target[indices] = max(target[indices], values) (or min), unbuffered, so a
    repeated index takes the max of all its values (scatter_reduce amax/amin)."""
    if isinstance(target, np.ndarray):
        (np.maximum if largest else np.minimum).at(target, indices, values)
    else:
        (_cupyx.scatter_max if largest else _cupyx.scatter_min)(target, indices, values)
    return target


def array_module(array):
    """numpy or cupy, whichever `array` belongs to (for code on raw arrays)."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return np


def erf(array):
    """The error function, elementwise, keeping the array's dtype (for exact GELU)."""
    return _special_function("erf", array)


def erfc(array):
    """1 - erf(x), elementwise, computed directly (accurate where erf(x) rounds to 1)."""
    return _special_function("erfc", array)


def _special_function(name, array):
    """scipy.special's `name` (erf, erfc) on `array`, keeping its dtype.

    NumPy has neither. CuPy has its own; with SciPy installed, SciPy's. Without
    SciPy: float16/float32 arrays get a vectorised approximation accurate to
    their precision (`_erf_float32`), float64 arrays Python's math.<name> per
    element (exact, which the float64 gradient checks need, but slow on big arrays)."""
    if not isinstance(array, np.ndarray):
        import cupyx.scipy.special
        return getattr(cupyx.scipy.special, name)(array)
    try:
        import scipy.special
        function = getattr(scipy.special, name)
    except ImportError:
        if array.dtype in (np.float16, np.float32):
            return _erf_float32(name, array)
        import math
        function = np.vectorize(getattr(math, name), otypes=[np.float64])
    return function(array).astype(array.dtype, copy=False)


# erfc(z) = t * exp(-z^2 + P(t)), t = 1/(1 + z/2), z >= 0: a Chebyshev fit (Numerical
# Recipes' erfcc) with a relative error below 1.2e-7 for every z, float32's precision.
_ERFC_COEFFICIENTS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                      0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def _erf_float32(name, x):
    """erf or erfc of a float16/float32 array to its precision (exact GELU at full speed).

    From erfc(|x|) above. erf = 1 - erfc needs erfc's absolute error small,
    which float32 arithmetic gives (and it is fast); near 0, where 1 - erfc
    loses relative accuracy, the Taylor series erf(z) = 2/sqrt(pi) * sum
    (-1)^n z^(2n+1) / (n! (2n+1)) takes over (to n = 5: below 3e-8 relative
    for z < 0.5). erfc itself needs its relative error small, out to where it
    is 1e-38, and gets float64 arithmetic. A block of 32k values at a time, so
    that the formula's twenty-odd passes run in cache (4x faster than whole arrays)."""
    flat, out = np.ascontiguousarray(x).reshape(-1), np.empty(x.shape, x.dtype)
    out_flat = out.reshape(-1)
    work_dtype = np.float64 if name == "erfc" else np.float32
    for start in range(0, flat.size, 1 << 15):
        block = flat[start:start + (1 << 15)].astype(work_dtype)
        out_flat[start:start + block.size] = (_erfc_block if name == "erfc" else _erf_block)(block)
    return out


def _erfc_of_abs(z):
    """erfc(z) for z >= 0, in z's dtype."""
    one = z.dtype.type(1.0)
    t = one / (one + z.dtype.type(0.5) * z)
    polynomial = z.dtype.type(_ERFC_COEFFICIENTS[-1])
    for c in _ERFC_COEFFICIENTS[-2::-1]:  # Horner's rule
        polynomial = polynomial * t + z.dtype.type(c)
    return t * np.exp(polynomial - z * z)


def _erfc_block(x):
    erfc_of_z = _erfc_of_abs(np.abs(x))
    return np.where(x < 0, 2.0 - erfc_of_z, erfc_of_z)  # erfc(-z) = 2 - erfc(z)


_ERF_SERIES = tuple((-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(6))


def _erf_block(x):
    z = np.abs(x)
    z2, series = z * z, np.float32(_ERF_SERIES[-1])
    for a in _ERF_SERIES[-2::-1]:  # Horner's rule in z^2
        series = series * z2 + np.float32(a)
    near_zero = np.float32(2.0 / math.sqrt(math.pi)) * z * series
    erf_of_z = np.where(z < 0.5, near_zero, np.float32(1.0) - _erfc_of_abs(z))
    return np.copysign(erf_of_z, x)


def synchronize(device):
    """Wait until all queued GPU work on `device` is done (no-op on the CPU).

    GPU calls return before the GPU finishes; time a step only after this."""
    if device != "cpu":
        _cupy.cuda.Device(int(device[5:])).synchronize()
