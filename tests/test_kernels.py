"""The fused CUDA kernels (minigrad/kernels) against the readable NumPy path.

Each GPU test runs the same computation on the same CuPy arrays twice, with
the kernels off (the reference) and on, in float32 and float64, on odd sizes
(not multiples of the 256-thread block). float64 must agree to 1e-12
relative; float32 to a tolerance sized to its sums. The switch itself is
tested on the CPU.
"""
import importlib

import numpy as np
import pytest
from gpu_only import requires_gpu

import minigrad
import minigrad.functional as F
import minigrad.optim as optim
from minigrad import backend, kernels
from minigrad.ops import im2col as im2col_ops
from minigrad.ops.normalization import BatchNormTrain
from minigrad.ops.pool import MaxPool2d, MaxPool2dScatter

DTYPES = [np.float32, np.float64]


def _tol(dtype, summed=1):
    """rtol/atol for results that went through sums of about `summed` terms."""
    if dtype == np.float64:
        return dict(rtol=1e-12, atol=1e-13)
    return dict(rtol=2e-6 * max(1.0, np.sqrt(summed)), atol=2e-6 * max(1.0, np.sqrt(summed)))


def _close(a, b, dtype, summed=1):
    np.testing.assert_allclose(backend.to_numpy(a), backend.to_numpy(b), **_tol(dtype, summed))


def _cuda(array, requires_grad=False):
    return minigrad.tensor(array, device="cuda", requires_grad=requires_grad)


def _both(fn):
    """fn() with the kernels off (the NumPy path) and on: (reference, fused)."""
    with kernels.set_enabled(False):
        reference = fn()
    with kernels.set_enabled(True):
        fused = fn()
    return reference, fused


# ------------------------------------------------------------------ the switch (CPU)
def test_switch_defaults_follow_the_environment_and_use_for_needs_cupy_arrays(monkeypatch):
    switch = importlib.import_module("minigrad.kernels.switch")
    try:
        monkeypatch.delenv("MINIGRAD_FUSED_KERNELS", raising=False)
        importlib.reload(switch)
        assert kernels.enabled() and minigrad.cuda.fused_kernels_enabled()
        monkeypatch.setenv("MINIGRAD_FUSED_KERNELS", "0")
        importlib.reload(switch)
        assert not kernels.enabled()
    finally:
        monkeypatch.undo()
        importlib.reload(switch)
    before = kernels.enabled()
    with minigrad.cuda.use_fused_kernels(not before):
        assert kernels.enabled() is (not before)
    assert kernels.enabled() is before
    kernels.set_enabled(False)
    assert not minigrad.cuda.fused_kernels_enabled()
    kernels.set_enabled(before)
    with kernels.set_enabled(True):
        # NumPy arrays never reach a kernel, whatever the switch says
        assert not kernels.use_for(np.zeros(3, np.float32))
        assert not kernels.use_for(np.zeros(3), None)


# ------------------------------------------------------------------ optimizers
OPTIMIZERS = [
    ("sgd", lambda p: optim.SGD(p, lr=0.1)),
    ("sgd momentum", lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1)),
    ("sgd nesterov", lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", lambda p: optim.Adam(p, lr=1e-2)),
    ("adamw", lambda p: optim.AdamW(p, lr=1e-2, weight_decay=0.1)),
    ("lion", lambda p: optim.Lion(p, lr=1e-3, weight_decay=0.1)),
    ("rmsprop", lambda p: optim.RMSprop(p, lr=1e-2)),
    ("rmsprop momentum", lambda p: optim.RMSprop(p, lr=1e-2, momentum=0.9)),
]


@requires_gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[n for n, _ in OPTIMIZERS])
def test_fused_update_matches_the_numpy_rule(name, make, dtype):
    rng = np.random.default_rng(1)
    start = [rng.standard_normal(s).astype(dtype) for s in [(37, 29), (1001,), (3,)]]
    grads = [[rng.standard_normal(a.shape).astype(dtype) for a in start] for _ in range(4)]

    def run():
        params = [_cuda(a, requires_grad=True) for a in start]
        opt = make(params)
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = _cuda(g)
            opt.step()
        return [p.data for p in params]

    reference, fused = _both(run)
    for r, f in zip(reference, fused):
        _close(f, r, dtype)


# ------------------------------------------------------------------ activations
@requires_gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_forward_and_backward(approximate, dtype):
    rng = np.random.default_rng(2)
    x_np = (3 * rng.standard_normal((7, 301))).astype(dtype)
    gy_np = rng.standard_normal(x_np.shape).astype(dtype)

    def run():
        x = _cuda(x_np, requires_grad=True)
        y = F.gelu(x, approximate=approximate)
        gx, = minigrad.grad(y, [x], _cuda(gy_np))
        return y.data, gx.data

    (y_ref, gx_ref), (y, gx) = _both(run)
    _close(y, y_ref, dtype)
    _close(gx, gx_ref, dtype)


@requires_gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_kernels(dtype):
    cp = backend._cupy
    rng = np.random.default_rng(3)
    x = cp.asarray(rng.standard_normal(1031).astype(dtype))
    x[:3] = cp.asarray(np.array([0.0, np.nan, -0.0], dtype))
    gy = cp.asarray(rng.standard_normal(1031).astype(dtype))
    y = kernels.relu_forward(x)
    np.testing.assert_array_equal(backend.to_numpy(y), np.maximum(backend.to_numpy(x), 0))
    np.testing.assert_array_equal(backend.to_numpy(kernels.relu_backward(x, gy)),
                                  backend.to_numpy(gy) * (backend.to_numpy(x) > 0))


# ------------------------------------------------------------------ batch norm
@requires_gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 3, 7, 9), (33, 17)])
def test_batch_norm_training_forward_and_backward(shape, dtype):
    rng = np.random.default_rng(4)
    x_np = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    w_np, b_np = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(2))
    gy_np = rng.standard_normal(shape).astype(dtype)
    count = x_np.size // shape[1]

    def run():
        x, w, b = _cuda(x_np, True), _cuda(w_np, True), _cuda(b_np, True)
        mean, var = _cuda(np.zeros(shape[1], dtype)), _cuda(np.ones(shape[1], dtype))
        y = F.batch_norm(x, mean, var, w, b, training=True)
        grads = minigrad.grad(y, [x, w, b], _cuda(gy_np))
        stats = BatchNormTrain(1e-5).forward(x.data, w.data, b.data)
        return [y.data, *(g.data for g in grads), mean.data, var.data, *stats[1:]]

    reference, fused = _both(run)
    for r, f in zip(reference, fused):
        _close(f, r, dtype, summed=count)


# ------------------------------------------------------------------ cross-entropy
@requires_gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("classes", [10, 1000])
def test_cross_entropy_forward_and_backward(classes, dtype):
    cp = backend._cupy
    rng = np.random.default_rng(5)
    x_np = (4 * rng.standard_normal((67, classes))).astype(dtype)
    x_np[0, 0] = 1e4  # large logits stay finite
    t_np = rng.integers(0, classes, 67)
    t_np[[3, 10]] = -100  # ignored

    with kernels.set_enabled(False):
        x = _cuda(x_np, True)
        loss = F.cross_entropy(x, _cuda(t_np), ignore_index=-100)
        gx_ref, = minigrad.grad(loss * 0.7, [x])
    target = cp.asarray(t_np)
    fused_loss, lse, weight_sum = kernels.cross_entropy_forward(x.data, target, -100)
    gx = kernels.cross_entropy_backward(x.data, target, lse, cp.asarray(0.7, dtype), weight_sum, -100)
    assert fused_loss.shape == () and fused_loss.dtype == dtype
    _close(fused_loss, loss.data, dtype, summed=classes)
    _close(gx, gx_ref.data, dtype, summed=classes)


# ------------------------------------------------------------------ max pool
@requires_gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool_forward_backward_with_ties_and_nan(kernel, stride, padding, dtype):
    cp = backend._cupy
    rng = np.random.default_rng(6)
    x_np = rng.integers(-3, 3, (3, 5, 11, 13)).astype(dtype)  # small integers: many ties
    x_np[0, 0, 4, 5] = x_np[1, 2, 0, 0] = x_np[1, 2, 0, 1] = np.nan
    g = im2col_ops.geometry("max_pool2d", x_np.shape[2:], kernel, stride, padding)
    op = MaxPool2d(g)  # the reference: the NumPy path on the host
    y_ref = op.forward(x_np)
    winner_ref = op.saved[0]
    y, winner = kernels.max_pool2d_forward(cp.asarray(x_np), g)
    assert winner.dtype == winner_ref.dtype
    np.testing.assert_array_equal(backend.to_numpy(y), y_ref)  # NaN == NaN here
    np.testing.assert_array_equal(backend.to_numpy(winner), winner_ref)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx_ref = MaxPool2dScatter(g, winner_ref).forward(gy)
    _close(kernels.max_pool2d_backward(cp.asarray(gy), winner, g), gx_ref, dtype, summed=kernel * kernel)


# ------------------------------------------------------------------ im2col / col2im
GEOMETRIES = [  # (in_size, kernel, stride, padding, dilation, groups)
    ((9, 11), (3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((10, 7), (3, 2), (2, 1), (1, 0), (1, 1), 2),   # stride < kernel: overlapping windows
    ((12, 13), (3, 3), (1, 2), (2, 1), (2, 1), 1),  # dilation
    ((8, 8), (5, 5), (1, 1), (2, 2), (1, 1), 1),
]


@requires_gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("in_size, kernel, stride, padding, dilation, groups", GEOMETRIES)
def test_im2col_and_col2im_match_the_numpy_layout(in_size, kernel, stride, padding, dilation,
                                                  groups, wide, dtype):
    cp = backend._cupy
    g = im2col_ops.geometry("conv2d", in_size, kernel, stride, padding, dilation, groups)
    if wide and g.stride != (1, 1):
        pytest.skip("the wide layout is for stride 1 only")
    rng = np.random.default_rng(7)
    n, C = 3, 4
    x = cp.asarray(rng.standard_normal((n, C) + in_size).astype(dtype))
    with kernels.set_enabled(False):
        col_ref = im2col_ops.im2col(x, g, wide).copy()
    col = kernels.im2col(x, g, wide)
    assert col.shape == col_ref.shape
    np.testing.assert_array_equal(backend.to_numpy(col), backend.to_numpy(col_ref))  # a copy: exact

    columns = cp.asarray(rng.standard_normal(col.shape).astype(dtype))
    if wide:  # the extra grid positions must hold zeros (see ops/im2col.col2im)
        GH, GW = im2col_ops.grid(g, True)
        columns.reshape(-1, n, GH, GW)[..., g.out_size[1]:] = 0
    with kernels.set_enabled(False):
        x_ref = cp.ascontiguousarray(im2col_ops.col2im(columns, g, n, wide))
    _close(kernels.col2im(columns, g, n, wide), x_ref, dtype, summed=np.prod(kernel))


@requires_gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_through_the_kernels(dtype):
    rng = np.random.default_rng(8)
    x_np = rng.standard_normal((4, 6, 13, 11)).astype(dtype)
    w_np = rng.standard_normal((8, 3, 3, 3)).astype(dtype)

    def run():
        x, w = _cuda(x_np, True), _cuda(w_np, True)
        y = F.conv2d(x, w, stride=(2, 1), padding=1, groups=2)
        gx, gw = minigrad.grad((y * y).sum(), [x, w])
        return y.data, gx.data, gw.data

    reference, fused = _both(run)
    for r, f in zip(reference, fused):
        _close(f, r, dtype, summed=4 * 13 * 11)


# ------------------------------------------------------------------ the ops' dispatch
@requires_gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_and_max_pool_ops_dispatch_to_the_same_results(dtype):
    """F.cross_entropy and F.max_pool2d give the NumPy path's loss and gradients with
    the kernels on (ignored targets included); second order still works (Tensor ops)."""
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal((5, 3, 9, 9)).astype(dtype)
    target = minigrad.tensor(np.array([0, 3, -100, 8, 2]), device="cuda")

    def run():
        x = _cuda(x_np, requires_grad=True)
        logits = F.max_pool2d(x, 3, stride=2).reshape((5, -1))[:, :9]
        loss = F.cross_entropy(logits, target)
        loss.backward()
        return backend.to_numpy(loss.data), backend.to_numpy(x.grad.data)

    (loss_ref, grad_ref), (loss, grad) = _both(run)
    _close(loss, loss_ref, dtype, summed=9)
    _close(grad, grad_ref, dtype, summed=9)
    x = _cuda(x_np, requires_grad=True)
    logits = F.max_pool2d(x, 3, stride=2).reshape((5, -1))[:, :9]
    g, = minigrad.grad(F.cross_entropy(logits, target), [x], create_graph=True)
    assert g.grad_fn is not None  # create_graph keeps the differentiable path
