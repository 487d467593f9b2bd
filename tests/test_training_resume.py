"""minigrad.training.resume checks a resumed run against the saved one: the same
settings continue, a change in a replannable key (more epochs, a new lr) re-plans
the schedule as a fresh run with them would have it, any other change is refused
naming each key; a run that a callback stopped has nothing left to continue."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.data import DataLoader, TensorDataset
from minigrad.training import (
    Checkpoint,
    LambdaCallback,
    ResumeError,
    Trainer,
    config_changes,
    fit,
    resume,
)
from minigrad.training.checkpoint import save_run

REPLANNABLE = ("epochs", "lr")


def build(lr, epochs, seed=0):
    """A fresh run's objects: model, SGD at `lr`, a cosine schedule over `epochs`, loader."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    minigrad.manual_seed(seed)
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=1, num_workers=0)
    return model, opt, scheduler, loader


def run(path, lr, epochs, resumed=False, callbacks=(), **resume_options):
    model, opt, scheduler, loader = build(lr, epochs)
    config = {"lr": lr, "epochs": epochs}
    callbacks = [*callbacks, Checkpoint(path, config=config)]
    start = {"seed": 3}
    if resumed:
        start = resume(path, model, opt, scheduler, train_loader=loader, callbacks=callbacks,
                       config=config, replannable=REPLANNABLE, **resume_options)
    return fit(model, loader, loss_fn=F.cross_entropy, optimizer=opt, epochs=epochs,
               scheduler=scheduler, callbacks=callbacks, progress=False, **start), opt


def test_more_epochs_re_plan_a_cosine_schedule_as_a_fresh_longer_run(tmp_path):
    path = str(tmp_path / "run.ckpt")
    run(path, lr=0.1, epochs=2)  # cosine over 2 epochs: it would end at lr 0
    lines = []
    history, opt = run(path, lr=0.1, epochs=4, resumed=True, log=lines.append)
    fresh = [0.1 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]  # a 4-epoch run's
    assert history["lr"][2:] == pytest.approx(fresh[2:], rel=1e-12)
    assert history["lr"][:2] == pytest.approx([0.1, 0.1 * (1 + math.cos(math.pi / 2)) / 2],
                                              rel=1e-12)  # the saved run's own epochs
    assert len(lines) == 1 and "epochs 2 -> 4" in lines[0]


def test_a_new_lr_is_trained_at_from_the_epoch_reached(tmp_path):
    path = str(tmp_path / "run.ckpt")
    run(path, lr=0.1, epochs=2)
    history, _ = run(path, lr=0.01, epochs=4, resumed=True)
    assert history["lr"][2] == pytest.approx(0.01 * (1 + math.cos(math.pi / 2)) / 2, rel=1e-12)


def test_another_setting_is_refused_naming_each_key_and_the_file_is_untouched(tmp_path):
    path = str(tmp_path / "run.ckpt")
    run(path, lr=0.1, epochs=2)
    model, opt, scheduler, loader = build(0.1, 2)
    with pytest.raises(ResumeError, match=r"(?s)lr: 0.1 -> 0.2.*width: \(unset\) -> 8") as info:
        resume(path, model, opt, scheduler, config={"lr": 0.2, "epochs": 2, "width": 8},
               replannable=("epochs",))  # (here, a new lr is not allowed)
    assert info.value.changes == {"lr": (0.1, 0.2), "width": (None, 8)}
    assert minigrad.load(path)["epoch"] == 2
    assert config_changes({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": (2, 3)}


def save(path, config, history=None, stopped=False, scheduler=None, opt=None):
    """A checkpoint written as Checkpoint writes it (save_run), from a stand-in trainer."""
    model = nn.Linear(2, 2)
    opt = opt or optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model=model, optimizer=opt, scheduler=scheduler, train_loader=None,
                      callbacks=[], history=history or {"lr": [0.1]}, seed=0)
    trainer.stop_training = stopped
    save_run(path, trainer, len(trainer.history["lr"]), config)
    return model


def test_a_saved_run_without_settings_or_with_no_epoch_left_is_refused(tmp_path):
    path = str(tmp_path / "run.ckpt")
    model = save(path, config=None)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ResumeError, match="records no run configuration"):
        resume(path, model, opt, config={"epochs": 3})
    save(path, config={"epochs": 3, "lr": 0.1}, history={"lr": [0.1, 0.1]})
    with pytest.raises(ResumeError, match="done 2 epochs already; ask for more"):
        resume(path, model, opt, config={"epochs": 2, "lr": 0.2}, replannable=REPLANNABLE)


def test_the_plateau_reductions_made_so_far_apply_to_a_new_lr(tmp_path):
    path = str(tmp_path / "run.ckpt")
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=0)
    for loss in (1.0, 2.0):  # no improvement: lr 0.1 -> 0.01
        plateau.step(loss)
    save(path, {"lr": 0.1, "epochs": 4}, history={"lr": [0.1, 0.1]}, scheduler=plateau, opt=opt)
    opt = optim.SGD(model.parameters(), lr=0.5)  # the resumed run: lr 0.5
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=0)
    resume(path, model, opt, plateau, config={"lr": 0.5, "epochs": 4}, replannable=REPLANNABLE)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05, rel=1e-12)
    assert plateau.best == 1.0  # its memory of the run carries on


def test_a_run_a_callback_stopped_resumes_to_no_epoch_and_refuses_new_settings(tmp_path):
    path = str(tmp_path / "run.ckpt")

    def stop_after_first(trainer, epoch, logs):
        trainer.stop_training = True
    stopper = [LambdaCallback(on_epoch_end=stop_after_first)]  # (before the Checkpoint)
    history, _ = run(path, lr=0.1, epochs=3, callbacks=stopper)
    assert len(history["train_loss"]) == 1 and minigrad.load(path)["stopped"]
    again, _ = run(path, lr=0.1, epochs=3, resumed=True, callbacks=stopper)
    assert again["train_loss"] == history["train_loss"]  # nothing more was trained
    with pytest.raises(ResumeError, match="stopped after epoch 1"):
        run(path, lr=0.1, epochs=5, resumed=True, callbacks=stopper)
