"""AdamP and SGDP: momentum rules that stop growing scale-invariant weights.

A weight followed by a normalisation layer (BatchNorm, LayerNorm) is
scale-invariant: the loss depends on its direction only, so its gradient is
orthogonal to it. Momentum then still pushes it outward, the norm grows,
and the effective step lr / ||w|| shrinks too early. AdamP/SGDP detect such
weights (gradient nearly orthogonal to the weight) and remove the radial
part of the update.
"""
import math

import numpy as np

from minigrad import backend

from .moments import ema_, ema_square_
from .optimizer import AdamFamily, Optimizer, check_range


def project_radial(param, grad, update, delta, wd_ratio, eps):
    r"""Heo et al.'s projection, per output channel first, then per tensor.

    For a view of the arrays as rows (channel view: one row per output
    channel, i.e. per index of axis 0; layer view: a single row):

        cos = |<theta_r, g_r>| / ((||g_r|| + eps) (||theta_r|| + eps))    per row r
        if max_r cos < delta / sqrt(row length):      (g orthogonal to theta: scale-invariant)
            theta_hat = theta_r / (||theta_r|| + eps)
            update_r <- update_r - <theta_hat, update_r> theta_hat      (drop the radial part)
            and weight decay is multiplied by wd_ratio

    The first view that detects scale invariance is used. Tensors with fewer
    than 2 dimensions (biases) are never projected. Returns (update, ratio),
    ratio a 0-d float64 array on the device.
    """
    # A 0-d array on param's device (not ones_like(param, shape=()): CuPy reads () as no shape)
    ratio = backend.array_module(param).ones((), np.float64)
    if param.ndim < 2:
        return update, ratio
    # Both views are tested and the choice is made by np.where, on the device: an
    # `if` on a device value would make every step wait for the GPU. The layer view
    # goes first, so the channel view, when it detects, overrides it.
    projected = update
    for rows in (1, param.shape[0]):  # layer-wise, then channel-wise (which wins)
        p, g = param.reshape(rows, -1), grad.reshape(rows, -1)
        p_norm = np.sqrt((p * p).sum(axis=1, keepdims=True)) + eps   # (rows, 1)
        g_norm = np.sqrt((g * g).sum(axis=1, keepdims=True)) + eps   # (rows, 1)
        cosine = np.abs((p * g).sum(axis=1, keepdims=True)) / g_norm / p_norm
        # float64, as the threshold is: comparing in float32 could flip a borderline case
        invariant = cosine.max().astype(np.float64) < delta / math.sqrt(p.shape[1])
        p_hat = p / p_norm
        u = update.reshape(rows, -1)
        u = u - p_hat * (p_hat * u).sum(axis=1, keepdims=True)
        projected = np.where(invariant, u.reshape(param.shape), projected)
        ratio = np.where(invariant, wd_ratio, ratio)
    return projected, ratio


class AdamP(AdamFamily):
    r"""AdamP: Heo, Chun, Oh, Han, Yun, Kim, Uh, Ha 2021, "AdamP: Slowing Down
    the Slowdown for Momentum Optimizers on Scale-invariant Weights" (ICLR,
    arXiv 2006.08217).

    Follows `torch_optimizer.AdamP` (the official `adamp` code;
    pytorch_optimizer.AdamP differs by 3e-6, from where eps enters the
    cosine). Step t = 1, 2, ...:

        m, v  <- Adam's moments of g
        u     =  m / (sqrt(v / (1 - beta2^t)) + eps)        (nesterov: (beta1 m + (1 - beta1) g) instead of m)
        u, r  =  project_radial(theta, g, u)                 (r = wd_ratio if projected, else 1)
        theta <- theta * (1 - lr * weight_decay * r)         (decoupled decay)
        theta <- theta - lr / (1 - beta1^t) * u
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 delta=0.1, wd_ratio=0.1, nesterov=False, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      delta=delta, wd_ratio=wd_ratio, nesterov=nesterov,
                                      maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "delta", group["delta"], low=0.0)
        check_range(self, "wd_ratio", group["wd_ratio"], low=0.0)

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, lr, (beta1, beta2), g = state["step"], group["lr"], group["betas"], grad
        m = ema_(state["exp_avg"], g, beta1)
        v = ema_square_(state["exp_avg_sq"], g, beta2)
        denom = np.sqrt(v) / math.sqrt(1.0 - beta2 ** t) + group["eps"]
        direction = beta1 * m + (1.0 - beta1) * g if group["nesterov"] else m
        u, ratio = project_radial(param, g, direction / denom, group["delta"],
                                  group["wd_ratio"], group["eps"])

        if group["weight_decay"]:
            param *= (1.0 - lr * group["weight_decay"] * ratio).astype(param.dtype)
        param -= (lr / (1.0 - beta1 ** t)) * u


class SGDP(Optimizer):
    r"""SGDP: SGD with momentum and AdamP's projection (same paper as AdamP).

    Follows `torch_optimizer.SGDP` (== the official `adamp.SGDP` and
    pytorch_optimizer.SGDP exactly). Step:

        b     <- momentum * b + (1 - dampening) * g      (b starts at 0)
        u     =  g + momentum * b   if nesterov   else   b
        u, r  =  project_radial(theta, g, u)          (without nesterov, u IS b: the buffer
                                                       itself is projected, as in the reference)
        theta <- theta * (1 - lr * weight_decay * r / (1 - momentum))
                          (decoupled; the 1 / (1 - momentum) matches decay to the momentum's gain)
        theta <- theta - lr * u
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, eps=1e-8, weight_decay=0.0,
                 delta=0.1, wd_ratio=0.1, nesterov=False, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, eps=eps,
                                      weight_decay=weight_decay, delta=delta, wd_ratio=wd_ratio,
                                      nesterov=nesterov, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum", group["momentum"], low=0.0, high=1.0)
        check_range(self, "dampening", group["dampening"], low=0.0, high=1.0, high_inclusive=True)
        check_range(self, "eps", group["eps"], low=0.0)
        check_range(self, "delta", group["delta"], low=0.0)
        check_range(self, "wd_ratio", group["wd_ratio"], low=0.0)

    def init_state(self, param, group):
        return {"momentum_buffer": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        lr, momentum, g = group["lr"], group["momentum"], grad

        b = state["momentum_buffer"]
        b *= momentum
        b += (1.0 - group["dampening"]) * g
        direction = g + momentum * b if group["nesterov"] else b
        u, ratio = project_radial(param, g, direction, group["delta"], group["wd_ratio"],
                                  group["eps"])
        if not group["nesterov"]:
            b[...] = u  # as the reference: the buffer itself is projected, forgetting the radial part

        if group["weight_decay"]:
            decay = 1.0 - lr * group["weight_decay"] * ratio / (1.0 - momentum)
            param *= decay.astype(param.dtype)
        param -= lr * u
