"""Curvature rules: Hessian-vector products, Hutchinson estimates, AdaHessian,
SophiaH and SophiaG.

The test problem is separable, f(w) = sum(a w^2/2 + c w^4 + s sin(w) - e w),
so its Hessian is diagonal, H = diag(a + 12 c w^2 - s sin(w)) (negative in
places: the curvature clamps matter), and the
Hutchinson estimate z * (H z) with Rademacher z is exact whatever z is drawn:
trajectories are deterministic and can be compared with NumPy references
written here. The Hessian-vector product itself is checked on a
non-separable function against finite differences of an analytic gradient.
"""
import math

import numpy as np
import pytest

import minigrad
import minigrad.optim as optim
from minigrad.optim.curvature import hessian_vector_products, hutchinson_diagonal

SHAPES = [(3, 4), (4,), (2, 2, 2, 2)]   # a matrix, a bias, a conv-like kernel
STEPS = 20


def coefficients(i, shape):
    rng = np.random.default_rng(20 + i)
    return (rng.uniform(0.2, 1.5, shape), rng.uniform(0.05, 0.3, shape),
            rng.uniform(0.0, 4.0, shape), rng.normal(size=shape))


def init_params(dtype=np.float64):
    rng = np.random.default_rng(1)
    return [rng.normal(size=s).astype(dtype) for s in SHAPES]


def loss(params):
    total = 0.0
    for i, w in enumerate(params):
        a, c, s, e = (minigrad.Tensor(x.astype(w.dtype)) for x in coefficients(i, w.shape))
        total = total + (a * w * w * 0.5 + c * w ** 4 + s * w.sin() - e * w).sum()
    return total


def grad_np(w, i):
    a, c, s, e = coefficients(i, w.shape)
    return a * w + 4 * c * w ** 3 + s * np.cos(w) - e


def hess_np(w, i):
    a, c, s, _ = coefficients(i, w.shape)
    return a + 12 * c * w ** 2 - s * np.sin(w)


def run(cls, kwargs, steps=STEPS, dtype=np.float64, create_graph=True):
    params = [minigrad.Tensor(x, requires_grad=True) for x in init_params(dtype)]
    opt = cls(params, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        loss(params).backward(create_graph=create_graph)
        opt.step()
    return [p.data for p in params], opt


def assert_close(ours, reference):
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------- Hessian-vector products
def test_hessian_vector_products_match_finite_differences():
    """f(W, b) = sum((tanh(X W + b) - Y)^2): W and b are coupled (H is not diagonal)."""
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    W0, b0 = rng.normal(size=(3, 2)), rng.normal(size=2)
    vW, vb = rng.normal(size=(3, 2)), rng.normal(size=2)

    def grads_np(W, b):
        T = np.tanh(X @ W + b)
        dZ = 2 * (T - Y) * (1 - T * T)
        return X.T @ dZ, dZ.sum(0)

    W = minigrad.Tensor(W0, requires_grad=True)
    b = minigrad.Tensor(b0, requires_grad=True)
    ((((minigrad.Tensor(X) @ W + b).tanh() - minigrad.Tensor(Y)) ** 2).sum()).backward(
        create_graph=True)
    hW, hb = hessian_vector_products([W, b], [vW, vb])
    h = 1e-5
    plus, minus = grads_np(W0 + h * vW, b0 + h * vb), grads_np(W0 - h * vW, b0 - h * vb)
    np.testing.assert_allclose(hW, (plus[0] - minus[0]) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(hb, (plus[1] - minus[1]) / (2 * h), rtol=1e-6, atol=1e-8)


def test_zero_curvature_parameter_gets_zero_product():
    w = minigrad.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    u = minigrad.Tensor(np.array([3.0]), requires_grad=True)   # enters linearly
    ((w ** 3).sum() + (u * 5.0).sum()).backward(create_graph=True)
    hw, hu = hessian_vector_products([w, u], [np.ones(2), np.ones(1)])
    np.testing.assert_allclose(hw, 6 * w.data)
    np.testing.assert_array_equal(hu, np.zeros(1))


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    params = [minigrad.Tensor(x, requires_grad=True) for x in init_params()]
    loss(params).backward(create_graph=True)
    estimates = hutchinson_diagonal(params, num_samples=2, distribution="rademacher")
    for i, (p, estimate) in enumerate(zip(params, estimates)):
        np.testing.assert_allclose(estimate, hess_np(p.data, i), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_hutchinson_expectation_is_the_diagonal(distribution):
    """E[z * Hz] = diag(H) for a dense H: the mean of many samples gets close."""
    B = np.array([[1.0, 0.6, -0.4], [0.6, 0.8, 0.3], [-0.4, 0.3, 1.5]])
    w = minigrad.Tensor(np.array([0.5, -1.0, 0.2]), requires_grad=True)
    (0.5 * (w @ (minigrad.Tensor(B) @ w))).backward(create_graph=True)
    n = 1500
    estimate = hutchinson_diagonal([w], num_samples=n, distribution=distribution)[0]
    # Var of one sample of (z * Hz)_i: sum_{j != i} H_ij^2, plus 2 H_ii^2 for Gaussian z
    off = (B * B).sum(1) - np.diag(B) ** 2
    variance = off + (2 * np.diag(B) ** 2 if distribution == "gaussian" else 0.0)
    assert np.all(np.abs(estimate - np.diag(B)) < 5 * np.sqrt(variance / n))
    assert np.abs(estimate - np.diag(B)).max() > 0  # really random, not the exact diagonal


def test_step_without_create_graph_raises():
    w = minigrad.Tensor(np.ones(3), requires_grad=True)
    opt = optim.AdaHessian([w])
    (w ** 3).sum().backward()  # no create_graph
    with pytest.raises(RuntimeError, match=r"create_graph=True"):
        opt.step()


# ------------------------------------------------------------------ AdaHessian
def adahessian_reference(lr=0.15, betas=(0.9, 0.999), eps=1e-4, weight_decay=0.0,
                         hessian_power=1.0, average_conv_kernel=True):
    b1, b2 = betas
    ws = init_params()
    m = [np.zeros_like(w) for w in ws]
    v = [np.zeros_like(w) for w in ws]
    for t in range(1, STEPS + 1):
        for i, w in enumerate(ws):
            g, D = grad_np(w, i), np.abs(hess_np(w, i))
            if w.ndim == 4 and average_conv_kernel:
                D = np.broadcast_to(D.mean(axis=(2, 3), keepdims=True), w.shape)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * D * D
            denom = (np.sqrt(v[i]) / math.sqrt(1 - b2 ** t)) ** hessian_power + eps
            ws[i] = w - lr / (1 - b1 ** t) * (m[i] / denom + weight_decay * w)
    return ws


@pytest.mark.parametrize("kwargs", [
    {},
    {"lr": 0.05, "hessian_power": 0.5, "betas": (0.8, 0.99), "weight_decay": 0.01},
    {"average_conv_kernel": False, "eps": 1e-8},
])
def test_adahessian_matches_equations(kwargs):
    ours, opt = run(optim.AdaHessian, kwargs)
    assert_close(ours, adahessian_reference(**kwargs))
    assert all("hessian" not in s for s in opt.state.values())  # the estimate is per step only


# -------------------------------------------------------------------- SophiaH
def sophia_h_reference(lr=6e-2, betas=(0.96, 0.99), weight_decay=0.0, clip_threshold=1e-2,
                       update_period=10, eps=1e-12, maximize=False):
    b1, b2 = betas
    ws = init_params()
    m = [np.zeros_like(w) for w in ws]
    h = [np.zeros_like(w) for w in ws]
    for t in range(STEPS):
        for i, w in enumerate(ws):
            g = grad_np(w, i) * (-1 if maximize else 1)
            hessian = hess_np(w, i)
            w = w * (1 - lr * weight_decay)
            m[i] = b1 * m[i] + (1 - b1) * g
            if t % update_period == 0:
                h[i] = b2 * h[i] + (1 - b2) * hessian
            ws[i] = w - lr * np.clip(m[i] / np.maximum(h[i], eps), -clip_threshold, clip_threshold)
    return ws


@pytest.mark.parametrize("kwargs", [
    {"update_period": 1},
    {"update_period": 3, "weight_decay": 0.1, "clip_threshold": 0.5, "lr": 0.1},
    {"update_period": 4, "betas": (0.9, 0.9), "clip_threshold": 2.0, "lr": 0.05, "eps": 1e-3},
])
def test_sophia_h_matches_equations(kwargs):
    ours, _ = run(optim.SophiaH, dict(kwargs, hessian_distribution="rademacher"))
    assert_close(ours, sophia_h_reference(**kwargs))


def test_sophia_h_needs_create_graph_only_on_hessian_steps():
    w = minigrad.Tensor(np.ones(3), requires_grad=True)
    opt = optim.SophiaH([w], update_period=2)
    for step in range(4):
        opt.zero_grad()
        (w ** 4).sum().backward(create_graph=(step % 2 == 0))
        opt.step()
    opt.zero_grad()
    (w ** 4).sum().backward()
    with pytest.raises(RuntimeError, match="create_graph=True"):
        opt.step()  # step 5 is a Hessian step


# -------------------------------------------------------------------- SophiaG
def test_sophia_g_matches_equations():
    lr, b1, b2, rho, wd, bs = 0.05, 0.9, 0.95, 0.04, 0.1, 8
    params = [minigrad.Tensor(x, requires_grad=True) for x in init_params()]
    opt = optim.SophiaG(params, lr=lr, betas=(b1, b2), rho=rho, weight_decay=wd, batch_size=bs)
    ws = init_params()
    m = [np.zeros_like(w) for w in ws]
    h = [np.zeros_like(w) for w in ws]
    for t in range(STEPS):
        for i, p in enumerate(params):
            p.grad = minigrad.Tensor(grad_np(p.data, i))
        opt.step()
        for i, w in enumerate(ws):
            g = grad_np(w, i)
            w = w * (1 - lr * wd)
            m[i] = b1 * m[i] + (1 - b1) * g
            ws[i] = w - lr * np.sign(m[i]) * np.minimum(np.abs(m[i]) / (rho * bs * h[i] + 1e-15), 1)
        if t % 3 == 2:  # a Hessian refresh from a "sampled-label" gradient (here: 0.3 w + 0.1)
            for p in params:
                p.grad = minigrad.Tensor(0.3 * p.data + 0.1)
            opt.update_hessian()
            for i, w in enumerate(ws):
                h[i] = b2 * h[i] + (1 - b2) * (0.3 * w + 0.1) ** 2
    assert_close([p.data for p in params], ws)


def test_sophia_g_before_any_hessian_is_sign_descent():
    w = minigrad.Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    opt = optim.SophiaG([w], lr=0.1, weight_decay=0.0)
    w.grad = minigrad.Tensor(np.array([3.0, -0.001, 0.0]))
    opt.step()
    np.testing.assert_allclose(w.data, [0.9, -1.9, 0.5])  # |update| = lr, sign(0) = 0


def test_sophia_g_sample_labels_follow_softmax():
    logits = minigrad.Tensor(np.tile(np.log([0.2, 0.5, 0.3]), (4000, 1)))
    labels = optim.SophiaG.sample_labels(logits)
    assert labels.shape == (4000,) and labels.dtype == np.int64
    frequencies = np.bincount(labels.numpy(), minlength=3) / 4000
    np.testing.assert_allclose(frequencies, [0.2, 0.5, 0.3], atol=0.03)
    sure = optim.SophiaG.sample_labels(minigrad.Tensor(np.array([[0.0, 50.0, -50.0]] * 5)))
    np.testing.assert_array_equal(sure.numpy(), [1] * 5)


# ------------------------------------------------------ all three: shared checks
@pytest.mark.parametrize("cls, kwargs, match", [
    (optim.AdaHessian, {"hessian_power": 1.5}, "hessian_power"),
    (optim.AdaHessian, {"betas": (0.9, 1.0)}, "betas"),
    (optim.SophiaH, {"update_period": 0}, "update_period"),
    (optim.SophiaH, {"hessian_distribution": "uniform"}, "hessian_distribution"),
    (optim.SophiaH, {"clip_threshold": -1.0}, "clip_threshold"),
    (optim.SophiaG, {"rho": -0.1}, "rho"),
    (optim.SophiaG, {"lr": -1.0}, "lr"),
])
def test_bad_hyperparameters_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([minigrad.Tensor(np.ones(2), requires_grad=True)], **kwargs)


@pytest.mark.parametrize("cls, kwargs", [(optim.AdaHessian, {"lr": 0.1}),
                                         (optim.SophiaH, {"lr": 0.05, "update_period": 2})])
def test_float32_stays_float32_and_loss_decreases(cls, kwargs):
    params = [minigrad.Tensor(x, requires_grad=True) for x in init_params(np.float32)]
    first = float(loss(params).item())
    ours, opt = run(cls, kwargs, steps=15, dtype=np.float32)
    assert all(a.dtype == np.float32 for a in ours)
    assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values()
               if hasattr(v, "dtype"))
    params = [minigrad.Tensor(x, requires_grad=True) for x in ours]
    assert float(loss(params).item()) < first


# --------------------------------------- pytorch_optimizer (optional oracle)
@pytest.mark.parametrize("name, ours_kwargs, theirs_kwargs, period", [
    ("AdaHessian", {"lr": 0.1, "average_conv_kernel": False}, {"lr": 0.1, "eps": 1e-4}, 1),
    ("SophiaH", {"lr": 0.1, "update_period": 3, "weight_decay": 0.1,
                 "hessian_distribution": "rademacher"},
     {"lr": 0.1, "update_period": 3, "weight_decay": 0.1}, 3),
])
def test_matches_pytorch_optimizer_with_injected_hessian(name, ours_kwargs, theirs_kwargs, period):
    torch = pytest.importorskip("torch")
    po = pytest.importorskip("pytorch_optimizer")
    theirs = [torch.tensor(x, requires_grad=True) for x in init_params()]
    ref = getattr(po, name)(theirs, **theirs_kwargs)
    for t in range(STEPS):
        for i, p in enumerate(theirs):
            p.grad = torch.tensor(grad_np(p.detach().numpy(), i))
        hessian = [torch.tensor(hess_np(p.detach().numpy(), i)) for i, p in enumerate(theirs)]
        ref.step(hessian=hessian if t % period == 0 else None)
    ours, _ = run(getattr(optim, name), ours_kwargs)
    assert_close(ours, [p.detach().numpy() for p in theirs])
