"""Pooling layers over 1, 2 or 3 spatial dims, with PyTorch's signatures:
a batch (N, C, *spatial) or one unbatched sample (C, *spatial).

Each layer holds its options and calls the op of the same name in
minigrad.functional (ops/max_pool.py, avg_pool.py, unpool.py), where the
math is. The reprs print what PyTorch's print."""
import minigrad.functional as F

from .checks import check_input
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
           "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d", "LPPool2d", "LPPool3d"]

_LAYOUTS = {1: "(N, C, L) or (C, L)", 2: "(N, C, H, W) or (C, H, W)",
            3: "(N, C, D, H, W) or (C, D, H, W)"}


def _ntuple(value, n):
    return (value,) * n if isinstance(value, int) else tuple(value)


class _Pool(Module):
    dims = 2  # spatial dims, set by each concrete class

    def _check(self, x):
        check_input(self, x, (self.dims + 1, self.dims + 2), _LAYOUTS[self.dims])


# ----------------------------------------------------------------------- max
class _MaxPoolNd(_Pool):
    """The maximum of each window (stride = kernel_size by default); see
    minigrad.functional.max_pool2d. With return_indices, forward returns
    (values, indices) for MaxUnpool."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride  # non-overlapping by default
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        self._check(x)
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self.dims - 1]
        return pool(x, self.kernel_size, self.stride, self.padding, self.dilation,
                    self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    dims = 1


class MaxPool2d(_MaxPoolNd):
    dims = 2


class MaxPool3d(_MaxPoolNd):
    dims = 3


# ------------------------------------------------------------------- average
class _AvgPoolNd(_Pool):
    """The mean of each window (stride = kernel_size by default); see
    minigrad.functional.avg_pool2d for count_include_pad and divisor_override."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        self._check(x)
        if self.dims == 1:
            return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                self.count_include_pad)
        pool = F.avg_pool2d if self.dims == 2 else F.avg_pool3d
        return pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                    self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    dims = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):  # no divisor_override, as in PyTorch
        super().__init__(_ntuple(kernel_size, 1), None if stride is None else _ntuple(stride, 1),
                         _ntuple(padding, 1), ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    dims = 2


class AvgPool3d(_AvgPoolNd):
    dims = 3


# ------------------------------------------------------------------ adaptive
class _AdaptivePool(_Pool):
    """Pool to a fixed output_size whatever the input size (entries may be
    None: keep that size); AdaptiveAvgPool2d(1) is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _AdaptiveAvgPoolNd(_AdaptivePool):
    def forward(self, x):
        self._check(x)
        pool = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)
        return pool[self.dims - 1](x, self.output_size)


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    dims = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    dims = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    dims = 3


class _AdaptiveMaxPoolNd(_AdaptivePool):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, x):
        self._check(x)
        pool = (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d)
        return pool[self.dims - 1](x, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    dims = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    dims = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    dims = 3


# -------------------------------------------------------------------- unpool
class _MaxUnpoolNd(_Pool):
    """Put pooled values back at the indices MaxPool(return_indices=True)
    gave, zeros elsewhere; forward(x, indices, output_size=None)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        n = self.dims
        self.kernel_size = _ntuple(kernel_size, n)
        self.stride = self.kernel_size if stride is None else _ntuple(stride, n)
        self.padding = _ntuple(padding, n)

    def forward(self, x, indices, output_size=None):
        self._check(x)
        unpool = (F.max_unpool1d, F.max_unpool2d, F.max_unpool3d)[self.dims - 1]
        return unpool(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    dims = 1


class MaxUnpool2d(_MaxUnpoolNd):
    dims = 2


class MaxUnpool3d(_MaxUnpoolNd):
    dims = 3


# ---------------------------------------------------------------- power mean
class _LPPoolNd(_Pool):
    """The p-norm of each window, (sum x^p)^(1/p); see minigrad.functional.lp_pool2d."""

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, x):
        self._check(x)
        pool = (F.lp_pool1d, F.lp_pool2d, F.lp_pool3d)[self.dims - 1]
        return pool(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    dims = 1


class LPPool2d(_LPPoolNd):
    dims = 2


class LPPool3d(_LPPoolNd):
    dims = 3
