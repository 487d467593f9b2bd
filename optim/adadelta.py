"""Adadelta: RMSprop with the step's units fixed by a running average of past steps."""
import numpy as np

from .moments import ema_square_
from .optimizer import Optimizer, check_range


class Adadelta(Optimizer):
    r"""Adadelta, exactly PyTorch's `torch.optim.Adadelta`.

    Zeiler noticed that g / sqrt(E[g^2]) has no units; multiplying it by the
    RMS of recent updates gives steps with the units of theta, so the method
    needs no learning rate in the paper (PyTorch keeps lr, default 1.0):

        g     <- g + weight_decay * theta                  (L2 penalty)
        v     <- rho * v + (1 - rho) * g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g          (eps INSIDE both roots; old u)
        u     <- rho * u + (1 - rho) * delta^2               (accumulates delta before lr)
        theta <- theta - lr * delta
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "rho", group["rho"], low=0.0, high=1.0, high_inclusive=True)
        check_range(self, "eps", group["eps"], low=0.0)

    def init_state(self, param, group):
        return {"step": 0, "square_avg": np.zeros_like(param), "acc_delta": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        v = ema_square_(state["square_avg"], grad, rho)
        u = state["acc_delta"]
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * grad
        ema_square_(u, delta, rho)
        param -= group["lr"] * delta
