"""Sign-based rules: Lion and Signum (signSGD with momentum).

Both move every coordinate by exactly +-lr (or 0): only the sign of a
momentum survives, so the step no longer depends on the gradient's scale,
and one number, lr, is the size of every step.
"""
import numpy as np

from minigrad import kernels

from .moments import ema_, lerp
from .optimizer import Optimizer, check_betas, check_range


class Lion(Optimizer):
    r"""Lion ("EvoLved Sign Momentum"): Chen et al. 2023, "Symbolic Discovery
    of Optimization Algorithms" (arXiv 2302.06675).

    Follows the paper's pseudocode as coded in `lion-pytorch` (which
    `optax.lion` and `pytorch_optimizer.Lion` agree with to 3e-16). Step:

        theta <- theta * (1 - lr * weight_decay)       (decoupled decay)
        c     =  beta1 * m + (1 - beta1) * g            (the direction: a short memory)
        theta <- theta - lr * sign(c)                   (sign(0) = 0)
        m     <- beta2 * m + (1 - beta2) * g            (the momentum kept: a long memory; m starts at 0)

    The update interpolates with beta1 but the momentum is carried with
    beta2 > beta1, so the newest gradient weighs more in today's step than
    in tomorrow's memory. Every entry of the update is +-lr, a larger step
    than Adam's typical one: use an lr 3-10x smaller than AdamW's and a
    weight_decay 3-10x larger, so that lr * weight_decay stays the same.
    """

    weight_decay_form = "decoupled"

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])

    def init_state(self, param, group):
        return {"exp_avg": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        lr, (beta1, beta2), m = group["lr"], group["betas"], state["exp_avg"]
        if kernels.use_for(param, grad, m):  # on a GPU, the same update in one fused kernel
            return kernels.lion_update(param, grad, m, lr, beta1, beta2)
        c = lerp(m, grad, 1.0 - beta1)   # beta1 * m + (1 - beta1) * g
        param -= lr * np.sign(c)
        ema_(m, grad, beta2)


class Signum(Optimizer):
    r"""Signum (signSGD with momentum): Bernstein, Wang, Azizzadenesheli,
    Anandkumar 2018, "signSGD: Compressed Optimisation for Non-Convex
    Problems" (ICML, arXiv 1802.04434).

    Follows `pytorch_optimizer.SignSGD` (momentum buffer is an average that
    starts at 0; weight decay decoupled by default). Step:

        theta <- theta * (1 - lr * weight_decay)        if decoupled_weight_decay
        g     <- g + weight_decay * theta               otherwise (L2 penalty)
        m     <- momentum * m + (1 - momentum) * g      (m starts at 0)
        theta <- theta - lr * sign(m)                   (sign(0) = 0)

    With momentum = 0 this is signSGD: theta <- theta - lr * sign(g). It is
    Lion with beta1 = beta2 = momentum.
    """

    weight_decay_form = "decoupled"  # or coupled, with decoupled_weight_decay=False

    def __init__(self, params, lr=1e-3, momentum=0.9, weight_decay=0.0,
                 decoupled_weight_decay=True, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum", group["momentum"], low=0.0, high=1.0)

    def init_state(self, param, group):
        return {"momentum_buffer": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        g, momentum = grad, group["momentum"]
        if momentum:  # momentum = 0 is signSGD: the sign of today's gradient alone
            g = ema_(state["momentum_buffer"], grad, momentum)
        param -= group["lr"] * np.sign(g)
