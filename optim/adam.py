"""Adam and its close relatives: AdamW (decoupled weight decay), Adamax (infinity norm)."""
import math

import numpy as np

from minigrad import kernels

from .moments import ema_, ema_square_
from .optimizer import AdamFamily


class Adam(AdamFamily):
    r"""Adam, exactly PyTorch's `torch.optim.Adam` (including amsgrad and decoupled_weight_decay).

    Momentum (a moving average m of the gradient) divided by an RMSprop-style
    moving RMS (v of the squared gradient), both corrected for starting at 0.
    Step t = 1, 2, ...:

        if weight_decay != 0:
            decoupled_weight_decay:  theta <- theta * (1 - lr * weight_decay)   (AdamW)
            else:                    g <- g + weight_decay * theta            (L2 penalty)
        m     <- beta1 * m + (1 - beta1) * g
        v     <- beta2 * v + (1 - beta2) * g^2
        amsgrad:  v_max <- max(v_max, v)  and v_max is used in place of v below
        m_hat = m / (1 - beta1^t)          v_hat = v / (1 - beta2^t)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)      (eps added AFTER the root)

    AMSGrad keeps the maximum of the raw (not bias-corrected) v, as PyTorch
    does; optax's amsgrad takes the maximum of v_hat and follows another path.
    """

    weight_decay_form = "coupled"  # or decoupled, with decoupled_weight_decay=True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def init_state(self, param, group):
        state = {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)
        return state

    def update(self, param, grad, state, group):
        t, lr, (beta1, beta2) = state["step"], group["lr"], group["betas"]
        if kernels.use_for(param, grad, state["exp_avg"], state["exp_avg_sq"]) and not group["amsgrad"]:
            # On a GPU, the same update in one fused kernel (amsgrad stays here).
            return kernels.adam_update(param, grad, state["exp_avg"], state["exp_avg_sq"], lr,
                                       beta1, beta2, group["eps"], t)
        m = ema_(state["exp_avg"], grad, beta1)
        v = ema_square_(state["exp_avg_sq"], grad, beta2)
        if group["amsgrad"]:
            v_max = state["max_exp_avg_sq"]
            v_max[...] = np.maximum(v_max, v)
            v = v_max

        bias_correction1 = 1.0 - beta1 ** t
        bias_correction2 = 1.0 - beta2 ** t
        denom = np.sqrt(v) / math.sqrt(bias_correction2) + group["eps"]  # sqrt(v_hat) + eps
        param -= (lr / bias_correction1) * (m / denom)


class AdamW(Adam):
    r"""AdamW, exactly PyTorch's `torch.optim.AdamW`: Adam with decoupled weight decay.

    With Adam's L2 penalty the decay term goes through the adaptive scaling,
    so heavily-updated weights are barely decayed; AdamW shrinks the weights
    directly instead (Loshchilov & Hutter), before the Adam step:

        theta <- theta * (1 - lr * weight_decay)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)     (Adam, see `Adam`)

    Note the default weight_decay = 1e-2 (Adam's is 0).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)


class Adamax(AdamFamily):
    r"""Adamax, exactly PyTorch's `torch.optim.Adamax`: Adam with an infinity norm.

    The second moment becomes an exponentially weighted maximum of |g|,
    which needs no bias correction:

        g     <- g + weight_decay * theta                  (L2 penalty)
        m     <- beta1 * m + (1 - beta1) * g
        u     <- max(beta2 * u, |g| + eps)                 (eps inside the max)
        theta <- theta - lr / (1 - beta1^t) * m / u
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay, maximize=maximize))

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_inf": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        beta1, beta2 = group["betas"]
        m, u = ema_(state["exp_avg"], grad, beta1), state["exp_inf"]
        u[...] = np.maximum(beta2 * u, np.abs(grad) + group["eps"])
        param -= group["lr"] / (1.0 - beta1 ** state["step"]) * (m / u)
