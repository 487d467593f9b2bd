"""Lion, Signum, QHM, QHAdam, AggMo against plain-NumPy references written
here from the papers' equations (not by calling optim), plus invariants and
bad hyperparameters. The shared problem is in optim_modern_problem.py."""

import numpy as np
import pytest
from optim_modern_problem import assert_trajectories_close, initial_params, run_minigrad, run_reference

import minigrad
import minigrad.optim as optim

STEPS = 25


# ---------------------------------------------------------------- references
def lion_reference(lr, b1, b2, wd):
    """optax.lion's form: theta - lr * (sign(c) + wd * theta)."""
    def step(x, g, s, t):
        c = b1 * s["m"] + (1 - b1) * g
        s["m"] = b2 * s["m"] + (1 - b2) * g
        return x - lr * (np.sign(c) + wd * x)
    return step, lambda x: {"m": np.zeros_like(x)}


def signum_reference(lr, mu, wd, decoupled):
    def step(x, g, s, t):
        if not decoupled:
            g = g + wd * x
        s["m"] = mu * s["m"] + (1 - mu) * g
        return x - lr * np.sign(s["m"]) - (lr * wd * x if decoupled else 0.0)
    return step, lambda x: {"m": np.zeros_like(x)}


def qhm_reference(lr, beta, nu, wd):
    def step(x, g, s, t):
        g = g + wd * x
        s["b"] = beta * s["b"] + (1 - beta) * g
        return x - lr * (nu * s["b"] + (1 - nu) * g)
    return step, lambda x: {"b": np.zeros_like(x)}


def qhadam_reference(lr, b1, b2, nu1, nu2, eps, wd, decoupled):
    """With the bias correction written as normalised weights, as the paper's
    appendix (and torch_optimizer) do: m_t = sum_i w_i g_i / sum_i w_i."""
    def step(x, g, s, t):
        if decoupled:
            x = x * (1 - lr * wd)
        else:
            g = g + wd * x
        s["w1"] = 1 + b1 * s["w1"]
        s["w2"] = 1 + b2 * s["w2"]
        s["m"] = (1 - 1 / s["w1"]) * s["m"] + g / s["w1"]
        s["v"] = (1 - 1 / s["w2"]) * s["v"] + g * g / s["w2"]
        num = (1 - nu1) * g + nu1 * s["m"]
        den = np.sqrt((1 - nu2) * g * g + nu2 * s["v"]) + eps
        return x - lr * num / den
    return step, lambda x: {"w1": 0.0, "w2": 0.0, "m": np.zeros_like(x), "v": np.zeros_like(x)}


def aggmo_reference(lr, betas, wd):
    def step(x, g, s, t):
        g = g + wd * x
        for i, beta in enumerate(betas):
            s[i] = beta * s[i] + g
            x = x - lr / len(betas) * s[i]
        return x
    return step, lambda x: {i: np.zeros_like(x) for i in range(len(betas))}


@pytest.mark.parametrize("cls, kwargs, reference", [
    (optim.Lion, dict(lr=1e-2), lion_reference(1e-2, 0.9, 0.99, 0.0)),
    (optim.Lion, dict(lr=3e-3, betas=(0.95, 0.98), weight_decay=0.5),
     lion_reference(3e-3, 0.95, 0.98, 0.5)),
    (optim.Signum, dict(lr=1e-2, momentum=0.8, weight_decay=0.1),
     signum_reference(1e-2, 0.8, 0.1, True)),
    (optim.Signum, dict(lr=1e-2, momentum=0.5, weight_decay=0.1, decoupled_weight_decay=False),
     signum_reference(1e-2, 0.5, 0.1, False)),
    (optim.QHM, dict(lr=0.05, momentum=0.9, nu=0.7, weight_decay=0.1),
     qhm_reference(0.05, 0.9, 0.7, 0.1)),
    (optim.QHM, dict(lr=0.05), qhm_reference(0.05, 0.999, 0.7, 0.0)),
    (optim.QHAdam, dict(lr=1e-2, betas=(0.9, 0.99), nus=(0.7, 0.8), weight_decay=0.1),
     qhadam_reference(1e-2, 0.9, 0.99, 0.7, 0.8, 1e-8, 0.1, False)),
    (optim.QHAdam, dict(lr=1e-2, eps=1e-6, weight_decay=0.1, decoupled_weight_decay=True),
     qhadam_reference(1e-2, 0.995, 0.999, 0.7, 1.0, 1e-6, 0.1, True)),
    (optim.AggMo, dict(lr=1e-2, weight_decay=0.1), aggmo_reference(1e-2, (0.0, 0.9, 0.99), 0.1)),
    (optim.AggMo, dict(lr=1e-2, betas=(0.5, 0.7)), aggmo_reference(1e-2, (0.5, 0.7), 0.0)),
], ids=["Lion", "Lion-wd", "Signum", "Signum-L2", "QHM", "QHM-defaults", "QHAdam",
        "QHAdam-decoupled", "AggMo", "AggMo-2"])
def test_matches_numpy_reference(cls, kwargs, reference):
    ours, _ = run_minigrad(cls, kwargs, STEPS)
    assert_trajectories_close(ours, run_reference(*reference, STEPS))


# ---------------------------------------------------------------- invariants
def test_lion_update_entries_are_plus_minus_lr_or_zero():
    lr = 1e-2
    before = initial_params()
    after, _ = run_minigrad(optim.Lion, dict(lr=lr), 1)
    for a, b in zip(after, before):
        delta = np.abs(a - b)
        assert np.all(np.isclose(delta, lr, atol=1e-15) | (delta == 0.0))
    assert after[0].reshape(-1)[0] == before[0].reshape(-1)[0]  # gradient exactly 0: sign(0) = 0


def test_signum_without_momentum_is_signsgd():
    before = initial_params()
    after, _ = run_minigrad(optim.Signum, dict(lr=0.1, momentum=0.0), 1)
    from optim_modern_problem import gradient
    for i, (a, b) in enumerate(zip(after, before)):
        np.testing.assert_array_equal(a, b - 0.1 * np.sign(gradient(b, i)))


def test_signum_is_lion_with_equal_betas():
    ours, _ = run_minigrad(optim.Signum, dict(lr=1e-2, momentum=0.9), STEPS)
    lion, _ = run_minigrad(optim.Lion, dict(lr=1e-2, betas=(0.9, 0.9)), STEPS)
    assert_trajectories_close(ours, lion, atol=1e-14)


def test_qhm_special_cases():
    """nu = 0 is plain gradient descent; nu = 1 is SGD with an averaged
    buffer, i.e. torch SGD(dampening=momentum) up to its first-step buffer."""
    sgd, _ = run_minigrad(optim.SGD, dict(lr=0.05), STEPS)
    qhm0, _ = run_minigrad(optim.QHM, dict(lr=0.05, momentum=0.9, nu=0.0), STEPS)
    assert_trajectories_close(qhm0, sgd, atol=1e-14)


def test_qhadam_with_nus_one_is_adam():
    """QHAdam(nus=(1, 1)) is Adam exactly, eps placement included."""
    def adam_step(x, g, s, t):
        s["m"] = 0.9 * s["m"] + 0.1 * g
        s["v"] = 0.999 * s["v"] + 0.001 * g * g
        return x - 1e-2 * (s["m"] / (1 - 0.9 ** t)) / (np.sqrt(s["v"] / (1 - 0.999 ** t)) + 1e-8)
    expected = run_reference(adam_step, lambda x: {"m": 0.0 * x, "v": 0.0 * x}, STEPS)
    ours, _ = run_minigrad(optim.QHAdam, dict(lr=1e-2, betas=(0.9, 0.999), nus=(1.0, 1.0)), STEPS)
    assert_trajectories_close(ours, expected)


def test_aggmo_single_beta_is_heavy_ball():
    """betas = (mu,): v <- mu v + g; theta <- theta - lr v, i.e. torch SGD with
    momentum mu (whose first buffer is g, the same as mu * 0 + g)."""
    ours, _ = run_minigrad(optim.AggMo, dict(lr=0.02, betas=(0.8,)), STEPS)
    sgd, _ = run_minigrad(optim.SGD, dict(lr=0.02, momentum=0.8), STEPS)
    assert_trajectories_close(ours, sgd, atol=1e-14)


@pytest.mark.parametrize("cls, kwargs, match", [
    (optim.Lion, dict(lr=-1.0), "Lion: invalid lr"),
    (optim.Lion, dict(betas=(0.9, 1.0)), r"Lion: invalid betas\[1\]"),
    (optim.Lion, dict(weight_decay=-0.1), "Lion: invalid weight_decay"),
    (optim.Signum, dict(momentum=1.5), "Signum: invalid momentum"),
    (optim.QHM, dict(nu=1.1), "QHM: invalid nu"),
    (optim.QHM, dict(momentum=-0.1), "QHM: invalid momentum"),
    (optim.QHAdam, dict(nus=(0.7, 2.0)), r"QHAdam: invalid nus\[1\]"),
    (optim.QHAdam, dict(nus=(0.7,)), r"QHAdam: hyperparameter nus = \(0.7,\) must have 2 values"),
    (optim.QHAdam, dict(eps=-1e-8), "QHAdam: invalid eps"),
    (optim.AggMo, dict(betas=()), "AggMo: betas must hold at least one"),
    (optim.AggMo, dict(betas=(0.0, 1.2)), r"AggMo: invalid betas\[1\]"),
])
def test_bad_hyperparameters_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([minigrad.zeros(2, requires_grad=True)], **kwargs)
