"""Averaged SGD (Polyak-Ruppert averaging).

Plain SGD's iterate keeps bouncing around the minimum of a noisy objective;
the running average of the iterates settles much closer to it. ASGD runs SGD
with a slowly decaying step size and keeps that average alongside, in
`optimizer.state[p]["ax"]`: copy it into the parameters for evaluation.
"""
import numpy as np

from .optimizer import Optimizer, check_range


class ASGD(Optimizer):
    r"""Averaged stochastic gradient descent, exactly PyTorch's `torch.optim.ASGD`.

    State per parameter: the step size eta (starts at lr), the averaging
    weight mu (starts at 1) and the average ax (starts at 0). Step t = 1, 2, ...:

        g     <- g + weight_decay * theta                 (L2 penalty)
        theta <- theta * (1 - lambd * eta) - eta * g        (SGD, shrunk by lambd)
        ax    <- ax + mu * (theta - ax)                   (ax <- theta while mu = 1)
        eta   <- lr / (1 + lambd * lr * t) ** alpha         (used by the NEXT step)
        mu    <- 1 / max(1, t - t0)                       (averaging starts after t0 steps)

    With the default t0 = 1e6 no averaging happens in practice (ax just
    tracks theta); set t0 to the step where averaging should begin.
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
                 maximize=False):
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "lambd", group["lambd"], low=0.0)

    def init_state(self, param, group):
        return {"step": 0, "eta": float(group["lr"]), "mu": 1.0, "ax": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t = state["step"]
        eta, lr, lambd = state["eta"], group["lr"], group["lambd"]
        param *= 1.0 - lambd * eta
        param -= eta * grad

        ax = state["ax"]
        if state["mu"] != 1.0:
            ax += state["mu"] * (param - ax)
        else:
            ax[...] = param  # the average of one iterate is that iterate

        state["eta"] = lr / (1.0 + lambd * lr * t) ** group["alpha"]
        state["mu"] = 1.0 / max(1.0, t - group["t0"])
