"""Scans (running reductions) along one dim: cumsum, cumprod, cummax, cummin,
logcumsumexp; and prod, the last element of cumprod.

A scan's output y_j depends on x_0..x_j, so its gradient runs the other way:
x_i receives from every y_j with j >= i. For cumsum that is a reverse
cumsum of the incoming gradient (flip, cumsum, flip).

cummax and cummin only pick elements of x: their values are a `gather` of x
at the running arg-max, so their gradient is gather's (scatter back).
"""
import collections

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .elementwise import exp, where
from .indexing import dim_index, gather
from .rearrange import flip, movedim, narrow
from .shape import reshape, unsqueeze

__all__ = ["cumsum", "cumprod", "prod", "cummax", "cummin", "logcumsumexp"]


def _reverse_cumsum(t, dim):
    """out_i = sum over j >= i of t_j: the adjoint of cumsum."""
    return flip(cumsum(flip(t, dim), dim), dim)


class CumSum(Function):
    """y_j = x_0 + ... + x_j, so dL/dx_i = sum over j >= i of dL/dy_j."""

    save_inputs = save_outputs = False

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        return np.cumsum(x, axis=self.dim)

    def backward(self, gy):
        return _reverse_cumsum(gy, self.dim)


class CumProd(Function):
    """y_j = x_0 * ... * x_j.

    dy_j/dx_i (j >= i) is the product of x_0..x_j without x_i. Where x_i != 0
    that is y_j / x_i, so dL/dx_i = reverse_cumsum(gy * y)_i / x_i. Dividing by
    a zero would give NaN, and the answer is not NaN: at the first zero z of a
    row, dy_j/dx_z = y'_j, with y' the cumprod of x with x_z set to 1; after it,
    every product still holds x_z = 0, so later zeros get gradient 0 (and later
    non-zeros get reverse_cumsum(gy * y) = 0 from the first formula)."""

    save_inputs = save_outputs = True

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        return np.cumprod(x, axis=self.dim)

    def backward(self, gy):
        x, y, dim = self.inputs[0], self.output, self.dim
        zero = x.data == 0
        first_zero = zero & (np.cumsum(zero, axis=dim) == 1)
        not_zero_part = _reverse_cumsum(gy * y, dim) / where(zero, 1, x)
        first_zero_part = _reverse_cumsum(gy * cumprod(where(first_zero, 1, x), dim), dim)
        return where(zero, where(first_zero, first_zero_part, 0), not_zero_part)


class LogCumSumExp(Function):
    """y_j = log(exp(x_0) + ... + exp(x_j)), computed without overflow as a scan
    of logaddexp (log(e^a + e^b) = max + log1p(e^-|a-b|)), in log2(n) steps that
    each combine every element with the one `step` before it.

    dy_j/dx_i = exp(x_i - y_j) for j >= i, so with y_n the last (largest) y,
    dL/dx_i = exp(x_i - y_n) * reverse_cumsum(gy * exp(y_n - y))_i. (exp(y_n - y_j)
    overflows when y spans more than ~88 in float32, ~700 in float64.)"""

    save_inputs = save_outputs = True

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.array_module(x)
        y = xp.moveaxis(x, self.dim, -1).copy()
        step = 1
        while step < y.shape[-1]:
            y[..., step:] = xp.logaddexp(y[..., step:], y[..., :-step])
            step *= 2
        return xp.moveaxis(y, -1, self.dim)

    def backward(self, gy):
        x, y, dim = self.inputs[0], self.output, self.dim
        last = narrow(y, dim, y.shape[dim] - 1, 1)
        return exp(x - last) * _reverse_cumsum(gy * exp(last - y), dim)


def _scan_dim(x, dim, op_name):
    if dim is None:
        raise TypeError(f"{op_name}: missing dim (PyTorch requires it; use dim=-1 for the last dim)")
    return dim_index(dim, x.ndim, op_name)


def cumsum(x, dim, dtype=None):
    """torch.cumsum: y_j = x_0 + ... + x_j along dim (dtype: cast x first)."""
    dim = _scan_dim(x, dim, "cumsum")
    x = x if dtype is None else x.astype(dtype)
    return CumSum(dim)(x) if x.ndim else x


def cumprod(x, dim, dtype=None):
    """torch.cumprod: y_j = x_0 * ... * x_j along dim; exact gradients at zeros."""
    dim = _scan_dim(x, dim, "cumprod")
    x = x if dtype is None else x.astype(dtype)
    return CumProd(dim)(x) if x.ndim else x


def logcumsumexp(x, dim):
    """torch.logcumsumexp: y_j = log(sum over i <= j of exp(x_i)), stable for large x."""
    dim = _scan_dim(x, dim, "logcumsumexp")
    return LogCumSumExp(dim)(x) if x.ndim and x.shape[dim] else x


def prod(x, dim=None, keepdim=False, dtype=None):
    """torch.prod: the product over dim (over everything when dim is None).

    It is the last element of cumprod along that dim, so it shares cumprod's
    gradient: d prod / dx_i = product of the others, exact when x holds zeros."""
    x = x if dtype is None else x.astype(dtype)
    if dim is None:
        flat = reshape(x, (-1,))
        out = _last_of_cumprod(flat, 0, x)
        return reshape(out, (1,) * x.ndim) if keepdim else out
    dim = dim_index(dim, x.ndim, "prod")
    if x.ndim == 0:
        return x
    out = _last_of_cumprod(movedim(x, dim, -1), -1, x)
    return unsqueeze(out, dim) if keepdim else out


def _last_of_cumprod(x, dim, like):
    if x.shape[dim] == 0:  # the empty product is 1
        shape = x.shape[:-1] if dim == -1 else ()
        return Tensor._wrap(like.xp.ones(shape, like.dtype), like.device)
    return cumprod(x, dim)[..., -1]


# What cummax, sort, topk, ... return, as PyTorch's named tuples: out.values, out.indices.
ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def _running_best_index(data, dim, better):
    """For each j, the index of the best of data_0..data_j (the latest on ties,
    as PyTorch), by doubling: after the step of size s each element knows the best
    of the 2s elements up to it. On raw arrays: indices are not differentiated."""
    xp = backend.array_module(data)
    values = xp.moveaxis(data, dim, -1).copy()
    index = xp.broadcast_to(xp.arange(values.shape[-1]), values.shape).copy()
    step = 1
    while step < values.shape[-1]:
        earlier, later = values[..., :-step], values[..., step:]
        keep = better(earlier, later) | (xp.isnan(earlier) & ~xp.isnan(later))  # NaN wins
        values[..., step:] = xp.where(keep, earlier, later)
        index[..., step:] = xp.where(keep, index[..., :-step], index[..., step:])
        step *= 2
    return xp.moveaxis(index, -1, dim)


def _cum_extreme(x, dim, better, op_name):
    dim = _scan_dim(x, dim, op_name)
    if x.ndim == 0:
        return ValuesIndices(x, Tensor._wrap(x.xp.zeros((), np.int64), x.device))
    index = Tensor._wrap(_running_best_index(x.data, dim, better).astype(np.int64), x.device)
    return ValuesIndices(gather(x, dim, index), index)


def cummax(x, dim):
    """torch.cummax: (values, indices) of the running maximum along dim. The
    values are x gathered at the indices, so the gradient goes to the winner."""
    return _cum_extreme(x, dim, np.greater, "cummax")


def cummin(x, dim):
    """torch.cummin: (values, indices) of the running minimum along dim."""
    return _cum_extreme(x, dim, np.less, "cummin")
