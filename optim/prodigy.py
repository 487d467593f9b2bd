"""Prodigy: Adam whose step size is learned on the fly (Mishchenko & Defazio, 2024).

Learning-rate-free methods estimate D = ||x0 - x*||, the distance from the
start to a solution, which is the ideal step size scale for (sub)gradient
methods. Prodigy keeps a lower bound d <= D that only grows, built from the
gradients seen so far and how far the parameters have moved from x0:

    d_hat = <sum of weighted gradients, x0 - x> / ||weighted sum of gradients||_1

and uses d as Adam's learning rate (lr stays at 1.0 and only rescales d).
Every sum runs over ALL parameters of ALL groups at once, so `step` is
written for the whole model rather than one tensor at a time.
"""
import math

import numpy as np

from .dadapt import _check_shared_lr, _with_grad
from .optimizer import Optimizer, check_betas, check_range


class Prodigy(Optimizer):
    r"""Prodigy (Adam flavour, learning-rate free).

    Follows the official `prodigyopt` package (v1.1.2, `Prodigy`), step
    k = 0, 1, ..., with sums (and the updates of r, m, v, s) over every
    parameter that has a gradient in a group with lr > 0; d, dlr and the
    step below are those of the start of the step unless marked "new d":

        dlr = d * lr * bc,    bc = sqrt(1 - beta2^(k+1)) / (1 - beta1^(k+1)) if use_bias_correction
                                   else 1
        g  <- g + weight_decay * theta                     (only if decouple=False)
        r  <- beta3 r + (d / d0) dlr <g, x0 - theta>        (beta3 = sqrt(beta2) by default)
        m  <- beta1 m + (1 - beta1) d g
        v  <- beta2 v + (1 - beta2) d^2 g^2
        s  <- beta3 s + (d / d0) dlr g                      (d instead of dlr if safeguard_warmup)
        d_hat = d_coef * r / ||s||_1
        while d == d0 (no growth yet):  d <- max(d, d_hat)
        d_max <- max(d_max, d_hat) ;   d <- min(d_max, d * growth_rate)          (new d)
        theta <- theta - weight_decay * dlr * theta         (only if decouple=True)
        theta <- theta - dlr * m / (sqrt(v) + d * eps)      (new d in the denominator)

    With beta1 = 0 there is no m and the step is dlr * d * g / (sqrt(v) + d eps),
    with the new d in both places and g after the coupled decay.
    d, d_max, d_numerator (= r) and k live in every param group (as in the
    official code), so they are saved by `state_dict()`. Every group must use
    the same lr (or lr = 0 to freeze it). The package's `slice_p` memory
    option is not offered (it equals slice_p=1). If no parameter has a
    nonzero gradient the step does nothing, as in the official code.
    Defaults: lr=1.0, betas=(0.9, 0.999), eps=1e-8, d0=1e-6, decouple=True.

    On a GPU this rule reads two sums per parameter (<g, x0 - theta> and
    ||s||_1) back to the host each step: d is a Python number kept in the
    param groups, and a zero sum skips the step, so the host needs them.
    """

    def __init__(self, params, lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8,
                 weight_decay=0.0, decouple=True, use_bias_correction=False,
                 safeguard_warmup=False, d0=1e-6, d_coef=1.0, growth_rate=math.inf):
        super().__init__(params, dict(
            lr=lr, betas=betas, beta3=beta3, eps=eps, weight_decay=weight_decay,
            decouple=decouple, use_bias_correction=use_bias_correction,
            safeguard_warmup=safeguard_warmup, d0=d0, d_coef=d_coef, growth_rate=growth_rate,
            # the adapted quantities, shared by all groups:
            d=d0, d_max=d0, d_numerator=0.0, k=0))

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        if group["beta3"] is not None:
            check_range(self, "beta3", group["beta3"], low=0.0, high=1.0)
        check_range(self, "eps", group["eps"], low=0.0)
        if not group["d0"] > 0:
            raise ValueError(f"Prodigy: invalid d0 = {group['d0']!r}; the initial distance "
                             "estimate must be > 0 (default 1e-6)")
        check_range(self, "d_coef", group["d_coef"], low=0.0)
        check_range(self, "growth_rate", group["growth_rate"], low=1.0)

    def init_state(self, param, group):
        state = {"step": 0, "s": np.zeros_like(param), "p0": param.copy(),
                 "exp_avg_sq": np.zeros_like(param)}
        if group["betas"][0] > 0:
            state["exp_avg"] = np.zeros_like(param)
        return state

    def update_all(self):
        first = self.param_groups[0]
        beta1, beta2 = first["betas"]
        beta3 = first["beta3"] if first["beta3"] is not None else math.sqrt(beta2)
        k, d, d_max, d0 = first["k"], first["d"], first["d_max"], first["d0"]
        lr = max(group["lr"] for group in self.param_groups)
        _check_shared_lr(self, lr)
        bias_correction = (math.sqrt(1.0 - beta2 ** (k + 1)) / (1.0 - beta1 ** (k + 1))
                           if first["use_bias_correction"] else 1.0)
        dlr = d * lr * bias_correction

        # Pass 1: moments, and the global sums that estimate d.
        d_numerator = first["d_numerator"] * beta3
        delta_numerator, d_denom = 0.0, 0.0
        grads = {}
        for group, p in _with_grad(self):
            g = p.grad.data
            if group["weight_decay"] and not group["decouple"]:
                g = g + group["weight_decay"] * p.data        # coupled (L2) decay
            grads[p] = g
            state = self.state_of(p, group)
            if group["lr"] > 0.0:
                # d / d0 keeps these sums away from tiny numbers early on
                delta_numerator += (d / d0) * dlr * float((g * (state["p0"] - p.data)).sum())
                if beta1 > 0:
                    state["exp_avg"] *= beta1
                    state["exp_avg"] += (d * (1.0 - beta1)) * g
                state["exp_avg_sq"] *= beta2
                state["exp_avg_sq"] += (d * d * (1.0 - beta2)) * (g * g)
                s_scale = d if group["safeguard_warmup"] else dlr
                state["s"] *= beta3
                state["s"] += ((d / d0) * s_scale) * g
                d_denom += float(np.abs(state["s"]).sum())
        if d_denom == 0:
            return  # no gradient signal yet: nothing to adapt, no step

        # The new estimate of d (it never decreases).
        if lr > 0.0:
            d_numerator += delta_numerator
            d_hat = first["d_coef"] * d_numerator / d_denom
            if d == d0:
                d = max(d, d_hat)
            d_max = max(d_max, d_hat)
            d = min(d_max, d * first["growth_rate"])

        # Pass 2: the parameter update with step size dlr.
        for group in self.param_groups:
            group.update(d=d, d_max=d_max, d_numerator=d_numerator, k=k + 1)
        for group, p in _with_grad(self):
            state = self.state[p]
            state["step"] += 1
            denom = np.sqrt(state["exp_avg_sq"]) + d * group["eps"]
            if group["weight_decay"] and group["decouple"]:
                p.data -= (group["weight_decay"] * dlr) * p.data
            if beta1 > 0:
                p.data -= dlr * (state["exp_avg"] / denom)
            else:
                p.data -= (dlr * d) * (grads[p] / denom)

