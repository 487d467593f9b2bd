"""Functions that create tensors: tensor, zeros, ones, full, arange, eye, rand, randn, ..."""
import numpy as np

from . import backend
from .dtypes import get_default_dtype
from .tensor import Tensor

__all__ = ["tensor", "zeros", "ones", "full", "arange", "eye", "rand", "randn", "randint",
           "zeros_like", "ones_like", "full_like", "empty", "manual_seed", "linspace", "logspace",
           "from_numpy"]


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor holding a copy of `data` (a number, nested list, array or Tensor).

    Python floats and lists of floats give the default float dtype (float32,
    see set_default_dtype), Python ints give int64, and a NumPy array keeps its
    dtype (float64 stays float64), as torch.tensor. Strings, other objects and
    ragged lists ([[1, 2], [3]]) are an error."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def _make(fill, shape, dtype, device, requires_grad):
    device = backend.normalize_device(device)
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    with backend.device_scope(device):
        data = fill(backend.xp_of_device(device), tuple(int(n) for n in shape),
                    np.dtype(dtype or get_default_dtype()))
    return Tensor._wrap(data, device).requires_grad_(requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.zeros(s, d), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.ones(s, d), shape, dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.empty(s, d), shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    """torch.full: a tensor of `shape` filled with fill_value. Without a dtype, the
    fill's type picks it, as in PyTorch: a bool gives bool, an int int64, a float
    the default float dtype (full((2,), 7) is int64; full((2,), 7.0) is float32)."""
    if dtype is None:
        dtype = _dtype_of_number(fill_value)
    return _make(lambda xp, s, d: xp.full(s, fill_value, d), (shape,), dtype, device,
                 requires_grad)


def _dtype_of_number(value):
    """The dtype PyTorch gives a Python number: bool, int64, or None (the default float)."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_
    if isinstance(value, (int, np.integer)):
        return np.int64
    return None


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), (), dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False):
    """Like torch.arange: integer arguments give int64, any float the default float dtype."""
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, stop, step) if v is not None)
        dtype = np.int64 if is_int else get_default_dtype()
    if stop is None:
        start, stop = 0, start
    return _make(lambda xp, s, d: xp.arange(start, stop, step, dtype=d), (), dtype, device,
                 requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1), from the generator seeded by `manual_seed`."""
    return _make(lambda xp, s, d: backend.rng(_dev(device)).random(s).astype(d, copy=False),
                 shape, dtype, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal, from the generator seeded by `manual_seed`."""
    return _make(lambda xp, s, d: backend.rng(_dev(device)).standard_normal(s).astype(d, copy=False),
                 shape, dtype, device, requires_grad)


def randint(low, high, shape, dtype=np.int64, device=None):
    return _make(lambda xp, s, d: _integers(_dev(device), low, high, s).astype(d, copy=False),
                 (shape,), dtype, device, False)


def _integers(device, low, high, shape):
    generator = backend.rng(device)
    if hasattr(generator, "integers"):
        return generator.integers(low, high, shape)
    return generator.randint(low, high, shape)


def _dev(device):
    return backend.normalize_device(device)


def _like(fill, x, dtype, device, requires_grad):
    return _make(fill, x.shape, dtype or x.dtype, device or x.device, requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return _like(lambda xp, s, d: xp.zeros(s, d), x, dtype, device, requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return _like(lambda xp, s, d: xp.ones(s, d), x, dtype, device, requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False):
    return _like(lambda xp, s, d: xp.full(s, fill_value, d), x, dtype, device, requires_grad)


manual_seed = backend.manual_seed


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """torch.linspace: `steps` evenly spaced values from start to end, both included
    (the default float dtype unless dtype says otherwise)."""
    if steps < 0:
        raise RuntimeError(f"linspace: steps must be non-negative, got {steps}")
    return _make(lambda xp, s, d: xp.linspace(start, end, int(steps)).astype(d), (), dtype, device,
                 requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    """torch.logspace: base ** linspace(start, end, steps)."""
    if steps < 0:
        raise RuntimeError(f"logspace: steps must be non-negative, got {steps}")
    return _make(lambda xp, s, d: (base ** xp.linspace(start, end, int(steps))).astype(d), (), dtype,
                 device, requires_grad)


def from_numpy(array):
    """torch.from_numpy: a cpu tensor that SHARES the NumPy array's memory (no
    copy): writing to one changes the other. minigrad.tensor(array) copies."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}; "
                        "use minigrad.tensor(data) for other data")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: dtype {array.dtype} is not supported; expected a bool, "
                        "integer or floating-point array")
    return Tensor._wrap(array, "cpu")
