"""NAdam: Adam with Nesterov momentum (Dozat's momentum schedule)."""
import numpy as np

from .moments import ema_, ema_square_
from .optimizer import AdamFamily, check_range


class NAdam(AdamFamily):
    r"""NAdam, exactly PyTorch's `torch.optim.NAdam` (including decoupled_weight_decay, "NAdamW").

    Nesterov's idea applied to Adam: the step uses the momentum it is about
    to have (mu_{t+1} m) plus the current gradient, instead of m alone.
    Dozat also warms the momentum coefficient up with psi = momentum_decay.
    Step t = 1, 2, ...:

        if weight_decay != 0:
            decoupled_weight_decay:  theta <- theta * (1 - lr * weight_decay)
            else:                    g <- g + weight_decay * theta
        mu_t     = beta1 * (1 - 0.5 * 0.96^(t * psi))
        mu_{t+1} = beta1 * (1 - 0.5 * 0.96^((t + 1) * psi))
        P_t      = mu_1 * mu_2 * ... * mu_t                 (state "mu_product")
        m     <- beta1 * m + (1 - beta1) * g
        v     <- beta2 * v + (1 - beta2) * g^2
        denom = sqrt(v / (1 - beta2^t)) + eps
        theta <- theta - lr * (1 - mu_t) / (1 - P_t) * g / denom
                       - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / denom

    This is Keras' and PyTorch's formula; optax.nadam is a different one
    (constant beta1), so the two do not agree.
    """

    weight_decay_form = "coupled"  # or decoupled, with decoupled_weight_decay=True

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum_decay", group["momentum_decay"], low=0.0)

    def init_state(self, param, group):
        return {"step": 0, "mu_product": 1.0, "exp_avg": np.zeros_like(param),
                "exp_avg_sq": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, g = state["step"], grad
        lr, (beta1, beta2), psi = group["lr"], group["betas"], group["momentum_decay"]

        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] *= mu
        mu_product = state["mu_product"]

        m = ema_(state["exp_avg"], g, beta1)
        v = ema_square_(state["exp_avg_sq"], g, beta2)
        denom = np.sqrt(v / (1.0 - beta2 ** t)) + group["eps"]
        param -= (lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        param -= (lr * mu_next / (1.0 - mu_product * mu_next)) * (m / denom)
