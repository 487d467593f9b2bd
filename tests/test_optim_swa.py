"""Weight averaging: AveragedModel (SWA and EMA), the averaging functions and update_bn.

Checked against averages computed here in NumPy from the snapshots the
model went through, against torch.optim.swa_utils when torch is installed
(optional oracle), and with a duck-typed module (optim must not need nn).
"""
import numpy as np
import pytest

import minigrad
import minigrad.nn as nn
import minigrad.optim as optim


def make_model(seed=0):
    minigrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))


def perturb(model, k):
    """Move the model's weights as a training step would (deterministically in k),
    and its BatchNorm statistics as a forward pass would."""
    with minigrad.no_grad():
        for i, p in enumerate(model.parameters()):
            step = np.sin(np.arange(p.numel()).reshape(p.shape) + 3 * k + i).astype(p.dtype)
            p.data[...] += minigrad.backend.to_device(step, p.device)
        x = np.random.default_rng(k).normal(size=(6, 3)).astype(np.float32)
        model(minigrad.Tensor(x, device=next(iter(model.parameters())).device))


def snapshot(model):
    return [p.numpy().copy() for p in model.parameters()]


def test_swa_is_the_mean_of_the_snapshots(device):
    # The copy is made on the cpu and moved (AveragedModel's device=), then the model is
    # moved: the CuPy stand-in cannot deepcopy a device array (real CuPy can).
    model = make_model()
    swa = optim.AveragedModel(model, device=device)
    model.to(device)
    assert swa.n_averaged == 0
    snapshots = []
    for k in range(5):
        perturb(model, k)
        snapshots.append(snapshot(model))
        swa.update_parameters(model)
    assert swa.n_averaged == 5
    for averaged, *seen in zip(swa.parameters(), *snapshots):
        np.testing.assert_allclose(averaged.numpy(), np.mean(seen, axis=0), rtol=1e-6, atol=1e-6)
        assert averaged.dtype == np.float32 and averaged.device == model[0].weight.device
    # buffers are copied from the model, not averaged
    np.testing.assert_array_equal(swa.module[1].running_mean.numpy(),
                                  model[1].running_mean.numpy())


def test_ema_follows_its_recurrence_and_custom_avg_fn_agrees():
    decay = 0.8
    model = make_model()
    ema = optim.AveragedModel(model, multi_avg_fn=optim.get_ema_multi_avg_fn(decay))
    ema_single = optim.AveragedModel(model, avg_fn=optim.get_ema_avg_fn(decay))
    expected = None
    for k in range(4):
        perturb(model, k)
        current = [x.astype(np.float64) for x in snapshot(model)]
        expected = current if expected is None else \
            [decay * e + (1 - decay) * c for e, c in zip(expected, current)]
        ema.update_parameters(model)
        ema_single.update_parameters(model)
    for a, b, e in zip(ema.parameters(), ema_single.parameters(), expected):
        np.testing.assert_allclose(a.numpy(), e, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b.numpy(), e, rtol=1e-5, atol=1e-6)


def test_swa_functions_on_arrays():
    avg, cur = np.array([1.0, 2.0]), np.array([4.0, -1.0])
    np.testing.assert_allclose(optim.get_swa_avg_fn()(avg, cur, 2), [2.0, 1.0])
    np.testing.assert_allclose(optim.get_ema_avg_fn(0.9)(avg, cur, 7), [1.3, 1.7])
    ints = np.array([10, 20])
    optim.get_swa_multi_avg_fn()([ints], [np.array([13, 20])], 2)
    np.testing.assert_array_equal(ints, [11, 20])  # integer buffers stay integers
    with pytest.raises(ValueError, match="decay"):
        optim.get_ema_multi_avg_fn(1.5)


def test_use_buffers_averages_the_buffers_too():
    model = make_model()
    swa = optim.AveragedModel(model, use_buffers=True)
    means = []
    for k in range(3):
        perturb(model, k)
        means.append(model[1].running_mean.numpy().copy())
        swa.update_parameters(model)
    np.testing.assert_allclose(swa.module[1].running_mean.numpy(), np.mean(means, axis=0),
                               rtol=1e-6, atol=1e-7)
    assert swa.module[1].num_batches_tracked.dtype == np.int64


def test_calling_it_runs_the_averaged_copy():
    model = make_model()
    swa = optim.AveragedModel(model)
    perturb(model, 0)
    swa.update_parameters(model)
    frozen = [p.numpy().copy() for p in swa.parameters()]
    perturb(model, 1)  # the model moves on; the averaged copy must not
    for p, f in zip(swa.parameters(), frozen):
        np.testing.assert_array_equal(p.numpy(), f)
    swa.eval()
    assert not swa.training and model.training
    x = minigrad.Tensor(np.random.default_rng(5).normal(size=(2, 3)).astype(np.float32))
    np.testing.assert_array_equal(swa(x).numpy(), swa.module(x).numpy())
    assert not np.allclose(swa(x).numpy(), model.eval()(x).numpy())


def test_state_dict_round_trip_with_torch_names():
    model = make_model()
    swa = optim.AveragedModel(model)
    for k in range(3):
        perturb(model, k)
        swa.update_parameters(model)
    state = swa.state_dict()
    assert "module.0.weight" in state and "module.1.running_var" in state
    assert int(state["n_averaged"].item()) == 3
    other = optim.AveragedModel(make_model(seed=1))
    other.load_state_dict(state)
    assert other.n_averaged == 3
    for p, q in zip(swa.parameters(), other.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_update_bn_recomputes_the_statistics_as_a_plain_average():
    model = make_model()
    bn = model[1]
    bn.momentum = 0.3
    model.eval()
    rng = np.random.default_rng(7)
    batches = [rng.normal(size=(5, 3)).astype(np.float32) for _ in range(4)]
    loader = [(minigrad.Tensor(b), minigrad.Tensor(np.zeros(5))) for b in batches]  # (x, y) pairs
    optim.update_bn(loader, model)
    W, b = model[0].weight.numpy().astype(np.float64), model[0].bias.numpy().astype(np.float64)
    hidden = [x.astype(np.float64) @ W.T + b for x in batches]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([h.mean(0) for h in hidden], 0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(),
                               np.mean([h.var(0, ddof=1) for h in hidden], 0), rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.3 and not model.training  # both restored


class TinyModule:
    """Duck-typed: parameters(), buffers(), __call__ (no nn needed)."""

    def __init__(self):
        self.w = minigrad.Tensor(np.zeros(3), requires_grad=True)
        self.count = minigrad.Tensor(np.array(0, dtype=np.int64))

    def parameters(self):
        return iter([self.w])

    def buffers(self):
        return iter([self.count])

    def __call__(self, x):
        return x * self.w


def test_duck_typed_module_and_errors():
    model = TinyModule()
    ema = optim.AveragedModel(model, multi_avg_fn=optim.get_ema_multi_avg_fn(0.5))
    for value in (2.0, 4.0):
        model.w.data[...] = value
        model.count.data[...] += 1
        ema.update_parameters(model)
    np.testing.assert_array_equal(ema.module.w.numpy(), [3.0, 3.0, 3.0])
    assert int(ema.module.count.item()) == 2  # buffers copied
    np.testing.assert_array_equal(ema(minigrad.Tensor(np.ones(3))).numpy(), [3.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="not both"):
        optim.AveragedModel(model, avg_fn=optim.get_swa_avg_fn(),
                            multi_avg_fn=optim.get_swa_multi_avg_fn())
    with pytest.raises(TypeError, match=r"\.parameters\(\)"):
        optim.AveragedModel(object())
    with pytest.raises(ValueError, match="has 6 tensors to average but the averaged copy has 1"):
        ema.update_parameters(make_model())


# ----------------------------------------------------- torch (optional oracle)
def test_matches_torch_swa_utils():
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils
    ours = make_model()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Tanh(),
                                 torch.nn.Linear(4, 2))
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    pairs = [(optim.AveragedModel(ours), swa_utils.AveragedModel(theirs)),
             (optim.AveragedModel(ours, multi_avg_fn=optim.get_ema_multi_avg_fn(0.7)),
              swa_utils.AveragedModel(theirs, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.7))),
             (optim.AveragedModel(ours, use_buffers=True),
              swa_utils.AveragedModel(theirs, use_buffers=True))]
    rng = np.random.default_rng(11)
    for k in range(4):
        perturb(ours, k)
        theirs.load_state_dict({key: torch.tensor(v.numpy()) for key, v in ours.state_dict().items()})
        for mine, reference in pairs:
            mine.update_parameters(ours)
            reference.update_parameters(theirs)
    batches = [rng.normal(size=(5, 3)).astype(np.float32) for _ in range(3)]
    for mine, reference in pairs:
        optim.update_bn([minigrad.Tensor(b) for b in batches], mine)
        swa_utils.update_bn([torch.tensor(b) for b in batches], reference)
        reference_state = reference.state_dict()
        for key, value in mine.state_dict().items():
            np.testing.assert_allclose(value.numpy(), reference_state[key].numpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=key)
