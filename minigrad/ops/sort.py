"""Sorting and order statistics: sort, argsort, topk, kthvalue, median, mode.

Each finds indices first (argsort, on raw arrays: indices have no gradient),
then reads the values as `gather(x, dim, indices)`. So every one has gather's
gradient, the incoming gradient sent back to the position each value came
from, and second derivatives come for free. (median over all of x splits its
gradient among ties instead, as PyTorch's does.)

NaN, as in PyTorch: sorting puts NaN after every number (first when descending),
so topk's largest are the NaNs, kthvalue's last ranks are NaN, and a median of
values holding a NaN is NaN. Which of several tied elements kthvalue names may
differ from PyTorch (its selection algorithm is not stable); the values agree.

Sorts are stable (equal elements keep their order), on NumPy as on CuPy,
whose sorts are all stable: cpu and cuda give the same indices.
"""
import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .indexing import dim_index, gather
from .rearrange import narrow
from .reduce import keepdims_shape
from .scan import ValuesIndices
from .shape import squeeze

__all__ = ["sort", "argsort", "msort", "topk", "kthvalue", "median", "mode"]


def _argsort(data, dim, descending):
    """Stable argsort of raw arrays; descending keeps equal elements in order too
    (sort the reversed array ascending, then map the indices back)."""
    xp = backend.array_module(data)
    kind = {"kind": "stable"} if xp is np else {}  # CuPy's sorts are stable, and take no kind
    if not descending:
        return data.argsort(axis=dim, **kind)
    n = data.shape[dim]
    order = xp.flip(data, axis=dim).argsort(axis=dim, **kind)  # ascending; ties: latest first
    return n - 1 - xp.flip(order, axis=dim)                    # descending; ties: earliest first


def _indices(x, dim, descending):
    if x.ndim == 0:
        return Tensor._wrap(x.xp.zeros((), np.int64), x.device)
    return Tensor._wrap(_argsort(x.data, dim, descending).astype(np.int64), x.device)


def argsort(x, dim=-1, descending=False, stable=False):
    """torch.argsort: the indices that sort x along dim (always stable here)."""
    return _indices(x, dim_index(dim, x.ndim, "argsort"), descending)


def sort(x, dim=-1, descending=False, stable=False):
    """torch.sort: (values, indices), values = x gathered at argsort(x)."""
    dim = dim_index(dim, x.ndim, "sort")
    index = _indices(x, dim, descending)
    return ValuesIndices(gather(x, dim, index) if x.ndim else x, index)


def msort(x):
    """torch.msort: x sorted along dim 0."""
    return sort(x, 0).values


def topk(x, k, dim=-1, largest=True, sorted=True):
    """torch.topk: the k largest (or smallest) elements along dim, as (values, indices),
    largest first (sorted=False gives the same order here)."""
    dim = dim_index(dim, x.ndim, "topk")
    size = x.shape[dim] if x.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"topk: k={k} is out of range for dim {dim} of size {size} "
                           f"(shape {x.shape})")
    if x.ndim == 0:
        return ValuesIndices(x, _indices(x, 0, largest))
    index = narrow(_indices(x, dim, largest), dim, 0, k)
    return ValuesIndices(gather(x, dim, index), index)


def _select(x, dim, rank, keepdim, op_name):
    """The element of the given rank (0 = smallest) along dim, and its index."""
    if x.ndim == 0:
        return ValuesIndices(x, _indices(x, 0, False))
    index = narrow(_indices(x, dim, False), dim, rank, 1)
    values = gather(x, dim, index)
    if keepdim:
        return ValuesIndices(values, index)
    return ValuesIndices(squeeze(values, dim), squeeze(index, dim))


def kthvalue(x, k, dim=-1, keepdim=False):
    """torch.kthvalue: the k-th smallest element along dim (k counts from 1), and its index."""
    dim = dim_index(dim, x.ndim, "kthvalue")
    size = x.shape[dim] if x.ndim else 1
    if not 1 <= k <= size:
        raise RuntimeError(f"kthvalue: k={k} is out of range for dim {dim} of size {size} "
                           f"(shape {x.shape}); k counts from 1")
    return _select(x, dim, k - 1, keepdim, "kthvalue")


class _SplitAmongTies(Function):
    """A value picked from x (median over all of x), its gradient split evenly among
    every element equal to it, as PyTorch's median() does (NaN counts as equal to
    NaN). Forward returns the value already found; backward is gy * weights."""

    save_inputs = save_outputs = False  # backward needs only the constant weights

    def __init__(self, value, weights):
        self.value, self.weights = value, weights

    def forward(self, x):
        return self.value

    def backward(self, gy):
        return gy * Tensor._wrap(self.weights, gy.device)


def _median_index(x, dim):
    """The index, along dim, of the lower median: rank (n - 1) // 2 in sorted order,
    or the first NaN where a row holds one (PyTorch: NaN propagates; sorting puts
    NaN last, stably, so the first NaN in sorted order is the first by position)."""
    xp, n = x.xp, x.shape[dim]
    order = _argsort(x.data, dim, False)
    rank = xp.full(keepdims_shape(x.shape, (dim,)), (n - 1) // 2, dtype=order.dtype)
    if x.dtype.kind == "f":
        nans = xp.isnan(x.data).sum(axis=dim, keepdims=True)
        rank = xp.where(nans > 0, n - nans, rank)
    index = xp.take_along_axis(order, rank, axis=dim)
    return Tensor._wrap(index.astype(np.int64), x.device)


def median(x, dim=None, keepdim=False):
    """torch.median: the lower median, the element of rank (n - 1) // 2 (not the
    mean of the two middle ones); NaN if there is a NaN. Without dim: a 0-d tensor
    over all of x, whose gradient is split evenly among the elements equal to it
    (as PyTorch's); with dim: (values, indices), the gradient going to the index."""
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"median: cannot take the median of an empty tensor (shape {x.shape})")
        flat = x.data.reshape(-1)
        value = flat[_median_index(Tensor._wrap(flat, x.device), 0).data]  # shape (1,)
        ties = flat == value
        if x.dtype.kind == "f":
            ties |= x.xp.isnan(flat) & x.xp.isnan(value)
        weights = (ties / ties.sum()).astype(x.dtype).reshape(x.shape)
        return _SplitAmongTies(value.reshape(()), weights)(x)
    dim = dim_index(dim, x.ndim, "median")
    size = x.shape[dim] if x.ndim else 1
    if size == 0:
        raise IndexError(f"median: dim {dim} of shape {x.shape} is empty")
    if x.ndim == 0:
        return ValuesIndices(x, _indices(x, 0, False))
    index = _median_index(x, dim)
    values = gather(x, dim, index)
    if keepdim:
        return ValuesIndices(values, index)
    return ValuesIndices(squeeze(values, dim), squeeze(index, dim))


def mode(x, dim=-1, keepdim=False):
    """torch.mode: the most frequent value along dim (the smallest of several) and
    the index of its last occurrence.

    Counting compares every pair of elements along dim: n^2 memory per row,
    fine for the rows of a lesson, not for rows of 10^5 elements."""
    dim = dim_index(dim, x.ndim, "mode")
    if x.ndim == 0:
        return ValuesIndices(x, _indices(x, 0, False))
    xp = x.xp
    order = _argsort(x.data, dim, False)                     # stable: equal values in index order
    ordered = xp.moveaxis(xp.take_along_axis(x.data, order, axis=dim), dim, -1)
    counts = (ordered[..., :, None] == ordered[..., None, :]).sum(axis=-1)
    first = xp.argmax(counts, axis=-1)                       # first of the smallest most-frequent value
    last = first + xp.take_along_axis(counts, first[..., None], axis=-1)[..., 0] - 1
    picked = xp.take_along_axis(xp.moveaxis(order, dim, -1), last[..., None], axis=-1)
    index = Tensor._wrap(xp.moveaxis(picked, -1, dim).astype(np.int64), x.device)
    values = gather(x, dim, index)
    if keepdim:
        return ValuesIndices(values, index)
    return ValuesIndices(squeeze(values, dim), squeeze(index, dim))

