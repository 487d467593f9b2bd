"""Activation functions beyond relu/sigmoid/tanh: leaky_relu, elu, gelu, silu, softplus,
and the hard (piecewise-linear) family hardtanh relu6 hardsigmoid hardswish
threshold, the smooth selu celu mish softsign logsigmoid, softmin, glu, prelu and rrelu.

(relu, sigmoid and tanh live in elementwise.py, softmax and log_softmax in
reduce.py; `minigrad.functional` gathers them all.)

Every backward here is written with Tensor operations on the saved *input*,
so differentiating it again (`create_graph=True`) gives exact second
derivatives. Where the derivative is piecewise (leaky_relu, elu, softplus
above its threshold) the choice of piece is a constant mask, exactly as in
PyTorch, including which piece the kink itself belongs to.
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .elementwise import abs, clip, exp, sigmoid, tanh, where
from .gelu import gelu
from .reduce import softmax

__all__ = ["leaky_relu", "elu", "gelu", "silu", "softplus", "hardtanh", "relu6", "hardsigmoid",
           "hardswish", "threshold", "selu", "celu", "mish", "softsign", "logsigmoid", "softmin",
           "glu", "prelu", "rrelu"]


def _mask(condition_array, device):
    """A boolean array as a constant (non-differentiable) Tensor."""
    return Tensor._wrap(condition_array, device)


class LeakyReLU(Function):
    r"""y = x if x > 0 else slope * x;   dy/dx = 1 if x > 0 else slope (also at 0)."""

    save_inputs, save_outputs = True, False

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        return np.where(x > 0, x, x * self.negative_slope)

    def backward(self, gy):
        x = self.inputs[0]
        return where(_mask(x.data > 0, x.device), gy, gy * self.negative_slope)


class ELU(Function):
    r"""y = x if x > 0 else alpha * (e^x - 1);   dy/dx = 1 if x > 0 else alpha * e^x."""

    save_inputs, save_outputs = True, False

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        # exp of the negative part only: e^x of a large positive x would overflow.
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def backward(self, gy):
        x = self.inputs[0]
        # clip(x, max=0) keeps e^x finite on the unused branch: an inf there
        # would turn the zero gradient `where` sends it into 0 * inf = nan.
        negative_slope = self.alpha * exp(clip(x, max=0.0))
        return where(_mask(x.data > 0, x.device), gy, gy * negative_slope)


class SiLU(Function):
    r"""SiLU (swish): y = x * s,  s = sigmoid(x);   dy/dx = s * (1 + x * (1 - s))."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return x * (0.5 * np.tanh(0.5 * x) + 0.5)  # sigmoid in its overflow-free form

    def backward(self, gy):
        x = self.inputs[0]
        s = sigmoid(x)
        return gy * s * (1.0 + x * (1.0 - s))


class Softplus(Function):
    r"""y = log(1 + e^{beta x}) / beta, and y = x where beta * x > threshold
    (there the two agree to float precision, and the linear form cannot overflow).

    dy/dx = sigmoid(beta x)   (1 above the threshold)."""

    save_inputs, save_outputs = True, False

    def __init__(self, beta, threshold):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        z = x * self.beta
        # log(1 + e^z) = max(z, 0) + log1p(e^{-|z|}): e^{-|z|} <= 1 never overflows.
        smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / self.beta
        return np.where(z > self.threshold, x, smooth)

    def backward(self, gy):
        x = self.inputs[0]
        linear = _mask(x.data * self.beta > self.threshold, x.device)
        return where(linear, gy, gy * sigmoid(x * self.beta))


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU(float(negative_slope))(x)


def elu(x, alpha=1.0):
    return ELU(float(alpha))(x)


def silu(x):
    return SiLU()(x)


def softplus(x, beta=1.0, threshold=20.0):
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero (the function divides by it)")
    return Softplus(float(beta), float(threshold))(x)


# ---------------------------------------------------------- hard (piecewise-linear) family
# Their derivatives are constants on each piece, so each backward is the upstream
# gradient times a constant mask; at a kink the gradient is PyTorch's (stated per op).

class Hardtanh(Function):
    r"""y = clip(x, min_val, max_val);   dy/dx = 1 if min_val < x < max_val else 0
    (0 at both kinks, as PyTorch's hardtanh and relu6)."""

    save_inputs, save_outputs = True, False

    def __init__(self, min_val, max_val):
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        return np.clip(x, self.min_val, self.max_val)

    def backward(self, gy):
        x = self.inputs[0]
        inside = (x.data > self.min_val) & (x.data < self.max_val)
        return where(_mask(inside, x.device), gy, 0.0)


class Hardsigmoid(Function):
    r"""y = clip(x / 6 + 1/2, 0, 1), a piecewise-linear sigmoid;
    dy/dx = 1/6 if -3 < x < 3 else 0."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.clip(x / 6.0 + 0.5, 0.0, 1.0)

    def backward(self, gy):
        x = self.inputs[0]
        return where(_mask((x.data > -3.0) & (x.data < 3.0), x.device), gy / 6.0, 0.0)


class Hardswish(Function):
    r"""y = x * hardsigmoid(x):  0 for x <= -3, x (x + 3) / 6 between, x for x >= 3;
    dy/dx = 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3, 1 for x >= 3 (PyTorch's kinks)."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)

    def backward(self, gy):
        x = self.inputs[0]
        middle = _mask((x.data > -3.0) & (x.data < 3.0), x.device)
        above = _mask(x.data >= 3.0, x.device)
        return where(middle, gy * (x / 3.0 + 0.5), where(above, gy, 0.0))


class Threshold(Function):
    r"""y = x if x > threshold else value;   dy/dx = 1 if x > threshold else 0."""

    save_inputs, save_outputs = True, False

    def __init__(self, threshold, value):
        self.threshold, self.value = threshold, value

    def forward(self, x):
        return np.where(x > self.threshold, x, x.dtype.type(self.value))

    def backward(self, gy):
        x = self.inputs[0]
        return where(_mask(x.data > self.threshold, x.device), gy, 0.0)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return Hardtanh(float(min_val), float(max_val))(x)


def relu6(x):
    """min(max(x, 0), 6): hardtanh(x, 0, 6) (gradient 0 at both kinks, as PyTorch)."""
    return Hardtanh(0.0, 6.0)(x)


def hardsigmoid(x): return Hardsigmoid()(x)
def hardswish(x): return Hardswish()(x)


def threshold(x, threshold, value):
    """PyTorch's F.threshold(input, threshold, value)."""
    return Threshold(float(threshold), float(value))(x)


# ---------------------------------------------------------------------- smooth family
class CELU(Function):
    r"""y = x if x > 0 else alpha * (e^{x/alpha} - 1)  (elu with a slope 1 at 0 for any alpha);
    dy/dx = 1 if x > 0 else e^{x/alpha}."""

    save_inputs, save_outputs = True, False

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0) / self.alpha))

    def backward(self, gy):
        x = self.inputs[0]
        slope = exp(clip(x, max=0.0) / self.alpha)  # clip: see ELU.backward
        return where(_mask(x.data > 0, x.device), gy, gy * slope)


class SELU(Function):
    r"""y = scale * (x if x > 0 else alpha * (e^x - 1)), with PyTorch's constants, which
    keep activations near zero mean and unit variance through a deep net;
    dy/dx = scale * (1 if x > 0 else alpha * e^x)."""

    save_inputs, save_outputs = True, False
    ALPHA = 1.6732632423543772848170429916717
    SCALE = 1.0507009873554804934193349852946

    def forward(self, x):
        return self.SCALE * np.where(x > 0, x, self.ALPHA * np.expm1(np.minimum(x, 0)))

    def backward(self, gy):
        x = self.inputs[0]
        negative_slope = exp(clip(x, max=0.0)) * (self.SCALE * self.ALPHA)
        return where(_mask(x.data > 0, x.device), gy * self.SCALE, gy * negative_slope)


class Mish(Function):
    r"""y = x * tanh(softplus(x));  with t = tanh(softplus(x)),
    dy/dx = t + x * (1 - t^2) * sigmoid(x)   (since d softplus / dx = sigmoid)."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return x * np.tanh(np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))

    def backward(self, gy):
        x = self.inputs[0]
        t = tanh(softplus(x, threshold=math.inf))
        return gy * (t + x * (1.0 - t * t) * sigmoid(x))


class Softsign(Function):
    r"""y = x / (1 + |x|);   dy/dx = 1 / (1 + |x|)^2."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return x / (1.0 + np.abs(x))

    def backward(self, gy):
        d = 1.0 + abs(self.inputs[0])
        return gy / (d * d)


class LogSigmoid(Function):
    r"""y = log sigmoid(x) = -softplus(-x) = min(x, 0) - log(1 + e^{-|x|});
    dy/dx = 1 - sigmoid(x) = sigmoid(-x)."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))  # e^{-|x|} <= 1: no overflow

    def backward(self, gy):
        return gy * sigmoid(-self.inputs[0])


def selu(x):
    """scale * elu(x, alpha) with PyTorch's self-normalising constants."""
    return SELU()(x)


def celu(x, alpha=1.0):
    """max(0, x) + min(0, alpha (e^{x/alpha} - 1)): elu made C^1 for any alpha."""
    if alpha == 0:
        raise ValueError("celu: alpha must be non-zero (the function divides by it)")
    return CELU(float(alpha))(x)


def mish(x): return Mish()(x)
def softsign(x): return Softsign()(x)
def logsigmoid(x): return LogSigmoid()(x)


def softmin(x, dim=-1):
    """softmax(-x) over `dim`: the smallest entries get the largest weights."""
    return softmax(-x, dim)


def glu(x, dim=-1):
    """Gated linear unit: split x in halves a, b along `dim`, return a * sigmoid(b)."""
    size = x.shape[dim] if -x.ndim <= dim < max(x.ndim, 1) else None
    if size is None or size % 2:
        raise ValueError(f"glu: the size of dim {dim} must be even (it is split into two halves),"
                         f" got input of shape {x.shape}")
    a, b = x.chunk(2, dim)
    return a * sigmoid(b)


# ----------------------------------------------------------- learned and random slopes
class PReLU(Function):
    r"""y = x if x > 0 else a * x, with a learned slope a (broadcast over the channels);
    dy/dx = 1 if x > 0 else a;   dy/da = 0 if x > 0 else x."""

    save_inputs, save_outputs = True, False

    def forward(self, x, a):
        return np.where(x > 0, x, a * x)

    def backward(self, gy):
        x, a = self.inputs
        positive = _mask(x.data > 0, x.device)
        gx = where(positive, gy, gy * a) if self.needs_input_grad[0] else None
        ga = where(positive, 0.0, gy * x) if self.needs_input_grad[1] else None
        return gx, ga  # the engine sums ga back to a's (1, C, 1, ...) shape


class RReLU(Function):
    r"""Randomized leaky ReLU while training: y = x if x >= 0 else r * x, with a slope
    r ~ U(lower, upper) drawn per element (a constant here); dy/dx = 1 or r."""

    save_inputs = save_outputs = False  # backward needs only the slopes

    def __init__(self, slopes):
        self.slopes = slopes  # 1 where x > 0, r elsewhere

    def forward(self, x):
        slopes = self.slopes
        del self.slopes
        self.save_for_backward(slopes)
        return x * slopes

    def backward(self, gy):
        (slopes,) = self.saved
        return gy * Tensor._wrap(slopes, gy.device)


def prelu(x, weight):
    """PyTorch's F.prelu: `weight` holds 1 slope, or one per channel (axis 1 of x)."""
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.ndim > 1 or weight.numel() not in (1, channels):
        raise ValueError(f"prelu: weight must hold 1 value or one per channel ({channels}, axis 1 "
                         f"of input {x.shape}), got weight of shape {weight.shape}")
    if weight.numel() > 1:
        weight = weight.reshape((1, -1) + (1,) * (x.ndim - 2))
    return PReLU()(x, weight)


def rrelu(x, lower=1.0 / 8, upper=1.0 / 3, training=False):
    """Randomized leaky ReLU: while training a random slope r ~ U(lower, upper) per
    negative element; otherwise leaky_relu with the mean slope (lower + upper) / 2."""
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: need 0 <= lower <= upper, got lower={lower}, upper={upper}")
    if not training:
        return leaky_relu(x, (lower + upper) / 2.0)
    with backend.device_scope(x.device):
        r = backend.rng(x.device).random(x.shape) * (upper - lower) + lower
        slopes = x.xp.where(x.data > 0, 1.0, r).astype(x.dtype)
    return RReLU(slopes)(x)
