"""ReLU and GELU, forward and backward, each one elementwise kernel.

GELU's readable path (ops/activation.py) builds y from five or six array ops
and its backward from a dozen Tensor ops (so that it can be differentiated
again); for first-order training one pass does it:

exact ('none'):  y = x * Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2
                 dy/dx = Phi(x) + x * phi(x),  phi(x) = e^{-x^2/2} / sqrt(2 pi)
'tanh':          y = x/2 * (1 + t),  t = tanh(u),  u = sqrt(2/pi) * (x + 0.044715 x^3)
                 dy/dx = (1 + t)/2 + x/2 * (1 - t^2) * sqrt(2/pi) * (1 + 3 * 0.044715 x^2)
"""
import functools

from . import build

_GELU_CONSTANTS = """
#define GELU_COEFF 0.044715
#define SQRT_2_OVER_PI 0.79788456080286535588
#define INV_SQRT_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
"""


@functools.cache
def _relu_forward():
    """y = max(x, 0), NaN kept (NumPy: np.maximum(x, 0))."""
    return build.cupy().ElementwiseKernel(
        "T x", "T y", "y = x > (T)0 || x != x ? x : (T)0;", "minigrad_relu_forward")


@functools.cache
def _relu_backward():
    """dx = dy * (x > 0)   (the kink at 0 gets 0, as in PyTorch)."""
    return build.cupy().ElementwiseKernel(
        "T x, T gy", "T gx", "gx = x > (T)0 ? gy : (T)0;", "minigrad_relu_backward")


def relu_forward(x):
    return _relu_forward()(x)


def relu_backward(x, gy):
    """The gradient of relu at input x for upstream gradient gy (raw arrays)."""
    return _relu_backward()(x, gy)


@functools.cache
def _gelu_forward(approximate):
    """NumPy: x * (0.5 * (1 + erf(x * (1/sqrt 2))))  or  0.5 * x * (1 + tanh(u))."""
    if approximate == "tanh":
        body = """
        T u = (T)SQRT_2_OVER_PI * (x + (T)GELU_COEFF * x * x * x);
        y = (T)0.5 * x * ((T)1 + tanh(u));
        """
    else:
        body = "y = x * ((T)0.5 * ((T)1 + erf(x * (T)INV_SQRT_2)));"
    return build.cupy().ElementwiseKernel(
        "T x", "T y", body, f"minigrad_gelu_{approximate}_forward", preamble=_GELU_CONSTANTS)


@functools.cache
def _gelu_backward(approximate):
    """dx = dy * dy/dx, with dy/dx from the module docstring."""
    if approximate == "tanh":
        body = """
        T t = tanh((T)SQRT_2_OVER_PI * (x + (T)GELU_COEFF * x * x * x));
        T du_dx = (T)SQRT_2_OVER_PI * ((T)(3.0 * GELU_COEFF) * x * x + (T)1);
        gx = gy * ((t + (T)1) * (T)0.5 + x * (T)0.5 * ((T)1 - t * t) * du_dx);
        """
    else:
        body = """
        T cdf = (T)0.5 * ((T)1 + erf(x * (T)INV_SQRT_2));
        T pdf = exp(x * x * (T)-0.5) * (T)INV_SQRT_2PI;
        gx = gy * (cdf + x * pdf);
        """
    return build.cupy().ElementwiseKernel(
        "T x, T gy", "T gx", body, f"minigrad_gelu_{approximate}_backward",
        preamble=_GELU_CONSTANTS)


def gelu_forward(x, approximate="none"):
    """GELU of a CuPy array; approximate 'none' (exact erf) or 'tanh'."""
    return _gelu_forward(approximate)(x)


def gelu_backward(x, gy, approximate="none"):
    """The first-order gradient of GELU at x for upstream gradient gy (raw arrays)."""
    return _gelu_backward(approximate)(x, gy)
