"""Data types: their names, and the default float dtype.

minigrad's dtypes are NumPy's (`minigrad.float32 is numpy.float32`). The
*default* float dtype is the one a computation picks when nobody named one,
as `torch.get_default_dtype()`:

* Python floats (`minigrad.tensor([1.5])`, `int_tensor * 2.5`),
* creation functions without dtype= (`zeros`, `ones`, `rand`, `randn`, a float `arange`),
* integer inputs to ops defined only on reals (`int_tensor.exp()`, `int / int`),
* Parameters made from Python or NumPy data.

It is float32 (what GPUs are fast at) unless `set_default_dtype(minigrad.float64)`
says otherwise, e.g. to check a computation in double precision.
"""
import numpy as np

float16 = half = np.float16
float32 = np.float32
float64 = double = np.float64
int32 = np.int32
int64 = long = np.int64
bool_ = np.bool_

# Only these may be the default: the default must be a float type that every op
# supports on every device (float16 is a storage type here, not a compute default).
_DEFAULT_CHOICES = ("float32", "float64")
_default = np.dtype(np.float32)


def set_default_dtype(dtype):
    """Make `dtype` (minigrad.float32 or minigrad.float64) the default float dtype.

    Like torch.set_default_dtype, it changes what is created from now on; tensors
    that exist keep their dtype."""
    global _default
    try:
        wanted = None if dtype is None else np.dtype(dtype)  # (np.dtype(None) would be float64)
    except TypeError:
        wanted = None
    if wanted is None or wanted.name not in _DEFAULT_CHOICES:
        raise TypeError(f"set_default_dtype: the default dtype must be minigrad.float32 or "
                        f"minigrad.float64, got {dtype!r}; pass dtype= to the call that needs "
                        "another dtype instead")
    _default = wanted


def get_default_dtype():
    """The default float dtype, as its NumPy type (so `get_default_dtype() is minigrad.float32`)."""
    return _default.type


def default_dtype_for(value):
    """The dtype for Python data, as torch.tensor picks it: floats -> the default
    float dtype, ints -> int64, bools -> bool."""
    kind = np.asarray(value).dtype.kind
    if kind == "f":
        return _default
    if kind in "iu":
        return np.dtype(np.int64)
    return np.dtype(bool) if kind == "b" else None
