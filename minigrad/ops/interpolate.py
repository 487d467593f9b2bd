"""Resampling: F.interpolate (nearest, nearest-exact, linear, bilinear, bicubic, trilinear,
area), and antialiased bilinear/bicubic downsampling.

Every mode is separable: resizing (H, W) to (OH, OW) resizes dim H, then dim
W, and along one dim of size n -> m each output sample is a weighted sum of k
input samples (k = 1 for nearest, 2 for linear, 4 for cubic, more when
antialiasing widens the kernel):

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

Area mode averages boxes: output sample o of a dim n -> m is the mean of
inputs floor(o * n / m) .. ceil((o + 1) * n / m) - 1, which is exactly
adaptive average pooling to the output size, and PyTorch computes it so.

Antialiasing (antialias=True, bilinear and bicubic, as PIL and PyTorch do).
Shrinking by a factor s = scale > 1 with 2 or 4 taps skips input samples,
and what they held aliases into the output. The antialiased kernel is
stretched by s instead, so every output sample averages all the inputs under it:

    center = (o + 0.5) * scale              the source position of output o (in pixel edges)
    w[o, j] = k((j + 0.5 - center) / s)     for inputs j within center +- s * (taps / 2)

then each row of weights is divided by its sum (rows at the border lose the
taps outside the image). k is the triangle 1 - |x| (bilinear) or Keys' cubic
with A = -0.5 (bicubic, PIL's choice). Upsampling (s <= 1) keeps k unstretched.

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
from .avg_pool import adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d
from .shape import getitem

__all__ = ["interpolate", "upsample"]

# mode -> number of spatial dims it needs (None: any of 1, 2, 3)
MODES = {"nearest": None, "nearest-exact": None, "linear": 1, "bilinear": 2, "bicubic": 2,
         "trilinear": 3, "area": None}
INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")
CUBIC_A = -0.75  # PyTorch's (and OpenCV's) choice for Keys' cubic convolution kernel
ANTIALIAS_CUBIC_A = -0.5  # PIL's, which PyTorch's antialiased bicubic follows


def _cubic_near(d, A):
    """Keys' cubic kernel at a distance |d| <= 1."""
    return ((A + 2) * d - (A + 3)) * d * d + 1


def _cubic_far(d, A):
    """Keys' cubic kernel at a distance 1 < |d| < 2."""
    return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A


def _cubic_weights(t, A=CUBIC_A):
    """Keys' cubic kernel at distances 1 + t, t, 1 - t, 2 - t of the four taps."""
    return _cubic_far(t + 1, A), _cubic_near(t, A), _cubic_near(1 - t, A), _cubic_far(2 - t, A)


def _scale(n, m, scale_factor, align_corners, dtype):
    """Input samples per output sample, as in PyTorch's area_pixel_compute_scale."""
    if align_corners:
        return dtype.type((n - 1) / (m - 1) if m > 1 else 0)
    if scale_factor is not None and scale_factor > 0:
        return dtype.type(1.0 / scale_factor)
    return dtype.type(n) / dtype.type(m)


def _taps(xp, mode, n, m, scale_factor, align_corners, dtype):
    """(idx (m, k) int64, w (m, k) or None) for resampling a dim of size n to m.

    Coordinates are computed in `dtype` (float32 for float32 inputs, as
    PyTorch's kernels do), so floor() lands on the same side as PyTorch's."""
    o = xp.arange(m, dtype=np.int64)
    scale = _scale(n, m, scale_factor, align_corners, dtype)
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


def _antialias_taps(xp, mode, n, m, scale_factor, align_corners, dtype):
    """(idx (m, k), w (m, k)) of the antialiased kernel (module docstring), as
    PyTorch's _compute_weights_aa: k covers the widest window, and the taps of
    a narrower window (at the border) read sample n - 1 with weight 0. The
    positions are rounded to `dtype` where PyTorch's kernel rounds them, so the
    windows' ends land on the same samples."""
    scale = _scale(n, m, scale_factor, align_corners, dtype)
    stretch = dtype.type(max(scale, 1))          # only downsampling widens the kernel
    support = dtype.type((1.0 if mode == "bilinear" else 2.0) * stretch)  # half the window
    k = 2 * math.ceil(support) + 1
    center = ((xp.arange(m) + 0.5) * float(scale)).astype(dtype)                     # (m,)
    first = xp.maximum(((center - support).astype(np.float64) + 0.5).astype(np.int64), 0)
    stop = xp.minimum(((center + support).astype(np.float64) + 0.5).astype(np.int64), n)
    j = first[:, None] + xp.arange(k)                                                # (m, k)
    d = ((j.astype(dtype) - center[:, None]).astype(np.float64) + 0.5) / float(stretch)
    d = xp.abs(d.astype(dtype))                  # each tap's distance from center, unstretched
    if mode == "bilinear":
        w = xp.maximum(1 - d, 0)
    else:
        w = xp.where(d < 1, _cubic_near(d, ANTIALIAS_CUBIC_A),
                     xp.where(d < 2, _cubic_far(d, ANTIALIAS_CUBIC_A), 0))
    w = xp.where(j < stop[:, None], w, 0).astype(dtype)
    w = w / w.sum(axis=1, keepdims=True)
    return xp.minimum(j, n - 1), w


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
    "nearest-exact", "area" (K = 1, 2 or 3), "linear" (K = 1), "bilinear",
    "bicubic" (K = 2), "trilinear" (K = 3). align_corners (interpolating modes
    only): map the corner pixel centres onto each other rather than the pixel
    edges. antialias (bilinear and bicubic): widen the kernel when shrinking,
    so that every input sample counts. See the module docstring for the exact
    source coordinates and weights."""
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
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError(f"interpolate: antialias=True applies to modes 'bilinear' and 'bicubic' "
                         f"(a 4-d input), not {mode!r}; leave antialias False")
    if (mode in INTERPOLATING or mode == "area") and x.dtype.kind != "f":
        raise TypeError(f"interpolate: mode {mode!r} blends samples and needs a floating-point "
                        f"input, got dtype {x.dtype}; use x.float()")
    sizes, scales = _output_sizes(x, size, scale_factor, recompute_scale_factor)
    if mode == "area":  # the mean of each box: adaptive average pooling to the output size
        pool = (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[x.ndim - 3]
        return pool(x, sizes)
    # PyTorch computes coordinates in float for float32 (and smaller) inputs, double for double
    dtype = np.dtype(np.float64 if x.dtype == np.float64 else np.float32)
    for d, (n, m) in enumerate(zip(x.shape[2:], sizes)):
        if mode in ("linear", "bilinear", "trilinear") and n == m and not antialias:
            continue  # PyTorch copies such a dim, even where scale_factor would shift it
        taps = _antialias_taps if antialias else _taps
        idx, w = taps(x.xp, mode, n, m, None if scales is None else scales[d],
                      bool(align_corners), dtype)
        x = _resample(x, 2 + d, idx, w)
    return x


def upsample(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """torch.nn.functional.upsample (an old name of interpolate)."""
    return interpolate(x, size, scale_factor, mode, align_corners)
