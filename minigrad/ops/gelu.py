"""GELU, y = x * Phi(x), in its exact (erf) and tanh forms.

(activation.py re-exports `gelu`; `minigrad.functional` gathers it with the others.)

The backward is written with Tensor operations on the saved input, so
`create_graph=True` gives exact second derivatives. A plain first-order
backward takes a faster road where it can: on a GPU one fused kernel
(`minigrad.kernels`); on the CPU, for the tanh form, the same formula on slices
of the batch small enough to stay in cache through all its passes, the slices
shared out among threads (`threads.run_split`). Written as whole-array NumPy
expressions, the tanh form's forward and backward are some twenty passes over
memory with a temporary array each; on slices in cache they cost about what
two passes do.
"""
import math

import numpy as np

from .. import backend, kernels
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from ..threads import batch_slices, run_split
from .elementwise import exp, tanh

__all__ = ["gelu"]

COEFF = 0.044715
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


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

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        if kernels.use_for(x):  # on a GPU, the same formula in one fused kernel
            return kernels.gelu_forward(x, self.approximate)
        if self.approximate == "tanh" and _sliceable(x):
            y = np.empty_like(x)
            run_split(lambda s: _tanh_gelu_slice(x[s], y[s]), batch_slices(x))
            return y
        if self.approximate == "tanh":
            u = SQRT_2_OVER_PI * (x + COEFF * x * x * x)
            return 0.5 * x * (1.0 + np.tanh(u))
        return x * (0.5 * (1.0 + backend.erf(x * (1.0 / math.sqrt(2.0)))))

    def backward(self, gy):
        x = self.inputs[0]
        if not is_grad_enabled():  # first order: no graph to record, raw arrays will do
            if kernels.use_for(x.data, gy.data):
                return Tensor._wrap(kernels.gelu_backward(x.data, gy.data, self.approximate),
                                    x.device)
            if self.approximate == "tanh" and _sliceable(x.data):
                gx = np.empty_like(gy.data)
                run_split(lambda s: _tanh_gelu_grad_slice(x.data[s], gy.data[s], gx[s]),
                          batch_slices(gx))
                return Tensor._wrap(gx, x.device)
        if self.approximate == "tanh":
            t = tanh((x + x * x * x * COEFF) * SQRT_2_OVER_PI)
            du_dx = (x * x * (3.0 * COEFF) + 1.0) * SQRT_2_OVER_PI
            return gy * ((t + 1.0) * 0.5 + x * 0.5 * (1.0 - t * t) * du_dx)
        return gy * (NormalCDF()(x) + x * normal_pdf(x))


def _sliceable(x):
    """A float array in host memory: the sliced in-place passes apply."""
    return backend.is_host_array(x) and x.dtype.kind == "f"


def _tanh_gelu_slice(x, y):
    """y = x/2 (1 + tanh(u)) for one slice, every pass in y's own memory."""
    np.multiply(x, x, out=y)
    y *= COEFF * SQRT_2_OVER_PI
    y += SQRT_2_OVER_PI
    y *= x                      # u = sqrt(2/pi) (1 + 0.044715 x^2) x
    np.tanh(y, out=y)           # t
    y += 1.0
    y *= x
    y *= 0.5                    # x/2 (1 + t)


def _tanh_gelu_grad_slice(x, gy, gx):
    """gx = gy * ((1 + t)/2 + x/2 (1 - t^2) du/dx) for one slice, t recomputed
    from x (cheaper, on a slice in cache, than keeping it for every layer)."""
    t = np.multiply(x, x)
    t *= COEFF * SQRT_2_OVER_PI
    t += SQRT_2_OVER_PI
    t *= x
    np.tanh(t, out=t)                           # t = tanh(u)
    np.multiply(x, x, out=gx)
    gx *= 1.5 * COEFF * SQRT_2_OVER_PI
    gx += 0.5 * SQRT_2_OVER_PI
    gx *= x                                     # x/2 du/dx
    slope = np.multiply(t, t)
    np.subtract(1.0, slope, out=slope)          # 1 - t^2
    gx *= slope
    t += 1.0
    t *= 0.5                                    # (1 + t)/2
    gx += t
    gx *= gy


def gelu(x, approximate="none"):
    """GELU; approximate='none' uses the exact erf form, 'tanh' the tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU(approximate)(x)
