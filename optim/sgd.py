"""Gradient descent and SGD with momentum / Nesterov momentum.

Full-batch gradient descent and mini-batch SGD are the same rule; only the
data the gradient is computed on differs (the whole training set, or a
random batch of it):

    # full-batch gradient descent
    opt = SGD(model.parameters(), lr=0.1)
    for epoch in range(100):
        opt.zero_grad(); loss_fn(model(X_all), y_all).backward(); opt.step()

    # mini-batch SGD
    for xb, yb in DataLoader(dataset, batch_size=64, shuffle=True):
        opt.zero_grad(); loss_fn(model(xb), yb).backward(); opt.step()
"""
from minigrad import kernels

from .optimizer import Optimizer, check_range


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    Exactly PyTorch's `torch.optim.SGD`:

        g <- g + weight_decay * theta                 (L2 penalty, "coupled" decay)
        if momentum != 0:
            b <- g                            on the first step (no dampening)
            b <- momentum * b + (1 - dampening) * g   afterwards
            g <- g + momentum * b   if nesterov   else   g <- b
        theta <- theta - lr * g

    With momentum = 0 this is plain gradient descent: theta <- theta - lr * g.
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum", group["momentum"], low=0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")

    def init_state(self, param, group):
        return {"momentum_buffer": None}

    def update(self, param, grad, state, group):
        g, momentum = grad, group["momentum"]
        buffer = state["momentum_buffer"] if momentum else None
        # On a GPU, the same update in one fused kernel (the first momentum step, a copy, stays here).
        if kernels.use_for(param, grad, buffer) and (buffer is not None or not momentum):
            return kernels.sgd_update(param, grad, buffer, group["lr"], momentum,
                                      group["dampening"], group["nesterov"])
        if momentum:
            b = state["momentum_buffer"]
            if b is None:
                b = state["momentum_buffer"] = g.copy()
            else:
                b *= momentum
                b += (1.0 - group["dampening"]) * g
            g = g + momentum * b if group["nesterov"] else b
        param -= group["lr"] * g
