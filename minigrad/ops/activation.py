"""Activation functions beyond relu/sigmoid/tanh: leaky_relu, elu, gelu, silu, softplus.

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

from .. import backend, kernels
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from .elementwise import clip, exp, sigmoid, tanh, where

__all__ = ["leaky_relu", "elu", "gelu", "silu", "softplus"]


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


class NormalCDF(Function):
    r"""Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF.

    dPhi/dx = phi(x) = e^{-x^2/2} / sqrt(2 pi), the normal density."""

    save_inputs, save_outputs = True, False

    def forward(self, x):
        return 0.5 * (1.0 + backend.erf(x * (1.0 / math.sqrt(2.0))))

    def backward(self, gy):
        return gy * normal_pdf(self.inputs[0])


def normal_pdf(x):
    """phi(x) = e^{-x^2/2} / sqrt(2 pi), built from Tensor ops (differentiable)."""
    return exp(x * x * -0.5) * (1.0 / math.sqrt(2.0 * math.pi))


class GELU(Function):
    r"""Gaussian Error Linear Unit, y = x * Phi(x) (Phi: the standard normal CDF).

    exact ('none'):   dy/dx = Phi(x) + x * phi(x)
    'tanh':           y = x/2 * (1 + tanh(u)),  u = sqrt(2/pi) * (x + 0.044715 x^3)
                      dy/dx = (1 + t)/2 + x/2 * (1 - t^2) * du/dx,  t = tanh(u),
                      du/dx = sqrt(2/pi) * (1 + 3 * 0.044715 x^2)
    """

    save_inputs, save_outputs = True, False
    COEFF = 0.044715
    SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        if kernels.use_for(x):  # on a GPU, the same formula in one fused kernel
            return kernels.gelu_forward(x, self.approximate)
        if self.approximate == "tanh":
            u = self.SQRT_2_OVER_PI * (x + self.COEFF * x * x * x)
            return 0.5 * x * (1.0 + np.tanh(u))
        return x * (0.5 * (1.0 + backend.erf(x * (1.0 / math.sqrt(2.0)))))

    def backward(self, gy):
        x = self.inputs[0]
        if not is_grad_enabled() and kernels.use_for(x.data, gy.data):
            # First order on a GPU: one fused kernel (create_graph=True needs the Tensor ops below).
            return Tensor._wrap(kernels.gelu_backward(x.data, gy.data, self.approximate), x.device)
        if self.approximate == "tanh":
            t = tanh((x + x * x * x * self.COEFF) * self.SQRT_2_OVER_PI)
            du_dx = (x * x * (3.0 * self.COEFF) + 1.0) * self.SQRT_2_OVER_PI
            return gy * ((t + 1.0) * 0.5 + x * 0.5 * (1.0 - t * t) * du_dx)
        return gy * (NormalCDF()(x) + x * normal_pdf(x))


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


def gelu(x, approximate="none"):
    """GELU; approximate='none' uses the exact erf form, 'tanh' the tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU(approximate)(x)


def silu(x):
    return SiLU()(x)


def softplus(x, beta=1.0, threshold=20.0):
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero (the function divides by it)")
    return Softplus(float(beta), float(threshold))(x)
