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

The notation is 2-d's; every helper here works for N = 1, 2 or 3 spatial
dimensions alike (a Geometry's fields are N-tuples: (L,), (H, W) or
(D, H, W)), with prod(kernel) taps in place of KH*KW and prod(out_size)
positions in place of OH*OW. Only the wide layout and the CUDA kernels are
2-d only.

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
import itertools
import math
import threading
from typing import NamedTuple

import numpy as np

from .. import backend, kernels
from ..threads import batch_slices

# Columns of about this many bytes per chunk. Measured on the LeNet and VGG
# layers (2-core AMD EPYC, 2 MB of L2 per core, 32 MB of L3): 2-4 MB is
# fastest; whole-batch columns (up to 150 MB) were 20-40% slower, and 1 MB
# chunks pay more per-call overhead in the matrix products.
CHUNK_BYTES = 4 << 20


def ntuple(value, n, name, op):
    """An int or a sequence of n ints -> an n-tuple (one entry per spatial dim)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    try:
        values = tuple(value)
    except TypeError:
        values = None
    if values is not None and len(values) == n and all(isinstance(v, (int, np.integer))
                                                       for v in values):
        return tuple(int(v) for v in values)
    what = {1: "a sequence of 1 int", 2: "a pair of ints", 3: "a triple of ints"}.get(
        n, f"a sequence of {n} ints")
    raise ValueError(f"{op}: {name} must be an int or {what} (one per spatial dimension), "
                     f"got {value!r}")


def pair(value, name, op):
    """An int or a pair of ints -> a tuple (vertical, horizontal)."""
    return ntuple(value, 2, name, op)


class Geometry(NamedTuple):
    """Everything about a sliding window but the data: sizes, stride, padding.

    Each field but `groups` holds one entry per spatial dimension: (L,) for 1-d,
    (H, W) for 2-d, (D, H, W) for 3-d."""
    in_size: tuple    # (H, W)
    kernel: tuple     # (KH, KW)
    stride: tuple     # (SH, SW)
    padding: tuple    # (PH, PW)
    dilation: tuple   # (DH, DW)
    out_size: tuple   # (OH, OW)
    groups: int = 1

    @property
    def extent(self):
        """The span of one window: D*(K-1) + 1 per dimension."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))

    @property
    def padded_size(self):
        """n + 2p per dimension, or more when ceil_mode lets the last window
        hang over the end: it then reads (out-1)*s + extent values."""
        return tuple(max(n + 2 * p, (o - 1) * s + e) for n, p, o, s, e in
                     zip(self.in_size, self.padding, self.out_size, self.stride, self.extent))

    @property
    def overlapping(self):
        """True when two windows can share an input element (stride < extent)."""
        return any(s < e for s, e in zip(self.stride, self.extent))


def geometry(op, in_size, kernel, stride, padding, dilation=1, groups=1, ceil_mode=False):
    """Validate a sliding-window configuration and compute its output size.

    N = len(in_size) spatial dimensions; kernel, stride, padding, dilation are
    ints or N-tuples. The output size per dimension is

        out = floor((n + 2p - extent) / s) + 1        extent = d*(k - 1) + 1

    or, with ceil_mode (pooling's), ceil instead of floor, minus 1 if that
    last window would start past the input and the left padding (PyTorch's rule:
    every window must start inside the input or the left padding).

    Every error names the op, the sizes involved and what to change."""
    N = len(in_size)
    kernel = ntuple(kernel, N, "kernel_size", op)
    stride = ntuple(stride, N, "stride", op)
    padding = ntuple(padding, N, "padding", op)
    dilation = ntuple(dilation, N, "dilation", op)
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
    if ceil_mode:
        out = tuple(-((e - q) // s) + 1 for q, e, s in zip(padded, extent, stride))  # ceil
        out = tuple(o - 1 if (o - 1) * s >= n + p else o
                    for o, s, n, p in zip(out, stride, in_size, padding))
    else:
        out = tuple((q - e) // s + 1 for q, e, s in zip(padded, extent, stride))
    return Geometry(tuple(int(n) for n in in_size), kernel, stride, padding, dilation, out, groups)


def tap_slices(g):
    """For each kernel tap, in row-major order, the N-tuple of slices of the
    padded input that it reads at every output position. In 2-d, tap (i, j)
    reads rows i*DH, i*DH + SH, ... and columns j*DW, j*DW + SW, ..."""
    per_dim = [[slice(i * d, i * d + s * (o - 1) + 1, s) for i in range(k)]
               for k, s, d, o in zip(g.kernel, g.stride, g.dilation, g.out_size)]
    return list(itertools.product(*per_dim))


def pad(x, g, value=0.0):
    """Pad the last N axes with `value` by g.padding before and the rest of
    g.padded_size after (x itself if nothing to add)."""
    N = len(g.in_size)
    if g.padded_size == tuple(x.shape[-N:]):
        return x
    out = np.full_like(x, value, shape=x.shape[:-N] + g.padded_size, order="C")
    out[(...,) + _interior(g)] = x
    return out


def _interior(g):
    """The slices of the padded spatial axes that hold the input."""
    return tuple(slice(p, p + n) for p, n in zip(g.padding, g.in_size))


def crop(x_padded, g):
    """Undo `pad`: the interior of the last N axes (a view)."""
    return x_padded[(...,) + _interior(g)]


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
    return batch_slices(x, CHUNK_BYTES, row_bytes=bytes_per_image)


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
    if g.stride != (1, 1):  # also False for 1-d and 3-d: the wide layout is 2-d only
        return False
    ratio = g.padded_size[1] / g.out_size[1]
    return ratio * (4.5 + out_channels_per_group) < 20 + out_channels_per_group


def grid(g, wide):
    """The grid of output positions the columns cover: out_size, or in 2-d with
    the wide layout (OH, WP)."""
    return (g.out_size[0], g.padded_size[1]) if wide else g.out_size


def column_bytes(g, channels, itemsize, wide=False):
    """Bytes of the columns of one image: C*prod(kernel) values per grid position."""
    return channels * math.prod(g.kernel) * math.prod(grid(g, wide)) * itemsize


def _padded(x_t, g, spare_row):
    """(C, n, *in_size) -> zero-padded (C, n, *padded_size) scratch, the first
    spatial axis one longer with spare_row. The spare zero row keeps the last
    tap's run of the wide layout inside the array."""
    C, n = x_t.shape[:2]
    first, *rest = g.padded_size
    out = scratch("padded", (C, n, first + spare_row, *rest), x_t, zero=True)
    out[(slice(None), slice(None)) + _interior(g)] = x_t
    return out


def im2col(x, g, wide=False):
    """(n, C, *in_size) -> columns (G, K, n*prod(grid)), K = Cg*prod(kernel),
    grid = grid(g, wide) (in 2-d: (n, C, H, W) -> (G, Cg*KH*KW, n*GH*GW)).

    The columns are scratch memory: valid until the next im2col call."""
    if len(g.kernel) == 2 and kernels.use_for(x):  # on a GPU, all taps in one kernel (same columns)
        return kernels.im2col(x, g, wide)
    n, C = x.shape[:2]
    taps, cells = math.prod(g.kernel), math.prod(grid(g, wide))
    col = scratch("columns", (C, taps, n, cells), x)
    # Channels first: each tap then writes one contiguous (C, n, *grid) block.
    x_t = x.swapaxes(0, 1)                                    # (C, n, H, W)
    if wide:  # 2-d only
        (KH, KW), (DH, DW), (GH, GW) = g.kernel, g.dilation, grid(g, wide)
        flat = _padded(x_t, g, spare_row=1).reshape(C, n, -1)  # (C, n, (HP+1)*WP)
        for tap in range(KH * KW):
            start = (tap // KW) * DH * GW + (tap % KW) * DW
            col[:, tap] = flat[:, :, start:start + GH * GW]   # (C, n, OH*WP)
    else:
        x_padded = _padded(x_t, g, spare_row=0) if max(g.padding) else x_t  # (C, n, HP, WP)
        col = col.reshape((C, taps, n) + g.out_size)          # (C, KH*KW, n, OH, OW)
        every = (slice(None), slice(None))
        for tap, slices in enumerate(tap_slices(g)):
            col[:, tap] = x_padded[every + slices]            # (C, n, OH, OW)
    return col.reshape(g.groups, -1, n * cells)               # (G, Cg*KH*KW, n*GH*GW)


def col2im(col, g, n, wide=False):
    """Adjoint of im2col: columns (G, K, n*prod(grid)) -> (n, C, *in_size), overlaps summed.

    In the wide layout the columns of the extra grid positions must be zero
    (they land on real pixels). Returns a channels-first view of scratch
    memory: assign it into an (n, C, *in_size) array right away."""
    # On a GPU with stride 1, one kernel: each input element sums its own entries
    # (2x faster on an H200; with stride 2 the strided additions below were faster).
    if g.stride == (1, 1) and kernels.use_for(col):  # (1, 1): 2-d only, as the kernel
        return kernels.col2im(col, g, n, wide)
    taps, cells = math.prod(g.kernel), math.prod(grid(g, wide))
    col = col.reshape(-1, taps, n, cells)                     # (C, KH*KW, n, GH*GW)
    C, (first, *rest) = col.shape[0], g.padded_size
    x_padded = scratch("padded", (C, n, first + 1, *rest), col, zero=True)  # a spare row for wide
    if wide:  # 2-d only
        (KH, KW), (DH, DW), (GH, GW) = g.kernel, g.dilation, grid(g, wide)
        flat = x_padded.reshape(C, n, -1)                     # (C, n, (HP+1)*WP)
        for tap in range(KH * KW):
            start = (tap // KW) * DH * GW + (tap % KW) * DW
            flat[:, :, start:start + GH * GW] += col[:, tap]  # (C, n, OH*WP)
    else:
        col = col.reshape((C, taps, n) + g.out_size)          # (C, KH*KW, n, OH, OW)
        every = (slice(None), slice(None))
        for tap, slices in enumerate(tap_slices(g)):
            x_padded[every + slices] += col[:, tap]           # (C, n, OH, OW)
    return crop(x_padded[:, :, :first], g).swapaxes(0, 1)    # (n, C, H, W)
