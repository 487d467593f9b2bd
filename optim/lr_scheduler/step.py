"""Schedules that multiply the lr by a factor: by a user function (LambdaLR,
MultiplicativeLR), at fixed intervals (StepLR), at milestones (MultiStepLR)
or every step (ExponentialLR)."""
from bisect import bisect_right
from collections import Counter

from .base import LRScheduler, check_number, check_positive_int, functions_state, per_group_functions


class _LambdaScheduler(LRScheduler):
    """Shared by LambdaLR and MultiplicativeLR: one function per group, saved
    as torch saves them (callable objects keep their state; lambdas can't be
    saved and must be passed again to the constructor)."""

    _unsaved = ("lr_lambdas",)

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.lr_lambdas = per_group_functions(self, optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        state = super().state_dict()
        state["lr_lambdas"] = functions_state(self.lr_lambdas)
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state)
        for fn, fn_state in zip(self.lr_lambdas, saved):
            if fn_state is not None:
                fn.__dict__.update(fn_state)


class LambdaLR(_LambdaScheduler):
    r"""lr = base_lr times a function of the step count:

        lr(t) = base_lr * lr_lambda(t)

    `lr_lambda` is one function, or a list with one per param group. Not
    chainable: it always starts from base_lr (group["initial_lr"]).
    """

    def get_lr(self):
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    r"""Multiply the current lr by lr_lambda(t) at every step t >= 1:

        lr(t) = lr(t-1) * lr_lambda(t)  =  base_lr * prod_{k=1..t} lr_lambda(k)

    Chainable (it multiplies whatever lr the group holds).
    """

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        return [group["lr"] * fn(self.last_epoch)
                for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(LRScheduler):
    r"""Decay by gamma every `step_size` steps:

        lr(t) = base_lr * gamma ** floor(t / step_size)

    Chainable form used by step(): lr <- lr * gamma when t > 0 and
    t % step_size == 0.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        check_positive_int(self, "step_size", step_size)
        check_number(self, "gamma", gamma, low=0.0, low_open=True)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""Decay by gamma at each milestone:

        lr(t) = base_lr * gamma ** (number of milestones <= t)

    A milestone listed twice decays twice. Chainable form: lr <- lr *
    gamma ** (times t appears in milestones).
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        milestones = list(milestones)
        for m in milestones:
            check_positive_int(self, "each milestone", m, allow_zero=True)
        check_number(self, "gamma", gamma, low=0.0, low_open=True)
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""Decay by gamma every step:

        lr(t) = base_lr * gamma ** t

    Chainable form: lr <- lr * gamma.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        check_number(self, "gamma", gamma, low=0.0, low_open=True)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:  # resuming with last_epoch >= 0: the group already holds lr(t)
            return self._current_lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def closed_form_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]
