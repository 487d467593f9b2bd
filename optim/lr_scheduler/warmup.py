"""Warm-up schedules from large-model training, not in torch.optim: warm-up +
cosine (the de-facto LLM schedule), warmup-stable-decay (WSD) and
inverse-square-root (Transformer / "Noam").

All three are closed-form functions of t (the number of step() calls), like
LambdaLR: lr(t) = base_lr * factor(t), never chained. A linear warm-up is
there because the first steps of Adam-like rules on a fresh network are the
least reliable (the second-moment estimates rest on few samples), so big
steps there can diverge.
"""
import math

from .base import LRScheduler, check_number, check_positive_int


class _ClosedForm(LRScheduler):
    """lr(t) = lr_at(base_lr, t); `closed_form_lr` is the same thing."""

    def get_lr(self):
        return [self.lr_at(base_lr, self.last_epoch) for base_lr in self.base_lrs]

    closed_form_lr = get_lr


class WarmupCosineLR(_ClosedForm):
    r"""Linear warm-up to base_lr, then a cosine decay to eta_min, then flat:

        lr(t) = base_lr * (s + (1 - s) * t / W)                       t < W
        lr(t) = eta_min + (base_lr - eta_min) * c(t) ** exponent       t >= W
        c(t)  = (1 + cos(pi * min(t - W, T - W) / (T - W))) / 2

    with W = warmup_steps, T = total_steps (warm-up included) and
    s = start_factor. Same values as optax.warmup_cosine_decay_schedule(
    init_value=s*base_lr, peak_value=base_lr, warmup_steps=W, decay_steps=T,
    end_value=eta_min, exponent) (to float rounding). Unlike
    CosineAnnealingLR, the lr stays at eta_min after T instead of rising.
    """

    def __init__(self, optimizer, warmup_steps, total_steps, start_factor=0.0, eta_min=0.0,
                 exponent=1.0, last_epoch=-1):
        check_positive_int(self, "warmup_steps", warmup_steps, allow_zero=True)
        check_positive_int(self, "total_steps", total_steps)
        if total_steps <= warmup_steps:
            raise ValueError(f"WarmupCosineLR: total_steps ({total_steps}) counts the warm-up and "
                             f"must exceed warmup_steps ({warmup_steps}) to leave steps to decay")
        check_number(self, "start_factor", start_factor, low=0.0, high=1.0)
        check_number(self, "eta_min", eta_min, low=0.0)
        check_number(self, "exponent", exponent, low=0.0, low_open=True)
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.start_factor = start_factor
        self.eta_min = eta_min
        self.exponent = exponent
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        W, T = self.warmup_steps, self.total_steps
        if t < W:
            return base_lr * (self.start_factor + (1 - self.start_factor) * t / W)
        cosine = (1 + math.cos(math.pi * min(t - W, T - W) / (T - W))) / 2
        return self.eta_min + (base_lr - self.eta_min) * cosine ** self.exponent


class WarmupStableDecayLR(_ClosedForm):
    r"""Warmup-stable-decay (WSD; Hu et al. 2024, MiniCPM): warm up, hold
    base_lr for as long as you like, then decay quickly at the end. Unlike
    cosine, the stable phase doesn't need the run length in advance, and a
    checkpoint from it can be decayed at any time. With W, S, D the warm-up,
    stable and decay lengths, r = min_lr_ratio:

        lr(t) = base_lr * (r + (1 - r) * w(t / W))                t < W
        lr(t) = base_lr                                           W <= t < W + S
        lr(t) = base_lr * (r + (1 - r) * d((t - W - S) / D))      W + S <= t < W + S + D
        lr(t) = base_lr * r                                       after

    warm-up w(p): 'linear' p, 'cosine' (1 - cos(pi p)) / 2, '1-sqrt' 1 - sqrt(1 - p);
    decay   d(p): 'linear' 1 - p, 'cosine' (1 + cos(pi p)) / 2, '1-sqrt' 1 - sqrt(p)
    ('1-sqrt' is the cool-down of Hagele et al. 2024). Same values as
    transformers.get_wsd_schedule (with its default num_cycles = 0.5).
    """

    _shapes = ("linear", "cosine", "1-sqrt")

    def __init__(self, optimizer, warmup_steps, stable_steps, decay_steps, warmup_type="linear",
                 decay_type="cosine", min_lr_ratio=0.0, last_epoch=-1):
        check_positive_int(self, "warmup_steps", warmup_steps, allow_zero=True)
        check_positive_int(self, "stable_steps", stable_steps, allow_zero=True)
        check_positive_int(self, "decay_steps", decay_steps, allow_zero=True)
        for name, value in (("warmup_type", warmup_type), ("decay_type", decay_type)):
            if value not in self._shapes:
                raise ValueError(f"WarmupStableDecayLR: {name} must be one of {self._shapes}, "
                                 f"got {value!r}")
        check_number(self, "min_lr_ratio", min_lr_ratio, low=0.0, high=1.0)
        self.warmup_steps = warmup_steps
        self.stable_steps = stable_steps
        self.decay_steps = decay_steps
        self.warmup_type = warmup_type
        self.decay_type = decay_type
        self.min_lr_ratio = min_lr_ratio
        super().__init__(optimizer, last_epoch)

    def factor(self, t):
        W, S, D, r = self.warmup_steps, self.stable_steps, self.decay_steps, self.min_lr_ratio
        if t < W:
            p = t / W
            shape = {"linear": p, "cosine": 0.5 * (1.0 - math.cos(math.pi * p)),
                     "1-sqrt": 1.0 - math.sqrt(1.0 - p)}[self.warmup_type]
            return r + (1.0 - r) * shape
        if t < W + S:
            return 1.0
        if t < W + S + D:
            p = (t - W - S) / D
            shape = {"linear": 1.0 - p, "cosine": 0.5 * (1.0 + math.cos(math.pi * p)),
                     "1-sqrt": 1.0 - math.sqrt(p)}[self.decay_type]
            return r + (1.0 - r) * shape
        return r

    def lr_at(self, base_lr, t):
        return base_lr * self.factor(t)


class InverseSqrtLR(_ClosedForm):
    r"""Linear warm-up from 0, then decay as 1 / sqrt(t) (the Transformer's
    "Noam" schedule, normalised so the peak is base_lr):

        lr(t) = base_lr * t / W                                 t < W
        lr(t) = base_lr / sqrt((t - W + tau) / tau)             t >= W

    with W = warmup_steps and the time scale tau = timescale (default W, or
    10,000 when W = 0). With tau = W this is base_lr * sqrt(W / t), i.e.
    fairseq's inverse_sqrt with warmup_init_lr = 0. Same values as
    transformers.get_inverse_sqrt_schedule (from big_vision).
    """

    def __init__(self, optimizer, warmup_steps, timescale=None, last_epoch=-1):
        check_positive_int(self, "warmup_steps", warmup_steps, allow_zero=True)
        if timescale is None:
            timescale = warmup_steps or 10_000
        check_positive_int(self, "timescale", timescale)
        self.warmup_steps = warmup_steps
        self.timescale = timescale
        super().__init__(optimizer, last_epoch)

    def factor(self, t):
        W, tau = self.warmup_steps, self.timescale
        if t < W:
            return t / W
        return 1.0 / math.sqrt((t - W + tau) / tau)

    def lr_at(self, base_lr, t):
        return base_lr * self.factor(t)
