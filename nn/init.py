"""Weight initialization, in place, with PyTorch's names and formulas.

Why the scale matters: a layer y = W x with n inputs (fan_in) of unit
variance gives outputs of variance n * Var(W). Choosing Var(W) = gain^2 / n
keeps the signal's variance from exploding or vanishing layer after layer
(He/Kaiming, for ReLU nets: gain^2 = 2 makes up for the half ReLU zeroes).
Xavier/Glorot compromises between the forward pass (fan_in) and the
backward pass (fan_out): Var(W) = gain^2 * 2 / (fan_in + fan_out).

A uniform distribution on [-b, b] has variance b^2 / 3, hence the sqrt(3)s.
Random numbers come from the generator seeded by `minigrad.manual_seed`.
"""
import math

from minigrad import backend

__all__ = ["calculate_gain", "calculate_fan_in_and_fan_out", "uniform_", "normal_", "constant_",
           "zeros_", "ones_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "orthogonal_"]


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table):
    linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2 / (1 + slope^2)),
    selu 3/4."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d")
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1.0 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight (out, in, *kernel): in * prod(kernel), out * prod(kernel)."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out cannot be computed for a tensor with fewer than 2 "
                         f"dimensions (shape {tensor.shape})")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    """Write `values` (an array on tensor's device) into tensor, in place, in its dtype."""
    tensor.data[...] = values.astype(tensor.dtype, copy=False)
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    with backend.device_scope(tensor.device):
        return _fill(tensor, backend.rng(tensor.device).uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    with backend.device_scope(tensor.device):
        return _fill(tensor, backend.rng(tensor.device).normal(mean, std, tensor.shape))


def constant_(tensor, val):
    tensor.data[...] = val
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def xavier_uniform_(tensor, gain=1.0):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))  (Glorot & Bengio, 2010)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b) with b = gain * sqrt(3 / fan)  (He et al., 2015); `a` is the
    negative slope of the leaky_relu that follows."""
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor  # an empty weight: nothing to fill (PyTorch warns and skips)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix (Saxe et al., 2013): the Q of the QR
    decomposition of a Gaussian matrix, signs fixed so Q is uniformly
    distributed. Axes after the first are flattened: (rows, everything else)."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tensor.shape}")
    if tensor.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.size // rows
    xp = tensor.xp
    with backend.device_scope(tensor.device):
        flat = backend.rng(tensor.device).normal(0.0, 1.0, (rows, cols))
        if rows < cols:
            flat = flat.T  # QR of the tall transpose, transposed back below
        q, r = xp.linalg.qr(flat)
        q = q * xp.sign(xp.diag(r))  # make the decomposition unique
        if rows < cols:
            q = q.T
        return _fill(tensor, (gain * q).reshape(tensor.shape))

