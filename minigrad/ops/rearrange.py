"""Rearranging, as PyTorch names it: flip roll repeat repeat_interleave tile
unflatten movedim narrow chunk unbind cat meshgrid.

Every one is a composition of the shape ops of ops/shape.py (slices,
reshape, broadcast_to, concatenate, transpose): they only move values
around, and each of those already knows how to move the gradient back. So
there is no new backward here, and second derivatives come for free.
"""
import math

import numpy as np

from ..tensor import Tensor
from .indexing import dim_index, index_select
from .shape import broadcast_to, concatenate, getitem, reshape, split, transpose

__all__ = ["flip", "roll", "repeat", "repeat_interleave", "tile", "unflatten", "movedim",
           "narrow", "chunk", "unbind", "cat", "concat", "meshgrid"]


def _dims(dims, ndim, op_name):
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    dims = tuple(dim_index(d, ndim, op_name) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"{op_name}: dims {dims} repeat a dim")
    return dims


def flip(x, dims):
    """torch.flip: reverse the order of the elements along each of dims (x[..., ::-1])."""
    dims = _dims(dims, x.ndim, "flip")
    return getitem(x, tuple(slice(None, None, -1) if d in dims else slice(None)
                            for d in range(x.ndim)))


def narrow(x, dim, start, length):
    """torch.narrow: x[..., start:start + length, ...] along dim (start may be negative)."""
    dim = dim_index(dim, x.ndim, "narrow")
    size = x.shape[dim]
    if not -size <= start <= size or length < 0 or start % max(size, 1) + length > size:
        raise IndexError(f"narrow: start {start} and length {length} do not fit dim {dim} of size "
                         f"{size} (shape {x.shape})")
    start = start % size if size else 0
    return getitem(x, (slice(None),) * dim + (slice(start, start + length),))


def roll(x, shifts, dims=None):
    """torch.roll: shift elements along dims, those pushed off one end coming back
    at the other. Without dims, x is rolled as 1-d and reshaped back."""
    if dims is None:
        return reshape(roll(reshape(x, (-1,)), shifts, 0), x.shape)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: got {len(shifts)} shifts for {len(dims)} dims")
    for shift, dim in zip(shifts, dims):
        dim = dim_index(dim, x.ndim, "roll")
        size = x.shape[dim]
        shift = shift % size if size else 0
        if shift:  # the last `shift` elements move to the front
            x = concatenate([narrow(x, dim, size - shift, shift), narrow(x, dim, 0, size - shift)],
                            dim)
    return x


def repeat(x, *sizes):
    """torch.Tensor.repeat: tile x sizes[d] times along each dim d (x gains leading
    dims when len(sizes) > x.ndim). Each copy's gradient adds up (broadcast_to)."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if len(sizes) < x.ndim:
        raise RuntimeError(f"repeat: {len(sizes)} sizes for a tensor with {x.ndim} dims; give at "
                           "least one size per dim")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    # (a, b) repeated (r, s) = the (r, a, s, b) broadcast of x, read as (r * a, s * b)
    spaced = reshape(x, tuple(v for n in shape for v in (1, n)))
    tiled = broadcast_to(spaced, tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
    return reshape(tiled, tuple(r * n for r, n in zip(sizes, shape)))


def tile(x, dims):
    """torch.tile: repeat, with missing leading dims counting as 1."""
    dims = tuple(dims)
    return repeat(x, *((1,) * (x.ndim - len(dims)) + dims))


def repeat_interleave(x, repeats, dim=None):
    """torch.repeat_interleave: each element repeated `repeats` times in place
    ([a, b] -> [a, a, b, b]), along dim (x read as 1-d when dim is None).

    A tensor of per-element repeats makes the output's length depend on its
    values: on a GPU they are read back to the host (a synchronization)."""
    if dim is None:
        x, dim = reshape(x, (-1,)), 0
    dim = dim_index(dim, x.ndim, "repeat_interleave")
    if isinstance(repeats, Tensor) and repeats.numel() == 1:
        repeats = int(repeats.item())
    if isinstance(repeats, (int, np.integer)):
        # the (n, r) broadcast of x along dim, read as n * r
        shape = x.shape[:dim + 1] + (1,) + x.shape[dim + 1:]
        wide = broadcast_to(reshape(x, shape), shape[:dim + 1] + (int(repeats),) + shape[dim + 2:])
        return reshape(wide, x.shape[:dim] + (x.shape[dim] * int(repeats),) + x.shape[dim + 1:])
    counts = repeats.tolist() if isinstance(repeats, Tensor) else list(repeats)
    if len(counts) != x.shape[dim]:
        raise RuntimeError(f"repeat_interleave: {len(counts)} repeats for dim {dim} of size "
                           f"{x.shape[dim]}")
    picks = np.repeat(np.arange(x.shape[dim]), counts)
    return index_select(x, dim, Tensor(picks, device=x.device))


def unflatten(x, dim, sizes):
    """torch.unflatten: split dim into several of the given sizes (one may be -1)."""
    dim = dim_index(dim, x.ndim, "unflatten")
    sizes = tuple(int(n) for n in sizes)
    known = math.prod(n for n in sizes if n != -1)
    if -1 in sizes and known:
        sizes = tuple(x.shape[dim] // known if n == -1 else n for n in sizes)
    if math.prod(sizes) != x.shape[dim]:
        raise RuntimeError(f"unflatten: sizes {sizes} do not multiply to dim {dim}'s size "
                           f"{x.shape[dim]} (shape {x.shape})")
    return reshape(x, x.shape[:dim] + sizes + x.shape[dim + 1:])


def movedim(x, source, destination):
    """torch.movedim: move dims `source` to positions `destination`, the others
    keeping their order (NumPy's moveaxis)."""
    source, destination = _dims(source, x.ndim, "movedim"), _dims(destination, x.ndim, "movedim")
    if len(source) != len(destination):
        raise RuntimeError(f"movedim: {len(source)} source dims but {len(destination)} destinations")
    order = [d for d in range(x.ndim) if d not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(x, order)


def chunk(x, chunks, dim=0):
    """torch.chunk: split into pieces of ceil(size / chunks) along dim (the last
    may be smaller, and there may be fewer than `chunks` pieces)."""
    dim = dim_index(dim, x.ndim, "chunk")
    if chunks < 1:
        raise RuntimeError(f"chunk: chunks must be at least 1, got {chunks}")
    step = max(math.ceil(x.shape[dim] / chunks), 1)
    return split(x, step, dim)


def unbind(x, dim=0):
    """torch.unbind: the slices along dim, each without that dim."""
    dim = dim_index(dim, x.ndim, "unbind")
    return tuple(getitem(x, (slice(None),) * dim + (i,)) for i in range(x.shape[dim]))


def cat(tensors, dim=0):
    """torch.cat: concatenate along dim (PyTorch's name for concatenate)."""
    return concatenate(tensors, dim)


concat = cat  # torch.concat, another PyTorch alias


def meshgrid(*tensors, indexing="ij"):
    """torch.meshgrid: from 1-d tensors of lengths (a, b, ...), tensors of shape
    (a, b, ...) where the i-th varies along dim i. indexing="xy" swaps the first
    two dims (Cartesian, as NumPy's default). Differentiable (broadcast_to)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if any(t.ndim > 1 for t in tensors):
        raise RuntimeError(f"meshgrid: expects 0-d or 1-d tensors, got shapes "
                           f"{[t.shape for t in tensors]}")
    lengths = [t.numel() for t in tensors]
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        axes[0], axes[1] = 1, 0
    shape = tuple(lengths[axes.index(d)] for d in range(len(tensors)))
    return tuple(broadcast_to(reshape(t, tuple(-1 if d == axis else 1 for d in range(len(shape)))),
                              shape) for t, axis in zip(tensors, axes))
