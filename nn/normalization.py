"""Normalization layers: BatchNorm1d/2d, LayerNorm, GroupNorm.

Each normalizes x to zero mean and unit variance over some axes, then applies
a learned per-channel scale (weight, starts at 1) and shift (bias, starts at 0):

    y = (x - mean) / sqrt(var + eps) * weight + bias

BatchNorm takes the statistics over the batch (and spatial axes) per channel,
and keeps running averages of them (buffers) to use in eval mode;
LayerNorm over the trailing `normalized_shape` axes of each sample;
GroupNorm over groups of channels (and spatial axes) of each sample.
"""
import numpy as np

import minigrad
import minigrad.functional as F

from . import init
from .checks import check_input, check_size
from .linear import new_parameter
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d (they differ in the input ranks).

    In training mode the batch's statistics normalize, and update the running
    ones: running = (1 - momentum) * running + momentum * batch (the variance
    with Bessel's correction, as PyTorch); momentum=None averages all batches
    seen so far equally (a cumulative mean). In eval mode the running
    statistics normalize, so the output no longer depends on the batch."""

    RANKS, LAYOUT = (), ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = new_parameter((num_features,), device, dtype)
            self.bias = new_parameter((num_features,), device, dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", minigrad.zeros(num_features, dtype=dtype,
                                                                device=device))
            self.register_buffer("running_var", minigrad.ones(num_features, dtype=dtype,
                                                              device=device))
            self.register_buffer("num_batches_tracked", minigrad.tensor(0, dtype=np.int64,
                                                                        device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x):
        check_input(self, x, self.RANKS, self.LAYOUT, like=self.weight)
        check_size(self, x, 1, self.num_features, "channels (axis 1)")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                # a 0-d array, not float(...): reading the count back would wait for a GPU
                factor = 1.0 / self.num_batches_tracked.data
        # Batch statistics while training, or always when there are no running ones.
        use_batch_stats = self.training or self.running_mean is None
        keep_running = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if keep_running else None,
                            self.running_var if keep_running else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs, per channel C."""
    RANKS, LAYOUT = (2, 3), "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs, per channel C."""
    RANKS, LAYOUT = (4,), "(N, C, H, W)"


class LayerNorm(Module):
    """Normalize each sample over its trailing `normalized_shape` axes."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = new_parameter(self.normalized_shape, device, dtype)
            if bias:
                self.bias = new_parameter(self.normalized_shape, device, dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        k = len(self.normalized_shape)
        check_input(self, x, range(k, 33), f"(..., {', '.join(map(str, self.normalized_shape))})",
                    like=self.weight)
        if x.shape[x.ndim - k:] != self.normalized_shape:
            raise ValueError(f"{self!r}: expected input whose last {k} axes are "
                             f"{self.normalized_shape}, got shape {x.shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Normalize each sample over groups of num_channels / num_groups channels
    (and all spatial axes): batch-size independent, good for small batches.
    num_groups=1 is LayerNorm over (C, H, W); num_groups=C is InstanceNorm."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine = eps, affine
        if affine:
            self.weight = new_parameter((num_channels,), device, dtype)
            self.bias = new_parameter((num_channels,), device, dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x):
        check_input(self, x, range(2, 33), "(N, C, ...)", like=self.weight)
        check_size(self, x, 1, self.num_channels, "channels (axis 1)")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
