"""Schedules built from other schedules: one after another (SequentialLR) or
all at once, multiplied together (ChainedScheduler)."""
from bisect import bisect_right

from .base import LRScheduler, check_positive_int
from .plateau import ReduceLROnPlateau


def _check_children(owner, schedulers, optimizer):
    name = type(owner).__name__
    if len(schedulers) < 1:
        raise ValueError(f"{name} needs at least one scheduler")
    for i, scheduler in enumerate(schedulers):
        if not hasattr(scheduler, "optimizer"):
            raise TypeError(f"{name}: schedulers[{i}] is a {type(scheduler).__name__}, not a "
                            "scheduler (it has no optimizer)")
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{name} can't contain ReduceLROnPlateau (schedulers[{i}]): it needs "
                             "the metric in step(metric); step it yourself, next to this one")
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{name}: schedulers[{i}] ({type(scheduler).__name__}) drives a "
                             "different optimizer; all schedulers must share one optimizer")


class _Composite(LRScheduler):
    """Saving a composite saves each of its schedulers' state."""

    _unsaved = ("_schedulers",)

    def state_dict(self):
        state = super().state_dict()
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        children = state.pop("_schedulers")
        super().load_state_dict(state)
        for scheduler, child_state in zip(self._schedulers, children):
            scheduler.load_state_dict(child_state)


class SequentialLR(_Composite):
    r"""Run schedulers one after another, switching at the milestones:

        schedulers[i] drives the lr for milestones[i-1] <= t < milestones[i]

    e.g. a warm-up then a decay:

        warmup = LinearLR(opt, start_factor=0.1, total_iters=3)
        decay = ExponentialLR(opt, gamma=0.9)
        sched = SequentialLR(opt, [warmup, decay], milestones=[3])
        # 0.01 0.04 0.07 | 0.1 0.09 0.081 ...

    At its milestone a scheduler restarts from its own t = 0, in closed form
    where it has one (so it starts from base_lr, not from the lr the previous
    one left).
    Construction resets the lr to initial_lr and undoes the initial steps the
    schedulers took when they were built (as torch does).
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        schedulers = list(schedulers)
        _check_children(self, schedulers, optimizer)
        milestones = list(milestones)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need "
                             f"{len(schedulers) - 1} milestones (where each one after the first "
                             f"takes over), got {len(milestones)}")
        for m in milestones:
            check_positive_int(self, "each milestone", m)
        if milestones != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must be increasing, got {milestones}")
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer

        for group in optimizer.param_groups:  # back to the lr before any scheduler touched it
            group["lr"] = group["initial_lr"]
        for scheduler in schedulers:  # undo the step each took when it was built
            _undo_initial_step(scheduler)
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self):
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)  # its first step: t = 0, closed form
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


def _undo_initial_step(scheduler):
    if hasattr(scheduler, "_schedulers"):
        for child in scheduler._schedulers:
            _undo_initial_step(child)
    elif hasattr(scheduler, "last_epoch"):
        scheduler.last_epoch -= 1


class ChainedScheduler(_Composite):
    r"""Step several schedulers together, in order, on one optimizer.

    Chainable schedulers multiply the lr the group holds, so their effects
    multiply: ConstantLR(factor=0.1, total_iters=2) chained with
    ExponentialLR(gamma=0.9) gives base_lr * 0.1 * 0.9^t for t < 2, then
    base_lr * 0.9^t: 0.01 0.009 0.081 0.0729 ... A non-chainable one
    (LambdaLR, CyclicLR, OneCycleLR, ...) overwrites what came before it.
    """

    def __init__(self, schedulers, optimizer=None):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("ChainedScheduler needs at least one scheduler")
        optimizer = optimizer or schedulers[0].optimizer
        _check_children(self, schedulers, optimizer)
        self._schedulers = schedulers
        self.optimizer = optimizer
        self._last_lr = self._current_lrs()

    def step(self):
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = self._current_lrs()

