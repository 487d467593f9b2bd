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
from minigrad.tensor import Tensor

__all__ = ["calculate_gain", "calculate_fan_in_and_fan_out", "uniform_", "normal_", "constant_",
           "zeros_", "ones_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "orthogonal_", "dirac_", "whitening_"]


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
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
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



def dirac_(tensor, groups=1):
    """The identity map as a convolution kernel (PyTorch's dirac_): for a weight
    (out, in, *kernel), filter i of each group gets a 1 at the kernel's centre on
    input channel i and zeros elsewhere, for i < min(out / groups, in); the other
    filters are zero. A conv so initialised copies its input channels through
    (padding 'same'), so a deep stack of them starts as the identity."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3, 4 or 5-dimensional conv weights (out, in, *kernel) "
                         f"are supported, got shape {tensor.shape}")
    if not (isinstance(groups, int) and groups >= 1) or tensor.shape[0] % groups:
        raise ValueError(f"dirac_: groups ({groups!r}) must be a positive int dividing the "
                         f"{tensor.shape[0]} output channels of a weight of shape {tensor.shape}")
    out_per_group = tensor.shape[0] // groups
    centre = tuple(size // 2 for size in tensor.shape[2:])
    tensor.data[...] = 0
    for g in range(groups):
        for d in range(min(out_per_group, tensor.shape[1])):
            tensor.data[(g * out_per_group + d, d) + centre] = 1
    return tensor


def patches(images, kernel_size):
    """Every kernel_size window of `images` (N, C, H, W) as a row: an array of shape
    (N * OH * OW, C * kh * kw), columns in a conv weight's (C, kh, kw) order."""
    kh, kw = kernel_size
    n, c, h, w = images.shape
    oh, ow = h - kh + 1, w - kw + 1
    xp = backend.array_module(images)
    windows = xp.stack([images[:, :, i:i + oh, j:j + ow] for i in range(kh) for j in range(kw)],
                       axis=2)                                     # (N, C, kh*kw, OH, OW)
    return windows.transpose(0, 3, 4, 1, 2).reshape(n * oh * ow, c * kh * kw)


def whitening_(weight, images, eps=5e-4, bias=None, chunk=1000):
    r"""Make a conv a whitening of `images`' patches (ZCA's eigenbasis form).

    With the patches p (every kh x kw window of images (N, C, H, W), as vectors of
    d = C*kh*kw numbers), their mean mu and covariance Sigma = V diag(lambda) V^T
    (eigenvalues in decreasing order), the filters are the eigenvectors scaled by
    1 / sqrt(lambda + eps):

        W = diag(1 / sqrt(lambda + eps)) V^T,      y = W (p - mu)
        Cov(y) = diag(lambda / (lambda + eps))  ~ I   (eps keeps flat directions finite)

    so the conv's outputs are decorrelated features of unit variance, the strongest
    patch directions first. A weight with 2d filters gets [W; -W] (as airbench does):
    a ReLU-like activation after it then keeps both signs of each direction. `bias`
    (optional, a Tensor of the weight's out_channels) gets -W mu, so y has mean 0
    on these images. Computed in float64, over the images `chunk` at a time."""
    out_channels, in_channels, kh, kw = weight.shape
    d = in_channels * kh * kw
    if out_channels not in (d, 2 * d):
        raise ValueError(f"whitening_: a weight of shape {tuple(weight.shape)} has {out_channels} "
                         f"filters; a whitening of {in_channels}x{kh}x{kw} patches needs d = {d} "
                         f"(one per eigenvector) or 2d = {2 * d} (with their negatives)")
    if isinstance(images, Tensor):
        images = images.data
    if images.ndim != 4 or images.shape[1] != in_channels:
        raise ValueError(f"whitening_: images must be (N, {in_channels}, H, W) float images for a "
                         f"weight of shape {tuple(weight.shape)}, got shape {tuple(images.shape)}")
    xp = weight.xp
    with backend.device_scope(weight.device):
        images = backend.to_device(images, weight.device)
        total, moment, count = xp.zeros(d), xp.zeros((d, d)), 0
        for start in range(0, len(images), chunk):      # sums of p and p p^T, a chunk at a time
            rows = patches(images[start:start + chunk].astype(xp.float64), (kh, kw))  # (n, d)
            total += rows.sum(axis=0)
            moment += rows.T @ rows                     # (d, n) @ (n, d) -> (d, d)
            count += len(rows)
        mean = total / count
        covariance = moment / count - xp.outer(mean, mean)
        eigenvalues, eigenvectors = xp.linalg.eigh(covariance)      # increasing order
        eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
        filters = eigenvectors.T / xp.sqrt(xp.maximum(eigenvalues, 0) + eps)[:, None]  # (d, d)
        if out_channels == 2 * d:
            filters = xp.concatenate([filters, -filters])
        _fill(weight, filters.reshape(weight.shape))
        if bias is not None:
            _fill(bias, -(filters @ mean))
    return weight
