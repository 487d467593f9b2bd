"""Every torch.optim rule against PyTorch 2.13 itself (optional oracle).

Both sides start from the same float64 parameters and, at every step, get
the gradient of the same function computed in NumPy from their OWN current
parameters, so only the update rules are compared. The function is chosen
to make the rules' corners matter: a 2-D weight (rows > cols), a 1-D bias,
a 4-D conv-like kernel, a parameter that never gets a gradient, entries
whose gradient is exactly 0 (a different set each step), entries with tiny
gradients (eps placement), two parameter groups with different
hyperparameters, and an lr change half-way (lr inside vs outside buffers).

Runs only where torch is installed; the suite passes without it.
"""
import numpy as np
import pytest

import minigrad
import minigrad.optim as optim

torch = pytest.importorskip("torch")

STEPS = 12
SHAPES = [(4, 3), (3,), (2, 3, 2, 2)]
_rng = np.random.RandomState(1)
INIT = [_rng.uniform(-1.0, 1.0, s) for s in SHAPES]
TARGET = [_rng.uniform(-0.5, 0.5, s) for s in SHAPES]
SCALE = [np.where(_rng.rand(*s) < 0.25, 1e-7, 1.0) for s in SHAPES]  # tiny gradients
ZERO = [[_rng.rand(*s) < 0.2 for _ in range(3)] for s in SHAPES]     # exact zeros, per step


def loss_np(params):
    """f(theta) = sum s * (log cosh(3 theta) / 3 + theta^4 / 8 - target * theta)."""
    return float(sum((s * (np.log(np.cosh(3 * th)) / 3 + th ** 4 / 8 - tg * th)).sum()
                     for th, tg, s in zip(params, TARGET, SCALE)))


def grad_np(params, k=None):
    """Gradient of `loss_np`; with a step number k, some entries zeroed."""
    grads = []
    for i, th in enumerate(params):
        g = SCALE[i] * (np.tanh(3 * th) + 0.5 * th ** 3 - TARGET[i])
        if k is not None:
            g = np.where(ZERO[i][k % 3], 0.0, g)
        grads.append(g)
    return grads


@pytest.fixture(autouse=True)
def _torch_float64():
    """torch keeps scalar state (ASGD's eta, NAdam's mu_product) in the
    default dtype: make it float64 so both sides compute in float64."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def groups_of(params, second_group):
    """One group, or two: (W, b) with the defaults and the rest with `second_group`."""
    if not second_group:
        return [{"params": params}]
    return [{"params": params[:2]}, {"params": params[2:], **second_group}]


def run_pair(ours_cls, torch_cls, kwargs, second_group=None, lr_change=0.5, sparse=False):
    """STEPS steps of ours and torch's rule; asserts the parameters agree."""
    ours = [minigrad.Tensor(x.copy(), requires_grad=True) for x in INIT]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in INIT]
    unused_ours = minigrad.Tensor(np.ones((2, 2)), requires_grad=True)       # grad stays None
    unused_theirs = torch.ones((2, 2), dtype=torch.float64, requires_grad=True)
    opt_ours = ours_cls(groups_of(ours + [unused_ours], second_group), **kwargs)
    opt_theirs = torch_cls(groups_of(theirs + [unused_theirs], second_group), **kwargs)
    for k in range(STEPS):
        if k == STEPS // 2:  # what a schedule does: change lr mid-run
            for g1, g2 in zip(opt_ours.param_groups, opt_theirs.param_groups):
                g1["lr"] *= lr_change
                g2["lr"] *= lr_change
        for p, g in zip(ours, grad_np([p.numpy() for p in ours], k)):
            p.grad = minigrad.Tensor(g)
        for p, g in zip(theirs, grad_np([p.detach().numpy() for p in theirs], k)):
            p.grad = torch.tensor(g).to_sparse() if sparse else torch.tensor(g)
        opt_ours.step()
        opt_theirs.step()
    # Elementwise float64 arithmetic only (no BLAS, no reductions): the libraries differ by
    # rounding order (torch's CPU lerp fuses multiply-add), about 1 ulp per step, so 12 steps
    # stay ~1e-15 apart; 1e-12 leaves a wide margin on any CPU and thread count.
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(unused_ours.numpy(), 1.0)  # never touched: exact
    return opt_ours, opt_theirs, ours, theirs


CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 0.01, "alpha": 0.5, "t0": 3.0, "weight_decay": 0.1}),
    ("ASGD", {"lr": 0.05, "t0": 2.0, "maximize": True}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.08)}),
    ("Rprop", {"maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.5, "eps": 1e-3}),
    ("Adagrad", {"maximize": True, "eps": 1e-8}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.9, "alpha": 0.9, "eps": 1e-3}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-3, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-3, "amsgrad": True,
              "weight_decay": 0.1, "maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.1}),
    ("Adamax", {"maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "momentum_decay": 0.1, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("Adafactor", {}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1, "beta2_decay": -0.5, "eps": (1e-3, 1e-2)}),
    ("Adafactor", {"lr": 0.5, "d": 1.5, "maximize": True}),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch(name, kwargs):
    run_pair(getattr(optim, name), getattr(torch.optim, name), kwargs)


@pytest.mark.parametrize("name,kwargs,second", [
    ("SGD", {"lr": 0.05, "momentum": 0.9}, {"lr": 0.1, "nesterov": True}),
    ("Adam", {"lr": 0.01}, {"lr": 0.03, "amsgrad": True, "weight_decay": 0.2}),
    ("RMSprop", {}, {"centered": True, "momentum": 0.3}),
    ("Adafactor", {}, {"lr": 0.03, "weight_decay": 0.5}),
])
def test_param_groups_match_torch(name, kwargs, second):
    run_pair(getattr(optim, name), getattr(torch.optim, name), kwargs, second_group=second)


@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-3},
                                    {"lr": 0.01, "maximize": True}])
def test_sparse_adam_matches_torch_sparse_gradients(kwargs):
    """torch gets `dense.to_sparse()`, which stores exactly the non-zero entries."""
    run_pair(optim.SparseAdam, torch.optim.SparseAdam, kwargs, sparse=True)


def test_asgd_average_matches_torch():
    opt_ours, opt_theirs, ours, theirs = run_pair(
        optim.ASGD, torch.optim.ASGD, {"lr": 0.05, "t0": 3.0, "lambd": 1e-3})
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(opt_ours.state[p]["ax"], opt_theirs.state[q]["ax"].numpy(),
                                   rtol=1e-12, atol=1e-13)
        assert opt_ours.state[p]["eta"] == pytest.approx(opt_theirs.state[q]["eta"].item(),
                                                         rel=1e-14)


def _newton_schulz_fp64(grad, ns_coefficients, ns_steps, eps):
    """torch's `_zeropower_via_newtonschulz` with the bfloat16 cast removed."""
    a, b, c = ns_coefficients
    x = grad.clone()
    if grad.size(0) > grad.size(1):
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if grad.size(0) > grad.size(1) else x


@pytest.mark.parametrize("kwargs", [
    {"lr": 0.02},
    {"lr": 0.02, "nesterov": False, "weight_decay": 0.0},
    {"lr": 0.01, "momentum": 0.5, "adjust_lr_fn": "match_rms_adamw", "ns_steps": 3},
    {"lr": 0.02, "adjust_lr_fn": "original", "ns_coefficients": (2.0, -1.5, 0.5), "eps": 1e-3},
])
def test_muon_matches_torch_with_float64_newton_schulz(kwargs, monkeypatch):
    """torch runs Newton-Schulz in bfloat16; patched to float64 it is the same rule as ours."""
    import torch.optim._muon as torch_muon
    monkeypatch.setattr(torch_muon, "_zeropower_via_newtonschulz", _newton_schulz_fp64)
    wide = np.random.RandomState(3).uniform(-1, 1, (3, 5))
    ours = [minigrad.Tensor(INIT[0].copy(), requires_grad=True),
            minigrad.Tensor(wide.copy(), requires_grad=True)]
    theirs = [torch.tensor(INIT[0].copy(), requires_grad=True),
              torch.tensor(wide.copy(), requires_grad=True)]
    opt_ours, opt_theirs = optim.Muon(ours, **kwargs), torch.optim.Muon(theirs, **kwargs)
    for k in range(STEPS):
        for params, wrap in ((ours, minigrad.Tensor), (theirs, torch.tensor)):
            w, v = (np.array(p.detach().numpy()) for p in params)
            params[0].grad = wrap(grad_np([w, INIT[1], INIT[2]], k)[0])
            params[1].grad = wrap(np.sin(3 * v) + v ** 3 - 0.2)
        opt_ours.step()
        opt_theirs.step()
    # Newton-Schulz multiplies 3x5 / 4x3 matrices through two BLAS libraries (torch's and
    # NumPy's, any kernel): a few ulps per product on these sizes, far below 1e-12.
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kwargs", [
    {},
    {"lr": 0.5, "history_size": 3, "max_iter": 5},
    {"line_search_fn": "strong_wolfe"},
    {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 7, "max_eval": 9},
    {"line_search_fn": "strong_wolfe", "lr": 3.0, "tolerance_change": 1e-4},
])
def test_lbfgs_matches_torch(kwargs):
    ours = [minigrad.Tensor(x.copy(), requires_grad=True) for x in INIT]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in INIT]
    opt_ours, opt_theirs = optim.LBFGS(ours, **kwargs), torch.optim.LBFGS(theirs, **kwargs)
    calls = {"ours": 0, "torch": 0}

    def closure_for(params, wrap, key):
        def closure():
            calls[key] += 1
            values = [np.array(p.detach().numpy()) for p in params]
            for p, g in zip(params, grad_np(values)):
                p.grad = wrap(g)
            return loss_np(values)
        return closure

    for _ in range(3):
        l1 = opt_ours.step(closure_for(ours, minigrad.Tensor, "ours"))
        l2 = opt_theirs.step(closure_for(theirs, torch.tensor, "torch"))
        assert l1 == pytest.approx(l2, rel=1e-12)
    # Counts are integers decided by comparisons whose margins (tolerance_change, Wolfe
    # conditions) are orders above the ~1e-16 differences of two libraries' dot products over
    # 15 numbers; the line search's interpolation amplifies those, hence rtol 1e-10 below.
    assert calls["ours"] == calls["torch"]
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12)
    s1, s2 = opt_ours.state[ours[0]], opt_theirs.state[theirs[0]]
    assert (s1["n_iter"], s1["func_evals"]) == (s2["n_iter"], s2["func_evals"])
