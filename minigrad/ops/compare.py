"""Comparisons and logic, elementwise: results outside the graph (not differentiable)."""
import numpy as np

from ..autograd import _as_tensors
from ..tensor import Tensor
from .promotion import promote

__all__ = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
           "logical_not", "logical_and", "logical_or", "isfinite"]


def _constant_op(array_fn, name):
    def op(x, y=None):
        args = _as_tensors((x,) if y is None else (x, y), name)
        return Tensor._wrap(array_fn(*[a.data for a in args]), args[0].device)
    op.__name__ = name
    op.__doc__ = f"{name}: elementwise, returns a tensor that is not part of the graph."
    return op


def _comparison(array_fn, name):
    """A comparison as PyTorch makes it: both operands promoted to their common dtype
    first (as for `x + y`), then compared there; the result is bool. So int32 16777217
    equals float32 16777216.0, as both are 16777216 in float32 (NumPy, comparing in
    float64, says they differ)."""
    def op(x, y):
        try:
            x, y = _as_tensors(promote(x, y), name)
        except OverflowError:  # uint8 > -1: a Python int the tensor's dtype cannot hold
            x, y = _as_tensors((x, y), name)  # compare exactly (PyTorch wraps -1 to 255 first)
        return Tensor._wrap(array_fn(x.data, y.data), x.device)
    op.__name__ = name
    op.__doc__ = f"{name}: elementwise, in the operands' promoted dtype; a bool tensor outside the graph."
    return op


isfinite = _constant_op(np.isfinite, "isfinite")
equal = _comparison(np.equal, "equal")
not_equal = _comparison(np.not_equal, "not_equal")
less = _comparison(np.less, "less")
less_equal = _comparison(np.less_equal, "less_equal")
greater = _comparison(np.greater, "greater")
greater_equal = _comparison(np.greater_equal, "greater_equal")
logical_not = _constant_op(np.logical_not, "logical_not")
logical_and = _constant_op(np.logical_and, "logical_and")
logical_or = _constant_op(np.logical_or, "logical_or")
