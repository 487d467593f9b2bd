"""Every optimizer, schedule, penalty, clipping function and wrapper on the GPU.

The `cuda` runs use real CuPy when a GPU is there, and the strict CuPy
stand-in (tests/cupy_stand_in.py) otherwise, so these run on every machine:
  * each rule's first steps on cuda follow its steps on the cpu;
  * a state saved on one device resumes on the other;
  * `optimizer.step()` never waits for the GPU (no device-to-host copy,
    checked with `cupyx.allow_synchronize(False)`), except for the rules
    that need a host number by nature, which say so in their docstrings;
  * LR schedules, clipping, penalties, SWA and EarlyStopping take cuda tensors.
The problem and the per-rule settings are test_optim_common's.
"""
import math

import numpy as np
import pytest
from gpu_only import real_gpu
from test_optim_common import RULES, Problem

import minigrad
import minigrad.optim as optim
from minigrad.optim import lr_scheduler as L

needs_cuda = pytest.mark.skipif(not minigrad.cuda.is_available(),
                                reason="CuPy with a CUDA GPU (or the CuPy stand-in) is not available")
pytestmark = needs_cuda

# Rules whose step needs a number on the host, by nature (their docstrings say so).
READS_HOST = {"LBFGS", "DAdaptSGD", "DAdaptAdam", "Prodigy"}
# Rules that draw random probes: cuda's generator is not NumPy's, so their
# trajectories can't match the cpu's; they are checked by their loss instead.
RANDOM = {"AdaHessian", "SophiaH"}
# float64 on both devices: the stand-in is NumPy (exact); a GPU sums in
# another order, and a few steps of Shampoo/SOAP/LBFGS amplify that a little.
RTOL, ATOL = 1e-7, 1e-10
CUDA = "cuda:0"  # a tensor's .device


def no_sync():
    """A context in which a device-to-host copy raises (cupyx, through backend)."""
    return minigrad.backend._cupyx.allow_synchronize(False)


# Settings off the defaults, where a rule has branches the defaults don't take.
VARIANTS = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("Adam", dict(amsgrad=True, weight_decay=0.01)),
    ("Adam", dict(decoupled_weight_decay=True, weight_decay=0.1)),
    ("AdamW", dict(amsgrad=True)),
    ("Adamax", dict(weight_decay=0.01)),
    ("NAdam", dict(decoupled_weight_decay=True, weight_decay=0.1)),
    ("RAdam", dict(decoupled_weight_decay=True, weight_decay=0.1)),
    ("RMSprop", dict(centered=True, momentum=0.9, weight_decay=0.01)),
    ("Adagrad", dict(lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.01)),
    ("Adadelta", dict(weight_decay=0.01)),
    ("Lion", dict(lr=0.01, weight_decay=0.1)),
    ("LAMB", dict(weight_decay=0.1)),
    ("LARS", dict(lr=0.1, nesterov=True, weight_decay=0.01, eps=1e-3)),
    ("LARS", dict(lr=0.1, layer_adaptation=False)),
    ("NovoGrad", dict(grad_averaging=True, weight_decay=0.01)),
    ("Adan", dict(max_grad_norm=0.1, no_prox=True, weight_decay=0.01)),
    ("AdaBound", dict(amsbound=True)),
    ("AdamP", dict(nesterov=True, weight_decay=0.1, delta=10.0)),  # delta 10: always projects
    ("SGDP", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, delta=10.0)),
    ("ADOPT", dict(decoupled_weight_decay=True, weight_decay=0.1)),
    ("AdaBelief", dict(decoupled_weight_decay=False, weight_decay=0.1)),
    ("MADGRAD", dict(decouple_decay=True, weight_decay=0.1)),
    ("Signum", dict(decoupled_weight_decay=False, weight_decay=0.1)),
    ("ScheduleFreeAdamW", dict(warmup_steps=2, r=1.0, weight_decay=0.1, decay_at_z=True)),
    ("ScheduleFreeSGD", dict(warmup_steps=2, weight_decay=0.1)),
    ("AdEMAMix", dict(T_alpha_beta3=10, weight_decay=0.1)),
    ("ASGD", dict(t0=1, weight_decay=0.01)),
    ("Adafactor", dict(weight_decay=0.1, d=1.0, eps=(1e-30, 0.1))),
    ("Muon", dict(lr=0.02, nesterov=False, adjust_lr_fn="match_rms_adamw")),
    ("Shampoo", dict(momentum=0.9, update_freq=2, weight_decay=0.01)),
    ("SOAP", dict(precondition_frequency=2, precondition_1d=True)),
    ("Yogi", dict(weight_decay=0.01)),
    ("MARS", dict(weight_decay=0.1)),
    ("SophiaH", dict(update_period=2, hessian_distribution="rademacher")),
]
STEPS = 6  # RAdam rectifies from step 6 on


def cases(names):
    """(rule, settings) pairs: each rule with test_optim_common's settings (None), and the variants."""
    return [pytest.param(n, None, id=n) for n in sorted(names)] + \
        [pytest.param(n, h, id=f"{n}-{i}") for i, (n, h) in enumerate(VARIANTS) if n in names]


def on(device, name, hyper=None, dtype=np.float64):
    """test_optim_common's Problem on `device`, with `hyper` for the rule if given."""
    problem = Problem(name, dtype=dtype)
    if device != "cpu":
        for t in ("x", "y"):
            setattr(problem, t, getattr(problem, t).to(device))
        for t in ("w", "b", "unused"):  # new leaves on the device
            old = getattr(problem, t)
            setattr(problem, t, minigrad.Tensor(old.data, dtype=old.dtype, device=device,
                                                requires_grad=True))
        problem.params = [problem.w, problem.unused] if problem.spec.get("matrix_only") else \
            [problem.w, problem.b, problem.unused]
    if hyper is not None:
        problem.opt = getattr(optim, name)(problem.params, **hyper)
    elif device != "cpu":
        problem.opt = problem.spec.get("make", getattr(optim, name))(problem.params)
    return problem


def basis_dependent(name, hyper):
    """SOAP preconditioning a bias: its preconditioner b b^T has rank 1, so the
    eigenbasis that SOAP's Adam runs in is not unique, and a GPU's eigensolver
    (cuSOLVER) picks another one than LAPACK (seen on an H200: 7% apart after
    6 steps). The stand-in is NumPy, so there the trajectories still match."""
    return name == "SOAP" and (hyper or {}).get("precondition_1d") and real_gpu()


@pytest.mark.parametrize("name,hyper", cases(set(RULES) - RANDOM))
def test_cuda_follows_cpu(name, hyper):
    if basis_dependent(name, hyper):
        problem = on("cuda", name, hyper)
        before = float(problem.loss())
        for _ in range(STEPS):
            problem.step()
        assert float(problem.loss()) < before
        return
    cpu, gpu = on("cpu", name, hyper), on("cuda", name, hyper)
    for _ in range(STEPS):
        cpu.step()
        gpu.step()
    for p in gpu.params:
        assert p.device == CUDA, f"{name}: a parameter left the GPU"
    for a, b in zip(cpu.values(), gpu.values()):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL, err_msg=f"{name} on cuda")
    assert not np.array_equal(gpu.values()[0], on("cpu", name, hyper).values()[0]), \
        f"{name} never moved"


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_rules_descend_on_cuda(name):
    problem = on("cuda", name)
    before = float(problem.loss())
    for _ in range(10):
        problem.step()
    assert float(problem.loss()) < before


@pytest.mark.parametrize("name,hyper", cases(set(RULES) - READS_HOST))
def test_step_never_waits_for_the_gpu(name, hyper):
    """The update runs inside allow_synchronize(False): a float(), .item(),
    bool(), boolean mask or max() of a device value in step() would raise.
    The first step (which creates the state) is included."""
    problem = on("cuda", name, hyper, dtype=np.float32)
    for _ in range(STEPS):
        if problem.spec.get("closure"):
            problem.closure()
            with no_sync():
                problem.opt.step(problem.closure)
        else:
            problem.closure()  # the backward pass is the engine's business, not the rule's
            with no_sync():
                problem.opt.step()
    assert all(p.dtype == minigrad.float32 for p in problem.params)


def test_sophia_g_hessian_refresh_never_waits():
    """SophiaG's refresh (labels sampled from the model, their gradient squared
    into h) stays on the device too; only the loss's backward is outside."""
    import minigrad.functional as F
    logits = minigrad.tensor(np.random.default_rng(0).normal(size=(4, 3)), device="cuda",
                             requires_grad=True)
    opt = optim.SophiaG([logits], lr=0.1, batch_size=4)
    with no_sync():
        labels = optim.SophiaG.sample_labels(logits)
    assert labels.device == CUDA and labels.dtype == minigrad.int64
    assert 0 <= labels.numpy().min() and labels.numpy().max() <= 2
    F.cross_entropy(logits, labels).backward()
    g = logits.grad.numpy()
    with no_sync():
        opt.update_hessian()
    hessian = minigrad.backend.to_numpy(opt.state[logits]["hessian"])
    np.testing.assert_allclose(hessian, 0.01 * g * g, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(READS_HOST))
def test_rules_that_read_the_host_say_so(name):
    """The exception above is documented where a user reads it, and real."""
    assert "On a GPU this rule reads" in getattr(optim, name).__doc__
    problem = on("cuda", name)
    problem.step()  # the first step may make no update (no signal yet) and so need no sync
    problem.closure()
    with pytest.raises(RuntimeError, match="synchroniz"), no_sync():
        problem.opt.step(problem.closure) if problem.spec.get("closure") else problem.opt.step()


@pytest.mark.parametrize("name", sorted(set(RULES) - RANDOM))
@pytest.mark.parametrize("route", ["cpu->cuda", "cuda->cpu"])
def test_state_moves_between_devices(name, route):
    """state_dict() is host arrays; load_state_dict() puts them on the parameters'
    device, so a run saved on one device continues on the other."""
    start, finish = route.split("->")
    straight = on("cpu", name)
    first = on(start, name)
    for k in range(5):
        straight.step()
        if k < 3:
            first.step()
    second = on(finish, name)
    for p, v in zip(second.params, first.values()):
        p.data[...] = minigrad.tensor(v, device=finish).data
    second.opt.load_state_dict(first.opt.state_dict())
    for state in second.opt.state.values():
        for value in state.values():
            if hasattr(value, "shape"):
                assert minigrad.backend.device_of_array(value) == minigrad.backend.normalize_device(finish)
    for _ in range(2):
        second.step()
    for a, b in zip(straight.values(), second.values()):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL, err_msg=f"{name} via {route}")


# ---------------------------------------------------------------- schedules
SCHEDULES = {
    "StepLR": lambda o: L.StepLR(o, step_size=2, gamma=0.5),
    "MultiStepLR": lambda o: L.MultiStepLR(o, milestones=[1, 3], gamma=0.1),
    "ExponentialLR": lambda o: L.ExponentialLR(o, gamma=0.9),
    "LambdaLR": lambda o: L.LambdaLR(o, lambda t: 1.0 / (t + 1)),
    "MultiplicativeLR": lambda o: L.MultiplicativeLR(o, lambda t: 0.95),
    "ConstantLR": lambda o: L.ConstantLR(o, factor=0.5, total_iters=2),
    "LinearLR": lambda o: L.LinearLR(o, start_factor=0.25, total_iters=3),
    "PolynomialLR": lambda o: L.PolynomialLR(o, total_iters=4, power=2.0),
    "CosineAnnealingLR": lambda o: L.CosineAnnealingLR(o, T_max=3),
    "CosineAnnealingWarmRestarts": lambda o: L.CosineAnnealingWarmRestarts(o, T_0=2),
    "CyclicLR": lambda o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2),
    "OneCycleLR": lambda o: L.OneCycleLR(o, max_lr=0.1, total_steps=6),
    "SequentialLR": lambda o: L.SequentialLR(o, [L.ConstantLR(o, factor=0.5, total_iters=2),
                                                 L.ExponentialLR(o, gamma=0.9)], milestones=[2]),
    "ChainedScheduler": lambda o: L.ChainedScheduler([L.ExponentialLR(o, gamma=0.9),
                                                      L.StepLR(o, step_size=2)]),
    "SWALR": lambda o: L.SWALR(o, swa_lr=0.01, anneal_epochs=2),
    "WarmupCosineLR": lambda o: L.WarmupCosineLR(o, warmup_steps=2, total_steps=6),
    "WarmupStableDecayLR": lambda o: L.WarmupStableDecayLR(o, warmup_steps=1, stable_steps=2,
                                                           decay_steps=2),
    "InverseSqrtLR": lambda o: L.InverseSqrtLR(o, warmup_steps=2),
}


def test_every_schedule_is_covered():
    assert set(SCHEDULES) | {"ReduceLROnPlateau"} == set(L.__all__) - {"LRScheduler"}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_on_cuda_follows_cpu_without_syncs(name):
    """A schedule writes group["lr"] from the step count: the same Python
    numbers on both devices, and nothing read from the GPU."""
    trajectories = {}
    for device in ("cpu", "cuda"):
        w = minigrad.ones(3, device=device, requires_grad=True)
        opt = optim.SGD([w], lr=0.1, momentum=0.9)
        sched = SCHEDULES[name](opt)
        lrs = []
        for _ in range(6):
            w.grad = w.detach() * 0.5
            with no_sync() if device == "cuda" else _nothing():
                opt.step()
                sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        trajectories[device] = (lrs, w.numpy())
    assert trajectories["cuda"][0] == trajectories["cpu"][0]
    assert len(set(trajectories["cpu"][0])) > 1, f"{name}: the lr never changed"
    np.testing.assert_allclose(trajectories["cuda"][1], trajectories["cpu"][1], rtol=1e-6)


def test_plateau_takes_a_cuda_metric():
    """ReduceLROnPlateau compares the metric on the host (one read per epoch, by nature)."""
    w = minigrad.ones(2, device="cuda", requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    sched = L.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    for loss in (1.0, 2.0, 3.0):
        sched.step(minigrad.tensor(loss, device="cuda"))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ------------------------------------------ clipping, penalties, averaging, stopping
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_never_waits_and_returns_a_device_norm(norm_type):
    params = [minigrad.zeros(*s, device="cuda", requires_grad=True) for s in [(3, 4), (5,)]]
    rng = np.random.default_rng(0)
    grads = [10.0 * rng.normal(size=p.shape) for p in params]
    for p, g in zip(params, grads):
        p.grad = minigrad.tensor(g, dtype=p.dtype, device="cuda")
    with no_sync():
        total = optim.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
        optim.clip_grad_value_(params, 0.05)
    assert total.device == CUDA and total.shape == ()
    flat = np.concatenate([g.astype(np.float32).ravel() for g in grads])
    expected = np.abs(flat).max() if norm_type == math.inf else \
        (np.abs(flat.astype(np.float64)) ** norm_type).sum() ** (1 / norm_type)
    assert total.item() == pytest.approx(expected, rel=1e-5)
    coef = 1.0 / (expected + 1e-6)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), np.clip(g * coef, -0.05, 0.05), rtol=1e-5)


def test_clip_error_if_nonfinite_reads_the_norm():
    """error_if_nonfinite must look at the norm on the host: it syncs (documented)."""
    assert "error_if_nonfinite" in optim.clip_grad_norm_.__doc__ and \
        "sync" in optim.clip_grad_norm_.__doc__
    p = minigrad.zeros(2, device="cuda", requires_grad=True)
    p.grad = minigrad.tensor([1.0, float("nan")], device="cuda")
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm"):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


def test_penalties_on_cuda_never_wait():
    w = minigrad.tensor([[1.0, -2.0], [0.5, 0.0]], device="cuda", requires_grad=True)
    with no_sync():
        loss = 0.1 * optim.l1_penalty([w]) + 0.2 * optim.l2_penalty([w]) + \
            optim.elastic_net_penalty([w], l1_ratio=0.3)
        loss.backward()
    assert loss.device == CUDA
    ref = minigrad.tensor(w.numpy(), requires_grad=True)
    ref_loss = 0.1 * optim.l1_penalty([ref]) + 0.2 * optim.l2_penalty([ref]) + \
        optim.elastic_net_penalty([ref], l1_ratio=0.3)
    ref_loss.backward()
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), ref.grad.numpy(), rtol=1e-6)


def test_swa_and_ema_on_cuda_never_wait():
    import minigrad.nn as nn
    # Copied on the cpu, then moved: the stand-in has no ndarray.__deepcopy__ (real CuPy's
    # copies on the device), so deepcopy of a cuda model can't run on it.
    model = nn.Linear(3, 2)
    swa = optim.AveragedModel(model, device="cuda")
    ema = optim.AveragedModel(model, device="cuda", multi_avg_fn=optim.get_ema_multi_avg_fn(0.9))
    model.to("cuda")
    snapshots = []
    for k in range(3):
        with minigrad.no_grad():
            model.weight.data += 0.1 * (k + 1)
        snapshots.append(model.weight.numpy().copy())
        with no_sync():
            swa.update_parameters(model)
            ema.update_parameters(model)
    np.testing.assert_allclose(swa.module.weight.numpy(), np.mean(snapshots, axis=0), rtol=1e-6)
    expected = snapshots[0]
    for s in snapshots[1:]:
        expected = 0.9 * expected + 0.1 * s
    np.testing.assert_allclose(ema.module.weight.numpy(), expected, rtol=1e-6)
    assert swa.module.weight.device == CUDA


def test_update_bn_on_cuda_averages_the_batches():
    import minigrad.nn as nn
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).to("cuda")
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(5, 3)).astype(np.float32) for _ in range(3)]
    optim.update_bn([minigrad.tensor(b, device="cuda") for b in batches], model)
    w, b = model[0].weight.numpy(), model[0].bias.numpy()
    expected = np.mean([(x @ w.T + b).mean(axis=0) for x in batches], axis=0)
    np.testing.assert_allclose(model[1].running_mean.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert model[1].running_mean.device == CUDA


def test_early_stopping_takes_cuda_metrics_and_weights():
    """The metric is read on the host once per epoch (a decision, by nature);
    best weights are kept on the model's device."""
    w = minigrad.zeros(2, device="cuda")

    class Model:
        def state_dict(self):
            return {"w": w}

        def load_state_dict(self, state):
            w.data[...] = state["w"].data

    model = Model()
    stopper = optim.EarlyStopping(patience=2, restore_best_weights=True)
    for metric in [3.0, 1.0, 2.0, 2.5]:
        w.data += 1.0
        if stopper.step(minigrad.tensor(metric, device="cuda"), model):
            break
    assert stopper.stopped_epoch == 3 and stopper.best == 1.0
    np.testing.assert_array_equal(w.numpy(), [2.0, 2.0])
    assert w.device == CUDA
