"""Conv2d and ConvTranspose2d: hold the kernel (and bias) and call F.conv2d /
F.conv_transpose2d. Inputs are (N, C, H, W), or one image (C, H, W).

Weights use PyTorch's layouts, so state dicts move between the two:
Conv2d (out_channels, in_channels/groups, KH, KW),
ConvTranspose2d (in_channels, out_channels/groups, KH, KW).
"""
import math

import minigrad.functional as F

from . import init
from .checks import check_input, check_size
from .linear import new_parameter
from .module import Module

__all__ = ["Conv2d", "ConvTranspose2d"]


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


class _ConvBase(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, weight_shape, device, dtype):
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.dilation, self.groups = _pair(dilation), groups
        self.weight = new_parameter(weight_shape(self.kernel_size), device, dtype)
        if bias:
            self.bias = new_parameter((out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: W ~ kaiming_uniform_(a=sqrt(5)), which is
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        fan_in = weight.shape[1] * KH * KW."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            if fan_in:
                bound = 1.0 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def describe(self):
        """Short name for error messages, e.g. Conv2d(1, 6, kernel_size=(5, 5))."""
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size})")

    def _check(self, x):
        check_input(self, x, (3, 4), "(N, C, H, W) or (C, H, W)", like=self.weight)
        check_size(self, x, -3, self.in_channels, "channels")

    def _batched(self, x, fn):
        """Run fn on a batch; a single image (C, H, W) is a batch of one."""
        if x.ndim == 3:
            return fn(x.unsqueeze(0)).squeeze(0)
        return fn(x)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvBase):
    """2-D convolution over (N, C, H, W) inputs.

    padding: an int, a pair, 'valid' (none) or 'same' (output as large as the
    input; stride 1 only). When 'same' needs an odd total padding, the extra
    row/column goes at the bottom/right, as in PyTorch."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, device=None, dtype=None):
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'valid' or 'same', got "
                                 f"{padding!r}")
            if padding == "same" and _pair(stride) != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided "
                                 "convolutions (the output size would not equal the input's)")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias,
                         lambda k: (out_channels, in_channels // groups) + k, device, dtype)

    def _explicit_padding(self):
        """((top, bottom), (left, right)) for the string paddings."""
        if self.padding == "valid":
            return ((0, 0), (0, 0))
        totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
        return tuple((t // 2, t - t // 2) for t in totals)

    def forward(self, x):
        self._check(x)

        def convolve(x):
            padding = self.padding
            if isinstance(padding, str):
                (top, bottom), (left, right) = self._explicit_padding()
                if (top, left) != (bottom, right):  # asymmetric: pad the extra side first
                    x = x.pad(((0, 0), (0, 0), (0, bottom - top), (0, right - left)))
                padding = (top, left)
            return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                            self.groups)
        return self._batched(x, convolve)


class ConvTranspose2d(_ConvBase):
    """Transposed convolution (the gradient of Conv2d with respect to its
    input), used to upsample: with stride s the output is about s times larger.

    output_padding adds rows/columns at the bottom/right to pick one of the
    sizes a stride-s convolution would map back to the input's size."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError("ConvTranspose2d: padding must be an int or a pair, not a string")
        self.output_padding = _pair(output_padding)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias,
                         lambda k: (in_channels, out_channels // groups) + k, device, dtype)

    def forward(self, x):
        self._check(x)
        return self._batched(x, lambda x: F.conv_transpose2d(
            x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
            self.groups, self.dilation))
