"""Conv1d/2d/3d and ConvTranspose1d/2d/3d: hold the kernel (and bias) and call
F.conv1d/2d/3d or F.conv_transpose1d/2d/3d. Inputs are batches (N, C, *spatial)
or one sample (C, *spatial): (C, L), (C, H, W) or (C, D, H, W).

Weights use PyTorch's layouts, so state dicts move between the two:
ConvNd (out_channels, in_channels/groups, *kernel_size),
ConvTransposeNd (in_channels, out_channels/groups, *kernel_size).
"""
import math

import minigrad.functional as F
from minigrad.ops.im2col import ntuple

from . import init
from .checks import check_input, check_size
from .linear import new_parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


class _ConvNd(Module):
    """What every convolution layer shares: PyTorch's arguments, weight and init.
    Subclasses set `dims` (1, 2 or 3) and `transposed`."""

    dims, transposed = 2, False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, padding_mode, output_padding, device, dtype):
        super().__init__()
        name, N = type(self).__name__, self.dims
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {', '.join(PADDING_MODES)}, "
                             f"got {padding_mode!r}")
        if self.transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as in PyTorch), "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = ntuple(kernel_size, N, "kernel_size", name)
        self.stride = ntuple(stride, N, "stride", name)
        self.dilation = ntuple(dilation, N, "dilation", name)
        self.output_padding = ntuple(output_padding, N, "output_padding", name)
        if isinstance(padding, str):
            if self.transposed:
                raise ValueError(f"{name}: padding must be an int or a tuple of {N} ints, "
                                 f"not a string")
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple of {N} ints, "
                                 f"'valid' or 'same', got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 "convolutions (the output size would not equal the input's)")
            self.padding = padding
        else:
            self.padding = ntuple(padding, N, "padding", name)
        self.groups, self.padding_mode = groups, padding_mode
        shape = ((in_channels, out_channels // groups) if self.transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = new_parameter(shape, device, dtype)
        if bias:
            self.bias = new_parameter((out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default: W ~ kaiming_uniform_(a=sqrt(5)), which is
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        fan_in = weight.shape[1] * prod(kernel_size)."""
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
        N, spatial = self.dims, _SPATIAL[self.dims]
        check_input(self, x, (N + 1, N + 2), f"(N, C, {spatial}) or (C, {spatial})",
                    like=self.weight)
        check_size(self, x, -(N + 1), self.in_channels, "channels")

    def extra_repr(self):
        N = self.dims
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0,) * N:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * N:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * N:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """Convolution layers. padding: an int, a tuple, 'valid' (none) or 'same'
    (output as large as the input; stride 1 only; an odd total puts the extra
    one at the end, as in PyTorch). padding_mode: what the padding holds,
    zeros or (reflect, replicate, circular) copies of the input's border."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def _pad_tuple(self):
        """The padding as F.pad's tuple, last dim first: (left, right, top, bottom, ...)."""
        if self.padding == "valid":
            return (0, 0) * self.dims
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            sides = [(t // 2, t - t // 2) for t in totals]
        else:
            sides = [(p, p) for p in self.padding]
        return tuple(amount for side in reversed(sides) for amount in side)

    def forward(self, x):
        self._check(x)
        conv = getattr(F, f"conv{self.dims}d")
        padding = self.padding
        if self.padding_mode != "zeros":
            # The border is made of copies of the input: pad by the mode, then
            # convolve without padding, as PyTorch does.
            x, padding = F.pad(x, self._pad_tuple(), mode=self.padding_mode), 0
        return conv(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution over (N, C, L) inputs, or one sample (C, L)."""
    dims = 1


class Conv2d(_Conv):
    """2-D convolution over (N, C, H, W) inputs, or one image (C, H, W)."""
    dims = 2


class Conv3d(_Conv):
    """3-D convolution over (N, C, D, H, W) inputs, or one volume (C, D, H, W)."""
    dims = 3


class _ConvTranspose(_ConvNd):
    """Transposed convolution (the gradient of a convolution with respect to
    its input), used to upsample: with stride s the output is about s times larger.

    output_padding adds positions at the end of each dim to pick one of the
    sizes a stride-s convolution would map back to the input's size."""

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def forward(self, x):
        self._check(x)
        conv_transpose = getattr(F, f"conv_transpose{self.dims}d")
        return conv_transpose(x, self.weight, self.bias, self.stride, self.padding,
                              self.output_padding, self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """Transposed 1-D convolution over (N, C, L) inputs, or (C, L)."""
    dims = 1


class ConvTranspose2d(_ConvTranspose):
    """Transposed 2-D convolution over (N, C, H, W) inputs, or (C, H, W)."""
    dims = 2


class ConvTranspose3d(_ConvTranspose):
    """Transposed 3-D convolution over (N, C, D, H, W) inputs, or (C, D, H, W)."""
    dims = 3
