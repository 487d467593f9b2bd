"""Losses that compare input and target value by value, with PyTorch's arguments and
`reduction='mean'|'sum'|'none'` (the class-target losses are in `loss.py`).

Regression: `mse_loss`, `l1_loss`, `smooth_l1_loss`, `huber_loss`, composed
from Tensor ops (their derivatives come from the ops they are made of).
Binary: `binary_cross_entropy` (on probabilities), and
`binary_cross_entropy_with_logits` (on logits: stable, prefer it).
Distributions, counts, labels: `kl_div`, `poisson_nll_loss`,
`multilabel_soft_margin_loss`.
"""
import math
import warnings

import numpy as np

from ..autograd import Function, _as_tensors
from .activation import logsigmoid, softplus
from .elementwise import abs, exp, log, maximum, where
from .loss import _check_reduction, _reduce

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss",
           "multilabel_soft_margin_loss"]


# ------------------------------------------------------------------ regression
def _pair(input, target, op_name):
    input, target = _as_tensors((input, target), op_name)
    if input.shape != target.shape:
        # PyTorch broadcasts with this warning; (N, 1) against (N,) silently
        # becomes (N, N), a classic bug, hence the hint.
        warnings.warn(f"{op_name}: target shape {target.shape} differs from input shape "
                      f"{input.shape}; they will be broadcast, which is likely wrong: reshape "
                      "one to match the other", stacklevel=3)
    return input, target


def mse_loss(input, target, reduction="mean"):
    """(input - target)^2, reduced."""
    _check_reduction(reduction, "mse_loss")
    input, target = _pair(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, reduction="mean"):
    """|input - target|, reduced (gradient sign(input - target), 0 at a tie)."""
    _check_reduction(reduction, "l1_loss")
    input, target = _pair(input, target, "l1_loss")
    return _reduce(abs(input - target), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target):
    quadratic near zero, linear (robust to outliers) beyond beta."""
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    input, target = _pair(input, target, "smooth_l1_loss")
    d = input - target
    if beta == 0:
        return _reduce(abs(d), reduction)  # the quadratic piece has zero width: plain L1
    size = abs(d)
    return _reduce(where(size < beta, d * d * (0.5 / beta), size - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 d^2 where |d| < delta, else delta * (|d| - 0.5 delta): smooth_l1 times delta."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    input, target = _pair(input, target, "huber_loss")
    d = input - target
    size = abs(d)
    return _reduce(where(size < delta, d * d * 0.5, (size - 0.5 * delta) * delta), reduction)


# ---------------------------------------------------------------------- binary
class BinaryCrossEntropy(Function):
    r"""l = -(y log x + (1 - y) log(1 - x)), each log clamped at -100 (PyTorch's
    choice: x = 0 or 1 gives a large finite loss, never inf).

        dl/dx = (x - y) / (x (1 - x))   (denominator floored at 1e-12, as PyTorch)
        dl/dy = log(1 - x) - log(x)"""

    save_inputs, save_outputs = True, False

    def forward(self, x, y):
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped just below
            log_x = np.maximum(np.log(x), -100.0)
            log_1mx = np.maximum(np.log1p(-x), -100.0)
        return -(y * log_x + (1.0 - y) * log_1mx)

    def backward(self, gy):
        x, y = self.inputs
        gx = gy * (x - y) / maximum(x * (1.0 - x), 1e-12) if self.needs_input_grad[0] else None
        gt = None
        if self.needs_input_grad[1]:
            gt = gy * (log(1.0 - x).clip(min=-100.0) - log(x).clip(min=-100.0))
        return gx, gt


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities `input` in [0, 1] against targets
    in [0, 1]; `weight` (broadcastable) rescales each element's loss."""
    _check_reduction(reduction, "binary_cross_entropy")
    input, target = _as_tensors((input, target), "binary_cross_entropy")
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy: target shape {target.shape} must equal input "
                         f"shape {input.shape}")
    if input.numel() and (float(input.data.min()) < 0 or float(input.data.max()) > 1):
        raise ValueError("binary_cross_entropy: all input values must be probabilities in "
                         "[0, 1]; for raw scores (logits) use binary_cross_entropy_with_logits")
    loss = BinaryCrossEntropy()(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    r"""Binary cross-entropy on logits x, stable for any x:

        l = (1 - y) x + (1 + (pos_weight - 1) y) * softplus(-x)

    since -log sigmoid(x) = softplus(-x) = log(1 + e^{-x}) and
    -log(1 - sigmoid(x)) = x + softplus(-x). `pos_weight` (broadcast over the
    last axis, one value per class) multiplies the loss of the positives."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    input, target = _as_tensors((input, target), "binary_cross_entropy_with_logits")
    if input.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: target shape {target.shape} must "
                         f"equal input shape {input.shape}")
    # threshold=inf: the exact log1p form everywhere (no linear cut-over)
    log_one_plus_exp = softplus(-input, threshold=math.inf)
    if pos_weight is not None:
        log_one_plus_exp = log_one_plus_exp * ((pos_weight - 1.0) * target + 1.0)
    loss = (1.0 - target) * input + log_one_plus_exp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ------------------------------------------------------------- distributions, counts, labels
# (PyTorch's deprecated size_average/reduce sit before `reduction` in its signatures:
# here `reduction` is keyword-only, so a positional call written for PyTorch fails loudly.)
def _xlogy(x, y):
    """x * log(y), defined as 0 where x = 0 (PyTorch's xlogy: 0 log 0 = 0)."""
    zero = x.detach() == 0
    return where(zero, 0.0, x * log(where(zero, 1.0, y)))


def kl_div(input, target, *, reduction="mean", log_target=False):
    r"""Kullback-Leibler divergence KL(target || model), with `input` = log-probabilities
    of the model (as PyTorch: the input is already in log space):

        l = target * (log target - input)          (0 where target = 0)
        l = e^target * (target - input)            (log_target=True: target in log space)

    reduction='batchmean' (sum / N) is the true KL per sample; 'mean' divides by the
    number of elements, PyTorch's default, which is rarely what is meant."""
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', got "
                         f"{reduction!r}")
    input, target = _pair(input, target, "kl_div")
    loss = exp(target) * (target - input) if log_target else _xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, *, eps=1e-8, reduction="mean"):
    r"""Negative log-likelihood of counts `target` under a Poisson with rate lambda:

        l = e^input - target * input               (log_input: input = log lambda)
        l = input - target * log(input + eps)      (otherwise: input = lambda)

    full=True adds log(target!) by Stirling, target log target - target +
    log(2 pi target) / 2, for target > 1 (0 elsewhere): constant in the input."""
    _check_reduction(reduction, "poisson_nll_loss")
    input, target = _pair(input, target, "poisson_nll_loss")
    loss = exp(input) - target * input if log_input else input - target * log(input + eps)
    if full:
        t = target.detach()
        big = t > 1
        safe = where(big, t, 1.0)
        stirling = safe * log(safe) - safe + log(safe * (2.0 * math.pi)) * 0.5
        loss = loss + where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, *, reduction="mean"):
    r"""Multi-label one-vs-all loss over C independent classes, for input (N, C) and
    0/1 targets (N, C): the binary cross-entropy of sigmoid(input), averaged over C,

        l_i = -1/C sum_c weight_c (y_ic log sigmoid(x_ic) + (1 - y_ic) log sigmoid(-x_ic))"""
    _check_reduction(reduction, "multilabel_soft_margin_loss")
    input, target = _as_tensors((input, target), "multilabel_soft_margin_loss")
    if input.shape != target.shape or input.ndim not in (1, 2):
        raise ValueError(f"multilabel_soft_margin_loss: input (N, C) or (C,) and target must "
                         f"have the same shape, got {input.shape} and {target.shape}")
    loss = -(target * logsigmoid(input) + (1.0 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.mean(axis=-1), reduction)
