"""Quasi-hyperbolic momentum: QHM and QHAdam.

Ma & Yarats 2019, "Quasi-hyperbolic momentum and Adam" (ICLR, arXiv
1810.06801). The step is a weighted average of the plain gradient and the
momentum, with weight nu on the momentum:

    step = (1 - nu) * g + nu * momentum

nu = 1 gives ordinary (averaged) momentum, nu = 0 plain SGD; many rules are
special cases (Nesterov momentum is QHM with nu = momentum).
"""
import numpy as np

from .moments import ema_, ema_square_
from .optimizer import AdamFamily, Optimizer, check_range


class QHM(Optimizer):
    r"""Quasi-hyperbolic momentum (QHM), Ma & Yarats 2019.

    Follows `torch_optimizer.QHM` (which `pytorch_optimizer.QHM` matches to
    2e-18). Step:

        g     <- g + weight_decay * theta               (L2; or theta <- theta * (1 - lr * weight_decay)
                                                         if decoupled_weight_decay)
        b     <- momentum * b + (1 - momentum) * g      (an average; b starts at 0)
        theta <- theta - lr * [(1 - nu) * g + nu * b]

    Defaults are the paper's recommendation (momentum = 0.999, nu = 0.7);
    torch_optimizer defaults to momentum = 0 (plain SGD) and
    pytorch_optimizer to nu = 1 (averaged momentum), so pass both explicitly
    when comparing.
    """

    weight_decay_form = "coupled"  # or decoupled, with decoupled_weight_decay=True

    def __init__(self, params, lr=1e-3, momentum=0.999, nu=0.7, weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, nu=nu, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum", group["momentum"], low=0.0, high=1.0)
        check_range(self, "nu", group["nu"], low=0.0, high=1.0, high_inclusive=True)

    def init_state(self, param, group):
        return {"momentum_buffer": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        g, nu = grad, group["nu"]
        b = ema_(state["momentum_buffer"], g, group["momentum"])
        param -= group["lr"] * ((1.0 - nu) * g + nu * b)


class QHAdam(AdamFamily):
    r"""Quasi-hyperbolic Adam (QHAdam), Ma & Yarats 2019.

    QHM's averaging applied to both of Adam's moments. Follows
    `torch_optimizer.QHAdam` (which writes the bias correction with an
    equivalent running-weight trick; this is the textbook form). Step
    t = 1, 2, ...:

        g     <- g + weight_decay * theta       (L2; or decoupled, see QHM)
        m     <- beta1 * m + (1 - beta1) * g ;     m_hat = m / (1 - beta1^t)
        v     <- beta2 * v + (1 - beta2) * g^2 ;   v_hat = v / (1 - beta2^t)
        theta <- theta - lr * [(1 - nu1) * g + nu1 * m_hat]
                            / (sqrt((1 - nu2) * g^2 + nu2 * v_hat) + eps)

    nus = (1, 1) is exactly Adam. Defaults are the paper's recommendation
    (betas = (0.995, 0.999), nus = (0.7, 1.0)); torch_optimizer defaults to
    betas = (0.9, 0.999), nus = (1, 1), i.e. Adam.
    """

    weight_decay_form = "coupled"  # or decoupled, with decoupled_weight_decay=True

    def __init__(self, params, lr=1e-3, betas=(0.995, 0.999), nus=(0.7, 1.0), eps=1e-8,
                 weight_decay=0.0, decoupled_weight_decay=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, nus=nus, eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        if len(group["nus"]) != 2:
            raise ValueError(f"QHAdam: hyperparameter nus = {group['nus']!r} must have 2 values")
        for i, nu in enumerate(group["nus"]):
            check_range(self, f"nus[{i}]", nu, low=0.0, high=1.0, high_inclusive=True)

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, g = state["step"], grad
        (beta1, beta2), (nu1, nu2) = group["betas"], group["nus"]
        m = ema_(state["exp_avg"], g, beta1)
        v = ema_square_(state["exp_avg_sq"], g, beta2)
        m_hat = m / (1.0 - beta1 ** t)
        v_hat = v / (1.0 - beta2 ** t)

        numerator = (1.0 - nu1) * g + nu1 * m_hat
        denominator = np.sqrt((1.0 - nu2) * (g * g) + nu2 * v_hat) + group["eps"]
        param -= group["lr"] * (numerator / denominator)
