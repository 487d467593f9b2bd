"""Schedules over a fixed number of steps `total_iters`, after which the lr
stays put: a constant factor (ConstantLR, a crude warm-up), a linear ramp
(LinearLR, the usual warm-up) and a polynomial decay (PolynomialLR)."""
from .base import LRScheduler, check_number, check_positive_int


class ConstantLR(LRScheduler):
    r"""Multiply the lr by a constant `factor` for the first `total_iters` steps:

        lr(t) = base_lr * factor    for t < total_iters
        lr(t) = base_lr             for t >= total_iters

    Chainable form: lr <- lr * factor at t = 0, lr <- lr / factor at
    t = total_iters.
    """

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        # factor = 0 would divide by zero when the factor is undone at total_iters
        check_number(self, "factor", factor, low=0.0, high=1.0, low_open=True)
        # (total_iters = 0 would leave torch's recursive form stuck at base_lr * factor)
        check_positive_int(self, "total_iters", total_iters)
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [group["lr"] * self.factor for group in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [group["lr"] * (1.0 / self.factor) for group in self.optimizer.param_groups]

    def closed_form_lr(self):
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    r"""Move the lr's multiplier linearly from `start_factor` to `end_factor`
    over `total_iters` steps (a linear warm-up with the defaults):

        lr(t) = base_lr * (s + (e - s) * min(t, T) / T)       s = start_factor,
                                                              e = end_factor, T = total_iters

    Chainable form used by step() (torch's): lr <- lr * s at t = 0, and for
    0 < t <= T

        lr <- lr * (1 + (e - s) / (T * s + (t - 1) * (e - s)))

    which is the ratio of consecutive closed-form values.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        check_number(self, "start_factor", start_factor, low=0.0, high=1.0, low_open=True)
        check_number(self, "end_factor", end_factor, low=0.0, high=1.0)
        check_positive_int(self, "total_iters", total_iters)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        s, e, T, t = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        ratio = 1.0 + (e - s) / (T * s + (t - 1) * (e - s))
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def closed_form_lr(self):
        s, e, T = self.start_factor, self.end_factor, self.total_iters
        return [base_lr * (s + (e - s) * min(T, self.last_epoch) / T) for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    r"""Decay polynomially to 0 over `total_iters` steps:

        lr(t) = base_lr * (1 - min(t, T) / T) ** power        T = total_iters

    (power = 1 is a linear decay to zero). Chainable form used by step():
    for t <= T

        lr <- lr * ((1 - t / T) / (1 - (t - 1) / T)) ** power
    """

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        check_positive_int(self, "total_iters", total_iters)
        check_number(self, "power", power, low=0.0)
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        T, t = self.total_iters, self.last_epoch
        decay = ((1.0 - t / T) / (1.0 - (t - 1) / T)) ** self.power
        return [group["lr"] * decay for group in self.optimizer.param_groups]

    def closed_form_lr(self):
        T = self.total_iters
        return [base_lr * (1.0 - min(T, self.last_epoch) / T) ** self.power
                for base_lr in self.base_lrs]
