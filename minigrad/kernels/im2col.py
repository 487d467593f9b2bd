"""im2col and col2im as one CUDA kernel each, in ops/im2col.py's column layout.

Columns are (C, KH*KW, n, GH, GW) in C order, returned as (G, Cg*KH*KW, n*GH*GW):

exact layout (grid GH x GW = OH x OW):
    col[c, i*KW + j, m, oh, ow] = xpad[m, c, oh*SH + i*DH, ow*SW + j*DW]
wide layout (stride 1 only; grid OH x WP, the padded width):
    col[c, i*KW + j, m, t]      = xpad_flat[m, c, t + i*DH*WP + j*DW],   t = oh*WP + w
    where xpad_flat is the padded image (HP + 1 rows, the last all zero) read row
    after row, so a run that passes the right edge continues on the next row.

xpad is x zero-padded by (PH, PW). col2im is the adjoint: each input element
x[m, c, h, w] sums, over the taps, the column entries that read it. The NumPy
path makes one strided copy (or strided add) per tap; here one thread per
column entry (im2col) or per input element (col2im: it gathers its at most
KH*KW contributions, so no atomics and no zero fill are needed).
"""
import numpy as np

from . import build

_CODE = r"""
template <typename T>
__global__ void im2col_kernel(const T* x, T* col, long long total, int n, int C,
                              int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
                              int DH, int DW, int GH, int GW, int WP, int wide) {
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        // e runs over (C, KH*KW, n, GH*GW) in C order
        const long long grid = (long long)GH * GW;
        const long long t = e % grid;
        const int m = (e / grid) % n;
        const int tap = (e / (grid * n)) % (KH * KW);
        const int c = e / (grid * n * KH * KW);
        const int i = tap / KW, j = tap % KW;
        long long row, column;   // in the padded image
        if (wide) {
            const long long p = t + (long long)i * DH * WP + (long long)j * DW;
            row = p / WP;
            column = p % WP;
        } else {
            row = (t / GW) * SH + (long long)i * DH;
            column = (t % GW) * SW + (long long)j * DW;
        }
        const long long h = row - PH, w = column - PW;
        col[e] = (h >= 0 && h < H && w >= 0 && w < W)
            ? x[(((long long)m * C + c) * H + h) * W + w] : (T)0;
    }
}

template <typename T>
__global__ void col2im_kernel(const T* col, T* x, long long total, int n, int C,
                              int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
                              int DH, int DW, int GH, int GW, int WP, int wide) {
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
         e += (long long)blockDim.x * gridDim.x) {
        // e runs over x (n, C, H, W) in C order
        const int w = e % W, h = (e / W) % H;
        const int c = (e / ((long long)H * W)) % C;
        const int m = e / ((long long)H * W * C);
        const long long grid = (long long)GH * GW;
        const long long hp = h + PH, wp = w + PW;   // in the padded image
        T sum = 0;
        for (int i = 0; i < KH; ++i) {
            for (int j = 0; j < KW; ++j) {
                long long t;   // the grid position whose tap (i, j) reads (hp, wp), if any
                if (wide) {
                    t = hp * WP + wp - (long long)i * DH * WP - (long long)j * DW;
                    if (t < 0 || t >= grid) continue;
                } else {
                    const long long rows = hp - (long long)i * DH, cols = wp - (long long)j * DW;
                    if (rows < 0 || cols < 0 || rows % SH || cols % SW) continue;
                    if (rows / SH >= GH || cols / SW >= GW) continue;
                    t = (rows / SH) * GW + cols / SW;
                }
                sum += col[(((long long)c * KH * KW + i * KW + j) * n + m) * grid + t];
            }
        }
        x[e] = sum;
    }
}
"""
_NAMES = ("im2col_kernel<float>", "im2col_kernel<double>",
          "col2im_kernel<float>", "col2im_kernel<double>")


def _grid(g, wide):
    """(GH, GW): ops/im2col.grid, restated so this file needs nothing from ops."""
    return (g.out_size[0], g.padded_size[1] if wide else g.out_size[1])


def _args(g, n, C, wide):
    (H, W), (KH, KW), (SH, SW) = g.in_size, g.kernel, g.stride
    (PH, PW), (DH, DW), (GH, GW) = g.padding, g.dilation, _grid(g, wide)
    values = (n, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, GH, GW, g.padded_size[1])
    return tuple(np.int32(v) for v in values + (int(wide),))


def _launch(name, out, source, g, n, C, wide):
    """Run kernel `name` with one thread per element of `out` (grid-stride beyond 2M blocks)."""
    if out.size:
        kernel = build.raw_module(_CODE, _NAMES).get_function(f"{name}<{build.c_type(out.dtype)}>")
        kernel((min(build.blocks(out.size)[0], 1 << 21),), (build.THREADS,),
               (source, out, np.int64(out.size)) + _args(g, n, C, wide))


def im2col(x, g, wide=False):
    """(n, C, H, W) -> columns (G, Cg*KH*KW, n*GH*GW), as ops/im2col.im2col."""
    cp = build.cupy()
    x = cp.ascontiguousarray(x)
    n, C = x.shape[:2]
    GH, GW = _grid(g, wide)
    col = cp.empty((C, g.kernel[0] * g.kernel[1], n, GH * GW), dtype=x.dtype)
    _launch("im2col_kernel", col, x, g, n, C, wide)
    return col.reshape(g.groups, -1, n * GH * GW)               # (G, Cg*KH*KW, n*GH*GW)


def col2im(col, g, n, wide=False):
    """Columns (G, K, n*GH*GW) -> (n, C, H, W), overlaps summed, as ops/im2col.col2im
    (a new array here, not scratch memory)."""
    cp = build.cupy()
    KH, KW = g.kernel
    GH, GW = _grid(g, wide)
    col = cp.ascontiguousarray(col).reshape(-1, KH * KW, n, GH * GW)  # (C, KH*KW, n, GH*GW)
    C = col.shape[0]
    x = cp.empty((n, C) + tuple(g.in_size), dtype=col.dtype)
    _launch("col2im_kernel", x, col, g, n, C, wide)
    return x
