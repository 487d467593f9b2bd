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
    shape, dims = x.shape, len(pad) // 2
    if len(pad) % 2:
        raise RuntimeError(f"pad: the pad tuple {pad} has odd length {len(pad)}; it needs one "
                           "(before, after) pair per padded dim, last dim first")
    if dims > x.ndim:
        raise RuntimeError(f"pad: the pad tuple {pad} pads {dims} dims, but the input of "
                           f"shape {shape} has only {x.ndim}")
    if mode not in MODES:
        raise NotImplementedError(f"pad: unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode != "constant" and value is not None and value != 0:
        raise RuntimeError(f"pad: mode {mode!r} copies input elements and takes no value (got "
                           f"value={value}); use mode='constant' to pad with a value")
    if mode != "constant" and (dims not in (1, 2, 3) or x.ndim not in (dims + 1, dims + 2)):
        raise NotImplementedError(
            f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of an input with one or two dims "
            f"before them (unbatched or batched); a pad tuple of length {len(pad)} needs a "
            f"{dims + 1}-d or {dims + 2}-d input, got shape {shape}")
    for d in range(dims):
        axis = x.ndim - 1 - d
        n, (before, after) = shape[axis], pad[2 * d:2 * d + 2]
        kept = n - max(-before, 0) - max(-after, 0)  # what is left after cropping
        if kept < 0:
            raise RuntimeError(f"pad: cropping ({before}, {after}) removes more than the whole of "
                               f"dim {axis} of size {n} (input shape {shape})")
        if mode == "constant":
            continue
        if n == 0:
            raise RuntimeError(f"pad: mode {mode!r} needs a non-empty dim {axis} to copy from, "
                               f"but the input has shape {shape}")
        if mode == "reflect" and (before >= n or after >= n):
            raise RuntimeError(f"pad: reflect padding ({before}, {after}) of dim {axis} must be "
                               f"smaller than its size {n} (input shape {shape}); use "
                               "mode='replicate' or 'circular', or pad less")
        if mode == "circular" and (before > kept or after > kept):
            raise RuntimeError(f"pad: circular padding ({before}, {after}) of dim {axis} (of size "
                               f"{n}, {kept} after cropping) would wrap around more than once; "
                               f"pad by at most {kept}")


def _pad_constant(x, widths, value):
    """Crop the negative amounts (a slice), then pad the positive ones (shape.py's Pad)."""
    if any(before < 0 or after < 0 for before, after in widths):
        x = getitem(x, tuple(slice(max(-before, 0), n - max(-after, 0))
                             for n, (before, after) in zip(x.shape, widths)))
    grow = tuple((max(before, 0), max(after, 0)) for before, after in widths)
    return _numpy_style_pad(x, grow, value) if any(b or a for b, a in grow) else x


def _pad_by_copying(x, widths, mode):
    """reflect, replicate, circular: x[..., src] along each padded dim."""
    for axis, (before, after) in enumerate(widths):
        if before or after:
            src = _source_index(x.xp, mode, x.shape[axis], before, after)
            x = getitem(x, (slice(None),) * axis + (src,))  # (..., n + before + after, ...)
    return x


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
    if isinstance(mode, (int, float)):  # the older call pad(x, pad_width, value)
        mode, value = "constant", mode
    if isinstance(pad, (int, np.integer)) or any(isinstance(p, (tuple, list, np.ndarray))
                                                  for p in pad):
        if mode != "constant":
            raise ValueError(f"pad: NumPy-style pad widths {pad} are for mode='constant'; for "
                             f"mode {mode!r} give PyTorch's flat tuple (left, right, top, bottom, ...)")
        return _numpy_style_pad(x, pad, 0.0 if value is None else value)
    if not all(isinstance(p, (int, np.integer)) for p in pad):
        raise TypeError(f"pad: the pad tuple must hold ints, got {pad}")
    pad = tuple(int(p) for p in pad)
    _check_amounts(x, pad, mode, value)
    # (before, after) for every dim, in the order the dims are numbered (pad lists the last first)
    widths = [(0, 0)] * (x.ndim - len(pad) // 2) + [pad[i:i + 2] for i in range(len(pad) - 2, -1, -2)]
    if mode == "constant":
        return _pad_constant(x, widths, 0.0 if value is None else value)
    return _pad_by_copying(x, widths, mode)
