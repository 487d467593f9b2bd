"""Wrappers: Lookahead, Ranger (= Lookahead(RAdam)), SAM and ASAM.

Every check compares with a plain-NumPy implementation written here from
the equations (inner optimizers included), plus invariants (alpha = 1 is the
inner optimizer alone, alpha = 0 returns to the start every k steps, the
manual first_step/second_step path equals step(closure)) and errors.
"""
import copy
import math

import numpy as np
import pytest

import minigrad
import minigrad.optim as optim

SHAPES = [(3, 4), (4,), (2, 3, 2)]
STEPS = 13


def init_params():
    rng = np.random.default_rng(3)
    return [rng.normal(size=s) for s in SHAPES]


def field(x, i):
    """Gradient of sum x^4/4 - x^2/4 - 0.1 cos(3x) + c_i x (one exactly-zero entry)."""
    c = np.random.default_rng(30 + i).normal(size=x.shape)
    g = x ** 3 - 0.5 * x + 0.3 * np.sin(3.0 * x) + c
    g.reshape(-1)[0] = 0.0
    return g


def make_params(dtype=np.float64):
    return [minigrad.Tensor(x.astype(dtype), requires_grad=True) for x in init_params()]


def set_grads(params):
    for i, p in enumerate(params):
        p.grad = minigrad.Tensor(field(p.data, i))


def assert_close(ours, reference, rtol=1e-12, atol=1e-13):
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ Lookahead
def sgd_momentum_reference(lr, mu):
    """torch's SGD with momentum, as (init_state, step) on one array."""
    def step(x, g, state):
        state["b"] = g.copy() if state.get("b") is None else mu * state["b"] + g
        return x - lr * state["b"]
    return step


def lookahead_reference(inner_step, k, alpha, steps=STEPS):
    xs = init_params()
    slow = [x.copy() for x in xs]
    states = [{} for _ in xs]
    for t in range(1, steps + 1):
        xs = [inner_step(x, field(x, i), states[i]) for i, x in enumerate(xs)]
        if t % k == 0:
            slow = [s + alpha * (x - s) for s, x in zip(slow, xs)]
            xs = [s.copy() for s in slow]
    return xs


@pytest.mark.parametrize("k, alpha", [(3, 0.5), (5, 0.8), (1, 0.3)])
def test_lookahead_matches_equations(k, alpha):
    params = make_params()
    opt = optim.Lookahead(optim.SGD(params, lr=0.05, momentum=0.9), k=k, alpha=alpha)
    for _ in range(STEPS):
        set_grads(params)
        opt.step()
    assert_close([p.data for p in params],
                 lookahead_reference(sgd_momentum_reference(0.05, 0.9), k, alpha))


def test_lookahead_alpha_one_is_the_inner_optimizer_and_alpha_zero_goes_back():
    a, b = make_params(), make_params()
    wrapped = optim.Lookahead(optim.Adam(a, lr=0.05), k=3, alpha=1.0)
    alone = optim.Adam(b, lr=0.05)
    for _ in range(7):
        set_grads(a), set_grads(b)
        wrapped.step(), alone.step()
    # alpha = 1: phi + 1 * (theta - phi) is theta up to one rounding per sync, elementwise
    # (no BLAS): two syncs in 7 steps stay within a few ulps.
    assert_close([p.data for p in a], [p.data for p in b], rtol=1e-15, atol=1e-15)

    c = make_params()
    back = optim.Lookahead(optim.SGD(c, lr=0.1), k=4, alpha=0.0)
    for step in range(1, 9):
        set_grads(c)
        back.step()
        moved = any(not np.array_equal(p.data, x) for p, x in zip(c, init_params()))
        assert moved == (step % 4 != 0)  # every 4th step: exactly back to theta_0


def test_lookahead_resumes_mid_cycle_bit_for_bit():
    params = make_params()
    opt = optim.Lookahead(optim.Adam(params, lr=0.05), k=4)
    for step in range(10):
        if step == 5:  # in the middle of a 4-step cycle
            saved = copy.deepcopy(opt.state_dict())
            twin_params = [minigrad.Tensor(p.data, requires_grad=True) for p in params]
            twin = optim.Lookahead(optim.Adam(twin_params, lr=0.05), k=4)
            twin.load_state_dict(saved)
        set_grads(params)
        opt.step()
        if step >= 5:
            set_grads(twin_params)
            twin.step()
    for p, q in zip(params, twin_params):
        np.testing.assert_array_equal(p.data, q.data)
    assert set(saved) >= {"optimizer", "slow", "step_count"}


def test_lookahead_shares_param_groups_with_the_inner_optimizer():
    inner = optim.SGD(make_params(), lr=0.1)
    opt = optim.Lookahead(inner)
    opt.param_groups[0]["lr"] = 0.01  # what an lr schedule does
    assert inner.param_groups[0]["lr"] == 0.01
    extra = minigrad.Tensor(np.ones(2), requires_grad=True)
    opt.add_param_group({"params": [extra], "lr": 0.5})
    assert inner.param_groups[-1]["params"] == [extra] and extra in opt.state


@pytest.mark.parametrize("kwargs, error, match", [
    ({"k": 0}, ValueError, "k"), ({"alpha": 1.5}, ValueError, "alpha"),
])
def test_lookahead_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        optim.Lookahead(optim.SGD(make_params(), lr=0.1), **kwargs)
    with pytest.raises(TypeError, match="optimizer instance"):
        optim.Lookahead(make_params())


# --------------------------------------------------------------------- Ranger
def radam_reference(lr, betas, eps, weight_decay):
    """torch's RAdam on one array (rectified when rho_t > 5)."""
    b1, b2 = betas
    rho_inf = 2 / (1 - b2) - 1

    def step(x, g, state):
        t = state["t"] = state.get("t", 0) + 1
        g = g + weight_decay * x
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        m_hat = state["m"] / (1 - b1 ** t)
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t > 5:
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                          / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            return x - lr * m_hat * r * math.sqrt(1 - b2 ** t) / (np.sqrt(state["v"]) + eps)
        return x - lr * m_hat
    return step


def test_ranger_is_lookahead_of_radam():
    steps = 14  # rho_t > 5 from step 6 with beta2 = 0.95: both RAdam branches run
    params = make_params()
    opt = optim.Ranger(params, lr=0.02, betas=(0.9, 0.95), weight_decay=0.01)
    assert isinstance(opt.optimizer, optim.RAdam) and (opt.k, opt.alpha) == (6, 0.5)
    for _ in range(steps):
        set_grads(params)
        opt.step()
    reference = lookahead_reference(radam_reference(0.02, (0.9, 0.95), 1e-5, 0.01), 6, 0.5,
                                    steps=steps)
    assert_close([p.data for p in params], reference, rtol=1e-11, atol=1e-12)


def test_ranger_matches_torch_radam_with_lookahead():
    torch = pytest.importorskip("torch")
    theirs = [torch.tensor(x) for x in init_params()]
    radam = torch.optim.RAdam(theirs, lr=0.02, betas=(0.95, 0.999), eps=1e-5)
    slow = [x.clone() for x in theirs]
    params = make_params()
    ours = optim.Ranger(params, lr=0.02)
    for t in range(1, STEPS + 1):
        for i, x in enumerate(theirs):
            x.grad = torch.tensor(field(x.numpy(), i))
        radam.step()
        if t % 6 == 0:
            with torch.no_grad():
                for s, x in zip(slow, theirs):
                    s += 0.5 * (x - s)
                    x.copy_(s)
        set_grads(params)
        ours.step()
    assert_close([p.data for p in params], [x.numpy() for x in theirs], rtol=1e-11, atol=1e-12)


# ------------------------------------------------------------------ SAM / ASAM
def sam_reference(rhos, adaptive, lr, mu, steps=STEPS):
    """SAM on groups [param 0, 1] (rho = rhos[0]) and [param 2] (rho = rhos[1]);
    the base is torch's SGD with momentum."""
    xs = init_params()
    group_of = [0, 0, 1]
    buffers = [None] * len(xs)
    for _ in range(steps):
        grads = [field(x, i) for i, x in enumerate(xs)]
        scaled = [np.abs(x) * g if adaptive else g for x, g in zip(xs, grads)]
        norm = math.sqrt(sum(np.sum(s * s) for s in scaled))
        perturbed = [x + (x * x if adaptive else 1.0) * g * rhos[group_of[i]] / (norm + 1e-12)
                     for i, (x, g) in enumerate(zip(xs, grads))]
        sam_grads = [field(x, i) for i, x in enumerate(perturbed)]
        for i, g in enumerate(sam_grads):
            buffers[i] = g.copy() if buffers[i] is None else mu * buffers[i] + g
            xs[i] = xs[i] - lr * buffers[i]
    return xs


def sam_run(cls, rhos, manual=False, **kwargs):
    params = make_params()
    groups = [{"params": params[:2], "rho": rhos[0]}, {"params": params[2:], "rho": rhos[1]}]
    opt = cls(groups, optim.SGD, lr=0.05, momentum=0.9, **kwargs)

    def closure():
        loss = sum((p * minigrad.Tensor(field(p.data, i))).sum() for i, p in enumerate(params))
        for i, p in enumerate(params):  # the gradient field at the current point
            p.grad = minigrad.Tensor(field(p.data, i))
        return loss

    for _ in range(STEPS):
        set_grads(params)  # the gradient at w, computed before step as davda54/sam expects
        if manual:
            opt.first_step(zero_grad=True)
            closure()
            opt.second_step(zero_grad=True)
        else:
            opt.step(closure)
            opt.zero_grad()
    return [p.data for p in params]


@pytest.mark.parametrize("manual", [False, True])
def test_sam_matches_equations(manual):
    ours = sam_run(optim.SAM, (0.05, 0.2), manual=manual)
    assert_close(ours, sam_reference((0.05, 0.2), False, 0.05, 0.9))


def test_asam_matches_equations():
    ours = sam_run(optim.ASAM, (0.1, 0.3))
    assert all(np.isfinite(a).all() for a in ours)
    assert_close(ours, sam_reference((0.1, 0.3), True, 0.05, 0.9))
    assert optim.ASAM(make_params(), optim.SGD, lr=0.1).param_groups[0]["adaptive"] is True


def test_sam_rho_zero_is_the_base_optimizer():
    a, b = make_params(), make_params()
    sam = optim.SAM(a, optim.Adam, rho=0.0, lr=0.05)
    adam = optim.Adam(b, lr=0.05)
    for _ in range(5):
        set_grads(a)
        sam.step(lambda: set_grads(a))
        sam.zero_grad()
        set_grads(b)
        adam.step()
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)
    assert sam.state is sam.base_optimizer.state and len(sam.state) == 3


@pytest.mark.parametrize("zero_grad_after_step", [True, False])
def test_sam_gets_the_first_gradient_from_the_closure_when_there_is_none(zero_grad_after_step):
    """Without zero_grad after each step this is the LBFGS-style loop (`opt.step(closure)`
    and nothing else): the gradient a step leaves behind is the one at w + e, so it
    must not steer the next step's ascent."""
    a, b = make_params(), make_params()
    explicit = optim.SAM(a, optim.SGD, lr=0.05)
    implicit = optim.SAM(b, optim.SGD, lr=0.05)
    for _ in range(3):
        set_grads(a)
        explicit.step(lambda: set_grads(a))
        explicit.zero_grad()
        implicit.step(lambda: set_grads(b))  # no gradient yet: the closure computes it
        if zero_grad_after_step:
            implicit.zero_grad()
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


def test_sam_errors():
    params = make_params()
    opt = optim.SAM(params, optim.SGD, lr=0.1)
    set_grads(params)
    with pytest.raises(RuntimeError, match="needs a closure"):
        opt.step()
    with pytest.raises(RuntimeError, match="no gradients"):
        opt.step(lambda: None)  # a closure that forgets backward()
    with pytest.raises(TypeError, match="optimizer CLASS"):
        optim.SAM(make_params(), optim.SGD(make_params(), lr=0.1))
    with pytest.raises(ValueError, match="rho"):
        optim.SAM(make_params(), optim.SGD, rho=-0.1, lr=0.1)


def test_lookahead_refusing_a_state_changes_nothing():
    """All or nothing, as Optimizer.load_state_dict: a slow weight of the wrong shape
    is refused before the inner optimizer is loaded."""
    a, b = make_params(), make_params()
    source = optim.Lookahead(optim.Adam(a, lr=0.1), k=2)
    set_grads(a)
    source.step()
    saved = source.state_dict()
    saved["slow"][0]["slow_param"] = np.zeros(7)
    target = optim.Lookahead(optim.Adam(b, lr=0.1), k=2)
    slow_before = [target.state[p]["slow_param"].copy() for p in b]
    with pytest.raises(ValueError, match="Lookahead.load_state_dict"):
        target.load_state_dict(saved)
    assert len(target.optimizer.state) == 0  # the inner Adam was not loaded
    for p, before in zip(b, slow_before):
        np.testing.assert_array_equal(target.state[p]["slow_param"], before)
