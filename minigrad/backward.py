"""The backward walk: from a loss back to every tensor it depends on.

`run_backward` sorts the graph once, iteratively (a 10,000-op chain must not
hit Python's recursion limit), then visits each node once, consumers before
producers. At each node it sums the gradients its outputs received, runs the
node's backward, and hands each input's gradient along the node's edge: to the
node that produced that input, or into a leaf's `.grad`. Broadcasting is undone
in one place (`_match_input` -> `sum_to`), and a node's saved values are freed
as soon as its backward has run (unless retain_graph).

`grad()` is the same walk returning gradients instead of filling `.grad`.
The nodes themselves (Function, edges, saved tensors) are in autograd.py.
"""
from . import autograd, backend
from .autograd import Edge, _edge_to, set_grad_enabled, sum_to


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
            for edge in node.edges or ():
                if edge is not None and edge.node is not None and edge.node not in visited:
                    stack.append((edge.node, False))
    order.reverse()  # post-order reversed: consumers before producers
    return order


def _edge_key(edge):
    return (id(edge.node), edge.index, id(edge.leaf))


def _leading_to(order, wanted):
    """The nodes of `order` (consumers first) with a path to a wanted input:
    the only ones whose backward grad() has to run. Producers are visited
    first, so a node's producers are decided before the node itself."""
    needed = set()
    for node in reversed(order):
        for edge in node.edges or ():
            if edge is not None and (_edge_key(edge) in wanted or edge.node in needed):
                needed.add(node)
                break
    return needed


def run_backward(outputs, grad_outputs, retain_graph=False, create_graph=False, inputs=None):
    """Propagate `grad_outputs` from `outputs` back through the graph.

    With `inputs=None` gradients are accumulated into the `.grad` of leaves
    (what `loss.backward()` does); otherwise the gradients of `inputs` are
    returned and no `.grad` is touched (what `minigrad.grad` does)."""
    wanted = None if inputs is None else {_edge_key(_edge_to(x)): None for x in inputs}
    pending = {}        # node -> [gradient of each of its outputs]
    held = {}           # id(leaf with hooks) -> [leaf, its gradient summed so far]
    handed_out = set()  # ids of arrays already stored in some leaf's .grad

    def deliver(edge, g):
        """Add gradient g (a Tensor, shaped like the input) to what its edge has received."""
        if edge.node is not None:
            if needed is not None and edge.node not in needed and _edge_key(edge) not in wanted:
                return  # grad(): off every path to the inputs
            slots = pending.setdefault(edge.node, [None] * len(edge.node._output_meta))
            previous = slots[edge.index]
            slots[edge.index] = g if previous is None else previous + g
        elif wanted is not None and _edge_key(edge) not in wanted:
            return  # grad(): a leaf nobody asked for gets nothing (and its hooks don't run)
        elif edge.leaf._grad_hooks:
            # Its hooks must see its whole gradient, once: hold it until the walk is done.
            entry = held.setdefault(id(edge.leaf), [edge.leaf, None])
            entry[1] = g if entry[1] is None else entry[1] + g
        else:
            finish_leaf(edge, g)

    def finish_leaf(edge, g):
        if wanted is not None:  # grad(): return the gradient, leave .grad alone
            key = _edge_key(edge)
            if key in wanted:
                previous = wanted[key]
                wanted[key] = g if previous is None else previous + g
        elif edge.leaf.requires_grad:
            _accumulate_leaf_grad(edge.leaf, g, create_graph, handed_out)

    order = _topological_order([o.grad_fn for o in outputs if o.grad_fn is not None])
    # grad() runs only the nodes on a path to its inputs (no weight gradients, no other hooks)
    needed = None if wanted is None else _leading_to(order, wanted)
    for out, g in zip(outputs, grad_outputs):
        deliver(_edge_to(out), g)

    with set_grad_enabled(create_graph):
        for node in order:
            grads = pending.pop(node, None)
            if grads is None:
                continue  # no gradient flows through this node

            for i, g in enumerate(grads):  # each output's gradient is complete now
                if g is not None and node._tensor_hooks and node._tensor_hooks.get(i):
                    grads[i] = g = _run_hooks(node._tensor_hooks[i], g)
                if wanted is not None and (id(node), i, id(None)) in wanted:
                    wanted[(id(node), i, id(None))] = g
            if needed is not None and node not in needed:
                continue  # it made a wanted intermediate, but leads to no wanted input
            if node.edges is None:
                raise RuntimeError(
                    f"trying to backward through the graph a second time (at {node.name}): "
                    "its saved values were freed by the first backward(). Pass "
                    "retain_graph=True to the first backward() if you need to call it twice.")
            _fill_missing_grads(node, grads)
            _retain_output_grads(node, grads)
            input_grads = node.backward(*grads)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(node.edges):
                raise RuntimeError(f"{node.name}.backward returned {len(input_grads)} gradients "
                                   f"for {len(node.edges)} inputs")
            for i, (edge, gx) in enumerate(zip(node.edges, input_grads)):
                if edge is not None and gx is not None:
                    deliver(edge, _match_input(gx, node, i))
            if not retain_graph:
                # Each node's saved values go as soon as its backward has run
                # (it saved its own outputs, so no later node needs them).
                node.release()
        for leaf, g in held.values():
            finish_leaf(Edge(None, 0, leaf), _run_hooks(leaf._grad_hooks, g))
    while _final_callbacks:  # queued by hooks during this walk (queue_callback)
        _final_callbacks.pop(0)()
    return None if wanted is None else [wanted[_edge_key(_edge_to(x))] for x in inputs]


_final_callbacks = []


def queue_callback(callback):
    """Call `callback()` when the backward walk now running has finished, every
    leaf's .grad written. A hook queues it: DistributedDataParallel's gradient
    hooks start all-reduces, and its callback waits for them and writes the
    averaged gradients (PyTorch: Variable._execution_engine.queue_callback)."""
    _final_callbacks.append(callback)


def _run_hooks(hooks, grad):
    """A tensor's hooks (register_hook), in order: each sees the gradient so far
    and may return a replacement, which must look like it."""
    for hook in tuple(hooks.values()):
        result = hook(grad)
        if result is None:
            continue
        if (not isinstance(result, autograd.Tensor) or result.shape != grad.shape
                or result.dtype != grad.dtype or result.device != grad.device):
            got = (f"a Tensor of shape {result.shape}, dtype {result.dtype} on {result.device}"
                   if isinstance(result, autograd.Tensor) else f"a {type(result).__name__}")
            raise RuntimeError(
                f"hook {getattr(hook, '__name__', hook)!r} returned {got}, but the gradient it was "
                f"given has shape {grad.shape}, dtype {grad.dtype} on {grad.device}; a hook must "
                "return None or a Tensor of the same shape, dtype and device")
        grad = result
    return grad


def _fill_missing_grads(node, grads):
    """Outputs that received no gradient get zeros (e.g. unused pieces of split);
    non-differentiable outputs get None."""
    for i, g in enumerate(grads):
        if g is None and i not in node.non_differentiable_outputs:
            shape, dtype, device = node._output_meta[i]
            grads[i] = autograd.Tensor._wrap(backend.xp_of_device(device).zeros(shape, dtype), device)


def _retain_output_grads(node, grads):
    for ref, g in zip(node._output_refs, grads):
        out = ref()
        if out is not None and out._retains_grad:
            out.grad = g if out.grad is None else out.grad + g


def _match_input(gx, node, i):
    """Make input i's gradient look like the input: undo broadcasting, keep dtype."""
    shape, dtype = node.input_shapes[i], node.input_dtypes[i]
    if gx.shape != shape:
        try:
            gx = sum_to(gx, shape)
        except ValueError:
            raise RuntimeError(f"{node.name}.backward returned a gradient of shape {gx.shape} "
                               f"for an input of shape {shape}") from None
    if gx.dtype != dtype:
        gx = gx.astype(dtype)
    return gx


def _accumulate_leaf_grad(x, g, create_graph, handed_out):
    if create_graph:  # keep the graph of the gradient: out-of-place Tensor add
        x.grad = g if x.grad is None else x.grad + g
        return
    data = g.data
    if x.grad is None:
        # A leaf's .grad must own its memory: optimizers and clipping modify it
        # in place, so a read-only broadcast view, or one array shared by two
        # leaves (a + b hands the same gradient to both), would go wrong.
        read_only = not getattr(data.flags, "writeable", True)  # CuPy's flags have no writeable
        if data.base is not None or read_only or id(data) in handed_out:
            data = data.copy()
        handed_out.add(id(data))
        x.grad = autograd.Tensor._wrap(data, x.device)
    else:
        x.grad = autograd.Tensor._wrap(x.grad.data + data, x.device)


# ------------------------------------------------------------------ grad()
def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned as a tuple.

    Unlike `backward()`, no `.grad` attribute is touched. With
    `create_graph=True` the returned gradients are themselves differentiable,
    which gives Hessian-vector products and higher derivatives."""
    outputs = (outputs,) if isinstance(outputs, autograd.Tensor) else tuple(outputs)
    single_input = isinstance(inputs, autograd.Tensor)
    inputs = (inputs,) if single_input else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, autograd.Tensor):
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
    if not output.requires_grad:
        raise RuntimeError(f"{op_name}: the output (shape {output.shape}) does not require grad "
                           "and has no grad_fn; did you create the inputs with requires_grad=True, "
                           "or compute it inside no_grad()?")
    if gradient is None:
        if output.numel() != 1:
            raise RuntimeError(
                f"{op_name}: the output has shape {output.shape}, not a single value, so its "
                "gradient must be given: reduce it first (y.sum().backward()) or pass "
                "gradient=minigrad.ones_like(y)")
        return autograd.Tensor._wrap(output.xp.ones(output.shape, output.dtype), output.device)
    if not isinstance(gradient, autograd.Tensor):
        gradient = autograd.Tensor._constant(gradient, like=output)
    if gradient.shape != output.shape:
        raise RuntimeError(f"{op_name}: gradient has shape {gradient.shape} but the output has "
                           f"shape {output.shape}; they must match")
    if gradient.device != output.device:
        raise RuntimeError(f"{op_name}: gradient is on {gradient.device} but the output is on "
                           f"{output.device}; call gradient.to('{output.device}')")
    return gradient
