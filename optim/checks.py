"""Clear errors for optimizer misuse, raised before anything changes.

Hyperparameters are checked when a group is added (range and type), gradients
when `step()` starts (each must have its parameter's shape), and a saved state
when it is loaded (same rule, same model, same buffers). Without these checks
the mistakes surface later, as a NumPy broadcasting error inside some rule's
arithmetic, or not at all (a duplicated parameter is silently stepped twice).
"""
import inspect
import math
import numbers

import numpy as np

from minigrad import Tensor, backend


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
        raise ValueError(f"{type(optimizer).__name__}: hyperparameter betas = {betas!r} must have "
                         f"{count} values")
    for i, beta in enumerate(betas):
        check_range(optimizer, f"betas[{i}]", beta, low=0.0, high=1.0)


def _is_number(value):
    # bool is a numbers.Real in Python, but lr=True is a mistake, not a learning rate
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_hyperparameter_types(optimizer, group):
    """Each hyperparameter must have the type of its default: a number where
    the default is a number (None only for `optional_hyperparameters`),
    True/False where it is a bool, a tuple of numbers where it is a tuple.
    A string such as lr="0.1" would otherwise fail far from its cause. The
    defaults are the constructor's (its signature), since the ones stored in
    `optimizer.defaults` are the values the user passed. Lists given for
    tuples become tuples."""
    rule = type(optimizer).__name__
    signature = inspect.signature(type(optimizer).__init__).parameters
    for name, default in optimizer.defaults.items():
        if name in signature and signature[name].default is not inspect.Parameter.empty:
            default = signature[name].default
        value = group[name]

        def wrong(expected, value=value, name=name):
            return TypeError(f"{rule}: hyperparameter {name} = {value!r} (a "
                             f"{type(value).__name__}) has the wrong type; expected {expected}")

        if isinstance(default, (bool, np.bool_)):
            if not isinstance(value, (bool, np.bool_)):
                raise wrong("True or False")
        elif _is_number(default):
            if value is None and name in optimizer.optional_hyperparameters:
                continue
            if not _is_number(value):
                raise wrong("a real number" + (" or None" if name in
                                                optimizer.optional_hyperparameters else ""))
        elif isinstance(default, tuple):
            if not isinstance(value, (tuple, list)):
                raise wrong(f"a tuple of numbers such as {default!r}")
            for i, item in enumerate(value):
                may_be_none = i < len(default) and default[i] is None
                if not (_is_number(item) or (item is None and may_be_none)):
                    raise wrong(f"a tuple of numbers such as {default!r} (item {i} is "
                                f"{item!r})")
            group[name] = tuple(value)


def check_grads(optimizer):
    """Every gradient must have its parameter's shape; checked for all
    parameters before any is updated, so a bad one leaves the model as it was."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, p in enumerate(params):
        if p.grad is not None and tuple(p.grad.shape) != tuple(p.shape):
            raise ValueError(
                f"{type(optimizer).__name__}.step: the gradient of parameter {i} has shape "
                f"{tuple(p.grad.shape)} but the parameter has shape {tuple(p.shape)}; no "
                "parameter was updated. A gradient must have its parameter's shape: check code "
                "that assigns p.grad by hand")


def _shape(value):
    if isinstance(value, Tensor) or backend.is_array(value):
        return tuple(value.shape)
    return None


def _shape_mismatches(expected, saved, where, out):
    """Walk two nested state values side by side; record (where, expected
    shape, saved shape) for every array whose shape differs."""
    if expected is None:
        return  # a buffer created later (SGD's momentum on its first step): any saved value
    exp_shape, saved_shape = _shape(expected), _shape(saved)
    if exp_shape is not None:
        if saved_shape != exp_shape:
            out.append((where, exp_shape, saved_shape))
    elif isinstance(expected, dict) and isinstance(saved, dict):
        for key in expected.keys() & saved.keys():
            _shape_mismatches(expected[key], saved[key], f"{where}[{key!r}]", out)
    elif isinstance(expected, (list, tuple)) and isinstance(saved, (list, tuple)):
        if len(expected) != len(saved):
            out.append((where, f"{len(expected)} entries", f"{len(saved)} entries"))
        else:
            for i, (e, s) in enumerate(zip(expected, saved)):
                _shape_mismatches(e, s, f"{where}[{i}]", out)


def check_state_dict(optimizer, state_dict):
    """Refuse a state saved by another rule or for another model, naming
    every mismatch, before `load_state_dict` changes anything."""
    rule = type(optimizer).__name__
    prefix = f"{rule}.load_state_dict"
    if not (isinstance(state_dict, dict) and "state" in state_dict
            and "param_groups" in state_dict):
        raise ValueError(f"{prefix}: expected the dict returned by an optimizer's state_dict() "
                         "(with keys 'state' and 'param_groups')")
    saved_rule = state_dict.get("optimizer")
    if saved_rule is not None and saved_rule != rule:
        raise ValueError(f"{prefix}: the state was saved by a {saved_rule} optimizer; a {rule} "
                         f"keeps other buffers. Load it into a {saved_rule}")
    groups = state_dict["param_groups"]
    if len(groups) != len(optimizer.param_groups):
        raise ValueError(f"{prefix}: the saved state has {len(groups)} parameter groups but this "
                         f"optimizer has {len(optimizer.param_groups)}")
    for i, (mine, saved) in enumerate(zip(optimizer.param_groups, groups)):
        if len(mine["params"]) != len(saved["params"]):
            raise ValueError(f"{prefix}: saved group {i} has {len(saved['params'])} parameters but "
                             f"this optimizer's group {i} has {len(mine['params'])}: the state "
                             "belongs to another model (or another split into groups)")

    owners = [(p, {**mine, **{k: v for k, v in saved.items() if k != "params"}})
              for mine, saved in zip(optimizer.param_groups, groups) for p in mine["params"]]
    problems = []
    for key, saved in state_dict["state"].items():
        index = int(key)
        if not 0 <= index < len(owners):
            problems.append(f"state for parameter {index}, but there are only {len(owners)}")
            continue
        p, group = owners[index]
        expected = optimizer.expected_state(p, group)
        if expected is None:
            continue  # a rule whose state has no fixed layout (LBFGS)
        missing = sorted(map(str, expected.keys() - saved.keys()))
        unexpected = sorted(map(str, saved.keys() - expected.keys()))
        if missing or unexpected:
            problems.append(f"parameter {index} (shape {tuple(p.shape)}): missing state keys "
                            f"{missing}, unexpected state keys {unexpected}")
        mismatches = []
        _shape_mismatches(expected, saved, "state", mismatches)
        for where, want, got in mismatches:
            problems.append(f"parameter {index} has shape {tuple(p.shape)}, its {where} should "
                            f"have shape {want} but the saved one has {got}")
    if problems:
        shown = "\n  ".join(problems[:10]) + ("\n  ..." if len(problems) > 10 else "")
        raise ValueError(f"{prefix}: the saved state does not fit this {rule} and its "
                         f"parameters (a state from another model or another rule?):\n  {shown}")
