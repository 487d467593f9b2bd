"""A strict stand-in for CuPy, so the test suite runs every `cuda` case without a GPU.

Real CuPy arrays live in GPU memory; NumPy cannot read them. Code that works
on NumPy arrays often breaks on CuPy in ways a CPU-only test never sees: a
NumPy function that CuPy does not take over asks for a host copy, a host array
mixed into a device expression, a Python `float()` of a device value that
stalls the GPU. This module imitates CuPy's rules (read from CuPy 13.6 and
14.2's sources) on top of NumPy:

- `cupy.ndarray` is not a `numpy.ndarray`, and refuses implicit conversion:
  `np.asarray(device_array)` raises TypeError, as CuPy's `__array__` does.
- NumPy functions and ufuncs on device arrays dispatch to `cupy.<same name>`
  (TypeError where CuPy has none); a host array or list mixed into a ufunc is
  a TypeError; `a[...] = host_array` is a ValueError; host index arrays work.
- Reductions and integer indexing give 0-d device arrays. `float() int()
  bool() .item() .tolist() .get() cupy.asnumpy`, boolean-mask indexing,
  `nonzero`, `unique`, `bincount` are device-to-host syncs: each is counted by
  call site (`sync_counts`), and `cupyx.allow_synchronize(False)` makes them
  raise, so a test can prove a training step never waits for the GPU.
- `cupy.random` has the legacy module API; `default_rng()` gives a Generator
  without `normal`, `permutation`, `shuffle`, `choice`; float draws are
  float32/float64 only. `ufunc.reduce/accumulate` exist for add and multiply
  only, `ufunc.at` for add, subtract, maximum, minimum and bitwise ops; sorts
  are stable only; no object or string dtypes.
- CUDA kernels (`ElementwiseKernel`, `ReductionKernel`, `RawKernel`, `fuse`)
  can be built but not run: tests of kernels run on a real GPU only.

The arrays, the syncs and the `cupy` namespace are in cupy_stand_in_array.py; this file
adds cupy.random, cupy.cuda, kernels and cupyx. `install()` puts the fake modules in
`sys.modules` (tests/conftest.py calls it before minigrad is imported, unless a real GPU
is present or MINIGRAD_CUPY_STAND_IN=0). Not part of the package: it exists for the tests.
"""
import functools
import os
import sys
import types

import numpy as np
from cupy_stand_in_array import (  # noqa: F401 (sync_counts: tests read it from here)
    DeviceSynchronized,
    _sync,
    _unwrap,
    _unwrap_index,
    _wrap,
    allow_synchronize,
    cupy,
    ndarray,
    sync_counts,
)

IS_STAND_IN = True
installed = False  # set by install(): the fake modules are what `import cupy` gives


# ------------------------------------------------------------- cupy.random
class _LegacyRandom(types.ModuleType):
    """`cupy.random`: NumPy's legacy module API, float draws in float32/float64 only."""

    def __init__(self):
        super().__init__("cupy.random")
        self._state = np.random.RandomState()

    def seed(self, seed=None):
        self._state = np.random.RandomState(seed)

    def _floats(self, draw, size, dtype):
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"cupy.random draws float32 or float64, not {dtype}")
        return _wrap(np.asarray(draw(size=size)).astype(dtype))

    def rand(self, *size, dtype=float):
        return self._floats(self._state.random_sample, size, dtype)

    def randn(self, *size, dtype=float):
        return self._floats(self._state.standard_normal, size, dtype)

    def random_sample(self, size=None, dtype=float):
        return self._floats(self._state.random_sample, size, dtype)

    random = random_sample

    def standard_normal(self, size=None, dtype=float):
        return self._floats(self._state.standard_normal, size, dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return self._floats(functools.partial(self._state.uniform, _unwrap(low, "uniform"),
                                              _unwrap(high, "uniform")), size, dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return self._floats(functools.partial(self._state.normal, _unwrap(loc, "normal"),
                                              _unwrap(scale, "normal")), size, dtype)

    def randint(self, low, high=None, size=None, dtype=int):
        span = low if high is None else high - low
        if span & (span - 1):  # CuPy's rejection sampling counts the rejected draws on the host
            _sync("cupy.random.randint over a range that is not a power of two")
        return _wrap(np.asarray(self._state.randint(low, high, size=size, dtype=dtype)))

    def binomial(self, n, p, size=None, dtype=int):
        return _wrap(np.asarray(self._state.binomial(n, p, size=size)).astype(dtype))

    def permutation(self, num):
        if isinstance(num, ndarray):
            return _wrap(self._state.permutation(num._a))
        return _wrap(self._state.permutation(num))

    def shuffle(self, a):
        self._state.shuffle(a._a)

    def choice(self, a, size=None, replace=True, p=None):
        return _wrap(np.asarray(self._state.choice(_unwrap(a, "choice"), size, replace,
                                                   _unwrap(p, "choice"))))

    def default_rng(self, seed=None):
        return Generator(seed)


class Generator:
    """`cupy.random.Generator`: no normal, permutation, shuffle or choice (as in CuPy)."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def random(self, size=None, dtype=np.float64, out=None):
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise TypeError(f"Generator.random draws float32 or float64, not {np.dtype(dtype)}")
        return _wrap(np.asarray(self._rng.random(size, dtype=dtype)))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return _wrap(np.asarray(self._rng.integers(low, high, size, dtype=dtype, endpoint=endpoint)))

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return _wrap(np.asarray(self._rng.standard_normal(size, dtype=dtype)))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return _wrap(np.asarray(self._rng.uniform(low, high, size)).astype(dtype))


cupy.random = _LegacyRandom()
cupy.random.Generator = Generator


# --------------------------------------------------------------- cupy.cuda
cuda = types.ModuleType("cupy.cuda")


class _Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise RuntimeError(f"cudaErrorInvalidDevice: the stand-in has one device, not {self.id}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        return self

    def synchronize(self):
        _sync("Device.synchronize")

    def __eq__(self, other):
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self):
        return self.id

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class _Stream:
    null = None

    def synchronize(self):
        _sync("Stream.synchronize")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Event:
    def record(self, stream=None):
        pass

    def synchronize(self):
        _sync("Event.synchronize")


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


cuda.Device = _Device
cuda.Stream = _Stream
cuda.Event = _Event
cuda.get_current_stream = _Stream
cuda.get_elapsed_time = lambda start, end: 0.0
cuda.runtime = types.ModuleType("cupy.cuda.runtime")
cuda.runtime.getDeviceCount = lambda: 1
cuda.runtime.deviceSynchronize = lambda: _sync("deviceSynchronize")
cupy.cuda = cuda
cupy.get_default_memory_pool = _MemoryPool
cupy.get_default_pinned_memory_pool = _MemoryPool


# ------------------------------------------------------------- kernels
class _Kernel:
    """Kernels compile CUDA C: they can be declared here but never run."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __call__(self, *args, **kwargs):
        raise RuntimeError("CUDA kernels cannot run in the CuPy stand-in: this code path needs a "
                           "real GPU (tests of kernels use gpu_only.requires_gpu)")

    def get_function(self, name):
        return self


cupy.ElementwiseKernel = cupy.ReductionKernel = cupy.RawKernel = cupy.RawModule = _Kernel
cupy.fuse = lambda *args, **kwargs: (_Kernel() if args and callable(args[0])
                                     else (lambda function: _Kernel()))


# ----------------------------------------------------------------- cupyx
def _scatter(ufunc):
    def scatter(a, slices, value):
        getattr(np, ufunc).at(a._a, _unwrap_index(slices), _unwrap(value, f"cupyx.scatter_{ufunc}"))
    return scatter


cupyx = types.ModuleType("cupyx")
cupyx.IS_STAND_IN = True
cupyx.scatter_add = _scatter("add")
cupyx.scatter_max = _scatter("maximum")
cupyx.scatter_min = _scatter("minimum")
cupyx.allow_synchronize = allow_synchronize
cupyx.DeviceSynchronized = DeviceSynchronized
cupyx.scipy = types.ModuleType("cupyx.scipy")
cupyx.scipy.special = types.ModuleType("cupyx.scipy.special")


def _erf(x):
    import math
    return _wrap(np.vectorize(math.erf, otypes=[x.dtype])(x._a))


def _erfc(x):  # CuPy has cupyx.scipy.special.erfc too
    import math
    return _wrap(np.vectorize(math.erfc, otypes=[x.dtype])(x._a))


cupyx.scipy.special.erf = _erf
cupyx.scipy.special.erfc = _erfc


# ----------------------------------------------------------------- install
_MODULE_NAMES = {"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.runtime": cuda.runtime,
                 "cupy.random": cupy.random, "cupy.linalg": cupy.linalg, "cupy.fft": cupy.fft,
                 "cupy.lib": cupy.lib, "cupy.lib.stride_tricks": cupy.lib.stride_tricks,
                 "cupyx": cupyx, "cupyx.scipy": cupyx.scipy,
                 "cupyx.scipy.special": cupyx.scipy.special}


def real_gpu_present():
    """True when the real CuPy imports and sees a GPU (then the stand-in stays out)."""
    try:
        import cupy as real
        return real.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def install():
    """Make `import cupy` / `import cupyx` give the stand-in (before minigrad is imported).

    Returns True when installed; False when a real GPU is present or
    MINIGRAD_CUPY_STAND_IN=0 asks for no stand-in."""
    if os.environ.get("MINIGRAD_CUPY_STAND_IN", "1") == "0" or real_gpu_present():
        return False
    if "minigrad" in sys.modules:
        raise RuntimeError("install the CuPy stand-in before importing minigrad")
    for name in list(sys.modules):  # a failed real import may have left pieces behind
        if name == "cupy" or name.startswith(("cupy.", "cupyx")):
            del sys.modules[name]
    sys.modules.update(_MODULE_NAMES)
    os.environ.setdefault("MINIGRAD_FUSED_KERNELS", "0")  # kernels cannot run here
    global installed
    installed = True
    return True
