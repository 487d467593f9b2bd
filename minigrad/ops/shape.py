"""Shape operations: reshape, transpose, broadcast, indexing, concatenate, split, pad.

None of these change values, they only move them around, so every backward
moves the gradient back: reshape <-> reshape, transpose <-> inverse transpose,
broadcast_to <-> sum_to, getitem <-> scatter-add, concatenate <-> split,
pad <-> slice. So no backward here needs the values of its input: each
keeps nothing but shapes (`save_inputs = save_outputs = False`).
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function, _as_tensors, sum_to
from ..dims import accepts_numpy_names
from ..tensor import Tensor


# The exception types PyTorch users catch, which are also the ValueErrors
# minigrad raised before (so `except ValueError` in older code still works).
class ShapeError(RuntimeError, ValueError):
    """Shapes that do not fit (broadcasting, matmul, cat): PyTorch raises RuntimeError."""


class DimError(IndexError, ValueError):
    """A dimension (axis) out of range: PyTorch raises IndexError."""


def check_axis(dim, ndim, op_name, shape):
    """dim in [-ndim, ndim) (a 0-d tensor accepts 0 and -1) -> dim in [0, ndim)."""
    bound = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or not -bound <= dim < bound:
        raise DimError(f"{op_name}: dim {dim} is out of range for a tensor of shape {shape} "
                       f"(expected a dim in [{-bound}, {bound - 1}])")
    return int(dim) % bound


# F.pad is ops/padding.py's (PyTorch's pad tuple and modes), built on the NumPy-style pad here
__all__ = ["reshape", "transpose", "permute", "swapaxes", "flatten", "squeeze", "unsqueeze",
           "expand", "broadcast_to", "sum_to", "getitem", "concatenate", "stack", "split",
           "tensor_split"]


class Reshape(Function):
    save_inputs = save_outputs = False

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.input_shapes[0])


class Transpose(Function):
    save_inputs = save_outputs = False

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        # The inverse permutation, through transpose() itself: the method gy.transpose(a, b)
        # would swap two dims (PyTorch's meaning), and ints from argsort must be plain ints.
        return transpose(gy, tuple(int(a) for a in np.argsort(self.axes)))


class BroadcastTo(Function):
    save_inputs = save_outputs = False

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return np.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.input_shapes[0])


def reshape(x, shape):
    shape = tuple(int(n) for n in shape)
    known = math.prod(n for n in shape if n != -1)
    wrong = shape.count(-1) > 1 or (-1 in shape and (known == 0 or x.numel() % known)) or \
        (-1 not in shape and known != x.numel())
    if wrong:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.numel()} "
                         f"elements) into shape {shape}")
    return Reshape(shape)(x) if shape != x.shape else x


def transpose(x, axes=None):
    """Reverse the axes (axes=None, like NumPy's .T) or permute them."""
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(check_axis(a, x.ndim, "transpose", x.shape) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes "
                         f"of a tensor of shape {x.shape}")
    return Transpose(axes)(x)


def permute(x, axes):
    return transpose(x, axes)


def swapaxes(x, axis1, axis2):
    axis1, axis2 = (check_axis(a, x.ndim, "swapaxes", x.shape) for a in (axis1, axis2))
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


@accepts_numpy_names
def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim (inclusive) into one, like torch.flatten."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = (check_axis(a, x.ndim, "flatten", x.shape) for a in (start_dim, end_dim))
    merged = math.prod(x.shape[start:end + 1])
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


@accepts_numpy_names
def squeeze(x, dim=None):
    """Remove dims of size 1: all of them, or those in `dim` (an int or a tuple).
    As in PyTorch, a dim whose size is not 1 is left alone, and a 0-d tensor
    (which accepts dim 0 or -1) stays 0-d."""
    if dim is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axes = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    axes = {check_axis(a, x.ndim, "squeeze", x.shape) for a in axes}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


@accepts_numpy_names
def unsqueeze(x, dim):
    """A new dim of size 1 at position `dim`, in [-ndim - 1, ndim] (the result's dims)."""
    dim = check_axis(dim, x.ndim + 1, "unsqueeze", x.shape)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def broadcast_to(x, shape):
    shape = tuple(shape)
    try:
        np.broadcast_shapes(x.shape, shape)
        assert len(shape) >= x.ndim and np.broadcast_shapes(x.shape, shape) == shape
    except (ValueError, AssertionError):
        raise ValueError(f"broadcast_to: cannot broadcast a tensor of shape {x.shape} to "
                         f"shape {shape}") from None
    return BroadcastTo(shape)(x) if shape != x.shape else x


def expand(x, shape):
    """Like torch's expand: -1 keeps a dimension as it is."""
    shape = tuple(shape)
    offset = len(shape) - x.ndim
    shape = tuple(x.shape[i - offset] if n == -1 else n for i, n in enumerate(shape))
    return broadcast_to(x, shape)


# sum_to, broadcast_to's adjoint, is defined in autograd.py: the engine itself
# uses it to undo broadcasting, and the engine sits below the ops.


# ------------------------------------------------------------------- indexing
def _is_basic(index):
    """Basic indexing (ints, slices, None, ...) never repeats an element."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


class GetItem(Function):
    save_inputs = save_outputs = False

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, gy):
        return GetItemGrad(self.index, self.input_shapes[0])(gy)


class GetItemGrad(Function):
    """Scatter a gradient back into a zero tensor of the input's shape.

    With integer-array indices an element can be picked several times
    (x[[0, 0, 1]]); each pick must add its gradient, hence scatter-add."""

    save_inputs = save_outputs = False

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, gy):
        gx = np.zeros_like(gy, shape=self.shape)
        if _is_basic(self.index):
            gx[self.index] = gy
        else:
            backend.add_at(gx, self.index, gy)
        return gx

    def backward(self, ggx):
        return ggx[self.index]


def array_index(index, x):
    """An index as NumPy/CuPy take it: Tensors become their arrays, lists arrays
    on x's device (getitem and the in-place setitem share this)."""
    def one(part):
        if isinstance(part, Tensor):
            return part.data
        if isinstance(part, list):
            return x.xp.asarray(part)
        return part
    return tuple(one(p) for p in index) if isinstance(index, tuple) else one(index)


def _in_two_steps(index):
    """PyTorch's axis order for an index mixing ints and arrays, as two NumPy indices.

    PyTorch takes an int as basic indexing: its axis is removed first. NumPy
    counts it as one more advanced index, and advanced indices separated by a
    slice put their axes in front: for x of shape (2, 3, 4), x[0, :, [0, 1]]
    is (2, 3) in NumPy but (3, 2) in PyTorch. So: apply the ints (and slices)
    first, then the arrays. Returns None when there is nothing to reorder."""
    parts = index if isinstance(index, tuple) else (index,)
    is_int = [isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in parts]
    is_array = [backend.is_array(p) and p.ndim > 0 for p in parts]
    if not (any(is_int) and any(is_array)):
        return None
    basic, advanced = [], []
    for p, integer, array in zip(parts, is_int, is_array):
        if integer:
            basic.append(p)  # its axis is gone after the first step
        elif array:
            basic.extend([slice(None)] * (p.ndim if p.dtype == bool else 1))  # a mask spans ndim axes
            advanced.append(p)
        else:
            basic.append(p)
            advanced.append(Ellipsis if p is Ellipsis else slice(None))  # a None's new axis is kept
    return tuple(basic), tuple(advanced)


def getitem(x, index):
    index = array_index(index, x)
    try:
        steps = _in_two_steps(index)
        if steps is not None:
            return GetItem(steps[1])(GetItem(steps[0])(x))
        return GetItem(index)(x)
    except IndexError as error:
        raise IndexError(f"getitem: index {index!r} does not fit a tensor of shape "
                         f"{x.shape}: {error}") from None


# ----------------------------------------------------- joining and splitting
class Concatenate(Function):
    save_inputs = save_outputs = False

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return np.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        bounds = np.cumsum([0] + [shape[self.axis] for shape in self.input_shapes])
        before = (slice(None),) * self.axis
        return tuple(gy[before + (slice(int(a), int(b)),)] for a, b in zip(bounds, bounds[1:]))


class Split(Function):
    save_inputs = save_outputs = False

    def __init__(self, indices, axis):
        self.indices, self.axis = indices, axis

    def forward(self, x):
        return tuple(np.split(x, self.indices, axis=self.axis))

    def backward(self, *gys):
        return concatenate(gys, self.axis)


@accepts_numpy_names
def concatenate(tensors, dim=0):
    """Join tensors along an existing dim (torch.cat)."""
    tensors = _as_tensors(tuple(tensors), "concatenate")
    first = tensors[0]
    axis = check_axis(dim, first.ndim, "concatenate", first.shape)
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape))
                                       if i != axis):
            raise ShapeError(f"concatenate: shapes {[x.shape for x in tensors]} must agree on "
                             f"every dim except dim {axis}")
    return Concatenate(axis)(*tensors)


@accepts_numpy_names
def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim (at position `dim` of the result)."""
    tensors = list(tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got {[t.shape for t in tensors]}")
    dim = check_axis(dim, tensors[0].ndim + 1, "stack", tensors[0].shape)
    return concatenate([unsqueeze(t, dim) for t in tensors], dim)


@accepts_numpy_names
def split(x, split_size_or_sections, dim=0):
    """torch.split along dim. An int is the size of each piece (the last one is
    smaller when it does not divide the dim): split(x, 2) of 5 rows gives 2, 2, 1.
    A list gives each piece's size, and must add up to the dim's size.
    (NumPy's split(x, n) into n pieces is chunk(x, n) or tensor_split(x, n).)"""
    axis = check_axis(dim, x.ndim, "split", x.shape)
    size = x.shape[axis] if x.ndim else 1
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step < 1 and not (step == 0 and size == 0):
            raise ValueError(f"split: split_size must be a positive int (the size of each piece), "
                             f"got {step}")
        sizes = [min(step, size - start) for start in range(0, size, step)] if step else [0]
    else:
        sizes = [int(n) for n in split_size_or_sections]
        if any(n < 0 for n in sizes) or sum(sizes) != size:
            raise ShapeError(f"split: the sizes {sizes} must be non-negative and sum to the size "
                             f"{size} of dim {axis} of shape {x.shape}, but they sum to {sum(sizes)}; "
                             f"for the indices to cut at, use tensor_split")
    return Split(tuple(np.cumsum(sizes[:-1], dtype=int).tolist()), axis)(x)


@accepts_numpy_names
def tensor_split(x, indices_or_sections, dim=0):
    """torch.tensor_split (NumPy's array_split) along dim. An int n cuts into n
    pieces as equal as can be (the first size % n pieces one longer: 5 rows into
    2 gives 3, 2); a list gives the indices to cut at: [1, 3] gives x[:1], x[1:3], x[3:]."""
    axis = check_axis(dim, x.ndim, "tensor_split", x.shape)
    size = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        n = int(indices_or_sections)
        if n < 1:
            raise ValueError(f"tensor_split: the number of sections must be at least 1, got {n}")
        sizes = [size // n + (i < size % n) for i in range(n)]
        indices = tuple(np.cumsum(sizes[:-1], dtype=int).tolist())
    else:
        indices = tuple(int(i) for i in indices_or_sections)
    return Split(indices, axis)(x)


class Pad(Function):
    save_inputs = save_outputs = False

    def __init__(self, pad_width, value):
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        return np.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy):
        return gy[tuple(slice(before, n - after)
                        for (before, after), n in zip(self.pad_width, gy.shape))]


def pad(x, pad_width, value=0.0):
    """Constant padding, NumPy style: pad_width is ((before, after), ...) per axis,
    or one (before, after) pair, or one int, for every axis."""
    width = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    if (width < 0).any():
        raise ValueError(f"pad: negative pad width {pad_width}")
    return Pad(tuple((int(a), int(b)) for a, b in width), value)(x)
