"""Gradient clipping: against a NumPy reference written here and against
torch.nn.utils when installed."""
import math

import numpy as np
import pytest

import minigrad
from minigrad.optim import clip_grad_norm_, clip_grad_value_

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def params_with_grads(scale, dtype=minigrad.float64, device="cpu", seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for shape in SHAPES:
        p = minigrad.zeros(*shape, dtype=dtype, device=device, requires_grad=True)
        p.grad = minigrad.tensor(scale * rng.normal(size=shape), dtype=dtype, device=device)
        params.append(p)
    unused = minigrad.zeros(2, dtype=dtype, device=device, requires_grad=True)  # grad None
    return params + [unused]


def reference_norm(grads, p):
    flat = np.concatenate([g.ravel() for g in grads])
    return np.abs(flat).max() if p == math.inf else (np.abs(flat) ** p).sum() ** (1 / p)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_matches_numpy(norm_type, scale, device):
    params = params_with_grads(scale, device=device)
    before = [p.grad.numpy().copy() for p in params[:-1]]
    total = clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    expected = reference_norm(before, norm_type)
    assert total.shape == () and total.device == params[0].device
    assert total.item() == pytest.approx(expected, rel=1e-13)
    coef = min(1.0, 1.0 / (expected + 1e-6))
    for p, g in zip(params, before):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-13)
    if scale == 0.01:
        assert all(np.array_equal(p.grad.numpy(), g) for p, g in zip(params, before))
    else:  # clipped: the new joint norm is max_norm (up to the 1e-6)
        after = reference_norm([p.grad.numpy() for p in params[:-1]], norm_type)
        assert after == pytest.approx(1.0, abs=2e-6)
    assert params[-1].grad is None


def test_norm_just_below_max_is_still_scaled_as_torch():
    """The 1e-6 in max_norm / (total + 1e-6): a norm within 1e-6 below
    max_norm is scaled by a factor just below 1."""
    p = minigrad.zeros(1, dtype=minigrad.float64, requires_grad=True)
    p.grad = minigrad.tensor([0.9999995], dtype=minigrad.float64)
    clip_grad_norm_([p], max_norm=1.0)
    assert p.grad.item() == pytest.approx(0.9999995 / (0.9999995 + 1e-6), rel=1e-15)
    assert p.grad.item() < 0.9999995


def test_float32_stays_float32():
    params = params_with_grads(10.0, dtype=minigrad.float32)
    total = clip_grad_norm_(params, 0.5)
    assert total.dtype == minigrad.float32
    assert all(p.grad.dtype == minigrad.float32 for p in params[:-1])


def test_nonfinite_norm():
    params = params_with_grads(1.0)
    params[1].grad.data[2] = np.inf
    with pytest.raises(RuntimeError, match=r"clip_grad_norm_: the total norm of order 2.0 .* is inf"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert np.isfinite(params[0].grad.numpy()).all()  # nothing was touched
    total = clip_grad_norm_(params, 1.0)  # as torch: scale by max_norm / inf = 0
    assert math.isinf(total.item()) and (params[0].grad.numpy() == 0).all()


def test_no_gradients_and_single_tensor():
    w = minigrad.zeros(3, requires_grad=True)
    assert clip_grad_norm_([w], 1.0).item() == 0.0
    w.grad = minigrad.tensor([3.0, 4.0, 0.0])
    assert clip_grad_norm_(w, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(w.grad.numpy(), [3 / (5 + 1e-6), 4 / (5 + 1e-6), 0], rtol=1e-6)


def test_clip_grad_value(device):
    params = params_with_grads(2.0, device=device)
    before = [p.grad.numpy().copy() for p in params[:-1]]
    clip_grad_value_(params, 0.5)
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -0.5, 0.5))
    assert params[-1].grad is None


@pytest.mark.parametrize("call,match", [
    (lambda ps: clip_grad_norm_(ps, -1.0), r"clip_grad_norm_: max_norm must be a non-negative"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=0), r"norm_type must be > 0 or math.inf"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=-math.inf), r"norm_type must be > 0"),
    (lambda ps: clip_grad_value_(ps, -0.1), r"clip_grad_value_: clip_value must be a non-negative"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(params_with_grads(1.0))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 2.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.3, 100.0])
def test_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    ours = params_with_grads(3.0, seed=4)
    theirs = []
    for p in ours:
        t = torch.zeros(p.shape, dtype=torch.float64, requires_grad=True)
        t.grad = None if p.grad is None else torch.tensor(p.grad.numpy())
        theirs.append(t)
    total = clip_grad_norm_(ours, max_norm, norm_type)
    total_torch = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    # float64 sums of a few dozen terms (no BLAS) in two summation orders, and libm's pow:
    # at most ~n * 1.1e-16 ~ 3e-15 apart whatever the SIMD width, so rel 1e-14 holds.
    assert total.item() == pytest.approx(total_torch.item(), rel=1e-14)
    for p, t in zip(ours[:-1], theirs[:-1]):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-14)
    clip_grad_value_(ours, 0.2)
    torch.nn.utils.clip_grad_value_(theirs, 0.2)
    for p, t in zip(ours[:-1], theirs[:-1]):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-14)
        assert np.abs(p.grad.numpy()).max() <= 0.2


def test_float32_matches_torch():
    torch = pytest.importorskip("torch")
    ours = params_with_grads(3.0, dtype=minigrad.float32, seed=5)
    theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in ours]
    for p, t in zip(ours, theirs):
        t.grad = None if p.grad is None else torch.tensor(p.grad.numpy())
    total = clip_grad_norm_(ours, 1.0)
    total_torch = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert total.item() == pytest.approx(total_torch.item(), rel=1e-6)
    for p, t in zip(ours[:-1], theirs[:-1]):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=2e-6)
