"""MADGRAD: momentumized, adaptive, dual-averaged gradient descent."""
import math

import numpy as np

from .optimizer import Optimizer, check_range


class MADGRAD(Optimizer):
    r"""MADGRAD: Defazio & Jelassi 2021, "Adaptivity without Compromise: A
    Momentumized, Adaptive, Dual Averaged Gradient Method for Stochastic
    Optimization" (arXiv 2101.11075).

    A dual-averaging method: instead of stepping from the current point, it
    jumps from the starting point x0 along the weighted SUM of all gradients
    seen so far, divided by a cube root (not AdaGrad's square root) of the
    weighted sum of their squares. Follows the official `madgrad` 1.3
    package (== pytorch_optimizer and torch_optimizer MADGRAD, 3e-16 apart).
    Step k = 0, 1, 2, ...:

        g      <- g + weight_decay * theta       (L2; decoupled_decay moves it to the end)
        lamb   =  (lr + eps) * sqrt(k + 1)       (the "+ eps" is the official code's, kept)
        x0     =  theta at the first step        (momentum = 0: x0 = theta + s / (nu^(1/3) + eps),
                                                   recomputed from the current theta each step)
        s      <- s + lamb * g ;   nu <- nu + lamb * g^2          (both start at 0)
        z      =  x0 - s / (nu^(1/3) + eps)
        theta  <- momentum * theta + (1 - momentum) * z           (momentum averages the iterates)
        theta  <- theta - (lr + eps) * weight_decay * theta_old   (only if decouple_decay)

    The step counter k counts this parameter's updates (the official code
    counts `step()` calls; the two agree whenever every parameter gets a
    gradient on every step). The weight decay stays in these equations: its
    decoupled form acts after the step, on the old theta.
    """

    def __init__(self, params, lr=1e-2, momentum=0.9, weight_decay=0.0, eps=1e-6,
                 decouple_decay=False, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      eps=eps, decouple_decay=decouple_decay, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum", group["momentum"], low=0.0, high=1.0)
        check_range(self, "eps", group["eps"], low=0.0)

    def init_state(self, param, group):
        state = {"step": 0, "grad_sum_sq": np.zeros_like(param), "s": np.zeros_like(param)}
        if group["momentum"]:
            state["x0"] = param.copy()
        return state

    def update(self, param, grad, state, group):
        k = state["step"] - 1  # this parameter's updates before this one
        eps, wd, momentum = group["eps"], group["weight_decay"], group["momentum"]
        lr = group["lr"] + eps if group["lr"] else 0.0
        lamb = lr * math.sqrt(k + 1)
        g = grad
        if wd and not group["decouple_decay"]:
            g = g + wd * param

        s, nu = state["s"], state["grad_sum_sq"]
        x0 = state["x0"] if momentum else param + s / _cube_root(nu, eps)
        nu += lamb * (g * g)
        s += lamb * g
        z = x0 - s / _cube_root(nu, eps)

        theta_old = param.copy() if wd and group["decouple_decay"] else None
        if momentum:
            param *= momentum
            param += (1.0 - momentum) * z
        else:
            param[...] = z
        if theta_old is not None:
            param -= (lr * wd) * theta_old


def _cube_root(nu, eps):
    """nu^(1/3) + eps, the denominator. With eps = 0, coordinates that never
    had a gradient (nu = s = 0) would give 0/0: they get inf, i.e. no move
    (the official code does this only after the first step, and returns NaN
    on the first step with momentum = 0 and eps = 0)."""
    root = nu ** (1.0 / 3.0) + eps
    return np.where(root == 0, np.inf, root) if eps == 0 else root
