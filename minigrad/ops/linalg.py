"""Matrix multiplication, batched and with NumPy's 1-D rules."""
from ..autograd import Function, _as_tensors
from .shape import ShapeError

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
