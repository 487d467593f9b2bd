"""The two layers that are one matrix each: linear (x W^T + b) and embedding (W[indices])."""
from ..autograd import Function, _as_tensors
from ..tensor import Tensor
from .shape import GetItemGrad

__all__ = ["linear", "embedding"]


class Linear(Function):
    r"""y = x W^T + b, for x (..., in), W (out, in) (PyTorch's layout), b (out,).

    With the batch flattened to rows, X (M, in) and G = dL/dy (M, out):

        dL/dx = G W          (M, out) @ (out, in)
        dL/dW = G^T X        (out, M) @ (M, in)
        dL/db = 1^T G        (M,) @ (M, out): a column sum, done as a
                             matrix-vector product, which BLAS runs faster
                             than a reduction over the slow axis.
    """

    save_inputs, save_outputs = (0, 1), False  # x and W (the bias is only added)

    def forward(self, x, weight, bias=None):
        y = x @ weight.T  # (..., in) @ (in, out) -> (..., out)
        if bias is not None:
            y += bias
        return y

    def backward(self, gy):
        x, weight = self.inputs[0], self.inputs[1]
        out_features, in_features = weight.shape
        gx = gy @ weight if self.needs_input_grad[0] else None  # (..., out) @ (out, in)
        gy_rows = gy.reshape((-1, out_features))  # (M, out)
        gw = None
        if self.needs_input_grad[1]:
            gw = gy_rows.T @ x.reshape((-1, in_features))  # (out, M) @ (M, in) -> (out, in)
        if len(self.input_shapes) == 2:
            return gx, gw
        gb = None
        if self.needs_input_grad[2]:
            ones = Tensor._wrap(gy.xp.ones(gy_rows.shape[0], gy.dtype), gy.device)
            gb = ones @ gy_rows  # (M,) @ (M, out) -> (out,)
        return gx, gw, gb


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias, with weight of shape (out_features, in_features)."""
    tensors = _as_tensors((x, weight) if bias is None else (x, weight, bias), "linear")
    x, weight = tensors[0], tensors[1]
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weight of shape "
                         f"{weight.shape}: the input's last axis must have in_features = "
                         f"{weight.shape[1]} elements")
    if bias is not None and tensors[2].shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) to match weight "
                         f"{weight.shape}, got {tensors[2].shape}")
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) > 1:
        raise TypeError(f"linear: input, weight and bias must share one dtype, got "
                        f"{[str(t.dtype) for t in tensors]}; convert the input with "
                        f".astype({weight.dtype}) or the layer with .to(dtype)")
    return Linear()(*tensors)


class Embedding(Function):
    r"""y = W[indices]: row lookup, shape indices.shape + (embedding_dim,).

    A row picked k times receives the sum of its k gradients (scatter-add);
    the row `padding_idx`, if given, receives none, as in PyTorch."""

    save_inputs = save_outputs = False  # backward needs the indices and the weight's shape

    def __init__(self, indices, padding_idx):
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, weight):
        return weight[self.indices]

    def backward(self, gy):
        if self.padding_idx is not None:
            keep = (self.indices != self.padding_idx)[..., None].astype(gy.dtype)
            gy = gy * Tensor._wrap(keep, gy.device)
        return GetItemGrad(self.indices, self.input_shapes[0])(gy)


def embedding(indices, weight, padding_idx=None):
    """Look up rows of `weight` (num_embeddings, embedding_dim) by integer `indices`."""
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    if isinstance(indices, Tensor):
        if indices.device != weight.device:
            raise RuntimeError(f"embedding: indices are on {indices.device} but weight is on "
                               f"{weight.device}; call indices.to('{weight.device}')")
        indices = indices.data
    else:
        indices = weight.xp.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype} "
                        f"(shape {indices.shape}); convert them with .astype(minigrad.int64)")
    num = weight.shape[0]
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= num):
        raise IndexError(f"embedding: indices must be in [0, {num}) for a weight of shape "
                         f"{weight.shape}, got values from {int(indices.min())} to "
                         f"{int(indices.max())}")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx must be in [-{num}, {num}) for a weight "
                             f"of shape {weight.shape}, got {padding_idx}")
        padding_idx = int(padding_idx) % num  # -1 means the last row, as in PyTorch
    return Embedding(indices, padding_idx)(weight)

