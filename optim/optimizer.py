"""`Optimizer`: the container every update rule shares.

An optimizer holds `param_groups` (lists of parameters with their own
hyperparameters, e.g. no weight decay on biases) and a `state` dict with the
buffers each rule keeps per parameter (momentum, second moments, ...),
created lazily on the first step.

A rule subclasses `Optimizer` and writes its math once, in `update`, on raw
arrays (NumPy or CuPy), in place:

    def update(self, param, grad, state, group):
        param -= group["lr"] * grad

`step()` calls `update` for every parameter that has a gradient, under
`no_grad`, so the update itself is never recorded in a graph. A rule whose
update needs every gradient at once (D-Adaptation's global sums, Adan's
global clipping) overrides `update_all` instead, the loop over parameters.
"""
import copy
import math

import numpy as np

from minigrad import backend
from minigrad.autograd import enable_grad, no_grad
from minigrad.tensor import Tensor


class Optimizer:
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
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimize a non-leaf tensor "
                                 f"(shape {p.shape}, grad_fn {p.grad_fn.name}); optimize the "
                                 "leaves it was computed from")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
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
        is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            self.update_all()
        return loss

    def update_all(self):
        """Update every parameter, one at a time, with `update`. Rules that need
        all gradients at once (global statistics, a global clipping factor)
        override this instead of `step`, and keep its closure handling."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue  # unused this step: no update, no state change
                if p not in self.state:
                    self.state[p] = self.init_state(p.data, group)
                self.update(p.data, p.grad.data, self.state[p], group)

    def init_state(self, param, group):
        """The per-parameter buffers, created on the first step (override)."""
        return {}

    def update(self, param, grad, state, group):
        """Update `param` (an array) in place from `grad`; the rule's math (override)."""
        raise NotImplementedError

    # ----------------------------------------------------------- save / resume
    def state_dict(self):
        """Everything needed to resume: the groups' hyperparameters and every
        parameter's state, with parameters named by their position (0, 1, ...)
        across groups, as PyTorch does. Arrays are copied to the host."""
        index = {}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(saved)
        state = {index[id(p)]: _map_arrays(s, lambda a: backend.to_numpy(a).copy())
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what `state_dict()` returned; continuing gives exactly the
        trajectory the saved run would have followed."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the saved state has {len(groups)} parameter "
                             f"groups but this optimizer has {len(self.param_groups)}")
        params = [p for g in self.param_groups for p in g["params"]]
        for mine, saved in zip(self.param_groups, groups):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(f"load_state_dict: a saved group has {len(saved['params'])} "
                                 f"parameters but this optimizer's has {len(mine['params'])}")
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


def check_range(optimizer, name, value, low=None, high=None, high_inclusive=False):
    """Raise a clear ValueError if a hyperparameter is outside [low, high)."""
    bad = (value is None or (isinstance(value, float) and math.isnan(value))
           or (low is not None and value < low)
           or (high is not None and (value > high if high_inclusive else value >= high)))
    if bad:
        interval = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}" \
            + ("]" if high_inclusive or high is None else ")")
        raise ValueError(f"{type(optimizer).__name__}: invalid {name} = {value!r}; it must be in "
                         f"{interval}")


def check_betas(optimizer, betas, count=2):
    if len(betas) != count:
        raise ValueError(f"{type(optimizer).__name__}: betas must have {count} values, got {betas!r}")
    for i, beta in enumerate(betas):
        check_range(optimizer, f"betas[{i}]", beta, low=0.0, high=1.0)


def apply_weight_decay(param, g, group):
    """Weight decay in the two forms the rules offer; returns the gradient to use.

    coupled ("L2"):  g <- g + weight_decay * theta, the gradient of the penalty
                     (weight_decay / 2) |theta|^2, which an adaptive rule then rescales;
    decoupled (AdamW, `decoupled_weight_decay=True`): theta <- theta (1 - lr weight_decay),
                     applied to the parameter itself, untouched by the adaptive scaling.
    """
    wd = group["weight_decay"]
    if wd and group.get("decoupled_weight_decay", False):
        param *= 1.0 - group["lr"] * wd
    elif wd:
        g = g + wd * param
    return g


class AdamFamily(Optimizer):
    """Base of the rules built on Adam's two moments: validates betas and eps."""

    def validate(self, group):
        super().validate(group)
        check_betas(self, group["betas"])
        check_range(self, "eps", group["eps"], low=0.0)
