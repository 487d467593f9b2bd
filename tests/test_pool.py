"""2-d pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d forward vs naive
NumPy loops, gradients vs finite differences (first and second order),
PyTorch's tie and padding conventions, PyTorch as an optional oracle, and
every pooling op's errors. The 1-d/3-d ops and PyTorch's other options
(ceil_mode, dilation, indices, unpool, ...) are in test_pool_nd.py."""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _windows(x, kernel, stride, padding, fill):
    """Yield (oh, ow, window (N, C, KH, KW), top, left) of the padded input."""
    (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
    sh, sw = _pair(kernel if stride is None else stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    OH = (x.shape[2] + 2 * ph - kh) // sh + 1
    OW = (x.shape[3] + 2 * pw - kw) // sw + 1
    for oh in range(OH):
        for ow in range(OW):
            window = xp[:, :, oh * sh:oh * sh + kh, ow * sw:ow * sw + kw]
            yield oh, ow, window, oh * sh - ph, ow * sw - pw


def ref_max_pool2d(x, kernel, stride=None, padding=0):
    """Forward values and, for an upstream gradient gy, the input gradient
    (each window's gradient goes to its first maximum, row-major)."""
    outs = {}
    for oh, ow, win, top, left in _windows(x, kernel, stride, padding, -np.inf):
        outs[oh, ow] = (win.max(axis=(2, 3)), win.reshape(*win.shape[:2], -1).argmax(-1),
                        top, left, win.shape[3])
    OH, OW = max(k[0] for k in outs) + 1, max(k[1] for k in outs) + 1
    y = np.zeros(x.shape[:2] + (OH, OW))
    for (oh, ow), (m, *_) in outs.items():
        y[:, :, oh, ow] = m

    def grad(gy):
        gx = np.zeros_like(x)
        for (oh, ow), (_, arg, top, left, kw) in outs.items():
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    i, j = divmod(arg[n, c], kw)
                    gx[n, c, top + i, left + j] += gy[n, c, oh, ow]
        return gx
    return y, grad


def ref_avg_pool2d(x, kernel, stride=None, padding=0):
    kh, kw = _pair(kernel)
    pieces = {(oh, ow): win.sum(axis=(2, 3)) / (kh * kw)   # padding counts (count_include_pad)
              for oh, ow, win, _, _ in _windows(x, kernel, stride, padding, 0.0)}
    OH, OW = max(k[0] for k in pieces) + 1, max(k[1] for k in pieces) + 1
    y = np.zeros(x.shape[:2] + (OH, OW))
    for (oh, ow), v in pieces.items():
        y[:, :, oh, ow] = v
    return y


def ref_adaptive_avg_pool2d(x, output_size):
    OH, OW = _pair(output_size)
    H, W = x.shape[2:]
    y = np.zeros(x.shape[:2] + (OH, OW))
    for i in range(OH):
        for j in range(OW):
            r0, r1 = (i * H) // OH, -(-((i + 1) * H) // OH)
            c0, c1 = (j * W) // OW, -(-((j + 1) * W) // OW)
            y[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return y


def _distinct(shape, seed=0, device="cpu"):
    """Values pairwise apart by >= 0.1, so no window has a tie and finite
    differences never cross a kink of max."""
    rng = np.random.default_rng(seed)
    values = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0
    return minigrad.tensor(values.astype(np.float64), requires_grad=True, device=device)


# kernel, stride, padding
POOL_CASES = [(2, None, 0), (3, 2, 1), ((3, 2), (2, 1), (1, 0)), (3, 1, 1), (2, 3, 0), (1, 1, 0)]


@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES)
def test_max_pool2d_forward_and_backward_match_loops(kernel, stride, padding, device):
    x = _distinct((2, 3, 7, 8), device=device)
    y = F.max_pool2d(x, kernel, stride, padding)
    expected, grad = ref_max_pool2d(x.numpy(), kernel, stride, padding)
    np.testing.assert_array_equal(y.numpy(), expected)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(minigrad.tensor(gy, device=device))
    np.testing.assert_allclose(x.grad.numpy(), grad(gy), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES)
def test_avg_pool2d_forward_matches_loops(kernel, stride, padding, device):
    x = _distinct((2, 3, 7, 8), device=device)
    np.testing.assert_allclose(F.avg_pool2d(x, kernel, stride, padding).numpy(),
                               ref_avg_pool2d(x.numpy(), kernel, stride, padding), rtol=1e-13,
                               atol=1e-15)


@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES)
def test_pool_gradcheck_and_gradgradcheck(kernel, stride, padding):
    """On the CPU (the registry in op_registry.py gradchecks pooling on every device)."""
    x = _distinct((1, 2, 5, 6), seed=2)
    for op in (F.max_pool2d, F.avg_pool2d):
        def fn(x, op=op):
            return op(x, kernel, stride, padding)
        assert minigrad.gradcheck(fn, (x,))
        assert minigrad.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("output_size, expected_size", [
    (1, (1, 1)), ((2, 3), (2, 3)), ((3, 4), (3, 4)), ((4, None), (4, 7)), (5, (5, 5))])
def test_adaptive_avg_pool2d(output_size, expected_size, device):
    x = _distinct((2, 2, 6, 7), seed=3, device=device)
    expected = ref_adaptive_avg_pool2d(x.numpy(), expected_size)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, output_size).numpy(), expected,
                               rtol=1e-13, atol=1e-15)
    if device != "cpu":
        return  # the registry in op_registry.py gradchecks adaptive pooling on every device
    assert minigrad.gradcheck(lambda x: F.adaptive_avg_pool2d(x, output_size), (x,))
    assert minigrad.gradgradcheck(lambda x: F.adaptive_avg_pool2d(x, output_size), (x,),
                                  fast_mode=True)


def test_max_pool_ties_go_to_the_first_maximum(device):
    """PyTorch's rule: within a window the first maximum in row-major order
    takes the whole gradient (not an even split)."""
    x = minigrad.tensor([[[[1.0, 3.0, 2.0, 2.0],
                           [3.0, 0.0, 2.0, 2.0],
                           [0.0, 0.0, 5.0, 1.0],
                           [0.0, 0.0, 1.0, 5.0]]]], requires_grad=True, device=device)
    y = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[3.0, 2.0], [0.0, 5.0]])
    y.backward(minigrad.tensor([[[[10.0, 20.0], [30.0, 40.0]]]], device=device))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0.0, 10.0, 20.0, 0.0],
                                                         [0.0, 0.0, 0.0, 0.0],
                                                         [30.0, 0.0, 40.0, 0.0],
                                                         [0.0, 0.0, 0.0, 0.0]])


def test_max_pool_overlapping_windows_add_up(device):
    """A value that wins two overlapping windows receives both gradients."""
    x = minigrad.tensor([[[[0.0, 0.1, 0.2],
                           [0.3, 9.0, 0.4],
                           [0.5, 0.6, 0.7]]]], requires_grad=True, device=device)
    y = F.max_pool2d(x, 2, stride=1)
    np.testing.assert_array_equal(y.numpy(), np.full((1, 1, 2, 2), 9.0))
    y.backward(minigrad.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], device=device))
    assert x.grad.numpy()[0, 0, 1, 1] == 10.0 and x.grad.numpy().sum() == 10.0


def test_max_pool_nan_propagates(device):
    x = minigrad.tensor([[[[1.0, np.nan], [2.0, 3.0]]]], device=device)
    assert np.isnan(F.max_pool2d(x, 2).item())


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 1, 1)])
def test_max_pool_nan_gradient_goes_where_pytorch_sends_it(kernel, stride, padding):
    """A NaN wins its window (the last NaN, in PyTorch's scan order)."""
    torch = pytest.importorskip("torch")
    x_np = np.array([[[[1.0, np.nan, 5.0, 2.0], [np.nan, 3.0, 1.0, 7.0],
                       [0.0, 1.0, 2.0, 3.0], [4.0, np.nan, 6.0, 7.0]]]])
    x, tx = minigrad.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, ty = F.max_pool2d(x, kernel, stride, padding), torch.nn.functional.max_pool2d(
        tx, kernel, stride, padding)
    y.backward(minigrad.ones_like(y))
    ty.backward(torch.ones_like(ty))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_float32_in_float32_out(device):
    x = minigrad.randn(2, 3, 8, 8, device=device, requires_grad=True)
    for op, args in [(F.max_pool2d, (2,)), (F.avg_pool2d, (3, 2, 1)),
                     (F.adaptive_avg_pool2d, ((3, 5),)), (F.adaptive_avg_pool2d, (1,))]:
        x.grad = None
        y = op(x, *args)
        (y * y).sum().backward()
        assert y.dtype == x.grad.dtype == np.float32 and y.device == x.device


# ----------------------------------------------------------- PyTorch oracle
@pytest.mark.parametrize("kernel, stride, padding", POOL_CASES)
def test_pools_match_pytorch(kernel, stride, padding):
    torch = pytest.importorskip("torch")
    x_np = np.random.default_rng(4).standard_normal((2, 3, 7, 8))
    x_np[0, 0, :2, :2] = 1.5  # a tie, resolved the same way by both
    gy = None
    for ours, theirs in [(F.max_pool2d, torch.nn.functional.max_pool2d),
                         (F.avg_pool2d, torch.nn.functional.avg_pool2d)]:
        x = minigrad.tensor(x_np, requires_grad=True)
        tx = torch.tensor(x_np, requires_grad=True)
        y = ours(x, kernel, stride, padding)
        ty = theirs(tx, kernel, stride, padding)
        gy = np.random.default_rng(5).standard_normal(y.shape)
        y.backward(minigrad.tensor(gy))
        ty.backward(torch.tensor(gy))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("output_size", [1, (3, 4), (4, 5), 7])
def test_adaptive_avg_pool2d_matches_pytorch(output_size):
    torch = pytest.importorskip("torch")
    x_np = np.random.default_rng(6).standard_normal((2, 3, 9, 10))
    x = minigrad.tensor(x_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    y = F.adaptive_avg_pool2d(x, output_size)
    ty = torch.nn.functional.adaptive_avg_pool2d(tx, output_size)
    gy = np.random.default_rng(7).standard_normal(y.shape)
    y.backward(minigrad.tensor(gy))
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, message", [
    (lambda x: F.max_pool2d(x[0, 0], 2),
     r"max_pool2d: expected a 4-D input \(N, C, H, W\) or an unbatched 3-D one \(C, H, W\)"),
    (lambda x: F.max_pool2d(x, 9), r"max_pool2d: kernel \(9, 9\) is larger than the input"),
    (lambda x: F.avg_pool2d(x, 2, padding=2),
     r"avg_pool2d: padding \(2, 2\) must be at most half the kernel size \(2, 2\)"),
    (lambda x: F.max_pool2d(x, 2, padding=2, dilation=2),
     r"max_pool2d: padding \(2, 2\) must be at most half the effective kernel size \(extent\) "
     r"\(3, 3\).*padding <= \(1, 1\)"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), r"avg_pool2d: divisor_override must be a "
     "nonzero int"),
    (lambda x: F.max_pool3d(x[0, 0], 2), r"max_pool3d: expected a 5-D input \(N, C, D, H, W\)"),
    (lambda x: F.max_unpool2d(x, F.max_pool2d(x, 2, return_indices=True)[1], 2),
     r"max_unpool2d: indices must have the input's shape \(1, 2, 8, 8\), got \(1, 2, 4, 4\)"),
    (lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2, output_size=(5, 9)),
     r"max_unpool2d: invalid output_size \(5, 9\): dim 0 must be strictly between 6 and 10"),
    (lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2, output_size=(7,)),
     r"max_unpool2d: output_size must hold 2 or 4 sizes"),
    (lambda x: F.max_unpool2d(F.max_pool2d(x, 2), minigrad.full((1, 2, 4, 4), 64, dtype=minigrad.int64), 2),
     r"max_unpool2d: index 64 is outside the output plane of size \(8, 8\)"),
    (lambda x: F.adaptive_max_pool1d(x, (2, 2)), r"adaptive_max_pool1d: expected a 3-D input"),
    (lambda x: F.adaptive_max_pool2d(x, (2, 2, 2)),
     r"adaptive_max_pool2d: output_size must be an int or a sequence of 2 ints"),
    (lambda x: F.max_pool2d(x, 2, stride=0), r"max_pool2d: stride must be at least 1"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), r"kernel_size must be an int or a pair"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), r"adaptive_avg_pool2d: output_size must be positive"),
    (lambda x: F.adaptive_avg_pool2d(x, "big"), r"output_size must be an int or a sequence of 2"),
])
def test_errors_name_the_op_and_the_fix(call, message):
    with pytest.raises(ValueError, match=message):
        call(minigrad.zeros(1, 2, 8, 8))
