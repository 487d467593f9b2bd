"""Resampling: F.interpolate (nearest, nearest-exact, linear, bilinear, bicubic, trilinear).

Every mode is separable: resizing (H, W) to (OH, OW) resizes dim H, then dim
W, and along one dim of size n -> m each output sample is a weighted sum of k
input samples (k = 1 for nearest, 2 for linear, 4 for cubic):

    y[o] = sum_t  w[o, t] * x[idx[o, t]]                  o = 0 .. m-1

`_taps` computes the index and weight tables (idx, w), both (m, k), exactly
as PyTorch does; `_resample` applies them with one gather (getitem with an
integer array) per tap and a weighted sum. So the backward comes from getitem's
scatter-add: output o sends w[o, t] * gy[o] back to input idx[o, t], every
input sample collecting from all the outputs that read it, and higher
derivatives are exact. Bilinear and trilinear weights are products of the 1-d
weights (PyTorch's tensor-product form), so the two orders agree to rounding.

Where a sample comes from. For output position o, the source coordinate is

    align_corners=True:    src = o * (n - 1) / (m - 1)     (corner pixel centres meet)
    align_corners=False:   src = (o + 0.5) * scale - 0.5   (pixel areas meet), scale = n / m

and, when scale_factor is given (and recompute_scale_factor is not True),
scale = 1 / scale_factor, as PyTorch computes it, even when n * scale_factor
is not a whole number. Nearest reads x[floor(o * scale)] and nearest-exact
x[floor((o + 0.5) * scale)]. Linear blends the two samples around src
(src below 0 reads sample 0), and leaves a dim whose size does not change
as it is, as PyTorch does even where scale_factor would shift it; cubic uses
the four samples around src with Keys' kernel (A = -0.75) and reads the edge
sample for taps past the border.

One corner where PyTorch disagrees with itself: with scale_factor given and
an output size of exactly n or 2n (say 4 * 2.2 -> 8), its CPU nearest
kernels sometimes take a shortcut (copy, or o // 2) instead of the formula,
in the backward always but in the forward only for some ranks, so its
gradient is not its forward's adjoint there. minigrad uses the formula in
both directions; every other case matches PyTorch.
"""
import math

import numpy as np

from ..tensor import Tensor
from .shape import getitem

__all__ = ["interpolate", "upsample"]

# mode -> number of spatial dims it needs (None: any of 1, 2, 3)
MODES = {"nearest": None, "nearest-exact": None, "linear": 1, "bilinear": 2, "bicubic": 2,
         "trilinear": 3}
INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")
CUBIC_A = -0.75  # PyTorch's (and OpenCV's) choice for Keys' cubic convolution kernel


def _cubic_weights(t):
    """Keys' cubic kernel at distances 1 + t, t, 1 - t, 2 - t of the four taps."""
    A = CUBIC_A

    def near(d):   # |d| <= 1
        return ((A + 2) * d - (A + 3)) * d * d + 1

    def far(d):    # 1 < |d| < 2
        return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _taps(xp, mode, n, m, scale_factor, align_corners, dtype):
    """(idx (m, k) int64, w (m, k) or None) for resampling a dim of size n to m.

    Coordinates are computed in `dtype` (float32 for float32 inputs, as
    PyTorch's kernels do), so floor() lands on the same side as PyTorch's."""
    o = xp.arange(m, dtype=np.int64)
    # input samples per output sample, as in PyTorch's area_pixel_compute_scale
    if align_corners:
        scale = dtype.type((n - 1) / (m - 1) if m > 1 else 0)
    elif scale_factor is not None and scale_factor > 0:
        scale = dtype.type(1.0 / scale_factor)
    else:
        scale = dtype.type(n) / dtype.type(m)
    if mode in ("nearest", "nearest-exact"):
        offset = dtype.type(0.5 if mode == "nearest-exact" else 0)
        i = xp.floor((o.astype(dtype) + offset) * scale).astype(np.int64)
        return xp.minimum(i, n - 1)[:, None], None
    o = o.astype(dtype)
    src = o * scale if align_corners else (o + dtype.type(0.5)) * scale - dtype.type(0.5)
    if mode == "bicubic":
        i = xp.minimum(xp.floor(src).astype(np.int64), n - 1)
        t = xp.clip(src - i.astype(dtype), 0, 1)
        idx = xp.stack([xp.clip(i + d, 0, n - 1) for d in (-1, 0, 1, 2)], axis=1)  # border clamp
        return idx, xp.stack(_cubic_weights(t), axis=1)
    src = xp.maximum(src, 0)  # linear: samples left of the first centre read the first sample
    i0 = src.astype(np.int64)
    i1 = xp.minimum(i0 + 1, n - 1)
    t = xp.clip(src - i0.astype(dtype), 0, 1)
    return xp.stack([i0, i1], axis=1), xp.stack([1 - t, t], axis=1)


def _resample(x, axis, idx, w):
    """y[..., o, ...] = sum_t w[o, t] * x[..., idx[o, t], ...] along `axis`,
    one gather per tap t (each a contiguous copy, faster than one gather of all k)."""
    y = None
    for t in range(idx.shape[1]):
        picked = getitem(x, (slice(None),) * axis + (idx[:, t],))        # (..., m, ...)
        if w is not None:                                                # nearest: weight 1
            w_t = w[:, t].astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - axis - 1))
            picked = picked * Tensor._wrap(w_t, x.device)
        y = picked if y is None else y + picked
    return y


def _per_dim(value, dims, name):
    """None, a number or a sequence of `dims` numbers -> a tuple (or None)."""
    if value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (value,) * dims
    value = tuple(value)
    if len(value) != dims:
        raise ValueError(f"interpolate: {name} {value} has {len(value)} entries, but the input has "
                         f"{dims} spatial dims; give one per spatial dim (input (N, C, d1, ..., dK), "
                         f"{name} (o1, ..., oK))")
    return value


def _output_sizes(x, size, scale_factor, recompute_scale_factor):
    """(output sizes, the scale factors the kernels use (None: from the sizes))."""
    dims, in_sizes = x.ndim - 2, x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         + ("both" if size is not None else "neither"))
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("interpolate: recompute_scale_factor is only meaningful with "
                             "scale_factor, not with an explicit size")
        sizes = tuple(int(s) for s in _per_dim(size, dims, "size"))
        scales = None
    else:
        scales = tuple(float(s) for s in _per_dim(scale_factor, dims, "scale_factor"))
        sizes = tuple(math.floor(n * s) for n, s in zip(in_sizes, scales))
        scales = None if recompute_scale_factor else scales
    if min(in_sizes) < 1 or min(sizes) < 1:
        raise RuntimeError(f"interpolate: input and output sizes must be positive, got input "
                           f"{tuple(in_sizes)} and output {sizes} (input shape {x.shape})")
    return sizes, scales


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """torch.nn.functional.interpolate: resize the spatial dims of x (N, C, d1, ..., dK).

    size: the output spatial size (an int for every dim, or one per dim), or
    scale_factor: output = floor(input * scale_factor) per dim. mode: "nearest",
    "nearest-exact" (K = 1, 2 or 3), "linear" (K = 1), "bilinear", "bicubic"
    (K = 2), "trilinear" (K = 3). align_corners (interpolating modes only):
    map the corner pixel centres onto each other rather than the pixel edges.
    See the module docstring for the exact source coordinates."""
    if not isinstance(x, Tensor):
        raise TypeError(f"interpolate: expected a Tensor, got {type(x).__name__}")
    if mode not in MODES:
        raise NotImplementedError(f"interpolate: unknown mode {mode!r}; use one of "
                                  f"{', '.join(MODES)}")
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"interpolate: expects a 3-d, 4-d or 5-d input (N, C, d1, ..., dK) with "
                         f"1, 2 or 3 spatial dims, got shape {x.shape}; add a batch dim with "
                         "x.unsqueeze(0)")
    needs = MODES[mode]
    if needs is not None and x.ndim != needs + 2:
        raise NotImplementedError(f"interpolate: mode {mode!r} needs a {needs + 2}-d input with {needs} "
                                  f"spatial dim(s), got shape {x.shape}")
    if align_corners is not None and mode not in INTERPOLATING:
        raise ValueError(f"interpolate: align_corners only applies to the interpolating modes "
                         f"{', '.join(INTERPOLATING)}, not {mode!r}; leave it None")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented in minigrad")
    if mode in INTERPOLATING and x.dtype.kind != "f":
        raise TypeError(f"interpolate: mode {mode!r} blends samples and needs a floating-point "
                        f"input, got dtype {x.dtype}; use x.float()")
    sizes, scales = _output_sizes(x, size, scale_factor, recompute_scale_factor)
    # PyTorch computes coordinates in float for float32 (and smaller) inputs, double for double
    dtype = np.dtype(np.float64 if x.dtype == np.float64 else np.float32)
    for d, (n, m) in enumerate(zip(x.shape[2:], sizes)):
        if mode in ("linear", "bilinear", "trilinear") and n == m:
            continue  # PyTorch copies such a dim, even where scale_factor would shift it
        idx, w = _taps(x.xp, mode, n, m, None if scales is None else scales[d],
                       bool(align_corners), dtype)
        x = _resample(x, 2 + d, idx, w)
    return x


def upsample(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """torch.nn.functional.upsample (an old name of interpolate)."""
    return interpolate(x, size, scale_factor, mode, align_corners)
