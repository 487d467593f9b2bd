"""SparseAdam: Adam that only touches the entries a gradient actually reaches."""
import math

import numpy as np

from .optimizer import Optimizer, check_betas


class SparseAdam(Optimizer):
    r"""Masked Adam, PyTorch's `torch.optim.SparseAdam` semantics on dense arrays.

    When only a few rows of a big embedding table are used in a batch, Adam
    would still decay the moments (and move the weights) of every row.
    SparseAdam updates only the entries I where the gradient is non-zero;
    the others keep their weights AND their moments. Step t = 1, 2, ...:

        I = {i : g_i != 0}
        m_I   <- beta1 * m_I + (1 - beta1) * g_I
        v_I   <- beta2 * v_I + (1 - beta2) * g_I^2
        theta_I <- theta_I - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m_I / (sqrt(v_I) + eps)

    t counts every step the parameter had a gradient, even one with no
    non-zero entry (then nothing else changes). eps is added to sqrt(v), not
    to sqrt(v_hat) as in Adam.

    minigrad has no sparse tensors: gradients are dense arrays and the mask
    is "entry != 0". PyTorch takes a sparse (COO) gradient and updates the
    entries it stores, which for `dense_grad.to_sparse()` are exactly the
    non-zero ones, so the two agree. (A sparse gradient from
    `nn.Embedding(sparse=True)` stores whole rows; an entry inside a used row
    whose gradient is exactly 0 is updated there and skipped here.)
    No weight decay, as in PyTorch.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))

    def validate(self, group):
        super().validate(group)
        if not group["lr"] > 0.0:
            raise ValueError(f"SparseAdam: invalid lr = {group['lr']!r}; it must be > 0")
        if not group["eps"] > 0.0:
            raise ValueError(f"SparseAdam: invalid eps = {group['eps']!r}; it must be > 0")
        check_betas(self, group["betas"])

    def init_state(self, param, group):
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        t, (beta1, beta2) = state["step"], group["betas"]
        touched = grad != 0  # the mask I
        # np.where(I, new, old) instead of indexing with I: boolean-mask indexing
        # asks the GPU how many entries are True (a sync every step). Same values.
        # PyTorch's sparse kernel writes both moments as avg + (1 - beta) (x - avg), so
        # the EMA is written out here rather than with ema_.
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m[...] = np.where(touched, m + (1.0 - beta1) * (grad - m), m)
        v[...] = np.where(touched, v + (1.0 - beta2) * (grad * grad - v), v)
        step_size = group["lr"] * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
        param[...] = np.where(touched, param - step_size * (m / (np.sqrt(v) + group["eps"])), param)
