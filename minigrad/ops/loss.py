"""Loss functions over classes, with PyTorch's arguments and `reduction='mean'|'sum'|'none'`.

Classification over C classes: `cross_entropy` (fused log-softmax + negative
log-likelihood; integer targets or class probabilities, label smoothing) and
`nll_loss` (on log-probabilities). The losses that compare input and target value
by value (regression, binary, distributions) are in `loss_pointwise.py`; both
share `_check_reduction` and `_reduce` from here.
"""

import numpy as np

from .. import backend, kernels
from ..autograd import Function, _as_tensors, is_grad_enabled
from ..tensor import Tensor
from .reduce import log_softmax, softmax

__all__ = ["cross_entropy", "nll_loss"]


def _check_reduction(reduction, op_name):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op_name}: reduction must be 'mean', 'sum' or 'none', got "
                         f"{reduction!r}")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


# ------------------------------------------------------------- class targets
class ClassTargets:
    """Integer targets (N, d1, ...) for scores (N, C, d1, ...), checked once.

    Holds `target` (ignored entries replaced by class 0, so it can index),
    `keep` (False where target == ignore_index), `class_weight` (C,) or None,
    and `sample_weight` = class_weight[target] * keep: the weight w_i of each
    sample, whose sum `weight_sum` is what a weighted mean divides by (as
    PyTorch does)."""

    def __init__(self, scores, target, weight, ignore_index, op_name):
        _as_tensors([scores] + [v for v in (target, weight) if isinstance(v, Tensor)],
                    op_name)  # a target or weight Tensor on another device: a clear error
        xp = scores.xp
        target = target.data if isinstance(target, Tensor) else xp.asarray(target)
        if target.dtype.kind not in "iu":
            raise TypeError(f"{op_name}: target must hold integer class indices, got dtype "
                            f"{target.dtype} (shape {target.shape}); convert it with "
                            ".astype(minigrad.int64)")
        expected = scores.shape[:1] + scores.shape[2:]
        if scores.ndim < 2 or target.shape != expected:
            raise ValueError(f"{op_name}: input of shape {scores.shape} (N, C, d1, ...) needs a "
                             f"target of shape {expected} (N, d1, ...), got {target.shape}")
        num_classes = scores.shape[1]
        self.given, self.ignore_index = target, ignore_index  # as given, for the fused kernel
        self.keep = target != ignore_index
        self.invalid = None  # on a GPU without value checks: a 0-d "some target is out of range"
        if backend.checks_values(target):
            _check_class_range(target[self.keep], num_classes, ignore_index, op_name)
        else:  # reading the targets back would stall the GPU: a bad target makes the loss NaN
            self.invalid = xp.any(self.keep & ((target < 0) | (target >= num_classes)))
        self.target = xp.where(self.keep, target, 0)
        if self.invalid is not None:  # unchecked targets still index safely; the loss says NaN
            self.target = xp.clip(self.target, 0, num_classes - 1)
        self.class_weight = None
        if weight is not None:
            weight = weight.data if isinstance(weight, Tensor) else xp.asarray(weight)
            if weight.shape != (num_classes,):
                raise ValueError(f"{op_name}: weight must have shape ({num_classes},), one "
                                 f"value per class, got {weight.shape}")
            self.class_weight = weight.astype(scores.dtype)
            self.sample_weight = self.class_weight[self.target] * self.keep
        else:
            self.sample_weight = self.keep.astype(scores.dtype)
        self.weight_sum = self.sample_weight.sum()  # a 0-d array: no host sync

    def pick(self, scores):
        """scores[i, target_i] for every sample i: (N, C, d...) -> (N, d...)."""
        picked = np.take_along_axis(scores, self.target[:, None], axis=1)[:, 0]
        if self.invalid is not None:  # some target was out of range: poison the loss
            picked = backend.array_module(picked).where(self.invalid, np.nan, picked)
        return picked

    def one_hot(self, shape, dtype):
        """onehot[i, c] = (c == target_i), for scores of `shape` (N, C, d...) and `dtype`."""
        xp = backend.array_module(self.target)
        classes = xp.arange(shape[1]).reshape((1, -1) + (1,) * (len(shape) - 2))
        return (classes == self.target[:, None]).astype(dtype)

    def class_weight_column(self, scores):
        """class_weight reshaped (1, C, 1, ...) to broadcast against scores."""
        return self.class_weight.reshape((1, -1) + (1,) * (scores.ndim - 2))


def _check_class_range(valid, num_classes, ignore_index, op_name):
    """Every (non-ignored) target must be a class index in [0, num_classes)."""
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= num_classes):
        raise IndexError(f"{op_name}: target values must be class indices in [0, "
                         f"{num_classes}) (or ignore_index={ignore_index}), got values "
                         f"from {int(valid.min())} to {int(valid.max())}; on a GPU this check "
                         "runs only with minigrad.cuda.set_value_checks(True)")


def _reduce_array(loss, reduction, denominator):
    """Reduce a per-sample loss array; 'mean' divides by `denominator` (sum of the weights)."""
    xp = backend.array_module(loss)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return xp.asarray(loss.sum())
    with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: 0 / 0 = nan, as PyTorch
        return xp.asarray(loss.sum() / denominator)


def _unreduce_grad(gy, reduction, denominator):
    """The upstream gradient as a per-sample factor, broadcastable to (N, C, d...)."""
    if reduction == "none":
        return gy.unsqueeze(1)
    if reduction == "sum":
        return gy
    return gy / Tensor._wrap(denominator, gy.device)


class CrossEntropy(Function):
    r"""Fused log-softmax + negative log-likelihood over axis 1 (the classes).

    With p = log_softmax(x), a per-sample weight w_i = weight[y_i] (0 for
    ignored samples) and label smoothing eps over C classes, each sample's
    loss is   l_i = -sum_c q_ic p_ic,   q_ic = (1 - eps) w_i [c = y_i] + (eps / C) weight_c,
    and since d p_ic / d x_ik = [c = k] - softmax_ik,

        dl_i / dx_ik = softmax_ik * sum_c q_ic - q_ik      (softmax - onehot, when unweighted)

    'mean' divides by sum_i w_i. The backward applies softmax as a Tensor op,
    so it is itself differentiable (second derivatives are exact)."""

    save_inputs, save_outputs = True, False  # the logits, for softmax in backward

    def __init__(self, targets, label_smoothing, reduction):
        self.targets, self.eps, self.reduction = targets, label_smoothing, reduction

    def fused(self, *arrays):
        """The common case (2-D logits, no class weights or smoothing, mean) on a GPU
        runs as one fused kernel each way; every other case, and the CPU, below."""
        t = self.targets
        return (arrays[0].ndim == 2 and t.class_weight is None and self.eps == 0
                and self.reduction == "mean" and kernels.use_for(*arrays))

    def forward(self, x):
        t = self.targets
        if self.fused(x):
            loss, self.lse, _ = kernels.cross_entropy_forward(x, t.given, t.ignore_index)
            return loss
        # log_softmax, shifted by the max so exp never overflows (finite at +-1e4)
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -(1.0 - self.eps) * t.sample_weight * t.pick(logp)
        if self.eps > 0:
            weighted = logp if t.class_weight is None else logp * t.class_weight_column(logp)
            loss -= (self.eps / x.shape[1]) * t.keep * weighted.sum(axis=1)
        return _reduce_array(loss, self.reduction, t.weight_sum)

    def target_distribution(self, x):
        """q (N, C, d...): the constant weights of each log-probability in the loss."""
        t = self.targets
        q = (1.0 - self.eps) * t.sample_weight[:, None] * t.one_hot(x.shape, x.dtype)
        if self.eps > 0:
            column = 1.0 if t.class_weight is None else t.class_weight_column(x)
            q += (self.eps / x.shape[1]) * t.keep[:, None] * column
        return q.astype(x.dtype, copy=False)

    def backward(self, gy):
        x = self.inputs[0]
        if not is_grad_enabled() and self.fused(x.data, gy.data):  # first order only
            t = self.targets
            gx = kernels.cross_entropy_backward(x.data, t.given, self.lse, gy.data, t.weight_sum,
                                                t.ignore_index)
            return Tensor._wrap(gx, x.device)
        q = self.target_distribution(x.data)
        total = Tensor._wrap(q.sum(axis=1, keepdims=True), x.device)  # sum_c q_ic
        q = Tensor._wrap(q, x.device)
        factor = _unreduce_grad(gy, self.reduction, self.targets.weight_sum)
        return factor * (softmax(x, axis=1) * total - q)


class NLLLoss(Function):
    r"""l_i = -w_i * p[i, y_i] on log-probabilities p;  dl_i/dp_ic = -w_i [c = y_i].

    Linear in p, so the backward is a constant times the upstream gradient."""

    save_inputs = save_outputs = False  # backward needs only the targets and the input's shape

    def __init__(self, targets, reduction):
        self.targets, self.reduction = targets, reduction

    def forward(self, logp):
        t = self.targets
        return _reduce_array(-t.sample_weight * t.pick(logp), self.reduction, t.weight_sum)

    def backward(self, gy):
        t = self.targets
        one_hot = t.one_hot(self.input_shapes[0], self.input_dtypes[0])
        picked = Tensor._wrap(t.sample_weight[:, None] * one_hot, gy.device)
        return _unreduce_grad(gy, self.reduction, t.weight_sum) * -picked


def _unbatched(x, target, op_name):
    """A single sample (C,) with a scalar target becomes a batch of one."""
    target_ndim = target.ndim if hasattr(target, "ndim") else np.ndim(target)
    if x.ndim == 1 and target_ndim == 0:
        return x.reshape((1, -1)), (target.reshape((1,)) if isinstance(target, Tensor)
                                    else x.xp.asarray(target).reshape((1,))), True
    return x, target, False


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy of logits `input` (N, C) or (N, C, d1, ...) against integer
    class targets (N,) or (N, d1, ...); the classes are axis 1, as in PyTorch.
    A floating-point target shaped like `input` holds class probabilities instead
    (soft labels, mixup): see `_cross_entropy_soft`."""
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if _is_probability_target(input, target):  # soft labels: one distribution per sample
        if ignore_index != -100:
            raise ValueError("cross_entropy: ignore_index works with class-index targets only; "
                             "with probability targets set an ignored sample's probabilities to 0")
        return _cross_entropy_soft(input, target, weight, reduction, float(label_smoothing))
    x, target, single = _unbatched(input, target, "cross_entropy")
    targets = ClassTargets(x, target, weight, ignore_index, "cross_entropy")
    loss = CrossEntropy(targets, float(label_smoothing), reduction)(x)
    return loss.reshape(()) if single and reduction == "none" else loss


def _is_probability_target(input, target):
    """PyTorch's rule: a floating-point target of the input's shape holds probabilities
    (any other float target goes on to the class-index path, which says what it needs)."""
    if not hasattr(target, "dtype"):  # a list or a number (never np.asarray a GPU array)
        target = np.asarray(target)
    return target.dtype.kind == "f" and tuple(target.shape) == input.shape


def _cross_entropy_soft(x, target, weight, reduction, eps):
    r"""Cross-entropy against class probabilities q (same shape as the logits x):

        l_i = -sum_c weight_c q'_ic log_softmax(x)_ic,   q' = (1 - eps) q + eps / C

    'mean' divides by the number of samples N * d1 * ... (not by the weights, unlike
    class targets: PyTorch's rule). Composed from log_softmax, whose backward is exact
    to any order; dl/dq = -weight * (1 - eps) * log_softmax(x) comes with it."""
    x, target = _as_tensors((x, target), "cross_entropy")
    if x.ndim < 1 or (x.ndim == 1 and x.shape[0] == 0):
        raise ValueError(f"cross_entropy: input of shape {x.shape} needs a class axis")
    axis = 1 if x.ndim >= 2 else 0  # a single sample (C,) has its classes on axis 0
    num_classes = x.shape[axis]
    q = target * (1.0 - eps) + eps / num_classes if eps > 0 else target
    weighted = q * log_softmax(x, axis)
    if weight is not None:
        weight, = _as_tensors((weight,), "cross_entropy")
        if weight.shape != (num_classes,):
            raise ValueError(f"cross_entropy: weight must have shape ({num_classes},), one value "
                             f"per class, got {weight.shape}")
        weighted = weighted * weight.reshape((-1,) + (1,) * (x.ndim - axis - 1))
    return _reduce(-weighted.sum(axis), reduction)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities `input` (N, C, d1, ...) at
    integer class targets (N, d1, ...): use it after log_softmax."""
    _check_reduction(reduction, "nll_loss")
    x, target, single = _unbatched(input, target, "nll_loss")
    targets = ClassTargets(x, target, weight, ignore_index, "nll_loss")
    loss = NLLLoss(targets, reduction)(x)
    return loss.reshape(()) if single and reduction == "none" else loss
