"""GradientNormStopping and BatchSizeSchedule: the callbacks' hooks, driven here by a
small hand-written loop (the same calls `minigrad.training.fit` makes), and by `fit`."""
import math
import types

import cupy_stand_in
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import DataLoader, DeviceLoader, TensorDataset
from minigrad.training.batch_size import BatchSizeSchedule
from minigrad.training.stopping import GradientNormStopping, global_grad_norm


def regression(n=64, seed=0):
    """A linear least-squares problem (a quadratic loss), float64: x (n, 3), y (n, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * rng.standard_normal((n, 1))
    return x, y


def run_hooks(callback, model, loader, optimizer, epochs):
    """The loop's calls of the callback protocol around full steps; returns epochs run."""
    trainer = types.SimpleNamespace(model=model, optimizer=optimizer, train_loader=loader,
                                    stop_training=False)
    callback.on_train_begin(trainer)
    epoch = -1
    for epoch in range(epochs):
        callback.on_epoch_begin(trainer, epoch)
        for step, (x, y) in enumerate(loader):
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            callback.on_batch_end(trainer, step, {"loss": loss.detach()})
        callback.on_epoch_end(trainer, epoch, {})
        if trainer.stop_training:
            break
    callback.on_train_end(trainer)
    return epoch + 1


def linear_model():
    minigrad.manual_seed(0)
    return nn.Linear(3, 1).to(dtype=minigrad.float64)


# ----------------------------------------------------------------- gradient norm
def test_global_grad_norm_against_numpy():
    rng = np.random.default_rng(1)
    params = [minigrad.tensor(rng.standard_normal(s), requires_grad=True) for s in [(3, 4), (5,)]]
    params.append(minigrad.tensor(np.ones(2), requires_grad=True))  # no grad: skipped
    for p, g in zip(params[:2], [rng.standard_normal((3, 4)), rng.standard_normal(5)]):
        p.grad = minigrad.tensor(g)
    flat = np.concatenate([p.grad.numpy().ravel() for p in params[:2]])
    for p_norm in (1.0, 2.0, 3.0, math.inf):
        np.testing.assert_allclose(float(global_grad_norm(params, p_norm)),
                                   np.linalg.norm(flat, p_norm), rtol=1e-12)
    assert global_grad_norm(params[2:]) is None


def test_gradient_norm_stopping_stops_a_converged_quadratic():
    x, y = regression()
    loader = DataLoader(TensorDataset(x, y), batch_size=len(x), num_workers=0)  # full batch: GD
    model = linear_model()
    stopper = GradientNormStopping(tol=1e-6, patience=2)
    epochs = run_hooks(stopper, model, loader, optim.SGD(model.parameters(), lr=0.3), 500)
    # GD on a quadratic shrinks the gradient geometrically: far below 1e-6 well before 500
    assert epochs < 500 and stopper.stopped_epoch == epochs - 1
    assert stopper.norms[-1] < 1e-6 and stopper.norms[-2] < 1e-6 and stopper.norms[-3] >= 1e-6
    # ... and there the gradient has vanished: the weights solve the least-squares problem
    design = np.hstack([x, np.ones((len(x), 1))])
    solution = np.linalg.lstsq(design, y, rcond=None)[0].ravel()
    np.testing.assert_allclose(model.weight.numpy().ravel(), solution[:3], atol=1e-5)
    np.testing.assert_allclose(model.bias.numpy(), solution[3:], atol=1e-5)


def test_gradient_norm_stopping_lets_an_unconverged_run_go_on():
    x, y = regression()
    loader = DataLoader(TensorDataset(x, y), batch_size=len(x), num_workers=0)
    model = linear_model()
    stopper = GradientNormStopping(tol=1e-3)
    # lr 1e-3: after 20 steps the gradient is still of order 1
    assert run_hooks(stopper, model, loader, optim.SGD(model.parameters(), lr=1e-3), 20) == 20
    assert stopper.stopped_epoch is None and len(stopper.norms) == 20
    assert min(stopper.norms) > 0.5


def fake_gradients(batches_per_epoch):
    """A trainer whose one parameter gets gradients of the given norms, batch by batch."""
    param = minigrad.tensor(np.zeros(2), requires_grad=True)
    trainer = types.SimpleNamespace(model=types.SimpleNamespace(parameters=lambda: [param]),
                                    stop_training=False)
    for epoch_norms in batches_per_epoch:
        yield trainer, param, epoch_norms


def drive(stopper, batches_per_epoch):
    """Run the hooks over epochs of given batch gradient norms; returns epochs run."""
    for epoch, (trainer, param, norms) in enumerate(fake_gradients(batches_per_epoch)):
        stopper.on_epoch_begin(trainer, epoch)
        for step, norm in enumerate(norms):
            param.grad = minigrad.tensor(np.array([0.6, 0.8]) * norm)  # ||.|| = norm
            stopper.on_batch_end(trainer, step, {})
        stopper.on_epoch_end(trainer, epoch, {})
        if trainer.stop_training:
            return epoch + 1
    return len(batches_per_epoch)


def test_patience_counts_epochs_in_a_row_on_the_epochs_mean():
    stopper = GradientNormStopping(tol=0.1, patience=2)
    # epoch means: 0.5, 0.05 (one below), 0.16 (its LAST batch is below, not its mean),
    # 0.05, 0.05 -> two in a row after epoch 4
    epochs = drive(stopper, [[0.5], [0.05], [0.3, 0.02], [0.05, 0.05], [0.06, 0.04], [0.01]])
    assert epochs == 5 and stopper.stopped_epoch == 4
    np.testing.assert_allclose(stopper.norms, [0.5, 0.05, 0.16, 0.05, 0.05], rtol=1e-12)
    # a non-finite norm is not "below tol"
    assert drive(GradientNormStopping(tol=0.1), [[math.nan], [math.inf], [0.5]]) == 3


@pytest.mark.skipif(not cupy_stand_in.installed, reason="counts syncs on the CuPy stand-in")
def test_gradient_norm_is_read_once_per_epoch_on_a_gpu():
    cupyx = pytest.importorskip("cupyx")
    model = nn.Linear(3, 2).to("cuda")
    trainer = types.SimpleNamespace(model=model, stop_training=False)
    stopper = GradientNormStopping(tol=1e-3)
    stopper.on_train_begin(trainer)
    stopper.on_epoch_begin(trainer, 0)
    x = minigrad.tensor(np.ones((4, 3), np.float32), device="cuda")
    with cupyx.allow_synchronize(False):  # a read in here raises
        for step in range(3):
            model.zero_grad()
            model(x).sum().backward()
            stopper.on_batch_end(trainer, step, {})
    cupy_stand_in.sync_counts.clear()
    stopper.on_epoch_end(trainer, 0, {})
    assert sum(cupy_stand_in.sync_counts.values()) == 1
    assert len(stopper.norms) == 1 and stopper.norms[0] > 1  # (d sum / d weight = x: norm 4)


def test_gradient_norm_stopping_rejects_bad_settings():
    for bad in (0, -1e-3, math.nan, math.inf, "1e-3"):
        with pytest.raises(ValueError, match="tol must be a positive finite number"):
            GradientNormStopping(tol=bad)
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="patience must be an int >= 1"):
            GradientNormStopping(tol=1e-3, patience=bad)
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        GradientNormStopping(tol=1e-3, norm_type=0)


# ----------------------------------------------------------------- batch size
def batches_per_epoch(schedule, loader, epochs, first_epoch=0):
    """Drive the schedule's hooks over epochs; the batch sizes each epoch served."""
    trainer = types.SimpleNamespace(train_loader=loader, stop_training=False)
    schedule.on_train_begin(trainer)
    sizes = []
    for epoch in range(first_epoch, epochs):
        schedule.on_epoch_begin(trainer, epoch)
        sizes.append([len(x) for x, _ in loader])
    return sizes


def test_batch_size_schedule_changes_the_data_loader_at_the_given_epochs():
    data = TensorDataset(np.zeros((100, 2), np.float32), np.zeros(100, np.int64))
    loader = DataLoader(data, batch_size=10, shuffle=True, num_workers=1)
    sizes = batches_per_epoch(BatchSizeSchedule({2: 25, 4: 40}), loader, 6)
    assert [len(s) for s in sizes] == [10, 10, 4, 4, 3, 3]  # batches per epoch
    assert sizes[4] == [40, 40, 20] and sizes[0] == [10] * 10
    assert loader.batch_size == 40
    # a run resumed at epoch 3, on a fresh loader, gets epoch 3's size
    fresh = DataLoader(data, batch_size=10, num_workers=0)
    assert batches_per_epoch(BatchSizeSchedule({2: 25, 4: 40}), fresh, 4, first_epoch=3) == [[25] * 4]
    # an epoch already started keeps the size it began with
    it = iter(fresh)
    fresh.batch_size = 50
    assert [len(x) for x, _ in it] == [25] * 4 and len(fresh) == 2


def test_batch_size_schedule_on_a_device_loader(device):
    images = np.zeros((30, 1, 5, 5), np.uint8)
    loader = DeviceLoader(images, np.zeros(30, np.int64), batch_size=4, device=device)
    sizes = batches_per_epoch(BatchSizeSchedule({0: 8, 1: 16}), loader, 2)
    assert sizes == [[8, 8, 8, 6], [16, 14]]


def test_batch_size_schedule_rejects_bad_schedules():
    for bad in ({}, [(0, 32)], None):
        with pytest.raises(ValueError, match=r"non-empty dict \{epoch: batch_size\}"):
            BatchSizeSchedule(bad)
    for bad in ({-1: 32}, {1.0: 32}, {True: 32}):
        with pytest.raises(ValueError, match="epochs must be ints >= 0"):
            BatchSizeSchedule(bad)
    for bad in ({0: 0}, {0: 32.0}, {3: -8}):
        with pytest.raises(ValueError, match="batch sizes must be positive ints"):
            BatchSizeSchedule(bad)
    schedule = BatchSizeSchedule({5: 64, 0: 16})  # any order: kept sorted
    assert [schedule.batch_size_at(e, 8) for e in (0, 4, 5, 99)] == [16, 16, 64, 64]
    assert BatchSizeSchedule({3: 64}).batch_size_at(2, default=8) == 8
    with pytest.raises(TypeError, match="no batch_size to change"):
        schedule.on_train_begin(types.SimpleNamespace(train_loader=[(1, 2)]))
    loader = DataLoader(TensorDataset(np.zeros((4, 1))), batch_size=2)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="DataLoader: batch_size must be a positive int"):
            loader.batch_size = bad
    assert loader.batch_size == 2


# ----------------------------------------------------------------- through fit
def test_fit_stops_on_the_gradient_criterion_and_follows_the_batch_size_schedule():
    from minigrad.training import fit
    x, y = regression()
    loader = DataLoader(TensorDataset(x, y), batch_size=len(x), num_workers=0)  # full batch
    model = linear_model()
    stopper = GradientNormStopping(tol=1e-6, patience=2)
    history = fit(model, loader, loss_fn=F.mse_loss, optimizer=optim.SGD(model.parameters(), lr=0.3),
                  epochs=500, callbacks=[stopper], metrics=(), progress=False, seed=0)
    assert len(history["train_loss"]) == stopper.stopped_epoch + 1 < 500
    assert stopper.norms[-1] < 1e-6 and len(stopper.norms) == len(history["train_loss"])

    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, num_workers=0)
    schedule = BatchSizeSchedule({2: 16, 3: 64})
    history = fit(model, loader, loss_fn=F.mse_loss, optimizer=optim.SGD(model.parameters(), lr=0.01),
                  epochs=5, callbacks=[schedule], metrics=(), progress=False, seed=0)
    assert history["steps"] == [8, 8, 4, 1, 1]  # 64 samples in batches of 8, 8, 16, 64, 64


def test_callback_states_survive_a_save_and_load(tmp_path):
    stopper = GradientNormStopping(tol=0.1, patience=3)
    drive(stopper, [[0.05], [0.05]])  # two epochs below tol out of the three needed
    minigrad.save({"s": stopper.state_dict()}, str(tmp_path / "state.npz"))
    resumed = GradientNormStopping(tol=0.1, patience=3)
    resumed.load_state_dict(minigrad.load(str(tmp_path / "state.npz"))["s"])
    assert resumed.wait == 2 and resumed.norms == stopper.norms and resumed.stopped_epoch is None
    # carried on from epoch 2 (on_train_begin of a resumed run keeps the state): stops at once
    trainer = next(fake_gradients([[]]))[0]
    trainer.epoch = 2
    resumed.on_train_begin(trainer)
    assert drive(resumed, [[0.05]]) == 1 and resumed.wait == 3
    schedule = BatchSizeSchedule({1: 64})
    schedule.on_train_begin(types.SimpleNamespace(train_loader=DataLoader([1, 2], batch_size=4)))
    again = BatchSizeSchedule({1: 64})
    again.load_state_dict(schedule.state_dict())
    assert again.initial_batch_size == 4 and again.batch_size_at(0, again.initial_batch_size) == 4
