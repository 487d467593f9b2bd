"""pixel_shuffle and pixel_unshuffle: trade channels for resolution (sub-pixel convolution).

With upscale factor r, pixel_shuffle moves each group of r*r channels into an
r x r block of pixels:

    y[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w]

so (*, C*r*r, H, W) -> (*, C, H*r, W*r); pixel_unshuffle is its inverse. Both
are a reshape, a transpose and a reshape, so autograd differentiates them
with no code of their own (each step's backward is the inverse step).
"""
from ..tensor import Tensor

__all__ = ["pixel_shuffle", "pixel_unshuffle"]


def _check(op, x, factor, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {factor!r}")
    if x.ndim < 3:
        raise ValueError(f"{op}: expects an input (*, C, H, W) with at least 3 dims, got shape "
                         f"{x.shape}")


def pixel_shuffle(x, upscale_factor):
    """torch.nn.functional.pixel_shuffle: (*, C*r*r, H, W) -> (*, C, H*r, W*r)."""
    _check("pixel_shuffle", x, upscale_factor, "upscale_factor")
    r, (*batch, C, H, W) = upscale_factor, x.shape
    if C % (r * r):
        raise RuntimeError(f"pixel_shuffle: the input's channels ({C}, shape {x.shape}) must be "
                           f"divisible by upscale_factor squared ({r}*{r} = {r * r})")
    k = len(batch)
    y = x.reshape(*batch, C // (r * r), r, r, H, W)                # (*, C', i, j, H, W)
    y = y.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)        # (*, C', H, i, W, j)
    return y.reshape(*batch, C // (r * r), H * r, W * r)           # (*, C', H*r, W*r)


def pixel_unshuffle(x, downscale_factor):
    """torch.nn.functional.pixel_unshuffle: (*, C, H*r, W*r) -> (*, C*r*r, H, W)."""
    _check("pixel_unshuffle", x, downscale_factor, "downscale_factor")
    r, (*batch, C, H, W) = downscale_factor, x.shape
    if H % r or W % r:
        raise RuntimeError(f"pixel_unshuffle: the input's height and width ({H}, {W}, shape "
                           f"{x.shape}) must be divisible by downscale_factor {r}")
    k = len(batch)
    y = x.reshape(*batch, C, H // r, r, W // r, r)                 # (*, C, H', i, W', j)
    y = y.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)        # (*, C, i, j, H', W')
    return y.reshape(*batch, C * r * r, H // r, W // r)            # (*, C*r*r, H', W')
