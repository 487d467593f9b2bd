"""minigrad.training: fit with every kind of rule and schedule, evaluate against a
hand-written loop, the callback protocol, early stopping, CSV logs and exact resume."""
import csv
import math
import os

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import DataLoader, TensorDataset
from minigrad.training import (
    Callback,
    Checkpoint,
    CSVLogger,
    LambdaCallback,
    TrainingDiverged,
    evaluate,
    fit,
    resume,
)


def blobs(n=96, classes=3, features=4, seed=0, dtype=np.float32):
    """Gaussian blobs around well separated class centres: a learnable classification."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    centres = rng.normal(0, 3, size=(classes, features))
    x = (centres[y] + rng.normal(0, 1, size=(n, features))).astype(dtype)
    return x, y.astype(np.int64)


def loaders(batch_size=16, dtype=np.float32, device=None, shuffle=True):
    x, y = blobs(dtype=dtype)
    train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=batch_size, shuffle=shuffle,
                       seed=1, num_workers=0, device=device)
    val = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=batch_size, num_workers=0,
                     device=device)
    return train, val


def mlp(dtype=None):
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    return model if dtype is None else model.to(dtype)


@pytest.mark.parametrize("rule", ["sgd", "lbfgs", "adahessian", "sophiah"])
def test_fit_trains_with_plain_closure_and_second_order_rules(rule):
    train, val = loaders(batch_size=64 if rule == "lbfgs" else 16)
    model = mlp()
    before = evaluate(model, val, loss_fn=F.cross_entropy)
    opt = {"sgd": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
           "lbfgs": lambda p: optim.LBFGS(p, lr=1.0, max_iter=5),
           "adahessian": lambda p: optim.AdaHessian(p, lr=0.1),
           "sophiah": lambda p: optim.SophiaH(p, lr=0.5)}[rule](model.parameters())
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=6,
                  val_loader=val, progress=False)
    assert set(history) >= {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                            "seconds", "steps"}
    assert all(len(v) == 6 for v in history.values())
    assert history["steps"] == [len(train)] * 6
    assert history["val_loss"][-1] < 0.5 * before["loss"]
    assert history["val_accuracy"][-1] >= 0.9
    # the last epoch's logged validation numbers are the model's
    after = evaluate(model, val, loss_fn=F.cross_entropy)
    assert after["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)


def test_sophiag_refreshes_its_hessian_every_k_steps_over_the_whole_run():
    train, _ = loaders()
    model = mlp()
    opt = optim.SophiaG(model.parameters(), lr=0.01, hessian_refresh_every=3, batch_size=16)
    refreshes = []
    original = opt.update_hessian
    opt.update_hessian = lambda: (refreshes.append(1), original())[1]
    fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=2, progress=False)
    assert len(refreshes) == (2 * len(train)) // 3  # counted across epochs: steps 3, 6


def evaluate_by_hand(model, loader):
    total_loss, correct, seen = 0.0, 0, 0
    model.eval()
    with minigrad.no_grad():
        for x, y in loader:
            logits = model(x)
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += int((logits.numpy().argmax(axis=1) == y.numpy()).sum())
            seen += len(y.numpy())
    return total_loss / seen, correct / seen


def test_evaluate_equals_a_hand_written_loop_with_an_uneven_last_batch():
    x, y = blobs(n=50)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, num_workers=0)  # 16, 16, 16, 2
    model = mlp()
    model.train()
    result = evaluate(model, loader, loss_fn=F.cross_entropy)
    assert model.training  # put back in training mode
    loss, accuracy = evaluate_by_hand(model, loader)
    assert result["loss"] == pytest.approx(loss, rel=1e-5)
    assert result["accuracy"] == accuracy


def test_custom_metric_is_summed_per_sample():
    x, y = blobs(n=40)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, num_workers=0)

    def predicted_zero(output, y):
        return (output.data.argmax(axis=1) == 0).sum()
    model = mlp()
    result = evaluate(model, loader, loss_fn=F.cross_entropy, metrics=[predicted_zero])
    logits = model(minigrad.tensor(x)).numpy()
    assert result["predicted_zero"] == pytest.approx(np.mean(logits.argmax(axis=1) == 0))
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        evaluate(model, loader, loss_fn=F.cross_entropy, metrics=["f1"])


def test_fit_and_evaluate_on_the_device(device):
    train, val = loaders()
    model = mlp()
    opt = optim.Adam(model.parameters(), lr=0.05)
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=3,
                  val_loader=val, device=device, progress=False)
    assert model[0].weight.device == minigrad.backend.normalize_device(device)
    assert history["val_accuracy"][-1] >= 0.9
    result = evaluate(model, val, loss_fn=F.cross_entropy, device=device)
    assert result["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)


def test_fit_reads_the_device_a_fixed_number_of_times_per_epoch_not_per_step():
    cupy_stand_in = pytest.importorskip("cupy_stand_in")
    if not cupy_stand_in.installed:
        pytest.skip("counts syncs on the CuPy stand-in")
    counts = []
    for batch_size in (32, 8):  # 2 and 8 steps per epoch
        train, val = loaders(batch_size=batch_size, device="cuda")
        model = mlp().to("cuda")
        opt = optim.Adam(model.parameters(), lr=0.01)
        cupy_stand_in.sync_counts.clear()
        fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=2, val_loader=val,
            grad_clip=1.0, progress=False)
        counts.append(sum(cupy_stand_in.sync_counts.values()))
    assert counts[0] == counts[1] <= 2 * 2  # per epoch: the training read and the validation read


# ------------------------------------------------------------------ schedules
def lr_sequence(make, epochs, steps_per_epoch=None):
    """The lr at each epoch's start when the scheduler is stepped by hand."""
    opt = optim.SGD([minigrad.zeros(1, requires_grad=True)], lr=0.1)
    scheduler, lrs = make(opt), []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        for _ in range(steps_per_epoch or 1):
            scheduler.step()
    return lrs


@pytest.mark.parametrize("interval", ["epoch", "step"])
def test_lr_history_follows_per_epoch_and_per_step_schedulers(interval):
    def make(opt):
        return (optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5) if interval == "epoch"
                else optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20))
    train, _ = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=5,
                  scheduler=make(opt), scheduler_interval=interval, progress=False)
    expected = lr_sequence(make, 5, len(train) if interval == "step" else None)
    np.testing.assert_allclose(history["lr"], expected, rtol=1e-12)
    assert len(set(history["lr"])) > 2  # the schedule did change the lr


def test_plateau_scheduler_is_fed_the_validation_loss():
    train, val = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=6, val_loader=val,
                  scheduler=plateau, progress=False)
    # replay: a fresh plateau scheduler fed the logged validation losses gives the same lrs
    replay = optim.SGD([minigrad.zeros(1, requires_grad=True)], lr=0.1)
    twin, lrs = optim.lr_scheduler.ReduceLROnPlateau(replay, factor=0.5, patience=0), []
    for loss in history["val_loss"]:
        lrs.append(replay.param_groups[0]["lr"])
        twin.step(loss)
    assert history["lr"] == lrs
    with pytest.raises(ValueError, match="scheduler_interval='epoch'"):
        fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=1, scheduler=plateau,
            scheduler_interval="step")


def test_grad_clip_bounds_the_global_norm_before_the_step():
    train, _ = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.0)  # lr 0: the weights stay, the gradients show
    norms = []

    def record(trainer, step, logs):
        grads = [p.grad.numpy() for p in trainer.model.parameters()]
        norms.append(math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))
    fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=1, grad_clip=0.01,
        callbacks=[LambdaCallback(on_batch_end=record)], progress=False)
    assert len(norms) == len(train) and max(norms) <= 0.01 * (1 + 1e-5)
    assert min(norms) > 0.005  # unclipped they are far larger, so each was scaled to ~0.01


# ------------------------------------------------------------------ callbacks
def test_callbacks_are_called_in_order_with_the_trainer():
    train, val = loaders(batch_size=32)  # 2 batches per epoch
    calls = []

    def recorder(name):  # a hook that records its name and its epoch or step
        return lambda trainer, *args: calls.append((name, *args[:1]))
    hooks = {name: recorder(name) for name in ("on_train_begin", "on_epoch_begin", "on_batch_end",
                                                "on_epoch_end", "on_train_end")}
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=2, val_loader=val,
        callbacks=[LambdaCallback(**hooks), Callback()], progress=False)
    epoch = [("on_batch_end", 0), ("on_batch_end", 1)]
    assert calls == ([("on_train_begin",), ("on_epoch_begin", 0), *epoch, ("on_epoch_end", 0),
                      ("on_epoch_begin", 1), *epoch, ("on_epoch_end", 1), ("on_train_end",)])
    with pytest.raises(TypeError, match="unknown hook 'on_batch_begin'"):
        LambdaCallback(on_batch_begin=print)


def test_batch_logs_hold_the_loss_on_the_device_and_epoch_logs_the_values():
    train, val = loaders()
    seen = {}

    def on_batch_end(trainer, step, logs):
        seen.setdefault("losses", []).append(logs["loss"])
        seen["has_grads"] = all(p.grad is not None for p in trainer.model.parameters())

    def on_epoch_end(trainer, epoch, logs):
        seen["logs"] = dict(logs)
        seen["objects"] = (trainer.optimizer, trainer.train_loader, trainer.val_loader, trainer.epoch)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=1, val_loader=val,
                  callbacks=[LambdaCallback(on_batch_end=on_batch_end, on_epoch_end=on_epoch_end)],
                  progress=False)
    assert all(isinstance(loss, minigrad.Tensor) and loss.grad_fn is None for loss in seen["losses"])
    assert seen["has_grads"] and seen["objects"] == (opt, train, val, 0)
    # the epoch's train loss is the sample-weighted mean of its batches' (all batches: 16 samples)
    mean = np.mean([loss.item() for loss in seen["losses"]])
    assert history["train_loss"][0] == pytest.approx(mean, rel=1e-6)
    assert {k: [v] for k, v in seen["logs"].items()} == dict(history)


def test_stop_training_after_a_batch_and_after_an_epoch():
    train, _ = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def stop_at_batch(trainer, step, logs):
        trainer.stop_training = trainer.epoch == 1 and step == 1
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=5,
                  callbacks=[LambdaCallback(on_batch_end=stop_at_batch)], progress=False)
    assert history["steps"] == [len(train), 2]  # epoch 1 cut after its second batch

    def stop_at_epoch(trainer, epoch, logs):
        trainer.stop_training = epoch == 2
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=5,
                  callbacks=[LambdaCallback(on_epoch_end=stop_at_epoch)], progress=False)
    assert len(history["train_loss"]) == 3


def test_a_non_finite_loss_stops_naming_its_epoch_and_step():
    train, _ = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def loss_fn(output, y):  # finite until the global step 6 (epoch 1, step 2)
        loss_fn.calls += 1
        loss = F.cross_entropy(output, y)
        return loss * math.inf if loss_fn.calls == 7 else loss
    loss_fn.calls = 0
    with pytest.raises(TrainingDiverged, match=r"inf at epoch 1, step 2") as info:
        fit(model, train, loss_fn=loss_fn, optimizer=opt, epochs=3, progress=False)
    assert (info.value.epoch, info.value.step) == (1, 2)


def test_ctrl_c_marks_the_history_runs_on_train_end_and_raises_again():
    train, _ = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    ended = []

    def interrupt(trainer, step, logs):
        if trainer.epoch == 1 and step == 0:
            raise KeyboardInterrupt
    callback = LambdaCallback(on_batch_end=interrupt,
                              on_train_end=lambda trainer: ended.append(trainer.history))
    with pytest.raises(KeyboardInterrupt):
        fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=3, callbacks=[callback],
            progress=False)
    assert len(ended) == 1 and len(ended[0]["train_loss"]) == 1  # epoch 0 only: 1 was cut
    assert ended[0].interrupted


def test_early_stopping_as_a_callback_stops_at_the_right_epoch_and_restores():
    train, val = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    # a made-up monitored value: best at epoch 2, then 2 epochs without improvement
    made_up = [0.9, 0.8, 0.5, 0.6, 0.7, 0.1, 0.1]
    weights = []

    def log_score(trainer, epoch, logs):  # (a key added for the callbacks after it)
        logs["score"] = made_up[epoch]
        weights.append(trainer.model[0].weight.numpy().copy())
    stopper = optim.EarlyStopping(monitor="score", patience=2)
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=7, val_loader=val,
                  callbacks=[LambdaCallback(on_epoch_end=log_score), stopper], progress=False)
    assert len(history["train_loss"]) == 5  # epochs 0-4
    assert (stopper.mode, stopper.best_epoch, stopper.stopped_epoch) == ("min", 2, 4)
    np.testing.assert_array_equal(model[0].weight.numpy(), weights[2])  # epoch 2's weights back
    assert optim.EarlyStopping(monitor="val_accuracy").mode == "max"
    with pytest.raises(KeyError, match="monitor='val_loss' is not among"):
        fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=1,
            callbacks=[optim.EarlyStopping()], progress=False)


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    train, val = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "log.csv"
    history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=3, val_loader=val,
                  callbacks=[CSVLogger(path)], progress=False)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [float(r["val_loss"]) for r in rows] == history["val_loss"]  # repr: exact
    fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=5, initial_epoch=3,
        callbacks=[CSVLogger(path, append=True)], val_loader=val, progress=False)
    with open(path, newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2, 3, 4]


# -------------------------------------------------------------------- resume
def build_run(dtype=np.float64):
    """Model, optimizer and scheduler built the same way each time (as a new process would)."""
    minigrad.manual_seed(123)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 3)).to(dtype)
    opt = optim.Adam(model.parameters(), lr=0.02)
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    train, val = loaders(dtype=dtype)
    stopper = optim.EarlyStopping(patience=10)
    return model, opt, scheduler, train, val, stopper


def test_checkpoint_resume_is_exact_bit_for_bit(tmp_path):
    def run(epochs, **resumed):
        model, opt, scheduler, train, val, stopper = build_run()
        callbacks = [stopper, Checkpoint(tmp_path / "run.ckpt", keep_best="val_loss")]
        if resumed:
            resumed = resume(tmp_path / "run.ckpt", model, opt, scheduler, train_loader=train,
                             callbacks=callbacks)
        history = fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=epochs,
                      val_loader=val, scheduler=scheduler, callbacks=callbacks,
                      progress=False, **(resumed or {"seed": 7}))
        return model, history, stopper
    whole, whole_history, whole_stopper = run(5)
    run(2)                          # stopped after 2 epochs (and saved) ...
    resumed, history, stopper = run(5, resumed=True)  # ... carried on in a "new process"
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert history["train_loss"] == whole_history["train_loss"]
    assert history["lr"] == whole_history["lr"]
    assert (stopper.epoch, stopper.best_epoch) == (whole_stopper.epoch, whole_stopper.best_epoch) == (
        4, int(np.argmin(whole_history["val_loss"])))  # early stopping's count carried on
    best = minigrad.load(tmp_path / "run.best.ckpt")
    assert best["history"]["val_loss"][-1] == min(whole_history["val_loss"][:best["epoch"]])


def test_resume_without_a_checkpoint_says_how_to_make_one(tmp_path):
    model, opt, scheduler, *_ = build_run()
    with pytest.raises(FileNotFoundError, match="callbacks=\\[Checkpoint"):
        resume(tmp_path / "none.ckpt", model, opt, scheduler)


def test_checkpoint_every_k_epochs_and_after_the_last(tmp_path):
    train, _ = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    saved = []

    class Spy(Checkpoint):  # records the epochs written into the file
        def on_epoch_end(self, trainer, epoch, logs):
            super().on_epoch_end(trainer, epoch, logs)
            saved.append(minigrad.load(self.path)["epoch"] if os.path.exists(self.path) else None)
    fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=5, progress=False,
        callbacks=[Spy(tmp_path / "c.ckpt", every=2, config={"lr": 0.1})])
    assert saved == [None, 2, 2, 4, 5]  # the file after each epoch: written after 2, 4 and 5
    assert minigrad.load(tmp_path / "c.ckpt")["config"] == {"lr": 0.1}
    with pytest.raises(ValueError, match="every must be an int >= 1"):
        Checkpoint(tmp_path / "c.ckpt", every=0)


def test_weights_gone_to_inf_stop_at_the_validation_of_that_epoch():
    train, val = loaders()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)

    def blow_up(trainer, step, logs):  # after the epoch's last step: a finite train loss so far
        if step == len(trainer.train_loader) - 1:
            trainer.model[2].weight.data[...] = np.inf
    with pytest.raises(TrainingDiverged, match="validation loss after epoch 0 is nan"):
        fit(model, train, loss_fn=F.cross_entropy, optimizer=opt, epochs=2, val_loader=val,
            callbacks=[LambdaCallback(on_batch_end=blow_up)], progress=False)
