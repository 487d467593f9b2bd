"""N-d pooling with PyTorch's options: max/avg pool 1-d, 2-d, 3-d (ceil_mode,
dilation, count_include_pad, divisor_override, return_indices), max_unpool,
adaptive max/avg pools, lp_pool, unbatched inputs; against naive NumPy loops
(every device), finite differences (float64), and PyTorch when installed."""
import itertools

import numpy as np
import pytest
from gpu_only import requires_gpu

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
from minigrad import kernels


def _distinct(shape, seed=0, device="cpu"):
    """Values pairwise apart by >= 0.1: no ties, and finite differences never
    cross a kink of max."""
    rng = np.random.default_rng(seed)
    values = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0
    return minigrad.tensor(values, requires_grad=True, device=device)


def _out_len(n, k, s, p, d, ceil_mode):
    """PyTorch's output length, written out independently of im2col.geometry."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def ref_pool(x, kernel, stride, padding, dilation=None, ceil_mode=False, reduce="max",
             count_include_pad=True, divisor_override=None):
    """Loop over output positions and window elements: (y, flat indices for max)."""
    n = x.ndim - 2
    dilation = dilation or (1,) * n
    out = tuple(_out_len(*a, ceil_mode) for a in zip(x.shape[2:], kernel, stride, padding,
                                                     dilation))
    y = np.zeros(x.shape[:2] + out)
    index = np.zeros(x.shape[:2] + out, dtype=np.int64)
    for o in itertools.product(*map(range, out)):
        best, best_at, total, inside, padded = None, None, 0.0, 0, 0
        for t in itertools.product(*map(range, kernel)):
            pos = tuple(oi * s + ti * d - p for oi, s, ti, d, p in zip(o, stride, t, dilation,
                                                                         padding))
            if all(-p <= q < m + p for q, m, p in zip(pos, x.shape[2:], padding)):
                padded += 1
            if not all(0 <= q < m for q, m in zip(pos, x.shape[2:])):
                continue
            inside += 1
            v = x[(slice(None), slice(None)) + pos]
            flat = np.ravel_multi_index(pos, x.shape[2:])
            total = total + v
            if best is None:
                best, best_at = v.copy(), np.full(v.shape, flat)
            else:
                win = (v > best) | np.isnan(v)
                best, best_at = np.where(win, v, best), np.where(win, flat, best_at)
        if reduce == "max":
            y[(...,) + o], index[(...,) + o] = best, best_at
        else:
            divisor = divisor_override or (padded if count_include_pad else inside)
            y[(...,) + o] = total / divisor
    return y, index


# (kernel, stride, padding, dilation, ceil_mode) per spatial dims
MAX_CASES = {
    1: [(3, 2, 1, 1, True), (2, None, 0, 1, False), (3, 1, 1, 2, False), (4, 3, 2, 1, True)],
    2: [((3, 2), (2, 1), (1, 0), (1, 1), True), (3, 2, 1, 2, False), (2, 3, 1, 1, True),
        ((2, 3), 2, (1, 1), (2, 1), True)],
    3: [(2, None, 0, 1, True), ((3, 2, 2), (2, 1, 2), (1, 0, 1), (1, 2, 1), True)],
}
SHAPES = {1: (2, 3, 9), 2: (2, 2, 7, 8), 3: (1, 2, 5, 6, 5)}
MAX_PARAMS = [(n,) + c for n, cases in MAX_CASES.items() for c in cases]


def _tuple(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("n, kernel, stride, padding, dilation, ceil_mode", MAX_PARAMS)
def test_max_pool_nd_matches_loops(n, kernel, stride, padding, dilation, ceil_mode, device):
    x = _distinct(SHAPES[n], device=device)
    x_np = x.numpy()
    x_np[0, 0].flat[3] = np.nan  # a NaN wins its windows
    x = minigrad.tensor(x_np, requires_grad=True, device=device)
    pool = getattr(F, f"max_pool{n}d")
    y, index = pool(x, kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    k = _tuple(kernel, n)
    y_ref, index_ref = ref_pool(x_np, k, _tuple(stride or kernel, n), _tuple(padding, n),
                                _tuple(dilation, n), ceil_mode)
    np.testing.assert_array_equal(y.numpy(), y_ref)
    assert index.dtype == np.int64
    np.testing.assert_array_equal(index.numpy(), index_ref)
    # The gradient goes to the winners: a scatter-add at the flat indices.
    gy = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(minigrad.tensor(gy, device=device))
    gx = np.zeros((x_np.shape[0] * x_np.shape[1], int(np.prod(x_np.shape[2:]))))
    np.add.at(gx, (np.arange(gx.shape[0])[:, None], index_ref.reshape(gx.shape[0], -1)),
              gy.reshape(gx.shape[0], -1))
    np.testing.assert_allclose(x.grad.numpy(), gx.reshape(x_np.shape), rtol=1e-14, atol=1e-14)


AVG_PARAMS = [  # n, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    (1, 3, 2, 1, True, False, None), (1, 4, 3, 2, True, True, None), (1, 2, None, 1, False, False,
                                                                       None),
    (2, 3, 2, 1, True, False, None), (2, (3, 2), (2, 1), (1, 1), True, True, None),
    (2, 3, 2, 1, False, True, 5), (2, 2, 3, 1, True, False, None),
    (3, 3, 2, 1, True, False, None), (3, (2, 3, 2), (2, 2, 1), (1, 1, 0), True, True, 3),
]


@pytest.mark.parametrize("n, kernel, stride, padding, ceil_mode, include, override", AVG_PARAMS)
def test_avg_pool_nd_matches_loops(n, kernel, stride, padding, ceil_mode, include, override,
                                   device):
    x = _distinct(SHAPES[n], seed=2, device=device)
    pool = getattr(F, f"avg_pool{n}d")
    extra = () if n == 1 else (override,)
    y = pool(x, kernel, stride, padding, ceil_mode, include, *extra)
    y_ref, _ = ref_pool(x.numpy(), _tuple(kernel, n), _tuple(stride or kernel, n),
                        _tuple(padding, n), None, ceil_mode, "avg", include, override)
    np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-13, atol=1e-15)
    if device == "cpu":  # linear in x: first and second order by finite differences
        x = _distinct((1, 1) + SHAPES[n][2:], seed=3)
        assert minigrad.gradcheck(lambda x: pool(x, kernel, stride, padding, ceil_mode, include,
                                                 *extra), (x,))
        assert minigrad.gradgradcheck(lambda x: pool(x, kernel, stride, padding, ceil_mode,
                                                     include, *extra), (x,), fast_mode=True)


@pytest.mark.parametrize("n, kernel, stride, padding, dilation, ceil_mode",
                         [(1,) + MAX_CASES[1][2], (2,) + MAX_CASES[2][3], (3,) + MAX_CASES[3][1]])
def test_max_pool_nd_gradcheck_and_gradgradcheck(n, kernel, stride, padding, dilation, ceil_mode):
    x = _distinct((1, 1) + SHAPES[n][2:], seed=4)
    pool = getattr(F, f"max_pool{n}d")

    def fn(x):
        return pool(x, kernel, stride, padding, dilation, ceil_mode)
    assert minigrad.gradcheck(fn, (x,))
    assert minigrad.gradgradcheck(fn, (x,), fast_mode=True)


# ------------------------------------------------------------------ unpool
@pytest.mark.parametrize("n, kernel, stride, padding", [(1, 3, 2, 1), (2, 2, None, 0),
                                                        (2, 3, 2, 1), (3, 2, None, 1)])
def test_max_unpool_puts_the_maxima_back(n, kernel, stride, padding, device):
    x = _distinct(SHAPES[n], seed=5, device=device)
    pool, unpool = getattr(F, f"max_pool{n}d"), getattr(F, f"max_unpool{n}d")
    y, index = pool(x, kernel, stride, padding, return_indices=True)
    z = unpool(y, index, kernel, stride, padding, output_size=x.shape[2:])
    assert z.shape == x.shape
    # z holds each window's max where it was and zeros elsewhere.
    x_np, z_np = x.numpy().reshape(-1, int(np.prod(x.shape[2:]))), z.numpy().reshape(
        x.shape[0] * x.shape[1], -1)
    expected = np.zeros_like(x_np)
    rows, cols = np.arange(len(x_np))[:, None], index.numpy().reshape(len(x_np), -1)
    expected[rows, cols] = x_np[rows, cols]
    np.testing.assert_array_equal(z_np, expected)
    # Gradient: gather at the indices.
    gz = np.random.default_rng(6).standard_normal(z.shape)
    y_leaf = minigrad.tensor(y.numpy(), requires_grad=True, device=device)
    unpool(y_leaf, index, kernel, stride, padding, output_size=x.shape[2:]).backward(
        minigrad.tensor(gz, device=device))
    np.testing.assert_array_equal(y_leaf.grad.numpy(), gz.reshape(len(x_np), -1)[rows, cols]
                                  .reshape(y.shape))


def test_max_unpool_gradcheck_and_default_size():
    x = _distinct((1, 2, 6, 6), seed=7)
    y, index = F.max_pool2d(x, 2, return_indices=True)
    assert F.max_unpool2d(y, index, 2).shape == (1, 2, 6, 6)
    assert F.max_unpool2d(y, index, 2, output_size=(1, 2, 7, 7)).shape == (1, 2, 7, 7)
    y = y.detach().requires_grad_()
    assert minigrad.gradcheck(lambda y: F.max_unpool2d(y, index, 2), (y,))
    assert minigrad.gradgradcheck(lambda y: F.max_unpool2d(y, index, 2), (y,))


# ---------------------------------------------------------------- adaptive
def ref_adaptive(x, out, reduce):
    y = np.zeros(x.shape[:2] + out)
    for o in itertools.product(*map(range, out)):
        box = tuple(slice((i * m) // k, -(-((i + 1) * m) // k))
                    for i, m, k in zip(o, x.shape[2:], out))
        window = x[(...,) + box].reshape(x.shape[:2] + (-1,))
        y[(...,) + o] = window.max(-1) if reduce == "max" else window.mean(-1)
    return y


@pytest.mark.parametrize("n, size", [(1, 4), (1, 12), (2, (3, 5)), (2, (None, 3)), (2, 1),
                                     (3, (2, 4, 3)), (3, 2)])
def test_adaptive_pools_match_loops(n, size, device):
    x = _distinct(SHAPES[n], seed=8, device=device)
    size_t = tuple(m if s is None else s for m, s in zip(x.shape[2:], _tuple(size, n)))
    for reduce in ("max", "avg"):
        pool = getattr(F, f"adaptive_{reduce}_pool{n}d")
        y = pool(x, size)
        np.testing.assert_allclose(y.numpy(), ref_adaptive(x.numpy(), size_t, reduce),
                                   rtol=1e-13, atol=1e-15)
        if device == "cpu":
            small = _distinct((1, 1) + SHAPES[n][2:], seed=9)
            assert minigrad.gradcheck(lambda x, pool=pool: pool(x, size), (small,))
            assert minigrad.gradgradcheck(lambda x, pool=pool: pool(x, size), (small,),
                                          fast_mode=True)


def test_adaptive_max_pool_indices_feed_max_unpool():
    x = _distinct((2, 3, 7, 9), seed=10)
    y, index = F.adaptive_max_pool2d(x, (3, 4), return_indices=True)
    flat = x.numpy().reshape(6, -1)
    np.testing.assert_array_equal(flat[np.arange(6)[:, None], index.numpy().reshape(6, -1)],
                                  y.numpy().reshape(6, -1))


# ---------------------------------------------------------------- lp pool
@pytest.mark.parametrize("n, p, kernel, stride, ceil_mode", [(1, 2, 3, 2, True), (2, 3, 2, 1, False),
                                                             (2, 2.5, 3, 2, True), (3, 2, 2, 1, False)])
def test_lp_pool_is_the_window_p_norm(n, p, kernel, stride, ceil_mode):
    x = minigrad.tensor(np.abs(_distinct(SHAPES[n], seed=11).numpy()) + 0.1, requires_grad=True)
    y = getattr(F, f"lp_pool{n}d")(x, p, kernel, stride, ceil_mode)
    k = _tuple(kernel, n)
    avg, _ = ref_pool(x.numpy() ** p, k, _tuple(stride, n), (0,) * n, None, ceil_mode, "avg")
    np.testing.assert_allclose(y.numpy(), (avg * np.prod(k)) ** (1 / p), rtol=1e-12)
    small = minigrad.tensor(x.numpy()[:1, :1], requires_grad=True)
    assert minigrad.gradcheck(lambda x: getattr(F, f"lp_pool{n}d")(x, p, kernel, stride,
                                                                  ceil_mode), (small,))


# ----------------------------------------------------------- PyTorch oracle
def _torch_input(n, seed):
    """Rounded values (ties inside windows) and a NaN, float64."""
    x = np.round(np.random.default_rng(seed).standard_normal(SHAPES[n]), 1)
    x[-1, -1].flat[5] = np.nan
    return x


def _compare(name, args, x_np, torch, their_args=None):
    """Values (and indices) and input gradients of F.<name>(x, *args) and
    torch.nn.functional.<name>(x, *their_args or args)."""
    x, tx = minigrad.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y = getattr(F, name)(x, *args)
    ty = getattr(torch.nn.functional, name)(tx, *(their_args or args))
    if isinstance(ty, tuple):
        (y, index), (ty, tindex) = y, ty
        np.testing.assert_array_equal(index.numpy(), tindex.numpy())
    gy = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(minigrad.tensor(gy))
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)


# kernel, stride, padding, dilation: every dim gets the same ints
GRID = [(2, None, 0, 1), (3, 2, 1, 1), (3, 1, 1, 2), (2, 3, 1, 2), (4, 3, 2, 1)]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool_matches_pytorch(n, ceil_mode):
    torch = pytest.importorskip("torch")
    for kernel, stride, padding, dilation in GRID:
        x = _torch_input(n, seed=kernel + 10 * padding)
        args = (kernel, stride, padding, dilation, ceil_mode, True)
        _compare(f"max_pool{n}d", args, x, torch)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("ceil_mode, count_include_pad", [(False, False), (True, True),
                                                          (True, False)])
def test_avg_pool_matches_pytorch(n, ceil_mode, count_include_pad):
    torch = pytest.importorskip("torch")
    overrides = [None] if n == 1 else [None, 3]
    for (kernel, stride, padding, _), override in itertools.product(GRID, overrides):
        x = np.random.default_rng(kernel).standard_normal(SHAPES[n])
        args = (kernel, stride, padding, ceil_mode, count_include_pad) + (
            () if n == 1 else (override,))
        _compare(f"avg_pool{n}d", args, x, torch)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_adaptive_pools_and_lp_pool_match_pytorch(n):
    torch = pytest.importorskip("torch")
    for size in [1, 2, 4, 7]:  # 7 > some input sizes: bins overlap
        x = _torch_input(n, seed=size)
        _compare(f"adaptive_max_pool{n}d", (size, True), x, torch)
        x = np.random.default_rng(size).standard_normal(SHAPES[n])
        _compare(f"adaptive_avg_pool{n}d", (size,), x, torch)
    for p, kernel, stride, ceil_mode in [(2, 2, None, False), (3, 3, 2, True), (1.5, 2, 1, True)]:
        x = np.abs(np.random.default_rng(kernel).standard_normal(SHAPES[n])) + 0.1
        _compare(f"lp_pool{n}d", (p, kernel, stride, ceil_mode), x, torch)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_unpool_matches_pytorch(n):
    torch = pytest.importorskip("torch")
    for kernel, stride, padding, _ in GRID[:3]:
        x_np = np.random.default_rng(kernel).standard_normal(SHAPES[n])
        y, index = getattr(torch.nn.functional, f"max_pool{n}d")(torch.tensor(x_np), kernel, stride, padding,
                                                return_indices=True)
        size = SHAPES[n][2:]
        _compare(f"max_unpool{n}d", (minigrad.tensor(index.numpy()), kernel, stride, padding,
                                     size), y.numpy(), torch,
                 their_args=(index, kernel, stride, padding, size))


# ------------------------------------------------------------- unbatched
@pytest.mark.parametrize("n", [1, 2, 3])
def test_unbatched_input_is_a_batch_of_one(n, device):
    x = _distinct(SHAPES[n][1:], seed=12, device=device)
    batch = x.unsqueeze(0)
    for name, args in [("max_pool", (2, 1, 1)), ("avg_pool", (3, 2, 1, True)),
                       ("adaptive_max_pool", (3,)), ("adaptive_avg_pool", (3,))]:
        op = getattr(F, f"{name}{n}d")
        np.testing.assert_array_equal(op(x, *args).numpy(), op(batch, *args).numpy()[0])
    y, index = getattr(F, f"max_pool{n}d")(x, 2, return_indices=True)
    assert y.shape == index.shape == getattr(F, f"max_pool{n}d")(batch, 2).shape[1:]
    z = getattr(F, f"max_unpool{n}d")(y, index, 2, output_size=x.shape[1:])
    assert z.shape == x.shape
    placed = z.numpy() != 0
    assert placed.sum() == y.numpy().size - (y.numpy() == 0).sum()
    np.testing.assert_array_equal(z.numpy()[placed], x.numpy()[placed])


# ---------------------------------------------------------------- layers
def test_layers_call_their_ops_and_print_as_pytorch(device):
    x = _distinct((2, 3, 8, 6, 7), seed=13, device=device)
    pairs = [
        (nn.MaxPool3d(2, 1, 1, dilation=2, ceil_mode=True),
         lambda x: F.max_pool3d(x, 2, 1, 1, 2, True),
         "MaxPool3d(kernel_size=2, stride=1, padding=1, dilation=2, ceil_mode=True)"),
        (nn.AvgPool3d(3, 2, 1, count_include_pad=False, divisor_override=4),
         lambda x: F.avg_pool3d(x, 3, 2, 1, False, False, 4),
         "AvgPool3d(kernel_size=3, stride=2, padding=1)"),
        (nn.AdaptiveMaxPool3d((2, None, 3)), lambda x: F.adaptive_max_pool3d(x, (2, None, 3)),
         "AdaptiveMaxPool3d(output_size=(2, None, 3))"),
        (nn.AdaptiveAvgPool2d(3), lambda x: F.adaptive_avg_pool2d(x[0], 3),
         "AdaptiveAvgPool2d(output_size=3)"),
        (nn.AvgPool1d(2), lambda x: F.avg_pool1d(x[0, 0], 2),
         "AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))"),
        (nn.LPPool2d(2, 3, ceil_mode=True), lambda x: F.lp_pool2d(x[0], 2, 3, None, True),
         "LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=True)"),
    ]
    for layer, op, text in pairs:
        arg = x if "3d" in text else x[0] if "2d" in text else x[0, 0]
        np.testing.assert_array_equal(layer(arg).numpy(), op(x).numpy())
        assert repr(layer) == text
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    assert repr(unpool) == "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    y, index = pool(x[0])
    z = unpool(y, index, output_size=(6, 7))
    np.testing.assert_array_equal(z.numpy(), F.max_unpool2d(y, index, 2, output_size=(6, 7))
                                  .numpy())
    with pytest.raises(ValueError, match=r"MaxPool1d.*expected a 2-D or 3-D input"):
        nn.MaxPool1d(2)(x)


def test_pools_on_a_gpu_never_wait_for_it():
    """Forward and backward of every pool only queue work (the NaN handling,
    divisors, indices and scatters included): on the CuPy stand-in a
    device-to-host transfer raises under allow_synchronize(False)."""
    import cupy_stand_in
    if not cupy_stand_in.installed:
        pytest.skip("counts syncs on the CuPy stand-in")
    cupyx = pytest.importorskip("cupyx")
    x = minigrad.tensor(np.random.default_rng(14).standard_normal((2, 3, 6, 7, 5)),
                        requires_grad=True, device="cuda")
    with cupyx.allow_synchronize(False):
        y, index = F.max_pool3d(x, 2, 2, 1, dilation=1, ceil_mode=True, return_indices=True)
        z = F.max_unpool3d(y, index, 2, 2, 1, output_size=x.shape[2:])
        a, a_index = F.adaptive_max_pool2d(x[0], (4, 3), return_indices=True)
        total = (y.sum() + z.sum() + F.max_pool1d(x[0, 0, 0], 3, 1, 1, 2).sum() + a.sum()
                 + F.avg_pool3d(x, 3, 2, 1, True, False, None).sum()
                 + F.adaptive_avg_pool3d(x, (4, 3, 2)).sum() + F.lp_pool2d(x[0] ** 2, 2, 2).sum())
        total.backward()
    assert x.grad.shape == x.shape and index.dtype == a_index.dtype == np.int64


@pytest.mark.parametrize("n, kernel, stride, padding, dilation, ceil_mode", MAX_PARAMS)
def test_all_minus_inf_windows_pick_their_first_input(n, kernel, stride, padding, dilation,
                                                      ceil_mode, device):
    """-inf ties with the padding: the winner (index and gradient) is the
    window's first input, never a padding position (as in PyTorch)."""
    x_np = np.full(SHAPES[n], -np.inf)
    x_np[..., 2] = 1.0
    x = minigrad.tensor(x_np, requires_grad=True, device=device)
    y, index = getattr(F, f"max_pool{n}d")(x, kernel, stride, padding, dilation, ceil_mode,
                                           return_indices=True)
    y_ref, index_ref = ref_pool(x_np, _tuple(kernel, n), _tuple(stride or kernel, n),
                                _tuple(padding, n), _tuple(dilation, n), ceil_mode)
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(index.numpy(), index_ref)
    y.sum().backward()
    assert x.grad.numpy().sum() == y.numpy().size


@requires_gpu
@pytest.mark.parametrize("kernel, stride, padding, dilation", [(3, 2, 1, 1), (2, 1, 1, 2),
                                                               ((3, 2), (2, 3), (1, 1), (1, 2))])
def test_the_fused_max_pool_kernel_handles_ceil_mode_dilation_and_indices(kernel, stride,
                                                                          padding, dilation):
    """On a real GPU: the fused 2-d kernel (on) gives the NumPy path's (off)
    values, indices and gradients, -inf windows and NaNs included."""
    x_np = np.round(np.random.default_rng(15).standard_normal((3, 4, 11, 13)), 1)
    x_np[0, 0, :4, :5] = -np.inf
    x_np[1, 2, 5, 6] = np.nan
    gy = None
    results = []
    for enabled in (False, True):
        with kernels.set_enabled(enabled):
            x = minigrad.tensor(x_np, device="cuda", requires_grad=True)
            y, index = F.max_pool2d(x, kernel, stride, padding, dilation, True, True)
            gy = np.random.default_rng(16).standard_normal(y.shape) if gy is None else gy
            y.backward(minigrad.tensor(gy, device="cuda"))
            results.append((y.numpy(), index.numpy(), x.grad.numpy()))
    (y0, i0, g0), (y1, i1, g1) = results
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(i1, i0)
    np.testing.assert_allclose(g1, g0, rtol=1e-12, atol=1e-13)
