"""Adan: Adam with a Nesterov-style momentum built from gradient differences."""
import math

import numpy as np

from .moments import ema_, ema_square_
from .optimizer import Optimizer, check_betas, check_range


class Adan(Optimizer):
    r"""Adan (ADAptive Nesterov momentum): Xie, Zhou, Li, Lin, Yan 2022,
    "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
    Models" (arXiv 2208.06677).

    Follows the official `sail-sg/Adan` code (== pytorch_optimizer.Adan):
    betas are the decays of the moving averages, (0.98, 0.92, 0.99), i.e.
    the paper's (0.02, 0.08, 0.01) as 1 - beta. `optax.adan` (0.2.8) is NOT
    this rule: it uses 1 - beta2 where the official code uses beta2.
    Step t = 1, 2, ...:

        g     <- g * min(1, max_grad_norm / (||g||_global + eps))    (only if max_grad_norm > 0;
                                                                       one norm over ALL parameters)
        d     =  g - g_prev                               (0 on the first step: g_prev = g)
        m     <- beta1 * m + (1 - beta1) * g              (gradient)
        s     <- beta2 * s + (1 - beta2) * d              (gradient difference)
        n     <- beta3 * n + (1 - beta3) * (g + beta2 * d)^2
        u     =  [m / (1 - beta1^t) + beta2 * s / (1 - beta2^t)] / (sqrt(n / (1 - beta3^t)) + eps)
        theta <- (theta - lr * u) / (1 + lr * weight_decay)    (proximal decay, the default)
        theta <- theta * (1 - lr * weight_decay) - lr * u      (if no_prox: AdamW-style decay)

    m + beta2 * s estimates the gradient one step ahead (Nesterov's
    look-ahead) without evaluating it there. max_grad_norm, like the
    official code, is one optimizer-wide setting (the constructor's).
    """

    def __init__(self, params, lr=1e-3, betas=(0.98, 0.92, 0.99), eps=1e-8, weight_decay=0.0,
                 max_grad_norm=0.0, no_prox=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      max_grad_norm=max_grad_norm, no_prox=no_prox,
                                      maximize=maximize))
        self._grad_scale = None  # the global clipping factor of this step (None: no clipping)

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"], count=3)
        check_range(self, "eps", group["eps"], low=0.0)
        check_range(self, "max_grad_norm", group["max_grad_norm"], low=0.0)

    def update_all(self):
        """As `Optimizer.update_all`, with the global gradient clipping factor
        computed first: it needs every gradient, not one at a time."""
        self._grad_scale = self._clip_factor()
        super().update_all()

    def _clip_factor(self):
        """min(1, max_norm / (||g||_global + eps)), a 0-d float64 array on the
        gradients' device (no float(): the GPU is not waited for); None if off."""
        max_norm = self.defaults["max_grad_norm"]
        if not max_norm:
            return None
        total = sum((p.grad.data * p.grad.data).sum().astype(np.float64)
                    for group in self.param_groups for p in group["params"] if p.grad is not None)
        return np.minimum(max_norm / (np.sqrt(total) + self.defaults["eps"]), 1.0)

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_diff": np.zeros_like(param),
                "exp_avg_sq": np.zeros_like(param), "previous_grad": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, lr, wd = state["step"], group["lr"], group["weight_decay"]
        beta1, beta2, beta3 = group["betas"]
        # the scale in the gradient's dtype, as a Python float would be (no float64 upcast)
        g = grad if self._grad_scale is None else grad * self._grad_scale.astype(grad.dtype)
        if t == 1:
            state["previous_grad"][...] = g  # no difference on the first step

        d = g - state["previous_grad"]
        m = ema_(state["exp_avg"], g, beta1)
        s = ema_(state["exp_avg_diff"], d, beta2)
        n = ema_square_(state["exp_avg_sq"], g + beta2 * d, beta3)
        state["previous_grad"][...] = g

        denom = np.sqrt(n) / math.sqrt(1.0 - beta3 ** t) + group["eps"]
        u = (m / (1.0 - beta1 ** t) + (beta2 / (1.0 - beta2 ** t)) * s) / denom
        if group["no_prox"]:
            param *= 1.0 - lr * wd
            param -= lr * u
        else:
            param -= lr * u
            param /= 1.0 + lr * wd
