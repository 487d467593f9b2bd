"""Dropout: zero random elements (or whole channels) while training.

Inverted dropout: each element is kept with probability 1 - p and the kept
ones are scaled by 1 / (1 - p), so the expected value of every output equals
its input and evaluation needs no rescaling at all (it is the identity).

The random mask is drawn once, outside the Function, from the library's
generator (`minigrad.manual_seed` makes it reproducible); the Function itself
is then a fixed linear map y = x * m, whose backward is gx = gy * m.
"""
from .. import backend
from ..autograd import Function
from ..tensor import Tensor

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    """y = x * m, with m = keep / (1 - p) a constant mask; gx = gy * m."""

    save_inputs = save_outputs = False  # backward needs only the mask, given to __init__

    def __init__(self, mask):
        self.mask = mask

    def forward(self, x):
        # From here on the mask is a saved value, freed once backward has run.
        mask = self.mask
        del self.mask
        self.save_for_backward(mask)
        return x * mask

    def backward(self, gy):
        (mask,) = self.saved
        return gy * Tensor._wrap(mask, gy.device)


def _check_p(p, op_name):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op_name}: dropout probability p must be in [0, 1], got {p}")


def _scaled_keep_mask(x, mask_shape, p):
    """Bernoulli(1 - p) keep mask of `mask_shape`, scaled by 1 / (1 - p), in x's dtype."""
    with backend.device_scope(x.device):
        keep = backend.rng(x.device).random(mask_shape) >= p
        scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)  # p = 1 drops everything
        return keep.astype(x.dtype) * x.dtype.type(scale)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1 / (1 - p).

    With training=False (or p=0) it returns x unchanged."""
    _check_p(p, "dropout")
    if not training or p == 0.0:
        return x
    return Dropout(_scaled_keep_mask(x, x.shape, p))(x)


def dropout2d(x, p=0.5, training=True):
    """Zero whole channels: for x of shape (N, C, H, W) (or (C, H, W)) each
    feature map x[n, c] is dropped entirely with probability p, the rest are
    scaled by 1 / (1 - p). Neighbouring pixels are strongly correlated, so
    dropping single pixels would barely regularize a conv net."""
    _check_p(p, "dropout2d")
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got "
                         f"shape {x.shape}")
    if not training or p == 0.0:
        return x
    return Dropout(_scaled_keep_mask(x, x.shape[:-2] + (1, 1), p))(x)

