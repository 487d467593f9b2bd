"""AggMo: several momentum buffers with different decay rates, averaged."""
import numpy as np

from .optimizer import Optimizer, check_range


class AggMo(Optimizer):
    r"""Aggregated Momentum (AggMo): Lucas, Sun, Zemel, Grosse 2019,
    "Aggregated Momentum: Stability Through Passive Damping" (ICLR, arXiv
    1804.00325).

    Follows `torch_optimizer.AggMo` (== `pytorch_optimizer.AggMo` exactly).
    K = len(betas) velocity buffers, each a classic (undamped) momentum
    with its own beta; the step is their average:

        g     <- g + weight_decay * theta              (L2 penalty)
        v_i   <- beta_i * v_i + g        for i = 1..K   (v_i start at 0)
        theta <- theta - (lr / K) * sum_i v_i

    Large betas travel fast along low-curvature directions; the small ones
    damp the oscillations a single large beta would cause. betas = (0,)
    is plain gradient descent, betas = (mu,) is SGD with momentum mu
    (PyTorch's, up to its first-step buffer).
    """

    weight_decay_form = "coupled"

    def __init__(self, params, lr=1e-3, betas=(0.0, 0.9, 0.99), weight_decay=0.0,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        if len(group["betas"]) == 0:
            raise ValueError("AggMo: betas must hold at least one momentum value, e.g. (0.0, 0.9, 0.99)")
        for i, beta in enumerate(group["betas"]):
            check_range(self, f"betas[{i}]", beta, low=0.0, high=1.0)

    def init_state(self, param, group):
        return {"momentum_buffers": [np.zeros_like(param) for _ in group["betas"]]}

    def update(self, param, grad, state, group):
        buffers = state["momentum_buffers"]
        for beta, v in zip(group["betas"], buffers):
            v *= beta
            v += grad
        param -= (group["lr"] / len(buffers)) * sum(buffers)
