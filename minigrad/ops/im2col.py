"""im2col and col2im, tuned: the array plumbing under convolution and pooling.

Read `conv_simple.py` first: it has the same im2col and col2im in about 40
lines, and conv2d's forward and backward as three matrix products on them.
This file computes the same columns (the tests check them equal, value for
value) in a layout and with bookkeeping chosen for speed: channels-first
columns so one matrix product covers a whole chunk of images, cache-sized
chunks, reused scratch memory, and wider columns for stride 1.

Raw arrays only, no autograd: `conv.py` and `pool.py` build their
differentiable Functions on top of these helpers.

A convolution becomes one matrix product once every receptive field of the
input is copied into a column: `im2col` makes that copy, and `col2im` is its
adjoint (it adds every column back where it came from, summing where
receptive fields overlap). Both loop over the KH*KW kernel taps, each tap one
strided slice that covers all images and all output positions at once; never
a Python loop over output positions or images.

Notation
--------
    N, n      batch size; n images in one chunk of the batch
    C, F      input and output channels (F for filters)
    G         groups; Cg = C/G input and Fg = F/G output channels per group
    H, W      input height and width
    HP, WP    height and width after zero padding: HP = H + 2*PH
    KH, KW    kernel height and width
    SH, SW    stride
    PH, PW    padding added on each side
    DH, DW    dilation (distance between kernel taps)
    OH, OW    output height and width: OH = (H + 2*PH - DH*(KH-1) - 1) // SH + 1
    K         Cg*KH*KW, the length of one column (one receptive field of a group)
    P         OH*OW, output positions per image

Columns are laid out (C, KH, KW, n, OH, OW), which is the matrix
(G, K, n*P): a chunk's convolution is then the single (batched over groups)
product  W (G, Fg, K) @ col (G, K, n*P) -> (G, Fg, n*P), one large product
where conv_simple's per-image layout (N, G, K, P) makes N small ones. (Stride-1
convolutions may use a slightly wider grid of positions, see `use_wide`.)

Memory: columns are KH*KW times larger than the input, so on the CPU they are
built for a few images at a time (`batch_chunks`): a few MB that are still in
cache when the matrix product reads them, and small enough that the allocator
reuses the same memory every time instead of mapping fresh pages.
"""
import math
import threading
from typing import NamedTuple

import numpy as np

from .. import backend, kernels

# Columns of about this many bytes per chunk. Measured on the LeNet and VGG
# layers (2-core AMD EPYC, 2 MB of L2 per core, 32 MB of L3): 2-4 MB is
# fastest; whole-batch columns (up to 150 MB) were 20-40% slower, and 1 MB
# chunks pay more per-call overhead in the matrix products.
CHUNK_BYTES = 4 << 20


def pair(value, name, op):
    """An int or a pair of ints -> a tuple (vertical, horizontal)."""
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    try:
        a, b = value
        if isinstance(a, (int, np.integer)) and isinstance(b, (int, np.integer)):
            return (int(a), int(b))
    except (TypeError, ValueError):
        pass
    raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


class Geometry(NamedTuple):
    """Everything about a sliding window but the data: sizes, stride, padding."""
    in_size: tuple    # (H, W)
    kernel: tuple     # (KH, KW)
    stride: tuple     # (SH, SW)
    padding: tuple    # (PH, PW)
    dilation: tuple   # (DH, DW)
    out_size: tuple   # (OH, OW)
    groups: int = 1

    @property
    def padded_size(self):
        return tuple(n + 2 * p for n, p in zip(self.in_size, self.padding))

    @property
    def overlapping(self):
        """True when two windows can share an input element (stride < extent)."""
        return any(s < d * (k - 1) + 1 for s, k, d in zip(self.stride, self.kernel, self.dilation))


def geometry(op, in_size, kernel, stride, padding, dilation=1, groups=1):
    """Validate a sliding-window configuration and compute its output size.

    Every error names the op, the sizes involved and what to change."""
    kernel = pair(kernel, "kernel_size", op)
    stride = pair(stride, "stride", op)
    padding = pair(padding, "padding", op)
    dilation = pair(dilation, "dilation", op)
    if min(kernel) < 1:
        raise ValueError(f"{op}: kernel size must be at least 1, got {kernel}")
    if min(stride) < 1:
        raise ValueError(f"{op}: stride must be at least 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    if min(dilation) < 1:
        raise ValueError(f"{op}: dilation must be at least 1, got {dilation}")
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + 2 * p for n, p in zip(in_size, padding))
    if any(e > p for e, p in zip(extent, padded)):
        what = f"kernel {kernel}" + (f" with dilation {dilation} (extent {extent})"
                                     if max(dilation) > 1 else "")
        raise ValueError(f"{op}: {what} is larger than the input of spatial size "
                         f"{tuple(in_size)} padded by {padding} to {padded}; use a smaller "
                         "kernel or more padding, or check the input size")
    out = tuple((p - e) // s + 1 for p, e, s in zip(padded, extent, stride))
    return Geometry(tuple(in_size), kernel, stride, padding, dilation, out, groups)


def tap_slices(g):
    """For each kernel tap (i, j), in row-major order, the slices of the padded
    input that it reads at every output position: rows i*DH, i*DH + SH, ..."""
    (KH, KW), (SH, SW), (DH, DW), (OH, OW) = g.kernel, g.stride, g.dilation, g.out_size
    return [(slice(i * DH, i * DH + SH * (OH - 1) + 1, SH),
             slice(j * DW, j * DW + SW * (OW - 1) + 1, SW))
            for i in range(KH) for j in range(KW)]


def pad(x, g, value=0.0):
    """Pad the last two axes by g.padding with `value` (x itself if no padding)."""
    (PH, PW), (H, W) = g.padding, x.shape[-2:]
    if PH == 0 and PW == 0:
        return x
    out = np.full_like(x, value, shape=x.shape[:-2] + (H + 2 * PH, W + 2 * PW), order="C")
    out[..., PH:PH + H, PW:PW + W] = x
    return out


def crop(x_padded, g):
    """Undo `pad`: the interior of the last two axes (a view)."""
    (PH, PW), (H, W) = g.padding, g.in_size
    return x_padded[..., PH:PH + H, PW:PW + W]


# ------------------------------------------------------------ scratch memory
# The chunk loops need the same few MB of temporary memory over and over.
# Allocated afresh each time, buffers of that size make glibc return pages to
# the OS and fault them back in on the next use (measured: 2,800 minor page
# faults per LeNet training step, none left with these buffers). So each loop
# reuses one buffer per purpose ("tag") and thread. A scratch array is valid until the
# next request with the same tag: never return one or save it for backward.
_scratch = threading.local()


def scratch(tag, shape, like, zero=False):
    """An array of `shape` and `like`'s dtype, reused from the previous call
    with this tag (uninitialized, or zeros with zero=True)."""
    nbytes = math.prod(shape) * like.itemsize
    if not backend.is_host_array(like) or nbytes > 8 * CHUNK_BYTES:
        # GPU memory is pooled by CuPy already; huge buffers are not kept.
        return (np.zeros_like if zero else np.empty_like)(like, shape=shape, order="C")
    buffer = getattr(_scratch, tag, None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = np.empty(nbytes, np.uint8)
        setattr(_scratch, tag, buffer)
    out = buffer[:nbytes].view(like.dtype).reshape(shape)
    if zero:
        out.fill(0)
    return out


def batch_chunks(x, bytes_per_image):
    """Slices of the batch axis, each holding about CHUNK_BYTES of columns.

    On the GPU the whole batch is one chunk: CuPy pools its memory, and one
    big matrix product keeps the device busier than many small ones."""
    N = x.shape[0]
    if not backend.is_host_array(x):
        return [slice(0, N)]
    per_chunk = max(1, CHUNK_BYTES // max(1, bytes_per_image))
    return [slice(start, min(N, start + per_chunk)) for start in range(0, N, per_chunk)]


# ------------------------------------------------------------- the columns
# Two layouts. The exact one holds exactly the OH*OW receptive fields. For
# stride 1 there is a faster "wide" one: compute outputs on an OH x WP grid,
# i.e. also at the WP - OW positions past the right edge (their values are
# garbage and get dropped). Then the receptive-field entry of tap (i, j) at
# output (oh, ow) sits at flat index (oh + i*DH)*WP + ow + j*DW of the padded
# image: one contiguous run of OH*WP values per channel and image, copied
# about 2.5x faster than OH separate rows of OW values. The price is WP/OW
# times more work in the matrix product, which grows with the number of
# output channels Fg, so the wide layout is used where it is cheaper:
#   WP/OW * (4.5 + Fg) < 20 + Fg
# i.e. a value of exact columns costs about as much as 20 multiply-adds and
# one of wide columns 4.5 (fitted to the LeNet and VGG layers on a 2-core
# AMD EPYC: wide wins for 5x5 on 14x14 with Fg=16, loses for 3x3 on 8x8
# with Fg=128).
def use_wide(g, out_channels_per_group):
    if g.stride != (1, 1):
        return False
    ratio = g.padded_size[1] / g.out_size[1]
    return ratio * (4.5 + out_channels_per_group) < 20 + out_channels_per_group


def grid(g, wide):
    """(rows, columns) of the grid of output positions the columns cover."""
    return (g.out_size[0], g.padded_size[1] if wide else g.out_size[1])


def column_bytes(g, channels, itemsize, wide=False):
    """Bytes of the columns of one image: C*KH*KW values per grid position."""
    return channels * math.prod(g.kernel) * math.prod(grid(g, wide)) * itemsize


def _padded(x_t, g, spare_row):
    """(C, n, H, W) -> zero-padded (C, n, HP (+ 1), WP) scratch. The spare
    zero row keeps the last tap's run of the wide layout inside the array."""
    C, n, H, W = x_t.shape
    (PH, PW), (HP, WP) = g.padding, g.padded_size
    out = scratch("padded", (C, n, HP + spare_row, WP), x_t, zero=True)
    out[:, :, PH:PH + H, PW:PW + W] = x_t
    return out


def im2col(x, g, wide=False):
    """(n, C, H, W) -> columns (G, K, n*GH*GW), K = Cg*KH*KW, grid (GH, GW) = grid(g, wide).

    The columns are scratch memory: valid until the next im2col call."""
    if kernels.use_for(x):  # on a GPU, all taps in one kernel (same columns)
        return kernels.im2col(x, g, wide)
    n, C = x.shape[:2]
    (KH, KW), (DH, DW), (GH, GW) = g.kernel, g.dilation, grid(g, wide)
    col = scratch("columns", (C, KH * KW, n, GH * GW), x)
    # Channels first: each tap then writes one contiguous (C, n, GH*GW) block.
    x_t = x.transpose(1, 0, 2, 3)                             # (C, n, H, W)
    if wide:
        flat = _padded(x_t, g, spare_row=1).reshape(C, n, -1)  # (C, n, (HP+1)*WP)
        for tap in range(KH * KW):
            start = (tap // KW) * DH * GW + (tap % KW) * DW
            col[:, tap] = flat[:, :, start:start + GH * GW]   # (C, n, OH*WP)
    else:
        x_padded = _padded(x_t, g, spare_row=0) if max(g.padding) else x_t  # (C, n, HP, WP)
        col = col.reshape(C, KH * KW, n, GH, GW)              # (C, KH*KW, n, OH, OW)
        for tap, (rows, cols) in enumerate(tap_slices(g)):
            col[:, tap] = x_padded[:, :, rows, cols]          # (C, n, OH, OW)
    return col.reshape(g.groups, -1, n * GH * GW)             # (G, Cg*KH*KW, n*GH*GW)


def col2im(col, g, n, wide=False):
    """Adjoint of im2col: columns (G, K, n*GH*GW) -> (n, C, H, W), overlaps summed.

    In the wide layout the columns of the extra grid positions must be zero
    (they land on real pixels). Returns a channels-first view of scratch
    memory: assign it into an (n, C, H, W) array right away."""
    # On a GPU with stride 1, one kernel: each input element sums its own entries
    # (2x faster on an H200; with stride 2 the strided additions below were faster).
    if g.stride == (1, 1) and kernels.use_for(col):
        return kernels.col2im(col, g, n, wide)
    (KH, KW), (DH, DW), (GH, GW), (HP, WP) = g.kernel, g.dilation, grid(g, wide), g.padded_size
    col = col.reshape(-1, KH * KW, n, GH * GW)                # (C, KH*KW, n, GH*GW)
    C = col.shape[0]
    x_padded = scratch("padded", (C, n, HP + 1, WP), col, zero=True)
    if wide:
        flat = x_padded.reshape(C, n, -1)                     # (C, n, (HP+1)*WP)
        for tap in range(KH * KW):
            start = (tap // KW) * DH * GW + (tap % KW) * DW
            flat[:, :, start:start + GH * GW] += col[:, tap]  # (C, n, OH*WP)
    else:
        col = col.reshape(C, KH * KW, n, GH, GW)              # (C, KH*KW, n, OH, OW)
        for tap, (rows, cols) in enumerate(tap_slices(g)):
            x_padded[:, :, rows, cols] += col[:, tap]         # (C, n, OH, OW)
    return crop(x_padded[:, :, :HP], g).transpose(1, 0, 2, 3)  # (n, C, H, W)
