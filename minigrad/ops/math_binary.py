"""Math on two operands, named as in PyTorch: atan2, fmod, remainder, copysign,
hypot, logaddexp, lerp, clamp with tensor bounds, isclose and allclose.

The operands broadcast and are promoted to one dtype as for `+`
(ops/promotion.py); ops defined on reals only (atan2, hypot, ...) give a
float for integer operands. Each backward is written with Tensor ops, so it
can itself be differentiated.
"""
import math

import numpy as np

from ..autograd import Function, _as_tensors
from ..tensor import Tensor
from .elementwise import Binary, exp, sign, where
from .elementwise import clip as clip_numbers
from .math import floor, trunc
from .promotion import promote

__all__ = ["atan2", "arctan2", "fmod", "remainder", "copysign", "hypot", "logaddexp", "lerp",
           "clamp", "clip", "isclose", "allclose"]


class Atan2(Binary):
    """atan2(y, x): the angle of the point (x, y), in (-pi, pi]."""

    save_inputs, save_outputs = True, False
    floating = True

    def forward(self, y, x):
        return np.arctan2(y, x)

    def backward(self, g):
        y, x = self.inputs
        r2 = x * x + y * y  # d/dy = x / r^2, d/dx = -y / r^2
        return g * x / r2, -g * y / r2


# --------------------------------------------------------------- remainders
class Fmod(Binary):
    """x - trunc(x / y) * y: the C remainder, with x's sign (torch.fmod)."""

    save_inputs, save_outputs = True, False

    def forward(self, x, y):
        return np.fmod(x, y)

    def backward(self, gy):
        x, y = self.inputs
        quotient = trunc(x / y) if self.needs_input_grad[1] else None  # a step: constant
        return gy, None if quotient is None else -gy * quotient


class Remainder(Binary):
    """x - floor(x / y) * y: Python's %, with y's sign (torch.remainder)."""

    save_inputs, save_outputs = True, False

    def forward(self, x, y):
        return np.remainder(x, y)

    def backward(self, gy):
        x, y = self.inputs
        quotient = floor(x / y) if self.needs_input_grad[1] else None
        return gy, None if quotient is None else -gy * quotient


class Copysign(Binary):
    """|x| with the sign of y (a -0.0 counts as negative). d/dx = sign(x) * sign(y),
    0 at x = 0 as in PyTorch; y only lends its sign: d/dy = 0."""

    save_inputs, save_outputs = True, False
    floating = True

    def forward(self, x, y):
        return np.copysign(x, y)

    def backward(self, gy):
        x, y = self.inputs
        sign_of_y = Tensor._wrap(np.copysign(np.ones_like(y.data), y.data), y.device)
        gy_ = Tensor._wrap(np.zeros_like(gy.data), gy.device) if self.needs_input_grad[1] else None
        return gy * sign(x) * sign_of_y, gy_


class Hypot(Binary):
    """sqrt(x^2 + y^2) without overflow for large x, y."""

    save_inputs, save_outputs = True, True
    floating = True

    def forward(self, x, y):
        return np.hypot(x, y)

    def backward(self, g):
        x, y = self.inputs
        r = self.output
        return g * x / r, g * y / r


class LogAddExp(Binary):
    """log(e^x + e^y) without overflow; d/dx = e^x / (e^x + e^y) = e^(x - out)."""

    save_inputs, save_outputs = True, True
    floating = True

    def forward(self, x, y):
        return np.logaddexp(x, y)

    def backward(self, g):
        x, y = self.inputs
        out = self.output
        return g * exp(x - out), g * exp(y - out)


# ---------------------------------------------------------- clamp with tensors
class Clamp(Function):
    """min(max(x, low), high) with tensor bounds (PyTorch: `high` wins where low > high).

    The gradient goes to x where low <= x <= high (bounds inclusive), to low
    where x < low < high, to high where x > high or high < low, as in PyTorch."""

    save_inputs, save_outputs = True, False

    def forward(self, x, low, high):
        return np.minimum(np.maximum(x, low), high)

    def backward(self, g):
        x, low, high = (t.data for t in self.inputs)
        zero = 0.0

        def to(mask):  # a constant mask on g's device and dtype
            return Tensor._wrap(mask.astype(g.dtype), g.device)

        g_x = g * to((x >= low) & (x <= high)) if self.needs_input_grad[0] else None
        g_low = where(to((x < low) & (low < high)), g, zero) if self.needs_input_grad[1] else None
        g_high = where(to((x > high) | (high < low)), g, zero) if self.needs_input_grad[2] else None
        return g_x, g_low, g_high


def clamp(x, min=None, max=None):
    """torch.clamp (and torch.clip, the same): min and max may be numbers or tensors
    (broadcast against x), or None."""
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        x = promote(x, min, max)[0]  # an integer tensor with a float bound: float32, as PyTorch
        return clip_numbers(x, min, max)
    x, low, high = promote(x, min, max)  # a None stays None (devices: checked by Clamp)
    low = _extreme(x, -1) if low is None else low
    high = _extreme(x, +1) if high is None else high
    return Clamp()(x, low, high)


clip = clamp  # PyTorch's alias


def _extreme(x, direction):
    """The bound that never binds: -inf / +inf, or an integer dtype's extremes."""
    if x.dtype.kind == "f":
        value = direction * math.inf
    else:
        info = np.iinfo(x.dtype)
        value = info.min if direction < 0 else info.max
    return Tensor._wrap(x.xp.full((), value, dtype=x.dtype), x.device)


def atan2(y, x): return Atan2()(y, x)
def fmod(x, y): return Fmod()(x, y)
def remainder(x, y): return Remainder()(x, y)
def copysign(x, y): return Copysign()(x, y)
def hypot(x, y): return Hypot()(x, y)
def logaddexp(x, y): return LogAddExp()(x, y)


arctan2 = atan2  # NumPy's name


def lerp(start, end, weight):
    """torch.lerp: start + weight * (end - start); weight is a number or a tensor."""
    return start + weight * (end - start)


def isclose(x, y, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|x - y| <= atol + rtol * |y| elementwise (torch.isclose; its default tolerances)."""
    x, y = _as_tensors(promote(x, y), "isclose")
    return Tensor._wrap(np.isclose(x.data, y.data, rtol=rtol, atol=atol, equal_nan=equal_nan),
                        x.device)


def allclose(x, y, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element isclose: a Python bool (on a GPU it reads one value back)."""
    return bool(isclose(x, y, rtol, atol, equal_nan).all().item())
