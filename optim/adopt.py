"""ADOPT: Adam that normalises the gradient by the PREVIOUS second moment.

The current gradient never divides itself, which is what lets the rule
converge for any beta2 (Adam can diverge on some problems whatever its
hyperparameters).
"""
import numpy as np

from .moments import ema_, ema_square_
from .optimizer import AdamFamily, check_range


class ADOPT(AdamFamily):
    r"""ADOPT: Taniguchi et al. 2024, "ADOPT: Modified Adam Can Converge with
    Any beta2 with the Optimal Rate" (NeurIPS, arXiv 2411.02853).

    Follows the official `torch-adopt` 0.1.0 (`from adopt import ADOPT`; ==
    optax.contrib.adopt, 6e-17 apart; pytorch_optimizer clips with k + 1
    instead of k). With k = the number of steps already taken (0, 1, ...):

        g     <- g + weight_decay * theta          (L2; or decoupled, see below)
        k = 0:  v <- g^2 ;  no parameter update
        k >= 1:
          theta <- theta * (1 - lr * weight_decay)   if decoupled_weight_decay
          u     =  clip(g / max(sqrt(v), eps), -k^p, k^p)       p = clip_exponent = 1/4
          m     <- beta1 * m + (1 - beta1) * u
          theta <- theta - lr * m
          v     <- beta2 * v + (1 - beta2) * g^2     (AFTER its use: v never contains g)

    Normalising before the momentum, by a v that does not contain the
    current gradient, is what makes the rule converge for any beta2. No bias
    correction is needed: m averages normalised gradients, and v starts at
    g_1^2. clip_exponent=None turns clipping off (the paper's first version).
    The official `clip_lambda=lambda step: step ** 0.25` is a number here
    (clip_exponent=0.25), so that the hyperparameters can be saved. Its weight
    decay stays in these equations: the decoupled form skips the first step.
    """

    optional_hyperparameters = ("clip_exponent",)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.9999), eps=1e-6, clip_exponent=0.25,
                 weight_decay=0.0, decoupled_weight_decay=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, clip_exponent=clip_exponent,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        if group["clip_exponent"] is not None:
            check_range(self, "clip_exponent", group["clip_exponent"], low=0.0)

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        k = state["step"] - 1  # steps taken before this one
        lr, wd, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        g = grad
        if wd and not group["decoupled_weight_decay"]:
            g = g + wd * param

        m, v = state["exp_avg"], state["exp_avg_sq"]
        if k == 0:
            v[...] = g * g  # the first gradient only initialises v
            return
        if wd and group["decoupled_weight_decay"]:
            param *= 1.0 - lr * wd

        u = g / np.maximum(np.sqrt(v), group["eps"])
        if group["clip_exponent"] is not None:  # |u| <= k^(1/4): grows, so clipping fades out
            c = k ** group["clip_exponent"]
            u = np.clip(u, -c, c)
        ema_(m, u, beta1)
        param -= lr * m
        ema_square_(v, g, beta2)
