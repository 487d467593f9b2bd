"""Pooling layers over (N, C, H, W) inputs (or one image, (C, H, W))."""
import minigrad.functional as F

from .checks import check_input
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


def _batched(x, fn):
    """Run fn on a batch; a single image (C, H, W) is a batch of one."""
    return fn(x.unsqueeze(0)).squeeze(0) if x.ndim == 3 else fn(x)


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride  # non-overlapping by default
        self.padding = padding

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each kernel_size window (stride = kernel_size by default)."""

    def forward(self, x):
        check_input(self, x, (3, 4), "(N, C, H, W) or (C, H, W)")
        return _batched(x, lambda x: F.max_pool2d(x, self.kernel_size, self.stride,
                                                  self.padding))


class AvgPool2d(_Pool2d):
    """The mean of each kernel_size window (stride = kernel_size by default)."""

    def forward(self, x):
        check_input(self, x, (3, 4), "(N, C, H, W) or (C, H, W)")
        return _batched(x, lambda x: F.avg_pool2d(x, self.kernel_size, self.stride,
                                                  self.padding))


class AdaptiveAvgPool2d(Module):
    """Average-pool to a fixed output_size (OH, OW) whatever the input size;
    AdaptiveAvgPool2d(1) is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        check_input(self, x, (3, 4), "(N, C, H, W) or (C, H, W)")
        return _batched(x, lambda x: F.adaptive_avg_pool2d(x, self.output_size))

    def extra_repr(self):
        return f"output_size={self.output_size}"
