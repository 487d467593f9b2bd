"""More elementwise math, named as in PyTorch: trigonometry, hyperbolic and
inverse functions, logs and exponentials in other bases, erf, rounding,
remainders, and tests of values (isnan, isclose, ...).

Each derivative is the textbook one, written with Tensor ops so that it can
itself be differentiated. Functions defined on reals only turn an integer
input into a float tensor first (`floating`, PyTorch's promotion); binary
ops promote their operands as `+` does (ops/promotion.py).
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function, _as_tensors
from ..tensor import Tensor
from .elementwise import Binary, PiecewiseConstant, _constant_op, clip, exp, sign, sqrt, where
from .promotion import floating, promote

__all__ = ["tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "asinh", "acosh", "atanh",
           "log2", "log10", "log1p", "expm1", "exp2", "erf", "erfc", "rsqrt", "reciprocal", "square",
           "floor", "ceil", "round", "trunc", "frac", "fmod", "remainder", "copysign", "hypot",
           "logaddexp", "lerp", "clamp", "isnan", "isinf", "isclose", "allclose",
           "arcsin", "arccos", "arctan", "arctan2", "arcsinh", "arccosh", "arctanh"]


# ------------------------------------------------------------ trigonometry
class Tan(Function):
    save_inputs, save_outputs = False, True

    def forward(self, x):
        return np.tan(x)

    def backward(self, gy):
        y = self.output
        return gy * (1.0 + y * y)  # tan' = 1 / cos^2 = 1 + tan^2


class Asin(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.arcsin(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy / sqrt(1.0 - x * x)  # asin' = 1 / sqrt(1 - x^2)


class Acos(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.arccos(x)

    def backward(self, gy):
        x = self.inputs[0]
        return -gy / sqrt(1.0 - x * x)  # acos = pi/2 - asin


class Atan(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.arctan(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy / (1.0 + x * x)


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


# ------------------------------------------------------------- hyperbolic
class Sinh(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.sinh(x)

    def backward(self, gy):
        return gy * cosh(self.inputs[0])


class Cosh(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.cosh(x)

    def backward(self, gy):
        return gy * sinh(self.inputs[0])


class Asinh(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.arcsinh(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy / sqrt(x * x + 1.0)


class Acosh(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.arccosh(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy / sqrt(x * x - 1.0)  # defined for x > 1


class Atanh(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.arctanh(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy / (1.0 - x * x)  # defined for |x| < 1


# --------------------------------------------------- logs and exponentials
class Log2(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.log2(x)

    def backward(self, gy):
        return gy / (self.inputs[0] * math.log(2.0))  # log2 x = ln x / ln 2


class Log10(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.log10(x)

    def backward(self, gy):
        return gy / (self.inputs[0] * math.log(10.0))


class Log1p(Function):
    """log(1 + x), accurate for tiny x (where 1 + x rounds to 1)."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.log1p(x)

    def backward(self, gy):
        return gy / (1.0 + self.inputs[0])


class Expm1(Function):
    """e^x - 1, accurate for tiny x."""

    save_inputs, save_outputs = False, True

    def forward(self, x):
        return np.expm1(x)

    def backward(self, gy):
        return gy * (self.output + 1.0)  # (e^x - 1)' = e^x = y + 1


class Exp2(Function):
    save_inputs, save_outputs = False, True

    def forward(self, x):
        return np.exp2(x)

    def backward(self, gy):
        return gy * self.output * math.log(2.0)  # (2^x)' = 2^x ln 2


class Erf(Function):
    """erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return backend.erf(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy * (2.0 / math.sqrt(math.pi)) * exp(-x * x)


class Erfc(Function):
    """erfc(x) = 1 - erf(x), computed directly: accurate where erf(x) rounds to 1."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return backend.erfc(x)

    def backward(self, gy):
        x = self.inputs[0]
        return gy * (-2.0 / math.sqrt(math.pi)) * exp(-x * x)


# ------------------------------------------------------------ powers
class Rsqrt(Function):
    """1 / sqrt(x)."""

    save_inputs, save_outputs = False, True

    def forward(self, x):
        return 1.0 / np.sqrt(x)

    def backward(self, gy):
        y = self.output
        return gy * -0.5 * y * y * y  # (x^-1/2)' = -1/2 x^-3/2 = -y^3 / 2


class Reciprocal(Function):
    save_inputs, save_outputs = False, True

    def forward(self, x):
        return 1.0 / x

    def backward(self, gy):
        y = self.output
        return -gy * y * y  # (1/x)' = -1/x^2 = -y^2


class Square(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return x * x

    def backward(self, gy):
        return gy * 2.0 * self.inputs[0]


# -------------------------------------------------------------- rounding
# Integers are already whole: they come back as they are (NumPy's floor would
# make them float64; PyTorch keeps the dtype).
class Floor(PiecewiseConstant):
    def forward(self, x):
        return np.floor(x) if x.dtype.kind == "f" else x.copy()


class Ceil(PiecewiseConstant):
    def forward(self, x):
        return np.ceil(x) if x.dtype.kind == "f" else x.copy()


class Round(PiecewiseConstant):
    """Halves go to the even neighbour (0.5 -> 0, 1.5 -> 2), in NumPy and PyTorch alike."""

    def __init__(self, decimals):
        self.decimals = decimals

    def forward(self, x):
        return np.round(x, self.decimals)


class Trunc(PiecewiseConstant):
    """Round toward zero."""

    def forward(self, x):
        return np.trunc(x) if x.dtype.kind == "f" else x.copy()


class Frac(Function):
    """x - trunc(x), keeping x's sign (torch.frac); slope 1 between the jumps."""

    save_inputs = save_outputs = False

    def forward(self, x):
        return x - np.trunc(x) if x.dtype.kind == "f" else np.zeros_like(x)

    def backward(self, gy):
        return gy


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
    """torch.clamp: min and max may be numbers or tensors (broadcast against x), or None."""
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        return clip(x, min, max)
    x, low, high = promote(x, min, max)  # a None stays None (devices: checked by Clamp)
    low = _extreme(x, -1) if low is None else low
    high = _extreme(x, +1) if high is None else high
    return Clamp()(x, low, high)


def _extreme(x, direction):
    """The bound that never binds: -inf / +inf, or an integer dtype's extremes."""
    if x.dtype.kind == "f":
        value = direction * math.inf
    else:
        info = np.iinfo(x.dtype)
        value = info.min if direction < 0 else info.max
    return Tensor._wrap(x.xp.full((), value, dtype=x.dtype), x.device)


# --------------------------------------------------------------- wrappers
# Defined on reals only: an integer tensor becomes a float first.
def tan(x): return Tan()(floating(x))
def asin(x): return Asin()(floating(x))
def acos(x): return Acos()(floating(x))
def atan(x): return Atan()(floating(x))
def atan2(y, x): return Atan2()(y, x)
def sinh(x): return Sinh()(floating(x))
def cosh(x): return Cosh()(floating(x))
def asinh(x): return Asinh()(floating(x))
def acosh(x): return Acosh()(floating(x))
def atanh(x): return Atanh()(floating(x))
def log2(x): return Log2()(floating(x))
def log10(x): return Log10()(floating(x))
def log1p(x): return Log1p()(floating(x))
def expm1(x): return Expm1()(floating(x))
def exp2(x): return Exp2()(floating(x))
def erf(x): return Erf()(floating(x))
def erfc(x): return Erfc()(floating(x))
def rsqrt(x): return Rsqrt()(floating(x))
def reciprocal(x): return Reciprocal()(floating(x))
def frac(x): return Frac()(x)


# Keep integer tensors integer, as PyTorch does.
def square(x): return Square()(x)
def floor(x): return Floor()(x)
def ceil(x): return Ceil()(x)
def round(x, decimals=0): return Round(decimals)(x)
def trunc(x): return Trunc()(x)
def fmod(x, y): return Fmod()(x, y)
def remainder(x, y): return Remainder()(x, y)
def copysign(x, y): return Copysign()(x, y)
def hypot(x, y): return Hypot()(x, y)
def logaddexp(x, y): return LogAddExp()(x, y)


def lerp(start, end, weight):
    """torch.lerp: start + weight * (end - start); weight is a number or a tensor."""
    return start + weight * (end - start)


# NumPy's names for the inverse functions, beside PyTorch's.
arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
arcsinh, arccosh, arctanh = asinh, acosh, atanh


# ------------------------------------------------ tests of values (not differentiable)
isnan = _constant_op(np.isnan, "isnan")
isinf = _constant_op(np.isinf, "isinf")


def isclose(x, y, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|x - y| <= atol + rtol * |y| elementwise (torch.isclose; its default tolerances)."""
    x, y = _as_tensors(promote(x, y), "isclose")
    return Tensor._wrap(np.isclose(x.data, y.data, rtol=rtol, atol=atol, equal_nan=equal_nan),
                        x.device)


def allclose(x, y, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element isclose: a Python bool (on a GPU it reads one value back)."""
    return bool(isclose(x, y, rtol, atol, equal_nan).all().item())

