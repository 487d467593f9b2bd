"""Padding layers: F.pad as a module, with nothing to learn, PyTorch's names and reprs.

    ZeroPad{1,2,3}d       the border is 0
    ConstantPad{1,2,3}d   the border is `value`
    ReflectionPad{1,2,3}d mirrored at the edge (the edge itself not repeated)
    ReplicationPad{1,2,3}d the edge element repeated
    CircularPad{1,2,3}d   the dim wraps around

`padding` is one int for every side, or PyTorch's flat tuple, last dim first:
(left, right) for 1d, (left, right, top, bottom) for 2d, and
(left, right, top, bottom, front, back) for 3d. A negative amount crops. The
math and the gradient are F.pad's (ops/padding.py): the gradient of every
output element flows back to the input element it was copied from.

The copying modes pad the last 1, 2 or 3 dims of a batch (N, C, *spatial) or
of one sample (C, *spatial); constant padding pads the last dims of any input.
"""
import numbers

import minigrad.functional as F

from .checks import check_input
from .module import Module

__all__ = ["ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
           "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
           "CircularPad1d", "CircularPad2d", "CircularPad3d"]

_LAYOUTS = {1: "(N, C, W) or (C, W)", 2: "(N, C, H, W) or (C, H, W)",
            3: "(N, C, D, H, W) or (C, D, H, W)"}
_SIDES = {1: "(left, right)", 2: "(left, right, top, bottom)",
          3: "(left, right, top, bottom, front, back)"}


class _PadNd(Module):
    """Pads the last `dims` dims by `padding` with F.pad's `mode`."""
    dims = 2            # padded dims, set by each concrete class
    mode = "constant"   # F.pad's mode, set by each family

    def __init__(self, padding):
        super().__init__()
        self.padding = self._amounts(padding)

    def _amounts(self, padding):
        """An int for every side, or a sequence of 2 * dims ints -> a tuple of 2 * dims ints."""
        n = 2 * self.dims
        if isinstance(padding, numbers.Integral):
            return (int(padding),) * n
        padding = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,)
        if len(padding) != n or not all(isinstance(p, numbers.Integral) for p in padding):
            raise ValueError(f"{type(self).__name__}: padding must be an int or {n} ints "
                             f"{_SIDES[self.dims]}, got {padding}")
        return tuple(int(p) for p in padding)

    def forward(self, x):
        if self.mode != "constant":  # the copying modes need a batch or one sample
            check_input(self, x, (self.dims + 1, self.dims + 2), _LAYOUTS[self.dims])
        return F.pad(x, self.padding, mode=self.mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, x):
        return F.pad(x, self.padding, mode="constant", value=self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with `value`: padding (left, right)."""
    dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with `value`: padding (left, right, top, bottom)."""
    dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with `value`: padding (left, right, top, bottom, front, back)."""
    dims = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):  # PyTorch prints the amounts only
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros: padding (left, right)."""
    dims = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dims with zeros: padding (left, right, top, bottom)."""
    dims = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dims with zeros: padding (left, right, top, bottom, front, back)."""
    dims = 3


class ReflectionPad1d(_PadNd):
    """Mirror (C, W) or (N, C, W) at its edges: [0 1 2 3] by (2, 2) -> [2 1 0 1 2 3 2 1].
    Each amount must be smaller than the dim it pads."""
    dims, mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Mirror the last two dims at their edges; see ReflectionPad1d."""
    dims, mode = 2, "reflect"


class ReflectionPad3d(_PadNd):
    """Mirror the last three dims at their edges; see ReflectionPad1d."""
    dims, mode = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """Repeat the edge element of (C, W) or (N, C, W): [0 1 2 3] by (2, 2) -> [0 0 0 1 2 3 3 3]."""
    dims, mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Repeat the edge elements of the last two dims; see ReplicationPad1d."""
    dims, mode = 2, "replicate"


class ReplicationPad3d(_PadNd):
    """Repeat the edge elements of the last three dims; see ReplicationPad1d."""
    dims, mode = 3, "replicate"


class CircularPad1d(_PadNd):
    """Wrap (C, W) or (N, C, W) around: [0 1 2 3] by (2, 2) -> [2 3 0 1 2 3 0 1].
    Each amount must be at most the dim it pads."""
    dims, mode = 1, "circular"


class CircularPad2d(_PadNd):
    """Wrap the last two dims around; see CircularPad1d."""
    dims, mode = 2, "circular"


class CircularPad3d(_PadNd):
    """Wrap the last three dims around; see CircularPad1d."""
    dims, mode = 3, "circular"
