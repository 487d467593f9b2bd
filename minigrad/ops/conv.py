"""Convolution and transposed convolution in 1, 2 or 3 dimensions,
differentiable to any order.

New to im2col? Read `conv_simple.py` first: 2-d convolution and both of its
gradients in a few lines (im2col, col2im, three matrix products), the
version the tuned code below and in `im2col.py` is tested equal to.

    y[n, f, oh, ow] = b[f] + sum_{c,i,j} w[f, c, i, j] * x_pad[n, gf*Cg + c, oh*SH + i*DH,
                                                                 ow*SW + j*DW]

summing over the input channels c of the group gf = f // Fg that output
channel f belongs to. The notation (N, C, F, G, H, W, KH, SH, PH, DH, OH, K,
P, ...) is defined in `im2col.py`; arrays are NCHW and weights
(F, Cg, KH, KW), as in PyTorch. 1-d and 3-d are the same sums over one or
three spatial indices: inputs (N, C, L) and (N, C, D, H, W), weights
(F, Cg, KL) and (F, Cg, KD, KH, KW); the code below is written once for all
three (shapes in the comments are 2-d's).

Convolution is linear in x and linear in w, so its whole calculus is three
maps, each one Function whose backward is made of the other two:

    Conv              (x, w)  -> y    y = conv(x, w)
    ConvTranspose     (gy, w) -> gx   the adjoint of conv in x:
                                      <conv(x, w), gy> = <x, conv_transpose(gy, w)>
    ConvGradWeight    (x, gy) -> gw   the adjoint of conv in w:
                                      <conv(x, w), gy> = <w, grad_weight(x, gy)>

Reading the adjoint identities once more gives every derivative:

    Conv.backward(gy)              gx = conv_transpose(gy, w)   gw = grad_weight(x, gy)
    ConvTranspose.backward(ggx)    ggy = conv(ggx, w)           gw = grad_weight(ggx, gy)
    ConvGradWeight.backward(ggw)   gx = conv_transpose(gy, ggw) ggy = conv(x, ggw)

so `create_graph=True` gives exact second (and higher) derivatives while every
forward runs on raw arrays at full speed: im2col + one matrix product per
chunk of images. `conv_transpose2d` is ConvTranspose itself, with
PyTorch's weight layout (C_in, C_out/G, KH, KW) being exactly conv2d's
(F, Cg, KH, KW) read the other way round.

On the CPU the chunks of images are shared out among threads
(`threads.run_split`): each worker builds its own chunks' columns and runs
their matrix products with a single-threaded BLAS. The copies of im2col and
col2im then run on every core too, and BLAS threads never wait for each
other inside a product: on a machine shared with other jobs, where a waiting
BLAS thread spins while its core serves someone else, a VGG layer measured up
to 10x faster than with one two-threaded product per chunk.

conv1d runs the N-d code with N = 1 rather than conv2d on a height-1 view:
it is no more code (the same functions), and the view would gain nothing
(a 1-d tap's slice is already one run per channel and image, which is what
conv2d's wide layout buys for rows).
"""
import math

import numpy as np

from ..autograd import Function, _as_tensors
from ..backend import array_module
from ..threads import run_split
from .im2col import (
    Geometry,
    batch_chunks,
    col2im,
    column_bytes,
    geometry,
    grid,
    im2col,
    ntuple,
    scratch,
    use_wide,
)
from .pool_args import batched

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d"]


# ------------------------------------------- the three maps on raw arrays
def _channels_first(y, g, wide):
    """(n, F, OH, OW) -> (G, Fg, n*GH*GW): the layout the matrix products want,
    on the grid of the columns (zeros at the extra positions of the wide one)."""
    n, F = y.shape[:2]
    out = scratch("channels_first", (F, n) + grid(g, wide), y, zero=wide)  # (F, n, GH, GW)
    out[..., :y.shape[-1]] = y.swapaxes(0, 1)                          # (F, n, OH, OW)
    return out.reshape(g.groups, F // g.groups, -1)                    # (G, Fg, n*GH*GW)


def convolve(x, w, b, g):
    """conv(x, w) + b: (N, C, H, W), (F, Cg, KH, KW), (F,) or None -> (N, F, OH, OW)."""
    N, F = x.shape[0], w.shape[0]
    wide = use_wide(g, F // g.groups)
    cells = grid(g, wide)
    w_mat = w.reshape(g.groups, F // g.groups, -1)                     # (G, Fg, K)
    y = np.empty_like(x, shape=(N, F) + g.out_size, order="C")

    def convolve_chunk(chunk):
        n = chunk.stop - chunk.start
        col = im2col(x[chunk], g, wide)                                # (G, K, n*GH*GW)
        product = scratch("product", (g.groups, F // g.groups, col.shape[2]), x)
        y_mat = np.matmul(w_mat, col, out=product)                     # (G, Fg, n*GH*GW)
        if b is not None:
            y_mat += b.reshape(g.groups, -1, 1)                        # (G, Fg, 1)
        y_grid = y_mat.reshape((F, n) + cells)[..., :g.out_size[-1]]   # (F, n, OH, OW)
        y[chunk] = y_grid.swapaxes(0, 1)                               # (n, F, OH, OW)

    run_split(convolve_chunk, batch_chunks(x, column_bytes(g, x.shape[1], x.itemsize, wide)))
    return y


def convolve_transpose(gy, w, g):
    """conv_transpose(gy, w): (N, F, OH, OW), (F, Cg, KH, KW) -> (N, C, H, W)."""
    N, F, C = gy.shape[0], w.shape[0], w.shape[1] * g.groups
    if all(s == 1 for s in g.stride) and F * math.prod(g.in_size) <= 2 * C * math.prod(
            g.out_size) and all(p <= d * (k - 1) for p, d, k in zip(g.padding, g.dilation, g.kernel)):
        # With stride 1 the adjoint is itself a convolution ("full" padding,
        # kernel flipped, in/out channels swapped), and reusing the forward is
        # faster: its im2col copies beat col2im's scattered additions, unless
        # its columns (F*KH*KW per input pixel vs C*KH*KW per output pixel)
        # are much bigger. The factor 2 was measured on LeNet and VGG layers.
        full = Geometry(g.out_size, g.kernel, g.stride,
                        tuple(d * (k - 1) - p for p, d, k in zip(g.padding, g.dilation, g.kernel)),
                        g.dilation, g.in_size, g.groups)
        Fg, Cg = F // g.groups, w.shape[1]
        flip = (slice(None, None, -1),) * len(g.kernel)                # every spatial axis
        w_full = (w.reshape((g.groups, Fg, Cg) + g.kernel).swapaxes(1, 2)[(...,) + flip]
                  .reshape((C, Fg) + g.kernel))                        # (C, Fg, KH, KW)
        return convolve(gy, w_full, None, full)
    wide = use_wide(g, F // g.groups)
    w_mat_t = w.reshape(g.groups, F // g.groups, -1).transpose(0, 2, 1)  # (G, K, Fg)
    gx = np.empty_like(gy, shape=(N, C) + g.in_size, order="C")

    def spread_chunk(chunk):
        gy_mat = _channels_first(gy[chunk], g, wide)                   # (G, Fg, n*GH*GW)
        product = scratch("product", (g.groups, w_mat_t.shape[1], gy_mat.shape[2]), gy)
        col = np.matmul(w_mat_t, gy_mat, out=product)                  # (G, K, n*GH*GW)
        gx[chunk] = col2im(col, g, chunk.stop - chunk.start, wide)    # (n, C, H, W)

    run_split(spread_chunk, batch_chunks(gy, column_bytes(g, C, gy.itemsize, wide)))
    return gx


def convolve_grad_weight(x, gy, g):
    """grad_weight(x, gy): (N, C, H, W), (N, F, OH, OW) -> (F, Cg, KH, KW)."""
    F, Cg = gy.shape[1], x.shape[1] // g.groups
    wide = use_wide(g, F // g.groups)

    def chunk_grad_weight(chunk):
        col = im2col(x[chunk], g, wide)                                # (G, K, n*GH*GW)
        gy_mat = _channels_first(gy[chunk], g, wide)                   # (G, Fg, n*GH*GW)
        # (K, Fg) rather than (Fg, K): OpenBLAS runs this orientation up to
        # 2x faster when Fg is small.
        return col @ gy_mat.transpose(0, 2, 1)                         # (G, K, Fg)

    chunks = batch_chunks(x, column_bytes(g, x.shape[1], x.itemsize, wide))
    gw_t = sum(run_split(chunk_grad_weight, chunks))                   # summed in chunk order
    # array_module: np.ascontiguousarray is not one of the functions CuPy
    # takes over, so a CuPy array needs cupy's own.
    gw = array_module(gw_t).ascontiguousarray(gw_t.transpose(0, 2, 1))  # (G, Fg, K)
    return gw.reshape((F, Cg) + g.kernel)                              # (F, Cg, KH, KW)


# ------------------------------------------------------- the three Functions
class Conv(Function):
    """y = conv(x, w) (+ b): inputs (x, w) or (x, w, b)."""

    save_inputs, save_outputs = (0, 1), False  # x and w (the bias is only added)

    def __init__(self, geometry):
        self.g = geometry

    def forward(self, x, w, b=None):
        return convolve(x, w, b, self.g)

    def backward(self, gy):
        x, w = self.inputs[:2]
        gx = ConvTranspose(self.g)(gy, w) if self.needs_input_grad[0] else None
        gw = ConvGradWeight(self.g)(x, gy) if self.needs_input_grad[1] else None
        if len(self.input_shapes) == 2:
            return gx, gw
        spatial = tuple(range(2, gy.ndim))
        gb = gy.sum(axis=(0,) + spatial) if self.needs_input_grad[2] else None  # (F,)
        return gx, gw, gb


class ConvTranspose(Function):
    """gx = conv_transpose(gy, w): conv's input gradient, and conv_transpose1d/2d/3d.

    Each output value of the convolution spreads back over the receptive
    field it came from: a matrix product gives every column's share, and
    col2im adds the columns back into image layout (with stride 1, a
    convolution with the flipped kernel does the same faster)."""

    save_inputs, save_outputs = True, False

    def __init__(self, geometry):
        self.g = geometry

    def forward(self, gy, w):
        return convolve_transpose(gy, w, self.g)

    def backward(self, ggx):
        gy, w = self.inputs
        g_gy = Conv(self.g)(ggx, w) if self.needs_input_grad[0] else None
        g_w = ConvGradWeight(self.g)(ggx, gy) if self.needs_input_grad[1] else None
        return g_gy, g_w


class ConvGradWeight(Function):
    """gw = grad_weight(x, gy): sum over images and positions of gy times the
    receptive field it saw, i.e. columns (G, K, n*P) @ gy (G, n*P, Fg), summed
    over chunks of images."""

    save_inputs, save_outputs = True, False

    def __init__(self, geometry):
        self.g = geometry

    def forward(self, x, gy):
        return convolve_grad_weight(x, gy, self.g)

    def backward(self, ggw):
        x, gy = self.inputs
        g_x = ConvTranspose(self.g)(gy, ggw) if self.needs_input_grad[0] else None
        g_gy = Conv(self.g)(x, ggw) if self.needs_input_grad[1] else None
        return g_x, g_gy


# ------------------------------------------------------------------ wrappers
_KERNEL = {1: "KL", 2: "KH, KW", 3: "KD, KH, KW"}




def _check_tensors(op, N, x, weight, bias, weight_layout):
    if weight.ndim != N + 2:
        raise ValueError(f"{op}: weight must be {N + 2}-D {weight_layout}, got shape {weight.shape}")
    tensors = [("input", x), ("weight", weight)] + ([("bias", bias)] if bias is not None else [])
    if len({t.dtype for _, t in tensors}) > 1:
        described = ", ".join(f"{name} {t.dtype}" for name, t in tensors)
        raise ValueError(f"{op}: dtypes differ ({described}); convert them to one dtype, "
                         "e.g. weight.astype(x.dtype)")


def _check_groups(op, groups, channels):
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    for name, count in channels:
        if count % groups:
            raise ValueError(f"{op}: {name} ({count}) must be divisible by groups ({groups})")


def _check_bias(op, bias, channels):
    if bias is not None and bias.shape != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},), one value per output "
                         f"channel, got {bias.shape}")


def _string_padding(op, padding, N, kernel, stride, dilation):
    """padding='valid' or 'same' -> (padding per side, outputs to drop at the start).

    'same' pads d*(k-1) in total; when that is odd PyTorch puts the extra
    one at the end. Padding both sides by the larger half and dropping the
    first output does the same: every output then reads the window that
    starts one position later."""
    if padding == "valid":
        return (0,) * N, (0,) * N
    if padding != "same":
        raise ValueError(f"{op}: padding must be an int, a tuple of {N} ints, 'valid' or "
                         f"'same', got {padding!r}")
    stride = ntuple(stride, N, "stride", op)
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride {stride}): the output could not match the input's size; "
                         "use stride 1 or give the padding as numbers")
    totals = [d * (k - 1) for d, k in zip(ntuple(dilation, N, "dilation", op), kernel)]
    return tuple(t - t // 2 for t in totals), tuple(t % 2 for t in totals)


def _conv(op, N, x, weight, bias, stride, padding, dilation, groups):
    """conv1d/2d/3d: check, then one Conv (batching an unbatched input)."""
    x, weight, *rest = _as_tensors((x, weight) + (() if bias is None else (bias,)), op)
    bias = rest[0] if rest else None
    x, unbatched = batched(op, x, N)
    _check_tensors(op, N, x, weight, bias, f"(out_channels, in_channels/groups, {_KERNEL[N]})")
    F, C = weight.shape[0], x.shape[1]
    _check_groups(op, groups, [("input channels", C), ("output channels", F)])
    if weight.shape[1] * groups != C:
        raise ValueError(f"{op}: the input has {C} channels but weight {weight.shape} expects "
                         f"weight.shape[1] * groups = {weight.shape[1]} * {groups} = "
                         f"{weight.shape[1] * groups}; the weight must be (out_channels, "
                         f"{C // groups if C % groups == 0 else 'C/groups'}, {_KERNEL[N]})")
    _check_bias(op, bias, F)
    drop = (0,) * N
    if isinstance(padding, str):
        padding, drop = _string_padding(op, padding, N, weight.shape[2:], stride, dilation)
    g = geometry(op, x.shape[2:], weight.shape[2:], stride, padding, dilation, groups)
    y = Conv(g)(x, weight) if bias is None else Conv(g)(x, weight, bias)
    if any(drop):
        y = y[(slice(None), slice(None)) + tuple(slice(d, None) for d in drop)]
    return y.squeeze(0) if unbatched else y


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation, as in PyTorch) of (N, C, L) input, or (C, L).

    weight: (F, C/groups, KL); bias: (F,) or None. stride, padding (zeros
    on each side, or 'valid' / 'same'), dilation: int or (one,).
    Returns (N, F, OL) with OL = (L + 2*PL - DL*(KL-1) - 1) // SL + 1."""
    return _conv("conv1d", 1, x, weight, bias, stride, padding, dilation, groups)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in PyTorch) of NCHW input, or (C, H, W).

    x: (N, C, H, W); weight: (F, C/groups, KH, KW); bias: (F,) or None.
    stride, padding (zeros on each side), dilation: int or (vertical, horizontal).
    padding may also be 'valid' (none) or 'same' (output as large as the input;
    stride 1 only; an odd total puts the extra row/column at the end, as PyTorch).
    groups: split channels into independent groups (groups=C is depthwise).
    Returns (N, F, OH, OW) with OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1."""
    return _conv("conv2d", 2, x, weight, bias, stride, padding, dilation, groups)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation, as in PyTorch) of (N, C, D, H, W) input, or (C, D, H, W).

    weight: (F, C/groups, KD, KH, KW); bias: (F,) or None. stride, padding
    (or 'valid' / 'same'), dilation: int or (depth, vertical, horizontal).
    Each output size is (n + 2*p - d*(k-1) - 1) // s + 1, as in conv2d."""
    return _conv("conv3d", 3, x, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op, N, x, weight, bias, stride, padding, output_padding, groups, dilation):
    """conv_transpose1d/2d/3d: the input gradient of the convolution that maps
    the output's size back to x's."""
    x, weight, *rest = _as_tensors((x, weight) + (() if bias is None else (bias,)), op)
    bias = rest[0] if rest else None
    x, unbatched = batched(op, x, N)
    _check_tensors(op, N, x, weight, bias, f"(in_channels, out_channels/groups, {_KERNEL[N]})")
    C_in = x.shape[1]
    _check_groups(op, groups, [("input channels", C_in)])
    if weight.shape[0] != C_in:
        raise ValueError(f"{op}: the input has {C_in} channels but weight {weight.shape} expects "
                         f"weight.shape[0] = {weight.shape[0]}; the weight must be (in_channels, "
                         f"out_channels/groups, {_KERNEL[N]})")
    C_out = weight.shape[1] * groups
    _check_bias(op, bias, C_out)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of {N} ints (PyTorch has no "
                         f"'same'/'valid' for transposed convolutions), got {padding!r}")
    kernel, stride_, padding_, dilation_, extra = (
        ntuple(v, N, name, op) for v, name in
        [(weight.shape[2:], "kernel_size"), (stride, "stride"), (padding, "padding"),
         (dilation, "dilation"), (output_padding, "output_padding")])
    for o, s, d in zip(extra, stride_, dilation_):
        if not 0 <= o < max(s, d):
            raise ValueError(f"{op}: output_padding {extra} must be smaller than either stride "
                             f"{stride_} or dilation {dilation_} (and non-negative)")
    out_size = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o in
                     zip(x.shape[2:], stride_, padding_, dilation_, kernel, extra))
    if min(out_size) < 1:
        raise ValueError(f"{op}: an input of spatial size {x.shape[2:]} with kernel {kernel}, "
                         f"stride {stride_}, padding {padding_} gives an empty output {out_size}; "
                         "reduce the padding")
    # The convolution whose input gradient this is maps out_size back to x's size.
    g = geometry(op, out_size, kernel, stride_, padding_, dilation_, groups)
    assert g.out_size == x.shape[2:], (g, x.shape)
    y = ConvTranspose(g)(x, weight)
    if bias is not None:
        y = y + bias.reshape((1, C_out) + (1,) * N)                     # (N, C_out, OH, OW)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 1-D convolution: the adjoint of conv1d in its input.

    x: (N, C_in, L) or (C_in, L); weight: (C_in, C_out/groups, KL) as in PyTorch.
    Output length OL = (L - 1)*SL - 2*PL + DL*(KL - 1) + output_padding + 1."""
    return _conv_transpose("conv_transpose1d", 1, x, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution ("deconvolution"): the adjoint of conv2d in its input.

    x: (N, C_in, H, W) or (C_in, H, W); weight: (C_in, C_out/groups, KH, KW) as in PyTorch.
    Output (N, C_out, OH, OW) with
        OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + output_padding + 1,
    where output_padding (smaller than stride or dilation) picks among the
    input sizes that a stride-SH convolution maps to the same H."""
    return _conv_transpose("conv_transpose2d", 2, x, weight, bias, stride, padding,
                           output_padding, groups, dilation)


def conv_transpose3d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 3-D convolution: the adjoint of conv3d in its input.

    x: (N, C_in, D, H, W) or (C_in, D, H, W); weight: (C_in, C_out/groups, KD, KH, KW).
    Each output size is (n - 1)*s - 2*p + d*(k - 1) + output_padding + 1."""
    return _conv_transpose("conv_transpose3d", 3, x, weight, bias, stride, padding,
                           output_padding, groups, dilation)
