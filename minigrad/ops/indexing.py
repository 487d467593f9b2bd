"""Indexing with index tensors: gather, scatter, index_select, masks, triangles, diagonals.

Most of these are `x[index]` in disguise. `gather(x, 1, index)` picks
`out[i][j] = x[i][index[i][j]]`: that is NumPy advanced indexing with the
index tuple `(rows, index)`, where `rows[i][j] = i` (`_along` builds it). So
they reuse getitem (ops/shape.py), whose backward scatter-adds the gradient
back, and whose scatter (`GetItemGrad`) is in turn `scatter_add`. Only
`scatter` (which overwrites) is a Function of its own.

Index tensors are int64 and never differentiated. On a GPU, checking that
every index is in range reads them back to the host, so that check runs on
the CPU only (or with minigrad.cuda.set_value_checks(True)).
"""
import numpy as np

from .. import backend
from ..autograd import Function, _as_tensors
from ..tensor import Tensor
from .elementwise import where
from .shape import GetItemGrad, getitem, pad, reshape, transpose

__all__ = ["gather", "scatter", "scatter_add", "scatter_reduce", "index_select", "index_add",
           "masked_fill", "masked_select", "nonzero", "take", "one_hot", "tril", "triu",
           "diagonal", "diag"]


def dim_index(dim, ndim, op_name):
    """A PyTorch dim (negative counts from the end) -> 0..ndim-1, or IndexError."""
    size = max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    if not -size <= dim < size:
        raise IndexError(f"{op_name}: dim {dim} is out of range for a tensor with {ndim} "
                         f"dimension(s) (expected a dim in [{-size}, {size - 1}])")
    return int(dim) % size


def _index_array(index, x, op_name):
    """An index Tensor (or list) as an integer array on x's device."""
    if not isinstance(index, Tensor):
        index = Tensor(np.asarray(index, dtype=np.int64), device=x.device)
    _as_tensors((x, index), op_name)  # same device, or an error naming both
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op_name}: the index must be an integer tensor, got dtype {index.dtype}; "
                        "use index.astype(minigrad.int64)")
    return index.data


def _check_range(index, size, op_name, dim):
    if backend.checks_values(index) and index.size and (index.min() < -size or index.max() >= size):
        raise IndexError(f"{op_name}: index out of range: dim {dim} has size {size}, but the "
                         f"index holds values in [{int(index.min())}, {int(index.max())}]")


def _along(index, dim):
    """The advanced index that reads `index` along `dim`: element (i, j, k) of
    the result picks (i, index[i, j, k], k) for dim 1. Every other axis gets an
    arange shaped to broadcast against index (an open grid)."""
    xp = backend.array_module(index)
    grid = [xp.arange(n).reshape((-1,) + (1,) * (index.ndim - 1 - d))
            for d, n in enumerate(index.shape)]
    grid[dim] = index
    return tuple(grid)


def _gather_args(x, dim, index, op_name):
    dim = dim_index(dim, x.ndim, op_name)
    index = _index_array(index, x, op_name)
    fits = index.ndim == x.ndim and all(i <= n for d, (i, n) in enumerate(zip(index.shape, x.shape))
                                        if d != dim)
    if not fits:
        raise RuntimeError(f"{op_name}: index of shape {tuple(index.shape)} does not fit input of "
                           f"shape {x.shape} along dim {dim}: it needs as many dims as the input "
                           "and no larger size on any dim other than `dim`")
    _check_range(index, x.shape[dim] if x.ndim else 1, op_name, dim)
    return dim, index


def gather(x, dim, index):
    """torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] (for dim=1).

    The gradient scatter-adds back: an element picked twice gets both gradients."""
    dim, index = _gather_args(x, dim, index, "gather")
    return getitem(x, _along(index, dim))


def _source(src, index, like, op_name):
    """src cut to index's shape (PyTorch reads only that corner), or a scalar as a constant."""
    if not isinstance(src, Tensor):
        return Tensor._wrap(like.xp.full(index.shape, src, dtype=like.dtype), like.device)
    _as_tensors((like, src), op_name)
    if src.ndim != index.ndim or any(s < i for s, i in zip(src.shape, index.shape)):
        raise RuntimeError(f"{op_name}: src of shape {src.shape} is smaller than index of shape "
                           f"{tuple(index.shape)}; src needs at least index's size on every dim")
    return getitem(src, tuple(slice(0, n) for n in index.shape))


class Scatter(Function):
    """out = x, then out[picked] = src (torch.scatter). Overwritten elements of x
    get no gradient; src gets the gradient of the element it landed on."""

    save_inputs = save_outputs = False

    def __init__(self, picked):
        self.picked = picked

    def forward(self, x, src):
        out = x.copy()
        out[self.picked] = src
        return out

    def backward(self, gy):
        kept = gy.xp.ones(gy.shape, dtype=gy.dtype)
        kept[self.picked] = 0
        return gy * Tensor._wrap(kept, gy.device), gy[self.picked]


def scatter(x, dim, index, src=None, value=None, reduce=None):
    """torch.scatter: out[i][index[i][j]] = src[i][j] (dim=1), the rest of out is x.

    `value` (or a Python number as src) writes one number. With `reduce` ("add",
    "multiply") it is scatter_reduce. Where index repeats, which write wins is
    undefined, as in PyTorch."""
    src = value if src is None else src
    if reduce is not None:
        names = {"add": "sum", "multiply": "prod"}
        return scatter_reduce(x, dim, index, src, names.get(reduce, reduce))
    dim, index = _gather_args(x, dim, index, "scatter")
    return Scatter(_along(index, dim))(x, _source(src, index, x, "scatter"))


def scatter_add(x, dim, index, src):
    """torch.scatter_add: out = x, then out[i][index[i][j]] += src[i][j] (dim=1),
    repeated indices adding up. Gradients: x gets gy, src gets gy gathered."""
    dim, index = _gather_args(x, dim, index, "scatter_add")
    src = _source(src, index, x, "scatter_add")
    return x + GetItemGrad(_along(index, dim), x.shape)(src)


def scatter_reduce(x, dim, index, src, reduce, include_self=True):
    """torch.scatter_reduce with reduce in "sum", "prod", "mean", "amax", "amin".

    Each output element reduces x's element (if include_self) and every src
    element sent to it; an element nothing is sent to stays x. For amax/amin the
    gradient goes to the elements equal to the result, split evenly among ties
    (as PyTorch). "prod" multiplies in one slice of index at a time (see
    _scatter_prod), so its gradient is the product rule's, zeros included."""
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise NotImplementedError(f"scatter_reduce: reduce={reduce!r} is not supported; use "
                                  "'sum', 'prod', 'mean', 'amax' or 'amin'")
    dim, index = _gather_args(x, dim, index, "scatter_reduce")
    src = _source(src, index, x, "scatter_reduce")
    picked = _along(index, dim)
    xp = x.xp
    hits = backend.add_at(xp.zeros(x.shape, x.dtype), picked, xp.ones(index.shape, x.dtype))
    # How much x itself counts: 1, or (include_self=False) only where nothing lands.
    self_weight = xp.ones_like(hits) if include_self else (hits == 0).astype(x.dtype)
    if reduce == "prod":
        # include_self=False: where something lands, start from 1 instead of x
        start = x if include_self else where(Tensor._wrap(hits == 0, x.device), x, 1)
        return _scatter_prod(start, dim, index, src)
    if reduce in ("amax", "amin"):
        start = _extreme(x.dtype, lowest=reduce == "amax")
        result = xp.where(self_weight > 0, x.data, xp.asarray(start, x.dtype))
        backend.extreme_at(result, picked, src.data, reduce == "amax")  # the result (a constant)
        x_weight = self_weight * (x.data == result)        # x's winners
        src_weight = (src.data == result[picked]).astype(x.dtype)  # src's winners
    else:
        x_weight, src_weight = self_weight, xp.ones(index.shape, x.dtype)
    total = x * Tensor._wrap(x_weight, x.device) + \
        GetItemGrad(picked, x.shape)(src * Tensor._wrap(src_weight, x.device))
    if reduce == "sum":
        return total
    count = x_weight + backend.add_at(xp.zeros(x.shape, x.dtype), picked, src_weight)
    return total / Tensor._wrap(count, x.device)  # mean, or the winners' mean = the max


def _scatter_prod(out, dim, index, src):
    """out[index[i][j]] *= src[i][j] (dim=1) for every j, one j at a time.

    Two src elements sent to one place must both multiply into it, and CuPy has
    no multiply.at to do that in one scatter. But within one slice j of index
    every element goes to a different row i, so `out[targets] = out[targets] *
    src_j` is an ordinary scatter. Written with differentiable ops (getitem, *,
    Scatter), its gradient, second derivatives included, follows: for x * a * b,
    a gets g * x * b, with no division (exact where a factor is 0). It costs
    index.shape[dim] passes over out: fine for teaching-sized tensors."""
    for j in range(index.shape[dim]):
        index_j = index[(slice(None),) * dim + (slice(j, j + 1),)]  # slice j, dims kept
        targets = _along(index_j, dim)
        src_j = getitem(src, (slice(None),) * dim + (slice(j, j + 1),))
        out = Scatter(targets)(out, getitem(out, targets) * src_j)
    return out


def _extreme(dtype, lowest):
    """-inf (or +inf) in dtype: the identity of max (min); for integers, the extreme value."""
    if dtype.kind == "f":
        return -np.inf if lowest else np.inf
    return np.iinfo(dtype).min if lowest else np.iinfo(dtype).max


def index_select(x, dim, index):
    """torch.index_select: the slices index[0], index[1], ... of x along dim."""
    dim = dim_index(dim, x.ndim, "index_select")
    index = _index_array(index, x, "index_select")
    if index.ndim > 1:
        raise IndexError(f"index_select: index must be 1-d, got shape {tuple(index.shape)}")
    _check_range(index, x.shape[dim] if x.ndim else 1, "index_select", dim)
    return getitem(x, (slice(None),) * dim + (index.reshape(-1),))


def index_add(x, dim, index, source, alpha=1):
    """torch.index_add: out = x, then out[..., index[i], ...] += alpha * source[..., i, ...]."""
    dim = dim_index(dim, x.ndim, "index_add")
    index = _index_array(index, x, "index_add").reshape(-1)
    expected = x.shape[:dim] + (index.size,) + x.shape[dim + 1:]
    if source.shape != expected:
        raise RuntimeError(f"index_add: source of shape {source.shape} must have shape {expected} "
                           f"(x {x.shape} with dim {dim} of the index's length {index.size})")
    _check_range(index, x.shape[dim], "index_add", dim)
    return x + GetItemGrad((slice(None),) * dim + (index,), x.shape)(source * alpha)


def _mask_array(mask, x, op_name):
    mask = mask if isinstance(mask, Tensor) else Tensor(np.asarray(mask), device=x.device)
    _as_tensors((x, mask), op_name)
    if mask.dtype != np.bool_:
        raise TypeError(f"{op_name}: the mask must be a bool tensor, got dtype {mask.dtype}")
    return mask


def masked_fill(x, mask, value):
    """torch.masked_fill: x where mask is False, value where it is True (mask broadcasts)."""
    mask = _mask_array(mask, x, "masked_fill")
    value = value if isinstance(value, Tensor) else Tensor._wrap(x.xp.asarray(value, x.dtype),
                                                                  x.device)
    return where(mask, value.astype(x.dtype), x)


def masked_select(x, mask):
    """torch.masked_select: the elements of x where mask is True, as a 1-d tensor.

    The output's length depends on the mask's values, so on a GPU this reads
    the mask back to the host (a synchronization), like boolean indexing."""
    mask = _mask_array(mask, x, "masked_select")
    shape = np.broadcast_shapes(x.shape, mask.shape)
    return getitem(x.broadcast_to(shape), mask.broadcast_to(shape).data)


def nonzero(x, as_tuple=False):
    """torch.nonzero: the indices of the nonzero elements, shape (count, ndim)
    (or a tuple of ndim 1-d tensors). Not differentiable. The count depends on
    the values, so on a GPU this reads them back to the host (a synchronization)."""
    xp = x.xp
    found = xp.nonzero(x.data.reshape(1) if x.ndim == 0 else x.data)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64), x.device) for i in found)
    return Tensor._wrap(xp.stack(found, axis=1).astype(np.int64), x.device)


def take(x, index):
    """torch.take: x read as 1-d, at index (the result has index's shape)."""
    index = _index_array(index, x, "take")
    _check_range(index, x.numel(), "take", 0)
    return getitem(reshape(x, (-1,)), index)


def one_hot(labels, num_classes=-1):
    """torch.nn.functional.one_hot: int64 tensor with a trailing axis of size
    num_classes, 1 at each label. num_classes=-1 uses max(labels) + 1, which on a
    GPU reads the labels back to the host (a synchronization)."""
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be an integer tensor, got dtype {labels.dtype}")
    data = labels.data
    if num_classes == -1:
        num_classes = int(data.max()) + 1 if data.size else 0
    if backend.checks_values(data) and data.size and (data.min() < 0 or data.max() >= num_classes):
        raise RuntimeError(f"one_hot: labels must lie in [0, {num_classes}) for num_classes="
                           f"{num_classes}, got values in [{int(data.min())}, {int(data.max())}]")
    classes = labels.xp.arange(num_classes)
    return Tensor._wrap((data[..., None] == classes).astype(np.int64), labels.device)


# -------------------------------------------------------- triangles and diagonals
def _zero(x):
    return Tensor._wrap(x.xp.zeros((), x.dtype), x.device)


def _triangle(x, diagonal, lower, op_name):
    if x.ndim < 2:
        raise RuntimeError(f"{op_name}: needs a tensor with at least 2 dims, got shape {x.shape}")
    rows, cols = x.shape[-2:]
    below = x.xp.tri(rows, cols, diagonal if lower else diagonal - 1, dtype=bool)
    return where(Tensor._wrap(below if lower else ~below, x.device), x, _zero(x))


def tril(x, diagonal=0):
    """torch.tril: keep x[..., i, j] where j - i <= diagonal, zero elsewhere."""
    return _triangle(x, diagonal, True, "tril")


def triu(x, diagonal=0):
    """torch.triu: keep x[..., i, j] where j - i >= diagonal, zero elsewhere."""
    return _triangle(x, diagonal, False, "triu")


def diagonal(x, offset=0, dim1=0, dim2=1):
    """torch.diagonal: the elements x[..., i, i + offset] of the (dim1, dim2)
    planes, on a new last axis. Advanced indexing, so the gradient goes back
    onto the diagonal."""
    if x.ndim < 2:
        raise RuntimeError(f"diagonal: needs a tensor with at least 2 dims, got shape {x.shape}")
    dim1, dim2 = dim_index(dim1, x.ndim, "diagonal"), dim_index(dim2, x.ndim, "diagonal")
    if dim1 == dim2:
        raise RuntimeError(f"diagonal: dim1 and dim2 must differ, both are {dim1}")
    rest = [d for d in range(x.ndim) if d not in (dim1, dim2)]
    planes = transpose(x, rest + [dim1, dim2])
    row0, col0 = max(-offset, 0), max(offset, 0)
    length = max(0, min(x.shape[dim1] - row0, x.shape[dim2] - col0))
    steps = x.xp.arange(length)
    return getitem(planes, (Ellipsis, steps + row0, steps + col0))


_diagonal_of = diagonal  # diag's argument `diagonal` (PyTorch's name) hides the function


def diag(x, diagonal=0):
    """torch.diag: a 1-d x becomes the square matrix with x on the given diagonal;
    a 2-d x gives its diagonal."""
    if x.ndim == 2:
        return _diagonal_of(x, diagonal)
    if x.ndim != 1:
        raise RuntimeError(f"diag: expects a 1-d or 2-d tensor, got shape {x.shape}")
    n, k = x.shape[0], abs(diagonal)
    square = where(Tensor._wrap(x.xp.eye(n, dtype=bool), x.device), x.reshape(1, n), _zero(x))
    # shift it off the main diagonal: above it (diagonal > 0) or below it
    width = ((0, k), (k, 0)) if diagonal >= 0 else ((k, 0), (0, k))
    return pad(square, width) if k else square
