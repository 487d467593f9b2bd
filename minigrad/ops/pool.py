"""Pooling over NCHW images: max_pool2d, avg_pool2d, adaptive_avg_pool2d.

A pooling window slides like a convolution kernel (notation in `im2col.py`),
so both pools loop over the KH*KW taps of the window, each tap one strided
slice of the padded input covering every output position at once.

Max pooling picks one input per window; its derivative routes the gradient
back to that input. Two Functions do the routing, each the adjoint of the
other, so gradients of every order are exact (max is piecewise linear):

    MaxPool2dScatter  gradient (N, C, OH, OW) -> (N, C, H, W), placed at the winners
    MaxPool2dGather   (N, C, H, W) -> (N, C, OH, OW), the values at the winners

Average pooling is linear: AvgPool2d and AvgPool2dGrad (spread each output's
gradient evenly over its window) are each other's adjoints.
"""
import numpy as np

from .. import backend, kernels
from ..autograd import Function
from ..tensor import Tensor
from .im2col import crop, geometry, pad, tap_slices

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


# ------------------------------------------------------------------ max pool
class MaxPool2d(Function):
    """y = max over each window; ties go to the first tap in row-major order
    and a NaN wins its window, as in PyTorch."""

    save_inputs = save_outputs = False  # backward needs only the winners (save_for_backward)

    def __init__(self, geometry):
        self.g = geometry

    def forward(self, x):
        if kernels.use_for(x):  # on a GPU: output and winners in one fused kernel
            y, winner = kernels.max_pool2d_forward(x, self.g)
            self.save_for_backward(winner)
            return y
        x_padded = pad(x, self.g, value=-np.inf)                       # (N, C, HP, WP)
        taps = [x_padded[:, :, rows, cols] for rows, cols in tap_slices(self.g)]
        y = taps[0].copy()                                             # (N, C, OH, OW)
        # winner = index of the winning tap, for backward. Built with masks and
        # arithmetic: np.where on random masks is ~40x slower.
        winner = np.zeros_like(y, dtype=np.uint8 if len(taps) <= 256 else np.int32)
        for k, tap in enumerate(taps[1:], start=1):
            better = tap > y                                           # strict: first max wins ties
            np.maximum(y, tap, out=y)
            # k exceeds every earlier index, so max() writes k exactly where tap k is better.
            np.maximum(winner, better * winner.dtype.type(k), out=winner)
        # As in PyTorch, a NaN wins its window, and its gradient goes to the last NaN.
        if backend.is_host_array(y):
            if np.isnan(y).any():  # rare, and on the CPU checking for it is cheap
                for k, tap in enumerate(taps):
                    winner[np.isnan(tap)] = k
        else:  # on a GPU, `if any()` would wait for the device: fold the NaNs in unconditionally
            xp = backend.array_module(y)
            for k, tap in enumerate(taps):
                winner = xp.where(xp.isnan(tap), winner.dtype.type(k), winner)
        self.save_for_backward(winner)
        return y

    def backward(self, gy):
        winner, = self.saved
        return MaxPool2dScatter(self.g, winner)(gy)


class MaxPool2dScatter(Function):
    """Put each output gradient at its window's winning input (adding where
    overlapping windows share a winner); zero elsewhere."""

    save_inputs = save_outputs = False  # linear in gy: needs only the winners, given to __init__

    def __init__(self, geometry, winner):
        self.g, self.winner = geometry, winner

    def forward(self, gy):
        if kernels.use_for(gy):  # on a GPU: one thread per input gathers from its windows
            return kernels.max_pool2d_backward(gy, self.winner, self.g)
        g = self.g
        N, C = gy.shape[:2]
        # When the windows tile the input exactly (the usual 2x2, stride 2),
        # every input is written once below, so no zero fill is needed.
        tiles = g.stride == g.kernel and g.padding == (0, 0) and all(
            o * k == n for o, k, n in zip(g.out_size, g.kernel, g.in_size))
        gx = (np.empty_like if tiles else np.zeros_like)(gy, shape=(N, C) + g.padded_size,
                                                         order="C")
        for k, (rows, cols) in enumerate(tap_slices(g)):
            if g.overlapping:  # an input may win several windows: add up
                gx[:, :, rows, cols] += gy * (self.winner == k)
            else:
                np.multiply(gy, self.winner == k, out=gx[:, :, rows, cols])
        return backend.array_module(gx).ascontiguousarray(crop(gx, g))  # (N, C, H, W)

    def backward(self, ggx):
        return MaxPool2dGather(self.g, self.winner)(ggx)


class MaxPool2dGather(Function):
    """Read each window's winning input: max pooling with the winners fixed."""

    save_inputs = save_outputs = False

    def __init__(self, geometry, winner):
        self.g, self.winner = geometry, winner

    def forward(self, x):
        x_padded = pad(x, self.g)
        y = np.zeros_like(x, shape=self.winner.shape)
        for k, (rows, cols) in enumerate(tap_slices(self.g)):
            y += x_padded[:, :, rows, cols] * (self.winner == k)
        return y

    def backward(self, gy):
        return MaxPool2dScatter(self.g, self.winner)(gy)


# --------------------------------------------------------------- average pool
class AvgPool2d(Function):
    """y = mean over each window, padding counted as zeros (count_include_pad)."""

    save_inputs = save_outputs = False  # linear: backward needs no values

    def __init__(self, geometry):
        self.g = geometry

    def forward(self, x):
        x_padded = pad(x, self.g)
        taps = tap_slices(self.g)
        y = x_padded[(Ellipsis,) + taps[0]].copy()
        for rows, cols in taps[1:]:
            y += x_padded[:, :, rows, cols]
        y *= 1.0 / len(taps)  # a Python float keeps float32 float32
        return y

    def backward(self, gy):
        return AvgPool2dGrad(self.g)(gy)


class AvgPool2dGrad(Function):
    """Spread each output gradient evenly over its window: the adjoint of AvgPool2d."""

    save_inputs = save_outputs = False

    def __init__(self, geometry):
        self.g = geometry

    def forward(self, gy):
        N, C = gy.shape[:2]
        taps = tap_slices(self.g)
        share = gy * (1.0 / len(taps))
        gx = np.zeros_like(gy, shape=(N, C) + self.g.padded_size, order="C")
        for rows, cols in taps:
            gx[:, :, rows, cols] += share
        return backend.array_module(gx).ascontiguousarray(crop(gx, self.g))

    def backward(self, ggx):
        return AvgPool2d(self.g)(ggx)


# ------------------------------------------------------------------ wrappers
def _pool_geometry(op, x, kernel_size, stride, padding):
    if x.ndim != 4:
        hint = "; for one image use x.unsqueeze(0)" if x.ndim == 3 else ""
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}{hint}")
    g = geometry(op, x.shape[2:], kernel_size, kernel_size if stride is None else stride,
                 padding)
    if any(2 * p > k for p, k in zip(g.padding, g.kernel)):
        raise ValueError(f"{op}: padding {g.padding} must be at most half the kernel size "
                         f"{g.kernel}, so that every window holds at least one real input")
    return g


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over KH x KW windows of NCHW input; stride defaults to kernel_size.

    Padding counts as -inf (never picked). Output (N, C, OH, OW) with
    OH = (H + 2*PH - KH) // SH + 1."""
    return MaxPool2d(_pool_geometry("max_pool2d", x, kernel_size, stride, padding))(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over KH x KW windows of NCHW input; stride defaults to kernel_size.

    Padding counts as zeros in the mean (PyTorch's count_include_pad=True)."""
    return AvgPool2d(_pool_geometry("avg_pool2d", x, kernel_size, stride, padding))(x)


def _bin_matrix(n_in, n_out, like):
    """(n_out, n_in) matrix averaging input bins [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, start:end] = 1.0 / (end - start)
    return Tensor._constant(m, like=like)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size (OH, OW), as PyTorch's: output
    row i averages input rows floor(i*H/OH) to ceil((i+1)*H/OH) - 1.

    The bins are rectangles, so the pooling separates into two matrix
    products with averaging matrices, A_h (OH, H) @ x @ A_w^T (W, OW), which
    autograd differentiates like any other product."""
    op = "adaptive_avg_pool2d"
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    H, W = x.shape[2:]
    OH, OW = (n if o is None else o for n, o in zip((H, W), _output_size(output_size, op)))
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: output_size must be positive, got {(OH, OW)}")
    if (OH, OW) == (1, 1):
        return x.mean(axis=(2, 3), keepdims=True)
    if H % OH == 0 and W % OW == 0:
        return avg_pool2d(x, (H // OH, W // OW))
    return _bin_matrix(H, OH, x) @ x @ _bin_matrix(W, OW, x).T          # (N, C, OH, OW)


def _output_size(value, op):
    """output_size: an int, or a pair whose entries may be None (keep that size)."""
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{op}: output_size must be an int or a pair, got {value!r}") from None
    for v in (a, b):
        if v is not None and not isinstance(v, (int, np.integer)):
            raise ValueError(f"{op}: output_size must be an int or a pair, got {value!r}")
    return (a, b)
