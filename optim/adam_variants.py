"""Element-wise Adam variants from 2018-2019: AdaBelief, Yogi, DiffGrad,
AdaBound, AdaMod.

Each keeps Adam's two moments, m (average gradient) and v (average squared
gradient), and changes one thing: what v averages (AdaBelief), how v moves
(Yogi), how far m is trusted (DiffGrad), or bounds on the per-coordinate
step lr / sqrt(v) (AdaBound, AdaMod). The equations in each docstring are
Adam's with that one change. Mind where eps goes: AdaBelief and Yogi add it
to sqrt(v_hat) as Adam does; DiffGrad, AdaBound and AdaMod add it to
sqrt(v) before the bias correction ("eps-hat"), as their reference codes do.
"""
import math

import numpy as np

from .moments import ema_, ema_square_
from .optimizer import AdamFamily, check_range


class AdaBelief(AdamFamily):
    r"""AdaBelief: Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes
    by the Belief in Observed Gradients" (NeurIPS, arXiv 2010.07468).

    v averages the squared *surprise* (g - m)^2 instead of g^2: steps are
    large where the gradient is predictable, small where it is noisy. Follows
    the official `adabelief-pytorch` 0.2 (== optax.adabelief(eps=1e-16,
    eps_root=1e-16) == torch_optimizer.AdaBelief(eps=1e-16), 2e-16 apart),
    without its rectify / amsgrad options. Step t = 1, 2, ...:

        theta <- theta * (1 - lr * weight_decay)    (decoupled, the official default;
                                                     else g <- g + weight_decay * theta)
        m     <- beta1 * m + (1 - beta1) * g
        s     <- beta2 * s + (1 - beta2) * (g - m)^2 + eps     (eps is ADDED TO THE STATE,
                                                                 as every implementation does)
        theta <- theta - lr * [m / (1 - beta1^t)] / (sqrt(s / (1 - beta2^t)) + eps)
    """

    weight_decay_form = "decoupled"  # or coupled, with decoupled_weight_decay=False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0.0,
                 decoupled_weight_decay=True, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_var": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, lr, eps = state["step"], group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        m = ema_(state["exp_avg"], grad, beta1)
        s = ema_square_(state["exp_avg_var"], grad - m, beta2)
        s += eps

        denom = np.sqrt(s) / math.sqrt(1.0 - beta2 ** t) + eps
        param -= (lr / (1.0 - beta1 ** t)) * (m / denom)


class Yogi(AdamFamily):
    r"""Yogi: Zaheer, Reddi, Sachan, Kale, Kumar 2018, "Adaptive Methods for
    Nonconvex Optimization" (NeurIPS).

    v moves toward g^2 by an additive step of fixed size (1 - beta2) * g^2,
    instead of Adam's multiplicative one, so it cannot forget a large past
    gradient too fast. Follows `torch_optimizer.Yogi` (== optax.yogi ==
    pytorch_optimizer.Yogi, 1.7e-16 apart; the TensorFlow Addons original
    starts both moments at 1e-6). Step t = 1, 2, ...:

        g     <- g + weight_decay * theta                 (L2 penalty)
        m     <- beta1 * m + (1 - beta1) * g              (m, v start at initial_accumulator)
        v     <- v - (1 - beta2) * sign(v - g^2) * g^2
        theta <- theta - lr * [m / (1 - beta1^t)] / (sqrt(v / (1 - beta2^t)) + eps)
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-3, initial_accumulator=1e-6,
                 weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                      initial_accumulator=initial_accumulator,
                                      weight_decay=weight_decay, maximize=maximize))

    def init_state(self, param, group):
        start = group["initial_accumulator"]
        return {"step": 0, "exp_avg": np.full_like(param, start),
                "exp_avg_sq": np.full_like(param, start)}

    def update(self, param, grad, state, group):
        t, (beta1, beta2) = state["step"], group["betas"]
        m, v = ema_(state["exp_avg"], grad, beta1), state["exp_avg_sq"]
        g2 = grad * grad
        v -= (1.0 - beta2) * (np.sign(v - g2) * g2)

        denom = np.sqrt(v) / math.sqrt(1.0 - beta2 ** t) + group["eps"]
        param -= (group["lr"] / (1.0 - beta1 ** t)) * (m / denom)


class DiffGrad(AdamFamily):
    r"""diffGrad: Dubey et al. 2019, "diffGrad: An Optimization Method for
    Convolutional Neural Networks" (IEEE TNNLS, arXiv 1909.11015).

    Adam whose momentum is damped by a "friction" xi in (0.5, 1): near 0.5
    where the gradient barely changed since the last step (flat region or
    close to a minimum), near 1 where it changes fast. Follows
    `torch_optimizer.DiffGrad` (== pytorch_optimizer.DiffGrad, 2e-10
    apart). Step t = 1, 2, ...:

        g      <- g + weight_decay * theta               (L2 penalty)
        m, v   <- Adam's moments of g
        xi     =  sigmoid(|g_prev - g|)                  (g_prev starts at 0)
        theta  <- theta - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * xi * m / (sqrt(v) + eps)
        g_prev <- g
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param),
                "previous_grad": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, (beta1, beta2) = state["step"], group["betas"]
        m = ema_(state["exp_avg"], grad, beta1)
        v = ema_square_(state["exp_avg_sq"], grad, beta2)
        xi = 1.0 / (1.0 + np.exp(-np.abs(state["previous_grad"] - grad)))
        state["previous_grad"][...] = grad

        step_size = group["lr"] * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
        param -= step_size * (xi * m / (np.sqrt(v) + group["eps"]))


class AdaBound(AdamFamily):
    r"""AdaBound / AMSBound: Luo, Xiong, Liu, Sun 2019, "Adaptive Gradient
    Methods with Dynamic Bound of Learning Rate" (ICLR, arXiv 1902.09843).

    Adam whose per-coordinate step size is clipped into a band that closes
    around final_lr as t grows, so the rule turns into SGD (with momentum)
    late in training. Follows `torch_optimizer.AdaBound` (== the official
    `adabound` and pytorch_optimizer.AdaBound, 3.5e-10 apart). Step
    t = 1, 2, ...:

        g     <- g + weight_decay * theta                  (L2 penalty)
        m, v  <- Adam's moments of g ;  amsbound: v_max <- max(v_max, v), used for v
        eta   =  lr * sqrt(1 - beta2^t) / (1 - beta1^t) / (sqrt(v) + eps)
        f     =  final_lr * lr / base_lr                   (base_lr = the group's lr at construction,
                                                            so an lr schedule moves the band too)
        theta <- theta - clip(eta, f * (1 - 1 / (gamma * t + 1)), f * (1 + 1 / (gamma * t))) * m
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), final_lr=0.1, gamma=1e-3, eps=1e-8,
                 weight_decay=0.0, amsbound=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, final_lr=final_lr, gamma=gamma, eps=eps,
                                      weight_decay=weight_decay, amsbound=amsbound,
                                      maximize=maximize))

    def add_param_group(self, group):
        super().add_param_group(group)
        added = self.param_groups[-1]
        added.setdefault("base_lr", added["lr"])  # saved with the groups by state_dict()

    def validate(self, group):
        super().validate(group)
        check_range(self, "final_lr", group["final_lr"], low=0.0)
        check_range(self, "gamma", group["gamma"], low=0.0, high=1.0)
        if group["lr"] == 0:
            raise ValueError("AdaBound: lr must be > 0 (the bounds are final_lr * lr / base_lr)")

    def init_state(self, param, group):
        state = {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
        if group["amsbound"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)
        return state

    def update(self, param, grad, state, group):
        t, lr, (beta1, beta2) = state["step"], group["lr"], group["betas"]
        m = ema_(state["exp_avg"], grad, beta1)
        v = ema_square_(state["exp_avg_sq"], grad, beta2)
        if group["amsbound"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]

        eta = (lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)) / (np.sqrt(v) + group["eps"])
        final_lr = group["final_lr"] * lr / group["base_lr"]
        lower = final_lr * (1.0 - 1.0 / (group["gamma"] * t + 1.0))
        upper = final_lr * (1.0 + 1.0 / (group["gamma"] * t))
        param -= np.clip(eta, lower, upper) * m


class AdaMod(AdamFamily):
    r"""AdaMod: Ding, Ren, Luo, Sun 2019, "An Adaptive and Momental Bound
    Method for Stochastic Learning" (arXiv 1910.12249).

    Adam whose per-coordinate step size may not exceed its own long-run
    average, which removes the huge early steps of coordinates with tiny v.
    Follows `torch_optimizer.AdaMod` (the official code; ==
    pytorch_optimizer.AdaMod with betas=(0.9, 0.999, 0.999), whose default
    betas differ). Step t = 1, 2, ...:

        m, v  <- Adam's moments of g
        eta   =  lr * sqrt(1 - beta2^t) / (1 - beta1^t) / (sqrt(v) + eps)
        theta <- theta * (1 - lr * weight_decay)           (decoupled decay)
        s     <- beta3 * s + (1 - beta3) * eta             (s starts at 0)
        theta <- theta - min(eta, s) * m
    """

    weight_decay_form = "decoupled"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), beta3=0.999, eps=1e-8,
                 weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, beta3=beta3, eps=eps,
                                      weight_decay=weight_decay, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "beta3", group["beta3"], low=0.0, high=1.0)

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param),
                "exp_avg_lr": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, lr, (beta1, beta2), beta3 = state["step"], group["lr"], group["betas"], group["beta3"]
        m = ema_(state["exp_avg"], grad, beta1)
        v = ema_square_(state["exp_avg_sq"], grad, beta2)
        eta = (lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)) / (np.sqrt(v) + group["eps"])
        s = ema_(state["exp_avg_lr"], eta, beta3)
        param -= np.minimum(eta, s) * m
