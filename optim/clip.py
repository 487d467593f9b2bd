r"""Gradient clipping, between `loss.backward()` and `optimizer.step()`:

    loss.backward()
    optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
    opt.step()

Norm clipping (Pascanu et al. 2013) rescales all gradients together when
their joint norm is too large, keeping the update's direction: a rare huge
gradient (an exploding RNN step, a bad batch) then can't throw the weights
far away. Value clipping clamps each entry independently, which changes the
direction. Both act on `.grad` in place, as torch.nn.utils does.
"""
import math
from numbers import Real

import numpy as np

from minigrad import Tensor, backend


def _param_list(parameters):
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(x, p):
    r"""||x||_p of all entries: max |x| for p = inf, (sum |x|^p)^(1/p) else."""
    xp = backend.array_module(x)
    a = xp.abs(x)
    if p == math.inf:
        norm = a.max() if a.size else xp.zeros((), dtype=x.dtype)
    elif p == 1.0:
        norm = a.sum()
    elif p == 2.0:
        norm = xp.sqrt((a * a).sum())
    else:
        norm = (a ** p).sum() ** (1.0 / p)
    return xp.asarray(norm)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    r"""Scale all gradients together so that their joint norm is at most
    max_norm; return the joint norm before clipping (a 0-d Tensor).

        total = || (||g_1||_p, ||g_2||_p, ...) ||_p    (= ||all entries||_p)
        g_i  <- g_i * min(1, max_norm / (total + 1e-6))

    Exactly torch.nn.utils.clip_grad_norm_: the 1e-6 keeps the division safe
    when total = 0, and means gradients are already scaled (by a factor just
    below 1) when total is within 1e-6 of max_norm. `norm_type` is p > 0 or
    math.inf (max |g|). Parameters without a gradient are skipped. With
    error_if_nonfinite=True a nan/inf total raises instead of turning every
    gradient into nan.

    On a GPU nothing is read back to the host: the norm is returned as a 0-d
    tensor on the gradients' device and the scaling is computed there (call
    `.item()` on it only when you need to print it). error_if_nonfinite=True
    is the exception: deciding to raise needs the norm on the host, a sync
    every call (as in PyTorch). `foreach` is accepted for PyTorch's signature;
    there is one implementation, so it changes nothing.
    """
    params = _param_list(parameters)
    check_positive(max_norm, "clip_grad_norm_", "max_norm")
    norm_type = float(norm_type)
    if not (norm_type > 0):  # also rejects nan
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or math.inf (2.0 is the "
                         f"Euclidean norm), got {norm_type!r}")
    grads = [p.grad.data for p in params if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    device = next(p.grad.device for p in params if p.grad is not None)
    xp = backend.xp_of_device(device)
    # per-tensor norms first (torch's order), moved to the first grad's device
    norms = [backend.to_device(_vector_norm(g, norm_type), device) for g in grads]
    total = _vector_norm(xp.stack(norms), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients "
                           f"is {float(total)}, so they can't be clipped. Find where the nan/inf "
                           "comes from (learning rate, log of 0, ...), or pass "
                           "error_if_nonfinite=False to scale by it anyway")
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)  # stays in the grads' dtype
    with np.errstate(invalid="ignore"):  # an inf entry times a 0 coef is nan, as in torch
        for g in grads:
            g *= backend.to_device(coef, backend.device_of_array(g))  # times 1.0 when not clipping
    return Tensor._wrap(total, device)


def clip_grad_value_(parameters, clip_value, foreach=None):
    r"""Clamp every gradient entry to [-clip_value, clip_value], in place:

        g <- min(max(g, -clip_value), clip_value)

    as torch.nn.utils.clip_grad_value_. Parameters without a gradient are
    skipped. No host sync on a GPU; `foreach` is accepted for PyTorch's
    signature and changes nothing."""
    params = _param_list(parameters)
    check_positive(clip_value, "clip_grad_value_", "clip_value")
    clip_value = float(clip_value)
    for p in params:
        if p.grad is not None:
            xp = backend.array_module(p.grad.data)
            xp.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)


def check_positive(value, fn, name):
    if not isinstance(value, Real) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{fn}: {name} must be a non-negative number, got {value!r}")
