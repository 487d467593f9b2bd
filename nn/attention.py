"""MultiheadAttention, with PyTorch's parameters (in_proj_weight, in_proj_bias,
out_proj) so that weights load from `torch.nn.MultiheadAttention`.

For H heads of size D = embed_dim / H:

    q, k, v = x_q W_q^T + b_q,  x_k W_k^T + b_k,  x_v W_v^T + b_v   (W_* stacked in in_proj_weight)
    head_h  = softmax(q_h k_h^T / sqrt(D) + mask) v_h                 (each head on its D-slice)
    output  = concat(head_1 .. head_H) W_o^T + b_o                   (out_proj)
"""
import math

import minigrad.functional as F
from minigrad.tensor import Tensor

from . import init
from .checks import check_input, describe
from .linear import Linear, new_parameter
from .module import Module

__all__ = ["MultiheadAttention"]


def _additive(mask, dtype, xp, device):
    """A PyTorch MultiheadAttention mask as a float mask to add to the scores:
    boolean True means *not allowed* (-inf); float masks are added as they are."""
    data = mask.data if isinstance(mask, Tensor) else xp.asarray(mask)
    if data.dtype == bool:
        data = xp.where(data, -math.inf, 0.0)
    return Tensor._wrap(data.astype(dtype, copy=False), device)


class MultiheadAttention(Module):
    """Multi-head attention. Inputs are (N, L, E) with batch_first=True (the
    default here, unlike PyTorch; pass batch_first=False for (L, N, E)), or
    unbatched (L, E).

    forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False) returns
    (output, attention weights): the weights averaged over heads (N, L, S),
    or per head (N, H, L, S), or None when need_weights=False.

    Masks follow PyTorch's MultiheadAttention: in a boolean attn_mask (L, S)
    or (N*H, L, S), or key_padding_mask (N, S), True means "may NOT attend";
    float masks are added to the scores. A query that may attend to no key
    at all gets zero weights (PyTorch gives nan there)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=True,
                 device=None, dtype=None):
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout, self.batch_first = dropout, batch_first
        self.in_proj_weight = new_parameter((3 * embed_dim, embed_dim), device, dtype)
        if bias:
            self.in_proj_bias = new_parameter((3 * embed_dim,), device, dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's: xavier_uniform_ for the packed q/k/v projection, zero biases
        (out_proj.weight keeps Linear's default init)."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def describe(self):
        return f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads})"

    def _project(self, x, which):
        """x W^T + b for the which-th (0: q, 1: k, 2: v) block of in_proj."""
        rows = slice(which * self.embed_dim, (which + 1) * self.embed_dim)
        bias = None if self.in_proj_bias is None else self.in_proj_bias[rows]
        return F.linear(x, self.in_proj_weight[rows], bias)

    def _heads(self, x):
        """(N, L, E) -> (N, H, L, D): each head attends on its own D-slice."""
        n, length, _ = x.shape
        return x.reshape(n, length, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        for name, x in (("query", query), ("key", key), ("value", value)):
            check_input(self, x, (2, 3), "(N, L, E)" if self.batch_first else "(L, N, E)",
                        like=self.in_proj_weight)
            if x.shape[-1] != self.embed_dim:
                raise ValueError(f"{describe(self)}: expected {name} with embed_dim = "
                                 f"{self.embed_dim} features in its last axis, got shape {x.shape}")
        unbatched = query.ndim == 2
        if unbatched:  # (L, E): a batch of one
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (t.swapaxes(0, 1) for t in (query, key, value))
        if key.shape != value.shape or key.shape[0] != query.shape[0]:
            raise ValueError(f"{describe(self)}: key and value must have the same shape and the "
                             f"same batch size as query, got query {query.shape}, key "
                             f"{key.shape}, value {value.shape}")
        n, length, source = query.shape[0], query.shape[1], key.shape[1]

        q = self._heads(self._project(query, 0))  # (N, H, L, D)
        k = self._heads(self._project(key, 1))  # (N, H, S, D)
        v = self._heads(self._project(value, 2))  # (N, H, S, D)
        mask = self._mask(attn_mask, key_padding_mask, is_causal, n, length, source)
        weights = F.attention_weights(q, k, attn_mask=mask)  # (N, H, L, S)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, self.dropout)
        heads = weights @ v  # (N, H, L, S) @ (N, H, S, D) -> (N, H, L, D)
        out = self.out_proj(heads.transpose(0, 2, 1, 3).reshape(n, length, self.embed_dim))
        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.swapaxes(0, 1)  # back to (L, N, E)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)  # (N, L, S)
        return out, (weights.squeeze(0) if unbatched else weights)

    def _mask(self, attn_mask, key_padding_mask, is_causal, n, length, source):
        """attn_mask, key_padding_mask and is_causal as one additive float mask,
        broadcastable to (N, H, L, S), or None."""
        dtype, xp, device = self.in_proj_weight.dtype, self.in_proj_weight.xp, \
            self.in_proj_weight.device
        mask = None
        if attn_mask is None and is_causal:  # query i may see keys 0..i
            attn_mask = xp.triu(xp.ones((length, source), dtype=bool), k=1)
        if attn_mask is not None:
            mask = _additive(attn_mask, dtype, xp, device)
            if mask.ndim == 3:  # (N*H, L, S) -> (N, H, L, S)
                mask = mask.reshape(n, self.num_heads, length, source)
            elif mask.shape != (length, source):
                raise ValueError(f"{describe(self)}: attn_mask must have shape ({length}, "
                                 f"{source}) or ({n * self.num_heads}, {length}, {source}), got "
                                 f"{mask.shape}")
        if key_padding_mask is not None:
            padding = _additive(key_padding_mask, dtype, xp, device)
            if padding.ndim == 1 and n == 1:  # unbatched input: (S,)
                padding = padding.reshape(1, source)
            if padding.shape != (n, source):
                raise ValueError(f"{describe(self)}: key_padding_mask must have shape ({n}, "
                                 f"{source}), got {padding.shape}")
            padding = padding.reshape(n, 1, 1, source)
            mask = padding if mask is None else mask + padding
        return mask


