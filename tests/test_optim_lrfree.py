"""Learning-rate-free and schedule-free rules: DAdaptSGD, DAdaptAdam, Prodigy,
ScheduleFreeSGD, ScheduleFreeAdamW.

Each rule is checked against a plain-NumPy implementation written here from
the equations (global sums over all parameters written as explicit loops),
against its official package when installed (optional oracle), and on
invariants (d never shrinks, x is the uniform average of z, train/eval
switching is exact).
"""
import copy
import math

import numpy as np
import pytest

import minigrad
import minigrad.optim as optim

SHAPES = [(3, 4), (4,), (2, 3, 2)]
STEPS = 25


def init_params():
    rng = np.random.default_rng(0)
    return [rng.normal(size=s) for s in SHAPES]


def field(x, i):
    """Gradient of f(x) = sum x^4/4 - x^2/4 - 0.1 cos(3x) + c_i x: smooth, non-convex, with
    an exactly-zero entry and tiny entries (so eps matters)."""
    c = np.random.default_rng(10 + i).normal(size=x.shape)
    g = x ** 3 - 0.5 * x + 0.3 * np.sin(3.0 * x) + c
    flat = g.reshape(-1)
    flat[0] = 0.0
    flat[1:3] *= 1e-7
    return g


def run(cls, kwargs, steps=STEPS, dtype=np.float64, params=None):
    params = params or [minigrad.Tensor(x.astype(dtype), requires_grad=True) for x in init_params()]
    opt = cls(params, **kwargs)
    for _ in range(steps):
        for i, p in enumerate(params):
            p.grad = minigrad.Tensor(field(p.data.astype(np.float64), i).astype(dtype))
        opt.step()
    return [p.data for p in params], opt


def assert_close(ours, reference, atol=1e-12):
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=atol)


# ------------------------------------------------------------- NumPy references
def dadapt_sgd_reference(steps, lr=1.0, momentum=0.0, weight_decay=0.0, d0=1e-6,
                         growth_rate=math.inf):
    xs = init_params()
    x0 = [x.copy() for x in xs]
    s = [np.zeros_like(x) for x in xs]
    d, numerator, g0_norm = d0, 0.0, None
    for k in range(steps):
        raw = [field(x, i) for i, x in enumerate(xs)]
        if k == 0:
            g0_norm = math.sqrt(sum(np.sum(g * g) for g in raw))
        dlr = d * lr / g0_norm
        grads = [g + weight_decay * x for g, x in zip(raw, xs)]
        for i, g in enumerate(grads):
            numerator += dlr * np.sum(g * s[i])
            s[i] = s[i] + dlr * g
        s_norm = math.sqrt(sum(np.sum(si * si) for si in s))
        d = max(d, min(2 * numerator / s_norm, d * growth_rate))
        xs = [momentum * x + (1 - momentum) * (x0[i] - s[i]) for i, x in enumerate(xs)]
    return xs, d


def dadapt_adam_reference(steps, lr=1.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                          decouple=False, use_bias_correction=False, d0=1e-6,
                          growth_rate=math.inf):
    b1, b2 = betas
    rb2 = math.sqrt(b2)
    xs = init_params()
    m, v, s = ([np.zeros_like(x) for x in xs] for _ in range(3))
    d, r = d0, 0.0
    for k in range(steps):
        bc = math.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1)) if use_bias_correction else 1.0
        dlr = d * lr * bc
        grads = [field(x, i) + (0.0 if decouple else weight_decay) * x for i, x in enumerate(xs)]
        numerator = 0.0
        for i, g in enumerate(grads):
            numerator += dlr * np.sum(g * s[i] / (np.sqrt(v[i]) + eps))
            m[i] = b1 * m[i] + (1 - b1) * dlr * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            s[i] = rb2 * s[i] + (1 - rb2) * dlr * g
        r = rb2 * r + (1 - rb2) * numerator
        d_hat = r / ((1 - rb2) * sum(np.abs(si).sum() for si in s))
        d = max(d, min(d_hat, d * growth_rate))
        for i in range(len(xs)):
            if decouple:
                xs[i] = xs[i] - weight_decay * dlr * xs[i]
            xs[i] = xs[i] - m[i] / (np.sqrt(v[i]) + eps)
    return xs, d


def prodigy_reference(steps, lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, weight_decay=0.0,
                      decouple=True, use_bias_correction=False, safeguard_warmup=False,
                      d0=1e-6, d_coef=1.0, growth_rate=math.inf):
    b1, b2 = betas
    b3 = math.sqrt(b2) if beta3 is None else beta3
    xs = init_params()
    x0 = [x.copy() for x in xs]
    m, v, s = ([np.zeros_like(x) for x in xs] for _ in range(3))
    d, d_max, r = d0, d0, 0.0
    for k in range(steps):
        bc = math.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1)) if use_bias_correction else 1.0
        dlr = d * lr * bc
        grads = [field(x, i) + (0.0 if decouple else weight_decay) * x for i, x in enumerate(xs)]
        r = b3 * r
        for i, g in enumerate(grads):
            r += (d / d0) * dlr * np.sum(g * (x0[i] - xs[i]))
            m[i] = b1 * m[i] + (1 - b1) * d * g
            v[i] = b2 * v[i] + (1 - b2) * d * d * g * g
            s[i] = b3 * s[i] + (d / d0) * (d if safeguard_warmup else dlr) * g
        d_hat = d_coef * r / sum(np.abs(si).sum() for si in s)
        if d == d0:
            d = max(d, d_hat)
        d_max = max(d_max, d_hat)
        d = min(d_max, d * growth_rate)
        for i in range(len(xs)):
            if decouple:
                xs[i] = xs[i] - weight_decay * dlr * xs[i]
            step = m[i] if b1 > 0 else d * grads[i]
            xs[i] = xs[i] - dlr * step / (np.sqrt(v[i]) + d * eps)
    return xs, d


def schedule_free_reference(steps, adam, lr, beta, beta2=0.999, eps=1e-8, weight_decay=0.0,
                            warmup_steps=0, r=0.0, weight_lr_power=2.0):
    """Returns (y, x, z) after `steps` steps."""
    ys = init_params()
    zs, xs = [y.copy() for y in ys], [y.copy() for y in ys]
    vs = [np.zeros_like(y) for y in ys]
    lr_max, weight_sum = -1.0, 0.0
    for k in range(steps):
        lr_k = lr * min(1.0, (k + 1) / warmup_steps) if warmup_steps else lr
        lr_max = max(lr_max, lr_k)
        weight = (k + 1) ** r * lr_max ** weight_lr_power
        weight_sum += weight
        c = weight / weight_sum
        for i in range(len(ys)):
            g = field(ys[i], i)
            if adam:
                zs[i] = zs[i] - lr_k * weight_decay * ys[i]
                vs[i] = beta2 * vs[i] + (1 - beta2) * g * g
                zs[i] = zs[i] - lr_k * g / (np.sqrt(vs[i] / (1 - beta2 ** (k + 1))) + eps)
            else:
                zs[i] = zs[i] - lr_k * (g + weight_decay * ys[i])
            xs[i] = (1 - c) * xs[i] + c * zs[i]
            ys[i] = (1 - beta) * zs[i] + beta * xs[i]
    return ys, xs, zs


# ---------------------------------------------------------------- D-Adaptation
@pytest.mark.parametrize("kwargs", [
    {},
    {"momentum": 0.9, "weight_decay": 0.05},
    {"lr": 0.5, "growth_rate": 1.2, "d0": 1e-3},
])
def test_dadapt_sgd_matches_equations(kwargs):
    ours, opt = run(optim.DAdaptSGD, kwargs)
    reference, d = dadapt_sgd_reference(STEPS, **kwargs)
    assert_close(ours, reference)
    assert opt.param_groups[0]["d"] == pytest.approx(d, rel=1e-10)
    assert d > 10 * kwargs.get("d0", 1e-6)  # the step size really was adapted from d0


@pytest.mark.parametrize("kwargs", [
    {},
    {"use_bias_correction": True, "weight_decay": 0.05, "betas": (0.8, 0.99)},
    {"decouple": True, "weight_decay": 0.1, "growth_rate": 1.5, "eps": 1e-6},
])
def test_dadapt_adam_matches_equations(kwargs):
    ours, opt = run(optim.DAdaptAdam, kwargs)
    reference, d = dadapt_adam_reference(STEPS, **kwargs)
    assert_close(ours, reference)
    assert opt.param_groups[0]["d"] == pytest.approx(d, rel=1e-10)
    assert d > 10 * kwargs.get("d0", 1e-6)


@pytest.mark.parametrize("kwargs", [
    {},
    {"weight_decay": 0.1, "use_bias_correction": True, "d_coef": 0.5},
    {"weight_decay": 0.1, "decouple": False, "betas": (0.0, 0.99), "beta3": 0.9},
    {"safeguard_warmup": True, "growth_rate": 1.1, "eps": 1e-6},
])
def test_prodigy_matches_equations(kwargs):
    ours, opt = run(optim.Prodigy, kwargs)
    reference, d = prodigy_reference(STEPS, **kwargs)
    assert_close(ours, reference)
    assert opt.param_groups[0]["d"] == pytest.approx(d, rel=1e-10)
    assert d > 10 * kwargs.get("d0", 1e-6)


@pytest.mark.parametrize("cls", [optim.DAdaptSGD, optim.DAdaptAdam, optim.Prodigy])
def test_d_never_decreases_and_state_resumes(cls):
    params = [minigrad.Tensor(x, requires_grad=True) for x in init_params()]
    opt = cls(params)
    ds = []
    for step in range(12):
        if step == 6:  # save, rebuild from the saved state, and carry on
            saved = copy.deepcopy(opt.state_dict())
            twin_params = [minigrad.Tensor(p.data, requires_grad=True) for p in params]
            twin = cls(twin_params)
            twin.load_state_dict(saved)
        for i, p in enumerate(params):
            p.grad = minigrad.Tensor(field(p.data, i))
        opt.step()
        ds.append(opt.param_groups[0]["d"])
        if step >= 6:
            for i, p in enumerate(twin_params):
                p.grad = minigrad.Tensor(field(p.data, i))
            twin.step()
    assert all(b >= a for a, b in zip(ds, ds[1:]))
    for p, q in zip(params, twin_params):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("cls", [optim.DAdaptSGD, optim.DAdaptAdam, optim.Prodigy])
def test_zero_gradients_do_not_step(cls):
    w = minigrad.Tensor(np.ones(3), requires_grad=True)
    opt = cls([w])
    w.grad = minigrad.Tensor(np.zeros(3))
    opt.step()
    np.testing.assert_array_equal(w.data, np.ones(3))
    assert opt.param_groups[0]["k"] == 0


def test_lr_free_groups_share_one_lr():
    a = minigrad.Tensor(np.ones(2), requires_grad=True)
    b = minigrad.Tensor(np.ones(2), requires_grad=True)
    opt = optim.Prodigy([{"params": [a]}, {"params": [b], "lr": 0.5}])
    a.grad = b.grad = minigrad.Tensor(np.ones(2))
    with pytest.raises(ValueError, match="same lr"):
        opt.step()
    frozen = optim.DAdaptAdam([{"params": [a]}, {"params": [b], "lr": 0.0}])
    for _ in range(3):
        a.grad, b.grad = minigrad.Tensor(a.data - 3.0), minigrad.Tensor(np.ones(2))
        frozen.step()
    np.testing.assert_array_equal(b.data, np.ones(2))  # lr = 0 freezes the group
    assert np.all(a.data > 1.0)


@pytest.mark.parametrize("cls, kwargs, match", [
    (optim.Prodigy, {"d0": 0.0}, "d0"),
    (optim.Prodigy, {"betas": (0.9, 1.0)}, "betas"),
    (optim.Prodigy, {"growth_rate": 0.5}, "growth_rate"),
    (optim.DAdaptAdam, {"eps": -1.0}, "eps"),
    (optim.DAdaptAdam, {"lr": -1.0}, "lr"),
    (optim.DAdaptSGD, {"momentum": 1.0}, "momentum"),
    (optim.ScheduleFreeSGD, {"momentum": 0.0}, "momentum"),
    (optim.ScheduleFreeAdamW, {"betas": (1.2, 0.9)}, "betas"),
    (optim.ScheduleFreeAdamW, {"warmup_steps": -1}, "warmup_steps"),
])
def test_bad_hyperparameters_raise(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([minigrad.Tensor(np.ones(2), requires_grad=True)], **kwargs)


# ---------------------------------------------------------------- Schedule-Free
SF_CASES = [
    (optim.ScheduleFreeSGD, {"lr": 0.05}, dict(adam=False, lr=0.05, beta=0.9)),
    (optim.ScheduleFreeSGD, {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1, "warmup_steps": 5,
                             "r": 0.5, "weight_lr_power": 1.5},
     dict(adam=False, lr=0.05, beta=0.8, weight_decay=0.1, warmup_steps=5, r=0.5,
          weight_lr_power=1.5)),
    (optim.ScheduleFreeAdamW, {"lr": 0.05}, dict(adam=True, lr=0.05, beta=0.9)),
    (optim.ScheduleFreeAdamW, {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1,
                               "warmup_steps": 5, "eps": 1e-6},
     dict(adam=True, lr=0.05, beta=0.8, beta2=0.99, weight_decay=0.1, warmup_steps=5, eps=1e-6)),
]


@pytest.mark.parametrize("cls, kwargs, reference_kwargs", SF_CASES)
def test_schedule_free_matches_equations_and_switches_exactly(cls, kwargs, reference_kwargs):
    ours, opt = run(cls, kwargs)
    y, x, z = schedule_free_reference(STEPS, **reference_kwargs)
    assert_close(ours, y)                        # train mode: parameters hold y
    for p, zi in zip(opt.param_groups[0]["params"], z):
        np.testing.assert_allclose(opt.state[p]["z"], zi, rtol=1e-10, atol=1e-12)
    y_bits = [a.copy() for a in ours]
    opt.eval()
    assert_close([p.data for p in opt.param_groups[0]["params"]], x)   # eval mode: x
    opt.eval()                                   # idempotent
    assert_close([p.data for p in opt.param_groups[0]["params"]], x)
    opt.train()
    for p, bits in zip(opt.param_groups[0]["params"], y_bits):
        np.testing.assert_array_equal(p.data, bits)  # y rebuilt bit for bit


def test_schedule_free_x_is_the_uniform_average_of_z():
    """r = 0 and a constant lr give c_k = 1/(k+1): x is the Polyak average of z_1..z_k."""
    w = minigrad.Tensor(init_params()[0], requires_grad=True)
    opt = optim.ScheduleFreeSGD([w], lr=0.1, momentum=0.5)
    zs = []
    for _ in range(6):
        w.grad = minigrad.Tensor(field(w.data, 0))
        opt.step()
        zs.append(opt.state[w]["z"].copy())
    np.testing.assert_allclose(opt.state[w]["x"], np.mean(zs, axis=0), rtol=1e-12, atol=1e-14)


def test_schedule_free_step_in_eval_mode_raises_and_eval_before_steps_is_harmless():
    w = minigrad.Tensor(np.ones(3), requires_grad=True)
    opt = optim.ScheduleFreeAdamW([w])
    opt.eval()  # no state yet: the parameters stay as they are
    np.testing.assert_array_equal(w.data, np.ones(3))
    w.grad = minigrad.Tensor(np.ones(3))
    with pytest.raises(RuntimeError, match=r"eval mode.*optimizer\.train\(\)"):
        opt.step()
    opt.train()
    opt.step()
    assert not np.allclose(w.data, 1.0)


def test_schedule_free_float32_stays_float32():
    ours, opt = run(optim.ScheduleFreeAdamW, {"lr": 0.01}, steps=3, dtype=np.float32)
    assert all(a.dtype == np.float32 for a in ours)
    for state in opt.state.values():
        assert all(a.dtype == np.float32 for a in state.values())


# ------------------------------------------------------ official packages (optional)
def _oracle_run(torch, ref_cls, ours_cls, kwargs, train=False):
    torch.set_default_dtype(torch.float64)
    theirs = [torch.tensor(x, requires_grad=True) for x in init_params()]
    ref = ref_cls(theirs, **kwargs)
    if train:
        ref.train()
    for _ in range(STEPS):
        for i, p in enumerate(theirs):
            p.grad = torch.tensor(field(p.detach().numpy(), i))
        ref.step()
    ours, _ = run(ours_cls, kwargs)
    assert_close(ours, [p.detach().numpy() for p in theirs], atol=1e-11)


@pytest.mark.parametrize("name, kwargs", [
    ("DAdaptSGD", {}), ("DAdaptSGD", {"momentum": 0.9, "weight_decay": 0.01}),
    ("DAdaptAdam", {}), ("DAdaptAdam", {"use_bias_correction": True, "weight_decay": 0.05}),
    ("DAdaptAdam", {"decouple": True, "weight_decay": 0.1}),
])
def test_dadaptation_matches_official_package(name, kwargs, capsys):
    torch = pytest.importorskip("torch")
    dadaptation = pytest.importorskip("dadaptation")
    old = torch.get_default_dtype()
    try:
        _oracle_run(torch, getattr(dadaptation, name), getattr(optim, name), kwargs)
    finally:
        torch.set_default_dtype(old)


@pytest.mark.parametrize("kwargs", [
    {}, {"weight_decay": 0.1, "use_bias_correction": True, "safeguard_warmup": True},
    {"betas": (0.0, 0.99), "weight_decay": 0.1, "decouple": False, "growth_rate": 1.1},
])
def test_prodigy_matches_official_package(kwargs, capsys):
    torch = pytest.importorskip("torch")
    prodigyopt = pytest.importorskip("prodigyopt")
    old = torch.get_default_dtype()
    try:
        _oracle_run(torch, prodigyopt.Prodigy, optim.Prodigy, kwargs)
    finally:
        torch.set_default_dtype(old)


@pytest.mark.parametrize("ours, theirs, kwargs", [
    ("ScheduleFreeSGD", "SGDScheduleFreeReference", {"lr": 0.05, "weight_decay": 0.1,
                                                     "warmup_steps": 4, "r": 0.5}),
    ("ScheduleFreeAdamW", "AdamWScheduleFreeReference", {"lr": 0.05, "weight_decay": 0.1,
                                                         "warmup_steps": 4}),
    ("ScheduleFreeAdamW", "AdamWScheduleFreeReference", {"lr": 0.02, "decay_at_z": True,
                                                         "weight_decay": 0.1, "betas": (0.8, 0.99)}),
])
def test_schedule_free_matches_official_package(ours, theirs, kwargs, capsys):
    torch = pytest.importorskip("torch")
    schedulefree = pytest.importorskip("schedulefree")
    old = torch.get_default_dtype()
    try:
        _oracle_run(torch, getattr(schedulefree, theirs), getattr(optim, ours), kwargs, train=True)
    finally:
        torch.set_default_dtype(old)
