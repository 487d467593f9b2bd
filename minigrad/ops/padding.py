"""Padding with PyTorch's pad tuple: constant, reflect, replicate and circular.

`pad` lists (before, after) amounts from the LAST dim backwards, as PyTorch's
F.pad does: (left, right) pads the last dim, (left, right, top, bottom) the
last two, (left, right, top, bottom, front, back) the last three. A negative
amount crops. Along one dim, with input [0 1 2 3] and amounts (2, 2):

    constant   v v | 0 1 2 3 | v v     the border holds `value`
    reflect    2 1 | 0 1 2 3 | 2 1     mirrored at the edge (the edge itself not repeated)
    replicate  0 0 | 0 1 2 3 | 3 3     the edge element repeated
    circular   2 3 | 0 1 2 3 | 0 1     the dim wraps around

How the gradient flows. Constant padding crops by slicing and pads with
ops/shape.py's Pad, whose backward slices the border off again. The other
three modes only copy input elements: output position j of a padded dim reads
input position src[j], an index map (`_source_index` writes one per mode). So
padding is `x[..., src]` along each padded dim (getitem with an integer
array), and its backward is getitem's, a scatter-add: the gradient of every
output element is added back onto the input element it was copied from, so an
edge element of `replicate` collects the gradients of all its copies. Both
directions are differentiable Functions, so higher derivatives are exact.
"""
import numpy as np

from ..tensor import Tensor
from .shape import getitem
from .shape import pad as _numpy_style_pad

__all__ = ["pad"]

MODES = ("constant", "reflect", "replicate", "circular")


def _source_index(xp, mode, n, before, after):
    """For one dim of size n padded by (before, after): the input position each
    of the n + before + after output positions copies (an int64 array)."""
    j = xp.arange(n + before + after, dtype=np.int64)
    if mode == "reflect":
        s = xp.abs(j - before)                       # mirror at 0 ...
        return xp.where(s > n - 1, 2 * (n - 1) - s, s)  # ... and at n - 1
    if mode == "replicate":
        return xp.clip(j - before, 0, n - 1)
    # circular: crop first (negative amounts), then wrap around what is left,
    # [start, start + kept), as PyTorch does
    start, kept = max(-before, 0), n - max(-before, 0) - max(-after, 0)
    return start + (j - max(before, 0)) % kept


def _check_amounts(x, pad, mode, value):
    """PyTorch's rules for the pad tuple; every error names the fix."""
    shape = x.shape
    if len(pad) % 2:
        raise RuntimeError(f"pad: the pad tuple {pad} has odd length {len(pad)}; it needs one "
                           "(before, after) pair per padded dim, last dim first")
    if len(pad) > 2 * x.ndim:
        raise RuntimeError(f"pad: the pad tuple {pad} pads {len(pad) // 2} dims, but the input of "
                           f"shape {shape} has only {x.ndim}")
    if mode not in MODES:
        raise NotImplementedError(f"pad: unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "constant":
        return
    if value is not None and value != 0:
        raise RuntimeError(f"pad: mode {mode!r} copies input elements and takes no value (got "
                           f"value={value}); use mode='constant' to pad with a value")
    dims = len(pad) // 2
    if dims not in (1, 2, 3) or x.ndim not in (dims + 1, dims + 2):
        raise NotImplementedError(
            f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of an input with one or two dims "
            f"before them (unbatched or batched); a pad tuple of length {len(pad)} needs a "
            f"{dims + 1}-d or {dims + 2}-d input, got shape {shape}")
    for d in range(dims):
        axis = x.ndim - 1 - d
        n, (before, after) = shape[axis], pad[2 * d:2 * d + 2]
        if n == 0:
            raise RuntimeError(f"pad: mode {mode!r} needs a non-empty dim {axis} to copy from, "
                               f"but the input has shape {shape}")
        if mode == "reflect" and (before >= n or after >= n):
            raise RuntimeError(f"pad: reflect padding ({before}, {after}) of dim {axis} must be "
                               f"smaller than its size {n} (input shape {shape}); use "
                               "mode='replicate' or 'circular', or pad less")
        kept = n - max(-before, 0) - max(-after, 0)
        if mode == "circular" and (before > kept or after > kept):
            raise RuntimeError(f"pad: circular padding ({before}, {after}) of dim {axis} (of size "
                               f"{n}, {kept} after cropping) would wrap around more than once; "
                               f"pad by at most {kept}")
        if n + before + after < 0:
            raise RuntimeError(f"pad: cropping ({before}, {after}) removes more than the whole of "
                               f"dim {axis} of size {n} (input shape {shape})")


def pad(x, pad, mode="constant", value=None):
    """torch.nn.functional.pad: pad (or, with negative amounts, crop) the last
    len(pad) // 2 dims of x, last dim first: pad = (left, right, top, bottom, ...).

    mode "constant" fills with `value` (default 0) and works on any dims;
    "reflect", "replicate" and "circular" copy input elements (see the module
    docstring) and pad the last 1, 2 or 3 dims of a batched or unbatched input.

    NumPy's form, one (before, after) pair per dim from the first dim on
    (((0, 0), (1, 2)), or one int for every side), is accepted too, for
    constant padding."""
    if not isinstance(x, Tensor):
        raise TypeError(f"pad: expected a Tensor, got {type(x).__name__}")
    if isinstance(pad, (int, np.integer)) or any(isinstance(p, (tuple, list, np.ndarray))
                                                  for p in pad):
        if not isinstance(mode, str):  # the older call pad(x, pad_width, value)
            mode, value = "constant", mode
        if mode != "constant":
            raise ValueError(f"pad: NumPy-style pad widths {pad} are for mode='constant'; for "
                             f"mode {mode!r} give PyTorch's flat tuple (left, right, top, bottom, ...)")
        return _numpy_style_pad(x, pad, 0.0 if value is None else value)
    pad = tuple(pad)
    if not all(isinstance(p, (int, np.integer)) for p in pad):
        raise TypeError(f"pad: the pad tuple must hold ints, got {pad}")
    pad = tuple(int(p) for p in pad)
    _check_amounts(x, pad, mode, value)
    # (before, after) per dim, first dim first, as the axes are numbered
    widths = [(0, 0)] * (x.ndim - len(pad) // 2) + [pad[i:i + 2] for i in range(len(pad) - 2, -1, -2)]
    if mode == "constant":
        crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for n, (b, a) in zip(x.shape, widths))
        if any(s.stop < s.start for s in crop):
            raise RuntimeError(f"pad: cropping {pad} removes more than the whole of an input of "
                               f"shape {x.shape}")
        if any(b < 0 or a < 0 for b, a in widths):
            x = getitem(x, crop)
        grow = tuple((max(b, 0), max(a, 0)) for b, a in widths)
        return _numpy_style_pad(x, grow, 0.0 if value is None else value) if any(map(any, grow)) else x
    for axis, (before, after) in enumerate(widths):
        if before or after:
            src = _source_index(x.xp, mode, x.shape[axis], before, after)
            x = getitem(x, (slice(None),) * axis + (src,))  # (..., n + before + after, ...)
    return x
