"""Scaled dot-product attention, composed from Tensor ops (so every derivative,
of any order, comes from the ops it is made of).

    weights = softmax(q k^T * scale + mask)      (..., L, S)
    output  = dropout(weights) v                 (..., L, Ev)

with scale = 1 / sqrt(E) by default: for q and k with unit-variance entries,
q . k has variance E, and the scale brings it back to 1 so that softmax
starts out neither saturated nor flat.
"""
import math

import numpy as np

from .. import backend
from ..autograd import _as_tensors
from ..tensor import Tensor
from .dropout import dropout
from .elementwise import where
from .reduce import softmax

__all__ = ["scaled_dot_product_attention", "attention_weights"]


def _as_mask(attn_mask, scores):
    """attn_mask as something to combine with the scores (..., L, S).

    A boolean mask says which keys each query may attend to (True = allowed),
    as in PyTorch's F.scaled_dot_product_attention; a float mask is added to
    the scores (-inf forbids)."""
    if isinstance(attn_mask, Tensor):
        mask = attn_mask
    else:
        mask = Tensor._wrap(scores.xp.asarray(attn_mask), scores.device)
    try:
        np.broadcast_shapes(mask.shape, scores.shape)
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} cannot "
                         f"be broadcast to the attention scores' shape {scores.shape} "
                         "(..., L, S)") from None
    if mask.dtype != np.bool_ and mask.dtype != scores.dtype:
        mask = mask.astype(scores.dtype)
    return mask


def attention_weights(q, k, attn_mask=None, is_causal=False, scale=None):
    """softmax(q k^T * scale + mask) over the keys: shape (..., L, S).

    A query whose keys are all masked gets all-zero weights (not nan), as
    PyTorch's F.scaled_dot_product_attention does."""
    q, k = _as_tensors((q, k), "scaled_dot_product_attention")
    if q.ndim < 2 or k.ndim < 2 or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: query (..., L, E) and key (..., S, E) "
                         f"must share their last axis E, got shapes {q.shape} and {k.shape}")
    if attn_mask is not None and is_causal:
        raise ValueError("scaled_dot_product_attention: give either attn_mask or is_causal=True, "
                         "not both (fold the causal mask into attn_mask)")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = (q * scale) @ k.swapaxes(-1, -2)  # (..., L, E) @ (..., E, S) -> (..., L, S)
    if is_causal:
        # Query i may see keys 0..i (the mask is aligned at the top-left, as in
        # PyTorch): every query sees key 0, so no row is all -inf.
        length, source = scores.shape[-2], scores.shape[-1]
        causal = q.xp.tril(q.xp.ones((length, source), dtype=bool))
        return softmax(where(Tensor._wrap(causal, q.device), scores, -math.inf), axis=-1)
    if attn_mask is None:
        return softmax(scores, axis=-1)
    mask = _as_mask(attn_mask, scores)
    scores = where(mask, scores, -math.inf) if mask.dtype == np.bool_ else scores + mask
    # Rows with every key masked: softmax of all -inf is nan; make them zeros.
    # Asking dead.any() is free on the CPU but makes the CPU wait for a GPU
    # (a device-to-host copy), so on a GPU the safe path is always taken.
    dead = scores.data.max(axis=-1, keepdims=True) == -np.inf
    if backend.is_host_array(dead) and not dead.any():
        return softmax(scores, axis=-1)
    dead = Tensor._wrap(dead, q.device)
    return where(dead, 0.0, softmax(where(dead, 0.0, scores), axis=-1))


def _repeat_kv_heads(q, k, v):
    """Grouped-query attention: Hq query heads share Hkv key/value heads (axis -3),
    each key/value head serving Hq / Hkv consecutive query heads, as PyTorch's
    enable_gqa. (..., Hkv, S, E) -> (..., Hq, S, E) by a broadcast, not a copy:
    the backward of expand sums each group's gradients back onto its shared head."""
    if q.ndim < 3 or k.ndim < 3 or v.ndim < 3:
        raise ValueError(f"scaled_dot_product_attention: enable_gqa needs a head axis (-3) in "
                         f"query, key and value, got shapes {q.shape}, {k.shape} and {v.shape}")
    heads, kv_heads = q.shape[-3], k.shape[-3]
    if v.shape[-3] != kv_heads or heads % kv_heads:
        raise ValueError(f"scaled_dot_product_attention: with enable_gqa the query heads "
                         f"({heads}) must be a multiple of the key/value heads (key {kv_heads}, "
                         f"value {v.shape[-3]}, which must be equal)")
    group = heads // kv_heads

    def repeat(t):  # (..., Hkv, S, E) -> (..., Hkv, group, S, E) -> (..., Hq, S, E)
        expanded = t.unsqueeze(-3).expand(t.shape[:-2] + (group,) + t.shape[-2:])
        return expanded.reshape(t.shape[:-3] + (heads,) + t.shape[-2:])
    return repeat(k), repeat(v)


def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None, enable_gqa=False):
    """PyTorch's F.scaled_dot_product_attention: q (..., L, E), k (..., S, E),
    v (..., S, Ev) -> (..., L, Ev). Leading (batch, head) axes broadcast.

    attn_mask: bool (True = may attend) or float (added to the scores),
    broadcastable to (..., L, S). is_causal: query i sees keys 0..i.
    dropout_p: dropout on the attention weights (always applied when > 0:
    pass 0.0 when evaluating, as with PyTorch). scale: replaces 1 / sqrt(E).
    enable_gqa: grouped-query attention, q (..., Hq, L, E) against k, v with
    fewer heads (..., Hkv, S, E), Hq a multiple of Hkv."""
    q, k, v = _as_tensors((q, k, v), "scaled_dot_product_attention")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got "
                         f"{dropout_p}")
    if enable_gqa:
        k, v = _repeat_kv_heads(q, k, v)
    if v.ndim < 2 or v.shape[-2] != k.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: key (..., S, E) and value (..., S, Ev) "
                         f"must have the same number of positions S, got shapes {k.shape} and "
                         f"{v.shape}")
    weights = attention_weights(q, k, attn_mask, is_causal, scale)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return weights @ v  # (..., L, S) @ (..., S, Ev) -> (..., L, Ev)
