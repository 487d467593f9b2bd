"""Checkpoint (a callback) and `resume`: stop a run, carry on later, same result.

    fit(model, train, ..., callbacks=[Checkpoint("runs/a.ckpt", config=settings)])
    # ... interrupted; later, in a new process, with freshly built objects:
    fit(model, train, ..., callbacks=callbacks,
        **resume("runs/a.ckpt", model, optimizer, scheduler, train_loader=train, callbacks=callbacks))

A checkpoint holds everything the next epoch depends on: the weights, the
optimizer's state (moments, step counts), the scheduler's, the training
loader's place in its sequence of shuffles, the stateful callbacks' (early
stopping's best so far), the history, the number of epochs done, whether a
callback had stopped the run, the run's settings (`config`) and its
seed (`fit` reseeds minigrad's generator from (seed, epoch) every epoch, so
the dropout masks of epoch e don't depend on the epochs before it). With all
of them restored, the resumed run ends with the same weights as the run that
was never stopped, bit for bit. `minigrad.save` writes the file atomically (a
temporary file renamed into place): a crash never leaves half a checkpoint.

A resumed run is checked against the saved one: `resume(..., config=settings)`
compares the settings key by key and refuses (ResumeError, naming each) any
difference, except in the keys given as `replannable` (e.g. more epochs, a new
lr), for which it re-plans the schedule as a fresh run with the new settings
would have it at that epoch.
"""
import os

from ..serialization import load, save
from .callbacks import Callback, infer_mode

__all__ = ["Checkpoint", "resume", "ResumeError", "config_changes"]

# What a schedule writes into the optimizer's groups (the rest is the rule's own state).
SCHEDULE_KEYS = ("lr", "initial_lr", "max_lr", "min_lr")


class ResumeError(ValueError):
    """`resume` refused: the saved run is not the one asked for. `changes` holds the
    refused settings, {key: (saved value, this run's value)} (empty when the refusal
    is about something else)."""

    def __init__(self, message, changes=None):
        super().__init__(message)
        self.changes = dict(changes or {})


def config_changes(old, new):
    """{key: (old value, new value)} for each key whose value differs (a missing key
    counts as None)."""
    return {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)}


class Checkpoint(Callback):
    """Save the run to `path` after every `every` epochs (and after the last one).

    keep_best: a history key (e.g. "val_loss", "val_accuracy"); the best epoch by
               it (mode: "min", "max", or None to infer: max for accuracies) is
               also kept in `best_path` (path with ".best" before its extension).
    config:    the run's settings (a flat dict of numbers/strings), saved with it
               (`resume(..., config=...)` checks a resumed run against them).

    Put it after the callbacks that may stop the run (EarlyStopping): it saves what
    they decided this epoch (their state, and that the run stopped).
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
        "stopped": bool(trainer.stop_training),
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


def resume(path, model, optimizer, scheduler=None, *, train_loader=None, callbacks=(),
           config=None, replannable=(), log=None):
    """Load the run saved at `path` into freshly built objects (the same kinds, built
    the same way as for the saved run; `callbacks` in the same order); returns the
    keyword arguments that make `fit` carry on: {"initial_epoch", "history", "seed",
    "stopped"}.

    config:      this run's settings, checked against the saved ones (Checkpoint(config=)).
                 The same settings: the run continues exactly, bit for bit.
    replannable: the keys that may change (e.g. ("epochs", "lr")). The optimizer and
                 scheduler given were built for the new settings, so their plan is kept
                 (the groups' lr, initial_lr, max_lr, min_lr) and the scheduler jumps to
                 the step the saved run reached (closed form): a longer cosine keeps
                 annealing instead of sitting at 0. A metric-driven scheduler
                 (ReduceLROnPlateau) keeps its saved state (patience, best), and the
                 reductions it made (the saved lr over the saved run's first, history's
                 lr[0]) apply to the new lr. A config with "epochs" must then ask for
                 more epochs than were done.
    Any other difference raises ResumeError naming each, as does a change of settings
    for a run that a callback had stopped (there is nothing left to continue).
    log:         given one line naming what was re-planned (e.g. print)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"resume: no checkpoint at {path}; run fit with "
                                "callbacks=[Checkpoint(path)] first")
    state = load(path)
    done, changes = int(state["epoch"]), {}
    if config is not None:
        changes = check_config(path, state, config, replannable)
    model.load_state_dict(state["model"])
    planned = [{k: g[k] for k in SCHEDULE_KEYS if k in g} for g in optimizer.param_groups]
    optimizer.load_state_dict(state["optimizer"])  # (brings the saved lr back, among the rest)
    if (scheduler is None) != (state["scheduler"] is None):
        raise ValueError(f"resume: {path} was saved {'without' if state['scheduler'] is None else 'with'}"
                         f" a scheduler, and this run has {'one' if scheduler else 'none'}; build "
                         "the run as it was saved")
    if changes:
        replan(state, optimizer, scheduler, planned)
        if log is not None:
            log("resume re-plans " + ", ".join(f"{k} {_shown(a)} -> {_shown(b)}"
                                               for k, (a, b) in changes.items())
                + f"; lr now {optimizer.param_groups[0]['lr']:.3g}")
    elif scheduler is not None:
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
    return {"initial_epoch": done, "history": state["history"], "seed": int(state["seed"]),
            "stopped": bool(state.get("stopped", False))}


def check_config(path, state, config, replannable):
    """The saved run's settings against `config`: the changes (all in `replannable`),
    or ResumeError."""
    saved, done = state.get("config"), int(state["epoch"])
    if saved is None:
        raise ResumeError(f"resume: {path} records no run configuration (saved without "
                          "Checkpoint(config=...)), so it can't be checked against this run's; "
                          "start a new run")
    changes = config_changes(saved, config)
    refused = {k: change for k, change in changes.items() if k not in replannable}
    if refused:
        lines = "".join(f"\n  {k}: {_shown(a)} -> {_shown(b)}" for k, (a, b) in refused.items())
        raise ResumeError(f"resume: {path} was saved by a run with other settings:{lines}\n"
                          f"(only {', '.join(replannable) or 'nothing'} may change on a resume)",
                          refused)
    if changes and state.get("stopped"):
        raise ResumeError(f"resume: can't continue {path} with new settings: the saved run was "
                          f"stopped after epoch {done} (e.g. by early stopping), so there is "
                          "nothing left to continue; start a new run")
    if changes and config.get("epochs") is not None and config["epochs"] <= done:
        raise ResumeError(f"resume: can't continue {path} with epochs={config['epochs']}: it has "
                          f"done {done} epochs already; ask for more")
    return changes


def replan(state, optimizer, scheduler, planned):
    """The new settings' plan (`planned`: the fresh groups' lr landmarks), at the step the
    saved run reached."""
    saved_lr = optimizer.param_groups[0]["lr"]
    for group, fresh in zip(optimizer.param_groups, planned):
        group.update(fresh)
    if getattr(scheduler, "steps_on_metric", False):
        scheduler.load_state_dict(state["scheduler"])  # its patience counters and best loss
        reduction = saved_lr / state["history"]["lr"][0]  # the reductions made so far
        for group in optimizer.param_groups:
            group["lr"] *= reduction
    elif scheduler is not None:
        scheduler.step(state["scheduler"]["last_epoch"])  # jump there (closed form)


def _shown(value):
    return "(unset)" if value is None else str(value)
