"""Normalization: batch_norm, layer_norm, group_norm.

Each normalizes x over some axes, then applies a per-feature affine map:

    mean = E[x],  var = E[(x - mean)^2]        (biased: divide by M, the count)
    x_hat = (x - mean) / sqrt(var + eps)
    y = weight * x_hat + bias

What makes the backward subtle is that mean and var depend on x, so every
input influences every output of its group. With gy the upstream gradient
and sums over the normalized axes (M elements):

    d bias   = sum(gy)
    d weight = sum(gy * x_hat)
    d x      = weight / sqrt(var + eps) * (gy - sum(gy)/M - x_hat * sum(gy * x_hat)/M)

The last line treats 1/sqrt(var + eps) as a function of x, not a constant:
a second derivative that freezes it (as DeZero's batch norm does) is wrong.

layer_norm and group_norm are composed from Tensor ops, so autograd derives
all of the above by itself, to any order. batch_norm sits in every layer of
a CNN, so it gets one fused Function: its forward and first-order backward
run on raw arrays (a few passes over the data instead of a dozen ops); when a
graph of the backward is being recorded (create_graph=True) the backward is
written in Tensor ops instead, so second derivatives stay exact.
"""
import math

import numpy as np

from .. import kernels
from ..autograd import Function, _as_tensors, is_grad_enabled
from ..tensor import Tensor
from ..threads import batch_slices, run_split

__all__ = ["batch_norm", "layer_norm", "group_norm"]


def _per_channel(v, ndim):
    """(C,) -> (1, C, 1, ...) so it broadcasts over (N, C, ...)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _batch_norm_backward_graph(x, w, gy, axes, eps):
    """The backward formulas of the module docstring in Tensor ops (differentiable).

    x_hat and 1/sqrt(var + eps) are recomputed from x, so that differentiating
    this function again differentiates through the batch statistics."""
    count = math.prod(x.shape[a] for a in axes)
    x_centered = x - x.mean(axes, keepdims=True)
    inv_std = ((x_centered * x_centered).mean(axes, keepdims=True) + eps) ** -0.5
    x_hat = x_centered * inv_std
    gb = gy.sum(axes)
    gw = (gy * x_hat).sum(axes)
    gx = (_per_channel(w, x.ndim) * inv_std) * (
        gy - _per_channel(gb, x.ndim) * (1.0 / count)
        - x_hat * _per_channel(gw, x.ndim) * (1.0 / count))
    return gx, gw, gb


class BatchNormTrain(Function):
    """y = weight * x_hat + bias with batch statistics over all axes but 1.

    Inputs (x, weight, bias); outputs (y, batch_mean, batch_var): the
    statistics (variance biased) are results for the running averages, not
    part of the graph. Backward keeps x and weight (not the bias) and the
    per-channel mean and 1/std; it recomputes x - mean rather than keeping a
    second activation-sized array alive until backward."""

    save_inputs, save_outputs = (0, 1), False
    non_differentiable_outputs = (1, 2)  # batch_mean, batch_var

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, w, b):
        if kernels.use_for(x, w, b):  # on a GPU, the same computation in fewer passes
            y, batch_mean, batch_var, inv_std = kernels.batch_norm_forward(x, w, b, self.eps)
            self.save_for_backward(batch_mean.copy(), inv_std)
            return y, batch_mean, batch_var
        N, C = x.shape[:2]
        y, batch_mean, batch_var, inv_std = _normalize_batch(x.reshape(N, C, -1), w, b, self.eps)
        # The saved mean is a copy: the returned one belongs to the caller.
        self.save_for_backward(batch_mean.copy(), inv_std)
        return y.reshape(x.shape), batch_mean, batch_var               # (N, C, ...), (C,), (C,)

    def backward(self, gy, _mean_grad, _var_grad):  # None, None: statistics are not differentiated
        x, w, _ = self.inputs
        axes = (0,) + tuple(range(2, x.ndim))
        if is_grad_enabled():  # create_graph=True: the gradient must be differentiable
            return _batch_norm_backward_graph(x, w, gy, axes, self.eps)
        batch_mean, inv_std = self.saved                               # (C,), (C,)
        wrap = lambda a: Tensor._wrap(a, x.device)  # noqa: E731
        if kernels.use_for(x.data, gy.data, w.data):  # on a GPU, the same formulas in fewer passes
            gx, gw, gb = kernels.batch_norm_backward(x.data, gy.data, w.data, batch_mean, inv_std,
                                                     self.needs_input_grad[0])
            return (None if gx is None else wrap(gx)), wrap(gw), wrap(gb)
        N, C = x.shape[:2]
        gx, gw, gb = _normalize_batch_backward(x.data.reshape(N, C, -1), gy.data.reshape(N, C, -1),
                                               w.data, batch_mean, inv_std,
                                               self.needs_input_grad[0])
        if gx is None:
            return None, wrap(gw), wrap(gb)
        return wrap(gx.reshape(x.shape)), wrap(gw), wrap(gb)


# ------------------------------------------- batch norm on raw (N, C, L) arrays
# Batch norm is a few passes over the activations with little arithmetic in
# each, so memory, not the CPU, sets its speed. The passes run a slice of the
# batch at a time (about 1 MB, so that the second pass over a slice finds it
# still in cache) and the slices are shared among threads (threads.run_split):
# NumPy's own loops use one core. Per-channel sums add up the slices' partial
# sums in slice order, so the result does not depend on the thread count.
def _normalize_batch(x3, w, b, eps):
    """y = (x - mean) * w / sqrt(var + eps) + b over (N, C, L); returns
    (y, batch_mean, batch_var (biased), inv_std), the last three (C,)."""
    count = x3.shape[0] * x3.shape[2]
    parts = batch_slices(x3)
    # einsum sums over N and L in one pass without a temporary.
    batch_mean = sum(run_split(lambda s: np.einsum("ncl->c", x3[s]), parts)) / count

    def centered_squares(s):
        x_centered = x3[s] - batch_mean[:, None]
        return np.einsum("ncl,ncl->c", x_centered, x_centered)
    batch_var = sum(run_split(centered_squares, parts)) / count
    inv_std = 1.0 / np.sqrt(batch_var + eps)                           # (C,)
    scale = (w * inv_std)[:, None]
    y = np.empty_like(x3)

    def normalize(s):
        out = y[s]
        np.subtract(x3[s], batch_mean[:, None], out=out)               # x - mean
        out *= scale
        out += b[:, None]
    run_split(normalize, parts)
    return y, batch_mean, batch_var, inv_std


def _normalize_batch_backward(x3, gy3, w, batch_mean, inv_std, need_gx):
    """The module docstring's gradients over (N, C, L): (gx or None, gw, gb)."""
    count = x3.shape[0] * x3.shape[2]
    parts = batch_slices(x3)

    def sums(s):  # sum(gy) and sum(gy * (x - mean)) of a slice
        return np.einsum("ncl->c", gy3[s]), np.einsum("ncl,ncl->c", gy3[s],
                                                      x3[s] - batch_mean[:, None])
    partial = run_split(sums, parts)
    gb = sum(p[0] for p in partial)                                    # sum(gy)
    gw = sum(p[1] for p in partial) * inv_std                          # sum(gy * x_hat)
    if not need_gx:
        return None, gw, gb
    # gx = w*inv_std * (gy - gb/M - x_hat * gw/M), as a*gy + b*(x - mean) + c per channel
    scale = w * inv_std
    a, slope, offset = scale[:, None], (scale * inv_std * gw / count)[:, None], \
        (scale * gb / count)[:, None]
    gx = np.empty_like(gy3)

    def gradient(s):
        out = gx[s]
        np.subtract(x3[s], batch_mean[:, None], out=out)               # x - mean
        out *= -slope
        out -= offset
        out += gy3[s] * a
    run_split(gradient, parts)
    return gx, gw, gb


def _check_per_channel(op, name, t, channels):
    if t is not None and t.shape != (channels,):
        raise ValueError(f"{op}: {name} must have shape ({channels},), one value per channel "
                         f"of the input, got {t.shape}")


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization over (N, C) or (N, C, H, W) (any (N, C, ...)).

    training=True (or no running statistics): normalize with the batch's
    mean and biased variance over every axis but the channel axis 1, and
    update the running statistics in place, as PyTorch does:
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * M/(M - 1)
    (the unbiased variance, M values per channel). training=False: normalize
    with running_mean and running_var instead."""
    op = "batch_norm"
    x, = _as_tensors((x,), op)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input (N, C) or (N, C, H, W), got shape {x.shape}")
    C = x.shape[1]
    for name, t in [("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)]:
        _check_per_channel(op, name, t, C)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    _as_tensors((x,) + ((running_mean, running_var) if running_mean is not None else ()), op)  # one device
    weight = Tensor._constant(1.0, like=x).reshape(1).expand(C) if weight is None else weight
    bias = Tensor._constant(0.0, like=x).reshape(1).expand(C) if bias is None else bias
    if not (training or running_mean is None):
        # Eval: a fixed per-channel affine map x * scale + shift.
        scale = weight * ((running_var.detach() + eps) ** -0.5)
        shift = bias - running_mean.detach() * scale
        return x * _per_channel(scale, x.ndim) + _per_channel(shift, x.ndim)
    count = x.numel() // C if C else 0
    if count < 2:
        raise ValueError(f"{op}: training needs more than one value per channel to compute a "
                         f"variance, got input shape {x.shape}; use a bigger batch or eval mode")
    y, batch_mean, batch_var = BatchNormTrain(eps)(x, weight, bias)
    if running_mean is not None:
        unbiased = batch_var.data * (count / (count - 1))
        for running, stat in [(running_mean, batch_mean.data), (running_var, unbiased)]:
            stat = stat.astype(running.dtype, copy=False)
            running.data[...] = momentum * stat + (1 - momentum) * running.data
    return y


def _normalize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) over `axes`, in Tensor ops."""
    x_centered = x - x.mean(axes, keepdims=True)
    return x_centered * ((x_centered * x_centered).mean(axes, keepdims=True) + eps) ** -0.5


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last len(normalized_shape) axes of each sample;
    weight and bias (if given) have shape normalized_shape."""
    op = "layer_norm"
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ValueError(f"{op}: normalized_shape {shape} must be a non-empty suffix of the "
                         f"input shape {x.shape}")
    for name, t in [("weight", weight), ("bias", bias)]:
        if t is not None and t.shape != shape:
            raise ValueError(f"{op}: {name} must have shape normalized_shape {shape}, "
                             f"got {t.shape}")
    y = _normalize(x, tuple(range(x.ndim - len(shape), x.ndim)), eps)
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Split the C channels of (N, C, ...) into num_groups groups and normalize
    each sample's group over its channels and positions; weight and bias (C,)
    are per channel. num_groups=1 is layer norm over (C, ...), num_groups=C
    is instance norm."""
    op = "group_norm"
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input (N, C, ...), got shape {x.shape}")
    N, C = x.shape[:2]
    if not isinstance(num_groups, (int, np.integer)) or num_groups < 1 or C % num_groups:
        raise ValueError(f"{op}: the {C} channels of input {x.shape} must split into "
                         f"num_groups={num_groups!r} equal groups; pick a divisor of {C}")
    for name, t in [("weight", weight), ("bias", bias)]:
        _check_per_channel(op, name, t, C)
    y = _normalize(x.reshape(N, num_groups, -1), (2,), eps).reshape(x.shape)  # (N, G, C/G*L)
    if weight is not None:
        y = y * _per_channel(weight, x.ndim)
    return y if bias is None else y + _per_channel(bias, x.ndim)
