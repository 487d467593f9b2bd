"""Reverse-mode automatic differentiation.

Three ideas, in reading order:

1. `Function`: one node of the graph. `forward` computes on raw arrays;
   `backward` receives the gradient of the loss with respect to each output
   (as Tensors) and returns the gradient with respect to each input (as
   Tensors). Because backward is written with Tensor operations, running it
   while recording a graph (`create_graph=True`) differentiates the backward
   itself: that is all higher-order gradients take.
2. The walk (`run_backward`): sort the graph once, iteratively (a 10,000-op
   chain must not hit Python's recursion limit), then visit each node once,
   outputs before inputs, summing gradients where a tensor was used twice.
3. Broadcasting is undone in ONE place: when a gradient is handed to an input
   of a different shape, it is summed back to that shape (`sum_to`).
"""
import contextlib
import weakref

from . import backend

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


# ----------------------------------------------------------------- Function
class Function:
    """Base class of every differentiable operation.

    Subclasses take their non-tensor arguments (axis, stride, ...) in
    `__init__` and implement:

    * `forward(self, *arrays) -> array or tuple of arrays`
    * `backward(self, *grad_outputs) -> Tensor or tuple of Tensors (or None)`

    Inside backward, `self.inputs` are the input Tensors, `self.output` is the
    (first) output Tensor, `self.saved` holds whatever forward passed to
    `save_for_backward`, and `self.needs_input_grad[i]` says whether the
    gradient of input i is wanted at all (skip the work if not).
    """

    inputs = None
    saved = ()

    def save_for_backward(self, *values):
        """Keep arrays or Tensors that backward needs (released after backward)."""
        self.saved = values

    @property
    def output(self):
        return self.outputs[0]

    @property
    def outputs(self):
        outputs = [ref() for ref in self._output_refs]
        if any(o is None for o in outputs):
            raise RuntimeError(f"{self.name}.backward needs its output, which has been freed")
        return outputs

    @property
    def name(self):
        return type(self).__name__

    def __call__(self, *inputs):
        from .tensor import Tensor
        inputs = _as_tensors(inputs, self.name)
        with backend.device_scope(inputs[0].device):
            outputs = self.forward(*[x.data for x in inputs])
        device = self.output_device(inputs)
        single = not isinstance(outputs, tuple)
        outputs = [Tensor._wrap(o, device) for o in ((outputs,) if single else outputs)]
        if _grad_enabled and any(x.requires_grad for x in inputs):
            # Record this node: outputs point to it, it points to its inputs.
            self.inputs = inputs
            self.needs_input_grad = tuple(x.requires_grad for x in inputs)
            # Outputs are held weakly: a strong reference would make a cycle
            # (output -> grad_fn -> output) and delay freeing the graph.
            self._output_refs = [weakref.ref(o) for o in outputs]
            self._output_meta = [(o.shape, o.dtype) for o in outputs]
            for index, out in enumerate(outputs):
                out.requires_grad = True
                out.grad_fn = self
                out._output_index = index
        else:
            self.saved = ()  # nobody will call backward: drop what forward kept
        return outputs[0] if single else tuple(outputs)

    def output_device(self, inputs):
        return inputs[0].device

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError(f"{self.name} has no backward")

    def release(self):
        """Forget inputs and saved values so their memory can be freed."""
        self.inputs = None
        self.saved = ()

    def __repr__(self):
        return f"<{self.name}>"


def _as_tensors(values, op_name):
    """Turn the arguments of an op into Tensors on one device.

    Python numbers become constants of the tensors' dtype (so `x * 2.0` keeps
    float32); mixing devices is an error that says which `.to()` to call."""
    from .tensor import Tensor
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


# ------------------------------------------------------------- the backward walk
def _topological_order(roots):
    """Nodes reachable from `roots`, every node after all nodes that use it.

    An iterative post-order depth-first search: recursion would fail on deep
    graphs (Python allows ~1,000 nested calls)."""
    order, visited = [], set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
                continue
            if node in visited:
                continue
            visited.add(node)
            stack.append((node, True))
            for x in node.inputs or ():
                if x.grad_fn is not None and x.grad_fn not in visited:
                    stack.append((x.grad_fn, False))
    order.reverse()  # post-order reversed: consumers before producers
    return order


def run_backward(outputs, grad_outputs, retain_graph=False, create_graph=False, inputs=None):
    """Propagate `grad_outputs` from `outputs` back through the graph.

    With `inputs=None` gradients are accumulated into the `.grad` of leaves
    (what `loss.backward()` does); otherwise the gradients of `inputs` are
    returned and no `.grad` is touched (what `minigrad.grad` does)."""
    wanted = None if inputs is None else {id(x): None for x in inputs}
    pending = {}        # node -> [gradient of each of its outputs]
    handed_out = set()  # ids of arrays already stored in some leaf's .grad
    visited = []        # nodes whose backward ran

    def deliver(x, g):
        """Add gradient g (a Tensor, shaped like x) to what x has received."""
        if wanted is not None:
            if id(x) in wanted:
                previous = wanted[id(x)]
                wanted[id(x)] = g if previous is None else previous + g
            if x.grad_fn is None:
                return
        if x.grad_fn is not None:
            slots = pending.setdefault(x.grad_fn, [None] * len(x.grad_fn._output_meta))
            previous = slots[x._output_index]
            slots[x._output_index] = g if previous is None else previous + g
        elif x.requires_grad:
            _accumulate_leaf_grad(x, g, create_graph, handed_out)

    for out, g in zip(outputs, grad_outputs):
        deliver(out, g)

    with set_grad_enabled(create_graph):
        for node in _topological_order([o.grad_fn for o in outputs if o.grad_fn is not None]):
            grads = pending.pop(node, None)
            if grads is None:
                continue  # no gradient flows through this node
            if node.inputs is None:
                raise RuntimeError(
                    f"trying to backward through the graph a second time (at {node.name}): "
                    "its saved values were freed by the first backward(). Pass "
                    "retain_graph=True to the first backward() if you need to call it twice.")
            _fill_missing_grads(node, grads)
            _retain_output_grads(node, grads)
            input_grads = node.backward(*grads)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(node.inputs):
                raise RuntimeError(f"{node.name}.backward returned {len(input_grads)} gradients "
                                   f"for {len(node.inputs)} inputs")
            for x, gx, needed in zip(node.inputs, input_grads, node.needs_input_grad):
                if needed and gx is not None:
                    deliver(x, _match_input(gx, x, node.name))
            visited.append(node)
    if not retain_graph:
        # Free the graph only now: a node's backward may need its output
        # (exp, tanh), which is kept alive by the nodes that consumed it.
        for node in visited:
            node.release()
    return None if wanted is None else [wanted[id(x)] for x in inputs]


def _fill_missing_grads(node, grads):
    """Outputs that received no gradient get zeros (e.g. unused pieces of split)."""
    from .tensor import Tensor
    for i, g in enumerate(grads):
        if g is None:
            shape, dtype = node._output_meta[i]
            device = node.inputs[0].device
            grads[i] = Tensor._wrap(backend.xp_of_device(device).zeros(shape, dtype), device)


def _retain_output_grads(node, grads):
    for ref, g in zip(node._output_refs, grads):
        out = ref()
        if out is not None and out._retains_grad:
            out.grad = g if out.grad is None else out.grad + g


def _match_input(gx, x, op_name):
    """Make an input's gradient look like the input: undo broadcasting, keep dtype."""
    if gx.shape != x.shape:
        try:
            gx = sum_to(gx, x.shape)
        except ValueError:
            raise RuntimeError(f"{op_name}.backward returned a gradient of shape {gx.shape} "
                               f"for an input of shape {x.shape}") from None
    if gx.dtype != x.dtype:
        gx = gx.astype(x.dtype)
    return gx


def _accumulate_leaf_grad(x, g, create_graph, handed_out):
    from .tensor import Tensor
    if create_graph:  # keep the graph of the gradient: out-of-place Tensor add
        x.grad = g if x.grad is None else x.grad + g
        return
    data = g.data
    if x.grad is None:
        # A leaf's .grad must own its memory: optimizers and clipping modify it
        # in place, so a read-only broadcast view, or one array shared by two
        # leaves (a + b hands the same gradient to both), would go wrong.
        if data.base is not None or not data.flags.writeable or id(data) in handed_out:
            data = data.copy()
        handed_out.add(id(data))
        x.grad = Tensor._wrap(data, x.device)
    else:
        x.grad = Tensor._wrap(x.grad.data + data, x.device)


def sum_to(x, shape):
    """Sum a broadcast gradient back to `shape` (differentiable)."""
    from .ops.shape import sum_to as _sum_to
    return _sum_to(x, shape)


# ------------------------------------------------------------------ grad()
def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned as a tuple.

    Unlike `backward()`, no `.grad` attribute is touched. With
    `create_graph=True` the returned gradients are themselves differentiable,
    which gives Hessian-vector products and higher derivatives."""
    from .tensor import Tensor
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = (inputs,) if single_input else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"grad: an input of shape {x.shape} does not require grad; "
                               "create it with requires_grad=True")
    grad_outputs = [initial_grad(o, g, "grad") for o, g in zip(outputs, grad_outputs)]
    if retain_graph is None:
        retain_graph = create_graph
    grads = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=inputs)
    for i, (x, g) in enumerate(zip(inputs, grads)):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {x.shape}) was not used to compute the "
                               "outputs; pass allow_unused=True to get None for it")
    return tuple(grads)


def initial_grad(output, gradient, op_name):
    """The gradient that starts a backward pass: ones for a scalar, else given."""
    from .tensor import Tensor
    if not output.requires_grad:
        raise RuntimeError(f"{op_name}: the output (shape {output.shape}) does not require grad "
                           "and has no grad_fn; did you create the inputs with requires_grad=True, "
                           "or compute it inside no_grad()?")
    if gradient is None:
        if output.size != 1:
            raise RuntimeError(
                f"{op_name}: the output has shape {output.shape}, not a single value, so its "
                "gradient must be given: reduce it first (y.sum().backward()) or pass "
                "gradient=minigrad.ones_like(y)")
        return Tensor._wrap(output.xp.ones(output.shape, output.dtype), output.device)
    if not isinstance(gradient, Tensor):
        gradient = Tensor._constant(gradient, like=output)
    if gradient.shape != output.shape:
        raise RuntimeError(f"{op_name}: gradient has shape {gradient.shape} but the output has "
                           f"shape {output.shape}; they must match")
    if gradient.device != output.device:
        raise RuntimeError(f"{op_name}: gradient is on {gradient.device} but the output is on "
                           f"{output.device}; call gradient.to('{output.device}')")
    return gradient
