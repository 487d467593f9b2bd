"""Convolution as a matrix product, in its simplest form: read this file first.

A 2-D convolution (cross-correlation, as in PyTorch) of x (N, C, H, W) with
weights w (F, Cg, KH, KW), Cg = C/G input channels per group,

    y[n, f, oh, ow] = b[f] + sum_{c,i,j} w[f, c, i, j] * x_pad[n, gf*Cg + c, oh*SH + i*DH,
                                                                 ow*SW + j*DW]

is linear in x. `im2col` copies every receptive field of x (the Cg*KH*KW
values one output reads) into a column, so that the whole convolution is one
matrix product with the weights viewed as a matrix (F, Cg*KH*KW):

    cols = im2col(x)          (N, G, K, P)    K = Cg*KH*KW, P = OH*OW
    y    = w_mat @ cols       (N, G, Fg, P)   w_mat = w as (G, Fg, K)

Backpropagation is then the matrix product rule, y = W X  =>  gW = gy X^T and
gX = W^T gy, followed by `col2im`, the adjoint of im2col: every column entry
was a copy of one input pixel, so its gradient is added back onto that pixel
(summing where receptive fields overlap). That is the whole of conv backward.

Both functions loop over the KH*KW kernel taps: tap (i, j) reads one strided
slice of the padded input, the same for every image and every output
position, so there is no Python loop over images or positions.

These functions are the teaching path; minigrad's conv2d runs the tuned
version in `im2col.py` and `conv.py` (same columns, different memory layout
and bookkeeping, see docs/convolution.md for why), which the tests check
equal to this one. The notation (G,
Fg, OH, SH, PH, DH, ...) is defined in `im2col.py`; `g` is an
`im2col.Geometry`, the validated sizes, stride, padding and dilation.

Only 2-d here, to keep it short: conv1d and conv3d are the same three matrix
products, with one or three spatial indices per tap (see `tap_slices` in
`im2col.py`).
"""
import numpy as np


def _tap(i, j, g):
    """The slices of the padded input that kernel tap (i, j) reads at every
    output position: rows i*DH, i*DH + SH, ..., i*DH + (OH-1)*SH (same for columns)."""
    (SH, SW), (DH, DW), (OH, OW) = g.stride, g.dilation, g.out_size
    return (slice(i * DH, i * DH + (OH - 1) * SH + 1, SH),
            slice(j * DW, j * DW + (OW - 1) * SW + 1, SW))


def im2col(x, g):
    """(N, C, H, W) -> columns (N, G, K, P): column p of image n, group gr holds
    the receptive field of output position p, in (c, i, j) order."""
    N, C = x.shape[:2]
    (KH, KW), (PH, PW), (OH, OW) = g.kernel, g.padding, g.out_size
    x_pad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))       # (N, C, HP, WP)
    cols = np.empty_like(x, shape=(N, C, KH, KW, OH, OW))
    for i in range(KH):
        for j in range(KW):
            rows, columns = _tap(i, j, g)
            cols[:, :, i, j] = x_pad[:, :, rows, columns]             # (N, C, OH, OW)
    return cols.reshape(N, g.groups, C // g.groups * KH * KW, OH * OW)  # (N, G, K, P)


def col2im(cols, g):
    """Adjoint of im2col: columns (N, G, K, P) -> (N, C, H, W), adding every
    entry back onto the pixel it was copied from."""
    N = cols.shape[0]
    (H, W), (KH, KW), (PH, PW), (OH, OW) = g.in_size, g.kernel, g.padding, g.out_size
    cols = cols.reshape(N, -1, KH, KW, OH, OW)                       # (N, C, KH, KW, OH, OW)
    C = cols.shape[1]
    x_pad = np.zeros_like(cols, shape=(N, C, H + 2 * PH, W + 2 * PW))  # (N, C, HP, WP)
    for i in range(KH):
        for j in range(KW):
            rows, columns = _tap(i, j, g)
            x_pad[:, :, rows, columns] += cols[:, :, i, j]            # (N, C, OH, OW)
    return x_pad[:, :, PH:PH + H, PW:PW + W]                          # (N, C, H, W)


def conv2d(x, w, b, g):
    """y = conv(x, w) + b: (N, C, H, W), (F, Cg, KH, KW), (F,) or None -> (N, F, OH, OW)."""
    N, F = x.shape[0], w.shape[0]
    w_mat = w.reshape(g.groups, F // g.groups, -1)                   # (G, Fg, K)
    y = w_mat @ im2col(x, g)                                         # (N, G, Fg, P)
    y = y.reshape((N, F) + g.out_size)                               # (N, F, OH, OW)
    return y if b is None else y + b.reshape(1, F, 1, 1)


def conv2d_backward(x, w, gy, g):
    """Gradients (gx, gw, gb) of sum(gy * conv2d(x, w, b)) for upstream gradient gy."""
    N, F = gy.shape[:2]
    gy_mat = gy.reshape(N, g.groups, F // g.groups, -1)               # (N, G, Fg, P)
    w_mat = w.reshape(g.groups, F // g.groups, -1)                   # (G, Fg, K)
    cols = im2col(x, g)                                              # (N, G, K, P)
    # y = W X per image and group, so gW = gy X^T, summed over the images ...
    gw = (gy_mat @ cols.swapaxes(-1, -2)).sum(axis=0)                # (G, Fg, K)
    # ... and gX = W^T gy, whose entries col2im adds back onto the input pixels.
    g_cols = w_mat.swapaxes(-1, -2) @ gy_mat                          # (N, G, K, P)
    gx = col2im(g_cols, g)                                           # (N, C, H, W)
    gb = gy.sum(axis=(0, 2, 3))                                      # (F,)
    return gx, gw.reshape(w.shape), gb
