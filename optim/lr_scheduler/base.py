"""`LRScheduler`: the base every learning-rate schedule shares.

A schedule is a function of the step count t (the number of `step()` calls,
`last_epoch`) that writes `group["lr"]` into each of the optimizer's groups:

    opt = SGD(model.parameters(), lr=0.1)
    sched = StepLR(opt, step_size=30, gamma=0.1)   # already wrote lr(0) = 0.1
    for epoch in range(100):
        train_one_epoch(opt)                       # uses lr(epoch)
        sched.step()                               # t -> t + 1, writes lr(t + 1)

Semantics are exactly those of `torch.optim.lr_scheduler` (2.13):

- The constructor stores `group["initial_lr"] = group["lr"]` (unless a group
  already has one: the first scheduler on an optimizer sets it), takes
  `base_lrs` from it, and performs an initial step (t: -1 -> 0) so the first
  optimizer step uses lr(0).
- Each class's docstring gives its closed form lr(t) = f(base_lr, t), and
  `closed_form_lr()` computes it. Where torch's `step()` is *chainable*
  (StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR, PolynomialLR,
  CosineAnnealingLR, MultiplicativeLR), `get_lr()` is written in torch's
  recursive form instead: it multiplies the lr currently in the group. Alone,
  the two forms agree (to float rounding); the recursive one is what makes two
  schedulers on one optimizer compose by multiplication (`ChainedScheduler`)
  and makes a manual change of `group["lr"]` carry on, as in torch. We keep it
  so every sequence equals torch's bit for bit.
- `step(epoch)` (deprecated in torch, kept for compatibility) jumps to `epoch`
  and uses the closed form where one exists.
- `state_dict()` is every attribute except the optimizer (and plain
  functions, which can't be saved); `load_state_dict` restores it, so a
  resumed run continues the same sequence.
"""
import copy
import math
import numbers
import types


class LRScheduler:
    """Base class: subclasses define `get_lr()` (the lrs for `self.last_epoch`)
    and, when a closed form exists, `closed_form_lr()`."""

    def __init__(self, optimizer, last_epoch=-1):
        check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}(last_epoch={last_epoch}): param_groups[{i}] has no "
                        "'initial_lr'. Resuming needs the optimizer state of the saved run: call "
                        "optimizer.load_state_dict(...) first, or use last_epoch=-1 for a fresh run")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """The constructor's step t: -1 -> 0. Recursive forms look at
        `_is_initial` so that constructing with last_epoch >= 0 (resuming)
        doesn't apply a factor a second time."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        """The lr of every group at t = self.last_epoch (override)."""
        raise NotImplementedError

    def get_last_lr(self):
        """The lrs written by the last step, one per parameter group."""
        return list(self._last_lr)

    def step(self, epoch=None):
        """Advance t by one (call it after `optimizer.step()`) and write lr(t).
        `epoch`, if given, jumps to that t and uses the closed form."""
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            lrs = self.closed_form_lr() if hasattr(self, "closed_form_lr") else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    # ----------------------------------------------------------- save / resume
    def state_dict(self):
        """Everything but the optimizer; plain functions (lambdas) can't be
        saved, so they are left out (callable objects keep their __dict__)."""
        skip = ("optimizer",) + self._unsaved
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k not in skip}

    def load_state_dict(self, state_dict):
        self.__dict__.update(copy.deepcopy(state_dict))

    _unsaved = ()  # attribute names holding functions (see LambdaLR)

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


# --------------------------------------------------------------------- checks
def check_optimizer(scheduler, optimizer):
    if not hasattr(optimizer, "param_groups"):
        raise TypeError(f"{type(scheduler).__name__} needs an optimizer (an object with "
                        f"param_groups, e.g. optim.SGD), got {type(optimizer).__name__}")


def check_positive_int(scheduler, name, value, allow_zero=False):
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) \
        and (value >= 0 if allow_zero else value > 0)
    if not ok:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{type(scheduler).__name__}: {name} must be {kind} integer, "
                         f"got {value!r}")


def check_number(scheduler, name, value, low=None, high=None, low_open=False, high_open=False):
    """Raise a clear ValueError unless low <= value <= high (open ends as asked)."""
    bad = not isinstance(value, numbers.Real) or isinstance(value, bool) or math.isnan(value)
    if not bad:
        bad = (low is not None and (value <= low if low_open else value < low)) or \
              (high is not None and (value >= high if high_open else value > high))
    if bad:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ValueError(f"{type(scheduler).__name__}: invalid {name} = {value!r}; it must be "
                         f"in {interval}")


def per_group(scheduler, optimizer, name, value):
    """One value per param group: a list/tuple of that length, or a scalar
    repeated."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{type(scheduler).__name__}: {name} has {len(value)} values but the "
                             f"optimizer has {n} param groups; give one per group or a single number")
        return list(value)
    return [value] * n


def per_group_functions(scheduler, optimizer, fns):
    """`lr_lambda` as one function per param group."""
    fns = per_group(scheduler, optimizer, "lr_lambda", fns)
    for fn in fns:
        if not callable(fn):
            raise TypeError(f"{type(scheduler).__name__}: lr_lambda must be a function of the step "
                            f"count, got {type(fn).__name__}")
    return fns


def functions_state(fns):
    """How torch saves lr lambdas: a plain function can't be pickled, so it is
    saved as None; a callable object is saved as a copy of its __dict__."""
    return [None if isinstance(fn, types.FunctionType) else copy.deepcopy(fn.__dict__)
            for fn in fns]
