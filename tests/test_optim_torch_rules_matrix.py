"""SparseAdam, Adafactor, Muon and L-BFGS against references written here
(no torch needed): plain loops, an SVD form of Newton-Schulz, the explicit
BFGS matrix, and closed-form checks of the line search.
"""
import math

import numpy as np
import pytest

import minigrad
import minigrad.optim as optim
from minigrad.optim.line_search import _cubic_interpolate, _strong_wolfe
from minigrad.optim.muon import newton_schulz

STEPS = 8
_rng = np.random.RandomState(5)


def smooth_grad(theta, target):
    return np.tanh(3 * theta) + 0.5 * theta ** 3 - target


def run_ours(cls, params0, grads_at, steps=STEPS, **kwargs):
    params = [minigrad.Tensor(x.copy(), requires_grad=True) for x in params0]
    opt = cls(params, **kwargs)
    for k in range(steps):
        for p, g in zip(params, grads_at([p.numpy().copy() for p in params], k)):
            p.grad = minigrad.Tensor(g)
        opt.step()
    return [p.numpy() for p in params], opt, params


# ------------------------------------------------------------------- SparseAdam
SP0 = _rng.uniform(-1, 1, (5, 3))
SP_TARGET = _rng.uniform(-0.5, 0.5, (5, 3))
SP_MASKS = [_rng.rand(5, 3) < 0.5 for _ in range(STEPS)]


def sparse_grads(params, k):
    return [np.where(SP_MASKS[k], smooth_grad(params[0], SP_TARGET), 0.0)]


def ref_sparse_adam(theta, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
    theta, m, v = theta.copy(), np.zeros_like(theta), np.zeros_like(theta)
    b1, b2 = betas
    for k in range(STEPS):
        t = k + 1
        g = sparse_grads([theta], k)[0]
        for i in np.ndindex(theta.shape):
            if g[i] == 0:
                continue  # untouched: weight and moments keep their values
            gi = -g[i] if maximize else g[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            theta[i] -= lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m[i] / (math.sqrt(v[i]) + eps)
    return theta


@pytest.mark.parametrize("kwargs", [{}, dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3, maximize=True)])
def test_sparse_adam_matches_masked_reference(kwargs):
    (theta,), _, _ = run_ours(optim.SparseAdam, [SP0], sparse_grads, **kwargs)
    np.testing.assert_allclose(theta, ref_sparse_adam(SP0, **kwargs), rtol=1e-12, atol=1e-15)


def test_sparse_adam_leaves_untouched_entries_alone():
    p = minigrad.Tensor(SP0.copy(), requires_grad=True)
    opt = optim.SparseAdam([p], lr=0.1)
    p.grad = minigrad.Tensor(np.where(SP_MASKS[0], 1.0, 0.0))
    opt.step()
    untouched = ~SP_MASKS[0]
    np.testing.assert_array_equal(p.numpy()[untouched], SP0[untouched])
    np.testing.assert_array_equal(opt.state[p]["exp_avg"][untouched], 0.0)
    assert (p.numpy()[SP_MASKS[0]] != SP0[SP_MASKS[0]]).all()
    before = p.numpy().copy()
    p.grad = minigrad.Tensor(np.zeros_like(SP0))  # counted as a step, changes nothing
    opt.step()
    assert opt.state[p]["step"] == 2
    np.testing.assert_array_equal(p.numpy(), before)


# -------------------------------------------------------------------- Adafactor
AF0 = [_rng.uniform(-1, 1, (2, 3, 4)), _rng.uniform(-1, 1, (4, 3)), _rng.uniform(-1, 1, (3,))]
AF_TARGET = [_rng.uniform(-0.5, 0.5, x.shape) for x in AF0]


def af_grads(params, k):
    return [smooth_grad(th, tg) * (1 + k % 2) for th, tg in zip(params, AF_TARGET)]


def ref_adafactor(params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0,
                  maximize=False):
    eps1 = np.finfo(np.float64).eps if eps[0] is None else eps[0]
    params = [x.copy() for x in params]
    row = [np.zeros(x.shape[:-1]) if x.ndim >= 2 else None for x in params]   # mean over columns
    col = [np.zeros(x.shape[:-2] + x.shape[-1:]) if x.ndim >= 2 else None for x in params]
    var = [np.zeros_like(x) for x in params]
    for k in range(STEPS):
        t = k + 1
        grads = af_grads(params, k)
        for j, (theta, g) in enumerate(zip(params, grads)):
            g = -g if maximize else g
            beta2 = 1 - t ** beta2_decay
            alpha = max(eps[1], math.sqrt(np.mean(theta ** 2))) * min(lr, 1 / math.sqrt(t))
            theta *= 1 - lr * weight_decay
            if theta.ndim >= 2:
                v_hat = np.empty_like(theta)
                for lead in np.ndindex(theta.shape[:-2]):  # each matrix separately
                    row[j][lead] = beta2 * row[j][lead] + (1 - beta2) * (g[lead] ** 2).mean(axis=1)
                    col[j][lead] = beta2 * col[j][lead] + (1 - beta2) * (g[lead] ** 2).mean(axis=0)
                    v_hat[lead] = np.outer(row[j][lead], col[j][lead]) / max(row[j][lead].mean(), eps1)
            else:
                var[j] = beta2 * var[j] + (1 - beta2) * g ** 2
                v_hat = var[j]
            u = g / np.sqrt(np.maximum(v_hat, eps1 ** 2))
            theta -= alpha / max(1.0, math.sqrt(np.mean(u ** 2)) / d) * u
    return params


@pytest.mark.parametrize("kwargs", [{}, dict(lr=0.05, weight_decay=0.1, beta2_decay=-0.5,
                                             eps=(1e-3, 1e-2)),
                                    dict(lr=0.5, d=1.2, maximize=True)])
def test_adafactor_matches_loop_reference(kwargs):
    ours, _, _ = run_ours(optim.Adafactor, AF0, af_grads, **kwargs)
    for a, b in zip(ours, ref_adafactor(AF0, **kwargs)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_adafactor_state_is_factored():
    _, opt, params = run_ours(optim.Adafactor, AF0, af_grads, steps=1)
    assert opt.state[params[0]]["row_var"].shape == (2, 3, 1)
    assert opt.state[params[0]]["col_var"].shape == (2, 1, 4)
    assert opt.state[params[2]]["variance"].shape == (3,)


# ------------------------------------------------------------------------- Muon
MU0 = [_rng.uniform(-1, 1, (5, 3)), _rng.uniform(-1, 1, (2, 4))]
MU_TARGET = [_rng.uniform(-0.5, 0.5, x.shape) for x in MU0]


def mu_grads(params, k):
    return [smooth_grad(th, tg) + 0.1 * k for th, tg in zip(params, MU_TARGET)]


def ns_by_svd(u, coefficients=(3.4445, -4.7750, 2.0315), steps=5):
    """Newton-Schulz acts on singular values alone: s <- a s + b s^3 + c s^5."""
    a, b, c = coefficients
    left, s, right = np.linalg.svd(u / np.linalg.norm(u), full_matrices=False)
    for _ in range(steps):
        s = a * s + b * s ** 3 + c * s ** 5
    return left @ np.diag(s) @ right


def ref_muon(params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
             adjust_lr_fn=None, ns_steps=5):
    params = [x.copy() for x in params]
    bufs = [np.zeros_like(x) for x in params]
    for k in range(STEPS):
        for j, g in enumerate(mu_grads(params, k)):
            bufs[j] = momentum * bufs[j] + (1 - momentum) * g
            u = momentum * bufs[j] + (1 - momentum) * g if nesterov else bufs[j]
            rows, cols = params[j].shape
            scale = (0.2 * math.sqrt(max(rows, cols)) if adjust_lr_fn == "match_rms_adamw"
                     else math.sqrt(max(1, rows / cols)))
            params[j] = params[j] * (1 - lr * weight_decay) - lr * scale * ns_by_svd(u, steps=ns_steps)
    return params


@pytest.mark.parametrize("kwargs", [dict(lr=0.02), dict(lr=0.02, nesterov=False, weight_decay=0.0),
                                    dict(lr=0.01, momentum=0.5, adjust_lr_fn="match_rms_adamw",
                                         ns_steps=3)])
def test_muon_matches_svd_reference(kwargs):
    ours, _, _ = run_ours(optim.Muon, MU0, mu_grads, **kwargs)
    for a, b in zip(ours, ref_muon(MU0, **kwargs)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (6, 6)])
def test_newton_schulz_nearly_orthogonalizes(shape):
    g = np.random.RandomState(0).randn(*shape)
    g_before = g.copy()
    s = np.linalg.svd(newton_schulz(g), compute_uv=False)
    assert ((s > 0.5) & (s < 1.5)).all(), s
    np.testing.assert_array_equal(g, g_before)  # the input (the momentum buffer) is untouched


def test_muon_rejects_non_matrices_clearly():
    with pytest.raises(ValueError, match=r"Muon only optimizes 2-D .* shape \(3,\).*AdamW"):
        optim.Muon([minigrad.Tensor(np.ones(3), requires_grad=True)])
    with pytest.raises(ValueError, match=r"shape \(3, 2, 2, 2\).*flatten=True"):
        optim.Muon([minigrad.Tensor(np.ones((3, 2, 2, 2)), requires_grad=True)])


KERNEL0 = _rng.uniform(-1, 1, (3, 2, 2, 2))
KERNEL_TARGET = _rng.uniform(-0.5, 0.5, KERNEL0.shape)


def kernel_grads(params, k):
    return [smooth_grad(params[0], KERNEL_TARGET) + 0.1 * k]


def ref_airbench_muon(kernel, lr, momentum):
    """airbench94_muon's step, written as it is there: a buffer without the (1 - mu)
    factor (Newton-Schulz divides it out), the weight rescaled to norm sqrt(F) first,
    the kernel orthogonalized as its (F, C*KH*KW) matrix."""
    theta, buf = kernel.copy(), np.zeros_like(kernel)
    rows = len(theta)
    for k in range(STEPS):
        g = kernel_grads([theta], k)[0]
        buf = momentum * buf + g
        u = g + momentum * buf                                   # Nesterov
        theta *= math.sqrt(rows) / np.linalg.norm(theta)
        theta -= lr * ns_by_svd(u.reshape(rows, -1), steps=3).reshape(theta.shape)
    return theta


def test_muon_on_conv_kernels_is_airbench_muon():
    kwargs = dict(lr=0.24, momentum=0.6, ns_steps=3, weight_decay=0.0)
    (ours,), opt, params = run_ours(optim.Muon, [KERNEL0], kernel_grads, flatten=True,
                                    normalize_weights=True, **kwargs)
    np.testing.assert_allclose(ours, ref_airbench_muon(KERNEL0, 0.24, 0.6), rtol=1e-10, atol=1e-12)
    # without the rescaling the weight's norm drifts: the option does something
    (plain,), _, _ = run_ours(optim.Muon, [KERNEL0], kernel_grads, flatten=True, **kwargs)
    assert np.abs(plain - ours).max() > 1e-3


# ------------------------------------------------------------------------ L-BFGS
A = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
B = np.array([1.0, -2.0, 0.5])
X0 = np.array([0.5, 0.5, -1.0])


def quadratic_setup(**kwargs):
    """f(x) = x.A x / 2 - b.x, minimized at A^-1 b."""
    x = minigrad.Tensor(X0.copy(), requires_grad=True)
    opt = optim.LBFGS([x], **kwargs)
    calls = []

    def closure():
        calls.append(1)
        v = x.numpy()
        x.grad = minigrad.Tensor(A @ v - B)
        return float(v @ A @ v / 2 - B @ v)
    return x, opt, closure, calls


def test_lbfgs_first_iteration_is_a_scaled_gradient_step():
    x, opt, closure, _ = quadratic_setup(lr=0.7, max_iter=1)
    g = A @ X0 - B
    opt.step(closure)
    np.testing.assert_allclose(x.numpy(), X0 - 0.7 * min(1, 1 / np.abs(g).sum()) * g, rtol=1e-14)


def test_lbfgs_second_direction_is_the_bfgs_matrix_times_gradient():
    """With one pair (s, y) the two-loop recursion is H = V^T (gamma I) V + rho s s^T,
    V = I - rho y s^T, gamma = s.y / y.y."""
    x, opt, closure, _ = quadratic_setup(lr=0.5, max_iter=2, max_eval=10)
    opt.step(closure)
    g0 = A @ X0 - B
    x1 = X0 - 0.5 * min(1, 1 / np.abs(g0).sum()) * g0
    g1 = A @ x1 - B
    s, y = x1 - X0, g1 - g0
    rho, gamma = 1 / (y @ s), (s @ y) / (y @ y)
    V = np.eye(3) - rho * np.outer(y, s)
    H = gamma * V.T @ V + rho * np.outer(s, s)
    np.testing.assert_allclose(x.numpy(), x1 - 0.5 * H @ g1, rtol=1e-13)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_solves_a_quadratic(line_search_fn):
    x, opt, closure, _ = quadratic_setup(line_search_fn=line_search_fn, max_iter=50,
                                         tolerance_grad=1e-12, tolerance_change=1e-20)
    for _ in range(2):
        opt.step(closure)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(A, B), atol=1e-11)


def test_lbfgs_counts_closure_calls_and_returns_the_first_loss():
    x, opt, closure, calls = quadratic_setup(lr=0.1, max_iter=4, tolerance_change=0.0)
    first = closure()
    calls.clear()
    assert opt.step(closure) == first
    assert len(calls) == 4  # 1 initial + 3 re-evaluations (none after the last iteration)
    assert opt.state[x]["func_evals"] == 4 and opt.state[x]["n_iter"] == 4


def test_lbfgs_needs_a_closure_and_one_group():
    x, opt, _, _ = quadratic_setup()
    with pytest.raises(ValueError, match="LBFGS.step needs a closure"):
        opt.step()
    y = minigrad.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="LBFGS doesn't support parameter groups"):
        optim.LBFGS([{"params": [x]}, {"params": [y]}])


def test_cubic_interpolation_is_exact_on_a_cubic():
    f, df = (lambda z: z ** 3 - 3 * z), (lambda z: 3 * z ** 2 - 3)  # local minimum at 1
    assert _cubic_interpolate(0.0, f(0.0), df(0.0), 2.0, f(2.0), df(2.0)) == pytest.approx(1.0)
    assert _cubic_interpolate(2.0, f(2.0), df(2.0), 0.0, f(0.0), df(0.0)) == pytest.approx(1.0)
    assert _cubic_interpolate(0.0, f(0.0), df(0.0), 2.0, f(2.0), df(2.0),
                              bounds=(1.5, 3.0)) == 1.5


@pytest.mark.parametrize("t0", [1e-3, 1.0, 30.0])
def test_strong_wolfe_returns_a_step_meeting_both_conditions(t0):
    f = lambda z: float(np.sum(np.cosh(z - 2.0)))          # minimum at z = 2
    df = lambda z: np.sinh(z - 2.0)
    x, d = np.zeros(1), np.ones(1)

    def obj(x_, t, d_):
        return f(x_ + t * d_), df(x_ + t * d_)
    gtd = float(df(x) @ d)
    f_new, g_new, t, evals = _strong_wolfe(obj, x, t0, d, f(x), df(x), gtd)
    assert f_new <= f(x) + 1e-4 * t * gtd                 # sufficient decrease
    assert abs(float(g_new @ d)) <= 0.9 * abs(gtd)         # curvature
    assert f_new == f(x + t * d) and 1 <= evals <= 25
