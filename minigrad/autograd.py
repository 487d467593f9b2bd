"""Reverse-mode automatic differentiation: the engine.

Three ideas, in reading order:

1. `Function`: one node of the graph. `forward` computes on raw arrays;
   `backward` receives the gradient of the loss with respect to each output
   (as Tensors) and returns the gradient with respect to each input (as
   Tensors). Because backward is written with Tensor operations, running it
   while recording a graph (`create_graph=True`) differentiates the backward
   itself: that is all higher-order gradients take.
2. What a node keeps is declared, never implied. Its edges point to the
   *nodes* that made its inputs (or to leaf tensors), not to the inputs'
   arrays; an op whose backward needs input or output values says so
   (`save_inputs`, `save_outputs`, `save_for_backward`), and only those stay
   alive until its backward has run. `a + b` keeps nothing; `a * b` keeps a
   and b. A saved tensor remembers its version: modifying it in place before
   backward is an error, not a silently wrong gradient.
3. The walk (`run_backward`, in backward.py, the next file to read): sort the
   graph once, iteratively (a 10,000-op chain must not hit Python's recursion
   limit), then visit each node once, outputs before inputs, summing gradients
   where a tensor was used twice. Broadcasting is undone in ONE place: when a
   gradient is handed to an input of a different shape, it is summed back to
   that shape (`sum_to`, defined here).
   Hooks (`x.register_hook`, minigrad/hooks.py) run on a tensor's gradient
   once it is complete: for an intermediate when its node comes up, for a
   leaf when the walk is done.

Layers (see the import contract in pyproject.toml): this module sits just
above `backend` and below `tensor`, so it imports neither `tensor` nor any
op. The Tensor class is handed to it by tensor.py (`use_tensor_class`), and
the one op the engine itself needs, `SumTo`, is defined here.
"""
import contextlib
import weakref
from typing import NamedTuple

import numpy as np

from . import backend

# Set by tensor.py when it defines the class (the engine cannot import it: tensor.py imports us).
Tensor = None


def use_tensor_class(cls):
    """Called once by tensor.py: the class the engine wraps arrays in."""
    global Tensor
    Tensor = cls


# ---------------------------------------------------------------- grad mode
_grad_enabled = True


def is_grad_enabled():
    return _grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager / decorator that switches graph recording on or off."""

    def __init__(self, mode):
        self.mode = bool(mode)

    def __enter__(self):
        global _grad_enabled
        self.previous, _grad_enabled = _grad_enabled, self.mode

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.previous
        return False


class no_grad(set_grad_enabled):
    """`with minigrad.no_grad():` (or `@minigrad.no_grad()`): build no graph.

    Use it for evaluation and for optimizer updates: nothing inside is
    recorded, so nothing is kept alive for a backward pass."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record a graph again, e.g. inside a `no_grad` block (used by closures)."""

    def __init__(self):
        super().__init__(True)


_inference_mode = False


def is_inference_mode_enabled():
    return _inference_mode


class inference_mode(contextlib.ContextDecorator):
    """`with minigrad.inference_mode():` (or `@minigrad.inference_mode()`): no_grad,
    for code that will never need a gradient of what it computes (serving a model).

    Tensors made inside are *inference tensors*. Nothing that happens to them
    is recorded, so nothing may ever be: an op that would save one for backward
    raises (as PyTorch's "Inference tensors cannot be saved for backward"), and
    so does requires_grad_() on one, outside the block. `x.clone()` outside
    the block gives a normal tensor. inference_mode(False) switches it off
    inside a block (graph recording on, new tensors normal)."""

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        global _grad_enabled, _inference_mode
        self.previous = (_grad_enabled, _inference_mode)
        _grad_enabled, _inference_mode = not self.mode, self.mode

    def __exit__(self, *exc):
        global _grad_enabled, _inference_mode
        _grad_enabled, _inference_mode = self.previous
        return False


# ----------------------------------------------------------------- Function
class Edge(NamedTuple):
    """Where the gradient of one input goes: output `index` of `node`, the
    Function that computed the input, or (for a leaf) the `leaf` Tensor itself.

    Pointing at the producer rather than at the input tensor is what lets
    the input's array be freed when backward does not need its values."""
    node: object
    index: int
    leaf: object


def _edge_to(x):
    """The edge of input x, or None when no gradient should reach it."""
    if not x.requires_grad:
        return None
    if x.grad_fn is not None:
        return Edge(x.grad_fn, x._output_index, None)
    return Edge(None, 0, x)


class SavedTensor:
    """A tensor kept for backward, with its version at the moment it was saved.

    For an output, `tensor` is a detached alias (same array, same version
    counter, no grad_fn): holding the output itself would make a reference
    cycle output -> grad_fn -> saved -> output."""

    __slots__ = ("tensor", "version", "output_index")

    def __init__(self, tensor, output_index=None):
        self.tensor = tensor if output_index is None else tensor.detach()
        self.version = tensor._version
        self.output_index = output_index

    def unpack(self, node):
        now = self.tensor._version
        if now != self.version:
            raise RuntimeError(
                f"{node.name}.backward: a tensor it saved (shape {self.tensor.shape}) was modified "
                f"in place after it was used (saved at version {self.version}, now version {now}); "
                "use x.clone() before modifying it in place, or modify it after backward()")
        if self.output_index is None:
            return self.tensor
        # An output comes back attached to its node, so that a backward run
        # under create_graph=True can differentiate through it (exp, tanh).
        out = self.tensor.detach()
        out.requires_grad, out.grad_fn, out._output_index = True, node, self.output_index
        return out


class Function:
    """Base class of every differentiable operation.

    Subclasses take their non-tensor arguments (axis, stride, ...) in
    `__init__` and implement:

    * `forward(self, *arrays) -> array or tuple of arrays`
    * `backward(self, *grad_outputs) -> Tensor or tuple of Tensors (or None)`

    and declare what backward reads, so that the graph keeps nothing else:

    * `save_inputs = True`: `self.inputs` are the input Tensors in backward
      (or a tuple of positions, e.g. `(0, 1)`: only those are kept, the others
      read as None: a bias that is only added needs no keeping);
    * `save_outputs = True`: `self.output` / `self.outputs` are the outputs;
    * `self.save_for_backward(*arrays)` in forward: other arrays, read back as
      `self.saved` (intermediate results, e.g. batch-norm's 1/std).

    Both flags default to True, so a Function of your own that declares
    nothing works (and keeps everything); every op in minigrad declares
    exactly what it needs. Always available in backward: `self.input_shapes`,
    `self.input_dtypes`, `self.input_device`, and `self.needs_input_grad[i]`
    (skip the work for an input whose gradient is not wanted).
    `non_differentiable_outputs` lists outputs that are results but not part
    of the graph (batch-norm's batch statistics); backward gets None for them.
    """

    save_inputs = True
    save_outputs = True
    non_differentiable_outputs = ()

    edges = None
    _tensor_hooks = None  # {output index: {id: hook}}, from register_hook on an output (hooks.py)
    _saved_arrays = ()
    _saved_inputs = ()
    _saved_outputs = ()

    def save_for_backward(self, *arrays):
        """Keep arrays that backward needs (released after backward)."""
        self._saved_arrays = arrays

    @property
    def saved(self):
        return self._saved_arrays

    @property
    def inputs(self):
        if not self.save_inputs:
            raise RuntimeError(f"{self.name}.backward reads self.inputs, but {self.name} does not "
                               "save its inputs; set save_inputs = True on the class")
        if self.edges is None:
            return None  # released after backward
        return [None if saved is None else saved.unpack(self) for saved in self._saved_inputs]

    @property
    def outputs(self):
        if not self.save_outputs:
            raise RuntimeError(f"{self.name}.backward reads its outputs, but {self.name} does not "
                               "save them; set save_outputs = True on the class")
        return [saved.unpack(self) for saved in self._saved_outputs]

    @property
    def output(self):
        return self.outputs[0]

    @property
    def name(self):
        return type(self).__name__

    def __call__(self, *inputs):
        inputs = _as_tensors(inputs, self.name)
        with backend.device_scope(inputs[0].device):
            outputs = self.forward(*[x.data for x in inputs])
        device = self.output_device(inputs)
        single = not isinstance(outputs, tuple)
        outputs = [Tensor._wrap(o, device) for o in ((outputs,) if single else outputs)]
        _mark_views(inputs, outputs)
        if _grad_enabled and any(x.requires_grad for x in inputs):
            self._record(inputs, outputs)
        else:
            self._saved_arrays = ()  # nobody will call backward: drop what forward kept
        return outputs[0] if single else tuple(outputs)

    def _record(self, inputs, outputs):
        """Make this call a node of the graph: outputs point to it, it points
        to the producers of its inputs, and it keeps what it declared."""
        _check_views_are_current(inputs, self.name)
        self.edges = tuple(_edge_to(x) for x in inputs)
        self.needs_input_grad = tuple(edge is not None for edge in self.edges)
        self.input_shapes = tuple(x.shape for x in inputs)
        self.input_dtypes = tuple(x.dtype for x in inputs)
        self.input_device = inputs[0].device
        if self.save_inputs:
            kept = range(len(inputs)) if self.save_inputs is True else self.save_inputs
            _check_not_inference([x for i, x in enumerate(inputs) if i in kept], self.name)
            self._saved_inputs = [SavedTensor(x) if i in kept else None for i, x in enumerate(inputs)]
        if self.save_outputs:
            self._saved_outputs = [SavedTensor(o, i) for i, o in enumerate(outputs)]
        # Outputs are held weakly (only to fill their .grad if they retain_grad).
        self._output_refs = [weakref.ref(o) for o in outputs]
        self._output_meta = [(o.shape, o.dtype, o.device) for o in outputs]
        for index, out in enumerate(outputs):
            if index not in self.non_differentiable_outputs:
                out.requires_grad, out.grad_fn, out._output_index = True, self, index

    def output_device(self, inputs):
        return inputs[0].device

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError(f"{self.name} has no backward")

    def release(self):
        """Forget edges and saved values so their memory can be freed."""
        self.edges = None
        self._saved_arrays = self._saved_inputs = self._saved_outputs = ()

    def __repr__(self):
        return f"<{self.name}>"


def _check_not_inference(saved, op_name):
    """An inference tensor (made under inference_mode) has no version history to
    check a saved copy against, so it may not be saved for backward."""
    for x in saved:
        if x._is_inference:
            raise RuntimeError(
                f"{op_name}: inference tensors cannot be saved for backward, but an input (shape "
                f"{x.shape}, dtype {x.dtype}) was made under minigrad.inference_mode(); make it "
                "outside inference_mode, or use x.clone() outside it to get a normal tensor")


def _as_tensors(values, op_name):
    """Turn the arguments of an op into Tensors on one device.

    Python numbers become constants of the tensors' dtype (so `x * 2.0` keeps
    float32); mixing devices is an error that says which `.to()` to call."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors:
        raise TypeError(f"{op_name}: expected at least one Tensor argument, got "
                        f"{[type(v).__name__ for v in values]}")
    reference = tensors[0]
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        other = next(t for t in tensors if t.device != reference.device)
        raise RuntimeError(
            f"{op_name}: expected all tensors on one device, but found {reference.device} "
            f"(shape {reference.shape}) and {other.device} (shape {other.shape}); move one "
            f"with `.to('{reference.device}')` or `.to('{other.device}')`")
    return tuple(v if isinstance(v, Tensor) else Tensor._constant(v, like=reference)
                 for v in values)


# --------------------------------------------------- undoing broadcasting: sum_to
class SumTo(Function):
    """Sum a broadcast array back to `shape`: the adjoint of broadcast_to.

    Broadcasting (a) adds leading axes and (b) stretches size-1 axes; so sum
    over the leading axes, then over the stretched ones keeping them."""

    save_inputs = save_outputs = False  # backward needs only the input's shape

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        leading = x.ndim - len(self.shape)
        stretched = tuple(leading + i for i, n in enumerate(self.shape)
                          if n == 1 and x.shape[leading + i] != 1)
        y = x.sum(axis=tuple(range(leading)) + stretched, keepdims=True)
        return y.reshape(self.shape) if leading else y

    def backward(self, gy):
        return gy.broadcast_to(self.input_shapes[0])


def sum_to(x, shape):
    """Sum a broadcast gradient back to `shape` (differentiable)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    if np.broadcast_shapes(x.shape, shape) != x.shape:
        raise ValueError(f"sum_to: shape {x.shape} cannot be summed to {shape}")
    return SumTo(shape)(x)


# ------------------------------------------------------------ in-place ops
def _mark_views(inputs, outputs):
    """An output whose array views an input's memory (reshape, transpose, x[0:2])
    shares that input's version counter, since modifying either in place changes
    both, and is marked `_is_view` for the in-place ops' check (ops/inplace.py)."""
    for out in outputs:
        owner = _memory_owner(out.data)
        for x in inputs:
            if _memory_owner(x.data) is owner:
                out._version_counter, out._is_view = x._version_counter, True
                out._rebases_when_taken = x._version_counter.rebases
                break


def _check_views_are_current(inputs, op_name):
    """A view taken before its base was modified in place (while recording) has
    the base's values but the base's OLD history: its gradient would flow to the
    wrong place. PyTorch re-derives such a view's history; we ask for a new view."""
    for x in inputs:
        if x._is_view and x._version_counter.rebases != x._rebases_when_taken:
            raise RuntimeError(
                f"{op_name}: an input (shape {x.shape}) is a view (reshape, transpose, slice, ...) "
                "of a tensor that was modified in place after the view was taken, so its history "
                "is out of date; take the view again after the in-place op")


def _memory_owner(array):
    """The array that owns `array`'s memory (NumPy and CuPy point a view's .base at it)."""
    return array if array.base is None else array.base


def rebase_history(tensor, previous, result):
    """Graph surgery after an in-place op (used by minigrad/ops/inplace.py only).

    The in-place op ran as an ordinary node on `previous` (a copy of `tensor`'s
    old values, standing where `tensor` stood in the graph) and made the fresh
    output `result`, whose values now sit in `tensor`'s own array. Afterwards
    `previous` is the output of the node that made the old values, and `tensor`
    is the output of the in-place node, its new grad_fn (as PyTorch's
    rebase_history). Nodes hold their outputs weakly, so only those references move."""
    for old, new in ((tensor, previous), (result, tensor)):
        node, index = old.grad_fn, old._output_index
        new.grad_fn, new._output_index, new.requires_grad = node, index, old.requires_grad
        if node is not None:
            node._output_refs[index] = weakref.ref(new)
    node = tensor.grad_fn
    if node._saved_outputs:
        # The node saved `result` (relu_, exp_, ...): keep `tensor` instead, which
        # holds the same values in its own array, so `result`'s array can be freed.
        node._saved_outputs[tensor._output_index] = SavedTensor(tensor, tensor._output_index)
