"""RAdam: Adam with the variance of its adaptive step rectified during warm-up."""
import math

import numpy as np

from .moments import ema_, ema_square_
from .optimizer import AdamFamily


class RAdam(AdamFamily):
    r"""Rectified Adam, exactly PyTorch's `torch.optim.RAdam` (including decoupled_weight_decay).

    In the first steps v is an average of very few squared gradients, so
    Adam's adaptive step has a huge variance. RAdam estimates the length of
    that average (rho_t) and, until it exceeds 5, takes plain momentum-SGD
    steps; afterwards it scales Adam's step by the rectification r_t.
    Step t = 1, 2, ...:

        weight decay as in `NAdam` (L2 penalty, or decoupled)
        m     <- beta1 * m + (1 - beta1) * g
        v     <- beta2 * v + (1 - beta2) * g^2
        m_hat = m / (1 - beta1^t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t   = rho_inf - 2 t beta2^t / (1 - beta2^t)
        if rho_t > 5:
            r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            theta <- theta - lr * m_hat * r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)
        else:
            theta <- theta - lr * m_hat

    Here eps is added to sqrt(v) before the bias correction (PyTorch's form),
    which differs slightly from Adam's sqrt(v_hat) + eps.
    """

    weight_decay_form = "coupled"  # or decoupled, with decoupled_weight_decay=True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, lr, (beta1, beta2) = state["step"], group["lr"], group["betas"]
        m = ema_(state["exp_avg"], grad, beta1)
        v = ema_square_(state["exp_avg_sq"], grad, beta2)
        bias_correction1 = 1.0 - beta1 ** t
        bias_correction2 = 1.0 - beta2 ** t
        m_hat = m / bias_correction1

        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * t * beta2 ** t / bias_correction2
        if rho_t > 5.0:
            r_t = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                            / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            adaptive = math.sqrt(bias_correction2) / (np.sqrt(v) + group["eps"])
            param -= m_hat * lr * adaptive * r_t
        else:
            param -= m_hat * lr
