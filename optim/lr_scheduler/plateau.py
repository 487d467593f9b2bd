"""ReduceLROnPlateau: cut the lr when a monitored metric stops improving."""
import math
import numbers

from .base import LRScheduler, check_number, check_optimizer, check_positive_int, per_group


class ReduceLROnPlateau(LRScheduler):
    r"""Multiply the lr by `factor` when `metric` (passed to `step(metric)`,
    e.g. the validation loss once per epoch) has not improved for more than
    `patience` steps.

    A value a improves on the best so far when (mode, threshold_mode):

        ('min', 'rel'):  a < best * (1 - threshold)      ('min', 'abs'):  a < best - threshold
        ('max', 'rel'):  a > best * (1 + threshold)      ('max', 'abs'):  a > best + threshold

    Each step: if it improves, best <- a and the bad-step count resets,
    else the count grows by one. During `cooldown` steps after a cut, bad
    steps are not counted. When the count exceeds `patience`:

        lr <- max(lr * factor, min_lr)    (only if that lowers lr by more than eps)

    then the cooldown starts and the count resets. `best` starts at +inf
    ('min') or -inf ('max'), so the first metric always improves. It reads
    and writes group["lr"] directly, so it composes with manual changes.
    A metric given as a GPU tensor is read back to the host (one sync per
    `step`, once per epoch): comparing it with the best is a host decision.
    """

    steps_on_metric = True  # a training loop calls step(metric) (once per epoch), not step()

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        check_optimizer(self, optimizer)
        check_number(self, "factor", factor, low=0.0, high=1.0, high_open=True)
        check_positive_int(self, "patience", patience, allow_zero=True)
        check_positive_int(self, "cooldown", cooldown, allow_zero=True)
        check_number(self, "threshold", threshold, low=0.0)
        check_number(self, "eps", eps, low=0.0)
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' (e.g. a loss) or 'max' "
                             f"(e.g. an accuracy), got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        self.optimizer = optimizer
        self.factor = factor
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = per_group(self, optimizer, "min_lr", min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        for lr in self.min_lrs:
            check_number(self, "min_lr", lr, low=0.0)
        self.patience = patience
        self.cooldown = cooldown
        self.threshold = threshold
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self._reset()

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics, epoch=None):
        """Record this step's metric (a number or a one-element Tensor)."""
        if not isinstance(metrics, numbers.Real) and not hasattr(metrics, "item"):
            raise TypeError("ReduceLROnPlateau.step(metrics) needs the monitored value, e.g. "
                            f"scheduler.step(val_loss); got {type(metrics).__name__}")
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch

        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1

        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps right after a cut don't count

        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self):
        if len(self.min_lrs) != len(self.optimizer.param_groups):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"ReduceLROnPlateau: the optimizer now has {len(self.optimizer.param_groups)} "
                    f"param groups but min_lr was given for {len(self.min_lrs)}; set "
                    "scheduler.min_lrs to one value per group")
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
