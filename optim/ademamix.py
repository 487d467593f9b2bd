"""AdEMAMix: Adam plus a second, very slow momentum (memory ~10^4 steps)."""
import math

import numpy as np

from .moments import ema_, ema_square_
from .optimizer import Optimizer, check_betas, check_range


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

    weight_decay_form = "decoupled"
    optional_hyperparameters = ("T_alpha_beta3",)

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
        t, lr = state["step"], group["lr"]
        beta1, beta2, _ = group["betas"]
        alpha_t, beta3_t = self.schedules(t, group)
        m1 = ema_(state["exp_avg"], grad, beta1)
        v = ema_square_(state["exp_avg_sq"], grad, beta2)
        m2 = ema_(state["exp_avg_slow"], grad, beta3_t)

        denom = np.sqrt(v) / math.sqrt(1.0 - beta2 ** t) + group["eps"]
        param -= lr * ((m1 / (1.0 - beta1 ** t) + alpha_t * m2) / denom)
