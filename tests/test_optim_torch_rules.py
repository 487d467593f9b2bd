"""The element-wise torch.optim rules against NumPy references written here
from the equations (no torch needed), plus invariants and bad-input errors.

Each reference is a plain float64 loop over steps in the textbook form
(beta * m + (1 - beta) * g, bias-corrected m_hat and v_hat, ...), written
independently of optim/*.py. The gradient is that of a smooth separable
function, with some entries exactly 0 on some steps and some tiny (1e-7),
so that sign ties and the placement of eps matter.
"""
import math

import numpy as np
import pytest

import minigrad
import minigrad.optim as optim

STEPS = 10
_rng = np.random.RandomState(0)
THETA0 = _rng.uniform(-1.0, 1.0, (3, 4))
TARGET = _rng.uniform(-0.5, 0.5, (3, 4))
SCALE = np.where(_rng.rand(3, 4) < 0.25, 1e-7, 1.0)
ZERO = [_rng.rand(3, 4) < 0.2 for _ in range(3)]


def grad_fn(theta, k):
    g = SCALE * (np.tanh(3 * theta) + 0.5 * theta ** 3 - TARGET)
    return np.where(ZERO[k % 3], 0.0, g)


def run_ours(cls, steps=STEPS, theta0=THETA0, grad=grad_fn, **kwargs):
    p = minigrad.Tensor(theta0.copy(), requires_grad=True)
    opt = cls([p], **kwargs)
    for k in range(steps):
        p.grad = minigrad.Tensor(grad(p.numpy().copy(), k))
        opt.step()
    return p.numpy()


def check(cls, reference, **kwargs):
    np.testing.assert_allclose(run_ours(cls, **kwargs), reference(THETA0.copy(), **kwargs),
                               rtol=1e-12, atol=1e-14)


def prepare(theta, g, maximize=False, weight_decay=0.0):
    g = -g if maximize else g
    return g + weight_decay * theta


# ------------------------------------------------------------------ references
def ref_sgd(theta, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):
    b = None
    for k in range(STEPS):
        g = prepare(theta, grad_fn(theta, k), maximize, weight_decay)
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        theta = theta - lr * g
    return theta


def ref_asgd(theta, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
    eta, mu, ax = lr, 1.0, np.zeros_like(theta)
    for k in range(STEPS):
        t = k + 1
        g = prepare(theta, grad_fn(theta, k), maximize, weight_decay)
        theta = theta * (1 - lambd * eta) - eta * g
        ax = theta.copy() if mu == 1 else ax + mu * (theta - ax)
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)
    return theta


def ref_rprop(theta, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), maximize=False):
    """Element by element, with if/else, as the paper describes it."""
    theta = theta.copy()
    delta = np.full(theta.shape, lr)
    prev = np.zeros_like(theta)
    for k in range(STEPS):
        g = prepare(theta, grad_fn(theta, k), maximize)
        for i in np.ndindex(theta.shape):
            gi = g[i]
            if gi * prev[i] > 0:
                delta[i] = min(delta[i] * etas[1], step_sizes[1])
            elif gi * prev[i] < 0:
                delta[i] = max(delta[i] * etas[0], step_sizes[0])
                gi = 0.0
            else:
                delta[i] = min(max(delta[i], step_sizes[0]), step_sizes[1])
            theta[i] -= np.sign(gi) * delta[i]
            prev[i] = gi
    return theta


def ref_adagrad(theta, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10, maximize=False):
    s = np.full(theta.shape, initial_accumulator_value)
    for k in range(STEPS):
        g = prepare(theta, grad_fn(theta, k), maximize, weight_decay)
        s = s + g ** 2
        theta = theta - lr / (1 + k * lr_decay) * g / (np.sqrt(s) + eps)
    return theta


def ref_rmsprop(theta, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    v, gbar, b = (np.zeros_like(theta) for _ in range(3))
    for k in range(STEPS):
        g = prepare(theta, grad_fn(theta, k), maximize, weight_decay)
        v = alpha * v + (1 - alpha) * g ** 2
        gbar = alpha * gbar + (1 - alpha) * g
        a = np.sqrt(v - gbar ** 2 if centered else v) + eps
        b = momentum * b + g / a
        theta = theta - lr * (b if momentum else g / a)
    return theta


def ref_adadelta(theta, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    v, u = np.zeros_like(theta), np.zeros_like(theta)
    for k in range(STEPS):
        g = prepare(theta, grad_fn(theta, k), maximize, weight_decay)
        v = rho * v + (1 - rho) * g ** 2
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta ** 2
        theta = theta - lr * delta
    return theta


def ref_adam(theta, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             maximize=False, decoupled_weight_decay=False):
    (b1, b2), m, v, vmax = betas, 0.0 * theta, 0.0 * theta, 0.0 * theta
    for k in range(STEPS):
        t = k + 1
        g = prepare(theta, grad_fn(theta, k), maximize)
        if decoupled_weight_decay:
            theta = theta - lr * weight_decay * theta
        else:
            g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        m_hat, v_hat = m / (1 - b1 ** t), (vmax if amsgrad else v) / (1 - b2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def ref_adamax(theta, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
    (b1, b2), m, u = betas, 0.0 * theta, 0.0 * theta
    for k in range(STEPS):
        g = prepare(theta, grad_fn(theta, k), maximize, weight_decay)
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        theta = theta - lr / (1 - b1 ** (k + 1)) * m / u
    return theta


def ref_nadam(theta, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    (b1, b2), m, v = betas, 0.0 * theta, 0.0 * theta
    mus = [b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay)) for t in range(1, STEPS + 2)]
    for k in range(STEPS):
        t = k + 1
        g = prepare(theta, grad_fn(theta, k), maximize)
        if decoupled_weight_decay:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        prod, prod_next = math.prod(mus[:t]), math.prod(mus[:t + 1])
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v / (1 - b2 ** t)) + eps
        theta = theta - lr * ((1 - mus[t - 1]) / (1 - prod) * g / denom
                              + mus[t] / (1 - prod_next) * m / denom)
    return theta


def ref_radam(theta, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              decoupled_weight_decay=False, maximize=False):
    (b1, b2), m, v = betas, 0.0 * theta, 0.0 * theta
    rho_inf = 2 / (1 - b2) - 1
    for k in range(STEPS):
        t = k + 1
        g = prepare(theta, grad_fn(theta, k), maximize)
        if decoupled_weight_decay:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t > 5:
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            theta = theta - lr * m_hat * r * math.sqrt(1 - b2 ** t) / (np.sqrt(v) + eps)
        else:
            theta = theta - lr * m_hat
    return theta


CASES = [
    (optim.SGD, ref_sgd, [dict(lr=0.1), dict(lr=0.1, momentum=0.9, dampening=0.2),
                          dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)]),
    (optim.ASGD, ref_asgd, [dict(), dict(lr=0.1, lambd=0.01, alpha=0.5, t0=3.0, weight_decay=0.1),
                            dict(t0=1.0, maximize=True)]),
    (optim.Rprop, ref_rprop, [dict(), dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.07)),
                              dict(maximize=True)]),
    (optim.Adagrad, ref_adagrad, [dict(), dict(lr=0.1, lr_decay=0.1, weight_decay=0.1,
                                               initial_accumulator_value=0.5, eps=1e-3),
                                  dict(maximize=True)]),
    (optim.RMSprop, ref_rmsprop, [dict(), dict(centered=True, eps=1e-3),
                                  dict(momentum=0.9, alpha=0.9, weight_decay=0.1),
                                  dict(centered=True, momentum=0.5, maximize=True)]),
    (optim.Adadelta, ref_adadelta, [dict(), dict(lr=0.5, rho=0.5, eps=1e-3, weight_decay=0.1),
                                    dict(maximize=True)]),
    (optim.Adam, ref_adam, [dict(lr=0.01), dict(lr=0.01, amsgrad=True, eps=1e-6),
                            dict(lr=0.01, weight_decay=0.1, betas=(0.5, 0.9)),
                            dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True,
                                 amsgrad=True, maximize=True)]),
    (optim.Adamax, ref_adamax, [dict(), dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3,
                                             weight_decay=0.1, maximize=True)]),
    (optim.NAdam, ref_nadam, [dict(), dict(lr=0.01, momentum_decay=0.1, weight_decay=0.1),
                              dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True,
                                   maximize=True)]),
    (optim.RAdam, ref_radam, [dict(), dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
                              dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True,
                                   maximize=True)]),
]


@pytest.mark.parametrize("cls,reference,kwargs",
                         [(c, r, kw) for c, r, kws in CASES for kw in kws],
                         ids=[f"{c.__name__}-{i}" for c, _, kws in CASES for i in range(len(kws))])
def test_matches_numpy_reference(cls, reference, kwargs):
    check(cls, reference, **kwargs)


# ------------------------------------------------------------------ invariants
def test_sgd_without_momentum_is_gradient_descent():
    theta = THETA0 - 0.1 * grad_fn(THETA0, 0)
    np.testing.assert_array_equal(run_ours(optim.SGD, steps=1, lr=0.1), theta)
    np.testing.assert_array_equal(run_ours(optim.SGD, lr=0.1, momentum=0.0),
                                  run_ours(optim.SGD, lr=0.1, momentum=0.0, dampening=0.5))


def test_adamw_is_adam_with_decoupled_decay():
    np.testing.assert_array_equal(run_ours(optim.AdamW, lr=0.01, weight_decay=0.0),
                                  run_ours(optim.Adam, lr=0.01))
    np.testing.assert_array_equal(run_ours(optim.AdamW, lr=0.01, weight_decay=0.3),
                                  run_ours(optim.Adam, lr=0.01, weight_decay=0.3,
                                           decoupled_weight_decay=True))
    assert optim.AdamW([minigrad.Tensor(np.ones(2), requires_grad=True)]).defaults[
        "weight_decay"] == 1e-2


def test_first_adam_step_is_lr_times_sign():
    """m_hat = g and v_hat = g^2 on step 1, so the step is lr * g / (|g| + eps)."""
    step = THETA0 - run_ours(optim.Adam, steps=1, lr=0.01)
    g = grad_fn(THETA0, 0)
    np.testing.assert_allclose(step, 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12, atol=1e-18)
    big = np.abs(g) > 1e-3
    np.testing.assert_allclose(step[big], 0.01 * np.sign(g[big]), rtol=1e-6)


def test_rprop_first_step_moves_each_entry_by_lr():
    step = THETA0 - run_ours(optim.Rprop, steps=1, lr=0.03)
    np.testing.assert_allclose(step, 0.03 * np.sign(grad_fn(THETA0, 0)), rtol=1e-14)


def test_adagrad_state_exists_before_the_first_step():
    p = minigrad.Tensor(np.zeros(3), requires_grad=True)
    opt = optim.Adagrad([p], initial_accumulator_value=0.25)
    np.testing.assert_array_equal(opt.state[p]["sum"], 0.25)
    assert opt.state[p]["step"] == 0


def test_asgd_keeps_the_average_of_the_iterates():
    """With t0 = 0, mu = 1/(t - 1) at step t: ax is the plain mean of the
    iterates from step 2 on (step 1's mu = 1 just copies the iterate)."""
    p = minigrad.Tensor(THETA0.copy(), requires_grad=True)
    opt = optim.ASGD([p], lr=0.1, t0=0.0)
    iterates = []
    for k in range(5):
        p.grad = minigrad.Tensor(grad_fn(p.numpy().copy(), k))
        opt.step()
        iterates.append(p.numpy().copy())
    np.testing.assert_allclose(opt.state[p]["ax"], np.mean(iterates[1:], axis=0), rtol=1e-13)


# ------------------------------------------------------------ bad hyperparameters
W = minigrad.Tensor(np.ones((2, 2)), requires_grad=True)


@pytest.mark.parametrize("cls,kwargs,match", [
    (optim.ASGD, dict(lr=-1.0), "ASGD: invalid lr"),
    (optim.ASGD, dict(weight_decay=-0.1), "ASGD: invalid weight_decay"),
    (optim.Rprop, dict(etas=(1.2, 0.5)), "Rprop: invalid etas"),
    (optim.Rprop, dict(step_sizes=(1.0, 0.1)), "Rprop: invalid step_sizes"),
    (optim.Adagrad, dict(lr_decay=-1.0), "Adagrad: invalid lr_decay"),
    (optim.Adagrad, dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (optim.Adagrad, dict(eps=-1e-8), "Adagrad: invalid eps"),
    (optim.RMSprop, dict(alpha=-0.5), "RMSprop: invalid alpha"),
    (optim.RMSprop, dict(momentum=-0.9), "RMSprop: invalid momentum"),
    (optim.Adadelta, dict(rho=1.5), "Adadelta: invalid rho"),
    (optim.Adam, dict(betas=(1.0, 0.999)), r"Adam: invalid betas\[0\]"),
    (optim.Adam, dict(betas=(0.9, -0.1)), r"Adam: invalid betas\[1\]"),
    (optim.Adam, dict(betas=(0.9,)), r"Adam: hyperparameter betas = \(0.9,\) must have 2 values"),
    (optim.AdamW, dict(eps=-1.0), "AdamW: invalid eps"),
    (optim.AdamW, dict(lr=float("nan")), "AdamW: invalid lr"),
    (optim.Adamax, dict(betas=(0.9, 1.0)), r"Adamax: invalid betas\[1\]"),
    (optim.NAdam, dict(momentum_decay=-1.0), "NAdam: invalid momentum_decay"),
    (optim.RAdam, dict(weight_decay=-1.0), "RAdam: invalid weight_decay"),
    (optim.SparseAdam, dict(lr=0.0), "SparseAdam: invalid lr"),
    (optim.SparseAdam, dict(eps=0.0), "SparseAdam: invalid eps"),
    (optim.Adafactor, dict(beta2_decay=0.5), "Adafactor: invalid beta2_decay"),
    (optim.Adafactor, dict(d=0.5), "Adafactor: invalid d"),
    (optim.Adafactor, dict(eps=(-1.0, 1e-3)), r"Adafactor: invalid eps\[0\]"),
    (optim.Muon, dict(momentum=-1.0), "Muon: invalid momentum"),
    (optim.Muon, dict(ns_steps=100), "Muon: invalid ns_steps"),
    (optim.Muon, dict(adjust_lr_fn="rms"), "Muon: unknown adjust_lr_fn"),
    (optim.Muon, dict(ns_coefficients=(1.0, 2.0)), "Muon: ns_coefficients must be 3"),
    (optim.LBFGS, dict(line_search_fn="armijo"), "LBFGS: unknown line_search_fn"),
    (optim.LBFGS, dict(history_size=0), "LBFGS: invalid history_size"),
])
def test_bad_hyperparameters_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([W], **kwargs)
