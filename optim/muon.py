"""Muon: momentum whose update matrix is orthogonalized by a Newton-Schulz iteration."""
import math

import numpy as np

from .moments import ema_, lerp
from .optimizer import Optimizer, check_range


def newton_schulz(update, coefficients=(3.4445, -4.7750, 2.0315), steps=5, eps=1e-7):
    r"""Approximately orthogonalize a matrix: G = U S V^T  ->  about U V^T.

    Scale X = G / ||G||_F so every singular value is <= 1, then apply the
    odd polynomial p(x) = a x + b x^3 + c x^5 to the singular values, in
    matrix form:

        A = X X^T ;  X <- a X + (b A + c A A) X        (repeated `steps` times)

    Keller Jordan's coefficients (a, b, c) push every singular value into
    roughly [0.5, 1.5] in 5 steps (not exactly 1: that is enough, and cheap).
    A wide matrix is iterated as is and a tall one transposed, so that
    A = X X^T is the smaller Gram matrix. Returns a new array; `update` is
    left untouched. Runs in the input's dtype.
    """
    a, b, c = coefficients
    tall = update.shape[0] > update.shape[1]
    x = update.T if tall else update
    # spectral norm <= Frobenius norm <= 1; np.maximum, not max(float(...)): no GPU sync
    x = x / np.maximum(np.sqrt((x * x).sum()), eps)
    for _ in range(steps):
        gram = x @ x.T                                 # (rows, rows), rows <= cols
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if tall else x


class Muon(Optimizer):
    r"""Muon, following PyTorch's `torch.optim.Muon` (`torch/optim/_muon.py`), for 2-D weights.

    SGD momentum on a weight matrix, but the step is replaced by the nearest
    (semi-)orthogonal matrix, so every direction of the update moves with
    the same strength, whatever the gradient's conditioning. Step:

        B <- mu * B + (1 - mu) * g                 (momentum buffer, starts at 0)
        U = mu * B + (1 - mu) * g   if nesterov   else   U = B
        O = NewtonSchulz(U)                        (about the orthogonal factor of U)
        theta <- theta * (1 - lr * weight_decay)   (decoupled, with the unadjusted lr)
        theta <- theta - lr' * O,   lr' = lr * sqrt(max(1, rows / cols))    (adjust_lr_fn "original")
                                    lr' = lr * 0.2 * sqrt(max(rows, cols))   ("match_rms_adamw")

    The (1 - mu) scale of the buffer does not matter: Newton-Schulz divides
    by the norm first. Only 2-D parameters are accepted by default, as in
    PyTorch: use another rule for biases, norms and embeddings (one optimizer
    over both: `optim.Combined`).

    Two options beyond PyTorch's, both from airbench94_muon (Keller Jordan's
    CIFAR-10 speedrun, which reaches 94% in 8 epochs with Muon on its conv
    filters, where its SGD version needs 9.9):

    `flatten=True`: a conv kernel (F, C, KH, KW) is orthogonalized as the
        (F, C*KH*KW) matrix that its convolution multiplies the im2col
        columns by, i.e. every filter is one row.
    `normalize_weights=True`: before each step the weight is rescaled to
        Frobenius norm sqrt(rows), theta <- theta * sqrt(rows) / ||theta||_F.
        With an orthogonal step of fixed size, the weight's norm then fixes the
        step's size relative to the weight (a scale-invariant weight, as one
        followed by batch-norm, otherwise grows and its effective lr shrinks);
        weight decay has nothing left to do, so give weight_decay=0.

    Difference from PyTorch: PyTorch runs Newton-Schulz in bfloat16; NumPy has
    no bfloat16, so here it runs in the parameter's dtype (more precise).
    The two trajectories drift apart (by 2.6e-3 after 30 steps at lr=0.02 on
    a 4x3 test problem); with PyTorch's iteration patched to float64 they
    agree to rounding (tests/test_optim_torch_parity.py).
    """

    weight_decay_form = "decoupled"

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(3.4445, -4.7750, 2.0315), eps=1e-7, ns_steps=5,
                 adjust_lr_fn=None, flatten=False, normalize_weights=False):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                      nesterov=nesterov, ns_coefficients=ns_coefficients,
                                      eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn,
                                      flatten=flatten, normalize_weights=normalize_weights))

    def validate(self, group):
        super().validate(group)
        check_range(self, "momentum", group["momentum"], low=0.0)
        check_range(self, "ns_steps", group["ns_steps"], low=0, high=100)
        if len(group["ns_coefficients"]) != 3:
            raise ValueError(f"Muon: ns_coefficients must be 3 numbers (a, b, c), got "
                             f"{group['ns_coefficients']!r}")
        if group["adjust_lr_fn"] not in (None, "original", "match_rms_adamw"):
            raise ValueError(f"Muon: unknown adjust_lr_fn {group['adjust_lr_fn']!r}; use None, "
                             "'original' or 'match_rms_adamw'")
        for p in group["params"]:
            if p.ndim < 2 or (p.ndim > 2 and not group["flatten"]):
                raise ValueError(f"Muon only optimizes 2-D weight matrices, got a parameter of "
                                 f"shape {p.shape}; give biases, norm scales and embeddings to "
                                 "another rule, e.g. AdamW (optim.Combined steps both as one "
                                 "optimizer), and pass flatten=True for conv kernels")

    def init_state(self, param, group):
        return {"step": 0, "momentum_buffer": np.zeros_like(param)}

    def update(self, param, grad, state, group):
        lr, mu = group["lr"], group["momentum"]
        b = ema_(state["momentum_buffer"], grad, mu)
        u = lerp(grad, b, mu) if group["nesterov"] else b  # mu * B + (1 - mu) * g
        rows, cols = len(param), param.size // len(param)  # a kernel (F, C, KH, KW): F x C*KH*KW
        o = newton_schulz(u.reshape(rows, cols), group["ns_coefficients"], group["ns_steps"],
                          group["eps"])
        if group["normalize_weights"]:  # np.sqrt, not math.sqrt(float(...)): no GPU sync
            param *= math.sqrt(rows) / np.sqrt((param * param).sum())
        if group["adjust_lr_fn"] == "match_rms_adamw":
            adjusted_lr = lr * 0.2 * math.sqrt(max(rows, cols))
        else:  # None or "original"
            adjusted_lr = lr * math.sqrt(max(1.0, rows / cols))
        param -= adjusted_lr * o.reshape(param.shape)
