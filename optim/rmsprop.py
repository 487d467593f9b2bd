"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""
import numpy as np

from minigrad import kernels

from .moments import ema_, ema_square_
from .optimizer import Optimizer, check_range


class RMSprop(Optimizer):
    r"""RMSprop, exactly PyTorch's `torch.optim.RMSprop`.

    Adagrad's ever-growing sum replaced by an exponential moving average, so
    old gradients are forgotten and the step size does not decay to zero:

        g     <- g + weight_decay * theta                  (L2 penalty)
        v     <- alpha * v + (1 - alpha) * g^2
        centered:  gbar <- alpha * gbar + (1 - alpha) * g
                   a = sqrt(v - gbar^2) + eps              (a running standard deviation)
        else:      a = sqrt(v) + eps                       (eps OUTSIDE the square root)
        momentum > 0:  b <- momentum * b + g / a ;  theta <- theta - lr * b
        else:          theta <- theta - lr * g / a

    Beware other libraries' defaults: Keras/TF/optax use alpha (their
    "decay"/"rho") = 0.9, put eps inside the square root and lr inside the
    momentum buffer, so their numbers differ from these.
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "alpha", group["alpha"], low=0.0)
        check_range(self, "eps", group["eps"], low=0.0)
        check_range(self, "momentum", group["momentum"], low=0.0)

    def init_state(self, param, group):
        state = {"step": 0, "square_avg": np.zeros_like(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param)
        return state

    def update(self, param, grad, state, group):
        g, alpha, eps = grad, group["alpha"], group["eps"]
        buffer = state["momentum_buffer"] if group["momentum"] > 0 else None
        if kernels.use_for(param, grad, state["square_avg"], buffer) and not group["centered"]:
            # On a GPU, the same update in one fused kernel (centered stays here).
            return kernels.rmsprop_update(param, grad, state["square_avg"], buffer, group["lr"],
                                          alpha, eps, group["momentum"])
        v = ema_square_(state["square_avg"], g, alpha)
        if group["centered"]:
            gbar = ema_(state["grad_avg"], g, alpha)
            a = np.sqrt(v - gbar * gbar) + eps
        else:
            a = np.sqrt(v) + eps

        if group["momentum"] > 0:
            b = state["momentum_buffer"]
            b *= group["momentum"]
            b += g / a
            param -= group["lr"] * b
        else:
            param -= group["lr"] * (g / a)
