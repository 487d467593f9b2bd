"""Norms, similarities and distances between vectors, and the losses built on them.

`normalize`, `cosine_similarity` and `pairwise_distance` follow PyTorch's
functions of the same names; `margin_ranking_loss`, `triplet_margin_loss` and
`cosine_embedding_loss` are the metric-learning losses: pull matching pairs
together, push the others at least a margin apart.

The one new Function is the p-norm along an axis, whose derivative needs care
at the zero vector: ||x|| has no derivative there, and `sqrt` would give 0/0.
Like PyTorch, its backward gives 0 there (a subgradient), so `normalize` of a
zero row has a finite gradient.
"""
import math

import numpy as np

from ..autograd import Function, _as_tensors
from ..tensor import Tensor
from .elementwise import abs, clip, relu, sign, where
from .loss import _check_reduction, _reduce
from .reduce import keepdims_shape, normalize_axes

__all__ = ["normalize", "cosine_similarity", "pairwise_distance",
           "margin_ranking_loss", "triplet_margin_loss", "cosine_embedding_loss"]


class VectorNorm(Function):
    r"""n = (sum_i |x_i|^p)^{1/p} along `axis` (p > 0, or p = inf: max_i |x_i|).

        dn/dx_i = sign(x_i) |x_i|^{p-1} / n^{p-1}    (= x_i / n for p = 2)

    and 0 where n = 0. For p = inf the gradient goes to the largest |x_i|."""

    save_inputs, save_outputs = True, True

    def __init__(self, p, axis, keepdims):
        self.p, self.axis, self.keepdims = p, axis, keepdims

    def forward(self, x):
        a = np.abs(x)
        if self.p == math.inf:
            return a.max(axis=self.axis, keepdims=self.keepdims)
        if self.p == 2:
            return np.sqrt((x * x).sum(axis=self.axis, keepdims=self.keepdims))
        return (a ** self.p).sum(axis=self.axis, keepdims=self.keepdims) ** (1.0 / self.p)

    def backward(self, gy):
        x, n = self.inputs[0], self.output
        shape = keepdims_shape(x.shape, self.axis)
        gy, n = gy.reshape(shape), n.reshape(shape)  # broadcast back along the reduced axis
        nonzero = Tensor._wrap(n.data != 0, x.device)
        safe_n = where(nonzero, n, 1.0)
        if self.p == math.inf:  # the gradient goes to the entry (or entries) at the max
            at_max = Tensor._wrap(x.xp.abs(x.data) == n.data, x.device)
            count = at_max.astype(x.dtype).sum(axis=self.axis, keepdims=True)
            return where(at_max & nonzero, gy * sign(x) / count, 0.0)
        if self.p == 2:
            return where(nonzero, gy * x / safe_n, 0.0)
        return where(nonzero, gy * sign(x) * abs(x) ** (self.p - 1) / safe_n ** (self.p - 1), 0.0)


def vector_norm(x, ord=2, dim=None, keepdim=False):
    """PyTorch's torch.linalg.vector_norm: the `ord`-norm over `dim` (all axes when None)."""
    ord = float(ord)
    if not ord > 0:
        raise ValueError(f"vector_norm: ord must be positive (or inf), got {ord}")
    axes = normalize_axes(dim, x.ndim, "vector_norm")
    return VectorNorm(ord, axes, keepdim)(x)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """x / max(||x||_p, eps) along `dim`: unit vectors (a zero vector stays zero)."""
    return input / clip(vector_norm(input, p, dim, keepdim=True), min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    r"""cos = sum(x1 * x2) / (max(||x1||, eps) max(||x2||, eps)) along `dim`
    (x1 and x2 broadcast), each vector normalised first, as PyTorch does."""
    x1, x2 = _as_tensors((x1, x2), "cosine_similarity")
    try:
        np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"cosine_similarity: shapes {x1.shape} and {x2.shape} cannot be "
                         "broadcast together") from None
    unit1 = x1 / clip(vector_norm(x1, 2, dim, keepdim=True), min=eps)
    unit2 = x2 / clip(vector_norm(x2, 2, dim, keepdim=True), min=eps)
    return (unit1 * unit2).sum(axis=dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last axis (eps keeps the norm off its kink at 0)."""
    x1, x2 = _as_tensors((x1, x2), "pairwise_distance")
    return vector_norm(x1 - x2 + eps, p, -1, keepdim)


# ----------------------------------------------------------- losses on distances
def margin_ranking_loss(input1, input2, target, margin=0.0, *, reduction="mean"):
    """max(0, -y (x1 - x2) + margin): y = 1 asks x1 to rank above x2 by the margin,
    y = -1 the reverse."""
    _check_reduction(reduction, "margin_ranking_loss")
    input1, input2, target = _as_tensors((input1, input2, target), "margin_ranking_loss")
    return _reduce(relu(-target * (input1 - input2) + margin), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, *,
                        reduction="mean"):
    r"""max(d(a, p) - d(a, n) + margin, 0), d = pairwise_distance: the anchor must be
    closer to the positive than to the negative by the margin. swap=True uses
    min(d(a, n), d(p, n)) as the negative distance (the harder of the two)."""
    _check_reduction(reduction, "triplet_margin_loss")
    anchor, positive, negative = _as_tensors((anchor, positive, negative), "triplet_margin_loss")
    if not anchor.shape == positive.shape == negative.shape or anchor.ndim not in (1, 2):
        raise ValueError(f"triplet_margin_loss: anchor, positive and negative must share one "
                         f"shape (N, D) or (D,), got {anchor.shape}, {positive.shape} and "
                         f"{negative.shape}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_swap = pairwise_distance(positive, negative, p, eps)
        d_neg = where(d_swap.detach() < d_neg.detach(), d_swap, d_neg)
    return _reduce(relu(d_pos - d_neg + margin), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, *, reduction="mean"):
    r"""1 - cos(x1, x2) where y = 1 (pull together), max(0, cos(x1, x2) - margin)
    where y = -1 (push apart); cos over axis 1 of (N, D) inputs (axis 0 of (D,)).

    PyTorch's own cosine here divides by sqrt((||x1||^2 + 1e-12)(||x2||^2 + 1e-12))."""
    _check_reduction(reduction, "cosine_embedding_loss")
    input1, input2, target = _as_tensors((input1, input2, target), "cosine_embedding_loss")
    if input1.shape != input2.shape or input1.ndim not in (1, 2):
        raise ValueError(f"cosine_embedding_loss: input1 and input2 must share one shape (N, D) "
                         f"or (D,), got {input1.shape} and {input2.shape}")
    axis = input1.ndim - 1
    squared1 = (input1 * input1).sum(axis=axis) + 1e-12
    squared2 = (input2 * input2).sum(axis=axis) + 1e-12
    cos = (input1 * input2).sum(axis=axis) / (squared1 * squared2) ** 0.5
    y = target.detach()
    loss = where(y == 1, 1.0 - cos, 0.0) + where(y == -1, relu(cos - margin), 0.0)
    return _reduce(loss, reduction)
