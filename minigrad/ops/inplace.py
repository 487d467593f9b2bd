"""In-place operations: `x.add_(y)`, `x -= y`, `x.zero_()`, `x[i] = v`, ...

An in-place op writes its result into the tensor's OWN array: afterwards it is
the same Tensor object holding the same array object. That is what makes the
manual update of every tutorial work,

    with minigrad.no_grad():
        p -= lr * p.grad        # p itself changes: the model (and any optimizer holding p) sees it

and what lets code save memory. Autograd needs two things to stay exact:

1. A version counter (`t._version`, bumped by every in-place op). A backward
   that saved a tensor checks that its version has not moved: otherwise the
   values it would read were overwritten after it saw them, and the gradient
   would be silently wrong. PyTorch raises an error then, and so do we.
2. History rebasing. While a graph is being recorded, an in-place op is a node
   like any other: it becomes the tensor's `grad_fn`, and its input is the
   tensor's PREVIOUS VERSION, which takes the tensor's old place in the graph.

Each in-place op here is its out-of-place twin plus a write-back:

    previous = a copy of x's values, standing where x stood in the graph
    result   = op(previous, other)        # an ordinary node: forward and backward as usual
    x.data[...] = result.data             # the same array now holds the result
    x takes result's place as that node's output (autograd.rebase_history)

so every backward is the one already written and checked for the out-of-place
op. The copy is made only while a graph is recorded, and outlives the op only
when its node saved it (mul_ does, add_ does not); PyTorch avoids even that by
cloning inside each derivative formula that needs the old values, which is
harder to read. With grad mode off (optimizer updates) there is no copy of the
old values and no node; the result is still computed out of place and written
back (one temporary, the price of reusing the out-of-place op), except for
`x[i] = v`, which writes straight into the array.

Rules, as in PyTorch:
- With grad mode on, a leaf that requires grad cannot be modified in place: its
  `.grad` would no longer describe its values. Do it under `minigrad.no_grad()`,
  or on `.data` (the untracked escape hatch: it bumps nothing).
- The result keeps the tensor's dtype; a result that would need a wider KIND
  (a float result into an integer tensor) is an error. `copy_`, `fill_` and
  `x[i] = v` cast, as PyTorch's do.
- `other` may broadcast up to the tensor's shape; the tensor never broadcasts up.
- An inference tensor (made under `inference_mode`) can be modified in place
  only inside inference_mode: outside it, normal tensors may have saved it (or a
  view of it) with no version counter to notice the change. Clone it first.
- A view (reshape, transpose, x[0:2]) shares its base's memory and so its
  version counter. Modifying a view in place while a graph is recorded is
  refused (PyTorch rewrites the base's history; we keep it simple), and so is
  using, in a recorded op, a view taken BEFORE its base was modified in place
  (its history is out of date: take the view again).
"""
import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled, is_inference_mode_enabled, rebase_history
from ..tensor import Tensor
from . import convert
from . import elementwise as E
from .math_binary import clamp
from .shape import ShapeError, _in_two_steps, array_index

__all__ = ["add_", "sub_", "mul_", "div_", "pow_", "neg_", "exp_", "log_", "sqrt_", "abs_", "sin_",
           "cos_", "tanh_", "sigmoid_", "relu_", "clip_", "clamp_", "fill_", "zero_", "copy_", "setitem"]


# ------------------------------------------------------------------- the machinery
def apply_inplace(x, op, args, name, cast=False, check_shapes=True):
    """Compute `op(x, *args)` (an out-of-place op) and write the result into x's own array.

    `cast=True` (copy_, fill_, setitem) converts any result dtype to x's, as
    PyTorch's copy does; otherwise the result must be castable within its kind.
    `check_shapes` checks that every tensor in `args` broadcasts to x's shape
    (setitem's value broadcasts to the indexed part instead)."""
    _check_can_modify(x, name)
    for other in args:
        if check_shapes and isinstance(other, Tensor):
            _check_broadcasts_into(x, other.shape, name)
    recording = _records(x, args)
    if recording and x._is_view:
        # PyTorch rewrites the viewed tensor's history too (CopySlices); we refuse
        # rather than leave that tensor with a history its values no longer have.
        raise RuntimeError(
            f"{name}: this tensor (shape {x.shape}) views another tensor's memory (it came from "
            "reshape, transpose, slicing, ...), and modifying a view in place while a graph is "
            "recorded is not supported: the other tensor's history would miss the change. Assign "
            "into that tensor instead (base[index] = new_values is recorded exactly), use the "
            "out-of-place form, or .clone() the view first")
    if recording:
        previous = _previous_version(x)
        result = op(previous, *args)
    else:  # nothing to record: op builds no node, and x's old values need no copy
        result = op(x, *args)
    if result.shape != x.shape:
        raise RuntimeError(f"{name}: the result has shape {result.shape}, but an in-place op must "
                           f"keep the tensor's shape {x.shape}")
    if not cast and not np.can_cast(result.dtype, x.dtype, casting="same_kind"):
        raise RuntimeError(
            f"{name}: result type {result.dtype} can't be cast to the desired output type {x.dtype} "
            f"(an in-place op keeps the tensor's dtype; shape {x.shape}); use the out-of-place form "
            f"(x = x + y) or convert the tensor first (x = x.astype(...))")
    if result.dtype != x.dtype:  # e.g. float32 += float64: the node's output is cast back too
        result = convert.astype(result, x.dtype)
    x.data[...] = result.data  # the same array object, now holding the result
    x._version_counter.value += 1
    if recording:
        x._version_counter.rebases += 1  # views of x taken before now are out of date
        rebase_history(x, previous, result)
    return x


def _records(x, args):
    """Whether an in-place op on x with `args` goes into a graph."""
    return is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in (x, *args))


def _previous_version(x):
    """x as it is now: a copy of its values, taking x's place in the graph.

    It is the input of the in-place op's node, and the copy is why that node's
    backward (mul_ needs the old x) reads the values it was computed from.
    It gets its own version counter: nothing ever writes into the copy."""
    previous = Tensor._wrap(x.data.copy(), x.device)
    previous.grad_fn, previous._output_index = x.grad_fn, x._output_index
    previous.requires_grad = x.requires_grad
    return previous


def _check_can_modify(x, name):
    if x._is_inference and not is_inference_mode_enabled():
        raise RuntimeError(
            f"{name}: Inplace update to inference tensor outside InferenceMode is not allowed (a "
            f"tensor of shape {x.shape} made under minigrad.inference_mode()); do the update inside "
            "`with minigrad.inference_mode():`, or modify a normal copy, x = x.clone(), made outside it")
    if is_grad_enabled() and x.is_leaf and x.requires_grad:
        raise RuntimeError(
            f"{name}: a leaf Variable that requires grad is being used in an in-place operation "
            f"(a tensor of shape {x.shape}); its .grad would no longer describe its values. "
            "Do it inside `with minigrad.no_grad():` (as optimizers do) or on `.data`")
    if not getattr(x.data.flags, "writeable", True):  # CuPy arrays have no such flag
        raise RuntimeError(f"{name}: the tensor of shape {x.shape} is a read-only view (broadcast_to "
                           "or expand: several elements share one memory location); call .clone() "
                           "first")


def _check_broadcasts_into(x, shape, name):
    """`other` may broadcast up to x's shape, never x up to a bigger shape."""
    try:
        fits = np.broadcast_shapes(x.shape, shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"{name}: the other operand's shape {shape} does not broadcast to the "
                           f"in-place tensor's shape {x.shape} (an in-place op cannot change the "
                           "tensor's shape); use the out-of-place form, e.g. x = x + y")


# ---------------------------------------------------------------- arithmetic
def add_(x, other, alpha=1):
    """x <- x + alpha * other (alpha as in PyTorch's add_)."""
    return apply_inplace(x, lambda t, o: E.add(t, _scaled(o, alpha)), (other,), "add_")


def sub_(x, other, alpha=1):
    """x <- x - alpha * other."""
    return apply_inplace(x, lambda t, o: E.sub(t, _scaled(o, alpha)), (other,), "sub_")


def _scaled(other, alpha):
    return other if alpha == 1 else other * alpha  # a Python number or a Tensor


def mul_(x, other): return apply_inplace(x, E.mul, (other,), "mul_")
def div_(x, other): return apply_inplace(x, E.div, (other,), "div_")
def pow_(x, exponent): return apply_inplace(x, E.pow, (exponent,), "pow_")


def clip_(x, min=None, max=None):
    """x <- clamp(x, min, max); the bounds may be numbers or tensors (broadcast to x)."""
    return apply_inplace(x, clamp, (min, max), "clip_")  # tensor bounds are recorded inputs


clamp_ = clip_  # PyTorch's alias


# ------------------------------------------------------------ unary functions
def _unary_inplace(op, name):
    def inplace(x):
        return apply_inplace(x, op, (), name)
    inplace.__name__ = name
    inplace.__doc__ = f"x <- {op.__name__}(x), in place."
    return inplace


neg_ = _unary_inplace(E.neg, "neg_")
exp_ = _unary_inplace(E.exp, "exp_")
log_ = _unary_inplace(E.log, "log_")
sqrt_ = _unary_inplace(E.sqrt, "sqrt_")
abs_ = _unary_inplace(E.abs, "abs_")
sin_ = _unary_inplace(E.sin, "sin_")
cos_ = _unary_inplace(E.cos, "cos_")
tanh_ = _unary_inplace(E.tanh, "tanh_")
sigmoid_ = _unary_inplace(E.sigmoid, "sigmoid_")
relu_ = _unary_inplace(E.relu, "relu_")


# ------------------------------------------- overwriting: copy_, fill_, zero_, x[i] = v
class Overwrite(Function):
    """y = source, broadcast to x's shape and cast to x's dtype: x's old values are gone.

    dy/dx = 0 (nothing of x survives), dy/dsource = 1 (summed over the
    broadcast axes and cast back by the engine, like any broadcast input)."""

    save_inputs = save_outputs = False  # backward needs only the gradient

    def forward(self, x, source):
        return np.broadcast_to(source, x.shape).astype(x.dtype)  # astype copies

    def backward(self, gy):
        gx = Tensor._wrap(gy.xp.zeros_like(gy.data), gy.device) if self.needs_input_grad[0] else None
        return gx, gy


def copy_(x, source):
    """x <- source (broadcast to x's shape, cast to x's dtype; it may live on another device)."""
    if isinstance(source, Tensor) and source.device != x.device:
        source = convert.to_device(source, x.device)  # copy_ is an explicit copy, so moving is asked for
    return apply_inplace(x, lambda t, s: Overwrite()(t, s), (source,), "copy_", cast=True)


def fill_(x, value):
    """x <- value everywhere (a number, or a 0-d tensor whose gradient is the sum of x's)."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"fill_: the value must be a number or a 0-d tensor, got shape {value.shape}; "
                           "use copy_ to copy a whole tensor")
    return apply_inplace(x, lambda t, v: Overwrite()(t, v), (value,), "fill_", cast=True)


def zero_(x):
    """x <- 0."""
    return fill_(x, 0)


def _as_read(index, x):
    """An index mixing ints and arrays, rewritten so that a write sees x[index] as a read does.

    Reading x[0, :, [0, 1]] from x of shape (2, 3, 4) gives shape (3, 2) in PyTorch
    (and in getitem), but NumPy's (2,): writing a value of shape (3, 2) would fail,
    and one of shape (2, 3) would land transposed. So find WHERE each element of
    the read lives: read the same index from an array of x's flat positions, then
    turn those positions into one array per axis. That index selects the same
    elements, in the read's order and shape. Other indices pass unchanged."""
    steps = _in_two_steps(index)
    if steps is None:
        return index
    xp = x.xp
    positions = xp.arange(x.numel()).reshape(x.shape)[steps[0]][steps[1]]  # the read's shape
    return xp.unravel_index(positions, x.shape)  # a tuple of arrays, each of that shape


class SetItem(Function):
    """y = x with y[index] = value.

    dy/dx passes the gradient where x survived and 0 where it was overwritten;
    dy/dvalue is the gradient at the overwritten places (gy[index])."""

    save_inputs = save_outputs = False  # backward needs only the gradient and the index

    def __init__(self, index):
        self.index = index

    def forward(self, x, value):
        y = x.copy()
        y[self.index] = value
        return y

    def backward(self, gy):
        gx = None
        if self.needs_input_grad[0]:
            survived = gy.xp.ones(gy.shape, dtype=bool)
            survived[self.index] = False  # a constant mask: where() keeps NaN out of the zeros
            gx = E.where(Tensor._wrap(survived, gy.device), gy, 0.0)
        return gx, gy[self.index] if self.needs_input_grad[1] else None


def setitem(x, index, value):
    """x[index] = value, in place (value broadcasts to the indexed shape and is cast to x's dtype)."""
    index = _as_read(array_index(index, x), x)
    try:
        fast = (not _records(x, (value,)) and backend.is_host_array(x.data)
                and not (isinstance(value, Tensor) and value.device != x.device))
        if not fast:  # (on a GPU the value may first need moving: the general path does it)
            return apply_inplace(x, lambda t, v: SetItem(index)(t, v), (value,), "setitem",
                                 cast=True, check_shapes=False)
        # Nothing to record, on the CPU: write straight into the array, so that filling
        # a tensor element by element (x[i] = v in a loop) costs what NumPy's does.
        _check_can_modify(x, "setitem")
        x.data[index] = value.data if isinstance(value, Tensor) else value
        x._version_counter.value += 1
        return x
    except IndexError as error:
        raise IndexError(f"setitem: index {index!r} does not fit a tensor of shape {x.shape}: "
                         f"{error}") from None
    except ValueError as error:  # NumPy: could not broadcast input array from shape ... into ...
        value_shape = value.shape if isinstance(value, Tensor) else np.shape(value)
        raise ShapeError(f"setitem: a value of shape {tuple(value_shape)} cannot be assigned to "
                         f"index {index!r} of a tensor of shape {x.shape}: {error}") from None
