"""The tuned im2col/col2im (im2col.py, used by conv2d) against the simple ones
(conv_simple.py, the teaching path): same columns, same sums, same
convolution, over a grid of shapes, strides, paddings, dilations, groups,
dtypes, both column layouts and chunked batches."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import backend
from minigrad.ops import conv as conv_module
from minigrad.ops import conv_simple as simple
from minigrad.ops import im2col as tuned

# (N, C, H, W), kernel, stride, padding, dilation, groups
CASES = [
    ((2, 3, 5, 6), 3, 1, 0, 1, 1),
    ((2, 2, 7, 6), 3, 2, 1, 1, 1),
    ((1, 4, 7, 7), (3, 2), (2, 1), (1, 2), (2, 1), 2),   # everything asymmetric, grouped
    ((3, 4, 5, 5), 3, 1, 1, 1, 4),                       # depthwise
    ((2, 2, 4, 5), 1, 1, 1, 1, 1),                       # 1x1 kernel with padding
    ((2, 2, 8, 8), 3, 1, 2, 2, 1),                       # dilated, stride 1
    ((1, 3, 4, 4), 4, 1, 0, 1, 1),                       # kernel as big as the input
    ((2, 6, 9, 8), (2, 3), 3, (0, 1), 1, 3),             # stride > kernel: gaps between windows
    ((2, 2, 6, 7), 5, 1, 2, 1, 2),                       # stride 1, wide padding
]
IDS = [f"x{c[0]}-k{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}-g{c[5]}" for c in CASES]
# Each case with each column layout it can use: wide only for stride 1 (see im2col.py).
CASE_LAYOUTS = [(case, wide) for case in CASES for wide in (False, True)
                if not wide or case[2] == 1]
DTYPES = [np.float32, np.float64]
OUT_CHANNELS = 12  # divisible by every groups in CASES


def _geometry(case):
    x_shape, kernel, stride, padding, dilation, groups = case
    return tuned.geometry("test", x_shape[2:], kernel, stride, padding, dilation, groups)


def _layouts(g):
    """The tuned path's column layouts for g: the wide one exists only for stride 1."""
    return [False, True] if g.stride == (1, 1) else [False]


def _tuned_to_simple(col, g, n, wide):
    """Tuned columns (G, K, n*GH*GW) -> the simple layout (n, G, K, OH*OW),
    dropping the wide layout's extra grid positions (garbage by design)."""
    G, K = col.shape[:2]
    GH, GW = tuned.grid(g, wide)
    col = col.reshape(G, K, n, GH, GW)[..., :g.out_size[1]]           # (G, K, n, OH, OW)
    return col.transpose(2, 0, 1, 3, 4).reshape(n, G, K, -1)          # (n, G, K, OH*OW)


def _simple_to_tuned(cols, g, wide):
    """Simple columns (n, G, K, OH*OW) -> tuned (G, K, n*GH*GW), zeros at the
    wide layout's extra grid positions (col2im requires that)."""
    n, G, K = cols.shape[:3]
    (OH, OW), (GH, GW) = g.out_size, tuned.grid(g, wide)
    out = np.zeros((G, K, n, GH, GW), cols.dtype)
    out[..., :OW] = cols.reshape(n, G, K, OH, OW).transpose(1, 2, 0, 3, 4)
    return out.reshape(G, K, -1)                                      # (G, K, n*GH*GW)


# ------------------------------------------------------- im2col and col2im
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tuned_im2col_copies_the_same_values_as_the_simple_one(case, dtype):
    # Columns are pure copies of input values (or padding zeros): exact equality.
    g = _geometry(case)
    x = np.random.default_rng(0).standard_normal(case[0]).astype(dtype)
    expected = simple.im2col(x, g)                                    # (N, G, K, P)
    assert expected.dtype == dtype
    for wide in _layouts(g):
        col = tuned.im2col(x, g, wide)
        assert col.dtype == dtype
        np.testing.assert_array_equal(_tuned_to_simple(col, g, x.shape[0], wide), expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tuned_col2im_adds_up_the_same_values_as_the_simple_one(case, dtype):
    # Exact equality on purpose: both start from zeros and add the taps one
    # at a time in the same row-major order, elementwise (no BLAS, no
    # reduction that could reassociate), so every pixel sees the same sequence
    # of roundings. The wide layout's extra positions only add zeros (x + 0 == x).
    g = _geometry(case)
    N = case[0][0]
    cols = np.random.default_rng(1).standard_normal(simple.im2col(np.zeros(case[0]), g).shape)
    cols = cols.astype(dtype)
    expected = simple.col2im(cols, g)                                 # (N, C, H, W)
    assert expected.shape == case[0] and expected.dtype == dtype
    for wide in _layouts(g):
        got = tuned.col2im(_simple_to_tuned(cols, g, wide), g, N, wide)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_simple_col2im_is_the_adjoint_of_simple_im2col(case):
    """<im2col(x), c> == <x, col2im(c)>: what makes col2im the gradient of im2col."""
    g, rng = _geometry(case), np.random.default_rng(2)
    x = rng.standard_normal(case[0])
    cols = simple.im2col(x, g)
    c = rng.standard_normal(cols.shape)
    assert (cols * c).sum() == pytest.approx((x * simple.col2im(c, g)).sum(), rel=1e-12)


def test_tuned_col2im_is_the_adjoint_of_tuned_im2col_in_both_layouts():
    rng = np.random.default_rng(15)
    x = rng.standard_normal((3, 4, 6, 7))
    for g in [tuned.geometry("t", (6, 7), (3, 2), 1, (1, 2), (2, 1), 2),
              tuned.geometry("t", (6, 7), 3, 2, 1)]:
        for wide in _layouts(g):
            col = tuned.im2col(x, g, wide)
            c = rng.standard_normal(col.shape)
            if wide:  # the extra grid positions must carry zeros into col2im
                GH, GW = tuned.grid(g, wide)
                c.reshape(c.shape[:2] + (3, GH, GW))[..., g.out_size[1]:] = 0.0
            back = tuned.col2im(c, g, 3, wide)
            assert (col * c).sum() == pytest.approx((x * back).sum(), rel=1e-12)


@pytest.mark.parametrize("images_per_chunk", [1, 2, None])
@pytest.mark.parametrize("dtype", DTYPES)
def test_chunk_by_chunk_equals_the_whole_batch(images_per_chunk, dtype, monkeypatch):
    """conv2d runs the tuned im2col/col2im a chunk of images at a time, in
    reused scratch memory: each chunk's columns and pixels must be the
    simple path's for those images (exactly, as above). None keeps the real
    CHUNK_BYTES with a batch big enough to need several chunks."""
    g = tuned.geometry("test", (32, 32), 5, 1, 2, 1, 3)
    N = 5 if images_per_chunk else 12
    x = np.random.default_rng(3).standard_normal((N, 6, 32, 32)).astype(dtype)
    expected_cols = simple.im2col(x, g)                               # (N, G, K, P)
    grad_cols = np.random.default_rng(4).standard_normal(expected_cols.shape).astype(dtype)
    expected_gx = simple.col2im(grad_cols, g)                         # (N, C, H, W)
    for wide in _layouts(g):
        bytes_per_image = tuned.column_bytes(g, 6, x.itemsize, wide)
        if images_per_chunk:
            monkeypatch.setattr(tuned, "CHUNK_BYTES", images_per_chunk * bytes_per_image)
        chunks = tuned.batch_chunks(x, bytes_per_image)
        assert len(chunks) > 1 and chunks[-1].stop == N
        for chunk in chunks:
            n = chunk.stop - chunk.start
            col = tuned.im2col(x[chunk], g, wide)
            np.testing.assert_array_equal(_tuned_to_simple(col, g, n, wide), expected_cols[chunk])
            gx = tuned.col2im(_simple_to_tuned(grad_cols[chunk], g, wide), g, n, wide)
            np.testing.assert_array_equal(gx, expected_gx[chunk])


# ------------------------------------------------------ the whole convolution
def _summation_tolerance(g, N, exact_abs, dtype):
    """Bound on |tuned - simple| for sums of products of the given dtype.

    Each result is a sum of at most n products (plus a bias), which any
    summation order, blocking or FMA computes to within gamma_n * sum|terms|
    of the exact value, gamma_n = n*eps / (1 - n*eps); `exact_abs` is that
    sum|terms| (the same computation on absolute values), and two such
    results differ by at most twice the bound."""
    K = OUT_CHANNELS // g.groups * g.kernel[0] * g.kernel[1]   # Fg*KH*KW terms per input pixel
    n = max(K, N * g.out_size[0] * g.out_size[1]) + 2          # N*P terms per weight gradient
    # (A forward value sums Cg*KH*KW <= C*KH*KW products; C <= OUT_CHANNELS in CASES.)
    eps = np.finfo(dtype).eps
    return 2 * n * eps / (1 - n * eps) * exact_abs


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case, wide", CASE_LAYOUTS,
                         ids=[f"{'wide' if wide else 'exact'}-{IDS[CASES.index(case)]}"
                              for case, wide in CASE_LAYOUTS])
def test_conv2d_forward_and_gradients_equal_the_simple_path(case, wide, dtype, chunked, monkeypatch):
    """F.conv2d (tuned) against conv_simple.conv2d/conv2d_backward, in the
    wide layout where the stride allows it, one image per chunk when chunked.
    Sums of products: tolerance from the float error bound, as BLAS may sum
    in any order."""
    g = _geometry(case)
    monkeypatch.setattr(conv_module, "use_wide", lambda geometry, channels: wide)
    if chunked:
        monkeypatch.setattr(tuned, "CHUNK_BYTES", 1)
    x_shape, kernel, stride, padding, dilation, groups = case
    rng = np.random.default_rng(5)
    x_np = rng.standard_normal(x_shape).astype(dtype)
    w_np = rng.standard_normal((OUT_CHANNELS, x_shape[1] // groups) + g.kernel).astype(dtype)
    b_np = rng.standard_normal(OUT_CHANNELS).astype(dtype)
    gy_np = rng.standard_normal((x_shape[0], OUT_CHANNELS) + g.out_size).astype(dtype)

    x, w, b = (minigrad.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    y.backward(minigrad.tensor(gy_np))
    got = [y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()]

    expected = [simple.conv2d(x_np, w_np, b_np, g), *simple.conv2d_backward(x_np, w_np, gy_np, g)]
    absolute = [abs(a).astype(np.float64) for a in (x_np, w_np, b_np, gy_np)]
    bounds = [simple.conv2d(*absolute[:3], g), *simple.conv2d_backward(*absolute[:2], absolute[3], g)]
    for name, ours, theirs, bound in zip(["y", "gx", "gw", "gb"], got, expected, bounds):
        assert ours.dtype == theirs.dtype == dtype, name
        assert ours.shape == theirs.shape, name
        tolerance = _summation_tolerance(g, x_shape[0], bound, dtype)
        worst = np.max(np.abs(ours - theirs) - tolerance)
        assert worst <= 0, f"{name}: |tuned - simple| exceeds the float error bound by {worst}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_simple_backward_is_the_adjoint_of_simple_forward(case):
    """Convolution is linear in x and in w, so its gradients must satisfy
    <gy, conv(dx, w)> = <gx, dx> and <gy, conv(x, dw)> = <gw, dw>: checks the
    teaching path on its own, independently of the tuned one."""
    g, rng = _geometry(case), np.random.default_rng(6)
    x = rng.standard_normal(case[0])
    w = rng.standard_normal((OUT_CHANNELS, case[0][1] // case[5]) + g.kernel)
    gy = rng.standard_normal((case[0][0], OUT_CHANNELS) + g.out_size)
    gx, gw, gb = simple.conv2d_backward(x, w, gy, g)
    dx, dw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
    db = rng.standard_normal(OUT_CHANNELS)
    assert (gy * simple.conv2d(dx, w, None, g)).sum() == pytest.approx((gx * dx).sum(), rel=1e-12)
    assert (gy * simple.conv2d(x, dw, None, g)).sum() == pytest.approx((gw * dw).sum(), rel=1e-12)
    zero = np.zeros_like(x)
    assert (gy * simple.conv2d(zero, w, db, g)).sum() == pytest.approx((gb * db).sum(), rel=1e-12)


# ------------------------------------------------- host/device branches
def test_device_arrays_get_one_chunk_and_fresh_memory(monkeypatch):
    """What the tuned path does with an array that is not in host memory
    (a CuPy array): the whole batch in one chunk, and scratch memory that is
    never shared between calls, since CuPy pools memory itself."""
    x = np.zeros((64, 3, 8, 8), np.float32)
    assert backend.is_host_array(x) and not backend.is_host_array([1.0])
    assert len(tuned.batch_chunks(x, 1 << 20)) > 1
    first = tuned.scratch("test", (4, 4), x)
    assert np.shares_memory(first, tuned.scratch("test", (4, 4), x))  # host: reused

    monkeypatch.setattr(backend, "is_host_array", lambda array: False)
    assert tuned.batch_chunks(x, 1 << 20) == [slice(0, 64)]
    first = tuned.scratch("test", (4, 4), x, zero=True)
    second = tuned.scratch("test", (4, 4), x)
    assert not np.shares_memory(first, second) and not first.any()
