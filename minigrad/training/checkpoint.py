"""Checkpoint (a callback) and `resume`: stop a run, carry on later, same result.

    fit(model, train, ..., callbacks=[Checkpoint("runs/a.ckpt", config=settings)])
    # ... interrupted; later, in a new process, with freshly built objects:
    fit(model, train, ..., callbacks=callbacks,
        **resume("runs/a.ckpt", model, optimizer, scheduler, train_loader=train, callbacks=callbacks))

A checkpoint holds everything the next epoch depends on: the weights, the
optimizer's state (moments, step counts), the scheduler's, the training
loader's place in its sequence of shuffles, the stateful callbacks' (early
stopping's best so far), the history, the number of epochs done and the run's
seed (`fit` reseeds minigrad's generator from (seed, epoch) every epoch, so
the dropout masks of epoch e don't depend on the epochs before it). With all
of them restored, the resumed run ends with the same weights as the run that
was never stopped, bit for bit. `minigrad.save` writes the file atomically (a
temporary file renamed into place): a crash never leaves half a checkpoint.
"""
import os

from ..serialization import load, save
from .callbacks import Callback, infer_mode

__all__ = ["Checkpoint", "resume"]


class Checkpoint(Callback):
    """Save the run to `path` after every `every` epochs (and after the last one).

    keep_best: a history key (e.g. "val_loss", "val_accuracy"); the best epoch by
               it (mode: "min", "max", or None to infer: max for accuracies) is
               also kept in `best_path` (path with ".best" before its extension).
    config:    the run's settings (a flat dict of numbers/strings), saved with it.
    """

    def __init__(self, path, every=1, keep_best=None, mode=None, config=None):
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"Checkpoint: every must be an int >= 1 (epochs between saves), "
                             f"got {every!r}")
        self.path = os.fspath(path)
        self.every, self.keep_best, self.config = every, keep_best, config
        self.mode = mode or (infer_mode(keep_best) if keep_best else None)
        if self.mode not in (None, "min", "max"):
            raise ValueError(f"Checkpoint: mode must be 'min', 'max' or None, got {mode!r}")
        stem, ext = os.path.splitext(self.path)
        self.best_path = f"{stem}.best{ext}"
        self.best = None  # the best value of keep_best so far

    def on_epoch_end(self, trainer, epoch, logs):
        last = epoch + 1 == trainer.run_epochs or trainer.stop_training
        if (epoch + 1) % self.every == 0 or last:
            save_run(self.path, trainer, epoch + 1, self.config)
        if self.keep_best is not None:
            if self.keep_best not in logs:
                raise KeyError(f"Checkpoint: keep_best={self.keep_best!r} is not in the epoch's "
                               f"logs ({', '.join(logs)})")
            value = logs[self.keep_best]
            if self.best is None or (value < self.best if self.mode == "min" else value > self.best):
                self.best = value
                save_run(self.best_path, trainer, epoch + 1, self.config)

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = state["best"]


def save_run(path, trainer, epochs_done, config=None):
    """Everything a resumed run needs, in one file (atomic: see minigrad.save)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    scheduler, loader = trainer.scheduler, trainer.train_loader
    save({
        "epoch": epochs_done,
        "seed": trainer.seed,
        "config": config,
        "history": {k: list(v) for k, v in trainer.history.items()},
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "train_loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
        "callbacks": [c.state_dict() if hasattr(c, "state_dict") else None
                      for c in trainer.callbacks],
    }, path)


def resume(path, model, optimizer, scheduler=None, *, train_loader=None, callbacks=()):
    """Load the run saved at `path` into freshly built objects (the same kinds, built
    the same way as for the saved run; `callbacks` in the same order); returns the
    keyword arguments that make `fit` carry on: {"initial_epoch", "history", "seed"}."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"resume: no checkpoint at {path}; run fit with "
                                "callbacks=[Checkpoint(path)] first")
    state = load(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if (scheduler is None) != (state["scheduler"] is None):
        raise ValueError(f"resume: {path} was saved {'without' if state['scheduler'] is None else 'with'}"
                         f" a scheduler, and this run has {'one' if scheduler else 'none'}; build "
                         "the run as it was saved")
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if train_loader is not None and state["train_loader"] is not None:
        train_loader.load_state_dict(state["train_loader"])
    saved = state["callbacks"]
    callbacks = list(callbacks)
    if callbacks and len(callbacks) != len(saved):
        raise ValueError(f"resume: {path} holds {len(saved)} callbacks' states, this run has "
                         f"{len(callbacks)} callbacks; pass the same callbacks in the same order")
    for callback, callback_state in zip(callbacks, saved):
        if callback_state is not None and hasattr(callback, "load_state_dict"):
            callback.load_state_dict(callback_state)
    return {"initial_epoch": int(state["epoch"]), "history": state["history"],
            "seed": int(state["seed"])}
