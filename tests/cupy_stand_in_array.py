"""The array half of the CuPy stand-in (tests/cupy_stand_in.py): device-to-host sync
counting, `cupy.ndarray`, and the `cupy` namespace of functions that take and give device
arrays. cupy_stand_in.py adds cupy.random, cupy.cuda, kernels and cupyx, and installs the
modules; read its docstring first. Not part of the package: it exists for the tests.
"""
import collections
import contextlib
import os
import sys
import types
import weakref

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

IS_STAND_IN = True
_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")

# ------------------------------------------------------------------ syncs
sync_counts = collections.Counter()  # "file:line" of the caller -> device-to-host syncs
_sync_allowed = [True]


class DeviceSynchronized(RuntimeError):
    """Raised, as cupyx's is, by a sync while `allow_synchronize(False)` is on."""


def _call_site():
    frame = sys._getframe(2)
    # the caller is the first frame outside the stand-in's two files and NumPy
    while frame is not None and (os.path.basename(frame.f_code.co_filename).startswith("cupy_stand_in")
                                 or "/numpy/" in frame.f_code.co_filename):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "?"


def _sync(what):
    site = _call_site()
    if not _sync_allowed[0]:
        raise DeviceSynchronized(f"device-to-host synchronization ({what}) at {site} "
                                 "while cupyx.allow_synchronize(False) is on")
    sync_counts[site] += 1


@contextlib.contextmanager
def allow_synchronize(allow):
    before, _sync_allowed[0] = _sync_allowed[0], bool(allow)
    try:
        yield
    finally:
        _sync_allowed[0] = before


# --------------------------------------------------------- moving values
def _check_dtype(dtype):
    if dtype is not None and np.dtype(dtype).kind in "OSUV":
        raise TypeError(f"Unsupported dtype {np.dtype(dtype)}: CuPy has no object or string arrays")


def _wrap(value):
    """NumPy results -> device arrays (scalars become 0-d arrays, as CuPy returns)."""
    if isinstance(value, np.ndarray):
        _check_dtype(value.dtype)
        out = ndarray.__new__(ndarray)
        out._a = value
        if value.base is None:  # the array owning its memory: views' .base must find this one
            _owners[id(value)] = out
        return out
    if isinstance(value, np.generic):
        return _wrap(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


_owners = weakref.WeakValueDictionary()  # id(NumPy storage) -> the device array that owns it


def _base_of(array):
    """CuPy's `.base`: the device array owning a view's memory, always the same object."""
    root = array._a.base
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    if not isinstance(root, np.ndarray):
        return None
    owner = _owners.get(id(root))
    if owner is None or owner._a is not root:
        owner = _wrap(root)
    return owner


def _unwrap(value, where):
    """Device arrays -> their NumPy storage; a host array is refused, as CuPy does."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)} in {where}: a host (NumPy) array given "
                        "to a CuPy function; move it to the device with cupy.asarray first")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    return value


def _unwrap_index(key):
    """Index keys: device or host integer arrays are fine; boolean masks are syncs."""
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for part in parts:
        if isinstance(part, ndarray):
            part = part._a
        if isinstance(part, np.ndarray) and part.dtype == bool and part.ndim > 0:
            _sync("boolean-mask indexing")
        if isinstance(part, list) and any(isinstance(p, ndarray) for p in part):
            part = [p._a if isinstance(p, ndarray) else p for p in part]
        out.append(part)
    return tuple(out) if isinstance(key, tuple) else out[0]


# ---------------------------------------------------------------- ndarray
class _MemoryPointer:
    """`cupy.ndarray.data` is a pointer to device memory, not an array: code that
    takes `x.data` for "the array of a Tensor" must not get one from a raw array."""

    def __init__(self, array):
        self.ptr, self.mem = id(array._a), None


class _Flags:
    """CuPy's `ndarray.flags`: contiguity and ownership only (no `writeable`)."""

    def __init__(self, flags):
        self.c_contiguous, self.f_contiguous = flags.c_contiguous, flags.f_contiguous
        self.owndata = flags.owndata

    def __getitem__(self, name):
        return getattr(self, {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
                              "OWNDATA": "owndata"}[name])


_REDUCING_UFUNCS = {"add", "multiply"}
_AT_UFUNCS = {"add", "subtract", "maximum", "minimum", "bitwise_and", "bitwise_or", "bitwise_xor"}


class ndarray(NDArrayOperatorsMixin):
    """A device array: NumPy storage behind CuPy's rules."""

    __slots__ = ("_a", "__weakref__")
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        _check_dtype(dtype)
        self._a = np.empty(shape, dtype=dtype, order=order)
        _owners[id(self._a)] = self

    # -- refusing NumPy
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__
        if method in ("reduce", "accumulate") and name not in _REDUCING_UFUNCS:
            raise TypeError(f"cupy.{name}.{method} is not supported (CuPy has it for add and multiply)")
        if method == "at" and name not in _AT_UFUNCS:
            raise TypeError(f"cupy.{name}.at is not supported")
        if method == "reduceat" or not hasattr(np, name):
            return NotImplemented
        for x in inputs:
            if isinstance(x, (np.ndarray, list, tuple)):
                raise TypeError(f"Unsupported type {type(x)}: cupy.{name} does not take host "
                                "(NumPy) arrays or lists; move them to the device first")
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o, f"cupy.{name}(out=)") for o in out)
        result = getattr(ufunc, method)(*[_unwrap(x, f"cupy.{name}") for x in inputs], **kwargs)
        if method == "at":
            return None
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        module = _MODULES.get(func.__module__)
        implementation = getattr(module, func.__name__, None) if module else None
        if implementation is None:
            raise TypeError(f"no implementation found for '{func.__module__}.{func.__name__}' on "
                            "CuPy arrays: CuPy has no such function")
        return implementation(*args, **kwargs)

    # -- metadata (on the host already: no sync)
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a.flags))
    T = property(lambda self: _wrap(self._a.T))
    mT = property(lambda self: _wrap(self._a.mT))
    real = property(lambda self: _wrap(self._a.real))
    imag = property(lambda self: _wrap(self._a.imag))
    device = property(lambda self: cupy.cuda.Device(0))  # (cupy.cuda: cupy_stand_in.py)
    data = property(lambda self: _MemoryPointer(self))  # CuPy: the memory, not an array
    base = property(_base_of)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap_index(key)])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray):
            raise ValueError(f"setting a CuPy array from a host {type(value)} is not allowed: "
                             "move it to the device with cupy.asarray first")
        self._a[_unwrap_index(key)] = value._a if isinstance(value, ndarray) else value

    # -- device-to-host transfers: each is a sync
    def get(self, stream=None, order="C", out=None, blocking=True):
        _sync("ndarray.get")
        return self._a.copy(order=order)

    def item(self, *args):
        _sync("ndarray.item")
        return self._a.item(*args)

    def tolist(self):
        _sync("ndarray.tolist")
        return self._a.tolist()

    def tobytes(self, order="C"):
        _sync("ndarray.tobytes")
        return self._a.tobytes(order)

    def __float__(self):
        _sync("float()")
        return float(self._a)

    def __int__(self):
        _sync("int()")
        return int(self._a)

    def __complex__(self):
        _sync("complex()")
        return complex(self._a)

    def __bool__(self):
        _sync("bool()")
        return bool(self._a)

    def __format__(self, spec):
        _sync("format()")
        return format(self._a.item() if self.ndim == 0 else self._a, spec)

    def __repr__(self):
        _sync("repr()")
        return repr(self._a)

    __str__ = __repr__

    def __reduce__(self):  # as CuPy: pickling copies to the host (a sync), unpickling back
        return _from_host, (self.get(),)

    def __copy__(self):
        return _wrap(self._a.copy())

    def __deepcopy__(self, memo):  # as CuPy: a copy on the device, no sync
        return _wrap(self._a.copy())

    # -- methods that stay on the device
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        _check_dtype(dtype)
        return _wrap(self._a.astype(dtype, order=order, copy=copy))

    def sort(self, axis=-1, kind=None):
        if kind not in (None, "stable"):
            raise NotImplementedError("CuPy sorts are stable only: kind must be None")
        self._a.sort(axis=axis, kind="stable")

    def argsort(self, axis=-1, kind=None):
        if kind not in (None, "stable"):
            raise NotImplementedError("CuPy sorts are stable only: kind must be None")
        return _wrap(self._a.argsort(axis=axis, kind="stable"))

    def nonzero(self):
        _sync("ndarray.nonzero")
        return _wrap(self._a.nonzero())

    def set(self, arr, stream=None):
        self._a[...] = arr


def _from_host(array):
    return _wrap(np.array(array, copy=True))


def _device_method(name):
    def method(self, *args, **kwargs):
        where = f"cupy.ndarray.{name}"
        result = getattr(self._a, name)(*_unwrap(args, where),
                                        **{k: _unwrap(v, where) for k, v in kwargs.items()})
        if kwargs.get("out") is not None:
            return kwargs["out"]
        return _wrap(result)
    method.__name__ = name
    return method


for _name in ("all any argmax argmin clip conj copy cumprod cumsum diagonal dot fill flatten max "
              "mean min prod ravel repeat reshape round squeeze std sum swapaxes take trace "
              "transpose var view put partition argpartition").split():
    setattr(ndarray, _name, _device_method(_name))


# ------------------------------------------------------------ the module
_NOT_IN_CUPY = {"vectorize", "frompyfunc", "nditer", "ndindex", "ndenumerate", "fromfile",
                "fromregex", "genfromtxt", "busday_count", "busday_offset", "is_busday",
                "datetime_as_string", "datetime_data", "asmatrix", "matrix", "memmap", "recarray",
                "char", "rec", "ma", "ctypeslib", "polynomial", "testing", "emath"}
_HOST_INPUT_OK = {"array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray"}
_SYNCING = {"nonzero", "flatnonzero", "argwhere", "unique", "bincount", "extract", "compress",
            "count_nonzero_host"}


def _device_function(name, numpy_function):
    if name in _HOST_INPUT_OK:
        def function(obj, dtype=None, *args, **kwargs):
            _check_dtype(dtype)
            kwargs.pop("blocking", None)
            on_device = isinstance(obj, ndarray)
            source = obj._a if on_device else _unwrap(obj, f"cupy.{name}") if isinstance(
                obj, (list, tuple)) else obj
            result = numpy_function(source, dtype, *args, **kwargs)
            if not on_device and np.may_share_memory(result, source):
                result = result.copy()  # a host-to-device copy never aliases host memory
            return _wrap(np.asarray(result))
    else:
        def function(*args, **kwargs):
            where = f"cupy.{name}"
            if name.endswith("_like") and kwargs.get("shape") == ():
                kwargs.pop("shape")  # CuPy 14 reads an empty shape as "none given" (seen on an H200)
            _check_dtype(kwargs.get("dtype"))
            if name in _SYNCING:
                _sync(f"cupy.{name}")
            out = kwargs.get("out")
            result = numpy_function(*_unwrap(args, where),
                                    **{k: _unwrap(v, where) for k, v in kwargs.items()})
            return out if out is not None else _wrap(result)
    function.__name__ = name
    return function


def _make_namespace(module_name, numpy_module, names=None):
    module = types.ModuleType(module_name)
    for name in names if names is not None else dir(numpy_module):
        if name.startswith("_") or name in _NOT_IN_CUPY:
            continue
        value = getattr(numpy_module, name)
        if isinstance(value, np.ufunc):
            setattr(module, name, value)  # np ufuncs route device arrays through __array_ufunc__
        elif isinstance(value, type) or not callable(value):
            setattr(module, name, value)  # dtypes (cupy.float32 is numpy.float32), constants
        else:
            setattr(module, name, _device_function(name, value))
    return module


cupy = _make_namespace("cupy", np)


def _stable_only(name):
    def function(a, axis=-1, kind=None, **kwargs):
        if kind not in (None, "stable"):
            raise NotImplementedError(f"cupy.{name}: CuPy sorts are stable only: kind must be None")
        return _wrap(getattr(np, name)(_unwrap(a, f"cupy.{name}"), axis=axis, kind="stable"))
    function.__name__ = name
    return function


cupy.sort, cupy.argsort = _stable_only("sort"), _stable_only("argsort")
cupy.IS_STAND_IN = True
cupy.ndarray = ndarray
cupy.__version__ = "14.2.0-stand-in"
cupy.linalg = _make_namespace("cupy.linalg", np.linalg)
cupy.fft = _make_namespace("cupy.fft", np.fft)
cupy.lib = types.ModuleType("cupy.lib")
cupy.lib.stride_tricks = _make_namespace(
    "cupy.lib.stride_tricks", np.lib.stride_tricks, ["as_strided", "sliding_window_view"])
_MODULES = {"numpy": cupy, "numpy.linalg": cupy.linalg, "numpy.fft": cupy.fft,
            "numpy.lib.stride_tricks": cupy.lib.stride_tricks}


def _asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order)
    return np.asarray(a, order=order)


def _get_array_module(*args):
    return cupy if any(isinstance(a, ndarray) for a in args) else np


cupy.asnumpy = _asnumpy
cupy.get_array_module = _get_array_module
