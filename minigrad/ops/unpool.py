"""max_unpool1d/2d/3d, and the flat-index scatter and gather under them.

max_pool(..., return_indices=True) gives each output's winner as a flat
index into its (n, c) input plane. max_unpool puts the pooled values back at
those indices, zeros elsewhere: a partial inverse of max pooling, e.g. for
the decoder of a segmentation net. Three Functions over flat indices,
with every plane (n, c) one row of a (N*C, plane size) matrix:

    FlatGather      y[r, j] = x[r, index[r, j]]                    (N, C, *in)  -> (N, C, *out)
    FlatScatterAdd  x[r, index[r, j]] += y[r, j]  (zeros first)    (N, C, *out) -> (N, C, *in)
    MaxUnpool       x[r, index[r, j]]  = y[r, j]  (zeros first)

Gather and scatter-add are each other's adjoints, so gradients of every
order are exact. MaxUnpool assigns as PyTorch does: when two windows share a
winner (overlapping windows), both carry its value, written once. Its
gradient, as PyTorch's, gathers at every index (each duplicate gets the
full gradient of that position).
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .pool_args import batched, unbatched, unpool_args

__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d"]


def _rows_and_columns(index):
    """(rows (N*C, 1), columns (N*C, positions)) to index a (N*C, plane) matrix."""
    xp = backend.array_module(index)
    columns = index.reshape(index.shape[0] * index.shape[1], -1)
    return xp.arange(columns.shape[0]).reshape(-1, 1), columns


class FlatGather(Function):
    """Read x at the flat indices of each (n, c) plane."""

    save_inputs = save_outputs = False  # linear in x: needs only the indices

    def __init__(self, index, in_size):
        self.index, self.in_size = index, tuple(in_size)

    def forward(self, x):
        rows, columns = _rows_and_columns(self.index)
        return x.reshape(rows.shape[0], -1)[rows, columns].reshape(self.index.shape)

    def backward(self, gy):
        return FlatScatterAdd(self.index, self.in_size)(gy)


class FlatScatterAdd(Function):
    """Add y into zeros of shape (N, C, *size) at the flat indices (repeated
    indices add up: adaptive bins overlap)."""

    save_inputs = save_outputs = False

    def __init__(self, index, size):
        self.index, self.size = index, tuple(size)

    def forward(self, y):
        rows, columns = _rows_and_columns(self.index)
        x = np.zeros_like(y, shape=(rows.shape[0], math.prod(self.size)))
        backend.add_at(x, (rows, columns), y.reshape(columns.shape))
        return x.reshape(y.shape[:2] + self.size)

    def backward(self, gx):
        return FlatGather(self.index, self.size)(gx)


class MaxUnpool(Function):
    """Write y into zeros of shape (N, C, *size) at the flat indices."""

    save_inputs = save_outputs = False

    def __init__(self, index, size):
        self.index, self.size = index, tuple(size)

    def forward(self, y):
        rows, columns = _rows_and_columns(self.index)
        x = np.zeros_like(y, shape=(rows.shape[0], math.prod(self.size)))
        x[rows, columns] = y.reshape(columns.shape)
        return x.reshape(y.shape[:2] + self.size)

    def backward(self, gx):
        return FlatGather(self.index, self.size)(gx)


def _max_unpool(n, x, indices, kernel_size, stride, padding, output_size):
    op = f"max_unpool{n}d"
    if not isinstance(indices, Tensor):
        raise TypeError(f"{op}: indices must be a Tensor (from max_pool{n}d(..., "
                        f"return_indices=True)), got {type(indices).__name__}")
    if indices.device != x.device:
        raise ValueError(f"{op}: the input is on {x.device} but the indices are on "
                         f"{indices.device}; move them with indices.to('{x.device}')")
    x, was_unbatched = batched(op, x, n)
    if was_unbatched:
        indices = indices.unsqueeze(0)
    size = unpool_args(op, x, indices, kernel_size, stride, padding, output_size)
    index = indices.data
    # An index outside the plane would write out of bounds; checking it reads
    # the values, so on a GPU it runs only with device value checks on.
    if backend.checks_values(index) and index.size:
        low, high = int(index.min()), int(index.max())
        if low < 0 or high >= math.prod(size):
            bad = low if low < 0 else high
            raise ValueError(f"{op}: index {bad} is outside the output plane of size {size} "
                             f"({math.prod(size)} elements); pass the indices and the sizes "
                             f"(kernel_size, stride, padding, output_size) of the max pool "
                             f"that made them")
    return unbatched(MaxUnpool(index, size)(x), was_unbatched)


def max_unpool1d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Undo max_pool1d on (N, C, L) or (C, L); see max_unpool2d."""
    return _max_unpool(1, x, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Place x (N, C, h, w) at the flat `indices` max_pool2d(..., return_indices=True)
    returned, zeros elsewhere: y[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j].

    The output is (N, C, H, W) with H = (h - 1)*SH - 2*PH + KH (stride
    defaults to kernel_size), or output_size when given, since several input
    sizes pool to the same h (e.g. 5 and 4 with kernel 2)."""
    return _max_unpool(2, x, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Undo max_pool3d on (N, C, D, H, W) or (C, D, H, W); see max_unpool2d."""
    return _max_unpool(3, x, indices, kernel_size, stride, padding, output_size)
