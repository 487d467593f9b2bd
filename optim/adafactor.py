"""Adafactor: Adam-like scaling with a factored (row x column) second moment."""
import math

import numpy as np

from .moments import ema_
from .optimizer import Optimizer, check_range


def _rms(x):
    """Root mean square of all entries, as a 0-d float64 array on x's device
    (float64 as a Python float would be; not a Python float, whose float() would
    make the step wait for the GPU)."""
    return np.sqrt((x * x).sum().astype(np.float64) / max(x.size, 1))


class Adafactor(Optimizer):
    r"""Adafactor, exactly PyTorch's `torch.optim.Adafactor` flavour.

    For an (R, C) weight, storing v costs R*C numbers; Adafactor keeps only
    its row means r (R numbers) and column means c (C numbers) and rebuilds
    v from their outer product. There is no first moment. Step t = 1, 2, ...:

        1 - beta2_t = t^beta2_decay            (t = 1 gives 1: v starts at g^2)
        rho_t   = min(lr, 1 / sqrt(t))         (relative step size, capped by lr)
        alpha_t = max(eps2, RMS(theta)) * rho_t  (steps relative to the weights' scale)
        theta <- theta * (1 - lr * weight_decay) (decoupled; with lr, not rho_t)
        if theta has 2 or more dims (factored over the LAST TWO):
            r <- beta2_t * r + (1 - beta2_t) * mean_over_columns(g^2)     shape (..., R, 1)
            c <- beta2_t * c + (1 - beta2_t) * mean_over_rows(g^2)        shape (..., 1, C)
            v_hat = r @ c / max(mean(r), eps1)
        else:
            v <- beta2_t * v + (1 - beta2_t) * g^2 ;  v_hat = v
        U = g / sqrt(max(v_hat, eps1^2))
        theta <- theta - alpha_t / max(1, RMS(U) / d) * U      (update clipping at d)

    eps = (eps1, eps2); eps1 = None means the dtype's machine epsilon.
    RMS(theta) is taken before the weight decay. Other flavours differ: the
    paper, fairseq and HuggingFace add eps1 to g^2 before averaging; optax
    factors the two largest dims and only when they are >= 128. The weight
    decay stays in these equations: RMS(theta) must be taken before it.
    """

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                 weight_decay=0.0, maximize=False):
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d,
                                      weight_decay=weight_decay, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "beta2_decay", group["beta2_decay"], high=0.0, high_inclusive=True)
        eps1, eps2 = group["eps"]
        if eps1 is not None:
            check_range(self, "eps[0]", eps1, low=0.0)
        check_range(self, "eps[1]", eps2, low=0.0)
        check_range(self, "d", group["d"], low=1.0)

    def init_state(self, param, group):
        if param.ndim >= 2:
            return {"step": 0,
                    "row_var": np.zeros_like(param[..., :1]),      # (..., R, 1)
                    "col_var": np.zeros_like(param[..., :1, :])}   # (..., 1, C)
        return {"step": 0, "variance": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, lr, d, wd, g = state["step"], group["lr"], group["d"], group["weight_decay"], grad
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(param.dtype).eps)

        one_minus_beta2 = t ** group["beta2_decay"]
        rho = min(lr, 1.0 / math.sqrt(t))
        alpha = np.maximum(eps2, _rms(param)) * rho
        if wd:
            param *= 1.0 - lr * wd

        g2 = g * g
        if param.ndim >= 2:
            r, c = state["row_var"], state["col_var"]
            ema_(r, g2.mean(axis=-1, keepdims=True), 1.0 - one_minus_beta2)
            ema_(c, g2.mean(axis=-2, keepdims=True), 1.0 - one_minus_beta2)
            v_hat = (r @ c) / np.maximum(r.mean(axis=-2, keepdims=True), eps1)  # (..., R, C)
        else:
            v_hat = ema_(state["variance"], g2, 1.0 - one_minus_beta2)

        u = g / np.sqrt(np.maximum(v_hat, eps1 * eps1))
        param -= (alpha / np.maximum(1.0, _rms(u) / d)).astype(param.dtype) * u
