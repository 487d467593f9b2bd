"""Cyclical schedules, stepped after every batch: CyclicLR (Smith 2017) bounces
the lr between two bounds; OneCycleLR (Smith & Topin 2018, fastai's 1cycle)
does one warm-up/anneal cycle over the whole run. Both move momentum (or
Adam's beta1) the opposite way: high lr with low momentum and vice versa.
Neither is chainable: they overwrite group["lr"]."""
import math
import types

from .base import LRScheduler, check_number, check_optimizer, check_positive_int, per_group


def _check_momentum_optimizer(scheduler, optimizer):
    """Momentum cycling writes group["momentum"] (SGD, RMSprop) or
    group["betas"][0] (Adam family); say which when neither exists."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(f"{type(scheduler).__name__}(cycle_momentum=True) needs an optimizer with "
                         f"'momentum' or 'betas' (SGD, Adam, ...); {type(optimizer).__name__} has "
                         "neither: pass cycle_momentum=False")
    return "betas" in optimizer.defaults


def _set_momentum(group, momentum, use_beta1):
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


class CyclicLR(LRScheduler):
    r"""Cyclical learning rate: a triangle wave between base_lr and max_lr.

    A cycle is `step_size_up` steps up then `step_size_down` (default: the
    same) steps down. With L = up + down and r = up / L, at step t:

        cycle = floor(1 + t / L)          (1, 2, ...)
        x     = 1 + t / L - cycle         (position in the cycle, in [0, 1))
        s     = x / r  if x <= r  else  (x - 1) / (r - 1)     (0 -> 1 -> 0)
        lr    = base_lr + (max_lr - base_lr) * s * f
        momentum = max_momentum - (max_momentum - base_momentum) * s * f

    with the amplitude scale f = scale_fn(cycle) or scale_fn(t):
      'triangular'   f = 1
      'triangular2'  f = 1 / 2^(cycle - 1)       (amplitude halves every cycle)
      'exp_range'    f = gamma^t                 (scale_mode forced to 'iterations')
    or a user `scale_fn(x)` in [0, 1], evaluated on the cycle number
    (scale_mode='cycle') or the step count (scale_mode='iterations').

    The constructor sets group["lr"] = base_lr, and with cycle_momentum the
    momentum (or beta1 for Adam-like optimizers) to max_momentum.
    """

    _unsaved = ("_scale_fn_custom",)

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
                 cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        check_optimizer(self, optimizer)
        self.optimizer = optimizer
        base_lrs = per_group(self, optimizer, "base_lr", base_lr)
        for lr in base_lrs:
            check_number(self, "base_lr", lr, low=0.0)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = per_group(self, optimizer, "max_lr", max_lr)
        for lr in self.max_lrs:
            check_number(self, "max_lr", lr, low=0.0)

        check_number(self, "step_size_up", step_size_up, low=0.0, low_open=True)
        if step_size_down is not None:
            check_number(self, "step_size_down", step_size_down, low=0.0, low_open=True)
        step_size_up = float(step_size_up)
        step_size_down = float(step_size_down) if step_size_down is not None else step_size_up
        self.total_size = step_size_up + step_size_down
        self.step_ratio = step_size_up / self.total_size

        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"CyclicLR: unknown mode {mode!r}; use 'triangular', 'triangular2', "
                             "'exp_range' or pass your own scale_fn")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"CyclicLR: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        check_number(self, "gamma", gamma, low=0.0, low_open=True)
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        if scale_fn is None:  # the built-in modes fix what f is evaluated on
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _check_momentum_optimizer(self, optimizer)
            self.base_momentums = per_group(self, optimizer, "base_momentum", base_momentum)
            self.max_momentums = per_group(self, optimizer, "max_momentum", max_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(self.max_momentums, self.base_momentums,
                                                 optimizer.param_groups):
                    _set_momentum(group, m_max, self.use_beta1)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x):
        """The amplitude scale f(x) of the chosen mode (or the user's)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x  # exp_range

    def get_lr(self):
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        if x <= self.step_ratio:
            s = x / self.step_ratio                  # going up
        else:
            s = (x - 1) / (self.step_ratio - 1)      # going down
        f = self.scale_fn(cycle if self.scale_mode == "cycle" else t)

        lrs = [base_lr + (max_lr - base_lr) * s * f
               for base_lr, max_lr in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, m_base, m_max in zip(self.optimizer.param_groups, self.base_momentums,
                                            self.max_momentums):
                _set_momentum(group, m_max - (m_max - m_base) * s * f, self.use_beta1)
        return lrs

    def state_dict(self):
        state = super().state_dict()
        fn = self._scale_fn_custom  # a lambda can't be saved; a callable object keeps its state
        state["_scale_fn_custom"] = None if fn is None or isinstance(fn, types.FunctionType) \
            else dict(fn.__dict__)
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        fn_state = state.pop("_scale_fn_custom", None)
        super().load_state_dict(state)
        if fn_state is not None:
            self._scale_fn_custom.__dict__.update(fn_state)


class OneCycleLR(LRScheduler):
    r"""The 1cycle policy: one warm-up from initial_lr to max_lr, then an
    anneal to min_lr far below initial_lr, over `total_steps` steps (or
    `epochs * steps_per_epoch`), stepped after every batch.

        initial_lr = max_lr / div_factor        min_lr = initial_lr / final_div_factor

    Phases (N = total_steps, p = pct_start), each ending at the step given:

      two-phase (default, fastai):  initial_lr -> max_lr   at  p*N - 1
                                    max_lr -> min_lr       at  N - 1
      three_phase=True (the paper): initial_lr -> max_lr   at  p*N - 1
                                    max_lr -> initial_lr   at  2*p*N - 2
                                    initial_lr -> min_lr   at  N - 1

    Within a phase from step a to b, with pct = (t - a) / (b - a):
      'cos':     lr = end + (start - end) * (1 + cos(pi * pct)) / 2
      'linear':  lr = start + (end - start) * pct
    Momentum (or beta1) moves the other way: max_momentum -> base_momentum
    while the lr rises, back to max_momentum while it falls.

    It may be stepped `total_steps` times; one step more raises an error.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            check_positive_int(self, "total_steps", total_steps)
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            check_positive_int(self, "epochs", epochs)
            check_positive_int(self, "steps_per_epoch", steps_per_epoch)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch "
                             "(total_steps = epochs * steps_per_epoch)")
        check_number(self, "pct_start", pct_start, low=0.0, high=1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        check_number(self, "div_factor", div_factor, low=0.0, low_open=True)
        check_number(self, "final_div_factor", final_div_factor, low=0.0, low_open=True)
        self.anneal_strategy = anneal_strategy
        N = self.total_steps
        if three_phase:
            self._phases = [
                dict(end_step=float(pct_start * N) - 1, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=float(2 * pct_start * N) - 2, start_lr="max_lr", end_lr="initial_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
                dict(end_step=N - 1, start_lr="initial_lr", end_lr="min_lr",
                     start_momentum="max_momentum", end_momentum="max_momentum"),
            ]
        else:
            self._phases = [
                dict(end_step=float(pct_start * N) - 1, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=N - 1, start_lr="max_lr", end_lr="min_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum"),
            ]

        max_lrs = per_group(self, optimizer, "max_lr", max_lr)
        for lr in max_lrs:
            check_number(self, "max_lr", lr, low=0.0)
        if last_epoch == -1:  # the schedule's landmarks live in each group
            for lr, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _check_momentum_optimizer(self, optimizer)
            max_momentums = per_group(self, optimizer, "max_momentum", max_momentum)
            base_momentums = per_group(self, optimizer, "base_momentum", base_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(max_momentums, base_momentums,
                                                 optimizer.param_groups):
                    _set_momentum(group, m_max, self.use_beta1)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {t} times but total_steps is {self.total_steps}: "
                             "the cycle is over. Create the scheduler with total_steps (or epochs * "
                             "steps_per_epoch) equal to the number of optimizer steps you will take")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._phases):
                end_step = phase["end_step"]
                if t <= end_step or i == len(self._phases) - 1:
                    if end_step == start_step:
                        raise ValueError(
                            f"OneCycleLR: phase {i + 1} has zero length (total_steps="
                            f"{self.total_steps}, pct_start gives it no steps), so the schedule is "
                            "undefined; change pct_start or total_steps")
                    pct = (t - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]],
                                                group[phase["end_momentum"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                _set_momentum(group, momentum, self.use_beta1)
        return lrs
