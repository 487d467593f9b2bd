"""Dropout layers: active in training mode, the identity after `model.eval()`."""
import minigrad.functional as F

from .module import Module

__all__ = ["Dropout", "Dropout2d"]


class Dropout(Module):
    """Zero each element with probability p while training, scaling the rest
    by 1 / (1 - p); the identity in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Zero whole channels (feature maps) of (N, C, H, W) inputs while training."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)
