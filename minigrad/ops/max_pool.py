"""Max pooling over 1, 2 or 3 spatial dims: max_pool1d/2d/3d, adaptive_max_pool1d/2d/3d.

A pooling window slides like a convolution kernel (notation in `im2col.py`),
so max pooling loops over the prod(kernel) taps of the window, each tap one
strided slice of the padded input covering every output position at once.

Max pooling picks one input per window, the "winner"; its derivative routes
the gradient back to that input. Two Functions do the routing, each the
adjoint of the other, so gradients of every order are exact (max is
piecewise linear):

    MaxPoolScatter  gradient (N, C, *out) -> (N, C, *in), placed at the winners
    MaxPoolGather   (N, C, *in) -> (N, C, *out), the values at the winners

With return_indices the winners are also given as PyTorch gives them: the
flat (row-major) index of each winner within its (n, c) input plane, int64,
the input max_unpool takes. Adaptive max pooling's windows (bins) differ in
size, so it works with those flat indices throughout (see unpool.py).
"""
import itertools
import math

import numpy as np

from .. import backend, kernels
from ..autograd import Function
from ..tensor import Tensor
from ..threads import batch_slices, run_split
from .im2col import crop, pad, tap_slices
from .pool_args import batched, bins, output_size, pool_geometry, unbatched
from .unpool import FlatScatterAdd

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"]


def running_max(taps):
    """(y, winner) over a list of equally shaped arrays: y = their elementwise
    max, winner = the index of the tap it came from. Ties go to the first tap
    and a NaN wins its window (the last NaN tap), as in PyTorch."""
    y = taps[0].copy()
    # Built with masks and arithmetic: np.where on random masks is ~40x slower.
    winner = np.zeros_like(y, dtype=np.uint8 if len(taps) <= 256 else np.int32)
    for k, tap in enumerate(taps[1:], start=1):
        better = tap > y                                           # strict: first max wins ties
        np.maximum(y, tap, out=y)
        # k exceeds every earlier index, so max() writes k exactly where tap k is better.
        np.maximum(winner, better * winner.dtype.type(k), out=winner)
    if backend.is_host_array(y):
        if np.isnan(y).any():  # rare, and on the CPU checking for it is cheap
            for k, tap in enumerate(taps):
                winner[np.isnan(tap)] = k
    else:  # on a GPU, `if any()` would wait for the device: fold the NaNs in unconditionally
        xp = backend.array_module(y)
        for k, tap in enumerate(taps):
            winner = xp.where(xp.isnan(tap), winner.dtype.type(k), winner)
    return y, winner


def flat_indices(winner, positions, in_size):
    """The winners as flat indices into each (n, c) input plane (int64).

    positions[d] is an integer table (out_d, K_d): the input coordinate along
    dim d that tap t_d reads at output o_d. Tap k = (t_1, ..., t_N) in
    row-major order; the winner's flat index is sum_d position_d * plane
    stride_d. Elementwise integer arithmetic: no sync on a GPU."""
    xp = backend.array_module(winner)
    n = len(positions)
    k = winner.astype(np.int64)
    flat = xp.zeros(winner.shape, dtype=np.int64)
    for d in reversed(range(n)):  # peel off the fastest-varying tap dim first
        taps_d = positions[d].shape[1]
        t = k % taps_d
        k //= taps_d
        table = xp.asarray(positions[d])                               # (out_d, K_d)
        o = xp.arange(winner.shape[2 + d]).reshape((-1,) + (1,) * (n - 1 - d))
        flat += table[o, t] * math.prod(in_size[d + 1:])
    return flat


# ------------------------------------------------------------------ max pool
def tap_positions(g):
    """Per dim, the table (out_d, K_d) of the input coordinate that tap t_d
    reads at output o_d: o*s + t*d - p (below 0 or past the input: padding)."""
    return [np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - p
            for o, s, k, d, p in zip(g.out_size, g.stride, g.kernel, g.dilation, g.padding)]


class MaxPool(Function):
    """y = max over each window (winners as in `running_max`). With
    return_indices, forward also sets self.indices (PyTorch's flat indices)."""

    save_inputs = save_outputs = False  # backward needs only the winners (save_for_backward)

    def __init__(self, geometry, return_indices=False):
        self.g, self.return_indices = geometry, return_indices

    def forward(self, x):
        # On a GPU: output and winners in one fused kernel (2-d only).
        if len(self.g.kernel) == 2 and kernels.use_for(x):
            y, winner = kernels.max_pool2d_forward(x, self.g)
        else:
            x_padded = pad(x, self.g, value=-np.inf)                   # (N, C, *padded)
            taps = tap_slices(self.g)
            # On the CPU, slices of the batch in parallel (threads.run_split).
            parts = run_split(lambda s: running_max([x_padded[s][(...,) + tap] for tap in taps]),
                              batch_slices(x_padded, part_bytes=4 << 20))
            y, winner = parts[0] if len(parts) == 1 else (
                np.concatenate([y for y, _ in parts]), np.concatenate([w for _, w in parts]))
        if self.g.padded_size != self.g.in_size:
            winner = self.no_padding_winners(y, winner)
        self.save_for_backward(winner)
        if self.return_indices:
            self.indices = flat_indices(winner, tap_positions(self.g), self.g.in_size)
        return y

    def backward(self, gy):
        winner, = self.saved
        return MaxPoolScatter(self.g, winner)(gy)

    def no_padding_winners(self, y, winner):
        """A window whose inputs are all -inf ties with its padding (-inf too),
        and tap 0 may be padding; PyTorch then picks the window's first input.
        So where y is -inf, the winner is the first tap inside the input: per
        dim the first t_d inside, combined row-major."""
        xp, g = backend.array_module(y), self.g
        if backend.is_host_array(y) and not np.isneginf(y).any():
            return winner  # the usual case; on a GPU, `if any()` would wait: always fold in
        first = [((position < 0) | (position >= n)).argmin(axis=1)            # (out_d,)
                 for position, n in zip(tap_positions(g), g.in_size)]
        tap = sum(t * math.prod(g.kernel[i + 1:]) for i, t in enumerate(np.ix_(*first)))
        tap = xp.asarray(tap.astype(winner.dtype))                               # (*out_size)
        return xp.where(y == -np.inf, tap, winner)


class MaxPoolScatter(Function):
    """Put each output gradient at its window's winning input (adding where
    overlapping windows share a winner); zero elsewhere."""

    save_inputs = save_outputs = False  # linear in gy: needs only the winners, given to __init__

    def __init__(self, geometry, winner):
        self.g, self.winner = geometry, winner

    def forward(self, gy):
        g = self.g
        if len(g.kernel) == 2 and kernels.use_for(gy):  # one thread per input gathers
            return kernels.max_pool2d_backward(gy, self.winner, g)
        # When the windows sit side by side (the usual 2x2, stride 2), the taps
        # write every input once up to out*s in each dim: only what lies past
        # that needs zeros, not the whole array.
        adjacent = g.kernel == g.stride == g.extent
        gx = (np.empty_like if adjacent else np.zeros_like)(
            gy, shape=gy.shape[:2] + g.padded_size, order="C")
        taps = tap_slices(g)

        def scatter(s):  # one slice of the batch (on the CPU, slices in parallel)
            gx_s, gy_s, winner_s = gx[s], gy[s], self.winner[s]
            if adjacent:
                for d, (o, stride) in enumerate(zip(g.out_size, g.stride)):
                    gx_s[(slice(None),) * (2 + d) + (slice(o * stride, None),)] = 0  # dim 2 + d
            for k, tap in enumerate(taps):
                if g.overlapping:  # an input may win several windows: add up
                    gx_s[(...,) + tap] += gy_s * (winner_s == k)
                else:
                    np.multiply(gy_s, winner_s == k, out=gx_s[(...,) + tap])
        run_split(scatter, batch_slices(gy, part_bytes=1 << 20))
        return backend.array_module(gx).ascontiguousarray(crop(gx, g))  # (N, C, *in)

    def backward(self, ggx):
        return MaxPoolGather(self.g, self.winner)(ggx)


class MaxPoolGather(Function):
    """Read each window's winning input: max pooling with the winners fixed."""

    save_inputs = save_outputs = False

    def __init__(self, geometry, winner):
        self.g, self.winner = geometry, winner

    def forward(self, x):
        x_padded = pad(x, self.g)
        y = np.zeros_like(x, shape=self.winner.shape)
        for k, tap in enumerate(tap_slices(self.g)):
            y += x_padded[(...,) + tap] * (self.winner == k)
        return y

    def backward(self, gy):
        return MaxPoolScatter(self.g, self.winner)(gy)


# The 2-d names the GPU kernel tests use.
MaxPool2d, MaxPool2dScatter, MaxPool2dGather = MaxPool, MaxPoolScatter, MaxPoolGather


def _max_pool(n, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    op = f"max_pool{n}d"
    x, was_unbatched = batched(op, x, n)
    fn = MaxPool(pool_geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode),
                 return_indices)
    y = fn(x)
    if return_indices:
        return unbatched((y, Tensor._wrap(fn.indices, x.device)), was_unbatched)
    return unbatched(y, was_unbatched)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over windows of (N, C, L) or (C, L) input; see max_pool2d."""
    return _max_pool(1, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over KH x KW windows of (N, C, H, W) or (C, H, W) input.

        y[n, c, oh, ow] = max over (i, j) of xpad[n, c, oh*SH + i*DH, ow*SW + j*DW]

    stride defaults to kernel_size; padding counts as -inf and may be at most
    half the window (a window of -inf inputs picks its first input, not padding).
    OH = floor((H + 2*PH - DH*(KH-1) - 1) / SH) + 1, or ceil with ceil_mode (a
    last, partial window; it must start inside the input or the left padding).
    With return_indices, also returns each winner's flat index into its H*W
    input plane (int64, for max_unpool2d)."""
    return _max_pool(2, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over windows of (N, C, D, H, W) or (C, D, H, W) input; see max_pool2d."""
    return _max_pool(3, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


# --------------------------------------------------------- adaptive max pool
class AdaptiveMaxPool(Function):
    """y = max over each adaptive bin. Bins may differ in size, so each dim
    reads K_d = the largest bin's taps, a smaller bin repeating its last
    element (which never wins: ties go to the first). The gradient goes to
    the winners' flat indices (bins may overlap: FlatScatterAdd adds)."""

    save_inputs = save_outputs = False

    def __init__(self, out_size):
        self.out_size = out_size

    def forward(self, x):
        xp = backend.array_module(x)
        in_size = x.shape[2:]
        self.positions = []  # per dim (out_d, K_d): input coordinate of tap t_d of bin o_d
        for n_in, n_out in zip(in_size, self.out_size):
            edges = bins(n_in, n_out)
            K = max(end - start for start, end in edges)
            self.positions.append(np.array([[min(start + t, end - 1) for t in range(K)]
                                            for start, end in edges]))
        n = len(in_size)
        # Tap (t_1, ..., t_N) reads x at the open grid of its coordinates.
        grids = [[xp.asarray(p[:, t]).reshape((-1,) + (1,) * (n - 1 - d))
                  for t in range(p.shape[1])] for d, p in enumerate(self.positions)]
        taps = [x[(...,) + index] for index in itertools.product(*grids)]  # row-major
        y, winner = running_max(taps)
        self.flat = flat_indices(winner, self.positions, in_size)
        self.in_size = in_size
        return y

    def backward(self, gy):
        return FlatScatterAdd(self.flat, self.in_size)(gy)


def _adaptive_max_pool(n, x, size, return_indices):
    op = f"adaptive_max_pool{n}d"
    x, was_unbatched = batched(op, x, n)
    if min(x.shape[2:], default=1) < 1:
        raise ValueError(f"{op}: the input's spatial size {x.shape[2:]} must be positive")
    fn = AdaptiveMaxPool(output_size(op, size, x.shape[2:]))
    y = fn(x)
    if return_indices:
        return unbatched((y, Tensor._wrap(fn.flat, x.device)), was_unbatched)
    return unbatched(y, was_unbatched)


def adaptive_max_pool1d(x, output_size, return_indices=False):
    """Max pooling of (N, C, L) or (C, L) input to a fixed length; see adaptive_max_pool2d."""
    return _adaptive_max_pool(1, x, output_size, return_indices)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Max pooling to a fixed output size (OH, OW), as PyTorch's: output row i
    takes the max over input rows floor(i*H/OH) to ceil((i+1)*H/OH) - 1 (and
    likewise for columns). output_size entries may be None (keep that size)."""
    return _adaptive_max_pool(2, x, output_size, return_indices)


def adaptive_max_pool3d(x, output_size, return_indices=False):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) input to a fixed size;
    see adaptive_max_pool2d."""
    return _adaptive_max_pool(3, x, output_size, return_indices)
