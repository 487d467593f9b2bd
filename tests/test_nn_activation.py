"""Activations: leaky_relu, elu, gelu (exact and tanh), silu, softplus.

Each is checked three ways: forward against an independent NumPy reference,
gradcheck and gradgradcheck in float64 (inputs kept away from the kinks),
and, when PyTorch is installed, forward and backward against torch."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn

_erf = np.vectorize(math.erf)


def _np_softplus(x, beta, threshold):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


# name -> (minigrad function, NumPy reference, torch function name and kwargs)
ACTIVATIONS = {
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
                   ("leaky_relu", {"negative_slope": 0.2})),
    "elu": (lambda x: F.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1)),
            ("elu", {"alpha": 1.5})),
    "gelu": (F.gelu, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), ("gelu", {})),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
                  ("gelu", {"approximate": "tanh"})),
    "silu": (F.silu, lambda x: x / (1 + np.exp(-x)), ("silu", {})),
    "softplus": (F.softplus, lambda x: _np_softplus(x, 1.0, 20.0), ("softplus", {})),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=3.0),
                      lambda x: _np_softplus(x, 2.0, 3.0),
                      ("softplus", {"beta": 2.0, "threshold": 3.0})),
}


def _away_from_kinks(shape, seed=0):
    """Values in [-3, 3] at least 0.1 away from 0 and from 1.5 (softplus_beta's
    threshold point beta * x = 3), where finite differences would straddle a kink."""
    x = np.random.default_rng(seed).uniform(-3, 3, shape)
    x = np.where(np.abs(x) < 0.1, x + 0.3, x)
    return np.where(np.abs(x - 1.5) < 0.1, x + 0.3, x)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_forward_matches_numpy(name, device):
    fn, reference, _ = ACTIVATIONS[name]
    x = np.random.default_rng(1).uniform(-6, 6, (5, 7))
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-6)):
        y = fn(minigrad.tensor(x.astype(dtype), device=device))
        assert y.dtype == dtype and y.device == minigrad.backend.normalize_device(device)
        np.testing.assert_allclose(y.numpy(), reference(x), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_gradcheck_and_gradgradcheck(name, device):
    fn = ACTIVATIONS[name][0]
    x = minigrad.tensor(_away_from_kinks((3, 4)), requires_grad=True, device=device)
    assert minigrad.gradcheck(fn, (x,))
    assert minigrad.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_matches_torch_forward_and_backward(name):
    torch = pytest.importorskip("torch")
    fn, _, (torch_name, kwargs) = ACTIVATIONS[name]
    x = np.random.default_rng(2).normal(0, 4, (64,)).astype(np.float32)
    g = np.random.default_rng(3).normal(0, 1, (64,)).astype(np.float32)
    ours = minigrad.tensor(x, requires_grad=True)
    y = fn(ours)
    y.backward(minigrad.tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    y_t = getattr(torch.nn.functional, torch_name)(theirs, **kwargs)
    y_t.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=2e-6)


def test_derivative_at_the_kinks_follows_pytorch():
    # leaky_relu'(0) = slope and elu'(0) = alpha (the x > 0 test fails at 0)
    x = minigrad.tensor([0.0, 0.0], requires_grad=True)
    (F.leaky_relu(x[0:1], 0.3).sum() + F.elu(x[1:2], 2.0).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.3, 2.0])


def test_no_overflow_or_nan_at_extreme_inputs():
    x = minigrad.tensor([-1000.0, -50.0, 50.0, 1000.0], dtype=np.float64, requires_grad=True)
    for fn in (F.elu, F.silu, F.softplus, lambda t: F.softplus(t, threshold=math.inf), F.gelu):
        y = fn(x)
        (gx,) = minigrad.grad(y.sum(), x, create_graph=True)
        (ggx,) = minigrad.grad(gx.sum(), x)
        assert np.isfinite(y.numpy()).all() and np.isfinite(gx.numpy()).all()
        assert np.isfinite(ggx.numpy()).all()
    # softplus without its linear cut-over is still exact far out: log(1 + e^1000) = 1000
    np.testing.assert_allclose(F.softplus(x, threshold=math.inf).numpy()[3], 1000.0)


def test_second_derivatives_by_hand():
    # gelu'' = phi(x) (2 - x^2); silu'' = s(1-s)(2 + x(1-2s)); elu'' = alpha e^x for x < 0
    x0 = np.array([-1.3, -0.4, 0.7, 2.1])
    x = minigrad.tensor(x0, requires_grad=True)
    phi = np.exp(-x0 ** 2 / 2) / np.sqrt(2 * np.pi)
    s = 1 / (1 + np.exp(-x0))
    expected = {F.gelu: phi * (2 - x0 ** 2), F.silu: s * (1 - s) * (2 + x0 * (1 - 2 * s)),
                (lambda t: F.elu(t, 1.5)): np.where(x0 > 0, 0.0, 1.5 * np.exp(x0))}
    for fn, second in expected.items():
        (gx,) = minigrad.grad(fn(x).sum(), x, create_graph=True)
        (ggx,) = minigrad.grad(gx.sum(), x)
        np.testing.assert_allclose(ggx.numpy(), second, rtol=1e-10, atol=1e-12)


def test_activation_modules_call_their_functions():
    x = minigrad.tensor(np.linspace(-3, 3, 13))
    pairs = [(nn.ReLU(), F.relu(x)), (nn.LeakyReLU(0.1), F.leaky_relu(x, 0.1)),
             (nn.ELU(0.5), F.elu(x, 0.5)), (nn.GELU("tanh"), F.gelu(x, "tanh")),
             (nn.SiLU(), F.silu(x)), (nn.Softplus(2.0, 4.0), F.softplus(x, 2.0, 4.0)),
             (nn.Sigmoid(), F.sigmoid(x)), (nn.Tanh(), F.tanh(x))]
    for module, expected in pairs:
        np.testing.assert_array_equal(module(x).numpy(), expected.numpy())
    m = minigrad.tensor(np.random.default_rng(0).normal(size=(2, 3)))
    np.testing.assert_allclose(nn.Softmax(dim=0)(m).numpy().sum(axis=0), 1.0)
    np.testing.assert_allclose(np.exp(nn.LogSoftmax(dim=1)(m).numpy()).sum(axis=1), 1.0)
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"


def test_bad_arguments_are_named():
    x = minigrad.tensor([1.0])
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="softplus: beta must be non-zero"):
        F.softplus(x, beta=0)
    with pytest.raises(ValueError, match="GELU: approximate"):
        nn.GELU("erf")


def test_exact_gelu_without_scipy(monkeypatch):
    # Without SciPy, backend.erf is math.erf per element on float64 arrays (exact) and
    # a vectorised approximation to float32's precision on float32/float16 ones.
    import sys
    x = np.linspace(-4, 4, 17)
    with_scipy = minigrad.backend.erf(x)
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # makes the import fail
    without = minigrad.backend.erf(x.astype(np.float32))
    assert without.dtype == np.float32
    np.testing.assert_allclose(without, _erf(x), rtol=4e-7, atol=1e-7)
    np.testing.assert_allclose(with_scipy, _erf(x), rtol=1e-15, atol=1e-16)
    np.testing.assert_array_equal(minigrad.backend.erf(x), _erf(x))  # float64: math.erf itself


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_float32_erf_is_within_a_few_units_in_the_last_place(monkeypatch, name):
    import sys
    monkeypatch.setitem(sys.modules, "scipy.special", None)
    # both sides of 0, tiny values (erf's relative accuracy), the tails (erfc's), and a
    # block boundary (the values go through in blocks of 32k)
    x = np.concatenate([np.linspace(-9, 9, 40000), np.geomspace(1e-30, 0.7, 1000),
                        -np.geomspace(1e-30, 0.7, 1000)]).astype(np.float32)
    got = getattr(minigrad.backend, name)(x.reshape(2, -1)).reshape(-1)  # any shape
    assert got.dtype == np.float32
    exact = np.array([getattr(math, name)(v) for v in x.astype(np.float64)])
    kept = np.abs(exact) > 1e-37  # float32's normal range
    ulp = np.spacing(np.abs(exact[kept]).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got[kept] - exact[kept]) / ulp) <= 4
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], np.float32)
    expected = [0, -0.0, 1, -1, np.nan] if name == "erf" else [1, 1, 0, 2, np.nan]
    np.testing.assert_array_equal(getattr(minigrad.backend, name)(special), expected)
    half = getattr(minigrad.backend, name)(np.array([0.5], np.float16))
    assert half.dtype == np.float16 and abs(float(half[0]) - getattr(math, name)(0.5)) < 1e-3


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_tanh_gelu_in_cache_slices_matches_the_whole_array_formula(dtype, tol):
    # 4 MB of float32: several slices of the batch (threads.batch_slices), shared among
    # threads; the first-order backward takes them, create_graph=True the Tensor formula.
    x0 = np.random.default_rng(3).uniform(-6, 6, (64, 16, 32, 32)).astype(dtype)
    gy = np.random.default_rng(4).standard_normal(x0.shape).astype(dtype)
    assert len(minigrad.threads.batch_slices(x0)) > 2
    _, reference, _ = ACTIVATIONS["gelu_tanh"]
    x = minigrad.tensor(x0, requires_grad=True)
    y = F.gelu(x, approximate="tanh")
    np.testing.assert_allclose(y.numpy(), reference(x0.astype(np.float64)), rtol=tol, atol=tol)
    (fast,) = minigrad.grad(y, x, minigrad.tensor(gy))
    (graph,) = minigrad.grad(F.gelu(x, approximate="tanh"), x, minigrad.tensor(gy),
                             create_graph=True)
    assert fast.dtype == dtype
    np.testing.assert_allclose(fast.numpy(), graph.numpy(), rtol=tol, atol=tol)
