"""Cosine annealing (SGDR, Loshchilov & Hutter 2017): the lr follows half a
cosine from base_lr down to eta_min, without (CosineAnnealingLR) or with
(CosineAnnealingWarmRestarts) restarts."""
import math

from .base import LRScheduler, check_number, check_positive_int


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from base_lr to eta_min over T_max steps:

        lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    Not clamped: past T_max the cosine rises again, with period 2 * T_max
    (0.1, 0.085, 0.05, 0.015, 0, 0.015, 0.05, ... for T_max = 4); stop stepping,
    or use CosineAnnealingWarmRestarts / WarmupCosineLR, to hold eta_min.

    step() uses torch's recursive (chainable) form, not the closed form:

        lr(t) = eta_min + (lr(t-1) - eta_min) * (1 + cos(pi t / T)) / (1 + cos(pi (t-1) / T))

    At t - 1 = T (mod 2T) the denominator is 0, so there the step adds the
    closed-form increment instead: lr(t) = lr(t-1) + (base_lr - eta_min) *
    (1 - cos(pi / T)) / 2. Alone, both forms give the same values (to float
    rounding). They differ when the lr is changed by someone else: after a
    manual change of group["lr"], or chained with another scheduler, the
    recursive form anneals from the lr the group holds (torch's numbers, which
    we reproduce), the closed form would jump back onto the curve.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        check_positive_int(self, "T_max", T_max)
        check_number(self, "eta_min", eta_min, low=0.0)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if (t - 1 - T) % (2 * T) == 0:  # leaving the trough: the ratio below would be 0/0
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, group in zip(self.base_lrs, groups)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (group["lr"] - eta_min) + eta_min for group in groups]

    def closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing with warm restarts (SGDR):

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    T_cur counts steps since the last restart; when it reaches T_i the lr
    jumps back to base_lr and the next period is T_mult times longer
    (T_0, T_0 * T_mult, T_0 * T_mult^2, ...). With T_0 = 3, T_mult = 2:
    0.1 0.075 0.025 | 0.1 0.093 0.075 0.05 0.025 0.0067 | 0.1 ...

    `step(epoch)` accepts a fractional epoch (e.g. `epoch + i / iters` inside
    an epoch's batch loop); T_cur is then found in closed form: with
    n = floor(log_{T_mult}(epoch / T_0 * (T_mult - 1) + 1)) finished periods,
    T_cur = epoch - T_0 * (T_mult^n - 1) / (T_mult - 1) and T_i = T_0 * T_mult^n.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        check_positive_int(self, "T_0", T_0)
        check_positive_int(self, "T_mult", T_mult)
        check_number(self, "eta_min", eta_min, low=0.0)
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base_lr in self.base_lrs]

    def step(self, epoch=None):
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:  # restart
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            check_number(self, "epoch", epoch, low=0.0)
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()
