r"""BatchSizeSchedule: change the training loader's batch size at given epochs.

Growing the batch during training can replace decaying the learning rate
(Smith, Kindermans, Ying & Le, 2018, "Don't Decay the Learning Rate, Increase
the Batch Size"). The noise that SGD's mini-batch gradients add to the descent
has a scale of about

    g = lr * N / B          (N training samples, B the batch size; lr / (1 - m) with momentum m)

and what matters late in training is making g small, so the weights settle
in a minimum. Dividing lr by k or multiplying B by k lowers g alike, but the
bigger batch also takes k times fewer steps per epoch (and each step uses
the hardware better): the same curve in fewer, larger updates.

    schedule = BatchSizeSchedule({0: 128, 30: 640, 60: 3200})   # in place of lr / 5 at 30, 60
    fit(model, train_loader, ..., callbacks=[schedule])

Mind schedulers whose length is counted in steps (OneCycleLR, warm-up): the
number of steps per epoch changes with the batch size.
"""
from numbers import Integral

from .callbacks import Callback

__all__ = ["BatchSizeSchedule"]


class BatchSizeSchedule(Callback):
    """A training callback: from each given 0-based epoch on, the training loader uses the
    given batch size; before the first given epoch, the loader's own batch size.

    schedule: {epoch: batch_size, ...}, epochs ints >= 0, batch sizes ints >= 1.

    At the start of every epoch it sets `trainer.train_loader.batch_size` (a DataLoader or
    DeviceLoader: their batch size can be changed between epochs), so a run resumed at any
    epoch gets that epoch's batch size."""

    def __init__(self, schedule):
        if not isinstance(schedule, dict) or not schedule:
            raise ValueError(f"BatchSizeSchedule: expected a non-empty dict {{epoch: batch_size}}, "
                             f"e.g. {{0: 128, 30: 512}}, got {schedule!r}")
        for epoch, size in schedule.items():
            if not (isinstance(epoch, Integral) and not isinstance(epoch, bool) and epoch >= 0):
                raise ValueError(f"BatchSizeSchedule: epochs must be ints >= 0 (0-based), got "
                                 f"{epoch!r} in {schedule!r}")
            if not (isinstance(size, Integral) and not isinstance(size, bool) and size >= 1):
                raise ValueError(f"BatchSizeSchedule: batch sizes must be positive ints, got "
                                 f"{size!r} for epoch {epoch} in {schedule!r}")
        self.schedule = {int(e): int(schedule[e]) for e in sorted(schedule)}
        self.initial_batch_size = None  # the loader's own, used before the first given epoch

    def batch_size_at(self, epoch, default=None):
        """The batch size for 0-based `epoch`: that of the last given epoch <= epoch,
        or `default` before the first one."""
        size = default
        for start, batch_size in self.schedule.items():  # (sorted by epoch)
            if start <= epoch:
                size = batch_size
        return size

    def on_train_begin(self, trainer):
        loader = trainer.train_loader
        if not hasattr(loader, "batch_size"):
            raise TypeError(f"BatchSizeSchedule: the training loader ({type(loader).__name__}) has "
                            "no batch_size to change; use a minigrad DataLoader or DeviceLoader")
        if self.initial_batch_size is None:  # (a second fit on the same loader keeps the first)
            self.initial_batch_size = loader.batch_size

    def on_epoch_begin(self, trainer, epoch):
        loader = trainer.train_loader
        if self.initial_batch_size is None:
            self.on_train_begin(trainer)
        loader.batch_size = self.batch_size_at(epoch, self.initial_batch_size)

    def state_dict(self):
        return {"initial_batch_size": -1 if self.initial_batch_size is None
                else self.initial_batch_size}

    def load_state_dict(self, state):
        size = int(state["initial_batch_size"])
        self.initial_batch_size = None if size < 0 else size

    def __repr__(self):
        return f"BatchSizeSchedule({self.schedule})"
