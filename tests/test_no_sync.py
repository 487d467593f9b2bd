"""A training step on a GPU never waits for the GPU.

Every device-to-host transfer (`float(x)`, `.item()`, `if array.any():`, a
boolean mask) makes the host wait until all queued kernels are done: the GPU
idles while Python catches up. On the CuPy stand-in such a transfer raises
under `cupyx.allow_synchronize(False)`, so these tests prove that forward,
backward and `optimizer.step()` of real nets queue work and never wait."""
import cupy_stand_in
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim

pytestmark = pytest.mark.skipif(not cupy_stand_in.installed,
                                reason="counts syncs on the CuPy stand-in")


def lenet():
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def vgg_bn():
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*block(3, 8), *block(8, 8), nn.MaxPool2d(2), *block(8, 16),
                         nn.MaxPool2d(2), nn.Dropout(0.5), nn.Flatten(), nn.Linear(16 * 8 * 8, 10))


RULES = {"sgd": lambda p: optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4),
         "adamw": lambda p: optim.AdamW(p, lr=1e-3)}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("make_net", [lenet, vgg_bn])
def test_training_steps_make_no_device_to_host_transfer(make_net, rule):
    cupyx = pytest.importorskip("cupyx")
    model = make_net().to("cuda")
    optimizer = RULES[rule](model.parameters())
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.standard_normal((4, 3, 32, 32)).astype(np.float32), device="cuda")
    y = minigrad.tensor(rng.integers(0, 10, 4), device="cuda")
    running_loss = minigrad.zeros((), device="cuda")
    with cupyx.allow_synchronize(False):
        for _ in range(3):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            running_loss += loss.detach()
    # Read once, outside: the steps really ran, and reading is where the sync happens.
    cupy_stand_in.sync_counts.clear()
    assert np.isfinite(running_loss.item())
    assert sum(cupy_stand_in.sync_counts.values()) == 1
    assert model.training


def test_a_sync_inside_the_forbidden_zone_is_caught():
    """The guard is real: reading a loss inside it raises."""
    cupyx = pytest.importorskip("cupyx")
    loss = minigrad.ones((3,), device="cuda").sum()
    with cupyx.allow_synchronize(False), pytest.raises(cupyx.DeviceSynchronized):
        loss.item()


def test_an_invalid_target_on_the_gpu_makes_the_loss_nan_without_a_sync():
    """Checking targets on a GPU would read them back: instead the loss becomes NaN
    (PyTorch raises a device-side assert), and value checks give the exact error."""
    cupyx = pytest.importorskip("cupyx")
    logits = minigrad.zeros((2, 3), device="cuda", requires_grad=True)
    target = minigrad.tensor([0, 3], device="cuda")
    with cupyx.allow_synchronize(False):
        loss = F.cross_entropy(logits, target)
    assert np.isnan(loss.item())
    assert F.cross_entropy(logits, minigrad.tensor([0, 2], device="cuda")).item() == pytest.approx(
        np.log(3))
    minigrad.cuda.set_value_checks(True)
    try:
        with pytest.raises(IndexError, match=r"class indices in \[0, 3\).*from 0 to 3"):
            F.cross_entropy(logits, target)
    finally:
        minigrad.cuda.set_value_checks(False)


def test_max_pool_nan_on_the_gpu_matches_the_cpu():
    """A NaN wins its window, and its gradient goes to its last NaN, on both paths."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = np.nan
    grads = {}
    for device in ("cpu", "cuda"):
        t = minigrad.tensor(x, device=device, requires_grad=True)
        y = F.max_pool2d(t, 2)
        y.sum().backward()
        grads[device] = (y.numpy(), t.grad.numpy())
    np.testing.assert_array_equal(grads["cpu"][0], grads["cuda"][0])
    np.testing.assert_array_equal(grads["cpu"][1], grads["cuda"][1])
    assert np.isnan(grads["cpu"][0][0, 0, 0, 0]) and grads["cpu"][1][0, 0, 1, 0] == 1


@pytest.mark.parametrize("argument", ["target", "weight"])
def test_a_target_or_weight_on_another_device_names_both(argument):
    logits = minigrad.zeros((2, 3), device="cuda")
    target, weight = minigrad.tensor([0, 1], device="cuda"), minigrad.ones((3,), device="cuda")
    if argument == "target":
        target = target.to("cpu")
    else:
        weight = weight.to("cpu")
    with pytest.raises(RuntimeError, match=r"cross_entropy: .*cuda:0.*cpu.*\.to\("):
        F.cross_entropy(logits, target, weight=weight)
