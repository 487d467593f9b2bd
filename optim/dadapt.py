"""D-Adaptation: learning-rate-free SGD and Adam (Defazio & Mishchenko, ICML 2023).

The best fixed step size of (sub)gradient descent on a convex problem scales
with D = ||x0 - x*||, the distance from the start to a solution, which nobody
knows in advance. D-Adaptation keeps a lower bound d <= D computed from the
gradients seen so far (it only grows) and uses it as the step size:

    with s = sum_i lr_i g_i (weighted sum of past gradients),
    d_hat = sum_i lr_i <g_i, s_{i-1}> / ||s||  is a lower bound on D,  d <- max(d, d_hat)

`lr` stays at 1.0; it only rescales the adapted step. Every sum runs over ALL
parameters of ALL groups (the bound is about the whole parameter vector), so
these rules write `step` for the whole model, not one tensor at a time. The
adapted numbers (d, k, the running numerator) live in every param group, as
in the official code, so `state_dict()` saves them.
"""
import math

import numpy as np

from .optimizer import Optimizer, check_betas, check_range


class _DAdaptation(Optimizer):
    def validate(self, group):
        super().validate(group)
        if not group["d0"] > 0:
            raise ValueError(f"{type(self).__name__}: invalid d0 = {group['d0']!r}; the initial "
                             "distance estimate must be > 0 (default 1e-6)")
        check_range(self, "growth_rate", group["growth_rate"], low=1.0)


class DAdaptSGD(_DAdaptation):
    r"""SGD with a D-Adapted step size (dual-averaging form).

    Follows the official `dadaptation` package (v3.2, `DAdaptSGD`), step
    k = 0, 1, ..., sums (and the updates of r and s) over every parameter
    that has a gradient in a group with lr > 0:

        G0  = ||g_0||_2                                 (global norm of the first gradient)
        dlr = d * lr / G0
        g   <- g + weight_decay * theta
        r   <- r + dlr <g, s>                           (the old s; r is not averaged)
        s   <- s + dlr g
        d_hat = 2 r / ||s||_2 ;    d <- max(d, min(d_hat, d * growth_rate))
        z   = x0 - s                                     (dual averaging: a step from x0)
        theta <- momentum * theta + (1 - momentum) * z

    With momentum = 0 (default) theta = z. As in the official code, G0 is the
    norm of the raw first gradient (without weight decay). Differences, both
    outside the official code's working range: each group uses its own
    weight_decay (official: group 0's for all), and a first gradient that is
    exactly zero skips the step instead of dividing by zero (so does a step
    where s is still 0; k only counts the steps taken).
    Defaults: lr=1.0, momentum=0, d0=1e-6, growth_rate=inf.

    On a GPU this rule reads two sums per parameter (<g, s> and ||s||^2) back
    to the host each step: d is a Python number kept in the param groups, and
    a zero ||s|| skips the step, so the host needs them.
    """

    def __init__(self, params, lr=1.0, momentum=0.0, weight_decay=0.0, d0=1e-6,
                 growth_rate=math.inf):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      d0=d0, growth_rate=growth_rate,
                                      d=d0, k=0, numerator_weighted=0.0, g0_norm=0.0))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum", group["momentum"], low=0.0, high=1.0)

    def init_state(self, param, group):
        return {"s": np.zeros_like(param), "x0": param.copy(), "z": param.copy()}

    def update_all(self):
        first = self.param_groups[0]
        k, d = first["k"], first["d"]
        lr = max(group["lr"] for group in self.param_groups)
        _check_shared_lr(self, lr)

        if k == 0:  # the scale of the problem: the norm of the first gradient
            squares = sum(float((p.grad.data * p.grad.data).sum())
                          for group, p in _with_grad(self) if group["lr"] > 0.0)
            if squares == 0:
                return  # a zero first gradient gives no scale: wait for a nonzero one
            for group in self.param_groups:
                group["g0_norm"] = math.sqrt(squares)
        dlr = d * lr / first["g0_norm"]

        numerator = first["numerator_weighted"]
        s_squared = 0.0
        for group, p in _with_grad(self):
            state = self.state_of(p, group)
            g = p.grad.data
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p.data
            if group["lr"] > 0.0:
                numerator += dlr * float((g * state["s"]).sum())
                state["s"] += dlr * g
                s_squared += float((state["s"] * state["s"]).sum())
        if s_squared == 0:
            return

        if lr > 0.0:
            d_hat = 2.0 * numerator / math.sqrt(s_squared)
            d = max(d, min(d_hat, d * first["growth_rate"]))

        for group in self.param_groups:
            group.update(d=d, k=k + 1, numerator_weighted=numerator)
        for group, p in _with_grad(self):
            state = self.state[p]
            state["z"][...] = state["x0"] - state["s"]
            ck = 1.0 - group["momentum"]
            p.data *= 1.0 - ck
            p.data += ck * state["z"]


class DAdaptAdam(_DAdaptation):
    r"""Adam with a D-Adapted step size.

    Follows the official `dadaptation` package (v3.2, `DAdaptAdam`), step
    k = 0, 1, ..., sums (and the updates of m, v, s) over every parameter
    that has a gradient in a group with lr > 0; dlr is the one of the start
    of the step (the old d):

        dlr = d * lr * bc,   bc = sqrt(1 - beta2^(k+1)) / (1 - beta1^(k+1)) if use_bias_correction
                                  else 1
        g   <- g + weight_decay * theta                           (only if decouple=False)
        n   = sum_p layer_scale * dlr * <g, s / (sqrt(v) + eps)>   (the old s and v)
        m   <- beta1 m + (1 - beta1) layer_scale dlr g
        v   <- beta2 v + (1 - beta2) g^2
        s   <- sqrt(beta2) s + (1 - sqrt(beta2)) dlr g
        r   <- sqrt(beta2) r + (1 - sqrt(beta2)) n
        d_hat = r / ((1 - sqrt(beta2)) sum_p layer_scale ||s||_1)
        d   <- max(d, min(d_hat, d * growth_rate))
        theta <- theta - weight_decay * dlr * theta               (only if decouple=True)
        theta <- theta - m / (sqrt(v) + eps)                      (dlr is already inside m)

    `layer_scale` (a per-group value, default 1) scales one group's step
    relative to the others. Defaults: lr=1.0, betas=(0.9, 0.999), eps=1e-8,
    d0=1e-6, decouple=False, use_bias_correction=False. (optax's
    `dadapt_adamw` always bias-corrects: it equals use_bias_correction=True.)
    If no parameter has a nonzero gradient the step does nothing.

    On a GPU this rule reads two sums per parameter (the numerator term and
    ||s||_1) back to the host each step: d is a Python number kept in the
    param groups, and a zero ||s||_1 skips the step, so the host needs them.
    """

    def __init__(self, params, lr=1.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decouple=False, use_bias_correction=False, d0=1e-6, growth_rate=math.inf,
                 layer_scale=1.0):
        super().__init__(params, dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decouple=decouple,
            use_bias_correction=use_bias_correction, d0=d0, growth_rate=growth_rate,
            layer_scale=layer_scale, d=d0, k=0, numerator_weighted=0.0))

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        check_range(self, "eps", group["eps"], low=0.0)
        check_range(self, "layer_scale", group["layer_scale"], low=0.0)

    def init_state(self, param, group):
        return {"step": 0, "s": np.zeros_like(param), "exp_avg": np.zeros_like(param),
                "exp_avg_sq": np.zeros_like(param)}

    def update_all(self):
        first = self.param_groups[0]
        beta1, beta2 = first["betas"]
        sqrt_beta2 = math.sqrt(beta2)
        k, d = first["k"], first["d"]
        lr = max(group["lr"] for group in self.param_groups)
        _check_shared_lr(self, lr)
        bias_correction = (math.sqrt(1.0 - beta2 ** (k + 1)) / (1.0 - beta1 ** (k + 1))
                           if first["use_bias_correction"] else 1.0)
        dlr = d * lr * bias_correction

        # Pass 1: moments, and the global sums that estimate d.
        numerator_acc, s_l1 = 0.0, 0.0
        for group, p in _with_grad(self):
            state = self.state_of(p, group)
            g = p.grad.data
            if group["weight_decay"] and not group["decouple"]:
                g = g + group["weight_decay"] * p.data        # coupled (L2) decay
            scale = group["layer_scale"]
            if group["lr"] > 0.0:
                denom = np.sqrt(state["exp_avg_sq"]) + group["eps"]
                numerator_acc += scale * dlr * float((g * (state["s"] / denom)).sum())
                state["exp_avg"] *= beta1
                state["exp_avg"] += (scale * dlr * (1.0 - beta1)) * g
                state["exp_avg_sq"] *= beta2
                state["exp_avg_sq"] += (1.0 - beta2) * (g * g)
                state["s"] *= sqrt_beta2
                state["s"] += (dlr * (1.0 - sqrt_beta2)) * g
                s_l1 += scale * float(np.abs(state["s"]).sum())
        numerator = sqrt_beta2 * first["numerator_weighted"] + (1.0 - sqrt_beta2) * numerator_acc
        if s_l1 == 0:
            return  # no gradient signal yet: nothing to adapt, no step

        if lr > 0.0:
            d_hat = numerator / ((1.0 - sqrt_beta2) * s_l1)
            d = max(d, min(d_hat, d * first["growth_rate"]))

        # Pass 2: the parameter update (dlr is already folded into m).
        for group in self.param_groups:
            group.update(d=d, k=k + 1, numerator_weighted=numerator)
        for group, p in _with_grad(self):
            state = self.state[p]
            state["step"] += 1
            denom = np.sqrt(state["exp_avg_sq"]) + group["eps"]
            if group["weight_decay"] and group["decouple"]:
                p.data -= (group["weight_decay"] * dlr) * p.data
            p.data -= state["exp_avg"] / denom


def _with_grad(optimizer):
    """(group, param) for every parameter that has a gradient, in order."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                yield group, p


def _check_shared_lr(optimizer, lr):
    """The adapted d is global, so groups can't have their own lr (0 freezes a group)."""
    for i, group in enumerate(optimizer.param_groups):
        if group["lr"] not in (lr, 0.0):
            raise ValueError(
                f"{type(optimizer).__name__}: parameter group {i} has lr={group['lr']} but another "
                f"has lr={lr}; the adapted step size is shared by all groups, so every group "
                "must use the same lr (or lr=0 to freeze a group)")
