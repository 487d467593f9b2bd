"""`Optimizer`: the container every update rule shares.

An optimizer holds `param_groups` (lists of parameters with their own
hyperparameters, e.g. no weight decay on biases) and a `state` dict with the
buffers each rule keeps per parameter (momentum, second moments, ...),
created lazily on the first step.

A rule subclasses `Optimizer` and writes its math once, in `update`, on raw
arrays (NumPy or CuPy), in place:

    def update(self, param, grad, state, group):
        param -= group["lr"] * grad

What every rule would otherwise repeat is done here, once, before `update`
(see `prepare`): counting the step, negating the gradient for `maximize`, and
weight decay in the form the rule declares. So `update` holds the rule's own
equations and nothing else.

`step()` calls `update` for every parameter that has a gradient, under
`no_grad`, so the update itself is never recorded in a graph. A rule whose
update needs every gradient at once (D-Adaptation's global sums, Adan's
global clipping, Hutchinson's Hessian probes) overrides `update_all`, the loop
over parameters.
"""
import copy

import numpy as np

from minigrad import Tensor, backend, enable_grad, no_grad

from .checks import check_betas, check_grads, check_hyperparameter_types, check_range, check_state_dict


class Optimizer:
    """Base class of every rule: param groups, lazily created state, `step`,
    `zero_grad`, `state_dict`/`load_state_dict`.

    Capabilities, class attributes a training loop reads instead of matching
    class names (each rule overrides the ones that differ from these defaults):

    `needs_closure = False`
        True: `step(closure)` is required; the closure recomputes the loss and
        calls `backward()` (LBFGS evaluates it many times; SAM/ASAM once at the
        perturbed weights, and once before that unless a gradient is already there).
    `needs_create_graph = False`
        True: call `loss.backward(create_graph=True)` before `step()`, so that
        the rule can take Hessian-vector products (AdaHessian, SophiaH).
    `hessian_refresh_every = None`
        An int k (SophiaG): every k steps, after `step()`, the loop computes
        `labels = optimizer.sample_labels(logits)`, backpropagates the loss on
        those labels and calls `optimizer.update_hessian()`.
    `takes_batch_size = False`
        True (SophiaG): the rule's step depends on the batch size, given to the
        constructor as `batch_size` (a group hyperparameter, saved by `state_dict`).

    How a rule declares the rest of what the container does for it:

    `weight_decay_form = None | "coupled" | "decoupled"`
        "coupled": g <- g + weight_decay * theta (an L2 penalty's gradient);
        "decoupled": theta <- theta * (1 - lr * weight_decay) (AdamW). A group
        hyperparameter `decoupled_weight_decay`, where the rule has one, picks
        between the two. None: the rule has no weight decay, or one that is
        part of its equations (LAMB's trust ratio, AdamP's projection, ...).
    `optional_hyperparameters = ()`
        names of numeric hyperparameters that may also be None.
    """

    needs_closure = False
    needs_create_graph = False
    hessian_refresh_every = None
    takes_batch_size = False
    weight_decay_form = None
    optional_hyperparameters = ()

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or of param-group dicts, "
                            "not a single Tensor: wrap it in a list, e.g. SGD([w], lr=0.1)")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict {"params": [...], hyperparameter: value, ...}; missing
        hyperparameters take the optimizer's defaults."""
        group = dict(group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        params = [p[1] if isinstance(p, tuple) else p for p in params]  # (name, tensor) pairs
        first_index = {}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimize a non-leaf tensor "
                                 f"(shape {p.shape}, grad_fn {p.grad_fn.name}); optimize the "
                                 "leaves it was computed from")
            if id(p) in first_index:  # it would be stepped twice per step()
                raise ValueError(f"{type(self).__name__}: the parameter at index {i} (shape "
                                 f"{p.shape}) is the same tensor as the one at index "
                                 f"{first_index[id(p)]}; list each parameter once")
            first_index[id(p)] = i
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        check_hyperparameter_types(self, group)
        self.validate(group)
        self.param_groups.append(group)

    def validate(self, group):
        """Check a group's hyperparameters; rules extend this (call super())."""
        check_range(self, "lr", group.get("lr", 0.0), low=0.0)
        if "weight_decay" in group:
            check_range(self, "weight_decay", group["weight_decay"], low=0.0)

    def zero_grad(self, set_to_none=True):
        """Forget the gradients of the last backward (else they accumulate)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient.

        `closure`, if given, recomputes the loss (and gradients); it is called
        once, with gradient recording on, before the update, and its loss
        is returned. Every gradient's shape is checked before any parameter
        changes, so a bad gradient leaves the whole model untouched."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        check_grads(self)
        with no_grad():
            self.update_all()
        return loss

    def update_all(self):
        """Update every parameter, one at a time: `prepare`, then `update`.
        Rules that need all gradients at once (global statistics, a global
        clipping factor) override this instead of `step`."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue  # unused this step: no update, no state change
                state = self.state_of(p, group)
                grad = self.prepare(p.data, p.grad.data, state, group)
                self.update(p.data, grad, state, group)

    def state_of(self, p, group):
        """The state of parameter `p`, created by `init_state` on first use."""
        if p not in self.state:
            self.state[p] = self.init_state(p.data, group)
        return self.state[p]

    def prepare(self, param, grad, state, group):
        """What PyTorch's rules all do first, in PyTorch's order; returns the
        gradient `update` works with:

            t <- t + 1                       (if the rule keeps state["step"])
            g <- -g                          (if group["maximize"])
            g <- g + weight_decay * theta    (coupled decay)  or
            theta <- theta * (1 - lr * weight_decay)   (decoupled), see `weight_decay_form`

        Negation comes before decay: maximizing adds the penalty to -g, as
        PyTorch does. `grad` is never changed in place (a new array is made)."""
        if "step" in state:
            state["step"] += 1
        if group.get("maximize", False):
            grad = -grad
        if self.weight_decay_form is not None and group.get("weight_decay", 0.0):
            default = self.weight_decay_form == "decoupled"
            if group.get("decoupled_weight_decay", default):
                param *= 1.0 - group["lr"] * group["weight_decay"]
            else:
                grad = grad + group["weight_decay"] * param
        return grad

    def init_state(self, param, group):
        """The per-parameter buffers, created on the first step (override)."""
        return {}

    def expected_state(self, param, group):
        """The layout a loaded state of `param` must have (its keys and array
        shapes), checked by `load_state_dict`; None: no fixed layout."""
        return self.init_state(param.data, group)

    def update(self, param, grad, state, group):
        """Update `param` (an array) in place from `grad`; the rule's math (override)."""
        raise NotImplementedError

    # ----------------------------------------------------------- save / resume
    def state_dict(self):
        """Everything needed to resume: the groups' hyperparameters and every
        parameter's state, with parameters named by their position (0, 1, ...)
        across groups, as PyTorch does, and the rule's class name (so that
        loading into another rule fails clearly). Arrays are copied to the host."""
        index = {}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(saved)
        state = {index[id(p)]: _map_arrays(s, lambda a: backend.to_numpy(a).copy())
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups, "optimizer": type(self).__name__}

    def load_state_dict(self, state_dict):
        """Restore what `state_dict()` returned; continuing gives exactly the
        trajectory the saved run would have followed. A state saved by another
        rule or for another model (other group or parameter counts, other
        shapes, other state buffers) is refused here, before anything changes."""
        check_state_dict(self, state_dict)
        params = [p for g in self.param_groups for p in g["params"]]
        for mine, saved in zip(self.param_groups, state_dict["param_groups"]):
            mine.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        self.state = {}
        for key, saved in state_dict["state"].items():
            p = params[int(key)]
            self.state[p] = _map_arrays(saved, lambda a, p=p: _like_param(a, p))

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _map_arrays(value, fn):
    """Apply fn to every array inside nested dicts/lists/tuples of state."""
    if isinstance(value, Tensor):
        return fn(value.data)
    if backend.is_array(value):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_arrays(v, fn) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_map_arrays(v, fn) for v in value)
    return copy.deepcopy(value)


def _like_param(array, param):
    """A saved state array moved to the parameter's device; floating arrays
    take the parameter's dtype (a float32 model keeps float32 state)."""
    array = np.asarray(backend.to_numpy(array) if backend.is_array(array) else array)
    if array.dtype.kind == "f":
        array = array.astype(param.dtype)
    return backend.to_device(array.copy(), param.device)


class AdamFamily(Optimizer):
    """Base of the rules built on Adam's two moments: validates betas and eps."""

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        check_range(self, "eps", group["eps"], low=0.0)
