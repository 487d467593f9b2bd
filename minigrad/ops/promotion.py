"""PyTorch's type promotion: which dtype `x + y` has when x and y differ.

NumPy and PyTorch agree within one category (bool < integer < float) but not
across them, nor on Python numbers. PyTorch's rules, which minigrad follows
(the table, with examples, is in docs/dtype_promotion.md):

1. Operands fall into three groups, by priority: tensors with at least one
   dimension, 0-d tensors, and Python (or NumPy) numbers.
2. The highest-priority group decides, unless a lower group holds a higher
   *category*: `int32_vector + 2` is int32 (the 2 adapts), `int32_vector + 2.5`
   is a float, `float16_vector + float64_scalar_tensor` stays float16.
3. Crossing categories gives the float type, never a wider one: int64 with
   float32 is float32 (NumPy would say float64); a Python float is the
   default float dtype (float32 unless minigrad.set_default_dtype changed it).
4. Ops that are only defined on reals (true division, exp, sin, sqrt, ...)
   turn an integer or bool result into the default float dtype:
   `int_tensor / int_tensor` and `int_tensor.exp()` are float32 (the default).

Operands are converted before the op runs, so each op's forward sees one
dtype, and the conversion (`astype`) is differentiable like any other op.
"""
import numpy as np

from .. import backend, dtypes
from ..tensor import Tensor

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def default_float_dtype():
    """The dtype of Python floats and of real-valued results of integer inputs
    (minigrad.get_default_dtype())."""
    return np.dtype(dtypes.get_default_dtype())


def _category(dtype):
    return _CATEGORY[np.dtype(dtype).kind]


def promote_types(a, b):
    """torch.promote_types: the smallest dtype holding both; across categories
    the higher category's type (int64 with float16 is float16)."""
    a, b = np.dtype(a), np.dtype(b)
    if _category(a) != _category(b):
        return a if _category(a) > _category(b) else b
    return np.promote_types(a, b)


def _number_dtype(value):
    """The dtype a Python or NumPy number (or a host array) stands for as a weak operand."""
    kind = np.asarray(value).dtype.kind
    if kind == "b":
        return np.dtype(bool)
    if kind in "iu":
        return np.dtype(np.int64)
    if kind == "f":
        return default_float_dtype()
    return np.dtype(np.complex64)


def _group_dtype(dtypes):
    result = None
    for dtype in dtypes:
        result = dtype if result is None else promote_types(result, dtype)
    return result


def _combine(higher, lower):
    """The result of a higher-priority group and a lower one (PyTorch's combine_categories)."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if _category(higher) >= 2:
        return higher  # a float group keeps its own precision
    if higher.kind == "b" or _category(lower) >= 2:
        return promote_types(higher, lower)  # a lower group of a higher category wins
    return higher  # integers adapt to the higher group's integer type


def result_type(*operands):
    """torch.result_type for Tensors, Python numbers, NumPy scalars and host arrays.

    Arrays that are not Tensors count as numbers (they adapt, as Python
    numbers do: `float32_tensor * numpy_float64_array` stays float32)."""
    dimensioned = [v.dtype for v in operands if isinstance(v, Tensor) and v.ndim > 0]
    zero_dim = [v.dtype for v in operands if isinstance(v, Tensor) and v.ndim == 0]
    numbers = [_number_dtype(v) for v in operands if not isinstance(v, Tensor) and v is not None]
    return _combine(_group_dtype(dimensioned), _combine(_group_dtype(zero_dim), _group_dtype(numbers)))


def promote(*operands, floating=False):
    """The operands as Tensors of their common dtype (numbers on the first Tensor's device).

    floating=True: an op defined only on reals; an integer or bool result dtype
    becomes the default float. Operands without any Tensor come back as they are
    (the op then raises its own error naming itself)."""
    reference, common = None, True  # the first Tensor; do all Tensors share its float dtype?
    for v in operands:
        if isinstance(v, Tensor):
            reference = v if reference is None else reference
            common = common and v.dtype == reference.dtype
        elif not isinstance(v, (bool, int, float)) and v is not None:
            common = False  # a NumPy scalar or array: let result_type look at it
    if reference is None:
        return operands
    if common and reference.dtype.kind == "f":
        dtype = reference.dtype  # the common case (float tensors, Python numbers): theirs
    else:
        dtype = result_type(*operands)
        if floating and _category(dtype) < 2:
            dtype = default_float_dtype()
    converted = []
    for v in operands:
        if v is None:  # an absent optional operand (clamp's bounds)
            converted.append(v)
        elif isinstance(v, Tensor):
            converted.append(v if v.data.dtype == dtype else v.astype(dtype))
        else:
            with backend.device_scope(reference.device):
                converted.append(Tensor._wrap(reference.xp.asarray(v, dtype=dtype), reference.device))
    return tuple(converted)


def floating(x):
    """x as a float tensor, for an op defined only on reals (exp, sin, ...):
    integer and bool tensors become the default float dtype, floats stay."""
    if isinstance(x, Tensor) and _category(x.dtype) < 2:
        return x.astype(default_float_dtype())
    return x
