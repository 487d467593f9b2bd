"""Matrix multiplication, batched and with NumPy's 1-D rules; the nuclear norm."""
from .. import backend
from ..autograd import Function, _as_tensors, is_grad_enabled
from ..tensor import Tensor
from .shape import DimError, ShapeError, permute, unsqueeze

__all__ = ["matmul"]


class MatMul(Function):
    """y = x @ w for x (..., n, k) and w (..., k, m); batch axes broadcast."""

    save_inputs, save_outputs = True, False  # dx = gy w^T, dw = x^T gy

    def forward(self, x, w):
        return x @ w

    def backward(self, gy):
        x, w = self.inputs
        gx = gy @ w.swapaxes(-1, -2) if self.needs_input_grad[0] else None  # (..., n, k)
        gw = x.swapaxes(-1, -2) @ gy if self.needs_input_grad[1] else None  # (..., k, m)
        return gx, gw  # the engine sums broadcast batch axes away


def matmul(x, w):
    """NumPy semantics: a 1-D x is a row vector, a 1-D w a column vector, and the
    added axis is removed from the result."""
    x, w = _as_tensors((x, w), "matmul")
    if x.ndim == 0 or w.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, got shapes "
                         f"{x.shape} and {w.shape}; use * for scalars")
    x2 = x.unsqueeze(0) if x.ndim == 1 else x
    w2 = w.unsqueeze(-1) if w.ndim == 1 else w
    if x2.shape[-1] != w2.shape[-2]:
        raise ShapeError(f"matmul: shapes {x.shape} and {w.shape} are not aligned: "
                         f"{x2.shape[-1]} (last axis of the first) != {w2.shape[-2]} "
                         f"({'only' if w.ndim == 1 else 'second-to-last'} axis of the second)")
    y = MatMul()(x2, w2)
    if w.ndim == 1:
        y = y.squeeze(-1)
    if x.ndim == 1:
        y = y.squeeze(-2 if w.ndim > 1 else -1)
    return y


class NuclearNorm(Function):
    """||X||_* = sum of X's singular values, for the matrices on the last two axes.

    With X = U diag(s) V^T (reduced SVD), a small change dX moves each singular
    value by ds_i = u_i^T dX v_i (U and V turn too, but that changes s only to
    second order), so d||X||_* / dX = sum_i u_i v_i^T = U V^T, PyTorch's gradient.
    Its backward uses the SVD's raw U V^T, so it is not itself differentiable."""

    save_inputs = save_outputs = False  # backward needs only U V^T

    def forward(self, x):
        xp = backend.array_module(x)
        u, s, vh = xp.linalg.svd(x, full_matrices=False)  # (..., m, k), (..., k), (..., k, n)
        self.direction = u @ vh                            # (..., m, n): U V^T
        return s.sum(axis=-1)

    def backward(self, gy):
        if is_grad_enabled():
            raise RuntimeError("norm(x, 'nuc'): its gradient is not differentiable here "
                               "(create_graph=True needs the SVD's own derivative)")
        return gy[..., None, None] * Tensor._wrap(self.direction, gy.device)


def nuclear_norm(x, dim=None, keepdim=False):
    """torch.norm(x, "nuc"): the sum of singular values of the matrices on dims
    (a, b) (a 2-D x's own by default); keepdim keeps both as size 1."""
    if dim is None:
        if x.ndim != 2:
            raise RuntimeError(f"norm: p='nuc' needs a matrix (2-D) or dim=(a, b) naming the two "
                               f"matrix dims; got shape {x.shape}")
        dim = (0, 1)
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"norm: p='nuc' needs dim to name two dims (a, b), got dim={dim!r} "
                           f"for shape {x.shape}")
    a, b = dim
    for d in dim:
        if not -x.ndim <= d < x.ndim:
            raise DimError(f"norm: dim {d} is out of range for a tensor of shape {x.shape} "
                           f"(valid: {-x.ndim} to {x.ndim - 1})")
    a, b = a % x.ndim, b % x.ndim
    if a == b:
        raise RuntimeError(f"norm: p='nuc' needs two different dims, got dim={dim!r}")
    batch = [d for d in range(x.ndim) if d not in (a, b)]
    if (*batch, a, b) != tuple(range(x.ndim)):
        x = permute(x, (*batch, a, b))  # (..., rows, columns)
    result = NuclearNorm()(x)           # (...)
    if keepdim:
        for d in sorted((a, b)):
            result = unsqueeze(result, d)
    return result
