"""MARS: AdamW fed a variance-reduced gradient (the change since the last step, scaled)."""
import math

import numpy as np

from .moments import ema_, ema_square_
from .optimizer import Optimizer, check_betas, check_range


class MARS(Optimizer):
    r"""MARS-AdamW: Yuan, Liu, Wu, Zhou, Gu 2024, "MARS: Unleashing the Power of
    Variance Reduction for Training Large Models" (arXiv 2411.10438).

    AdamW fed a variance-reduced gradient c: the new gradient plus a scaled
    correction by how much it changed since the last step (the "approximate"
    MARS of the paper, which reuses the previous step's gradient instead of
    a second gradient evaluation). Follows the official `AGI-Arena/MARS`
    code (`mars_type="mars-adamw"`, eps added to sqrt(v_hat));
    pytorch_optimizer.MARS differs by putting eps before the bias
    correction. Step t = 1, 2, ...:

        c     =  g + gamma * beta1 / (1 - beta1) * (g - g_prev)     (g_prev starts at 0)
        c     <- c / ||c||   if ||c|| > 1                            (per-tensor clipping)
        m     <- beta1 * m + (1 - beta1) * c
        v     <- beta2 * v + (1 - beta2) * c^2
        theta <- theta - lr * [ (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
                                + weight_decay * theta ]
        g_prev <- g

    Every tensor gets the MARS rule (the official `optimize_1d=True`); the
    official default instead trains 1-D tensors with plain AdamW: put them
    in an `AdamW` of their own to reproduce that.
    """

    weight_decay_form = "decoupled"

    def __init__(self, params, lr=3e-3, betas=(0.95, 0.99), gamma=0.025, eps=1e-8,
                 weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, gamma=gamma, eps=eps,
                                      weight_decay=weight_decay, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        check_range(self, "gamma", group["gamma"], low=0.0)
        check_range(self, "eps", group["eps"], low=0.0)

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param),
                "last_grad": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, lr, (beta1, beta2) = state["step"], group["lr"], group["betas"]
        g = grad
        c = g + (group["gamma"] * beta1 / (1.0 - beta1)) * (g - state["last_grad"])
        c = c / np.maximum(np.sqrt((c * c).sum()), 1.0)  # clip ||c|| to 1 (no host sync)
        state["last_grad"][...] = g

        m = ema_(state["exp_avg"], c, beta1)
        v = ema_square_(state["exp_avg_sq"], c, beta2)
        denom = np.sqrt(v) / math.sqrt(1.0 - beta2 ** t) + group["eps"]
        param -= (lr / (1.0 - beta1 ** t)) * (m / denom)
