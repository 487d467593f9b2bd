"""LAMB, LARS, NovoGrad (per-tensor norms) and MADGRAD (dual averaging)
against plain-NumPy references written here from the papers' equations (not
by calling optim), plus invariants and bad hyperparameters."""
import math

import numpy as np
import pytest
from optim_modern_problem import (
    assert_trajectories_close,
    gradient,
    initial_params,
    run_minigrad,
    run_reference,
    zeros,
)

import minigrad
import minigrad.optim as optim

STEPS = 25


# ---------------------------------------------------------------- references
def lamb_reference(lr, b1, b2, eps, wd):
    def step(x, g, s, t):
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g ** 2
        r = (s["m"] / (1 - b1 ** t)) / (np.sqrt(s["v"] / (1 - b2 ** t)) + eps) + wd * x
        x_norm, r_norm = np.linalg.norm(x), np.linalg.norm(r)
        trust = x_norm / r_norm if x_norm > 0 and r_norm > 0 else 1.0
        return x - lr * trust * r
    return step, zeros("m", "v")


def lars_reference(lr, mu, wd, tc, eps, nesterov):
    """optax's chain: decay, trust ratio, -lr, trace (momentum)."""
    def step(x, g, s, t):
        u = g + wd * x
        x_norm, u_norm = np.linalg.norm(x), np.linalg.norm(u)
        trust = tc * x_norm / (u_norm + eps) if x_norm > 0 and u_norm > 0 else 1.0
        u = -lr * trust * u
        s["trace"] = u + mu * s["trace"]
        return x + (u + mu * s["trace"] if nesterov else s["trace"])
    return step, zeros("trace")


def novograd_reference(lr, b1, b2, eps, wd, averaging):
    def step(x, g, s, t):
        norm_sq = np.sum(g * g)
        s["v"] = norm_sq if t == 1 else b2 * s["v"] + (1 - b2) * norm_sq
        u = g / (np.sqrt(s["v"]) + eps) + wd * x
        s["m"] = b1 * s["m"] + ((1 - b1) if averaging else 1.0) * u
        return x - lr * s["m"]
    return step, lambda x: {"v": 0.0, "m": np.zeros_like(x)}


def madgrad_reference(lr, momentum, wd, eps):
    """Defazio & Jelassi, Algorithm 1 (with the official code's lr + eps)."""
    def step(x, g, s, t):
        g = g + wd * x
        if t == 1:
            s["x0"] = x.copy()
        lam = (lr + eps) * math.sqrt(t)          # k = t - 1:  sqrt(k + 1)
        s["s"] = s["s"] + lam * g
        s["nu"] = s["nu"] + lam * g ** 2
        z = s["x0"] - s["s"] / (np.cbrt(s["nu"]) + eps)
        return momentum * x + (1 - momentum) * z
    return step, zeros("s", "nu")


CASES = [
    ("LAMB", optim.LAMB, dict(lr=1e-2, weight_decay=0.1), lamb_reference(1e-2, 0.9, 0.999, 1e-6, 0.1)),
    ("LAMB-betas", optim.LAMB, dict(lr=1e-2, betas=(0.5, 0.9), eps=1e-8),
     lamb_reference(1e-2, 0.5, 0.9, 1e-8, 0.0)),
    ("LARS", optim.LARS, dict(lr=0.5, weight_decay=0.1, trust_coefficient=0.02),
     lars_reference(0.5, 0.9, 0.1, 0.02, 0.0, False)),
    ("LARS-nesterov", optim.LARS, dict(lr=0.5, momentum=0.8, nesterov=True, eps=1e-3),
     lars_reference(0.5, 0.8, 0.0, 1e-3, 1e-3, True)),
    ("NovoGrad", optim.NovoGrad, dict(lr=1e-2, weight_decay=0.1),
     novograd_reference(1e-2, 0.95, 0.98, 1e-8, 0.1, False)),
    ("NovoGrad-averaging", optim.NovoGrad, dict(lr=1e-2, betas=(0.9, 0.5), grad_averaging=True),
     novograd_reference(1e-2, 0.9, 0.5, 1e-8, 0.0, True)),
    ("MADGRAD", optim.MADGRAD, dict(lr=1e-2, weight_decay=0.1), madgrad_reference(1e-2, 0.9, 0.1, 1e-6)),
    ("MADGRAD-no-momentum", optim.MADGRAD, dict(lr=1e-2, momentum=0.0, eps=1e-4),
     madgrad_reference(1e-2, 0.0, 0.0, 1e-4)),
]


@pytest.mark.parametrize("name, cls, kwargs, reference", CASES, ids=[c[0] for c in CASES])
def test_matches_numpy_reference(name, cls, kwargs, reference):
    ours, _ = run_minigrad(cls, kwargs, STEPS)
    assert_trajectories_close(ours, run_reference(*reference, STEPS))


# ---------------------------------------------------------------- invariants
def test_lamb_moves_every_tensor_by_lr_times_its_norm():
    before = initial_params()
    after, _ = run_minigrad(optim.LAMB, dict(lr=0.01, weight_decay=0.1), 1)
    for a, b in zip(after, before):
        assert np.linalg.norm(a - b) == pytest.approx(0.01 * np.linalg.norm(b), rel=1e-12)


def test_lamb_and_lars_move_a_zero_tensor():
    """||theta|| = 0 would make the trust ratio 0 forever: it is 1 instead."""
    for cls in (optim.LAMB, optim.LARS):
        p = minigrad.zeros(3, dtype=minigrad.float64, requires_grad=True)
        opt = cls([p], lr=0.1)
        p.grad = minigrad.Tensor(np.array([1.0, -2.0, 0.5]))
        opt.step()
        assert np.all(p.data != 0.0), cls.__name__


def test_lars_without_adaptation_is_sgd_momentum():
    ours, _ = run_minigrad(optim.LARS, dict(lr=0.02, momentum=0.9, layer_adaptation=False), STEPS)
    sgd, _ = run_minigrad(optim.SGD, dict(lr=0.02, momentum=0.9), STEPS)
    assert_trajectories_close(ours, sgd, atol=1e-14)


def test_lars_layer_adaptation_per_group():
    """Biases excluded from adaptation and decay through a group of their own."""
    init = initial_params()
    params = [minigrad.Tensor(x.copy(), requires_grad=True) for x in init]
    opt = optim.LARS([{"params": params[:2]},
                      {"params": params[2:], "weight_decay": 0.0, "layer_adaptation": False}],
                     lr=0.5, weight_decay=0.1)
    for i, p in enumerate(params):
        p.grad = minigrad.Tensor(gradient(p.data, i))
    opt.step()
    np.testing.assert_allclose(params[2].data, init[2] - 0.5 * gradient(init[2], 2), rtol=1e-14)
    step, _ = lars_reference(0.5, 0.9, 0.1, 1e-3, 0.0, False)
    np.testing.assert_allclose(params[0].data, step(init[0], gradient(init[0], 0),
                                                    {"trace": 0.0 * init[0]}, 1), rtol=1e-14)


def test_novograd_ignores_the_scale_of_each_tensors_gradient():
    """With eps = 0 and no decay, multiplying a tensor's gradients by a
    constant does not change its trajectory: one v per tensor absorbs it."""
    plain, _ = run_minigrad(optim.NovoGrad, dict(lr=1e-2, eps=0.0), STEPS)
    scaled, _ = run_minigrad(optim.NovoGrad, dict(lr=1e-2, eps=0.0), STEPS,
                             grad=lambda x, i: 1000.0 ** i * gradient(x, i))
    assert_trajectories_close(scaled, plain, atol=1e-12)


def test_madgrad_first_step_from_closed_form():
    """k = 0: s = lamb g, nu = lamb g^2, z = x0 - lamb g / (cbrt(lamb g^2) + eps)."""
    init = initial_params()
    after, _ = run_minigrad(optim.MADGRAD, dict(lr=0.1, momentum=0.0, eps=0.0), 1)
    lam = 0.1
    for i, (a, x) in enumerate(zip(after, init)):
        g = gradient(x, i)
        nz = g != 0  # eps = 0: untouched coordinates stay put instead of 0/0
        expected = x.copy()
        expected[nz] = x[nz] - lam * g[nz] / np.cbrt(lam * g[nz] ** 2)
        np.testing.assert_allclose(a, expected, rtol=1e-12)


@pytest.mark.parametrize("cls, kwargs, match", [
    (optim.LAMB, dict(betas=(0.9, -0.1)), r"LAMB: invalid betas\[1\]"),
    (optim.LAMB, dict(eps=-1e-6), "LAMB: invalid eps"),
    (optim.LARS, dict(trust_coefficient=-1.0), "LARS: invalid trust_coefficient"),
    (optim.LARS, dict(momentum=1.0), "LARS: invalid momentum"),
    (optim.NovoGrad, dict(lr=-1.0), "NovoGrad: invalid lr"),
    (optim.MADGRAD, dict(momentum=1.0), "MADGRAD: invalid momentum"),
    (optim.MADGRAD, dict(eps=-1.0), "MADGRAD: invalid eps"),
])
def test_bad_hyperparameters_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([minigrad.zeros(2, requires_grad=True)], **kwargs)
