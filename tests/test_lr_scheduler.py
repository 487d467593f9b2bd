"""LR schedules: torch 2.13's recorded sequences, closed forms written out in
the tests, resume from a state_dict, and clear errors. (Torch itself as an
oracle: test_lr_scheduler_torch.py.)"""
import math
import pickle

import numpy as np
import pytest

import minigrad
import minigrad.optim as optim
from minigrad.optim import lr_scheduler as L


def sgd(lr=0.1, groups=1, **kw):
    ws = [minigrad.zeros(2, requires_grad=True) for _ in range(groups)]
    if groups == 1:
        return optim.SGD(ws, lr=lr, momentum=0.9, **kw)
    return optim.SGD([{"params": [w], "lr": lr / (i + 1)} for i, w in enumerate(ws)],
                     lr=lr, momentum=0.9, **kw)


def adam(lr=0.1, groups=1):
    ws = [minigrad.zeros(2, requires_grad=True) for _ in range(groups)]
    return optim.Adam([{"params": [w], "lr": lr / (i + 1)} for i, w in enumerate(ws)], lr=lr)


def run(sched, steps, metrics=None):
    """The lr each optimizer step would use: lr(0), lr(1), ..."""
    lrs = []
    for t in range(steps):
        lrs.append(sched.optimizer.param_groups[0]["lr"])
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[t])
    return lrs


# ------------------------------------------- §2.3: sequences recorded from torch 2.13
RECORDED = [
    ("StepLR(3,0.5)", lambda o: L.StepLR(o, 3, 0.5),
     [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]),
    ("MultiStepLR([2,5],0.1)", lambda o: L.MultiStepLR(o, [2, 5], 0.1),
     [0.1, 0.1, 0.01, 0.01, 0.01, 0.001]),
    ("CosineAnnealingLR(4)", lambda o: L.CosineAnnealingLR(o, T_max=4),
     [0.1, 0.0853553, 0.05, 0.0146447, 0.0, 0.0146447, 0.05, 0.0853553, 0.1]),
    ("CosineAnnealingWarmRestarts(3,2)", lambda o: L.CosineAnnealingWarmRestarts(o, 3, 2),
     [0.1, 0.075, 0.025, 0.1, 0.0933013, 0.075, 0.05, 0.025, 0.0066987, 0.1]),
    ("LinearLR()", lambda o: L.LinearLR(o),
     [0.0333333, 0.0466667, 0.06, 0.0733333, 0.0866667, 0.1, 0.1]),
    ("ConstantLR()", lambda o: L.ConstantLR(o), [0.0333333] * 5 + [0.1, 0.1]),
    ("PolynomialLR(4,2)", lambda o: L.PolynomialLR(o, 4, power=2),
     [0.1, 0.05625, 0.025, 0.00625, 0.0, 0.0]),
    ("SequentialLR", lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 3),
                                                 L.ExponentialLR(o, 0.9)], [3]),
     [0.01, 0.04, 0.07, 0.1, 0.09, 0.081]),
    ("ChainedScheduler", lambda o: L.ChainedScheduler([L.ConstantLR(o, 0.1, 2),
                                                       L.ExponentialLR(o, 0.9)]),
     [0.01, 0.009, 0.081, 0.0729]),
    ("CyclicLR(0.01,0.1,2)", lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=2),
     [0.01, 0.055, 0.1, 0.055, 0.01]),
    ("SWALR(0.05,3,cos)", lambda o: L.SWALR(o, swa_lr=0.05, anneal_epochs=3),
     [0.1, 0.0875, 0.0625, 0.05, 0.05]),
]


@pytest.mark.parametrize("name,make,expected", RECORDED, ids=[r[0] for r in RECORDED])
def test_recorded_torch_sequences(name, make, expected):
    lrs = run(make(sgd()), len(expected))
    np.testing.assert_allclose(lrs, expected, rtol=0, atol=6e-8)  # recorded to 7 digits


def test_recorded_cyclic_momentum_and_onecycle():
    o = sgd()
    s = L.CyclicLR(o, 0.01, 0.1, step_size_up=2)
    moms = []
    for _ in range(5):
        moms.append(o.param_groups[0]["momentum"])
        s.step()
    np.testing.assert_allclose(moms, [0.9, 0.85, 0.8, 0.85, 0.9], atol=1e-15)
    lrs = run(L.OneCycleLR(sgd(), max_lr=0.1, total_steps=12), 12)
    np.testing.assert_allclose(lrs[:5], [0.004, 0.034979, 0.087929, 0.099442, 0.093301], atol=6e-7)
    np.testing.assert_allclose(lrs[-2:], [0.0034567, 4e-07], atol=6e-8)


def test_recorded_plateau():
    metrics = [1, 1, 1, .5, .5, .5, .5, .5, .4, .4, .4]
    o = sgd()
    s = L.ReduceLROnPlateau(o, patience=1, factor=0.5)
    lrs = [o.param_groups[0]["lr"]]
    for m in metrics:
        s.step(m)
        lrs.append(o.param_groups[0]["lr"])
    expected = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.0125, 0.00625]
    np.testing.assert_allclose(lrs, expected, atol=1e-15)
    assert s.get_last_lr() == [0.00625] and s.best == 0.4


# ------------------------------------------------ closed forms written out here
def cos_anneal(base, eta_min, t, T):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T)) / 2


CLOSED = [
    (lambda o: L.LambdaLR(o, lambda t: 1 / (t + 1)), lambda b, t: b / (t + 1)),
    (lambda o: L.MultiplicativeLR(o, lambda t: 0.9), lambda b, t: b * 0.9 ** t),
    (lambda o: L.StepLR(o, 4, 0.3), lambda b, t: b * 0.3 ** (t // 4)),
    (lambda o: L.MultiStepLR(o, [3, 3, 7], 0.5),
     lambda b, t: b * 0.5 ** ((t >= 3) * 2 + (t >= 7))),
    (lambda o: L.ExponentialLR(o, 0.8), lambda b, t: b * 0.8 ** t),
    (lambda o: L.ConstantLR(o, 0.25, 4), lambda b, t: b * (0.25 if t < 4 else 1.0)),
    (lambda o: L.LinearLR(o, 0.2, 0.9, 6), lambda b, t: b * (0.2 + 0.7 * min(t, 6) / 6)),
    (lambda o: L.PolynomialLR(o, 7, 1.5), lambda b, t: b * (1 - min(t, 7) / 7) ** 1.5),
    (lambda o: L.CosineAnnealingLR(o, 6, eta_min=0.01), lambda b, t: cos_anneal(b, 0.01, t, 6)),
    (lambda o: L.CosineAnnealingWarmRestarts(o, 2, 3, eta_min=0.01),
     lambda b, t: cos_anneal(b, 0.01, *((t, 2) if t < 2 else (t - 2, 6) if t < 8
                                        else (t - 8, 18) if t < 26 else (t - 26, 54)))),
    (lambda o: L.WarmupCosineLR(o, 4, 12, start_factor=0.1, eta_min=0.001),
     lambda b, t: b * (0.1 + 0.9 * t / 4) if t < 4 else cos_anneal(b, 0.001, min(t - 4, 8), 8)),
    (lambda o: L.WarmupStableDecayLR(o, 3, 4, 5, min_lr_ratio=0.1, decay_type="1-sqrt"),
     lambda b, t: b * (0.1 + 0.9 * (t / 3 if t < 3 else 1 if t < 7
                                    else 1 - math.sqrt((t - 7) / 5) if t < 12 else 0))),
    (lambda o: L.InverseSqrtLR(o, 4), lambda b, t: b * (t / 4 if t < 4 else math.sqrt(4 / t))),
    (lambda o: L.InverseSqrtLR(o, 0, timescale=10), lambda b, t: b / math.sqrt(1 + t / 10)),
]


@pytest.mark.parametrize("make,closed", CLOSED)
def test_closed_forms_for_every_group(make, closed):
    o = sgd(lr=0.1, groups=2)
    s = make(o)
    for t in range(30):
        for group in o.param_groups:
            assert group["lr"] == pytest.approx(closed(group["initial_lr"], t), rel=1e-12, abs=1e-15)
        if hasattr(s, "closed_form_lr"):  # step(epoch) uses it
            np.testing.assert_allclose(s.closed_form_lr(), s.get_last_lr(), rtol=1e-12, atol=1e-15)
        s.step()


def optax_warmup_cosine_decay(init, peak, warmup, decay_steps, end, exponent, t):
    """optax.warmup_cosine_decay_schedule, as optax writes it (0.2.8)."""
    if t < warmup:
        return (init - peak) * (1 - t / warmup) + peak
    alpha = end / peak
    count = min(t - warmup, decay_steps - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * count / (decay_steps - warmup)))
    return peak * ((1 - alpha) * cosine ** exponent + alpha)


def hf_wsd_factor(t, W, S, D, warmup_type, decay_type, r):
    """transformers' _get_wsd_scheduler_lambda (num_cycles = 0.5)."""
    if t < W:
        p = t / max(1, W)
        f = {"linear": p, "cosine": 0.5 * (1 - math.cos(math.pi * p)),
             "1-sqrt": 1 - math.sqrt(1 - p)}[warmup_type]
        return max(0.0, f * (1 - r) + r)
    if t < W + S:
        return 1.0
    if t < W + S + D:
        p = (t - W - S) / max(1, D)
        f = {"linear": 1 - p, "cosine": 0.5 * (1 + math.cos(math.pi * 0.5 * 2 * p)),
             "1-sqrt": 1 - math.sqrt(p)}[decay_type]
        return max(0.0, f * (1 - r) + r)
    return r


@pytest.mark.parametrize("warmup_type", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("decay_type", ["linear", "cosine", "1-sqrt"])
def test_warmup_schedules_match_their_references(warmup_type, decay_type):
    o = sgd(lr=0.3)
    s = L.WarmupStableDecayLR(o, 4, 5, 6, warmup_type, decay_type, min_lr_ratio=0.05)
    for t in range(20):
        assert o.param_groups[0]["lr"] == pytest.approx(
            0.3 * hf_wsd_factor(t, 4, 5, 6, warmup_type, decay_type, 0.05), rel=1e-14)
        s.step()
    o = sgd(lr=0.3)
    s = L.WarmupCosineLR(o, 5, 17, start_factor=0.2, eta_min=0.01, exponent=2.0)
    for t in range(25):
        assert o.param_groups[0]["lr"] == pytest.approx(
            optax_warmup_cosine_decay(0.06, 0.3, 5, 17, 0.01, 2.0, t), rel=1e-14)
        s.step()


def test_initial_lr_and_base_lrs_as_torch():
    o = sgd(lr=0.2, groups=2)
    s = L.ExponentialLR(o, 0.5)
    assert [g["initial_lr"] for g in o.param_groups] == [0.2, 0.1]
    assert s.base_lrs == [0.2, 0.1] and s.last_epoch == 0
    s.step()
    # a second scheduler keeps the first one's initial_lr (setdefault), as in torch
    s2 = L.StepLR(o, 1, 0.5)
    assert s2.base_lrs == [0.2, 0.1] and s.get_last_lr() == [0.1, 0.05]


def test_warm_restarts_fractional_epochs():
    o = sgd()
    s = L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.0)
    for epoch in [0.5, 1.5, 2.0, 3.25, 5.9, 6.0, 13.5]:
        s.step(epoch)
        # periods [0,2), [2,6), [6,14): find T_cur and T_i by hand
        start, T_i = (0, 2) if epoch < 2 else (2, 4) if epoch < 6 else (6, 8)
        assert o.param_groups[0]["lr"] == pytest.approx(cos_anneal(0.1, 0, epoch - start, T_i))
        assert s.last_epoch == math.floor(epoch)


def test_cosine_after_manual_lr_change_follows_the_group():
    """torch's recursive form anneals from the lr the group holds."""
    o = sgd()
    s = L.CosineAnnealingLR(o, T_max=10)
    for _ in range(3):
        s.step()
    o.param_groups[0]["lr"] = 0.02
    s.step()
    ratio = (1 + math.cos(math.pi * 4 / 10)) / (1 + math.cos(math.pi * 3 / 10))
    assert o.param_groups[0]["lr"] == pytest.approx(0.02 * ratio, rel=1e-14)


def test_cyclic_modes_and_beta1():
    o = adam()
    s = L.CyclicLR(o, 0.001, 0.01, step_size_up=2, step_size_down=3, mode="triangular2",
                   base_momentum=0.8, max_momentum=0.95)
    lrs, betas = [], []
    for _ in range(11):
        lrs.append(o.param_groups[0]["lr"])
        betas.append(o.param_groups[0]["betas"])
        s.step()
    up = [0, 0.5, 1, 2 / 3, 1 / 3]  # position s in a 5-step cycle
    expected = [0.001 + 0.009 * x * f for f in (1, 0.5) for x in up] + [0.001]
    np.testing.assert_allclose(lrs, expected, rtol=1e-13)
    np.testing.assert_allclose([b[0] for b in betas],
                               [0.95 - 0.15 * x * f for f in (1, 0.5) for x in up] + [0.95])
    assert all(b[1] == 0.999 for b in betas)  # beta2 untouched
    s = L.CyclicLR(sgd(), 0.0, 1.0, step_size_up=1, mode="exp_range", gamma=0.5)
    assert run(s, 4) == pytest.approx([0, 0.5 ** 1, 0, 0.5 ** 3])


def test_onecycle_three_phase_linear_and_exhaustion():
    o = sgd()
    s = L.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.3, anneal_strategy="linear",
                     three_phase=True, div_factor=10.0, final_div_factor=100.0)
    # phases end at steps 2, 4, 9: 0.1 -> 1 -> 0.1 -> 0.001
    expected = [0.1, 0.55, 1.0, 0.55, 0.1] + [0.1 + (0.001 - 0.1) * k / 5 for k in range(1, 6)]
    np.testing.assert_allclose(run(s, 10), expected, rtol=1e-13)
    assert s.last_epoch == 10  # stepping total_steps times is allowed (as torch); once more is not
    with pytest.raises(ValueError, match="OneCycleLR: stepped 11 times but total_steps is 10"):
        s.step()


# ------------------------------------------------------------- save and resume
RESUMABLE = [
    lambda o: L.LambdaLR(o, lambda t: 0.9 ** t),
    lambda o: L.StepLR(o, 2, 0.5),
    lambda o: L.LinearLR(o, 0.2, 1.0, 5),
    lambda o: L.CosineAnnealingLR(o, 5, 0.001),
    lambda o: L.CosineAnnealingWarmRestarts(o, 2, 2),
    lambda o: L.CyclicLR(o, 0.01, 0.1, 3, scale_fn=lambda x: 0.8 ** x),
    lambda o: L.OneCycleLR(o, 0.1, total_steps=20),
    lambda o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, 2), L.CosineAnnealingLR(o, 4)], [3]),
    lambda o: L.ChainedScheduler([L.StepLR(o, 3, 0.5), L.ExponentialLR(o, 0.95)]),
    lambda o: L.SWALR(o, 0.02, anneal_epochs=4),
    lambda o: L.WarmupStableDecayLR(o, 2, 3, 4),
    lambda o: L.ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1),
]


@pytest.mark.parametrize("make", RESUMABLE)
def test_resume_gives_the_same_sequence(make):
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.9, 0.91, 0.92] * 2
    is_plateau = lambda s: isinstance(s, L.ReduceLROnPlateau)

    def advance(s, o, t0, t1):
        out = []
        for t in range(t0, t1):
            out.append((o.param_groups[0]["lr"], o.param_groups[0]["momentum"]))
            s.step(metrics[t]) if is_plateau(s) else s.step()
        return out

    o = sgd(groups=2)
    s = make(o)
    full = advance(s, o, 0, 16)

    o1 = sgd(groups=2)
    s1 = make(o1)
    advance(s1, o1, 0, 7)
    saved = pickle.dumps((o1.state_dict(), s1.state_dict()))  # lambdas are left out
    o2 = sgd(groups=2)
    s2 = make(o2)
    opt_state, sched_state = pickle.loads(saved)
    o2.load_state_dict(opt_state)
    s2.load_state_dict(sched_state)
    assert advance(s2, o2, 7, 16) == full[7:]


def test_callable_object_state_is_saved():
    class Halve:
        def __init__(self):
            self.calls = 0

        def __call__(self, t):
            self.calls += 1
            return 0.5

    s = L.MultiplicativeLR(sgd(), Halve())
    s.step()
    s.step()
    state = s.state_dict()
    assert state["lr_lambdas"] == [{"calls": 2}]
    s2 = L.MultiplicativeLR(sgd(), Halve())
    s2.load_state_dict(state)
    assert s2.lr_lambdas[0].calls == 2 and s2.last_epoch == 2


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize("make,match", [
    (lambda o: L.StepLR(o, step_size=-1), r"StepLR: step_size must be a positive integer, got -1"),
    (lambda o: L.StepLR(o, 2, gamma=0.0), r"StepLR: invalid gamma = 0.0"),
    (lambda o: L.ExponentialLR(o, gamma=-0.5), r"ExponentialLR: invalid gamma"),
    (lambda o: L.MultiStepLR(o, [2, -3]), r"MultiStepLR: each milestone must be a non-negative"),
    (lambda o: L.ConstantLR(o, factor=0.0), r"ConstantLR: invalid factor = 0.0; it must be in \(0"),
    (lambda o: L.LinearLR(o, start_factor=1.5), r"LinearLR: invalid start_factor"),
    (lambda o: L.LinearLR(o, total_iters=0), r"LinearLR: total_iters must be a positive"),
    (lambda o: L.PolynomialLR(o, total_iters=0), r"PolynomialLR: total_iters"),
    (lambda o: L.CosineAnnealingLR(o, T_max=0), r"CosineAnnealingLR: T_max"),
    (lambda o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5), r"T_mult must be a positive"),
    (lambda o: L.CyclicLR(o, 0.1, 1.0, mode="zigzag"), r"CyclicLR: unknown mode 'zigzag'"),
    (lambda o: L.CyclicLR(o, [0.1, 0.2], 1.0), r"base_lr has 2 values but the optimizer has 1"),
    (lambda o: L.OneCycleLR(o, 0.1), r"OneCycleLR: give total_steps, or both epochs"),
    (lambda o: L.OneCycleLR(o, 0.1, total_steps=10, pct_start=0.1),
     r"OneCycleLR: phase 1 has zero length"),
    (lambda o: L.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="exp"), r"anneal_strategy"),
    (lambda o: L.ReduceLROnPlateau(o, factor=1.0), r"ReduceLROnPlateau: invalid factor = 1.0"),
    (lambda o: L.ReduceLROnPlateau(o, mode="best"), r"mode must be 'min'"),
    (lambda o: L.SequentialLR(o, [L.StepLR(o, 2)], [3]), r"1 schedulers need 0 milestones"),
    (lambda o: L.SequentialLR(o, [L.StepLR(o, 2), L.ReduceLROnPlateau(o)], [3]),
     r"can't contain ReduceLROnPlateau"),
    (lambda o: L.SequentialLR(o, [L.StepLR(o, 2), L.StepLR(sgd(), 2)], [3]),
     r"schedulers\[1\] \(StepLR\) drives a different optimizer"),
    (lambda o: L.SWALR(o, 0.05, anneal_strategy="step"), r"SWALR: anneal_strategy"),
    (lambda o: L.WarmupCosineLR(o, warmup_steps=10, total_steps=10), r"must exceed warmup_steps"),
    (lambda o: L.WarmupStableDecayLR(o, 1, 1, 1, decay_type="exp"), r"decay_type must be one of"),
    (lambda o: L.LambdaLR(o, [lambda t: 1, lambda t: 1]), r"lr_lambda has 2 values"),
    (lambda o: L.StepLR(o, 2, last_epoch=3), r"has no 'initial_lr'"),
])
def test_bad_arguments_raise_clearly(make, match):
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        make(sgd())


def test_cycle_momentum_needs_momentum_or_betas():
    class Plain(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))
    o = Plain([minigrad.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match="needs an optimizer with 'momentum' or 'betas'"):
        L.OneCycleLR(o, 0.1, total_steps=10)
    L.OneCycleLR(o, 0.1, total_steps=10, cycle_momentum=False)  # fine without
    with pytest.raises(TypeError, match="needs an optimizer"):
        L.StepLR([minigrad.zeros(1)], 2)
