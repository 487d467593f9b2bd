"""Reductions: sum, mean, max/min, var/std, logsumexp, softmax, log_softmax.

max and min follow PyTorch's three forms: x.max() is a 0-d tensor, x.max(dim)
the named tuple (values, indices), and x.max(other) the elementwise maximum.
var and std are unbiased by default (correction=1), as in PyTorch.

`dim` is None (all dims), an int or a tuple; `keepdim` keeps the reduced
dims with size 1 (NumPy's names, axis= and keepdims=, work too: see
minigrad/dims.py). Backward always starts by giving the incoming gradient
those size-1 dims back, so it broadcasts against the input.
"""
import builtins
import math

import numpy as np

from ..autograd import Function
from ..dims import accepts_numpy_names
from ..tensor import Tensor
from .elementwise import exp, maximum, minimum
from .indexing import gather
from .scan import ValuesIndices
from .shape import DimError, squeeze

__all__ = ["sum", "mean", "max", "min", "var", "std", "logsumexp", "softmax", "log_softmax",
           "argmax", "argmin", "any", "all"]


def normalize_axes(dim, ndim, op_name):
    """dim argument (None, an int or a tuple) -> sorted tuple of non-negative
    axes, with an IndexError (as in PyTorch) for one out of range."""
    if dim is None:
        return tuple(range(ndim))
    axes = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    # (this module defines its own max and sum, hence builtins.max)
    bound = builtins.max(ndim, 1)  # a 0-d tensor accepts 0 and -1
    for a in axes:
        if not -bound <= a < bound:
            raise DimError(f"{op_name}: dim {a} is out of range for a tensor with {ndim} "
                           f"dimension(s) (expected a dim in [{-bound}, {bound - 1}])")
    return tuple(sorted({int(a) % ndim for a in axes})) if ndim else ()


def keepdims_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _unreduce(gy, x_shape, axes):
    """Gradient of a reduction's output -> broadcast over the input's shape."""
    return gy.reshape(keepdims_shape(x_shape, axes)).broadcast_to(x_shape)


class Sum(Function):
    save_inputs = save_outputs = False  # backward needs only the input's shape

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return _unreduce(gy, self.input_shapes[0], self.axes)


class Max(Function):
    """max over axes (Min below shares its backward). Ties share the gradient evenly."""

    save_inputs = save_outputs = True  # the winners are where x equals the max

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        return x.max(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        y = self.output.data.reshape(keepdims_shape(x.shape, self.axes))
        # The winners are a constant (max is piecewise linear). A NaN max came from
        # the NaNs, which share its gradient, as in PyTorch.
        xp = x.xp
        winners = ((x.data == y) | (xp.isnan(x.data) & xp.isnan(y))).astype(gy.dtype)
        winners /= winners.sum(axis=self.axes, keepdims=True)
        return _unreduce(gy, x.shape, self.axes) * Tensor._wrap(winners, x.device)


class Min(Max):
    """min over axes, backward as max's (its own forward: for integers, -max(-x)
    is wrong at -2**31, whose negation overflows to itself)."""

    def forward(self, x):
        return x.min(axis=self.axes, keepdims=self.keepdims)


class LogSumExp(Function):
    """log(sum(exp(x))), computed as m + log(sum(exp(x - m))) with m = max(x)
    so that exp never overflows (finite at x = 1e4)."""

    save_inputs = save_outputs = True  # d lse / dx = exp(x - lse)

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        m = x.max(axis=self.axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)  # all -inf rows: keep -inf, avoid nan
        out = np.log(np.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return out if self.keepdims else out.squeeze(axis=self.axes)

    def backward(self, gy):
        x = self.inputs[0]
        out = self.output.reshape(keepdims_shape(x.shape, self.axes))
        return _unreduce(gy, x.shape, self.axes) * exp(x - out)  # d lse / dx = softmax(x)


class Softmax(Function):
    save_inputs, save_outputs = False, True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.output
        # Jacobian-vector product of softmax: y * (gy - <gy, y>)
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    save_inputs, save_outputs = False, True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        softmax_ = exp(self.output)
        return gy - softmax_ * gy.sum(axis=self.axis, keepdims=True)


@accepts_numpy_names
def sum(x, dim=None, keepdim=False, dtype=None):
    """Sum over dim; dtype (torch.sum's) casts x first: sum(x, dtype=float64)
    accumulates a float32 tensor in float64, and its gradient comes back float32."""
    x = x if dtype is None else x.astype(dtype)
    return Sum(normalize_axes(dim, x.ndim, "sum"), keepdim)(x)


@accepts_numpy_names
def mean(x, dim=None, keepdim=False):
    """sum(x) / N over dim. Over an empty dim (N = 0) it is 0/0 = NaN, as in
    PyTorch (Python's 1/0 would raise), and sum of an empty dim is 0."""
    axes = normalize_axes(dim, x.ndim, "mean")
    count = math.prod(x.shape[a] for a in axes)
    return sum(x, axes, keepdim) * (1.0 / count if count else math.nan)


@accepts_numpy_names
def max(x, dim=None, keepdim=False):
    """torch.max, in its three forms:

    max(x)             the largest element, a 0-d tensor; ties share the gradient evenly.
    max(x, dim)        the named tuple (values, indices) along dim, as PyTorch's
                       (`values, indices = x.max(1)` or `x.max(1).values`); the gradient
                       goes to the element at the index (the first of ties).
    max(x, other)      the elementwise maximum(x, other), other a tensor.

    For the values only over one or several dims, use amax."""
    return _extreme(x, dim, keepdim, "max", Max, maximum)


@accepts_numpy_names
def min(x, dim=None, keepdim=False):
    """torch.min: min(x), min(x, dim) -> (values, indices), min(x, other), as max."""
    return _extreme(x, dim, keepdim, "min", Min, minimum)


def _extreme(x, dim, keepdim, name, whole, elementwise):
    if isinstance(dim, Tensor):  # max(x, other)
        return elementwise(x, dim)
    if dim is None:
        _check_not_empty(x, name)
        return whole(normalize_axes(None, x.ndim, name), keepdim)(x)
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be a single int (it returns the values and their "
                        f"indices along it), got {dim!r}; for the {name} over several dims use "
                        f"a{name}(x, dim={dim!r}), which returns the values only")
    axis = normalize_axes(dim, x.ndim, name)
    if not axis:  # a 0-d tensor: itself, at index 0
        return ValuesIndices(x, Tensor._wrap(x.xp.zeros((), np.int64), x.device))
    axis = axis[0]
    if x.shape[axis] == 0:
        raise IndexError(f"{name}: cannot take the {name} over dim {axis}, which is empty "
                         f"(shape {x.shape}); it has no {name} to return")
    # The index is found on the raw array (indices have no gradient), and the values
    # read at it with gather, whose gradient goes back to that one element.
    pick = x.xp.argmax if name == "max" else x.xp.argmin  # (the first NaN, if any, as PyTorch)
    index = Tensor._wrap(x.xp.expand_dims(pick(x.data, axis=axis), axis).astype(np.int64), x.device)
    values = gather(x, axis, index)
    if keepdim:
        return ValuesIndices(values, index)
    return ValuesIndices(squeeze(values, axis), squeeze(index, axis))


def _correction(op_name, unbiased, correction, ddof):
    """The number subtracted from N in var's divisor, from whichever of PyTorch's
    correction=, its older unbiased= or NumPy's ddof= was given (1 if none)."""
    given = {k: v for k, v in [("unbiased", unbiased), ("correction", correction), ("ddof", ddof)]
             if v is not None}
    if len(given) > 1:
        raise TypeError(f"{op_name}: got {' and '.join(k + '=' for k in given)}, which all set the "
                        "divisor N - correction; pass only one of them (correction= is PyTorch's)")
    if unbiased is not None:
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{op_name}: unbiased must be True or False, got {unbiased!r} "
                            "(the third positional argument is unbiased, as in PyTorch; "
                            "pass keepdim= by name)")
        return int(unbiased)
    return 1 if not given else next(iter(given.values()))


@accepts_numpy_names
def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None, ddof=None):
    """Variance sum((x - mean)^2) / (N - correction), as torch.var: correction=1
    (the default) is the unbiased sample variance, correction=0 the biased
    (population) one. unbiased=True/False (PyTorch's older spelling) and NumPy's
    ddof= set the same number.

    With no degrees of freedom left (correction >= N, or an empty axis) PyTorch
    divides by max(0, N - correction) = 0 under IEEE rules: 0/0 = NaN (N values all
    equal, or none), s/0 = inf. So do we, without NumPy's RuntimeWarnings."""
    correction = _correction("var", unbiased, correction, ddof)
    axes = normalize_axes(dim, x.ndim, "var")
    count = math.prod(x.shape[a] for a in axes)
    divisor = count - correction
    deviation = x - mean(x, axes, keepdim=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 * inf = NaN is the answer here
        return sum(deviation * deviation, axes, keepdim) * (1.0 / divisor if divisor > 0 else math.inf)


@accepts_numpy_names
def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None, ddof=None):
    """Standard deviation sqrt(var), with var's arguments (unbiased by default)."""
    return var(x, dim, unbiased, keepdim, correction=correction, ddof=ddof).sqrt()


@accepts_numpy_names
def logsumexp(x, dim=None, keepdim=False):
    return LogSumExp(normalize_axes(dim, x.ndim, "logsumexp"), keepdim)(x)


@accepts_numpy_names
def softmax(x, dim=-1):
    normalize_axes(dim, x.ndim, "softmax")
    return Softmax(dim)(x)


@accepts_numpy_names
def log_softmax(x, dim=-1):
    normalize_axes(dim, x.ndim, "log_softmax")
    return LogSoftmax(dim)(x)


def _check_not_empty(x, op_name):
    if x.numel() == 0:
        raise ValueError(f"{op_name}: cannot reduce an empty tensor of shape {x.shape}")


def _index_reduction(array_fn, name):
    def op(x, dim=None, keepdim=False):
        if name in ("argmax", "argmin"):
            _check_not_empty(x, name)
        if dim is not None:
            normalize_axes(dim, x.ndim, name)  # an IndexError naming the op, not NumPy's AxisError
        return Tensor._wrap(array_fn(x.data, axis=dim, keepdims=keepdim), x.device)
    op.__name__ = name
    op.__doc__ = f"{name}: not differentiable (returns indices or booleans)."
    return accepts_numpy_names(op)


argmax = _index_reduction(np.argmax, "argmax")
argmin = _index_reduction(np.argmin, "argmin")
any = _index_reduction(np.any, "any")
all = _index_reduction(np.all, "all")


# ---- reductions as PyTorch names them (dim=, keepdim=)
def _torch_dims(dim):
    """PyTorch's dim for amax/amin/norm: None or () mean every dim."""
    return None if dim is None or (isinstance(dim, (tuple, list)) and not dim) else dim


@accepts_numpy_names
def amax(x, dim=(), keepdim=False):
    """torch.amax: the largest values over dim (one or several; every dim by
    default), values only; ties share the gradient evenly."""
    _check_not_empty(x, "amax")
    return Max(normalize_axes(_torch_dims(dim), x.ndim, "amax"), keepdim)(x)


@accepts_numpy_names
def amin(x, dim=(), keepdim=False):
    """torch.amin: the smallest values over dim, as amax."""
    _check_not_empty(x, "amin")
    return Min(normalize_axes(_torch_dims(dim), x.ndim, "amin"), keepdim)(x)


@accepts_numpy_names
def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None, ddof=None):
    """torch.var_mean: (var, mean), var with var's arguments (unbiased by default)."""
    return (var(x, dim, unbiased, keepdim, correction=correction, ddof=ddof),
            mean(x, dim, keepdim))


@accepts_numpy_names
def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None, ddof=None):
    """torch.std_mean: (std, mean), std = sqrt(var) with var's arguments."""
    variance, average = var_mean(x, dim, unbiased, keepdim, correction=correction, ddof=ddof)
    return variance.sqrt(), average


def norm(x, p="fro", dim=None, keepdim=False):
    """torch.norm for vectors: (sum |x_i|^p)^(1/p) over dim (every dim by default).

    p=2 or "fro": sqrt(sum x^2), whose gradient x / norm is taken as 0 at x = 0
    (PyTorch's choice; 0/0 otherwise). p=inf: max |x_i|; p=-inf: min |x_i|;
    p=0: the number of non-zeros (no gradient). p="nuc": the nuclear norm (the sum
    of singular values) of a matrix, or of the matrices on dim=(a, b)."""
    if isinstance(p, str) and p == "nuc":
        from .linalg import nuclear_norm  # (imported here: only norm, in this module, needs it)
        return nuclear_norm(x, dim, keepdim)
    dim = _torch_dims(dim)
    if p in ("fro", 2, 2.0):
        squares = sum(x * x, dim, keepdim)
        # zero is a constant 0/1 mask: sqrt(squares + zero) * (1 - zero) is the
        # norm everywhere, and at a zero norm its gradient is multiplied by 0.
        zero = Tensor._wrap((squares.data == 0).astype(x.dtype), x.device)
        return (squares + zero).sqrt() * (1 - zero)
    if p == math.inf:
        return amax(x.abs(), dim, keepdim)
    if p == -math.inf:
        return amin(x.abs(), dim, keepdim)
    if p == 0:
        return sum((x != 0).astype(x.dtype), dim, keepdim)
    if not isinstance(p, (int, float)):
        raise NotImplementedError(f"norm: p={p!r} is not supported; use a number, inf, -inf, "
                                  "'fro' or 'nuc'")
    return sum(x.abs() ** p, dim, keepdim) ** (1.0 / p)


__all__ += ["amax", "amin", "var_mean", "std_mean", "norm"]
