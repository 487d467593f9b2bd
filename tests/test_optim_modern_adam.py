"""AdaBelief, Yogi, DiffGrad, AdaBound, AdaMod, ADOPT, AdEMAMix, MARS, Adan,
AdamP, SGDP against plain-NumPy references written here from the papers'
equations (not by calling optim), plus invariants and bad hyperparameters."""
import math

import numpy as np
import pytest
from optim_modern_problem import (
    SCALE_INVARIANT,
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
def adabelief_reference(lr, b1, b2, eps, wd):
    def step(x, g, s, t):
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["s"] = b2 * s["s"] + (1 - b2) * (g - s["m"]) ** 2 + eps
        m_hat, s_hat = s["m"] / (1 - b1 ** t), s["s"] / (1 - b2 ** t)
        return x * (1 - lr * wd) - lr * m_hat / (np.sqrt(s_hat) + eps)
    return step, zeros("m", "s")


def yogi_reference(lr, b1, b2, eps, init, wd):
    def step(x, g, s, t):
        g = g + wd * x
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = s["v"] - (1 - b2) * np.sign(s["v"] - g ** 2) * g ** 2
        return x - lr * (s["m"] / (1 - b1 ** t)) / (np.sqrt(s["v"] / (1 - b2 ** t)) + eps)
    return step, lambda x: {"m": np.full_like(x, init), "v": np.full_like(x, init)}


def diffgrad_reference(lr, b1, b2, eps, wd):
    def step(x, g, s, t):
        g = g + wd * x
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g ** 2
        friction = 1 / (1 + np.exp(-np.abs(s["prev"] - g)))
        s["prev"] = g
        return x - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * friction * s["m"] / (np.sqrt(s["v"]) + eps)
    return step, zeros("m", "v", "prev")


def adabound_reference(lr, b1, b2, final_lr, gamma, eps, wd, amsbound):
    def step(x, g, s, t):
        g = g + wd * x
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g ** 2
        s["vmax"] = np.maximum(s["vmax"], s["v"])
        v = s["vmax"] if amsbound else s["v"]
        eta = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) / (np.sqrt(v) + eps)
        lower, upper = final_lr * (1 - 1 / (gamma * t + 1)), final_lr * (1 + 1 / (gamma * t))
        return x - np.minimum(np.maximum(eta, lower), upper) * s["m"]
    return step, zeros("m", "v", "vmax")


def adamod_reference(lr, b1, b2, b3, eps, wd):
    def step(x, g, s, t):
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g ** 2
        eta = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) / (np.sqrt(s["v"]) + eps)
        s["s"] = b3 * s["s"] + (1 - b3) * eta
        return x * (1 - lr * wd) - np.minimum(eta, s["s"]) * s["m"]
    return step, zeros("m", "v", "s")


def adopt_reference(lr, b1, b2, eps, wd, decoupled, clip=True):
    def step(x, g, s, t):
        k = t - 1
        if not decoupled:
            g = g + wd * x
        if k == 0:
            s["v"] = g ** 2
            return x
        u = g / np.maximum(np.sqrt(s["v"]), eps)
        if clip:
            u = np.clip(u, -k ** 0.25, k ** 0.25)
        s["m"] = b1 * s["m"] + (1 - b1) * u
        s["v"] = b2 * s["v"] + (1 - b2) * g ** 2
        return x * (1 - lr * wd if decoupled else 1.0) - lr * s["m"]
    return step, zeros("m", "v")


def ademamix_reference(lr, b1, b2, b3, alpha, eps, wd, T=None):
    def step(x, g, s, t):
        a, beta3 = alpha, b3
        if T is not None:  # the paper's schedulers (Algorithm 1, appendix)
            a = min(t * alpha / T, alpha)
            mix = t / T
            beta3 = min(math.exp(math.log(b1) * math.log(b3)
                                 / ((1 - mix) * math.log(b3) + mix * math.log(b1))), b3)
        s["m1"] = b1 * s["m1"] + (1 - b1) * g
        s["m2"] = beta3 * s["m2"] + (1 - beta3) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g ** 2
        m_hat, v_hat = s["m1"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
        return x - lr * ((m_hat + a * s["m2"]) / (np.sqrt(v_hat) + eps) + wd * x)
    return step, zeros("m1", "m2", "v")


def mars_reference(lr, b1, b2, gamma, eps, wd):
    def step(x, g, s, t):
        c = g + gamma * b1 / (1 - b1) * (g - s["prev"])
        if np.linalg.norm(c) > 1:
            c = c / np.linalg.norm(c)
        s["prev"] = g
        s["m"] = b1 * s["m"] + (1 - b1) * c
        s["v"] = b2 * s["v"] + (1 - b2) * c ** 2
        m_hat, v_hat = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
        return x - lr * (m_hat / (np.sqrt(v_hat) + eps) + wd * x)
    return step, zeros("m", "v", "prev")


def adan_reference(lr, betas, eps, wd, no_prox):
    """In the paper's notation: beta_i there is 1 - beta_i here."""
    p1, p2, p3 = (1 - b for b in betas)

    def step(x, g, s, t):
        diff = np.zeros_like(g) if t == 1 else g - s["prev"]
        s["prev"] = g
        s["m"] = (1 - p1) * s["m"] + p1 * g
        s["v"] = (1 - p2) * s["v"] + p2 * diff
        s["n"] = (1 - p3) * s["n"] + p3 * (g + (1 - p2) * diff) ** 2
        m_hat, v_hat = s["m"] / (1 - (1 - p1) ** t), s["v"] / (1 - (1 - p2) ** t)
        eta = lr / (np.sqrt(s["n"] / (1 - (1 - p3) ** t)) + eps)
        if no_prox:
            return x * (1 - lr * wd) - eta * (m_hat + (1 - p2) * v_hat)
        return (x - eta * (m_hat + (1 - p2) * v_hat)) / (1 + lr * wd)
    return step, zeros("m", "v", "n", "prev")


def projection_reference(x, g, u, delta, wd_ratio, eps):
    """Heo et al.'s Algorithm: channel-wise test first, then layer-wise."""
    if x.ndim < 2:
        return u, 1.0
    for rows in (x.shape[0], 1):
        xr, gr, ur = x.reshape(rows, -1), g.reshape(rows, -1), u.reshape(rows, -1).copy()
        cos = [abs(a @ b) / (np.linalg.norm(a) + eps) / (np.linalg.norm(b) + eps)
               for a, b in zip(xr, gr)]
        if max(cos) < delta / math.sqrt(xr.shape[1]):
            for r in range(rows):
                unit = xr[r] / (np.linalg.norm(xr[r]) + eps)
                ur[r] -= (unit @ ur[r]) * unit
            return ur.reshape(x.shape), wd_ratio
    return u, 1.0


def adamp_reference(lr, b1, b2, eps, wd, delta, wd_ratio, nesterov):
    def step(x, g, s, t):
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g ** 2
        denom = np.sqrt(s["v"] / (1 - b2 ** t)) + eps
        u = (b1 * s["m"] + (1 - b1) * g if nesterov else s["m"]) / denom
        u, ratio = projection_reference(x, g, u, delta, wd_ratio, eps)
        return x * (1 - lr * wd * ratio) - lr / (1 - b1 ** t) * u
    return step, zeros("m", "v")


def sgdp_reference(lr, mu, dampening, eps, wd, delta, wd_ratio, nesterov):
    def step(x, g, s, t):
        s["b"] = mu * s["b"] + (1 - dampening) * g
        u, ratio = projection_reference(x, g, g + mu * s["b"] if nesterov else s["b"],
                                        delta, wd_ratio, eps)
        if not nesterov:
            s["b"] = u
        return x * (1 - lr * wd * ratio / (1 - mu)) - lr * u
    return step, zeros("b")


CASES = [
    ("AdaBelief", optim.AdaBelief, dict(lr=1e-2, weight_decay=0.1),
     adabelief_reference(1e-2, 0.9, 0.999, 1e-16, 0.1)),
    ("AdaBelief-eps", optim.AdaBelief, dict(lr=1e-2, betas=(0.8, 0.9), eps=1e-8),
     adabelief_reference(1e-2, 0.8, 0.9, 1e-8, 0.0)),
    ("Yogi", optim.Yogi, dict(lr=1e-2, weight_decay=0.1), yogi_reference(1e-2, 0.9, 0.999, 1e-3, 1e-6, 0.1)),
    ("Yogi-init", optim.Yogi, dict(lr=1e-2, betas=(0.5, 0.9), eps=1e-6, initial_accumulator=0.1),
     yogi_reference(1e-2, 0.5, 0.9, 1e-6, 0.1, 0.0)),
    ("DiffGrad", optim.DiffGrad, dict(lr=1e-2, weight_decay=0.1),
     diffgrad_reference(1e-2, 0.9, 0.999, 1e-8, 0.1)),
    ("AdaBound", optim.AdaBound, dict(lr=1e-2, final_lr=0.05, gamma=0.05, weight_decay=0.1),
     adabound_reference(1e-2, 0.9, 0.999, 0.05, 0.05, 1e-8, 0.1, False)),
    ("AMSBound", optim.AdaBound, dict(lr=1e-2, final_lr=0.05, gamma=0.05, amsbound=True),
     adabound_reference(1e-2, 0.9, 0.999, 0.05, 0.05, 1e-8, 0.0, True)),
    ("AdaMod", optim.AdaMod, dict(lr=1e-2, beta3=0.9, weight_decay=0.1),
     adamod_reference(1e-2, 0.9, 0.999, 0.9, 1e-8, 0.1)),
    ("ADOPT", optim.ADOPT, dict(lr=1e-2, weight_decay=0.1),
     adopt_reference(1e-2, 0.9, 0.9999, 1e-6, 0.1, False)),
    ("ADOPT-decoupled", optim.ADOPT, dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1,
                                          decoupled_weight_decay=True),
     adopt_reference(1e-2, 0.8, 0.99, 1e-6, 0.1, True)),
    ("ADOPT-noclip", optim.ADOPT, dict(lr=1e-2, clip_exponent=None),
     adopt_reference(1e-2, 0.9, 0.9999, 1e-6, 0.0, False, clip=False)),
    ("AdEMAMix", optim.AdEMAMix, dict(lr=1e-2, weight_decay=0.1),
     ademamix_reference(1e-2, 0.9, 0.999, 0.9999, 5.0, 1e-8, 0.1)),
    ("AdEMAMix-warmup", optim.AdEMAMix, dict(lr=1e-2, betas=(0.8, 0.99, 0.999), alpha=8.0,
                                             T_alpha_beta3=15),
     ademamix_reference(1e-2, 0.8, 0.99, 0.999, 8.0, 1e-8, 0.0, T=15)),
    ("MARS", optim.MARS, dict(lr=1e-2, weight_decay=0.1),
     mars_reference(1e-2, 0.95, 0.99, 0.025, 1e-8, 0.1)),
    ("MARS-gamma", optim.MARS, dict(lr=1e-2, betas=(0.9, 0.95), gamma=0.5),
     mars_reference(1e-2, 0.9, 0.95, 0.5, 1e-8, 0.0)),
    ("Adan", optim.Adan, dict(lr=1e-2, weight_decay=0.1),
     adan_reference(1e-2, (0.98, 0.92, 0.99), 1e-8, 0.1, False)),
    ("Adan-no-prox", optim.Adan, dict(lr=1e-2, betas=(0.9, 0.8, 0.95), weight_decay=0.1,
                                      no_prox=True),
     adan_reference(1e-2, (0.9, 0.8, 0.95), 1e-8, 0.1, True)),
    ("AdamP", optim.AdamP, dict(lr=1e-2, weight_decay=0.1),
     adamp_reference(1e-2, 0.9, 0.999, 1e-8, 0.1, 0.1, 0.1, False)),
    ("AdamP-nesterov", optim.AdamP, dict(lr=1e-2, weight_decay=0.1, nesterov=True, wd_ratio=0.5),
     adamp_reference(1e-2, 0.9, 0.999, 1e-8, 0.1, 0.1, 0.5, True)),
    ("SGDP", optim.SGDP, dict(lr=1e-2, momentum=0.9, weight_decay=0.1),
     sgdp_reference(1e-2, 0.9, 0.0, 1e-8, 0.1, 0.1, 0.1, False)),
    ("SGDP-nesterov", optim.SGDP, dict(lr=1e-2, momentum=0.5, dampening=0.0, nesterov=True,
                                       weight_decay=0.1),
     sgdp_reference(1e-2, 0.5, 0.0, 1e-8, 0.1, 0.1, 0.1, True)),
]


@pytest.mark.parametrize("name, cls, kwargs, reference", CASES, ids=[c[0] for c in CASES])
def test_matches_numpy_reference(name, cls, kwargs, reference):
    ours, _ = run_minigrad(cls, kwargs, STEPS)
    assert_trajectories_close(ours, run_reference(*reference, STEPS))


# ---------------------------------------------------------------- invariants
def test_adan_global_gradient_clipping():
    """All gradients are scaled by ONE factor min(1, max_norm / (||g||_all + eps))."""
    max_norm, eps = 2.0, 1e-8
    step, init_state = adan_reference(1e-2, (0.98, 0.92, 0.99), eps, 0.0, False)
    xs = initial_params()
    states = [init_state(x) for x in xs]
    for t in range(1, STEPS + 1):
        grads = [gradient(x, i) for i, x in enumerate(xs)]
        total = math.sqrt(sum(float((g * g).sum()) for g in grads))
        scale = min(1.0, max_norm / (total + eps))
        assert scale < 1.0  # the problem's gradients are large enough to be clipped
        xs = [step(x, g * scale, s, t) for x, g, s in zip(xs, grads, states)]
    ours, _ = run_minigrad(optim.Adan, dict(lr=1e-2, max_grad_norm=max_norm), STEPS)
    assert_trajectories_close(ours, xs)


def test_adopt_first_step_does_not_move():
    before = initial_params()
    after, opt = run_minigrad(optim.ADOPT, dict(lr=0.1), 1)
    assert_trajectories_close(after, before, atol=0.0, rtol=0.0)
    assert opt.state[next(iter(opt.state))]["step"] == 1


def test_adamp_projection_only_touches_scale_invariant_weights():
    """The conv-like kernel has gradients orthogonal to it: its update has no
    radial part, so to first order its norm does not grow (per channel)."""
    before = initial_params()
    after, _ = run_minigrad(optim.AdamP, dict(lr=1e-3), 1)
    rows_b = before[SCALE_INVARIANT].reshape(2, -1)
    delta = (after[SCALE_INVARIANT] - before[SCALE_INVARIANT]).reshape(2, -1)
    # (not exactly 0: the unit vector is theta / (||theta|| + eps))
    np.testing.assert_allclose((rows_b * delta).sum(axis=1), 0.0, atol=1e-9)
    plain, _ = run_minigrad(optim.AdamP, dict(lr=1e-3, delta=0.0), 1)  # delta = 0: never projects
    assert abs(float(((plain[SCALE_INVARIANT] - before[SCALE_INVARIANT]).reshape(2, -1)
                      * rows_b).sum())) > 1e-6


def test_adabound_bounds_follow_an_lr_schedule():
    """final_lr is scaled by lr / base_lr: halving lr halves the bounds. A
    huge eps makes the Adam step tiny, so the lower bound decides."""
    params = [minigrad.Tensor(np.array([1.0, -2.0]), requires_grad=True)]
    opt = optim.AdaBound(params, lr=1e-2, final_lr=0.1, gamma=0.5, eps=1e6)
    opt.param_groups[0]["lr"] = 5e-3
    params[0].grad = minigrad.Tensor(np.array([1.0, -1.0]))
    opt.step()
    lower = 0.1 * (5e-3 / 1e-2) * (1 - 1 / (0.5 * 1 + 1))
    m = 0.1 * np.array([1.0, -1.0])
    np.testing.assert_allclose(params[0].data, np.array([1.0, -2.0]) - lower * m, rtol=1e-12)
    assert opt.state_dict()["param_groups"][0]["base_lr"] == 1e-2


@pytest.mark.parametrize("cls, kwargs, match", [
    (optim.AdaBelief, dict(betas=(1.0, 0.999)), r"AdaBelief: invalid betas\[0\]"),
    (optim.AdaBelief, dict(eps=-1.0), "AdaBelief: invalid eps"),
    (optim.Yogi, dict(lr=-0.1), "Yogi: invalid lr"),
    (optim.DiffGrad, dict(weight_decay=-1.0), "DiffGrad: invalid weight_decay"),
    (optim.AdaBound, dict(final_lr=-0.1), "AdaBound: invalid final_lr"),
    (optim.AdaBound, dict(gamma=1.5), "AdaBound: invalid gamma"),
    (optim.AdaMod, dict(beta3=1.0), "AdaMod: invalid beta3"),
    (optim.ADOPT, dict(betas=(0.9,)), r"ADOPT: hyperparameter betas = \(0.9,\) must have 2 values"),
    (optim.ADOPT, dict(clip_exponent=-0.25), "ADOPT: invalid clip_exponent"),
    (optim.AdEMAMix, dict(betas=(0.9, 0.999)),
     r"AdEMAMix: hyperparameter betas = \(0.9, 0.999\) must have 3 values"),
    (optim.AdEMAMix, dict(alpha=-1.0), "AdEMAMix: invalid alpha"),
    (optim.AdEMAMix, dict(betas=(0.0, 0.999, 0.9999), T_alpha_beta3=10), "needs betas\\[0\\] > 0"),
    (optim.MARS, dict(gamma=-0.1), "MARS: invalid gamma"),
    (optim.Adan, dict(betas=(0.98, 0.92, 1.0)), r"Adan: invalid betas\[2\]"),
    (optim.Adan, dict(max_grad_norm=-1.0), "Adan: invalid max_grad_norm"),
    (optim.AdamP, dict(delta=-0.1), "AdamP: invalid delta"),
    (optim.SGDP, dict(momentum=1.0), "SGDP: invalid momentum"),
    (optim.SGDP, dict(wd_ratio=-1.0), "SGDP: invalid wd_ratio"),
])
def test_bad_hyperparameters_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([minigrad.zeros(2, requires_grad=True)], **kwargs)
