"""`Module`: the bookkeeping behind every layer and model.

A Module finds its own parameters: assigning a `Parameter` (or a Module)
to an attribute registers it, so `model.parameters()` can hand every weight
of every sub-layer to an optimizer, `model.to(...)` can move them all, and
`model.state_dict()` can name them all, with PyTorch's dotted key names
(`features.0.weight`, `bn.running_mean`).

Buffers (`register_buffer`) are tensors that belong to the model but are not
trained, such as BatchNorm's running statistics: they move with `to()` and
are saved in the state dict, but `parameters()` never lists them.
"""
from collections import namedtuple

import numpy as np

import minigrad
from minigrad import backend
from minigrad.hooks import ModuleBackwardHook, RemovableHandle
from minigrad.tensor import Tensor

from .parameter import Parameter

__all__ = ["Module"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model: subclass it, create the layers and
    Parameters in `__init__` (after `super().__init__()`), compute in `forward`.

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                return self.fc(x).relu()
    """

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})
        for hooks in ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks"):
            object.__setattr__(self, hooks, {})  # {handle id: hook}, run in registration order

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(): define "
                                  "`def forward(self, x): ...` in the class")

    def __call__(self, *args, **kwargs):
        """forward(*args, **kwargs), with this module's hooks around it (see register_*_hook)."""
        for hook in tuple(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        backward_hook = None
        if self._backward_hooks and minigrad.is_grad_enabled():
            backward_hook = ModuleBackwardHook(self, self._backward_hooks)
            args = backward_hook.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        if backward_hook is not None:
            output = backward_hook.wrap_outputs(output)
        return output

    # ------------------------------------------------------------------- hooks
    def register_forward_pre_hook(self, hook):
        """`hook(module, args)` runs before forward; it may return new args
        (a tuple, or one value). Returns a handle with `.remove()`."""
        return RemovableHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook):
        """`hook(module, args, output)` runs after forward; it may return a new
        output. Returns a handle with `.remove()`."""
        return RemovableHandle(self._forward_hooks, hook)

    def register_full_backward_hook(self, hook):
        """`hook(module, grad_input, grad_output)` runs when the gradients with
        respect to the module's inputs are computed: grad_output holds the
        gradient of each output, grad_input that of each positional input (None
        where there is none); it may return a new grad_input tuple. Returns a
        handle with `.remove()`. Limits: see minigrad.hooks.ModuleBackwardHook."""
        return RemovableHandle(self._backward_hooks, hook)

    # ------------------------------------------------------------ registration
    def _stores(self, name):
        stores = self.__dict__.get("_parameters")
        if stores is None:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() has run: call "
                                 f"super().__init__() first in {type(self).__name__}.__init__")
        return self._parameters, self._buffers, self._modules

    def _forget(self, name):
        """Remove `name` from wherever it is registered (before re-registering it)."""
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        self._non_persistent_buffers.discard(name)
        self.__dict__.pop(name, None)

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._stores(name)
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._stores(name)
            self._forget(name)
            self._modules[name] = value
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to the parameter "
                                f"{name!r} of {type(self).__name__}: wrap it with "
                                "nn.Parameter(...) (or assign None)")
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} to the buffer {name!r} "
                                f"of {type(self).__name__}: a Tensor (or None) is expected")
            self._buffers[name] = value
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to the submodule "
                                f"{name!r} of {type(self).__name__}: a Module (or None) is "
                                "expected")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails: look in the registries.
        for store in ("_parameters", "_buffers", "_modules"):
            registry = self.__dict__.get(store)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def _check_new_name(self, name, kind):
        self._stores(name)
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{kind} name must be a non-empty string without '.', got {name!r}")
        registered = name in self._parameters or name in self._buffers or name in self._modules
        if hasattr(self, name) and not registered:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")

    def register_parameter(self, name, param):
        """Register `param` (a Parameter, or None for an absent one, e.g. bias=False)."""
        self._check_new_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected an nn.Parameter or None, got "
                            f"{type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a non-trained tensor; persistent buffers go into the state dict."""
        self._check_new_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None, got "
                            f"{type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        self._check_new_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {name!r} is a {type(module).__name__}, not a "
                            "Module; wrap plain functions in a Module (e.g. nn.ReLU() rather than "
                            "F.relu)")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    # ---------------------------------------------------------------- walking
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) for this module and every descendant, parents first."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                                remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, store, prefix, recurse):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, store).items():
                if value is None or id(value) in seen:
                    continue  # a weight shared by two layers is listed once
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix="", recurse=True):
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------- modes, hooks
    def train(self, mode=True):
        """Training mode (dropout drops, batch norm uses batch statistics) for
        this module and all its descendants; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode must be True or False, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        """Evaluation mode: the same as train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def apply(self, fn):
        """Call fn on every submodule (children first) and then on self, e.g.
        to re-initialize weights; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------- device, dtype
    def to(self, *args, device=None, dtype=None):
        """Move (`to('cuda')`) and/or cast (`to(minigrad.float64)`) every
        parameter and buffer in place; only floating tensors change dtype.

        In place: each Parameter stays the same object, so an optimizer built
        before the move still updates the model's weights."""
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif _is_device(arg):
                device = arg
            else:
                dtype = arg
        device = None if device is None else backend.normalize_device(device)
        dtype = None if dtype is None else _floating_dtype(dtype)

        def convert(array):
            if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
                array = array.astype(dtype)
            return array if device is None else backend.to_device(array, device)

        seen = set()
        for module in self.modules():
            for store in (module._parameters, module._buffers):
                for t in store.values():
                    if t is None or id(t) in seen:
                        continue
                    seen.add(id(t))
                    t.data = convert(t.data)
                    t.device = backend.device_of_array(t.data)
                    if t.grad is not None:
                        t.grad = Tensor._wrap(convert(t.grad.data), t.device)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def half(self):
        """Cast every floating parameter and buffer to float16 (as `to(minigrad.float16)`)."""
        return self.to(np.float16)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def bfloat16(self):
        raise TypeError(f"{type(self).__name__}.bfloat16(): minigrad has no bfloat16 (NumPy has no "
                        "such dtype); use .half() for float16, .float() or .double()")

    # -------------------------------------------------------------- state dict
    def state_dict(self, prefix="", keep_vars=False):
        """{dotted name: tensor} for every parameter and persistent buffer,
        named and ordered as PyTorch names them. The tensors share memory
        with the model (detached, unless keep_vars=True)."""
        result = {}
        for name, p in self._parameters.items():
            if p is not None:
                result[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                result[prefix + name] = b if keep_vars else b.detach()
        for name, module in self._modules.items():
            if module is not None:
                result.update(module.state_dict(prefix + name + ".", keep_vars))
        return result

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into this model's parameters and buffers, in place.

        Values may be Tensors, NumPy arrays or anything NumPy can read
        (e.g. CPU torch tensors). Shapes must match; with strict=True the keys
        must match exactly. Nothing is copied unless everything fits.
        Returns (missing_keys, unexpected_keys)."""
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors, arrays = [], {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            array = _as_array(state_dict[key], target.device)
            if tuple(array.shape) != target.shape:
                errors.append(f"size mismatch for {key}: copying a tensor of shape "
                              f"{tuple(array.shape)} from the checkpoint, but the shape in the "
                              f"current model is {target.shape}")
            arrays[key] = array
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected))
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with minigrad.no_grad():
            for key, array in arrays.items():
                own[key].data[...] = array  # in place: same Parameter objects, cast to their dtype
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------- repr
    def extra_repr(self):
        """The layer's settings, shown inside its parentheses (override)."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        children = [f"({name}): " + repr(module).replace("\n", "\n  ")
                    for name, module in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = (extra.split("\n") if extra else []) + children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


def _floating_dtype(dtype):
    """Module.to casts floating tensors only, so it takes only a floating dtype (as PyTorch)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:  # e.g. bfloat16
        raise TypeError(f"Module.to: {dtype!r} is not a dtype minigrad has (NumPy has no bfloat16); "
                        "use minigrad.float16, float32 or float64") from None
    if dtype.kind != "f":
        raise TypeError(f"Module.to only accepts floating point dtypes, but got {dtype}: parameters "
                        "are floating (use minigrad.float16, float32 or float64)")
    return dtype


def _is_device(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and (value.lower() == "cpu" or value.lower().startswith("cuda"))


def _as_array(value, device):
    """A state-dict value as an array on `device` (from a Tensor, an array, a number,
    or a foreign tensor such as torch's)."""
    if isinstance(value, Tensor):
        return backend.to_device(value.data, device)
    if backend.is_array(value):
        return backend.to_device(value, device)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # e.g. a torch tensor
        value = value.detach().cpu().numpy()
    return backend.to_device(np.asarray(value), device)
