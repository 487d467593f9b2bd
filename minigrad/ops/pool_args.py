"""Argument handling shared by the pooling ops (max_pool.py, avg_pool.py,
unpool.py): input ranks, unbatched inputs, PyTorch's padding rule, output sizes.
Convolution (conv.py) takes its inputs through `batched` too.

A pooling op over N spatial dims takes (batch, C, *spatial) or, as in
PyTorch, one unbatched sample (C, *spatial). The ops compute on batches only:
`batched` adds the batch axis and `unbatched` takes it off again.
"""
import numpy as np

from .im2col import geometry, ntuple

LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def batched(op, x, n):
    """(x as a batch, whether it was unbatched) for an op over n spatial dims."""
    if x.ndim == n + 2:
        return x, False
    if x.ndim == n + 1:
        return x.unsqueeze(0), True
    raise ValueError(f"{op}: expected a {n + 2}-D input {LAYOUTS[n]} or an unbatched "
                     f"{n + 1}-D one {LAYOUTS[n].replace('N, ', '')}, got shape {x.shape}")


def unbatched(result, was_unbatched):
    """Undo `batched` on one tensor or a tuple of tensors (values, indices)."""
    if not was_unbatched:
        return result
    if isinstance(result, tuple):
        return tuple(t.squeeze(0) for t in result)
    return result.squeeze(0)


def pool_geometry(op, x, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """The window geometry of a pool over x's spatial dims (x batched).

    stride defaults to kernel_size (an empty sequence too, as in PyTorch).
    PyTorch requires padding <= half the window's extent, so that no window
    lies entirely in the padding (and a max never picks only padding)."""
    if stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0):
        stride = kernel_size
    g = geometry(op, x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)
    if any(2 * p > e for p, e in zip(g.padding, g.extent)):
        what = "kernel size" if max(g.dilation) == 1 else "effective kernel size (extent)"
        raise ValueError(f"{op}: padding {g.padding} must be at most half the {what} "
                         f"{g.extent}, so that every window holds at least one real input; "
                         f"use padding <= {tuple(e // 2 for e in g.extent)}")
    return g


def output_size(op, value, in_size):
    """An adaptive pool's output size: an int, or an N-sequence whose entries
    may be None (keep that input size)."""
    n = len(in_size)
    sizes = (value,) * n if isinstance(value, (int, np.integer)) else value
    if isinstance(sizes, str) or not hasattr(sizes, "__len__") or len(sizes) != n or not all(
            v is None or isinstance(v, (int, np.integer)) for v in sizes):
        raise ValueError(f"{op}: output_size must be an int or a sequence of {n} ints "
                         f"(None keeps that input size), got {value!r}")
    sizes = tuple(int(s if v is None else v) for s, v in zip(in_size, sizes))
    if min(sizes) < 1:
        raise ValueError(f"{op}: output_size must be positive, got {value!r}")
    return sizes


def bins(n_in, n_out):
    """Adaptive pooling's bins along one dim: bin i covers inputs
    [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)), as in PyTorch."""
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def unpool_args(op, x, indices, kernel_size, stride, padding, output_size):
    """Validate max_unpool's arguments (x batched); return the output's spatial size.

    The default output size inverts max pooling's: (in - 1)*stride - 2*padding
    + kernel; an explicit one (N ints, or N + 2 with batch and channels) must
    lie strictly within stride of it, as in PyTorch."""
    n = x.ndim - 2
    kernel = ntuple(kernel_size, n, "kernel_size", op)
    stride = kernel if stride is None else ntuple(stride, n, "stride", op)
    padding = ntuple(padding, n, "padding", op)
    if tuple(indices.shape) != tuple(x.shape):
        raise ValueError(f"{op}: indices must have the input's shape {tuple(x.shape)}, got "
                         f"{tuple(indices.shape)}; pass the indices the max pool returned")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers (as max_pool(..., return_indices=True)"
                        f" returns), got dtype {indices.dtype}")
    default = tuple((i - 1) * s - 2 * p + k
                    for i, s, p, k in zip(x.shape[2:], stride, padding, kernel))
    if output_size is None:
        size = default
    else:
        size = tuple(int(v) for v in output_size)
        if len(size) == n + 2:
            size = size[2:]
        if len(size) != n:
            raise ValueError(f"{op}: output_size must hold {n} or {n + 2} sizes, got "
                             f"{output_size!r}")
        for d, (v, m, s) in enumerate(zip(size, default, stride)):
            if not m - s < v < m + s:
                raise ValueError(f"{op}: invalid output_size {size}: dim {d} must be strictly "
                                 f"between {m - s} and {m + s} (the default size {m}, "
                                 f"give or take less than a stride)")
    if min(size) < 1:
        raise ValueError(f"{op}: the output size {size} must be positive; check kernel_size, "
                         "stride and padding")
    return size
