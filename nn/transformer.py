"""Transformer layers with PyTorch's structure and parameter names, so that a
`torch.nn.TransformerEncoderLayer`'s (or DecoderLayer's, or Encoder's) state dict
loads as it is and gives PyTorch's outputs.

One encoder layer, post-norm (the original Transformer, norm_first=False):

    x = norm1(x + dropout1(self_attn(x, x, x)))
    x = norm2(x + dropout2(linear2(dropout(activation(linear1(x))))))

pre-norm (norm_first=True, easier to train deep): x = x + block(norm(x)) for each block.
A decoder layer adds, between the two, attention from x to the encoder's output
`memory` (multihead_attn, with norm2; its feed-forward block uses norm3).
"""
import copy

import minigrad.functional as F

from .attention import MultiheadAttention
from .containers import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder"]


def _activation(activation, layer_name):
    if callable(activation):
        return activation
    if activation not in ("relu", "gelu"):
        raise ValueError(f"{layer_name}: activation must be 'relu', 'gelu' or a callable, got "
                         f"{activation!r}")
    return F.relu if activation == "relu" else F.gelu


class _FeedForward:
    """The position-wise feed-forward block shared by both layers (a mixin)."""

    def _build_feed_forward(self, d_model, dim_feedforward, dropout, bias, device, dtype):
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, device=device, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, device=device, dtype=dtype)

    def _ff_block(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class TransformerEncoderLayer(_FeedForward, Module):
    """Self-attention then a feed-forward block, each with a residual connection and
    LayerNorm. Inputs (N, L, E) when batch_first=True (the default here, as for
    MultiheadAttention; PyTorch's default is (L, N, E), batch_first=False)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=True, norm_first=False, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout, bias, batch_first, device, dtype)
        self._build_feed_forward(d_model, dim_feedforward, dropout, bias, device, dtype)
        self.norm1 = LayerNorm(d_model, layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        self.activation = _activation(activation, "TransformerEncoderLayer")
        self.norm_first = norm_first

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=False,
                                attn_mask=attn_mask, is_causal=is_causal)
        return self.dropout1(out)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self.dropout2(self._ff_block(self.norm2(x)))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self.dropout2(self._ff_block(x)))


class TransformerDecoderLayer(_FeedForward, Module):
    """Self-attention on the target, attention from the target to `memory` (the
    encoder's output), then a feed-forward block; each with a residual and LayerNorm."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=True, norm_first=False, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout, bias, batch_first, device, dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout, bias, batch_first, device,
                                                 dtype)
        self._build_feed_forward(d_model, dim_feedforward, dropout, bias, device, dtype)
        self.norm1 = LayerNorm(d_model, layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.norm3 = LayerNorm(d_model, layer_norm_eps, bias=bias, device=device, dtype=dtype)
        self.dropout1, self.dropout2, self.dropout3 = Dropout(dropout), Dropout(dropout), \
            Dropout(dropout)
        self.activation = _activation(activation, "TransformerDecoderLayer")
        self.norm_first = norm_first

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, key_padding_mask=key_padding_mask, need_weights=False,
                                attn_mask=attn_mask, is_causal=is_causal)
        return self.dropout1(out)

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        out, _ = self.multihead_attn(x, memory, memory, key_padding_mask=key_padding_mask,
                                     need_weights=False, attn_mask=attn_mask, is_causal=is_causal)
        return self.dropout2(out)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            return x + self.dropout3(self._ff_block(self.norm3(x)))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                           memory_is_causal))
        return self.norm3(x + self.dropout3(self._ff_block(x)))


class TransformerEncoder(Module):
    """`num_layers` copies of `encoder_layer` applied in turn (each with its own
    weights: the copies are deep), then an optional final `norm`."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        # enable_nested_tensor and mask_check switch PyTorch's fast inference path:
        # accepted so that PyTorch code runs unchanged; there is no such path here.
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)
        return x if self.norm is None else self.norm(x)
