"""The speedrun's network (a helper for the examples, not a script; used by
examples/cifar10_speedrun.py).

The airbench / hlb-CIFAR10 / ResNet-9 family, in its plainest form:

    whiten   conv 3 -> 2*3*k*k, k x k (k = 2), no padding, fixed to the whitening
             of the training patches (only its bias learns), then act    (N, 24, 31, 31)
    block 1  conv 3x3 -> w1, max-pool 2, BN, act, conv 3x3, BN, act         (N, w1, 15, 15)
    block 2  the same -> w2                                                  (N, w2, 7, 7)
    block 3  the same -> w3                                                  (N, w3, 3, 3)
    head     global max-pool, linear w3 -> 10 (no bias), times 1/9            (N, 10)

act is GELU, as airbench (in its tanh form), or ReLU, as ResNet-9 (~3% cheaper a step on
the CPU).

Why each piece:
- The whitening conv hands the first block decorrelated, unit-variance patch
  features from step one, so nothing is spent learning them (nn.init.whitening_).
- The convolutions start as identity maps on their first input channels
  (nn.init.dirac_): a deep stack of them passes the signal through at first,
  like a residual net without the skip connections.
- BatchNorm right after each convolution makes the convolution's bias and the
  BN's scale redundant (BN removes the mean; the next conv absorbs a per-channel
  scale), so convs have no bias and BNs keep only their bias (`affine_weight`).
- The output is scaled down (1/9): small logits keep the softmax soft early on,
  which acts with label smoothing against overconfident fits.
"""
import minigrad.nn as nn


class BatchNormNoWeight(nn.BatchNorm2d):
    """BatchNorm2d whose scale stays 1 (not trained): only the shift (bias) learns.

    y = (x - mean) / sqrt(var + eps) + bias. The scale is still a Parameter, so that
    state dicts match PyTorch's BatchNorm2d, but it is left out of the optimizer
    (see `parameter_groups`) and has requires_grad=False."""

    def __init__(self, channels, momentum=0.4, eps=1e-12, affine_weight=False):
        super().__init__(channels, momentum=momentum, eps=eps)
        self.weight.requires_grad = affine_weight


def activation(name):
    """'gelu' (airbench's, in its tanh form: on the CPU it runs on slices in cache, where
    the exact form's erf takes several whole-array passes) or 'relu' (ResNet-9's)."""
    if name == "gelu":
        return nn.GELU(approximate="tanh")
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"SpeedrunNet: activation must be 'gelu' or 'relu', got {name!r}")


class ConvGroup(nn.Module):
    """conv 3x3, max-pool 2, BN, act, conv 3x3, BN, act: one resolution of the net."""

    def __init__(self, c_in, c_out, bn_weight=False, dirac=True, act="gelu"):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNormNoWeight(c_out, affine_weight=bn_weight)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = BatchNormNoWeight(c_out, affine_weight=bn_weight)
        self.act = activation(act)
        if dirac:  # identity on the first c_in channels, the default init on the rest
            for conv in (self.conv1, self.conv2):
                _dirac_first(conv.weight)

    def forward(self, x):
        x = self.act(self.norm1(self.pool(self.conv1(x))))  # (N, c_out, H/2, W/2)
        return self.act(self.norm2(self.conv2(x)))


def _dirac_first(weight):
    """Make the first min(out, in) filters identity maps; the others keep their random init.

    Filter i of an identity-initialised conv copies input channel i through (a 1 at
    the kernel's centre): the conv starts as "pass the input on", plus random filters
    for the channels beyond the input's count."""
    n = min(weight.shape[0], weight.shape[1])
    rest = weight.data[n:].copy()
    nn.init.dirac_(weight)          # identity on filters 0 .. n-1, zero elsewhere
    weight.data[n:] = rest


class SpeedrunNet(nn.Module):
    """The network above; `widths` = (w1, w2, w3), `whiten_kernel` the whitening conv's size."""

    def __init__(self, widths=(64, 256, 256), whiten_kernel=2, scale=1 / 9, bn_weight=False,
                 dirac=True, act="gelu"):
        super().__init__()
        k = whiten_kernel
        self.whiten = nn.Conv2d(3, 2 * 3 * k * k, k, padding=0, bias=True)  # (N, 24, 31, 31)
        self.act = activation(act)
        w1, w2, w3 = widths
        self.layers = nn.Sequential(ConvGroup(self.whiten.out_channels, w1, bn_weight, dirac, act),
                                    ConvGroup(w1, w2, bn_weight, dirac, act),
                                    ConvGroup(w2, w3, bn_weight, dirac, act))
        self.head = nn.Linear(w3, 10, bias=False)
        self.scale = scale

    def forward(self, x):
        x = self.layers(self.act(self.whiten(x)))
        x = x.reshape(x.shape[0], x.shape[1], -1).amax(dim=2)  # (N, w3): each map's maximum
        return self.head(x) * self.scale
