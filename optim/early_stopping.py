"""EarlyStopping: stop training when a validation metric stops improving,
and keep the weights of the best epoch.

    stopper = optim.EarlyStopping(patience=5)
    for epoch in range(1000):
        train_one_epoch(model, opt)
        if stopper.step(validation_loss(model), model):
            break              # the model now holds the best epoch's weights
    print(stopper.best, stopper.best_epoch)

As a callback of `minigrad.training.fit` it watches a history key after
every epoch (the validation loss by default) and sets `trainer.stop_training`:

    fit(model, train, ..., val_loader=val,
        callbacks=[optim.EarlyStopping(monitor="val_accuracy", patience=5)])  # mode: max

Training loss keeps falling while the validation loss turns up once the
model starts to memorise the training set; stopping at the best validation
epoch is a cheap regularizer (and saves the wasted epochs).
"""
import copy
import math
from numbers import Real

from minigrad import Tensor, backend


class EarlyStopping:
    r"""Count steps without improvement; ask to stop after `patience` of them.

    A metric m improves on the best so far when

        m < best - min_delta    (mode='min', e.g. a loss)
        m > best + min_delta    (mode='max', e.g. an accuracy)

    The first metric always improves (best starts at +inf or -inf). On an
    improvement, `best`, `best_epoch` (the 0-based index of that step) are
    updated, the count of bad steps resets, and, with restore_best_weights
    and a model given, a copy of `model.state_dict()` is kept. `step` returns
    True once the count reaches `patience` (as Keras' EarlyStopping); at that
    moment the best weights are loaded back into the model (if both
    restore_best_weights and the model are given). `restore(model)` does that
    on demand. Any object with state_dict()/load_state_dict() works as the
    model (an nn.Module, an optimizer, ...).

    A metric given as a GPU tensor is read back to the host (one sync per
    call, once per epoch): deciding to stop is a host decision.

    As a callback of `fit` (duck-typed: optim never imports the training
    package), `on_epoch_end` steps on `logs[monitor]` with `trainer.model`
    and sets `trainer.stop_training` when it asks to stop. `mode=None`
    infers the direction from `monitor`: 'max' for an accuracy, else 'min'.
    """

    def __init__(self, patience=10, min_delta=0.0, mode=None, restore_best_weights=True,
                 monitor="val_loss"):
        if not isinstance(monitor, str):
            raise TypeError(f"EarlyStopping: monitor must be a history key such as 'val_loss', "
                            f"got {monitor!r}")
        if mode is None:  # a loss goes down, an accuracy up
            mode = "max" if monitor.endswith(("accuracy", "acc")) else "min"
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative integer (steps "
                             f"without improvement to allow), got {patience!r}")
        if not isinstance(min_delta, Real) or not min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0 (the smallest change that "
                             f"counts as an improvement), got {min_delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' (e.g. a loss) or 'max' "
                             f"(e.g. an accuracy), got {mode!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = float(min_delta)
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = None
        self.epoch = -1              # index of the last step
        self.num_bad_epochs = 0
        self.stopped_epoch = None
        self.best_state = None       # copy of model.state_dict() at the best epoch

    def is_better(self, metric):
        if self.mode == "min":
            return metric < self.best - self.min_delta
        return metric > self.best + self.min_delta

    def step(self, metric, model=None):
        """Record one epoch's metric; True means: stop training now."""
        if isinstance(metric, Tensor) or hasattr(metric, "item"):
            metric = metric.item()
        if not isinstance(metric, Real):
            raise TypeError(f"EarlyStopping.step needs the monitored value (a number or a "
                            f"one-element Tensor), got {type(metric).__name__}")
        metric = float(metric)
        self.epoch += 1
        if self.is_better(metric):
            self.best = metric
            self.best_epoch = self.epoch
            self.num_bad_epochs = 0
            if self.restore_best_weights and model is not None:
                self.best_state = _copy_state(model.state_dict())
            return False
        self.num_bad_epochs += 1  # (a nan metric never improves)
        if self.num_bad_epochs < self.patience:
            return False
        self.stopped_epoch = self.epoch
        if self.restore_best_weights and model is not None and self.best_state is not None:
            self.restore(model)
        return True

    def on_epoch_end(self, trainer, epoch, logs):
        """fit's hook: one step on this epoch's monitored value."""
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: monitor={self.monitor!r} is not among the epoch's logs "
                           f"({', '.join(logs)}); a val_ key needs fit(..., val_loader=...)")
        if self.step(logs[self.monitor], trainer.model):
            trainer.stop_training = True

    def restore(self, model):
        """Load the best epoch's weights into `model`."""
        if self.best_state is None:
            raise RuntimeError("EarlyStopping.restore: no weights were kept; pass the model to "
                               "step(metric, model) with restore_best_weights=True")
        model.load_state_dict(_copy_state(self.best_state))

    def state_dict(self):
        return {k: _copy_state(v) for k, v in self.__dict__.items()}

    def load_state_dict(self, state_dict):
        self.__dict__.update({k: _copy_state(v) for k, v in state_dict.items()})

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, mode={self.mode!r}, "
                f"patience={self.patience}, best={self.best}, best_epoch={self.best_epoch}, "
                f"bad_epochs={self.num_bad_epochs})")


def _copy_state(value):
    """A deep copy of a state dict whose Tensors/arrays don't share memory
    with the model (it keeps training and changing them in place)."""
    if isinstance(value, Tensor):
        return Tensor._wrap(value.data.copy(), value.device)
    if backend.is_array(value):
        return value.copy()
    if isinstance(value, dict):
        copied = copy.copy(value)  # keeps the mapping type (e.g. OrderedDict)
        for k, v in value.items():
            copied[k] = _copy_state(v)
        return copied
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_state(v) for v in value)
    return copy.deepcopy(value)
