"""Hooks: your own function, called when a gradient is computed (as in PyTorch).

Tensor hooks. `x.register_hook(fn)` calls `fn(grad)` when backward has
computed x's gradient, summed over every use of x: on a leaf, before it is
added to `x.grad`; on an intermediate result, before it flows on to the
ops that made x. `fn` may return a Tensor (same shape, dtype and device)
to use instead, e.g. `lambda g: g.clip(-1, 1)`, or None to only look. A
leaf keeps its hooks itself; an intermediate's hooks are kept by the node
that made it (`grad_fn`), so they still fire when you no longer hold x.
The engine runs them (backward.run_backward).

Module hooks (nn/module.py: `register_forward_pre_hook`, `register_forward_hook`,
`register_full_backward_hook`) wrap `forward`. A full backward hook
`fn(module, grad_input, grad_output)` needs every gradient at once, so each
forward call passes the module's tensor inputs, and then its tensor
outputs, through one identity node each (`HookIdentity`); the nodes'
backward sees all their gradients together, as PyTorch's
BackwardHookFunction does (`ModuleBackwardHook` below).

Every register function returns a `RemovableHandle`: `handle.remove()`
takes the hook out again (or use it as a context manager).
"""
import itertools

from . import autograd
from .autograd import Function


class RemovableHandle:
    """Returned by every register_*hook: `.remove()` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks, hook):
        if not callable(hook):
            raise TypeError(f"a hook must be callable, got a {type(hook).__name__}")
        self.id = next(self._ids)
        self.hooks = hooks  # the ordered dict {id: hook} it sits in: hooks run in registration order
        hooks[self.id] = hook

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def register_tensor_hook(tensor, hook):
    """Tensor.register_hook: where a tensor's hooks are kept (see the module docstring)."""
    if not tensor.requires_grad:
        raise RuntimeError(f"register_hook: cannot register a hook on a tensor that doesn't require "
                           f"gradient (shape {tensor.shape}, dtype {tensor.dtype}); create it with "
                           "requires_grad=True or call .requires_grad_() on it first")
    if tensor.grad_fn is None:
        if tensor._grad_hooks is None:
            tensor._grad_hooks = {}
        return RemovableHandle(tensor._grad_hooks, hook)
    node = tensor.grad_fn
    if node._tensor_hooks is None:
        node._tensor_hooks = {}
    return RemovableHandle(node._tensor_hooks.setdefault(tensor._output_index, {}), hook)


# ------------------------------------------------------- module backward hooks
class HookIdentity(Function):
    """n tensors in, the same n tensors out; backward hands all n gradients to
    `on_backward`, which returns the gradients to pass on (possibly replaced)."""

    save_inputs = save_outputs = False

    def __init__(self, on_backward):
        self.on_backward = on_backward

    def forward(self, *arrays):
        return arrays

    def backward(self, *grads):
        return tuple(self.on_backward(grads))


class ModuleBackwardHook:
    """One forward call's wiring for `Module.register_full_backward_hook`.

    grad_input has one entry per positional argument of forward (None for
    non-tensors and tensors that need no gradient), grad_output one per
    output (a Tensor or a tuple/list of Tensors). Limits: keyword arguments
    are not tracked, an input or output that gets no gradient shows zeros
    (PyTorch passes None for an unused output), and the
    module's outputs are views of the identity node, so modifying them in
    place while the graph is recorded is refused (as in PyTorch)."""

    def __init__(self, module, hooks):
        self.module, self.hooks = module, hooks
        self.input_positions, self.n_inputs = [], 0
        self.output_positions, self.n_outputs = [], 0
        self.grad_output = None

    def wrap_inputs(self, args):
        self.n_inputs = len(args)
        self.input_positions = _needing_grad(args)
        return _through_identity(args, self.input_positions, self._inputs_backward)

    def wrap_outputs(self, output):
        single = isinstance(output, autograd.Tensor)
        if not single and not isinstance(output, (tuple, list)):
            return output  # not tensors: nothing to hook
        outputs = (output,) if single else tuple(output)
        self.n_outputs = len(outputs)
        self.output_positions = _needing_grad(outputs)
        outputs = _through_identity(outputs, self.output_positions, self._outputs_backward)
        return outputs[0] if single else type(output)(outputs)

    def _outputs_backward(self, grads):
        self.grad_output = _spread(grads, self.output_positions, self.n_outputs)
        if not self.input_positions:  # no input node will run: call the hooks now
            self._call_hooks((None,) * self.n_inputs)
        return grads

    def _inputs_backward(self, grads):
        grad_input = self._call_hooks(_spread(grads, self.input_positions, self.n_inputs))
        return [grad_input[i] for i in self.input_positions]

    def _call_hooks(self, grad_input):
        name = type(self.module).__name__
        for hook in tuple(self.hooks.values()):
            result = hook(self.module, grad_input, self.grad_output)
            if result is None:
                continue
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(grad_input):
                raise RuntimeError(f"{name} backward hook returned {len(result)} gradients, but "
                                   f"grad_input has {len(grad_input)} (one per positional input)")
            for old, new in zip(grad_input, result):
                if old is not None and (new is None or new.shape != old.shape):
                    raise RuntimeError(
                        f"{name} backward hook returned a gradient of shape "
                        f"{None if new is None else new.shape} for an input of shape {old.shape}; "
                        "return None, or a tuple of Tensors shaped like grad_input")
            grad_input = result
        return grad_input


def _needing_grad(values):
    return [i for i, v in enumerate(values) if isinstance(v, autograd.Tensor) and v.requires_grad]


def _through_identity(values, positions, on_backward):
    """values, with the ones at `positions` replaced by one HookIdentity node's outputs."""
    if not positions or not autograd.is_grad_enabled():
        return tuple(values)
    passed = HookIdentity(on_backward)(*[values[i] for i in positions])
    values = list(values)
    for i, tensor in zip(positions, passed):
        values[i] = tensor
    return tuple(values)


def _spread(grads, positions, n):
    """Gradients of the tensors at `positions`, as an n-tuple with None elsewhere."""
    full = [None] * n
    for i, g in zip(positions, grads):
        full[i] = g
    return tuple(full)
