"""Adam descendants from 2024: ADOPT, AdEMAMix, MARS.

ADOPT normalises the gradient by the *previous* second moment (so the
current gradient never divides itself), AdEMAMix adds a second, very slow
momentum, MARS feeds Adam a variance-reduced gradient.
"""
import math

import numpy as np

from .optimizer import AdamFamily, Optimizer, check_betas, check_range


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
    (clip_exponent=0.25), so that the hyperparameters can be saved.
    """

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
        k = state["step"]  # steps taken before this one
        state["step"] += 1
        lr, wd, (beta1, beta2) = group["lr"], group["weight_decay"], group["betas"]
        g = -grad if group["maximize"] else grad
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
        m *= beta1
        m += (1.0 - beta1) * u
        param -= lr * m
        v *= beta2
        v += (1.0 - beta2) * (g * g)


class AdEMAMix(Optimizer):
    r"""AdEMAMix: Pagliardini, Ablin, Grangier 2024, "The AdEMAMix Optimizer:
    Better, Faster, Older" (arXiv 2409.03137).

    Adam plus a second, slow momentum m2 (beta3 ~ 0.9999, memory ~10^4 steps)
    that is added with weight alpha and never bias-corrected. Follows
    `optax.contrib.ademamix` (== pytorch_optimizer.AdEMAMix, 2e-16 apart).
    Step t = 1, 2, ...:

        theta <- theta * (1 - lr * weight_decay)          (decoupled decay)
        m1    <- beta1 * m1 + (1 - beta1) * g               (fast momentum)
        v     <- beta2 * v + (1 - beta2) * g^2
        m2    <- beta3_t * m2 + (1 - beta3_t) * g           (slow momentum)
        theta <- theta - lr * [m1 / (1 - beta1^t) + alpha_t * m2] / (sqrt(v / (1 - beta2^t)) + eps)

    With T_alpha_beta3 = None, alpha_t = alpha and beta3_t = beta3. With a
    warm-up length T (the paper uses the total number of steps), both ramp
    up as in the paper: alpha_t = min(t * alpha / T, alpha) and
    beta3_t = min(exp(ln(beta1) ln(beta3) / ((1 - t/T) ln(beta3) + (t/T) ln(beta1))), beta3),
    so that the slow memory grows at a steady pace instead of swamping the
    first steps.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999, 0.9999), alpha=5.0, T_alpha_beta3=None,
                 eps=1e-8, weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, alpha=alpha, T_alpha_beta3=T_alpha_beta3,
                                      eps=eps, weight_decay=weight_decay, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"], count=3)
        check_range(self, "alpha", group["alpha"], low=0.0)
        check_range(self, "eps", group["eps"], low=0.0)
        if group["T_alpha_beta3"] is not None:
            check_range(self, "T_alpha_beta3", group["T_alpha_beta3"], low=1)
            if group["betas"][0] <= 0.0:
                raise ValueError("AdEMAMix: the beta3 warm-up interpolates in log(beta1), so it "
                                 f"needs betas[0] > 0, got {group['betas'][0]!r}")

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param),
                "exp_avg_slow": np.zeros_like(param)}

    @staticmethod
    def schedules(t, group):
        """(alpha_t, beta3_t): the warm-up of the slow momentum's weight and memory."""
        beta1, _, beta3 = group["betas"]
        alpha, T = group["alpha"], group["T_alpha_beta3"]
        if T is None:
            return alpha, beta3
        log1, log3 = math.log(beta1), math.log(beta3)
        beta3_t = math.exp(log1 * log3 / ((1.0 - t / T) * log3 + (t / T) * log1))
        return min(t * alpha / T, alpha), min(beta3_t, beta3)

    def update(self, param, grad, state, group):
        state["step"] += 1
        t, lr = state["step"], group["lr"]
        beta1, beta2, _ = group["betas"]
        alpha_t, beta3_t = self.schedules(t, group)
        g = -grad if group["maximize"] else grad
        if group["weight_decay"]:
            param *= 1.0 - lr * group["weight_decay"]

        m1, v, m2 = state["exp_avg"], state["exp_avg_sq"], state["exp_avg_slow"]
        m1 *= beta1
        m1 += (1.0 - beta1) * g
        v *= beta2
        v += (1.0 - beta2) * (g * g)
        m2 *= beta3_t
        m2 += (1.0 - beta3_t) * g

        denom = np.sqrt(v) / math.sqrt(1.0 - beta2 ** t) + group["eps"]
        param -= lr * ((m1 / (1.0 - beta1 ** t) + alpha_t * m2) / denom)


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
        state["step"] += 1
        t, lr, (beta1, beta2) = state["step"], group["lr"], group["betas"]
        g = -grad if group["maximize"] else grad

        c = g + (group["gamma"] * beta1 / (1.0 - beta1)) * (g - state["last_grad"])
        c_norm = math.sqrt(float((c * c).sum()))
        if c_norm > 1.0:
            c = c / c_norm
        state["last_grad"][...] = g

        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1.0 - beta1) * c
        v *= beta2
        v += (1.0 - beta2) * (c * c)

        denom = np.sqrt(v) / math.sqrt(1.0 - beta2 ** t) + group["eps"]
        if group["weight_decay"]:
            param *= 1.0 - lr * group["weight_decay"]
        param -= (lr / (1.0 - beta1 ** t)) * (m / denom)
