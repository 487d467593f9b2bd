"""unfold and fold: im2col and col2im as public, differentiable ops.

`unfold` copies every sliding block of x (N, C, H, W) into a column:

    cols[n, (c, i, j), l] = x_pad[n, c, oh*SH + i*DH, ow*SW + j*DW]     l = oh*OW + ow

giving (N, C*KH*KW, L) with L = OH*OW blocks, in PyTorch's (c, i, j) order.
`fold` goes back: it adds every column entry onto the pixel of an
(N, C, H, W) image it would have been copied from, summing where blocks
overlap (so fold(unfold(x)) is x times the number of blocks covering each
pixel, not x).

The two are adjoint linear maps: <unfold(x), c> = <x, fold(c)> for every x
and c. The gradient of a linear map is its adjoint applied to the upstream
gradient, so Unfold's backward is Fold and Fold's backward is Unfold, each a
Function: derivatives of any order are exact. The array work is
conv_simple.py's im2col and col2im, the teaching version under conv2d.
"""
import math

from ..autograd import Function
from ..tensor import Tensor
from .conv_simple import col2im, im2col
from .im2col import geometry, pair

__all__ = ["unfold", "fold"]


class Unfold(Function):
    """x (N, C, H, W) -> columns (N, C*KH*KW, L)."""

    save_inputs = save_outputs = False

    def __init__(self, g):
        self.g = g

    def forward(self, x):
        N = x.shape[0]
        return im2col(x, self.g).reshape(N, -1, math.prod(self.g.out_size))  # (N, C*KH*KW, L)

    def backward(self, gy):
        return Fold(self.g)(gy)


class Fold(Function):
    """columns (N, C*KH*KW, L) -> x (N, C, H, W), overlapping entries summed."""

    save_inputs = save_outputs = False

    def __init__(self, g):
        self.g = g

    def forward(self, cols):
        return col2im(cols, self.g)                                     # (N, C, H, W)

    def backward(self, gx):
        return Unfold(self.g)(gx)


def _check_tensor(op, x, ndims, layout):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.ndim not in ndims:
        raise ValueError(f"{op}: expects a {ndims[1]}-d input {layout} (or {ndims[0]}-d without the "
                         f"batch dim), got shape {x.shape}")


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """torch.nn.functional.unfold: the sliding blocks of x (N, C, H, W) as
    columns (N, C*KH*KW, L); an unbatched (C, H, W) gives (C*KH*KW, L)."""
    _check_tensor("unfold", x, (3, 4), "(N, C, H, W)")
    if x.ndim == 3:
        return unfold(x.unsqueeze(0), kernel_size, dilation, padding, stride).squeeze(0)
    g = geometry("unfold", x.shape[2:], kernel_size, stride, padding, dilation)
    return Unfold(g)(x)


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """torch.nn.functional.fold: columns (N, C*KH*KW, L) summed back into an
    image (N, C, *output_size); unbatched (C*KH*KW, L) gives (C, H, W)."""
    _check_tensor("fold", x, (2, 3), "(N, C*KH*KW, L)")
    if x.ndim == 2:
        return fold(x.unsqueeze(0), output_size, kernel_size, dilation, padding, stride).squeeze(0)
    output_size = pair(output_size, "output_size", "fold")
    g = geometry("fold", output_size, kernel_size, stride, padding, dilation)
    taps, blocks = math.prod(g.kernel), math.prod(g.out_size)
    if x.shape[1] % taps:
        raise RuntimeError(f"fold: dim 1 of the input (shape {x.shape}) must be C * KH * KW, a "
                           f"multiple of the kernel's {g.kernel[0]}*{g.kernel[1]} = {taps} taps")
    if x.shape[2] != blocks:
        raise RuntimeError(f"fold: the input (shape {x.shape}) has {x.shape[2]} blocks in dim 2, but "
                           f"output_size {output_size} with kernel {g.kernel}, dilation "
                           f"{g.dilation}, padding {g.padding} and stride {g.stride} has "
                           f"{g.out_size[0]}*{g.out_size[1]} = {blocks}; check output_size")
    return Fold(g)(x)
