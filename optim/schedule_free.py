"""Schedule-Free SGD and AdamW (Defazio et al. 2024, "The Road Less Scheduled").

A learning-rate schedule (cosine, linear decay) needs to know in advance how
long training lasts. Schedule-Free replaces the schedule by averaging: it runs
a plain SGD/Adam sequence z, keeps x = a running (weighted) average of z, and
evaluates the gradient at y, a point between the two:

    y = (1 - beta) z + beta x        where the gradient is taken (train mode)
    x                                what you evaluate and ship   (eval mode)

So the parameters must hold y while training and x while evaluating: call
`optimizer.train()` before training steps and `optimizer.eval()` before
evaluation or saving a checkpoint of the model, exactly as with the official
`schedulefree` package:

    opt = ScheduleFreeAdamW(model.parameters(), lr=2.5e-3)
    for epoch in range(epochs):
        model.train(); opt.train()
        for xb, yb in loader:
            opt.zero_grad(); loss_fn(model(xb), yb).backward(); opt.step()
        model.eval(); opt.eval()
        evaluate(model)

Models with BatchNorm: the running statistics were collected at y, not x;
recompute them in eval mode (e.g. `optim.update_bn`) before evaluating.
"""
import numpy as np

from minigrad import no_grad

from .moments import ema_square_
from .optimizer import Optimizer, check_betas, check_range


def _average_point(x, z, beta):
    """y = beta x + (1 - beta) z: computed in ONE place, so that `train()`
    rebuilds exactly (bit for bit) the y that `step()` last wrote."""
    return beta * x + (1.0 - beta) * z


class _ScheduleFree(Optimizer):
    """What both rules share: the averaging weights, y/x bookkeeping and
    train/eval switching. A rule implements `z_step` (its base-optimizer step
    on z) and `_beta(group)` (the interpolation coefficient).

    Per group (saved in the state dict with the other hyperparameters):
    `k` (steps taken, from 0), `lr_max`, `weight_sum`, `scheduled_lr`,
    `train_mode`. Per parameter: `z` and `x` (y is the parameter itself in
    train mode, and is rebuilt from x and z when switching back)."""

    def _extra_defaults(self):
        return dict(k=0, train_mode=True, weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0)

    def validate(self, group):
        super().validate(group)
        check_range(self, "warmup_steps", group["warmup_steps"], low=0)
        check_range(self, "r", group["r"], low=0.0)
        check_range(self, "weight_lr_power", group["weight_lr_power"], low=0.0)

    # ------------------------------------------------------ train / eval
    def eval(self):
        """Parameters <- x (the averaged sequence): use before evaluating or saving."""
        with no_grad():
            for group in self.param_groups:
                if group["train_mode"]:
                    for p in group["params"]:
                        if p in self.state:
                            p.data[...] = self.state[p]["x"]
                    group["train_mode"] = False

    def train(self):
        """Parameters <- y (where gradients are taken): use before training steps."""
        with no_grad():
            for group in self.param_groups:
                if not group["train_mode"]:
                    beta = self._beta(group)
                    for p in group["params"]:
                        if p in self.state:
                            state = self.state[p]
                            p.data[...] = _average_point(state["x"], state["z"], beta)
                    group["train_mode"] = True

    # --------------------------------------------------------------- step
    def step(self, closure=None):
        if not all(group["train_mode"] for group in self.param_groups):
            raise RuntimeError(
                f"{type(self).__name__}.step() was called in eval mode, while the parameters "
                "hold the averaged x sequence; call optimizer.train() before training steps "
                "(and optimizer.eval() before evaluating)")
        return super().step(closure)

    def update_all(self):
        for group in self.param_groups:
            self._group_step(group)

    def _group_step(self, group):
        k = group["k"]
        warmup = group["warmup_steps"]
        lr = group["lr"] * ((k + 1) / warmup if k < warmup else 1.0)  # linear warm-up
        group["scheduled_lr"] = lr
        lr_max = group["lr_max"] = max(lr, group["lr_max"])
        # c_{k+1} = w_{k+1} / sum_i w_i with w_i = i^r * lr_max^weight_lr_power
        weight = ((k + 1) ** group["r"]) * (lr_max ** group["weight_lr_power"])
        weight_sum = group["weight_sum"] = group["weight_sum"] + weight
        c = weight / weight_sum if weight_sum != 0 else 0.0
        beta = self._beta(group)
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state_of(p, group)
            y = p.data
            self.z_step(y, p.grad.data, state, group, lr, k)
            x, z = state["x"], state["z"]
            x *= 1.0 - c                                  # x <- (1 - c) x + c z
            x += c * z
            y[...] = _average_point(x, z, beta)           # y <- beta x + (1 - beta) z
        group["k"] = k + 1

    def init_state(self, param, group):
        return {"z": param.copy(), "x": param.copy()}  # z_0 = x_0 = y_0 = theta_0

    def z_step(self, y, grad, state, group, lr, k):
        raise NotImplementedError

    def _beta(self, group):
        raise NotImplementedError


class ScheduleFreeSGD(_ScheduleFree):
    r"""Schedule-Free SGD (momentum form without a schedule).

    Follows the official `schedulefree.SGDScheduleFreeReference` (v1.4.1),
    step k = 0, 1, ... (per group):

        lr_k  = lr * min(1, (k+1) / warmup_steps)
        w_k   = (k+1)^r * (max_{i<=k} lr_i)^weight_lr_power ;   c_k = w_k / sum_{i<=k} w_i
        g     = grad f(y) + weight_decay * y                  (decay taken at y)
        z     <- z - lr_k * g
        x     <- (1 - c_k) x + c_k z
        y     <- (1 - momentum) z + momentum x               (the parameters in train mode)

    with z_0 = x_0 = y_0 = theta_0. Defaults as the official package: lr=1.0,
    momentum=0.9. Unlike the package's `SGDScheduleFree`, which starts in eval
    mode, this optimizer starts in train mode (as the Reference class does);
    calling `train()` first is harmless.
    """

    def __init__(self, params, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0,
                 weight_lr_power=2.0):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                        warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power)
        defaults.update(self._extra_defaults())
        super().__init__(params, defaults)

    def validate(self, group):
        super().validate(group)
        if not 0.0 < group["momentum"] < 1.0:
            raise ValueError(f"ScheduleFreeSGD: invalid momentum = {group['momentum']!r}; it must "
                             "be in (0, 1) (it interpolates y between z and x)")

    def _beta(self, group):
        return group["momentum"]

    def z_step(self, y, grad, state, group, lr, k):
        g = grad + group["weight_decay"] * y if group["weight_decay"] else grad
        state["z"] -= lr * g


class ScheduleFreeAdamW(_ScheduleFree):
    r"""Schedule-Free AdamW: Adam's second moment on the z sequence, no first
    moment (the x/y averaging plays its role).

    Follows the official `schedulefree.AdamWScheduleFreeReference` (v1.4.1),
    step k = 0, 1, ... (per group):

        lr_k  = lr * min(1, (k+1) / warmup_steps)
        w_k   = (k+1)^r * (max_{i<=k} lr_i)^weight_lr_power ;   c_k = w_k / sum_{i<=k} w_i
        z     <- z - lr_k * weight_decay * y          (decay at y; at z if decay_at_z)
        v     <- beta2 v + (1 - beta2) g^2
        z     <- z - lr_k * g / (sqrt(v / (1 - beta2^(k+1))) + eps)
        x     <- (1 - c_k) x + c_k z
        y     <- (1 - beta1) z + beta1 x             (the parameters in train mode)

    Defaults as the official package: lr=0.0025, betas=(0.9, 0.999),
    eps=1e-8. Starts in train mode (the package's classes start in eval mode).
    """

    def __init__(self, params, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 warmup_steps=0, r=0.0, weight_lr_power=2.0, decay_at_z=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power,
                        decay_at_z=decay_at_z)
        defaults.update(self._extra_defaults())
        super().__init__(params, defaults)

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        check_range(self, "eps", group["eps"], low=0.0)

    def _beta(self, group):
        return group["betas"][0]

    def init_state(self, param, group):
        state = super().init_state(param, group)
        state["exp_avg_sq"] = np.zeros_like(param)
        return state

    def z_step(self, y, grad, state, group, lr, k):
        beta2 = group["betas"][1]
        z, v = state["z"], state["exp_avg_sq"]
        if group["weight_decay"]:
            z -= (lr * group["weight_decay"]) * (z if group["decay_at_z"] else y)
        ema_square_(v, grad, beta2)
        denom = np.sqrt(v / (1.0 - beta2 ** (k + 1))) + group["eps"]
        z -= lr * (grad / denom)
