"""L1 / L2 / elastic-net penalties: values and gradients against NumPy and
finite differences, and (lam/2) * l2_penalty in the loss == SGD(weight_decay=lam)."""
import numpy as np
import pytest

import minigrad
import minigrad.optim as optim
from minigrad.optim import elastic_net_penalty, l1_penalty, l2_penalty


def away_from_zero(shape, rng):
    """Entries with |w| >= 0.2, so |w| is differentiable where we probe it."""
    w = rng.uniform(0.2, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return minigrad.tensor(w, dtype=minigrad.float64, requires_grad=True)


@pytest.fixture
def params():
    rng = np.random.default_rng(1)
    return [away_from_zero((3, 4), rng), away_from_zero((4,), rng), away_from_zero((2, 1, 3), rng)]


def test_values_match_numpy(params, device):
    params = [p.detach().to(device) for p in params]
    arrays = [p.numpy() for p in params]
    l1 = sum(np.abs(a).sum() for a in arrays)
    l2 = sum((a ** 2).sum() for a in arrays)
    # float64 sums of 22 terms in possibly different orders: <= 22 * 1.1e-16 relative apart
    assert l1_penalty(params).item() == pytest.approx(l1, rel=1e-14)
    assert l2_penalty(params).item() == pytest.approx(l2, rel=1e-14)
    assert elastic_net_penalty(params, 0.3).item() == pytest.approx(0.3 * l1 + 0.35 * l2, rel=1e-14)
    assert elastic_net_penalty(params, 1.0).item() == pytest.approx(l1, rel=1e-14)
    assert elastic_net_penalty(params, 0.0).item() == pytest.approx(l2 / 2, rel=1e-14)
    assert l2_penalty(params[0]).item() == pytest.approx((arrays[0] ** 2).sum())  # one Tensor
    assert l1_penalty(params).device == params[0].device


@pytest.mark.parametrize("penalty", [l1_penalty, l2_penalty,
                                     lambda ps: elastic_net_penalty(ps, l1_ratio=0.7)])
def test_gradcheck(params, penalty):
    assert minigrad.gradcheck(lambda *ps: penalty(list(ps)), tuple(params))


def test_gradients_by_hand(params):
    r = 0.4
    elastic_net_penalty(params, r).backward()
    for p in params:
        w = p.numpy()
        np.testing.assert_allclose(p.grad.numpy(), r * np.sign(w) + (1 - r) * w, rtol=1e-14)
    w = minigrad.tensor([0.0, -2.0], dtype=minigrad.float64, requires_grad=True)
    l1_penalty([w]).backward()
    assert w.grad.tolist() == [0.0, -1.0]  # sign(0) = 0: the subgradient torch uses


def test_float32_stays_float32():
    w = minigrad.randn(3, 3, requires_grad=True)
    for value in (l1_penalty([w]), l2_penalty([w]), elastic_net_penalty([w], 0.2)):
        assert value.dtype == minigrad.float32


def _train(use_weight_decay, lam=0.1, steps=5):
    rng = np.random.default_rng(0)
    W = minigrad.tensor(rng.normal(size=(3, 4)), dtype=minigrad.float64, requires_grad=True)
    b = minigrad.tensor(rng.normal(size=(3,)), dtype=minigrad.float64, requires_grad=True)
    x = minigrad.tensor(rng.normal(size=(4, 5)), dtype=minigrad.float64)
    opt = optim.SGD([W, b], lr=0.1, momentum=0.9, weight_decay=lam if use_weight_decay else 0.0)
    for _ in range(steps):
        opt.zero_grad()
        loss = (((W @ x).tanh().sum(axis=1) + b) ** 2).sum()
        if not use_weight_decay:
            loss = loss + lam / 2 * l2_penalty([W, b])
        loss.backward()
        opt.step()
    return W.numpy(), b.numpy()


def test_half_l2_in_the_loss_is_sgd_weight_decay():
    for ours, theirs in zip(_train(True), _train(False)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    untouched = _train(True, lam=0.0)
    assert not np.allclose(untouched[0], _train(True)[0])  # the decay did something


def test_named_parameters_and_generators():
    w = minigrad.ones(2, requires_grad=True)
    assert l1_penalty([("weight", w)]).item() == 2.0
    assert l2_penalty(p for p in [w, w]).item() == 4.0


@pytest.mark.parametrize("call,error,match", [
    (lambda: l1_penalty([]), ValueError, r"l1_penalty: got no parameters"),
    (lambda: l2_penalty(iter([])), ValueError, r"generator was used up"),
    (lambda: l2_penalty([np.ones(3)]), TypeError, r"l2_penalty: parameters must be Tensors, got ndarray"),
    (lambda: elastic_net_penalty([minigrad.ones(2)], 1.5), ValueError, r"l1_ratio must be in \[0, 1\]"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
