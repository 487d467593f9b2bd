"""Rprop: resilient backpropagation, a step size per weight driven by signs."""
import numpy as np

from .optimizer import Optimizer, check_range


class Rprop(Optimizer):
    r"""Resilient backpropagation (the iRprop- variant), exactly PyTorch's `torch.optim.Rprop`.

    Only the SIGN of the gradient is used. Each weight has its own step size
    Delta (starting at lr) that grows while the gradient keeps its sign and
    shrinks when the sign flips (we jumped over a minimum):

        s     = sign(g * g_prev)
        Delta <- clip(Delta * eta_plus,  Delta_min, Delta_max)   where s > 0
        Delta <- clip(Delta * eta_minus, Delta_min, Delta_max)   where s < 0
        g     <- 0                                             where s < 0
        theta <- theta - sign(g) * Delta
        g_prev <- g

    Zeroing g after a sign flip skips that weight's move for one step and
    keeps the next step from counting the flip again (iRprop-; no weight
    backtracking). Rprop is meant for full-batch gradients: mini-batch noise
    flips signs at random. No weight decay argument, as in PyTorch.
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), maximize=False):
        super().__init__(params, dict(lr=lr, etas=etas, step_sizes=step_sizes,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        eta_minus, eta_plus = group["etas"]
        if not 0.0 < eta_minus < 1.0 < eta_plus:
            raise ValueError(f"Rprop: invalid etas = {group['etas']!r}; they must satisfy "
                             "0 < eta_minus < 1 < eta_plus (e.g. (0.5, 1.2))")
        step_min, step_max = group["step_sizes"]
        check_range(self, "step_sizes[0]", step_min, low=0.0)
        if step_max < step_min:
            raise ValueError(f"Rprop: invalid step_sizes = {group['step_sizes']!r}; the "
                             "minimum must not exceed the maximum")

    def init_state(self, param, group):
        return {"step": 0, "prev": np.zeros_like(param),
                "step_size": np.full_like(param, group["lr"])}

    def update(self, param, grad, state, group):
        eta_minus, eta_plus = group["etas"]
        step_min, step_max = group["step_sizes"]
        step_size = state["step_size"]

        s = np.sign(grad * state["prev"])
        # same sign as last step: speed up; sign flipped: we overshot, slow down.
        # np.where, not step_size[s > 0] *= ...: a boolean mask would wait for the GPU.
        factor = np.where(s > 0, eta_plus, np.where(s < 0, eta_minus, 1.0))
        step_size *= factor.astype(step_size.dtype)
        step_size[...] = np.clip(step_size, step_min, step_max)

        g = np.where(s < 0, 0.0, grad)
        param -= np.sign(g) * step_size
        state["prev"][...] = g
