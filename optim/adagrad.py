"""Adagrad: a per-coordinate learning rate from the sum of squared gradients."""
import numpy as np

from .optimizer import Optimizer, check_range


class Adagrad(Optimizer):
    r"""Adagrad, exactly PyTorch's `torch.optim.Adagrad`.

    Coordinates that have seen large gradients get small steps, rarely
    updated ones keep large steps. Step t = 1, 2, ...:

        g     <- g + weight_decay * theta                  (L2 penalty)
        lr_t  = lr / (1 + (t - 1) * lr_decay)
        s     <- s + g^2                                   (s starts at initial_accumulator_value)
        theta <- theta - lr_t * g / (sqrt(s) + eps)          (eps OUTSIDE the square root)

    The sum only grows, so the effective step only shrinks: fine for convex
    problems, often too aggressive for deep nets (RMSprop replaces the sum
    by a moving average). As in PyTorch, the accumulator exists from
    construction, not from the first step.
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        for group in self.param_groups:  # PyTorch creates Adagrad's state eagerly
            for p in group["params"]:
                self.state[p] = self.init_state(p.data, group)

    def validate(self, group):
        super().validate(group)
        check_range(self, "lr_decay", group["lr_decay"], low=0.0)
        check_range(self, "initial_accumulator_value", group["initial_accumulator_value"], low=0.0)
        check_range(self, "eps", group["eps"], low=0.0)

    def init_state(self, param, group):
        return {"step": 0, "sum": np.full_like(param, group["initial_accumulator_value"])}

    def update(self, param, grad, state, group):
        g = grad
        lr_t = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])

        s = state["sum"]
        s += g * g
        param -= lr_t * (g / (np.sqrt(s) + group["eps"]))
