"""Exponential moving averages, the building block of most update rules.

    avg <- beta * avg + (1 - beta) * x

Written two ways, because PyTorch writes it two ways and the last bits of a
trajectory depend on which:

- `ema_` (first moments, momentum buffers): PyTorch's `avg.lerp_(x, 1 - beta)`,
  i.e. avg + w (x - avg) with w = 1 - beta, or x - (x - avg)(1 - w) when
  w >= 0.5 (torch.lerp switches form there, so that the result is exact at
  w = 1). Same formula, same branch; PyTorch's CPU kernel fuses the multiply
  and the add (one rounding instead of two), so the two agree to about one
  unit in the last place per step, not bit for bit.
- `ema_square_` (second moments): PyTorch's
  `avg.mul_(beta).addcmul_(x, x, value=1 - beta)`, i.e. beta avg, then
  + ((1 - beta) x) x, rounded in that order.

Both work in place on NumPy or CuPy arrays and return `avg`.
"""


def lerp(start, end, weight):
    """start + weight * (end - start), in torch.lerp's two forms (a new array)."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


def ema_(avg, x, beta):
    """avg <- beta * avg + (1 - beta) * x, in place: torch's avg.lerp_(x, 1 - beta)."""
    weight = 1.0 - beta
    if abs(weight) < 0.5:
        avg += weight * (x - avg)
    else:
        avg[...] = x - (x - avg) * (1.0 - weight)
    return avg


def ema_square_(avg, x, beta):
    """avg <- beta * avg + (1 - beta) * x^2, in place: torch's
    avg.mul_(beta).addcmul_(x, x, value=1 - beta)."""
    avg *= beta
    avg += (1.0 - beta) * x * x
    return avg
