"""LR schedules against torch 2.13 itself (skipped without torch): every
schedule with SGD and with Adam, bit for bit, including momentum/beta cycling,
ReduceLROnPlateau's counters and step(epoch)."""
import types

import numpy as np
import pytest

import minigrad
import minigrad.optim as optim
from minigrad.optim import lr_scheduler as L

# --------------------------------------------------- torch 2.13 as an oracle
# Each case builds the same schedule from a module of schedulers: ours, or
# torch's (with SWALR from torch.optim.swa_utils). Values must match exactly:
# both sides do the same float operations in the same order.
PARITY = [
    ("lambda", lambda M, o: M.LambdaLR(o, lambda t: 0.95 ** t)),
    ("lambda-per-group", lambda M, o: M.LambdaLR(o, [lambda t: 1 / (1 + t), lambda t: 0.9 ** t])),
    ("multiplicative", lambda M, o: M.MultiplicativeLR(o, lambda t: 0.9 + 0.01 * t)),
    ("step", lambda M, o: M.StepLR(o, 3, 0.1)),
    ("multistep", lambda M, o: M.MultiStepLR(o, [2, 2, 5, 9], 0.3)),
    ("constant", lambda M, o: M.ConstantLR(o, 0.3, 4)),
    ("linear-up", lambda M, o: M.LinearLR(o, 0.1, 1.0, 7)),
    ("linear-down", lambda M, o: M.LinearLR(o, 1.0, 0.05, 6)),
    ("exponential", lambda M, o: M.ExponentialLR(o, 0.87)),
    ("polynomial", lambda M, o: M.PolynomialLR(o, 9, 1.7)),
    ("cosine-periodic", lambda M, o: M.CosineAnnealingLR(o, 5, eta_min=0.003)),
    ("warm-restarts", lambda M, o: M.CosineAnnealingWarmRestarts(o, 3, 2, eta_min=0.001)),
    ("cyclic-triangular", lambda M, o: M.CyclicLR(o, 0.01, 0.1, 3)),
    ("cyclic-triangular2", lambda M, o: M.CyclicLR(o, [0.01, 0.02], [0.1, 0.3], 2, 5,
                                                   mode="triangular2")),
    ("cyclic-exp-range", lambda M, o: M.CyclicLR(o, 0.01, 0.1, 4, mode="exp_range", gamma=0.97,
                                                 base_momentum=0.7, max_momentum=0.95)),
    ("cyclic-scale-fn", lambda M, o: M.CyclicLR(o, 0.01, 0.1, 3, scale_fn=lambda x: 0.9 ** x,
                                                scale_mode="iterations", cycle_momentum=False)),
    ("onecycle", lambda M, o: M.OneCycleLR(o, 0.1, total_steps=25)),
    ("onecycle-linear-3phase", lambda M, o: M.OneCycleLR(o, [0.1, 0.5], epochs=5, steps_per_epoch=5,
                                                         anneal_strategy="linear", three_phase=True,
                                                         div_factor=10.0, final_div_factor=50.0)),
    ("sequential", lambda M, o: M.SequentialLR(o, [M.LinearLR(o, 0.1, 1.0, 3),
                                                   M.CosineAnnealingLR(o, 6, 0.01),
                                                   M.StepLR(o, 2, 0.5)], [3, 10])),
    ("chained", lambda M, o: M.ChainedScheduler([M.CosineAnnealingLR(o, 5, 0.01),
                                                 M.ExponentialLR(o, 0.9), M.LinearLR(o, 0.5)])),
    ("chained-then-lambda", lambda M, o: M.ChainedScheduler([M.StepLR(o, 2, 0.5),
                                                             M.LambdaLR(o, lambda t: 1 + t)])),
    ("swalr-cos", lambda M, o: M.SWALR(o, 0.02, anneal_epochs=5)),
    ("swalr-linear", lambda M, o: M.SWALR(o, [0.02, 0.01], anneal_epochs=3,
                                          anneal_strategy="linear")),
    ("swalr-0", lambda M, o: M.SWALR(o, 0.02, anneal_epochs=0)),
]


def torch_oracle():
    torch = pytest.importorskip("torch")
    from torch.optim import lr_scheduler, swa_utils
    module = types.SimpleNamespace(**{k: getattr(lr_scheduler, k) for k in lr_scheduler.__all__},
                                   SWALR=swa_utils.SWALR)
    return torch, module


def optimizer_pair(torch, kind, lrs=(0.1, 0.05)):
    ours = [minigrad.zeros(2, requires_grad=True) for _ in lrs]
    theirs = [torch.zeros(2, requires_grad=True) for _ in lrs]
    if kind == "sgd":
        return (optim.SGD([{"params": [w], "lr": lr} for w, lr in zip(ours, lrs)], momentum=0.9),
                torch.optim.SGD([{"params": [w], "lr": lr} for w, lr in zip(theirs, lrs)],
                                momentum=0.9))
    return (optim.Adam([{"params": [w], "lr": lr} for w, lr in zip(ours, lrs)]),
            torch.optim.Adam([{"params": [w], "lr": lr} for w, lr in zip(theirs, lrs)]))


def hyper(opt):
    return [(g["lr"], g.get("momentum"), tuple(g.get("betas", ()))) for g in opt.param_groups]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name,make", PARITY, ids=[p[0] for p in PARITY])
def test_matches_torch_bit_for_bit(name, make, kind):
    torch, T = torch_oracle()
    ours, theirs = optimizer_pair(torch, kind)
    s_ours, s_theirs = make(L, ours), make(T, theirs)
    steps = 25 if name.startswith("onecycle") else 30
    for t in range(steps):
        assert hyper(ours) == hyper(theirs), f"{name}, step {t}"
        assert s_ours.get_last_lr() == s_theirs.get_last_lr()
        theirs.step()  # (no gradients: no update) silences torch's call-order warning
        s_ours.step()
        s_theirs.step()
        if t == 12:  # a manual change: recursive forms carry it on, the others overwrite it
            for opt in (ours, theirs):
                opt.param_groups[1]["lr"] = 0.07
    assert [g.get("initial_lr") for g in ours.param_groups] == \
        [g.get("initial_lr") for g in theirs.param_groups]


@pytest.mark.parametrize("mode,threshold_mode,threshold,cooldown,min_lr", [
    ("min", "rel", 1e-4, 0, 0.0), ("min", "abs", 0.05, 2, 0.004), ("max", "rel", 0.01, 1, [0.01, 0.0]),
    ("max", "abs", 0.0, 0, 0.0)])
def test_plateau_matches_torch(mode, threshold_mode, threshold, cooldown, min_lr):
    torch, T = torch_oracle()
    ours, theirs = optimizer_pair(torch, "sgd")
    kw = dict(mode=mode, factor=0.5, patience=2, threshold=threshold,
              threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=1e-4)
    s_ours, s_theirs = L.ReduceLROnPlateau(ours, **kw), T.ReduceLROnPlateau(theirs, **kw)
    rng = np.random.default_rng(0)
    metrics = np.cumsum(rng.normal(0.0, 0.1, size=60))  # a random walk: plateaus and drops
    for m in metrics:
        s_ours.step(float(m))
        s_theirs.step(float(m))
        assert hyper(ours) == hyper(theirs)
        assert (s_ours.best, s_ours.num_bad_epochs, s_ours.cooldown_counter) == \
            (s_theirs.best, s_theirs.num_bad_epochs, s_theirs.cooldown_counter)


def test_step_with_epoch_uses_closed_form_as_torch():
    torch, T = torch_oracle()
    import warnings
    for make in (lambda M, o: M.StepLR(o, 3, 0.5), lambda M, o: M.CosineAnnealingLR(o, 7, 0.01),
                 lambda M, o: M.PolynomialLR(o, 8, 2.0), lambda M, o: M.LinearLR(o, 0.2, 0.9, 5),
                 lambda M, o: M.CosineAnnealingWarmRestarts(o, 2, 3)):
        ours, theirs = optimizer_pair(torch, "sgd")
        s_ours, s_theirs = make(L, ours), make(T, theirs)
        for epoch in [4, 2, 9, 0, 15, 3.5, 30.25]:
            if isinstance(s_ours, L.CosineAnnealingWarmRestarts) or epoch == int(epoch):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s_theirs.step(epoch)
                s_ours.step(epoch)
                assert hyper(ours) == hyper(theirs)
