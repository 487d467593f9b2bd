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
grid position writes its KH*KW column entries (im2col), and one thread per
input element gathers its at most KH*KW contributions (col2im: no atomics, no
zero fill).
"""
import numpy as np

from . import build

_CODE = r"""
// I: the index type, int where every index fits (64-bit division is several
// times slower on the GPU), long long for arrays of 2^31 elements or more.
template <typename T, typename I>
__global__ void im2col_kernel(const T* x, T* col, I total, I n, I C,
                              I H, I W, I KH, I KW, I SH, I SW, I PH, I PW,
                              I DH, I DW, I GH, I GW, I WP, int wide) {
    // One thread per (channel c, image m, grid position t), writing all KH*KW taps:
    // the index arithmetic (integer division is slow on the GPU) is done once.
    const I grid = GH * GW;
    for (I e = blockIdx.x * (I)blockDim.x + threadIdx.x; e < total; e += (I)blockDim.x * gridDim.x) {
        // e runs over (C, n, GH*GW) in C order
        const I t = e % grid;
        const I m = (e / grid) % n;
        const I c = e / (grid * n);
        const T* image = x + (m * C + c) * H * W;
        T* out = col + (c * KH * KW * n + m) * grid + t;   // tap 0; each tap is n*grid further
        // the padded coordinates tap (0, 0) reads
        const I row0 = wide ? t / WP : (t / GW) * SH, column0 = wide ? t % WP : (t % GW) * SW;
        for (I i = 0; i < KH; ++i) {
            for (I j = 0; j < KW; ++j) {
                I row = row0 + i * DH, column = column0 + j * DW;
                if (wide && column >= WP) { row += 1; column -= WP; }   // the run wraps onto the next row
                const I h = row - PH, w = column - PW;
                out[(i * KW + j) * n * grid] =
                    (h >= 0 && h < H && w >= 0 && w < W) ? image[h * W + w] : (T)0;
            }
        }
    }
}

template <typename T, typename I>
__global__ void col2im_kernel(const T* col, T* x, I total, I n, I C,
                              I H, I W, I KH, I KW, I SH, I SW, I PH, I PW,
                              I DH, I DW, I GH, I GW, I WP, int wide) {
    const I grid = GH * GW;
    for (I e = blockIdx.x * (I)blockDim.x + threadIdx.x; e < total; e += (I)blockDim.x * gridDim.x) {
        // e runs over x (n, C, H, W) in C order
        const I w = e % W, h = (e / W) % H;
        const I c = (e / (H * W)) % C;
        const I m = e / (H * W * C);
        const I hp = h + PH, wp = w + PW;   // in the padded image
        const T* in = col + (c * KH * KW * n + m) * grid;   // tap 0; each tap is n*grid further
        T sum = 0;
        for (I i = 0; i < KH; ++i) {
            const I rows = hp - i * DH;   // = oh * SH for a window of tap row i that holds (h, w)
            // stride 1 (the common case) needs no division
            if (!wide && (rows < 0 || (SH != 1 && rows % SH) || (SH == 1 ? rows : rows / SH) >= GH))
                continue;
            const I oh_base = wide ? 0 : (SH == 1 ? rows : rows / SH) * GW;
            for (I j = 0; j < KW; ++j) {
                I t;   // the grid position whose tap (i, j) reads (hp, wp), if any
                if (wide) {
                    t = hp * WP + wp - i * DH * WP - j * DW;
                    if (t < 0 || t >= grid) continue;
                } else {
                    const I cols = wp - j * DW;
                    if (cols < 0 || (SW != 1 && cols % SW)) continue;
                    const I ow = SW == 1 ? cols : cols / SW;
                    if (ow >= GW) continue;
                    t = oh_base + ow;
                }
                sum += in[(i * KW + j) * n * grid + t];
            }
        }
        x[e] = sum;
    }
}
"""
_NAMES = tuple(f"{k}<{t}, {i}>" for k in ("im2col_kernel", "col2im_kernel")
               for t in ("float", "double") for i in ("int", "long long"))


def _grid(g, wide):
    """(GH, GW): ops/im2col.grid, restated so this file needs nothing from ops."""
    return (g.out_size[0], g.padded_size[1] if wide else g.out_size[1])


def _check_2d(g, op):
    """These kernels index (H, W) only: ops/im2col.py routes 1-d and 3-d to NumPy code."""
    if len(g.kernel) != 2:
        raise ValueError(f"kernels.{op}: the CUDA kernel is 2-d only, got a {len(g.kernel)}-d "
                         f"geometry {g}; call minigrad.ops.im2col.{op}, which routes it")


def _args(g, n, C, wide, index):
    (H, W), (KH, KW), (SH, SW) = g.in_size, g.kernel, g.stride
    (PH, PW), (DH, DW), (GH, GW) = g.padding, g.dilation, _grid(g, wide)
    values = (n, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, GH, GW, g.padded_size[1])
    return tuple(index(v) for v in values) + (np.int32(wide),)


def _launch(name, out, source, g, n, C, wide, threads):
    """Run kernel `name` with `threads` threads (grid-stride beyond 2M blocks)."""
    if threads:
        small = max(out.size, source.size) < 2**30  # every index (and index + grid stride) fits an int
        index, index_name = (np.int32, "int") if small else (np.int64, "long long")
        kernel = build.raw_module(_CODE, _NAMES).get_function(
            f"{name}<{build.c_type(out.dtype)}, {index_name}>")
        kernel((min(build.blocks(threads)[0], 1 << 21),), (build.THREADS,),
               (source, out, index(threads)) + _args(g, n, C, wide, index))


def im2col(x, g, wide=False):
    """(n, C, H, W) -> columns (G, Cg*KH*KW, n*GH*GW), as ops/im2col.im2col."""
    _check_2d(g, "im2col")
    cp = build.cupy()
    x = cp.ascontiguousarray(x)
    n, C = x.shape[:2]
    GH, GW = _grid(g, wide)
    col = cp.empty((C, g.kernel[0] * g.kernel[1], n, GH * GW), dtype=x.dtype)
    _launch("im2col_kernel", col, x, g, n, C, wide, threads=C * n * GH * GW)
    return col.reshape(g.groups, -1, n * GH * GW)               # (G, Cg*KH*KW, n*GH*GW)


def col2im(col, g, n, wide=False):
    """Columns (G, K, n*GH*GW) -> (n, C, H, W), overlaps summed, as ops/im2col.col2im
    (a new array here, not scratch memory)."""
    _check_2d(g, "col2im")
    cp = build.cupy()
    KH, KW = g.kernel
    GH, GW = _grid(g, wide)
    col = cp.ascontiguousarray(col).reshape(-1, KH * KW, n, GH * GW)  # (C, KH*KW, n, GH*GW)
    C = col.shape[0]
    x = cp.empty((n, C) + tuple(g.in_size), dtype=col.dtype)
    _launch("col2im_kernel", x, col, g, n, C, wide, threads=x.size)
    return x
