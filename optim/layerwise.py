"""Layer-wise rules: LAMB, LARS, NovoGrad.

Each scales a tensor's whole update by a statistic of that tensor (a norm),
not coordinate by coordinate: every layer moves by a controlled fraction of
its own size, whatever the scale of its gradient. This is what lets large
batches (and large learning rates) train stably. "Layer" means "parameter
tensor": a weight and its bias are two layers.
"""

import numpy as np

from minigrad import backend

from .moments import ema_, ema_square_
from .optimizer import AdamFamily, Optimizer, check_range


def _norm(x):
    """Euclidean norm of a whole tensor, as a 0-d float64 array on x's device.

    Not a Python float: float() of a GPU value waits for the GPU (a sync every
    step). float64, as a Python float would be, so the ratio below loses nothing."""
    return np.sqrt((x * x).sum().astype(np.float64))


def _trust_ratio(param_norm, update_norm, coefficient=1.0, eps=0.0):
    """coefficient * param_norm / (update_norm + eps), or 1 if either norm is 0 (a
    fresh zero tensor still moves). np.where instead of `if`, so that the choice
    is made on the device; the inner where keeps 0/0 out of the discarded branch."""
    usable = (param_norm > 0.0) & (update_norm > 0.0)
    denominator = np.where(usable, update_norm, 1.0) + eps
    return np.where(usable, coefficient * param_norm / denominator, 1.0)


class LAMB(AdamFamily):
    r"""LAMB: You et al. 2020, "Large Batch Optimization for Deep Learning:
    Training BERT in 76 minutes" (ICLR, arXiv 1904.00962).

    Adam's direction, rescaled per tensor so that its length is the tensor's
    own length times lr. Follows the paper, as coded in `optax.lamb` (both
    moments bias-corrected, weight decay inside the trust ratio, no clamp).
    torch_optimizer.Lamb (no bias correction, ratio clamped at 10) and
    pytorch_optimizer.Lamb (only m bias-corrected, decay outside, gradient
    pre-normalisation) are different flavours, ~0.1 apart. Step t = 1, 2, ...:

        m     <- beta1 * m + (1 - beta1) * g ;   v <- beta2 * v + (1 - beta2) * g^2
        r     =  m / (1 - beta1^t) / (sqrt(v / (1 - beta2^t)) + eps) + weight_decay * theta
        ratio =  ||theta|| / ||r||          (1 if either norm is 0: a fresh zero-initialised
                                             tensor still moves)
        theta <- theta - lr * ratio * r
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0,
                 maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, (beta1, beta2) = state["step"], group["betas"]
        m = ema_(state["exp_avg"], grad, beta1)
        v = ema_square_(state["exp_avg_sq"], grad, beta2)
        r = (m / (1.0 - beta1 ** t)) / (np.sqrt(v / (1.0 - beta2 ** t)) + group["eps"])
        if group["weight_decay"]:
            r = r + group["weight_decay"] * param

        ratio = _trust_ratio(_norm(param), _norm(r))
        param -= (group["lr"] * ratio).astype(param.dtype) * r


class LARS(Optimizer):
    r"""LARS: You, Gitman, Ginsburg 2017, "Large Batch Training of
    Convolutional Networks" (arXiv 1708.03888).

    SGD with momentum whose per-tensor learning rate is proportional to
    ||theta|| / ||gradient||. Follows `optax.lars` (torch_optimizer.LARS
    divides by ||g|| + weight_decay * ||theta|| instead, and only when
    weight_decay != 0). Step:

        u     =  g + weight_decay * theta
        ratio =  trust_coefficient * ||theta|| / (||u|| + eps)     (1 if either norm is 0,
                                                                     or if layer_adaptation=False)
        v     <- momentum * v + lr * ratio * u                      (v starts at 0; lr INSIDE the buffer)
        theta <- theta - v             (nesterov: theta <- theta - (lr * ratio * u + momentum * v))

    Common practice (SimCLR, BYOL) excludes biases and normalisation
    parameters from both decay and adaptation: give them a group of their own,
    e.g. {"params": biases, "weight_decay": 0.0, "layer_adaptation": False,
    "lr": 0.01}. Mind that a zero tensor (a fresh bias) has ratio 1: it moves
    by plain SGD with the (large) LARS lr until it is excluded or non-zero.
    """

    weight_decay_form = "coupled"  # u, the decayed gradient, is what the ratio measures

    def __init__(self, params, lr=1.0, momentum=0.9, weight_decay=0.0, trust_coefficient=1e-3,
                 eps=0.0, nesterov=False, layer_adaptation=True, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps,
                                      nesterov=nesterov, layer_adaptation=layer_adaptation,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum", group["momentum"], low=0.0, high=1.0)
        check_range(self, "trust_coefficient", group["trust_coefficient"], low=0.0)
        check_range(self, "eps", group["eps"], low=0.0)

    def init_state(self, param, group):
        return {"momentum_buffer": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        momentum, u = group["momentum"], grad
        if group["layer_adaptation"]:
            ratio = _trust_ratio(_norm(param), _norm(u), group["trust_coefficient"], group["eps"])
            u = (group["lr"] * ratio).astype(u.dtype) * u
        else:
            u = group["lr"] * u

        v = state["momentum_buffer"]
        v *= momentum
        v += u
        param -= u + momentum * v if group["nesterov"] else v


class NovoGrad(AdamFamily):
    r"""NovoGrad: Ginsburg et al. 2019, "Stochastic Gradient Methods with
    Layer-wise Adaptive Moments for Training of Deep Networks" (arXiv
    1905.11286).

    Adam's second moment shrunk to ONE number per tensor (the average
    squared gradient norm), and weight decay added after the normalisation.
    Follows `optax.novograd` (== torch_optimizer.NovoGrad(betas=(0.95, 0.98))
    == pytorch_optimizer.NovoGrad, 3e-16 apart; all with
    grad_averaging=False). Step t = 1, 2, ...:

        v     <- ||g||^2                                  on the first step
        v     <- beta2 * v + (1 - beta2) * ||g||^2        afterwards     (a scalar per tensor: a
                                                          0-d array in the parameter's dtype, on
                                                          its device, as the references keep it)
        u     =  g / (sqrt(v) + eps) + weight_decay * theta
        m     <- beta1 * m + c * u       (c = 1 - beta1 if grad_averaging else 1; m starts at 0)
        theta <- theta - lr * m

    Defaults are the paper's betas (0.95, 0.98); torch_optimizer's default
    beta2 = 0 would make v the last gradient norm alone.
    """

    def __init__(self, params, lr=1e-3, betas=(0.95, 0.98), eps=1e-8, weight_decay=0.0,
                 grad_averaging=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      grad_averaging=grad_averaging, maximize=maximize))

    def init_state(self, param, group):
        # A 0-d array on the parameter's device. Not zeros_like(param, shape=()): CuPy
        # takes an empty shape for "no shape given" and returns param's shape.
        xp = backend.array_module(param)
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": xp.zeros((), param.dtype)}

    def update(self, param, grad, state, group):
        beta1, beta2 = group["betas"]
        g = grad
        norm_sq = (g * g).sum()  # stays on the device: no float(), no sync
        v = state["exp_avg_sq"]  # a 0-d array, in the parameter's dtype
        if state["step"] == 1:
            v[...] = norm_sq
        else:
            v *= beta2
            v += (1.0 - beta2) * norm_sq
        u = g / (np.sqrt(v) + group["eps"])
        if group["weight_decay"]:
            u = u + group["weight_decay"] * param
        if group["grad_averaging"]:
            u = (1.0 - beta1) * u

        m = state["exp_avg"]
        m *= beta1
        m += u
        param -= group["lr"] * m
