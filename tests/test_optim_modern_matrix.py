"""Shampoo and SOAP (per-dimension preconditioners) against plain-NumPy
references written here from the papers' equations, closed forms on
rank-one gradients, invariants and bad hyperparameters."""
import math

import numpy as np
import pytest
from optim_modern_problem import assert_trajectories_close, gradient, run_minigrad, run_reference

import minigrad
import minigrad.optim as optim
from minigrad.optim.shampoo import matrix_power_psd

STEPS = 15
# SOAP trajectories are compared on shapes whose first eigenbases are unique
# (see test_optim_modern_oracles.py): no statistic with a repeated eigenvalue.
SOAP_INIT = [np.random.default_rng(1).normal(size=s) for s in [(4, 4), (5, 4), (2, 3, 4), (6,)]]


def gram(g, axis):
    """G_(i) G_(i)^T written as a contraction over every other axis."""
    others = [a for a in range(g.ndim) if a != axis]
    return np.tensordot(g, g, axes=(others, others))


def along(x, matrix, axis):
    """Multiply every fibre of x along `axis` by `matrix`."""
    return np.moveaxis(np.moveaxis(x, axis, -1) @ matrix.T, -1, axis)


def inverse_root(h, p):
    w, v = np.linalg.eigh(h)
    return v @ np.diag(w ** (-1.0 / p)) @ v.T


# ---------------------------------------------------------------- Shampoo
def shampoo_reference(lr, eps, momentum=0.0, wd=0.0, update_freq=1):
    def step(x, g, s, t):
        g = g + wd * x
        k = x.ndim
        if t == 1:
            s.update(H=[eps * np.eye(d) for d in x.shape], P=[None] * k, b=np.zeros_like(x))
        u = g
        for i in range(k):
            s["H"][i] = s["H"][i] + gram(g, i)
            if (t - 1) % update_freq == 0:
                s["P"][i] = inverse_root(s["H"][i], 2 * k)
            u = along(u, s["P"][i], i)
        if momentum:
            s["b"] = momentum * s["b"] + u
            u = s["b"]
        return x - lr * u
    return step, lambda x: {}


@pytest.mark.parametrize("kwargs, reference", [
    (dict(lr=0.05), shampoo_reference(0.05, 1e-4)),
    (dict(lr=0.05, epsilon=1e-2, momentum=0.5, weight_decay=0.1, update_freq=3),
     shampoo_reference(0.05, 1e-2, momentum=0.5, wd=0.1, update_freq=3)),
], ids=["defaults", "momentum-decay-freq3"])
def test_shampoo_matches_numpy_reference(kwargs, reference):
    ours, _ = run_minigrad(optim.Shampoo, kwargs, STEPS)
    assert_trajectories_close(ours, run_reference(*reference, STEPS), atol=1e-10)


def test_shampoo_rank_one_matrix_step_closed_form():
    """G = sigma u v^T: L = eps I + sigma^2 u u^T, so L^(-1/4) u = u (eps + sigma^2)^(-1/4)
    and the step is sigma u v^T / sqrt(eps + sigma^2)."""
    u, v, sigma, eps = np.array([0.6, 0.8, 0.0]), np.array([0.0, 1.0, 0.0, 0.0]), 3.0, 0.01
    g = sigma * np.outer(u, v)
    p = minigrad.Tensor(np.ones((3, 4)), requires_grad=True)
    opt = optim.Shampoo([p], lr=1.0, epsilon=eps)
    p.grad = minigrad.Tensor(g)
    opt.step()
    np.testing.assert_allclose(p.data, 1.0 - g / math.sqrt(eps + sigma ** 2), atol=1e-12)


def test_shampoo_on_a_vector_is_full_matrix_adagrad():
    """(eps I + g g^T)^(-1/2) g = g / sqrt(eps + ||g||^2)."""
    g, eps = np.array([1.0, -2.0, 0.5]), 0.1
    p = minigrad.Tensor(np.zeros(3), requires_grad=True)
    opt = optim.Shampoo([p], lr=1.0, epsilon=eps)
    p.grad = minigrad.Tensor(g)
    opt.step()
    np.testing.assert_allclose(p.data, -g / math.sqrt(eps + g @ g), atol=1e-12)


def test_shampoo_skips_dimensions_above_max_precond_dim():
    """A (3, 10) weight with max_precond_dim = 5: only the 3 x 3 statistic, still
    with the exponent -1/(2k) = -1/4 of a 2-D tensor."""
    x = np.random.default_rng(0).normal(size=(3, 10))
    g = gradient(x, 0)
    p = minigrad.Tensor(x.copy(), requires_grad=True)
    opt = optim.Shampoo([p], lr=0.1, max_precond_dim=5)
    p.grad = minigrad.Tensor(g)
    opt.step()
    assert opt.state[p]["preconditioners"][1] is None
    expected = x - 0.1 * inverse_root(1e-4 * np.eye(3) + g @ g.T, 4) @ g
    np.testing.assert_allclose(p.data, expected, atol=1e-12)


def test_matrix_power_psd_is_an_inverse_root():
    a = np.random.default_rng(0).normal(size=(5, 5))
    h = a @ a.T + 0.1 * np.eye(5)
    root = matrix_power_psd(h, -0.25, 1e-12)
    np.testing.assert_allclose(np.linalg.matrix_power(root, 4) @ h, np.eye(5), atol=1e-10)
    assert matrix_power_psd(h.astype(np.float32), -0.25, 1e-12).dtype == np.float32


# ---------------------------------------------------------------- SOAP
def soap_reference(lr, b1, b2, shampoo_beta, eps, wd, freq, correct_bias=True):
    def to_eigen(x, bases):
        for i, q in enumerate(bases):
            if q is not None:
                x = along(x, q.T, i)
        return x

    def from_eigen(x, bases):
        for i, q in enumerate(bases):
            if q is not None:
                x = along(x, q, i)
        return x

    def step(x, g, s, t):
        if t == 1:  # build the bases from the first gradient; no step
            s["L"] = [(1 - shampoo_beta) * gram(g, i) if x.ndim >= 2 else None
                      for i in range(x.ndim)]
            s["Q"] = [None if L is None else np.linalg.eigh(L)[1][:, ::-1] for L in s["L"]]
            s["m"], s["v"] = np.zeros_like(x), np.zeros_like(x)
            return x
        n = t - 1
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * to_eigen(g, s["Q"]) ** 2
        u = from_eigen(to_eigen(s["m"], s["Q"]) / (np.sqrt(s["v"]) + eps), s["Q"])
        scale = math.sqrt(1 - b2 ** n) / (1 - b1 ** n) if correct_bias else 1.0
        x = (x - lr * scale * u) * (1 - lr * wd)
        for i, L in enumerate(s["L"]):
            if L is None:
                continue
            s["L"][i] = shampoo_beta * L + (1 - shampoo_beta) * gram(g, i)
            if n % freq == 0:  # one power-iteration step, eigenvalue estimates sorted
                q = s["Q"][i]
                order = np.argsort(-np.diag(q.T @ s["L"][i] @ q))
                s["v"] = np.take(s["v"], order, axis=i)
                s["Q"][i] = np.linalg.qr(s["L"][i] @ q[:, order])[0]
        return x
    return step, lambda x: {}


@pytest.mark.parametrize("kwargs, reference", [
    (dict(lr=1e-2, eps=1e-4), soap_reference(1e-2, 0.95, 0.95, 0.95, 1e-4, 0.01, 10)),
    (dict(lr=1e-2, betas=(0.9, 0.99), shampoo_beta=0.8, eps=1e-4, weight_decay=0.1,
          precondition_frequency=3, correct_bias=False),
     soap_reference(1e-2, 0.9, 0.99, 0.8, 1e-4, 0.1, 3, correct_bias=False)),
], ids=["defaults", "refresh-every-3"])
def test_soap_matches_numpy_reference(kwargs, reference):
    """eps = 1e-4: on the first update g is diagonal in its own eigenbasis and
    the off-diagonal entries are rounding noise that m / (sqrt(v) + eps)
    amplifies by 1/eps."""
    ours, _ = run_minigrad(optim.SOAP, kwargs, STEPS, init=SOAP_INIT)
    assert_trajectories_close(ours, run_reference(*reference, STEPS, init=SOAP_INIT), atol=1e-10)


def test_soap_refresh_reorders_v_when_the_eigenvalues_swap():
    """The first gradient is largest along e1, the later ones along e3: at the
    refresh the estimated eigenvalues change order, v's coordinates must
    follow their eigenvectors (np.take along each dimension)."""
    noise = 0.01 * np.random.default_rng(3).normal(size=(3, 3))
    grads = [np.diag([3.0, 2.0, 1.0]) + noise] + [np.diag([0.1, 0.2, 5.0]) + noise] * 5
    kwargs = dict(lr=1e-2, shampoo_beta=0.5, precondition_frequency=2, eps=1e-4)
    step, _ = soap_reference(1e-2, 0.95, 0.95, 0.5, 1e-4, 0.01, 2)
    x, state = np.ones((3, 3)), {}
    p = minigrad.Tensor(np.ones((3, 3)), requires_grad=True)
    opt = optim.SOAP([p], **kwargs)
    for t, g in enumerate(grads, start=1):
        x = step(x, g, state, t)
        p.grad = minigrad.Tensor(g)
        opt.step()
    assert abs(opt.state[p]["Q"][0][2, 0]) > 0.99  # the leading eigenvector is now e3
    np.testing.assert_allclose(p.data, x, atol=1e-12)


def test_soap_first_step_does_not_move_and_bases_stay_orthonormal():
    _, opt = run_minigrad(optim.SOAP, dict(lr=1e-2), 1, init=SOAP_INIT)
    params = list(opt.state)
    assert all(np.array_equal(p.data, x) for p, x in zip(params, SOAP_INIT))
    run = run_minigrad(optim.SOAP, dict(lr=1e-2, precondition_frequency=2), 7, init=SOAP_INIT)[1]
    for state in run.state.values():
        for q in state["Q"]:
            if q is not None:
                np.testing.assert_allclose(q.T @ q, np.eye(len(q)), atol=1e-12)


def test_soap_precondition_1d_and_max_precond_dim_choose_the_bases():
    _, opt = run_minigrad(optim.SOAP, dict(lr=1e-2, precondition_1d=True, max_precond_dim=4),
                          3, init=SOAP_INIT)
    shapes = [[None if q is None else q.shape for q in s["Q"]] for s in opt.state.values()]
    assert shapes == [[(4, 4), (4, 4)], [None, (4, 4)], [(2, 2), (3, 3), (4, 4)], [None]]


# ---------------------------------------------------------------- both


@pytest.mark.parametrize("cls, kwargs, match", [
    (optim.Shampoo, dict(epsilon=0.0), "Shampoo: epsilon must be > 0"),
    (optim.Shampoo, dict(update_freq=0), "Shampoo: invalid update_freq"),
    (optim.Shampoo, dict(momentum=1.0), "Shampoo: invalid momentum"),
    (optim.SOAP, dict(betas=(0.95, 1.0)), r"SOAP: invalid betas\[1\]"),
    (optim.SOAP, dict(shampoo_beta=1.5), "SOAP: invalid shampoo_beta"),
    (optim.SOAP, dict(precondition_frequency=0), "SOAP: invalid precondition_frequency"),
])
def test_bad_hyperparameters_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([minigrad.zeros(2, 2, requires_grad=True)], **kwargs)


MODERN = ["Lion", "Signum", "QHM", "QHAdam", "AggMo", "AdaBelief", "Yogi", "DiffGrad", "AdaBound",
          "AdaMod", "ADOPT", "AdEMAMix", "MARS", "Adan", "AdamP", "SGDP", "LAMB", "LARS",
          "NovoGrad", "MADGRAD", "Shampoo", "SOAP"]


@pytest.mark.parametrize("name", MODERN)
def test_same_trajectory_on_every_device(name, device):
    """The rules only use NumPy functions that dispatch to CuPy (eigh and qr
    included): on a GPU they must follow the CPU trajectory."""
    cls = getattr(optim, name)
    expected, _ = run_minigrad(cls, dict(lr=1e-2), 4, init=SOAP_INIT)
    params = [minigrad.Tensor(x.copy(), device=device, requires_grad=True) for x in SOAP_INIT]
    opt = cls(params, lr=1e-2)
    for _ in range(4):
        for i, p in enumerate(params):
            p.grad = minigrad.Tensor(gradient(p.numpy(), i), device=device)
        opt.step()
    assert all(p.device == params[0].device for p in params)
    assert_trajectories_close([p.numpy() for p in params], expected, atol=1e-10)
