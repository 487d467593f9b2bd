"""Elementwise operations: arithmetic, exp/log, activations, maximum/minimum/clip/where.

(dtype and device changes are in convert.py, comparisons and logic in compare.py.)

Binary ops broadcast like NumPy. Their backward returns gradients shaped like
the *output*; the engine sums them back to each input's shape (`sum_to`), so
no op here has to think about broadcasting.
"""
import numpy as np

from ..autograd import Function, _as_tensors
from ..tensor import Tensor
from ..threads import batch_slices, run_split
from .promotion import default_float_dtype, floating, promote
from .shape import ShapeError

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "sin", "cos",
           "tanh", "sigmoid", "relu", "maximum", "minimum", "where", "sign"]


class Binary(Function):
    """Two inputs that broadcast against each other: check that they can, and
    bring them to one dtype by PyTorch's promotion rules (ops/promotion.py).
    `floating = True`: the op is defined on reals only (true division)."""

    floating = False

    def __call__(self, x, y):
        x, y = _as_tensors(promote(x, y, floating=self.floating), self.name)
        try:
            np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            # RuntimeError, as PyTorch raises; also a ValueError, as minigrad always did
            raise ShapeError(f"{self.name.lower()}: shapes {x.shape} and {y.shape} cannot be "
                             "broadcast together (trailing dimensions must be equal or 1); "
                             "reshape or unsqueeze one of them") from None
        return super().__call__(x, y)


# ----------------------------------------------------------------- arithmetic
class Add(Binary):
    save_inputs = save_outputs = False  # d(x+y) = dx + dy: no values needed

    def forward(self, x, y):
        return x + y

    def backward(self, gy):
        return gy, gy


class Sub(Binary):
    save_inputs = save_outputs = False

    def forward(self, x, y):
        return x - y

    def backward(self, gy):
        return gy, -gy


class Mul(Binary):
    save_inputs, save_outputs = True, False  # d(xy) = y dx + x dy

    def forward(self, x, y):
        return x * y

    def backward(self, gy):
        x, y = self.inputs
        return gy * y, gy * x


class Div(Binary):
    save_inputs, save_outputs = True, False
    floating = True  # int / int is a float, as in PyTorch and Python 3

    def forward(self, x, y):
        return x / y

    def backward(self, gy):
        x, y = self.inputs
        gx = gy / y
        gy_ = -gx * x / y if self.needs_input_grad[1] else None  # d(x/y)/dy = -x/y^2
        return gx, gy_


class Neg(Function):
    save_inputs = save_outputs = False

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Binary):
    save_inputs, save_outputs = True, False

    def forward(self, x, y):
        return x ** y

    def backward(self, gy):
        x, y = self.inputs
        # d(x^y)/dx = y x^(y-1). Where y = 0, x^0 = 1 is flat, but 0 * x^-1 would be
        # 0 * inf = NaN at x = 0; there x^1 stands in for x^-1, giving 0 * x = 0
        # (PyTorch's answer). The `where` runs over y's shape: usually one number.
        gx = gy * y * x ** where(y == 0, 1.0, y - 1.0) if self.needs_input_grad[0] else None
        # d(x^y)/dy = x^y log(x); only computed when the exponent needs it
        # (x^2 with a constant 2 never takes a log of a negative x), and x^y is
        # recomputed then rather than kept for every (x - t)^2 of every loss.
        # At x = 0 with y >= 0, x^y log x = 0 * -inf: PyTorch says 0, so log reads 1 there.
        if self.needs_input_grad[1]:
            flat = (x == 0) & (y >= 0)
            gy_ = gy * x ** y * log(where(flat, 1.0, x))
        else:
            gy_ = None
        return gx, gy_


def add(x, y): return Add()(x, y)
def sub(x, y): return Sub()(x, y)
def mul(x, y): return Mul()(x, y)
def div(x, y): return Div()(x, y)
def neg(x): return Neg()(x)
def pow(x, y): return Pow()(x, y)


# ------------------------------------------------------------ unary functions
class Exp(Function):
    save_inputs, save_outputs = False, True

    def forward(self, x):
        # NumPy functions dispatch to CuPy when given CuPy arrays (NEP 13/18),
        # so one forward serves both devices.
        return np.exp(x)

    def backward(self, gy):
        return gy * self.output  # d(e^x)/dx = e^x: reuse the output


class Log(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    save_inputs, save_outputs = False, True

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, gy):
        return gy / (2.0 * self.output)


class Abs(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.abs(x)

    def backward(self, gy):
        return gy * sign(self.inputs[0])  # |x|' = sign(x), 0 at 0 like PyTorch


class Sin(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.sin(x)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


class Cos(Function):
    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.cos(x)

    def backward(self, gy):
        return -gy * sin(self.inputs[0])


class Tanh(Function):
    save_inputs, save_outputs = False, True

    def forward(self, x):
        return np.tanh(x)

    def backward(self, gy):
        y = self.output
        return gy * (1.0 - y * y)


class Sigmoid(Function):
    save_inputs, save_outputs = False, True

    def forward(self, x):
        # 1 / (1 + e^-x) overflows for very negative x; the tanh form never does.
        return 0.5 * np.tanh(0.5 * x) + 0.5

    def backward(self, gy):
        y = self.output
        return gy * y * (1.0 - y)


class ReLU(Function):
    # y > 0 exactly where x > 0, so the output serves as the mask; the next
    # layer (conv, linear) usually saves that same array: no extra memory.
    save_inputs, save_outputs = False, True

    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, gy):
        # relu'(0) = 0, as in PyTorch.
        return ReLUGrad(self.output.data)(gy)


class ReLUGrad(Function):
    """gx = gy where y > 0, else 0: ReLU's backward. It is linear in gy with a
    mask that is a constant (relu'' = 0), so it is its own adjoint, and one
    pass (in parallel slices on the CPU) where gy * mask.astype() made three."""

    save_inputs = save_outputs = False

    def __init__(self, y):
        self.y = y  # ReLU's output: y > 0 exactly where x > 0

    def forward(self, gy):
        gx = np.empty_like(gy)
        run_split(lambda s: np.multiply(gy[s], self.y[s] > 0, out=gx[s]), batch_slices(gy))
        return gx

    def backward(self, ggx):
        return ReLUGrad(self.y)(ggx)


# Defined on reals: an integer tensor is first made a float (float32), as in PyTorch.
def exp(x): return Exp()(floating(x))
def log(x): return Log()(floating(x))
def sqrt(x): return Sqrt()(floating(x))
def abs(x): return Abs()(x)
def sin(x): return Sin()(floating(x))
def cos(x): return Cos()(floating(x))
def tanh(x): return Tanh()(floating(x))
def sigmoid(x): return Sigmoid()(floating(x))
def relu(x): return ReLU()(x)


# ------------------------------------------------------- choosing between values
class Maximum(Binary):
    save_inputs, save_outputs = True, False

    def forward(self, x, y):
        return np.maximum(x, y)

    def backward(self, gy):
        x, y = self.inputs
        # Ties split the gradient evenly, as PyTorch does.
        x_wins = (x > y).astype(gy.dtype) + 0.5 * (x == y).astype(gy.dtype)
        return gy * x_wins, gy * (1.0 - x_wins)


class Minimum(Binary):
    save_inputs, save_outputs = True, False

    def forward(self, x, y):
        return np.minimum(x, y)

    def backward(self, gy):
        x, y = self.inputs
        x_wins = (x < y).astype(gy.dtype) + 0.5 * (x == y).astype(gy.dtype)
        return gy * x_wins, gy * (1.0 - x_wins)


class Clip(Function):
    save_inputs, save_outputs = True, False

    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, x):
        return np.clip(x, self.low, self.high)

    def backward(self, gy):
        x = self.inputs[0]
        inside = x.xp.ones(x.shape, dtype=bool)  # the boundary counts as inside (PyTorch)
        if self.low is not None:
            inside &= x.data >= self.low
        if self.high is not None:
            inside &= x.data <= self.high
        return gy * Tensor._wrap(inside.astype(gy.dtype), x.device)


class Where(Function):
    """where(condition, x, y); the condition is a constant, not differentiated."""

    save_inputs = save_outputs = False  # backward needs only the condition

    def __init__(self, condition):
        self.condition = condition

    def forward(self, x, y):
        return np.where(self.condition, x, y)

    def backward(self, gy):
        condition = Tensor._wrap(self.condition, gy.device)
        return where(condition, gy, 0.0), where(condition, 0.0, gy)


class PiecewiseConstant(Function):
    """A step function (sign, floor, round, ...): its slope is 0 wherever it has
    one, and PyTorch calls it 0 at the jumps too, so backward gives zeros (a
    graph through x.sign() is fine, it just carries no gradient)."""

    save_inputs = save_outputs = False

    def backward(self, gy):
        return Tensor._wrap(np.zeros_like(gy.data), gy.device)  # not gy * 0: inf * 0 is NaN


class Sign(PiecewiseConstant):
    """sign(x): -1, 0 or 1 (torch.sign); integer tensors stay integer."""

    def forward(self, x):
        return np.sign(x)


def sign(x): return Sign()(x)


def maximum(x, y): return Maximum()(x, y)
def minimum(x, y): return Minimum()(x, y)


def clip(x, min=None, max=None):
    """clip with number bounds (the op behind clamp/clip, whose public form,
    taking tensor bounds too, is math_binary.clamp)."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return Clip(min, max)(x)


def where(condition, x, y):
    """torch.where: x where condition holds, else y. x and y are promoted to one
    dtype as for `x + y` (int32 with float32 is float32, a Python float with an
    integer tensor is the default float dtype); the condition is a constant mask."""
    if isinstance(condition, Tensor) and not isinstance(x, Tensor) and not isinstance(y, Tensor):
        # where(mask, 1.0, 0.0): two numbers take PyTorch's dtype (any float: the default
        # float dtype, else int64, or bool for two bools) on the mask's device
        kinds = {type(v) for v in (x, y)}
        dtype = default_float_dtype() if float in kinds else np.bool_ if kinds == {bool} else np.int64
        x = Tensor._wrap(condition.xp.asarray(x, dtype=dtype), condition.device)
    x, y = _as_tensors(promote(x, y), "where")
    if isinstance(condition, Tensor):
        _as_tensors((condition, x), "where")  # on x's device too, or an error naming both
        condition = condition.data
    else:
        condition = x.xp.asarray(condition)  # a host mask (NumPy, list) moves to x's device
    try:
        np.broadcast_shapes(condition.shape, x.shape, y.shape)
    except ValueError:
        raise ValueError(f"where: condition {condition.shape}, x {x.shape} and y {y.shape} "
                         "cannot be broadcast together") from None
    return Where(condition)(x, y)
