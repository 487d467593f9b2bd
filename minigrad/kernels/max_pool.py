"""2-D max pooling: forward (values and winning taps) and backward (scatter to winners).

For x (N, C, H, W), window geometry g (see ops/im2col.py: kernel KH x KW,
stride, padding with -inf, dilation) and output (N, C, OH, OW):

    y[n,c,oh,ow]      = max over taps k = (i, j) of xpad[n, c, oh*SH + i*DH, ow*SW + j*DW]
    winner[n,c,oh,ow] = the k (row-major tap index) that wins: the first of equal
                        maxima, and if the window holds a NaN, y is NaN and the
                        LAST NaN tap wins (ops/max_pool.py's running_max, as PyTorch)
    dx[n,c,h,w]       = sum of dy over the windows whose winner is (h, w)

The NumPy path loops over the KH*KW taps in Python, each a pass over the whole
output (and a mask per tap in backward); here one thread per output element
scans its window, and one thread per input element gathers the (at most
ceil(KH/SH) * ceil(KW/SW)) windows that can contain it: no atomics, and the
sum runs in tap order as the NumPy path adds.

Use (ops/max_pool.py's MaxPool and MaxPoolScatter call these for 2-d
geometries; `winner` is the array MaxPool saves, uint8 when KH*KW <= 256 else
int32, the same taps in the same order as the NumPy path, so return_indices
reads it alike):
    y, winner = max_pool2d_forward(x, g)
    gx = max_pool2d_backward(gy, winner, g)

Dilation and ceil_mode need nothing extra: a tap outside the input (padding,
or a ceil_mode window's overhang) reads -inf, and g.out_size counts the windows.
1-d and 3-d pooling stay on the NumPy path (these kernels are 2-d only).
"""
import math

import numpy as np

from . import build

_CODE = r"""
// I: the winner's type (unsigned char or int); X: the index type, int where every
// index fits (64-bit division is several times slower on the GPU), else long long.
template <typename T, typename I, typename X>
__global__ void max_pool_forward(const T* x, T* y, I* winner, X total,
                                 int H, int W, int OH, int OW, int KH, int KW,
                                 int SH, int SW, int PH, int PW, int DH, int DW) {
    for (X o = blockIdx.x * (X)blockDim.x + threadIdx.x; o < total; o += (X)blockDim.x * gridDim.x) {
        const int ow = o % OW, oh = (o / OW) % OH;
        const T* plane = x + (o / ((X)OH * OW)) * H * W;   // image n, channel c
        T best = 0;
        int best_tap = 0;
        for (int i = 0; i < KH; ++i) {
            const int h = oh * SH + i * DH - PH;
            for (int j = 0; j < KW; ++j) {
                const int w = ow * SW + j * DW - PW;
                const int tap = i * KW + j;
                // padding reads as -inf
                const T v = (h >= 0 && h < H && w >= 0 && w < W)
                    ? plane[(long long)h * W + w] : (T)__longlong_as_double(0xfff0000000000000ULL);
                // tap 0 starts; a strictly larger value wins (ties: first); any NaN wins
                // (a later NaN replaces an earlier one: the last NaN is the winner)
                if (tap == 0 || v > best || v != v) { best = v; best_tap = tap; }
            }
        }
        y[o] = best;
        winner[o] = (I)best_tap;
    }
}

template <typename T, typename I, typename X>
__global__ void max_pool_backward(const T* gy, const I* winner, T* gx, X total,
                                  int H, int W, int OH, int OW, int KH, int KW,
                                  int SH, int SW, int PH, int PW, int DH, int DW) {
    for (X e = blockIdx.x * (X)blockDim.x + threadIdx.x; e < total; e += (X)blockDim.x * gridDim.x) {
        const int w = e % W, h = (e / W) % H;
        const X plane = (e / ((X)H * W)) * OH * OW;   // image n, channel c
        const int hp = h + PH, wp = w + PW;   // in padded coordinates
        T sum = 0;
        for (int i = 0; i < KH; ++i) {
            const int rows = hp - i * DH;     // = oh * SH for a window that holds (h, w)
            if (rows < 0 || rows % SH != 0 || rows / SH >= OH) continue;
            for (int j = 0; j < KW; ++j) {
                const int cols = wp - j * DW;
                if (cols < 0 || cols % SW != 0 || cols / SW >= OW) continue;
                const X o = plane + (X)(rows / SH) * OW + cols / SW;
                if ((int)winner[o] == i * KW + j) sum += gy[o];
            }
        }
        gx[e] = sum;
    }
}
"""
_NAMES = tuple(f"max_pool_{direction}<{t}, {i}, {x}>" for direction in ("forward", "backward")
               for t in ("float", "double") for i in ("unsigned char", "int") for x in ("int", "long long"))


def _winner_dtype(g):
    return np.uint8 if math.prod(g.kernel) <= 256 else np.int32


def _kernel(direction, dtype, winner_dtype, small):
    winner = "unsigned char" if np.dtype(winner_dtype) == np.uint8 else "int"
    index = "int" if small else "long long"
    return build.raw_module(_CODE, _NAMES).get_function(
        f"max_pool_{direction}<{build.c_type(dtype)}, {winner}, {index}>")


def _geometry_args(g):
    (H, W), (OH, OW), (KH, KW) = g.in_size, g.out_size, g.kernel
    (SH, SW), (PH, PW), (DH, DW) = g.stride, g.padding, g.dilation
    return tuple(np.int32(v) for v in (H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW))


def _check_2d(g, what):
    if len(g.kernel) != 2:
        raise ValueError(f"{what}: the fused kernel pools 2 spatial dims, got a {len(g.kernel)}-d "
                         "geometry; use the NumPy path (ops/max_pool.py) for 1-d and 3-d")


def _launch(kernel, total, args):
    if total:
        # grid-stride loops: cap the grid, each thread takes several elements if needed
        kernel((min(build.blocks(total)[0], 1 << 21),), (build.THREADS,), args)


def max_pool2d_forward(x, g):
    """(y, winner) of max pooling x (N, C, H, W) with geometry g (ops/im2col.geometry)."""
    _check_2d(g, "max_pool2d_forward")
    cp = build.cupy()
    x = cp.ascontiguousarray(x)
    N, C = x.shape[:2]
    y = cp.empty((N, C) + tuple(g.out_size), dtype=x.dtype)
    winner = cp.empty(y.shape, dtype=_winner_dtype(g))
    small = x.size < 2**30  # every index (and index + grid stride) fits an int
    _launch(_kernel("forward", x.dtype, winner.dtype, small), y.size,
            (x, y, winner, (np.int32 if small else np.int64)(y.size)) + _geometry_args(g))
    return y, winner


def max_pool2d_backward(gy, winner, g):
    """dx (N, C, H, W): each dy[n, c, oh, ow] added at its window's winner."""
    _check_2d(g, "max_pool2d_backward")
    cp = build.cupy()
    gy = cp.ascontiguousarray(gy)
    winner = cp.ascontiguousarray(winner)
    N, C = gy.shape[:2]
    gx = cp.empty((N, C) + tuple(g.in_size), dtype=gy.dtype)
    small = gx.size < 2**30
    _launch(_kernel("backward", gy.dtype, winner.dtype, small), gx.size,
            (gy, winner, gx, (np.int32 if small else np.int64)(gx.size)) + _geometry_args(g))
    return gx
