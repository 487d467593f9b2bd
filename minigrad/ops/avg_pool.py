"""Average pooling over 1, 2 or 3 spatial dims: avg_pool1d/2d/3d,
adaptive_avg_pool1d/2d/3d, and the power-average lp_pool1d/2d/3d.

Average pooling is linear: each output is the sum of its window's taps (each
tap one strided slice of the zero-padded input, as in max_pool.py) times
1/divisor. AvgPool and AvgPoolGrad (spread each output's gradient over its
window, times the same 1/divisor) are each other's adjoints, so gradients of
every order are exact.

The divisor, as PyTorch counts it, per output position:
    count_include_pad=True   the window's elements inside input + padding
                             (a ceil_mode window's overhang past the padding
                             never counts)
    count_include_pad=False  the window's elements inside the input
    divisor_override=d       d, whatever the window
Along each dim a window covers [o*s - p, o*s - p + k), so the count is a
product of one count per dim: an outer product of N short vectors.
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .im2col import crop, pad, tap_slices
from .pool_args import batched, bins, output_size, pool_geometry, unbatched

__all__ = ["avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "lp_pool1d", "lp_pool2d", "lp_pool3d"]


def divisor_scale(g, count_include_pad, divisor_override, like):
    """1/divisor for every output position: a Python float when it is the
    same everywhere, else an array of shape out_size (like's dtype and device)."""
    if divisor_override is not None:
        return 1.0 / divisor_override
    counts = []
    for o, s, k, p, n in zip(g.out_size, g.stride, g.kernel, g.padding, g.in_size):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)  # the overhang past the padding never counts
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        counts.append(end - start)
    divisor = math.prod(np.ix_(*counts)) if counts else np.ones(())    # (*out_size)
    if (divisor == divisor.flat[0]).all():
        return 1.0 / int(divisor.flat[0])  # a Python float keeps float32 float32
    return backend.array_module(like).asarray((1.0 / divisor).astype(like.dtype))


class AvgPool(Function):
    """y = (sum over each window) * scale, scale = 1/divisor (see above)."""

    save_inputs = save_outputs = False  # linear: backward needs no values

    def __init__(self, geometry, count_include_pad=True, divisor_override=None):
        self.g, self.count_include_pad = geometry, count_include_pad
        self.divisor_override, self.scale = divisor_override, None

    def forward(self, x):
        if self.scale is None:
            self.scale = divisor_scale(self.g, self.count_include_pad, self.divisor_override, x)
        x_padded = pad(x, self.g)                                      # (N, C, *padded)
        taps = tap_slices(self.g)
        y = x_padded[(...,) + taps[0]].copy()                          # (N, C, *out)
        for tap in taps[1:]:
            y += x_padded[(...,) + tap]
        y *= self.scale
        return y

    def backward(self, gy):
        return AvgPoolGrad(self.g, self.scale)(gy)


class AvgPoolGrad(Function):
    """Spread each output gradient, times its 1/divisor, over its window: the
    adjoint of AvgPool."""

    save_inputs = save_outputs = False

    def __init__(self, geometry, scale):
        self.g, self.scale = geometry, scale

    def forward(self, gy):
        share = gy * self.scale
        gx = np.zeros_like(gy, shape=gy.shape[:2] + self.g.padded_size, order="C")
        for tap in tap_slices(self.g):
            gx[(...,) + tap] += share
        return backend.array_module(gx).ascontiguousarray(crop(gx, self.g))

    def backward(self, ggx):
        forward = AvgPool(self.g)
        forward.scale = self.scale
        return forward(ggx)


def _avg_pool(n, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    op = f"avg_pool{n}d"
    if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer))
                                         or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a nonzero int, got "
                         f"{divisor_override!r}")
    x, was_unbatched = batched(op, x, n)
    g = pool_geometry(op, x, kernel_size, stride, padding, ceil_mode=ceil_mode)
    return unbatched(AvgPool(g, count_include_pad, divisor_override)(x), was_unbatched)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows of (N, C, L) or (C, L) input; see avg_pool2d (PyTorch's
    avg_pool1d has no divisor_override)."""
    return _avg_pool(1, x, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over KH x KW windows of (N, C, H, W) or (C, H, W) input.

        y[n, c, oh, ow] = sum over (i, j) of xpad[n, c, oh*SH + i, ow*SW + j] / divisor

    stride defaults to kernel_size; padding (zeros, at most half the kernel)
    and ceil_mode as in max_pool2d. The divisor is KH*KW away from the edges;
    see this module's docstring for count_include_pad and divisor_override."""
    return _avg_pool(2, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over windows of (N, C, D, H, W) or (C, D, H, W) input; see avg_pool2d."""
    return _avg_pool(3, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


# --------------------------------------------------------- adaptive average
def _bin_matrix(n_in, n_out, like):
    """(n_out, n_in) matrix whose row i averages bin i's inputs (pool_args.bins)."""
    m = np.zeros((n_out, n_in))
    for i, (start, end) in enumerate(bins(n_in, n_out)):
        m[i, start:end] = 1.0 / (end - start)
    return Tensor._constant(m, like=like)


def _adaptive_avg_pool(n, x, size):
    """The bins are boxes, so the pooling separates: one product with an
    averaging matrix per spatial dim, which autograd differentiates like any
    other product. (Equal bins are plain avg pooling; one bin is a mean.)"""
    op = f"adaptive_avg_pool{n}d"
    x, was_unbatched = batched(op, x, n)
    in_size = x.shape[2:]
    out = output_size(op, size, in_size)
    spatial = tuple(range(2, n + 2))
    if all(o == 1 for o in out):
        y = x.mean(axis=spatial, keepdims=True)
    elif all(i % o == 0 for i, o in zip(in_size, out)):
        y = AvgPool(pool_geometry(op, x, tuple(i // o for i, o in zip(in_size, out)), None, 0))(x)
    else:
        y = x
        for axis, n_in, n_out in zip(spatial, in_size, out):
            if n_in != n_out:  # pool this dim: move it last, (.., n_in) @ (n_in, n_out)
                y = (y.moveaxis(axis, -1) @ _bin_matrix(n_in, n_out, x).T).moveaxis(-1, axis)
    return unbatched(y, was_unbatched)


def adaptive_avg_pool1d(x, output_size):
    """Average pooling of (N, C, L) or (C, L) input to a fixed length; see adaptive_avg_pool2d."""
    return _adaptive_avg_pool(1, x, output_size)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (OH, OW), as PyTorch's: output
    row i averages input rows floor(i*H/OH) to ceil((i+1)*H/OH) - 1 (likewise
    columns). output_size entries may be None (keep that size);
    adaptive_avg_pool2d(x, 1) is global average pooling."""
    return _adaptive_avg_pool(2, x, output_size)


def adaptive_avg_pool3d(x, output_size):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) input to a fixed size;
    see adaptive_avg_pool2d."""
    return _adaptive_avg_pool(3, x, output_size)


# ------------------------------------------------------------- power average
def _lp_pool(n, x, norm_type, kernel_size, stride, ceil_mode):
    """PyTorch's formula: (k * avg_pool(x^p))^(1/p), k = the window's size,
    i.e. the p-norm of each window, (sum |x|^p)^(1/p) for even p. Negative
    window sums (odd p) are zeroed by relu before the root."""
    avg = (avg_pool1d, avg_pool2d, avg_pool3d)[n - 1]
    x_b, _ = batched(f"lp_pool{n}d", x, n)  # for the check only
    g = pool_geometry(f"lp_pool{n}d", x_b, kernel_size, stride, 0, ceil_mode=ceil_mode)
    out = avg(x ** norm_type, kernel_size, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu() * math.prod(g.kernel)) ** (1.0 / norm_type)


def lp_pool1d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling of (N, C, L) or (C, L) input; see _lp_pool."""
    return _lp_pool(1, x, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling of (N, C, H, W) or (C, H, W) input:
    y = (sum over the window of x^p)^(1/p) (PyTorch's LPPool2d)."""
    return _lp_pool(2, x, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling of (N, C, D, H, W) or (C, D, H, W) input; see lp_pool2d."""
    return _lp_pool(3, x, norm_type, kernel_size, stride, ceil_mode)
