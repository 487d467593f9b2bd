"""Batch normalization with the statistics of the whole batch, over every rank.

Data-parallel training gives each rank a slice of the batch. Plain batch
norm would normalize each slice by its own mean and variance, so the model
would depend on how the batch was cut; with small slices the statistics get
noisy. Synchronized batch norm sums, per channel, over all ranks:

    forward:  S1 = sum x,  S2 = sum x^2,  M = count       (one all-reduce of [S1, S2, M])
              mean = S1 / M,  var = S2 / M - mean^2        (biased, as batch_norm)
              y = weight * (x - mean) / sqrt(var + eps) + bias
    backward: g1 = sum gy,  g2 = sum gy * (x - mean)       (one all-reduce of [g1, g2])
              d x = weight * inv_std * (gy - g1/M - (x - mean) * inv_std^2 * g2/M)

with inv_std = 1 / sqrt(var + eps): the batch-norm backward of
minigrad/ops/normalization.py, with its two per-channel sums taken over
every rank, because every rank's x moved the shared mean and variance.
The gradients of weight and bias stay this rank's own sums (sum gy * x_hat,
sum gy): DistributedDataParallel averages them with the other gradients.
The result equals batch_norm on the whole batch, to rounding.
"""

from .. import backend
from ..autograd import Function, _as_tensors, is_grad_enabled
from ..tensor import Tensor
from .collectives import ReduceOp
from .process_group import current_group

__all__ = ["sync_batch_norm"]


class SyncBatchNormTrain(Function):
    """Inputs (x, weight, bias); outputs (y, mean, unbiased variance), the
    statistics for the running averages and outside the graph."""

    save_inputs, save_outputs = (0, 1), False
    non_differentiable_outputs = (1, 2)

    def __init__(self, eps, group):
        self.eps, self.group = eps, group

    def forward(self, x, w, b):
        xp = backend.array_module(x)
        N, C = x.shape[:2]
        x3 = x.reshape(N, C, -1)                                            # (N, C, L)
        count = xp.full(1, x3.shape[0] * x3.shape[2], dtype=x.dtype)
        stats = xp.concatenate([x3.sum((0, 2)), (x3 * x3).sum((0, 2)), count])  # (2C + 1,)
        self.group.all_reduce(stats, ReduceOp.SUM).wait()
        total, total_squares, count = stats[:C], stats[C:2 * C], stats[2 * C]
        mean = total / count                                                # (C,)
        var = xp.maximum(total_squares / count - mean * mean, 0)            # rounding can dip below 0
        inv_std = 1.0 / xp.sqrt(var + self.eps)                             # (C,)
        y = (x3 - mean[:, None]) * (w * inv_std)[:, None] + b[:, None]      # (N, C, L)
        self.save_for_backward(mean, inv_std, count)
        return y.reshape(x.shape), mean.copy(), var * (count / (count - 1))

    def backward(self, gy, _mean_grad, _var_grad):
        if is_grad_enabled():
            raise RuntimeError("sync_batch_norm: its backward is not differentiable "
                               "(create_graph=True); use batch_norm for second derivatives")
        x, w, _ = self.inputs
        mean, inv_std, count = self.saved
        xp = backend.array_module(x.data)
        N, C = x.shape[:2]
        x_centered = x.data.reshape(N, C, -1) - mean[:, None]              # (N, C, L)
        gy3 = gy.data.reshape(N, C, -1)                                    # (N, C, L)
        local = xp.concatenate([gy3.sum((0, 2)), (gy3 * x_centered).sum((0, 2))])  # (2C,)
        wrap = lambda a: Tensor._wrap(a, x.device)  # noqa: E731
        grad_w, grad_b = wrap(local[C:] * inv_std), wrap(local[:C].copy())  # this rank's own
        if not self.needs_input_grad[0]:  # the same on every rank: they all skip the exchange
            return None, grad_w, grad_b
        self.group.all_reduce(local, ReduceOp.SUM).wait()
        g1, g2 = local[:C], local[C:]
        scale = w.data * inv_std                                           # (C,)
        gx = gy3 * scale[:, None]
        gx -= x_centered * (scale * inv_std * inv_std * g2 / count)[:, None]
        gx -= (scale * g1 / count)[:, None]
        return wrap(gx.reshape(x.shape)), grad_w, grad_b


def sync_batch_norm(x, running_mean, running_var, weight=None, bias=None, momentum=0.1, eps=1e-5):
    """Training-mode batch_norm whose statistics span every rank of the process group.

    Every rank must call it together, with inputs of the same channels (the
    batch sizes may differ). The running statistics are updated in place as
    batch_norm does, from the whole batch's mean and unbiased variance, so
    they agree on every rank."""
    op = "sync_batch_norm"
    x, = _as_tensors((x,), op)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input (N, C, ...), got shape {x.shape}")
    C = x.shape[1]
    weight = Tensor._constant(1.0, like=x).reshape(1).expand(C) if weight is None else weight
    bias = Tensor._constant(0.0, like=x).reshape(1).expand(C) if bias is None else bias
    for name, t in [("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)]:
        if t is not None and t.shape != (C,):
            raise ValueError(f"{op}: {name} must have shape ({C},), one value per channel of the "
                             f"input {x.shape}, got {t.shape}")
    y, mean, unbiased_var = SyncBatchNormTrain(eps, current_group())(x, weight, bias)
    if running_mean is not None:
        for running, stat in [(running_mean, mean.data), (running_var, unbiased_var.data)]:
            stat = stat.astype(running.dtype, copy=False)
            running.data[...] = momentum * stat + (1 - momentum) * running.data
    return y


