"""More elementwise math of one tensor, named as in PyTorch: trigonometry,
hyperbolic and inverse functions, logs and exponentials in other bases, erf,
powers, rounding, isnan/isinf. (Two operands: ops/math_binary.py.)

Each derivative is the textbook one, written with Tensor ops so that it can
itself be differentiated. Functions defined on reals only turn an integer
input into a float tensor first (`floating`, PyTorch's promotion).
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function
from .compare import _constant_op
from .elementwise import PiecewiseConstant, exp, sqrt
from .promotion import floating

__all__ = ["tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
           "log2", "log10", "log1p", "expm1", "exp2", "erf", "erfc", "rsqrt", "reciprocal", "square",
           "floor", "ceil", "round", "trunc", "frac", "isnan", "isinf",
           "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh"]


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


# --------------------------------------------------------------- wrappers
# Defined on reals only: an integer tensor becomes a float first.
def tan(x): return Tan()(floating(x))
def asin(x): return Asin()(floating(x))
def acos(x): return Acos()(floating(x))
def atan(x): return Atan()(floating(x))
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


arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


# ------------------------------------------------ tests of values (not differentiable)
isnan = _constant_op(np.isnan, "isnan")
isinf = _constant_op(np.isinf, "isinf")
