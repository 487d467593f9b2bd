"""The callback protocol of `fit`, and the simple callbacks.

A callback is any object with some of these methods (duck typing: `fit` calls
those it finds; `Callback` is a base class with every one a no-op):

    on_train_begin(trainer)            once, before the first epoch
    on_epoch_begin(trainer, epoch)     epoch: 0-based
    on_batch_end(trainer, step, logs)  after backward and optimizer.step(): the gradients
                                       are still on the parameters. logs = {"loss": a 0-d
                                       Tensor on the device} (reading it is a sync on a GPU:
                                       the callback's choice)
    on_epoch_end(trainer, epoch, logs) logs: this epoch's values (train_loss, val_loss, lr, ...),
                                       after the per-epoch scheduler step
    on_train_end(trainer)              once, at the end (also after Ctrl-C)

`trainer` (a Trainer) exposes .model .optimizer .scheduler .train_loader
.val_loader .history .epoch and .stop_training: any hook may set it True, and
the run stops after the current batch (the epoch is then cut short, but still
validated and logged) or epoch. A callback with state_dict()/load_state_dict()
(EarlyStopping, Checkpoint) is saved by Checkpoint and restored by `resume`.
"""
import csv
import os

__all__ = ["Callback", "LambdaCallback", "CSVLogger", "call_hook", "infer_mode"]

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_batch_end")


def call_hook(callbacks, hook, *args):
    """callback.<hook>(*args) for each callback that has that method, in order."""
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)


def infer_mode(key):
    """'max' for an accuracy-like history key, 'min' for the rest (losses)."""
    return "max" if key.endswith(("accuracy", "acc")) else "min"


class Callback:
    """Base class: every hook of the protocol, doing nothing (override the ones you need)."""

    def on_train_begin(self, trainer):
        pass

    def on_train_end(self, trainer):
        pass

    def on_epoch_begin(self, trainer, epoch):
        pass

    def on_epoch_end(self, trainer, epoch, logs):
        pass

    def on_batch_end(self, trainer, step, logs):
        pass


class LambdaCallback(Callback):
    """A callback made of functions, e.g.
    LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: print(epoch, logs["val_loss"]))."""

    def __init__(self, **hooks):
        for name, function in hooks.items():
            if name not in HOOKS:
                raise TypeError(f"LambdaCallback: unknown hook {name!r}; the hooks are "
                                f"{', '.join(HOOKS)}")
            if not callable(function):
                raise TypeError(f"LambdaCallback: {name} must be a function, got "
                                f"{type(function).__name__}")
            setattr(self, name, function)  # (shadows the no-op method)


class CSVLogger(Callback):
    """One row per epoch in a CSV file: `epoch` (0-based) then the epoch's logs.

    The columns are the first logged epoch's keys. append=True continues an
    existing file (a resumed run); otherwise the file is started afresh when
    training begins. Each row is written and closed at once, so the file is
    complete after every epoch, whatever stops the run."""

    def __init__(self, path, append=False):
        self.path, self.append = os.fspath(path), append
        self.columns = None

    def on_train_begin(self, trainer):
        if self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            with open(self.path, newline="") as f:
                self.columns = next(csv.reader(f))
        else:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            open(self.path, "w").close()
            self.columns = None

    def on_epoch_end(self, trainer, epoch, logs):
        new = self.columns is None
        if new:
            self.columns = ["epoch", *logs]
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(self.columns)
            row = {"epoch": epoch, **logs}
            writer.writerow([repr(row[c]) if isinstance(row.get(c), float) else row.get(c, "")
                             for c in self.columns])
